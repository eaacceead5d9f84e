"""The suite's settings resolved from options, environment and ini keys: the tritonserver
options setting, parsed and checked once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pnsuite.errors import ConfigError
from pnsuite.paths import EMBEDDED_REPOS, PROJECT_ROOT
from pnsuite.platform.defaults import PlatformDefaults, on_jetson, platform_defaults
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


def on(board: bool, options: dict[str, str] | None = None) -> SuiteSettings:
    return SuiteSettings.resolve((options or {}).get, {}.get, PROJECT_ROOT, env={},
                                 platform=PlatformDefaults(jetson=board))


def test_a_jetson_serves_the_tensorrt_repositories_from_the_release_in_home_tritonserver():
    settings = on(board=True)
    assert settings.launcher == "release"
    assert settings.triton_install == Path("~/tritonserver").expanduser()
    assert [r.relative_to(PROJECT_ROOT).as_posix() for r in settings.repos] == [
        "model_repos/tensorrt/sample_1_instances",
        "model_repos/tensorrt/sample_2_dynamic_batching"]


def test_elsewhere_the_embedded_server_serves_the_stand_in():
    settings = on(board=False)
    assert settings.launcher == "embedded" and settings.triton_install is None
    assert [r.parent for r in settings.repos] == [EMBEDDED_REPOS, EMBEDDED_REPOS]


def test_the_repositories_follow_a_launcher_chosen_on_the_board():
    """The embedded server cannot load a TensorRT plan: asked for on a Jetson, it serves
    the stand-in; a container there serves the board's plans."""
    assert on(True, {"triton_launcher": "embedded"}).repos[0].parent == EMBEDDED_REPOS
    assert on(True, {"triton_launcher": "docker"}).repos[0].parent.name == "tensorrt"
    assert on(False, {"triton_launcher": "release"}).repos[0].parent == EMBEDDED_REPOS


def test_the_ini_file_leaves_the_choice_to_the_machine():
    keys = dict(re.findall(r'^(triton_\w+) = "(.*)"$', (PROJECT_ROOT / "pyproject.toml")
                           .read_text(), re.M))
    assert keys["triton_launcher"] == keys["triton_repos"] == "auto"
    on_board = SuiteSettings.resolve({}.get, keys.get, PROJECT_ROOT, env={},
                                     platform=PlatformDefaults(jetson=True))
    assert on_board.launcher == "release" and on_board.repos[0].parent.name == "tensorrt"


def test_the_platform_is_read_from_the_l4t_release_file(tmp_path):
    assert not on_jetson(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R35 (release), REVISION: 5.0\n")
    assert on_jetson(tmp_path) and platform_defaults(tmp_path).launcher == "release"
