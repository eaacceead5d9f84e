"""glibc malloc settings that keep input-sized blocks on the heap, for the GPU stand-in.

The python backend's stub copies every CPU input tensor into a new numpy array before
execute() runs (pybind11 copies a buffer it is given without an owner), one 6.3 MB image
per request. By default such blocks are fresh mmaps, or heap that is trimmed back once a
batch's worth is freed: every copy then faults its pages in from the kernel. Measured on
an H100 machine: 2.2 ms per image with 16 held at once, 0.77 ms with these settings; the
dynamic-batching repo at concurrency 16 went from 194 to 260 infer/s
(docs/gpu-validation.md). Torch-free: the diagnosis applies the same settings through the
environment of a process it starts.
"""

from __future__ import annotations

import ctypes

#: mallopt parameter (its number in malloc.h, its environment variable) -> value
KEEP_FREED = {
    # glibc's largest mmap threshold (4 * 1024 * 1024 * sizeof(long)): 6.3 MB stays on the heap
    (-3, "MALLOC_MMAP_THRESHOLD_"): 32 * 2**20,
    (-1, "MALLOC_TRIM_THRESHOLD_"): 2**31 - 1,  # never trim freed heap back
    (-2, "MALLOC_TOP_PAD_"): 256 * 2**20,  # grow the heap in big steps
}


def keep_freed_memory() -> bool:
    """Apply KEEP_FREED to this process's malloc; whether glibc took every setting."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(libc.mallopt(number, value) == 1 for (number, _), value in KEEP_FREED.items())


def keep_freed_environment() -> dict[str, str]:
    """KEEP_FREED as the environment variables a new process's glibc reads at start."""
    return {name: str(value) for (_, name), value in KEEP_FREED.items()}
