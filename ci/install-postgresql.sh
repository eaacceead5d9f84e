#!/usr/bin/env bash
# Installs Debian's PostgreSQL server package, so that the results store's tests
# (tests/store) run against a real PostgreSQL as well as SQLite instead of skipping.
# Installs only: each test session starts its own server (pnsuite/store/local_postgres.py:
# on loopback, as the postgres user, data in a temp dir) and stops it. The package's own
# cluster service is not needed and is left stopped. Idempotent; .ci/run calls it.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
# policy-rc.d exiting 101: the package must not start its default cluster as a service
# (one that is there already is left as it is)
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
    trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql >/dev/null
