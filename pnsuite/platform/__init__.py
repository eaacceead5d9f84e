"""The platform under test: Jetson identity and telemetry (standard library only)."""
