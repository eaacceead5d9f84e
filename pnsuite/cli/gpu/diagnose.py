"""Where a served image's time goes: the GPU stand-in's data path, measured piece by piece.

Runs short closed-loop loads (the suite's ClosedLoopLoad) against variants of the GPU
repositories, each server started with execute() profiling on (the stand-in's `profile`
parameter) and optionally another environment (e.g. glibc malloc settings), and reports
Triton's per-request phases (compute_input / compute_infer / compute_output) beside the
stand-in's own per-execution phases (inputs, copy_in, network, responses, and the time
between executions). Also times numpy's allocate-and-copy of an input-sized array, which
the python backend's stub does for every CPU input tensor before execute() runs, and
starts two GPU servers at once (as a perf-suite run does).

    python3 -m pnsuite.cli.gpu.diagnose --out results/diagnose.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pnsuite.cli.gpu.validate import MODEL, capture_tensor
from pnsuite.client.load import ClosedLoopLoad
from pnsuite.client.memory import Memory
from pnsuite.measure import perf_analyzer, triton_stats
from pnsuite.measure.run import measure
from pnsuite.measure.windows import WindowPlan
from pnsuite.models.malloc_tuning import keep_freed_environment
from pnsuite.paths import MODEL_REPOS
from pnsuite.repository import model_config
from pnsuite.server.embedded import EmbeddedLauncher
from pnsuite.server.triton import TritonServer

GPU_REPOS = MODEL_REPOS / "gpu"
#: the stand-in's malloc settings (pnsuite/models/malloc_tuning.py) as a process's environment
MALLOC_KEEP = keep_freed_environment()

NUMPY_COPY = r"""
import json, time, numpy as np
src = np.random.default_rng(0).random((1, 3, 544, 960), dtype=np.float32)
out = {}
for held in (1, 16):
    times = []
    for _ in range(30):
        began = time.perf_counter()
        copies = [np.array(src, copy=True) for _ in range(held)]
        times.append((time.perf_counter() - began) / held * 1e3)
        del copies
    out[f"held_{held}"] = sorted(times)[len(times) // 2]
print(json.dumps(out))
"""


def numpy_copy_cost(env: dict[str, str]) -> dict[str, Any]:
    """Median ms per numpy allocate-and-copy of one 6.3 MB image, one at a time and 16
    held at once (a batch's inputs), in a fresh process with `env` added."""
    done = subprocess.run(
        [sys.executable, "-c", NUMPY_COPY],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-500:]}


def profile_lines(log: str) -> list[str]:
    return [line.split('"', 1)[-1].rstrip('"') for line in log.splitlines() if " profile: " in line]


def run_case(
    name: str,
    repo: Path,
    work: Path,
    env: dict[str, str],
    concurrency: int,
    seconds: float,
    **variant: Any,
) -> dict[str, Any]:
    """One server (a variant of `repo` with profiling on), one closed-loop load."""
    derived = model_config.write_variant(
        repo, work / name / repo.name, parameters={"profile": "100"}, **variant
    )
    began = time.perf_counter()
    out: dict[str, Any] = {
        "case": name,
        "repo": repo.name,
        "env": env,
        "variant": variant,
        "concurrency": concurrency,
    }
    server = TritonServer(
        EmbeddedLauncher(), derived, workdir=work / name / "server", ready_timeout_s=300, env=env
    )
    tensor = capture_tensor()
    try:
        with server:
            out["ready_after_s"] = round(server.ready_after_s or 0.0, 1)
            with ClosedLoopLoad(server.grpc_url, tensor, concurrency, MODEL) as load:
                run = measure(
                    server,
                    load,
                    WindowPlan(seconds=seconds, stable=1, max_windows=1, warmup_s=0.5),
                    model=MODEL,
                )
            out["throughput"] = round(run.throughput, 1)
            out["server"] = run.server_stats
            out["batch_stats"] = run.batch_stats
    except Exception as err:  # noqa: BLE001 - the case reports it
        out["error"] = str(err)[-2500:]
    out["profile"] = profile_lines(server.logs())[-3:]
    out["stub_lines"] = [
        line[-300:]
        for line in server.logs().splitlines()
        if "gpu-standin" in line and "profile" not in line
    ][:6]
    out["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(out), flush=True)
    return out


def two_servers_at_once(work: Path, env: dict[str, str]) -> dict[str, Any]:
    """The perf suite keeps one server per repository up for its whole run: start the
    3-instance server while the baseline's is up, as the suite does."""
    out: dict[str, Any] = {}
    first = TritonServer(
        EmbeddedLauncher(),
        GPU_REPOS / "baseline_1_instance",
        workdir=work / "pair" / "a",
        ready_timeout_s=300,
        env=env,
    )
    second = TritonServer(
        EmbeddedLauncher(),
        GPU_REPOS / "sample_1_instances",
        workdir=work / "pair" / "b",
        ready_timeout_s=300,
        env=env,
    )
    with first:
        try:
            with second:
                out["second_ready_after_s"] = second.ready_after_s
        except Exception as err:  # noqa: BLE001 - the diagnosis records it
            out["error"] = str(err)[-800:]
        out["second_log"] = [
            line[-400:]
            for line in second.logs().splitlines()
            if "gpu-standin" in line or "rror" in line
        ][:12]
    print(json.dumps(out), flush=True)
    return out


def input_memory_cases(work: Path, concurrencies: dict[str, list[int]]) -> list[dict[str, Any]]:
    """perf_analyzer with its inputs in system vs CUDA shared memory on each repo.

    With CUDA shared memory the python backend hands the model a GPU tensor (CUDA IPC):
    neither Triton's copy into the backend's shared memory nor the stub's numpy copy
    happens. The difference is what those two CPU copies cost the served model.
    """
    tensor = capture_tensor()
    out = []
    for name, levels in concurrencies.items():
        repo = model_config.write_variant(
            GPU_REPOS / name, work / "memory" / name, parameters={"profile": "200"}
        )
        server = TritonServer(
            EmbeddedLauncher(),
            repo,
            workdir=work / "memory" / f"{name}-server",
            ready_timeout_s=300,
        )
        case: dict[str, Any] = {"repo": name, "runs": []}
        try:
            with server:
                for c in levels:
                    for memory in (Memory.SYSTEM, Memory.GPU):
                        with server.grpc_client() as client:
                            before = triton_stats.snapshot(client, MODEL)
                            try:
                                result = perf_analyzer.run(
                                    server.grpc_url,
                                    tensor,
                                    c,
                                    work / "memory" / f"{name}-pa",
                                    model=MODEL,
                                    memory=memory,
                                )
                                row: dict[str, Any] = {
                                    "throughput": round(result.throughput, 2),
                                    "p50_ms": result.p50_ms,
                                }
                            except Exception as err:  # noqa: BLE001 - the row records it
                                row = {"error": str(err)[-800:]}
                            row["batch_stats"] = (
                                triton_stats.snapshot(client, MODEL) - before
                            ).batch_table()
                        row.update({"concurrency": c, "shared_memory": memory.value})
                        case["runs"].append(row)
                        print(
                            json.dumps(
                                {
                                    "repo": name,
                                    **{k: v for k, v in row.items() if k != "batch_stats"},
                                }
                            ),
                            flush=True,
                        )
        except Exception as err:  # noqa: BLE001 - the case records it
            case["error"] = str(err)[-1500:]
        case["profile"] = profile_lines(server.logs())[-6:]
        out.append(case)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pnsuite-gpu-diag"))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--input-memory",
        action="store_true",
        help="only perf_analyzer with system vs CUDA shared memory inputs",
    )
    args = parser.parse_args(argv)
    if args.input_memory:
        result: dict[str, Any] = {
            "input_memory": input_memory_cases(
                args.work,
                {
                    "baseline_1_instance": [1, 16],
                    "sample_1_instances": [16],
                    "sample_2_dynamic_batching": [16, 32],
                },
            )
        }
        args.out.write_text(json.dumps(result, indent=2))
        return 0
    base, dyn = GPU_REPOS / "baseline_1_instance", GPU_REPOS / "sample_2_dynamic_batching"
    result = {
        "numpy_copy_ms": {
            "default": numpy_copy_cost({}),
            "malloc_keep": numpy_copy_cost(MALLOC_KEEP),
        }
    }
    print(json.dumps(result), flush=True)
    result["pair"] = two_servers_at_once(args.work, {})
    cases = [
        ("baseline_default_c1", base, {}, 1, {}),
        ("baseline_malloc_c1", base, MALLOC_KEEP, 1, {}),
        ("dynamic_default_c16", dyn, {}, 16, {}),
        ("dynamic_malloc_c16", dyn, MALLOC_KEEP, 16, {}),
        ("dynamic3_malloc_c16", dyn, MALLOC_KEEP, 16, {"instances": 3}),
        ("dynamic3_malloc_c32", dyn, MALLOC_KEEP, 32, {"instances": 3}),
    ]
    result["cases"] = []
    for name, repo, env, c, variant in cases:
        result["cases"].append(run_case(name, repo, args.work, env, c, args.seconds, **variant))
        args.out.write_text(json.dumps(result, indent=2))
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
