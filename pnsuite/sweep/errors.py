"""The sweep's one error type: a bad space, objective or journal, said with what to do."""

from __future__ import annotations

from pnsuite.errors import SuiteError


class SweepError(SuiteError):
    """A sweep cannot start or go on (bad input, a journal of another sweep)."""
