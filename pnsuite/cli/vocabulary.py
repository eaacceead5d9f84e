"""One name per concept across the pytest options, the commands, the ini keys and the
environment variables (the README's settings table lists them).

The pytest options' names are the project's names: a command's option for the same
thing is spelled the same. Names the commands used before keep working for one release:
`RENAMED` maps each to its name now, and using one prints a line saying so.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

#: an old option name -> the project's name for the same thing
RENAMED = {
    "--store": "--results-store",
    "--storage": "--benchmark-storage",
    "--memory": "--triton-memory",
    "--ready-timeout": "--triton-ready-timeout",
    "--triton-arg": "--triton-server-args",
}


def _warn_if_renamed(parser: argparse.ArgumentParser, option_string: str | None) -> None:
    if option_string in RENAMED:
        print(
            f"{parser.prog}: {option_string} is now {RENAMED[option_string]}; the old "
            "name goes in the next release (README.md, Settings)",
            file=sys.stderr,
        )


class _Store(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        _warn_if_renamed(parser, option_string)
        setattr(namespace, self.dest, values)


class _ServerArgs(argparse.Action):
    """Appends shell-style words: `--triton-server-args "--a=1 --b=2"` as pytest takes it,
    repeatable, and the old `--triton-arg=--a=1` one word at a time."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        _warn_if_renamed(parser, option_string)
        try:
            words = shlex.split(values)
        except ValueError as err:
            parser.error(f"{option_string} {values!r}: {err}")
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), *words])


def _old_names(name: str) -> list[str]:
    return [old for old, new in RENAMED.items() if new == name]


def add_option(
    parser: argparse.ArgumentParser | Any, name: str, *short: str, **kwargs: Any
) -> argparse.Action:
    """`parser.add_argument(name, ...)` that also takes the option's old names (RENAMED),
    saying so when one is used; `dest` is `name`'s."""
    kwargs.setdefault("dest", name.lstrip("-").replace("-", "_"))
    return parser.add_argument(*short, name, *_old_names(name), action=_Store, **kwargs)


def add_server_args(parser: argparse.ArgumentParser | Any, help_text: str) -> argparse.Action:
    """`--triton-server-args "--name=value ..."` (repeatable; the old `--triton-arg`)."""
    return parser.add_argument(
        "--triton-server-args",
        *_old_names("--triton-server-args"),
        dest="triton_server_args",
        action=_ServerArgs,
        default=[],
        metavar='"--NAME=VALUE ..."',
        help=help_text,
    )
