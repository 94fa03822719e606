#!/bin/sh
# run.sh — gnf fit-many on a real Slurm: starts munged, slurmctld and slurmd on localhost with a
# throw-away configuration (tests/slurm/slurm.conf.in, everything in a temporary folder, free
# ports), submits the documented sbatch example (docs/examples/fit_many.sbatch) as a job array
# over a manifest of images and a mesh, waits, checks every task's exit, every model and the
# report; then runs a second batch, cancels one array task in the middle of a fit (scancel),
# submits the same array again and checks that the batch completes without refitting what was
# done.  It stops the daemons it started and removes its folder, whatever happens.
# usage: tests/slurm/run.sh path/to/gnf     (one line per check, then "N passed, N failed, N skipped")
# SKIPPED unless run as root with slurmctld, slurmd, munged, sbatch, squeue, scancel, scontrol and
# sinfo installed (Debian: slurmctld slurmd slurm-client munge; tools/setup.sh installs them).
cd "$(dirname "$0")/../.." || exit 1
GNF=${1:-build/release/gnf}
case $GNF in /*) ;; *) GNF=$(pwd)/$GNF ;; esac
ROOT=$(pwd)
DATA=${GNF_DATA:-../shared/data}
pass=0; fail=0; skipped=0
ok()   { pass=$((pass+1)); echo "ok    slurm: $1"; }
bad()  { fail=$((fail+1)); echo "FAIL  slurm: $1"; }
skip() { skipped=$((skipped+1)); echo "skip  slurm: $1"; }
finish() { echo "$pass passed, $fail failed, $skipped skipped"; [ "$fail" = 0 ]; exit $?; }

missing=
for c in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo; do
  command -v $c >/dev/null 2>&1 || [ -x /usr/sbin/$c ] || missing="$missing $c"
done
if [ "$(id -u)" != 0 ]; then skip "SKIPPED: the throw-away cluster needs root (slurmd runs jobs as their user)"; finish; fi
if [ -n "$missing" ]; then skip "SKIPPED: not installed:$missing (Debian: slurmctld slurmd slurm-client munge)"; finish; fi
if [ ! -x "$GNF" ]; then bad "no gnf binary at $GNF"; finish; fi
PATH=$PATH:/usr/sbin:/sbin

T=$(mktemp -d /tmp/gnf_slurm_XXXXXX)
chmod 755 "$T"   # munged wants every folder above its socket searchable by all
PIDS=
stop_daemons() {
  if [ -n "$PIDS" ]; then
    scancel --quiet --user=root 2>/dev/null   # this test's controller only (SLURM_CONF)
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done; kill -9 "$p" 2>/dev/null; done
  fi
}
cleanup() { stop_daemons; PIDS=; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# two free TCP ports for slurmctld and slurmd (not a system Slurm's 6817/6818)
port_used() { grep -qi ":$(printf %04X "$1") " /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
P=26817
while port_used $P || port_used $((P+1)); do P=$((P+2)); [ $P -lt 27817 ] || { bad "no free port pair"; finish; }; done
mkdir -p "$T/munge" "$T/run" "$T/state" "$T/spool" "$T/work"
chmod 700 "$T/munge"
: > "$T/plugstack.conf"
sed -e "s|@DIR@|$T|g" -e "s|@CTLD_PORT@|$P|g" -e "s|@SLURMD_PORT@|$((P+1))|g" tests/slurm/slurm.conf.in > "$T/slurm.conf"
export SLURM_CONF="$T/slurm.conf"
unset SLURM_JOB_ID SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_STEP

# ---- the daemons
dd if=/dev/urandom of="$T/munge/key" bs=1024 count=1 2>/dev/null && chmod 400 "$T/munge/key"
munged -F -S "$T/run/munge.sock" --key-file="$T/munge/key" --log-file="$T/munge/log" --pid-file="$T/munge/pid" \
  --seed-file="$T/munge/seed" >"$T/munged.out" 2>&1 &
PIDS="$!"
i=0; while [ ! -S "$T/run/munge.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
if [ -S "$T/run/munge.sock" ]; then ok "munged started (its own key and socket)"
else bad "munged did not start: $(tail -3 "$T/munged.out")"; finish; fi
slurmctld -D -c -f "$T/slurm.conf" >"$T/slurmctld.out" 2>&1 &
PIDS="$! $PIDS"
slurmd -D -N localhost -f "$T/slurm.conf" >"$T/slurmd.out" 2>&1 &
PIDS="$! $PIDS"
i=0; state=
while [ $i -lt 150 ]; do
  state=$(sinfo -h -N -o %t 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 0.2; i=$((i+1))
done
if [ "$state" = idle ]; then ok "slurmctld and slurmd up, node localhost idle"
else bad "the node is not idle after 30 s (sinfo: '$state'): $(tail -3 "$T/slurmctld.out" "$T/slurmd.out")"; finish; fi

# wait_job JOB: until squeue no longer lists the job (at most 120 s)
wait_job() { i=0; while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done; }
# task_states JOB: "TASK STATE EXITCODE" per array task, sorted
task_states() {
  scontrol -o show job "$1" | sed -n 's/.*ArrayTaskId=\([0-9]*\).*JobState=\([A-Z_]*\).*ExitCode=\([0-9:]*\).*/\1 \2 \3/p' | sort -n | tr '\n' ';'
}
mtimes() { for m in "$@"; do stat -c '%n %Y.%y' "$m" 2>&1; done; }
records() { grep -c "\"output\":\"$2\",\"status\":\"$3\"" "$1"; }
SB=docs/examples/fit_many.sbatch

# ---- a batch of images and a mesh, 3 array tasks
W=$T/work
if [ -f "$DATA/images/kodak/kodim01.png" ]; then
  for k in 01 02 03 04; do cp "$DATA/images/kodak/kodim$k.png" "$W/kodim$k.png"; done
else
  for k in 01 02 03 04; do cp data/kodim23_crop.png "$W/kodim$k.png"; done
  skip "no $DATA/images/kodak: the images are copies of data/kodim23_crop.png"
fi
for k in 01 02 03 04; do printf '{"input": "kodim%s.png", "args": ["--crop", "64x64"]}\n' $k; done > "$W/list.txt"
MODELS="kodim01.png.gnf kodim02.png.gnf kodim03.png.gnf kodim04.png.gnf"
if [ -f "$DATA/meshes/bunny.obj" ]; then
  printf '{"input": "%s", "output": "bunny.gnf", "steps": 30, "params": 100000, "eval": false, "args": ["--samples", "65536"]}\n' \
    "$(cd "$DATA/meshes" && pwd)/bunny.obj" >> "$W/list.txt"
  MODELS="$MODELS bunny.gnf"
else
  skip "no $DATA/meshes/bunny.obj: the batch has no mesh"
fi
NITEMS=$(wc -l < "$W/list.txt")
job=$(GNF=$GNF sbatch --parsable --array=0-2 -c 1 -D "$W" -o "$W/task-%A_%a.out" "$SB" "$W/list.txt" "$W/out" -- --params 20000 --steps 200 2>"$T/sbatch.err")
if [ -n "$job" ]; then ok "sbatch accepted the array job $job (docs/examples/fit_many.sbatch, --array=0-2)"
else bad "sbatch refused the job: $(cat "$T/sbatch.err")"; finish; fi
wait_job "$job"
st=$(task_states "$job")
[ "$st" = "0 COMPLETED 0:0;1 COMPLETED 0:0;2 COMPLETED 0:0;" ] && ok "the 3 array tasks completed with exit 0" || bad "array tasks: $st $(cat "$W"/task-*.out | tail -5)"
n=0
for m in $MODELS; do "$GNF" info "$W/out/$m" >/dev/null 2>&1 && [ "$(records "$W/out/results.jsonl" "$m" ok)" = 1 ] && n=$((n+1)); done
[ $n = "$NITEMS" ] && ok "every item ($NITEMS) has a valid model and one ok record" || bad "$n of $NITEMS items done: $(cat "$W/out/results.jsonl")"
shards=$(sed -n 's/.*"shard":"\([0-9/]*\)".*/\1/p' "$W/out/results.jsonl" | sort -u | tr '\n' ' ')
[ "$shards" = "0/3 1/3 2/3 " ] && ok "each task fitted its share (shards 0/3 1/3 2/3 from the array variables)" || bad "shards: $shards"
grep -q "\"slurm_job\":\"${job}_[0-2]\"" "$W/out/results.jsonl" && ok "records name the array task" || bad "no slurm_job in $(head -1 "$W/out/results.jsonl")"
"$GNF" report "$W/out" >"$T/report" 2>&1
grep -q "^$NITEMS items: $NITEMS done ($NITEMS fitted ok, 0 skipped as already done), 0 failed, 0 interrupted, 0 not run yet" "$T/report" &&
  grep -q "^image (PSNR dB, 4 models): mean" "$T/report" && ok "gnf report: all done, the PSNR summary of the 4 images" || bad "report: $(cat "$T/report")"

# ---- a second batch: one task cancelled in the middle of a fit, then the same array again
W2=$T/work2
mkdir -p "$W2"
cp "$W"/kodim0[1-4].png "$W2/"
{ printf '{"input": "kodim01.png", "args": ["--crop", "64x64"]}\n{"input": "kodim02.png", "args": ["--crop", "64x64"]}\n'
  # the item's own "steps" comes after the common --steps 200, so this fit lasts its 8 s (a
  # 200-step fit of a 64x64 crop ends in well under the 1 s the test waits before scancel)
  printf '{"input": "kodim03.png", "output": "long.gnf", "seconds": 8, "steps": 100000000, "args": ["--crop", "64x64"]}\n'
  printf '{"input": "kodim04.png", "args": ["--crop", "64x64"]}\n'; } > "$W2/list.txt"
submit2() { GNF=$GNF sbatch --parsable --array=0-1 -c 1 -D "$W2" -o "$W2/task-%A_%a.out" "$SB" "$W2/list.txt" "$W2/out" -- --params 20000 --steps 200; }
job=$(submit2)
i=0; while ! grep -q '^model:' "$W2/out/logs/long.log" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
sleep 1
if grep -q '^model:' "$W2/out/logs/long.log" 2>/dev/null; then ok "task 0 is fitting its second item (long.gnf)"; else bad "long.gnf never started: $(cat "$W2"/task-*.out)"; fi
scancel "${job}_0"
wait_job "$job"
st=$(task_states "$job")
case $st in "0 CANCELLED "*) ok "scancel: task 0 cancelled ($st)";; *) bad "after scancel: $st";; esac
R=$W2/out/results.jsonl
[ "$(records "$R" long.gnf interrupted)" = 1 ] && ok "the cancelled fit is recorded as interrupted" || bad "no interrupted record: $(cat "$R")"
[ "$(records "$R" kodim01.png.gnf ok)" = 1 ] && ok "the item task 0 finished before is recorded ok" || bad "kodim01 not ok: $(cat "$R")"
grep -q "terminated (SIGTERM); run the same command again to resume" "$W2"/task-"${job}"_0.out && ok "the task's output says how to resume" || bad "task 0 output: $(cat "$W2"/task-"${job}"_0.out)"
DONE="$W2/out/kodim01.png.gnf $W2/out/kodim02.png.gnf $W2/out/kodim04.png.gnf"
mtimes $DONE > "$T/mt0"
job2=$(submit2)
wait_job "$job2"
st=$(task_states "$job2")
[ "$st" = "0 COMPLETED 0:0;1 COMPLETED 0:0;" ] && ok "the resubmitted array completed with exit 0" || bad "resubmitted tasks: $st"
n=0
for m in kodim01.png.gnf kodim02.png.gnf kodim04.png.gnf; do
  [ "$(records "$R" $m ok)" = 1 ] && [ "$(records "$R" $m skipped)" = 1 ] && n=$((n+1))
done
[ $n = 3 ] && ok "the 3 items done before were skipped, never fitted twice" || bad "refitted or not skipped: $(cat "$R")"
mtimes $DONE > "$T/mt1"
cmp -s "$T/mt0" "$T/mt1" && ok "their models are untouched (same mtimes)" || bad "models rewritten: $(diff "$T/mt0" "$T/mt1")"
[ "$(records "$R" long.gnf ok)" = 1 ] && "$GNF" info "$W2/out/long.gnf" >"$T/info" 2>&1 && ! grep -q interrupted "$T/info" &&
  ok "the interrupted item is fitted again, complete" || bad "long.gnf: $(tail -2 "$R")"
"$GNF" report "$W2/out" >"$T/report" 2>&1
grep -q "^4 items: 4 done (1 fitted ok, 3 skipped as already done), 0 failed, 0 interrupted, 0 not run yet" "$T/report" &&
  ok "gnf report: the batch is complete" || bad "report: $(cat "$T/report")"

# ---- the daemons this test started are stopped
stop_daemons
alive=
for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
PIDS=
[ -z "$alive" ] && ok "munged, slurmctld and slurmd stopped" || bad "still running:$alive"
finish
