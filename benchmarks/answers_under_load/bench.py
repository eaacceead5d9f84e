"""Does checking answers under load move the measurement? Throughput of measured runs
(pnsuite.measure.run.measure, the benchmarks' and A/B runs' engine) with the check and
without it, in pairs, on the same server.

"with": each request slot keeps copies of 2 responses per run (warm-up and each window;
pnsuite.client.samples) and the engine compares them with each image's answer alone
after the window; "without": the same load keeping none (so nothing is checked). Both
send the same distinct images (pnsuite.client.image_set.answer_images: the golden images
and their flips when the figures in results/answers-under-load/overhead-* were measured,
capture.jpg, its centre crop and their flips since); a third condition, "capture", sends
capture.jpg in every request with the check on, to show what the image set itself does
to the stand-in's throughput.

Two repositories: the CPU stand-in with dynamic batching (HOG, about 0.3-0.5 s of CPU a
request on the 2-core VM, so a per-request cost of microseconds is far below its noise),
and a fast model written here (a python-backend model that answers from a subsampled
copy of its input, about a millisecond a request), where the load's own per-request
costs weigh the most. Each pair runs its conditions in a random order.

    python benchmarks/answers_under_load/bench.py --pairs 4 --out results/answers-under-load/overhead-2core.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np

from pnsuite.client.image_set import ImageSet, answer_images
from pnsuite.client.load import ClosedLoopLoad
from pnsuite.client.memory import Memory
from pnsuite.detection import detectnet
from pnsuite.measure.run import measure
from pnsuite.measure.windows import WindowPlan
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS
from pnsuite.repository import model_config
from pnsuite.server.factory import make_launcher
from pnsuite.server.pool import ServerPool

#: a model whose per-request cost is small, so that the load's own costs show
FAST_MODEL = '''"""A fast model with PeopleNet's tensors: coverage is 0.6 of the input's red channel
sampled every 16 pixels, boxes a fixed size (benchmarks/answers_under_load/bench.py)."""

import numpy as np
import triton_python_backend_utils as pb


class TritonPythonModel:
    def initialize(self, args):
        pass

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb.get_input_tensor_by_name(request, "input_1").as_numpy()
            n = x.shape[0]
            cov = np.zeros((n, 3, 34, 60), np.float32)
            cov[:, 0] = 0.6 * x[:, 0, 8::16, 8::16][:, :34, :60]
            bbox = np.full((n, 12, 34, 60), 0.3, np.float32)
            responses.append(pb.InferenceResponse(output_tensors=[
                pb.Tensor("output_cov/Sigmoid", cov), pb.Tensor("output_bbox/BiasAdd", bbox)]))
        return responses
'''


def fast_repo(dest: Path) -> Path:
    """The dynamic-batching stand-in repository with the fast model instead of HOG."""
    # Its own identity: the stand-in's goldens are not its answers.
    out = model_config.write_variant(EMBEDDED_REPOS / "sample_2_dynamic_batching", dest,
                                     parameters={"model_identity": "answers-bench-fast"},
                                     header="for the check-under-load overhead benchmark")
    version = out / "peoplenet" / "1"
    version.unlink()  # a link to the stand-in's version dir
    version.mkdir()
    (version / "model.py").write_text(FAST_MODEL)
    return out


def one_run(server: Any, images: ImageSet | np.ndarray, concurrency: int, samples: int,
            plan: WindowPlan) -> dict[str, Any]:
    with ClosedLoopLoad(server.grpc_url, images, concurrency, memory=Memory.SYSTEM,
                        samples_per_slot=samples) as load:
        run = measure(server, load, plan)
    return {"throughput": round(run.throughput, 3), "latency_p99_ms": round(run.latency_p99_ms, 2),
            "windows": len(run.windows), "stable": run.stable,
            "checked": run.answers_checked_under_load,
            "batch_sizes": run.server_stats.get("batch_sizes", {})}


def unit_costs(server: Any, images: ImageSet, repeats: int = 200) -> dict[str, float]:
    """What the check adds, piece by piece: the copy of one kept response out of the
    output regions (inside the timed part, twice per slot and window), and decoding and
    comparing one kept response (outside it, after the window)."""
    from pnsuite.client.peoplenet import PeopleNetClient
    from pnsuite.client.samples import Sample
    from pnsuite.measure import answers_under_load

    with PeopleNetClient(server.grpc_url, memory=Memory.SYSTEM) as client:
        client.stage(images[0].tensor)
        client.send_staged()
        began = time.perf_counter()
        for _ in range(repeats):
            cov, bbox = client.read_outputs(1)
        copy_s = (time.perf_counter() - began) / repeats
        began = time.perf_counter()
        for _ in range(20):
            client.send_staged()
        request_s = (time.perf_counter() - began) / 20
    references = answers_under_load.take_references(server.grpc_url, images)
    samples = [Sample(0, 0, 0, cov, bbox)] * 20
    began = time.perf_counter()
    answers_under_load.check_samples(samples, references, images,
                                     answers_under_load.tolerances_for(True), "timing")
    check_s = (time.perf_counter() - began) / len(samples)
    return {"copy_one_response_us": round(copy_s * 1e6, 1),
            "one_request_alone_ms": round(request_s * 1e3, 3),
            "decode_and_compare_one_response_ms": round(check_s * 1e3, 3)}


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    values = [r["throughput"] for r in runs]
    return {"median": round(statistics.median(values), 3), "min": min(values),
            "max": max(values), "runs": len(values)}


def bench(name: str, repo: Path, pairs: int, concurrency: int, plan: WindowPlan,
          rng: random.Random) -> dict[str, Any]:
    images = answer_images()
    capture = detectnet.preprocess(detectnet.load_image(CAPTURE_IMAGE))[0][None]
    conditions = {"with": (images, 2), "without": (images, 0), "capture": (capture, 2)}
    pool = ServerPool(make_launcher("embedded"), lambda n: Path(tempfile.mkdtemp(prefix=n)))
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in conditions}
    try:
        server = pool.start(repo)
        one_run(server, images, concurrency, 2, plan)  # uncounted: warms the server
        costs = unit_costs(server, images)
        print(f"{name}: {costs}", flush=True)
        for pair in range(pairs):
            order = list(conditions)
            rng.shuffle(order)
            for condition in order:
                sent, samples = conditions[condition]
                result = one_run(server, sent, concurrency, samples, plan)
                result["pair"] = pair
                runs[condition].append(result)
                print(f"{name} pair {pair} {condition:8} {result['throughput']:9.2f}/s "
                      f"checked {result['checked']:4} batches {result['batch_sizes']}",
                      flush=True)
    finally:
        pool.stop_all()
    ratios = [w["throughput"] / o["throughput"] for w, o in zip(runs["with"], runs["without"])]
    return {"repo": name, "concurrency": concurrency, "unit_costs": costs, "runs": runs,
            "summary": {c: summary(r) for c, r in runs.items()},
            "with_over_without": {"per_pair": [round(r, 4) for r in ratios],
                                  "median": round(statistics.median(ratios), 4)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repos", nargs="+", default=["standin", "fast"],
                        choices=["standin", "fast"])
    parser.add_argument("--seed", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    plan = WindowPlan()  # the benchmarks' and the A/B runs' windows
    results = []
    with tempfile.TemporaryDirectory(prefix="answers-bench-") as tmp:
        repos = {"standin": EMBEDDED_REPOS / "sample_2_dynamic_batching",
                 "fast": fast_repo(Path(tmp) / "fast")}
        for name in args.repos:
            results.append(bench(name, repos[name], args.pairs, args.concurrency, plan, rng))
    document = {"machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                            "python": platform.python_version()},
                "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(sys.argv), "plan": plan.__dict__, "results": results}
    for r in results:
        s = r["summary"]
        print(f"{r['repo']}: with {s['with']['median']}/s, without {s['without']['median']}/s, "
              f"capture {s['capture']['median']}/s; with/without per pair "
              f"{r['with_over_without']['per_pair']} (median {r['with_over_without']['median']})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
