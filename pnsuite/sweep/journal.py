"""The sweep's journal: every measured point, appended as one JSON line the moment it is
measured, so an interrupted sweep (Ctrl-C, kill -9, a power cut) resumes without
measuring again what it already has.

Line 1 is `{"journal": 2, "header": {...}}`, the header saying what sweep this is (the
repository, space, windows...): a journal of another sweep is refused, not mixed in.
Each further line is `{"point": SweepPoint.to_json()}`; a later line for a key replaces
an earlier one. A journal of points measured in timed rounds (ROUNDS_FORMAT) is read, to
summarise it, but never resumed: its points were measured another way.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pnsuite.sweep import points as documents
from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.points import PointKey, SweepPoint

#: the journal's format; a reader refuses another, but reads ROUNDS_FORMAT to summarise it
FORMAT = 2
#: the format of journals whose points were measured in timed rounds
ROUNDS_FORMAT = 1
#: the sweep document format in which each journal format writes its points
_POINTS_FORMAT = {FORMAT: documents.FORMAT, ROUNDS_FORMAT: documents.ROUNDS_FORMAT}

_ELSEWHERE = "pass --restart to discard it, or another --out"
_ABSENT = object()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class Journal:
    """An append-only JSON Lines file of a sweep's points (see the module's doc)."""

    def __init__(
        self,
        path: Path,
        header: Mapping[str, Any],
        points: dict[PointKey, SweepPoint],
        torn_lines: int = 0,
    ) -> None:
        self.path = path
        self.header = dict(header)
        self._points = points
        #: a last line cut short (a kill mid-write), dropped when the journal was opened
        self.torn_lines = torn_lines

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], header: Mapping[str, Any], restart: bool = False
    ) -> Journal:
        """The journal at `path`: a new one holding `header`, or the existing one when its
        header equals `header` (compared as JSON). `restart` discards an existing one."""
        path = Path(path)
        # The header as it reads back from JSON (tuples become lists, keys strings).
        header = json.loads(json.dumps(dict(header)))
        if restart or not path.exists():
            _create(path, header)
            return cls(path, header, {})
        return _read(path, header)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Journal:
        """The journal at `path` as it is, whatever sweep wrote it (to summarise it)."""
        path = Path(path)
        if not path.is_file():
            raise SweepError(
                f"no sweep journal at {path}",
                "give the --out folder of a sweep that measured points",
            )
        return _read(path, None)

    def points(self) -> dict[PointKey, SweepPoint]:
        """The points recorded so far, by key (the latest record of a key)."""
        return dict(self._points)

    def append(self, point: SweepPoint) -> None:
        """Record one point; once this returns, the point survives a kill or power cut."""
        line = json.dumps({"point": point.to_json()}) + "\n"
        with open(self.path, "ab") as out:
            out.write(line.encode())
            out.flush()
            os.fsync(out.fileno())
        self._points[point.key] = point


def _create(path: Path, header: Mapping[str, Any]) -> None:
    """Write a journal holding only its header, atomically: a kill leaves either no
    journal (or the old one, on restart) or a whole header, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write((json.dumps({"journal": FORMAT, "header": header}) + "\n").encode())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600: a journal is an artifact to read
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the journal's directory entry durable (Linux; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read(path: Path, header: Mapping[str, Any] | None) -> Journal:
    data = path.read_bytes()
    lines = data.split(b"\n")
    # The text after the last newline: empty when the last append completed.
    tail = lines.pop()
    first = _parse(lines[0]) if lines else None
    if not isinstance(first, dict) or "journal" not in first or "header" not in first:
        raise SweepError(
            f"{path} is not a sweep journal (its first line is no journal header)", _ELSEWHERE
        )
    version = first["journal"]
    if version == ROUNDS_FORMAT and header is not None:
        raise SweepError(
            f"{path} holds points measured in timed rounds (journal format "
            f"{ROUNDS_FORMAT}); this suite measures points in time windows "
            f"(format {FORMAT}) and does not mix the two",
            f"{_ELSEWHERE}; --summarize still reads it as it is",
        )
    if version not in (FORMAT, ROUNDS_FORMAT):
        raise SweepError(
            f"{path} is a sweep journal of format {version!r}; this suite writes format {FORMAT}",
            _ELSEWHERE,
        )
    if header is None:
        header = first["header"]
    else:
        _check_header(path, first["header"], header)

    torn = 0
    points: dict[PointKey, SweepPoint] = {}
    keep = len(lines[0]) + 1
    for number, line in enumerate(lines[1:], start=2):
        point = _point(line, _POINTS_FORMAT[version])
        if point is None and number == len(lines) and not tail:
            # the last whole line is garbage: what a power cut can leave; dropped too
            torn += 1
            break
        if point is None:
            raise SweepError(
                f"{path} line {number} is not a sweep point: "
                f"{line[:80].decode(errors='replace')!r}",
                f"the journal is damaged: {_ELSEWHERE}",
            )
        points[point.key] = point
        keep += len(line) + 1
    if tail:
        torn += 1
    if torn:
        # Cut the torn line off, so the next append starts a line of its own.
        with open(path, "r+b") as out:
            out.truncate(keep)
            out.flush()
            os.fsync(out.fileno())
    return Journal(path, header, points, torn)


def _parse(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _point(line: bytes, points_format: int) -> SweepPoint | None:
    record = _parse(line)
    if not isinstance(record, dict) or not isinstance(record.get("point"), dict):
        return None
    try:
        return SweepPoint.from_json(record["point"], points_format)
    except (KeyError, TypeError, ValueError):
        return None


def _check_header(path: Path, recorded: Any, header: Mapping[str, Any]) -> None:
    if _json(recorded) == _json(header):
        return
    if not isinstance(recorded, dict):
        raise SweepError(
            f"{path} is a journal of another sweep: its header is "
            f"{_json(recorded)}, this sweep's {_json(header)}",
            _ELSEWHERE,
        )
    differing = []
    for key in sorted(set(recorded) | set(header)):
        old, new = recorded.get(key, _ABSENT), header.get(key, _ABSENT)
        if old is _ABSENT or new is _ABSENT or _json(old) != _json(new):
            shown = ["(absent)" if v is _ABSENT else _json(v) for v in (old, new)]
            differing.append(f"{key} (journal: {shown[0]}, this sweep: {shown[1]})")
    raise SweepError(
        f"{path} is a journal of another sweep; its header differs in " + "; ".join(differing),
        _ELSEWHERE,
    )
