"""Record a pool of independent runs for measuring the gate's error rates.

Each *block* starts one fresh server per condition, all at once (as `peoplenet-gate ab`
starts a pair's two servers side by side), then measures each alone, in random order,
with the measurement engine (pnsuite/measure/run.py: a warm-up, then time windows until
stable), and stops them all. With `--repeats R`, each server is measured R times: the
first two with one load (the same client processes and connections, back to back), each
later one with a new load, so the variance between server starts, between loads on one
server and between measurements of one load can be told apart (`repeat` and
`load_session` labels; decide.py takes repeat 0 only). With `--copies N` a start holds N blocks (N servers per
condition), so fewer of the server starts that dominate a millisecond-scale model's
time are waited for; each copy is numbered as its own block.

- `A`: the unchanged model (the reference side, and the source of baselines);
- `B0`: the unchanged model again (an A/A comparison: any red is a false red);
- `B10`, `B15`: the model with every execution made 10% / 15% slower by a wrapper model
  file the gate cannot see (pnsuite/repository/slowed.py: the config, and so its digest
  and identity, is the same; only `model.py` busy-waits for the given fraction of each
  cycle of the model instance, so a saturated instance serves that much slower).

Beside each run, with its server up and idle, the runner-speed probe
(`pnsuite.measure.runner_speed`) is measured. With `--drift`, a neighbour process that spins
on one core runs during randomly chosen whole runs (half of them), as a shared CI runner
sees it. Each run's labels keep the block's start time (`block_start_s`, all its servers
starting at once) and the run's own time (`measure_s`), from which decide.py prices a
decision as the gate would take it.

Writes one JSON line per run to OUT (appending, so an interrupted pool can be resumed).

    python benchmarks/gate_decisions/collect.py results/gate-decisions/quiet.jsonl --minutes 30
    python benchmarks/gate_decisions/collect.py pool.jsonl --repo model_repos/gpu/sample_2_dynamic_batching \
        --concurrency 16 --memory gpu --load-processes 4 --window-s 0.5 --copies 3 --conditions A,B0,B15
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from concurrent.futures import ThreadPoolExecutor

from pnsuite.client.memory import Memory
from pnsuite.client.multiprocess_load import make_load
from pnsuite.detection import detectnet
from pnsuite.measure.run import MeasuredRun, measure
from pnsuite.measure.windows import WindowPlan
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS
from pnsuite.repository.slowed import write_slowed
from pnsuite.server.factory import make_launcher
from pnsuite.server.pool import ServerPool

SLOWDOWNS = {"A": 0.0, "B0": 0.0, "B10": 0.10, "B15": 0.15, "B30": 0.30}


def write_repos(source: Path, root: Path, conditions: list[str]) -> dict[str, Path]:
    """One repository per condition, all with the same config.pbtxt (one instance for the
    CPU stand-in, whose default is three)."""
    changes = {"instances": 1} if source == EMBEDDED_REPOS / "sample_1_instances" else {}
    return {name: write_slowed(source, root / name / source.name, SLOWDOWNS[name], **changes)
            for name in conditions}


def neighbour() -> subprocess.Popen:
    """A process that is not the suite's and spins on one core."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def blocks_done(out: Path) -> int:
    """The blocks already in the pool file: a resumed collection numbers on from there."""
    if not out.exists():
        return 0
    return 1 + max((json.loads(line)["labels"]["block"]
                    for line in out.read_text().splitlines() if line), default=-1)


def append_run(out: Path, run: MeasuredRun) -> None:
    """One run appended to the pool file, and a line about it on the terminal."""
    with out.open("a") as fh:
        fh.write(json.dumps(run.to_json()) + "\n")
    labels = run.labels
    print(f"block {labels['block']} {labels['condition']:>3} "
          f"neighbour={labels['neighbour']!s:5} {run.inference_ms:8.3f} ms/inference "
          f"p99 {run.latency_p99_ms:7.2f} ms  windows {len(run.windows)} stable={run.stable!s:5}"
          f" foreign {max(run.foreign_cores):.2f}  probe {run.probe_ms or 0:5.1f} ms "
          f"start {run.start_s:.1f} s", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--drift", action="store_true")
    parser.add_argument("--repo", type=Path, default=EMBEDDED_REPOS / "sample_1_instances")
    parser.add_argument("--conditions", default="A,B0,B10,B15")
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--memory", type=Memory.parse, default=Memory.SYSTEM)
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--window-s", type=float, default=1.0)
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--max-windows", type=int, default=10)
    parser.add_argument("--stable-windows", type=int, default=3)
    parser.add_argument("--triton-arg", action="append", default=[])
    parser.add_argument("--ready-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so the servers and the neighbour are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rng = random.Random(args.seed)
    windows = WindowPlan(seconds=args.window_s, warmup_s=args.warmup_s,
                         stable=args.stable_windows, max_windows=args.max_windows)
    conditions = args.conditions.split(",")
    chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE_IMAGE))
    tensor = chw[None]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="gate-decisions-") as tmp:
        repos = write_repos(args.repo, Path(tmp), conditions)
        pool = ServerPool(make_launcher("embedded"),
                          lambda name: Path(tempfile.mkdtemp(prefix=name, dir=tmp)),
                          args.ready_timeout, server_args=args.triton_arg)
        block = blocks_done(args.out)
        try:
            while time.monotonic() < deadline:
                slots = [(copy, c) for copy in range(args.copies) for c in conditions]
                began = time.monotonic()
                with ThreadPoolExecutor(max_workers=len(slots)) as starter:
                    servers = list(starter.map(lambda slot: _started(pool, repos[slot[1]]),
                                               slots))
                block_start_s = time.monotonic() - began
                order = list(range(len(slots)))
                rng.shuffle(order)
                for position, i in enumerate(order):
                    (copy, condition), (server, start_s) = slots[i], servers[i]
                    spinner = neighbour() if args.drift and rng.random() < 0.5 else None
                    try:
                        for repeat, run, measure_s, session in _runs(server, tensor, args,
                                                                     windows):
                            run.start_s = start_s
                            run.labels = {
                                "block": block + copy, "position": position,
                                "condition": condition, "slowdown": SLOWDOWNS[condition],
                                "neighbour": spinner is not None, "copies": args.copies,
                                "block_start_s": round(block_start_s, 2),
                                "measure_s": round(measure_s, 2), "repeat": repeat,
                                "load_session": session}
                            append_run(args.out, run)
                    finally:
                        if spinner is not None:
                            spinner.kill()
                            spinner.wait()
                with ThreadPoolExecutor(max_workers=len(slots)) as stopper:
                    list(stopper.map(lambda s: s[0].stop(), servers))
                pool.servers.clear()
                block += args.copies
        finally:
            pool.stop_all()


def _runs(server, tensor, args, windows):
    """(repeat, run, seconds, load session) for each of `args.repeats` measurements: the
    first two on one load, each later one on a load of its own."""
    session, load = 0, None
    try:
        for repeat in range(args.repeats):
            began = time.monotonic()
            if load is None or repeat >= 2:
                if load is not None:
                    load.close()
                    session += 1
                load = make_load(server.grpc_url, tensor, args.concurrency, args.memory,
                                 args.load_processes)
            run = measure(server, load, windows, probe=repeat == 0)
            yield repeat, run, time.monotonic() - began, session
    finally:
        if load is not None:
            load.close()


def _started(pool: ServerPool, repo: Path) -> tuple[object, float]:
    began = time.monotonic()
    server = pool.start(repo)
    return server, time.monotonic() - began


if __name__ == "__main__":
    main()
