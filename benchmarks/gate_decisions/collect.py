"""Record a pool of independent runs for measuring the gate's error rates.

Each *block* is four runs in random order, every run a fresh embedded Triton server
(started, warmed up, measured, stopped):

- `A`: the unchanged stand-in (the reference side, and the source of baselines);
- `B0`: the unchanged stand-in again (an A/A comparison: any red is a false red);
- `B10`, `B15`: the stand-in with every execution made 10% / 15% slower by a wrapper
  model file the gate cannot see (the config, and so its digest and identity, is the same;
  only `model.py` busy-waits for the given fraction of each execute() call).

Beside each run, with its server up and idle, the runner-speed probe
(`pnsuite.perf.runner_speed`) is measured.

With `--drift`, a neighbour process that spins on one core runs during randomly chosen
whole runs (half of them), as a shared CI runner sees it.

The reduced benchmark is one repository (the stand-in with one instance, no batching)
at concurrency 1: `--requests` requests per round, `--rounds` rounds per run.
Writes one JSON line per run to OUT (appending, so an interrupted pool can be resumed).

    python benchmarks/gate_decisions/collect.py results/gate-decisions/quiet.jsonl --minutes 30
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pnsuite.client.load import ClosedLoopLoad
from pnsuite.detection import detectnet
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS
from pnsuite.perf.runner_speed import probe_ms
from pnsuite.perf.sampling import RunSample, measure_run
from pnsuite.server.factory import make_launcher
from pnsuite.server.pool import ServerPool
from slowed_repo import write_slowed  # beside this script

CONDITIONS = {"A": 0.0, "B0": 0.0, "B10": 0.10, "B15": 0.15}


def write_repos(root: Path) -> dict[str, Path]:
    """One repository per condition, all with the same config.pbtxt."""
    source = EMBEDDED_REPOS / "sample_1_instances"
    return {name: write_slowed(source, root / name / source.name, fraction, instances=1)
            for name, fraction in CONDITIONS.items()}


def neighbour() -> subprocess.Popen:
    """A process that is not the suite's and spins on one core."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def blocks_done(out: Path) -> int:
    """The blocks already in the pool file: a resumed collection numbers on from there."""
    if not out.exists():
        return 0
    return 1 + max((json.loads(line)["labels"]["block"]
                    for line in out.read_text().splitlines() if line), default=-1)


def append_run(out: Path, sample: RunSample) -> None:
    """One run appended to the pool file, and a line about it on the terminal."""
    with out.open("a") as fh:
        fh.write(json.dumps(sample.to_json()) + "\n")
    labels = sample.labels
    print(f"block {labels['block']} {labels['condition']:>3} "
          f"neighbour={labels['neighbour']!s:5} round {sample.round_s * 1e3:7.1f} ms  infer "
          f"{sample.compute_infer_ms:6.1f} ms  p99 {sample.latency_p99_ms:6.1f} ms"
          f"  foreign {max(sample.foreign_cores):.2f}  probe {sample.probe_ms:5.1f} ms",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--drift", action="store_true")
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the servers and the neighbour are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rng = random.Random(args.seed)
    chw, _ = detectnet.preprocess(detectnet.load_image(CAPTURE_IMAGE))
    tensor = chw[None]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="gate-decisions-") as tmp:
        repos = write_repos(Path(tmp))
        pool = ServerPool(make_launcher("embedded"),
                          lambda name: Path(tempfile.mkdtemp(prefix=name, dir=tmp)))
        stopping: list[threading.Thread] = []
        block = blocks_done(args.out)
        try:
            while time.monotonic() < deadline:
                order = list(CONDITIONS)
                rng.shuffle(order)
                for position, condition in enumerate(order):
                    spinner = neighbour() if args.drift and rng.random() < 0.5 else None
                    try:
                        server = pool.start(repos[condition])
                        with ClosedLoopLoad(server.grpc_url, tensor, 1) as load:
                            sample = measure_run(server, load, args.requests, args.rounds)
                        sample.probe_ms = probe_ms()
                    finally:
                        if spinner is not None:
                            spinner.kill()
                            spinner.wait()
                    # Triton unloads the model within about a second of SIGTERM, then
                    # idles in one-second polls: stop it while the next one starts.
                    pool.servers.remove(server)
                    stopper = threading.Thread(target=server.stop)
                    stopper.start()
                    stopping.append(stopper)
                    sample.labels = {"block": block, "position": position,
                                     "condition": condition, "slowdown": CONDITIONS[condition],
                                     "neighbour": spinner is not None}
                    append_run(args.out, sample)
                block += 1
        finally:
            for stopper in stopping:
                stopper.join()
            pool.stop_all()


if __name__ == "__main__":
    main()
