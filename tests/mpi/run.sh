#!/bin/sh
# tests/mpi/run.sh — data-parallel `gnf fit` over MPI on localhost (docs/CLUSTER.md): the MPI
# build (build/mpi/gnf, `make mpi`) under `mpirun -np 2` against the single-process release build.
#   - a build without MPI started as one of 2 ranks refuses (no copies trained side by side)
#   - -np 1 writes the same bytes as the release build (the hook is neutral)
#   - -np 2 is deterministic (two runs, identical bytes: images, SDFs, radiance fields) and records
#     gnf.train.ranks
#   - quality at the same global batch and steps as one process: image PSNR, SDF held-out IoU,
#     radiance-field held-out PSNR
#   - the parameters are checked identical across ranks: a rank perturbed on purpose
#     (GNF_MPI_TEST_DESYNC=1) fails the job with a clear error and no model
#   - Ctrl-C: SIGINT to mpirun, and SIGTERM to rank 1 alone, stop every rank at the same step and
#     rank 0 saves the model marked interrupted
#   - stopping rules agreed: --seconds, --target-psnr
#   - checkpoints at 2 ranks: interrupted and resumed = uninterrupted bytes; one process refuses them
# usage: sh tests/mpi/run.sh [build/mpi/gnf [build/release/gnf]]
# Prints one line per check and "N passed, N failed, N skipped"; everything is SKIPPED when
# mpirun or the MPI build is missing, the SDF and radiance-field checks when ../shared/data is.
cd "$(dirname "$0")/../.." || exit 1
GNF=${1:-build/mpi/gnf}
REL=${2:-build/release/gnf}
DATA=${GNF_DATA:-../shared/data}
IMG=data/kodim23_crop.png
T=$(mktemp -d /tmp/gnf_mpi_XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0; skipped=0
ok()   { pass=$((pass+1)); echo "ok    mpi: $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  mpi: $1"; }
skip() { skipped=$((skipped+1)); echo "skip  mpi: $1"; }
NCHECKS=21   # every check below, for the all-skipped summary

if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$GNF" ] || [ ! -x "$REL" ]; then
  echo "SKIPPED mpi: needs mpirun (Debian openmpi-bin), $GNF (make mpi: mpicc from libopenmpi-dev) and $REL"
  echo "0 passed, 0 failed, $NCHECKS skipped"
  exit 0
fi
# as root (CI) Open MPI wants --allow-run-as-root; 2 ranks on a machine with fewer cores want
# --oversubscribe.  The signal checks (MPIRUN_SIG) give the ranks more than the 1 s mpirun leaves
# between its SIGTERM and SIGKILL (odls_base_sigkill_timeout); the other checks keep the default,
# which also bounds how long mpirun takes to end a job that failed.
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
MPIRUN_SIG="$MPIRUN --mca odls_base_sigkill_timeout 30"
run2() { timeout 300 $MPIRUN -np 2 "$GNF" "$@"; }

# meta FILE KEY: a metadata value of a model (gnf info prints "  KEY = VALUE")
meta() { "$REL" info "$1" | sed -n "s/^ *$2 = //p"; }
psnr() { "$REL" eval "$1" "$2" --json | sed -n 's/.*"psnr": *\([0-9.]*\).*/\1/p'; }
# the summary line's "held-out IoU X" / "held-out PSNR X dB"
heldout() { sed -n 's/.*held-out [A-Za-z]* \([0-9.]*\).*/\1/p' "$1" | tail -1; }
# close A B TOL: |A - B| <= TOL
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t) }'; }

# 1. a build without MPI refuses to be one of several ranks
timeout 60 $MPIRUN -np 2 "$REL" fit "$IMG" --steps 5 -o "$T/norank.gnf" >"$T/out" 2>"$T/err"; rc=$?
if [ "$rc" != 0 ] && grep -q "built without MPI" "$T/err" && [ ! -e "$T/norank.gnf" ]; then ok "the build without MPI refuses 2 ranks (exit $rc)"
else bad "the build without MPI under 2 ranks: exit $rc, no refusal: $(head -c 300 "$T/err")"; fi

# 2. one rank: the hook is neutral (and the lazy Adam's dense loop gives the walk's bits)
"$REL" fit "$IMG" --steps 200 --threads 2 -o "$T/rel.gnf" --quiet >/dev/null 2>"$T/err"
timeout 120 $MPIRUN -np 1 "$GNF" fit "$IMG" --steps 200 --threads 2 -o "$T/np1.gnf" --quiet >/dev/null 2>>"$T/err"
if cmp -s "$T/rel.gnf" "$T/np1.gnf"; then ok "image: -np 1 writes the release build's bytes"
else bad "image: -np 1 differs from the release build: $(head -c 300 "$T/err")"; fi

# 3. image: deterministic at 2 ranks, the ranks recorded, quality as one process (same batch, steps)
"$REL" fit "$IMG" --steps 600 --threads 2 -o "$T/img1.gnf" --quiet >/dev/null 2>"$T/err"
run2 fit "$IMG" --steps 600 --threads 1 -o "$T/img2a.gnf" >"$T/out" 2>"$T/err2"; rc=$?
run2 fit "$IMG" --steps 600 --threads 1 -o "$T/img2b.gnf" --quiet >/dev/null 2>>"$T/err2"
if [ "$rc" = 0 ] && cmp -s "$T/img2a.gnf" "$T/img2b.gnf"; then ok "image: two runs at 2 ranks write identical bytes"
else bad "image: 2-rank runs differ or failed (exit $rc): $(head -c 300 "$T/err2")"; fi
if [ "$(meta "$T/img2a.gnf" gnf.train.ranks)" = 2 ] && [ -z "$(meta "$T/img1.gnf" gnf.train.ranks)" ]; then ok "image: gnf.train.ranks = 2 recorded"
else bad "image: gnf.train.ranks is '$(meta "$T/img2a.gnf" gnf.train.ranks)'"; fi
if grep -q "^mpi: 2 ranks; gradient exchange 120001 floats" "$T/err2"; then ok "image: rank 0 reports the gradient exchange"
else bad "image: no 'mpi: 2 ranks; gradient exchange' line: $(head -c 300 "$T/err2")"; fi
if [ "$(grep -c "^fitting " "$T/err2")" = 1 ]; then ok "image: only rank 0 prints progress"
else bad "image: $(grep -c "^fitting " "$T/err2") ranks printed progress"; fi
p1=$(psnr "$T/img1.gnf" "$IMG"); p2=$(psnr "$T/img2a.gnf" "$IMG")
if close "$p1" "$p2" 0.3; then ok "image: PSNR at 2 ranks $p2 dB, one process $p1 dB (within 0.3 dB)"
else bad "image: PSNR at 2 ranks '$p2' dB vs one process '$p1' dB (more than 0.3 dB apart)"; fi
if [ "$(ls "$T" | grep -c '^img2a')" = 1 ]; then ok "image: one model file, no other output"
else bad "image: files: $(ls "$T" | tr '\n' ' ')"; fi

# 4. the ranks' parameters are compared: a perturbed rank fails the job, no model is written
GNF_MPI_TEST_DESYNC=1 run2 fit "$IMG" --steps 30 --threads 1 -o "$T/desync.gnf" >/dev/null 2>"$T/err"; rc=$?
if [ "$rc" != 0 ] && grep -q "differ from rank 0" "$T/err" && [ ! -e "$T/desync.gnf" ]; then ok "ranks that disagree fail the job (exit $rc), no model"
else bad "a desynchronised rank: exit $rc, model $(ls "$T/desync.gnf" 2>/dev/null): $(head -c 300 "$T/err")"; fi

# 4a. rank 0 cannot write the model: the whole job fails with the error naming the file
run2 fit "$IMG" --steps 5 --threads 1 -o "$T/missing/dir/m.gnf" >/dev/null 2>"$T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "$T/missing/dir/m.gnf" "$T/err"; then ok "an unwritable output: the job fails (exit 1) naming the file"
else bad "an unwritable output: exit $rc: $(head -c 300 "$T/err")"; fi

# 4b. stopping rules decided together: a time budget (rank 0's clock) and a quality target
run2 fit "$IMG" --seconds 4 --threads 1 -o "$T/sec.gnf" --quiet >/dev/null 2>"$T/err"; rc=$?
if [ "$rc" = 0 ] && [ "$(meta "$T/sec.gnf" gnf.train.stop)" = seconds ]; then ok "--seconds 4 at 2 ranks: every rank stopped by the time budget"
else bad "--seconds 4 at 2 ranks: exit $rc, stop '$(meta "$T/sec.gnf" gnf.train.stop)': $(head -c 300 "$T/err")"; fi
run2 fit "$IMG" --steps 5000 --target-psnr 30 --threads 1 -o "$T/tgt.gnf" --quiet >/dev/null 2>"$T/err"; rc=$?
if [ "$rc" = 0 ] && [ "$(meta "$T/tgt.gnf" gnf.train.stop)" = target ]; then ok "--target-psnr 30 at 2 ranks: every rank stopped at the target"
else bad "--target-psnr 30 at 2 ranks: exit $rc, stop '$(meta "$T/tgt.gnf" gnf.train.stop)': $(head -c 300 "$T/err")"; fi

# 5. checkpoints: rank 0 writes them; SIGTERM to the ranks leaves one, and 2 ranks resuming it end with
#    the bytes of the run never interrupted; one process may not continue a 2-rank checkpoint
# a small model and many steps, interrupted once rank 0 has written its first timed checkpoint
# (so training is under way, whatever the machine's speed)
CK="--steps 8000 --batch 4096 --crop 64x64 --params 6000 --threads 1"
run2 fit "$IMG" $CK -o "$T/full.gnf" --quiet >/dev/null 2>"$T/err"
$MPIRUN -np 2 "$GNF" fit "$IMG" $CK --checkpoint-every 0.3 -o "$T/ck.gnf" >"$T/out" 2>"$T/err" &
P=$!
i=0; while [ $i -lt 1200 ] && [ ! -e "$T/ck.gnf.ckpt" ] && kill -0 $P 2>/dev/null; do sleep 0.05; i=$((i+1)); done
# SIGTERM to the ranks themselves, as a batch system cancels a job (mpirun may pass a SIGINT on
# only seconds later: docs/CLUSTER.md)
for c in $(pgrep -P $P); do kill -TERM "$c"; done
wait $P
cp "$T/ck.gnf.ckpt" "$T/copy.ckpt" 2>/dev/null
run2 fit --resume "$T/ck.gnf.ckpt" --quiet >/dev/null 2>>"$T/err"; rc=$?
if [ "$rc" = 0 ] && [ -s "$T/copy.ckpt" ] && cmp -s "$T/full.gnf" "$T/ck.gnf" && [ ! -e "$T/ck.gnf.ckpt" ]; then
  ok "2 ranks: interrupted at step $(meta "$T/copy.ckpt" gnf.ckpt.step), resumed: the uninterrupted run's bytes"
else bad "2 ranks: checkpoint and resume (exit $rc): $(tail -c 300 "$T/err")"; fi
"$REL" fit --resume "$T/copy.ckpt" -o "$T/one.gnf" --quiet >/dev/null 2>"$T/err"; rc=$?
if [ "$rc" = 1 ] && grep -q "data-parallel ranks" "$T/err" && [ ! -e "$T/one.gnf" ]; then ok "one process refuses a 2-rank checkpoint"
else bad "one process resuming a 2-rank checkpoint: exit $rc: $(head -c 300 "$T/err")"; fi

# 6. interruption.  SIGINT to mpirun: it sends SIGTERM to every rank; they stop together and rank
#    0 saves.  SIGTERM to rank 1 alone: its stop is agreed through the step boundary's sum.
# wait_started FILE: until rank 0 has printed its training plan ("stopping at:", at most 60 s),
# then 2 s more: every rank is training (a signal while loading ends a command at once)
wait_started() { i=0; while [ $i -lt 600 ] && ! grep -q "stopping at" "$1" 2>/dev/null; do sleep 0.1; i=$((i+1)); done; sleep 2; }
$MPIRUN_SIG -np 2 "$GNF" fit "$IMG" --steps 1000000 --threads 1 -o "$T/int.gnf" >"$T/out" 2>"$T/err" &
P=$!
wait_started "$T/err"; kill -INT $P; wait $P; rc=$?
if [ -s "$T/int.gnf" ] && [ "$(meta "$T/int.gnf" gnf.train.interrupted)" = SIGTERM ] && [ -n "$(meta "$T/int.gnf" gnf.train.stopped_step)" ]; then
  ok "SIGINT to mpirun: every rank stopped, rank 0 saved the model at step $(meta "$T/int.gnf" gnf.train.stopped_step) (mpirun exit $rc)"
else bad "SIGINT to mpirun (exit $rc): no interrupted model: $(tail -c 300 "$T/err")"; fi
$MPIRUN_SIG -np 2 "$GNF" fit "$IMG" --steps 1000000 --threads 1 -o "$T/int1.gnf" >"$T/out" 2>"$T/err" &
P=$!
wait_started "$T/err"
r1=; kids=
for c in $(pgrep -P $P); do
  kids="$kids $c"
  tr '\0' '\n' < /proc/$c/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && r1=$c
done
if [ -n "$r1" ]; then
  kill -TERM "$r1"
  ( sleep 120; kill -KILL $P 2>/dev/null ) & W=$!
  wait $P; rc=$?
  kill $W 2>/dev/null
  if [ -s "$T/int1.gnf" ] && [ -n "$(meta "$T/int1.gnf" gnf.train.stopped_step)" ] && grep -q "interrupted (SIGTERM) at step" "$T/err"; then
    ok "SIGTERM to rank 1 alone: both ranks stopped at step $(meta "$T/int1.gnf" gnf.train.stopped_step), rank 0 saved (mpirun exit $rc)"
  else bad "SIGTERM to rank 1 (mpirun exit $rc): $(tail -c 300 "$T/err")"; fi
else
  kill -INT $P; wait $P
  bad "SIGTERM to rank 1: no rank-1 process among mpirun $P's children ($kids): $(tail -c 300 "$T/err")"
fi

# 7. SDF and radiance field from the shared data: determinism and quality as one process
if [ -f "$DATA/meshes/bunny.obj" ]; then
  M="$DATA/meshes/bunny.obj"
  A="--steps 200 --samples 262144"
  "$REL" fit "$M" $A --threads 2 -o "$T/sdf1.gnf" >"$T/s1" 2>/dev/null
  run2 fit "$M" $A --threads 1 -o "$T/sdf2a.gnf" --quiet >"$T/s2" 2>"$T/err"
  run2 fit "$M" $A --threads 1 -o "$T/sdf2b.gnf" --quiet >/dev/null 2>>"$T/err"
  if [ -s "$T/sdf2a.gnf" ] && cmp -s "$T/sdf2a.gnf" "$T/sdf2b.gnf"; then ok "sdf: two runs at 2 ranks write identical bytes"
  else bad "sdf: 2-rank runs differ or failed: $(head -c 300 "$T/err")"; fi
  timeout 300 $MPIRUN -np 1 "$GNF" fit "$M" $A --threads 2 -o "$T/sdf_np1.gnf" --quiet >/dev/null 2>>"$T/err"
  if cmp -s "$T/sdf1.gnf" "$T/sdf_np1.gnf"; then ok "sdf: -np 1 writes the release build's bytes (lazy Adam's dense loop)"
  else bad "sdf: -np 1 differs from the release build: $(head -c 300 "$T/err")"; fi
  i1=$(heldout "$T/s1"); i2=$(heldout "$T/s2")
  if close "$i1" "$i2" 0.005; then ok "sdf: held-out IoU at 2 ranks $i2, one process $i1 (within 0.005)"
  else bad "sdf: held-out IoU at 2 ranks '$i2' vs one process '$i1'"; fi
else
  skip "sdf determinism (no $DATA/meshes/bunny.obj)"; skip "sdf -np 1 (no data)"; skip "sdf quality (no data)"
fi
if [ -f "$DATA/nerf/lego_400/transforms_train.json" ]; then
  S="$DATA/nerf/lego_400"
  A="--downscale 8 --steps 100"
  "$REL" fit "$S" $A --threads 2 -o "$T/nerf1.gnf" >"$T/n1" 2>/dev/null
  run2 fit "$S" $A --threads 1 -o "$T/nerf2a.gnf" --quiet >"$T/n2" 2>"$T/err"
  run2 fit "$S" $A --threads 1 -o "$T/nerf2b.gnf" --quiet >/dev/null 2>>"$T/err"
  if [ -s "$T/nerf2a.gnf" ] && cmp -s "$T/nerf2a.gnf" "$T/nerf2b.gnf"; then ok "nerf: two runs at 2 ranks write identical bytes"
  else bad "nerf: 2-rank runs differ or failed: $(head -c 300 "$T/err")"; fi
  q1=$(heldout "$T/n1"); q2=$(heldout "$T/n2")
  if close "$q1" "$q2" 0.3; then ok "nerf: held-out PSNR at 2 ranks $q2 dB, one process $q1 dB (within 0.3 dB)"
  else bad "nerf: held-out PSNR at 2 ranks '$q2' vs one process '$q1'"; fi
else
  skip "nerf determinism (no $DATA/nerf/lego_400)"; skip "nerf quality (no data)"
fi

echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
