#!/usr/bin/env bash
# postmaster.tls benchmarks (not part of the test suite). Normally started by `./dev.sh bench [NAME..]`,
# which prepares the machine and the venv and syncs the collection first. See bench/README.md.
#
#   bash bench/run.sh                  every benchmark
#   bash bench/run.sh compare scale    by name: compare, scale (together: fleet), keygen, verify, grade
#   BENCH_QUICK=1 bash bench/run.sh    fewer repetitions (a smoke run, not for RESULTS.md)
#
# Each benchmark prints a table; the tables are appended to bench/results/results.log and the raw
# samples kept as bench/results/<run id>-*.json (bench/results/ is ignored by git).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS=${BENCH_RESULTS:-$BENCH/results}
export BENCH_RESULTS=$RESULTS
BENCH_RUN_ID=${BENCH_RUN_ID:-$(date +%Y%m%d-%H%M%S)-$$}
export BENCH_RUN_ID
ALL=(compare scale keygen verify grade)
# Quick mode is on when BENCH_QUICK is set to anything but 0 (some scripts only test that it is set).
case "${BENCH_QUICK:-0}" in 0 | "") unset BENCH_QUICK ;; *) export BENCH_QUICK=1 ;; esac

usage() {
  sed -n '2,10p' "$0"
}

# Remove whatever containers this run started, however it ends (fleet.py removes its own too; this
# catches a kill -9 of the Python process). Only containers labelled with this run's id.
cleanup() {
  local ids
  ids=$(docker ps -aq --filter "label=postmaster.bench.run=$BENCH_RUN_ID" 2>/dev/null || true)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086 # one id per word
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "bench: $1 is not on PATH (run through ./dev.sh bench)" >&2; exit 1; }
}

# A benchmark that another helper delivers as a standalone script: run it if it is there.
run_script() {
  local name=$1 script=$2 log rc
  shift 2
  if [ ! -f "$BENCH/$script" ]; then
    echo "[bench] $name: bench/$script does not exist yet; skipped"
    SKIPPED+=("$name")
    return 0
  fi
  log="$RESULTS/$BENCH_RUN_ID-$name.txt"
  echo "[bench] $name: python bench/$script $*"
  set +e
  python "$BENCH/$script" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  { printf '# %s %s (%s)\n$ python bench/%s %s\n' "$name" "$(date '+%Y-%m-%d %H:%M:%S %z')" "$BENCH_RUN_ID" "$script" "$*"
    cat "$log"; echo; } >>"$RESULTS/results.log"
  return "$rc"
}

main() {
  local names=("$@") name fleet=() failed=() start
  SKIPPED=()
  case "${1:-}" in -h | --help | help) usage; return 0 ;; esac
  ((${#names[@]})) || names=("${ALL[@]}")
  need ansible-playbook
  need docker
  need python
  mkdir -p "$RESULTS"
  for name in "${names[@]}"; do
    case "$name" in
      compare | scale) fleet+=("$name") ;;
      fleet) fleet+=(compare scale) ;;
      keygen | verify | grade) ;;
      *) echo "bench: unknown benchmark '$name' (known: ${ALL[*]}, fleet)" >&2; return 2 ;;
    esac
  done
  # compare and scale share one fleet.py run so that the scale table can relate the fleet's first
  # converge to the one-host median measured by compare.
  if ((${#fleet[@]})); then
    start=$SECONDS
    python "$BENCH/fleet.py" "${fleet[@]}" || failed+=(fleet)
    echo "[timing] bench ${fleet[*]}: $((SECONDS - start))s"
  fi
  for name in "${names[@]}"; do
    start=$SECONDS
    case "$name" in
      keygen)
        local kargs=(--json "$RESULTS/$BENCH_RUN_ID-keygen.json")
        if [ -n "${BENCH_QUICK:-}" ]; then kargs+=(--runs 3); fi
        run_script keygen keygen.py "${kargs[@]}" || failed+=(keygen)
        ;;
      verify) run_script verify verify_vs_sslscan.py || failed+=(verify) ;;
      grade) run_script grade grade_vs_sslscan.py || failed+=(grade) ;;
      *) continue ;;
    esac
    echo "[timing] bench $name: $((SECONDS - start))s"
  done
  if ((${#SKIPPED[@]})); then echo "[bench] not available yet: ${SKIPPED[*]}"; fi
  if ((${#failed[@]})); then
    echo "[bench] FAILED: ${failed[*]}" >&2
    return 1
  fi
  echo "[bench] results appended to $RESULTS/results.log"
}

main "$@"
