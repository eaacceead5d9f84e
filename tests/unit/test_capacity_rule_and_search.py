"""The deadline rule and the capacity search, on runs built here (no server): the search
finds the largest number of streams that meets the rule, confirms it, and steps down when a
confirming run fails; the rule counts late and dropped frames and refuses a run where the
client, not the server, was late."""

from __future__ import annotations

import random

import pytest

from pnsuite.capacity.rule import ClientFellBehind, DeadlineRule, RuleError, judge
from pnsuite.capacity.search import SearchError, find_capacity
from pnsuite.client.camera_streams import StreamRecord, StreamsRun, due_times

FPS = 30.0
RULE = DeadlineRule.for_fps(FPS)  # 33.3 ms, p99, 1% missed


def run_of(streams: int, latency_ms: float, dropped: int = 0, frames: int = 300,
           send_late_ms: float = 0.1) -> StreamsRun:
    """A run whose every stream answered `frames` frames in `latency_ms`."""
    records = [StreamRecord(due=frames + dropped, dropped=dropped,
                            latencies_s=[latency_ms / 1e3] * frames,
                            send_lateness_s=[send_late_ms / 1e3] * frames)
               for _ in range(streams)]
    return StreamsRun(streams, FPS, "constant", 10.0, records)


def served_up_to(capacity: int, flaky: dict[int, list[bool]] | None = None):
    """measure(): within the deadline up to `capacity` streams; `flaky[n]` overrides the
    outcome of n's confirming runs in turn."""
    calls = []

    def measure(streams: int, confirming: bool) -> StreamsRun:
        calls.append((streams, confirming))
        ok = streams <= capacity
        if confirming and flaky and flaky.get(streams):
            ok = flaky[streams].pop(0)
        return run_of(streams, 20.0 if ok else 60.0)

    measure.calls = calls  # type: ignore[attr-defined]
    return measure


@pytest.mark.parametrize("capacity", [1, 2, 5, 12, 17, 40])
def test_the_search_finds_the_largest_number_of_streams_served(capacity):
    found = find_capacity(served_up_to(capacity), RULE, max_streams=64)
    assert found.streams == capacity
    assert not found.capped


def test_a_configuration_that_serves_not_even_one_stream_has_capacity_zero():
    assert find_capacity(served_up_to(0), RULE).streams == 0


def test_reaching_the_cap_without_a_failure_says_so():
    found = find_capacity(served_up_to(100), RULE, max_streams=20)
    assert (found.streams, found.capped) == (20, True)


def test_the_answer_is_confirmed_in_further_runs():
    measure = served_up_to(5)
    find_capacity(measure, RULE, confirm_runs=3)
    assert measure.calls[-3:] == [(5, True)] * 3


def test_a_failed_confirmation_steps_the_answer_down():
    measure = served_up_to(5, flaky={5: [True, False]})
    found = find_capacity(measure, RULE, confirm_runs=2)
    assert found.streams == 4
    assert [c for c in measure.calls if c[1]] == [(5, True), (5, True), (4, True), (4, True)]


def test_the_curve_holds_every_run_by_streams():
    found = find_capacity(served_up_to(5), RULE, confirm_runs=1)
    streams = [s for s, _, _ in found.curve()]
    assert streams == sorted(streams) and {1, 2, 4, 5, 6, 8} <= set(streams)


def test_bad_search_bounds_are_refused():
    with pytest.raises(SearchError):
        find_capacity(served_up_to(3), RULE, start=10, max_streams=4)


def test_a_run_within_the_deadline_meets_the_rule():
    assert judge(run_of(4, 20.0), RULE).met


def test_latency_past_the_deadline_fails_the_rule():
    verdict = judge(run_of(4, 40.0), RULE)
    assert not verdict.met and "p99 40.0 ms > 33.3333 ms" in verdict.why


def test_dropped_frames_count_as_missed():
    # every answered frame is on time, but 2% of the frames never got an answer
    verdict = judge(run_of(4, 20.0, dropped=6), RULE)
    assert not verdict.met and "dropped" in verdict.why
    assert verdict.missed_share == pytest.approx(6 / 306)


def test_a_run_where_the_client_sent_late_is_refused_not_judged():
    with pytest.raises(ClientFellBehind, match="the client sent 100.0% of the frames"):
        judge(run_of(4, 20.0, send_late_ms=10.0), RULE)


def test_a_rule_that_cannot_hold_is_refused():
    with pytest.raises(RuleError):
        DeadlineRule(deadline_ms=0)
    with pytest.raises(RuleError):
        DeadlineRule(deadline_ms=33, max_missed=1.0)


@pytest.mark.parametrize("arrivals", ["constant", "poisson"])
def test_frames_are_due_at_the_streams_rate_from_a_random_phase(arrivals):
    rng = random.Random(3)
    times = due_times(30.0, 100.0, 160.0, arrivals, rng)
    assert 100.0 <= times[0] < 100.0 + 1 / 30
    assert len(times) == pytest.approx(1800, rel=0.1)
    if arrivals == "constant":
        gaps = {round(b - a, 9) for a, b in zip(times, times[1:])}
        assert gaps == {round(1 / 30, 9)}


@pytest.mark.parametrize("args, says", [
    (["--fps", "0"], "--fps (0) and --seconds (10) must be > 0"),
    (["--deadline-ms", "0"], "need deadline_ms > 0"),
])
def test_the_command_refuses_bad_settings_before_starting_anything(args, says, capsys):
    from pnsuite.cli import capacity
    from pnsuite.paths import EMBEDDED_REPOS

    assert capacity.main([str(EMBEDDED_REPOS / "sample_1_instances"), *args]) == capacity.ERROR
    assert says in capsys.readouterr().err


def test_the_command_refuses_a_directory_that_is_no_repository(tmp_path, capsys):
    from pnsuite.cli import capacity

    assert capacity.main([str(tmp_path)]) == capacity.ERROR
    assert "no peoplenet/config.pbtxt there" in capsys.readouterr().err


def test_a_late_wake_up_among_few_free_frames_is_not_the_clients_doing():
    # overload: 300 frames due per stream, 280 held behind their previous frame; 20 sent
    # free, 2 of them late: 2 of 300 frames, under 1%
    run = run_of(4, 60.0, dropped=0, frames=300)
    for record in run.records:
        record.send_lateness_s = [0.0001] * 18 + [0.05] * 2
    assert run.client_late == ""
    assert not judge(run, RULE).met
