"""Loads the suite's pytest layer (fixtures/, not installed) that wires in the pnsuite library."""

pytest_plugins = ["fixtures.plugin"]
