#!/usr/bin/env bash
# Every benchmark, in one go (`make bench`). Each prints a table and writes benchmarks/results/*.json,
# which notebooks/benchmarks.ipynb draws. QUICK=1 runs the shorter variants where a script has one.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
quick=()
[ "${QUICK:-0}" = "1" ] && quick=(--quick)
status=0
run() {
  echo; echo "=== $*"
  "$@" || { echo "!!! $1 $2 failed (exit $?)"; status=1; }
}
run python benchmarks/bench_templates.py "${quick[@]}"
[ -f benchmarks/bench_analyze.py ] && run python benchmarks/bench_analyze.py "${quick[@]}"
run python benchmarks/bench_sessions.py
run python benchmarks/bench_incidents.py
run python benchmarks/bench_real_failures.py
run python benchmarks/bench_quality.py
run python benchmarks/bench_quality_neural.py
run python benchmarks/bench_backends.py
run python benchmarks/bench_service.py
run python benchmarks/bench_dask.py "${quick[@]}"
exit $status
