"""The questions a fleet asks its results store: a benchmark's series on one board over
builds and releases, the baseline a runner of one identity should be gated against, and
which runners regressed since a date."""

from __future__ import annotations

import platform
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pnsuite.history import changepoints, history
from pnsuite.measure.records import RELEASE_KEYS
from pnsuite.store.errors import StoreError
from pnsuite.store.results_store import ResultsStore
from pnsuite.store.rows import machine_key, recorded_at


def baseline_runs(
    store: ResultsStore,
    label: str,
    node: str | None = None,
    *,
    max_runs: int | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The undisturbed runs recorded under `label` for one machine identity, oldest first.
    A reimaged runner finds its baseline here, with no file.

    The baseline is a rolling pool: a passing check on the trusted branch adds its runs
    (`ResultsStore.relabel`), and only the newest `max_runs` within `max_age` of `now`
    count. Where runners of several identities used the label, the pool is this host's
    (`node`, default this machine's name); where this host's own identity changed (a new
    JetPack, another power mode), the pool restarts: only its newest identity's runs count.
    """
    documents = store.documents(label=label, include_disturbed=False)
    # one baseline is one identity and one release: the gate refuses to mix them
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for doc in documents:
        info = doc["machine_info"]
        key = (machine_key(info), *(str(info.get(k)) for k in RELEASE_KEYS))
        groups[key].append(doc)
    if len(groups) > 1:
        node = node or platform.node()
        mine = [
            docs
            for docs in groups.values()
            if any(d["machine_info"].get("node") == node for d in docs)
        ]
        if not mine:
            machines = sorted(
                {
                    ", ".join(
                        f"{k}={v}"
                        for k, v in history.machine_identity(docs[0]["machine_info"])
                        if v not in (None, "")
                    )
                    for docs in groups.values()
                }
            )
            raise StoreError(
                f"label {label!r} holds runs of {len(groups)} machine identities "
                f"and none is this host's ({node}): " + "; ".join(machines),
                "record one label per runner identity (e.g. NAME-orin-nx), or "
                "gate on the runner that recorded it",
            )
        documents = max(mine, key=lambda docs: recorded_at(docs[-1]))
    return newest(documents, max_runs=max_runs, max_age=max_age, now=now)


def newest(
    documents: list[dict[str, Any]],
    *,
    max_runs: int | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Of runs oldest first, the newest `max_runs` of those within `max_age` of `now`."""
    if max_age is not None:
        since = (now or datetime.now(timezone.utc)) - max_age
        documents = [d for d in documents if recorded_at(d) >= since]
    if max_runs is not None:
        documents = documents[-max_runs:] if max_runs > 0 else []
    return documents


def board_series(
    store: ResultsStore, benchmark: str, board: str | None = None, metric: str = "round_s"
) -> list[history.Series]:
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
        return (
            f"{self.time:%Y-%m-%d %H:%M} {self.series.benchmark} [{self.series.machine}]: "
            f"{self.change.relative_change:+.1%} between {self.change.commit_before} and "
            f"{self.change.commit_after} (p={self.change.p_value:.3f}; "
            f"{len(p)} runs in the series)"
        )


def regressions_since(
    store: ResultsStore,
    since: datetime,
    metric: str = "round_s",
    board: str | None = None,
    alpha: float = changepoints.DEFAULT_ALPHA,
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
