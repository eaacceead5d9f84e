"""The reports' plots, drawn by matplotlib's Agg renderer straight to PNG bytes.

Each figure is a `matplotlib.figure.Figure` on its own Agg canvas: no pyplot, so no
display is ever looked for, no backend is switched for the rest of the process, and no
figure outlives its function. Only what a function is given is drawn; the reports choose
the points (a sweep plots its measured points only, never the failed ones).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator, ScalarFormatter
from matplotlib.transforms import blended_transform_factory

from pnsuite.history.history import History
from pnsuite.sweep.points import PHASES, SweepPoint
from pnsuite.verdict import verdicts

DPI = 100
VERDICT_COLOURS = {verdicts.REGRESSION: "#c0392b", verdicts.OK: "#2e86c1",
                   verdicts.IMPROVED: "#27ae60", verdicts.INCONCLUSIVE: "#b7950b"}
PHASE_COLOURS = dict(zip(PHASES, ("#95a5a6", "#5dade2", "#2874a6", "#48c9b0")))


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No Software/date metadata: the same data gives the same bytes.
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _by_variant(points: Sequence[SweepPoint]) -> dict[str, list[SweepPoint]]:
    groups: dict[str, list[SweepPoint]] = defaultdict(list)
    for p in sorted(points, key=lambda p: (p.key.variant.instances, p.key.variant.name,
                                           p.key.concurrency)):
        groups[p.key.variant.name].append(p)
    return dict(groups)


def _concurrency_axis(ax, values: Sequence[int]) -> None:
    """A log2 axis with a tick at each concurrency swept (1, 2, 4, ... 64)."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(values))))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())


def _legend_outside(ax) -> None:
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def throughput_by_concurrency(points: Sequence[SweepPoint]) -> bytes:
    """Throughput against client concurrency, one line per variant; throttled points
    crossed out."""
    figure = _figure()
    ax = figure.add_subplot()
    for name, group in _by_variant(points).items():
        ax.plot([p.key.concurrency for p in group], [p.throughput for p in group],
                marker="o", label=name)
    throttled = [p for p in points if p.platform.throttled]
    if throttled:
        ax.scatter([p.key.concurrency for p in throttled], [p.throughput for p in throttled],
                   marker="x", s=90, color="#c0392b", zorder=5, label="throttled")
    _concurrency_axis(ax, [p.key.concurrency for p in points])
    ax.set_xlabel("client concurrency")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_title("Throughput by concurrency")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _png(figure)


def latency_breakdown(points: Sequence[SweepPoint]) -> bytes:
    """Triton's time per inference in each phase, stacked, one bar per given point (a
    variant at its best concurrency)."""
    figure = _figure(max(6.0, 1.0 + 0.8 * len(points)), 4.5)
    ax = figure.add_subplot()
    x = list(range(len(points)))
    bottom = [0.0] * len(points)
    for phase in PHASES:
        heights = [p.per_inference_ms.get(phase, 0.0) or 0.0 for p in points]
        ax.bar(x, heights, bottom=bottom, label=phase, color=PHASE_COLOURS[phase])
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xticks(x, [f"{p.key.variant.name} c{p.key.concurrency}" for p in points],
                  rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("ms per inference")
    ax.set_title("Server time per inference by phase")
    ax.grid(axis="y", alpha=0.3)
    _legend_outside(ax)
    return _png(figure)


def batch_sizes(point: SweepPoint) -> bytes:
    """The point's executions per batch size (Triton's batch statistics)."""
    figure = _figure(7.0, 4.0)
    ax = figure.add_subplot()
    sizes = sorted(point.batch_sizes)
    ax.bar([str(s) for s in sizes], [point.batch_sizes[s] for s in sizes], color="#2874a6")
    ax.set_xlabel("batch size")
    ax.set_ylabel("executions")
    ax.set_title(f"Batch sizes of {point.key.label}")
    ax.grid(axis="y", alpha=0.3)
    return _png(figure)


def pareto_front(points: Sequence[SweepPoint], front: Sequence[SweepPoint]) -> bytes:
    """Throughput against p99 latency of every point; the Pareto front (no other point is
    both faster and quicker) highlighted, joined and labelled."""
    figure = _figure()
    ax = figure.add_subplot()
    ax.scatter([p.latency_p99_ms for p in points], [p.throughput for p in points],
               color="#aab7b8", label="measured points")
    ordered = sorted(front, key=lambda p: p.latency_p99_ms)
    ax.plot([p.latency_p99_ms for p in ordered], [p.throughput for p in ordered],
            color="#c0392b", marker="o", markersize=8, drawstyle="steps-post",
            label="Pareto front")
    for p in ordered:
        ax.annotate(p.key.label, (p.latency_p99_ms, p.throughput), textcoords="offset points",
                    xytext=(6, -10), fontsize="x-small")
    ax.set_xlabel("client p99 latency (ms)")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_title("Throughput against p99 latency")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _png(figure)


def energy_by_throughput(points: Sequence[SweepPoint]) -> bytes:
    """Energy per inference against throughput, one colour per variant (points with a
    power reading only)."""
    figure = _figure()
    ax = figure.add_subplot()
    for name, group in _by_variant(points).items():
        measured = [(p.throughput, p.energy_mj_per_inference) for p in group
                    if p.energy_mj_per_inference is not None]
        if measured:
            ax.scatter([x for x, _ in measured], [y for _, y in measured], label=name)
    ax.set_xlabel("throughput (inferences/s)")
    ax.set_ylabel("energy per inference (mJ)")
    ax.set_title("Energy per inference against throughput")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _png(figure)


def short_benchmark(name: str, width: int = 60) -> str:
    """A benchmark's name without its file, at most `width` characters: cut in the middle,
    as its parameters' ends (the concurrency) tell benchmarks apart."""
    short = name.split("::", 1)[-1]
    if len(short) <= width:
        return short
    head = (width - 1) // 2
    return short[:head] + "\u2026" + short[len(short) - (width - 1 - head):]


def comparison(rows: Sequence[verdicts.Row], units: dict[str, tuple[float, str]]) -> bytes:
    """Per metric: each benchmark's baseline and current geometric means with every run's
    value, and the change with the gate's interval, coloured by verdict."""
    metrics = list(dict.fromkeys(r.comparison.metric for r in rows))
    per_metric = {m: [r for r in rows if r.comparison.metric == m] for m in metrics}
    height = sum(1.2 + 0.55 * len(per_metric[m]) for m in metrics)
    figure = _figure(11.0, max(3.0, height))
    axes = figure.subplots(len(metrics), 2, squeeze=False,
                           gridspec_kw={"height_ratios": [len(per_metric[m]) + 1
                                                          for m in metrics]})
    for (values_ax, change_ax), metric in zip(axes, metrics):
        metric_rows = per_metric[metric]
        scale, unit = units.get(metric, (1.0, ""))
        y = list(range(len(metric_rows)))
        for offset, side, colour in ((-0.18, "old", "#7f8c8d"), (0.18, "new", "#2874a6")):
            means = [verdicts.geometric_mean(getattr(r.comparison, side)) * scale
                     for r in metric_rows]
            values_ax.barh([i + offset for i in y], means, height=0.34, color=colour,
                           alpha=0.55, label="baseline" if side == "old" else "current")
            for i, r in zip(y, metric_rows):
                runs = [v * scale for v in getattr(r.comparison, side)]
                values_ax.scatter(runs, [i + offset] * len(runs), color=colour, s=12,
                                  zorder=3)
        labels = [short_benchmark(r.comparison.benchmark, 45) for r in metric_rows]
        values_ax.set_yticks(y, labels, fontsize="x-small")
        values_ax.invert_yaxis()
        values_ax.set_title(f"{metric}: geometric mean and runs", fontsize="small")
        values_ax.set_xlabel(unit)
        values_ax.legend(fontsize="x-small", loc="lower right")
        values_ax.grid(axis="x", alpha=0.3)
        for i, r in zip(y, metric_rows):
            change = r.comparison.change * 100
            change_ax.errorbar([change], [i], xerr=[[change - (r.low - 1) * 100],
                                                    [(r.high - 1) * 100 - change]],
                               fmt="o", capsize=4, color=VERDICT_COLOURS.get(r.verdict, "k"))
            change_ax.annotate(r.verdict, (change, i), textcoords="offset points",
                               xytext=(0, 7), ha="center", fontsize="x-small")
        threshold = metric_rows[0].threshold * 100
        change_ax.axvline(0, color="k", linewidth=0.8)
        change_ax.axvline(threshold, color="#c0392b", linestyle="--", linewidth=0.8)
        change_ax.set_yticks(y, [""] * len(y))
        change_ax.set_ylim(len(y) - 0.5, -0.7)
        change_ax.set_title(f"{metric}: change and interval (dashed: +{threshold:.0f}% "
                            "threshold)", fontsize="small")
        change_ax.set_xlabel("%")
        change_ax.grid(axis="x", alpha=0.3)
    figure.suptitle("Baseline against current")
    return _png(figure)


def history(item: History, scale: float = 1.0, unit: str = "") -> bytes:
    """One series: its values in run order, change points (solid, labelled with their
    relative change) and release steps (dashed, labelled with what changed)."""
    s = item.series
    figure = _figure(10.0, 4.2)
    ax = figure.add_subplot()
    values = [p.value * scale for p in s.points]
    ax.plot(range(len(values)), values, marker="o", markersize=4, color="#2874a6",
            label=s.metric)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for step in item.known_steps:
        ax.axvline(step.index - 0.5, color="#7f8c8d", linestyle="--", linewidth=1.2)
        ax.text(step.index - 0.4, 0.98, f"release {step.relative_change:+.1%}",
                transform=top, rotation=90, va="top", fontsize="small", color="#566573")
    for change in item.changes:
        colour = "#c0392b" if change.kind == "regression" else "#27ae60"
        ax.axvline(change.index - 0.5, color=colour, linewidth=1.6)
        ax.text(change.index - 0.4, 0.02, f"{change.kind} {change.relative_change:+.1%}",
                transform=top, rotation=90, va="bottom", fontsize="small", color=colour)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("run #")
    ax.set_ylabel(f"{s.metric} ({unit})" if unit else s.metric)
    ax.set_title(short_benchmark(s.benchmark, 90), fontsize="medium")
    if values:
        low, high = min(values), max(values)
        pad = (high - low) * 0.15 or abs(high) * 0.05 or 1.0
        ax.set_ylim(max(0.0, low - pad) if low >= 0 else low - pad, high + pad)
        ax.set_xlim(-0.5, max(len(values) - 0.5, 0.5))
    ax.grid(alpha=0.3)
    return _png(figure)



def capacity_curves(configurations: Sequence[dict], percentile: str = "p99") -> bytes:
    """Each configuration's frame latency (at `percentile`) against its number of streams,
    from a capacity document's runs: filled markers met the rule, hollow ones did not; the
    deadline as a dashed line."""
    figure = _figure()
    ax = figure.add_subplot()
    deadlines = set()
    for doc in configurations:
        runs = sorted(doc["runs"], key=lambda r: r["streams"])
        search = [r for r in runs if not r["confirming"]]
        name = doc["repo"].rstrip("/").rsplit("/", 1)[-1]
        # the line joins the search's runs; confirmations stand beside them as markers
        line, = ax.plot([r["streams"] for r in search],
                        [r["latency_ms"][percentile] for r in search],
                        alpha=0.4, label=f"{name}: {doc['streams']} streams")
        for r in runs:
            ax.plot(r["streams"], r["latency_ms"][percentile], "o", color=line.get_color(),
                    markerfacecolor=line.get_color() if r["met"] else "none")
        deadlines.add(doc["deadline_ms"])
    for deadline in deadlines:
        ax.axhline(deadline, linestyle="--", color="#c0392b", linewidth=1)
        ax.annotate(f"deadline {deadline:g} ms", (0.01, deadline), color="#c0392b",
                    xycoords=blended_transform_factory(ax.transAxes, ax.transData),
                    textcoords="offset points", xytext=(0, 3), fontsize="small")
    ax.set_xlabel("camera streams")
    ax.set_ylabel(f"frame latency {percentile} (ms, due to answer)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Latency against streams (filled: the deadline rule met)")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _png(figure)
