"""Loads the suite's pytest layer (fixtures/, not installed), which wires the pnsuite
library into pytest, and pytest's own pytester (tests that run a pytest session)."""

pytest_plugins = ["fixtures.plugin", "pytester"]
