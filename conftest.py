"""Loads the suite's plugin; everything lives in fixtures/ (see fixtures/plugin.py)."""

pytest_plugins = ["fixtures.plugin"]
