"""What each image of a load costs the server: every image sent alone, one request at a
time, `--repeats` times, round-robin over the images (so the VM's drift touches them
alike), on one embedded server of the CPU stand-in; and what the check under load's
references cost per server start (pnsuite.measure.answers_under_load.take_references:
each image of the set sent alone once), timed `--references` times. Wall times on a
shared VM carry its neighbours' load; so the stand-in's own work on each image is timed
too, in this process: the CPU time (time.thread_time) of its HOG detector on one thread,
which other processes move less than its wall time (though they still do: caches and
the cores' siblings are shared).

The load's default set (pnsuite.client.image_set.answer_images: capture.jpg, its centre
crop, and their flips) should cost the same image by image, so that a 1-s window's mix
of images does not move its throughput; `--golden` adds the golden images and their
flips (the set the first version of the check cycled through) for contrast.

    python benchmarks/answers_under_load/image_cost.py --golden --repeats 20 \
        --out results/answers-under-load/image-cost-2core.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pnsuite.client.image_set import ImageSet, LoadImage, answer_images  # noqa: E402
from pnsuite.client.peoplenet import PeopleNetClient  # noqa: E402
from pnsuite.detection import detectnet, goldens, variants  # noqa: E402
from pnsuite.measure import answers_under_load  # noqa: E402
from pnsuite.paths import CAPTURE_IMAGE, EMBEDDED_REPOS  # noqa: E402
from pnsuite.server.factory import make_launcher  # noqa: E402
from pnsuite.server.pool import ServerPool  # noqa: E402


def golden_set() -> ImageSet:
    """The golden images (sorted by name), then each one's flip."""
    originals = [LoadImage(p.name, detectnet.preprocess(detectnet.load_image(p))[0])
                 for p in goldens.golden_images()]
    return ImageSet(originals + [LoadImage(variants.flipped_name(i.name), variants.flip(i.tensor))
                                 for i in originals])


def per_image(url: str, images: ImageSet, repeats: int) -> list[dict[str, Any]]:
    times: dict[str, list[float]] = {i.name: [] for i in images}
    with PeopleNetClient(url) as client:
        for image in images:  # one uncounted request each
            client.infer(image.tensor)
        for _ in range(repeats):
            for image in images:
                began = time.perf_counter()
                client.infer(image.tensor)
                times[image.name].append((time.perf_counter() - began) * 1e3)
    return [{"image": name, "mean_ms": round(statistics.mean(t), 1),
             "sd_ms": round(statistics.stdev(t), 1), "median_ms": round(statistics.median(t), 1),
             "n": len(t)} for name, t in times.items()]


def hog_cpu(images: ImageSet, repeats: int) -> list[dict[str, Any]]:
    """The CPU stand-in's detector on each image, round-robin: CPU ms of this thread."""
    from pnsuite.models.standin import PeopleDetector

    detector = PeopleDetector()
    times: dict[str, list[float]] = {i.name: [] for i in images}
    for image in images:
        detector(image.tensor[0])
    for _ in range(repeats):
        for image in images:
            began = time.thread_time()
            detector(image.tensor[0])
            times[image.name].append((time.thread_time() - began) * 1e3)
    return [{"image": name, "mean_ms": round(statistics.mean(t), 1),
             "sd_ms": round(statistics.stdev(t), 1), "median_ms": round(statistics.median(t), 1),
             "n": len(t)} for name, t in times.items()]


def spread(rows: list[dict[str, Any]]) -> float:
    """(max - min) / mean of the per-image means."""
    means = [r["mean_ms"] for r in rows]
    return (max(means) - min(means)) / statistics.mean(means)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--references", type=int, default=5)
    parser.add_argument("--golden", action="store_true", help="the golden images too")
    parser.add_argument("--cpu-only", action="store_true",
                        help="only the detector's CPU time in this process, no server")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    load_before = os.getloadavg()
    sets = {"default": answer_images()}
    if args.golden:
        sets["golden"] = golden_set()
    results: dict[str, Any] = {}
    for name, images in sets.items():
        rows = hog_cpu(images, args.repeats)
        results[f"{name}_hog_cpu"] = {"images": rows, "spread_of_means": round(spread(rows), 4)}
        for r in rows:
            print(f"{name:8} HOG CPU {r['image']:36} {r['mean_ms']:7.1f} ms  sd {r['sd_ms']:5.1f}",
                  flush=True)
        print(f"{name:8} HOG CPU spread of the means: {spread(rows):.1%}", flush=True)
    pool = ServerPool(make_launcher("embedded"), lambda n: Path(tempfile.mkdtemp(prefix=n)))
    try:
        server = None if args.cpu_only else \
            pool.start(EMBEDDED_REPOS / "sample_2_dynamic_batching")
        for name, images in sets.items() if server is not None else ():
            rows = per_image(server.grpc_url, images, args.repeats)
            # what the engine has before it takes references: the answer check's request of
            # capture.jpg alone (its answer serves as that image's reference)
            capture = detectnet.preprocess(detectnet.load_image(CAPTURE_IMAGE))[0][None]
            with PeopleNetClient(server.grpc_url) as client:
                alone = [(capture, *client.infer(capture))]
            timed: dict[str, list[float]] = {"all": [], "engine": []}
            for _ in range(args.references):
                for kind, given in (("all", []), ("engine", alone)):
                    began = time.perf_counter()
                    answers_under_load.take_references(server.grpc_url, images, alone=given)
                    timed[kind].append(time.perf_counter() - began)
            results[name] = {"images": rows, "spread_of_means": round(spread(rows), 4),
                             "references_all_alone_s": [round(r, 3) for r in timed["all"]],
                             "references_as_the_engine_s": [round(r, 3) for r in timed["engine"]],
                             "references_median_s": round(statistics.median(timed["all"]), 3),
                             "references_as_the_engine_median_s":
                                 round(statistics.median(timed["engine"]), 3)}
            for r in rows:
                print(f"{name:8} {r['image']:36} {r['mean_ms']:7.1f} ms  sd {r['sd_ms']:5.1f}  "
                      f"median {r['median_ms']:7.1f}", flush=True)
            print(f"{name:8} spread of the means (max - min) / mean: {spread(rows):.1%}; "
                  f"references, {len(images)} images alone: "
                  f"{statistics.median(timed['all']):.2f} s, capture.jpg's answer taken "
                  f"from the answer check (as the engine does): "
                  f"{statistics.median(timed['engine']):.2f} s (medians of {args.references})",
                  flush=True)
    finally:
        pool.stop_all()
    document = {"machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                            "python": platform.python_version(),
                            "load_average_before": load_before,
                            "load_average_after": os.getloadavg()},
                "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join(sys.argv), "results": results}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
