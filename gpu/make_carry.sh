#!/usr/bin/env bash
# Build the one archive a GPU validation run carries to the device machine:
# .carry/triton-gpu-bundle.tar.xz (git-ignored; about 38 MB), unpacked there as a site dir.
#
#   pytriton/tritonserver/   nvidia-pytriton's tritonserver 2.51.0, python backend, 3.12 stub
#   nvidia_pytriton.libs/    its shared libraries, less the bundled libpython (the device
#                            has its own libpython3.12, and the 3.12 stub links to that)
#   tritonclient/, bin/perf_analyzer, google/protobuf (4.25), docker/, rapidjson
#                            client side for Python 3.12 (the device has no registry)
#   cuda/ (cuda-python 12.9) CUDA shared memory for the client: tritonclient 2.51 imports
#                            cuda.cudart, which the device's cuda-bindings 13 no longer has
#   sqlalchemy/, alembic/, mako/, markupsafe/, typing_extensions.py
#                            the results store, which pnsuite.cli.gate imports (SQLAlchemy
#                            2.1.9 as pure Python, Alembic 1.20.1, Mako 1.4.3 and what they
#                            require: MarkupSafe 3.0.4, typing_extensions 4.16.0)
#
# Before packing, gpu/carry_check.py checks that every third-party module the gate and its
# benchmark sessions import is in the bundle or in its list of what the GPU machine has,
# and that every bundled distribution's requirements are met: a missing one stops here.
#
# Run it here, from the repository root, with a Python that has nvidia-pytriton 0.7.0
# installed (PYTHON, default: the project's .venv, else python3). Needs pip and network.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-}
if [[ -z "$python" ]]; then
    if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
site_packages=$("$python" -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parents[1])')
[[ -x "$site_packages/pytriton/tritonserver/bin/tritonserver" ]] || {
    echo "no nvidia-pytriton tritonserver under $site_packages" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
site="$stage/site"
mkdir -p "$site/pytriton/tritonserver/python_backend_stubs" .whl .carry

# Server side: binary, backends (python backend), the 3.12 stub. pytriton stays a
# namespace package (no __init__.py): pnsuite/server/embedded.py only locates its files.
cp -a "$site_packages/pytriton/tritonserver/bin" "$site_packages/pytriton/tritonserver/backends" \
    "$site/pytriton/tritonserver/"
rm -rf "$site/pytriton/tritonserver/backends/python/__pycache__"
cp -a "$site_packages/pytriton/tritonserver/python_backend_stubs/3.12" \
    "$site/pytriton/tritonserver/python_backend_stubs/"
mkdir -p "$site/nvidia_pytriton.libs"
find "$site_packages/nvidia_pytriton.libs" -maxdepth 1 -type f ! -name 'libpython3*' \
    -exec cp -a {} "$site/nvidia_pytriton.libs/" \;

# Client side for CPython 3.12 on manylinux x86_64.
wheels=(tritonclient==2.51.0 protobuf==4.25.9 docker==7.2.0 python-rapidjson==1.25
        cuda-python==12.9.10 cuda-bindings==12.9.10 cuda-pathfinder==1.9.0
        sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3 markupsafe==3.0.4
        typing-extensions==4.16.0)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "${wheels[@]}"
python3 -m pip install -q --no-deps --no-compile --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --target "$site" \
    .whl/tritonclient-2.51.0-*.whl .whl/protobuf-4.25.9-*.whl .whl/docker-7.2.0-*.whl \
    .whl/python_rapidjson-1.25-cp312-*.whl .whl/cuda_python-12.9.10-*.whl \
    .whl/cuda_bindings-12.9.10-cp312-*.whl .whl/cuda_pathfinder-1.9.0-*.whl \
    .whl/sqlalchemy-2.1.9-cp312-*.whl .whl/alembic-1.20.1-*.whl .whl/mako-1.4.3-*.whl \
    .whl/markupsafe-3.0.4-cp312-*.whl .whl/typing_extensions-4.16.0-*.whl
# perf_client is a second copy of perf_analyzer (20 MB): leave it out.
rm -f "$site/bin/perf_client"
# SQLAlchemy's Cython builds (9.5 MB) only speed up what its .py twins beside them do; the
# store's few queries per run do not need them.
find "$site/sqlalchemy" -name '*_cy.cpython-*.so' -delete
[[ -x "$site/bin/perf_analyzer" ]] || { echo "perf_analyzer missing from the bundle" >&2; exit 1; }
"$python" gpu/carry_check.py "$site"

tar -C "$stage" -cf - site | xz -T1 -6 > .carry/triton-gpu-bundle.tar.xz.part
mv .carry/triton-gpu-bundle.tar.xz.part .carry/triton-gpu-bundle.tar.xz
du -b .carry/triton-gpu-bundle.tar.xz
