"""pytest-benchmark JSON files into the store: a runner's .benchmarks/, committed results."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pnsuite.store.errors import StoreError
from pnsuite.store.results_store import ResultsStore

_SAVED_NAME = re.compile(r"^(\d{4})_(.+?)(-disturbed)?\.json$")


def label_of(file_name: str) -> tuple[str, bool]:
    """The save name and disturbed flag of a pytest-benchmark file (NNNN_NAME.json)."""
    found = _SAVED_NAME.match(file_name)
    if not found:
        return Path(file_name).stem, False
    return found.group(2), bool(found.group(3))


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def benchmark_files(paths: Sequence[str | Path]) -> list[Path]:
    """The pytest-benchmark JSON files in the given files and folders (recursively);
    other JSON (summaries, reports) and unreadable files are passed over."""
    found: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            candidates = sorted(given.rglob("*.json"))
        elif given.is_file():
            candidates = [given]
        else:
            raise StoreError(
                f"no such file or folder: {given}",
                "give pytest-benchmark's storage folder (.benchmarks) or its JSON files",
            )
        for path in candidates:
            data = _read(path)
            if isinstance(data, dict) and "benchmarks" in data and "machine_info" in data:
                found.append(path)
    return found


def import_files(store: ResultsStore, paths: Iterable[Path]) -> Iterator[tuple[Path, int | None]]:
    """Store each pytest-benchmark JSON file (label from its NNNN_NAME.json name); yields
    (file, run id or None if it was stored already)."""
    for path in map(Path, paths):
        document = _read(path)
        if document is None:
            raise StoreError(f"cannot read {path} as JSON", "import pytest-benchmark's JSON files")
        label, disturbed = label_of(path.name)
        yield path, store.add_run(document, label, str(path), disturbed or None)
