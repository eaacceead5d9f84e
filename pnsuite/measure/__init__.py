"""The one measured run: a warm-up, time windows until the load is stable, Triton's
statistics over exactly the windows that count, and the monitors (CPU others took, the
runner-speed probe). The gate (record, check, ab), the benchmarks, the sweep and the GPU
tools measure through `pnsuite.measure.run`: `measure()` in one call, or `Measurement`
step by step, as the recorded benchmarks drive it under pytest-benchmark.

Beside the engine: what a run records and how it is read back (`records`: the
pytest-benchmark schema; `runsets`: run files, saved names, sets of runs; `recorder`: one
independent recorded run as a pytest session of its own), Triton's statistics
(`triton_stats`), the answers checked under load (`answer_check`), the monitors
(`cpu_load`, `runner_speed`), perf_analyzer (`perf_analyzer`) and the concurrency
expectations per platform (`profiles`). This package is the base: it imports neither
pnsuite.verdict nor pnsuite.history, which read its runs.
"""
