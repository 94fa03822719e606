#!/bin/sh
# run_all.sh — every test: unit tests (release build, then the scalar fallback, then ASan+UBSan),
# then the CLI tests.  Ends with one summary line: "N passed, N failed, N skipped".
cd "$(dirname "$0")/.." || exit 1
P=0; F=0; S=0
run() {
  echo "== $1"
  shift
  out=$("$@" 2>&1); rc=$?
  printf '%s\n' "$out" | grep -v '^[0-9]* passed'
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed' | tail -1)
  p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
  s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
  P=$((P + ${p:-0})); F=$((F + ${f:-0})); S=$((S + ${s:-0}))
  if [ -z "$line" ] || { [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; }; then F=$((F + 1)); echo "FAIL  $* exited $rc without a summary"; fi
}
run "unit tests (release, fastest kernels)" build/release/gnf_tests
run "gradient checks with the scalar kernels chosen at run time (GNF_SCALAR=1)" env GNF_SCALAR=1 build/release/gnf_tests grad
run "field and training tests of the build without AVX2 kernels (make scalar)" build/scalar/gnf_tests grad grid adam rbf fit_ render model_
run "unit tests (ASan + UBSan)" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/gnf_tests
run "CLI tests (release)" sh tests/cli.sh build/release/gnf
run "real-capture scenes on the CLI: transforms.json alone, box keys, --path without pictures (release)" sh tests/capture_cli.sh build/release/gnf
run "data-parallel fit over MPI, 2 ranks on localhost (make mpi; SKIPPED without Open MPI)" sh tests/mpi/run.sh build/mpi/gnf build/release/gnf
run "Python package over libgnf.so (pytest; skipped without python3-numpy and python3-pytest)" sh tests/python/run.sh
run "browser viewer tests (headless chromium, WebGL2 on SwiftShader; SKIPPED without chromium or node)" sh tests/browser/run.sh build/release/gnf
run "batch fitting: gnf fit-many and gnf report (release)" sh tests/fit_many.sh build/release/gnf
run "batch fitting on a throw-away Slurm cluster (root, slurmctld/slurmd/munge; else skipped)" sh tests/slurm/run.sh build/release/gnf
echo "$P passed, $F failed, $S skipped"
[ "$F" = 0 ]
