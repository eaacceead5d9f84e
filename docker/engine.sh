#!/usr/bin/env bash
# A private Docker engine for the suite's docker tests (CI machines run none, and no
# registry is reachable). As root it installs Debian's docker.io when dockerd is absent,
# then runs dockerd with its own socket, data root and exec root, so it neither needs nor
# disturbs a system Docker, and another checkout can run its own engine at the same time.
#
# usage: docker/engine.sh start|stop|purge|status|host
#   start   install if needed, start dockerd, wait until it answers (idempotent)
#   stop    remove the suite's containers, stop dockerd and its containerd (idempotent)
#   purge   stop, then delete the engine dir with its images (build-image.sh's cache of
#           the root filesystem stays: the next build only imports it)
#   status  exit 0 and say so if this engine answers, else exit 1
#   host    print the DOCKER_HOST value of this engine (unix://...)
# PNSUITE_DOCKER_DIR: where the engine lives (default: build/docker in the checkout).
# PNSUITE_DOCKER_STORAGE: dockerd's storage driver (default vfs, which works on any file
#   system; it copies the whole image for every container, a few seconds per start).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
dir=${PNSUITE_DOCKER_DIR:-$root/build/docker}
sock=$dir/docker.sock
pidfile=$dir/dockerd.pid
log=$dir/dockerd.log
storage=${PNSUITE_DOCKER_STORAGE:-vfs}
# Every container the suite starts carries this label (pnsuite/server/docker.py).
label=pnsuite.owner
# Only a dir with this file in it is ever deleted by purge.
marker=.pnsuite-engine

say() { printf 'engine: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

cli() { docker --host "unix://$sock" "$@"; }

answers() { [ -S "$sock" ] && cli version >/dev/null 2>&1; }

daemon_pid() {
    local pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

install_packages() {
    say "dockerd not found: installing Debian's docker.io (and debootstrap for the image build)"
    # Without an init system the package's service must not start a second, system-wide
    # daemon: a policy-rc.d that says "no" for the length of the install, unless one exists.
    local policy=/usr/sbin/policy-rc.d own_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    local rc=0
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends docker.io debootstrap; } >&2 || rc=$?
    [ -n "$own_policy" ] && rm -f "$policy"
    [ "$rc" = 0 ] || die "apt-get install docker.io failed (exit $rc)"
}

start() {
    if answers; then
        say "already running at unix://$sock"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "starting dockerd needs root (this is uid $(id -u)); ask for a \
Docker engine and set DOCKER_HOST, or run the docker tests where you are root"
    command -v dockerd >/dev/null || install_packages
    command -v docker >/dev/null || die "the docker CLI is missing (Debian: apt-get install docker.io)"
    # A socket path must fit in sun_path (108 bytes), the containerd one below exec/ too.
    [ "${#dir}" -le 60 ] || die "PNSUITE_DOCKER_DIR=$dir is too long for unix sockets; \
set PNSUITE_DOCKER_DIR to a path of at most 60 characters"
    mkdir -p "$dir/data" "$dir/exec"
    touch "$dir/$marker"
    # A daemon killed earlier leaves its pid file and socket: dockerd refuses to start then.
    if pid=$(daemon_pid); then
        die "dockerd (pid $pid) runs from $dir but does not answer; see $log or run: $0 stop"
    fi
    rm -f "$pidfile" "$sock"
    say "starting dockerd ($storage storage, no bridge, no iptables) at unix://$sock"
    # setsid: the daemon outlives this script and is not hit by the caller's Ctrl-C.
    setsid dockerd --iptables=false --bridge=none --storage-driver="$storage" \
        --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
        --host "unix://$sock" </dev/null >"$log" 2>&1 &
    local waited=0
    until answers; do
        if ! kill -0 $! 2>/dev/null; then
            tail -n 20 "$log" >&2 || true
            die "dockerd exited while starting (log: $log)"
        fi
        [ "$waited" -lt 600 ] || { tail -n 20 "$log" >&2; stop; die "dockerd did not answer within 60 s"; }
        sleep 0.1
        waited=$((waited + 1))
    done
    say "ready after $((waited / 10)).$((waited % 10)) s; export DOCKER_HOST=unix://$sock"
}

# Mount points under the engine dir (deepest first), from /proc/mounts.
engine_mounts() {
    awk -v d="$dir/" 'index($2, d) == 1 { print length($2), $2 }' /proc/mounts \
        | sort -rn | cut -d' ' -f2-
}

stop() {
    local pid ids mnt
    if answers; then
        # The tests remove their containers; these are what a killed session left.
        ids=$(cli ps -aq --filter "label=$label")
        if [ -n "$ids" ]; then
            say "removing leftover suite containers: $(echo "$ids" | tr '\n' ' ')"
            # shellcheck disable=SC2086  # one id per word
            cli rm -f $ids >/dev/null
        fi
    fi
    if ! pid=$(daemon_pid); then
        say "not running"
        rm -f "$pidfile" "$sock"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    # dockerd stops its containers (10 s each at most) and its containerd before it exits.
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "dockerd did not exit within 30 s: killing it"
        kill -KILL "$pid" 2>/dev/null || true
        # A killed dockerd cannot stop the containerd it supervises: stop that one too.
        local cpid
        cpid=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null || true)
        if [ -n "$cpid" ]; then kill -KILL "$cpid" 2>/dev/null || true; fi
    fi
    # dockerd leaves its network namespace bind mount (exec/netns/default) mounted.
    while read -r mnt; do
        if ! umount "$mnt" 2>/dev/null; then say "could not unmount $mnt"; fi
    done < <(engine_mounts)
    rm -f "$pidfile" "$sock"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    purge)
        stop
        if [ -f "$dir/$marker" ]; then
            rm -rf "$dir"
            say "deleted $dir"
        elif [ -e "$dir" ]; then
            die "$dir was not made by this script (no $marker in it): not deleting it"
        fi
        ;;
    status)
        if answers; then
            say "running at unix://$sock (pid $(daemon_pid || echo '?'))"
        else
            say "not running (unix://$sock)"
            exit 1
        fi
        ;;
    host) printf 'unix://%s\n' "$sock" ;;
    *) echo "usage: $0 start|stop|purge|status|host" >&2; exit 2 ;;
esac
