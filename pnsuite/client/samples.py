"""Responses a load keeps while it runs, to check their answers afterwards.

A throughput load leaves its outputs unread (as perf_analyzer does). To see whether the
answers stay right while the server batches, each request slot (one closed-loop worker)
keeps copies of a few of its responses per run, spread over the run's middle, where
batches are fullest; nothing is decoded while the load runs. A kept response is two
outputs, 120 kB, copied out of the output regions in about 0.1 ms (measured:
results/answers-under-load/), and a slot keeps `SAMPLES_PER_SLOT` per run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: responses each request slot keeps per run
SAMPLES_PER_SLOT = 2


@dataclass(frozen=True)
class Sample:
    """One kept response: which image went out, from which slot, as the slot's
    `sequence`-th request of the run (from 0), and the outputs that came back."""

    image: int
    slot: int
    sequence: int
    cov: np.ndarray
    bbox: np.ndarray


def sample_points(per_slot: int, count: int = SAMPLES_PER_SLOT) -> frozenset[int]:
    """The sequence numbers a slot that sends about `per_slot` requests in a run keeps:
    `count` of them evenly inside the run (its first and last requests, while the other
    slots start and finish, are the least batched), or every one if there are fewer."""
    if count <= 0 or per_slot <= 0:
        return frozenset()
    if per_slot <= count:
        return frozenset(range(per_slot))
    return frozenset((i + 1) * per_slot // (count + 1) for i in range(count))
