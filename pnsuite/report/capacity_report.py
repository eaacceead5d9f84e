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
    ("streams", "camera streams at once, each sending one frame every 1/fps seconds and "
                "holding at most one frame in flight"),
    ("rule", "when a run meets the deadline: the frames' latency at the percentile within "
             "the deadline, and at most that share of frames late or dropped"),
    ("search", "a run of the search: streams doubled until the rule failed, then the gap "
               "halved, on one server"),
    ("confirm", "a confirmation of the answer on a server started afresh"),
    ("met yes / no", "whether the run met the rule; \"why\" says what failed"),
    ("p50, p99", "the frames' latency from when each was due to its answer (waiting behind "
                 "the stream's previous frame counts)"),
    ("frames due", "frames the streams' cameras produced in the counted seconds"),
    ("dropped", "frames never sent: a newer frame arrived while they waited"),
    ("send lateness p99", "how late the client sent frames it owed no wait (its own "
                          "schedule's slack; large values mean the client fell behind)"),
    ("Triton queue, halves", "Triton's queue time per inference in the first and second "
                             "half of the run (a queue that grows shows in the second)"),
    ("W per stream", "the power at the answer over its streams, where a monitor read it"),
    ("or more", "the answer is the most streams tried (--max-streams): it may serve more"),
)


def short_name(repo: str) -> str:
    """A repository's folder name, as the tables and the plot name a configuration."""
    return repo.rstrip("/").rsplit("/", 1)[-1]


def why_best(configurations: Sequence[dict[str, Any]]) -> str | None:
    """Why the configuration serving most streams won, from its runs: the answer met the
    rule in the search and its confirmations, and one stream more did not; None when none
    served a stream."""
    best = max(configurations, key=lambda d: d["streams"], default=None)
    if best is None or not best["streams"]:
        return None
    n, name = best["streams"], short_name(best["repo"])
    tied = [short_name(d["repo"]) for d in configurations
            if d is not best and d["streams"] == n]
    at_answer = [r for r in best["runs"] if r["streams"] == n and r["met"]]
    confirmed = sum(bool(r["confirming"]) for r in at_answer)
    failed_above = sorted((r for r in best["runs"] if r["streams"] > n and not r["met"]),
                          key=lambda r: r["streams"])
    p99 = max((r["latency_ms"]["p99"] for r in at_answer), default=None)
    text = (f"{name} serves the most streams: {n} at {best['fps']:g} fps each, within "
            f"the rule ({best['rule']})")
    if p99 is not None:
        text += f"; its frames' p99 at {n} streams was at most {p99:.0f} ms"
    text += (f". {n} streams met the rule in the search and in {confirmed} confirmation "
             f"run{'s' if confirmed != 1 else ''} on fresh servers")
    if best.get("capped"):
        text += "; it is the most streams tried, so it may serve more."
    elif failed_above:
        first = failed_above[0]
        text += f"; {first['streams']} streams did not ({first['why']})."
    else:
        text += "."
    others = sorted((d for d in configurations if d is not best and d["streams"] < n),
                    key=lambda d: -d["streams"])
    if tied:
        text += f" Tied with {', '.join(tied)} ({n} streams)."
    elif others:
        text += (f" Next: {short_name(others[0]['repo'])} with {others[0]['streams']} "
                 f"stream{'s' if others[0]['streams'] != 1 else ''}.")
    return text


def write_capacity_report(configurations: Sequence[dict[str, Any]], out_dir: str | Path) -> Path:
    """Write report.html and the curves' PNG into `out_dir`, from the documents
    `peoplenet-capacity --json` wrote (one per repository); the page's path."""
    best = max(configurations, key=lambda d: d["streams"], default=None)
    best_repo = best["repo"] if best and best["streams"] else None
    pngs = {"latency-by-streams": charts.capacity_curves(configurations, best=best_repo)}
    # Documents written before the times were recorded have none: the page says so.
    starts = [d["started"] for d in configurations if d.get("started")]
    ends = [d["finished"] for d in configurations if d.get("finished")]
    context = {"configurations": configurations, "best": best_repo,
               "why_best": why_best(configurations), "codes": CODES,
               "short": {d["repo"]: short_name(d["repo"]) for d in configurations},
               "when_measured": span(min(starts, default=None), max(ends, default=None)),
               "plot": {"name": "latency-by-streams", "title": "Latency against streams",
                        "caption": "p99 of the frames' due-to-answer latency in each run of "
                                   "the search and its confirmations (filled: the run met "
                                   "the rule); the dashed line is the deadline, the star the "
                                   "answer of the configuration serving most."}}
    return write_report(out_dir, TEMPLATE, context, pngs)
