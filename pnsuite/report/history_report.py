"""A history report: each benchmark series' values in run order with its change points
and release steps (`pnsuite.history.history.analyse`), and a table of them all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pnsuite.history.history import Change, History, KnownStep
from pnsuite.report import charts
from pnsuite.report.html import span, utc, write_report
from pnsuite.verdict.gate_text import UNITS

#: the plots' units: the gate's, and inference_ms's own (the gate's table prints it bare)
CHART_UNITS = {**UNITS, "inference_ms": (1.0, "ms")}

TEMPLATE = "history.html.j2"

#: what each metric's value of one run is (docs/history.md)
METRIC_CODES = {
    "round_s": "one run's median round (a window of the load), shown in ms; the windows "
    "are sized to last about a second, so inference_ms follows speed better",
    "inference_ms": "one run's mean time per inference at the benchmark's concurrency "
    "(1000 / throughput; the gate's metric)",
    "compute_infer_ms": "Triton's compute_infer time per inference in one run",
    "latency_p99_ms": "the client's 99th-percentile request latency in one run",
}
#: the table's words
EVENT_CODES = (
    (
        "regression",
        "a change point after which the values are higher (slower): found by "
        "E-divisive means, significant at p below alpha",
    ),
    ("improvement", "a change point after which the values are lower (faster)"),
    (
        "known step",
        "a new Triton or JetPack release between two runs: a step is expected "
        "there and never called a regression (dashed in the plots)",
    ),
    (
        "#a and #b",
        "the two runs the change lies between, numbered as the plots' run # axis "
        "(0 is the oldest run)",
    ),
    ("commits", "the commits of those two runs (before..after)"),
    ("relative change", "the change of the medians on either side"),
    ("p", "the permutation test's p-value of a change point (\u2013 for a known step)"),
    ("series", "one benchmark on one machine identity; its number is its plot's"),
    ("run files", "the files of the two runs, as pytest-benchmark saved them (NNNN_LABEL.json)"),
)


def _event(number: int, item: History, event: KnownStep | Change) -> dict[str, Any]:
    """A change point or release step as the table shows it."""
    points = item.series.points
    before, after = points[event.index - 1], points[event.index]
    if isinstance(event, KnownStep):
        kind, p_value, what = "known step", None, "; ".join(event.changes)
    else:
        kind, p_value, what = event.kind, event.p_value, ""
    return {
        "series": number,
        "benchmark": item.series.benchmark,
        "short": charts.short_benchmark(item.series.benchmark),
        "kind": kind,
        "between": f"#{event.index - 1} and #{event.index}",
        "index": event.index,
        "time": after.time,
        "commits": f"{before.commit}..{after.commit}",
        "relative_change": event.relative_change,
        "p_value": p_value,
        "what": what,
        # the saved runs by their files' names: a label (build-a, jp6.1-abc) often says
        # more than a commit, which several builds of one checkout share
        "files": f"{Path(before.source).name or '?'} \u2192 {Path(after.source).name or '?'}",
    }


def write_history_report(histories: Sequence[History], out_dir: str | Path) -> Path:
    """Write the histories' report.html and one PNG per series into `out_dir`; the page's
    path."""
    plots: list[dict[str, Any]] = []
    pngs: dict[str, bytes] = {}
    events = []
    for number, item in enumerate(histories, start=1):
        s = item.series
        scale, unit = CHART_UNITS.get(s.metric, (1.0, ""))
        name = f"series-{number:02d}"
        pngs[name] = charts.history(item, scale, unit)
        first, last = (s.points[0].time, s.points[-1].time) if s.points else (None, None)
        plots.append(
            {
                "name": name,
                "title": f"{number}. {charts.short_benchmark(s.benchmark)}",
                "caption": f"{s.metric} of {len(s.points)} runs on {s.machine or '?'}, "
                f"run #0 at {utc(first)}, run #{len(s.points) - 1} at "
                f"{utc(last)}; solid lines: change points, dashed: release "
                "steps"
                + (f"; {len(s.disturbed)} disturbed run(s) left out" if s.disturbed else "")
                + ".",
                "benchmark": s.benchmark,
                "changes": len(item.changes),
                "steps": len(item.known_steps),
            }
        )
        steps_and_changes: list[KnownStep | Change] = [*item.known_steps, *item.changes]
        ordered = sorted(steps_and_changes, key=lambda e: (e.index, isinstance(e, Change)))
        events += [_event(number, item, e) for e in ordered]
    metrics = sorted({h.series.metric for h in histories})
    times = [p.time for h in histories for p in h.series.points]
    context = {
        "plots": plots,
        "events": events,
        "metrics": metrics,
        "runs": sum(len(h.series.points) for h in histories),
        "changes": sum(len(h.changes) for h in histories),
        "steps": sum(len(h.known_steps) for h in histories),
        "regressions": sum(len(h.regressions_in_last_segment()) for h in histories),
        "when_measured": span(min(times, default=None), max(times, default=None)),
        "codes": [
            *((m, METRIC_CODES.get(m, "the metric followed")) for m in metrics),
            *EVENT_CODES,
        ],
    }
    return write_report(out_dir, TEMPLATE, context, pngs)
