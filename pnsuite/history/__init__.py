"""The series over builds and releases: each benchmark's runs in time order, the known
release steps (`history`), and the change points found in them (`changepoints`). It reads
the runs pnsuite.measure recorded (records, runsets)."""
