"""What a sweep leaves in its output folder: the document (sweep.json), the raw points
(points.csv), the best-configuration table (best.md), the winning config.pbtxt, and the
HTML report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pnsuite.sweep.points import PHASES, SweepDocument, SweepPoint

#: points.csv's columns that are the same quantity as a column of perf_analyzer's `-f`
#: CSV carry perf_analyzer's name and unit (microseconds), so that scripts written for
#: perf_analyzer's files read a sweep's too (in perf_analyzer's order): ours -> (its
#: name, scale from ours)
PERF_ANALYZER_COLUMNS = {
    "concurrency": ("Concurrency", None),
    "throughput": ("Inferences/Second", None),
    "queue_ms": ("Server Queue", 1e3),
    "compute_input_ms": ("Server Compute Input", 1e3),
    "compute_infer_ms": ("Server Compute Infer", 1e3),
    "compute_output_ms": ("Server Compute Output", 1e3),
    "latency_p50_ms": ("p50 latency", 1e3),
    "latency_p99_ms": ("p99 latency", 1e3),
}
CSV_COLUMNS = (
    "label",
    "variant",
    "instances",
    "batching",
    *(name for name, _ in PERF_ANALYZER_COLUMNS.values()),
    "batch_sizes",
    "inferences",
    "executions",
    "power_w",
    "energy_mj_per_inference",
    "inferences_per_joule",
    "gpu_clock_mhz",
    "gpu_clock_max_mhz",
    "temperature_c_max",
    "throttled",
    "error",
)


def _ours(p: SweepPoint) -> dict[str, float | int | None]:
    """The point's values of the quantities perf_analyzer also reports, in our units."""
    return {
        "concurrency": p.key.concurrency,
        "throughput": p.metric("throughput"),
        "latency_p50_ms": p.metric("latency_p50_ms"),
        "latency_p99_ms": p.metric("latency_p99_ms"),
        **{f"{ph}_ms": p.per_inference_ms.get(ph) for ph in PHASES},
    }


def _row(p: SweepPoint) -> dict[str, object]:
    v = p.key.variant
    ours = _ours(p)
    shared: dict[str, object] = {}
    for key, (name, scale) in PERF_ANALYZER_COLUMNS.items():
        value = ours[key]
        if key == "concurrency":
            shared[name] = value
        else:
            shared[name] = _num(None if value is None else float(value) * (scale or 1.0))
    return {
        "label": p.key.label,
        "variant": v.name,
        "instances": v.instances,
        "batching": v.batching.label,
        **shared,
        "batch_sizes": " ".join(f"{k}x{n}" for k, n in sorted(p.batch_sizes.items())),
        "inferences": p.inferences,
        "executions": p.executions,
        "power_w": _num(p.platform.power_w),
        "energy_mj_per_inference": _num(p.energy_mj_per_inference),
        "inferences_per_joule": _num(p.inferences_per_joule),
        "gpu_clock_mhz": _num(p.platform.gpu_clock_mhz),
        "gpu_clock_max_mhz": _num(p.platform.gpu_clock_max_mhz),
        "temperature_c_max": _num(p.platform.temperature_c_max),
        "throttled": "" if p.platform.throttled is None else p.platform.throttled,
        "error": p.error or "",
    }


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def best_table(doc: SweepDocument, top: int = 10) -> str:
    """The leading feasible configurations as a Markdown table, best first."""
    lines = [
        f"# Best configurations: {doc.repository}",
        "",
        f"Objective: {doc.objective}; constraints: {', '.join(doc.constraints) or 'none'}; "
        f"{len(doc.points)} points ({sum(not p.ok for p in doc.points)} failed), "
        f"{doc.search} search, {doc.wall_s:.0f} s.",
        "",
    ]
    if doc.server_args:
        lines += [
            f"Every server ran with `{' '.join(doc.server_args)}`: deploy the best "
            "configuration with it too.",
            "",
        ]
    if not doc.ranking:
        return "\n".join(lines + ["No measured point meets the constraints.", ""])
    lines += [
        "| rank | configuration | concurrency | infer/s | p50 ms | p99 ms | queue ms | "
        "compute_infer ms | energy mJ/inf |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rank, label in enumerate(doc.ranking[:top], 1):
        p = doc.point(label)
        energy = p.energy_mj_per_inference
        lines.append(
            f"| {rank} | {p.key.variant.name} | {p.key.concurrency} | "
            f"{p.throughput:.1f} | {p.latency_p50_ms:.1f} | {p.latency_p99_ms:.1f} | "
            f"{p.per_inference_ms.get('queue', 0):.2f} | "
            f"{p.per_inference_ms.get('compute_infer', 0):.2f} | "
            f"{'' if energy is None else f'{energy:.1f}'} |"
        )
    lines += ["", f"Best: **{doc.best}**."]
    confirmation = doc.confirmation
    verdict = confirmation.best_vs_runner_up if confirmation else None
    if confirmation and verdict:
        lines.append(
            f"Confirmed in {confirmation.runs} independent runs each: "
            f"{verdict.best} / {verdict.runner_up} = {verdict.ratio:.3f} "
            f"(95% {verdict.low:.3f}..{verdict.high:.3f}): {verdict.verdict}"
            + (
                "."
                if verdict.distinct
                else ": noise cannot tell them apart, so the cheaper is chosen."
            )
        )
    return "\n".join(lines + [""])


def write_outputs(doc: SweepDocument, out_dir: Path, report: bool = True) -> dict[str, Path]:
    """Write every output of `doc` into `out_dir`; returns what was written, by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "sweep": out_dir / "sweep.json",
        "points": out_dir / "points.csv",
        "best": out_dir / "best.md",
    }
    written["sweep"].write_text(json.dumps(doc.to_json(), indent=1) + "\n")
    with written["points"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_row(p) for p in doc.points)
    written["best"].write_text(best_table(doc))
    if doc.best_config:
        config = out_dir / "best" / "config.pbtxt"
        config.parent.mkdir(exist_ok=True)
        config.write_text(doc.best_config)
        written["config"] = config
    if report:
        from pnsuite.report.sweep_report import write_sweep_report

        written["report"] = write_sweep_report(doc, out_dir / "report")
    return written
