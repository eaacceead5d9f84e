"""Performance: Triton statistics, runs and their verdicts (sampling, verdicts, runsets,
recorder, gate, ab), history and change points, significance of paired and unpaired
rounds, benchmark records, profiles, perf_analyzer and foreign CPU load."""
