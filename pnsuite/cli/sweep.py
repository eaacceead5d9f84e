"""`peoplenet-sweep` (`./suite sweep`): sweep a model repository's instance count, dynamic
batching and client concurrency on a real Triton, pick the best configuration for an
objective within constraints, and write the points, the winning config.pbtxt and a report.

    peoplenet-sweep model_repos/embedded/sample_1_instances --instances 1-3 \\
        --batching off,on:0,on:1000 --concurrency 1,2,4,8 --constraint 'p99<=500'

Interrupted (Ctrl-C, a killed job), the same command resumes from the output folder's
journal; `--restart` starts again. docs/sweeps.md says what each figure means.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pnsuite import ownership
from pnsuite.cli.vocabulary import add_option, add_server_args
from pnsuite.cli.window_options import add_window_options, window_plan_of
from pnsuite.client.image_set import ImageSet, answer_images
from pnsuite.client.memory import Memory, argument_type
from pnsuite.detection import detectnet
from pnsuite.errors import SuiteError
from pnsuite.platform import jetson
from pnsuite.platform.defaults import RELEASE_INSTALL
from pnsuite.server.factory import CHOICES, make_launcher
from pnsuite.server.launcher import check_server_args
from pnsuite.sweep import monitors, objectives, space
from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.measure import POINT_WINDOWS, PointPlan
from pnsuite.sweep.outputs import best_table, write_outputs
from pnsuite.sweep.points import METRICS
from pnsuite.sweep.runner import SEARCHES, SweepRequest, run_sweep, summarize_journal

NO_FEASIBLE, ERROR, INTERRUPTED = 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="peoplenet-sweep",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("repo", type=Path, help="model repository (with peoplenet/config.pbtxt)")
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        help="output folder (default sweeps/REPO_NAME); holds the journal too",
    )
    p.add_argument(
        "--instances",
        default="1-3",
        help="instance counts, e.g. 1-3 or 1,2,4 (default %(default)s)",
    )
    p.add_argument(
        "--batching",
        default="off,on:0,on:1000",
        help="off | on | on:DELAY_US | on:DELAY_US:P1.P2 (preferred batch sizes), "
        "comma-separated (default %(default)s)",
    )
    p.add_argument(
        "--concurrency",
        default="1,2,4,8",
        help="client concurrencies, e.g. 1-8 or pow2:1-64 (default %(default)s)",
    )
    p.add_argument(
        "--search",
        choices=SEARCHES,
        default="brute",
        help="brute: every point; hill: hill climbing for big grids (a local best)",
    )
    p.add_argument("--max-points", type=int, help="stop the hill climb after N points")
    p.add_argument(
        "--objective",
        default="max:throughput",
        help=f"max:|min: one of {', '.join(METRICS)} (default %(default)s)",
    )
    p.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="METRIC<=X",
        help="e.g. 'p99<=50' or 'throughput>=100' (repeatable)",
    )
    add_window_options(p, POINT_WINDOWS)
    for old, new in (("--rounds", "--stable-windows"), ("--round-seconds", "--window-s")):
        p.add_argument(old, action=_Replaced, replacement=new, help=argparse.SUPPRESS)
    p.add_argument(
        "--confirm-top",
        type=int,
        default=3,
        help="leading configurations re-measured in independent runs (0: none)",
    )
    p.add_argument(
        "--confirm-runs",
        type=int,
        default=3,
        help="independent runs (fresh servers) for each leader",
    )
    add_option(
        p,
        "--triton-memory",
        dest="memory",
        type=argument_type(),
        choices=tuple(Memory),
        default=Memory.SYSTEM,
        help="where request tensors travel (default %(default)s shared memory)",
    )
    p.add_argument(
        "--load-processes", type=int, default=1, help="processes the client load is spread over"
    )
    p.add_argument(
        "--monitor",
        choices=monitors.MONITORS,
        default="auto",
        help="power/clock monitor: tegrastats (Jetson), nvidia-smi, none",
    )
    p.add_argument(
        "--triton-launcher",
        choices=[k for k in CHOICES if k != "external"],
        default="auto",
        help="how servers are started (default auto: release on a Jetson, embedded elsewhere)",
    )
    p.add_argument(
        "--triton-install",
        type=Path,
        help=f"Triton install dir (release launcher; default {RELEASE_INSTALL})",
    )
    p.add_argument("--triton-image", help="Triton image (docker launcher)")
    add_server_args(
        p,
        "tritonserver options for every server, as the deployment sets "
        "them (repeatable), e.g. --triton-server-args "
        "'--cuda-memory-pool-byte-size=0:1073741824'",
    )
    p.add_argument(
        "--image",
        type=Path,
        help="one image for every request (default: the load cycles through "
        "capture.jpg, its centre crop and their flips, images of equal cost, "
        "and each point's answers under load "
        "are checked image by image; one image cannot show an answer handed "
        "to the wrong request of a batch)",
    )
    p.add_argument("--seed", type=int, help="seed of the confirmation's run order")
    p.add_argument("--restart", action="store_true", help="discard the journal, start again")
    p.add_argument(
        "--summarize",
        action="store_true",
        help="measure nothing: write the outputs of the points the journal in "
        "--out holds (a sweep cut short, or measured on another machine), "
        "judged by this --objective and --constraint",
    )
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


class _Replaced(argparse.Action):
    """An option of the rounds points were once measured in: refused, naming the window
    option that says the same."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, replacement: str, **kwargs: Any
    ) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.replacement = replacement

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            f"peoplenet-sweep measures a point in time windows, as peoplenet-gate "
            f"ab measures a run: give {self.replacement} instead of {option_string} "
            "(docs/sweeps.md)"
        )


def _positive(value: int | float, option: str, minimum: float = 1) -> None:
    if value < minimum:
        raise SweepError(f"{option} must be at least {minimum}, got {value}")


def machine() -> dict[str, object]:
    """Who measured: host, CPU, and the Jetson identity (release, board, power mode)."""
    return {
        "host": platform.node(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        **jetson.machine_identity(),
    }


def request_of(args: argparse.Namespace) -> SweepRequest:
    if not (args.repo / "peoplenet" / "config.pbtxt").is_file():
        raise SweepError(
            f"{args.repo}: no peoplenet/config.pbtxt there",
            "give a model repository directory, e.g. model_repos/embedded/sample_1_instances",
        )
    _positive(args.load_processes, "--load-processes")
    _positive(args.confirm_top, "--confirm-top", 0)
    if args.max_points is not None:
        _positive(args.max_points, "--max-points")
    swept = space.SweepSpace(
        space.parse_counts(args.instances, "--instances"),
        tuple(space.parse_batching(args.batching)),
        space.parse_counts(args.concurrency, "--concurrency"),
    )
    plan = PointPlan(
        windows=window_plan_of(args),
        memory=args.memory,
        load_processes=args.load_processes,
        monitor=monitors.resolve_monitor(args.monitor),
    )
    return SweepRequest(
        args.repo,
        swept,
        plan,
        args.search,
        args.max_points,
        objectives.parse_objective(args.objective),
        [objectives.parse_constraint(c) for c in args.constraint],
        args.confirm_top,
        args.confirm_runs,
        seed=args.seed,
        server_args=check_server_args(args.triton_server_args),
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a CI runner cancelling the job: stop servers, keep the journal


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = args.out or Path("sweeps") / args.repo.resolve().name
    signal.signal(signal.SIGTERM, _interrupt)
    # A sweep killed with SIGKILL leaves its server running; the next one removes it.
    reaped = ownership.reap_orphans()
    if reaped:
        print(f"removed what dead runs left behind:\n{reaped.describe()}", flush=True)
    try:
        request = request_of(args)
        if args.summarize:
            doc = summarize_journal(out / "journal.jsonl", request)
            written = write_outputs(doc, out, report=not args.no_report)
            print(best_table(doc))
            for name, path in written.items():
                print(f"{name}: {path}")
            return 0 if doc.best else NO_FEASIBLE
        launcher = make_launcher(
            args.triton_launcher, install=args.triton_install, image=args.triton_image
        )
        images: ImageSet | np.ndarray = (
            answer_images()
            if args.image is None
            else detectnet.preprocess(detectnet.load_image(args.image))[0][None]
        )
        print(
            f"sweep: {request.space.size} points of {args.repo} on {launcher.name}, "
            f"monitor {request.plan.monitor}, out {out}",
            flush=True,
        )
        doc = run_sweep(
            request,
            launcher,
            images,
            out,
            restart=args.restart,
            progress=not args.no_progress,
            machine=machine(),
        )
        written = write_outputs(doc, out, report=not args.no_report)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the points measured so far are in {out / 'journal.jsonl'}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return INTERRUPTED
    except SuiteError as err:
        print(f"peoplenet-sweep: {err}", file=sys.stderr)
        return ERROR
    print(best_table(doc))
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0 if doc.best else NO_FEASIBLE


if __name__ == "__main__":
    sys.exit(main())
