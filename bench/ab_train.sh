#!/bin/sh
# ab_train.sh — training speed of two or three gnf builds, alternating, on the same machine:
#     sh bench/ab_train.sh OLD_GNF NEW_GNF [NERF_ONLY_GNF] [ROUNDS]
# Per round and thread count (1, 2), each build fits the kodim23 crop (1500 steps), armadillo
# (300 steps) and lego_400 (150 steps); the third build (e.g. an older commit whose image and SDF
# recipes differ) only the radiance field.  One line per fit: M points/s (image, SDF), held-out
# PSNR and M samples/s (radiance field); then whether OLD's and NEW's model files are identical.
# Run it on an idle machine and compare medians; data from ../shared/data (GNF_DATA overrides).
cd "$(dirname "$0")/.." || exit 1
OLD=$1; NEW=$2; THIRD=${3:-}; ROUNDS=${4:-3}
DATA=${GNF_DATA:-../shared/data}
[ -x "$OLD" ] && [ -x "$NEW" ] || { echo "usage: sh bench/ab_train.sh OLD_GNF NEW_GNF [NERF_ONLY_GNF] [ROUNDS]" >&2; exit 2; }
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
labs="old new"
[ -n "$THIRD" ] && labs="old new third"
for r in $(seq "$ROUNDS"); do
  for t in 1 2; do
    for lab in $labs; do
      case $lab in old) b=$OLD ;; new) b=$NEW ;; third) b=$THIRD ;; esac
      i=-; s=-
      if [ "$lab" != third ]; then
        i=$($b fit data/kodim23_crop.png --steps 1500 --threads "$t" -o "$T/i_$lab.gnf" 2>&1 | tail -1 | sed -n 's/.*(\([0-9.]*\) Mpt\/s).*/\1/p')
        s=$($b fit "$DATA/meshes/armadillo.obj" --steps 300 --threads "$t" -o "$T/s_$lab.gnf" 2>&1 | tail -1 | sed -n 's/.*(\([0-9.]*\) Mpt\/s).*/\1/p')
      fi
      n=$($b fit "$DATA/nerf/lego_400" --steps 150 --threads "$t" -o "$T/n_$lab.gnf" 2>&1 | tail -1 | sed -n 's/.*PSNR \([0-9.]*\) dB.*(\([0-9.]*\) M samples\/s).*/\1 dB \2/p')
      echo "round $r threads $t $lab image_mpts ${i:-?} sdf_mpts ${s:-?} nerf ${n:-?} Msamples/s"
    done
  done
done
for k in i s n; do
  if cmp "$T/${k}_old.gnf" "$T/${k}_new.gnf" >/dev/null 2>&1; then echo "$k: model files identical"; else echo "$k: model files differ"; fi
done
