"""The same images give the same answers however they are sent: batched or single,
concurrently or alone, through shared memory or plain gRPC, once or twice."""

import numpy as np
import pytest

from pnsuite.detection import box_matching, detectnet, goldens
from pnsuite.client.memory import Memory
from pnsuite.client.peoplenet import PeopleNetClient, infer_images
from pnsuite.client.load import run_threads
from pnsuite.client.shared_memory import SharedMemoryUnavailable, require_gpu
from pnsuite.paths import CAPTURE_IMAGE

pytestmark = pytest.mark.functional

IMAGES = goldens.golden_images()
THREADS = 6
OUTPUT_SHAPES = {detectnet.COV_NAME: detectnet.COV_SHAPE, detectnet.BBOX_NAME: detectnet.BBOX_SHAPE}


@pytest.fixture(scope="module")
def images():
    return {p.name: detectnet.load_image(p) for p in IMAGES}


@pytest.fixture
def tolerances(served_model: goldens.ModelUnderTest) -> box_matching.Tolerances:
    """Identical numbers from a model that declares its answers batch-invariant (each image
    computed alone); otherwise the default tolerances, as TensorRT picks other kernels for
    another batch size."""
    return box_matching.EXACT if served_model.batch_invariant else box_matching.Tolerances()


def test_a_batch_gives_the_same_boxes_as_single_requests(triton_server, images, tolerances,
                                                         tmp_path):
    names = list(images)
    batched = infer_images(triton_server.grpc_url, [images[n] for n in names], sources=names)
    assert len(batched) == len(names)
    for name, in_batch in zip(names, batched):
        alone = infer_images(triton_server.grpc_url, [images[name]], sources=[name])[0]
        box_matching.assert_same_detections(
            alone, in_batch, images[name], tmp_path / f"{name}-batch.png",
            f"{name}: element of a batch of {len(names)} (got) vs a single request (expected)",
            tolerances)
    assert any(batched), "no detections on any golden image: nothing was compared"


def test_six_concurrent_threads_give_the_same_boxes_as_one(triton_server, images, tolerances,
                                                           tmp_path):
    def source():
        return images[CAPTURE_IMAGE.name]

    alone = run_threads(triton_server.grpc_url, source, 1).results[0].detections
    together = run_threads(triton_server.grpc_url, source, THREADS).results
    assert len(together) == THREADS and alone, f"{len(together)} results, {alone}"
    for i, result in enumerate(together):
        box_matching.assert_same_detections(
            alone, result.detections, images[CAPTURE_IMAGE.name], tmp_path / f"thread-{i}.png",
            f"thread {i} of {THREADS} (got) vs a single thread (expected)", tolerances)


def _tensors(url: str, batch: np.ndarray, memory: Memory,
             sources: list[str]) -> tuple[np.ndarray, np.ndarray]:
    with PeopleNetClient(url, memory=memory) as client:
        cov, bbox = client.infer(batch)
    detectnet.check_finite(cov, bbox, sources)
    return cov, bbox


@pytest.mark.parametrize("memory", [Memory.SYSTEM, Memory.GPU], ids=str)
def test_shared_memory_and_plain_grpc_give_the_same_tensors(triton_server, images, memory):
    if memory is Memory.GPU:
        try:
            require_gpu()
        except SharedMemoryUnavailable as err:
            pytest.skip(str(err))
    # Two different images: a batch shows that every element comes back in its place.
    names = [CAPTURE_IMAGE.name, "vtest_0790.jpg"]
    batch = np.stack([detectnet.preprocess(images[n])[0] for n in names])
    plain = _tensors(triton_server.grpc_url, batch, Memory.NONE, names)
    shared = _tensors(triton_server.grpc_url, batch, memory, names)
    for (name, shape), a, b in zip(OUTPUT_SHAPES.items(), plain, shared):
        assert a.shape == b.shape == (2, *shape), (name, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: {memory} shared memory vs plain gRPC")
    assert not np.array_equal(plain[0][0], plain[0][1]), "two images gave the same coverage"


def test_the_same_image_twice_gives_identical_outputs(triton_server, images):
    chw = detectnet.preprocess(images[CAPTURE_IMAGE.name])[0][None]
    with PeopleNetClient(triton_server.grpc_url) as client:
        first, second = client.infer(chw), client.infer(chw)
    detectnet.check_finite(*first, [CAPTURE_IMAGE.name])
    for name, a, b in zip(OUTPUT_SHAPES, first, second):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: first vs second request")
    assert first[0].max() > detectnet.COVERAGE_THRESHOLD, "nobody found: a vacuous comparison"
