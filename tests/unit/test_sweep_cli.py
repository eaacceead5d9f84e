"""peoplenet-sweep refuses bad input before any server starts, naming the problem."""

from __future__ import annotations

import pytest

from pnsuite.cli import gate, sweep
from pnsuite.cli.window_options import window_plan_of
from pnsuite.client.memory import Memory
from pnsuite.measure.windows import WindowPlan
from pnsuite.paths import EMBEDDED_REPOS
from pnsuite.sweep.measure import POINT_WINDOWS

REPO = str(EMBEDDED_REPOS / "sample_1_instances")


@pytest.mark.parametrize("args, says", [
    (["--instances", "0"], "--instances"),
    (["--batching", "sometimes"], "sometimes"),
    (["--concurrency", "1,x"], "--concurrency"),
    (["--objective", "max:happiness"], "happiness"),
    (["--constraint", "p99=5"], "p99=5"),
    (["--batching", "on:0:128"], "128"),
    (["--objective", "min:energy_mj_per_inference", "--monitor", "none"], "power"),
    (["--confirm-runs", "1"], "--confirm-runs 1"),
    (["--stable-windows", "0"], "stable (0)"),
    (["--window-s", "0"], "window seconds must be > 0"),
    (["--stable-windows", "4", "--max-windows", "3"], "max_windows (3)"),
    (["--window-tolerance", "1.5"], "tolerance must be a fraction"),
    (["--triton-arg=--grpc-port=8001"], "sets --grpc-port itself"),
    (["--triton-arg", "cuda-memory-pool"], "not a tritonserver option"),
])
def test_bad_input_is_refused_with_what_is_wrong(args, says, capsys, tmp_path):
    code = sweep.main([REPO, "-o", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == sweep.ERROR
    assert says in err and "peoplenet-sweep:" in err
    assert not (tmp_path / "out" / "journal.jsonl").exists(), "refused before measuring"


def test_a_folder_without_a_model_is_refused(capsys, tmp_path):
    assert sweep.main([str(tmp_path), "-o", str(tmp_path / "out")]) == sweep.ERROR
    assert "no peoplenet/config.pbtxt" in capsys.readouterr().err


@pytest.mark.parametrize("given, memory", [
    ([], Memory.SYSTEM), (["--memory", "gpu"], Memory.GPU), (["--memory", "none"], Memory.NONE)])
def test_the_memory_option_is_parsed_once_into_a_memory(given, memory):
    request = sweep.request_of(sweep._parser().parse_args([REPO, *given, "--monitor", "none"]))
    assert request.plan.memory is memory


def test_an_unknown_memory_is_a_usage_error_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        sweep._parser().parse_args([REPO, "--memory", "pinned"])
    assert exit_.value.code == 2
    assert "invalid choice: 'pinned' (choose from none, system, gpu)" in capsys.readouterr().err


WINDOWS = ["--window-s", "0.5", "--stable-windows", "2", "--window-tolerance", "0.2",
           "--max-windows", "4", "--warmup-s", "0.25"]


def test_a_point_is_measured_in_the_windows_given_with_the_gates_ab_options():
    request = sweep.request_of(sweep._parser().parse_args([REPO, *WINDOWS, "--monitor", "none"]))
    given = WindowPlan(seconds=0.5, stable=2, tolerance=0.2, max_windows=4, warmup_s=0.25)
    assert request.plan.windows == given
    ab = gate._parser().parse_args(["ab", "--a", REPO, "--b", REPO, *WINDOWS])
    assert window_plan_of(ab) == given


def test_a_point_is_measured_in_the_sweeps_windows_by_default():
    request = sweep.request_of(sweep._parser().parse_args([REPO, "--monitor", "none"]))
    assert request.plan.windows == POINT_WINDOWS
    # At most 7 s of warm-up and windows a point, on any machine.
    assert POINT_WINDOWS.warmup_s + POINT_WINDOWS.max_windows * POINT_WINDOWS.seconds <= 7


@pytest.mark.parametrize("old, new", [("--rounds", "--stable-windows"),
                                      ("--round-seconds", "--window-s")])
def test_a_rounds_option_is_a_usage_error_naming_its_window_option(old, new, capsys):
    with pytest.raises(SystemExit) as exit_:
        sweep._parser().parse_args([REPO, old, "2"])
    assert exit_.value.code == 2
    assert f"give {new} instead of {old}" in capsys.readouterr().err
