"""Updating goldens without blessing a regression: candidates, diffs, explicit acceptance.

An update run (`--update-goldens`) never writes the goldens while it measures. Each test
adds what one repository's server found on one image to a candidate file beside the
goldens (`<identity>.candidate.json`, one section per repository) and is judged there:

- against the current goldens of that identity, whatever engine or config they were
  recorded with (the diff matters most exactly when those change): a confident box lost,
  moved beyond tolerance or rescored fails, unless the image is accepted by name;
- against the other repositories of the same model already in the candidate: batching
  and instance count must not change the boxes, so any disagreement fails.

Only a run in which every test passed promotes its candidates (`promote_all`): unchanged
images keep their old entries byte for byte, changed ones keep every box that is still
within tolerance as it was, and the file is re-keyed to the engine that answered.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnsuite.detection import box_matching
from pnsuite.detection.box_matching import MatchReport, Tolerances
from pnsuite.detection.detectnet import Detection
from pnsuite.detection.goldens import (
    DETECTIONS_DIR,
    GoldenError,
    GoldenFile,
    ModelUnderTest,
    detection_from_json,
    detection_json,
    file_stem,
    golden_path,
)
from pnsuite.repository.engine import EngineIdentity

CANDIDATE_SUFFIX = ".candidate.json"
DIFF_SUFFIX = ".diff.txt"
CANDIDATE_FORMAT = 1
ACCEPT_OPTION = "--accept-golden-change"


def candidate_path(identity: str, directory: Path = DETECTIONS_DIR) -> Path:
    return directory / f"{file_stem(identity)}{CANDIDATE_SUFFIX}"


def diff_path(identity: str, directory: Path = DETECTIONS_DIR) -> Path:
    return directory / f"{file_stem(identity)}{DIFF_SUFFIX}"


@dataclass(frozen=True)
class ImageChange:
    """One image's new boxes against its golden entry (None: the image had none)."""

    image: str
    old: Sequence[Detection] | None
    new: Sequence[Detection]
    report: MatchReport | None

    @classmethod
    def between(
        cls, image: str, old: Sequence[Detection] | None, new: Sequence[Detection]
    ) -> ImageChange:
        return cls(image, old, new, None if old is None else box_matching.match(old, new))

    def _confident(self, det: Detection) -> bool:
        return self.report is not None and det.score >= self.report.tolerances.borderline_score

    @property
    def lost(self) -> list[Detection]:
        return [d for d in self.report.missing if self._confident(d)] if self.report else []

    @property
    def moved(self) -> list[box_matching.Pair]:
        return self.report.off_pairs if self.report else []

    @property
    def added(self) -> list[Detection]:
        return [d for d in self.report.extra if self._confident(d)] if self.report else []

    @property
    def unchanged(self) -> bool:
        return self.report is not None and self.report.ok

    @property
    def needs_acceptance(self) -> bool:
        """A confident box lost, or moved or rescored beyond tolerance."""
        return bool(self.lost or self.moved)

    def summary(self) -> str:
        if self.report is None:
            return f"new, {len(self.new)} boxes"
        if self.unchanged:
            return f"unchanged within tolerances ({len(self.old or [])} boxes kept as they were)"
        return (
            f"{len(self.old or [])} -> {len(self.new)} boxes: {len(self.lost)} confident "
            f"lost, {len(self.moved)} moved or rescored beyond tolerance, "
            f"{len(self.added)} confident added"
        )

    def describe(self) -> str:
        head = f"{self.image}: {self.summary()}"
        return (
            head if self.report is None or self.unchanged else f"{head}\n{self.report.describe()}"
        )


@dataclass
class Observation:
    """What one test found on one image, judged against goldens and sibling repositories."""

    model: ModelUnderTest
    repository: str
    change: ImageChange
    accepted: bool
    disagreements: list[str] = field(default_factory=list)
    #: why the goldens' header does not describe the model that answered now
    rekeyed: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = list(self.disagreements)
        if self.change.needs_acceptance and not self.accepted:
            out.append(
                f"{self.change.image}: {self.change.summary()} against the goldens; if this "
                f"is intended, accept it with {ACCEPT_OPTION} {self.change.image}\n"
                f"{self.change.report.describe() if self.change.report else ''}"
            )
        return out

    def line(self) -> str:
        """One line for the run's summary."""
        note = " (accepted)" if self.accepted and self.change.needs_acceptance else ""
        keyed = f"; goldens re-keyed: {'; '.join(self.rekeyed)}" if self.rekeyed else ""
        return (
            f"{self.model.file_name} {self.change.image} from {self.repository}: "
            f"{self.change.summary()}{note}{keyed}"
        )


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # pytest-xdist workers add to one candidate at once: serialize read-modify-write.
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def _model_json(model: ModelUnderTest) -> dict[str, Any]:
    return {
        "identity": model.identity,
        "config_digest": model.config_digest,
        "triton_version": model.triton_version,
        "platform": model.platform,
        "engine": model.engine.to_json(),
        "batch_invariant": model.batch_invariant,
    }


def _model_from_json(data: dict[str, Any]) -> ModelUnderTest:
    return ModelUnderTest(
        data["identity"],
        data["config_digest"],
        data["triton_version"],
        data["platform"],
        EngineIdentity.from_json(data.get("engine")),
        bool(data.get("batch_invariant")),
    )


def _header_changes(golden: GoldenFile, model: ModelUnderTest) -> list[str]:
    out = []
    if golden.config_digest != model.config_digest:
        out.append(f"config digest {golden.config_digest} -> {model.config_digest}")
    out += golden.engine.differences(model.engine)
    return out


def _old_golden(model: ModelUnderTest, directory: Path) -> GoldenFile | None:
    path = golden_path(model, directory)
    if not path.is_file():
        return None
    golden = GoldenFile.read(path)
    if golden.model_identity != model.identity:
        raise GoldenError(
            f"{path} holds goldens of {golden.model_identity!r}, not of {model.identity!r}",
            "give the two models different identities",
        )
    return golden


def observe(
    model: ModelUnderTest,
    repository: str,
    image: str,
    detections: Sequence[Detection],
    directory: Path = DETECTIONS_DIR,
    accepted: Collection[str] = (),
) -> Observation:
    """Add one repository's boxes on `image` to the model's candidate and judge them.

    `accepted` names the images whose lost or moved boxes the user accepts. The caller
    fails the test when the returned observation has problems.
    """
    if model.engine.unreadable:
        raise GoldenError(
            f"cannot record goldens for {model.identity}: the engine the "
            f"server runs cannot be identified ({model.engine.unreadable})",
            "record from a server the suite starts (--triton-launcher release "
            "or docker), so that the goldens name the plan that answered",
        )
    tolerances = box_matching.EXACT if model.batch_invariant else Tolerances()
    with _locked(directory):
        old = _old_golden(model, directory)
        path = candidate_path(model.identity, directory)
        data: dict[str, Any] = (
            json.loads(path.read_text())
            if path.is_file()
            else {"format": CANDIDATE_FORMAT, "models": {}, "repositories": {}}
        )
        disagreements = []
        for other_repo, other in sorted(data["models"].items()):
            if other_repo != repository and other["config_digest"] != model.config_digest:
                disagreements.append(
                    f"{repository} and {other_repo} both serve {model.identity} but with "
                    f"different answer digests ({model.config_digest} vs "
                    f"{other['config_digest']}): one identity must answer alike"
                )
        for other_repo, images in sorted(data["repositories"].items()):
            if other_repo == repository or image not in images:
                continue
            theirs = [detection_from_json(d) for d in images[image]]
            report = box_matching.match(theirs, detections, tolerances)
            if not report.ok:
                disagreements.append(
                    f"{image}: {repository} (got) and {other_repo} (expected) disagree, so "
                    f"batching or instances change this model's boxes: no golden can stand "
                    f"for both\n{report.describe()}"
                )
        data["models"][repository] = _model_json(model)
        data["repositories"].setdefault(repository, {})[image] = [
            detection_json(d, rounded=False) for d in detections
        ]
        _write_atomically(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    change = ImageChange.between(image, old.images.get(image) if old else None, detections)
    return Observation(
        model,
        repository,
        change,
        image in accepted,
        disagreements,
        _header_changes(old, model) if old else [],
    )


def _merged(change: ImageChange) -> list[Detection]:
    """The old entry with accepted changes: boxes still within tolerance stay as recorded
    (goldens must not creep run by run), in their old order, so the file's diff shows
    only what changed."""
    assert change.report is not None
    pairs = {id(p.expected): p for p in change.report.pairs}
    kept = []
    for det in change.old or []:
        pair = pairs.get(id(det))
        if pair is not None:
            kept.append(pair.expected if pair.within(change.report.tolerances) else pair.got)
    return kept + list(change.report.extra)


@dataclass
class Review:
    """A model's candidate set against its goldens: what promoting it would change."""

    identity: str
    candidate: Path
    model: ModelUnderTest
    old: GoldenFile | None
    changes: list[ImageChange]
    #: what about the model changed since the goldens were recorded
    rekeyed: list[str]
    #: golden images the candidate does not cover
    unchecked: list[str]

    def lines(self) -> list[str]:
        """The diff, one entry per image (each lists its boxes when it changed)."""
        head = (
            [f"re-keyed to the model that answered: {'; '.join(self.rekeyed)}"]
            if self.rekeyed
            else []
        )
        return head + [c.describe() for c in self.changes]


def _review(identity: str, directory: Path) -> Review:
    path = candidate_path(identity, directory)
    data = json.loads(path.read_text())
    repositories = sorted(data["repositories"])
    # The first repository by name stands for all (observe checked that they agree), so
    # the result does not depend on which pytest-xdist worker finished first.
    model = _model_from_json(data["models"][repositories[0]])
    observed: dict[str, list[Detection]] = {}
    for repo in repositories:
        for image, dets in sorted(data["repositories"][repo].items()):
            observed.setdefault(image, [detection_from_json(d) for d in dets])
    old = _old_golden(model, directory)
    changes = [
        ImageChange.between(image, old.images.get(image) if old else None, dets)
        for image, dets in sorted(observed.items())
    ]
    return Review(
        identity,
        path,
        model,
        old,
        changes,
        _header_changes(old, model) if old else [],
        sorted(set(old.images) - set(observed)) if old else [],
    )


def review(identity: str, directory: Path = DETECTIONS_DIR) -> Review:
    """Read one model's candidate and diff it against its goldens (changing nothing)."""
    with _locked(directory):
        return _review(identity, directory)


def promote(
    identity: str, directory: Path = DETECTIONS_DIR, accepted: Collection[str] = ()
) -> Review:
    """Write one model's candidate into its golden file and remove the candidate. Raises
    GoldenError, changing nothing, where an image needs acceptance it was not given or a
    changed model would leave old entries unchecked."""
    with _locked(directory):
        result = _review(identity, directory)
        blocked = [
            c.image for c in result.changes if c.needs_acceptance and c.image not in accepted
        ]
        if blocked:
            raise GoldenError(
                f"goldens of {identity} not updated: {', '.join(blocked)} lost "
                f"or moved confident boxes",
                f"review {result.candidate}, then accept with {ACCEPT_OPTION} IMAGE",
            )
        if result.rekeyed and result.unchecked:
            raise GoldenError(
                f"goldens of {identity} not updated: the model changed "
                f"({'; '.join(result.rekeyed)}) but {', '.join(result.unchecked)} were not "
                f"measured with it",
                "run the update over every golden image (no -k), so that no entry of the "
                "old engine is kept under the new one",
            )
        golden = GoldenFile.for_model(result.model, dict(result.old.images) if result.old else {})
        for change in result.changes:
            if change.report is None:
                golden.images[change.image] = list(change.new)
            elif not change.unchanged:
                golden.images[change.image] = _merged(change)
        golden.write(golden_path(result.model, directory))
        result.candidate.unlink()
    return result


def record_rebuilds(directory: Path, run_passed: bool) -> list[str]:
    """After a run without --update-goldens: the candidates that tests of a rebuilt plan
    left (its boxes within the goldens' tolerance, image by image) become that plan's
    goldens, so the next rebuild is judged against the plan it replaces, never against an
    ever older one. Only a run that passed records; one that did not, or that left images
    unmeasured, records nothing and says why. One line per model, for the run's summary."""
    lines = []
    for identity in pending(directory):
        if not run_passed:
            lines.append(
                f"{identity}: the rebuilt plan's goldens were NOT recorded: the run did not pass"
            )
            discard_candidates(directory)
            continue
        try:
            result = promote(identity, directory)
        except GoldenError as err:
            lines.append(f"{identity}: the rebuilt plan's goldens were NOT recorded: {err}")
            discard_candidates(directory)
            continue
        lines.append(
            f"{identity}: recorded the rebuilt plan's goldens in "
            f"{golden_path(result.model, directory)} "
            f"({'; '.join(result.rekeyed) or 'same engine'}; every box within "
            f"the previous plan's tolerance)"
        )
    return lines


def pending(directory: Path = DETECTIONS_DIR) -> list[str]:
    """Identities with a candidate in `directory`."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob(f"*{CANDIDATE_SUFFIX}"):
        models = json.loads(path.read_text())["models"]
        found.append(models[min(models)]["identity"])
    return sorted(found)


def discard_candidates(directory: Path = DETECTIONS_DIR) -> None:
    """Remove candidates and diffs of earlier update runs (a new run starts afresh)."""
    if directory.is_dir():
        for p in [*directory.glob(f"*{CANDIDATE_SUFFIX}"), *directory.glob(f"*{DIFF_SUFFIX}")]:
            p.unlink(missing_ok=True)


def write_diff(identity: str, lines: Sequence[str], directory: Path = DETECTIONS_DIR) -> Path:
    """Keep an update's diff beside the goldens for review."""
    path = diff_path(identity, directory)
    _write_atomically(path, "\n\n".join(lines) + "\n")
    return path
