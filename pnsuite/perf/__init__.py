"""Performance: Triton statistics, significance, benchmark records, profiles,
perf_analyzer, foreign CPU load and the regression gate."""
