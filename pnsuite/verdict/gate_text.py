"""The gate's verdicts as text: the rows table, the noise preflight's lines and the
closing line, shared by `peoplenet-gate` and the comparison report."""

from __future__ import annotations

from collections.abc import Sequence

from pnsuite.verdict import gate, verdicts

#: how each metric is shown: scale from its stored unit, and the unit's name
UNITS = {"round_s": (1e3, "ms"), "compute_infer_ms": (1.0, "ms"), "latency_p99_ms": (1.0, "ms")}


def format_rows(rows: Sequence[verdicts.Row]) -> str:
    """The rows as an aligned text table: runs, geometric means, change and its interval."""
    header = (
        "benchmark",
        "metric",
        "runs",
        "baseline",
        "current",
        "change",
        "interval",
        "p (Holm)",
        "verdict",
    )
    lines = [header]
    for r in rows:
        c = r.comparison
        scale, unit = UNITS.get(c.metric, (1.0, ""))
        needed = f" (~{r.runs_needed} runs/side)" if r.runs_needed else ""
        lines.append(
            (
                c.benchmark,
                c.metric,
                f"{len(c.old)}/{len(c.new)}",
                f"{verdicts.geometric_mean(c.old) * scale:.1f} {unit}",
                f"{verdicts.geometric_mean(c.new) * scale:.1f} {unit}",
                f"{c.change:+.1%}",
                f"{r.low - 1:+.1%}..{r.high - 1:+.1%}",
                f"{r.p_adjusted:.4f}",
                r.verdict + needed,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i in (0, 1, 8) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths))
        ).rstrip()
        for line in lines
    )


def format_preflight(items: Sequence[gate.Preflight], policy: verdicts.Policy) -> list[str]:
    lines = []
    for p in items:
        limit = policy.threshold_of(p.metric)
        if p.detectable <= limit:
            verdict = "ok"
        elif p.runs_for_threshold:
            verdict = f"ABOVE the {limit:.0%} threshold: needs ~{p.runs_for_threshold} current runs"
        elif p.runs_per_side:
            verdict = (
                f"ABOVE the {limit:.0%} threshold: needs a baseline and current side of "
                f"~{p.runs_per_side} runs each"
            )
        else:
            verdict = f"ABOVE the {limit:.0%} threshold even with 200 runs per side"
        lines.append(
            f"noise: {p.benchmark} {p.metric}: {p.sigma:.1%} per run over "
            f"{p.baseline_runs} baseline runs; {p.current_runs} current runs detect "
            f"{p.detectable:.1%} ({verdict})"
        )
    return lines


def runner_line(report: gate.GateReport) -> str:
    """What the runner-speed probe says about the runner between the two sides."""
    shift = report.runner
    if shift is None:
        return (
            "runner: not probed on both sides (runs recorded without the runner-speed "
            "probe): a move of the runner's own speed is not checked"
        )
    if report.runner_moved:
        what = (
            f"so the measured {report.measured_verdict} may be the runner's, not the "
            "build's: refused"
        )
    elif report.runner_unseen:
        what = (
            f"these probe runs see a move of {shift.resolution:.0%}, not yet one of the "
            f"{shift.threshold:.0%} threshold, so the measured {report.measured_verdict} "
            "is held"
        )
    elif shift.moved:
        what = "a move that cannot have faked this verdict"
    elif abs(shift.comparison.change) <= shift.tolerance:
        what = f"within the {shift.tolerance:.0%} tolerated"
    else:
        what = "not told from the probe's noise"
    return f"runner: {shift.describe()}: {what}"


def closing_line(
    verdict: str,
    report_rows: int,
    policy: verdicts.Policy,
    missing: int = 0,
    reason: verdicts.Undecided | None = None,
) -> str:
    """The gate's last line: its verdict, and for an inconclusive one the reason's code,
    why, and the next step (`reason`, built where the outcome was decided)."""
    where = (
        f"(threshold {policy.threshold:.0%}, alpha {policy.alpha} over {report_rows} comparisons)"
    )
    if verdict == verdicts.REGRESSION:
        what = f"{missing} baseline benchmark(s) missing; " if missing else ""
        return f"gate: FAILED: {what}a regression {where}"
    if verdict == verdicts.OK:
        return f"gate: passed: every benchmark within the threshold {where}"
    if reason is None:
        raise ValueError("an inconclusive verdict needs its reason")
    return f"gate: INCONCLUSIVE {reason.line()}"


def report_closing(report: gate.GateReport, rerun: verdicts.Rerun = verdicts.COMPARE_RERUN) -> str:
    """A gate report's closing line; `rerun` says how the command takes more runs."""
    return closing_line(
        report.verdict, len(report.rows), report.policy, len(report.missing), report.reason(rerun)
    )
