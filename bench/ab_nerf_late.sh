#!/bin/sh
# ab_nerf_late.sh — radiance-field training speed of two gnf builds in the late phase of a fit
# (sparse occupancy, many short rays: the regime most of a 15-minute fit runs in), alternating on
# the same machine:
#     sh bench/ab_nerf_late.sh OLD_GNF NEW_GNF [ROUNDS] [WARM_S] [STEPS]
# OLD fits lego_400 for STEPS steps (default 9000) and is interrupted after WARM_S seconds
# (default 165), which leaves a checkpoint; then per round each build resumes that checkpoint to
# the end (--resume, 2 threads) and reports its M samples/s over the resumed steps and the
# held-out PSNR at the end.  Run it on an idle machine and compare medians; both builds must read
# the checkpoint format.  Data from ../shared/data (GNF_DATA overrides).
cd "$(dirname "$0")/.." || exit 1
OLD=$1; NEW=$2; ROUNDS=${3:-3}; WARM=${4:-165}; STEPS=${5:-9000}
DATA=${GNF_DATA:-../shared/data}
[ -x "$OLD" ] && [ -x "$NEW" ] || { echo "usage: sh bench/ab_nerf_late.sh OLD_GNF NEW_GNF [ROUNDS] [WARM_S] [STEPS]" >&2; exit 2; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
"$OLD" fit "$DATA/nerf/lego_400" --steps "$STEPS" --checkpoint-every 100000 --quiet -o "$T/warm.gnf" &
pid=$!
sleep "$WARM"
kill -INT "$pid"
wait "$pid"
[ -f "$T/warm.gnf.ckpt" ] || { echo "ab_nerf_late: no checkpoint (the warm-up fit ended before $WARM s?)" >&2; exit 1; }
echo "checkpoint after $WARM s of $STEPS steps"
for r in $(seq "$ROUNDS"); do
  for lab in old new; do
    case $lab in old) b=$OLD ;; new) b=$NEW ;; esac
    cp "$T/warm.gnf.ckpt" "$T/run.ckpt"
    line=$("$b" fit --resume "$T/run.ckpt" --threads 2 -o "$T/$lab.gnf" 2>&1 | tail -1)
    v=$(echo "$line" | sed -n 's/.*PSNR \([0-9.]*\) dB after \([0-9]*\) steps, \([0-9.]*\) s training (\([0-9.]*\) M samples\/s).*/\1 dB, step \2, \3 s, \4 M samples\/s/p')
    echo "round $r $lab ${v:-? ($line)}"
  done
done
