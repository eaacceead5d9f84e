#!/usr/bin/env bash
# The Jetson workflow's perf steps (.github/workflows/jetson.yml), runnable anywhere:
# tests/perf/test_workflow_rehearsal.py runs them on a model that ignores every stand-in
# parameter, as TensorRT PeopleNet does.
#
#   ci/jetson-perf.sh record   record the runner's baseline (undisturbed runs of the benchmarks)
#   ci/jetson-perf.sh gate     the perf tests once, then the gate against that baseline
#
# Environment: BENCHMARK_DIR (the runner's storage, outside the checkout; required),
# REPORTS (default reports), GATE_LABEL (name of this build's runs), BASELINE_RUNS
# (runs `record` records, a whole number, default 10), BASELINE_MAX_RUNS (`record` goes on
# past BASELINE_RUNS, up to this many, until the noise preflight says a default check
# against the baseline can detect the threshold; default 40, 0: exactly BASELINE_RUNS),
# PERF_TESTS (default tests/perf),
# PERF_ARGS (more pytest arguments for the tests and the benchmark runs, split on spaces),
# BENCHMARK_ARGS (pytest arguments for the benchmark runs only), GATE_ARGS (more
# `peoplenet-gate check` arguments, e.g. --new-release), GATE_INCONCLUSIVE (what an
# inconclusive gate, exit 3, does to the job: fail, the default, exits 3 with an error;
# warn exits 0 with a warning, an opt-in of the runner's owner; any other value is a
# usage error, exit 2), GATE_ACCEPT (1: a build that passes the gate adds its runs to the
# baseline in the results store, `peoplenet-gate accept`, so the baseline rolls on with
# the trusted branch; the workflow sets it on main; default 0), TRITON_SUITE_RESULTS_STORE (a results store: every
# run is written there, and the gate reads the baseline from it, so the runner needs no
# baseline file).
set -euo pipefail
mode=${1:-}
# The mode and settings are checked before anything runs: a typo must not turn into a default.
case "$mode" in
    record | gate) ;;
    *)
        echo "usage: ci/jetson-perf.sh record|gate" >&2
        exit 2
        ;;
esac
gate_inconclusive=${GATE_INCONCLUSIVE:-fail}
case "$gate_inconclusive" in
    fail | warn) ;;
    *)
        echo "ci/jetson-perf.sh: GATE_INCONCLUSIVE must be fail (the default) or warn, got '$gate_inconclusive'" >&2
        exit 2
        ;;
esac
gate_accept=${GATE_ACCEPT:-0}
case "$gate_accept" in
    0) ;;
    1)
        if [ -z "${TRITON_SUITE_RESULTS_STORE:-}" ]; then
            echo "ci/jetson-perf.sh: GATE_ACCEPT=1 adds the runs to the baseline in the results store, but TRITON_SUITE_RESULTS_STORE is not set" >&2
            exit 2
        fi
        ;;
    *)
        echo "ci/jetson-perf.sh: GATE_ACCEPT must be 0 (the default) or 1, got '${GATE_ACCEPT}'" >&2
        exit 2
        ;;
esac
baseline_runs=${BASELINE_RUNS:-10}
if ! [[ "$baseline_runs" =~ ^[1-9][0-9]*$ ]]; then
    echo "ci/jetson-perf.sh: BASELINE_RUNS must be a whole number of runs (default 10), got '$baseline_runs'" >&2
    exit 2
fi
baseline_max_runs=${BASELINE_MAX_RUNS:-40}
if ! [[ "$baseline_max_runs" =~ ^[0-9]+$ ]]; then
    echo "ci/jetson-perf.sh: BASELINE_MAX_RUNS must be a whole number of runs (default 40, 0 for exactly BASELINE_RUNS), got '$baseline_max_runs'" >&2
    exit 2
fi
until_usable=()
if [ "$baseline_max_runs" -gt "$baseline_runs" ]; then
    until_usable=(--until-usable "$baseline_max_runs")
fi
: "${BENCHMARK_DIR:?BENCHMARK_DIR must name the benchmark storage of this runner}"
reports=${REPORTS:-reports}
storage="$BENCHMARK_DIR/storage"
mkdir -p "$reports" "$storage"
read -r -a perf_args <<< "${PERF_ARGS:-}"
read -r -a benchmark_args <<< "${BENCHMARK_ARGS:-}"
read -r -a gate_args <<< "${GATE_ARGS:-}"
read -r -a perf_tests <<< "${PERF_TESTS:-tests/perf}"

case "$mode" in
    record)
        ./suite gate record baseline --benchmark-storage "$storage" --runs "$baseline_runs" \
            "${until_usable[@]}" -- "${perf_args[@]}" "${benchmark_args[@]}" 2>&1 | tee "$reports/gate.txt"
        ;;
    gate)
        if [ -n "${TRITON_SUITE_RESULTS_STORE:-}" ]; then
            ./suite results baseline baseline | tee "$reports/baseline.txt"
        elif [ -z "$(find "$storage" -name '[0-9]*_baseline.json' -print -quit)" ]; then
            echo "::error::no perf baseline in $storage: run the workflow by hand with record_baseline on a trusted JetPack first"
            exit 1
        fi
        ./suite test "${perf_tests[@]}" "${perf_args[@]}" \
            --junitxml="$reports/perf.xml" -o junit_suite_name=perf
        status=0
        ./suite gate check baseline --benchmark-storage "$storage" --json "$reports/gate.json" \
            --label "${GATE_LABEL:-current}" "${gate_args[@]}" \
            -- "${perf_args[@]}" "${benchmark_args[@]}" \
            2>&1 | tee "$reports/gate.txt" || status=$?
        # The pages people read (docs/reports.md): this build against the baseline, and
        # each benchmark's history on this runner. One that cannot be drawn is a warning:
        # the gate's verdict above stands.
        report_args=()
        for arg in "${gate_args[@]}"; do
            if [ "$arg" = --new-release ]; then report_args+=(--new-release); fi
        done
        ./suite report compare baseline "${GATE_LABEL:-current}" --benchmark-storage "$storage" \
            "${report_args[@]}" -o "$reports/compare" > "$reports/compare.txt" 2>&1 \
            || echo "::warning::no comparison report: see compare.txt"
        ./suite report history "$storage" -o "$reports/history" > "$reports/history.txt" 2>&1 \
            || echo "::warning::no history report: see history.txt"
        # A passing build of the trusted branch joins the baseline (after the pages above,
        # which compare it with the baseline as it was), so the baseline rolls on.
        if [ "$status" -eq 0 ] && [ "$gate_accept" = 1 ]; then
            ./suite gate accept baseline "${GATE_LABEL:-current}" 2>&1 | tee -a "$reports/gate.txt"
        fi
        # Inconclusive (exit 3): the gate could not tell whether this build is slower, so it
        # was not shown to be fine. That fails the job unless the runner's owner chose
        # GATE_INCONCLUSIVE=warn. The line also goes into gate.txt, the job summary.
        if [ "$status" -eq 3 ]; then
            if [ "$gate_inconclusive" = warn ]; then
                echo "::warning::perf gate inconclusive (exit 3): it could not tell whether this build is slower (gate.txt says why); the job passes only because GATE_INCONCLUSIVE=warn" \
                    | tee -a "$reports/gate.txt"
                exit 0
            fi
            echo "::error::perf gate inconclusive (exit 3): it could not tell whether this build is slower, so the job fails (GATE_INCONCLUSIVE=fail, the default). The gate's INCONCLUSIVE line in gate.txt names the reason (its code) and what would decide it; the runner's owner can make this a warning with GATE_INCONCLUSIVE=warn" \
                | tee -a "$reports/gate.txt"
        fi
        exit "$status"
        ;;
esac
