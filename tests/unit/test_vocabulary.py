"""One name per concept: the commands spell an option as the pytest options do, and the
names they used before still work for a release, saying what replaced them."""

import argparse

import pytest

from pnsuite.cli.vocabulary import RENAMED, add_option, add_server_args
from pnsuite.settings import SETTINGS

#: what pytest-benchmark itself calls the option the gate passes on
PYTEST_BENCHMARK_OPTIONS = {"--benchmark-storage"}


def test_every_new_name_is_the_name_pytest_uses_for_the_same_thing():
    pytest_names = {s.option for s in SETTINGS.values()} | PYTEST_BENCHMARK_OPTIONS
    assert set(RENAMED.values()) <= pytest_names


def parser_with(name, **kwargs):
    parser = argparse.ArgumentParser(prog="peoplenet-x")
    add_option(parser, name, **kwargs)
    return parser


def test_an_old_name_still_works_and_says_what_replaced_it(capsys):
    args = parser_with("--results-store", dest="store").parse_args(["--store", "runs.db"])
    assert args.store == "runs.db"
    assert "peoplenet-x: --store is now --results-store" in capsys.readouterr().err


def test_the_new_name_says_nothing(capsys):
    args = parser_with("--results-store", dest="store").parse_args(["--results-store", "r.db"])
    assert args.store == "r.db" and capsys.readouterr().err == ""


def test_server_args_take_shell_words_as_pytest_does_and_the_old_option_one_at_a_time(capsys):
    parser = argparse.ArgumentParser(prog="peoplenet-x")
    add_server_args(parser, "")
    args = parser.parse_args(["--triton-server-args", "--a=1 --b='x y'",
                              "--triton-arg=--c=3"])
    assert args.triton_server_args == ["--a=1", "--b=x y", "--c=3"]
    assert "--triton-arg is now --triton-server-args" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["gate", "history", "results", "demo", "capacity", "sweep"])
def test_a_command_that_takes_an_old_name_offers_the_new_one(module, capsys):
    import importlib
    import re

    cli = importlib.import_module(f"pnsuite.cli.{module}")
    with pytest.raises(SystemExit) as done:
        cli.main(["ab", "--help"] if module == "gate" else ["--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    for old, new in RENAMED.items():
        if re.search(rf"(?<![\w-]){old}(?![\w-])", shown):
            assert new in shown, f"peoplenet-{module} offers {old} without {new}"
