"""tegrastats on a Jetson: its lines parsed, summarised, and sampled during a test.

`parse_tegrastats_line` turns one line into a dict (RAM, CPU, EMC and GR3D load and
clocks, power rails, temperatures) across the formats of L4T R32 to R36;
`summarize_tegrastats` gives each figure's mean and max over a run; `TegrastatsSampler`
runs `tegrastats` in the background around the measured part of a test. Standard library
only, like the rest of `pnsuite.platform`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from statistics import fmean
from typing import Any

from pnsuite.platform import jetson
from pnsuite.platform.command_sampler import CommandSampler

_TIMESTAMP_RE = re.compile(r"^(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)\s+")
_MEM_RE = re.compile(r"\b(RAM|SWAP) (\d+)/(\d+)MB")
_CPU_RE = re.compile(r"\bCPU \[([^\]]*)\]")
_LOAD_RE = re.compile(r"\b(EMC_FREQ|GR3D_FREQ) (\d+)%(?:@\[?([\d,]+)\]?)?")
_TEMP_RE = re.compile(r"(?<!\S)([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C(?!\S)")
# A power rail: NAME cur/avg, in mW (newer releases print the unit, L4T R32 does not).
_POWER_RE = re.compile(r"(?<!\S)([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?!\S)")
#: rails that measure the whole module's input power, in order of preference
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


def parse_tegrastats_line(line: str) -> dict[str, Any] | None:
    """One tegrastats line as a dict, or None if it is not one (no RAM field).

    Keys: timestamp (str or None), ram_used_mb, ram_total_mb, swap_used_mb, cpu_load_pct
    (list; None for an offline core), cpu_freq_mhz, emc_load_pct, emc_freq_mhz,
    gpu_load_pct, gpu_freq_mhz (GR3D; the highest of Orin's per-GPC figures), power_mw
    (rail -> current mW), temp_c (sensor, lower-cased -> degrees C).
    """
    line = line.strip()
    mem = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in _MEM_RE.finditer(line)}
    if "RAM" not in mem:
        return None
    ts = _TIMESTAMP_RE.match(line)
    sample: dict[str, Any] = {
        "timestamp": ts.group(1) if ts else None,
        "ram_used_mb": mem["RAM"][0],
        "ram_total_mb": mem["RAM"][1],
        "swap_used_mb": mem["SWAP"][0] if "SWAP" in mem else None,
        "cpu_load_pct": [],
        "cpu_freq_mhz": [],
        "emc_load_pct": None,
        "emc_freq_mhz": None,
        "gpu_load_pct": None,
        "gpu_freq_mhz": None,
        "power_mw": {},
        "temp_c": {},
    }
    cpu = _CPU_RE.search(line)
    if cpu:
        for core in cpu.group(1).split(","):
            load, _, freq = core.strip().partition("%@")
            if load.isdigit():
                sample["cpu_load_pct"].append(int(load))
                sample["cpu_freq_mhz"].append(int(freq) if freq.isdigit() else None)
            else:  # "off": the core is offline in this power mode
                sample["cpu_load_pct"].append(None)
                sample["cpu_freq_mhz"].append(None)
    for m in _LOAD_RE.finditer(line):
        prefix = "emc" if m.group(1) == "EMC_FREQ" else "gpu"
        sample[f"{prefix}_load_pct"] = int(m.group(2))
        if m.group(3):
            sample[f"{prefix}_freq_mhz"] = max(int(f) for f in m.group(3).split(",") if f)
    for m in _POWER_RE.finditer(line):
        if m.group(1) not in ("RAM", "SWAP"):
            sample["power_mw"][m.group(1)] = int(m.group(2))
    for m in _TEMP_RE.finditer(line):
        sample["temp_c"][m.group(1).lower()] = float(m.group(2))
    return sample


def _stat(values: Iterable[float | int | None]) -> dict[str, float] | None:
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {"mean": round(fmean(present), 3), "max": round(max(present), 3)}


def summarize_tegrastats(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and max of each figure over the samples (a figure never seen is left out).

    Keys: samples, gpu_load_pct, gpu_freq_mhz, emc_load_pct, emc_freq_mhz, ram_used_mb,
    cpu_load_pct (mean over online cores per sample), power_in_mw (VDD_IN or POM_5V_IN),
    gpu_temp_c, power_mw (per rail) and temp_c (per sensor), each as {"mean", "max"}.
    """
    out: dict[str, Any] = {"samples": len(samples)}
    for key in ("gpu_load_pct", "gpu_freq_mhz", "emc_load_pct", "emc_freq_mhz", "ram_used_mb"):
        stat = _stat(s.get(key) for s in samples)
        if stat:
            out[key] = stat
    cpu = _stat(
        fmean(loads) if (loads := [v for v in s.get("cpu_load_pct", []) if v is not None]) else None
        for s in samples
    )
    if cpu:
        out["cpu_load_pct"] = cpu
    rails = sorted({r for s in samples for r in s.get("power_mw", {})})
    sensors = sorted({t for s in samples for t in s.get("temp_c", {})})
    out["power_mw"] = {r: _stat(s.get("power_mw", {}).get(r) for s in samples) for r in rails}
    out["temp_c"] = {t: _stat(s.get("temp_c", {}).get(t) for s in samples) for t in sensors}
    for rail in INPUT_RAILS:
        if rail in out["power_mw"]:
            out["power_in_mw"] = {**out["power_mw"][rail], "rail": rail}
            break
    if "gpu" in out["temp_c"]:
        out["gpu_temp_c"] = out["temp_c"]["gpu"]
    return out


def tegrastats_command(interval_ms: int) -> list[str] | None:
    """`tegrastats --interval N` (milliseconds), or None when tegrastats is not installed."""
    tool = jetson.find_tool("tegrastats")
    return [tool, "--interval", str(interval_ms)] if tool else None


class TegrastatsSampler(CommandSampler):
    """Runs tegrastats (or `command`) in the background and parses its lines.

    Use as a context manager around the measured part of a test, then read `summary()`::

        with TegrastatsSampler(interval_ms=200) as sampler:
            run_load()
        benchmark.extra_info["tegrastats"] = sampler.summary()
    """

    def __init__(self, interval_ms: int = 500, command: Sequence[str] | None = None) -> None:
        argv = list(command) if command else tegrastats_command(interval_ms)
        if argv is None:
            raise FileNotFoundError("tegrastats not found (it ships with L4T on a Jetson)")
        super().__init__(argv)
        self.interval_ms = interval_ms

    def parse_line(self, line: str) -> dict[str, Any] | None:
        return parse_tegrastats_line(line)

    def summary(self) -> dict[str, Any]:
        """`summarize_tegrastats` of the lines so far, with unparsed_lines and interval_ms."""
        out = summarize_tegrastats(self.snapshot())
        with self._lock:
            out["unparsed_lines"] = len(self.unparsed)
        out["interval_ms"] = self.interval_ms
        return out
