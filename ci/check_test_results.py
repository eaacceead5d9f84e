#!/usr/bin/env python3
"""Checks that a CI test run ran what it should: reads the JUnit XML pytest wrote
(--junitxml) and fails when a test failed or errored, when fewer tests passed than the
run's `min_passed`, or when a test skipped for a reason the run does not allow.

A skip that is fine on a developer's machine (a tool not installed) is a failure on CI,
where .ci/run installs everything: only the skips listed for the run in
ci/expected-results.json, each with why it can happen there, are accepted.

    python3 ci/check_test_results.py --run embedded --junit build/ci/embedded.xml

Exit status: 0 the run is as expected; 1 it is not (one line per problem); 2 the check
itself could not be made (unknown run, unreadable file). Standard library only: CI runs
it with the system python3, outside the suite's venv.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_EXPECTED = Path(__file__).resolve().parent / "expected-results.json"
PROG = "check_test_results"
# Failed or skipped tests named on one problem line; the rest are counted.
NAMES_SHOWN = 5
# A message is cut to this on a problem line: pytest's own output above has it all.
MESSAGE_CHARS = 240


class CheckError(Exception):
    """The check cannot be made (bad arguments or files): exit status 2."""


@dataclass(frozen=True)
class AllowedSkip:
    """A skip reason a run may have, and why it can happen there."""

    pattern: re.Pattern[str]
    why: str


@dataclass(frozen=True)
class Expectation:
    """What one CI run must show: at least `min_passed` passes, only these skips."""

    min_passed: int
    allowed_skips: tuple[AllowedSkip, ...]

    def allows(self, message: str) -> AllowedSkip | None:
        """The first allowed skip whose pattern matches `message`, if any."""
        return next((s for s in self.allowed_skips if s.pattern.search(message)), None)


@dataclass
class Results:
    """One run's outcomes: test ids, and each skipped test's message."""

    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    errored: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_expectation(path: Path, run: str) -> Expectation:
    """The expectation for `run` from the JSON file at `path`, validated."""
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise CheckError(f"cannot read the expected results {path}: {err}") from err
    except json.JSONDecodeError as err:
        raise CheckError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(runs, dict):
        raise CheckError(f"{path} must hold an object of runs, e.g. {{\"embedded\": {{...}}}}")
    if run not in runs:
        raise CheckError(f"unknown run {run!r}: {path} has {', '.join(sorted(runs)) or 'none'} "
                         f"(add it there, or pass one of those to --run)")
    spec = runs[run]
    where = f"{path}: run {run!r}"
    if not isinstance(spec, dict) or not isinstance(spec.get("min_passed"), int) \
            or isinstance(spec.get("min_passed"), bool) or spec["min_passed"] < 0:
        raise CheckError(f"{where} needs \"min_passed\": a whole number >= 0")
    skips = spec.get("allowed_skips", [])
    if not isinstance(skips, list):
        raise CheckError(f"{where}: \"allowed_skips\" must be a list of "
                         f"{{\"pattern\": ..., \"why\": ...}}")
    return Expectation(spec["min_passed"], tuple(_allowed_skip(s, where) for s in skips))


def _allowed_skip(entry: object, where: str) -> AllowedSkip:
    if not isinstance(entry, dict) or not isinstance(entry.get("pattern"), str) \
            or not isinstance(entry.get("why"), str) or not entry["why"].strip():
        raise CheckError(f"{where}: each allowed skip needs a \"pattern\" (a regex) and a "
                         f"non-empty \"why\" (when it can happen on CI); got {entry!r}")
    try:
        return AllowedSkip(re.compile(entry["pattern"]), entry["why"])
    except re.error as err:
        raise CheckError(f"{where}: allowed skip pattern {entry['pattern']!r} is not a "
                         f"valid regex: {err}") from err


def read_junit(path: Path) -> Results:
    """The outcomes recorded in the JUnit XML that pytest's --junitxml wrote at `path`."""
    try:
        root = ET.parse(path).getroot()
    except OSError as err:
        raise CheckError(f"cannot read the JUnit XML {path}: {err} (did pytest run with "
                         f"--junitxml {path}, and get as far as writing it?)") from err
    except ET.ParseError as err:
        raise CheckError(f"{path} is not valid XML: {err} (a pytest run killed while writing "
                         f"it leaves it cut short)") from err
    if root.tag not in ("testsuites", "testsuite"):
        raise CheckError(f"{path} is not JUnit XML: its root is <{root.tag}>, not <testsuites>")
    results = Results()
    for case in root.iter("testcase"):
        _record(results, case)
    return results


def _record(results: Results, case: ET.Element) -> None:
    """Adds one <testcase> to `results`: a teardown error can sit beside a pass or a
    failure, so each kind of child is counted, and a test passed only if it has none."""
    classname, name = case.get("classname", ""), case.get("name", "?")
    test = f"{classname}.{name}" if classname else name
    outcomes = {child.tag: child for child in case
                if child.tag in ("failure", "error", "skipped")}
    for tag, bucket in (("failure", results.failed), ("error", results.errored),
                        ("skipped", results.skipped)):
        if tag in outcomes:
            bucket.append((test, _first_line(outcomes[tag].get("message", ""))))
    if not outcomes:
        results.passed.append(test)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    line = lines[0].strip() if lines else "(no message)"
    return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS - 3] + "..."


def _names(tests: list[str]) -> str:
    shown = ", ".join(tests[:NAMES_SHOWN])
    more = len(tests) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def problems(results: Results, expected: Expectation) -> list[str]:
    """One line per way the run differs from what is expected of it; empty if none."""
    found = [f"FAILED {test}: {message}" for test, message in results.failed]
    found += [f"ERROR {test}: {message}" for test, message in results.errored]
    if not (results.passed or results.failed or results.errored or results.skipped):
        found.append("no tests at all in the JUnit XML: pytest collected nothing")
    if len(results.passed) < expected.min_passed:
        found.append(f"only {len(results.passed)} tests passed, fewer than min_passed "
                     f"{expected.min_passed}: tests were lost (deselected, not collected) "
                     f"or min_passed is out of date in the expected results")
    for message, tests in _by_message(results.skipped).items():
        if expected.allows(message) is None:
            found.append(f"SKIPPED, not allowed on this run ({len(tests)}: {_names(tests)}): "
                         f"{message}")
    return found


def _by_message(skipped: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for test, message in skipped:
        grouped.setdefault(message, []).append(test)
    return grouped


def summary(run: str, results: Results, expected: Expectation) -> list[str]:
    """The one-line summary, then one line per distinct allowed skip message."""
    grouped = _by_message(results.skipped)
    allowed = {m: expected.allows(m) for m in grouped}
    n_allowed = sum(len(t) for m, t in grouped.items() if allowed[m] is not None)
    lines = [f"{PROG} {run}: {len(results.passed)} passed (min {expected.min_passed}), "
             f"{len(results.skipped)} skipped ({n_allowed} allowed, "
             f"{len(results.skipped) - n_allowed} not), {len(results.failed)} failed, "
             f"{len(results.errored)} errors"]
    for message, tests in grouped.items():
        reason = allowed[message]
        if reason is not None:
            lines.append(f"  allowed skip x{len(tests)}: {message}  [why: {reason.why}]")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Runs the check; returns the exit status (0 ok, 1 problems, 2 cannot check)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="the run's name in the expected results")
    parser.add_argument("--junit", required=True, type=Path, help="pytest's --junitxml file")
    parser.add_argument("--expected", type=Path, default=DEFAULT_EXPECTED,
                        help=f"the expected results (default {DEFAULT_EXPECTED})")
    args = parser.parse_args(argv)
    try:
        expected = load_expectation(args.expected, args.run)
        results = read_junit(args.junit)
    except CheckError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    print("\n".join(summary(args.run, results, expected)))
    found = problems(results, expected)
    for line in found:
        print(f"{PROG} {args.run}: {line}")
    if found:
        print(f"{PROG} {args.run}: FAILED ({len(found)} problems)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
