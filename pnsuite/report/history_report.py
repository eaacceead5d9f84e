"""A history report: each benchmark series' values in run order with its change points
and release steps (`pnsuite.history.history.analyse`), and a table of them all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timezone
from pathlib import Path
from typing import Any

from pnsuite.history.history import Change, History, KnownStep
from pnsuite.report import charts
from pnsuite.report.html import write_report
from pnsuite.verdict.gate_text import UNITS

TEMPLATE = "history.html.j2"


def _event(number: int, item: History, event: KnownStep | Change) -> dict[str, Any]:
    """A change point or release step as the table shows it."""
    points = item.series.points
    before, after = points[event.index - 1], points[event.index]
    if isinstance(event, KnownStep):
        kind, p_value, what = "known step", None, "; ".join(event.changes)
    else:
        kind, p_value, what = event.kind, event.p_value, ""
    return {
        "series": number, "benchmark": item.series.benchmark,
        "short": charts.short_benchmark(item.series.benchmark),
        "kind": kind,
        "between": f"#{event.index - 1} and #{event.index}",
        "index": event.index,
        "time": after.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "commits": f"{before.commit}..{after.commit}",
        "relative_change": event.relative_change,
        "p_value": p_value,
        "what": what,
    }


def write_history_report(histories: Sequence[History], out_dir: str | Path) -> Path:
    """Write the histories' report.html and one PNG per series into `out_dir`; the page's
    path."""
    plots: list[dict[str, Any]] = []
    pngs: dict[str, bytes] = {}
    events = []
    for number, item in enumerate(histories, start=1):
        s = item.series
        scale, unit = UNITS.get(s.metric, (1.0, ""))
        name = f"series-{number:02d}"
        pngs[name] = charts.history(item, scale, unit)
        plots.append({"name": name, "title": f"{number}. {charts.short_benchmark(s.benchmark)}",
                      "caption": f"{s.metric} of {len(s.points)} runs on {s.machine or '?'}; "
                                 "solid lines: change points, dashed: release steps"
                                 + (f"; {len(s.disturbed)} disturbed run(s) left out"
                                    if s.disturbed else "") + ".",
                      "benchmark": s.benchmark, "changes": len(item.changes),
                      "steps": len(item.known_steps)})
        steps_and_changes: list[KnownStep | Change] = [*item.known_steps, *item.changes]
        ordered = sorted(steps_and_changes, key=lambda e: (e.index, isinstance(e, Change)))
        events += [_event(number, item, e) for e in ordered]
    metrics = sorted({h.series.metric for h in histories})
    context = {"plots": plots, "events": events, "metrics": metrics,
               "runs": sum(len(h.series.points) for h in histories),
               "changes": sum(len(h.changes) for h in histories),
               "steps": sum(len(h.known_steps) for h in histories),
               "regressions": sum(len(h.regressions_in_last_segment()) for h in histories)}
    return write_report(out_dir, TEMPLATE, context, pngs)
