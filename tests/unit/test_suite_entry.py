"""`./suite`, the one entry point: its help lists every command the project installs, and
a command it does not know is refused with the closest name. Neither needs the venv."""

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
