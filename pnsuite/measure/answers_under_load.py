"""Answers checked under load: each response a load kept (pnsuite.client.samples) must
say what the same server says about the same image sent alone.

The references are taken at the start of the first run on a server, each image of the
load's set sent on its own, one at a time, so no batching can touch them, and kept for
the server's later runs (a sweep measures several points on one server, the benchmarks
two concurrencies). The image the answer check sent alone just before (capture.jpg)
needs no request of its own: on the CPU stand-in the default set's references cost three
requests alone, about 1.3 s per server start. A sampled response that differs beyond the
tolerance names its image, the slot and request that carried it and the run's part it
came from, lists box by box what differed, and draws both onto the image. With the
load's images distinct, an answer handed to the wrong request of a batch shows; with one
image in every request it cannot (the tests plant both).

Tolerances are the functional suite's: identical numbers from a model that declares its
answers batch-invariant (the CPU stand-in computes each image alone), the golden
comparison's defaults otherwise (TensorRT picks other kernels for another batch size).
Boxes are compared in network-input pixels, where a flipped variant is exact.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pnsuite.client.image_set import ImageSet
from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.client.samples import Sample
from pnsuite.detection import box_matching, detectnet
from pnsuite.detection.box_matching import MatchReport, Tolerances
from pnsuite.detection.detectnet import Detection
from pnsuite.measure.answer_check import WrongAnswers


class AnswersDifferUnderLoad(WrongAnswers):
    """A response under load differs from the same server's answer for its image alone."""

    default_hint = (
        "the server answered a request under load with what belongs to another "
        "request, or computed it differently in a batch: compare the overlay, "
        "and run tests/functional/test_consistency.py against this repository"
    )


#: one image's answer: detections per element of the request's batch
Answer = list[list[Detection]]


@dataclass(frozen=True)
class Mismatch:
    """A sampled response whose answer differs from its image's reference."""

    sample: Sample
    element: int
    report: MatchReport
    #: the images whose answer alone the response matches instead (answers handed to the
    #: wrong request of a batch name the request they belonged to)
    belongs_to: tuple[str, ...] = ()


def decode(cov: np.ndarray, bbox: np.ndarray, name: str) -> Answer:
    """A response's detections in network-input pixels (no letterbox: exact for flips)."""
    return detectnet.decode(cov, bbox, sources=[f"{name} [{i}]" for i in range(len(cov))])


#: a request already sent alone: its tensor, and the (cov, bbox) it was answered
Alone = tuple[np.ndarray, np.ndarray, np.ndarray]


def take_references(
    url: str, images: ImageSet, model: str = "peoplenet", alone: Sequence[Alone] = ()
) -> list[Answer]:
    """Each image of `images` sent alone, one request at a time: the server's own answers
    that its answers under load must agree with. An image whose tensor one of `alone`
    already carried (the answer check's capture.jpg, just before) takes that answer."""

    def known(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return next(
            (
                (cov, bbox)
                for sent, cov, bbox in alone
                if sent.shape == tensor.shape and np.array_equal(sent, tensor)
            ),
            None,
        )

    with PeopleNetClient(url, model) as client:
        return [
            decode(*(known(image.tensor) or client.infer(image.tensor)), image.name)
            for image in images
        ]


#: the last references taken per server object (gone with it), per model: the image set
#: (compared by identity, not names: two single-tensor loads share a name) and its answers
_TAKEN: weakref.WeakKeyDictionary[Any, dict[str, tuple[ImageSet, list[Answer]]]] = (
    weakref.WeakKeyDictionary()
)


def references_for(
    server: Any, images: ImageSet, model: str = "peoplenet", alone: Sequence[Alone] = ()
) -> list[Answer]:
    """`take_references` on `server` (a TritonServer), again only for another image set
    or model than the last one's (one set kept per server and model: memory stays flat)."""
    taken = _TAKEN.setdefault(server, {})
    if model not in taken or taken[model][0] is not images:
        taken[model] = (images, take_references(server.grpc_url, images, model, alone))
    return taken[model][1]


def compare(
    samples: Sequence[Sample],
    references: Sequence[Answer],
    images: ImageSet,
    tolerances: Tolerances,
) -> list[Mismatch]:
    """Every sampled response matched against its image's reference; the mismatches."""
    found = []
    for sample in samples:
        got = decode(sample.cov, sample.bbox, images[sample.image].name)
        for element, (expected, answer) in enumerate(zip(references[sample.image], got)):
            report = box_matching.match(expected, answer, tolerances)
            if not report.ok:
                owners = tuple(
                    images[i].name
                    for i, reference in enumerate(references)
                    if i != sample.image
                    and element < len(reference)
                    and box_matching.match(reference[element], answer, tolerances).ok
                )
                found.append(Mismatch(sample, element, report, owners))
    return found


def describe(mismatch: Mismatch, images: ImageSet, where: str) -> str:
    """What a mismatch names: the image, the slot and request, where in the run, how."""
    sample = mismatch.sample
    element = f", batch element {mismatch.element}" if images.batch > 1 else ""
    owners = (
        f"; it is the answer of {' or '.join(mismatch.belongs_to)} alone"
        if mismatch.belongs_to
        else ""
    )
    return (
        f"{images[sample.image].name}: request {sample.sequence} of slot {sample.slot} "
        f"({where}{element}) differs from the same image sent alone: "
        f"{mismatch.report.summary()}{owners}"
    )


def check_samples(
    samples: Sequence[Sample],
    references: Sequence[Answer],
    images: ImageSet,
    tolerances: Tolerances,
    where: str,
    overlay_dir: Path | None = None,
) -> int:
    """Raise AnswersDifferUnderLoad naming every sampled response of `where` (e.g.
    "window 3") that differs from its reference (the first one box by box, with an
    overlay in `overlay_dir` if given); return how many responses were checked."""
    mismatches = compare(samples, references, images, tolerances)
    if not mismatches:
        return len(samples)
    first = mismatches[0]
    # The first line stands alone (a sweep keeps only that of a failed point's error).
    lines = [
        f"{describe(first, images, where)} ({len(mismatches)} of {len(samples)} "
        f"sampled responses differ)"
    ]
    lines += [f"  {describe(m, images, where)}" for m in mismatches[1:]]
    lines += [
        "first of them, box by box (expected: alone; got: under load):",
        first.report.describe(),
    ]
    if overlay_dir is not None:
        image = images[first.sample.image]
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", image.name)
        path = box_matching.write_overlay(
            detectnet.network_input_to_bgr(image.tensor[first.element]),
            first.report,
            overlay_dir / f"{name}-slot{first.sample.slot}-request{first.sample.sequence}.png",
        )
        lines.append(f"overlay (alone blue, under load green): {path}")
    raise AnswersDifferUnderLoad("\n".join(lines))


def tolerances_for(batch_invariant: bool) -> Tolerances:
    """EXACT for a model that declares its answers batch-invariant, else the defaults."""
    return box_matching.EXACT if batch_invariant else Tolerances()
