"""What a sweep measured: one point per (model variant, client concurrency), and the
sweep document that holds them (`sweep.json`), shared by the sweep, its reports and the
results store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pnsuite.client.memory import Memory
from pnsuite.sweep.errors import SweepError
from pnsuite.verdict import verdicts

#: the sweep document's format; a reader refuses another, but for ROUNDS_FORMAT
FORMAT = 2
#: the format of sweeps whose points were measured in timed rounds: read, never written
ROUNDS_FORMAT = 1

#: Triton's per-inference phases a point records, in the order they happen
PHASES = ("queue", "compute_input", "compute_infer", "compute_output")


@dataclass(frozen=True)
class Batching:
    """Dynamic batching off, or on with an optional queue delay and preferred sizes."""

    enabled: bool = False
    max_queue_delay_us: int | None = None
    preferred_batch_sizes: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        """`off`, `on`, `on-d100`, `on-d100-p4.8`: short, stable, usable in a file name."""
        if not self.enabled:
            return "off"
        parts = ["on"]
        if self.max_queue_delay_us is not None:
            parts.append(f"d{self.max_queue_delay_us}")
        if self.preferred_batch_sizes:
            parts.append("p" + ".".join(map(str, self.preferred_batch_sizes)))
        return "-".join(parts)


@dataclass(frozen=True)
class Variant:
    """One model configuration of the sweep: instance count and batching."""

    instances: int
    batching: Batching = Batching()

    @property
    def name(self) -> str:
        return f"i{self.instances}-b{self.batching.label}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "instances": self.instances,
            "dynamic_batching": self.batching.enabled,
            "max_queue_delay_us": self.batching.max_queue_delay_us,
            "preferred_batch_sizes": list(self.batching.preferred_batch_sizes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Variant:
        return cls(
            int(data["instances"]),
            Batching(
                bool(data["dynamic_batching"]),
                data.get("max_queue_delay_us"),
                tuple(data.get("preferred_batch_sizes") or ()),
            ),
        )


@dataclass(frozen=True)
class PointKey:
    """Where a point sits in the sweep's space."""

    variant: Variant
    concurrency: int

    @property
    def label(self) -> str:
        return f"{self.variant.name}-c{self.concurrency}"


@dataclass
class Platform:
    """Power, clock and temperature while a point was measured (None: not measured here).

    `source` names what measured them: `tegrastats` on a Jetson, `nvidia-smi` on a discrete
    GPU. A point is `throttled` when its mean GPU clock fell below THROTTLE_SHARE of the
    clock the board is locked to (or its maximum), as nvbench discards such samples.
    """

    source: str | None = None
    power_w: float | None = None
    gpu_clock_mhz: float | None = None
    gpu_clock_max_mhz: float | None = None
    temperature_c_max: float | None = None
    samples: int = 0

    THROTTLE_SHARE = 0.75

    @property
    def throttled(self) -> bool | None:
        if not self.gpu_clock_mhz or not self.gpu_clock_max_mhz:
            return None
        return self.gpu_clock_mhz < self.THROTTLE_SHARE * self.gpu_clock_max_mhz

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["throttled"] = self.throttled
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Platform:
        data = dict(data or {})
        data.pop("throttled", None)
        return cls(**data)


@dataclass
class SweepPoint:
    """One measured point: the measurement engine's run (pnsuite.measure) at the point's
    concurrency. Throughput is inferences (images) per second."""

    key: PointKey
    #: over the counted windows: their requests over their seconds (nan: the point failed)
    throughput: float = math.nan
    #: every window's throughput, oldest first (windows of one server start: not
    #: independent runs); the last `windows_counted` are the point's figures
    windows_throughput: list[float] = field(default_factory=list)
    windows_counted: int = 0
    #: whether the counted windows agreed within the plan's tolerance (None: not judged,
    #: a point measured in rounds)
    stable: bool | None = None
    latency_p50_ms: float = math.nan
    latency_p99_ms: float = math.nan
    #: Triton's time per inference in each of PHASES, ms
    per_inference_ms: dict[str, float] = field(default_factory=dict)
    #: batch size -> executions of that size (Triton's batch statistics)
    batch_sizes: dict[int, int] = field(default_factory=dict)
    inferences: int = 0
    executions: int = 0
    platform: Platform = field(default_factory=Platform)
    measured_at: str = ""
    seconds: float = 0.0
    #: why this point could not be measured (the variant failed to load, a request failed)
    error: str | None = None

    @property
    def energy_mj_per_inference(self) -> float | None:
        if self.platform.power_w is None or not self.throughput > 0:
            return None
        return self.platform.power_w / self.throughput * 1e3

    @property
    def inferences_per_joule(self) -> float | None:
        if not self.platform.power_w:
            return None
        return self.throughput / self.platform.power_w

    @property
    def ok(self) -> bool:
        return self.error is None and self.throughput > 0

    def metric(self, name: str) -> float | None:
        """A point's figure by the name objectives and constraints use (METRICS)."""
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
        value = METRICS[name](self)
        return (
            None
            if value is None or (isinstance(value, float) and math.isnan(value))
            else float(value)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.key.variant.to_json(),
            "concurrency": self.key.concurrency,
            "label": self.key.label,
            "throughput": _finite(self.throughput),
            "windows_throughput": self.windows_throughput,
            "windows_counted": self.windows_counted,
            "stable": self.stable,
            "latency_p50_ms": _finite(self.latency_p50_ms),
            "latency_p99_ms": _finite(self.latency_p99_ms),
            "per_inference_ms": self.per_inference_ms,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "inferences": self.inferences,
            "executions": self.executions,
            "energy_mj_per_inference": self.energy_mj_per_inference,
            "inferences_per_joule": self.inferences_per_joule,
            "platform": self.platform.to_json(),
            "measured_at": self.measured_at,
            "seconds": self.seconds,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], version: int = FORMAT) -> SweepPoint:
        """A point as a sweep of format `version` wrote it: in ROUNDS_FORMAT, the timed
        rounds stand as its windows, all counted, their agreement not judged."""
        if version == ROUNDS_FORMAT:
            rounds = [float(v) for v in data.get("rounds_throughput", [])]
            windows, counted, stable = rounds, len(rounds), None
        else:
            windows = [float(v) for v in data.get("windows_throughput", [])]
            counted = int(data.get("windows_counted", 0))
            stable = None if data.get("stable") is None else bool(data["stable"])
        return cls(
            PointKey(Variant.from_json(data["variant"]), int(data["concurrency"])),
            throughput=_nan(data.get("throughput")),
            windows_throughput=windows,
            windows_counted=counted,
            stable=stable,
            latency_p50_ms=_nan(data.get("latency_p50_ms")),
            latency_p99_ms=_nan(data.get("latency_p99_ms")),
            per_inference_ms=dict(data.get("per_inference_ms", {})),
            batch_sizes={int(k): int(v) for k, v in data.get("batch_sizes", {}).items()},
            inferences=int(data.get("inferences", 0)),
            executions=int(data.get("executions", 0)),
            platform=Platform.from_json(data.get("platform")),
            measured_at=data.get("measured_at", ""),
            seconds=data.get("seconds", 0.0),
            error=data.get("error"),
        )


#: metric name -> how to read it off a point (objectives, constraints and reports use these)
METRICS = {
    "throughput": lambda p: p.throughput,
    "latency_p50_ms": lambda p: p.latency_p50_ms,
    "latency_p99_ms": lambda p: p.latency_p99_ms,
    "energy_mj_per_inference": lambda p: p.energy_mj_per_inference,
    "inferences_per_joule": lambda p: p.inferences_per_joule,
    "power_w": lambda p: p.platform.power_w,
    "instances": lambda p: p.key.variant.instances,
    "concurrency": lambda p: p.key.concurrency,
}

#: metrics where more is better; the others are better smaller
HIGHER_IS_BETTER = frozenset({"throughput", "inferences_per_joule"})


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Candidate:
    """A leading configuration re-measured in independent runs (a fresh server each)."""

    key: PointKey
    #: each run's throughput: runs are the unit the noise is judged by
    runs_throughput: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs_throughput", tuple(map(float, self.runs_throughput)))

    @property
    def label(self) -> str:
        return self.key.label

    @property
    def geomean(self) -> float | None:
        """The runs' geometric mean throughput (None without runs)."""
        runs = self.runs_throughput
        return verdicts.geometric_mean(runs) if runs else None

    @property
    def spread(self) -> float | None:
        """The runs' spread on the log scale (None with fewer than two)."""
        runs = self.runs_throughput
        return verdicts.log_spread(runs) if len(runs) > 1 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "variant": self.key.variant.to_json(),
            "concurrency": self.key.concurrency,
            "runs_throughput": list(self.runs_throughput),
            "geomean": self.geomean,
            "spread": self.spread,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(
            PointKey(Variant.from_json(data["variant"]), int(data["concurrency"])),
            tuple(float(v) for v in data.get("runs_throughput", [])),
        )


#: a confirmation's verdicts: the leader told apart from the runner-up by the runs, or not
DISTINCT, TIED = "distinct", "tied"


@dataclass(frozen=True, kw_only=True)
class BestVsRunnerUp:
    """The confirmed leader against the runner-up, judged on their independent runs: the
    ratio of their throughputs (best over runner-up) with its 95% interval, and whether
    the interval tells them apart (DISTINCT) or not (TIED)."""

    best: str
    runner_up: str
    ratio: float
    low: float
    high: float
    verdict: str

    @property
    def distinct(self) -> bool:
        return self.verdict == DISTINCT

    def to_json(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "runner_up": self.runner_up,
            "ratio": self.ratio,
            "low": self.low,
            "high": self.high,
            "verdict": self.verdict,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BestVsRunnerUp:
        return cls(
            best=str(data["best"]),
            runner_up=str(data["runner_up"]),
            ratio=float(data["ratio"]),
            low=float(data["low"]),
            high=float(data["high"]),
            verdict=str(data["verdict"]),
        )


@dataclass(frozen=True, kw_only=True)
class Confirmation:
    """The sweep's leaders re-measured in independent runs (a fresh server each): how
    many runs each had, the candidates best first (by their runs' geometric mean), and
    the first against the second (None: fewer than two candidates, or too few runs)."""

    runs: int
    candidates: tuple[Candidate, ...] = ()
    best_vs_runner_up: BestVsRunnerUp | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))

    def to_json(self) -> dict[str, Any]:
        """The sweep document's `confirmation` (the format sweeps have always written)."""
        out: dict[str, Any] = {
            "runs": self.runs,
            "candidates": [c.to_json() for c in self.candidates],
        }
        if self.best_vs_runner_up is not None:
            out["best_vs_runner_up"] = self.best_vs_runner_up.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Confirmation:
        versus = data.get("best_vs_runner_up")
        return cls(
            runs=int(data["runs"]),
            candidates=tuple(Candidate.from_json(c) for c in data.get("candidates", [])),
            best_vs_runner_up=BestVsRunnerUp.from_json(versus) if versus else None,
        )


@dataclass
class SweepDocument:
    """A whole sweep: what was swept, on what, every point, and the verdict."""

    repository: str
    model: str = "peoplenet"
    model_identity: str = ""
    launcher: str = "embedded"
    #: where request tensors travelled
    memory: Memory = Memory.SYSTEM
    #: tritonserver options every server had: the best configuration is served with them
    server_args: list[str] = field(default_factory=list)
    #: the space as given: {"instances": [...], "batching": [labels], "concurrency": [...]}
    space: dict[str, Any] = field(default_factory=dict)
    search: str = "brute"
    objective: str = "max:throughput"
    constraints: list[str] = field(default_factory=list)
    #: machine identity (pnsuite.platform.jetson's, or the benchmark machine_info)
    machine: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    finished: str | None = None
    wall_s: float = 0.0
    points: list[SweepPoint] = field(default_factory=list)
    #: the label of the best feasible point, None when none is feasible
    best: str | None = None
    #: feasible points' labels, best first (by the objective, within the constraints)
    ranking: list[str] = field(default_factory=list)
    #: labels of the throughput / p99 Pareto front, lowest p99 first
    pareto: list[str] = field(default_factory=list)
    #: the winning configuration's config.pbtxt text, ready to deploy
    best_config: str | None = None
    #: the leading candidates' independent runs and what they tell apart (None: not run)
    confirmation: Confirmation | None = None

    def point(self, label: str) -> SweepPoint:
        for p in self.points:
            if p.key.label == label:
                return p
        raise KeyError(label)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "repository": self.repository,
            "model": self.model,
            "model_identity": self.model_identity,
            "launcher": self.launcher,
            "memory": self.memory.value,
            "server_args": self.server_args,
            "space": self.space,
            "search": self.search,
            "objective": self.objective,
            "constraints": self.constraints,
            "machine": self.machine,
            "started": self.started,
            "finished": self.finished,
            "wall_s": self.wall_s,
            "points": [p.to_json() for p in self.points],
            "best": self.best,
            "ranking": self.ranking,
            "pareto": self.pareto,
            "best_config": self.best_config,
            "confirmation": self.confirmation.to_json() if self.confirmation else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepDocument:
        version = data.get("format")
        if version not in (FORMAT, ROUNDS_FORMAT):
            raise SweepError(
                f"sweep document format {version!r}, this suite reads formats "
                f"{ROUNDS_FORMAT} and {FORMAT}",
                "re-run the sweep with this suite, or read it with the suite that wrote it",
            )
        fields = {
            k: data[k]
            for k in (
                "repository",
                "model",
                "model_identity",
                "launcher",
                "server_args",
                "space",
                "search",
                "objective",
                "constraints",
                "machine",
                "started",
                "finished",
                "wall_s",
                "best",
                "ranking",
                "pareto",
                "best_config",
            )
            if k in data
        }
        if "memory" in data:
            fields["memory"] = Memory.parse(data["memory"], "the sweep document's memory")
        confirmation = data.get("confirmation")
        return cls(
            points=[SweepPoint.from_json(p, version) for p in data.get("points", [])],
            confirmation=Confirmation.from_json(confirmation) if confirmation else None,
            **fields,
        )
