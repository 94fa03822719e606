#!/bin/sh
# run.sh — gnf benchmarks.  Writes bench/results/*.txt|md and prints them.
#   sh bench/run.sh            kernels, rendering, time-to-PSNR on the 256x256 Kodak crop
#   sh bench/run.sh kodak      + the Kodak-24 table at the default setting (~25-40 min on 2 cores)
#   PREV=path/to/old/build/release sh bench/run.sh
#                              also runs the previous build's kernel bench in the same run,
#                              alternating, so the two are compared under the same conditions
# Timings on shared machines are noisy (1.5-3x): the kernel bench reports medians of 9 runs;
# compare builds only within one run.
cd "$(dirname "$0")/.." || exit 1
GNF=build/release/gnf
R=bench/results
DATA=${GNF_DATA:-../shared/data}
mkdir -p "$R"
host="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
stamp="$(date -u +%Y-%m-%dT%H:%MZ) $(git rev-parse --short HEAD 2>/dev/null)"

echo "== kernels ($host, $stamp)" | tee "$R/kernels.txt"
if [ -n "$PREV" ] && [ -x "$PREV/gnf_bench" ]; then
  for i in 1 2; do
    echo "-- this build" | tee -a "$R/kernels.txt"; build/release/gnf_bench | tee -a "$R/kernels.txt"
    echo "-- previous build ($PREV)" | tee -a "$R/kernels.txt"; "$PREV/gnf_bench" | tee -a "$R/kernels.txt"
  done
else
  build/release/gnf_bench | tee -a "$R/kernels.txt"
fi

crop=data/kodim23_crop.png
T=$(mktemp -d)
echo "== time to quality, kodim23 256x256 centre crop, --params 140000 ($stamp)" | tee "$R/time_to_psnr.txt"
for target in 40 43 45.3; do
  $GNF fit $crop --params 140000 --target-psnr $target --eval-every 10 --seconds 120 -o "$T/t.gnf" --quiet 2>&1 |
    sed "s|^|target $target dB: |" | tee -a "$R/time_to_psnr.txt"
done
$GNF fit $crop --params 140000 --seconds 60 -o "$T/t.gnf" --quiet | sed 's|^|60 s budget: |' | tee -a "$R/time_to_psnr.txt"
$GNF eval "$T/t.gnf" $crop | tee -a "$R/time_to_psnr.txt"
/usr/bin/time -f "peak RSS %M KiB" $GNF fit $crop --params 140000 --steps 50 -o "$T/t.gnf" 2>&1 | grep -E "memory|peak RSS" | tee -a "$R/time_to_psnr.txt"

if [ "$1" = kodak ]; then
  if [ ! -d "$DATA/images/kodak" ]; then echo "kodak: $DATA/images/kodak not found" >&2; exit 1; fi
  out="$R/kodak24.md"
  {
    echo "# Kodak-24 at the default setting ($stamp, $host)"
    echo
    echo "\`gnf fit IMAGE\` (2 parameters per pixel, 2000 steps, batch 65536, L1, lr 1e-2 -> 1e-3), then \`gnf eval --json\`; full images at native resolution."
    echo
    echo "| image | size | PSNR dB | SSIM | params | bytes | fit s |"
    echo "|---|---|---|---|---|---|---|"
  } > "$out"
  for f in "$DATA"/images/kodak/kodim*.png; do
    b=$(basename "$f" .png)
    t0=$(date +%s.%N)
    $GNF fit "$f" -o "$T/$b.gnf" --quiet > /dev/null || { echo "| $b | fit failed |" >> "$out"; continue; }
    t1=$(date +%s.%N)
    j=$($GNF eval "$T/$b.gnf" "$f" --json)
    echo "$j" | awk -v b="$b" -v s="$(awk -v a="$t0" -v c="$t1" 'BEGIN { print c - a }')" '{
      match($0, /"psnr": [0-9.]+/); p = substr($0, RSTART + 8, RLENGTH - 8);
      match($0, /"ssim": [0-9.]+/); q = substr($0, RSTART + 8, RLENGTH - 8);
      match($0, /"params": [0-9]+/); n = substr($0, RSTART + 10, RLENGTH - 10);
      match($0, /"bytes": [0-9]+/); y = substr($0, RSTART + 9, RLENGTH - 9);
      match($0, /"width": [0-9]+/); w = substr($0, RSTART + 9, RLENGTH - 9);
      match($0, /"height": [0-9]+/); h = substr($0, RSTART + 10, RLENGTH - 10);
      printf "| %s | %sx%s | %.2f | %.4f | %s | %s | %.1f |\n", b, w, h, p, q, n, y, s }' >> "$out"
    tail -1 "$out"
  done
  awk -F'|' 'NR > 6 && $4 + 0 > 0 { p += $4; s += $5; t += $8; n++ } END { if (n) printf "| **mean of %d** | | **%.2f** | **%.4f** | | | %.1f |\n", n, p / n, s / n, t / n }' "$out" >> "$out"
  tail -1 "$out"
fi
rm -rf "$T"
