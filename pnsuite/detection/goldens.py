"""Golden detections: expected boxes per image, per model identity.

A golden file (`fixtures/golden/detections/<identity>.json`) holds what one model found on
every golden image in a run someone trusted, and names that model: its identity, the
digest of the parts of its loaded config that decide its answers, and the Triton version
it was recorded with. Goldens of one model are never compared with another.

The stand-in declares its identity (config parameter `model_identity`); a model without
one (TensorRT PeopleNet) is named from its config: `<name>-<platform>`.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from pnsuite.detection import box_matching
from pnsuite.errors import SuiteError
from pnsuite.paths import GOLDEN_DETECTIONS, GOLDEN_IMAGES
from pnsuite.detection.detectnet import Detection
from pnsuite.repository.model_config import ModelConfig, config_digest, model_identity

IMAGE_DIR = GOLDEN_IMAGES
DETECTIONS_DIR = GOLDEN_DETECTIONS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FORMAT_VERSION = 1
RECORD_HINT = ("to record them from a run you trust:\n"
               "    pytest tests/functional/test_golden_detections.py --update-goldens {options}\n"
               "then review the diff summary it prints and commit {path}")


class GoldenError(SuiteError):
    """A golden file that is missing, or made for another model: says what to do."""


def golden_images(directory: Path = IMAGE_DIR) -> list[Path]:
    """The golden images, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def answer_digest(config: ModelConfig) -> str:
    """Digest of what decides a model's answers: platform/backend, tensors, batch limit
    and parameters. Instance groups and batching are left out: they must not change
    the boxes (the consistency tests check that), so both sample repos share goldens."""
    kept = ModelConfig(name=config.name, platform=config.platform, backend=config.backend,
                       max_batch_size=config.max_batch_size)
    kept.input.extend(config.input)
    kept.output.extend(config.output)
    for key in sorted(config.parameters):
        kept.parameters[key].CopyFrom(config.parameters[key])
    return config_digest(kept)


@dataclass(frozen=True)
class ModelUnderTest:
    """Who answered: the identity goldens are filed under, and what it was built from."""

    identity: str
    config_digest: str
    triton_version: str
    platform: str

    @classmethod
    def from_server(cls, client: Any, model: str = "peoplenet") -> "ModelUnderTest":
        config = client.get_model_config(model).config
        version = client.get_server_metadata().version
        return cls(model_identity(config), answer_digest(config), version,
                   config.platform or config.backend)

    @property
    def file_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.identity) + ".json"


def golden_path(model: ModelUnderTest, directory: Path = DETECTIONS_DIR) -> Path:
    """Where the goldens of `model` live (or would)."""
    return directory / model.file_name


def _detection_json(det: Detection) -> dict[str, Any]:
    return {"label": det.label, "score": round(det.score, 4),
            "box": [round(v, 2) for v in det.box]}


def _detection_from_json(item: dict[str, Any]) -> Detection:
    return Detection(item["label"], float(item["score"]), *map(float, item["box"]))


@dataclass
class GoldenFile:
    """One model's expected detections for every golden image."""

    model_identity: str
    config_digest: str
    triton_version: str
    platform: str
    images: dict[str, list[Detection]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "GoldenFile":
        data = json.loads(Path(path).read_text())
        return cls(data["model_identity"], data["config_digest"], data["triton_version"],
                   data.get("platform", ""),
                   {name: [_detection_from_json(d) for d in dets]
                    for name, dets in data["images"].items()})

    def write(self, path: Path) -> None:
        header = {"format": FORMAT_VERSION, "model_identity": self.model_identity,
                  "config_digest": self.config_digest, "triton_version": self.triton_version,
                  "platform": self.platform}
        # One box per line: reviewable diffs when goldens are re-recorded.
        lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
        lines.append(' "images": {')
        items = sorted(self.images.items())
        for i, (name, dets) in enumerate(items):
            boxes = ",\n".join(f"   {json.dumps(_detection_json(d))}" for d in dets)
            body = f"[\n{boxes}\n  ]" if dets else "[]"
            lines.append(f"  {json.dumps(name)}: {body}{',' if i < len(items) - 1 else ''}")
        lines += [" }", "}"]
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)

    def detections(self, image: str, record_options: str = "") -> list[Detection]:
        """Expected boxes for one image, or GoldenError saying how to record them."""
        if image not in self.images:
            raise GoldenError(f"the goldens of {self.model_identity!r} have no entry for "
                              f"{image}; " + RECORD_HINT.format(options=record_options,
                                                               path="the golden file"))
        return self.images[image]


def load_golden(model: ModelUnderTest, path: Path | None = None,
                record_options: str = "") -> GoldenFile:
    """The golden file for `model`; GoldenError if it is missing or made for another model.

    `record_options` are the pytest options (launcher, repos) to quote in the how-to.
    """
    path = path or golden_path(model)
    if not path.is_file():
        raise GoldenError(f"no golden detections for model {model.identity!r} "
                          f"(expected {path}); " + RECORD_HINT.format(options=record_options,
                                                                      path=path))
    golden = GoldenFile.read(path)
    if golden.model_identity != model.identity:
        raise GoldenError(
            f"refusing to compare: {path} holds goldens of model {golden.model_identity!r}, "
            f"but the server runs {model.identity!r} ({model.platform}). Goldens of one "
            f"model say nothing about another; record this model's own with --update-goldens.")
    if golden.config_digest != model.config_digest:
        raise GoldenError(
            f"refusing to compare: {path} was recorded for {golden.model_identity!r} with "
            f"config digest {golden.config_digest}, the server's config digests to "
            f"{model.config_digest} (its tensors, batch limit, platform or parameters "
            f"changed). If the change is intended, re-record the goldens; "
            + RECORD_HINT.format(options=record_options, path=path))
    return golden


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # pytest-xdist workers record images of one file at once: serialize read-modify-write.
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def record(model: ModelUnderTest, image: str, detections: Sequence[Detection],
           directory: Path = DETECTIONS_DIR) -> str:
    """Write `detections` as the golden of `image` for `model`; return a diff summary line.

    A file made for another identity or config digest is started afresh (its old entries
    no longer describe this model).
    """
    path = golden_path(model, directory)
    with _locked(directory):
        old: GoldenFile | None = GoldenFile.read(path) if path.is_file() else None
        fresh = GoldenFile(model.identity, model.config_digest, model.triton_version,
                           model.platform)
        if old is not None and (old.model_identity, old.config_digest) == \
                (model.identity, model.config_digest):
            fresh.images = dict(old.images)
        previous = fresh.images.get(image)
        fresh.images[image] = list(detections)
        fresh.write(path)
    return f"{path.name} {image}: {diff_summary(previous, detections)}"


def diff_summary(old: Sequence[Detection] | None, new: Sequence[Detection]) -> str:
    """What changed between two golden entries, in one line."""
    if old is None:
        return f"new, {len(new)} boxes"
    report = box_matching.match(old, new)
    moved = len(report.off_pairs)
    if report.ok and not report.missing and not report.extra and not moved:
        return f"unchanged within tolerances ({len(new)} boxes)"
    return (f"{len(old)} -> {len(new)} boxes: {len(report.extra)} added, "
            f"{len(report.missing)} removed, {moved} moved or rescored")
