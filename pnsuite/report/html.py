"""Rendering a report: the Jinja2 environment of the report templates, the filters they
format values with, and `write_report`, which puts report.html and its PNGs in a folder.

The page must read offline from a CI artifact, so every PNG is embedded in it as a data:
URI; the same PNGs are written beside it as files, for a reader who wants one plot.
Autoescaping is on: repository names, benchmark names and error texts come from outside.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pnsuite.errors import SuiteError

#: the page's file name in the report folder
REPORT_FILE = "report.html"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: what an empty or unknown value shows as
MISSING = "\u2013"
# A plot's name becomes a file name and an element id: keep it to safe characters.
_PLOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}$")


class ReportError(SuiteError):
    """A report cannot be written (its folder, an input file)."""

    default_hint = "see `peoplenet-report --help`"


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, for an <img> that needs no file beside the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, digits: int = 1) -> str:
    """A number with `digits` decimals; MISSING for None or nan."""
    return MISSING if _missing(value) else f"{float(value):.{digits}f}"


def percent(value: Any, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage (0.123 -> 12.3%); MISSING for None or nan."""
    if _missing(value):
        return MISSING
    return f"{float(value):+.{digits}%}" if signed else f"{float(value):.{digits}%}"


def sort_key(value: Any) -> str:
    """A cell's data-sort value for the tables' sort script: numbers as numbers, empty for
    a missing value (sorted last), anything else as its text."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(float(value))
    return str(value)


#: how every page writes a time: one format, always in UTC, so that the header's times, the
#: run's and the tables' read alike
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


def utc(value: Any) -> str:
    """A time as the pages show it (TIME_FORMAT): an ISO 8601 text (one without an offset
    is read as UTC, as pytest-benchmark writes it), a datetime, or seconds since the epoch
    (0 or less: unknown); MISSING when there is none or it cannot be read."""
    if _missing(value) or value == "":
        return MISSING
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, (int, float)):
        if value <= 0:
            return MISSING
        when = dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    else:
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return MISSING
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime(TIME_FORMAT)


def span(first: Any, last: Any) -> str | None:
    """When something was measured, as the pages say it: `A to B` (`A` alone when both
    are the same minute); None when neither is known."""
    a, b = utc(first), utc(last)
    if a == MISSING and b == MISSING:
        return None
    return a if a == b else f"{a} to {b}"


def display(value: Any) -> str:
    """A machine_info value as a table shows it: lists and mappings as JSON, None as MISSING."""
    if value is None:
        return MISSING
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level, their keys joined with dots (`cpu.count`)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


@functools.cache
def environment() -> Environment:
    """The report templates' environment: autoescaped, strict about undefined names (a
    misspelt name in a template fails the report, not shows an empty cell)."""
    env = Environment(
        loader=PackageLoader("pnsuite.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        data_uri=data_uri,
        number=number,
        percent=percent,
        sort_key=sort_key,
        display=display,
        utc=utc,
    )
    return env


def write_report(
    out_dir: str | Path, template: str, context: Mapping[str, Any], pngs: Mapping[str, bytes]
) -> Path:
    """Render `template` with `context` (and `pngs`, the plots by name) into
    `out_dir/report.html`, and write each plot to `out_dir/NAME.png`; the page's path."""
    for name, png in pngs.items():
        if not _PLOT_NAME.match(name):
            raise ValueError(f"plot name {name!r} is not usable as a file name")
        if not png.startswith(PNG_SIGNATURE):
            raise ValueError(f"plot {name!r} is not a PNG")
    generated = utc(dt.datetime.now(dt.timezone.utc))
    # "when_measured": when the data on the page was measured (each report says it from its
    # input), shown in the header beside when the page was written: a page drawn again
    # later must not read as if its numbers were that new.
    page = (
        environment()
        .get_template(template)
        .render({"generated": generated, "when_measured": None, **context, "pngs": dict(pngs)})
    )
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, png in pngs.items():
            (out / f"{name}.png").write_bytes(png)
        # The page last: a report.html in the folder means its plots are there too.
        (out / REPORT_FILE).write_text(page, encoding="utf-8")
    except OSError as err:
        raise ReportError(
            f"cannot write the report into {out} ({err.strerror or err})",
            "give -o a folder this user can write",
        ) from None
    return out / REPORT_FILE
