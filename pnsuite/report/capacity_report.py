"""A capacity report: each configuration's answer (streams at F fps within the deadline,
and the power there), why the one serving most won, its latency-against-streams curve,
and every run of the search."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pnsuite.report import charts
from pnsuite.report.html import span, write_report

TEMPLATE = "capacity.html.j2"

#: what the tables' words and columns mean
CODES = (
    (
        "streams",
        "camera streams at once, each sending one frame every 1/fps seconds and "
        "holding at most one frame in flight",
    ),
    (
        "rule",
        "when a run meets the deadline: the frames' latency at the percentile within "
        "the deadline, and at most that share of frames late or dropped",
    ),
    (
        "search",
        "a run of the search: streams doubled until the rule failed, then the gap "
        "halved, on one server",
    ),
    ("confirm", "a confirmation of the answer on a server started afresh"),
    ("met yes / no", 'whether the run met the rule; "why" says what failed'),
    (
        "p50, p99",
        "the frames' latency from when each was due to its answer (waiting behind "
        "the stream's previous frame counts)",
    ),
    ("frames due", "frames the streams' cameras produced in the counted seconds"),
    ("dropped", "frames never sent: a newer frame arrived while they waited"),
    (
        "send lateness p99",
        "how late the client sent frames it owed no wait (its own "
        "schedule's slack; large values mean the client fell behind)",
    ),
    (
        "Triton queue, halves",
        "Triton's queue time per inference in the first and second "
        "half of the run (a queue that grows shows in the second)",
    ),
    ("fps", "frames per second each stream's camera produces"),
    ("power (W)", "the mean power during the runs at the answer, where a monitor read it"),
    ("W per stream", "that power over the answer's streams"),
    ("or more", "the answer is the most streams tried (--max-streams): it may serve more"),
)


def short_name(repo: str) -> str:
    """A repository's folder name, as the tables and the plot name a configuration."""
    return repo.rstrip("/").rsplit("/", 1)[-1]


def _answer(doc: dict[str, Any]) -> str:
    """What one configuration's runs say about its answer: where it met the rule in the
    search and its confirmations, and the first number of streams that did not."""
    n = doc["streams"]
    at_answer = [r for r in doc["runs"] if r["streams"] == n and r["met"]]
    confirmed = sum(bool(r["confirming"]) for r in at_answer)
    p99 = max((r["latency_ms"]["p99"] for r in at_answer), default=None)
    runs = f"{confirmed} confirmation run{'s' if confirmed != 1 else ''} on fresh servers"
    # the search may have stepped down to the answer without trying it (its confirmations
    # of more streams failed): then only the confirmations met it
    searched = any(not r["confirming"] for r in at_answer)
    text = f"{short_name(doc['repo'])}: {n} stream{'s' if n != 1 else ''} met the rule " + (
        f"in the search and in {runs}" if searched else f"in {runs}"
    )
    if p99 is not None:
        text += f" (frames' p99 at most {p99:.0f} ms)"
    failed = sorted(
        (r for r in doc["runs"] if r["streams"] > n and not r["met"]),
        key=lambda r: (r["streams"], r["confirming"]),
    )
    if doc.get("capped"):
        text += "; it is the most streams tried, so it may serve more"
    elif failed:
        first = failed[0]
        how = "its confirmation" if first["confirming"] else "the search"
        # the rule's first failed clause is enough here; the table has the whole reason
        text += f"; {first['streams']} streams did not in {how} ({first['why'].split(';')[0]})"
    return text + "."


def leaders(configurations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configurations serving the most streams (several when tied); none when no
    configuration served a stream."""
    most = max((d["streams"] for d in configurations), default=0)
    return [d for d in configurations if most and d["streams"] == most]


def why_best(configurations: Sequence[dict[str, Any]]) -> str | None:
    """Why the configuration serving most streams won, from its runs: the answer met the
    rule in the search and its confirmations, and one stream more did not; configurations
    tied for the most are named together. None when none served a stream."""
    best = leaders(configurations)
    if not best:
        return None
    n, fps = best[0]["streams"], best[0]["fps"]
    names = [short_name(d["repo"]) for d in best]
    if len(best) == 1:
        text = f"{names[0]} serves the most streams: {n} at {fps:g} fps each"
    else:
        text = (
            f"{' and '.join(names)} tie for the most streams: {n} at {fps:g} fps each "
            "(choose between them by what else matters, e.g. latency or power)"
        )
    text += f", within the rule ({best[0]['rule']}). " + " ".join(_answer(d) for d in best)
    others = sorted((d for d in configurations if d not in best), key=lambda d: -d["streams"])
    if others:
        text += (
            f" Next: {short_name(others[0]['repo'])} with {others[0]['streams']} "
            f"stream{'s' if others[0]['streams'] != 1 else ''}."
        )
    return text


def write_capacity_report(configurations: Sequence[dict[str, Any]], out_dir: str | Path) -> Path:
    """Write report.html and the curves' PNG into `out_dir`, from the documents
    `peoplenet-capacity --json` wrote (one per repository); the page's path."""
    best = [d["repo"] for d in leaders(configurations)]
    pngs = {"latency-by-streams": charts.capacity_curves(configurations, best=best)}
    # Documents written before the times were recorded have none: the page says so.
    starts = [d["started"] for d in configurations if d.get("started")]
    ends = [d["finished"] for d in configurations if d.get("finished")]
    context = {
        "configurations": configurations,
        "best": best,
        "most": "most streams" if len(best) == 1 else "most streams, tied",
        "why_best": why_best(configurations),
        "codes": CODES,
        "short": {d["repo"]: short_name(d["repo"]) for d in configurations},
        "when_measured": span(min(starts, default=None), max(ends, default=None)),
        "plot": {
            "name": "latency-by-streams",
            "title": "Latency against streams",
            "caption": "p99 of the frames' due-to-answer latency in each run of "
            "the search and its confirmations (filled: the run met "
            "the rule); the dashed line is the deadline; a star marks "
            "the answer of the configuration serving most (each, when "
            "tied).",
        },
    }
    return write_report(out_dir, TEMPLATE, context, pngs)
