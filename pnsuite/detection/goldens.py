"""Golden detections: expected boxes per image, per model identity and engine.

A golden file (`fixtures/golden/detections/<identity>.json`) holds what one model found on
every golden image in a run someone trusted, and names what answered: the model's
identity, the digest of the parts of its loaded config that decide its answers, its engine
(a TensorRT plan's sha256, TensorRT version, precision and source model:
`pnsuite.repository.engine`), and the Triton version it was recorded with (shown, never
compared: a server upgrade that keeps the engine must be judged by the same goldens).
Goldens of one model or engine are never compared with another's, with one exception: a
plan rebuilt from the same source model, precision and TensorRT version
(`EngineIdentity.rebuild_of`) is judged by the goldens of the plan it replaces, at the
same tolerance, and the run says so.

The stand-in declares its identity (config parameter `model_identity`); a model without
one (TensorRT PeopleNet) is named from its config: `<name>-<platform>`. Recording goes
through `pnsuite.detection.golden_update`, which never blesses a lost box silently.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnsuite.detection.detectnet import Detection
from pnsuite.errors import SuiteError
from pnsuite.paths import GOLDEN_DETECTIONS, GOLDEN_IMAGES
from pnsuite.repository.engine import EngineIdentity, read_engine
from pnsuite.repository.model_config import (
    ModelConfig,
    answers_batch_invariant,
    config_digest,
    model_identity,
)

IMAGE_DIR = GOLDEN_IMAGES
DETECTIONS_DIR = GOLDEN_DETECTIONS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FORMAT_VERSION = 2
RECORD_HINT = (
    "to record them from a run you trust:\n"
    "    pytest tests/functional/test_golden_detections.py --update-goldens {options}\n"
    "then review the diff it prints and commit {path}"
)


class GoldenError(SuiteError):
    """A golden file that is missing, or made for another model: says what to do."""


def golden_images(directory: Path = IMAGE_DIR) -> list[Path]:
    """The golden images, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def answer_digest(config: ModelConfig) -> str:
    """Digest of what decides a model's answers: platform/backend, tensors, batch limit
    and parameters. Instance groups and batching are left out: they must not change
    the boxes (the consistency tests check that), so both sample repos share goldens."""
    kept = ModelConfig(
        name=config.name,
        platform=config.platform,
        backend=config.backend,
        max_batch_size=config.max_batch_size,
    )
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
    engine: EngineIdentity = EngineIdentity()
    #: the model declares that an image's answer never depends on batching or concurrency
    batch_invariant: bool = False

    @classmethod
    def from_server(
        cls, client: Any, repository: Path | None, model: str = "peoplenet"
    ) -> ModelUnderTest:
        """Ask the server what it runs; read the engine from `repository` (the server's
        model repository, None when its files are not visible here)."""
        config = client.get_model_config(model).config
        version = client.get_server_metadata().version
        return cls(
            model_identity(config),
            answer_digest(config),
            version,
            config.platform or config.backend,
            read_engine(repository, config, model),
            answers_batch_invariant(config),
        )

    @property
    def file_name(self) -> str:
        return file_stem(self.identity) + ".json"

    def describe(self) -> str:
        return (
            f"{self.identity} ({self.platform}, config digest {self.config_digest}, "
            f"engine: {self.engine.describe()}, Triton {self.triton_version})"
        )


def file_stem(identity: str) -> str:
    """The file-name form of a model identity."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", identity)


def golden_path(model: ModelUnderTest | str, directory: Path = DETECTIONS_DIR) -> Path:
    """Where the goldens of `model` (or of a model identity) live (or would)."""
    identity = model if isinstance(model, str) else model.identity
    return directory / (file_stem(identity) + ".json")


def detection_json(det: Detection, rounded: bool = True) -> dict[str, Any]:
    """A detection as stored: rounded in golden files (reviewable diffs), exact in
    candidates (repositories of a batch-invariant model are compared for equality)."""
    if not rounded:
        return {"label": det.label, "score": det.score, "box": list(det.box)}
    return {"label": det.label, "score": round(det.score, 4), "box": [round(v, 2) for v in det.box]}


def detection_from_json(item: dict[str, Any]) -> Detection:
    return Detection(item["label"], float(item["score"]), *map(float, item["box"]))


@dataclass
class GoldenFile:
    """One model's expected detections for every golden image."""

    model_identity: str
    config_digest: str
    triton_version: str
    platform: str
    images: dict[str, list[Detection]] = field(default_factory=dict)
    engine: EngineIdentity = EngineIdentity()

    @classmethod
    def for_model(
        cls, model: ModelUnderTest, images: dict[str, list[Detection]] | None = None
    ) -> GoldenFile:
        """An (empty) golden file naming `model` as what answered."""
        return cls(
            model.identity,
            model.config_digest,
            model.triton_version,
            model.platform,
            dict(images or {}),
            model.engine,
        )

    @classmethod
    def read(cls, path: Path) -> GoldenFile:
        try:
            data = json.loads(Path(path).read_text())
            return cls(
                data["model_identity"],
                data["config_digest"],
                data["triton_version"],
                data.get("platform", ""),
                {
                    name: [detection_from_json(d) for d in dets]
                    for name, dets in data["images"].items()
                },
                EngineIdentity.from_json(data.get("engine")),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise GoldenError(
                f"{path} is not a golden file ({type(err).__name__}: {err})",
                "restore it from git, or re-record it with --update-goldens",
            ) from None

    def write(self, path: Path) -> None:
        header = {
            "format": FORMAT_VERSION,
            "model_identity": self.model_identity,
            "config_digest": self.config_digest,
            "triton_version": self.triton_version,
            "platform": self.platform,
            "engine": self.engine.to_json(),
        }
        # One box per line: reviewable diffs when goldens are re-recorded.
        lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
        lines.append(' "images": {')
        items = sorted(self.images.items())
        for i, (name, dets) in enumerate(items):
            boxes = ",\n".join(f"   {json.dumps(detection_json(d))}" for d in dets)
            body = f"[\n{boxes}\n  ]" if dets else "[]"
            lines.append(f"  {json.dumps(name)}: {body}{',' if i < len(items) - 1 else ''}")
        lines += [" }", "}"]
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(path)

    def detections(self, image: str, record_options: str = "") -> list[Detection]:
        """Expected boxes for one image, or GoldenError saying how to record them."""
        if image not in self.images:
            raise GoldenError(
                f"the goldens of {self.model_identity!r} have no entry for "
                f"{image}; " + RECORD_HINT.format(options=record_options, path="the golden file")
            )
        return self.images[image]


def load_golden(
    model: ModelUnderTest, path: Path | None = None, record_options: str = ""
) -> GoldenFile:
    """The golden file for `model`; GoldenError if it is missing or made for another model.

    `record_options` are the pytest options (launcher, repos) to quote in the how-to.
    """
    path = path or golden_path(model)
    if not path.is_file():
        raise GoldenError(
            f"no golden detections for model {model.identity!r} "
            f"(expected {path}); " + RECORD_HINT.format(options=record_options, path=path)
        )
    golden = GoldenFile.read(path)
    if golden.model_identity != model.identity:
        raise GoldenError(
            f"refusing to compare: {path} holds goldens of model {golden.model_identity!r}, "
            f"but the server runs {model.identity!r} ({model.platform}). Goldens of one "
            f"model say nothing about another; record this model's own with --update-goldens."
        )
    if golden.config_digest != model.config_digest:
        raise GoldenError(
            f"refusing to compare: {path} was recorded for {golden.model_identity!r} with "
            f"config digest {golden.config_digest}, the server's config digests to "
            f"{model.config_digest} (its tensors, batch limit, platform or parameters "
            f"changed). If the change is intended, re-record the goldens; "
            + RECORD_HINT.format(options=record_options, path=path)
        )
    if golden.engine.has_plan and model.engine.unreadable:
        raise GoldenError(
            f"refusing to compare: {path} was recorded for the engine "
            f"{golden.engine.describe()}, and the engine the server runs cannot be identified: "
            f"{model.engine.unreadable}.",
            "start the server through the suite (--triton-launcher release or docker, with "
            "--triton-repos naming its repository) so that the plan can be read",
        )
    differences = golden.engine.differences(model.engine)
    # A rebuilt plan (same model, precision and TensorRT) is judged by the goldens at
    # their tolerance: a cache miss must not turn the functional suite red by itself.
    if differences and not model.engine.rebuild_of(golden.engine):
        raise GoldenError(
            f"refusing to compare: {path} was recorded for another engine than the one the "
            f"server runs ({'; '.join(differences)}). Goldens of one plan do not judge "
            f"another (an FP16 plan's boxes are not an INT8 plan's). Re-record them: the "
            f"update compares the new boxes with these and fails if a confident box is lost; "
            + RECORD_HINT.format(options=record_options, path=path)
        )
    return golden
