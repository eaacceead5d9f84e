"""GPU validation: the network alone, the served model, and the suite against perf_analyzer
(run by gpu/run_gpu_validation.sh on a machine with an NVIDIA GPU)."""
