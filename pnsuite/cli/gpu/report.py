"""Tables and target verdicts from a GPU validation run's files (no GPU needed).

Reads `netbench.json` (pnsuite.cli.gpu.netbench), `crosscheck.json`
(pnsuite.cli.gpu.validate) and, if present, `pytest-benchmark.json` (the perf suite) from
one results dir, and writes `summary.md` and `summary.json` beside them.

    python3 -m pnsuite.cli.gpu.report results/gpu/nvidia-h100-x1/crosscheck-cuda-shm
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pnsuite.client.memory import Memory

#: the targets of the GPU validation (docs/gpu-validation.md)
MIN_BATCHING_SPEEDUP = 4.0  # dynamic batching at c16 over 1 instance unbatched
MIN_FRACTION_OF_BOUND = 0.40  # best configuration over the network's own bound
RATIO_BAND = 0.05  # suite / perf_analyzer within 5% at concurrency >= 4
MIN_RATIO_C1 = 0.95


def _load(path: Path) -> Any:
    """A results file's JSON; None when absent or empty (pytest-benchmark writes an empty
    file when no test recorded a benchmark)."""
    text = path.read_text() if path.is_file() else ""
    return json.loads(text) if text.strip() else None


def _f(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


MEMORY_NAMES = {Memory.SYSTEM: "system shm", Memory.GPU: "CUDA shm"}
CONTRAST = "perf_analyzer_contrast"


def memories(cross: dict[str, Any]) -> tuple[Memory, Memory | None]:
    """(memory of both generators' turns, memory of perf_analyzer's contrast run), read
    from crosscheck.json. Runs made before `--memory` existed used system shm, with a
    CUDA shm contrast."""
    legacy = any(
        "perf_analyzer_cuda_shm" in row
        for repo in cross.get("repos", [])
        for row in repo.get("concurrency", {}).values()
    )
    turns = Memory.parse(cross.get("memory", "system"), "crosscheck.json's memory")
    contrast = cross.get("contrast_memory")
    if contrast:
        return turns, Memory.parse(contrast, "crosscheck.json's contrast_memory")
    return turns, Memory.GPU if legacy else None


def contrast_of(row: dict[str, Any]) -> dict[str, Any]:
    return row.get(CONTRAST) or row.get("perf_analyzer_cuda_shm") or {}


def sources(cross: dict[str, Any]) -> dict[str, str]:
    main, other = memories(cross)
    out = {
        "suite": f"suite, {MEMORY_NAMES[main]}",
        "perf_analyzer": f"perf_analyzer, {MEMORY_NAMES[main]}",
    }
    if other:
        out[CONTRAST] = f"perf_analyzer, {MEMORY_NAMES[other]}, contrast run"
    return out


def ratio_of(row: dict[str, Any]) -> float | None:
    """The suite / perf_analyzer figure a target is judged on: the median of the turns'
    ratios where there are turns, else the ratio of the means."""
    return row.get("ratio_median_of_turns", row.get("ratio_suite_over_perf_analyzer"))


def _repo_kind(repo: dict[str, Any]) -> str:
    if repo.get("dynamic_batching"):
        return "dynamic"
    return "instances" if repo.get("instances", 1) > 1 else "baseline"


def batch_table(repo: dict[str, Any], steps: tuple[str, ...]) -> dict[int, dict[str, float]]:
    """Per batch size over the runs of the given kinds at every concurrency: executions
    and the execution-weighted mean ms of each phase."""
    sums: dict[int, dict[str, float]] = {}
    for row in repo.get("concurrency", {}).values():
        runs: list[dict[str, Any]] = []
        for step in steps:
            value = row.get(step)
            runs += value if isinstance(value, list) else ([value] if value else [])
        for run in runs:
            for size, stat in run.get("batch_stats", {}).items():
                acc = sums.setdefault(
                    int(size),
                    {
                        "executions": 0,
                        "compute_input_ms": 0.0,
                        "compute_infer_ms": 0.0,
                        "compute_output_ms": 0.0,
                    },
                )
                n = stat.get("executions", 0)
                acc["executions"] += n
                for phase in ("compute_input_ms", "compute_infer_ms", "compute_output_ms"):
                    acc[phase] += stat.get(phase, 0.0) * n
    for acc in sums.values():
        for phase in ("compute_input_ms", "compute_infer_ms", "compute_output_ms"):
            acc[phase] /= max(1, acc["executions"])
    return dict(sorted(sums.items()))


def targets(net: dict[str, Any] | None, cross: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each target: what it asks, the measured figure, and whether it is met."""
    out: list[dict[str, Any]] = []
    repos = {_repo_kind(r): r for r in (cross or {}).get("repos", []) if "error" not in r}

    labels = sources(cross or {})

    def pick(row: dict[str, Any], source: str) -> dict[str, Any]:
        return contrast_of(row) if source == CONTRAST else row.get(source, {})

    def thr(kind: str, c: int, source: str) -> float | None:
        row = repos.get(kind, {}).get("concurrency", {}).get(str(c), {})
        return pick(row, source).get("throughput")

    for source in labels:
        dyn, base = thr("dynamic", 16, source), thr("baseline", 16, source)
        if dyn and base:
            out.append(
                {
                    "target": f"dynamic batching at c16 >= {MIN_BATCHING_SPEEDUP:g}x "
                    f"1 instance unbatched ({labels[source]})",
                    "measured": f"{dyn:.1f} / {base:.1f} infer/s = {dyn / base:.2f}x",
                    "met": dyn / base >= MIN_BATCHING_SPEEDUP,
                }
            )
    bound = (net or {}).get("compute_bound_images_per_s")
    if bound:
        for source in labels:
            best = max(
                (
                    (pick(row, source).get("throughput") or 0.0, repo["repo"], c)
                    for repo in repos.values()
                    for c, row in repo.get("concurrency", {}).items()
                ),
                default=None,
            )
            if best and best[0]:
                out.append(
                    {
                        "target": f"best configuration >= {MIN_FRACTION_OF_BOUND:.0%} of "
                        f"the network's bound ({labels[source]})",
                        "measured": f"{best[0]:.1f} infer/s ({best[1]}, c{best[2]}) / "
                        f"{bound:.1f} images/s = {best[0] / bound:.1%}",
                        "met": best[0] / bound >= MIN_FRACTION_OF_BOUND,
                    }
                )
    for repo in repos.values():
        for c, row in repo.get("concurrency", {}).items():
            ratio = ratio_of(row)
            if ratio is None:
                out.append(
                    {
                        "target": f"suite / perf_analyzer, {repo['repo']} c{c}",
                        "measured": "no ratio (a measurement failed)",
                        "met": False,
                    }
                )
                continue
            c_int = int(c)
            if c_int >= 4:
                met, want = abs(ratio - 1.0) <= RATIO_BAND, f"within {RATIO_BAND:.0%}"
            elif c_int == 1:
                met, want = ratio >= MIN_RATIO_C1, f">= {MIN_RATIO_C1}"
            else:
                met, want = None, "(no target at c2)"
            out.append(
                {
                    "target": f"suite / perf_analyzer {want}, {repo['repo']} c{c}",
                    "measured": f"{ratio:.3f}",
                    "met": met,
                }
            )
    return out


def network_section(net: dict[str, Any]) -> list[str]:
    """The network alone: time per batch size, the compute bound and one image's copies."""
    lines = [
        "## The network alone (CUDA events, outside Triton)",
        "",
        f"{net['device']}, torch {net['torch']} (CUDA {net['cuda']}, cuDNN "
        f"{net['cudnn']}, benchmark mode {'on' if net['cudnn_benchmark'] else 'off'}), "
        f"{net['parameters'] / 1e6:.1f} M parameters, fp16 channels-last. "
        f"Median of {next(iter(net['network'].values()))['forward']['runs']} runs.",
        "",
        "| batch | forward ms | ms/image | images/s | with fp32 in/out, ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, row in net["network"].items():
        fw, served = row["forward"], row["run_network"]
        lines.append(
            f"| {n} | {_f(fw['median_ms'], 3)} | {_f(fw['ms_per_image'], 3)} | "
            f"{_f(fw['images_per_s'], 0)} | {_f(served['median_ms'], 3)} |"
        )
    if net.get("compute_bound_images_per_s"):
        lines += [
            "",
            f"Compute bound (batch 16, forward only): "
            f"**{net['compute_bound_images_per_s']:.0f} images/s**.",
        ]
    copies = net.get("copies", {})
    if copies:
        lines += [
            "",
            "One 6.3 MB FP32 image: "
            + ", ".join(
                f"{k.replace('_', ' ')} {v:.3f} ms" for k, v in copies.items() if k != "image_bytes"
            )
            + ".",
        ]
    lines.append("")
    return lines


def _throughput_row(repo_name: str, c: str, row: dict[str, Any]) -> str:
    """One concurrency's line of the throughput table."""
    s, p = row.get("suite", {}), row.get("perf_analyzer", {})
    hist = ", ".join(f"{k}x{v}" for k, v in s.get("batch_executions", {}).items())
    return (
        f"| {repo_name} | {c} | {_f(s.get('throughput'))} | {_f(p.get('throughput'))} "
        f"| {_f(ratio_of(row), 3)} "
        f"({', '.join(_f(r, 3) for r in row.get('ratio_each_turn', []))}) "
        f"| {_f(s.get('p50_ms'), 2)} / {_f(s.get('p99_ms'), 2)} "
        f"| {_f(p.get('p50_ms'), 2)} / {_f(p.get('p99_ms'), 2)} | {hist} "
        f"| {_f(s.get('client_cpu_ms_per_request'), 3)} "
        f"| {_f(contrast_of(row).get('throughput'))} "
        f"| {_f(100 * s['spread'], 1) + '%' if 'spread' in s else '–'} "
        f"| {_f(s.get('server_queue_ms'), 2)} |"
    )


def throughput_section(cross: dict[str, Any], main: Memory, other_name: str) -> list[str]:
    """The suite's load against perf_analyzer: one row per repository and concurrency."""
    lines = [
        "## Throughput and latency: the suite's load vs perf_analyzer",
        "",
        f"Same server, same image (capture.jpg), {MEMORY_NAMES[main]}. Suite = "
        "`pnsuite.client.load.ClosedLoopLoad`. At each concurrency the suite and "
        "perf_analyzer take turns, the suite first and last; the suite's figures "
        "are its runs together, the ratio compares each perf_analyzer run with the "
        "mean of the two suite runs beside it (each turn in brackets; the figure "
        "outside is their median where the run recorded one, else the ratio of the "
        "means), and the spread is how far the suite's own runs differ (the "
        "server's drift meanwhile). Latencies are client-side. The last columns: "
        f"perf_analyzer with its tensors in {other_name} (not the transport of the "
        "turns), and the time requests waited in Triton's queue during the suite's "
        "runs.",
        "",
        "| repo | c | suite infer/s | perf_analyzer infer/s | ratio (each turn) "
        "| suite p50 / p99 ms | PA p50 / p99 ms | batch size x executions (suite) "
        "| client CPU ms/req "
        f"| PA, {other_name} infer/s | suite runs' spread | server queue ms (suite) |",
        "|---|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for repo in cross["repos"]:
        if "error" in repo:
            lines.append(f"| {repo['repo']} | FAILED: {repo['error'][:200]} |")
            continue
        for c, row in repo["concurrency"].items():
            lines.append(_throughput_row(repo["repo"], c, row))
    return lines


def batch_size_sections(cross: dict[str, Any], main: Memory, other_name: str) -> list[str]:
    """compute_infer per batch size: the turns' runs, then perf_analyzer's contrast runs."""
    lines: list[str] = []
    for title, steps in (
        (
            f"{MEMORY_NAMES[main]}: the suite's and perf_analyzer's runs",
            ("suite_runs", "perf_analyzer_runs"),
        ),
        (f"{other_name}: perf_analyzer's contrast runs", (CONTRAST, "perf_analyzer_cuda_shm")),
    ):
        lines += [
            "",
            f"## compute_infer per batch size, {title} (Triton's statistics)",
            "",
            "| repo | batch | executions | compute_input ms | compute_infer ms "
            "| compute_infer ms/image | compute_output ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for repo in cross["repos"]:
            for size, row in batch_table(repo, steps).items():
                lines.append(
                    f"| {repo['repo']} | {size} | {row['executions']} "
                    f"| {_f(row['compute_input_ms'], 3)} "
                    f"| {_f(row['compute_infer_ms'], 3)} "
                    f"| {_f(row['compute_infer_ms'] / size, 3)} "
                    f"| {_f(row['compute_output_ms'], 3)} |"
                )
    return lines


def answers_section(cross: dict[str, Any]) -> list[str]:
    """Whether each repository answered every image with its own answer."""
    lines = [
        "",
        "Answers checked (8 different images at once, against the network outside Triton):",
        "",
    ]
    for repo in cross["repos"]:
        a = repo.get("answers")
        if a:
            lines.append(
                f"- {repo['repo']}: {'OK' if a.get('ok') else 'WRONG'} "
                f"(max |cov diff| {_f(a.get('max_abs_cov_diff'), 4)}, max |bbox diff| "
                f"{_f(a.get('max_abs_bbox_diff'), 4)}; between two images' cov "
                f"{_f(a.get('cov_diff_between_images'), 3)}; batches {a.get('batches')})"
            )
    lines.append("")
    return lines


def crosscheck_sections(cross: dict[str, Any]) -> list[str]:
    """Everything from crosscheck.json: throughput, batch sizes, answers."""
    main, other = memories(cross)
    other_name = MEMORY_NAMES[other] if other else "other memory"
    return (
        throughput_section(cross, main, other_name)
        + batch_size_sections(cross, main, other_name)
        + answers_section(cross)
    )


def benchmark_section(bench: dict[str, Any]) -> list[str]:
    """The perf suite's benchmarks as pytest-benchmark recorded them."""
    lines = [
        "## The perf suite's recorded benchmarks (pytest-benchmark)",
        "",
        "| benchmark | median round s | infer/s | p50 / p99 ms | compute_infer ms/inf | batches |",
        "|---|---:|---:|---|---:|---|",
    ]
    for b in bench.get("benchmarks", []):
        e = b.get("extra_info", {})
        thr = e.get("throughput_infer_per_s", e.get("suite_throughput_infer_per_s"))
        extra = ""
        if "ratio_suite_over_perf_analyzer" in e:
            extra = (
                f" (perf_analyzer {e['perf_analyzer_throughput_infer_per_s']}, "
                f"ratio {e['ratio_suite_over_perf_analyzer']})"
            )
        lines.append(
            f"| {b['name']} | {_f(b['stats']['median'], 4)} | {_f(thr)}{extra} "
            f"| {_f(e.get('latency_p50_ms'), 2)} / {_f(e.get('latency_p99_ms'), 2)} "
            f"| {_f(e.get('server_compute_infer_ms'), 3)} "
            f"| {e.get('batch_size_histogram', '')} |"
        )
    lines.append("")
    return lines


def targets_section(verdicts: list[dict[str, Any]]) -> list[str]:
    """The targets table: each target, its measured figure, whether it is met."""
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in verdicts:
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**NO**")
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    lines.append("")
    return lines


def markdown(
    net: dict[str, Any] | None, cross: dict[str, Any] | None, bench: dict[str, Any] | None
) -> str:
    """The summary's body: a section for each results file present, then the targets."""
    lines: list[str] = []
    if net:
        lines += network_section(net)
    if cross:
        lines += crosscheck_sections(cross)
    if bench:
        lines += benchmark_section(bench)
    verdicts = targets(net, cross)
    if verdicts:
        lines += targets_section(verdicts)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    net = _load(args.results / "netbench.json")
    cross = _load(args.results / "crosscheck.json")
    bench = _load(args.results / "pytest-benchmark.json")
    text = markdown(net, cross, bench)
    (args.results / "summary.md").write_text("# GPU validation summary\n\n" + text)
    (args.results / "summary.json").write_text(
        json.dumps(
            {
                "targets": targets(net, cross),
                "compute_bound_images_per_s": (net or {}).get("compute_bound_images_per_s"),
            },
            indent=2,
        )
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
