"""What engine answers: a TensorRT plan's sha256 and what `tao/` recorded about its build.

The boxes of a TensorRT PeopleNet are decided by its plan: the TensorRT version that built
it, the precision (FP16 or INT8), and the NGC model file it came from. `tao/` writes those
beside the plan as `<model>/<version>/engine.json`; the plan's sha256 is taken from the
file itself, so a plan rebuilt by hand (no manifest) is still told apart, and a manifest
left over from another plan is refused. Triton's version is not part of it: a server
upgrade that keeps the plan must be judged by the same goldens.

A model without a plan (the stand-ins, python backend) has an empty identity: its answers
are decided by its declared `model_identity` and config (see `pnsuite.detection.goldens`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from pnsuite.errors import SuiteError
from pnsuite.repository.model_config import ModelConfig

MANIFEST_NAME = "engine.json"
DEFAULT_PLAN_NAME = "model.plan"
MANIFEST_FORMAT = 1


class EngineManifestError(SuiteError):
    """An engine.json that does not describe the plan beside it."""

    default_hint = (
        "rebuild the plan with tao/convert-etlt.sh or tao/convert-onnx.sh (they "
        "write engine.json beside it), or delete the stale engine.json"
    )


@dataclass(frozen=True)
class EngineIdentity:
    """The engine behind a model's answers; empty fields are unknown or not applicable."""

    plan_sha256: str = ""
    tensorrt_version: str = ""
    precision: str = ""
    ngc_version: str = ""
    source_model_sha256: str = ""
    #: why nothing could be read (e.g. an external server's files are not visible)
    unreadable: str = ""

    @property
    def has_plan(self) -> bool:
        return bool(self.plan_sha256)

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v and k != "unreadable"}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> EngineIdentity:
        known = {f.name for f in fields(cls)} - {"unreadable"}
        return cls(**{k: str(v) for k, v in (data or {}).items() if k in known})

    def describe(self) -> str:
        if self.unreadable:
            return f"unknown ({self.unreadable})"
        if not self.has_plan:
            return "no plan"
        parts = [f"plan sha256 {self.plan_sha256[:12]}"]
        parts += [
            f"{label} {value}"
            for label, value in (
                ("TensorRT", self.tensorrt_version),
                ("precision", self.precision),
                ("from", self.ngc_version),
            )
            if value
        ]
        return ", ".join(parts)

    def rebuild_of(self, recorded: EngineIdentity) -> bool:
        """Whether this plan is `recorded`'s rebuilt: another plan file from the same source
        model, precision and TensorRT version, all known on both sides. TensorRT picks its
        tactics by timing, so such a rebuild is not bit-identical, yet it answers within
        the goldens' tolerance unless something is wrong with it."""
        same = ("tensorrt_version", "precision", "source_model_sha256")
        return (
            self.has_plan
            and recorded.has_plan
            and self.plan_sha256 != recorded.plan_sha256
            and all(getattr(self, f) and getattr(self, f) == getattr(recorded, f) for f in same)
        )

    def differences(self, other: EngineIdentity) -> list[str]:
        """What differs between this (recorded) engine and `other` (the one serving now):
        every field known on both sides, and a plan on one side only."""
        if self.has_plan != other.has_plan:
            return [f"plan: {self.describe()} vs {other.describe()}"]
        out = []
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name != "unreadable" and mine and theirs and mine != theirs:
                out.append(f"{f.name}: {mine} vs {theirs}")
        return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version_dir(model_dir: Path) -> Path | None:
    # Triton's default version policy serves the highest numbered version.
    versions = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, key=lambda p: int(p.name)) if versions else None


def read_engine(
    repo: Path | None,
    config: ModelConfig,
    model: str = "peoplenet",
) -> EngineIdentity:
    """The engine of `model` in the local repository `repo` (None: the server's files are
    not visible here). Raises EngineManifestError for a manifest of another plan."""
    if config.platform != "tensorrt_plan":
        return EngineIdentity()
    if repo is None:
        return EngineIdentity(
            unreadable="an external server: its model files are not visible to the suite"
        )
    version = _version_dir(repo / model) if (repo / model).is_dir() else None
    plan = version / (config.default_model_filename or DEFAULT_PLAN_NAME) if version else None
    if plan is None or not plan.is_file():
        return EngineIdentity(unreadable=f"no plan found under {repo / model}")
    plan_sha = _sha256(plan)
    manifest_path = plan.parent / MANIFEST_NAME
    if not manifest_path.is_file():
        return EngineIdentity(plan_sha256=plan_sha)
    try:
        manifest = json.loads(manifest_path.read_text())
        recorded = str(manifest["plan_sha256"])
    except (ValueError, KeyError, TypeError) as err:
        raise EngineManifestError(f"{manifest_path} is not an engine manifest ({err})") from None
    if recorded != plan_sha:
        raise EngineManifestError(
            f"{manifest_path} describes a plan with sha256 {recorded[:12]}, but {plan} has "
            f"sha256 {plan_sha[:12]}: the plan was replaced without its manifest"
        )
    source = manifest.get("source_model") or {}
    return EngineIdentity(
        plan_sha256=plan_sha,
        tensorrt_version=_known(manifest.get("tensorrt_version")),
        precision=_known(manifest.get("precision")),
        ngc_version=_known(source.get("ngc_version")),
        source_model_sha256=_known(source.get("sha256")),
    )


def _known(value: Any) -> str:
    # tao/ writes "unknown" where it could not tell; nothing is compared on it.
    text = "" if value is None else str(value)
    return "" if text == "unknown" else text
