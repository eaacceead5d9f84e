"""A capacity report: each configuration's answer (streams at F fps within the deadline,
and the power there), its latency-against-streams curve, and every run of the search."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pnsuite.report import charts
from pnsuite.report.html import write_report

TEMPLATE = "capacity.html.j2"


def write_capacity_report(configurations: Sequence[dict[str, Any]], out_dir: str | Path) -> Path:
    """Write report.html and the curves' PNG into `out_dir`, from the documents
    `peoplenet-capacity --json` wrote (one per repository); the page's path."""
    pngs = {"latency-by-streams": charts.capacity_curves(configurations)}
    best = max(configurations, key=lambda d: d["streams"], default=None)
    context = {"configurations": configurations,
               "best": best["repo"] if best and best["streams"] else None,
               "plot": {"name": "latency-by-streams", "title": "Latency against streams",
                        "caption": "p99 of the frames' due-to-answer latency in each run of "
                                   "the search and its confirmations; the dashed line is "
                                   "the deadline."}}
    return write_report(out_dir, TEMPLATE, context, pngs)
