"""The questions a fleet asks its results store: a benchmark's series on one board over
builds and releases, the baseline a runner of one identity should be gated against, and
which runners regressed since a date."""

from __future__ import annotations

import platform
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from pnsuite.perf import changepoints, history
from pnsuite.store.errors import StoreError
from pnsuite.store.results_store import ResultsStore
from pnsuite.store.rows import machine_key


def baseline_runs(store: ResultsStore, label: str, node: str | None = None
                  ) -> list[dict[str, Any]]:
    """The undisturbed runs recorded under `label` for one machine identity: the only
    one, or this host's (`node`, default this machine's name) when runners of several
    identities used the label. A reimaged runner finds its baseline here, with no file."""
    documents = store.documents(label=label, include_disturbed=False)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in documents:
        groups[machine_key(doc["machine_info"])].append(doc)
    if len(groups) <= 1:
        return documents
    node = node or platform.node()
    mine = [docs for docs in groups.values()
            if any(d["machine_info"].get("node") == node for d in docs)]
    if len(mine) == 1:
        return mine[0]
    machines = sorted({", ".join(f"{k}={v}" for k, v in history.machine_identity(
        docs[0]["machine_info"]) if v not in (None, "")) for docs in groups.values()})
    raise StoreError(f"label {label!r} holds runs of {len(groups)} machine identities and "
                     f"none or several are this host's ({node}): " + "; ".join(machines),
                     "record one label per runner identity (e.g. NAME-orin-nx), or gate "
                     "on the runner that recorded it")


def board_series(store: ResultsStore, benchmark: str, board: str | None = None,
                 metric: str = "round_s") -> list[history.Series]:
    """One benchmark's series, one per machine identity on `board` (None: every board),
    over builds and releases in time order."""
    documents = store.documents(board=board, benchmark=benchmark)
    return [s for s in history.series(documents, metric) if s.benchmark == benchmark]


@dataclass(frozen=True)
class Regression:
    """A change point to slower values on one runner identity since the asked date."""

    series: history.Series
    change: history.Change

    @property
    def time(self) -> datetime:
        return self.series.points[self.change.index].time

    def line(self) -> str:
        p = self.series.points
        return (f"{self.time:%Y-%m-%d %H:%M} {self.series.benchmark} [{self.series.machine}]: "
                f"{self.change.relative_change:+.1%} between {self.change.commit_before} and "
                f"{self.change.commit_after} (p={self.change.p_value:.3f}; "
                f"{len(p)} runs in the series)")


def regressions_since(store: ResultsStore, since: datetime, metric: str = "round_s",
                      board: str | None = None, alpha: float = changepoints.DEFAULT_ALPHA,
                      ) -> list[Regression]:
    """Every series' change points to slower values after `since` (the whole series is
    searched, so a step is seen against what came before the date). Release changes are
    known steps, never counted."""
    found: list[Regression] = []
    for series in history.series(store.documents(board=board), metric):
        analysed = history.analyse(series, alpha=alpha)
        for change in analysed.changes:
            if change.kind == "regression" and series.points[change.index].time >= since:
                found.append(Regression(series, change))
    return sorted(found, key=lambda r: r.time)


def runners(regressions: Sequence[Regression]) -> list[str]:
    """The runner identities that regressed."""
    return sorted({r.series.machine for r in regressions})
