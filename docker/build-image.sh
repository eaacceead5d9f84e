#!/usr/bin/env bash
# Builds the suite's local Triton image without a registry: a Debian bookworm root
# filesystem (debootstrap) with the same tritonserver 2.51.0 and python backend as the
# embedded launcher (from the nvidia-pytriton wheel) and the stand-in's packages, laid
# out like NGC's images (/opt/tritonserver, `tritonserver` on PATH), then `docker import`.
#
# usage: docker/build-image.sh [IMAGE]      (default: pnsuite/tritonserver:2.51.0-cpu)
# Needs root (debootstrap, chroot) and a Docker engine: DOCKER_HOST, or the one
# docker/engine.sh runs. The root filesystem is cached as a tarball keyed by this
# script's content ($PNSUITE_IMAGE_CACHE, default ~/.cache/pnsuite-docker): a second
# build, also from another clone, only imports it; an image already built from the same
# key is left as it is.
# PNSUITE_DEBIAN_MIRROR: the Debian mirror for debootstrap (default deb.debian.org).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${1:-pnsuite/tritonserver:2.51.0-cpu}
cache=${PNSUITE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pnsuite-docker}
mirror=${PNSUITE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_HOST=${DOCKER_HOST:-$("$here/engine.sh" host)}

# Same pins as pyproject.toml, for the same reasons: numpy 2 empties the python
# backend's outputs, OpenCV 4.12+ needs numpy 2. nvidia-pytriton only for its server.
numpy_req='numpy<2'
opencv_req='opencv-python-headless<4.12'
pytriton_req='nvidia-pytriton==0.7.0'
py=3.11
venv=/opt/venv
libs=$venv/lib/python$py/site-packages/nvidia_pytriton.libs

say() { printf 'build-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
tarball=$cache/rootfs-$key.tar

built_key=$(docker image inspect --format '{{ index .Config.Labels "pnsuite.build-key" }}' \
    "$image" 2>/dev/null || true)
if [ "$built_key" = "$key" ]; then
    say "$image is up to date (build key $key)"
    exit 0
fi
docker version >/dev/null 2>&1 || die "no Docker engine answers at $DOCKER_HOST: \
start one (as root: docker/engine.sh start) or set DOCKER_HOST"

build_rootfs() {
    [ "$(id -u)" = 0 ] || die "building the root filesystem needs root (debootstrap, chroot)"
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap"
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends debootstrap; } >&2
    fi
    local rootfs=$cache/rootfs-$key.tmp.$$
    # Whatever happens, no half-built tree is left behind (expanded now: $rootfs is local).
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs' '$tarball.tmp.$$'" EXIT
    say "debootstrap bookworm (minbase + python$py) from $mirror"
    debootstrap --variant=minbase \
        --include="python3,python3-venv,libpython$py,ca-certificates" \
        bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
        || { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }

    # pip in the chroot reaches the package index the way the host's pip does: same DNS,
    # CA bundle, pip.conf and PIP_* / proxy settings.
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    local f
    for f in /etc/ssl/certs/ca-certificates.crt "${PIP_CERT:-}" /etc/pip.conf; do
        if [ -n "$f" ] && [ -f "$f" ]; then
            mkdir -p "$rootfs$(dirname "$f")"
            cp "$f" "$rootfs$f"
        fi
    done
    local -a pass=()
    for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT PIP_DEFAULT_TIMEOUT \
               http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        if [ -n "${!var:-}" ]; then pass+=("$var=${!var}"); fi
    done
    say "venv with $numpy_req, $opencv_req, $pytriton_req"
    # --no-deps for nvidia-pytriton: only its server files are used, not its Python API.
    chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        PIP_DISABLE_PIP_VERSION_CHECK=1 "${pass[@]}" /bin/sh -euc "
            python3 -m venv $venv
            $venv/bin/pip install --quiet --no-cache-dir '$numpy_req' '$opencv_req'
            $venv/bin/pip install --quiet --no-cache-dir --no-deps '$pytriton_req'
        " >&2

    # NGC's layout: the server in /opt/tritonserver, the python backend's stub beside
    # libtriton_python.so (the 3.11 one, for the Python on PATH).
    local sp=$rootfs$venv/lib/python$py/site-packages
    mv "$sp/pytriton/tritonserver" "$rootfs/opt/tritonserver"
    cp "$rootfs/opt/tritonserver/python_backend_stubs/$py/triton_python_backend_stub" \
        "$rootfs/opt/tritonserver/backends/python/"
    rm -rf "$rootfs/opt/tritonserver/python_backend_stubs" "$rootfs/etc/pip.conf" \
        "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/{doc,man,info,locale}
    find "$rootfs$venv" -name __pycache__ -prune -exec rm -rf {} +

    tar -C "$rootfs" -cf "$tarball.tmp.$$" .
    mv "$tarball.tmp.$$" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
}

mkdir -p "$cache"
# One build per cache at a time (other clones, other CI jobs on this machine).
exec 9>"$cache/.lock"
flock 9
began=$(date +%s)
if [ -f "$tarball" ]; then
    say "root filesystem cached: $tarball"
else
    build_rootfs
fi
say "importing $image"
docker import \
    --change "ENV PATH=$venv/bin:/opt/tritonserver/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LD_LIBRARY_PATH=$libs" \
    --change "LABEL pnsuite.build-key=$key" \
    --change 'CMD ["tritonserver", "--help"]' \
    "$tarball" "$image" >/dev/null
# Older builds of the rootfs are of no more use.
find "$cache" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$key.tar" -delete
say "built $image in $(( $(date +%s) - began )) s: $(docker image inspect --format '{{ .Size }}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')"
