"""Independent runs of the recorded benchmarks, each its own pytest session.

A separate session is a separate start of every server, which is what makes two runs
independent samples of a build (pnsuite/measure/runsets.py). Each run is saved in
pytest-benchmark's storage under a label (`--benchmark-save=LABEL`), with its rounds, so
the history command sees every run and the gate reads them back as a run set.

The recorded benchmarks are the tests marked `recorded_benchmark` (MARKER, registered in
pyproject.toml). A session is `python -m pytest -m recorded_benchmark` in the project
root: pytest's configuration says where tests are found, never this module (the pytest
layer collects only where pyproject.toml's `recorded_benchmarks` says they live).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pnsuite.errors import SuiteError
from pnsuite.measure.runsets import saved_runs
from pnsuite.paths import PROJECT_ROOT

#: the marker of the benchmarks a gate run records (the perf *tests* are assertions, run
#: once elsewhere)
MARKER = "recorded_benchmark"


class RecordError(SuiteError):
    """A benchmark session failed, so it recorded no run."""


def pytest_command(label: str, storage: Path, pytest_args: Sequence[str]) -> list[str]:
    # Every recorded benchmark, whatever test tier the caller's environment asks for: a run
    # set is comparable only if each run measured the same benchmarks.
    return [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        MARKER,
        "--tier=all",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-storage=file://{Path(storage).resolve()}",
        f"--benchmark-save={label}",
        "--benchmark-save-data",
        *pytest_args,
    ]


def record_run(
    label: str,
    storage: Path,
    pytest_args: Sequence[str] = (),
    timeout_s: float = 900.0,
    store: str | None = None,
) -> Path:
    """Run the benchmarks once in a pytest session of their own; the file it saved. With
    `store` (a results store URL) the session writes the run there too."""
    before = set(saved_runs(label, storage))
    command = pytest_command(label, storage, pytest_args)
    # Through the environment, not the command line: a URL may hold a password, and the
    # command is printed when the session fails.
    env = {**os.environ, "TRITON_SUITE_RESULTS_STORE": store} if store else None
    try:
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout_s, env=env
        )
    except subprocess.TimeoutExpired as err:
        raise RecordError(
            f"the benchmark session ran past {timeout_s:.0f} s: {' '.join(command)}",
            "look for a hung server in the session's output; run it by hand",
        ) from err
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
    if done.returncode != 0:
        raise RecordError(
            f"the benchmark session failed (exit code {done.returncode}): "
            f"{' '.join(command)}\n{tail}",
            "fix the failing benchmark; its output is above",
        )
    new = [p for p in saved_runs(label, storage) if p not in before]
    if len(new) != 1:
        raise RecordError(
            f"the benchmark session saved {len(new)} runs named {label!r} in "
            f"{storage}, not one: {' '.join(command)}\n{tail}",
            "check that the pytest arguments select at least one benchmark "
            "and that nothing else writes there meanwhile",
        )
    return new[0]
