"""The reports' plots, drawn by matplotlib's Agg renderer straight to PNG bytes.

Each figure is a `matplotlib.figure.Figure` on its own Agg canvas: no pyplot, so no
display is ever looked for, no backend is switched for the rest of the process, and no
figure outlives its function. Only what a function is given is drawn; the reports choose
the points (a sweep plots its measured points only, never the failed ones).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator, ScalarFormatter
from matplotlib.transforms import blended_transform_factory

from pnsuite.history.history import History
from pnsuite.sweep.points import PHASES, SweepPoint
from pnsuite.verdict import verdicts

DPI = 100
VERDICT_COLOURS = {
    verdicts.REGRESSION: "#c0392b",
    verdicts.OK: "#2e86c1",
    verdicts.IMPROVED: "#27ae60",
    verdicts.INCONCLUSIVE: "#b7950b",
}
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
    for p in sorted(
        points, key=lambda p: (p.key.variant.instances, p.key.variant.name, p.key.concurrency)
    ):
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


#: the colour the best point is drawn in, in every plot (and the pages' green box)
BEST_COLOUR = "#27ae60"


def _star(ax, x: float, y: float, label: str) -> None:
    """The best point: a large green star above everything else, in the legend."""
    ax.scatter([x], [y], marker="*", s=320, color=BEST_COLOUR, edgecolor="k", zorder=6, label=label)


def throughput_figure(points: Sequence[SweepPoint], best: SweepPoint | None = None) -> Figure:
    """Throughput against client concurrency, one line per variant; throttled points
    crossed out, the best point a star."""
    figure = _figure()
    ax = figure.add_subplot()
    for name, group in _by_variant(points).items():
        ax.plot(
            [p.key.concurrency for p in group],
            [p.throughput for p in group],
            marker="o",
            label=name,
        )
    throttled = [p for p in points if p.platform.throttled]
    if throttled:
        ax.scatter(
            [p.key.concurrency for p in throttled],
            [p.throughput for p in throttled],
            marker="x",
            s=90,
            color="#c0392b",
            zorder=5,
            label="throttled",
        )
    if best is not None:
        _star(ax, best.key.concurrency, best.throughput, f"best: {best.key.label}")
    _concurrency_axis(ax, [p.key.concurrency for p in points])
    ax.set_xlabel("client concurrency")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_title("Throughput by concurrency")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return figure


def throughput_by_concurrency(
    points: Sequence[SweepPoint], best: SweepPoint | None = None
) -> bytes:
    return _png(throughput_figure(points, best))


def latency_breakdown_figure(
    groups: Mapping[int, Sequence[SweepPoint]], best: SweepPoint | None = None
) -> Figure:
    """Triton's time per inference in each phase, stacked: one panel per client
    concurrency, one bar per configuration, so that bars side by side were measured
    under the same load. The panels share their y axis; the best point's bar is outlined
    and its name marked."""
    concurrencies = sorted(groups)
    columns = min(2, len(concurrencies))
    rows = -(-len(concurrencies) // columns)
    widest = max(len(groups[c]) for c in concurrencies)
    figure = _figure(columns * max(4.5, 1.2 + 0.5 * widest), 3.6 * rows + 0.6)
    axes = figure.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    for ax, concurrency in zip(axes, concurrencies):
        points = groups[concurrency]
        x = list(range(len(points)))
        bottom = [0.0] * len(points)
        for phase in PHASES:
            heights = [p.per_inference_ms.get(phase, 0.0) or 0.0 for p in points]
            ax.bar(x, heights, bottom=bottom, label=phase, color=PHASE_COLOURS[phase])
            bottom = [b + h for b, h in zip(bottom, heights)]
        names = [p.key.variant.name for p in points]
        if best is not None and best in points:
            at = points.index(best)
            names[at] = f"\u2605 {names[at]}"
            ax.bar([at], [bottom[at]], fill=False, edgecolor=BEST_COLOUR, linewidth=2.5)
        ax.set_xticks(x, names, rotation=40, ha="right", rotation_mode="anchor", fontsize="small")
        for tick, p in zip(ax.get_xticklabels(), points):
            if p is best:
                tick.set_color(BEST_COLOUR)
                tick.set_fontweight("bold")
        ax.set_title(f"client concurrency {concurrency}", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylabel("ms per inference")
    for ax in axes[len(concurrencies) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    # The legend where a title would be: the page's heading titles the figure, and a
    # suptitle and a legend both "outside upper center" are drawn over each other.
    figure.legend(
        handles,
        labels,
        loc="outside upper center",
        ncols=len(PHASES),
        fontsize="small",
        frameon=False,
    )
    return figure


def latency_breakdown(
    groups: Mapping[int, Sequence[SweepPoint]], best: SweepPoint | None = None
) -> bytes:
    return _png(latency_breakdown_figure(groups, best))


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


#: where a point's label may go, in points from the point, tried in this order
_LABEL_OFFSETS = (
    (6, -12),
    (6, 6),
    (-6, 6),
    (-6, -12),
    (6, -24),
    (6, 18),
    (-6, 18),
    (-6, -24),
    (12, -36),
    (12, 30),
    (-12, 30),
    (-12, -36),
)


def _label_apart(figure: Figure, ax, labelled: Sequence[tuple[float, float, str]]) -> None:
    """Label each (x, y, text) at the first offset where it overlaps no label placed before
    it and no labelled point's marker: points close together keep readable labels."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg's
    figure.draw_without_rendering()  # the layout first: extents are only final after it
    taken: list = []
    markers = [ax.transData.transform((x, y)) for x, y, _ in labelled]
    for x, y, text in labelled:
        for dx, dy in _LABEL_OFFSETS:
            note = ax.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy),
                ha="left" if dx > 0 else "right",
                fontsize="x-small",
            )
            box = note.get_window_extent(renderer).expanded(1.05, 1.15)
            clear = not any(box.overlaps(t) for t in taken) and not any(
                box.x0 - 5 <= mx <= box.x1 + 5 and box.y0 - 5 <= my <= box.y1 + 5
                for mx, my in markers
            )
            if clear or (dx, dy) == _LABEL_OFFSETS[-1]:
                taken.append(box)
                break
            note.remove()


def pareto_figure(
    points: Sequence[SweepPoint], front: Sequence[SweepPoint], best: SweepPoint | None = None
) -> Figure:
    """Throughput against p99 latency of every point; the Pareto front (no other point is
    both faster and quicker) highlighted, joined and labelled apart; the best a star."""
    figure = _figure()
    ax = figure.add_subplot()
    ax.scatter(
        [p.latency_p99_ms for p in points],
        [p.throughput for p in points],
        color="#aab7b8",
        label="measured points",
    )
    ordered = sorted(front, key=lambda p: p.latency_p99_ms)
    ax.plot(
        [p.latency_p99_ms for p in ordered],
        [p.throughput for p in ordered],
        color="#c0392b",
        marker="o",
        markersize=8,
        drawstyle="steps-post",
        label="Pareto front",
    )
    if best is not None:
        _star(ax, best.latency_p99_ms, best.throughput, f"best: {best.key.label}")
    ax.set_xlabel("client p99 latency (ms)")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_title("Throughput against p99 latency")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    _label_apart(figure, ax, [(p.latency_p99_ms, p.throughput, p.key.label) for p in ordered])
    return figure


def pareto_front(
    points: Sequence[SweepPoint], front: Sequence[SweepPoint], best: SweepPoint | None = None
) -> bytes:
    return _png(pareto_figure(points, front, best))


def energy_by_throughput(points: Sequence[SweepPoint]) -> bytes:
    """Energy per inference against throughput, one colour per variant (points with a
    power reading only)."""
    figure = _figure()
    ax = figure.add_subplot()
    for name, group in _by_variant(points).items():
        measured = [
            (p.throughput, p.energy_mj_per_inference)
            for p in group
            if p.energy_mj_per_inference is not None
        ]
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
    return short[:head] + "\u2026" + short[len(short) - (width - 1 - head) :]


def benchmark_labels(names: Sequence[str], width: int = 45) -> list[str]:
    """Benchmarks' names as a plot's axis shows them: where all are one test function's
    parametrisations (`file::test[params]`), only their parameters, which tell them apart
    (cutting full names in the middle hid the repository); at most `width` characters."""
    bare = [name.split("::", 1)[-1] for name in names]
    functions = {name.split("[", 1)[0] for name in bare}
    if len(functions) == 1 and all("[" in name and name.endswith("]") for name in bare):
        bare = [name.split("[", 1)[1][:-1] for name in bare]
    return [short_benchmark(name, width) for name in bare]


def comparison_figure(rows: Sequence[verdicts.Row], units: dict[str, tuple[float, str]]) -> Figure:
    """Per metric: each benchmark's baseline and current geometric means with every run's
    value, and the change with the gate's interval, coloured by verdict. One legend for
    the figure, above the panels: inside a panel it covered the bars."""
    metrics = list(dict.fromkeys(r.comparison.metric for r in rows))
    # one labelling for every panel, so a benchmark reads the same in each
    names = list(dict.fromkeys(r.comparison.benchmark for r in rows))
    label_of = dict(zip(names, benchmark_labels(names, 45)))
    per_metric = {m: [r for r in rows if r.comparison.metric == m] for m in metrics}
    height = sum(1.2 + 0.55 * len(per_metric[m]) for m in metrics)
    figure = _figure(11.0, max(3.0, height))
    axes = figure.subplots(
        len(metrics),
        2,
        squeeze=False,
        gridspec_kw={"height_ratios": [len(per_metric[m]) + 1 for m in metrics]},
    )
    for (values_ax, change_ax), metric in zip(axes, metrics):
        metric_rows = per_metric[metric]
        scale, unit = units.get(metric, (1.0, ""))
        y = list(range(len(metric_rows)))
        for offset, side, colour in ((-0.18, "old", "#7f8c8d"), (0.18, "new", "#2874a6")):
            means = [
                verdicts.geometric_mean(getattr(r.comparison, side)) * scale for r in metric_rows
            ]
            values_ax.barh(
                [i + offset for i in y],
                means,
                height=0.34,
                color=colour,
                alpha=0.55,
                label="baseline" if side == "old" else "current",
            )
            for i, r in zip(y, metric_rows):
                runs = [v * scale for v in getattr(r.comparison, side)]
                values_ax.scatter(runs, [i + offset] * len(runs), color=colour, s=12, zorder=3)
        labels = [label_of[r.comparison.benchmark] for r in metric_rows]
        values_ax.set_yticks(y, labels, fontsize="x-small")
        values_ax.invert_yaxis()
        values_ax.set_title(f"{metric}: geometric mean and runs", fontsize="small")
        values_ax.set_xlabel(unit)
        values_ax.grid(axis="x", alpha=0.3)
        for i, r in zip(y, metric_rows):
            change = r.comparison.change * 100
            change_ax.errorbar(
                [change],
                [i],
                xerr=[[change - (r.low - 1) * 100], [(r.high - 1) * 100 - change]],
                fmt="o",
                capsize=4,
                color=VERDICT_COLOURS.get(r.verdict, "k"),
            )
            change_ax.annotate(
                r.verdict,
                (change, i),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize="x-small",
            )
        threshold = metric_rows[0].threshold * 100
        change_ax.axvline(0, color="k", linewidth=0.8)
        change_ax.axvline(threshold, color="#c0392b", linestyle="--", linewidth=0.8)
        change_ax.set_yticks(y, [""] * len(y))
        change_ax.set_ylim(len(y) - 0.5, -0.7)
        change_ax.set_title(
            f"{metric}: change and interval (dashed: +{threshold:.0f}% threshold)", fontsize="small"
        )
        change_ax.set_xlabel("%")
        change_ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(
        handles,
        [f"{label}: geometric mean (bar) and runs (dots)" for label in labels],
        loc="outside upper center",
        ncols=2,
        fontsize="small",
        frameon=False,
    )
    return figure


def comparison(rows: Sequence[verdicts.Row], units: dict[str, tuple[float, str]]) -> bytes:
    return _png(comparison_figure(rows, units))


def history(item: History, scale: float = 1.0, unit: str = "") -> bytes:
    """One series: its values in run order, change points (solid, labelled with their
    relative change) and release steps (dashed, labelled with what changed)."""
    s = item.series
    figure = _figure(10.0, 4.2)
    ax = figure.add_subplot()
    values = [p.value * scale for p in s.points]
    ax.plot(range(len(values)), values, marker="o", markersize=4, color="#2874a6", label=s.metric)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for step in item.known_steps:
        ax.axvline(step.index - 0.5, color="#7f8c8d", linestyle="--", linewidth=1.2)
        ax.text(
            step.index - 0.4,
            0.98,
            f"release {step.relative_change:+.1%}",
            transform=top,
            rotation=90,
            va="top",
            fontsize="small",
            color="#566573",
        )
    for change in item.changes:
        colour = "#c0392b" if change.kind == "regression" else "#27ae60"
        ax.axvline(change.index - 0.5, color=colour, linewidth=1.6)
        ax.text(
            change.index - 0.4,
            0.02,
            f"{change.kind} {change.relative_change:+.1%}",
            transform=top,
            rotation=90,
            va="bottom",
            fontsize="small",
            color=colour,
        )
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


def capacity_figure(
    configurations: Sequence[dict], percentile: str = "p99", best: Sequence[str] = ()
) -> Figure:
    """Each configuration's frame latency (at `percentile`) against its number of streams,
    from a capacity document's runs: filled markers met the rule, hollow ones did not; the
    deadline as a dashed line; the answers of `best` (repositories, several when tied)
    stars."""
    figure = _figure()
    ax = figure.add_subplot()
    deadlines = set()
    for doc in configurations:
        runs = sorted(doc["runs"], key=lambda r: r["streams"])
        search = [r for r in runs if not r["confirming"]]
        name = doc["repo"].rstrip("/").rsplit("/", 1)[-1]
        # the line joins the search's runs; confirmations stand beside them as markers
        (line,) = ax.plot(
            [r["streams"] for r in search],
            [r["latency_ms"][percentile] for r in search],
            alpha=0.9 if doc["repo"] in best else 0.4,
            linewidth=2.5 if doc["repo"] in best else 1.5,
            label=f"{name}: {doc['streams']} stream" + ("" if doc["streams"] == 1 else "s"),
        )
        for r in runs:
            ax.plot(
                r["streams"],
                r["latency_ms"][percentile],
                "o",
                color=line.get_color(),
                markerfacecolor=line.get_color() if r["met"] else "none",
            )
        deadlines.add(doc["deadline_ms"])
        answer = [r for r in runs if r["streams"] == doc["streams"] and r["met"]]
        if doc["repo"] in best and answer:
            _star(
                ax,
                doc["streams"],
                max(r["latency_ms"][percentile] for r in answer),
                f"most streams: {name}, {doc['streams']}",
            )
    for deadline in deadlines:
        ax.axhline(deadline, linestyle="--", color="#c0392b", linewidth=1)
        ax.annotate(
            f"deadline {deadline:g} ms",
            (0.01, deadline),
            color="#c0392b",
            xycoords=blended_transform_factory(ax.transAxes, ax.transData),
            textcoords="offset points",
            xytext=(0, 3),
            fontsize="small",
        )
    ax.set_xlabel("camera streams")
    ax.set_ylabel(f"frame latency {percentile} (ms, due to answer)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Latency against streams (filled: the deadline rule met)")
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return figure


def capacity_curves(
    configurations: Sequence[dict], percentile: str = "p99", best: Sequence[str] = ()
) -> bytes:
    return _png(capacity_figure(configurations, percentile, best))
