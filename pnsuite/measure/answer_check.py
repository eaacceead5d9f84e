"""A perf load's look at what the model answers: a model that finds nobody must not be
benchmarked green.

Throughput loads leave the outputs unread (as perf_analyzer does), so each benchmark run
sends one request of the capture image and counts the confident people against the
goldens of the model's identity (its config digest and engine are the functional suite's
business: a slowed or re-batched variant of a model answers alike). Without goldens (the
GPU stand-in's random weights find nobody in particular) it can only check that the
coverage varies over the grid: an engine that answers zeros, or any constant, fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.detection import detectnet, goldens
from pnsuite.detection.box_matching import BORDERLINE_SCORE
from pnsuite.errors import SuiteError
from pnsuite.paths import CAPTURE_IMAGE


class WrongAnswers(SuiteError):
    """The model under load answers what no working PeopleNet would."""

    default_hint = (
        "run the functional suite (tests/functional) against this repository: it "
        "names what differs from the goldens, box by box"
    )


def check_answers(
    url: str,
    identity: str,
    directory: Path = goldens.DETECTIONS_DIR,
    image: Path = CAPTURE_IMAGE,
    model: str = "peoplenet",
    on_answer: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
) -> str:
    """Send `image` once and check its boxes' count; return what was checked, for the
    benchmark record. Raises WrongAnswers (or detectnet.NonFiniteOutput). `on_answer`
    is given the request's tensor and its (cov, bbox), an answer alone (the check under
    load's reference for that image needs no request of its own)."""
    chw, fit = detectnet.preprocess(detectnet.load_image(image))
    with PeopleNetClient(url, model) as client:
        cov, bbox = client.infer(chw[None])
    if on_answer is not None:
        on_answer(chw[None], cov, bbox)
    found = detectnet.decode(cov, bbox, [fit], sources=[image.name])[0]
    confident = [d for d in found if d.score >= BORDERLINE_SCORE]
    path = goldens.golden_path(identity, directory)
    expected = goldens.GoldenFile.read(path).images.get(image.name) if path.is_file() else None
    if expected is None:
        if np.ptp(cov) == 0:
            raise WrongAnswers(
                f"{identity} answered the same coverage ({float(cov.flat[0])}) "
                f"in every cell for {image.name} (and there are no goldens of "
                f"it at {path} to count against): its answers are empty"
            )
        return f"{len(found)} boxes on {image.name} (no goldens to count against)"
    sure = [d for d in expected if d.score >= BORDERLINE_SCORE]
    # Borderline boxes may come and go, as in the golden comparison itself.
    if not len(sure) <= len(found) or len(confident) > len(expected):
        raise WrongAnswers(
            f"{identity} found {len(found)} boxes ({len(confident)} confident) "
            f"in {image.name}; its goldens {path} have {len(expected)} "
            f"({len(sure)} confident)"
        )
    return f"{len(found)} boxes on {image.name}, as its goldens ({len(expected)})"
