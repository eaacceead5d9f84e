"""The served model keeps PeopleNet's contract, read back from the server itself.

Expected names, types and dims come from pnsuite/detection/detectnet.py (the client's
side of the contract); how the model is scheduled comes from the repository's own
config.pbtxt.
"""

import pytest
from tritonclient.grpc import model_config_pb2

from pnsuite.detection import detectnet
from pnsuite.repository.model_config import read_config
from tests.constants import MAX_BATCH_SIZE, MODEL

pytestmark = pytest.mark.functional

INPUTS = {detectnet.INPUT_NAME: detectnet.INPUT_SHAPE}
OUTPUTS = {detectnet.COV_NAME: detectnet.COV_SHAPE, detectnet.BBOX_NAME: detectnet.BBOX_SHAPE}


def test_server_and_model_are_live_and_ready(grpc_client):
    assert grpc_client.is_server_live(), "server is not live"
    assert grpc_client.is_server_ready(), "server is not ready"
    assert grpc_client.is_model_ready(MODEL), f"model {MODEL!r} is not ready"


def test_metadata_names_peoplenets_tensors(grpc_client):
    meta = grpc_client.get_model_metadata(MODEL)
    got_in = {t.name: (t.datatype, tuple(t.shape)) for t in meta.inputs}
    got_out = {t.name: (t.datatype, tuple(t.shape)) for t in meta.outputs}
    # -1: the batch dimension a model with max_batch_size > 0 takes.
    assert got_in == {n: ("FP32", (-1, *s)) for n, s in INPUTS.items()}
    assert got_out == {n: ("FP32", (-1, *s)) for n, s in OUTPUTS.items()}


def test_loaded_config_keeps_the_peoplenet_contract(grpc_client):
    config = grpc_client.get_model_config(MODEL).config
    assert config.name == MODEL
    assert config.max_batch_size == MAX_BATCH_SIZE
    fp32 = model_config_pb2.TYPE_FP32
    assert {t.name: (t.data_type, tuple(t.dims)) for t in config.input} == \
        {n: (fp32, s) for n, s in INPUTS.items()}
    assert {t.name: (t.data_type, tuple(t.dims)) for t in config.output} == \
        {n: (fp32, s) for n, s in OUTPUTS.items()}


def _declared(triton_server):
    repo = triton_server.model_repository
    if triton_server.launcher.name == "external" or repo is None \
            or not (repo / MODEL / "config.pbtxt").is_file():
        pytest.skip("an external server's config.pbtxt is not on this machine: only the "
                    "contract itself is checked")
    return read_config(repo, MODEL)


def test_loaded_instances_are_those_the_repository_declares(triton_server, grpc_client):
    declared = _declared(triton_server)
    loaded = grpc_client.get_model_config(MODEL).config
    assert loaded.instance_group, "the loaded config has no instance group"
    if not declared.instance_group:
        # Triton fills in its default (one instance per GPU, or one on the CPU).
        assert all(g.count >= 1 for g in loaded.instance_group)
        return
    auto = model_config_pb2.ModelInstanceGroup.KIND_AUTO
    as_declared = [(g.count or 1, g.kind) for g in declared.instance_group]
    # A declared KIND_AUTO is resolved by the server: compare the count only.
    as_loaded = [(g.count, g.kind if d.kind != auto else auto)
                 for g, d in zip(loaded.instance_group, declared.instance_group)]
    as_loaded += [(g.count, g.kind) for g in loaded.instance_group[len(as_declared):]]
    assert as_loaded == as_declared, (
        f"instances (count, kind) declared {as_declared}, loaded {as_loaded}")


def test_loaded_batching_is_what_the_repository_declares(triton_server, grpc_client):
    declared = _declared(triton_server)
    loaded = grpc_client.get_model_config(MODEL).config
    assert loaded.HasField("dynamic_batching") == declared.HasField("dynamic_batching"), (
        f"dynamic_batching declared: {declared.HasField('dynamic_batching')}, "
        f"loaded: {loaded.HasField('dynamic_batching')}")
    if declared.HasField("dynamic_batching"):
        want, got = declared.dynamic_batching, loaded.dynamic_batching
        assert got.max_queue_delay_microseconds == want.max_queue_delay_microseconds
        if want.preferred_batch_size:
            # Left out, the server fills in its own choice (max_batch_size, seen on 2.51).
            assert list(got.preferred_batch_size) == list(want.preferred_batch_size)
