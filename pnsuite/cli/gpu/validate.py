"""The GPU cross-check: the suite's load generator and perf_analyzer on the GPU repositories.

For each model repository: start the embedded server (pnsuite.server, as the suite does),
check that every request gets its own image's answer while the model batches (against the
network's outputs written by pnsuite.cli.gpu.netbench), then at each concurrency run
perf_analyzer and the suite's closed loop (pnsuite.client.load.ClosedLoopLoad, spread over
processes by pnsuite.client.multiprocess_load) on the same server with the
same image in the same memory (`--memory`: gpu, i.e. CUDA shared memory, or system), and
keep both throughputs, their latencies, the server's statistics (per batch size:
executions and compute_infer) and the suite's client CPU per request. perf_analyzer can
also run once in the other memory (`--contrast-memory`), to show what the transport costs
the served model. Everything goes to one JSON file; pnsuite.cli.gpu.report makes the
tables.

    python3 -m pnsuite.cli.gpu.validate --out results/crosscheck.json --references refs.npz \\
        model_repos/gpu/baseline_1_instance model_repos/gpu/sample_1_instances ...
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from pnsuite.cli.vocabulary import add_option, add_server_args
from pnsuite.client.memory import Memory, argument_type
from pnsuite.client.multiprocess_load import make_load
from pnsuite.client.peoplenet import PeopleNetClient
from pnsuite.detection import detectnet
from pnsuite.measure import perf_analyzer, records, triton_stats
from pnsuite.measure.run import MeasuredRun, measure
from pnsuite.measure.windows import WindowPlan
from pnsuite.paths import GOLDEN_IMAGES
from pnsuite.repository import model_config
from pnsuite.server.embedded import EmbeddedLauncher
from pnsuite.server.launcher import check_server_args
from pnsuite.server.triton import TritonServer

IMAGES = GOLDEN_IMAGES
CAPTURE = IMAGES / "capture.jpg"
MODEL = "peoplenet"
#: fp16 answers of the same network: batch composition may change cuDNN's kernels.
COV_TOLERANCE = 0.02
BBOX_TOLERANCE = 0.1
#: the memories both load generators can share the tensors through
SHARED = (Memory.SYSTEM, Memory.GPU)


def capture_tensor() -> np.ndarray:
    """The suite's request image (capture.jpg, letterboxed): [1, 3, 544, 960] float32."""
    chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE))
    return chw[None]


def check_inputs() -> np.ndarray:
    """Eight distinct real images ([8, 3, 544, 960]): the golden images and mirror images
    of them, so that a mixed-up answer cannot pass for the right one."""
    images = [
        detectnet.preprocess(detectnet.load_image(p))[0] for p in sorted(IMAGES.glob("*.jpg"))
    ]
    images += [np.ascontiguousarray(img[:, :, ::-1]) for img in images]
    return np.stack(images[:8]).astype(np.float32)


def check_answers(server: TritonServer, references: Path, memory: Memory) -> dict[str, Any]:
    """Eight clients send eight different images at once; each answer must be its own
    image's (the network's outputs from netbench), whatever batches the server formed."""
    refs = np.load(references)
    inputs, cov_ref, bbox_ref = refs["inputs"], refs["cov"], refs["bbox"]
    barrier = threading.Barrier(len(inputs))
    answers: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(inputs)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with PeopleNetClient(server.grpc_url, MODEL, memory=memory) as client:
                client.stage(inputs[i : i + 1])
                barrier.wait(timeout=60)
                answers[i] = client.infer_staged()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)
            barrier.abort()

    with server.grpc_client() as client:
        before = triton_stats.snapshot(client, MODEL)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(inputs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = triton_stats.snapshot(client, MODEL)
    if errors:
        return {"ok": False, "error": repr(errors[0])}
    # No thread failed, so each one answered.
    answered = cast(list[tuple[np.ndarray, np.ndarray]], answers)
    cov_diff = max(float(np.abs(a[0][0] - cov_ref[i]).max()) for i, a in enumerate(answered))
    bbox_diff = max(float(np.abs(a[1][0] - bbox_ref[i]).max()) for i, a in enumerate(answered))
    # How far apart the images' answers are: a swapped answer would differ by this much.
    spread = float(np.abs(cov_ref[0] - cov_ref[1]).max())
    finite = all(np.isfinite(a[0]).all() and np.isfinite(a[1]).all() for a in answered)
    return {
        "ok": bool(finite and cov_diff <= COV_TOLERANCE and bbox_diff <= BBOX_TOLERANCE),
        "max_abs_cov_diff": cov_diff,
        "max_abs_bbox_diff": bbox_diff,
        "cov_diff_between_images": spread,
        "finite": bool(finite),
        "batches": {str(k): v for k, v in (after - before).batches.items()},
    }


def measure_suite(
    server: TritonServer,
    tensor: np.ndarray,
    concurrency: int,
    seconds: float,
    memory: Memory,
    processes: int = 1,
) -> dict[str, Any]:
    """The suite's closed loop, measured by the engine (pnsuite.measure.run): a warm-up,
    then one window of about `seconds` from `concurrency` threads (shared memory, the
    input staged once per client) in `processes` processes, with the server's view over
    exactly that window and the client's CPU time."""
    plan = WindowPlan(seconds=seconds, stable=1, max_windows=1, warmup_s=0.5)
    with make_load(server.grpc_url, tensor, concurrency, memory, processes, MODEL) as load:
        run = measure(server, load, plan, model=MODEL)
    return suite_figures(run)


def suite_figures(run: MeasuredRun) -> dict[str, Any]:
    """A measured run as the cross-check's JSON keeps it (pnsuite.cli.gpu.report reads it)."""
    requests = run.counted_requests
    seconds = sum(w.seconds for w in run.counted_windows)
    cpu = run.client_cpu_s
    return {
        "requests": requests,
        "seconds": round(seconds, 4),
        "throughput": round(run.throughput, 2),
        "p50_ms": round(run.latency_p50_ms, 3),
        "p90_ms": round(run.latency_p90_ms, 3),
        "p99_ms": round(run.latency_p99_ms, 3),
        "client_cpu_ms_per_request": round(cpu / requests * 1e3, 4),
        "client_cpu_cores": round(cpu / seconds, 3),
        "server": run.server_stats,
        "batch_stats": run.batch_stats,
    }


def _mean_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The suite's figure at one concurrency: requests over seconds of both runs, the
    latencies and client CPU averaged, the batch sizes of both."""
    good = [r for r in runs if "throughput" in r]
    if not good:
        return {"error": "no suite run succeeded"}
    requests = sum(r["requests"] for r in good)
    seconds = sum(r["seconds"] for r in good)
    out: dict[str, Any] = {
        "runs": len(good),
        "requests": requests,
        "seconds": round(seconds, 4),
        "throughput": round(requests / seconds, 2),
    }
    for key in ("p50_ms", "p90_ms", "p99_ms", "client_cpu_ms_per_request", "client_cpu_cores"):
        out[key] = round(sum(r[key] for r in good) / len(good), 4)
    # Requests waiting in Triton's queue: above zero, the server never waited for the client.
    out["server_queue_ms"] = round(
        sum(r["server"]["queue_ms_per_inference"] for r in good) / len(good), 3
    )
    # How much the server's own speed moved between the suite's runs at this concurrency.
    thr = [r["throughput"] for r in good]
    out["spread"] = round((max(thr) - min(thr)) / (sum(thr) / len(thr)), 4)
    sizes: dict[int, int] = {}
    for r in good:
        for size, row in r["batch_stats"].items():
            sizes[int(size)] = sizes.get(int(size), 0) + int(row["executions"])
    out["batch_executions"] = dict(sorted(sizes.items()))
    return out


def _mean_of_pa_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """perf_analyzer's figure at one concurrency: the mean of its runs."""
    good = [r for r in runs if "throughput" in r]
    if not good:
        return {"error": "no perf_analyzer run succeeded"}
    out: dict[str, Any] = {"runs": len(good)}
    for key in (
        "throughput",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "server_compute_infer_ms",
        "server_queue_ms",
    ):
        out[key] = round(sum(r[key] for r in good) / len(good), 4)
    out["csv"] = [r["csv"] for r in good]
    return out


def measure_perf_analyzer(
    server: TritonServer,
    tensor: np.ndarray,
    concurrency: int,
    workdir: Path,
    csv_dir: Path,
    measurement_ms: int,
    tag: str = "",
    memory: Memory = Memory.GPU,
) -> dict[str, Any]:
    """perf_analyzer at one concurrency (pnsuite.measure.perf_analyzer: the same image
    in system or CUDA shared memory); its CSV is kept, and its own CPU time."""
    with server.grpc_client() as client:
        before = triton_stats.snapshot(client, MODEL)
        usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        result = perf_analyzer.run(
            server.grpc_url,
            tensor,
            concurrency,
            workdir,
            model=MODEL,
            measurement_ms=measurement_ms,
            memory=memory,
        )
        wall = time.perf_counter() - began
        usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = triton_stats.snapshot(client, MODEL)
    name = f"{server.model_repository.name}_c{concurrency}{'_' + tag if tag else ''}.csv"  # type: ignore[union-attr]
    kept = csv_dir / name
    shutil.copy2(result.csv_path, kept)
    with result.csv_path.open() as fh:
        header, row = fh.readline().strip().split(","), fh.readline().strip().split(",")
    raw = dict(zip(header, row))
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {
        "throughput": round(result.throughput, 2),
        "p50_ms": result.p50_ms,
        "p90_ms": float(raw.get("p90 latency", "nan")) / 1e3,
        "p99_ms": result.p99_ms,
        "server_compute_infer_ms": float(raw.get("Server Compute Infer", "nan")) / 1e3,
        "server_queue_ms": float(raw.get("Server Queue", "nan")) / 1e3,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "csv": kept.name,
        "batch_stats": (after - before).batch_table(),
    }


def _take_turns(
    server: TritonServer,
    repo: Path,
    args: argparse.Namespace,
    tensor: np.ndarray,
    c: int,
    work: Path,
    csv_dir: Path,
) -> dict[str, Any]:
    """The suite and perf_analyzer in turns at concurrency `c`, the suite first and last.

    The server's own speed drifted by several percent within seconds on the H100 of
    docs/gpu-validation.md; taking turns spreads such drift over both sides.
    """
    row: dict[str, Any] = {"suite_runs": [], "perf_analyzer_runs": []}
    for turn in range(2 * args.rounds + 1):
        try:
            if turn % 2:
                row["perf_analyzer_runs"].append(
                    measure_perf_analyzer(
                        server,
                        tensor,
                        c,
                        work / "pa" / repo.name,
                        csv_dir,
                        args.pa_interval_ms,
                        tag=f"r{turn // 2 + 1}",
                        memory=args.memory,
                    )
                )
            else:
                row["suite_runs"].append(
                    measure_suite(
                        server, tensor, c, args.measure_s, args.memory, args.load_processes
                    )
                )
        except Exception as err:  # noqa: BLE001 - one failed point is reported, not fatal
            key = "perf_analyzer_runs" if turn % 2 else "suite_runs"
            row[key].append({"error": str(err)[-1500:]})
    return row


def _measure_contrast(
    server: TritonServer,
    repo: Path,
    args: argparse.Namespace,
    tensor: np.ndarray,
    c: int,
    work: Path,
    csv_dir: Path,
) -> dict[str, Any]:
    """perf_analyzer once with the tensors in the other memory: with system memory, the
    python backend copies each input twice on the CPU."""
    try:
        return measure_perf_analyzer(
            server,
            tensor,
            c,
            work / "pa" / repo.name,
            csv_dir,
            args.pa_interval_ms,
            tag=f"{args.contrast_memory}-shm",
            memory=args.contrast_memory,
        )
    except Exception as err:  # noqa: BLE001 - the contrast is extra: its error is recorded
        return {"error": str(err)[-1500:]}


def _add_ratios(row: dict[str, Any]) -> None:
    """The suite over perf_analyzer: of the means, of each turn, and the turns' median."""
    pa, ours = row["perf_analyzer"], row["suite"]
    if not (pa.get("throughput") and ours.get("throughput")):
        return
    row["ratio_suite_over_perf_analyzer"] = round(ours["throughput"] / pa["throughput"], 4)
    # Each perf_analyzer run against the mean of the suite runs beside it.
    suites = [r.get("throughput") for r in row["suite_runs"]]
    row["ratio_each_turn"] = [
        round((suites[i] + suites[i + 1]) / 2 / r["throughput"], 4)
        for i, r in enumerate(row["perf_analyzer_runs"])
        if r.get("throughput") and suites[i] and suites[i + 1]
    ]
    if row["ratio_each_turn"]:
        # What the targets are judged on, as tests/perf/test_perf_analyzer.py does.
        row["ratio_median_of_turns"] = round(statistics.median(row["ratio_each_turn"]), 4)


def _print_point(repo: Path, c: int, row: dict[str, Any], contrast_memory: Memory | None) -> None:
    pa, ours = row["perf_analyzer"], row["suite"]
    print(
        f"[{repo.name}] c={c:2d}: perf_analyzer {pa.get('throughput', 'ERR')}/s "
        f"p50 {pa.get('p50_ms', '-')} ms | suite {ours.get('throughput', 'ERR')}/s "
        f"p50 {ours.get('p50_ms', '-')} ms, client CPU "
        f"{ours.get('client_cpu_ms_per_request', '-')} ms/req | ratio "
        f"{row.get('ratio_suite_over_perf_analyzer', '-')} "
        f"{row.get('ratio_each_turn', '')} | perf_analyzer, {contrast_memory} "
        f"memory: {row.get('perf_analyzer_contrast', {}).get('throughput', '-')}/s",
        flush=True,
    )


def measure_concurrency(
    server: TritonServer,
    repo: Path,
    args: argparse.Namespace,
    tensor: np.ndarray,
    c: int,
    work: Path,
    csv_dir: Path,
) -> dict[str, Any]:
    """One concurrency: the turns, the contrast run where asked, each side's figure and
    their ratios."""
    row = _take_turns(server, repo, args, tensor, c, work, csv_dir)
    if args.contrast_memory and c in args.contrast_at:
        row["perf_analyzer_contrast"] = _measure_contrast(
            server, repo, args, tensor, c, work, csv_dir
        )
    row["suite"] = _mean_of_runs(row["suite_runs"])
    row["perf_analyzer"] = _mean_of_pa_runs(row["perf_analyzer_runs"])
    _add_ratios(row)
    _print_point(repo, c, row, args.contrast_memory)
    return row


def repo_entry(repo: Path) -> dict[str, Any]:
    """What the repository's config says: instances, batching and its digest."""
    config = model_config.read_config(repo)
    return {
        "repo": repo.name,
        "instances": model_config.instance_count(config),
        "dynamic_batching": model_config.batches_dynamically(config),
        "config_digest": model_config.config_digest(config),
        "concurrency": {},
    }


def measure_repo(
    repo: Path, args: argparse.Namespace, tensor: np.ndarray, work: Path, csv_dir: Path
) -> dict[str, Any]:
    """Start the repo's server, check answers, then perf_analyzer and the suite at each
    concurrency; the server's statistics over the whole measurement."""
    entry = repo_entry(repo)
    began = time.perf_counter()
    server = TritonServer(
        EmbeddedLauncher(),
        repo,
        workdir=work / "server" / repo.name,
        ready_timeout_s=args.ready_timeout,
        stop_timeout_s=30,
        extra_args=args.triton_server_args,
    )
    with server:
        entry["ready_after_s"] = round(server.ready_after_s or 0.0, 2)
        entry["server"] = records.server_identity(server, MODEL)
        print(f"[{repo.name}] ready after {entry['ready_after_s']} s", flush=True)
        if args.references:
            entry["answers"] = check_answers(server, args.references, args.memory)
            print(f"[{repo.name}] answers: {entry['answers']}", flush=True)
        with server.grpc_client() as client:
            first = triton_stats.snapshot(client, MODEL)
        for c in args.concurrency:
            entry["concurrency"][str(c)] = measure_concurrency(
                server, repo, args, tensor, c, work, csv_dir
            )
        with server.grpc_client() as client:
            entry["batch_stats"] = (triton_stats.snapshot(client, MODEL) - first).batch_table()
    entry["server_log_tail"] = server.log_tail(30)
    entry["seconds"] = round(time.perf_counter() - began, 1)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--work", type=Path, default=Path("/tmp/pnsuite-gpu-work"))
    parser.add_argument("--references", type=Path, help="netbench's reference outputs (npz)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument(
        "--measure-s",
        type=float,
        default=4.0,
        help="the suite's run: about this long at perf_analyzer's rate",
    )
    parser.add_argument("--pa-interval-ms", type=int, default=2000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="perf_analyzer runs per concurrency (the suite runs one more)",
    )
    add_option(parser, "--triton-ready-timeout", dest="ready_timeout", type=float, default=300.0)
    add_server_args(parser, "tritonserver options for every server (repeatable)")
    add_option(
        parser,
        "--triton-memory",
        dest="memory",
        type=argument_type(SHARED),
        choices=SHARED,
        default=Memory.GPU,
        help="where both load generators put the tensors (default gpu: CUDA shared memory)",
    )
    parser.add_argument(
        "--load-processes",
        type=int,
        default=1,
        help="processes the suite's client threads are spread over",
    )
    parser.add_argument(
        "--contrast-memory",
        type=argument_type(SHARED),
        choices=SHARED,
        help="also run perf_analyzer once with its tensors in this memory",
    )
    parser.add_argument(
        "--contrast-at",
        type=int,
        nargs="+",
        default=[16],
        help="concurrencies of the contrast run (default 16)",
    )
    args = parser.parse_args(argv)
    args.triton_server_args = check_server_args(args.triton_server_args)
    csv_dir = args.out.parent / "perf_analyzer"
    csv_dir.mkdir(parents=True, exist_ok=True)
    tensor = capture_tensor()
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv,
        "concurrency": args.concurrency,
        "measure_s": args.measure_s,
        "pa_interval_ms": args.pa_interval_ms,
        "memory": args.memory.value,
        "contrast_memory": None if args.contrast_memory is None else args.contrast_memory.value,
        "load_processes": args.load_processes,
        "server_args": list(args.triton_server_args),
        "repos": [],
    }
    for repo in args.repos:
        try:
            result["repos"].append(measure_repo(repo.resolve(), args, tensor, args.work, csv_dir))
        except Exception as err:  # noqa: BLE001 - the other repos still run
            result["repos"].append({"repo": repo.name, "error": str(err)[-3000:]})
            print(f"[{repo.name}] FAILED: {err}", flush=True)
        args.out.write_text(json.dumps(result, indent=2))  # partial results survive a timeout
    return 0 if all("error" not in r for r in result["repos"]) else 1


if __name__ == "__main__":
    sys.exit(main())
