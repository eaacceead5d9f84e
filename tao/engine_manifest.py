"""Write engine.json: what one TensorRT plan was built from, with what, and where.

tao/lib.sh's place_plan writes one beside every model.plan it places, so that golden
detections can be tied to the engine that produced them. Standard library only, and
nothing newer than Python 3.6: it runs with the device's own python3 (JetPack 4 has 3.6).

    python3 tao/engine_manifest.py --output DIR/engine.json --plan DIR/model.plan \
        --source-model FILE --precision fp16 --converter trtexec --converter-command '...' \
        --tensorrt-version 8.6.2 --device '...' [--ngc-version NAME:VERSION]

Prints nothing on success; a problem goes to stderr with exit status 2.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

FORMAT = 1
PRECISIONS = ("fp16", "int8")
CONVERTERS = ("tao-converter", "trtexec")


class ManifestError(Exception):
    """A file the manifest describes cannot be read, or the manifest cannot be written."""


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a file's bytes, read in blocks (a plan can be large)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e.strerror or e}") from e
    return digest.hexdigest()


def utc_now() -> str:
    """The current UTC time as ISO-8601 to the second, e.g. 2026-12-01T15:04:05Z."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_manifest(args: argparse.Namespace) -> dict:
    """The manifest's fields, in the order the suite's reader documents them."""
    return {
        "format": FORMAT,
        "plan_sha256": sha256_of(args.plan),
        "tensorrt_version": args.tensorrt_version,
        "precision": args.precision,
        "source_model": {
            "file": args.source_model.name,
            "sha256": sha256_of(args.source_model),
            "ngc_version": args.ngc_version,
        },
        "converter": args.converter,
        "converter_command": args.converter_command,
        "device": args.device,
        "built_at": utc_now(),
    }


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`.

    A reader sees the old manifest or the new one, never half of one.
    """
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(str(tmp), str(path))
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ManifestError(f"cannot write {path}: {e.strerror or e}") from e


def _non_empty(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def parse_args(argv: "Sequence[str]") -> argparse.Namespace:
    """The command line; argparse itself exits 2 with a message on stderr for a bad one."""
    parser = argparse.ArgumentParser(
        prog="engine_manifest.py",
        description="Write engine.json describing one TensorRT plan (see tao/README.md).")
    parser.add_argument("--output", type=Path, required=True, help="the engine.json to write")
    parser.add_argument("--plan", type=Path, required=True, help="the model.plan it describes")
    parser.add_argument("--source-model", type=Path, required=True,
                        help="the .etlt or .onnx the plan was built from")
    parser.add_argument("--ngc-version", default="",
                        help="the NGC model version, NAME:VERSION ('' when not known)")
    parser.add_argument("--tensorrt-version", type=_non_empty, required=True,
                        help="TensorRT's version, or 'unknown'")
    parser.add_argument("--precision", choices=PRECISIONS, required=True)
    parser.add_argument("--converter", choices=CONVERTERS, required=True)
    parser.add_argument("--converter-command", type=_non_empty, required=True,
                        help="the converter's command line as shown (secrets masked)")
    parser.add_argument("--device", type=_non_empty, required=True,
                        help="the device the plan was built on")
    return parser.parse_args(argv)


def main(argv: "Sequence[str]") -> int:
    """Write the manifest; 0 on success, 2 (with a message on stderr) on a problem."""
    args = parse_args(argv)
    try:
        manifest = build_manifest(args)
        write_atomically(args.output, json.dumps(manifest, indent=2) + "\n")
    except ManifestError as e:
        print(f"engine_manifest.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
