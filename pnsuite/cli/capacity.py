"""peoplenet-capacity: how many camera streams each model repository serves.

    peoplenet-capacity REPO [REPO ...] [--fps 30] [--deadline-ms MS] [--json OUT]

For each repository a server is started and N camera streams at F frames per second
(pnsuite/client/camera_streams.py) are run against it, N searched for the largest that
meets the deadline rule (pnsuite/capacity): the frames' p99 within the deadline (one frame
interval unless --deadline-ms says otherwise) and at most --max-missed of them late or
dropped. The answer is confirmed in --confirm-runs runs, each on a server started afresh.
docs/capacity.md explains the model of a stream and the rule.

Exit status: 0 every repository served at least one stream; 1 one served none; 2 the
command could not run (its error says why); 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pnsuite import ownership
from pnsuite.capacity.rule import DeadlineRule
from pnsuite.capacity.search import Capacity, Probe, find_capacity
from pnsuite.cli.vocabulary import add_option
from pnsuite.client.camera_streams import ARRIVALS, StreamsRun, run_streams
from pnsuite.client.memory import Memory, argument_type
from pnsuite.detection import detectnet
from pnsuite.errors import SuiteError
from pnsuite.paths import CAPTURE_IMAGE
from pnsuite.platform.defaults import RELEASE_INSTALL
from pnsuite.server.factory import CHOICES, make_launcher
from pnsuite.server.pool import ServerPool
from pnsuite.sweep import monitors

SERVED, NONE_SERVED, ERROR, INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="peoplenet-capacity",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See docs/capacity.md.",
    )
    p.add_argument(
        "repos",
        nargs="+",
        type=Path,
        metavar="REPO",
        help="model repositories (one configuration each)",
    )
    p.add_argument("--fps", type=float, default=30.0, help="frames per second per stream")
    p.add_argument(
        "--deadline-ms",
        type=float,
        help="a frame's deadline, from when it is due (default: one frame interval)",
    )
    p.add_argument(
        "--percentile", type=float, default=99.0, help="the latency percentile held to the deadline"
    )
    p.add_argument(
        "--max-missed",
        type=float,
        default=0.01,
        help="the share of frames that may be late or dropped",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="counted seconds per run")
    p.add_argument("--warmup-s", type=float, default=2.0, help="uncounted seconds first")
    p.add_argument(
        "--arrivals",
        choices=ARRIVALS,
        default="constant",
        help="frames at constant intervals from a random phase, or Poisson",
    )
    p.add_argument("--start", type=int, default=1, help="streams of the first run")
    p.add_argument("--max-streams", type=int, default=64, help="the most streams tried")
    p.add_argument(
        "--confirm-runs",
        type=int,
        default=2,
        help="runs on fresh servers that must meet the rule at the answer",
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
    p.add_argument(
        "--monitor",
        choices=monitors.MONITORS,
        default="auto",
        help="power monitor around each run: tegrastats (Jetson), nvidia-smi, none",
    )
    p.add_argument("--seed", type=int, help="seed of the streams' phases")
    p.add_argument("--json", type=Path, help="write every run and each answer here")
    return p


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a CI runner cancelling the job: stop the servers


def _print_probe(repo: Path, probe: Probe, rule: DeadlineRule) -> None:
    run, verdict = probe.run, probe.judgement
    tag = "confirm" if probe.confirming else "search"
    print(
        f"{repo.name}: {tag} {probe.streams:3d} streams: p{rule.percentile:g} "
        f"{verdict.latency_ms:8.1f} ms, {run.frames_dropped} dropped, "
        f"{run.late(rule.deadline_ms)} late of {run.frames_due}: "
        f"{'met' if verdict.met else verdict.why}",
        flush=True,
    )


def capacity_of(
    repo: Path, pool: ServerPool, args: argparse.Namespace, rule: DeadlineRule, tensor: Any
) -> tuple[Capacity, list[float | None]]:
    """The search on `repo` (one server for the search, a fresh one per confirming run),
    and the board's mean power in watts during each of its runs, in order."""
    server = pool.start(repo)
    watts: list[float | None] = []

    def measure(streams: int, confirming: bool) -> StreamsRun:
        nonlocal server
        if confirming:
            pool.stop_all()
            server = pool.start(repo)
        monitor = monitors.start_monitor(args.monitor)
        try:
            return run_streams(
                server.grpc_url,
                tensor,
                streams,
                args.fps,
                args.seconds,
                args.warmup_s,
                args.arrivals,
                args.memory,
                seed=args.seed,
            )
        finally:
            summary = monitor.stop() if monitor is not None else None
            watts.append(monitors.platform_of(args.monitor, summary).power_w)

    try:
        found = find_capacity(
            measure,
            rule,
            args.start,
            args.max_streams,
            args.confirm_runs,
            on_probe=lambda probe: _print_probe(repo, probe, rule),
        )
        return found, watts
    finally:
        pool.stop_all()


def _now() -> str:
    """This moment in UTC, as an ISO 8601 text to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _doc(
    repo: Path, found: Capacity, watts: list[float | None], args: argparse.Namespace
) -> dict[str, Any]:
    runs = [
        {
            "streams": p.streams,
            "confirming": p.confirming,
            "met": p.judgement.met,
            "why": p.judgement.why,
            "power_w": w,
            **p.run.summary(),
        }
        for p, w in zip(found.probes, watts)
    ]
    at_capacity = [
        r["power_w"] for r in runs if r["streams"] == found.streams and r["power_w"] is not None
    ]
    power = sum(at_capacity) / len(at_capacity) if at_capacity else None
    return {
        "repo": str(repo),
        "fps": args.fps,
        "rule": found.rule.describe(),
        "deadline_ms": found.rule.deadline_ms,
        "percentile": found.rule.percentile,
        "streams": found.streams,
        "capped": found.capped,
        "monitor": args.monitor,
        "power_w": power,
        "watts_per_stream": power / found.streams if power and found.streams else None,
        "runs": runs,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    reaped = ownership.reap_orphans()
    if reaped:
        print(f"removed what dead runs left behind:\n{reaped.describe()}", flush=True)
    docs = []
    try:
        if not args.fps > 0 or not args.seconds > 0 or args.warmup_s < 0:
            raise SuiteError(
                f"--fps ({args.fps:g}) and --seconds ({args.seconds:g}) must be "
                f"> 0 and --warmup-s ({args.warmup_s:g}) >= 0",
                "e.g. --fps 30 --seconds 10 --warmup-s 2",
            )
        extra = {"deadline_ms": args.deadline_ms} if args.deadline_ms is not None else {}
        rule = DeadlineRule.for_fps(
            args.fps, percentile=args.percentile, max_missed=args.max_missed, **extra
        )
        for repo in args.repos:
            if not (repo / "peoplenet" / "config.pbtxt").is_file():
                raise SuiteError(
                    f"{repo}: no peoplenet/config.pbtxt there", "give a model repository directory"
                )
        args.monitor = monitors.resolve_monitor(args.monitor)
        launcher = make_launcher(
            args.triton_launcher, install=args.triton_install, image=args.triton_image
        )
        chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE_IMAGE))
        print(
            f"capacity: {args.fps:g} fps per stream, {rule.describe()}, "
            f"{args.seconds:g} s runs on {launcher.name}",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="peoplenet-capacity-") as tmp:
            pool = ServerPool(launcher, lambda name: Path(tempfile.mkdtemp(prefix=name, dir=tmp)))
            for repo in args.repos:
                # When each search ran, so that a report drawn later says when it was
                # measured, not when it was drawn.
                started = _now()
                found, watts = capacity_of(repo, pool, args, rule, chw[None])
                docs.append(
                    {**_doc(repo, found, watts, args), "started": started, "finished": _now()}
                )
    except KeyboardInterrupt:
        print("\ninterrupted: the servers are stopped", file=sys.stderr)
        return INTERRUPTED
    except SuiteError as err:
        print(f"peoplenet-capacity: {err}", file=sys.stderr)
        return ERROR
    for doc in docs:
        more = " (the most tried: it may serve more)" if doc["capped"] else ""
        power = (
            f", {doc['power_w']:.1f} W ({doc['watts_per_stream']:.2f} W a stream, {args.monitor})"
            if doc["watts_per_stream"]
            else ""
        )
        print(f"{doc['repo']}: {doc['streams']} streams at {args.fps:g} fps{more}{power}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(docs, indent=1) + "\n")
        print(f"json: {args.json}")
    return SERVED if all(d["streams"] > 0 for d in docs) else NONE_SERVED


if __name__ == "__main__":
    sys.exit(main())
