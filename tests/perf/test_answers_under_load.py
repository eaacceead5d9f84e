"""Answers checked under load catch faults that only batching reveals.

Each fault is planted in a copy of the dynamic-batching repository
(pnsuite/repository/batch_faults.py): it touches executions of several requests only,
so the answer check and every image sent alone see a sound model. A measured run whose
load cycles through distinct images must fail naming an image; the same run with one
image in every request cannot tell (every request's answer is every other's), and
passes, although its requests were batched: that is what the distinct images are for.
"""

import pytest

from pnsuite.client.multiprocess_load import MultiProcessLoad
from pnsuite.measure.answers_under_load import AnswersDifferUnderLoad
from pnsuite.measure.run import measure
from pnsuite.measure.windows import WindowPlan
from pnsuite.repository.batch_faults import BatchFault, write_faulty

#: a short run: the check does not need a stable measurement, only batched requests
PLAN = WindowPlan(seconds=0.5, stable=1, max_windows=1, warmup_s=0.0)
#: requests in flight together: batches of up to four distinct images
CONCURRENCY = 4


def _batched(run) -> bool:
    return any(int(size) > 1 for size in run.server_stats["batch_sizes"])


def test_a_sound_repository_passes_with_distinct_images(make_server, batching_repo,
                                                       closed_loop, answer_image_set):
    server = make_server(batching_repo)
    with closed_loop(server.grpc_url, CONCURRENCY, answer_image_set) as load:
        run = measure(server, load, PLAN)
    assert _batched(run), f"no batch of more than one request: {run.server_stats}"
    assert run.answers_checked_under_load >= CONCURRENCY, run.answer_check
    assert "agreed with their images alone (4 distinct)" in run.answer_check, run.answer_check


# the fast tier plants one fault; the other two are slow
@pytest.mark.parametrize("fault", [BatchFault.ROTATED,
                                   *(pytest.param(f, marks=pytest.mark.slow) for f in BatchFault
                                     if f is not BatchFault.ROTATED)], ids=str)
def test_a_batching_fault_is_caught_by_distinct_images_and_missed_by_one(
        make_server, batching_repo, closed_loop, answer_image_set, fault, tmp_path):
    server = make_server(write_faulty(batching_repo, tmp_path / "repo", fault))

    with closed_loop(server.grpc_url, CONCURRENCY) as load:  # capture.jpg in every request
        missed = measure(server, load, PLAN)
    assert _batched(missed), f"no batch of more than one request: {missed.server_stats}"
    assert missed.answers_checked_under_load >= CONCURRENCY, missed.answer_check

    with closed_loop(server.grpc_url, CONCURRENCY, answer_image_set) as load, \
            pytest.raises(AnswersDifferUnderLoad) as caught:
        measure(server, load, PLAN, overlay_dir=tmp_path / "overlays")
    message = str(caught.value)
    assert any(f"{name}: request " in message for name in answer_image_set.names), message
    assert " of slot " in message and "differs from the same image sent alone" in message
    assert list((tmp_path / "overlays").glob("*.png")), "no overlay drawn"


@pytest.mark.slow  # load worker processes; the fast tier checks one process
def test_a_load_spread_over_processes_numbers_its_slots_across_them(
        make_server, batching_repo, answer_image_set, tmp_path, suite_settings):
    # Two worker processes of two slots each: the slots keep their own numbers (0-3) and
    # image cycles, and the kept responses travel back to the engine through the pipes.
    server = make_server(write_faulty(batching_repo, tmp_path / "repo", BatchFault.ROTATED))
    with MultiProcessLoad(server.grpc_url, answer_image_set, CONCURRENCY, processes=2,
                          memory=suite_settings.memory) as load:
        done = load.run(CONCURRENCY)  # one request each, sent together
        assert sorted(s.slot for s in done.samples) == list(range(CONCURRENCY))
        assert len({s.image for s in done.samples}) == CONCURRENCY
        with pytest.raises(AnswersDifferUnderLoad, match=r"request \d+ of slot [0-3] "):
            measure(server, load, PLAN)
