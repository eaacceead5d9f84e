"""Where request tensors travel: one type that carries every name it goes by.

`--triton-memory` and the demo's `-m` take the value; benchmark records name the
transport; perf_analyzer's `--shared-memory` has its own word for each.

Text becomes a Memory once, where it comes in (a setting, a command's option through
`argument_type`, a JSON file read back, with `Memory.parse`); code past that point takes
and hands on a Memory.
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Callable, Sequence

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
    def parse(cls, value: str | Memory, what: str = "--triton-memory") -> Memory:
        try:
            return cls(value)
        except ValueError:
            raise ConfigError(f"{what} must be one of {', '.join(NAMES)}, got {value!r}") from None

    def __str__(self) -> str:
        return self.value


NAMES: tuple[str, ...] = tuple(m.value for m in Memory)


def argument_type(choices: Sequence[Memory] = tuple(Memory)) -> Callable[[str], Memory]:
    """argparse's `type=` for a memory option: its text parsed once into a Memory; a name
    outside `choices` is argparse's own usage error, naming the choices. Give the option
    `choices=` too (the same Memory values) so that its help lists them."""
    names = tuple(m.value for m in choices)

    def memory(text: str) -> Memory:
        if text not in names:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {text!r} (choose from {', '.join(names)})"
            )
        return Memory(text)

    return memory
