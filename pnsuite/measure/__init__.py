"""The one measured run: a warm-up, time windows until the load is stable, Triton's
statistics over exactly the windows that count, and the monitors (CPU others took, the
runner-speed probe). The gate (record, check, ab), the benchmarks, the sweep and the GPU
tools measure through `pnsuite.measure.run`: `measure()` in one call, or `Measurement`
step by step, as the recorded benchmarks drive it under pytest-benchmark.
"""
