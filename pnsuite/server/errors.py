"""Server errors a person can act on: what was run, what the server said, what to do."""

from __future__ import annotations

from collections.abc import Sequence

from pnsuite.errors import SuiteError


def _format_command(command: Sequence[str]) -> str:
    return " ".join(command) or "(nothing was started)"


class TritonError(SuiteError):
    """Base of the suite's server errors."""


class ServerStartError(TritonError):
    """The server did not become ready: the command, its exit code and its last log lines."""

    default_hint = (
        "the log lines above say why; a model that fails to load names its "
        "file or config, a taken port is retried on its own"
    )

    def __init__(
        self,
        reason: str,
        command: Sequence[str],
        exit_code: int | None,
        log_tail: str,
        hint: str | None = None,
        status: str | None = None,
    ) -> None:
        self.reason = reason
        self.command = list(command)
        self.exit_code = exit_code
        self.log_tail = log_tail
        code = status or ("still running" if exit_code is None else f"exit code {exit_code}")
        super().__init__(
            f"Triton server failed to start: {reason}\n"
            f"  command: {_format_command(command)}\n"
            f"  status: {code}\n"
            f"  last log lines:\n{_indent(log_tail)}",
            hint,
        )


class ServerDiedError(TritonError):
    """The server exited while a test was using it."""

    default_hint = (
        "the log tail above shows its last words; a negative exit code is the "
        "signal that killed it (-9: SIGKILL, e.g. the kernel's OOM killer)"
    )

    def __init__(self, command: Sequence[str], exit_code: int | None, log_tail: str) -> None:
        self.command = list(command)
        self.exit_code = exit_code
        self.log_tail = log_tail
        super().__init__(
            f"Triton server died (exit code {exit_code})\n"
            f"  command: {_format_command(command)}\n"
            f"  last log lines:\n{_indent(log_tail)}"
        )


class LauncherConfigError(TritonError):
    """A launcher was set up with something missing or wrong (path, image, URL)."""


class ModelRepositoryNotFound(TritonError):
    """The model repository a server was asked to serve is not there."""

    default_hint = "pass an existing model repository (a directory of <model>/config.pbtxt)"


def _indent(text: str, prefix: str = "    ") -> str:
    lines = text.rstrip().splitlines() or ["(empty log)"]
    return "\n".join(prefix + line for line in lines)
