#!/bin/sh
# torch_vs_gnf.sh — gnf against the same model and recipe in PyTorch (bench/torch_gnf.py), run
# alternately on this machine (gnf, torch, gnf, torch, ...; RUNS of each, medians reported).
#   sh bench/torch_vs_gnf.sh           all three parts below
#   sh bench/torch_vs_gnf.sh image     the image: data/kodim23_crop.png, --params 140000 (137,721
#                                      parameters), IMAGE_SECONDS each: points/s, PSNR, time to TARGETS
#   sh bench/torch_vs_gnf.sh sdf       the SDF: armadillo, SDF_SECONDS each: points/s, IoU
#   sh bench/torch_vs_gnf.sh steps     do both learn alike per step?  One fit each with the same
#                                      step count (IMAGE_STEPS, SDF_STEPS), quality only
# Environment: RUNS (3), IMAGE_SECONDS (30), TARGETS ("35 40" dB), SDF_SECONDS (60), IMAGE_STEPS
#   (2000), SDF_STEPS (300), THREADS (2), IDLE_WAIT (600 s), PYTHON (/usr/bin/python3), GNF_BIN
#   (build/release/gnf), GNF_DATA (../shared/data).
# Per pair both sides get the same training time: gnf fits with --seconds S (whole command), then
# PyTorch trains for the training seconds that gnf run reported.  Both trained models are measured
# by `gnf eval` (PyTorch's is written as a .gnf file).  Before each fit the script waits (up to
# IDLE_WAIT seconds) for the CPUs to be 90% idle, and it records the share of the CPUs other
# processes used during each fit ("others %"): on these shared machines a busy neighbour slows
# PyTorch's two OpenMP threads far more than gnf (every torch op ends in a barrier).
# Needs PyTorch from Debian (python3-torch); without it this script says so and exits 0.  Not part
# of `make test`.  Writes bench/results/torch_vs_gnf.md and prints its summary.
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import torch, numpy, PIL" 2>/dev/null; then
  echo "torch_vs_gnf: skipped: PyTorch, NumPy or PIL is missing for $PY." >&2
  echo "  Debian: apt-get install python3-torch python3-numpy python3-pil libopenblas0-openmp" >&2
  exit 0
fi
GNF=${GNF_BIN:-build/release/gnf}
DATA=${GNF_DATA:-../shared/data}
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
IS=${IMAGE_SECONDS:-30}
SS=${SDF_SECONDS:-60}
TARGETS=${TARGETS:-35 40}
ISTEPS=${IMAGE_STEPS:-2000}
SSTEPS=${SDF_STEPS:-300}
WHAT=${1:-all}
R=bench/results
OUT=$R/torch_vs_gnf.md
mkdir -p "$R"
make --no-print-directory release > /dev/null && make --no-print-directory VARIANT=release build/release/gnf_sdf_pool > /dev/null || exit 1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
REC=$T/records.jsonl
: > "$REC"
HZ=$(getconf CLK_TCK)

num() { sed -n "s|.*$1.*|\1|p"; }   # the first group of the pattern $1 in stdin
# gnf eval --json as strict JSON (a Chamfer distance without an extracted mesh prints as inf)
evaljson() { $GNF eval "$@" --json | sed 's/: *-*inf/: null/g; s/: *-*nan/: null/g'; }
# busy and total CPU time of the whole machine so far (jiffies, all CPUs)
cpu_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# waits until the CPUs are at least 90% idle over 3 s (at most IDLE_WAIT seconds)
wait_idle() {
  w=0
  while [ "$w" -lt "${IDLE_WAIT:-600}" ]; do
    a=$(cpu_jiffies); sleep 3; b=$(cpu_jiffies)
    [ "$(echo "$a $b" | awk '{ printf "%d", 100 - 100 * ($3 - $1) / ($4 - $2 + 1e-9) }')" -ge 90 ] && return 0
    w=$((w + 3))
  done
  echo "torch_vs_gnf: the CPUs stayed busy for ${IDLE_WAIT:-600} s; running anyway" >&2
}
# runs "$@" (stdout to $T/out) after wait_idle; OTHERS: % of all CPU time other processes used meanwhile
measured() {
  wait_idle
  a=$(cpu_jiffies)
  /usr/bin/time -f "%U %S" -o "$T/time" "$@" > "$T/out" || return 1
  b=$(cpu_jiffies)
  OTHERS=$(echo "$a $b $(tail -1 "$T/time")" | awk -v hz="$HZ" '{ o = (($3 - $1) - ($5 + $6) * hz) / ($4 - $2 + 1e-9); printf "%.0f", (o > 0 ? 100 * o : 0) }')
}
# the numbers of a `gnf fit` summary line in $T/out: steps, training seconds, points/s
fit_numbers() {
  steps=$(num ' after \([0-9]*\) steps' < "$T/out")
  secs=$(num ' \([0-9.]*\) s training' < "$T/out")
  pps=$(num '(\([0-9.]*\) Mpt/s)' < "$T/out" | awk '{ print $1 * 1e6 }')
}

host="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
stamp="$(date -u +%Y-%m-%dT%H:%MZ) $(git rev-parse --short HEAD 2>/dev/null)"
wait_idle
{
  echo "# gnf vs PyTorch, side by side ($stamp)"
  echo
  echo "- machine: $host; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- $(build/release/gnf_bench --reps 3 2>/dev/null | grep -m1 'measured FP32')"
  echo "- PyTorch $("$PY" -c 'import torch; print(torch.__version__)'), torch.set_num_threads($THREADS); gnf --threads $THREADS"
  echo "- $RUNS runs of each, alternating gnf / PyTorch; medians; \"others\": share of the CPUs other processes used during a fit"
} > "$T/head.md"

crop=data/kodim23_crop.png
mesh=$DATA/meshes/armadillo.obj
[ -f "$mesh" ] || { echo "torch_vs_gnf: $mesh not found" >&2; exit 1; }
pool=$(awk -v s="$SS" 'BEGIN { print s <= 10 ? 524288 : s <= 30 ? 1048576 : 2097152 }')   # gnf's recipe
# templates: the architecture gnf's recipe picks, read by torch_gnf.py
$GNF fit $crop --params 140000 --steps 1 -o "$T/tmpl_img.gnf" --quiet > /dev/null || exit 1
$GNF fit "$mesh" --steps 1 --samples 1024 -o "$T/tmpl_sdf.gnf" --quiet > /dev/null || exit 1

if [ "$WHAT" = all ] || [ "$WHAT" = image ]; then
  tg=$(echo "$TARGETS" | tr ' ' ',')
  for r in $(seq 1 "$RUNS"); do
    measured $GNF fit $crop --params 140000 --seconds "$IS" --threads "$THREADS" -o "$T/g.gnf" --quiet || exit 1
    fit_numbers
    others=$OTHERS
    psnr=$($GNF eval "$T/g.gnf" $crop --json | num '"psnr": \([0-9.]*\)')
    # time to each target: the same schedule (--steps of the timed fit), checked every 10 steps as
    # on the PyTorch side; steps to the target times the timed fit's seconds per step (so the
    # checks are not counted, as on the PyTorch side)
    tt=""
    for target in $TARGETS; do
      key=$(awk -v t="$target" 'BEGIN { printf "%g", t }')
      $GNF fit $crop --params 140000 --steps "$steps" --target-psnr "$target" --eval-every 10 --threads "$THREADS" \
        -o "$T/gt.gnf" --quiet > "$T/tfit.txt" || exit 1
      if grep -q "stopped by target" "$T/tfit.txt"; then
        k=$(num ' after \([0-9]*\) steps' < "$T/tfit.txt")
        tt="$tt\"$key\": {\"step\": $k, \"seconds\": $(awk -v k="$k" -v n="$steps" -v s="$secs" 'BEGIN { printf "%.3f", k * s / n }')}, "
      else
        tt="$tt\"$key\": null, "
      fi
    done
    echo "{\"impl\": \"gnf\", \"task\": \"image\", \"run\": $r, \"others_pct\": $others, \"steps\": $steps, \"train_seconds\": $secs, \"points_per_s\": $pps, \"psnr\": $psnr, \"targets\": {${tt%, }}}" >> "$REC"
    tail -1 "$REC"
    measured "$PY" bench/torch_gnf.py fit "$T/tmpl_img.gnf" $crop --seconds "$secs" --targets "$tg" --eval-every 10 \
      --threads "$THREADS" -o "$T/t.gnf" || exit 1
    tpsnr=$($GNF eval "$T/t.gnf" $crop --json | num '"psnr": \([0-9.]*\)')
    sed "s/^{/{\"run\": $r, \"others_pct\": $OTHERS, \"gnf_eval_psnr\": $tpsnr, /" "$T/out" >> "$REC"
    tail -1 "$REC" | cut -c1-300
  done
fi

if [ "$WHAT" = all ] || [ "$WHAT" = sdf ]; then
  build/release/gnf_sdf_pool "$mesh" "$T/pool.st" --samples "$pool" > /dev/null || exit 1
  for r in $(seq 1 "$RUNS"); do
    measured $GNF fit "$mesh" --seconds "$SS" --samples "$pool" --threads "$THREADS" -o "$T/g.gnf" --quiet || exit 1
    fit_numbers
    others=$OTHERS
    echo "{\"impl\": \"gnf\", \"task\": \"sdf\", \"run\": $r, \"others_pct\": $others, \"steps\": $steps, \"train_seconds\": $secs, \"points_per_s\": $pps, \"eval\": $(evaljson "$T/g.gnf" "$mesh" --mc-res 128)}" >> "$REC"
    tail -1 "$REC" | cut -c1-300
    measured "$PY" bench/torch_gnf.py fit "$T/tmpl_sdf.gnf" "$T/pool.st" --seconds "$secs" --threads "$THREADS" -o "$T/t.gnf" || exit 1
    sed "s/^{/{\"run\": $r, \"others_pct\": $OTHERS, \"eval\": $(evaljson "$T/t.gnf" "$mesh" --mc-res 128), /" "$T/out" >> "$REC"
    tail -1 "$REC" | cut -c1-300
  done
fi

if [ "$WHAT" = all ] || [ "$WHAT" = steps ]; then
  $GNF fit $crop --params 140000 --steps "$ISTEPS" --threads "$THREADS" -o "$T/g.gnf" --quiet > /dev/null || exit 1
  echo "{\"impl\": \"gnf\", \"task\": \"image-steps\", \"steps\": $ISTEPS, \"eval\": $(evaljson "$T/g.gnf" $crop)}" >> "$REC"
  "$PY" bench/torch_gnf.py fit "$T/tmpl_img.gnf" $crop --steps "$ISTEPS" --threads "$THREADS" -o "$T/t.gnf" > "$T/t.json" || exit 1
  sed "s/^{/{\"eval\": $(evaljson "$T/t.gnf" $crop), /; s/\"task\": \"image\"/\"task\": \"image-steps\"/" "$T/t.json" >> "$REC"
  [ -f "$T/pool.st" ] || build/release/gnf_sdf_pool "$mesh" "$T/pool.st" --samples "$pool" > /dev/null || exit 1
  $GNF fit "$mesh" --steps "$SSTEPS" --samples "$pool" --threads "$THREADS" -o "$T/g.gnf" --quiet > /dev/null || exit 1
  echo "{\"impl\": \"gnf\", \"task\": \"sdf-steps\", \"steps\": $SSTEPS, \"eval\": $(evaljson "$T/g.gnf" "$mesh" --mc-res 128)}" >> "$REC"
  "$PY" bench/torch_gnf.py fit "$T/tmpl_sdf.gnf" "$T/pool.st" --steps "$SSTEPS" --threads "$THREADS" -o "$T/t.gnf" > "$T/t.json" || exit 1
  sed "s/^{/{\"eval\": $(evaljson "$T/t.gnf" "$mesh" --mc-res 128), /; s/\"task\": \"sdf\"/\"task\": \"sdf-steps\"/" "$T/t.json" >> "$REC"
  grep -- '-steps"' "$REC" | cut -c1-200
fi

echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$T/head.md"
"$PY" - "$REC" "$IS" "$SS" "$TARGETS" > "$T/table.md" <<'EOF'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
IS, SS, TARGETS = sys.argv[2], sys.argv[3], sys.argv[4].split()
rows = []

def values(task, impl, get):
    """get(record) of every run of impl on task that has a value."""
    v = [get(r) for r in recs if r["task"] == task and r["impl"] == impl]
    return [x for x in v if x is not None]

def row(task, what, get, f, cmp):
    """One table row: medians of both sides and their comparison."""
    cells = []
    for impl in ("gnf", "torch"):
        v, n = values(task, impl, get), len(values(task, impl, lambda r: 1))
        m = statistics.median(v) if v else None
        cells.append((m, "not reached" if not v else f % m + ("" if len(v) == n else " (%d of %d runs)" % (len(v), n))))
    c = cmp(cells[0][0], cells[1][0]) if cells[0][0] is not None and cells[1][0] is not None else "—"
    rows.append("| %s | %s | %s | %s | %s |" % (task, what, cells[0][1], cells[1][1], c))

times = lambda a, b: "%.1f×" % (a / b)
slower = lambda a, b: "%.1f×" % (b / a)
diff = lambda f: (lambda a, b: f % (a - b))
for task, secs in (("image", IS), ("sdf", SS)):
    if not any(r["task"] == task for r in recs):
        continue
    row(task, "training points/s", lambda r: r["points_per_s"] / 1e6, "%.3f M", times)
    row(task, "steps in %s s" % secs, lambda r: r["steps"], "%d", times)
    if task == "image":
        row(task, "PSNR after %s s (gnf eval)" % secs, lambda r: r.get("gnf_eval_psnr", r.get("psnr")), "%.2f dB", diff("%+.2f dB"))
        for tg in TARGETS:
            key = "%g" % float(tg)
            row(task, "training time to %s dB" % tg, lambda r: (r["targets"].get(key) or {}).get("seconds"), "%.2f s", slower)
    else:
        row(task, "IoU after %s s (gnf eval)" % secs, lambda r: r["eval"]["iou"], "%.5f", diff("%+.5f"))
        row(task, "IoU, uniform half", lambda r: r["eval"]["iou_uniform"], "%.5f", diff("%+.5f"))
        row(task, "normal error (NAE)", lambda r: r["eval"]["nae_deg"], "%.2f°", diff("%+.2f°"))
    row(task, "others (CPU share)", lambda r: r.get("others_pct"), "%d%%", lambda a, b: "")
for task, key, what, f in (("image-steps", "psnr", "PSNR", "%.2f dB"), ("sdf-steps", "iou", "IoU", "%.5f")):
    s = [r["steps"] for r in recs if r["task"] == task]
    if s:
        row(task, "%s after %d steps (gnf eval)" % (what, s[0]), lambda r: r["eval"][key], f, diff(f.replace("%", "%+", 1)))
print("| part | measure | gnf | PyTorch | gnf vs PyTorch |")
print("|---|---|---|---|---|")
print("\n".join(rows))
t = [r for r in recs if r["impl"] == "torch"]
if t:
    print()
    print("PyTorch %s, BLAS %s; grid lookup: %s." % (t[0]["torch"], t[0]["blas"], ", ".join(sorted({r["encoder"] for r in t}))))
EOF
{
  cat "$T/head.md"
  echo
  cat "$T/table.md"
  echo
  echo "## Runs (one JSON record per fit, in the order run)"
  echo
  echo '```'
  cat "$REC"
  echo '```'
} > "$OUT"
cat "$T/head.md"
echo
cat "$T/table.md"
