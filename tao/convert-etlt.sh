#!/usr/bin/env bash
# Build PeopleNet's TensorRT plan from NGC's encrypted .etlt with tao-converter, on the
# device that will serve it, and place it with its engine.json in both TensorRT model
# repositories.
# The Triton Jetson example's command: key tlt_encode, input 3x544x960 NCHW, fp16, batch 16, max batch 64,
# outputs output_cov/Sigmoid and output_bbox/BiasAdd. See tao/README.md.
set -euo pipefail
# shellcheck source=tao/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The Triton Jetson example's download: its file name says which NGC version it is.
ETLT_FILE=resnet34_peoplenet_pruned.etlt
ETLT_NGC_VERSION=nvidia/tao/peoplenet:pruned_v2.1

usage() {
    cat <<EOF
usage: tao/convert-etlt.sh [options]

Converts NGC's PeopleNet .etlt into peoplenet/1/model.plan of each model repository.

  -m, --model FILE       the .etlt (default: \$PEOPLENET_ETLT, else
                         models/peoplenet/resnet34_peoplenet_pruned.etlt in the repo root)
  -k, --key KEY          the model's encryption key (default: \$PEOPLENET_KEY, else tlt_encode)
  -r, --repo DIR         a model repository to place the plan in; repeatable (default:
                         model_repos/tensorrt/sample_1_instances and sample_2_dynamic_batching)
  -c, --converter PATH   tao-converter (default: \$TAO_CONVERTER, else tao-converter on PATH
                         or in ~/tao-converter, /opt/tao-converter)
      --ngc-version NAME:VERSION
                         the NGC model version the .etlt came from, for engine.json
                         (default: \$PEOPLENET_NGC_VERSION; else, for a file named
                         $ETLT_FILE, $ETLT_NGC_VERSION)
  -n, --check            check the inputs and print the command; convert nothing
  -h, --help             this text
EOF
}

model=${PEOPLENET_ETLT:-$REPO_ROOT/models/peoplenet/$ETLT_FILE}
key=${PEOPLENET_KEY:-tlt_encode}
converter=${TAO_CONVERTER:-}
ngc_version=${PEOPLENET_NGC_VERSION:-}
check_only=0
repos=()
while [ $# -gt 0 ]; do
    case "$1" in
        -m|--model) model=${2:?--model needs a file}; shift 2 ;;
        -k|--key) key=${2:?--key needs a value}; shift 2 ;;
        -r|--repo) repos+=("${2:?--repo needs a dir}"); shift 2 ;;
        -c|--converter) converter=${2:?--converter needs a path}; shift 2 ;;
        --ngc-version) ngc_version=${2:?--ngc-version needs NAME:VERSION}; shift 2 ;;
        -n|--check) check_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "convert-etlt.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [ "${#repos[@]}" -eq 0 ]; then
    repos=("${DEFAULT_REPOS[@]}")
fi
if [ -z "$ngc_version" ] && [ "$(basename "$model")" = "$ETLT_FILE" ]; then
    ngc_version=$ETLT_NGC_VERSION
fi

check_device
if [ -n "$converter" ]; then
    [ -x "$converter" ] || problem "tao-converter not executable: $converter"
elif ! converter=$(find_tool tao-converter "$HOME/tao-converter/tao-converter" \
                       /opt/tao-converter/tao-converter "$HOME/tao-converter"); then
    problem "tao-converter not found. Download the aarch64 build that matches this JetPack's TensorRT from NGC (resource nvidia/tao/tao-converter), unzip it, chmod +x it, and put it on PATH or pass --converter PATH (or set TAO_CONVERTER)."
fi
check_model "$model" ".etlt" "Download PeopleNet from NGC (model nvidia/tao/peoplenet, version pruned_v2.1: resnet34_peoplenet_pruned.etlt), e.g. 'ngc registry model download-version nvidia/tao/peoplenet:pruned_v2.1', and pass --model FILE (or set PEOPLENET_ETLT)."
check_ngc_version "$ngc_version"
check_repos "${repos[@]}"
check_manifest_writer
report_problems

# Built once in a scratch dir, then copied into each repository.
make_workdir
plan="$WORKDIR/model.plan"
cmd=("$converter" -k "$key" -d "$PEOPLENET_DIMS" -i nchw -t fp16
     -b "$PEOPLENET_OPT_BATCH" -m "$PEOPLENET_MAX_BATCH"
     -o "$PEOPLENET_OUTPUTS" -e "$plan" "$model")
# The key is not secret (NGC publishes it) but keep it out of logs all the same.
shown=("${cmd[@]}")
shown[2]='***'
command_line=$(format_cmd "${shown[@]}")
echo "running: $command_line"
echo "engine.json will record: model $(basename "$model"), NGC version ${ngc_version:-(none given)}, fp16"
if [ "$check_only" -eq 1 ]; then
    echo "check only: inputs are in place; nothing converted"
    exit 0
fi
"${cmd[@]}"
# tao-converter does not print TensorRT's version, so the installed TensorRT says it.
place_plan "$plan" "${repos[@]}" -- \
    --source-model "$model" --ngc-version "$ngc_version" --precision fp16 \
    --converter tao-converter --converter-command "$command_line" \
    --tensorrt-version "$(tensorrt_version "")" --device "$DEVICE"
