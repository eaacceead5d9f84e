"""Camera streams against a real server: streams the server can serve meet their deadline,
streams beyond its throughput are late and dropped, and the capacity search answers no
more streams than the server's throughput can feed.

Rates are set from the throughput the server shows here first (a closed loop), never
from the stand-in's speed: the same tests hold on a Jetson serving TensorRT PeopleNet in
milliseconds and on the CPU stand-in at a few images per second.
"""

from __future__ import annotations

import pytest

from pnsuite.capacity.rule import DeadlineRule, judge
from pnsuite.capacity.search import find_capacity
from pnsuite.client.camera_streams import run_streams

#: a run answers frames no faster than the server's closed-loop throughput, give or take
#: the spread between two measurements of one server
THROUGHPUT_SLACK = 1.3


@pytest.fixture
def served(shared_server, batching_repo, closed_loop):
    """The dynamic-batching server and the images per second it serves to 4 clients."""
    server = shared_server(batching_repo)
    with closed_loop(server.grpc_url, 4) as load:
        first = load.run(8)
        rate = load.run(max(8, int(first.throughput * 3))).throughput
    return server, rate


def streams_run(served, capture_tensor, suite_settings, streams, fps, seconds=4.0):
    server, _ = served
    return run_streams(server.grpc_url, capture_tensor, streams, fps, seconds, warmup_s=1.0,
                       memory=suite_settings.memory, seed=1)


def test_one_stream_at_a_tenth_of_the_throughput_meets_its_deadline(
        served, capture_tensor, suite_settings):
    fps = served[1] / 10
    run = streams_run(served, capture_tensor, suite_settings, 1, fps)
    verdict = judge(run, DeadlineRule.for_fps(fps))  # refuses a client that fell behind
    assert verdict.met, (verdict.why, run.summary())
    assert run.frames_dropped == 0 and run.frames_answered == run.frames_due


@pytest.mark.slow  # the fast tier checks a stream served on time
def test_streams_asking_three_times_the_throughput_are_late_and_dropped(
        served, capture_tensor, suite_settings):
    _, rate = served
    streams = 6
    fps = 3 * rate / streams
    run = streams_run(served, capture_tensor, suite_settings, streams, fps)
    verdict = judge(run, DeadlineRule.for_fps(fps))
    assert not verdict.met, run.summary()
    assert run.frames_dropped > 0, run.summary()


@pytest.mark.extended
def test_the_capacity_search_answers_no_more_streams_than_the_throughput_feeds(
        served, capture_tensor, suite_settings):
    _, rate = served
    fps = rate / 4  # about four streams at most
    rule = DeadlineRule.for_fps(fps)
    found = find_capacity(
        lambda n, _confirming: streams_run(served, capture_tensor, suite_settings, n, fps),
        rule, max_streams=8, confirm_runs=1)
    assert found.streams >= 1, found.curve()
    assert found.streams * fps <= THROUGHPUT_SLACK * rate, found.curve()
    assert not found.capped, found.curve()
