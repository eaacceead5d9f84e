"""Dynamic batching reduces execution_count; instances without batching do not."""


from pnsuite.measure import triton_stats
from pnsuite.repository import model_config

REQUESTS = 6  # the Triton Jetson example's -t 6


def _six_together(server, closed_loop) -> triton_stats.ModelStats:
    """Six requests truly in flight together (six workers released by one barrier, shm);
    the statistics delta of exactly those requests."""
    with server.grpc_client() as client, \
            closed_loop(server.grpc_url, REQUESTS) as load:
        before = triton_stats.snapshot(client, "peoplenet")
        load.run(REQUESTS)
        return triton_stats.wait_for_delta(client, "peoplenet", before, REQUESTS)


def test_execution_count_follows_the_repos_scheduling(triton_server, closed_loop):
    with triton_server.grpc_client() as client:
        config = model_config.loaded_config(client)
    delta = _six_together(triton_server, closed_loop)
    assert delta.inference_count == REQUESTS, delta
    assert sum(size * n for size, n in delta.batches.items()) == REQUESTS, delta
    if model_config.batches_dynamically(config):
        assert delta.execution_count < delta.inference_count, delta
        assert max(delta.batches) > 1, f"no batch larger than 1: {delta.batches}"
    else:
        assert delta.execution_count == delta.inference_count, delta
        assert delta.batches == {1: REQUESTS}, delta


def test_delay_scheduler_holding_six_forms_one_batch_of_six(make_server, batching_repo,
                                                            closed_loop):
    # Triton's own QA makes batching deterministic this way: the scheduler holds its first
    # batch until this many requests are queued (the embedded 2.51 build honours it).
    # Holding fewer than all (e.g. 3 of 6) is not exact: whatever queued by then joins.
    server = make_server(batching_repo, env={"TRITONSERVER_DELAY_SCHEDULER": str(REQUESTS)})
    delta = _six_together(server, closed_loop)
    assert (delta.inference_count, delta.execution_count) == (6, 1), delta
    assert delta.batches == {6: 1}, delta


def test_a_long_queue_delay_with_preferred_batch_six_forms_one_batch(make_server, batching_repo,
                                                                     closed_loop, tmp_path):
    # Six requests inside a 5 s queue window with preferred size 6: one execution of 6,
    # reached as soon as the sixth arrives, never by the timeout.
    repo = model_config.write_variant(batching_repo, tmp_path / batching_repo.name,
                                      queue_delay_us=5_000_000, preferred_batch_sizes=[6])
    server = make_server(repo)
    delta = _six_together(server, closed_loop)
    assert (delta.inference_count, delta.execution_count) == (6, 1), delta
    assert delta.batches == {6: 1}, delta
    assert delta.per_inference_ms("queue") < 4000, "the batch waited for the timeout"
