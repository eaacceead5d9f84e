"""GPU clock, temperature and power of a discrete NVIDIA GPU, sampled with `nvidia-smi`
around a measurement (what tegrastats gives on a Jetson). Standard library only."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from statistics import fmean
from typing import Any

from pnsuite.platform.command_sampler import CommandSampler

#: the fields asked for, in the order nvidia-smi prints them
QUERY = ("clocks.sm", "clocks.max.sm", "temperature.gpu", "power.draw")


def nvidia_smi_command(interval_ms: int, gpu: int = 0) -> list[str] | None:
    """`nvidia-smi --query-gpu=... -lms N` for one GPU, or None without nvidia-smi."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return None
    return [
        tool,
        f"--query-gpu={','.join(QUERY)}",
        "--format=csv,noheader,nounits",
        f"-lms={interval_ms}",
        f"--id={gpu}",
    ]


def parse_nvidia_smi_line(line: str) -> dict[str, float | None] | None:
    """One CSV line ("1980, 1980, 47, 82.96") as {field: value}; `[N/A]` reads as None;
    a line with another number of fields is not a sample (None)."""
    cells = [c.strip() for c in line.strip().split(",")]
    if len(cells) != len(QUERY):
        return None
    sample: dict[str, float | None] = {}
    for name, cell in zip(QUERY, cells):
        try:
            sample[name] = float(cell)
        except ValueError:
            if not cell.startswith("[") and cell not in ("N/A", ""):
                return None
            sample[name] = None
    return sample


def summarize_nvidia_smi(samples: Sequence[dict[str, float | None]]) -> dict[str, Any]:
    """Means of clock and power, the highest temperature and max clock, over the samples."""

    def values(name: str) -> list[float]:
        return [v for s in samples if (v := s.get(name)) is not None]

    clock, max_clock = values("clocks.sm"), values("clocks.max.sm")
    temp, power = values("temperature.gpu"), values("power.draw")
    return {
        "samples": len(samples),
        "gpu_clock_mhz": fmean(clock) if clock else None,
        "gpu_clock_max_mhz": max(max_clock) if max_clock else None,
        "temperature_c_max": max(temp) if temp else None,
        "power_w": fmean(power) if power else None,
    }


class NvidiaSmiSampler(CommandSampler):
    """nvidia-smi's query loop in the background; `summary()` as summarize_nvidia_smi."""

    def __init__(
        self, interval_ms: int = 200, gpu: int = 0, command: Sequence[str] | None = None
    ) -> None:
        argv = list(command) if command else nvidia_smi_command(interval_ms, gpu)
        if argv is None:
            raise FileNotFoundError("nvidia-smi not found (it ships with the NVIDIA driver)")
        super().__init__(argv)

    def parse_line(self, line: str) -> dict[str, Any] | None:
        return parse_nvidia_smi_line(line)

    def summary(self) -> dict[str, Any]:
        return summarize_nvidia_smi(self.snapshot())
