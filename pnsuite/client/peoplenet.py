"""The PeopleNet client: one request's tensors in the gRPC message or in system or GPU
shared memory, and detections for a few images at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tritonclient.grpc as grpcclient

from pnsuite.client.memory import Memory
from pnsuite.client.shared_memory import Region, open_region
from pnsuite.detection import detectnet

_FLOAT_BYTES = 4
_OUTPUT_SHAPES = {
    detectnet.COV_NAME: detectnet.COV_SHAPE,
    detectnet.BBOX_NAME: detectnet.BBOX_SHAPE,
}


class PeopleNetClient:
    """Infers batches on `model`, its tensors in `memory` (a Memory; its name is taken
    too, for callers' convenience): NONE inside the gRPC messages, SYSTEM or GPU shared
    memory (see pnsuite.client.shared_memory).

    Shared-memory regions are sized for the largest batch seen, registered once, and
    always unregistered and freed by `close()` (also as a context manager).
    """

    def __init__(
        self,
        url: str,
        model: str = "peoplenet",
        memory: Memory | str = Memory.NONE,
        timeout_s: float | None = 120.0,
        device_id: int = 0,
    ) -> None:
        self.model = model
        self.memory = Memory.parse(memory, "memory")
        self.device_id = device_id
        self.timeout_s = timeout_s
        self.client = grpcclient.InferenceServerClient(url)
        self._regions: dict[str, Region] = {}
        self._batch_capacity = 0
        # What stage() or stage_from() prepared: per staged image, its batch size and the
        # request's tensors (built once, reused by every request).
        self._staged: list[
            tuple[int, list[grpcclient.InferInput], list[grpcclient.InferRequestedOutput]]
        ] = []

    def __enter__(self) -> PeopleNetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        regions, self._regions = list(self._regions.values()), {}
        self._batch_capacity = 0
        try:
            for region in regions:
                region.release()
        finally:
            self.client.close()

    def _ensure_regions(self, batch: int, inputs: bool = True) -> None:
        if batch <= self._batch_capacity and (detectnet.INPUT_NAME in self._regions or not inputs):
            return
        for region in self._regions.values():
            region.release()
        self._regions = {}
        self._staged = []
        tensors = [(detectnet.INPUT_NAME, detectnet.INPUT_SHAPE)] if inputs else []
        for name, shape in tensors + [
            (detectnet.COV_NAME, detectnet.COV_SHAPE),
            (detectnet.BBOX_NAME, detectnet.BBOX_SHAPE),
        ]:
            self._regions[name] = open_region(
                self.client, self.memory, batch * int(np.prod(shape)) * _FLOAT_BYTES, self.device_id
            )
        self._batch_capacity = batch

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One request with a [N, 3, 544, 960] float32 batch -> (cov, bbox) arrays."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if not self.memory.shared:
            inp = grpcclient.InferInput(detectnet.INPUT_NAME, list(batch.shape), "FP32")
            inp.set_data_from_numpy(batch)
            result = self.client.infer(
                self.model, [inp], outputs=self._outputs(), client_timeout=self.timeout_s
            )
            return result.as_numpy(detectnet.COV_NAME), result.as_numpy(detectnet.BBOX_NAME)
        self.stage(batch)
        return self.infer_staged()

    def stage(self, batch: np.ndarray) -> None:
        """Copy a batch into the input shm region, for one or many `infer_staged()` calls."""
        if not self.memory.shared:
            raise RuntimeError('stage() needs a client with memory="system" or "gpu"')
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        n = batch.shape[0]
        self._ensure_regions(n)
        self._regions[detectnet.INPUT_NAME].write(batch)
        # The request's tensors point at the regions; built once, reused by every request.
        inp = grpcclient.InferInput(detectnet.INPUT_NAME, [n, *detectnet.INPUT_SHAPE], "FP32")
        inp.set_shared_memory(
            self._regions[detectnet.INPUT_NAME].name,
            n * int(np.prod(detectnet.INPUT_SHAPE)) * _FLOAT_BYTES,
        )
        self._staged = [(n, [inp], self._shared_outputs(n))]

    def stage_from(self, region: Region, batch: int, count: int) -> None:
        """Prepare `count` requests of `batch` images each, request i reading the i-th
        run of images laid out one after another in `region`: a region the caller owns
        and may share between clients, so that a load's images are staged once, not once
        per client. This client's own regions hold only the outputs."""
        if not self.memory.shared:
            raise RuntimeError('stage_from() needs a client with memory="system" or "gpu"')
        self._ensure_regions(batch, inputs=False)
        size = batch * int(np.prod(detectnet.INPUT_SHAPE)) * _FLOAT_BYTES
        if count * size > region.byte_size:
            raise ValueError(
                f"{count} requests of {size} bytes do not fit in region "
                f"{region.name} ({region.byte_size} bytes)"
            )
        staged = []
        for i in range(count):
            inp = grpcclient.InferInput(
                detectnet.INPUT_NAME, [batch, *detectnet.INPUT_SHAPE], "FP32"
            )
            inp.set_shared_memory(region.name, size, offset=i * size)
            staged.append((batch, [inp], self._shared_outputs(batch)))
        self._staged = staged

    def _shared_outputs(self, batch: int) -> list[grpcclient.InferRequestedOutput]:
        outputs = self._outputs()
        for out in outputs:
            out.set_shared_memory(
                self._regions[out.name()].name,
                batch * int(np.prod(_OUTPUT_SHAPES[out.name()])) * _FLOAT_BYTES,
            )
        return outputs

    def infer_staged(self) -> tuple[np.ndarray, np.ndarray]:
        """Infer what `stage()` put in shared memory (no copy of the input per request)."""
        return self.read_outputs(self.send_staged())

    def read_outputs(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the last staged request's (cov, bbox), `batch` images' worth, from
        the output regions (the next request overwrites them)."""
        return tuple(  # type: ignore[return-value]
            self._regions[name].read([batch, *_OUTPUT_SHAPES[name]])
            for name in (detectnet.COV_NAME, detectnet.BBOX_NAME)
        )

    def send_staged(self, index: int = 0) -> int:
        """One request on what `stage()` (or `stage_from()`'s request `index`) put in
        shared memory, leaving the outputs unread in their regions: what perf_analyzer
        does, and all a throughput load needs. Returns the batch size sent."""
        if not self._staged:
            raise RuntimeError("nothing staged: call stage(batch) first")
        n, inputs, outputs = self._staged[index]
        self.client.infer(self.model, inputs, outputs=outputs, client_timeout=self.timeout_s)
        return n

    @staticmethod
    def _outputs() -> list[grpcclient.InferRequestedOutput]:
        return [grpcclient.InferRequestedOutput(name) for name in _OUTPUT_SHAPES]


def infer_images(
    url: str,
    images: Sequence[np.ndarray],
    model: str = "peoplenet",
    memory: Memory | str = Memory.NONE,
    sources: Sequence[str] | None = None,
) -> list[list[detectnet.Detection]]:
    """Detections for each image, all sent as one batch. `sources` name the images in
    errors (a NaN answer says which image it came from)."""
    prepared = [detectnet.preprocess(img) for img in images]
    with PeopleNetClient(url, model, memory) as client:
        cov, bbox = client.infer(np.stack([p[0] for p in prepared]))
    return detectnet.decode(cov, bbox, [p[1] for p in prepared], sources=sources)
