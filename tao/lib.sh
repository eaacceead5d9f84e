# shellcheck shell=bash disable=SC2034  # (variables here are used by the scripts that source it)
# Shared by tao/convert-etlt.sh and tao/convert-onnx.sh (sourced, not run): input checks
# that say what is missing and how to get it, finding the TensorRT version, and placing one
# built plan with its engine.json (tao/engine_manifest.py) in every repo.

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
# Prints "device: ..." and keeps the description in DEVICE for engine.json.
DEVICE=
check_device() {
    local smi node
    if [ -r /etc/nv_tegra_release ]; then
        DEVICE="Jetson, $(head -n 1 /etc/nv_tegra_release)"
    elif smi=$(find_tool nvidia-smi) && "$smi" -L >/dev/null 2>&1; then
        DEVICE=$("$smi" -L | head -n 1)
    else
        # In a container run with the NVIDIA runtime only the GPU's device nodes may show.
        for node in /dev/nvhost-ctrl-gpu /dev/nvgpu/igpu0/ctrl /dev/nvidia0; do
            if [ -e "$node" ]; then
                DEVICE="GPU device node $node"
                break
            fi
        done
    fi
    if [ -n "$DEVICE" ]; then
        echo "device: $DEVICE"
        return 0
    fi
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

# check_ngc_version VALUE: empty (not known) or NAME:VERSION as NGC spells a model version.
check_ngc_version() {
    if [ -n "$1" ] && ! [[ $1 =~ ^[^:[:space:]]+:[^:[:space:]]+$ ]]; then
        problem "--ngc-version must be NAME:VERSION as NGC names it, e.g. nvidia/tao/peoplenet:pruned_v2.1 (got: $1)"
    fi
}

# check_manifest_writer: python3 runs tao/engine_manifest.py, which writes engine.json.
check_manifest_writer() {
    if ! find_tool python3 >/dev/null; then
        problem "python3 not found: it writes peoplenet/1/engine.json beside the plan (tao/engine_manifest.py, standard library only). JetPack ships it; elsewhere 'sudo apt-get install python3'."
    fi
}

# format_cmd ARG...: the command line as one line, quoting only the arguments that need it.
format_cmd() {
    local arg line=''
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./,:=+*@-]+$ ]]; then
            line+=" $arg"
        else
            line+=" $(printf '%q' "$arg")"
        fi
    done
    echo "${line# }"
}

# run_logged LOG CMD...: run CMD, showing its stdout and stderr as usual and also appending
# both to LOG; returns CMD's exit status. Both tees are in pipelines, so bash waits for them
# and LOG is complete when this returns.
run_logged() {
    local log=$1
    shift
    { { "$@" 3>&- | tee -a "$log"; } 2>&1 1>&3 3>&- | tee -a "$log" >&2; } 3>&1
}

# tensorrt_version CONVERTER_LOG: print the version of the TensorRT that builds the plan
# (CONVERTER_LOG is '' for a converter that does not print it).
# First the converter's own "TensorRT version: X" line (trtexec prints one; tao-converter
# does not), then the first installed Debian package that carries TensorRT, then the
# python3 tensorrt module; else "unknown", with a warning on stderr.
tensorrt_version() {
    local log=$1 version='' pkg line
    if [ -n "$log" ] && [ -r "$log" ]; then
        version=$(sed -n 's/.*TensorRT version: *\([0-9][0-9A-Za-z.+_-]*\).*/\1/p' "$log" | head -n 1)
    fi
    if [ -z "$version" ] && find_tool dpkg-query >/dev/null; then
        for pkg in tensorrt libnvinfer-bin libnvinfer10 libnvinfer8; do
            # "Status Version": a removed package whose config files remain still has a version.
            line=$(dpkg-query -W -f='${Status} ${Version}\n' "$pkg" 2>/dev/null | head -n 1) || true
            if [[ $line == "install ok installed "?* ]]; then
                version=${line#install ok installed }
                version=${version#*:}     # an epoch, e.g. 1:8.6.2.3-1+cuda12.2
                version=${version%%-*}    # the Debian revision, e.g. -1+cuda12.2
                break
            fi
        done
    fi
    if [ -z "$version" ] && find_tool python3 >/dev/null; then
        version=$(python3 -c 'import tensorrt; print(tensorrt.__version__)' 2>/dev/null) || version=
    fi
    if [ -z "$version" ]; then
        echo "$(basename "$0"): warning: TensorRT version not found (no 'TensorRT version:' line from the converter, no tensorrt or libnvinfer package, no python3 tensorrt module); engine.json says \"unknown\", so goldens will only be keyed by the plan's sha256" >&2
        version=unknown
    fi
    echo "$version"
}

# place_plan PLAN DIR... -- MANIFEST_OPTION...: copy one built plan into every repo as
# peoplenet/1/model.plan and write peoplenet/1/engine.json beside it with
# tao/engine_manifest.py, which is given the MANIFEST_OPTIONs (see its --help).
# The old manifest goes first and the new one is written after the plan is in place, so
# an engine.json never names a plan other than the one beside it. Each file is written
# beside its destination and renamed, so a server or the suite never sees half of one.
place_plan() {
    local plan=$1 repo dest repos=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        repos+=("$1")
        shift
    done
    if [ $# -gt 0 ]; then
        shift  # the --
    fi
    if [ ! -s "$plan" ]; then
        echo "$(basename "$0"): the converter reported success but wrote no plan at $plan" >&2
        exit 1
    fi
    for repo in "${repos[@]}"; do
        dest="$repo/peoplenet/1"
        rm -f "$dest/engine.json"
        cp "$plan" "$dest/model.plan.tmp.$$"
        mv -f "$dest/model.plan.tmp.$$" "$dest/model.plan"
        python3 "$TAO_DIR/engine_manifest.py" --plan "$dest/model.plan" \
            --output "$dest/engine.json" "$@"
        echo "placed $dest/model.plan and $dest/engine.json"
    done
    echo "plan: $(wc -c <"$plan") bytes, sha256 $(sha256sum "$plan" | cut -d' ' -f1)"
}

# make_workdir: a scratch dir for the build, removed on exit.
make_workdir() {
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/peoplenet-plan.XXXXXX")
    trap 'rm -rf "$WORKDIR"' EXIT
}
