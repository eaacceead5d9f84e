"""Jetson identity and state for perf runs, from documented files and command output.

What a perf result on a Jetson depends on besides the software under test: the board
(`/proc/device-tree/model`), the L4T release (`/etc/nv_tegra_release`) and JetPack
(`dpkg-query -W nvidia-jetpack`), the power mode (`nvpmodel -q`) and whether
`jetson_clocks` pinned the clocks (`jetson_clocks --show`). `machine_identity()` gathers
them as one flat dict for pytest-benchmark's `machine_info`; `comparable()` says whether
two such dicts may be compared by a perf gate. `TegrastatsSampler` runs `tegrastats`
during a test and summarises GPU load, EMC, RAM, CPU, power rails and temperatures.

The parsers are pure functions of the text, tested on recorded samples in
tests/unit/data/jetson/. Only the standard library is used, so `python3 -m fixtures.jetson`
works on a runner before the suite's venv exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Iterable, Mapping, Sequence

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
# nvpmodel lives in /usr/sbin, which is not on a non-root user's PATH on Ubuntu.
TOOL_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin")


# --------------------------------------------------------------------------- releases

_RELEASE_RE = re.compile(r"^#\s*R(?P<major>\d+)\s*\(release\),\s*REVISION:\s*(?P<rev>[\d.]+)(?P<rest>.*)$")


def parse_nv_tegra_release(text: str) -> dict[str, Any] | None:
    """L4T release from /etc/nv_tegra_release, e.g. `# R36 (release), REVISION: 3.0, ...`.

    Returns `{"l4t": "36.3.0", "l4t_major": 36, "board": ..., "gcid": ..., "date": ...}`,
    or None when the first matching line is absent.
    """
    for line in text.splitlines():
        m = _RELEASE_RE.match(line.strip())
        if not m:
            continue
        fields: dict[str, str] = {}
        for part in m.group("rest").split(","):
            key, sep, value = part.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        return {"l4t": f"{m.group('major')}.{m.group('rev')}", "l4t_major": int(m.group("major")),
                "board": fields.get("board", ""), "gcid": fields.get("gcid", ""),
                "date": fields.get("date", "")}
    return None


def parse_dpkg_jetpack(text: str) -> dict[str, str] | None:
    """JetPack from `dpkg-query -W nvidia-jetpack` (`nvidia-jetpack<TAB>6.0+b106`).

    Returns `{"jetpack": "6.0", "jetpack_package": "6.0+b106"}`, or None when the package
    is not installed (no line, or a line with an empty version).
    """
    for line in text.splitlines():
        name, _, version = line.partition("\t")
        if name.split(":")[0].strip() != "nvidia-jetpack":
            continue
        version = version.strip()
        release = re.match(r"\d+(?:\.\d+)*", version)
        if not release:
            return None
        return {"jetpack": release.group(0), "jetpack_package": version}
    return None


def parse_device_model(raw: bytes | str) -> str:
    """The board name from /proc/device-tree/model (a NUL-terminated string)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.replace("\x00", "").strip()


# --------------------------------------------------------------------------- power, clocks

def parse_nvpmodel_query(text: str) -> dict[str, Any] | None:
    """Power mode from `nvpmodel -q`: `NV Power Mode: MAXN` then the mode id on its own line.

    Returns `{"name": "MAXN", "id": 0}` (id None if the line is missing), or None.
    NVPM WARN/ERROR lines that some releases print first are skipped.
    """
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.strip().startswith("NVPM ")]
    for i, line in enumerate(lines):
        m = re.match(r"NV Power Mode:\s*(\S.*)$", line)
        if not m:
            continue
        mode_id = int(lines[i + 1]) if i + 1 < len(lines) and lines[i + 1].isdigit() else None
        return {"name": m.group(1).strip(), "id": mode_id}
    return None


def _freqs(line: str) -> dict[str, int]:
    return {k.lower(): int(v) for k, v in re.findall(r"(MinFreq|MaxFreq|CurrentFreq|FreqOverride)=(\d+)", line)}


def parse_jetson_clocks_show(text: str) -> dict[str, Any]:
    """`jetson_clocks --show`: SoC, CPU/GPU/EMC min/max/current and whether clocks are pinned.

    `clocks_pinned` is True when every online CPU and the GPU have MinFreq == MaxFreq and the
    EMC is pinned (FreqOverride=1, or MinFreq == MaxFreq), which is what `jetson_clocks`
    sets; False when any of them is not; None when the output has no CPU or GPU lines.
    """
    out: dict[str, Any] = {"soc": "", "machine": "", "cpus": {}, "gpu": None, "emc": None,
                           "nvpmodel": None}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("SOC family:"):
            m = re.match(r"SOC family:(\S+)\s+Machine:(.*)$", line)
            if m:
                out["soc"], out["machine"] = m.group(1), m.group(2).strip()
        elif m := re.match(r"cpu(\d+):\s*Online=(\d)", line):
            out["cpus"][int(m.group(1))] = {"online": m.group(2) == "1", **_freqs(line)}
        elif line.startswith("GPU ") and "MinFreq=" in line:
            out["gpu"] = _freqs(line)
        elif line.startswith("EMC ") and "MinFreq=" in line:
            out["emc"] = _freqs(line)
        elif m := re.match(r"NV Power Mode:\s*(\S.*)$", line):
            out["nvpmodel"] = m.group(1).strip()
    online = [c for c in out["cpus"].values() if c["online"] and "minfreq" in c]
    if not online or not out["gpu"]:
        out["clocks_pinned"] = None
        return out
    pinned = all(c["minfreq"] == c["maxfreq"] for c in online)
    pinned = pinned and out["gpu"].get("minfreq") == out["gpu"].get("maxfreq")
    if out["emc"]:
        emc = out["emc"]
        pinned = pinned and (emc.get("freqoverride") == 1 or emc.get("minfreq") == emc.get("maxfreq"))
    out["clocks_pinned"] = pinned
    return out


# --------------------------------------------------------------------------- identity

@dataclass(frozen=True)
class RawIdentity:
    """What the identity is read from; None where a file or command was not available."""

    nv_tegra_release: str | None = None
    dpkg_jetpack: str | None = None
    device_model: bytes | str | None = None
    nvpmodel_q: str | None = None
    jetson_clocks_show: str | None = None
    problems: tuple[str, ...] = ()


def identity_from(raw: RawIdentity) -> dict[str, Any]:
    """The flat identity dict (see `machine_identity`) from already-read texts."""
    release = parse_nv_tegra_release(raw.nv_tegra_release) if raw.nv_tegra_release else None
    if release is None:
        return {"jetson": False}
    jetpack = parse_dpkg_jetpack(raw.dpkg_jetpack or "")
    mode = parse_nvpmodel_query(raw.nvpmodel_q) if raw.nvpmodel_q else None
    clocks = parse_jetson_clocks_show(raw.jetson_clocks_show) if raw.jetson_clocks_show else None
    model = parse_device_model(raw.device_model) if raw.device_model is not None else ""
    jp = jetpack["jetpack"] if jetpack else ""
    return {
        "jetson": True,
        "jetson_model": model or (clocks or {}).get("machine", ""),
        "jetson_soc": (clocks or {}).get("soc", ""),
        "l4t_release": release["l4t"],
        "jetpack_release": jp,
        "jetpack_package": jetpack["jetpack_package"] if jetpack else "",
        "jetson_release": f"JetPack {jp} (L4T R{release['l4t']})" if jp else f"L4T R{release['l4t']}",
        "nvpmodel_mode": mode["name"] if mode else None,
        "nvpmodel_id": mode["id"] if mode else None,
        "jetson_clocks": clocks["clocks_pinned"] if clocks else None,
        "jetson_identity_problems": list(raw.problems),
    }


def _find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in TOOL_DIRS:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _run(argv: Sequence[str], timeout_s: float = 10.0) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as err:
        return -1, "", str(err)
    return proc.returncode, proc.stdout, proc.stderr


def _tool_output(name: str, args: Sequence[str], problems: list[str]) -> str | None:
    """Output of a Jetson tool; retried through passwordless `sudo -n` if it needs root."""
    tool = _find_tool(name)
    if tool is None:
        problems.append(f"{name} not found (it ships with L4T: reinstall nvidia-l4t-tools)")
        return None
    rc, out, err = _run([tool, *args])
    if rc == 0 and out.strip():
        return out
    sudo = _find_tool("sudo")
    if sudo and os.geteuid() != 0:
        rc2, out2, err2 = _run([sudo, "-n", tool, *args])
        if rc2 == 0 and out2.strip():
            return out2
        err = err2 or err
    problems.append(f"`{name} {' '.join(args)}` failed ({err.strip()[:200] or f'exit {rc}'}); "
                    f"allow it without a password: '<runner user> ALL=(root) NOPASSWD: {tool} {' '.join(args)}'")
    return None


def read_raw_identity() -> RawIdentity:
    """Read this machine's files and run its tools (only on a Jetson)."""
    try:
        release = NV_TEGRA_RELEASE.read_text(errors="replace")
    except OSError:
        return RawIdentity()
    problems: list[str] = []
    try:
        model: bytes | None = DEVICE_TREE_MODEL.read_bytes()
    except OSError as err:
        model = None
        problems.append(f"cannot read {DEVICE_TREE_MODEL}: {err}")
    dpkg = None
    if _find_tool("dpkg-query"):
        _, dpkg, _ = _run(["dpkg-query", "-W", "nvidia-jetpack"])
    return RawIdentity(nv_tegra_release=release, dpkg_jetpack=dpkg, device_model=model,
                       nvpmodel_q=_tool_output("nvpmodel", ["-q"], problems),
                       jetson_clocks_show=_tool_output("jetson_clocks", ["--show"], problems),
                       problems=tuple(problems))


def machine_identity() -> dict[str, Any]:
    """This machine's Jetson identity as a flat, JSON-ready dict; `{"jetson": False}` elsewhere.

    Keys on a Jetson: jetson, jetson_model, jetson_soc, l4t_release, jetpack_release,
    jetpack_package, jetson_release (both, for people), nvpmodel_mode, nvpmodel_id,
    jetson_clocks (True/False, None if unknown) and jetson_identity_problems.
    """
    return identity_from(read_raw_identity())


# --------------------------------------------------------------------------- comparability

@dataclass(frozen=True)
class Comparability:
    """Whether a perf gate may compare two runs, with the reasons when it may not."""

    ok: bool
    refusals: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def message(self) -> str:
        if self.ok:
            return "comparable" + (": " + "; ".join(self.notes) if self.notes else "")
        return "not comparable: " + "; ".join(self.refusals)


def _mode(identity: Mapping[str, Any]) -> str:
    name, mode_id = identity.get("nvpmodel_mode"), identity.get("nvpmodel_id")
    if name is None:
        return "unknown"
    return f"{name} ({mode_id})" if mode_id is not None else str(name)


def _clocks(identity: Mapping[str, Any]) -> str:
    value = identity.get("jetson_clocks")
    if value is True:
        return "on"
    return "off" if value is False else "unknown"


def comparable(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> Comparability:
    """Whether `current` may be gated against `baseline` (both from `machine_identity`).

    Refused: a Jetson against a non-Jetson, different boards, different or unknown power
    modes, jetson_clocks on in one and off (or unknown) in the other. A different JetPack
    or L4T release is allowed (validating a new JetPack is what the gate is for) and noted.
    Two non-Jetson identities are comparable as far as this check goes.
    """
    b_jetson, c_jetson = bool(baseline.get("jetson")), bool(current.get("jetson"))
    if not b_jetson and not c_jetson:
        return Comparability(True)
    if b_jetson != c_jetson:
        where = "the baseline" if b_jetson else "this run"
        return Comparability(False, (f"only {where} is from a Jetson",))
    refusals: list[str] = []
    notes: list[str] = []
    if baseline.get("jetson_model") != current.get("jetson_model"):
        refusals.append(f"board differs: baseline {baseline.get('jetson_model')!r}, "
                        f"this run {current.get('jetson_model')!r}")
    b_mode, c_mode = _mode(baseline), _mode(current)
    if "unknown" in (b_mode, c_mode):
        refusals.append(f"power mode unknown: baseline {b_mode}, this run {c_mode} "
                        "(`nvpmodel -q` must be readable on the runner)")
    elif b_mode != c_mode:
        refusals.append(f"power mode differs: baseline nvpmodel {b_mode}, this run nvpmodel {c_mode} "
                        f"(set it with `sudo nvpmodel -m {baseline.get('nvpmodel_id')}` to match)")
    b_clk, c_clk = _clocks(baseline), _clocks(current)
    if "unknown" in (b_clk, c_clk):
        refusals.append(f"jetson_clocks state unknown: baseline {b_clk}, this run {c_clk} "
                        "(`jetson_clocks --show` must be readable on the runner)")
    elif b_clk != c_clk:
        refusals.append(f"clocks differ: baseline jetson_clocks {b_clk}, this run jetson_clocks {c_clk}")
    for key, label in (("jetpack_release", "JetPack"), ("l4t_release", "L4T")):
        if baseline.get(key) != current.get(key):
            notes.append(f"{label} {baseline.get(key) or '?'} -> {current.get(key) or '?'}")
    return Comparability(not refusals, tuple(refusals), tuple(notes))


# --------------------------------------------------------------------------- tegrastats

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
        "ram_used_mb": mem["RAM"][0], "ram_total_mb": mem["RAM"][1],
        "swap_used_mb": mem["SWAP"][0] if "SWAP" in mem else None,
        "cpu_load_pct": [], "cpu_freq_mhz": [],
        "emc_load_pct": None, "emc_freq_mhz": None, "gpu_load_pct": None, "gpu_freq_mhz": None,
        "power_mw": {}, "temp_c": {},
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
    cpu = _stat(fmean(loads) if (loads := [v for v in s.get("cpu_load_pct", []) if v is not None])
                else None for s in samples)
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
    tool = _find_tool("tegrastats")
    return [tool, "--interval", str(interval_ms)] if tool else None


@dataclass
class TegrastatsSampler:
    """Runs tegrastats (or `command`) in the background and parses its lines.

    Use as a context manager around the measured part of a test, then read `summary()`::

        with TegrastatsSampler(interval_ms=200) as sampler:
            run_load()
        benchmark.extra_info["tegrastats"] = sampler.summary()
    """

    interval_ms: int = 500
    command: Sequence[str] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    _reader: threading.Thread | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def start(self) -> "TegrastatsSampler":
        argv = list(self.command) if self.command else tegrastats_command(self.interval_ms)
        if argv is None:
            raise FileNotFoundError("tegrastats not found (it ships with L4T on a Jetson)")
        # Own process group: stopping it must not reach the test process.
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True, bufsize=1, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="tegrastats", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if not line.strip():
                continue
            sample = parse_tegrastats_line(line)
            with self._lock:
                if sample:
                    self.samples.append(sample)
                else:
                    self.unparsed.append(line.rstrip())

    def stop(self) -> dict[str, Any]:
        """Stop the sampler (SIGTERM, then SIGKILL after 5 s) and return the summary."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._proc = None
        return self.summary()

    def summary(self) -> dict[str, Any]:
        with self._lock:
            out = summarize_tegrastats(list(self.samples))
            out["unparsed_lines"] = len(self.unparsed)
        out["interval_ms"] = self.interval_ms
        return out

    def __enter__(self) -> "TegrastatsSampler":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- CLI

def main(argv: Sequence[str] | None = None) -> int:
    """`python3 -m pnsuite.platform.jetson [--field KEY]`: print the identity (JSON) or one field."""
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m pnsuite.platform.jetson", description=main.__doc__)
    parser.add_argument("--field", help="print only this key's value (empty if absent)")
    args = parser.parse_args(argv)
    identity = machine_identity()
    if args.field:
        value = identity.get(args.field)
        print("" if value is None else value if not isinstance(value, (dict, list)) else json.dumps(value))
    else:
        json.dump(identity, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
