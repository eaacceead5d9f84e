"""The GPU stand-in network's own speed, outside Triton: its compute bound.

Times the forward pass of `pnsuite.models.gpu_standin`'s network (fp16, channels-last) with CUDA
events at each batch size, median of many runs over rotating random inputs (never zeros),
and the copies a served request costs (one 3x544x960 float32 image, 6.3 MB: pageable and
pinned host to device, shared memory to pinned). Optionally writes the network's outputs
for a few real images, so that the driver can check what the served model answers
without importing torch itself.

    python3 -m pnsuite.cli.gpu.netbench --out results/netbench.json [--references refs.npz]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnsuite.models import gpu_standin

SIZES = (1, 2, 4, 8, 16, 32, 64)
IMAGE_BYTES = 3 * gpu_standin.NET_H * gpu_standin.NET_W * 4


def _event_times(fn: Callable[[int], Any], iters: int, warmup: int) -> list[float]:
    """Milliseconds of each of `iters` calls of fn(i), timed with CUDA events."""
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    times = []
    for i in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(i)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def _summary(times: list[float], images: int) -> dict[str, float]:
    median = statistics.median(times)
    return {
        "median_ms": round(median, 4),
        "min_ms": round(min(times), 4),
        "max_ms": round(max(times), 4),
        "runs": len(times),
        "ms_per_image": round(median / images, 4),
        "images_per_s": round(images / median * 1e3, 1),
    }


def _time_batch(
    net: gpu_standin.DetectNetV2, n: int, iters: int, gen: torch.Generator
) -> dict[str, Any]:
    """Both timings at batch size `n`; its inputs are freed when this returns."""
    # Three input sets in rotation: no run reads what the last one left in L2.
    inputs32 = [
        torch.rand((n, 3, gpu_standin.NET_H, gpu_standin.NET_W), device="cuda", generator=gen)
        for _ in range(3)
    ]
    inputs16 = [x.to(torch.float16, memory_format=torch.channels_last) for x in inputs32]
    with torch.inference_mode():
        forward = _event_times(lambda i: net(inputs16[i % 3]), iters, warmup=5)
        served = _event_times(
            lambda i: gpu_standin.run_network(net, inputs32[i % 3]), iters, warmup=3
        )
    return {"forward": _summary(forward, n), "run_network": _summary(served, n)}


def time_network(
    net: gpu_standin.DetectNetV2, sizes: tuple[int, ...], iters: int
) -> dict[str, Any]:
    """Forward-only time (fp16 channels-last input already on the GPU) and the time of
    what the served model runs on the GPU per batch (run_network: fp32 input converted
    on the GPU, fp32 outputs), per batch size."""
    gen = torch.Generator(device="cuda").manual_seed(7)
    out: dict[str, Any] = {}
    for n in sizes:
        out[str(n)] = _time_batch(net, n, iters, gen)
        torch.cuda.empty_cache()
        print(
            f"batch {n:3d}: forward {out[str(n)]['forward']['median_ms']:8.3f} ms "
            f"({out[str(n)]['forward']['ms_per_image']:.3f} ms/image, "
            f"{out[str(n)]['forward']['images_per_s']:.0f} images/s); with fp32 in/out "
            f"{out[str(n)]['run_network']['median_ms']:.3f} ms",
            flush=True,
        )
    return out


def time_copies(iters: int = 50) -> dict[str, Any]:
    """One image's copies on the served path, median ms (host clocks after a sync where
    the copy is synchronous, CUDA events where it is asynchronous)."""
    image = np.random.default_rng(3).random(
        (1, 3, gpu_standin.NET_H, gpu_standin.NET_W), dtype=np.float32
    )
    pageable = torch.from_numpy(image)
    pinned = torch.empty_like(pageable).pin_memory()
    device = torch.empty_like(pageable, device="cuda")
    result: dict[str, Any] = {"image_bytes": IMAGE_BYTES}

    def host_times(fn: Callable[[], Any]) -> list[float]:
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(iters):
            began = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - began) * 1e3)
        return times

    result["pageable_to_device_ms"] = statistics.median(
        host_times(lambda: device.copy_(pageable, non_blocking=True))
    )
    result["pinned_to_device_ms"] = statistics.median(
        _event_times(lambda i: device.copy_(pinned, non_blocking=True), iters, warmup=3)
    )
    for threads in (1, 4, 8):
        torch.set_num_threads(threads)
        result[f"pageable_to_pinned_ms_{threads}_threads"] = statistics.median(
            host_times(lambda: pinned.copy_(pageable))
        )
    for key, value in list(result.items()):
        if key.endswith("_ms") or "_ms_" in key:
            result[key] = round(float(value), 4)
            print(f"{key}: {result[key]:.3f} ms ({IMAGE_BYTES / value / 1e6:.1f} GB/s)", flush=True)
    return result


def gpu_state() -> dict[str, str]:
    """What nvidia-smi reads of the card (read only: nothing is changed)."""
    fields = (
        "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,"
        "temperature.gpu,utilization.gpu,memory.used"
    )
    try:
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return dict(zip(fields.split(","), (v.strip() for v in done.stdout.split(","))))
    except (OSError, subprocess.SubprocessError) as err:
        return {"error": str(err)}


def compare_builtin(net: gpu_standin.DetectNetV2) -> dict[str, Any]:
    """Whether the builtin ResNet34 (used for CPU checks where torchvision is missing) is
    the torchvision one: same parameter names and shapes, same outputs from the same
    weights seed."""
    builtin = gpu_standin.build_network("cuda", source="builtin")
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in builtin.state_dict().items()}
    x = torch.rand((2, 3, gpu_standin.NET_H, gpu_standin.NET_W), device="cuda")
    with torch.inference_mode():
        a, b = gpu_standin.run_network(net, x), gpu_standin.run_network(builtin, x)
    diff = max(float((a[0] - b[0]).abs().max()), float((a[1] - b[1]).abs().max()))
    del builtin
    torch.cuda.empty_cache()
    return {"same_parameters": ours == theirs, "max_abs_output_diff": diff}


def write_references(net: gpu_standin.DetectNetV2, path: Path) -> None:
    """The network's outputs for the check images (see pnsuite.cli.gpu.validate), one at a
    time."""
    from pnsuite.cli.gpu.validate import check_inputs

    images = check_inputs()
    covs, bboxes = [], []
    with torch.inference_mode():
        for image in images:
            cov, bbox = gpu_standin.run_network(net, torch.from_numpy(image[None]).cuda())
            covs.append(cov.cpu().numpy()[0])
            bboxes.append(bbox.cpu().numpy()[0])
    np.savez(path, inputs=images, cov=np.stack(covs), bbox=np.stack(bboxes))
    print(f"references for {len(images)} images: {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--references", type=Path, help="also write reference outputs (npz)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument(
        "--memory-fraction",
        type=float,
        default=0.12,
        help="the served model's cap (its gpu_memory_fraction parameter)",
    )
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    began = time.perf_counter()
    # The same cap as each served instance: cuDNN's heuristics choose plans by the
    # workspace they can get, so the served network and this one run the same kernels.
    torch.cuda.set_per_process_memory_fraction(args.memory_fraction)
    net = gpu_standin.build_network("cuda")
    result: dict[str, Any] = {
        "model_identity": gpu_standin.IDENTITY,
        "seed": gpu_standin.DEFAULT_SEED,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "device": torch.cuda.get_device_name(),
        "gpu_state_before": gpu_state(),
        "parameters": sum(p.numel() for p in net.parameters()),
    }
    # Shape check: a 34x60 grid for the 544x960 input.
    with torch.inference_mode():
        cov, bbox = gpu_standin.run_network(
            net, torch.rand((1, 3, gpu_standin.NET_H, gpu_standin.NET_W), device="cuda")
        )
    result["output_shapes"] = {"cov": list(cov.shape), "bbox": list(bbox.shape)}
    result["builtin_matches_torchvision"] = compare_builtin(net)
    assert list(cov.shape) == [1, 3, 34, 60] and list(bbox.shape) == [1, 12, 34, 60], result
    result["memory_fraction"] = args.memory_fraction
    result["network"] = time_network(net, tuple(args.sizes), args.iters)
    result["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
    # And with the whole GPU's memory to choose from, for the two sizes the targets use.
    torch.cuda.set_per_process_memory_fraction(1.0)
    torch.cuda.reset_peak_memory_stats()
    print("without the memory cap:", flush=True)
    result["network_uncapped"] = time_network(
        net, tuple(n for n in (1, 16) if n in args.sizes), args.iters
    )
    result["peak_reserved_gib_uncapped"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
    bounds = [
        r["16"]["forward"]["images_per_s"]
        for r in (result["network"], result["network_uncapped"])
        if "16" in r
    ]
    if bounds:
        # The network's own bound: the faster of the two, so the target is not eased.
        result["compute_bound_images_per_s"] = max(bounds)
    result["copies"] = time_copies()
    if args.references:
        write_references(net, args.references)
    result["gpu_state_after"] = gpu_state()
    result["seconds"] = round(time.perf_counter() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
