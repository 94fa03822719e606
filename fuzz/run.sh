#!/bin/sh
# run.sh — builds the libFuzzer harnesses of fuzz/ and runs them one after the other:
#     sh fuzz/run.sh SECONDS [READER ...]        (make fuzz / make fuzz-ci call it)
# Each reader's harness build/fuzz/fuzz_<reader> runs for SECONDS (or FUZZ_RUNS executions, when
# set, whichever comes first) with its dictionary fuzz/dict/<reader>.dict and the inputs of
#     build/fuzz/corpus/<reader>   what earlier runs kept (new finds are added here)
#     build/fuzz/seeds/<reader>    generated from ../shared/data (make fuzz-seeds)
#     fuzz/seeds/<reader>          small committed seeds
#     tests/fuzz_regressions/<reader>   inputs that once failed
# A crash, sanitizer report, broken promise, an input slower than FUZZ_TIMEOUT seconds (10), a
# single allocation over FUZZ_MALLOC_MB (1024) or a process over FUZZ_RSS_MB (2048) fails the
# reader: libFuzzer saves the input in build/fuzz/crashes/<reader>/, the others still run, and the
# script exits 1.  It ends with a table: executions, execs/s, cov and ft (libFuzzer's final
# coverage and features), corpus size, the slowest input, seconds, and the result.  Logs are in
# build/fuzz/logs/<reader>.log.
# Without clang (FUZZ_CC, default clang-14) and its libFuzzer runtime it prints that fuzzing is
# SKIPPED and why, and exits 0.  Run it under nice on a shared machine: it keeps a core busy.
cd "$(dirname "$0")/.." || exit 1
secs=${1:-60}
[ $# -gt 0 ] && shift
readers=${*:-png jpeg obj ply stl off model scene query}
CC=${FUZZ_CC:-clang-14}
timeout_s=${FUZZ_TIMEOUT:-10}
malloc_mb=${FUZZ_MALLOC_MB:-1024}
rss_mb=${FUZZ_RSS_MB:-2048}

# libFuzzer present?  A one-line program must link with -fsanitize=fuzzer.
probe=$(mktemp -d) || exit 1
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! command -v "$CC" >/dev/null 2>&1; then
  why="$CC is not installed (tools/setup.sh installs clang-14 and libclang-rt-14-dev where the package lists have them)"
elif ! "$CC" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >"$probe/log" 2>&1; then
  why="$CC cannot link -fsanitize=fuzzer (libFuzzer's runtime, libclang-rt-14-dev, is missing): $(head -c 300 "$probe/log")"
fi
rm -rf "$probe"
if [ -n "$why" ]; then
  echo "fuzz: SKIPPED — $why"
  exit 0
fi

make --no-print-directory fuzz-build FUZZ_CC="$CC" >/dev/null || { echo "fuzz: building the harnesses failed"; exit 1; }
make --no-print-directory fuzz-seeds >/dev/null || { echo "fuzz: making the seed corpora failed"; exit 1; }

runs=""
[ -n "$FUZZ_RUNS" ] && runs="-runs=$FUZZ_RUNS"
failed=0
table=""
for r in $readers; do
  exe=build/fuzz/fuzz_$r
  [ -x "$exe" ] || { echo "fuzz: no harness $exe"; failed=1; continue; }
  mkdir -p "build/fuzz/corpus/$r" "build/fuzz/crashes/$r" build/fuzz/logs
  log=build/fuzz/logs/$r.log
  dirs="build/fuzz/corpus/$r build/fuzz/seeds/$r fuzz/seeds/$r"
  [ -d "tests/fuzz_regressions/$r" ] && dirs="$dirs tests/fuzz_regressions/$r"
  echo "fuzz: $r for ${secs}s${FUZZ_RUNS:+ or $FUZZ_RUNS runs} (log: $log)"
  t0=$(date +%s)
  # shellcheck disable=SC2086
  "$exe" $dirs -dict="fuzz/dict/$r.dict" -max_total_time="$secs" $runs -timeout="$timeout_s" \
    -malloc_limit_mb="$malloc_mb" -rss_limit_mb="$rss_mb" -artifact_prefix="build/fuzz/crashes/$r/" \
    -print_final_stats=1 -close_fd_mask=1 >"$log" 2>&1
  rc=$?
  t1=$(date +%s)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
  slow=$(sed -n 's/^stat::slowest_unit_time_sec: *//p' "$log")
  if [ "$rc" = 0 ]; then result=ok; else
    result="FAILED (exit $rc): $(grep -m1 -E 'ERROR|broken promise|Timeout|out-of-memory' "$log" | cut -c1-120)"
    failed=1
    grep -E 'Test unit written|^artifact_prefix' "$log" | sed 's/^/    /'
  fi
  table="$table$(printf '%-6s %11s %8s %6s %7s %12s %6ss %6ss  %s' "$r" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "${slow:-?}" "$((t1 - t0))" "$result")
"
done
printf '%-6s %11s %8s %6s %7s %12s %7s %7s  %s\n' reader execs exec/s cov ft corpus slowest wall result
printf '%s' "$table"
[ "$failed" = 0 ] || { echo "fuzz: FAILED (inputs in build/fuzz/crashes/)"; exit 1; }
echo "fuzz: all readers passed"
