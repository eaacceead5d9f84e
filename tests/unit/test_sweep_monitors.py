"""What watches the board during a point: nvidia-smi's lines parsed and summarised, a real
sampler process run and stopped, and tegrastats' and nvidia-smi's summaries as a point's
power, clock and temperature."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from pnsuite.platform import nvidia_smi, tegrastats
from pnsuite.sweep import monitors
from pnsuite.sweep.errors import SweepError

ORIN = Path(__file__).parent / "data" / "jetson" / "orin_agx_jp6"


def test_a_query_line_is_parsed_with_unavailable_fields_as_none():
    assert nvidia_smi.parse_nvidia_smi_line("1980, 1980, 47, 82.96\n") == {
        "clocks.sm": 1980.0, "clocks.max.sm": 1980.0, "temperature.gpu": 47.0,
        "power.draw": 82.96}
    assert nvidia_smi.parse_nvidia_smi_line("1410, 1980, 51, [N/A]")["power.draw"] is None
    assert nvidia_smi.parse_nvidia_smi_line("clocks.sm, clocks.max.sm") is None
    assert nvidia_smi.parse_nvidia_smi_line("1980, 1980, hot, 80") is None


def test_the_summary_means_clock_and_power_and_keeps_the_peaks():
    lines = ["1980, 1980, 50, 300", "1000, 1980, 60, 400", "1500, 1980, 55, [N/A]"]
    summary = nvidia_smi.summarize_nvidia_smi([nvidia_smi.parse_nvidia_smi_line(x)
                                               for x in lines])
    assert summary == {"samples": 3, "gpu_clock_mhz": 1493.3333333333333,
                       "gpu_clock_max_mhz": 1980.0, "temperature_c_max": 60.0,
                       "power_w": 350.0}


def test_the_sampler_reads_a_running_command_and_stops_it():
    feeder = textwrap.dedent("""
        import time
        for line in ["1980, 1980, 47, 100", "garbage", "990, 1980, 48, 200"]:
            print(line, flush=True)
        time.sleep(60)
    """)
    sampler = nvidia_smi.NvidiaSmiSampler(command=[sys.executable, "-c", feeder])
    with sampler:
        deadline = time.monotonic() + 20
        while len(sampler.snapshot()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc = sampler._proc
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None, "the command is stopped on exit"
    assert sampler.unparsed == ["garbage"]
    platform = monitors.platform_of("nvidia-smi", sampler.summary())
    assert (platform.power_w, platform.gpu_clock_mhz, platform.samples) == (150.0, 1485.0, 2)
    assert platform.throttled is False  # 1485 of 1980 MHz is 75%: at the line, not under it


def test_a_mean_clock_under_three_quarters_of_the_ceiling_is_throttled():
    summary = {"samples": 2, "gpu_clock_mhz": 1400.0, "gpu_clock_max_mhz": 1980.0,
               "temperature_c_max": 88.0, "power_w": 500.0}
    assert monitors.platform_of("nvidia-smi", summary).throttled is True
    assert monitors.platform_of("none", summary).throttled is None


def test_orin_agx_power_is_the_sum_of_its_rails_without_an_input_rail():
    samples = [s for line in (ORIN / "tegrastats.txt").read_text().splitlines()
               if (s := tegrastats.parse_tegrastats_line(line))]
    summary = tegrastats.summarize_tegrastats(samples)
    assert "power_in_mw" not in summary
    expected = sum(r["mean"] for r in summary["power_mw"].values())
    platform = monitors.platform_of("tegrastats", summary)
    assert platform.source == "tegrastats"
    assert platform.power_w == pytest.approx(expected / 1e3)
    assert platform.gpu_clock_mhz == summary["gpu_freq_mhz"]["mean"]
    assert platform.temperature_c_max == max(t["max"] for t in summary["temp_c"].values())


def test_an_input_rail_is_the_module_power_where_there_is_one():
    summary = {"power_in_mw": {"mean": 7200.0, "max": 9000.0, "rail": "VDD_IN"},
               "power_mw": {"VDD_IN": {"mean": 7200.0, "max": 9000.0},
                            "VDD_CPU_GPU_CV": {"mean": 3000.0, "max": 4000.0}}}
    assert monitors.module_power_mw(summary) == 7200.0


def test_asking_for_a_monitor_the_machine_lacks_is_refused():
    if nvidia_smi.nvidia_smi_command(200) is not None:
        pytest.skip("nvidia-smi is installed here: its absence cannot be seen")
    with pytest.raises(SweepError, match="nvidia-smi is not installed"):
        monitors.resolve_monitor("nvidia-smi")
    with pytest.raises(SweepError, match="unknown monitor"):
        monitors.resolve_monitor("thermometer")
