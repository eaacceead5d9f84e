"""Load patterns: the Triton Jetson example's N threads, one request each, all at once;
and a closed loop like perf_analyzer's concurrency mode.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pnsuite.client.image_set import ImageSet, image_for
from pnsuite.client.memory import Memory
from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.client.samples import SAMPLES_PER_SLOT, Sample, sample_points
from pnsuite.client.shared_memory import Region, open_region
from pnsuite.detection import detectnet


@dataclass
class ThreadResult:
    detections: list[detectnet.Detection]
    latency_s: float
    image: np.ndarray | None = None


@dataclass
class LoadRun:
    """The Triton Jetson example's measurement: every thread's result and the wall time
    of the whole run."""

    results: list[ThreadResult]
    total_s: float

    @property
    def latencies_s(self) -> list[float]:
        return [r.latency_s for r in self.results]


def run_threads(
    url: str,
    image_source: Callable[[], np.ndarray],
    threads: int,
    model: str = "peoplenet",
    memory: Memory | str = Memory.NONE,
    keep_images: bool = False,
    timeout_s: float = 120.0,
    geometry: detectnet.BoxGeometry = detectnet.TAO_GEOMETRY,
) -> LoadRun:
    """The Triton Jetson example's load: `threads` threads, one request each, on the same image.

    Each thread loads and pre-processes the image, waits at a barrier so that all the
    requests are in flight together, infers, and decodes. The total time spans loading,
    pre- and post-processing, as the Triton Jetson example's TOTAL INFERENCE TIME does.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    barrier = threading.Barrier(threads)
    clients = [PeopleNetClient(url, model, memory, timeout_s) for _ in range(threads)]

    def one(client: PeopleNetClient) -> ThreadResult:
        image = image_source()
        chw, fit = detectnet.preprocess(image)
        barrier.wait(timeout=timeout_s)
        sent = time.perf_counter()
        cov, bbox = client.infer(chw[None])
        latency = time.perf_counter() - sent
        detections = detectnet.decode(cov, bbox, [fit], geometry=geometry)[0]
        return ThreadResult(detections, latency, image if keep_images else None)

    began = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(one, c) for c in clients]
            try:
                results = [f.result() for f in futures]
            except BaseException:
                barrier.abort()
                raise
    finally:
        for client in clients:
            client.close()
    return LoadRun(results, time.perf_counter() - began)


@dataclass
class ClosedLoopRun:
    """`requests` requests sent by `concurrency` workers, each waiting for its answer."""

    concurrency: int
    latencies_s: list[float]
    total_s: float
    #: time.perf_counter() when the workers were released (CLOCK_MONOTONIC: comparable
    #: between processes on Linux)
    started_at: float = 0.0
    #: CPU the load generator's process(es) used during the run
    cpu_s: float = 0.0
    #: responses kept to check their answers (pnsuite.client.samples), by slot
    samples: list[Sample] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    @property
    def throughput(self) -> float:
        """Requests per second over the whole run."""
        return self.requests / self.total_s if self.total_s > 0 else 0.0

    def latency_ms(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_s, percentile) * 1e3)


class ClosedLoopLoad:
    """`concurrency` workers that each send a request and wait for its answer, over and
    over (a closed loop, like perf_analyzer's concurrency mode).

    `images` is one pre-processed tensor ([N, 3, 544, 960]) that every request carries,
    or an ImageSet the workers cycle through: worker slot s sends image (s + k) mod n as
    its k-th request, so the requests in flight together carry different images. Each
    slot keeps copies of `samples_per_slot` responses per run (`ClosedLoopRun.samples`).
    Slots are numbered from `first_slot` (a process of a MultiProcessLoad holds a range).

    Clients connect, register their shm regions and stage the images once, when the load
    is made, so each `run()` measures inference only; `close()` unregisters and unlinks.
    The images lie in one input region that all the clients read (registered by the
    first), so shared memory holds each image once, however high the concurrency.
    """

    def __init__(
        self,
        url: str,
        images: ImageSet | np.ndarray,
        concurrency: int,
        model: str = "peoplenet",
        memory: Memory | str = Memory.SYSTEM,
        timeout_s: float = 120.0,
        device_id: int = 0,
        *,
        first_slot: int = 0,
        samples_per_slot: int = SAMPLES_PER_SLOT,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.images = ImageSet.of(images)
        #: the first image's tensor (what a single-tensor load sends)
        self.tensor = self.images[0].tensor
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.memory = Memory.parse(memory, "memory")
        self._model, self._device_id = model, device_id
        self.first_slot = first_slot
        self.samples_per_slot = samples_per_slot
        #: requests each slot has sent over every run: where its image cycle stands
        self._sent = [0] * concurrency
        self._clients: list[PeopleNetClient] = []
        self._inputs: Region | None = None
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load")
        self._connect(url)

    def _connect(self, url: str) -> None:
        try:
            for _ in range(self.concurrency):
                self._clients.append(
                    PeopleNetClient(url, self._model, self.memory, self.timeout_s, self._device_id)
                )
            if self.memory.shared:
                # Once: like perf_analyzer, no copy per request.
                stacked = self.images.stacked()
                self._inputs = open_region(
                    self._clients[0].client, self.memory, stacked.nbytes, self._device_id
                )
                self._inputs.write(stacked)
                for client in self._clients:
                    client.stage_from(self._inputs, self.images.batch, len(self.images))
        except BaseException:
            self.close()
            raise

    def retarget(self, url: str) -> None:
        """Point the load at the server at `url`: the clients (and their regions) on the
        old server are closed, new ones connect and stage the images. Cheaper than a new
        load where workers are processes that take seconds to start."""
        self._close_clients()
        self._connect(url)

    def __enter__(self) -> ClosedLoopLoad:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._close_clients()

    def _close_clients(self) -> None:
        inputs, self._inputs = self._inputs, None
        clients, self._clients = self._clients, []
        try:
            if inputs is not None:
                inputs.release()  # through the first client: before it closes
        finally:
            for client in clients:
                client.close()

    def run(self, requests: int) -> ClosedLoopRun:
        """Send `requests` requests in all and return their latencies, the wall time and
        the responses the slots kept."""
        if requests < self.concurrency:
            raise ValueError(f"requests ({requests}) < concurrency ({self.concurrency})")
        remaining: Iterator[int] = itertools.count(requests, -1)
        lock = threading.Lock()
        start = threading.Barrier(self.concurrency + 1)
        kept = sample_points(requests // self.concurrency, self.samples_per_slot)
        count = len(self.images)

        def worker(index: int, client: PeopleNetClient) -> tuple[list[float], list[Sample]]:
            try:
                start.wait(timeout=self.timeout_s)
            except threading.BrokenBarrierError:
                return [], []
            slot = self.first_slot + index
            latencies: list[float] = []
            samples: list[Sample] = []
            while True:
                with lock:
                    if next(remaining) <= 0:
                        return latencies, samples
                sequence = len(latencies)
                image = image_for(slot, self._sent[index], count)
                self._sent[index] += 1
                sent = time.perf_counter()
                if self.memory.shared:
                    client.send_staged(image)
                    answer = None
                else:
                    answer = client.infer(self.images[image].tensor)
                latencies.append(time.perf_counter() - sent)
                if sequence in kept:
                    cov, bbox = (
                        answer if answer is not None else client.read_outputs(self.images.batch)
                    )
                    samples.append(Sample(image, slot, sequence, cov, bbox))

        futures = [self._pool.submit(worker, i, c) for i, c in enumerate(self._clients)]
        cpu = time.process_time()
        try:
            start.wait(timeout=self.timeout_s)
            began = time.perf_counter()
            done = [f.result() for f in futures]
        except BaseException:
            # Interrupted (Ctrl-C) or failed: release workers still at the barrier and let
            # the others stop after the request in flight, so close() returns in seconds.
            start.abort()
            with lock:
                remaining = itertools.repeat(0)
            raise
        return ClosedLoopRun(
            self.concurrency,
            [lat for d in done for lat in d[0]],
            time.perf_counter() - began,
            started_at=began,
            cpu_s=time.process_time() - cpu,
            samples=[s for d in done for s in d[1]],
        )


class Load(Protocol):
    """A closed loop: ClosedLoopLoad, or pnsuite.client.multiprocess_load.MultiProcessLoad."""

    concurrency: int
    #: what the requests carry (a single-tensor load's is a set of one)
    images: ImageSet

    def run(self, requests: int) -> ClosedLoopRun: ...
    def retarget(self, url: str) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Load: ...
    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None: ...


def paired_rounds(
    slow: Load, fast: Load, requests: int, rounds: int, rng: random.Random | None = None
) -> tuple[list[float], list[float]]:
    """Total times of the same `requests` on two loads, in `rounds` back-to-back pairs,
    after one uncounted warm-up each.

    Returns `(slow_s, fast_s)` aligned by pair: `slow_s[i]` and `fast_s[i]` were timed
    together, whichever ran first, so analyse them as pairs
    (`pnsuite.verdict.significance.compare_paired`). Timing both sides back to back lets drift
    on a shared runner hit both alike; a fair coin from `rng` (default: a fresh
    `random.Random()`) picks which side goes first in each pair, because with a fixed
    order any drift within the pair (caches or clocks warmed by the first side, a
    neighbour that starts or stops) would always favour the same side.
    """
    rng = random.Random() if rng is None else rng
    slow.run(requests)
    fast.run(requests)
    slow_s, fast_s = [], []
    for _ in range(rounds):
        if rng.random() < 0.5:
            slow_s.append(slow.run(requests).total_s)
            fast_s.append(fast.run(requests).total_s)
        else:
            fast_s.append(fast.run(requests).total_s)
            slow_s.append(slow.run(requests).total_s)
    return slow_s, fast_s
