#!/usr/bin/env bash
# Build PeopleNet's TensorRT plan from one of NGC's ONNX versions with trtexec, on the
# device that will serve it, and place it with its engine.json in both TensorRT model
# repositories.
# Batch 1..64 (optimised for 16, as the Triton Jetson example's -b 16), fp16 unless asked for int8.
# The ONNX tensor names (input_1:0, ...) are first renamed to the Triton config's
# (input_1, ...) by tao/onnx_io_names.py. See tao/README.md.
set -euo pipefail
# shellcheck source=tao/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
usage: tao/convert-onnx.sh [options]

Converts an ONNX PeopleNet into peoplenet/1/model.plan of each model repository.

  -m, --model FILE       the .onnx (default: \$PEOPLENET_ONNX, else the one *.onnx in
                         models/peoplenet/ in the repo root)
  -r, --repo DIR         a model repository to place the plan in; repeatable (default:
                         model_repos/tensorrt/sample_1_instances and sample_2_dynamic_batching)
  -t, --trtexec PATH     trtexec (default: \$TRTEXEC, else trtexec on PATH or
                         /usr/src/tensorrt/bin/trtexec, where JetPack puts it)
  -p, --python PATH      a Python with the onnx package (default: \$PYTHON, else python3)
      --int8             build INT8 (with fp16 fallback) for NGC's quantized ONNX versions
      --calib FILE       INT8 calibration cache shipped beside the ONNX (implies --int8)
      --ngc-version NAME:VERSION
                         the NGC model version the ONNX came from, for engine.json
                         (default: \$PEOPLENET_NGC_VERSION, else none)
  -n, --check            check the inputs and print the command; convert nothing
  -h, --help             this text
EOF
}

model=${PEOPLENET_ONNX:-}
trtexec=${TRTEXEC:-}
python=${PYTHON:-python3}
int8=0
calib=
ngc_version=${PEOPLENET_NGC_VERSION:-}
check_only=0
repos=()
while [ $# -gt 0 ]; do
    case "$1" in
        -m|--model) model=${2:?--model needs a file}; shift 2 ;;
        -r|--repo) repos+=("${2:?--repo needs a dir}"); shift 2 ;;
        -t|--trtexec) trtexec=${2:?--trtexec needs a path}; shift 2 ;;
        -p|--python) python=${2:?--python needs a path}; shift 2 ;;
        --int8) int8=1; shift ;;
        --calib) calib=${2:?--calib needs a file}; int8=1; shift 2 ;;
        --ngc-version) ngc_version=${2:?--ngc-version needs NAME:VERSION}; shift 2 ;;
        -n|--check) check_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "convert-onnx.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [ "${#repos[@]}" -eq 0 ]; then
    repos=("${DEFAULT_REPOS[@]}")
fi
if [ -z "$model" ]; then
    shopt -s nullglob
    found=("$REPO_ROOT"/models/peoplenet/*.onnx)
    shopt -u nullglob
    if [ "${#found[@]}" -eq 1 ]; then
        model=${found[0]}
    elif [ "${#found[@]}" -gt 1 ]; then
        problem "several .onnx files in $REPO_ROOT/models/peoplenet/: pass one with --model"
        model=${found[0]}
    fi
fi

check_device
if [ -n "$trtexec" ]; then
    [ -x "$trtexec" ] || problem "trtexec not executable: $trtexec"
elif ! trtexec=$(find_tool trtexec /usr/src/tensorrt/bin/trtexec); then
    problem "trtexec not found. It ships with TensorRT: on a Jetson 'sudo apt-get install nvidia-jetpack' (or just the TensorRT samples package, libnvinfer-samples or tensorrt) puts it at /usr/src/tensorrt/bin/trtexec; elsewhere pass --trtexec PATH (or set TRTEXEC)."
fi
check_model "$model" "ONNX" "Download an ONNX version of PeopleNet from NGC (model nvidia/tao/peoplenet, a deployable_*onnx* version), e.g. 'ngc registry model download-version nvidia/tao/peoplenet:<version>', and pass --model FILE (or set PEOPLENET_ONNX)."
if [ -n "$calib" ] && [ ! -s "$calib" ]; then
    problem "INT8 calibration cache not found or empty: $calib (it ships beside the ONNX in NGC's quantized versions)"
fi
if ! "$python" -c 'import onnx' 2>/dev/null; then
    problem "'$python' cannot import the onnx package, needed to check and rename the ONNX tensors: pip3 install onnx (or pass --python PATH to a Python that has it)"
fi
check_ngc_version "$ngc_version"
check_repos "${repos[@]}"
check_manifest_writer
report_problems

make_workdir
# The engine keeps the ONNX's tensor names; Triton's config uses the .etlt engine's names.
onnx_in=$("$python" "$TAO_DIR/onnx_io_names.py" "$model" "$WORKDIR/peoplenet.onnx") || {
    echo "convert-onnx.sh: $model does not fit the suite's PeopleNet contract (see above)" >&2
    exit 2
}

plan="$WORKDIR/model.plan"
shape() { echo "$PEOPLENET_INPUT:$1x${PEOPLENET_DIMS//,/x}"; }
cmd=("$trtexec" "--onnx=$onnx_in" "--saveEngine=$plan"
     "--minShapes=$(shape 1)" "--optShapes=$(shape "$PEOPLENET_OPT_BATCH")"
     "--maxShapes=$(shape "$PEOPLENET_MAX_BATCH")" --fp16)
precision=fp16
if [ "$int8" -eq 1 ]; then
    precision=int8
    cmd+=(--int8)
    if [ -n "$calib" ]; then
        cmd+=("--calib=$calib")
    fi
fi
command_line=$(format_cmd "${cmd[@]}")
echo "running: $command_line"
echo "engine.json will record: model $(basename "$model"), NGC version ${ngc_version:-(none given)}, $precision"
if [ "$check_only" -eq 1 ]; then
    echo "check only: inputs are in place; nothing converted"
    exit 0
fi
# trtexec prints the TensorRT version it links; keep its output to read that line back.
run_logged "$WORKDIR/trtexec.log" "${cmd[@]}"
place_plan "$plan" "${repos[@]}" -- \
    --source-model "$model" --ngc-version "$ngc_version" --precision "$precision" \
    --converter trtexec --converter-command "$command_line" \
    --tensorrt-version "$(tensorrt_version "$WORKDIR/trtexec.log")" --device "$DEVICE"
