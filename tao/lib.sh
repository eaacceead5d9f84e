# shellcheck shell=bash disable=SC2034  # (variables here are used by the scripts that source it)
# Shared by tao/convert-etlt.sh and tao/convert-onnx.sh (sourced, not run): input checks
# that say what is missing and how to get it, and placing one built plan in every repo.

# The suite's fixed facts about PeopleNet (the Triton configs in model_repos/tensorrt
# say the same; tests/unit/test_static_checks.py holds them to it).
PEOPLENET_INPUT=input_1
PEOPLENET_DIMS=3,544,960
PEOPLENET_OUTPUTS=output_cov/Sigmoid,output_bbox/BiasAdd
PEOPLENET_OPT_BATCH=16
PEOPLENET_MAX_BATCH=64

TAO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TAO_DIR/.." && pwd)
DEFAULT_REPOS=("$REPO_ROOT/model_repos/tensorrt/sample_1_instances"
               "$REPO_ROOT/model_repos/tensorrt/sample_2_dynamic_batching")

problems=()

# problem MESSAGE: remember one missing input; report_problems prints them all at once.
problem() {
    problems+=("$1")
}

report_problems() {
    if [ "${#problems[@]}" -eq 0 ]; then
        return 0
    fi
    echo "$(basename "$0"): cannot convert; fix these first:" >&2
    local p
    for p in "${problems[@]}"; do
        printf '  - %s\n' "$p" >&2
    done
    exit 2
}

# find_tool NAME [EXTRA_PATH...]: print the first executable NAME on PATH or at an extra path.
find_tool() {
    local name=$1 found
    shift
    if found=$(command -v "$name" 2>/dev/null); then
        echo "$found"
        return 0
    fi
    for found in "$@"; do
        if [ -x "$found" ]; then
            echo "$found"
            return 0
        fi
    done
    return 1
}

# check_device: an engine only runs on the GPU and TensorRT it was built with, so the
# conversion must run on the machine that serves it: a Jetson (L4T) or an NVIDIA GPU host.
check_device() {
    if [ -r /etc/nv_tegra_release ]; then
        echo "device: Jetson, $(head -n 1 /etc/nv_tegra_release)"
        return 0
    fi
    local smi node
    if smi=$(find_tool nvidia-smi) && "$smi" -L >/dev/null 2>&1; then
        echo "device: $("$smi" -L | head -n 1)"
        return 0
    fi
    # In a container run with the NVIDIA runtime only the GPU's device nodes may show.
    for node in /dev/nvhost-ctrl-gpu /dev/nvgpu/igpu0/ctrl /dev/nvidia0; do
        if [ -e "$node" ]; then
            echo "device: GPU device node $node"
            return 0
        fi
    done
    problem "no NVIDIA device here: neither /etc/nv_tegra_release (a Jetson) nor a working nvidia-smi (a GPU host). Run this on the machine that will serve the plan: a TensorRT engine only runs on the GPU and TensorRT version it was built with."
}

# check_model FILE KIND HOW_TO_GET: the model file exists and is not empty.
check_model() {
    local file=$1 kind=$2 how=$3
    if [ -z "$file" ]; then
        problem "no $kind model given. $how"
    elif [ ! -f "$file" ]; then
        problem "$kind model not found: $file. $how"
    elif [ ! -s "$file" ]; then
        problem "$kind model is empty: $file (an interrupted download?). $how"
    fi
}

# check_repos DIR...: each is a model repository with peoplenet/config.pbtxt we can write to.
check_repos() {
    local repo
    if [ "$#" -eq 0 ]; then
        problem "no model repositories given"
    fi
    for repo in "$@"; do
        if [ ! -f "$repo/peoplenet/config.pbtxt" ]; then
            problem "not a PeopleNet model repository (no peoplenet/config.pbtxt): $repo"
        elif ! mkdir -p "$repo/peoplenet/1" 2>/dev/null || [ ! -w "$repo/peoplenet/1" ]; then
            problem "cannot write to $repo/peoplenet/1"
        fi
    done
}

# place_plan PLAN DIR...: copy one built plan into every repo as peoplenet/1/model.plan.
# Each copy is written beside its destination and renamed, so a server never sees half a plan.
place_plan() {
    local plan=$1 repo dest
    shift
    if [ ! -s "$plan" ]; then
        echo "$(basename "$0"): the converter reported success but wrote no plan at $plan" >&2
        exit 1
    fi
    for repo in "$@"; do
        dest="$repo/peoplenet/1/model.plan"
        cp "$plan" "$dest.tmp.$$"
        mv -f "$dest.tmp.$$" "$dest"
        echo "placed $dest"
    done
    echo "plan: $(wc -c <"$plan") bytes, sha256 $(sha256sum "$plan" | cut -d' ' -f1)"
}

# show_cmd ARG...: print "running: ARG..." quoting only the arguments that need it.
show_cmd() {
    local arg
    printf 'running:'
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./,:=+*@-]+$ ]]; then
            printf ' %s' "$arg"
        else
            printf ' %q' "$arg"
        fi
    done
    echo
}

# make_workdir: a scratch dir for the build, removed on exit.
make_workdir() {
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/peoplenet-plan.XXXXXX")
    trap 'rm -rf "$WORKDIR"' EXIT
}
