"""The root of every error the suite shows a person.

A `SuiteError` says what went wrong and, in its hint, what to do about it; the pytest
layer turns one raised while a run is set up into a single usage error, and the
command-line programs print it and exit non-zero, without a traceback.
"""

from __future__ import annotations


class SuiteError(Exception):
    """What went wrong (the message) and what to do about it (the hint)."""

    #: the hint of errors of this class that are given none of their own
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return f"{self.message}\n  what to do: {self.hint}" if self.hint else self.message


class ConfigError(SuiteError):
    """A setting (pytest option, ini key, environment variable) or argument is wrong."""

    default_hint = "see the settings table in README.md (pytest --help lists the options)"
