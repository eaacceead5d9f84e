"""peoplenet-sweep refuses bad input before any server starts, naming the problem."""

from __future__ import annotations

import pytest

from pnsuite.cli import sweep
from pnsuite.client.memory import Memory
from pnsuite.paths import EMBEDDED_REPOS

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
    (["--rounds", "0"], "--rounds"),
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
