#!/usr/bin/env bash
# `make test`: set up, lint, run every test, smoke-run the benchmarks; time each phase.
#
# The suite runs on pytest-xdist workers (TEST_WORKERS, default 3: the slow tests wait on
# kernels, sandboxes, servers and a browser for a good part of their time, so three processes
# keep two cores busy); tests/xdist_plan.py says which tests share a worker and in what order
# the groups go. Every process of the suite runs torch on one thread (OMP_NUM_THREADS=1):
# several workers share two cores, where OpenMP's spin-waiting threads only burn CPU. pytest
# prints the 25 slowest tests (--durations); this script then prints the time of each phase and
# the total, also when a phase fails (its exit status is kept).
#
# Usage (from the repository root, through make): bash scripts/test_all.sh [PYTEST_ARGS...]
set -uo pipefail

MAKE=${MAKE:-make}
BIN=.venv/bin
WORKERS=${TEST_WORKERS:-3}
declare -a TIMES=()
START=$(date +%s)

phase() {
    local name=$1 t0 rc
    shift
    t0=$(date +%s)
    "$@"
    rc=$?
    TIMES+=("$name $(($(date +%s) - t0)) s")
    return $rc
}

summary() {
    local rc=$? line="" t
    for t in "${TIMES[@]}"; do line+="$t, "; done
    echo
    echo "make test: ${line}total $(($(date +%s) - START)) s (exit $rc)"
    exit $rc
}
trap summary EXIT

phase setup "$MAKE" --no-print-directory setup-dev || exit
phase lint "$MAKE" --no-print-directory lint || exit
phase pytest env CATALOGUE_SCOPE=ci OMP_NUM_THREADS=1 "$BIN/python" -m pytest \
    -n "$WORKERS" --dist loadgroup --no-loadscope-reorder --durations=25 --timeout=1800 \
    --cov=course_utils --cov=grader --cov-report=term-missing:skip-covered "$@" || exit
phase benchmarks "$BIN/python" benchmarks/run.py --quick || exit
