"""ci/jetson-board.sh sets the Jetson's power mode and pinned clocks, and puts back what it
found, run with stand-ins for nvpmodel, jetson_clocks, sudo and id on PATH.

The stand-in board keeps its power mode and whether its clocks are pinned in files;
nvpmodel and jetson_clocks refuse to run unless the stand-in sudo ran them (or the stand-in
`id` says root), as the real ones need root. `jetson_clocks --show` prints the recorded
AGX Orin samples of tests/unit/data/jetson/, pinned or not. Every call is logged, so each
test checks the exact commands as well as the board's state afterwards. The workflow's use
of the script is checked at the end.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from pnsuite.platform import jetson
from tests.unit.test_jetson_workflow_safety import (  # the workflow, read as that test reads it
    _steps,
    workflow,  # noqa: F401
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "jetson-board.sh"
ORIN = ROOT / "tests" / "unit" / "data" / "jetson" / "orin_agx_jp6"

NVPMODEL = textwrap.dedent("""
    [ "${STAND_IN_ROOT:-}" = 1 ] || { echo "NVPM ERROR: run nvpmodel as root" >&2; exit 1; }
    names=(MAXN MODE_15W MODE_30W MODE_50W)
    case "$1" in
    -q)
        id=$(cat "$BOARD/mode")
        echo "NVPM WARN: fan mode is not set!"
        echo "NV Power Mode: ${names[$id]}"
        echo "$id"
        ;;
    -m)
        if [ -f "$BOARD/reboot-for-$2" ]; then
            echo "NVPM WARN: Reboot required for changing to this power mode: $2"
            echo "NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:"
            read -r answer || true
            exit 0
        fi
        echo "$2" > "$BOARD/mode"
        echo 0 > "$BOARD/pinned"  # a mode sets its own clock limits
        ;;
    *) exit 1 ;;
    esac
""")
JETSON_CLOCKS = textwrap.dedent(f"""
    [ "${{STAND_IN_ROOT:-}}" = 1 ] || {{ echo "Error: jetson_clocks must be run as root" >&2; exit 1; }}
    case "${{1:-}}" in
    "") echo 1 > "$BOARD/pinned" ;;
    --show)
        if [ "$(cat "$BOARD/pinned")" = 1 ]; then cat '{ORIN}/jetson_clocks_show_on.txt'
        else cat '{ORIN}/jetson_clocks_show_off.txt'; fi
        ;;
    --store) echo "pinned=$(cat "$BOARD/pinned")" > "$2" ;;
    --restore)
        [ -f "$2" ] || {{ echo "Error: $2 not found" >&2; exit 1; }}
        sed -n 's/^pinned=//p' "$2" > "$BOARD/pinned"
        ;;
    *) exit 1 ;;
    esac
""")
SUDO = textwrap.dedent("""
    if [ -f "$BOARD/sudo-refuses" ]; then echo "sudo: a password is required" >&2; exit 1; fi
    [ "$1" = -n ] || { echo "sudo: the stand-in wants -n (no prompt)" >&2; exit 1; }
    shift
    STAND_IN_ROOT=1 exec "$@"
""")
ID = textwrap.dedent("""
    case "$*" in
    -u) cat "$BOARD/uid" ;;
    -un) echo runner ;;
    *) exit 1 ;;
    esac
""")


@dataclass
class Board:
    """The stand-in board: its state files, the stand-in tools and their call log."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def state(self) -> Path:
        return self.root / "board"

    @property
    def saved(self) -> Path:
        return self.root / "runner-temp" / "jetson-board"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def mode(self) -> int:
        return int((self.state / "mode").read_text())

    def pinned(self) -> bool:
        return (self.state / "pinned").read_text().strip() == "1"

    def calls(self) -> list[str]:
        log = self.root / "calls.log"
        return [c.rstrip() for c in log.read_text().splitlines()] if log.exists() else []

    def board_calls(self) -> list[str]:
        """The nvpmodel and jetson_clocks calls that changed or saved something."""
        return [c.replace(str(self.saved), "SAVED") for c in self.calls()
                if c.startswith(("nvpmodel", "jetson_clocks")) and not c.endswith((" -q", " --show"))]

    def run(self, mode: str, stdin: int = subprocess.DEVNULL,
            **env: str) -> subprocess.CompletedProcess[str]:
        full = {"PATH": f"{self.bin}:{os.environ['PATH']}", "HOME": str(self.root),
                "BOARD": str(self.state), "RUNNER_TEMP": str(self.root / "runner-temp"),
                "REPORTS": str(self.reports), **env}
        return subprocess.run(["bash", str(SCRIPT), mode], check=False, cwd=ROOT, env=full,
                              capture_output=True, text=True, timeout=30, stdin=stdin)


def _tool(bin_dir: Path, name: str, body: str) -> None:
    """An executable `name` that appends its command line to calls.log, then runs `body`."""
    path = bin_dir / name
    path.write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> "{bin_dir.parent}/calls.log"\n{body}')
    path.chmod(0o755)


@pytest.fixture
def board(tmp_path: Path) -> Board:
    """A board in power mode 2 (MODE_30W) with its clocks not pinned, and a runner user
    that is not root but has passwordless sudo."""
    for tool in ("nvpmodel", "jetson_clocks"):
        if any(Path(d, tool).exists() for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin")):
            pytest.skip(f"a real {tool} is installed here: the script would find it")
    b = Board(tmp_path)
    b.bin.mkdir()
    b.state.mkdir()
    (b.state / "mode").write_text("2\n")
    (b.state / "pinned").write_text("0\n")
    (b.state / "uid").write_text("1000\n")
    for name, body in (("nvpmodel", NVPMODEL), ("jetson_clocks", JETSON_CLOCKS),
                       ("sudo", SUDO), ("id", ID)):
        _tool(b.bin, name, body)
    return b


def test_set_pins_the_board_and_restore_puts_the_original_back(board):
    done = board.run("set")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (board.mode(), board.pinned()) == (0, True)
    assert board.board_calls() == ["jetson_clocks --store SAVED/jetson_clocks.conf",
                                   "nvpmodel -m 0", "jetson_clocks"]
    assert "power mode 2 -> 0" in done.stdout
    # the uploaded state is jetson_clocks --show as the identity parser reads it
    shown = jetson.parse_jetson_clocks_show((board.reports / "jetson-board.txt").read_text())
    assert shown["clocks_pinned"] is True
    assert jetson.clock_setting(shown["emc"]) == "3199 MHz"
    assert "NV Power Mode: MAXN" in (board.reports / "jetson-board.txt").read_text()

    done = board.run("restore")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (board.mode(), board.pinned()) == (2, False), "the owner's mode and clocks are back"
    assert board.board_calls()[3:] == ["nvpmodel -m 2",
                                       "jetson_clocks --restore SAVED/jetson_clocks.conf"]
    assert not list(board.saved.iterdir()), "the saved state is used up"
    # every board tool went through passwordless sudo, as the runner user is not root
    tools = [c for c in board.calls() if c.startswith(("nvpmodel", "jetson_clocks"))]
    assert [c for c in board.calls() if c.startswith("sudo")] == \
        [f"sudo -n {board.bin}/{c}" for c in tools]


def test_the_power_mode_comes_from_board_power_mode(board):
    done = board.run("set", BOARD_POWER_MODE="3")
    assert done.returncode == 0, done.stderr
    assert board.mode() == 3 and "nvpmodel -m 3" in board.board_calls()


def test_a_board_already_in_the_mode_is_only_pinned(board):
    (board.state / "mode").write_text("0\n")
    assert board.run("set").returncode == 0
    assert board.board_calls() == ["jetson_clocks --store SAVED/jetson_clocks.conf", "jetson_clocks"]
    assert board.run("restore").returncode == 0
    assert (board.mode(), board.pinned()) == (0, False)


def test_a_second_set_keeps_the_owners_state(board):
    assert board.run("set").returncode == 0
    done = board.run("set")
    assert done.returncode == 0 and "keeping the state saved by an earlier set" in done.stdout
    assert board.run("restore").returncode == 0
    assert (board.mode(), board.pinned()) == (2, False)


def test_restore_without_set_says_so_and_touches_nothing(board):
    done = board.run("restore")
    assert done.returncode == 0, done.stderr
    assert "nothing to restore" in done.stdout and board.calls() == []
    done = board.run("restore", RUNNER_TEMP="")
    assert done.returncode == 0 and "nothing to restore" in done.stdout


def test_as_root_the_tools_run_without_sudo(board):
    (board.state / "uid").write_text("0\n")
    assert board.run("set", STAND_IN_ROOT="1").returncode == 0
    assert board.run("restore", STAND_IN_ROOT="1").returncode == 0
    assert (board.mode(), board.pinned()) == (2, False)
    assert not [c for c in board.calls() if c.startswith("sudo")]


def test_sudo_that_refuses_names_the_sudoers_line(board):
    (board.state / "sudo-refuses").touch()
    done = board.run("set")
    assert done.returncode == 1
    assert "sudo: a password is required" in done.stderr
    assert "cannot read the power mode" not in done.stderr, "one failure, one message"
    assert (f"allow the board tools without a password: 'runner ALL=(root) NOPASSWD: "
            f"{board.bin}/jetson_clocks, {board.bin}/nvpmodel'") in done.stderr
    assert "visudo -f /etc/sudoers.d/jetson-board" in done.stderr
    assert (board.mode(), board.pinned()) == (2, False)
    assert not list(board.saved.iterdir()), "nothing saved: restore has nothing to undo"


@pytest.mark.parametrize("missing, package", [("nvpmodel", "nvidia-l4t-nvpmodel"),
                                              ("jetson_clocks", "nvidia-l4t-tools")])
def test_a_missing_tool_names_its_package(board, missing, package):
    (board.bin / missing).unlink()
    done = board.run("set")
    assert done.returncode == 1
    assert f"{missing} not found on PATH or in /usr/bin, /usr/sbin" in done.stderr
    assert f"sudo apt-get install {package}" in done.stderr


def test_a_mode_that_needs_a_reboot_stops_the_job(board):
    """nvpmodel asks whether to reboot; the script answers nothing rather than wait on the
    job's stdin, here a pipe that stays open and silent."""
    (board.state / "reboot-for-0").touch()
    silent, kept_open = os.pipe()
    try:
        done = board.run("set", stdin=silent)
    finally:
        os.close(silent)
        os.close(kept_open)
    assert done.returncode == 1
    assert "nvpmodel -m 0 left the board in power mode 2" in done.stderr
    assert "reboot" in done.stderr
    # what was saved is still there for the restore step
    assert board.run("restore").returncode == 0 and board.mode() == 2


@pytest.mark.parametrize("value", ["MAXN", "-1", "0.5", "0 "])
def test_a_power_mode_that_is_not_an_id_is_a_usage_error(board, value):
    done = board.run("set", BOARD_POWER_MODE=value)
    assert done.returncode == 2
    assert f"BOARD_POWER_MODE must be an nvpmodel mode id (a whole number, default 0), got '{value}'" \
        in done.stderr
    assert board.calls() == []


def test_set_needs_a_state_dir_and_an_unknown_command_is_a_usage_error(board):
    done = board.run("set", RUNNER_TEMP="")
    assert done.returncode == 2 and "set BOARD_STATE_DIR" in done.stderr and board.calls() == []
    done = board.run("pin")
    assert done.returncode == 2 and "usage: ci/jetson-board.sh set|restore|show" in done.stderr


def test_board_state_dir_wins_over_runner_temp(board):
    elsewhere = board.root / "elsewhere"
    assert board.run("set", BOARD_STATE_DIR=str(elsewhere)).returncode == 0
    assert (elsewhere / "nvpmodel-mode").read_text().strip() == "2"
    assert board.run("restore").returncode == 0
    assert board.mode() == 0, "restore looked in RUNNER_TEMP, where nothing was saved"
    assert board.run("restore", BOARD_STATE_DIR=str(elsewhere)).returncode == 0
    assert board.mode() == 2


def test_show_prints_the_clocks_and_the_power_mode(board):
    done = board.run("show", RUNNER_TEMP="")
    assert done.returncode == 0, done.stderr
    assert "EMC MinFreq=204000000" in done.stdout and "NV Power Mode: MODE_30W" in done.stdout


# ---------------------------------------------------------------- the workflow

def test_the_workflow_sets_the_board_first_and_restores_it_always_last(workflow):  # noqa: F811
    steps = _steps(workflow)
    runs = [step.get("run", "").strip() for step in steps]
    set_at = runs.index("ci/jetson-board.sh set")
    assert "actions/checkout" in steps[set_at - 1].get("uses", ""), "right after the checkout"
    measured = [i for i, run in enumerate(runs)
                if "./suite" in run or "ci/jetson-perf.sh" in run or "pnsuite.cli.jetson" in run]
    assert measured and set_at < min(measured), "set before the suite runs or the identity is read"
    assert runs[-1] == "ci/jetson-board.sh restore"
    assert steps[-1].get("if") == "always()"
    assert workflow["env"]["BOARD_POWER_MODE"] == "${{ vars.BOARD_POWER_MODE || '0' }}"
