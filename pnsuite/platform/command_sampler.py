"""A monitoring command run in the background around a measurement, its lines parsed as
they come (tegrastats on a Jetson, nvidia-smi on a discrete GPU). Standard library only."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import Any


class CommandSampler:
    """Runs `argv` in its own process group and keeps every line `parse_line` accepts.

    Subclasses give `parse_line` (a line -> a sample dict, or None) and `summary()`. Use
    as a context manager around the measured part; `stop()` ends the command (SIGTERM,
    then SIGKILL after 5 s) and returns the summary.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.samples: list[dict[str, Any]] = []
        self.unparsed: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def parse_line(self, line: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        raise NotImplementedError

    def snapshot(self) -> list[dict[str, Any]]:
        """The samples so far (a copy: the reader thread goes on appending)."""
        with self._lock:
            return list(self.samples)

    def start(self) -> CommandSampler:
        # Own process group: stopping it must not reach the measuring process.
        self._proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=type(self).__name__, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if not line.strip():
                continue
            sample = self.parse_line(line)
            with self._lock:
                if sample:
                    self.samples.append(sample)
                else:
                    self.unparsed.append(line.rstrip())

    def stop(self) -> dict[str, Any]:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._proc = None
        return self.summary()

    def __enter__(self) -> CommandSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
