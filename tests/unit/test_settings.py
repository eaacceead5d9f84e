"""The suite's settings resolved from options, environment and ini keys: the tritonserver
options setting, parsed and checked once."""

from __future__ import annotations

import pytest

from pnsuite.errors import ConfigError
from pnsuite.paths import PROJECT_ROOT
from pnsuite.settings import SuiteSettings

POOL = "--cuda-memory-pool-byte-size=0:1073741824"


def resolve(options: dict[str, str] | None = None, env: dict[str, str] | None = None,
            ini: dict[str, str] | None = None) -> SuiteSettings:
    return SuiteSettings.resolve((options or {}).get, (ini or {}).get, PROJECT_ROOT,
                                 env=env or {})


def test_no_server_options_by_default():
    assert resolve().server_args == ()


def test_server_options_are_split_as_a_shell_would():
    settings = resolve({"triton_server_args": f"{POOL} '--log-file=/tmp/a b.log'"})
    assert settings.server_args == (POOL, "--log-file=/tmp/a b.log")


def test_the_option_wins_over_the_environment_and_the_environment_over_the_ini_key():
    env = {"TRITON_SUITE_SERVER_ARGS": "--log-verbose=1"}
    ini = {"triton_server_args": "--log-verbose=2"}
    assert resolve(env=env, ini=ini).server_args == ("--log-verbose=1",)
    assert resolve(ini=ini).server_args == ("--log-verbose=2",)
    assert resolve({"triton_server_args": POOL}, env, ini).server_args == (POOL,)


@pytest.mark.parametrize("text, says", [
    ("--grpc-port=8001", "the suite sets --grpc-port itself"),
    ("--model-repository=/models", "the suite sets --model-repository itself"),
    ("log-verbose=1", "not a tritonserver option as --name=value"),
    ("--log-verbose", "not a tritonserver option as --name=value"),
    ("'--log-verbose=1", "--triton-server-args"),  # an unclosed quote
])
def test_bad_server_options_are_refused_naming_the_setting(text, says):
    with pytest.raises(ConfigError, match=says):
        resolve({"triton_server_args": text})


def test_options_for_a_server_the_suite_does_not_start_are_refused():
    with pytest.raises(ConfigError, match="external"):
        resolve({"triton_server_args": POOL, "triton_launcher": "external",
                 "triton_url": "localhost:8001"})


def test_an_external_server_is_waited_for_only_when_asked():
    from pnsuite.server.factory import make_launcher

    assert not resolve().wait_for_server
    asked = resolve(env={"TRITON_SUITE_WAIT_FOR_SERVER": "1"})
    assert asked.wait_for_server
    assert make_launcher("external", url="127.0.0.1:9001",
                         wait_for_server=asked.wait_for_server).wait_for_server
    assert not make_launcher("external", url="127.0.0.1:9001").wait_for_server
