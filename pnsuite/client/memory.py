"""Where request tensors travel: one type that carries every name it goes by.

`--triton-memory` and the demo's `-m` take the value; benchmark records name the
transport; perf_analyzer's `--shared-memory` has its own word for each.
"""

from __future__ import annotations

import enum

from pnsuite.errors import ConfigError


class Memory(str, enum.Enum):
    """none: tensors inside the gRPC messages; system: POSIX shared memory; gpu: CUDA
    shared memory (the Triton Jetson example's `-m` values; its "pinned" is an in-process
    C API option with no gRPC counterpart)."""

    NONE = "none"
    SYSTEM = "system"
    GPU = "gpu"

    @property
    def transport(self) -> str:
        """The transport a benchmark record names (compared by the gate)."""
        return {"none": "grpc", "system": "system_shm", "gpu": "cuda_shm"}[self.value]

    @property
    def perf_analyzer_flag(self) -> str:
        """perf_analyzer's `--shared-memory` value."""
        return {"none": "none", "system": "system", "gpu": "cuda"}[self.value]

    @property
    def shared(self) -> bool:
        return self is not Memory.NONE

    @classmethod
    def parse(cls, value: "str | Memory", what: str = "--triton-memory") -> "Memory":
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"{what} must be one of {', '.join(NAMES)}, got {value!r}") from None

    def __str__(self) -> str:
        return self.value


NAMES: tuple[str, ...] = tuple(m.value for m in Memory)
