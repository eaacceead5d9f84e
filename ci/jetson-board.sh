#!/usr/bin/env bash
# The Jetson's board state for a measured job (.github/workflows/jetson.yml): the power mode
# and pinned clocks every run is gated in, set before anything is measured and put back after,
# so that the board is left as its owner had it. docs/jetson.md, section 3.
#
#   ci/jetson-board.sh set       save the current state, set the power mode, pin the clocks
#                                (jetson_clocks) and write the state to $REPORTS/jetson-board.txt
#   ci/jetson-board.sh restore   put back the state `set` saved (nothing saved: says so, exit 0)
#   ci/jetson-board.sh show      print the state (jetson_clocks --show, nvpmodel -q)
#
# Environment: BOARD_POWER_MODE (the nvpmodel mode id `set` chooses, default 0: MAXN on AGX
# Orin and Xavier; see /etc/nvpmodel.conf for a board's ids), BOARD_STATE_DIR (where `set`
# saves the state for `restore`, default $RUNNER_TEMP/jetson-board), REPORTS (default reports).
#
# nvpmodel and jetson_clocks need root: run as root, or give the user passwordless sudo for
# them (the error says which sudoers line).
set -euo pipefail
# A failing tool inside $(...) stops the script too, not only the substitution.
shopt -s inherit_errexit
mode=${1:-}
case "$mode" in
    set | restore | show) ;;
    *)
        echo "usage: ci/jetson-board.sh set|restore|show" >&2
        exit 2
        ;;
esac
power_mode=${BOARD_POWER_MODE:-0}
if ! [[ "$power_mode" =~ ^[0-9]+$ ]]; then
    echo "ci/jetson-board.sh: BOARD_POWER_MODE must be an nvpmodel mode id (a whole number, default 0), got '$power_mode'" >&2
    exit 2
fi
if [ -n "${BOARD_STATE_DIR:-}" ]; then
    state_dir=$BOARD_STATE_DIR
elif [ -n "${RUNNER_TEMP:-}" ]; then
    state_dir=$RUNNER_TEMP/jetson-board
elif [ "$mode" = set ]; then
    echo "ci/jetson-board.sh: set BOARD_STATE_DIR (where the board's state is kept between set and restore; a runner's default is \$RUNNER_TEMP/jetson-board)" >&2
    exit 2
fi
reports=${REPORTS:-reports}
clocks_file=${state_dir:-}/jetson_clocks.conf
mode_file=${state_dir:-}/nvpmodel-mode

say() { echo "jetson-board: $*"; }
fail() {
    echo "ci/jetson-board.sh: $*" >&2
    exit 1
}

# The tool's path, from PATH or the sbin directories (nvpmodel is in /usr/sbin, which is
# not on a non-root user's PATH on Ubuntu).
find_tool() {
    local found dir
    if found=$(command -v "$1"); then
        echo "$found"
        return 0
    fi
    for dir in /usr/bin /usr/sbin /bin /sbin; do
        if [ -x "$dir/$1" ]; then
            echo "$dir/$1"
            return 0
        fi
    done
    return 1
}

package_of() {
    case "$1" in
        nvpmodel) echo nvidia-l4t-nvpmodel ;;
        *) echo nvidia-l4t-tools ;;
    esac
}

sudoers_line() {
    echo "'$(id -un 2>/dev/null || echo '<runner user>') ALL=(root) NOPASSWD: $(find_tool jetson_clocks || echo /usr/bin/jetson_clocks), $(find_tool nvpmodel || echo /usr/sbin/nvpmodel)' (add it with: sudo visudo -f /etc/sudoers.d/jetson-board)"
}

# Runs a board tool as root: directly when root, else through passwordless `sudo -n`.
# stdin is /dev/null: nvpmodel asks whether to reboot for some mode changes, and a job has
# no one to answer.
as_root() {
    local name=$1 tool err rc=0
    shift
    tool=$(find_tool "$name") ||
        fail "$name not found on PATH or in /usr/bin, /usr/sbin (it ships with L4T: sudo apt-get install $(package_of "$name")); is this runner a Jetson?"
    err=$(mktemp)
    if [ "$(id -u)" = 0 ]; then
        "$tool" "$@" </dev/null 2>"$err" || rc=$?
    else
        command -v sudo >/dev/null ||
            fail "not root and no sudo to run $tool: run the job as root, or install sudo and allow the tools without a password: $(sudoers_line)"
        sudo -n "$tool" "$@" </dev/null 2>"$err" || rc=$?
    fi
    if [ "$rc" != 0 ]; then
        cat "$err" >&2
        if grep -q '^sudo:' "$err"; then
            rm -f "$err"
            fail "sudo refused \`$tool $*\`: allow the board tools without a password: $(sudoers_line)"
        fi
        rm -f "$err"
        fail "\`$tool $*\` failed (exit $rc)"
    fi
    cat "$err" >&2
    rm -f "$err"
}

# The power mode's id from `nvpmodel -q` (`NV Power Mode: MAXN` and then the id on its own line).
current_mode() {
    local out id
    out=$(as_root nvpmodel -q) || exit 1
    id=$(printf '%s\n' "$out" | awk '/^NV Power Mode:/ { found = 1; next } found && /^[0-9]+$/ { print; exit }')
    [ -n "$id" ] || fail "cannot read the power mode's id from \`nvpmodel -q\`: $out"
    echo "$id"
}

show() {
    as_root jetson_clocks --show
    as_root nvpmodel -q
}

case "$mode" in
    show)
        show
        ;;
    set)
        mkdir -p "$state_dir" "$reports"
        original=$(current_mode)
        if [ -f "$mode_file" ]; then
            # A second `set` in one job must not take the pinned state for the owner's.
            say "keeping the state saved by an earlier set (power mode $(cat "$mode_file")) in $state_dir"
        else
            as_root jetson_clocks --store "$clocks_file"
            echo "$original" >"$mode_file"
            say "saved power mode $original and the clocks to $state_dir"
        fi
        if [ "$original" = "$power_mode" ]; then
            say "power mode $power_mode already set"
        else
            as_root nvpmodel -m "$power_mode"
            now=$(current_mode)
            # Some mode changes take effect only after a reboot, which nvpmodel asks for
            # on stdin and a job cannot answer.
            [ "$now" = "$power_mode" ] ||
                fail "nvpmodel -m $power_mode left the board in power mode $now (a change that needs a reboot: run 'sudo nvpmodel -m $power_mode' by hand once, reboot, and run the job again)"
            say "power mode $original -> $power_mode"
        fi
        as_root jetson_clocks
        say "clocks pinned (jetson_clocks); the state is in $reports/jetson-board.txt"
        show | tee "$reports/jetson-board.txt"
        ;;
    restore)
        if [ -z "${state_dir:-}" ] || [ ! -f "$mode_file" ]; then
            say "nothing to restore: no state saved in ${state_dir:-BOARD_STATE_DIR or \$RUNNER_TEMP, neither set,} (set did not run)"
            exit 0
        fi
        saved_mode=$(cat "$mode_file")
        # nvpmodel first: a mode change sets the mode's default clocks, which the saved
        # clocks (read in that mode) then replace.
        if [ "$(current_mode)" != "$saved_mode" ]; then
            as_root nvpmodel -m "$saved_mode"
        fi
        if [ -f "$clocks_file" ]; then
            as_root jetson_clocks --restore "$clocks_file"
        fi
        rm -f "$mode_file" "$clocks_file"
        say "restored power mode $saved_mode and the clocks saved by set"
        ;;
esac
