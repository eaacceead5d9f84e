"""Jetson identity for perf runs, from documented files and command output.

What a perf result on a Jetson depends on besides the software under test: the board
(`/proc/device-tree/model`), the L4T release (`/etc/nv_tegra_release`) and JetPack
(`dpkg-query -W nvidia-jetpack`), the power mode (`nvpmodel -q`), whether `jetson_clocks`
pinned the clocks, and the GPU and EMC (memory) clocks (`jetson_clocks --show`).
`machine_identity()` gathers them as one flat dict for pytest-benchmark's `machine_info`,
with the fan and the thermal zones' temperatures beside them (recorded, never compared:
they move within a run); `comparable()` says whether two such dicts may be compared by a
perf gate. Telemetry during a test (tegrastats) is
in `pnsuite.platform.tegrastats`; `python3 -m pnsuite.cli.jetson` prints the identity.

The parsers are pure functions of the text, tested on recorded samples in
tests/unit/data/jetson/. Only the standard library is used, so the identity can be read
on a runner before the suite's venv exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NV_TEGRA_RELEASE = Path("etc/nv_tegra_release")
DEVICE_TREE_MODEL = Path("proc/device-tree/model")
THERMAL_ZONES = Path("sys/class/thermal")
HWMON = Path("sys/class/hwmon")
#: where the files above are read: `/`, or a board's tree laid out elsewhere
#: (SUITE_PLATFORM_ROOT), as the tests rehearse the Jetson workflow's steps off a board
ROOT_VARIABLE = "SUITE_PLATFORM_ROOT"


def platform_root() -> Path:
    """The root the machine's files are read under: / unless SUITE_PLATFORM_ROOT names
    another (./suite reads the same variable)."""
    return Path(os.environ.get(ROOT_VARIABLE) or "/")


#: the hwmon names of the Jetson fan's PWM driver (`pwm1` there is the duty, 0-255)
FAN_HWMON_NAMES = ("pwmfan", "pwm-fan", "pwm_fan")
# nvpmodel lives in /usr/sbin, which is not on a non-root user's PATH on Ubuntu.
TOOL_DIRS = ("/usr/bin", "/usr/sbin", "/bin", "/sbin")


# --------------------------------------------------------------------------- releases

_RELEASE_RE = re.compile(
    r"^#\s*R(?P<major>\d+)\s*\(release\),\s*REVISION:\s*(?P<rev>[\d.]+)(?P<rest>.*)$"
)


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
        return {
            "l4t": f"{m.group('major')}.{m.group('rev')}",
            "l4t_major": int(m.group("major")),
            "board": fields.get("board", ""),
            "gcid": fields.get("gcid", ""),
            "date": fields.get("date", ""),
        }
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
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("NVPM ")
    ]
    for i, line in enumerate(lines):
        m = re.match(r"NV Power Mode:\s*(\S.*)$", line)
        if not m:
            continue
        mode_id = int(lines[i + 1]) if i + 1 < len(lines) and lines[i + 1].isdigit() else None
        return {"name": m.group(1).strip(), "id": mode_id}
    return None


def _freqs(line: str) -> dict[str, int]:
    return {
        k.lower(): int(v)
        for k, v in re.findall(r"(MinFreq|MaxFreq|CurrentFreq|FreqOverride)=(\d+)", line)
    }


def parse_jetson_clocks_show(text: str) -> dict[str, Any]:
    """`jetson_clocks --show`: SoC, CPU/GPU/EMC min/max/current (Hz), the fan's PWM and
    whether clocks are pinned.

    `clocks_pinned` is True when every online CPU and the GPU have MinFreq == MaxFreq and the
    EMC is pinned (FreqOverride=1, or MinFreq == MaxFreq), which is what `jetson_clocks`
    sets; False when any of them is not; None when the output has no CPU or GPU lines.
    `fan_pwm` is the fan's duty (0-255) from its line (`FAN Dynamic Speed control=active
    hwmon4_pwm=45` on JetPack 5/6, `Fan: PWM=255` before), None without one.
    """
    out: dict[str, Any] = {
        "soc": "",
        "machine": "",
        "cpus": {},
        "gpu": None,
        "emc": None,
        "nvpmodel": None,
        "fan_pwm": None,
    }
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
        elif (
            line.lower().startswith("fan")
            and out["fan_pwm"] is None
            and (m := re.search(r"(?:pwm|speed)=(\d+)\b", line, re.IGNORECASE))
        ):
            out["fan_pwm"] = int(m.group(1))
    online = [c for c in out["cpus"].values() if c["online"] and "minfreq" in c]
    if not online or not out["gpu"]:
        out["clocks_pinned"] = None
        return out
    pinned = all(c["minfreq"] == c["maxfreq"] for c in online)
    pinned = pinned and out["gpu"].get("minfreq") == out["gpu"].get("maxfreq")
    if out["emc"]:
        emc = out["emc"]
        pinned = pinned and (
            emc.get("freqoverride") == 1 or emc.get("minfreq") == emc.get("maxfreq")
        )
    out["clocks_pinned"] = pinned
    return out


def _mhz(hz: int) -> float:
    return round(hz / 1e6, 3)


def _mhz_text(mhz: float) -> str:
    return f"{mhz:g}"


def clock_freqs_mhz(freqs: Mapping[str, int] | None) -> dict[str, Any] | None:
    """A GPU or EMC line of `parse_jetson_clocks_show` in MHz: `{"min", "max", "current"}`
    (and `"override"` for the EMC, True when its frequency is pinned); None without a line."""
    if not freqs or "minfreq" not in freqs or "maxfreq" not in freqs:
        return None
    out: dict[str, Any] = {
        "min": _mhz(freqs["minfreq"]),
        "max": _mhz(freqs["maxfreq"]),
        "current": (_mhz(freqs["currentfreq"]) if "currentfreq" in freqs else None),
    }
    if "freqoverride" in freqs:
        out["override"] = freqs["freqoverride"] == 1
    return out


def clock_setting(freqs: Mapping[str, int] | None) -> str | None:
    """What a clock is set to, as the gate compares it: `"1300.5 MHz"` when it is pinned
    (MinFreq == MaxFreq, or an EMC FreqOverride=1 at its CurrentFreq), else the range it
    scales in, `"306-1300.5 MHz"`; None without a line.

    An unpinned clock's CurrentFreq is left out: it is whatever the governor chose at the
    moment of `--show`, not a setting.
    """
    mhz = clock_freqs_mhz(freqs)
    if mhz is None:
        return None
    if mhz.get("override") and mhz["current"] is not None:
        return f"{_mhz_text(mhz['current'])} MHz"
    if mhz["min"] == mhz["max"]:
        return f"{_mhz_text(mhz['max'])} MHz"
    return f"{_mhz_text(mhz['min'])}-{_mhz_text(mhz['max'])} MHz"


#: below this a thermal zone is not reading (Orin's CV zones say -256 °C while powered off;
#: an industrial module runs down to -40 °C)
_NO_READING_C = -100.0


def parse_thermal_zones(zones: Sequence[tuple[str, str]]) -> dict[str, float] | None:
    """Temperatures (°C) by zone type from (type, temp) texts of
    /sys/class/thermal/thermal_zone*/ (temp in millidegrees).

    A zone whose temp is not a number or says it is not reading is left out; a type seen
    twice gets `#2`, `#3`, ... appended. None when no zone has a reading.
    """
    temps: dict[str, float] = {}
    for zone_type, temp in zones:
        name = zone_type.strip() or "zone"
        try:
            celsius = int(temp.strip()) / 1000
        except ValueError:
            continue
        if celsius <= _NO_READING_C:
            continue
        key, n = name, 1
        while key in temps:
            n += 1
            key = f"{name}#{n}"
        temps[key] = round(celsius, 1)
    return temps or None


def parse_fan_pwm(text: str | None) -> int | None:
    """The fan's duty (0-255) from its hwmon `pwm1`; None when absent or not a duty."""
    if text is None or not text.strip().isdigit():
        return None
    value = int(text.strip())
    return value if 0 <= value <= 255 else None


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class RawIdentity:
    """What the identity is read from; None where a file or command was not available."""

    nv_tegra_release: str | None = None
    dpkg_jetpack: str | None = None
    device_model: bytes | str | None = None
    nvpmodel_q: str | None = None
    jetson_clocks_show: str | None = None
    #: (type, temp) of each /sys/class/thermal/thermal_zone*
    thermal_zones: tuple[tuple[str, str], ...] = ()
    #: the fan's hwmon `pwm1`, the fan's duty where `jetson_clocks --show` names no fan
    fan_hwmon_pwm: str | None = None
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
    fan = (clocks or {}).get("fan_pwm")
    return {
        "jetson": True,
        "jetson_model": model or (clocks or {}).get("machine", ""),
        "jetson_soc": (clocks or {}).get("soc", ""),
        "l4t_release": release["l4t"],
        "jetpack_release": jp,
        "jetpack_package": jetpack["jetpack_package"] if jetpack else "",
        "jetson_release": (
            f"JetPack {jp} (L4T R{release['l4t']})" if jp else f"L4T R{release['l4t']}"
        ),
        "nvpmodel_mode": mode["name"] if mode else None,
        "nvpmodel_id": mode["id"] if mode else None,
        "jetson_clocks": clocks["clocks_pinned"] if clocks else None,
        "jetson_gpu_clock": clock_setting(clocks["gpu"]) if clocks else None,
        "jetson_emc_clock": clock_setting(clocks["emc"]) if clocks else None,
        "jetson_gpu_freq_mhz": clock_freqs_mhz(clocks["gpu"]) if clocks else None,
        "jetson_emc_freq_mhz": clock_freqs_mhz(clocks["emc"]) if clocks else None,
        "jetson_fan_pwm": fan if fan is not None else parse_fan_pwm(raw.fan_hwmon_pwm),
        "jetson_temps_c": parse_thermal_zones(raw.thermal_zones),
        "jetson_identity_problems": list(raw.problems),
    }


def find_tool(name: str) -> str | None:
    """The path of a Jetson tool, looking in the sbin directories too; None if absent."""
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
    tool = find_tool(name)
    if tool is None:
        problems.append(f"{name} not found (it ships with L4T: reinstall nvidia-l4t-tools)")
        return None
    rc, out, err = _run([tool, *args])
    if rc == 0 and out.strip():
        return out
    sudo = find_tool("sudo")
    if sudo and os.geteuid() != 0:
        rc2, out2, err2 = _run([sudo, "-n", tool, *args])
        if rc2 == 0 and out2.strip():
            return out2
        err = err2 or err
    problems.append(
        f"`{name} {' '.join(args)}` failed ({err.strip()[:200] or f'exit {rc}'}); "
        "allow it without a password: "
        f"'<runner user> ALL=(root) NOPASSWD: {tool} {' '.join(args)}'"
    )
    return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:  # a zone or fan that the kernel lists but cannot read now
        return None


def read_thermal_zones(root: Path | None = None) -> tuple[tuple[str, str], ...]:
    """(type, temp) of each readable thermal zone under `root`, in zone order."""
    root = platform_root() / THERMAL_ZONES if root is None else root
    zones = sorted(root.glob("thermal_zone*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    read = ((_read_text(z / "type"), _read_text(z / "temp")) for z in zones)
    return tuple((t, v) for t, v in read if t is not None and v is not None)


def read_fan_hwmon_pwm(root: Path | None = None) -> str | None:
    """The Jetson fan's `pwm1` from the hwmon device its PWM driver registers; None without one."""
    root = platform_root() / HWMON if root is None else root
    for device in sorted(root.glob("hwmon*")):
        if (_read_text(device / "name") or "").strip() in FAN_HWMON_NAMES:
            return _read_text(device / "pwm1")
    return None


def read_raw_identity() -> RawIdentity:
    """Read this machine's files and run its tools (only on a Jetson)."""
    root = platform_root()
    try:
        release = (root / NV_TEGRA_RELEASE).read_text(errors="replace")
    except OSError:
        return RawIdentity()
    problems: list[str] = []
    try:
        model: bytes | None = (root / DEVICE_TREE_MODEL).read_bytes()
    except OSError as err:
        model = None
        problems.append(f"cannot read {root / DEVICE_TREE_MODEL}: {err}")
    dpkg = None
    if find_tool("dpkg-query"):
        _, dpkg, _ = _run(["dpkg-query", "-W", "nvidia-jetpack"])
    return RawIdentity(
        nv_tegra_release=release,
        dpkg_jetpack=dpkg,
        device_model=model,
        nvpmodel_q=_tool_output("nvpmodel", ["-q"], problems),
        jetson_clocks_show=_tool_output("jetson_clocks", ["--show"], problems),
        thermal_zones=read_thermal_zones(),
        fan_hwmon_pwm=read_fan_hwmon_pwm(),
        problems=tuple(problems),
    )


def machine_identity() -> dict[str, Any]:
    """This machine's Jetson identity as a flat, JSON-ready dict; `{"jetson": False}` elsewhere.

    Keys on a Jetson: jetson, jetson_model, jetson_soc, l4t_release, jetpack_release,
    jetpack_package, jetson_release (both, for people), nvpmodel_mode, nvpmodel_id,
    jetson_clocks (True/False, None if unknown), jetson_gpu_clock and jetson_emc_clock (what
    each clock is set to, `clock_setting`), jetson_gpu_freq_mhz and jetson_emc_freq_mhz
    (min/max/current as `jetson_clocks --show` reports them), jetson_fan_pwm (0-255),
    jetson_temps_c (by thermal zone) and jetson_identity_problems; None where unreadable.
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
        """One line for people: "comparable" (with notes) or the refusals."""
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


def _state_refusal(
    what: str, baseline: str, current: str, unreadable: str, differs: str
) -> list[str]:
    """Why a power state refuses a comparison: unknown on either side, or different."""
    if "unknown" in (baseline, current):
        return [f"{what} unknown: baseline {baseline}, this run {current} ({unreadable})"]
    return [differs] if baseline != current else []


#: the clocks whose settings must match, by identity key (`clock_setting`'s values)
BOARD_CLOCKS = (("jetson_gpu_clock", "GPU clock"), ("jetson_emc_clock", "EMC clock"))


def _clock_refusal(
    baseline: Mapping[str, Any], current: Mapping[str, Any], key: str, label: str
) -> list[str]:
    """Why a clock setting refuses a comparison: different, or known on one side only."""
    sides = [
        ("not recorded" if key not in side else side[key] or "unknown")
        for side in (baseline, current)
    ]
    b_clock, c_clock = sides
    # Alike on both sides passes, unknown too: two runs saved before the suite read the
    # clocks are as comparable as they were, and a board whose --show has no EMC line
    # never has one.
    if b_clock == c_clock:
        return []
    if {"unknown", "not recorded"} & set(sides):
        why = (
            "the baseline was recorded before its clocks were: record it again"
            if key not in baseline
            else "`jetson_clocks --show` must list it on the runner"
        )
        return [f"{label} unknown: baseline {b_clock}, this run {c_clock} ({why})"]
    return [
        (
            f"{label} differs: baseline {b_clock}, this run {c_clock} (set the board as the "
            f"baseline's was, e.g. with ci/jetson-board.sh set)"
        )
    ]


def comparable(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> Comparability:
    """Whether `current` may be gated against `baseline` (both from `machine_identity`).

    Refused: a Jetson against a non-Jetson, different boards, different or unknown power
    modes, jetson_clocks on in one and off (or unknown) in the other, GPU or EMC clocks set
    differently (or known on one side only). Fan and temperatures are not compared: they
    move within a run. A different JetPack or L4T release is allowed (validating a new
    JetPack is what the gate is for) and noted. Two non-Jetson identities are comparable as
    far as this check goes.
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
        refusals.append(
            f"board differs: baseline {baseline.get('jetson_model')!r}, "
            f"this run {current.get('jetson_model')!r}"
        )
    b_mode, c_mode = _mode(baseline), _mode(current)
    refusals += _state_refusal(
        "power mode",
        b_mode,
        c_mode,
        "`nvpmodel -q` must be readable on the runner",
        f"power mode differs: baseline nvpmodel {b_mode}, this run nvpmodel {c_mode} "
        f"(set it with `sudo nvpmodel -m {baseline.get('nvpmodel_id')}` to match)",
    )
    b_clk, c_clk = _clocks(baseline), _clocks(current)
    refusals += _state_refusal(
        "jetson_clocks state",
        b_clk,
        c_clk,
        "`jetson_clocks --show` must be readable on the runner",
        f"clocks differ: baseline jetson_clocks {b_clk}, this run jetson_clocks {c_clk}",
    )
    for key, label in BOARD_CLOCKS:
        refusals += _clock_refusal(baseline, current, key, label)
    for key, label in (("jetpack_release", "JetPack"), ("l4t_release", "L4T")):
        if baseline.get(key) != current.get(key):
            notes.append(f"{label} {baseline.get(key) or '?'} -> {current.get(key) or '?'}")
    return Comparability(not refusals, tuple(refusals), tuple(notes))
