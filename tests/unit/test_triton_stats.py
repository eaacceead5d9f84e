"""Statistics deltas: when a delta counts every request, batch statistics included."""

from pnsuite.measure.triton_stats import ModelStats


def _stats(inferences: int, success: int, batches: dict[int, int]) -> ModelStats:
    # The statistics extension's JSON for one model, as model_stats_json returns it.
    return ModelStats.from_json({"model_stats": [{
        "name": "peoplenet", "inference_count": inferences,
        "execution_count": sum(batches.values()),
        "inference_stats": {"success": {"count": success, "ns": 1000 * success}},
        "batch_stats": [{"batch_size": size, "compute_infer": {"count": n, "ns": 1}}
                        for size, n in batches.items()]}]}, "peoplenet")


def test_a_delta_is_complete_when_requests_and_batch_statistics_are_all_counted():
    before = _stats(10, 10, {1: 10})
    after = _stats(16, 16, {1: 10, 2: 1, 4: 1})
    delta = after - before
    assert delta.batched_inferences == 6 == delta.inference_count
    assert delta.complete(6)
    assert not delta.complete(7)


def test_a_delta_whose_batch_statistics_lag_is_not_complete():
    # Success counted for all six, but one execution of 4 not yet in the batch statistics.
    delta = _stats(6, 6, {2: 1})
    assert delta.batched_inferences == 2
    assert not delta.complete(6)
