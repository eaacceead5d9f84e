"""Sweeps of model configurations and client concurrency: the best configuration, per
board and release (Model Analyzer's job, which Jetson lacks)."""
