"""A sweep's report: what was swept on what, the best configuration and its config.pbtxt,
the leading points, the plots, how noisy the winner's lead is, and every point measured.

Only measured points (`SweepPoint.ok`) are plotted; failed points appear in the table of
all points with their error, and throttled ones are flagged there and in the plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pnsuite.report import charts
from pnsuite.report.html import flatten, span, write_report
from pnsuite.sweep.points import PHASES, SweepDocument, SweepPoint, Variant

TEMPLATE = "sweep.html.j2"
#: rows of the best-configuration table
TOP = 10


#: what the status words and marks of the tables mean
STATUS_CODES = (
    ("ok", "measured"),
    (
        "failed",
        "not measured: the server or the load failed (the error column says why); never plotted",
    ),
    (
        "THROTTLED",
        "measured while the GPU clock was below 75% of its locked clock: its "
        "numbers understate the configuration",
    ),
    ("(best)", 'the sweep\'s answer (why: the green box under "Best configuration")'),
    ("(front)", "on the Pareto front: no other point has both more throughput and a lower p99"),
)
#: the tables' column abbreviations and Triton's phases
COLUMN_CODES = (
    ("inf/s", "inferences per second over the counted windows (client side)"),
    ("p50, p99", "the client's median and 99th-percentile request latency"),
    ("queue", "Triton's time per inference waiting in the scheduler's queue"),
    ("compute_input", "Triton's time per inference copying the input into the model"),
    ("compute_infer", "Triton's time per inference running the model"),
    ("compute_output", "Triton's time per inference copying the output out"),
    ("mJ/inf, inf/J", "energy per inference and inferences per joule, where power was read"),
)


def describe_variant(variant: Variant) -> str:
    """A configuration's code (`i2-bon-d100-p4.8`) in words."""
    words = [f"{variant.instances} model instance{'s' if variant.instances != 1 else ''}"]
    batching = variant.batching
    if not batching.enabled:
        words.append("dynamic batching off")
    else:
        words.append("dynamic batching on")
        if batching.max_queue_delay_us is not None:
            words.append(f"queue delay up to {batching.max_queue_delay_us} \u00b5s")
        if batching.preferred_batch_sizes:
            words.append(
                "preferred batch sizes " + ", ".join(map(str, batching.preferred_batch_sizes))
            )
    return ", ".join(words)


def codes(doc: SweepDocument) -> list[tuple[str, str]]:
    """Every code the page uses, with its meaning: each configuration swept, the point
    labels' concurrency suffix, status words and column abbreviations."""
    variants = sorted({p.key.variant for p in doc.points}, key=lambda v: (v.instances, v.name))
    items = [(v.name, describe_variant(v)) for v in variants]
    items.append(
        (
            "-cN (e.g. i1-boff-c4)",
            "a point: that configuration with N requests in "
            "flight from the client (client concurrency N)",
        )
    )
    return [*items, *STATUS_CODES, *COLUMN_CODES]


def _cheaper(chosen: SweepPoint, other: SweepPoint) -> str:
    """Why `chosen` counts as the cheaper configuration of the two (objectives.cheapness)."""
    a, b = chosen.key, other.key
    if a.variant.instances != b.variant.instances:
        return f"fewer model instances ({a.variant.instances} against {b.variant.instances})"
    if a.variant.batching.enabled != b.variant.batching.enabled:
        return "no dynamic batching"
    return f"lower client concurrency ({a.concurrency} against {b.concurrency})"


def why_best(doc: SweepDocument) -> str | None:
    """Why the best point won, in one or two sentences (pnsuite.sweep.runner.choose_best's
    reasons, with the numbers); None when there is no best point."""
    if doc.best is None:
        return None
    best = doc.point(doc.best)
    rank = doc.ranking.index(doc.best) + 1 if doc.best in doc.ranking else None
    within = f" among the points with {', '.join(doc.constraints)}" if doc.constraints else ""
    confirmation = doc.confirmation
    versus = confirmation.best_vs_runner_up if confirmation else None
    if versus is None or confirmation is None or doc.best not in (versus.best, versus.runner_up):
        noise = (
            "No independent runs confirmed it, so how far its lead stands out from "
            "run-to-run noise is not known."
            if versus is None
            else "The independent runs of the leaders are in the noise section."
        )
        return (
            f"{doc.best} has the best {doc.objective}{within} in the sweep's measurements "
            f"({best.throughput:.1f} inf/s, p99 {best.latency_p99_ms:.0f} ms). {noise}"
        )
    means = {c.label: c.geomean for c in confirmation.candidates}
    runs = (
        f"The leaders were measured again in {confirmation.runs} independent runs each "
        "(a fresh server per run)"
    )
    single = (
        ""
        if rank == 1
        else (
            f" In the single-run ranking below it was #{rank}; "
            "those differences are within the noise."
        )
    )
    if versus.distinct:
        return (
            f"{runs}: {versus.best} served the most ({means[versus.best]:.1f} inf/s, "
            f"geometric mean of its runs), more than {versus.runner_up} "
            f"({means[versus.runner_up]:.1f}) beyond the noise (ratio {versus.ratio:.3f}, "
            f"95% interval {versus.low:.3f}..{versus.high:.3f}).{single}"
        )
    other = doc.point(versus.runner_up if doc.best == versus.best else versus.best)
    return (
        f"{runs}: {versus.best} ({means[versus.best]:.1f} inf/s, geometric mean) and "
        f"{versus.runner_up} ({means[versus.runner_up]:.1f}) could not be told apart "
        f"(ratio {versus.ratio:.3f}, 95% interval {versus.low:.3f}..{versus.high:.3f} "
        f"spans 1), so the cheaper of the two won: {doc.best}, with "
        f"{_cheaper(best, other)}.{single}"
    )


def breakdown_by_concurrency(measured: list[SweepPoint]) -> dict[int, list[SweepPoint]]:
    """The measured points with a phase breakdown, by client concurrency (ascending), each
    group in configuration order: the latency breakdown compares configurations at one
    concurrency, never a configuration at c8 with another at c2."""
    groups: dict[int, list[SweepPoint]] = {}
    for p in sorted(
        measured, key=lambda p: (p.key.concurrency, p.key.variant.instances, p.key.variant.name)
    ):
        if p.per_inference_ms:
            groups.setdefault(p.key.concurrency, []).append(p)
    return groups


def _status(point: SweepPoint) -> str:
    if not point.ok:
        return "failed"
    return "throttled" if point.platform.throttled else "ok"


def _row(point: SweepPoint, doc: SweepDocument) -> dict[str, Any]:
    """A point as the tables show it."""
    label = point.key.label
    platform = point.platform
    return {
        "label": label,
        "config": point.key.variant.name,
        "instances": point.key.variant.instances,
        "batching": point.key.variant.batching.label,
        "concurrency": point.key.concurrency,
        "status": _status(point),
        "throughput": point.throughput if point.ok else None,
        "p50": point.latency_p50_ms,
        "p99": point.latency_p99_ms,
        "phases": {phase: point.per_inference_ms.get(phase) for phase in PHASES},
        "energy": point.energy_mj_per_inference,
        "per_joule": point.inferences_per_joule,
        "power": platform.power_w,
        "clock": platform.gpu_clock_mhz,
        "clock_max": platform.gpu_clock_max_mhz,
        "temperature": platform.temperature_c_max,
        "batch_sizes": ", ".join(
            f"{size}\u00d7{n}" for size, n in sorted(point.batch_sizes.items())
        ),
        "error": point.error,
        "best": label == doc.best,
        "front": label in doc.pareto,
        "rank": doc.ranking.index(label) + 1 if label in doc.ranking else None,
    }


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
    best = next((p for p in measured if p.key.label == doc.best), None)
    add(
        "throughput",
        "Throughput by concurrency",
        "One line per configuration; the star is the best point; a cross marks a throttled "
        "point (GPU clock below 75% of its locked clock).",
        charts.throughput_by_concurrency(measured, best),
    )
    breakdown = breakdown_by_concurrency(measured)
    if breakdown:
        add(
            "latency",
            "Latency breakdown",
            "Triton's time per inference in queue, compute_input, compute_infer and "
            "compute_output: one panel per client concurrency, one bar per configuration "
            "(compare the bars within a panel); the best point's bar is outlined (\u2605).",
            charts.latency_breakdown(breakdown, best),
        )
    histogram = _histogram_point(doc, measured)
    if histogram is not None and histogram.batch_sizes:
        which = (
            "the best point"
            if histogram.key.label == doc.best
            else "the fastest point (no point met the constraints)"
        )
        add(
            "batch-sizes",
            "Batch sizes",
            f"Executions per batch size at {which}, {histogram.key.label}.",
            charts.batch_sizes(histogram),
        )
    front = [p for p in measured if p.key.label in doc.pareto]
    add(
        "pareto",
        "Throughput against p99 latency",
        "Every measured point; the Pareto front (no other point has both more throughput "
        "and a lower p99) is highlighted and labelled; the star is the best point.",
        charts.pareto_front(measured, front, best),
    )
    if any(p.energy_mj_per_inference is not None for p in measured):
        add(
            "energy",
            "Energy per inference",
            "Energy per inference (power over throughput) against throughput, for the "
            "points with a power reading.",
            charts.energy_by_throughput(measured),
        )
    return plots, pngs


def write_sweep_report(doc: SweepDocument, out_dir: str | Path) -> Path:
    """Write the sweep's report.html and its PNGs into `out_dir`; the page's path."""
    plots, pngs = _plots(doc)
    rows = {p.key.label: _row(p, doc) for p in doc.points}
    ranked = [rows[label] for label in doc.ranking[:TOP] if label in rows]
    ordered = sorted(
        doc.points, key=lambda p: (p.key.variant.instances, p.key.variant.name, p.key.concurrency)
    )
    failed = sum(not p.ok for p in doc.points)
    context = {
        "doc": doc,
        "plots": plots,
        "phases": PHASES,
        "top": TOP,
        "machine": flatten(doc.machine),
        "measured": len(doc.points) - failed,
        "failed": failed,
        "throttled": sum(bool(p.ok and p.platform.throttled) for p in doc.points),
        "best": rows.get(doc.best) if doc.best else None,
        "ranked": ranked,
        "any_energy": any(p.energy_mj_per_inference is not None for p in doc.points),
        "points": [rows[p.key.label] for p in ordered],
        # The leaders' independent runs (a Confirmation), as the noise section shows them.
        "confirmation": doc.confirmation,
        "why_best": why_best(doc),
        "codes": codes(doc),
        "when_measured": span(doc.started, doc.finished),
    }
    return write_report(out_dir, TEMPLATE, context, pngs)
