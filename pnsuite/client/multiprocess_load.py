"""A closed loop spread over worker processes, for servers faster than one Python process
can drive.

Each request costs the Python gRPC client about 0.3-0.5 ms of CPU under one interpreter
lock. When a batch of 16 comes back at once, 16 threads of one process re-send one after
another, spread over several ms, and the dynamic batcher forms smaller batches than a
C++ client's tighter re-sends would give (measured on an H100: batches of 7-10
against perf_analyzer's 16, 0.90 of its throughput). Worker processes re-send in
parallel, one interpreter lock each.

Each worker (started with `spawn`, so no gRPC or CUDA state is forked) holds a
`ClosedLoopLoad` with its share of the concurrency and of each run's requests. A
worker exits when told, when the parent's end of its pipe closes (the parent died), or
on SIGTERM, releasing its shared-memory regions on the way out; their names carry the
parent's owner tag (pnsuite.ownership), as the workers' environment does, so the parent's
leak census, its CPU accounting and the reaper see both.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from pnsuite import ownership
from pnsuite.client import shared_memory
from pnsuite.client.image_set import ImageSet
from pnsuite.client.load import ClosedLoopLoad, ClosedLoopRun, Load
from pnsuite.client.memory import Memory
from pnsuite.errors import SuiteError


class LoadWorkerError(SuiteError, RuntimeError):
    """A load worker process died, failed or went silent; the message names it."""

    default_hint = (
        "a worker killed by a signal (negative exit code) took its requests with it; "
        "its shared-memory regions were removed"
    )


#: seconds a worker may take to start (imports, connect, stage the tensor)
START_TIMEOUT_S = 120.0
#: seconds a worker may take to finish its run and release its regions when closed
STOP_TIMEOUT_S = 30.0


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal whole shares, larger ones first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _worker(
    conn: Connection,
    owner: str,
    url: str,
    images: ImageSet,
    concurrency: int,
    model: str,
    memory: Memory,
    timeout_s: float,
    device_id: int,
    first_slot: int,
) -> None:
    """A worker's life: make its load, then run what the parent asks until told to stop."""
    ownership.adopt(owner)  # its regions carry the pytest process's tag
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Ctrl-C reaches the whole foreground group; the parent decides, then closes us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    load = None
    try:
        load = ClosedLoopLoad(
            url, images, concurrency, model, memory, timeout_s, device_id, first_slot=first_slot
        )
        conn.send(("ready", os.getpid()))
        while True:
            try:
                command, argument = conn.recv()
            except EOFError:  # the parent is gone
                return
            if command == "close":
                return
            if command == "connect":
                load.retarget(argument)
                conn.send(("ready", os.getpid()))
                continue
            run = load.run(argument)
            conn.send(
                ("run", (run.latencies_s, run.started_at, run.total_s, run.cpu_s, run.samples))
            )
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        if load is not None:
            load.close()
        conn.close()


class MultiProcessLoad:
    """`concurrency` closed-loop workers spread over `processes` processes (at most one
    per worker), each with its threads and clients; `run()` splits the requests in
    proportion. Same interface as ClosedLoopLoad; the slots are numbered across the
    processes, so their image cycles start at different images as in one process."""

    def __init__(
        self,
        url: str,
        images: ImageSet | np.ndarray,
        concurrency: int,
        processes: int,
        model: str = "peoplenet",
        memory: Memory | str = Memory.SYSTEM,
        timeout_s: float = 120.0,
        device_id: int = 0,
    ) -> None:
        if concurrency < 1 or processes < 1:
            raise ValueError(
                f"concurrency and processes must be >= 1, got {concurrency} and {processes}"
            )
        self.concurrency = concurrency
        self.memory = Memory.parse(memory, "memory")
        self.timeout_s = timeout_s
        self._url = url
        self._split = shares(concurrency, min(processes, concurrency))
        self._workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        context = multiprocessing.get_context("spawn")
        self.images = ImageSet.of(images)
        # The spawn method's resource tracker lives as long as this process, like the
        # interpreter itself: started first, it does not carry the owner tag the workers do.
        resource_tracker.ensure_running()
        try:
            for index, part in enumerate(self._split):
                ours, theirs = context.Pipe()
                process: multiprocessing.process.BaseProcess = context.Process(
                    target=_worker,
                    name=f"pnsuite-load-{len(self._workers)}",
                    daemon=True,
                    args=(
                        theirs,
                        ownership.owner_tag(),
                        url,
                        self.images,
                        part,
                        model,
                        self.memory,
                        timeout_s,
                        device_id,
                        sum(self._split[:index]),
                    ),
                )
                # Workers inherit the environment, and with it the owner's tag: the census,
                # the leak check, the reaper and the foreign-CPU accounting count them as ours.
                with ownership.tagged_children():
                    process.start()
                theirs.close()
                self._workers.append((process, ours))
            for process, conn in self._workers:
                self._receive(process, conn, "ready", START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    @property
    def processes(self) -> int:
        return len(self._split)

    @property
    def worker_pids(self) -> list[int]:
        return [process.pid for process, _ in self._workers if process.pid is not None]

    def __enter__(self) -> MultiProcessLoad:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Interrupted: the workers' runs are not worth finishing (each would first send the
        # rest of its window's requests); SIGTERM still releases their regions.
        self.close(drain=exc_type is None or not issubclass(exc_type, KeyboardInterrupt))

    @staticmethod
    def _died(process: multiprocessing.process.BaseProcess) -> str:
        process.join(1.0)
        return (
            f"load worker {process.name} (pid {process.pid}) died (exit code "
            f"{process.exitcode}; a negative one is the signal that killed it)"
        )

    @staticmethod
    def _receive(
        process: multiprocessing.process.BaseProcess,
        conn: Connection,
        expected: str,
        timeout_s: float,
    ) -> Any:
        if not conn.poll(timeout_s):
            raise LoadWorkerError(
                f"load worker {process.name} (pid {process.pid}) sent nothing "
                f"in {timeout_s:.0f} s (alive: {process.is_alive()})"
            )
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            raise LoadWorkerError(MultiProcessLoad._died(process)) from None
        if kind == "error":
            raise LoadWorkerError(f"load worker {process.name} failed:\n{payload}")
        if kind != expected:
            raise LoadWorkerError(f"load worker {process.name} sent {kind!r}, not {expected!r}")
        return payload

    def retarget(self, url: str) -> None:
        """Point every worker at the server at `url` (new clients and regions there; the
        processes stay, so this takes a connection's time, not a process start's)."""
        for process, conn in self._workers:
            try:
                conn.send(("connect", url))
            except OSError:
                raise LoadWorkerError(self._died(process)) from None
        self._url = url
        for process, conn in self._workers:
            self._receive(process, conn, "ready", START_TIMEOUT_S)

    def run(self, requests: int) -> ClosedLoopRun:
        """`requests` in all, split between the processes like their concurrency; the wall
        time spans the first worker's start to the last one's end."""
        if requests < self.concurrency:
            raise ValueError(f"requests ({requests}) < concurrency ({self.concurrency})")
        portions = [requests * part // self.concurrency for part in self._split]
        portions[0] += requests - sum(portions)
        for (process, conn), portion in zip(self._workers, portions):
            try:
                conn.send(("run", portion))
            except OSError:
                raise LoadWorkerError(self._died(process)) from None
        # Each worker thread sends its requests one after another, each within timeout_s.
        deadline_s = self.timeout_s * (requests // self.concurrency + 2)
        results = [
            self._receive(process, conn, "run", deadline_s) for process, conn in self._workers
        ]
        began = min(r[1] for r in results)
        ended = max(r[1] + r[2] for r in results)
        return ClosedLoopRun(
            self.concurrency,
            [lat for r in results for lat in r[0]],
            ended - began,
            started_at=began,
            cpu_s=sum(r[3] for r in results),
            samples=[s for r in results for s in r[4]],
        )

    def close(self, drain: bool = True) -> None:
        """Tell every worker to stop, wait for it to release its regions, and end any that
        does not (SIGTERM, which still releases them; then SIGKILL). `drain=False` (an
        interrupt): SIGTERM at once, without waiting for a run in progress to end."""
        workers, self._workers = self._workers, []
        for process, conn in workers:
            try:
                if drain:
                    conn.send(("close", None))
                else:
                    process.terminate()
            except OSError:
                pass
        for process, conn in workers:
            # Drain a run's result that is still coming (a large one blocks its sender).
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while process.is_alive() and time.monotonic() < deadline:
                try:
                    if conn.poll(0.1):
                        conn.recv()
                except (EOFError, OSError):
                    process.join(deadline - time.monotonic())
            if process.is_alive():
                process.terminate()
                process.join(5.0)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
            if process.exitcode not in (0, None) and process.pid is not None:
                # Killed before its own clean-up: remove what it left.
                shared_memory.sweep_regions(self._url, ownership.client_region_prefix(process.pid))


def make_load(
    url: str,
    images: ImageSet | np.ndarray,
    concurrency: int,
    memory: Memory | str = Memory.SYSTEM,
    processes: int = 1,
    model: str = "peoplenet",
) -> Load:
    """A closed loop at `concurrency` sending `images` (one tensor, or a set it cycles
    through): in this process, or spread over `processes`."""
    if processes > 1 and concurrency > 1:
        return MultiProcessLoad(url, images, concurrency, processes, model, memory=memory)
    return ClosedLoopLoad(url, images, concurrency, model, memory=memory)
