"""Running Triton's perf_analyzer (the C++ binary in the tritonclient 2.51.0 wheel).

The wheel's binary needs `libb64.so.0d` and `libcudart.so.12`; nvidia-pytriton ships both
under hashed names, so a private dir of plain-named links goes on LD_LIBRARY_PATH.
It sends the suite's own pre-processed image (`--input-data` dir with a raw `input_1`
file), since the stand-in's cost depends on the image: random data would not compare.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pnsuite.client.memory import Memory
from pnsuite.detection import detectnet
from pnsuite.errors import SuiteError

_LIBS = {"libb64.so.0d": "libb64-*.so.0d", "libcudart.so.12": "libcudart-*.so.12*"}


class PerfAnalyzerFailed(SuiteError):
    """perf_analyzer ran and failed: its command line and the end of its output."""

    default_hint = (
        'its output above says why; "failed to obtain stable measurement" means '
        "the server's speed moved more than --stability-percentage allows"
    )


class PerfAnalyzerUnavailable(SuiteError):
    """perf_analyzer or a library it needs is not installed: says what to install."""


def find_binary() -> Path:
    candidates = [Path(sys.executable).parent / "perf_analyzer", shutil.which("perf_analyzer")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise PerfAnalyzerUnavailable(
        "perf_analyzer not found: it ships in the tritonclient==2.51.0 wheel "
        "(pip install 'tritonclient[grpc]==2.51.0'); newer wheels no longer carry it"
    )


def library_dir(workdir: Path) -> Path:
    """A dir with plain-named links to the libraries perf_analyzer was linked against."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise PerfAnalyzerUnavailable(
            "perf_analyzer needs libb64 and libcudart from nvidia-pytriton"
        )
    libs = Path(list(spec.submodule_search_locations)[0]).parent / "nvidia_pytriton.libs"
    out = workdir / "perf_analyzer_libs"
    out.mkdir(parents=True, exist_ok=True)
    for name, pattern in _LIBS.items():
        found = sorted(libs.glob(pattern))
        if not found:
            raise PerfAnalyzerUnavailable(f"{pattern} not found in {libs}")
        link = out / name
        if not link.exists():
            os.symlink(found[0], link)
    return out


def write_input_data(tensor: np.ndarray, workdir: Path) -> Path:
    """An `--input-data` dir holding one image (CHW float32) as raw bytes named `input_1`."""
    data = workdir / "perf_analyzer_input"
    data.mkdir(parents=True, exist_ok=True)
    image = np.ascontiguousarray(tensor.reshape(detectnet.INPUT_SHAPE), dtype=np.float32)
    (data / detectnet.INPUT_NAME).write_bytes(image.tobytes())
    return data


@dataclass(frozen=True)
class PerfAnalyzerResult:
    concurrency: int
    throughput: float  # inferences per second
    p50_ms: float
    p99_ms: float
    csv_path: Path


def run(
    url: str,
    tensor: np.ndarray,
    concurrency: int,
    workdir: Path,
    *,
    model: str = "peoplenet",
    memory: Memory = Memory.SYSTEM,
    measurement_ms: int = 2000,
    stability_pct: int = 30,
    max_trials: int = 10,
    timeout_s: float = 240.0,
) -> PerfAnalyzerResult:
    """One perf_analyzer measurement at one concurrency, its tensors in `memory`;
    raise with its output on failure."""
    binary = find_binary()
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        [str(library_dir(workdir))]
        + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else [])
    )
    csv_path = workdir / f"perf_analyzer_c{concurrency}.csv"
    command = [
        str(binary),
        "-m",
        model,
        "-u",
        url,
        "-i",
        "grpc",
        "--input-data",
        str(write_input_data(tensor, workdir)),
        "--shared-memory",
        memory.perf_analyzer_flag,
        "--concurrency-range",
        str(concurrency),
        "--measurement-interval",
        str(measurement_ms),
        "--stability-percentage",
        str(stability_pct),
        "--max-trials",
        str(max_trials),
        "-f",
        str(csv_path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or not csv_path.is_file():
        raise PerfAnalyzerFailed(
            f"perf_analyzer failed (exit {done.returncode}): {' '.join(command)}\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    with csv_path.open() as fh:
        row = next(csv.DictReader(fh))
    return PerfAnalyzerResult(
        concurrency,
        float(row["Inferences/Second"]),
        float(row["p50 latency"]) / 1e3,
        float(row["p99 latency"]) / 1e3,
        csv_path,
    )
