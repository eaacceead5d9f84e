"""The space a sweep covers: instance counts x batching choices x client concurrencies,
parsed from the command line's compact forms and checked against the model's config."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pnsuite.sweep.errors import SweepError
from pnsuite.sweep.points import Batching, PointKey, Variant

COUNT_FORMS = (
    "N (one count)",
    "A-B (every count from A to B)",
    "pow2:A-B (the powers of two from A to B)",
    "a comma list of these, e.g. 1-3,8 or pow2:1-64",
)
BATCHING_FORMS = (
    "off",
    "on (Triton's default queue delay)",
    "on:DELAY_US",
    "on:DELAY_US:P1.P2... (preferred batch sizes, '.' between them)",
    "a comma list of these, e.g. off,on:0,on:100,on:500:4.8",
)

_COUNT = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
_POW2 = re.compile(r"pow2:([0-9]+)-([0-9]+)")


@dataclass(frozen=True)
class SweepSpace:
    """Every (variant, concurrency) a sweep may measure: a grid of three axes, each in the
    order given (instance counts, batching choices, client concurrencies)."""

    instances: tuple[int, ...]
    batching: tuple[Batching, ...]
    concurrency: tuple[int, ...]

    def __post_init__(self) -> None:
        # Lists are accepted and kept as tuples so the space stays hashable.
        for name in ("instances", "batching", "concurrency"):
            values = tuple(getattr(self, name))
            if not values:
                raise SweepError(
                    f"the sweep space has no {name}", f"give at least one value for --{name}"
                )
            if len(set(values)) != len(values):
                raise SweepError(
                    f"the sweep space repeats a value in {name}: {values}",
                    f"give each value of --{name} once",
                )
            object.__setattr__(self, name, values)
        for name in ("instances", "concurrency"):
            bad = [v for v in getattr(self, name) if not isinstance(v, int) or v < 1]
            if bad:
                raise SweepError(
                    f"the sweep space's {name} must be integers >= 1, not {bad}",
                    f"give --{name} as {'; '.join(COUNT_FORMS)}",
                )

    @property
    def shape(self) -> tuple[int, int, int]:
        """The grid's extent: (instance counts, batching choices, concurrencies)."""
        return len(self.instances), len(self.batching), len(self.concurrency)

    @property
    def size(self) -> int:
        """How many points the whole grid holds."""
        ni, nb, nc = self.shape
        return ni * nb * nc

    def variants(self) -> list[Variant]:
        """Each model configuration: instance counts outermost, then batching choices."""
        return [Variant(i, b) for i in self.instances for b in self.batching]

    def keys(self) -> list[PointKey]:
        """Every point, variant by variant, so one server start serves a variant's
        concurrencies in a row."""
        return [PointKey(v, c) for v in self.variants() for c in self.concurrency]

    def coordinates(self, key: PointKey) -> tuple[int, int, int]:
        """A key's place in the grid: (instances index, batching index, concurrency index)."""
        try:
            return (
                self.instances.index(key.variant.instances),
                self.batching.index(key.variant.batching),
                self.concurrency.index(key.concurrency),
            )
        except ValueError:
            raise SweepError(
                f"point {key.label} is not in the sweep space {self.to_json()}",
                "start from a point of the space (its instance count, batching "
                "and concurrency each among those swept)",
            ) from None

    def key_at(self, coordinates: Sequence[int]) -> PointKey:
        """The key at grid coordinates (instances index, batching index, concurrency index)."""
        i, b, c = coordinates
        return PointKey(Variant(self.instances[i], self.batching[b]), self.concurrency[c])

    def to_json(self) -> dict[str, Any]:
        return {
            "instances": list(self.instances),
            "batching": [b.label for b in self.batching],
            "concurrency": list(self.concurrency),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSpace:
        try:
            instances, labels, concurrency = (
                data["instances"],
                data["batching"],
                data["concurrency"],
            )
        except KeyError as missing:
            raise SweepError(
                f"a sweep space lacks {missing}: {dict(data)}",
                "give instances, batching and concurrency",
            ) from None
        return cls(
            tuple(int(v) for v in instances),
            tuple(batching_from_label(label) for label in labels),
            tuple(int(v) for v in concurrency),
        )


def parse_counts(text: str, what: str) -> tuple[int, ...]:
    """Counts from `1-3`, `1,2,4,8`, `1-3,8` or `pow2:1-64`: sorted, each once.

    `what` names the option the text came from (`--instances`), for the error.
    """
    counts: set[int] = set()
    for token in text.split(","):
        counts.update(_count_token(token.strip().lower(), what))
    return tuple(sorted(counts))


def _count_token(token: str, what: str) -> list[int]:
    def bad(why: str) -> SweepError:
        return SweepError(
            f"{what}: {token!r} {why}",
            f"give {what} as {'; '.join(COUNT_FORMS)}; counts are integers >= 1",
        )

    if _COUNT.fullmatch(token):
        low = high = int(token)
    elif match := _RANGE.fullmatch(token) or _POW2.fullmatch(token):
        low, high = int(match[1]), int(match[2])
        if low > high:
            raise bad(f"is an empty range ({low} > {high})")
    else:
        raise bad("is not a count, a range or pow2:A-B")
    if low < 1:
        raise bad("includes a count below 1")
    if token.startswith("pow2:"):
        # 2**k for every k whose power lies in [low, high]
        powers = [1 << k for k in range(high.bit_length()) if low <= 1 << k <= high]
        if not powers:
            raise bad(f"holds no power of two between {low} and {high}")
        return powers
    return list(range(low, high + 1))


def parse_batching(text: str, what: str = "--batching") -> tuple[Batching, ...]:
    """Batching choices from `off,on,on:100,on:500:4.8`, in the order given, each once.

    A choice's preferred batch sizes are kept sorted and each once (Triton treats them as
    a set), so `on:500:8.4` and `on:500:4.8` are one choice.
    """
    choices: list[Batching] = []
    for token in text.split(","):
        choice = _batching_token(token.strip().lower(), what)
        if choice not in choices:
            choices.append(choice)
    return tuple(choices)


def _batching_token(token: str, what: str) -> Batching:
    def bad(why: str) -> SweepError:
        return SweepError(
            f"{what}: {token!r} {why}",
            f"give {what} as {'; '.join(BATCHING_FORMS)}; delays are integers "
            "of microseconds >= 0, preferred sizes integers >= 1",
        )

    parts = token.split(":")
    if parts == ["off"]:
        return Batching()
    if parts[0] != "on" or len(parts) > 3:
        raise bad("is not a batching choice")
    delay: int | None = None
    if len(parts) >= 2 and parts[1] != "":
        if not _COUNT.fullmatch(parts[1]):
            raise bad(f"has a queue delay {parts[1]!r} that is not an integer >= 0")
        delay = int(parts[1])
    elif len(parts) == 2:
        raise bad("has an empty queue delay")
    sizes: tuple[int, ...] = ()
    if len(parts) == 3:
        texts = parts[2].split(".")
        if not all(_COUNT.fullmatch(t) and int(t) >= 1 for t in texts):
            raise bad(
                f"has preferred batch sizes {parts[2]!r} that are not integers >= 1 "
                "separated by '.'"
            )
        sizes = tuple(sorted({int(t) for t in texts}))
    return Batching(True, delay, sizes)


def batching_from_label(label: str) -> Batching:
    """The batching choice a `Batching.label` names (`off`, `on`, `on-d100`, `on-d100-p4.8`,
    `on-p4.8`): the label's inverse, for a space read back from JSON."""
    parts = label.split("-")
    if parts == ["off"]:
        return Batching()
    delay: int | None = None
    sizes: tuple[int, ...] = ()
    rest = parts[1:]
    if rest and re.fullmatch(r"d[0-9]+", rest[0]):
        delay = int(rest.pop(0)[1:])
    if rest and re.fullmatch(r"p[0-9]+(\.[0-9]+)*", rest[0]):
        sizes = tuple(int(t) for t in rest.pop(0)[1:].split("."))
    if parts[0] != "on" or rest or (sizes and min(sizes) < 1):
        raise SweepError(
            f"{label!r} is not a batching label",
            "a label reads off, on, on-dDELAY_US, on-dDELAY_US-pP1.P2 or "
            "on-pP1.P2 (as Batching.label writes them)",
        )
    return Batching(True, delay, sizes)


def check_against_config(space: SweepSpace, max_batch_size: int) -> None:
    """Refuse a space the model cannot serve: batching for a model that does not batch
    (max_batch_size 0), or a preferred batch size above the model's max_batch_size."""
    batched = [b.label for b in space.batching if b.enabled]
    if batched and max_batch_size <= 0:
        raise SweepError(
            f"the sweep asks for dynamic batching ({', '.join(batched)}) but the "
            f"model's max_batch_size is {max_batch_size}: Triton cannot batch "
            "its requests",
            "sweep with --batching off, or give the model's config.pbtxt a max_batch_size above 0",
        )
    for choice in space.batching:
        over = [s for s in choice.preferred_batch_sizes if s > max_batch_size]
        if over:
            raise SweepError(
                f"batching choice {choice.label} prefers batch size "
                f"{', '.join(map(str, over))}, above the model's max_batch_size "
                f"{max_batch_size}",
                f"give --batching preferred sizes of at most {max_batch_size}, "
                "or raise max_batch_size in the model's config.pbtxt",
            )
