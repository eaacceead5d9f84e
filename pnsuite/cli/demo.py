"""The Triton Jetson example's two demos, end to end: `peoplenet-demo` (the main job).

For each model repository: start a Triton server (embedded by default), send `-t` requests
from as many threads at once, print the model's statistics JSON and TOTAL INFERENCE TIME,
then a side-by-side of the repositories.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from pnsuite.cli.vocabulary import add_option
from pnsuite.client.load import LoadRun, run_threads
from pnsuite.client.memory import Memory, argument_type
from pnsuite.client.shared_memory import require_gpu
from pnsuite.detection import detectnet
from pnsuite.errors import ConfigError, SuiteError
from pnsuite.measure import triton_stats
from pnsuite.paths import CAPTURE_IMAGE
from pnsuite.platform.defaults import RELEASE_INSTALL, platform_defaults
from pnsuite.server import Launcher, TritonServer
from pnsuite.server.factory import CHOICES, make_launcher

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
        description="Run the Triton Jetson example's concurrency and dynamic-batching demos.",
    )
    parser.add_argument(
        "-r",
        "--repo",
        action="append",
        type=Path,
        help="model repository (repeat for several; default: the example's "
        "two, model_repos/tensorrt/ on a Jetson, the embedded stand-in's "
        "model_repos/embedded/ elsewhere or with the embedded launcher)",
    )
    parser.add_argument(
        "-t",
        "--threads",
        type=int,
        default=6,
        help="concurrent inference threads, one request each (default 6)",
    )
    parser.add_argument(
        "-s",
        "--save",
        type=_bool,
        default=False,
        metavar="true|false",
        help="write an overlay per thread (default false)",
    )
    add_option(
        parser,
        "--triton-memory",
        "-m",
        dest="memory",
        type=argument_type(),
        choices=tuple(Memory),
        default=Memory.SYSTEM,
        help="system: tensors through system shared memory (default); "
        "gpu: CUDA shared memory (needs the gpu extra and a GPU); "
        "none: in the gRPC messages",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print each thread's detections and the server log tail",
    )
    parser.add_argument(
        "-p",
        "--triton-install",
        type=Path,
        help="Triton install dir (the release tarball unpacked; the release "
        f"launcher's default is {RELEASE_INSTALL})",
    )
    parser.add_argument(
        "-u", "--triton-url", help="gRPC host:port of a running server (no start/stop; one repo)"
    )
    parser.add_argument(
        "--triton-launcher",
        choices=CHOICES,
        help="how servers are started (default: external with -u, release "
        "with -p, else auto: release on a Jetson, embedded elsewhere)",
    )
    parser.add_argument("--triton-image", help="Triton image for --triton-launcher docker")
    add_option(
        parser,
        "--triton-ready-timeout",
        dest="ready_timeout",
        type=float,
        default=120.0,
        help="seconds a server may take to be ready (default 120)",
    )
    parser.add_argument(
        "--triton-wait-for-server",
        action="store_true",
        help="with -u: wait up to --triton-ready-timeout for a server that refuses "
        "connections (one still starting); without it, a refused "
        "connection fails in seconds",
    )
    parser.add_argument(
        "-i",
        "--image",
        type=Path,
        default=DEFAULT_IMAGE,
        help=f"image to detect people in (default {DEFAULT_IMAGE})",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=Path("demo-output"),
        help="where -s writes overlays (default ./demo-output)",
    )
    parser.add_argument(
        "--box-geometry",
        choices=sorted(detectnet.GEOMETRIES),
        default="tao",
        help="how boxes are decoded: tao (default), as PeopleNet was trained "
        "and DeepStream decodes; example, as the Triton Jetson example's "
        "client does (17.5 px larger per edge), to compare with its "
        "overlays",
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("-t must be at least 1")
    if not args.repo:
        args.repo = list(platform_defaults().repos(launcher_kind(args)))
    return args


def launcher_kind(args: argparse.Namespace) -> str:
    """The launcher the flags ask for: -u names a running server, -p an install dir."""
    kind = args.triton_launcher or (
        "external" if args.triton_url else "release" if args.triton_install else "auto"
    )
    return platform_defaults().launcher if kind == "auto" else kind


def check_inputs(args: argparse.Namespace, kind: str) -> None:
    """Refuse, before any server starts, what would only fail later."""
    detectnet.load_image(args.image)
    if kind != "external":
        missing = [str(r) for r in args.repo if not r.is_dir()]
        if missing:
            raise ConfigError(
                f"model repository not found: {', '.join(missing)}",
                "-r takes a directory holding <model>/config.pbtxt, e.g. "
                f"{platform_defaults().repos(kind)[0]}",
            )
    if args.memory is Memory.GPU:
        require_gpu()


def _progress(message: str) -> None:
    print(f"peoplenet-demo: {message}", file=sys.stderr, flush=True)


@dataclass
class DemoResult:
    repo: Path
    run: LoadRun
    delta: triton_stats.ModelStats


def run_demo(args: argparse.Namespace, launcher: Launcher, repo: Path) -> DemoResult:
    print(
        f"\n=== {repo.name}  ({repo})"
        if launcher.manages_server
        else f"\n=== the server at {args.triton_url}"
    )
    with TritonServer(
        launcher, repo, models=(MODEL,), ready_timeout_s=args.ready_timeout, progress=_progress
    ) as server:
        print(
            f"server ready after {server.ready_after_s:.1f} s at {server.grpc_url} "
            f"({launcher.name})"
        )
        with server.grpc_client() as client:
            before = triton_stats.snapshot(client, MODEL)
            run = run_threads(
                server.grpc_url,
                lambda: detectnet.load_image(args.image),
                args.threads,
                model=MODEL,
                memory=args.memory,
                keep_images=args.save,
                geometry=detectnet.GEOMETRIES[args.box_geometry],
            )
            delta = triton_stats.wait_for_delta(client, MODEL, before, args.threads)
            print(f"Model '{MODEL}' Stats:")
            print(json.dumps(triton_stats.model_stats_json(client, MODEL), indent=2))
        if args.verbose:
            for i, result in enumerate(run.results):
                print(
                    f"thread {i}: {len(result.detections)} detections in "
                    f"{result.latency_s * 1e3:.1f} ms: "
                    + "; ".join(str(d) for d in result.detections)
                )
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
    rows = [
        ("", [r.repo.name for r in results]),
        ("inference_count", [str(r.delta.inference_count) for r in results]),
        ("execution_count", [str(r.delta.execution_count) for r in results]),
        (
            "batch sizes (size x executions)",
            [", ".join(f"{k}x{v}" for k, v in r.delta.batches.items()) for r in results],
        ),
    ]
    for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
        rows.append(
            (f"{phase} ms/inference", [f"{r.delta.per_inference_ms(phase):.1f}" for r in results])
        )
    rows.append(("TOTAL INFERENCE TIME ms", [f"{r.run.total_s * 1e3:.0f}" for r in results]))
    label_w = max(len(label) for label, _ in rows)
    col_w = max(len(v) for _, values in rows for v in values)
    return "\n".join(
        f"{label:<{label_w}}  " + "  ".join(f"{v:>{col_w}}" for v in values)
        for label, values in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kind = launcher_kind(args)
    try:
        check_inputs(args, kind)
        launcher = make_launcher(
            kind,
            install=args.triton_install,
            url=args.triton_url,
            wait_for_server=args.triton_wait_for_server,
            image=args.triton_image,
        )
        results = [run_demo(args, launcher, repo) for repo in args.repo]
    except SuiteError as err:
        print(f"peoplenet-demo: {err}", file=sys.stderr)
        return 2  # could not run (docs/exit-codes.md): the demo has no verdict to fail
    except KeyboardInterrupt:
        print("peoplenet-demo: interrupted; its servers were stopped", file=sys.stderr)
        return 130
    if len(results) > 1:
        print("\n=== side by side\n" + side_by_side(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
