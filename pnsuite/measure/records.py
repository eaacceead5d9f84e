"""What a pytest-benchmark record carries besides timings: the record's schema.

`extra_info` of each benchmark (`extra_info()`, from the run pnsuite.measure measured):
throughput, client latency percentiles, server-side time per inference by phase,
execution/inference counts, the batch-size histogram, repository, instance count,
concurrency and transport, the CPU others took in each counted window, the runner-speed
probe, the answer check, the windows measured and counted and whether they agreed, and
on a Jetson the tegrastats summary; `measured_run()` reads an entry back as the run it
was written from, as far as the record keeps it. `machine_info` of the run: Triton's
version, the transport, the launcher and its binary/image/install path, each
repository's model config digest, and on a Jetson its release, power mode and GPU (see
pnsuite/platform/jetson.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from pnsuite.client.memory import Memory
from pnsuite.measure.run import MeasuredRun, Window
from pnsuite.platform import jetson, tegrastats
from pnsuite.repository import model_config
from pnsuite.server import TritonServer

#: machine_info keys that must match for the gate to compare two runs (the embedded
#: binary's path differs from venv to venv, so it is reported, not compared). A Jetson's
#: board, power mode and clocks are checked by pnsuite.platform.jetson.comparable().
IDENTITY_KEYS = ("launcher", "machine", "cpu_model", "gpu", "transport")
#: what a new release changes: refused too, unless the gate is told to compare releases
RELEASE_KEYS = ("triton_version", "triton_image", "jetson_release")

#: extra_info keys the gate reads back (`measured_run()`): the throughput over
#: the counted windows (inference_ms is 1000 / it), the server's compute_infer time per
#: inference, the client's p99 latency, the CPU others took in each counted window (in
#: cores), and the runner-speed probe
THROUGHPUT = "throughput_infer_per_s"
COMPUTE_INFER = "server_compute_infer_ms"
LATENCY_P99 = "latency_p99_ms"
FOREIGN_PER_WINDOW = "foreign_cpu_cores_per_round"
RUNNER_PROBE = "runner_probe_ms"
#: what runs recorded before the per-round figure kept: the CPU others took, in cores
FOREIGN_LEGACY = "foreign_cpu_cores"

_PHASES = ("queue", "compute_input", "compute_infer", "compute_output")


def _figure(value: float) -> float:
    """A measured figure as recorded: six significant digits."""
    return float(f"{value:.6g}")


def server_identity(server: TritonServer, model: str = "peoplenet") -> dict[str, Any]:
    """Triton version, launcher details, repository and config digest of a running server."""
    with server.grpc_client() as client:
        version = client.get_server_metadata().version
        config = model_config.loaded_config(client, model)
    info = server.describe()
    return {
        "triton_version": version,
        **info,
        "model_config_digest": model_config.config_digest(config),
        "model_identity": model_config.model_identity(config),
    }


def repository_name(server: TritonServer) -> str:
    """The repository a benchmark record names: the server's, or `external`."""
    return server.model_repository.name if server.model_repository else "external"


def extra_info(
    run: MeasuredRun,
    config: model_config.ModelConfig,
    repo: str,
    memory: Memory,
    monitor: tegrastats.TegrastatsSampler | None = None,
) -> dict[str, Any]:
    """The figures a benchmark keeps beside its round times, from the run measured on a
    server that loaded `config` from `repo` (`memory`: where the requests' tensors
    travelled, recorded as its transport; `monitor`: tegrastats sampled on a Jetson
    meanwhile, `device_monitor()`'s)."""
    stats = run.server_stats
    info: dict[str, Any] = {
        THROUGHPUT: _figure(run.throughput),
        "latency_p50_ms": _figure(run.latency_p50_ms),
        "latency_p90_ms": _figure(run.latency_p90_ms),
        LATENCY_P99: _figure(run.latency_p99_ms),
        **{
            f"server_{phase}_ms": float(stats.get(f"{phase}_ms_per_inference", 0.0))
            for phase in _PHASES
        },
        COMPUTE_INFER: _figure(run.compute_infer_ms),  # as the run has it, not rounded to a µs
        "inference_count": int(stats.get("inference_count", 0)),
        "execution_count": int(stats.get("execution_count", 0)),
        "batch_size_histogram": dict(stats.get("batch_sizes", {})),
        "repo": repo,
        "instance_count": model_config.instance_count(config),
        "dynamic_batching": model_config.batches_dynamically(config),
        "concurrency": run.concurrency,
        "transport": memory.transport,
        "model_config_digest": model_config.config_digest(config),
        FOREIGN_PER_WINDOW: list(run.foreign_cores),
        RUNNER_PROBE: None if run.probe_ms is None else _figure(run.probe_ms),
        "answer_check": run.answer_check,
        "answers_checked_under_load": run.answers_checked_under_load,
        "load_images": list(run.load_images),
        "windows_measured": len(run.windows),
        "windows_counted": run.counted,
        "stable": run.stable,
    }
    if monitor is not None:  # on a Jetson: GPU load, EMC, power, temperatures
        info["tegrastats"] = monitor.summary()
    return info


def _number(value: Any) -> float | None:
    """A figure as read back; None where the record has none (stores keep NaN as null)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _positive(value: Any) -> float:
    """A figure as read back: 0.0 where the record has none or only a non-positive one."""
    number = _number(value)
    return number if number is not None and number > 0 else 0.0


def measured_run(
    entry: dict[str, Any], cores: int, started: float = 0.0, labels: dict[str, Any] | None = None
) -> MeasuredRun:
    """A pytest-benchmark entry (`stats` and the `extra_info` above) read back as the run it
    recorded, on a machine of `cores` cores, saved at `started`.

    The record keeps the counted windows only: one a round, timed by pytest-benchmark
    (`stats.data`, saved with --benchmark-save-data), each with the CPU others took in it
    and an equal share of the inferences; their own p99 is not kept (0.0). A record saved
    without its rounds keeps their median, read back as one window standing for them.
    Figures a record lacks read back as 0.0: records from before the engine kept round
    times, the server's compute time and p99, but no throughput, so their inference_ms
    is 0.0 and only their round_s is gated or charted."""
    stats = entry.get("stats")
    if not isinstance(stats, dict):
        stats = {}
    extra = entry.get("extra_info") or {}
    rounds = [_positive(s) for s in stats.get("data") or []] or [_positive(stats.get("median"))]
    foreign = [_positive(f) for f in extra.get(FOREIGN_PER_WINDOW) or []]
    if len(foreign) != len(rounds):
        # Older records kept one figure for all rounds (or fewer than their rounds): the
        # most any round saw stands for each, so a disturbed run still reads disturbed.
        peak = max(foreign) if foreign else _positive(extra.get(FOREIGN_LEGACY))
        foreign = [peak] * len(rounds)
    inferences = int(_positive(extra.get("inference_count")))
    share = round(inferences / int(_positive(extra.get("windows_counted")) or len(rounds)))
    phases = {
        f"{phase}_ms_per_inference": _number(extra.get(f"server_{phase}_ms")) for phase in _PHASES
    }
    server_stats: dict[str, Any] = {
        "inference_count": inferences,
        "execution_count": int(_positive(extra.get("execution_count"))),
        "batch_sizes": dict(extra.get("batch_size_histogram") or {}),
        **{key: value for key, value in phases.items() if value is not None},
    }
    throughput = _positive(extra.get(THROUGHPUT))
    return MeasuredRun(
        concurrency=int(_positive(extra.get("concurrency"))),
        windows=[
            Window(requests=share, seconds=s, latency_p99_ms=0.0, foreign_cores=f)
            for s, f in zip(rounds, foreign)
        ],
        counted=len(rounds),
        stable=extra.get("stable") is True,
        inference_ms=1e3 / throughput if throughput else 0.0,
        latency_p99_ms=_positive(extra.get(LATENCY_P99)),
        compute_infer_ms=_positive(extra.get(COMPUTE_INFER)),
        server_stats=server_stats,
        cores=cores,
        started=started,
        probe_ms=_positive(extra.get(RUNNER_PROBE)) or None,
        labels=dict(labels or {}),
        latency_p50_ms=_positive(extra.get("latency_p50_ms")),
        latency_p90_ms=_positive(extra.get("latency_p90_ms")),
        answer_check=str(extra.get("answer_check") or ""),
    )


def update_machine_info(
    machine_info: dict[str, Any], servers: Sequence[dict[str, Any]], platform: dict[str, Any]
) -> None:
    """Add what identifies the server side of a run to pytest-benchmark's machine_info."""
    if servers:
        first = servers[0]
        machine_info["triton_version"] = first.get("triton_version", "")
        machine_info["launcher"] = first.get("launcher", "")
        machine_info["server"] = (
            first.get("image")
            or first.get("install_dir")
            or first.get("server_binary")
            or first.get("url", "")
        )
        if first.get("image"):
            machine_info["triton_image"] = first["image"]
        machine_info["model_configs"] = {
            s.get("model_repository", "?"): {
                "digest": s.get("model_config_digest"),
                "identity": s.get("model_identity"),
            }
            for s in servers
        }
    cpu = machine_info.get("cpu") or {}
    machine_info["cpu_model"] = cpu.get("brand_raw", "") if isinstance(cpu, dict) else str(cpu)
    machine_info.update(platform)


def platform_identity() -> dict[str, Any]:
    """Jetson release, board, power mode and clocks (`{"jetson": False}` elsewhere)."""
    return jetson.machine_identity()


def device_monitor() -> tegrastats.TegrastatsSampler | contextlib.nullcontext[None]:
    """tegrastats sampled around a measurement on a Jetson; nothing elsewhere."""
    if jetson.machine_identity().get("jetson") and tegrastats.tegrastats_command(500):
        return tegrastats.TegrastatsSampler(interval_ms=500)
    return contextlib.nullcontext(None)
