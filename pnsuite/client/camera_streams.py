"""Camera streams: an open-loop load paced like cameras, every frame with a deadline.

A camera sends frames at its own rate whatever the server does. Each stream here is one
camera feeding a pipeline that holds one frame in flight and, behind it, the newest frame
that arrived meanwhile (as a decode-infer pipeline per camera source does): when the
answer comes, that newest frame is sent at once and any older waiting frame is dropped.
The server's queue is therefore bounded by the number of streams; an overloaded
configuration shows as late and dropped frames, not as a queue that grows without end.

Frames of a stream are due at constant intervals from a random phase (`arrivals=
"constant"`) or at exponential intervals of the same mean (`"poisson"`). A frame's
latency runs from the moment it was due to its answer, so a client that sends late makes
frames late too: the generator measures how late it sent each frame that was not waiting
on its stream's previous one, and `StreamsRun.client_late` names a run where the client,
not the server, fell behind its schedule.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient

from pnsuite.client.memory import Memory
from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.measure import triton_stats

ARRIVALS = ("constant", "poisson")
#: a frame sent later than this after it was due (when nothing held it back) was the
#: client's lateness: the larger of 2 ms and a tenth of the frame interval
LATE_SEND_FLOOR_MS = 2.0
LATE_SEND_SHARE_OF_INTERVAL = 0.10
#: a run whose client sent more than this share of all its frames late on its own is refused
MAX_CLIENT_LATE_SHARE = 0.01


@dataclass
class StreamRecord:
    """What one stream did over the counted part of a run (times in seconds)."""

    #: frames due in the counted part (sent, dropped, or still waiting at the end)
    due: int = 0
    dropped: int = 0
    #: due-to-answer time of every answered frame
    latencies_s: list[float] = field(default_factory=list)
    #: send lateness of the frames sent on their own due time (not held back by the
    #: stream's previous frame)
    send_lateness_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class StreamsRun:
    """One run of N camera streams at F frames per second."""

    streams: int
    fps: float
    arrivals: str
    seconds: float
    records: list[StreamRecord]
    #: Triton's queue time per inference in the first and the second half of the run
    queue_ms_halves: tuple[float, float] | None = None

    @property
    def interval_ms(self) -> float:
        return 1e3 / self.fps

    @property
    def frames_due(self) -> int:
        return sum(r.due for r in self.records)

    @property
    def frames_dropped(self) -> int:
        return sum(r.dropped for r in self.records)

    @property
    def frames_answered(self) -> int:
        return sum(len(r.latencies_s) for r in self.records)

    @property
    def errors(self) -> list[str]:
        return [e for r in self.records for e in r.errors]

    def _latencies_ms(self) -> np.ndarray:
        values = [v for r in self.records for v in r.latencies_s]
        return np.asarray(values, dtype=float) * 1e3

    def latency_ms(self, percentile: float) -> float:
        """The frames' due-to-answer latency at `percentile`, over all streams."""
        values = self._latencies_ms()
        return float(np.percentile(values, percentile)) if values.size else float("inf")

    def stream_latency_ms(self, percentile: float) -> list[float]:
        """Each stream's latency at `percentile` (inf for a stream answered nothing)."""
        return [
            float(np.percentile(np.asarray(r.latencies_s) * 1e3, percentile))
            if r.latencies_s
            else float("inf")
            for r in self.records
        ]

    def late(self, deadline_ms: float) -> int:
        """Answered frames whose answer came after the deadline."""
        return int((self._latencies_ms() > deadline_ms).sum())

    def missed_share(self, deadline_ms: float) -> float:
        """Frames late or dropped, of those due: what a camera lost."""
        due = self.frames_due
        return (self.late(deadline_ms) + self.frames_dropped) / due if due else 1.0

    @property
    def late_send_ms(self) -> float:
        return max(LATE_SEND_FLOOR_MS, LATE_SEND_SHARE_OF_INTERVAL * self.interval_ms)

    def client_late_share(self) -> float:
        """Frames the client sent late on its own, of all frames due. Of all frames, not
        of those it sent free: in overload few frames are free (most wait on their
        stream's previous one), and a late wake-up among those few does not make the
        server's drops the client's doing."""
        lateness = [v for r in self.records for v in r.send_lateness_s]
        if not lateness or not self.frames_due:
            return 0.0
        return float((np.asarray(lateness) * 1e3 > self.late_send_ms).sum() / self.frames_due)

    def send_lateness_ms(self, percentile: float) -> float:
        lateness = [v for r in self.records for v in r.send_lateness_s]
        return float(np.percentile(np.asarray(lateness) * 1e3, percentile)) if lateness else 0.0

    @property
    def client_late(self) -> str:
        """Why the client, not the server, fell behind its schedule ("" when it kept it)."""
        share = self.client_late_share()
        if share <= MAX_CLIENT_LATE_SHARE:
            return ""
        return (
            f"the client sent {share:.1%} of the frames more than {self.late_send_ms:.1f} "
            f"ms after they were due (p99 {self.send_lateness_ms(99):.1f} ms; at most "
            f"{MAX_CLIENT_LATE_SHARE:.0%} may be): it, not the server, missed the "
            f"schedule of {self.streams} streams at {self.fps:g} fps"
        )

    @property
    def queue_grew(self) -> bool | None:
        """Whether Triton's queue time per inference rose by half or more from the first
        half of the run to the second (None: not measured)."""
        if self.queue_ms_halves is None:
            return None
        first, second = self.queue_ms_halves
        return second > 1.5 * first + 1.0

    def summary(self) -> dict[str, Any]:
        return {
            "streams": self.streams,
            "fps": self.fps,
            "arrivals": self.arrivals,
            "seconds": round(self.seconds, 3),
            "frames_due": self.frames_due,
            "frames_answered": self.frames_answered,
            "frames_dropped": self.frames_dropped,
            "latency_ms": {f"p{p}": round(self.latency_ms(p), 3) for p in (50, 90, 99)},
            "stream_p99_ms": [round(v, 3) for v in self.stream_latency_ms(99)],
            "send_lateness_p99_ms": round(self.send_lateness_ms(99), 3),
            "client_late_share": round(self.client_late_share(), 4),
            "queue_ms_halves": self.queue_ms_halves,
            "errors": self.errors[:5],
        }


def due_times(
    fps: float, start: float, end: float, arrivals: str, rng: random.Random
) -> list[float]:
    """When a stream's frames are due between `start` and `end`: from a random phase
    within one interval, at constant or exponential intervals of mean 1/fps."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if arrivals not in ARRIVALS:
        raise ValueError(f"arrivals must be one of {ARRIVALS}, got {arrivals!r}")
    interval = 1.0 / fps
    t, times = start + rng.random() * interval, []
    while t < end:
        times.append(t)
        t += interval if arrivals == "constant" else rng.expovariate(fps)
    return times


class _Stream(threading.Thread):
    """One camera: sends its frames on their due times, one in flight at most."""

    def __init__(
        self,
        index: int,
        send: Callable[[], Any],
        due: Sequence[float],
        counted_from: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(name=f"camera-stream-{index}", daemon=True)
        self._send, self._due, self._counted_from = send, due, counted_from
        self._clock = clock
        self.record = StreamRecord(due=sum(1 for d in due if d >= counted_from))

    def run(self) -> None:
        k = 0
        while k < len(self._due):
            now = self._clock()
            held = self._due[k] <= now  # due while the previous frame was in flight
            if held:
                newest = bisect.bisect_right(self._due, now) - 1  # the due times are sorted
                self.record.dropped += sum(
                    1 for d in self._due[k:newest] if d >= self._counted_from
                )
                k = newest
            else:
                time.sleep(max(0.0, self._due[k] - now))
            due, sent = self._due[k], self._clock()
            counted = due >= self._counted_from
            if counted and not held:
                self.record.send_lateness_s.append(sent - due)
            try:
                self._send()
            except Exception as err:  # noqa: BLE001 - a failed frame is reported, not raised
                self.record.errors.append(f"frame due at +{due - self._due[0]:.3f} s: {err}")
            else:
                if counted:
                    self.record.latencies_s.append(self._clock() - due)
            k += 1


def run_streams(
    url: str,
    tensor: np.ndarray,
    streams: int,
    fps: float,
    seconds: float,
    warmup_s: float = 2.0,
    arrivals: str = "constant",
    memory: Memory | str = Memory.SYSTEM,
    model: str = "peoplenet",
    seed: int | None = None,
) -> StreamsRun:
    """`streams` cameras at `fps` against the server at `url` for `warmup_s` + `seconds`;
    only frames due after the warm-up count. Each stream has a client of its own with
    `tensor` ([1, 3, 544, 960]) staged in `memory` once."""
    if streams < 1 or seconds <= 0 or warmup_s < 0:
        raise ValueError(
            f"need streams >= 1, seconds > 0 and warmup_s >= 0, got {streams}, "
            f"{seconds}, {warmup_s}"
        )
    memory = Memory.parse(memory, "memory")
    rng = random.Random(seed)
    clients = []
    try:
        for _ in range(streams):
            client = PeopleNetClient(url, model, memory=memory)
            clients.append(client)
            if memory.shared:
                client.stage(tensor)
        sends = [_sender(client, tensor, memory) for client in clients]
        clock = time.monotonic
        began = clock() + 0.2  # every stream's thread is up before the first frame
        counted_from, end = began + warmup_s, began + warmup_s + seconds
        threads = [
            _Stream(i, send, due_times(fps, began, end, arrivals, rng), counted_from, clock)
            for i, send in enumerate(sends)
        ]
        stats_client = grpcclient.InferenceServerClient(url)
        clients.append(stats_client)
        for thread in threads:
            thread.start()
        halves = _queue_halves(stats_client, model, counted_from, seconds, clock)
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()
    return StreamsRun(streams, fps, arrivals, seconds, [t.record for t in threads], halves)


def _sender(client: PeopleNetClient, tensor: np.ndarray, memory: Memory) -> Callable[[], Any]:
    if memory.shared:
        return client.send_staged
    return lambda: client.infer(tensor)


def _queue_halves(
    client: Any, model: str, start: float, seconds: float, clock: Callable[[], float]
) -> tuple[float, float] | None:
    """Triton's queue time per inference over each half of the counted part."""
    marks = []
    for at in (start, start + seconds / 2, start + seconds):
        time.sleep(max(0.0, at - clock()))
        try:
            marks.append(triton_stats.snapshot(client, model))
        except Exception:  # noqa: BLE001 - the statistics are extra; the frames are the run
            return None
    first, second = marks[1] - marks[0], marks[2] - marks[1]
    return (round(first.per_inference_ms("queue"), 3), round(second.per_inference_ms("queue"), 3))
