"""What watches the board while a point is measured: tegrastats on a Jetson, nvidia-smi
on a discrete GPU, nothing elsewhere; and their summaries as a point's `Platform`."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from pnsuite.platform import jetson, nvidia_smi, tegrastats
from pnsuite.platform.command_sampler import CommandSampler
from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.points import Platform

MONITORS = ("auto", "tegrastats", "nvidia-smi", "none")

#: Jetson GPUs' devfreq nodes: Orin (ga10b), Xavier (gv11b), TX2 (gp10b), Nano/TX1 (gpu)
_JETSON_GPU_DEVFREQ = (
    "/sys/class/devfreq/*.ga10b",
    "/sys/class/devfreq/*.gv11b",
    "/sys/class/devfreq/*.gp10b",
    "/sys/class/devfreq/*.gpu",
)


def jetson_gpu_max_clock_mhz() -> float | None:
    """The GPU clock ceiling devfreq allows now (jetson_clocks locks min = max to it)."""
    for pattern in _JETSON_GPU_DEVFREQ:
        for node in sorted(glob.glob(pattern)):
            try:
                return int(Path(node, "max_freq").read_text().strip()) / 1e6
            except (OSError, ValueError):
                continue
    return None


def resolve_monitor(kind: str) -> str:
    """The monitor `kind` means here; `auto` picks tegrastats on a Jetson, nvidia-smi where
    there is one, else none. Asking for one this machine lacks is an error."""
    if kind not in MONITORS:
        raise SweepError(f"unknown monitor {kind!r}", f"use one of {', '.join(MONITORS)}")
    has_tegrastats = tegrastats.tegrastats_command(500) is not None
    has_smi = nvidia_smi.nvidia_smi_command(200) is not None
    if kind == "auto":
        if has_tegrastats and jetson.machine_identity().get("jetson"):
            return "tegrastats"
        return "nvidia-smi" if has_smi else "none"
    if kind == "tegrastats" and not has_tegrastats:
        raise SweepError(
            "--monitor tegrastats: tegrastats is not installed here",
            "it ships with L4T on a Jetson; elsewhere use --monitor auto",
        )
    if kind == "nvidia-smi" and not has_smi:
        raise SweepError(
            "--monitor nvidia-smi: nvidia-smi is not installed here",
            "it ships with the NVIDIA driver; elsewhere use --monitor auto",
        )
    return kind


def start_monitor(kind: str) -> CommandSampler | None:
    """A started sampler for a resolved monitor kind (None for `none`)."""
    if kind == "tegrastats":
        return tegrastats.TegrastatsSampler(interval_ms=200).start()
    if kind == "nvidia-smi":
        return nvidia_smi.NvidiaSmiSampler(interval_ms=200).start()
    return None


def module_power_mw(summary: dict[str, Any]) -> float | None:
    """The module's mean input power from a tegrastats summary: its input rail (VDD_IN,
    POM_5V_IN) where the board has one, else the sum of its rails (AGX Orin's VDD_GPU_SOC,
    VDD_CPU_CV and VIN_SYS_5V0 together measure the module, as jetson-stats adds them)."""
    rail = (summary.get("power_in_mw") or {}).get("mean")
    if rail is not None:
        return rail
    rails = [r["mean"] for r in (summary.get("power_mw") or {}).values() if r]
    return sum(rails) if rails else None


def platform_of(kind: str, summary: dict[str, Any] | None) -> Platform:
    """A point's Platform from a sampler's summary (an empty Platform for `none`)."""
    if not summary or kind == "none":
        return Platform()
    if kind == "nvidia-smi":
        return Platform(
            "nvidia-smi",
            summary.get("power_w"),
            summary.get("gpu_clock_mhz"),
            summary.get("gpu_clock_max_mhz"),
            summary.get("temperature_c_max"),
            summary.get("samples", 0),
        )
    power = module_power_mw(summary)
    clock = (summary.get("gpu_freq_mhz") or {}).get("mean")
    temps = [t["max"] for t in (summary.get("temp_c") or {}).values() if t]
    return Platform(
        "tegrastats",
        power / 1e3 if power is not None else None,
        clock,
        jetson_gpu_max_clock_mhz(),
        max(temps) if temps else None,
        summary.get("samples", 0),
    )
