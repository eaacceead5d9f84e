"""Command-line programs: peoplenet-demo, peoplenet-gate, the Jetson identity and the
GPU validation (pnsuite.cli.gpu)."""
