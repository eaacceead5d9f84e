"""A comparison's report: the gate's verdict on two run sets, benchmark by benchmark and
metric by metric, the two machines side by side, what was left out, and golden changes.

The numbers are the gate's own (`peoplenet-gate compare` prints the same table): each
side's geometric mean over its runs, the change, the interval the gate decided on (its
rows' bounds, one-sided at the policy's alpha per look) and the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pnsuite.measure.runsets import RunSet
from pnsuite.report import charts
from pnsuite.report.html import ReportError, display, flatten, span, write_report
from pnsuite.verdict import verdicts
from pnsuite.verdict.gate import GateReport
from pnsuite.verdict.gate_text import UNITS, format_preflight, report_closing, runner_line

TEMPLATE = "comparison.html.j2"
#: machine_info keys shown first, when present: what a Jetson result depends on most
FIRST_KEYS = (
    "jetpack_release",
    "jetson_release",
    "l4t_release",
    "tensorrt_version",
    "triton_version",
    "triton_image",
    "nvpmodel_mode",
    "nvpmodel_id",
    "jetson_clocks",
    "jetson_model",
)


def _row(r: verdicts.Row) -> dict[str, Any]:
    """A gate row's cells, formatted as `peoplenet-gate`'s table formats them, and the
    raw numbers to sort by."""
    c = r.comparison
    scale, unit = UNITS.get(c.metric, (1.0, ""))
    old, new = verdicts.geometric_mean(c.old) * scale, verdicts.geometric_mean(c.new) * scale
    return {
        "benchmark": c.benchmark,
        "short": charts.short_benchmark(c.benchmark),
        "metric": c.metric,
        "runs": f"{len(c.old)}/{len(c.new)}",
        "baseline": f"{old:.1f} {unit}",
        "current": f"{new:.1f} {unit}",
        "baseline_value": old,
        "current_value": new,
        "change": f"{c.change:+.1%}",
        "change_value": c.change,
        "interval": f"{r.low - 1:+.1%}..{r.high - 1:+.1%}",
        "p": f"{r.p_adjusted:.4f}",
        "p_value": r.p_adjusted,
        "verdict": r.verdict,
        "runs_needed": r.runs_needed,
        "threshold": r.threshold,
    }


def identity_rows(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Both machine_infos flattened (nested keys joined with dots), key by key: FIRST_KEYS
    that either has first, then the rest by name, each marked when the two differ."""
    old, new = flatten(baseline), flatten(current)
    keys = set(old) | set(new)
    ordered = [k for k in FIRST_KEYS if k in keys] + sorted(keys - set(FIRST_KEYS))
    return [
        {
            "key": k,
            "baseline": display(old.get(k)) if k in old else None,
            "current": display(new.get(k)) if k in new else None,
            "differs": k not in old or k not in new or old[k] != new[k],
        }
        for k in ordered
    ]


#: what the verdict words mean (pnsuite.verdict.verdicts)
VERDICT_CODES = {
    verdicts.REGRESSION: "slower, significantly (one-sided test over the runs, Holm-corrected) "
    "and by the threshold or more: the gate fails",
    verdicts.OK: "inference_ms: the interval's upper end is below the threshold, so any "
    "change is smaller than the gate is there to catch; latency_p99_ms (a "
    "red-only rule): not significantly slower by the tail threshold",
    verdicts.IMPROVED: "faster, significantly and by more than the threshold",
    verdicts.INCONCLUSIVE: "neither: the interval spans the threshold; (~N runs/side) says "
    "about how many runs per side would decide",
}
#: what the gated metrics are
METRIC_CODES = {
    "inference_ms": "mean time per inference at the benchmark's concurrency "
    "(1000 / throughput): the gated metric, at the threshold",
    "latency_p99_ms": "the client's 99th-percentile request latency: red only, at the tail "
    "threshold",
    "compute_infer_ms": "Triton's compute_infer time per inference",
}
#: the table's columns and the listed lines' words
COLUMN_CODES = (
    ("runs a/b", "runs of the baseline / of the current side that count (disturbed runs left out)"),
    ("baseline, current", "the geometric mean of each side's runs"),
    ("change", "current against baseline: + is slower for these lower-is-better metrics"),
    ("interval", "the range the change lies in, at the gate's confidence"),
    ("p (Holm)", 'the p-value of "slower", corrected for the number of comparisons (Holm)'),
    ("left out", "a run not counted: others took the CPU while it ran (disturbed)"),
    ("MISSING", "a baseline benchmark the current runs lack: the gate fails"),
    ("new", "a benchmark only the current runs have: no verdict yet"),
)


#: why an inconclusive gate is undecided: the code its closing line names in brackets
#: (docs/perf-and-gate.md, "Inconclusive")
REASON_CODES = {
    verdicts.SPANS_THRESHOLD: "measured, but the interval spans the threshold: more runs "
    "per side (the number the line gives) would decide",
    verdicts.TOO_FEW_RUNS: "too few runs for a verdict (or the runner-speed probe has not "
    "seen enough runs yet)",
    verdicts.TOO_NOISY: "at this runner's noise (the gated metric's, or the runner-speed "
    "probe's) these runs cannot detect the threshold, so no verdict is "
    "given: a measured one waits; the line says how many runs would do",
    verdicts.RUNNER_DISTURBED: "other processes took the CPU during too many runs",
    verdicts.BUDGET_SPENT: "the time budget ended before the first look",
    verdicts.RUNNER_CHANGED: "the runner's own speed moved since the baseline, in the "
    "direction that could have faked the verdict",
}


def codes(rows: Sequence[verdicts.Row], closing: str = "") -> list[tuple[str, str]]:
    """Each verdict and metric the table shows, with its meaning, the reason code the
    closing line names (if any), then the columns'."""
    shown_verdicts = dict.fromkeys(r.verdict for r in rows)
    shown_metrics = dict.fromkeys(r.comparison.metric for r in rows)
    reasons = [(f"[{code}]", why) for code, why in REASON_CODES.items() if f"[{code}]" in closing]
    return (
        [(v, VERDICT_CODES.get(v, "the gate's verdict")) for v in shown_verdicts]
        + [(m, METRIC_CODES.get(m, "a recorded metric")) for m in shown_metrics]
        + reasons
        + list(COLUMN_CODES)
    )


def _times(runs: RunSet) -> list[float]:
    """When each of the side's benchmark runs was saved (seconds since the epoch)."""
    return [r.started for runs_ in runs.benchmarks.values() for r in runs_ if r.started > 0]


def _side(runs: RunSet) -> dict[str, Any]:
    times = _times(runs)
    return {
        "label": runs.label,
        "runs": len(runs.files),
        "files": [f.name for f in runs.files],
        "when": span(min(times, default=None), max(times, default=None)),
    }


def _golden(paths: Sequence[Path]) -> list[dict[str, str]]:
    found = []
    for path in map(Path, paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            why = getattr(err, "strerror", None) or err
            raise ReportError(
                f"golden difference {path}: cannot be read ({why})",
                "give the .diff.txt files the golden update wrote "
                "(pnsuite/detection/golden_update.py)",
            ) from None
        found.append({"name": path.name, "text": text})
    return found


def write_comparison_report(
    baseline: RunSet,
    current: RunSet,
    report: GateReport,
    notes: Sequence[str],
    out_dir: str | Path,
    golden_diffs: Sequence[Path] = (),
) -> Path:
    """Write the comparison's report.html and its PNG into `out_dir`; the page's path.

    `report` and `notes` are what `pnsuite.verdict.gate.compare_sets` and `check_sets` gave
    for these two sets; `golden_diffs` are golden update `.diff.txt` files to show."""
    golden = _golden(golden_diffs)
    plots, pngs = [], {}
    if report.rows:
        plots.append(
            {
                "name": "comparison",
                "title": "Baseline against current",
                "caption": "Left: each side's geometric mean (bars) and its runs "
                "(dots), each benchmark named by its parameters where all "
                "are one test's (the table has the full names). Right: the "
                "change with the gate's interval, coloured by verdict; the "
                "dashed line is the threshold.",
            }
        )
        # inference_ms in ms on the plot's axis (the gate's table prints it bare)
        pngs["comparison"] = charts.comparison(report.rows, {**UNITS, "inference_ms": (1.0, "ms")})
    alpha = report.policy.alpha_per_look
    closing = report_closing(report)
    context = {
        "baseline": _side(baseline),
        "current": _side(current),
        "verdict": report.verdict,
        "closing": closing,
        "rows": [_row(r) for r in report.rows],
        "alpha": alpha,
        "notes": list(notes),
        "left_out": report.left_out,
        "missing": report.missing,
        "new": report.new,
        "undecided": report.undecided,
        "preflight": format_preflight(report.preflight, report.policy),
        "runner": runner_line(report),
        "identity": identity_rows(baseline.machine_info, current.machine_info),
        "baseline_file": baseline.files[0].name if baseline.files else "",
        "current_file": current.files[0].name if current.files else "",
        "golden": golden,
        "plots": plots,
        "codes": codes(report.rows, closing),
        "when_measured": span(
            min(_times(baseline) + _times(current), default=None),
            max(_times(baseline) + _times(current), default=None),
        ),
    }
    return write_report(out_dir, TEMPLATE, context, pngs)
