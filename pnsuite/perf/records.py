"""What a pytest-benchmark record carries besides timings.

`extra_info` of each benchmark: throughput, client latency percentiles, server-side time
per inference by phase, execution/inference counts, the batch-size histogram, repository,
instance count, concurrency and transport. `machine_info` of the run: Triton's version,
the transport, the launcher and its binary/image/install path, each repository's model config digest,
and on a Jetson its release, power mode and GPU (see pnsuite/platform/jetson.py).
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

import numpy as np

from pnsuite.platform import jetson, tegrastats
from pnsuite.repository import model_config
from pnsuite.client.load import ClosedLoopRun
from pnsuite.server import TritonServer
from pnsuite.perf.triton_stats import ModelStats
from pnsuite.client.memory import Memory

#: machine_info keys that must match for the gate to compare two runs (the embedded
#: binary's path differs from venv to venv, so it is reported, not compared). A Jetson's
#: board, power mode and clocks are checked by pnsuite.platform.jetson.comparable().
IDENTITY_KEYS = ("launcher", "machine", "cpu_model", "gpu", "transport")
#: what a new release changes: refused too, unless the gate is told to compare releases
RELEASE_KEYS = ("triton_version", "triton_image", "jetson_release")


def server_identity(server: TritonServer, model: str = "peoplenet") -> dict[str, Any]:
    """Triton version, launcher details, repository and config digest of a running server."""
    with server.grpc_client() as client:
        version = client.get_server_metadata().version
        config = model_config.loaded_config(client, model)
    info = server.describe()
    return {"triton_version": version, **info,
            "model_config_digest": model_config.config_digest(config),
            "model_identity": model_config.model_identity(config)}


def extra_info(runs: Sequence[ClosedLoopRun], delta: ModelStats,
               config: model_config.ModelConfig, repo: str, memory: Memory) -> dict[str, Any]:
    """The figures a benchmark keeps beside its round times (`memory`: where the runs'
    tensors travelled, recorded as its transport)."""
    latencies = np.concatenate([r.latencies_s for r in runs]) if runs else np.zeros(1)
    requests = sum(r.requests for r in runs)
    seconds = sum(r.total_s for r in runs)
    per_inf = {f"server_{phase}_ms": round(delta.per_inference_ms(phase), 3)
               for phase in ("queue", "compute_input", "compute_infer", "compute_output")}
    return {
        "throughput_infer_per_s": round(requests / seconds, 3) if seconds else 0.0,
        **{f"latency_p{p}_ms": round(float(np.percentile(latencies, p)) * 1e3, 2)
           for p in (50, 90, 99)},
        **per_inf,
        "inference_count": delta.inference_count,
        "execution_count": delta.execution_count,
        "batch_size_histogram": {str(k): v for k, v in delta.batches.items()},
        "repo": repo,
        "instance_count": model_config.instance_count(config),
        "dynamic_batching": model_config.batches_dynamically(config),
        "concurrency": runs[0].concurrency if runs else 0,
        "transport": memory.transport,
        "model_config_digest": model_config.config_digest(config),
    }


def update_machine_info(machine_info: dict[str, Any], servers: Sequence[dict[str, Any]],
                        platform: dict[str, Any]) -> None:
    """Add what identifies the server side of a run to pytest-benchmark's machine_info."""
    if servers:
        first = servers[0]
        machine_info["triton_version"] = first.get("triton_version", "")
        machine_info["launcher"] = first.get("launcher", "")
        machine_info["server"] = (first.get("image") or first.get("install_dir")
                                  or first.get("server_binary") or first.get("url", ""))
        if first.get("image"):
            machine_info["triton_image"] = first["image"]
        machine_info["model_configs"] = {
            s.get("model_repository", "?"): {"digest": s.get("model_config_digest"),
                                             "identity": s.get("model_identity")}
            for s in servers}
    cpu = machine_info.get("cpu") or {}
    machine_info["cpu_model"] = cpu.get("brand_raw", "") if isinstance(cpu, dict) else str(cpu)
    machine_info.update(platform)


def platform_identity() -> dict[str, Any]:
    """Jetson release, board, power mode and clocks (`{"jetson": False}` elsewhere)."""
    return jetson.machine_identity()


def device_monitor() -> "tegrastats.TegrastatsSampler | contextlib.nullcontext[None]":
    """tegrastats sampled around a measurement on a Jetson; nothing elsewhere."""
    if jetson.machine_identity().get("jetson") and tegrastats.tegrastats_command(500):
        return tegrastats.TegrastatsSampler(interval_ms=500)
    return contextlib.nullcontext(None)
