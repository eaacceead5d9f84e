"""`./suite`, the one entry point: its help lists every command the project installs, and
a command it does not know is refused with the closest name. Neither needs the venv."""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def suite(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "suite"), *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_exits_0_and_lists_every_installed_command(flag):
    done = suite(flag)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")}
    # [project.scripts]'s names (tomllib is Python 3.11+; the suite runs on 3.10)
    section = (ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1].split("\n[")[0]
    installed = set(re.findall(r"^peoplenet-([\w-]+)\s*=", section, re.M))
    assert len(installed) >= 8, section
    assert installed <= listed, f"not behind ./suite: {sorted(installed - listed)}"
    assert {"test", "setup"} <= listed


def test_an_unknown_command_is_refused_with_the_closest_name():
    done = suite("histroy")
    assert done.returncode == 2
    assert 'unknown command "histroy"' in done.stderr and 'did you mean "history"' in done.stderr


def test_no_command_prints_the_list_and_exits_2():
    done = suite()
    assert done.returncode == 2 and "capacity" in done.stderr


LOGGING_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$PYTHON_LOG"
"""


@pytest.mark.parametrize("board, extras", [(True, ".[test]"), (False, ".[embedded,test]")])
def test_setup_installs_the_embedded_server_only_off_a_jetson(tmp_path, board, extras):
    """On an L4T system (/etc/nv_tegra_release) the release launcher serves, so `./suite`
    leaves out nvidia-pytriton, which JetPack 5's glibc cannot install. The interpreter and
    the venv's python are stand-ins that log how they were called: what is checked is the
    script's choice, not pip."""
    root = tmp_path / "board"
    (root / "etc").mkdir(parents=True)
    if board:
        (root / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.0\n")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for path in (tmp_path / "python3", venv / "bin" / "python"):
        path.write_text(LOGGING_PYTHON)
        path.chmod(0o755)
    log = tmp_path / "python.log"
    env = {"PATH": "/usr/bin:/bin", "SUITE_PLATFORM_ROOT": str(root), "SUITE_VENV": str(venv),
           "SUITE_PYTHON": str(tmp_path / "python3"), "PYTHON_LOG": str(log)}
    done = subprocess.run([str(ROOT / "suite"), "setup"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    installs = [line for line in log.read_text().splitlines() if " install " in f" {line} "
                and "-e" in line.split()]
    assert installs and installs[-1].split()[-1] == extras, log.read_text()


def _older_python() -> Path:
    """A Python older than 3.10, as JetPack 5's python3 (3.8) is: a real interpreter, not a
    pyenv shim (a shim picks its version from the environment)."""
    candidates = [*sorted(Path.home().glob(".pyenv/versions/3.[89].*/bin/python3.[89]")),
                  Path("/usr/bin/python3.8"), Path("/usr/bin/python3.9")]
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip("no Python 3.8 or 3.9 here to stand for JetPack 5's python3 "
                "(e.g. pyenv install 3.8, or apt install python3.8)")


def test_a_python_named_that_is_too_old_is_refused_saying_what_to_do(tmp_path):
    env = {**os.environ, "SUITE_PYTHON": str(_older_python()), "SUITE_VENV": str(tmp_path / "v")}
    done = subprocess.run([str(ROOT / "suite"), "setup"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)
    assert done.returncode == 2
    assert "is not a Python 3.10 or newer" in done.stderr and "unset SUITE_PYTHON" in done.stderr
    assert not (tmp_path / "v").exists()


@pytest.mark.extended  # a real venv and install (about a minute, from PyPI): .ci/run --all
def test_where_python3_is_too_old_uv_finds_a_newer_one_and_the_venv_is_made_with_it(tmp_path):
    """JetPack 5: python3 is 3.8. `./suite` installs uv with it, and uv finds the machine's
    newer Python (here the system's 3.11, as deadsnakes' would be on a board)."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "python3").symlink_to(_older_python())
    env = {key: value for key, value in os.environ.items()
           if key not in ("SUITE_PYTHON", "VIRTUAL_ENV")}
    env.update(PATH=f"{shims}:/usr/bin:/bin", SUITE_VENV=str(tmp_path / "venv"),
               SUITE_EXTRAS="")
    done = subprocess.run([str(ROOT / "suite"), "setup"], capture_output=True, text=True,
                          timeout=500, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "needs 3.10+: asking uv" in done.stderr, done.stderr[-3000:]
    version = subprocess.run([str(tmp_path / "venv" / "bin" / "python"), "-c",
                              "import sys, pnsuite; print(sys.version_info[:2] >= (3, 10))"],
                             capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "True", version.stderr
