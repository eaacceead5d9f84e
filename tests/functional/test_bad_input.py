"""Bad requests are refused with an error that names the problem, and the server stays
healthy: a good request afterwards succeeds, and the model's counters moved by exactly
what was sent.

Triton refuses every server-side case here while it validates the request, before the
request is queued for the model. Checked on 2.51: such requests are counted neither as
the model's failures (statistics extension) nor in `nv_inference_request_failure`; the
fail count must therefore go up by exactly the bad requests that reached the model,
which is none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

from pnsuite import ownership
from pnsuite.client.peoplenet import infer_images
from pnsuite.detection import detectnet
from pnsuite.measure import triton_stats
from pnsuite.paths import CAPTURE_IMAGE
from tests.constants import MODEL

pytestmark = pytest.mark.functional

#: Bad requests of these tests that pass validation and reach the model (see above).
BAD_REQUESTS_REACHING_THE_MODEL = 0


def _input(name: str, shape: list[int], datatype: str = "FP32") -> grpcclient.InferInput:
    array = np.zeros(shape, dtype={"FP32": np.float32, "UINT8": np.uint8}[datatype])
    tensor = grpcclient.InferInput(name, shape, datatype)
    tensor.set_data_from_numpy(array)
    return tensor


@dataclass(frozen=True)
class BadRequest:
    model: str
    inputs: Callable[[], list[grpcclient.InferInput]]
    status: str        # gRPC status code
    names: str         # regex: the error message must name the problem like this


H, W = detectnet.NET_H, detectnet.NET_W
CASES = {
    "wrong shape": BadRequest(
        MODEL, lambda: [_input(detectnet.INPUT_NAME, [1, 3, H - 4, W])],
        "StatusCode.INVALID_ARGUMENT",
        rf"unexpected shape for input '{detectnet.INPUT_NAME}'.*"
        rf"\[-1,3,{H},{W}\], got \[1,3,{H - 4},{W}\]"),
    "no batch dimension": BadRequest(
        MODEL, lambda: [_input(detectnet.INPUT_NAME, [3, H, W])],
        "StatusCode.INVALID_ARGUMENT",
        rf"unexpected shape for input '{detectnet.INPUT_NAME}'.*got \[3,{H},{W}\]"),
    "wrong datatype": BadRequest(
        MODEL, lambda: [_input(detectnet.INPUT_NAME, [1, 3, H, W], "UINT8")],
        "StatusCode.INVALID_ARGUMENT",
        rf"'{detectnet.INPUT_NAME}' data-type is 'UINT8', but model '{MODEL}' expects 'FP32'"),
    "unknown model": BadRequest(
        "peoplenet_does_not_exist", lambda: [_input(detectnet.INPUT_NAME, [1, 3, H, W])],
        "StatusCode.NOT_FOUND", r"unknown model: 'peoplenet_does_not_exist'"),
    "unknown input name": BadRequest(
        MODEL, lambda: [_input("image", [1, 3, H, W])],
        "StatusCode.INVALID_ARGUMENT", rf"unexpected inference input 'image' for model '{MODEL}'"),
    "missing input": BadRequest(
        MODEL, lambda: [], "StatusCode.INVALID_ARGUMENT",
        rf"missing required input\(s\) \['{detectnet.INPUT_NAME}'\]"),
}


def _assert_healthy_after(triton_server, client, before: triton_stats.ModelStats, what: str) -> None:
    """A good request succeeds, and the counters moved by it plus the bad ones counted."""
    triton_server.check_alive()
    assert client.is_server_ready() and client.is_model_ready(MODEL), f"not ready {what}"
    found = infer_images(triton_server.grpc_url, [detectnet.load_image(CAPTURE_IMAGE)])[0]
    assert found, f"the good request {what} found nobody in capture.jpg"
    delta = triton_stats.wait_for_delta(client, MODEL, before, 1 + BAD_REQUESTS_REACHING_THE_MODEL)
    counted = (delta.phase("success").count, delta.phase("fail").count,
               delta.inference_count, delta.execution_count)
    assert counted == (1, BAD_REQUESTS_REACHING_THE_MODEL, 1, 1), (
        f"{what}: (success, fail, inferences, executions) moved by {counted}; expected one "
        f"good request and {BAD_REQUESTS_REACHING_THE_MODEL} failures")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_request_is_refused_by_name_and_the_server_stays_healthy(triton_server,
                                                                       grpc_client, case):
    before = triton_stats.snapshot(grpc_client, MODEL)
    with pytest.raises(InferenceServerException, match=case.names) as refused:
        grpc_client.infer(case.model, case.inputs())
    assert refused.value.status() == case.status, str(refused.value)
    _assert_healthy_after(triton_server, grpc_client, before, f"after {case.names!r}")


def _unregister(client, region: str, timeout_s: float = 10.0) -> None:
    # The server drops its hold on a refused request's region just after it answers:
    # "currently in use" for a moment is expected, for longer it is a leak.
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.unregister_system_shared_memory(region)
            return
        except InferenceServerException as err:
            if "currently in use" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_batch_above_max_batch_size_is_refused_by_name(triton_server, grpc_client):
    limit = grpc_client.get_model_config(MODEL).config.max_batch_size
    shape = [limit + 1, *detectnet.INPUT_SHAPE]
    nbytes = int(np.prod(shape)) * 4
    # Through shared memory: the region is sparse, so ~400 MB of zeros costs nothing and
    # nothing travels over gRPC.
    region = ownership.client_region_name("oversized_batch")
    handle = shm.create_shared_memory_region(region, "/" + region, nbytes)
    try:
        # Named as ours: a leak check or the next session's reaper would find it.
        assert region in ownership.take().shm_regions
        grpc_client.register_system_shared_memory(region, "/" + region, nbytes)
        try:
            before = triton_stats.snapshot(grpc_client, MODEL)
            tensor = grpcclient.InferInput(detectnet.INPUT_NAME, shape, "FP32")
            tensor.set_shared_memory(region, nbytes)
            with pytest.raises(InferenceServerException,
                               match=rf"batch-size must be <= {limit} for '{MODEL}'"):
                grpc_client.infer(MODEL, [tensor])
        finally:
            _unregister(grpc_client, region)
    finally:
        shm.destroy_shared_memory_region(handle)
    _assert_healthy_after(triton_server, grpc_client, before, f"after a batch of {limit + 1}")


@pytest.mark.parametrize("content", [b"this is not an image\n", b""], ids=["text", "empty"])
def test_a_file_that_is_not_an_image_is_refused_before_sending(triton_server, grpc_client,
                                                               tmp_path, content):
    bogus = tmp_path / "people.jpg"
    bogus.write_bytes(content)
    before = triton_stats.snapshot(grpc_client, MODEL)
    with pytest.raises(detectnet.ImageError, match=r"not an image .*people\.jpg"):
        detectnet.load_image(bogus)
    # Nothing was sent: the counters move by the good request alone.
    _assert_healthy_after(triton_server, grpc_client, before, "after an unreadable image file")
