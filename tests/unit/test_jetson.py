"""Jetson identity parsers and CLI, tegrastats sampling and the perf-gate comparability check.

The samples in tests/unit/data/jetson/ are hand-written from the documented formats of
/etc/nv_tegra_release, dpkg-query, /proc/device-tree/model, nvpmodel -q, jetson_clocks
--show and tegrastats (no Jetson was available); see that directory's README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pnsuite.platform import jetson, tegrastats

DATA = Path(__file__).parent / "data" / "jetson"
ORIN, XAVIER, NANO = DATA / "orin_agx_jp6", DATA / "xavier_nx_jp5", DATA / "nano_jp4"


def _zones(board: Path) -> tuple[tuple[str, str], ...]:
    """The recorded thermal zones as read_thermal_zones gives them: (type, temp)."""
    lines = (board / "thermal_zones.txt").read_text().splitlines()
    return tuple((zone_type, temp) for _, zone_type, temp in (ln.split("\t") for ln in lines))


def _raw(board: Path, nvpmodel: str = "nvpmodel_q.txt",
         clocks: str | None = "jetson_clocks_show_on.txt") -> jetson.RawIdentity:
    return jetson.RawIdentity(
        nv_tegra_release=(board / "nv_tegra_release").read_text(),
        dpkg_jetpack=(board / "dpkg_jetpack.txt").read_text(),
        device_model=(board / "device_tree_model").read_bytes(),
        nvpmodel_q=(board / nvpmodel).read_text(),
        jetson_clocks_show=(board / clocks).read_text() if clocks else None,
        thermal_zones=_zones(board))


# ---------------------------------------------------------------- releases and board

@pytest.mark.parametrize("board, l4t, major, board_name", [
    (ORIN, "36.3.0", 36, "generic"), (XAVIER, "35.4.1", 35, "t186ref")])
def test_nv_tegra_release(board, l4t, major, board_name):
    release = jetson.parse_nv_tegra_release((board / "nv_tegra_release").read_text())
    assert release is not None
    assert (release["l4t"], release["l4t_major"], release["board"]) == (l4t, major, board_name)
    assert release["date"].endswith("UTC 2024" if major == 36 else "UTC 2023")


def test_nv_tegra_release_rejects_other_text():
    assert jetson.parse_nv_tegra_release("PRETTY_NAME=\"Debian GNU/Linux 12\"\n") is None
    assert jetson.parse_nv_tegra_release("") is None


@pytest.mark.parametrize("board, release, package", [
    (ORIN, "6.0", "6.0+b106"), (XAVIER, "5.1.2", "5.1.2-b104")])
def test_dpkg_jetpack(board, release, package):
    assert jetson.parse_dpkg_jetpack((board / "dpkg_jetpack.txt").read_text()) == \
        {"jetpack": release, "jetpack_package": package}


@pytest.mark.parametrize("text", ["", "nvidia-jetpack\t\n",
                                  "dpkg-query: no packages found matching nvidia-jetpack\n"])
def test_dpkg_jetpack_not_installed(text):
    assert jetson.parse_dpkg_jetpack(text) is None


@pytest.mark.parametrize("board, model", [
    (ORIN, "NVIDIA Jetson AGX Orin Developer Kit"),
    (XAVIER, "NVIDIA Jetson Xavier NX Developer Kit")])
def test_device_model_strips_the_nul(board, model):
    raw = (board / "device_tree_model").read_bytes()
    assert raw.endswith(b"\x00")
    assert jetson.parse_device_model(raw) == model


# ---------------------------------------------------------------- power mode and clocks

@pytest.mark.parametrize("board, file, expected", [
    (ORIN, "nvpmodel_q.txt", {"name": "MAXN", "id": 0}),
    (ORIN, "nvpmodel_q_other_mode.txt", {"name": "MODE_30W", "id": 2}),
    (XAVIER, "nvpmodel_q.txt", {"name": "MODE_20W_6CORE", "id": 8}),
    (XAVIER, "nvpmodel_q_other_mode.txt", {"name": "MODE_15W_6CORE", "id": 2})])
def test_nvpmodel_query(board, file, expected):
    assert jetson.parse_nvpmodel_query((board / file).read_text()) == expected


def test_nvpmodel_query_skips_warnings_and_tolerates_a_missing_id():
    text = "NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN\n"
    assert jetson.parse_nvpmodel_query(text) == {"name": "MAXN", "id": None}
    assert jetson.parse_nvpmodel_query("nvpmodel: command not found\n") is None


@pytest.mark.parametrize("board, soc, cores, mode", [
    (ORIN, "tegra234", 12, "MAXN"), (XAVIER, "tegra194", 6, "MODE_20W_6CORE")])
def test_jetson_clocks_show(board, soc, cores, mode):
    off = jetson.parse_jetson_clocks_show((board / "jetson_clocks_show_off.txt").read_text())
    on = jetson.parse_jetson_clocks_show((board / "jetson_clocks_show_on.txt").read_text())
    assert (off["soc"], len(off["cpus"]), off["nvpmodel"]) == (soc, cores, mode)
    assert off["clocks_pinned"] is False and on["clocks_pinned"] is True
    assert on["gpu"]["minfreq"] == on["gpu"]["maxfreq"] == on["gpu"]["currentfreq"]
    assert on["emc"]["freqoverride"] == 1 and off["emc"]["freqoverride"] == 0


def test_jetson_clocks_one_unpinned_core_means_off():
    lines = (ORIN / "jetson_clocks_show_on.txt").read_text().splitlines()
    lines = [ln.replace("MinFreq=2201600", "MinFreq=115200") if ln.startswith("cpu7:") else ln
             for ln in lines]
    assert jetson.parse_jetson_clocks_show("\n".join(lines))["clocks_pinned"] is False


def test_jetson_clocks_unreadable_output_is_unknown():
    assert jetson.parse_jetson_clocks_show("jetson_clocks: must be run as root\n")["clocks_pinned"] is None


@pytest.mark.parametrize("board, state, gpu, emc", [
    (ORIN, "on", "1300.5 MHz", "3199 MHz"),
    (ORIN, "off", "306-1300.5 MHz", "204-3199 MHz"),
    (XAVIER, "on", "1109.25 MHz", "1600 MHz"),
    (XAVIER, "off", "114.75-1109.25 MHz", "204-1600 MHz")])
def test_clock_settings_are_the_pinned_frequency_or_the_range(board, state, gpu, emc):
    """Pinned: the one frequency; scaling: the range (the governor's current pick at the
    moment of --show is no setting, e.g. the Xavier's unpinned EMC at its 1600 MHz max)."""
    clocks = jetson.parse_jetson_clocks_show((board / f"jetson_clocks_show_{state}.txt").read_text())
    assert jetson.clock_setting(clocks["gpu"]) == gpu
    assert jetson.clock_setting(clocks["emc"]) == emc


def test_an_emc_pinned_below_its_maximum_is_set_to_its_current_frequency():
    line = "EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=2133000000 FreqOverride=1"
    emc = jetson.parse_jetson_clocks_show(line)["emc"]
    assert jetson.clock_setting(emc) == "2133 MHz"
    assert jetson.clock_freqs_mhz(emc) == {"min": 204.0, "max": 3199.0, "current": 2133.0,
                                           "override": True}


def test_clocks_without_their_line_are_none():
    assert jetson.clock_setting(None) is None and jetson.clock_freqs_mhz(None) is None
    assert jetson.clock_setting({"currentfreq": 5}) is None


@pytest.mark.parametrize("board, state, pwm", [
    (ORIN, "off", 45), (ORIN, "on", 255), (XAVIER, "off", 0), (XAVIER, "on", 255)])
def test_jetson_clocks_show_fan(board, state, pwm):
    text = (board / f"jetson_clocks_show_{state}.txt").read_text()
    assert jetson.parse_jetson_clocks_show(text)["fan_pwm"] == pwm


@pytest.mark.parametrize("line, pwm", [
    ("Fan: speed=128", 128), ("FAN Dynamic Speed control=active hwmon3_pwm=77", 77),
    ("Fan: not present", None)])
def test_jetson_clocks_show_fan_line_variants(line, pwm):
    assert jetson.parse_jetson_clocks_show(line)["fan_pwm"] == pwm


def test_thermal_zones_of_an_orin_leave_out_the_powered_off_ones():
    temps = jetson.parse_thermal_zones(_zones(ORIN))
    assert temps == {"cpu-thermal": 48.0, "gpu-thermal": 44.1, "soc0-thermal": 45.2,
                     "soc1-thermal": 44.8, "soc2-thermal": 44.4, "tj-thermal": 48.0}


def test_thermal_zones_of_a_xavier():
    temps = jetson.parse_thermal_zones(_zones(XAVIER))
    assert temps is not None and temps["GPU-therm"] == 40.0 and temps["PMIC-Die"] == 100.0
    assert len(temps) == 6


def test_thermal_zones_unreadable_or_repeated():
    assert jetson.parse_thermal_zones([]) is None
    assert jetson.parse_thermal_zones([("cpu", "oops\n"), ("cv0", "-256000")]) is None
    assert jetson.parse_thermal_zones([("cold-start", "-40000")]) == {"cold-start": -40.0}
    assert jetson.parse_thermal_zones([("cpu\n", "40000\n"), ("cpu", "41000"), ("cpu", "42000")]) == \
        {"cpu": 40.0, "cpu#2": 41.0, "cpu#3": 42.0}


def test_thermal_zones_and_fan_are_read_from_sysfs(tmp_path):
    """The readers on a sysfs-like tree: zones in number order, an unreadable zone and a
    hwmon that is not the fan left out."""
    thermal, hwmon = tmp_path / "thermal", tmp_path / "hwmon"
    for n, zone_type, temp in [(10, "tj-thermal", "50000"), (2, "gpu-thermal", "45000"),
                               (3, "broken", None)]:
        zone = thermal / f"thermal_zone{n}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(zone_type + "\n")
        if temp is not None:
            (zone / "temp").write_text(temp + "\n")
    assert jetson.read_thermal_zones(thermal) == (("gpu-thermal\n", "45000\n"),
                                                  ("tj-thermal\n", "50000\n"))
    for name, pwm in [("hwmon0", ("ina3221", "0")), ("hwmon4", ("pwmfan", "128\n"))]:
        (hwmon / name).mkdir(parents=True)
        (hwmon / name / "name").write_text(pwm[0] + "\n")
        (hwmon / name / "pwm1").write_text(pwm[1])
    assert jetson.read_fan_hwmon_pwm(hwmon) == "128\n"
    assert jetson.read_fan_hwmon_pwm(tmp_path / "no_hwmon") is None
    assert jetson.read_thermal_zones(tmp_path / "no_thermal") == ()


@pytest.mark.parametrize("text, pwm", [("128\n", 128), ("0", 0), ("300", None), ("", None),
                                       (None, None), ("-1", None)])
def test_fan_pwm_from_hwmon(text, pwm):
    assert jetson.parse_fan_pwm(text) == pwm


# ---------------------------------------------------------------- identity

def test_identity_of_an_orin():
    identity = jetson.identity_from(_raw(ORIN))
    assert identity == {
        "jetson": True, "jetson_model": "NVIDIA Jetson AGX Orin Developer Kit",
        "jetson_soc": "tegra234", "l4t_release": "36.3.0", "jetpack_release": "6.0",
        "jetpack_package": "6.0+b106", "jetson_release": "JetPack 6.0 (L4T R36.3.0)",
        "nvpmodel_mode": "MAXN", "nvpmodel_id": 0, "jetson_clocks": True,
        "jetson_gpu_clock": "1300.5 MHz", "jetson_emc_clock": "3199 MHz",
        "jetson_gpu_freq_mhz": {"min": 1300.5, "max": 1300.5, "current": 1300.5},
        "jetson_emc_freq_mhz": {"min": 204.0, "max": 3199.0, "current": 3199.0, "override": True},
        "jetson_fan_pwm": 255,
        "jetson_temps_c": {"cpu-thermal": 48.0, "gpu-thermal": 44.1, "soc0-thermal": 45.2,
                           "soc1-thermal": 44.8, "soc2-thermal": 44.4, "tj-thermal": 48.0},
        "jetson_identity_problems": []}
    json.dumps(identity)  # it goes into pytest-benchmark's JSON as it is


def test_identity_of_a_xavier_with_clocks_off_and_no_jetpack_package():
    raw = _raw(XAVIER, clocks="jetson_clocks_show_off.txt")
    raw = jetson.RawIdentity(**{**raw.__dict__, "dpkg_jetpack": ""})
    identity = jetson.identity_from(raw)
    assert identity["jetson_release"] == "L4T R35.4.1" and identity["jetpack_release"] == ""
    assert (identity["nvpmodel_mode"], identity["nvpmodel_id"]) == ("MODE_20W_6CORE", 8)
    assert identity["jetson_clocks"] is False
    assert (identity["jetson_gpu_clock"], identity["jetson_emc_clock"]) == \
        ("114.75-1109.25 MHz", "204-1600 MHz")
    assert identity["jetson_emc_freq_mhz"]["current"] == 1600.0 and identity["jetson_fan_pwm"] == 0


def test_identity_with_unreadable_tools_says_unknown():
    raw = jetson.RawIdentity(nv_tegra_release=(ORIN / "nv_tegra_release").read_text(),
                             problems=("`jetson_clocks --show` failed",))
    identity = jetson.identity_from(raw)
    assert identity["jetson"] is True
    assert identity["nvpmodel_mode"] is None and identity["jetson_clocks"] is None
    for key in ("jetson_gpu_clock", "jetson_emc_clock", "jetson_gpu_freq_mhz",
                "jetson_emc_freq_mhz", "jetson_fan_pwm", "jetson_temps_c"):
        assert identity[key] is None, key
    assert identity["jetson_identity_problems"] == ["`jetson_clocks --show` failed"]


def test_the_fan_comes_from_hwmon_when_jetson_clocks_names_none():
    show = "\n".join(ln for ln in (ORIN / "jetson_clocks_show_on.txt").read_text().splitlines()
                     if not ln.startswith("FAN"))
    raw = jetson.RawIdentity(**{**_raw(ORIN).__dict__, "jetson_clocks_show": show,
                                "fan_hwmon_pwm": "90\n"})
    assert jetson.identity_from(raw)["jetson_fan_pwm"] == 90


def test_no_nv_tegra_release_is_not_a_jetson():
    assert jetson.identity_from(jetson.RawIdentity()) == {"jetson": False}


def test_this_machine_identity_and_the_cli_agree():
    """Real run: on this machine (a Jetson or not) the function and the CLI agree."""
    identity = jetson.machine_identity()
    if (jetson.platform_root() / jetson.NV_TEGRA_RELEASE).exists():
        assert identity["jetson"] is True and identity["l4t_release"]
    else:
        assert identity == {"jetson": False}
    cli = json.loads(_cli().stdout)
    assert cli["jetson"] == identity["jetson"]
    if not identity["jetson"]:
        assert cli == identity
    field = _cli("--field", "jetson").stdout
    assert field == f"{identity['jetson']}\n"
    assert _cli("--field", "no_such_key").stdout == "\n"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The identity CLI run with `-S`: no site-packages, as with a Jetson's bare python3."""
    return subprocess.run([sys.executable, "-S", "-m", "pnsuite.cli.jetson", *args],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])


def test_the_platform_modules_and_their_cli_need_only_the_standard_library():
    """The Jetson workflow reads the identity before the venv exists: no third-party import,
    not even a guarded one (the venv's packages are importable here, so one would show)."""
    code = ("import sys; before = set(sys.modules); "
            "import pnsuite.cli.jetson, pnsuite.platform.tegrastats; "
            "print(sorted({m.split('.')[0] for m in set(sys.modules) - before}"
            " - set(sys.stdlib_module_names)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "['pnsuite']"


# ---------------------------------------------------------------- comparability

def _id(board: Path = ORIN, **kw: str | None) -> dict:
    return jetson.identity_from(_raw(board, **kw))


def test_same_mode_and_clocks_are_comparable():
    verdict = jetson.comparable(_id(), _id())
    assert verdict.ok and verdict.refusals == () and verdict.message() == "comparable"


def test_power_modes_that_differ_are_refused_naming_both():
    verdict = jetson.comparable(_id(), _id(nvpmodel="nvpmodel_q_other_mode.txt"))
    assert not verdict.ok
    assert "MAXN (0)" in verdict.message() and "MODE_30W (2)" in verdict.message()
    assert "sudo nvpmodel -m 0" in verdict.message()


def test_clocks_that_differ_are_refused_naming_both():
    verdict = jetson.comparable(_id(clocks="jetson_clocks_show_on.txt"),
                                _id(clocks="jetson_clocks_show_off.txt"))
    assert not verdict.ok
    assert "baseline jetson_clocks on, this run jetson_clocks off" in verdict.message()


def test_unknown_clocks_are_refused():
    verdict = jetson.comparable(_id(), _id(clocks=None))
    assert not verdict.ok and "jetson_clocks state unknown" in verdict.message()


def test_an_emc_clock_that_differs_is_refused_naming_both():
    verdict = jetson.comparable(_id(), {**_id(), "jetson_emc_clock": "2133 MHz"})
    assert not verdict.ok and len(verdict.refusals) == 1
    assert verdict.refusals[0].startswith("EMC clock differs: baseline 3199 MHz, this run 2133 MHz")


def test_a_gpu_clock_that_differs_is_refused_naming_both():
    verdict = jetson.comparable({**_id(), "jetson_gpu_clock": "1300.5 MHz"},
                                {**_id(), "jetson_gpu_clock": "918 MHz"})
    assert verdict.refusals == (("GPU clock differs: baseline 1300.5 MHz, this run 918 MHz "
                                 "(set the board as the baseline's was, e.g. with "
                                 "ci/jetson-board.sh set)"),)


def test_unpinned_clocks_name_each_part_that_differs():
    verdict = jetson.comparable(_id(), _id(clocks="jetson_clocks_show_off.txt"))
    message = verdict.message()
    assert "baseline jetson_clocks on, this run jetson_clocks off" in message
    assert "GPU clock differs: baseline 1300.5 MHz, this run 306-1300.5 MHz" in message
    assert "EMC clock differs: baseline 3199 MHz, this run 204-3199 MHz" in message


def test_fan_and_temperatures_are_not_compared():
    hot = {**_id(), "jetson_fan_pwm": 40, "jetson_temps_c": {"tj-thermal": 80.0}}
    assert jetson.comparable(_id(), hot).ok


def test_a_clock_known_on_one_side_only_is_refused():
    no_emc = {**_id(), "jetson_emc_clock": None}
    verdict = jetson.comparable(_id(), no_emc)
    assert verdict.refusals == (("EMC clock unknown: baseline 3199 MHz, this run unknown "
                                 "(`jetson_clocks --show` must list it on the runner)"),)
    assert jetson.comparable(no_emc, no_emc).ok, "a board whose --show has no EMC line"


def test_a_baseline_recorded_before_the_clocks_were_is_refused_but_two_such_runs_are_not():
    older = {k: v for k, v in _id().items() if k not in ("jetson_gpu_clock", "jetson_emc_clock")}
    verdict = jetson.comparable(older, _id())
    assert not verdict.ok
    assert "GPU clock unknown: baseline not recorded, this run 1300.5 MHz (the baseline was " \
           "recorded before its clocks were: record it again)" in verdict.refusals
    assert jetson.comparable(older, older).ok


def test_a_new_jetpack_on_the_same_board_and_mode_is_comparable_and_noted():
    newer = {**_id(), "jetpack_release": "6.1", "l4t_release": "36.4.0"}
    verdict = jetson.comparable(_id(), newer)
    assert verdict.ok
    assert verdict.notes == ("JetPack 6.0 -> 6.1", "L4T 36.3.0 -> 36.4.0")


def test_different_boards_are_refused():
    verdict = jetson.comparable(_id(ORIN), _id(XAVIER))
    assert not verdict.ok
    assert "AGX Orin" in verdict.message() and "Xavier NX" in verdict.message()


def test_jetson_against_non_jetson_is_refused_and_two_hosts_are_not_judged():
    assert not jetson.comparable(_id(), {"jetson": False}).ok
    assert "only the baseline is from a Jetson" in jetson.comparable(_id(), {}).message()
    assert jetson.comparable({"jetson": False}, {}).ok


# ---------------------------------------------------------------- tegrastats

def _samples(board: Path) -> list[dict]:
    lines = (board / "tegrastats.txt").read_text().splitlines()
    samples = [tegrastats.parse_tegrastats_line(line) for line in lines]
    assert all(samples), "every recorded line parses"
    return samples  # type: ignore[return-value]


def test_tegrastats_orin_line():
    first = _samples(ORIN)[0]
    assert first["timestamp"] == "11-22-2024 10:15:31"
    assert (first["ram_used_mb"], first["ram_total_mb"], first["swap_used_mb"]) == (5131, 62841, 0)
    assert len(first["cpu_load_pct"]) == 12 and first["cpu_freq_mhz"][4] == 1728
    assert (first["emc_load_pct"], first["emc_freq_mhz"]) == (0, 2133)
    assert (first["gpu_load_pct"], first["gpu_freq_mhz"]) == (0, 305)
    assert first["power_mw"] == {"VDD_GPU_SOC": 2800, "VDD_CPU_CV": 400, "VIN_SYS_5V0": 4940}
    assert first["temp_c"]["gpu"] == pytest.approx(44.062) and first["temp_c"]["tj"] == pytest.approx(47.968)
    assert set(first["temp_c"]) == {"cpu", "soc0", "soc1", "soc2", "gpu", "tj"}


def test_tegrastats_xavier_line_has_upper_case_sensors_and_vdd_in():
    busy = _samples(XAVIER)[1]
    assert (busy["gpu_load_pct"], busy["gpu_freq_mhz"]) == (92, 1109)
    assert busy["power_mw"] == {"VDD_IN": 9371, "VDD_CPU_GPU_CV": 4398, "VDD_SOC": 2043}
    assert busy["temp_c"]["gpu"] == 44.0 and busy["temp_c"]["thermal"] == pytest.approx(43.4)


def test_tegrastats_nano_line_without_timestamp_or_units_and_offline_cores():
    first = _samples(NANO)[0]
    assert first["timestamp"] is None
    assert first["cpu_load_pct"] == [12, 5, None, None]
    assert first["power_mw"] == {"POM_5V_IN": 2070, "POM_5V_GPU": 0, "POM_5V_CPU": 248}
    assert "IRAM" not in first["power_mw"]  # IRAM 0/252kB is memory, not a rail


def test_tegrastats_non_lines():
    assert tegrastats.parse_tegrastats_line("") is None
    assert tegrastats.parse_tegrastats_line("tegrastats: command not found") is None


def test_tegrastats_summary_orin():
    summary = tegrastats.summarize_tegrastats(_samples(ORIN))
    assert summary["samples"] == 4
    assert summary["gpu_load_pct"] == {"mean": 70.5, "max": 99.0}
    assert summary["gpu_freq_mhz"] == {"mean": 1051.25, "max": 1300.0}
    assert summary["emc_load_pct"] == {"mean": 17.0, "max": 24.0}
    assert summary["ram_used_mb"]["max"] == 6021.0
    assert summary["power_mw"]["VDD_GPU_SOC"]["max"] == 16010.0
    assert summary["gpu_temp_c"]["mean"] == pytest.approx(47.914, abs=1e-3)
    assert summary["cpu_load_pct"]["max"] == pytest.approx(243 / 12)  # busiest line: 41+30+27+25+38+21+14+10+13+12+7+5
    assert "power_in_mw" not in summary  # AGX Orin has no whole-module input rail


@pytest.mark.parametrize("board, rail, mean, peak", [
    (XAVIER, "VDD_IN", 7778.667, 9778.0), (NANO, "POM_5V_IN", 3956.0, 5842.0)])
def test_tegrastats_summary_input_power(board, rail, mean, peak):
    summary = tegrastats.summarize_tegrastats(_samples(board))
    assert summary["power_in_mw"] == {"mean": pytest.approx(mean, abs=1e-3), "max": peak, "rail": rail}


def test_sampler_runs_a_process_parses_its_lines_and_stops_it():
    """A stand-in for tegrastats (not on this machine) replays the recorded Orin lines."""
    feeder = textwrap.dedent(f"""
        import sys, time
        print("garbage line", flush=True)
        for line in open({str(ORIN / "tegrastats.txt")!r}):
            print(line.rstrip(), flush=True)
            time.sleep(0.02)
        time.sleep(60)  # tegrastats runs until stopped
    """)
    sampler = tegrastats.TegrastatsSampler(interval_ms=20, command=[sys.executable, "-c", feeder])
    with sampler:
        deadline = time.monotonic() + 20
        while len(sampler.samples) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc = sampler._proc
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None, "the sampler's process is stopped on exit"
    summary = sampler.summary()
    assert summary["samples"] == 4 and summary["unparsed_lines"] == 1
    assert summary["gpu_load_pct"]["max"] == 99.0 and summary["interval_ms"] == 20


def test_sampler_without_tegrastats_says_so():
    if tegrastats.tegrastats_command(100) is not None:
        pytest.skip("tegrastats is installed here: the missing-tool message cannot be seen")
    with pytest.raises(FileNotFoundError, match="tegrastats not found"):
        tegrastats.TegrastatsSampler().start()
