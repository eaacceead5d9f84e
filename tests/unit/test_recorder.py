"""The gate's benchmark sessions select the recorded benchmarks by their marker, never by a
path in the library, and collect nothing but them."""

import re
import subprocess
from pathlib import Path

from pnsuite.measure import recorder
from pnsuite.paths import PROJECT_ROOT


def test_a_recorded_run_is_selected_by_the_marker_not_by_a_path():
    command = recorder.pytest_command("label", Path("/tmp/storage"), ["-k", "c1"])
    assert ("-m", "recorded_benchmark") in zip(command, command[1:])
    assert not any(arg.endswith(".py") or "tests" in arg.split("/") for arg in command)


def test_every_module_that_uses_the_marker_is_where_its_sessions_collect(pytestconfig):
    assert any(m.startswith(f"{recorder.MARKER}:") for m in pytestconfig.getini("markers"))
    homes = set(pytestconfig.getini("recorded_benchmarks"))
    assert all(home.exists() for home in homes), homes
    marked = {p for p in (PROJECT_ROOT / "tests").rglob("*.py")
              if re.search(rf"\b{recorder.MARKER}\b", p.read_text())
              and p.name.startswith("test_")} - {Path(__file__)}
    assert marked, "no module marks a recorded benchmark"
    outside = [p for p in marked if not any(p == h or h in p.parents for h in homes)]
    assert not outside, f"add these to recorded_benchmarks in pyproject.toml: {outside}"


def test_a_recorded_session_collects_only_and_every_recorded_benchmark(tmp_path, monkeypatch):
    # The command a recorded run is, collecting only; nothing deselected means no other
    # test module was imported, and no test tier left a benchmark out.
    monkeypatch.setenv("TRITON_SUITE_TIER", "fast")
    done = subprocess.run([*recorder.pytest_command("x", tmp_path, []), "--collect-only"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected and all(
        re.fullmatch(r"tests/perf/test_benchmarks\.py::test_throughput\[.*-c[16]\]", line)
        for line in collected), done.stdout
    assert "deselected" not in done.stdout, done.stdout
    assert any(line.endswith("-c6]") for line in collected), done.stdout
