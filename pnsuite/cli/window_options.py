"""The measurement engine's window options (pnsuite.measure.windows.WindowPlan), one
vocabulary for every command that measures runs: `peoplenet-gate ab` and
`peoplenet-sweep` add them here and read them back into a WindowPlan."""

from __future__ import annotations

import argparse

from pnsuite.measure.windows import WindowPlan


def add_window_options(parser: argparse.ArgumentParser, defaults: WindowPlan) -> None:
    """`--window-s`, `--stable-windows`, `--window-tolerance`, `--max-windows` and
    `--warmup-s`, defaulting to `defaults`."""
    parser.add_argument(
        "--window-s",
        type=float,
        default=defaults.seconds,
        help="seconds per measurement window (default %(default)s)",
    )
    parser.add_argument(
        "--stable-windows",
        type=int,
        default=defaults.stable,
        help="windows in a row that must agree; they are the run's value (default %(default)s)",
    )
    parser.add_argument(
        "--window-tolerance",
        type=float,
        default=defaults.tolerance,
        help="how far those windows' throughputs may differ (default %(default)s)",
    )
    parser.add_argument(
        "--max-windows",
        type=int,
        default=defaults.max_windows,
        help="windows a run measures at most (default %(default)s)",
    )
    parser.add_argument(
        "--warmup-s",
        type=float,
        default=defaults.warmup_s,
        help="seconds of warm-up before the windows (default %(default)s)",
    )


def window_plan_of(args: argparse.Namespace) -> WindowPlan:
    """The WindowPlan the options of `add_window_options` give (WindowPlanError, a
    SuiteError, when they cannot measure anything)."""
    return WindowPlan(
        seconds=args.window_s,
        stable=args.stable_windows,
        tolerance=args.window_tolerance,
        max_windows=args.max_windows,
        warmup_s=args.warmup_s,
    )
