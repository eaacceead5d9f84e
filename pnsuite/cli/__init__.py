"""Command-line programs: peoplenet-demo, peoplenet-gate, peoplenet-history, the Jetson
identity and the GPU validation (pnsuite.cli.gpu)."""
