"""Fixtures of the fault suite: slowed repos, a CPU burner, and scenarios run in a child
pytest that the test then interrupts or kills."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from pnsuite import ownership
from pnsuite.repository import model_config
from pnsuite.paths import PROJECT_ROOT

SCENARIOS = Path(__file__).parent / "scenarios"
EMBEDDED = PROJECT_ROOT / "model_repos" / "embedded"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def slow_repo(tmp_path: Path):
    """Factory: a one-instance stand-in repo whose every execution takes `delay_s`."""
    def make(delay_s: float, instances: int = 1) -> Path:
        return model_config.write_variant(
            EMBEDDED / "sample_1_instances", tmp_path / f"slow_{delay_s}" / "peoplenet_repo",
            instances=instances, parameters={"execute_delay_s": str(delay_s)})
    return make


@contextlib.contextmanager
def _burning_one_core() -> Iterator[subprocess.Popen]:
    # A neighbour, not ours: without the owner tag, so the CPU it takes counts as foreign.
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                              env=ownership.foreign_environment())
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait(10)


@pytest.fixture
def cpu_burner() -> Iterator[subprocess.Popen]:
    """Another process burning one core for the length of the test."""
    with _burning_one_core() as burner:
        yield burner


@pytest.fixture
def cpu_burner_factory():
    """`with cpu_burner_factory():` burns one core for the length of the block."""
    return _burning_one_core


def _default_sigint() -> None:
    # A shell running CI in the background starts its children with SIGINT ignored, and
    # Python then never raises KeyboardInterrupt: give the child a terminal's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ChildSession:
    """A pytest session running one scenario in a child process, to interrupt or kill."""

    def __init__(self, scenario: str, tmp_path: Path, *extra: str) -> None:
        self.ready_file = tmp_path / "ready"
        self.log = tmp_path / "child.log"
        env = {**os.environ, "SCENARIO_READY_FILE": str(self.ready_file)}
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(SCENARIOS / scenario), "-q", "-s",
             "-p", "no:cacheprovider", *extra],
            cwd=PROJECT_ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
            preexec_fn=_default_sigint)

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"scenario never got ready:\n{self.output()}")
            time.sleep(0.1)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        return self.proc.wait(timeout_s)

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


@pytest.fixture
def child_session(tmp_path: Path) -> Iterator:
    sessions: list[ChildSession] = []

    def start(scenario: str, *extra: str) -> ChildSession:
        session = ChildSession(scenario, tmp_path / f"child{len(sessions)}", *extra)
        sessions.append(session)
        return session

    for path in [tmp_path / "child0", tmp_path / "child1", tmp_path / "child2"]:
        path.mkdir()
    try:
        yield start
    finally:
        for session in sessions:
            session.close()
