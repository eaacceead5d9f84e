"""A slowed repository copy makes its instance's cycle slower by the fraction asked, not
just execute(): the backend's hand-over between calls is part of what a client waits for.
The wrapper written into model.py is run here on a stand-in base class and a clock that
moves only when the test says so."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from pnsuite.paths import EMBEDDED_REPOS
from pnsuite.repository.model_config import config_digest, read_config
from pnsuite.repository.slowed import NotSlowable, write_slowed

EXECUTE_S = 10.0


class Clock:
    """perf_counter() for the wrapper: each reading moves time on by one small tick, so
    a busy-wait ends; the test moves it on by whole spans."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1e-3
        return self.now


def wrapped_model(model_py: Path, clock: Clock) -> object:
    """The slowed TritonPythonModel of `model_py`, over a base whose execute() takes
    EXECUTE_S on `clock`."""
    source = model_py.read_text()
    wrapper = source[source.index("# --- made slower"):]

    class Base:
        def execute(self, requests: list) -> list:
            clock.now += EXECUTE_S
            return requests

    namespace: dict = {"TritonPythonModel": Base}
    exec(compile(wrapper, str(model_py), "exec"), namespace)
    namespace["_time"] = types.SimpleNamespace(perf_counter=clock.perf_counter)
    return namespace["TritonPythonModel"]()


def cycles(model: object, clock: Clock, gap_s: float, calls: int) -> list[float]:
    """The time from one execute() start to the next, with `gap_s` of hand-over between."""
    starts = []
    for _ in range(calls):
        starts.append(clock.now)
        model.execute([])
        clock.now += gap_s
    return [b - a for a, b in zip(starts, starts[1:])]


@pytest.fixture
def slowed(tmp_path: Path) -> Path:
    repo = write_slowed(EMBEDDED_REPOS / "sample_2_dynamic_batching",
                        tmp_path / "slowed" / "sample_2_dynamic_batching", 0.15)
    return repo / "peoplenet" / "1" / "model.py"


def test_a_saturated_instance_cycles_slower_by_the_fraction(slowed):
    clock = Clock()
    natural = EXECUTE_S + 2.0
    steady = cycles(wrapped_model(slowed, clock), clock, gap_s=2.0, calls=6)[2:]
    for cycle in steady:
        assert cycle == pytest.approx(natural * 1.15, rel=1e-3)


def test_an_idle_instance_only_has_its_execute_slowed(slowed):
    clock = Clock()
    # Waiting for work is not the model's time: no slower model would wait longer.
    steady = cycles(wrapped_model(slowed, clock), clock, gap_s=100.0, calls=4)[1:]
    for cycle in steady:
        assert cycle == pytest.approx(EXECUTE_S * 1.15 + 100.0, rel=1e-3)


def test_the_config_is_unchanged_and_the_original_model_still_runs_first(slowed):
    original = EMBEDDED_REPOS / "sample_2_dynamic_batching"
    copy = slowed.parents[2]
    assert config_digest(read_config(copy)) == config_digest(read_config(original))
    assert slowed.read_text().startswith(
        (original / "peoplenet" / "1" / "model.py").read_text())


def test_a_repository_without_model_py_is_refused(tmp_path):
    plan_repo = tmp_path / "trt"
    (plan_repo / "peoplenet" / "1").mkdir(parents=True)
    (plan_repo / "peoplenet" / "config.pbtxt").write_text('platform: "tensorrt_plan"\n')
    with pytest.raises(NotSlowable):
        write_slowed(plan_repo, tmp_path / "out", 0.15)
