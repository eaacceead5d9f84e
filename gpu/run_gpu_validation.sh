#!/usr/bin/env bash
# GPU validation of the suite on a machine with an NVIDIA GPU (results from an H100 are in
# results/gpu/nvidia-h100-x1/):
# the GPU stand-in repositories (model_repos/gpu/) on the embedded Triton server.
#
#   gpu/run_gpu_validation.sh [smoke|crosscheck|suite|gate|gate-aa|gate-slowed|gate-file|gate-decisions|sweep|lean|all|diagnose|memory]   (from the repo root)
#
#   crosscheck  the network's own time per batch size (CUDA events) and reference answers
#               (pnsuite.cli.gpu.netbench); then per repository: the answers checked,
#               perf_analyzer and the suite's closed loop taking turns at concurrency
#               1 2 4 8 16 32, both with CUDA shared memory, and perf_analyzer once with
#               system shared memory at c16 for contrast (pnsuite.cli.gpu.validate)
#   suite       the perf suite (tests/perf, but the workflow rehearsal, whose ./suite
#               would build a venv from a package registry the device cannot reach) on the
#               three repositories with CUDA shared memory, with pytest-benchmark JSON and
#               JUnit XML; and the functional check that CUDA shm, system shm and plain gRPC
#               give the same tensors
#   gate        the gate on this machine, CUDA shm: gate-aa (A/B of a repository against
#               itself), gate-slowed (against a copy 15% slower per execution) and gate-file
#               (a baseline of 3 recorded runs checked against 3 new runs of the same build)
#   gate-decisions  real `peoplenet-gate ab` decisions of the repository against itself and
#               against a copy slowed by GATE_SLOWDOWN (0.15) in model.py, in turns (numbered
#               from GATE_FIRST, 0), while another as long as the last fits in
#               GATE_DECISIONS_S (480) seconds; each decision's JSON and text in
#               results/gate-decisions/ (GATE_MAX_PAIRS 8, GATE_BUDGET_S 330 per decision,
#               GATE_WINDOW_S 0.5 s windows until GATE_STABLE 3 agree, GATE_MAX_WINDOWS 8,
#               GATE_PAIRS_PER_START 3 pairs from each round of server starts)
#   sweep       the network's bound at batch 16-64, then peoplenet-sweep of the dynamic
#               batching repository (instances 1-3, queue delays, concurrency 16-64; CUDA
#               shm, nvidia-smi clocks and power per point), its leaders confirmed in
#               independent runs; SWEEP_INSTANCES/SWEEP_BATCHING/SWEEP_CONCURRENCY change
#               the grid, SWEEP_ARGS adds options, SWEEP_OUT resumes a journal elsewhere,
#               SWEEP_POOL sets Triton's CUDA memory pool (default 1 GiB, see lean)
#   lean        the stand-in's data path: outputs in device or host memory with a CUDA
#               memory pool of LEAN_POOL bytes (default 1 GiB), one instance: each
#               variant's answers checked against the network's own, perf_analyzer and
#               the suite at concurrency 16 32 64 with CUDA shm, execute() profiled
#   all         both (default), longer than 10 minutes; smoke: a short version of
#               both, to check the set-up;
#   diagnose    where a served image's time goes (pnsuite.cli.gpu.diagnose)
#   memory      perf_analyzer with system vs CUDA shared memory inputs
#               (pnsuite.cli.gpu.diagnose)
#
# Needs python3 with torch (CUDA), torchvision, numpy, opencv, grpcio, pytest,
# pytest-benchmark, scipy, requests, urllib3 and tqdm (gpu/carry_check.py's ON_DEVICE), and
# .carry/triton-gpu-bundle.tar.xz (gpu/make_carry.sh: the server, its python backend and
# 3.12 stub, tritonclient with perf_analyzer, the results store's SQLAlchemy). Results go
# to $RESULTS (default /tmp/pnsuite-gpu/results); a tarball of them and the summary to
# $OUT when set (a directory that is collected after the run).
set -uo pipefail

part=${1:-all}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
work=${WORK:-/tmp/pnsuite-gpu}
results=${RESULTS:-$work/results}
# Logs stay apart from the results: results are what gets committed (JSON and summaries).
logs=${LOGS:-$work/logs}
repos=(model_repos/gpu/baseline_1_instance model_repos/gpu/sample_1_instances
       model_repos/gpu/sample_2_dynamic_batching)
mkdir -p "$work" "$results" "$logs"

if [[ ! -d "$work/site" ]]; then
    tar -xJf .carry/triton-gpu-bundle.tar.xz -C "$work" || exit 1
fi
# The client side (tritonclient, protobuf 4.25, docker) comes from the bundle; the model's
# stub ignores PYTHONPATH and takes torch and numpy from the python3 first on PATH.
export PYTHONPATH="$work/site:$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export PATH="$work/site/bin:$PATH"

{
    echo "part: $part"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "command: gpu/run_gpu_validation.sh $*"
    echo "git: $(git rev-parse --verify -q HEAD 2>/dev/null || echo 'n/a (no .git here)')"
    echo "python3: $(command -v python3) $(python3 -V 2>&1)"
    python3 - <<'EOF'
import importlib, platform, os
for name in ("torch", "torchvision", "numpy", "cv2", "grpc", "google.protobuf", "tritonclient", "cuda.bindings",
             "pytest", "pytest_benchmark", "scipy", "sqlalchemy", "alembic"):
    try:
        mod = importlib.import_module(name)
        print(f"{name}: {getattr(mod, '__version__', '?')} ({os.path.dirname(mod.__file__ or '')})")
    except Exception as err:  # noqa: BLE001
        print(f"{name}: MISSING ({err})")
import torch
print("cuda:", torch.version.cuda, "device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")
print("cpus:", os.cpu_count(), platform.platform())
EOF
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit,memory.total --format=csv
} > "$results/environment.txt" 2>&1
cat "$results/environment.txt"

status=0
run() {  # run a step, keep its exit status, go on with the next
    echo "=== $*"
    "$@" || { echo "=== FAILED ($?): $*"; status=1; }
}

# Two turns of perf_analyzer (1 s windows) between three of the suite (2 s each) per
# concurrency: the three repositories fit in 10 minutes. The suite's threads are spread
# over 4 processes (pnsuite/client/multiprocess_load.py): one Python process re-sends a
# returning batch of 16 too slowly for the batcher to form batches of 16.
load_processes=4
crosscheck_args=(--measure-s 2 --pa-interval-ms 1000 --rounds 2 --contrast-memory system
                 --contrast-at 16 --load-processes "$load_processes")

netbench() {
    run python3 -m pnsuite.cli.gpu.netbench --out "$results/netbench.json" --references "$work/references.npz" "$@"
}

crosscheck() {
    run python3 -m pnsuite.cli.gpu.validate --out "$results/crosscheck.json" --work "$work/run" \
        --references "$work/references.npz" --triton-memory gpu "$@" "${repos[@]}"
}

suite() {  # suite [pytest paths...]: the perf suite on the three GPU repositories
    local paths=("$@")
    [[ ${#paths[@]} -gt 0 ]] || paths=(tests/perf
        "tests/functional/test_consistency.py::test_shared_memory_and_plain_grpc_give_the_same_tensors")
    echo "=== pytest ${paths[*]}"
    python3 -m pytest "${paths[@]}" -k "not rehearsal" -p no:cacheprovider \
        --triton-repos "${repos[*]}" --triton-ready-timeout 300 --perf-profile gpu \
        --triton-memory gpu --load-processes "$load_processes" \
        --benchmark-json "$results/pytest-benchmark.json" --junitxml "$results/perf-junit.xml" \
        -rA 2>&1 | tee "$logs/pytest.log" || { echo "=== FAILED: pytest"; status=1; }
}

expect() {  # expect CODE COMMAND...: run a step that must exit with CODE
    local want=$1 got=0
    shift
    echo "=== $* (expecting exit $want)"
    "$@" || got=$?
    [[ $got -eq $want ]] || { echo "=== FAILED (exit $got, expected $want): $*"; status=1; }
}

gate_repo=model_repos/gpu/sample_2_dynamic_batching

# Runs measured in 1-s windows until 5 agree within 10%: on the H200 one run-to-run spread
# of about 2% with two servers up (results/gpu/nvidia-h200-x1/gate-decisions).
gate_ab=(--triton-memory gpu --load-processes "$load_processes" --concurrency 16 --window-s 1
         --stable-windows 5 --max-windows 12 --warmup-s 0.5 --max-pairs 5 --seed 1)

gate_aa() {  # A/B, CUDA shm: the repository against itself: never red
    python3 -m pnsuite.cli.gate ab --a "$gate_repo" --b "$gate_repo" "${gate_ab[@]}" \
        --json "$results/gate-ab-aa.json" | tee "$logs/gate-ab-aa.txt"
    [[ ${PIPESTATUS[0]} -ne 1 ]] || { echo "=== FAILED: A/A was red"; status=1; }
    cp "$logs"/gate-*.txt "$results/"
}

gate_slowed() {  # A/B, CUDA shm: against a copy 15% slower per execution: red
    local repo=$gate_repo ab=("${gate_ab[@]}") slowed
    rm -rf "$work/slowed"
    slowed=$(python3 benchmarks/gate_decisions/slowed_repo.py "$repo" "$work/slowed/$(basename "$repo")" 0.15)
    expect 1 python3 -m pnsuite.cli.gate ab --a "$repo" --b "$slowed" "${ab[@]}" \
        --json "$results/gate-ab-slowed-15.json" > >(tee "$logs/gate-ab-slowed-15.txt")
    cp "$logs"/gate-*.txt "$results/"
}

gate_file() {  # a baseline of 3 recorded runs, checked against 3 new runs of the same build
    local repo=$gate_repo
    rm -rf "$work/storage"
    local bench=(--triton-repos "$repo" --triton-ready-timeout 300 --triton-memory gpu
                 --load-processes "$load_processes" -k c6)
    run python3 -m pnsuite.cli.gate record h200 --runs 3 --benchmark-storage "$work/storage" -- "${bench[@]}"
    python3 -m pnsuite.cli.gate check h200 --label unchanged --min-runs 3 --max-runs 3 --budget-s 900 \
        --ignore-noise --benchmark-storage "$work/storage" -- "${bench[@]}" | tee "$logs/gate-check-aa.txt"
    [[ ${PIPESTATUS[0]} -ne 1 ]] || { echo "=== FAILED: the unchanged build was red"; status=1; }
    cp "$logs"/gate-*.txt "$results/"
}

gate_decisions() {  # real A/B decisions in turns, unchanged and slowed, until the minutes run out
    local repo=$gate_repo slowed until began took last=0 code
    local i=${GATE_FIRST:-0} kinds=(unchanged slowed)
    rm -rf "$work/slowed"
    slowed=$(python3 benchmarks/gate_decisions/slowed_repo.py "$repo" "$work/slowed/$(basename "$repo")" \
        "${GATE_SLOWDOWN:-0.15}")
    # Half-second windows until 3 agree: a run's spread on the H200 is between server
    # starts, not between windows (results/gpu/nvidia-h200-x1/gate-decisions), so longer
    # runs buy little and a pair's cost is mostly its servers' start: a round starts 3
    # servers of each side at once for 3 pairs (pools 1 and 2 there showed no kinship
    # between the pairs of one round).
    local windows=(--window-s "${GATE_WINDOW_S:-0.5}" --stable-windows "${GATE_STABLE:-3}"
                   --max-windows "${GATE_MAX_WINDOWS:-8}" --warmup-s 0.5)
    until=$(( $(date +%s) + ${GATE_DECISIONS_S:-480} ))
    mkdir -p "$results/gate-decisions"
    # A decision is not begun unless one as long as the last fits: the call's limit would
    # cut it, and a cut decision is no decision.
    while [[ $(( $(date +%s) + last )) -lt $until ]]; do
        local kind=${kinds[$(( i % 2 ))]} b=$repo
        [[ $kind == slowed ]] && b=$slowed
        code=0
        began=$(date +%s)
        python3 -m pnsuite.cli.gate ab --a "$repo" --b "$b" "${gate_ab[@]}" "${windows[@]}" \
            --seed "$i" --max-pairs "${GATE_MAX_PAIRS:-8}" --budget-s "${GATE_BUDGET_S:-330}" \
            --pairs-per-start "${GATE_PAIRS_PER_START:-3}" \
            --json "$results/gate-decisions/$i-$kind.json" > "$logs/gate-decision-$i-$kind.txt" || code=$?
        took=$(( $(date +%s) - began ))
        last=$took
        echo "decision $i $kind: exit $code, ${took} s: $(tail -1 "$logs/gate-decision-$i-$kind.txt")"
        cp "$logs/gate-decision-$i-$kind.txt" "$results/gate-decisions/"
        [[ $kind == unchanged && $code -eq 1 ]] && { echo "=== FAILED: an unchanged build was red"; status=1; }
        i=$((i + 1))
    done
}

sweep() {  # the best configuration of the GPU stand-in, CUDA shm (docs/sweeps.md)
    [[ -f "$results/netbench.json" ]] || netbench --sizes 16 32 64 --iters 10
    local extra=()
    read -ra extra <<< "${SWEEP_ARGS:-}"  # e.g. "--search hill --max-points 16"
    PYTHONWARNINGS=ignore::UserWarning run python3 -m pnsuite.cli.sweep \
        model_repos/gpu/sample_2_dynamic_batching \
        --out "${SWEEP_OUT:-$results/sweep}" --triton-memory gpu --load-processes "$load_processes" \
        --instances "${SWEEP_INSTANCES:-1-3}" --batching "${SWEEP_BATCHING:-on:0,on:1000}" \
        --concurrency "${SWEEP_CONCURRENCY:-16,32,64}" --window-s 1.5 \
        --triton-server-args="--cuda-memory-pool-byte-size=0:${SWEEP_POOL:-1073741824}" \
        --confirm-top 2 --confirm-runs 3 --seed 1 --no-report --no-progress "${extra[@]}"
}

lean() {  # the stand-in's data path: host or device outputs, CUDA memory pool sizes
    [[ -f "$work/references.npz" ]] || netbench --sizes 16 32 64 --iters 10
    rm -rf "$work/lean"
    local variants
    mapfile -t variants < <(python3 - "$work/lean" <<'EOF'
import sys
from pathlib import Path
from pnsuite.repository import model_config
# name: (output_memory, instances); every one profiles execute() every 100 executions.
for name, (outputs, instances) in {
        "host-i1": ("host", 1), "device-i1": ("device", 1)}.items():
    print(model_config.write_variant(
        Path("model_repos/gpu/sample_2_dynamic_batching"), Path(sys.argv[1]) / name,
        instances=instances, header="by gpu/run_gpu_validation.sh lean",
        parameters={"output_memory": outputs, "profile": "100"}))
EOF
)
    # Triton's default CUDA memory pool (64 MB) holds 10 of these 6.3 MB inputs; the
    # python backend moves GPU inputs through it. LEAN_POOL: bytes for GPU 0.
    run python3 -m pnsuite.cli.gpu.validate --out "$results/lean.json" --work "$work/run" \
        --references "$work/references.npz" --triton-memory gpu --concurrency 16 32 64 --rounds 1 \
        --measure-s 2 --pa-interval-ms 1000 --load-processes "$load_processes" \
        --triton-server-args="--cuda-memory-pool-byte-size=0:${LEAN_POOL:-1073741824}" "${variants[@]}"
}

case "$part" in
    smoke)
        netbench --sizes 1 16 --iters 10
        crosscheck --concurrency 1 16 --measure-s 2 --pa-interval-ms 1000 --rounds 1 \
            --contrast-memory system --load-processes "$load_processes"
        suite tests/perf/test_dynamic_batching.py \
            "tests/functional/test_consistency.py::test_shared_memory_and_plain_grpc_give_the_same_tensors"
        ;;
    diagnose) run python3 -m pnsuite.cli.gpu.diagnose --out "$results/diagnose.json" --work "$work/diag" ;;
    crosscheck) netbench --iters 20; crosscheck "${crosscheck_args[@]}" ;;
    suite) suite ;;
    gate-aa) gate_aa ;;
    gate-slowed) gate_slowed ;;
    gate-file) gate_file ;;
    gate) gate_aa; gate_slowed; gate_file ;;
    gate-decisions) gate_decisions ;;
    sweep) sweep ;;
    lean) lean ;;
    memory) run python3 -m pnsuite.cli.gpu.diagnose --input-memory --out "$results/input-memory.json" --work "$work/diag" ;;
    all) netbench --iters 20; crosscheck "${crosscheck_args[@]}"; suite ;;
    *) echo "unknown part: $part (smoke|crosscheck|suite|gate|gate-aa|gate-slowed|gate-file|gate-decisions|sweep|lean|all|diagnose|memory)" >&2; exit 2 ;;
esac

# Server logs beside the run's other logs; then the summary.
mkdir -p "$logs/server-logs"
find "$work/run/server" -name 'tritonserver*.log' 2>/dev/null | while read -r log; do
    cp "$log" "$logs/server-logs/$(basename "$(dirname "$log")")-$(basename "$log")"
done
run python3 -m pnsuite.cli.gpu.report "$results"

if [[ -n "${OUT:-}" ]]; then
    tar -C "$(dirname "$results")" -czf "$OUT/results-$part.tar.gz" "$(basename "$results")"
    tar -C "$(dirname "$logs")" -czf "$OUT/logs-$part.tar.gz" "$(basename "$logs")"
    cp "$results/summary.md" "$OUT/summary-$part.md" 2>/dev/null || true
fi
exit $status
