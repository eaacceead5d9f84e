"""The seed's two demos, end to end: `peoplenet-demo` (the project's main job).

For each model repository: start a Triton server (embedded by default), send `-t` requests
from as many threads at once, print the model's statistics JSON and TOTAL INFERENCE TIME,
then a side-by-side of the repositories.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2

from pnsuite.detection import detectnet
from pnsuite.perf import triton_stats
from pnsuite.client.load import LoadRun, run_threads
from pnsuite.client.shared_memory import MEMORY_KINDS, SharedMemoryUnavailable, require_gpu
from pnsuite.server import Launcher, TritonError, TritonServer
from pnsuite.paths import CAPTURE_IMAGE, PROJECT_ROOT
from pnsuite.server.embedded import EmbeddedLauncher
from pnsuite.server.external import ExternalLauncher
from pnsuite.server.release import LocalReleaseLauncher

DEFAULT_REPOS = (PROJECT_ROOT / "model_repos" / "embedded" / "sample_1_instances",
                 PROJECT_ROOT / "model_repos" / "embedded" / "sample_2_dynamic_batching")
DEFAULT_IMAGE = CAPTURE_IMAGE
MODEL = "peoplenet"


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="peoplenet-demo",
        description="Run the seed's concurrency and dynamic-batching demos on Triton.")
    parser.add_argument("-r", "--repo", action="append", type=Path,
                        help="model repository (repeat for several; default: both "
                             "embedded stand-in repos)")
    parser.add_argument("-t", "--threads", type=int, default=6,
                        help="concurrent inference threads, one request each (default 6)")
    parser.add_argument("-s", "--save", type=_bool, default=False, metavar="true|false",
                        help="write an overlay per thread (default false)")
    parser.add_argument("-m", "--memory", choices=MEMORY_KINDS, default="system",
                        help="system: tensors through system shared memory (default); "
                             "gpu: CUDA shared memory (needs the gpu extra and a GPU); "
                             "none: in the gRPC messages")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each thread's detections and the server log tail")
    parser.add_argument("-p", "--triton-install", type=Path,
                        help="Triton install dir (release tarball, e.g. $HOME/tritonserver); "
                             "default: the embedded server from nvidia-pytriton")
    parser.add_argument("-u", "--triton-url",
                        help="gRPC host:port of a running server (no start/stop; one repo)")
    parser.add_argument("-i", "--image", type=Path, default=DEFAULT_IMAGE,
                        help=f"image to detect people in (default {DEFAULT_IMAGE})")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("demo-output"),
                        help="where -s writes overlays (default ./demo-output)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("-t must be at least 1")
    if not args.repo:
        args.repo = list(DEFAULT_REPOS)
    return args


def make_launcher(args: argparse.Namespace) -> Launcher:
    if args.triton_url:
        return ExternalLauncher(args.triton_url)
    if args.triton_install:
        return LocalReleaseLauncher(args.triton_install)
    return EmbeddedLauncher()


@dataclass
class DemoResult:
    repo: Path
    run: LoadRun
    delta: triton_stats.ModelStats


def run_demo(args: argparse.Namespace, launcher: Launcher, repo: Path) -> DemoResult:
    print(f"\n=== {repo.name}  ({repo})")
    with TritonServer(launcher, repo, models=(MODEL,)) as server:
        print(f"server ready after {server.ready_after_s:.1f} s at {server.grpc_url} "
              f"({launcher.name})")
        with server.grpc_client() as client:
            before = triton_stats.snapshot(client, MODEL)
            run = run_threads(server.grpc_url, lambda: detectnet.load_image(args.image),
                              args.threads, model=MODEL, memory=args.memory,
                              keep_images=args.save)
            delta = triton_stats.wait_for_delta(client, MODEL, before, args.threads)
            print(f"Model '{MODEL}' Stats:")
            print(json.dumps(triton_stats.model_stats_json(client, MODEL), indent=2))
        if args.verbose:
            for i, result in enumerate(run.results):
                print(f"thread {i}: {len(result.detections)} detections in "
                      f"{result.latency_s * 1e3:.1f} ms: "
                      + "; ".join(str(d) for d in result.detections))
            print("--- server log tail\n" + server.log_tail(20))
    if args.save:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        for i, result in enumerate(run.results):
            path = args.output_dir / f"{repo.name}_thread{i}.png"
            assert result.image is not None
            cv2.imwrite(str(path), detectnet.draw(result.image, result.detections))
            print(f"overlay: {path}")
    print(f"people found per thread: {[len(r.detections) for r in run.results]}")
    print(f"TOTAL INFERENCE TIME: {run.total_s * 1e3:.0f}ms")
    return DemoResult(repo, run, delta)


def side_by_side(results: Sequence[DemoResult]) -> str:
    """A small table: one column per repository."""
    rows = [("", [r.repo.name for r in results]),
            ("inference_count", [str(r.delta.inference_count) for r in results]),
            ("execution_count", [str(r.delta.execution_count) for r in results]),
            ("batch sizes (size x executions)",
             [", ".join(f"{k}x{v}" for k, v in r.delta.batches.items()) for r in results])]
    for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
        rows.append((f"{phase} ms/inference",
                     [f"{r.delta.per_inference_ms(phase):.1f}" for r in results]))
    rows.append(("TOTAL INFERENCE TIME ms", [f"{r.run.total_s * 1e3:.0f}" for r in results]))
    label_w = max(len(label) for label, _ in rows)
    col_w = max(len(v) for _, values in rows for v in values)
    return "\n".join(f"{label:<{label_w}}  " + "  ".join(f"{v:>{col_w}}" for v in values)
                     for label, values in rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        detectnet.load_image(args.image)  # say so before any server starts
        if args.memory == "gpu":
            require_gpu()
        launcher = make_launcher(args)
        results = [run_demo(args, launcher, repo) for repo in args.repo]
    except (TritonError, detectnet.ImageError, SharedMemoryUnavailable) as err:
        print(f"peoplenet-demo: {err}", file=sys.stderr)
        return 1
    if len(results) > 1:
        print("\n=== side by side\n" + side_by_side(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
