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


def _timed(batches: dict[int, tuple[int, int]]) -> ModelStats:
    """Statistics whose batch sizes each had (executions, ms of compute_infer in all)."""
    return ModelStats.from_json({"model_stats": [{
        "name": "peoplenet", "inference_count": sum(s * n for s, (n, _) in batches.items()),
        "batch_stats": [{"batch_size": size,
                         "compute_input": {"count": n, "ns": n * 100_000},
                         "compute_infer": {"count": n, "ns": ms * 1_000_000},
                         "compute_output": {"count": n, "ns": n * 50_000}}
                        for size, (n, ms) in batches.items()]}]}, "peoplenet")


def test_the_batch_table_of_a_delta_holds_only_that_deltas_executions_and_times():
    before = _timed({1: (10, 50), 4: (2, 40)})
    after = _timed({1: (12, 60), 4: (5, 100), 8: (1, 30)})
    table = (after - before).batch_table()
    assert set(table) == {"1", "4", "8"}
    assert table["1"] == {"executions": 2, "compute_input_ms": 0.1, "compute_infer_ms": 5.0,
                          "compute_output_ms": 0.05, "compute_infer_ms_per_image": 5.0}
    assert table["4"]["executions"] == 3 and table["4"]["compute_infer_ms"] == 20.0
    assert table["4"]["compute_infer_ms_per_image"] == 5.0
    assert table["8"]["compute_infer_ms"] == 30.0


def test_a_batch_size_with_no_execution_in_a_delta_is_left_out_of_its_table():
    same = _timed({1: (10, 50), 2: (3, 30)})
    grown = _timed({1: (11, 55), 2: (3, 30)})
    assert set((grown - same).batch_table()) == {"1"}
