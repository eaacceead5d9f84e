"""A sweep's report: what was swept on what, the best configuration and its config.pbtxt,
the leading points, the plots, how noisy the winner's lead is, and every point measured.

Only measured points (`SweepPoint.ok`) are plotted; failed points appear in the table of
all points with their error, and throttled ones are flagged there and in the plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pnsuite.report import charts
from pnsuite.report.html import flatten, write_report
from pnsuite.sweep.points import PHASES, SweepDocument, SweepPoint

TEMPLATE = "sweep.html.j2"
#: rows of the best-configuration table
TOP = 10


def _status(point: SweepPoint) -> str:
    if not point.ok:
        return "failed"
    return "throttled" if point.platform.throttled else "ok"


def _row(point: SweepPoint, doc: SweepDocument) -> dict[str, Any]:
    """A point as the tables show it."""
    label = point.key.label
    platform = point.platform
    return {
        "label": label, "config": point.key.variant.name,
        "instances": point.key.variant.instances, "batching": point.key.variant.batching.label,
        "concurrency": point.key.concurrency, "status": _status(point),
        "throughput": point.throughput if point.ok else None,
        "p50": point.latency_p50_ms, "p99": point.latency_p99_ms,
        "phases": {phase: point.per_inference_ms.get(phase) for phase in PHASES},
        "energy": point.energy_mj_per_inference, "per_joule": point.inferences_per_joule,
        "power": platform.power_w, "clock": platform.gpu_clock_mhz,
        "clock_max": platform.gpu_clock_max_mhz, "temperature": platform.temperature_c_max,
        "batch_sizes": ", ".join(f"{size}\u00d7{n}" for size, n in
                                 sorted(point.batch_sizes.items())),
        "error": point.error, "best": label == doc.best, "front": label in doc.pareto,
        "rank": doc.ranking.index(label) + 1 if label in doc.ranking else None,
    }


def _at_best_concurrency(doc: SweepDocument, measured: list[SweepPoint]) -> list[SweepPoint]:
    """Each variant's point the objective ranks highest (its fastest measured one where
    none of its points is feasible), in variant order."""
    ranks = {label: i for i, label in enumerate(doc.ranking)}

    def preference(p: SweepPoint) -> tuple[int, float]:
        return ranks.get(p.key.label, len(ranks)), -p.throughput

    chosen: dict[str, SweepPoint] = {}
    for p in sorted(measured, key=preference):
        chosen.setdefault(p.key.variant.name, p)
    return sorted(chosen.values(), key=lambda p: (p.key.variant.instances, p.key.variant.name))


def _histogram_point(doc: SweepDocument, measured: list[SweepPoint]) -> SweepPoint | None:
    """The best point, or the fastest measured one when no point met the constraints."""
    if doc.best is not None:
        best = next((p for p in measured if p.key.label == doc.best), None)
        if best is not None:
            return best
    return max(measured, key=lambda p: p.throughput, default=None)


def _plots(doc: SweepDocument) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    """The plots' names, titles and captions, and their PNGs."""
    measured = [p for p in doc.points if p.ok]
    plots: list[dict[str, str]] = []
    pngs: dict[str, bytes] = {}

    def add(name: str, title: str, caption: str, png: bytes) -> None:
        plots.append({"name": name, "title": title, "caption": caption})
        pngs[name] = png

    if not measured:
        return plots, pngs
    add("throughput", "Throughput by concurrency",
        "One line per configuration; a cross marks a throttled point (GPU clock below "
        "75% of its locked clock).", charts.throughput_by_concurrency(measured))
    breakdown = [p for p in _at_best_concurrency(doc, measured) if p.per_inference_ms]
    if breakdown:
        add("latency", "Latency breakdown",
            "Triton's time per inference in queue, compute_input, compute_infer and "
            "compute_output, for each configuration at its best concurrency.",
            charts.latency_breakdown(breakdown))
    histogram = _histogram_point(doc, measured)
    if histogram is not None and histogram.batch_sizes:
        which = "the best point" if histogram.key.label == doc.best else \
            "the fastest point (no point met the constraints)"
        add("batch-sizes", "Batch sizes",
            f"Executions per batch size at {which}, {histogram.key.label}.",
            charts.batch_sizes(histogram))
    front = [p for p in measured if p.key.label in doc.pareto]
    add("pareto", "Throughput against p99 latency",
        "Every measured point; the Pareto front (no other point has both more throughput "
        "and a lower p99) is highlighted and labelled.", charts.pareto_front(measured, front))
    if any(p.energy_mj_per_inference is not None for p in measured):
        add("energy", "Energy per inference",
            "Energy per inference (power over throughput) against throughput, for the "
            "points with a power reading.", charts.energy_by_throughput(measured))
    return plots, pngs


def write_sweep_report(doc: SweepDocument, out_dir: str | Path) -> Path:
    """Write the sweep's report.html and its PNGs into `out_dir`; the page's path."""
    plots, pngs = _plots(doc)
    rows = {p.key.label: _row(p, doc) for p in doc.points}
    ranked = [rows[label] for label in doc.ranking[:TOP] if label in rows]
    ordered = sorted(doc.points, key=lambda p: (p.key.variant.instances,
                                                p.key.variant.name, p.key.concurrency))
    failed = sum(not p.ok for p in doc.points)
    context = {
        "doc": doc, "plots": plots, "phases": PHASES, "top": TOP,
        "machine": flatten(doc.machine), "measured": len(doc.points) - failed,
        "failed": failed, "throttled": sum(bool(p.ok and p.platform.throttled)
                                           for p in doc.points),
        "best": rows.get(doc.best) if doc.best else None, "ranked": ranked,
        "any_energy": any(p.energy_mj_per_inference is not None for p in doc.points),
        "points": [rows[p.key.label] for p in ordered],
        # The leaders' independent runs (a Confirmation), as the noise section shows them.
        "confirmation": doc.confirmation,
    }
    return write_report(out_dir, TEMPLATE, context, pngs)
