"""A sweep run for real: one server per model variant (its config written beside the
original's model files), each point measured on it, every point journalled as it is
measured so an interrupted sweep resumes, then the leaders re-measured in independent
runs (a fresh server each, in random order) so the choice is judged against noise."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from pnsuite.client.image_set import ImageSet
from pnsuite.client.memory import Memory
from pnsuite.errors import SuiteError
from pnsuite.repository import model_config
from pnsuite.server import TritonServer
from pnsuite.server.launcher import Launcher
from pnsuite.server.pool import ServerPool
from pnsuite.sweep import objectives, search
from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.journal import Journal
from pnsuite.sweep.measure import PointPlan, measure_point
from pnsuite.sweep.points import (
    DISTINCT,
    TIED,
    BestVsRunnerUp,
    Candidate,
    Confirmation,
    PointKey,
    SweepDocument,
    SweepPoint,
    Variant,
)
from pnsuite.sweep.space import SweepSpace, check_against_config
from pnsuite.verdict import verdicts

SEARCHES = ("brute", "hill")


def variant_changes(variant: Variant) -> model_config.ConfigChanges:
    """model_config's keyword arguments that turn the original into `variant`."""
    b = variant.batching
    return {
        "instances": variant.instances,
        "dynamic_batching": b.enabled,
        "queue_delay_us": b.max_queue_delay_us if b.enabled else None,
        "preferred_batch_sizes": list(b.preferred_batch_sizes) if b.enabled else None,
    }


def deployable_config(repo: Path, variant: Variant, model: str = "peoplenet") -> str:
    """The config.pbtxt text that serves `variant`: the original's, with only the swept
    fields changed, ready to replace the repository's config."""
    config = model_config.variant_config(repo, model, **variant_changes(variant))
    return text_format.MessageToString(config)


class SweepRunner:
    """Measures points on real servers; keeps the current variant's server between
    points of that variant."""

    def __init__(
        self,
        repo: Path,
        launcher: Launcher,
        plan: PointPlan,
        tensor: ImageSet | np.ndarray,
        workdir: Path,
        model: str = "peoplenet",
        ready_timeout_s: float = 120.0,
        server_args: Sequence[str] = (),
    ) -> None:
        if not launcher.manages_server:
            raise SweepError(
                f"the {launcher.name} launcher serves a server the suite did not "
                "start: a sweep must write and load its own configurations",
                "use --triton-launcher embedded, release or docker",
            )
        self.repo, self.plan, self.tensor, self.model = Path(repo), plan, tensor, model
        self.workdir = Path(workdir)
        self._pool = ServerPool(
            launcher, self._server_dir, ready_timeout_s, server_args=server_args
        )
        self._server: TritonServer | None = None
        self._variant: Variant | None = None

    def _server_dir(self, name: str) -> Path:
        (self.workdir / "servers").mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir / "servers"))

    def variant_repo(self, variant: Variant) -> Path:
        dest = self.workdir / "variants" / variant.name
        if not (dest / self.model / "config.pbtxt").is_file():
            model_config.write_variant(
                self.repo, dest, self.model, header="for a sweep", **variant_changes(variant)
            )
        return dest

    def server_for(self, variant: Variant, fresh: bool = False) -> TritonServer:
        """A ready server for `variant` (the engine checks its answers before each point
        it measures there)."""
        if fresh or self._variant != variant or self._server is None:
            self._pool.stop_all()
            self._server, self._variant = None, None
            self._server = self._pool.start(self.variant_repo(variant))
            self._variant = variant
        return self._server

    def measure(self, key: PointKey) -> SweepPoint:
        """The point, or a failed point saying why (a variant that does not load, a request
        that fails): one bad configuration must not end the sweep."""
        try:
            return measure_point(
                self.server_for(key.variant), key, self.plan, self.tensor, self.model
            )
        except (SuiteError, RuntimeError, OSError) as err:
            self._pool.stop_all()
            self._server, self._variant = None, None
            return SweepPoint(
                key,
                error=str(err).strip().splitlines()[0][:500],
                measured_at=datetime.now(timezone.utc).isoformat("seconds"),
            )

    def confirm(
        self,
        keys: list[PointKey],
        runs: int,
        rng: random.Random,
        tick: Callable[[], None] = lambda: None,
    ) -> list[Candidate]:
        """Each key re-measured in `runs` independent runs, a fresh server each, the keys
        in a new random order every round so drift falls on all of them alike."""
        throughputs: dict[PointKey, list[float]] = {key: [] for key in keys}
        for _ in range(runs):
            order = list(keys)
            rng.shuffle(order)
            for key in order:
                point = measure_point(
                    self.server_for(key.variant, fresh=True),
                    key,
                    self.plan,
                    self.tensor,
                    self.model,
                )
                throughputs[key].append(round(point.throughput, 3))
                tick()
        return [Candidate(key, tuple(throughputs[key])) for key in keys]

    def close(self) -> None:
        self._pool.stop_all()
        self._server, self._variant = None, None


@dataclass
class SweepRequest:
    """Everything a sweep is asked to do."""

    repo: Path
    space: SweepSpace
    plan: PointPlan = field(default_factory=PointPlan)
    search: str = "brute"
    max_points: int | None = None
    objective: objectives.Objective = field(
        default_factory=lambda: objectives.parse_objective("max:throughput")
    )
    constraints: list[objectives.Constraint] = field(default_factory=list)
    #: leading configurations re-measured in independent runs, and how many runs each
    confirm_top: int = 3
    confirm_runs: int = 3
    model: str = "peoplenet"
    seed: int | None = None
    #: tritonserver options added to every server the sweep starts (as deployed)
    server_args: tuple[str, ...] = ()


def journal_header(request: SweepRequest, launcher: Launcher) -> dict[str, object]:
    """What must match for a journal's points to be reused: the model, server and the
    way points are measured (not the objective: the points serve any objective)."""
    config = model_config.read_config(request.repo, request.model)
    return {
        "repository": str(Path(request.repo).resolve()),
        "model": request.model,
        "config_digest": model_config.config_digest(config),
        "launcher": launcher.name,
        "space": request.space.to_json(),
        "windows": asdict(request.plan.windows),
        "memory": request.plan.memory.value,
        "load_processes": request.plan.load_processes,
        "monitor": request.plan.monitor,
        # Only where given, so that journals of sweeps without any still resume.
        **({"server_args": list(request.server_args)} if request.server_args else {}),
    }


def check_request(request: SweepRequest) -> None:
    """Refuse, before any server starts, what the sweep cannot do."""
    if request.search not in SEARCHES:
        raise SweepError(f"unknown search {request.search!r}", f"use one of {', '.join(SEARCHES)}")
    config = model_config.read_config(request.repo, request.model)
    check_against_config(request.space, config.max_batch_size)
    if (
        objectives.needs_power(request.objective, request.constraints)
        and request.plan.monitor == "none"
    ):
        raise SweepError(
            "the objective or a constraint needs power, and this machine has "
            "no power monitor (tegrastats on a Jetson, nvidia-smi on a GPU)",
            "optimise throughput or latency here, or sweep on the board itself",
        )
    if request.confirm_top and request.confirm_runs == 1:
        raise SweepError(
            "--confirm-runs 1: one run per candidate shows no run-to-run noise",
            f"give at least {verdicts.MIN_RUNS}, or --confirm-top 0 to skip",
        )


def judge_candidates(candidates: list[Candidate], alpha: float = 0.05) -> Confirmation:
    """The leaders ranked by their runs' geometric mean, and whether the first is told
    apart from the second: a paired t interval (runs of one round share their drift)."""
    ranked = sorted(candidates, key=lambda c: -verdicts.geometric_mean(c.runs_throughput))
    runs = len(ranked[0].runs_throughput) if ranked else 0
    versus = None
    if len(ranked) >= 2 and runs >= verdicts.MIN_RUNS:
        best, second = ranked[0], ranked[1]
        # As time per inference, lower is better, as verdicts.compare reasons.
        c = verdicts.compare(
            f"{best.label} vs {second.label}",
            "s_per_inference",
            [1 / v for v in second.runs_throughput],
            [1 / v for v in best.runs_throughput],
            paired=True,
        )
        low, high = c.bounds(alpha / 2)
        versus = BestVsRunnerUp(
            best=best.label,
            runner_up=second.label,
            ratio=1 / c.ratio,
            low=1 / high,
            high=1 / low,
            verdict=DISTINCT if high < 1 else TIED,
        )
    return Confirmation(runs=runs, candidates=tuple(ranked), best_vs_runner_up=versus)


def choose_best(
    ranked: list[SweepPoint], confirmation: Confirmation | None, objective: objectives.Objective
) -> SweepPoint | None:
    """The sweep's answer. Throughput leaders re-measured in independent runs are judged by
    those runs: the confirmed leader where it is told apart from the runner-up, else the
    cheaper of the two (fewer instances, no batching, lower concurrency), since noise
    cannot choose between them. Without confirmation, the ranking's first."""
    if not ranked:
        return None
    verdict = confirmation.best_vs_runner_up if confirmation else None
    if verdict is None or objective.metric != "throughput":
        return ranked[0]
    by_label = {p.key.label: p for p in ranked}
    leader, second = by_label[verdict.best], by_label[verdict.runner_up]
    if verdict.distinct:
        return leader
    return min((leader, second), key=objectives.cheapness)


def run_sweep(
    request: SweepRequest,
    launcher: Launcher,
    tensor: ImageSet | np.ndarray,
    out_dir: Path,
    restart: bool = False,
    progress: bool = True,
    machine: dict[str, object] | None = None,
) -> SweepDocument:
    """Measure the request's points (resuming from `out_dir/journal.jsonl`), confirm the
    leaders and return the whole sweep; nothing is written but the journal."""
    from tqdm import tqdm  # a progress bar only where a sweep runs

    check_request(request)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal.open(
        out_dir / "journal.jsonl", journal_header(request, launcher), restart=restart
    )
    done = journal.points()
    wall = time.monotonic()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    total = (
        request.space.size
        if request.search == "brute"
        else (request.max_points or request.space.size)
    )
    # SIM118 below: a SweepSpace is not a dict; its keys() lists the points.
    resumed = sum(key in done for key in request.space.keys()) if request.search == "brute" else 0  # noqa: SIM118
    bar = tqdm(total=total, initial=resumed, unit="point", disable=not progress, desc="sweep")
    with tempfile.TemporaryDirectory(prefix="peoplenet-sweep-") as tmp:
        runner = SweepRunner(
            request.repo,
            launcher,
            request.plan,
            tensor,
            Path(tmp),
            request.model,
            server_args=request.server_args,
        )
        try:

            def measure(key: PointKey) -> SweepPoint:
                bar.set_postfix_str(key.label)
                point = runner.measure(key)
                journal.append(point)
                bar.update()
                return point

            if request.search == "brute":
                points = search.brute_force(request.space, measure, done)
            else:
                points = search.hill_climb(
                    request.space,
                    measure,
                    request.objective,
                    request.constraints,
                    done,
                    max_points=request.max_points,
                )
            ranked = objectives.rank(points, request.objective, request.constraints)
            confirmation: Confirmation | None = None
            leaders = [p.key for p in ranked[: request.confirm_top]]
            if len(leaders) >= 2 and request.confirm_runs >= verdicts.MIN_RUNS:
                bar.reset(total=len(leaders) * request.confirm_runs)
                bar.set_description("confirm")
                candidates = runner.confirm(
                    leaders, request.confirm_runs, random.Random(request.seed), bar.update
                )
                confirmation = judge_candidates(candidates)
        finally:
            runner.close()
            bar.close()
    return summarize(
        request, launcher.name, points, confirmation, machine, started, time.monotonic() - wall
    )


def summarize(
    request: SweepRequest,
    launcher: str,
    points: list[SweepPoint],
    confirmation: Confirmation | None = None,
    machine: dict[str, object] | None = None,
    started: str = "",
    wall_s: float = 0.0,
) -> SweepDocument:
    """The sweep document of measured points: ranking, Pareto front, best and its config."""
    ranked = objectives.rank(points, request.objective, request.constraints)
    best = choose_best(ranked, confirmation, request.objective)
    front = objectives.pareto_front(points)
    config = model_config.read_config(request.repo, request.model)
    return SweepDocument(
        repository=str(request.repo),
        model=request.model,
        model_identity=model_config.model_identity(config),
        launcher=launcher,
        memory=request.plan.memory,
        server_args=list(request.server_args),
        space=request.space.to_json(),
        search=request.search,
        objective=request.objective.text,
        constraints=[c.text for c in request.constraints],
        machine=dict(machine or {}),
        started=started,
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        wall_s=round(wall_s, 1),
        points=points,
        best=best.key.label if best else None,
        ranking=[p.key.label for p in ranked],
        pareto=[p.key.label for p in front],
        best_config=deployable_config(request.repo, best.key.variant, request.model)
        if best
        else None,
        confirmation=confirmation,
    )


def summarize_journal(journal_path: Path, request: SweepRequest) -> SweepDocument:
    """The document of a journal's points as they are, measuring nothing: a sweep cut
    short, or one measured on another machine. Its model configuration must be the one
    the journal measured (the best config is derived from it)."""
    journal = Journal.read(journal_path)
    header = journal.header
    digest = model_config.config_digest(model_config.read_config(request.repo, request.model))
    if header.get("config_digest") != digest:
        raise SweepError(
            f"{journal_path} measured a configuration with digest "
            f"{header.get('config_digest')}, {request.repo} has {digest}",
            "summarise it against the repository the sweep measured",
        )
    swept = SweepSpace.from_json(header["space"])
    measured = journal.points()
    # SIM118: a SweepSpace is not a dict; its keys() lists the points.
    points = [measured[key] for key in swept.keys() if key in measured]  # noqa: SIM118
    # The document keeps only the plan's memory: the windows need not be read back.
    plan = PointPlan(
        memory=Memory.parse(header["memory"], f"{journal_path}'s memory"),
        load_processes=int(header["load_processes"]),
        monitor=header["monitor"],
    )
    summary = SweepRequest(
        request.repo,
        swept,
        plan,
        request.search,
        request.max_points,
        request.objective,
        request.constraints,
        0,
        0,
        request.model,
        server_args=tuple(header.get("server_args", ())),
    )
    started = min((p.measured_at for p in points if p.measured_at), default="")
    return summarize(
        summary, header["launcher"], points, started=started, wall_s=sum(p.seconds for p in points)
    )
