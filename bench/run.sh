#!/bin/sh
# run.sh — gnf benchmarks.  Writes bench/results/*.txt|md and prints them.
#   sh bench/run.sh            kernels, rendering, time-to-PSNR on the 256x256 Kodak crop
#   sh bench/run.sh kodak      + the Kodak-24 table at the default setting (~15-20 min on 2 cores)
#   sh bench/run.sh sdf        + the SDF table (armadillo, bunny, spot): 15 s fits, metrics, meshing
#   sh bench/run.sh nerf       only lego_400: a NERF_SECONDS (default 1800) fit with its held-out PSNR
#                              curve, peak memory, then all 200 test views evaluated (PSNR, SSIM,
#                              ms per frame); NERF_ARGS: more fit options (e.g. --batch 65536);
#                              NERF_KEEP=path keeps the model, NERF_OUT=path: the
#                              results file (default results/nerf.md)
#   sh bench/run.sh sdf-budgets only the SDF budget table: armadillo, bunny, spot (SDF_MESHES
#                              overrides) fitted with --seconds 5, 15, 60 (SDF_BUDGETS overrides),
#                              SDF_RUNS (default 3) runs each, every run evaluated (gnf eval --json
#                              --mc-res SDF_MC_RES, default 512): the mean and the spread (max -
#                              min) per budget, and per mesh the floor of the mesh metrics (gnf
#                              eval --exact: the mesh's exact SDF through the same marching
#                              cubes; SDF_EXACT=0 skips it); written to SDF_OUT (default
#                              results/sdf_budgets.md; each fit's summary line, with its steps and
#                              points/s, to the same name ending _runs.txt)
#   sh bench/run.sh sdf-holes  only meshes with holes: each of SDF_HOLES_MESHES (default armadillo
#                              bunny spot) cut by tools/make_holes.py (HOLES holes, default 5, of
#                              radius HOLE_RADIUS x the bounding-box diagonal, default 0.02, seed 1);
#                              per budget of SDF_HOLES_BUDGETS (default 15 60) the closed mesh and the
#                              holed one fitted (one run each), both evaluated against the closed
#                              mesh, the holed fit also against the holed mesh; then the ratio of
#                              the holed fit's errors to the closed fit's (results/sdf_holes.md);
#                              SDF_HOLES_STEPS="700 3000": fixed step counts (--steps) in place of
#                              the budgets, independent of the machine's speed (sdf_holes_steps.md)
#   sh bench/run.sh kernels    only the kernel comparison below
#   sh bench/run.sh render     only interactive rendering of a radiance field (issue #11): the model
#                              RENDER_MODEL (e.g. a 30 min lego_400 fit, NERF_KEEP above) rendered by
#                              this build's fast renderer ("new"), its reference renderer ("ref",
#                              GNF_NERF_REFERENCE=1) and the gnf binaries of RENDER_BASE ("label=path
#                              ...", e.g. builds of older commits), RENDER_ROUNDS (default 3) rounds
#                              alternating between them: 400x400 frames of every RENDER_EVERY-th
#                              (default 4) test view (gnf eval --json: median ms per frame, samples
#                              per pixel, phases), 800x800 frames of RENDER_VIEWS_800 (default 10)
#                              test views (gnf render --width 800, one process per view, as every
#                              build has it; median ms); then the quality once per build over all
#                              test views (gnf eval --json; the new build also --scale 2, 800x800
#                              averaged 2x2 back to 400x400; RENDER_QUALITY=0: not).  Medians over
#                              the rounds, fps and the ratios to each build, in results/render.md
#                              (raw lines: render.txt)
# Kernels (every mode but nerf, sdf-budgets, sdf-holes, render): build/release/gnf_bench and the previous
# build's, alternately, BENCH_ROUNDS (default 3) rounds; a table of each kernel's Mpoints/s,
# share of the measured FMA peak (median over all rounds), scaling and ratio to the previous
# build (bench/results/kernels.md; all rounds' output in kernels.txt).  The previous build: the
# commit BASE_REF (default HEAD when src/ include/ bench/ have uncommitted changes, else HEAD~1)
# exported with git archive, its libgnf.a built, and this tree's bench/*.c compiled against it
# (its own gnf_bench if that fails; the table says which).  PREV=path/to/old/build/release: that
# build's own gnf_bench instead; BENCH_PREV=0: no previous build.  BENCH_QUICK=1: four decoder
# shapes, shorter training steps, and no time-to-quality fits.  BENCH_ARGS: more gnf_bench options.
# Timings on shared machines are noisy (1.5-3x): compare builds only within one run.
cd "$(dirname "$0")/.." || exit 1
GNF=${GNF_BIN:-build/release/gnf}   # GNF_BIN: another build's binary
R=bench/results
DATA=${GNF_DATA:-../shared/data}
mkdir -p "$R"
host="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
stamp="$(date -u +%Y-%m-%dT%H:%MZ) $(git rev-parse --short HEAD 2>/dev/null)"

T=$(mktemp -d)

# ---- kernels: this build and the previous one, alternately, against the measured FMA peak ----
# old_results: an older gnf_bench's output without RESULT lines -> RESULT lines for its decoder rows
old_results() {
  awk '/^measured FP32 FMA peak: / { t = $12; print "RESULT name=peak threads=1 gflops=" $5; print "RESULT name=peak threads=" t " gflops=" $10 }
       /^decoder forward\+backward, D=/ { split($3, d, "="); split($4, k, "="); split($5, o, /[=,]/); shape = "D" d[2] "_K" k[2] "_O" o[2] }
       /^grid lookup/ { shape = ""; grid = "grid_lookup" }
       /^grid scatter/ { shape = ""; grid = "grid_scatter" }
       shape != "" && ($1 == "scalar" || $1 == "avx2-fma") && NF >= 6 {
         print "RESULT name=dec_" ($1 == "scalar" ? "scalar_" : "") shape " threads=" $2 " kernel=" $1 " mpts=" $3 }
       grid != "" && ($1 == "scalar" || $1 == "avx2-fma") && NF == 3 {
         print "RESULT name=" grid ($1 == "scalar" ? "_scalar" : "") " threads=1 kernel=" $1 " mpts=" $2 }
       /^render 1920x1080, / { print "RESULT name=render_1080p threads=" $3 " kernel=- mpts=" $(NF - 1) }'
}
# prev_build: sets PREV_BIN (empty: none) and PREV_NOTE
prev_build() {
  PREV_BIN= PREV_NOTE=
  if [ -n "$PREV" ]; then
    if [ -x "$PREV/gnf_bench" ]; then PREV_BIN=$PREV/gnf_bench PREV_NOTE="PREV=$PREV (that build's own gnf_bench)"
    else PREV_NOTE="none: PREV=$PREV has no gnf_bench"; fi
    return
  fi
  if [ "${BENCH_PREV:-1}" = 0 ]; then PREV_NOTE="none (BENCH_PREV=0)"; return; fi
  git rev-parse --verify -q HEAD > /dev/null 2>&1 || { PREV_NOTE="none (not a git checkout)"; return; }
  ref=$BASE_REF
  if [ -z "$ref" ]; then
    if [ -n "$(git status --porcelain -- src include bench)" ]; then ref=HEAD; else ref=HEAD~1; fi
  fi
  sha=$(git rev-parse -q --verify "$ref^{commit}") || { PREV_NOTE="none ($ref is not a commit)"; return; }
  sha=$(git rev-parse --short "$sha")
  P=$T/prev log=$T/prev_build.log jobs=$(nproc)
  mkdir -p "$P"
  echo "building the previous build: $ref ($sha) in $P ..."
  git archive "$sha" | tar -x -C "$P" || { PREV_NOTE="none (git archive $sha failed)"; return; }
  if ! make -s -C "$P" -j"$jobs" VARIANT=release build/release/libgnf.a > "$log" 2>&1; then
    PREV_NOTE="none: $ref ($sha) did not build"; tail -5 "$log"; return
  fi
  if make -s -j"$jobs" PREV_TREE="$P" "$P/build/bench-current/gnf_bench" >> "$log" 2>&1; then
    PREV_BIN=$P/build/bench-current/gnf_bench
    PREV_NOTE="$ref ($sha): this tree's bench/*.c compiled against its headers and libgnf.a"
  elif make -s -C "$P" -j"$jobs" VARIANT=release build/release/gnf_bench >> "$log" 2>&1; then
    PREV_BIN=$P/build/release/gnf_bench
    PREV_NOTE="$ref ($sha): ITS OWN gnf_bench, since this tree's bench/*.c did not compile against its internal headers (only rows both benches have are compared)"
    grep -m3 'error' "$log"
  else
    PREV_NOTE="none: $ref ($sha)'s gnf_bench did not build"; tail -5 "$log"
  fi
}
kernels() {
  K=$R/kernels.txt
  rounds=${BENCH_ROUNDS:-3} bargs=$BENCH_ARGS load0=$(cut -d' ' -f1-3 /proc/loadavg)
  [ "${BENCH_QUICK:-0}" = 1 ] && bargs="--quick${bargs:+ $bargs}"
  dirty=
  [ -n "$(git status --porcelain -- src include bench 2> /dev/null)" ] && dirty=" with uncommitted changes"
  if [ -f "$DATA/meshes/bunny.obj" ]; then bargs="${bargs:+$bargs }--mesh $DATA/meshes/bunny.obj"
  else echo "kernels: $DATA/meshes/bunny.obj not found; the SDF step uses gnf_bench's built-in torus"; fi
  prev_build
  echo "== kernels ($host, $stamp$dirty); previous build: $PREV_NOTE" | tee "$K"
  : > "$T/results"
  for r in $(seq 1 "$rounds"); do
    order="new prev"
    [ $((r % 2)) = 0 ] && order="prev new"
    for b in $order; do
      bin=build/release/gnf_bench
      args=$bargs
      if [ "$b" = prev ]; then
        [ -n "$PREV_BIN" ] || continue
        bin=$PREV_BIN
        grep -aq 'RESULT name=' "$bin" || args=   # an older gnf_bench: its defaults
      fi
      echo "-- round $r, $b build: $bin $args" >> "$K"
      $bin $args > "$T/out" 2>&1
      cat "$T/out" >> "$K"
      if [ "$r" = 1 ] && [ "$b" = new ]; then grep -v '^RESULT' "$T/out"; fi
      if grep -q '^RESULT' "$T/out"; then grep '^RESULT' "$T/out"; else old_results < "$T/out"; fi | sed "s/^RESULT /$b /" >> "$T/results"
    done
    echo "-- round $r of $rounds done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  done
  {
    echo "# Kernels against the measured FP32 FMA peak ($stamp$dirty)"
    echo
    echo "Machine: $host. Load average (1, 5, 15 min) $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after."
    echo "\`gnf_bench $bargs\`; rounds: $rounds, this build and the previous one alternating; medians over the rounds."
    echo "Previous build: $PREV_NOTE."
    echo
    awk -f bench/kernels_table.awk "$T/results"
  } > "$R/kernels.md"
  echo >> "$K"
  cat "$R/kernels.md" >> "$K"
  echo
  cat "$R/kernels.md"
}
if [ "$1" != nerf ] && [ "$1" != sdf-budgets ] && [ "$1" != sdf-holes ] && [ "$1" != render ]; then
kernels
fi
if [ "$1" != kernels ] && [ "$1" != nerf ] && [ "$1" != sdf-budgets ] && [ "$1" != sdf-holes ] && [ "$1" != render ] && [ "${BENCH_QUICK:-0}" != 1 ]; then
crop=data/kodim23_crop.png
echo "== time to quality, kodim23 256x256 centre crop, --params 140000 ($stamp)" | tee "$R/time_to_psnr.txt"
for target in 40 43 45.3; do
  $GNF fit $crop --params 140000 --target-psnr $target --eval-every 10 --seconds 120 -o "$T/t.gnf" --quiet 2>&1 |
    sed "s|^|target $target dB: |" | tee -a "$R/time_to_psnr.txt"
done
$GNF fit $crop --params 140000 --seconds 60 -o "$T/t.gnf" --quiet | sed 's|^|60 s budget: |' | tee -a "$R/time_to_psnr.txt"
$GNF eval "$T/t.gnf" $crop | tee -a "$R/time_to_psnr.txt"
/usr/bin/time -f "peak RSS %M KiB" $GNF fit $crop --params 140000 --steps 50 -o "$T/t.gnf" 2>&1 | grep -E "memory|peak RSS" | tee -a "$R/time_to_psnr.txt"
fi

if [ "$1" = kodak ]; then
  if [ ! -d "$DATA/images/kodak" ]; then echo "kodak: $DATA/images/kodak not found" >&2; exit 1; fi
  out="$R/kodak24.md"
  {
    echo "# Kodak-24 at the default setting ($stamp, $host)"
    echo
    echo "\`gnf fit IMAGE\` (the defaults: 2 parameters per pixel, 5000 steps of 8192 pixels, L2, lr 1e-2 -> 1e-3), then \`gnf eval --json\`; full images at native resolution."
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
if [ "$1" = sdf ]; then
  out="$R/sdf.md"
  {
    echo "# SDF fits ($stamp, $host)"
    echo
    echo "\`gnf fit MESH --seconds 15\` (whole command: loading, ground truth, training, saving), then \`gnf eval --json --mc-res 512\` and \`gnf mesh --res 512\`."
    echo "IoU: 2^20 points, half near the surface (sigma 0.01), half uniform in the normalised box; IoU-u: the uniform half alone."
    echo
    echo "| mesh | params | bytes | fit s | GT queries/s | train Mpt/s | steps | IoU | IoU-u | NAE deg | Chamfer-L1 | F-score | mesh 512 s |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  } > "$out"
  for m in armadillo bunny spot; do
    f="$DATA/meshes/$m.obj"
    [ -f "$f" ] || { echo "sdf: $f not found" >&2; continue; }
    t0=$(date +%s.%N)
    $GNF fit "$f" -o "$T/$m.gnf" --seconds 15 > "$T/fit.txt" 2> "$T/fit.err" || { echo "| $m | fit failed |" >> "$out"; continue; }
    t1=$(date +%s.%N)
    gt=$(sed -n 's/.*(\([0-9.]*\) M distance queries\/s.*/\1/p' "$T/fit.err")
    tr=$(sed -n 's/.*(\([0-9.]*\) Mpt\/s).*/\1/p' "$T/fit.txt")
    st=$(sed -n 's/.* after \([0-9]*\) steps.*/\1/p' "$T/fit.txt")
    j=$($GNF eval "$T/$m.gnf" "$f" --json --mc-res 512)
    t2=$(date +%s.%N)
    $GNF mesh "$T/$m.gnf" -o "$T/$m.ply" --res 512 > /dev/null
    t3=$(date +%s.%N)
    echo "$j" | awk -v m="$m" -v fs="$(awk -v a="$t0" -v c="$t1" 'BEGIN { print c - a }')" -v ms="$(awk -v a="$t2" -v c="$t3" 'BEGIN { print c - a }')" \
      -v gt="$gt" -v tr="$tr" -v st="$st" '{
      n = split("iou iou_uniform nae_deg chamfer_l1 fscore params bytes", k, " ");
      for (i = 1; i <= n; i++) { match($0, "\"" k[i] "\": [0-9.e+-]+"); v[k[i]] = substr($0, RSTART + length(k[i]) + 4, RLENGTH - length(k[i]) - 4) }
      printf "| %s | %s | %s | %.1f | %sM | %s | %s | %.5f | %.5f | %.2f | %.6f | %.4f | %.1f |\n", m, v["params"], v["bytes"], fs, gt, tr, st,
             v["iou"], v["iou_uniform"], v["nae_deg"], v["chamfer_l1"], v["fscore"], ms }' >> "$out"
    tail -1 "$out"
  done
fi
if [ "$1" = sdf-budgets ]; then
  out=${SDF_OUT:-$R/sdf_budgets.md}
  mcr=${SDF_MC_RES:-512}
  keys="iou iou_uniform iou_grid nae_deg nae_mesh_deg chamfer_l1 fscore"
  {
    echo "# SDF quality by time budget ($stamp, $host)"
    echo
    echo "\`gnf fit MESH --seconds S\` (whole command), then \`gnf eval MODEL MESH --json --mc-res $mcr\`; ${SDF_RUNS:-3} runs per cell: mean, and the spread (max - min) in brackets."
    echo "iou: 2^20 points, half near the surface (sigma 0.01), half uniform; iou_grid: the ${mcr}^3 marching-cubes grid points (the anchors' protocol uses 1024);"
    echo "nae_deg: field gradient vs face normal at surface points; nae_mesh_deg: symmetric mesh-to-mesh face-normal angle (the anchors' protocol)."
    echo "Rows 'exact': \`gnf eval --exact MESH --mc-res $mcr\`, the mesh's own exact SDF through the same marching cubes — the floor of chamfer_l1, fscore and nae_mesh_deg at this resolution."
    echo
    echo "| mesh | seconds | steps | $(echo $keys | sed 's/ / | /g') |"
    echo "|---|---|---|$(echo $keys | sed 's/[a-z_0-9]*/---|/g; s/ //g')"
  } > "$out"
  for m in ${SDF_MESHES:-armadillo bunny spot}; do
    f="$DATA/meshes/$m.obj"
    [ -f "$f" ] || { echo "sdf-budgets: $f not found" >&2; continue; }
    [ "${SDF_EXACT:-1}" = 0 ] || $GNF eval --exact "$f" --mc-res "$mcr" --json | awk -v m="$m" '{
      match($0, /"chamfer_l1": [0-9.e+-]+/); c = substr($0, RSTART + 14, RLENGTH - 14);
      match($0, /"fscore": [0-9.e+-]+/); f = substr($0, RSTART + 10, RLENGTH - 10);
      match($0, /"nae_mesh_deg": [0-9.e+-]+/); a = substr($0, RSTART + 16, RLENGTH - 16);
      printf "| %s | exact | - | 1 | 1 | 1 | 0 | %.2f | %.6f | %.4f |\n", m, a, c, f }' >> "$out"
    for s in ${SDF_BUDGETS:-5 15 60}; do
      : > "$T/runs"
      for r in $(seq 1 "${SDF_RUNS:-3}"); do
        $GNF fit "$f" -o "$T/m.gnf" --seconds "$s" --quiet > "$T/fit.txt" || continue
        st=$(sed -n 's/.* after \([0-9]*\) steps.*/\1/p' "$T/fit.txt")
        echo "$m $s s run $r (load average $(cut -d' ' -f1 /proc/loadavg)): $(cat "$T/fit.txt")" >> "${out%.md}_runs.txt"
        j=$($GNF eval "$T/m.gnf" "$f" --json --mc-res "$mcr")
        echo "$j" | awk -v st="$st" -v keys="$keys" '{ n = split(keys, k, " "); printf "%s", st;
          for (i = 1; i <= n; i++) { v = "nan"; if (match($0, "\"" k[i] "\": [0-9.e+-]+")) v = substr($0, RSTART + length(k[i]) + 4, RLENGTH - length(k[i]) - 4); printf " %s", v }
          printf "\n" }' >> "$T/runs"
      done
      awk -v m="$m" -v s="$s" '{ for (i = 1; i <= NF; i++) { x = $i + 0; sum[i] += x; if (NR == 1 || x < lo[i]) lo[i] = x; if (NR == 1 || x > hi[i]) hi[i] = x } n = NF }
        END { if (!NR) { printf "| %s | %s | failed |\n", m, s; exit } printf "| %s | %s | %.0f |", m, s, sum[1] / NR;
              for (i = 2; i <= n; i++) { d = i <= 4 ? 5 : i <= 6 ? 2 : i == 7 ? 6 : 4; printf " %.*f (%.*f) |", d, sum[i] / NR, d, hi[i] - lo[i] } printf "\n" }' "$T/runs" >> "$out"
      tail -1 "$out"
    done
  done
fi
if [ "$1" = sdf-holes ]; then
  out="$R/sdf_holes.md" budget=--seconds budgets=${SDF_HOLES_BUDGETS:-15 60} unit=s what="the whole command"
  [ -n "$SDF_HOLES_STEPS" ] && out="$R/sdf_holes_steps.md" budget=--steps budgets=$SDF_HOLES_STEPS unit=steps what="same seed"
  keys="iou iou_uniform iou_grid nae_deg nae_mesh_deg chamfer_l1 fscore"
  holes=${HOLES:-5} radius=${HOLE_RADIUS:-0.02}
  {
    echo "# SDF fits of meshes with holes ($stamp, $host, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start)"
    echo
    echo "\`python3 tools/make_holes.py MESH.obj HOLED.obj --holes $holes --radius $radius --seed 1\` ($holes holes of radius $radius x the bounding-box diagonal);"
    echo "\`gnf fit MESH|HOLED $budget N\` ($what), then \`gnf eval MODEL MESH|HOLED --json --mc-res 512\`; one run per cell, the closed and the holed fit alternating."
    echo "fitted/vs: the mesh fitted and the one evaluated against (closed = the original watertight mesh). ratio: the holed fit's error against the closed mesh"
    echo "divided by the closed fit's, per metric (1 - iou, 1 - iou_uniform, 1 - iou_grid, nae_deg, nae_mesh_deg, chamfer_l1, 1 - fscore; n/a for 1 - fscore when the closed fit's is below 0.001)."
    echo
    echo "| mesh | N ($unit) | fitted | vs | steps | $(echo $keys | sed 's/ / | /g') |"
    echo "|---|---|---|---|---|$(echo $keys | sed 's/[a-z_0-9]*/---|/g; s/ //g')"
  } > "$out"
  row() { # mesh seconds fitted vs model reference: one table row, its values also appended to $T/vals
    st=$(sed -n 's/.* after \([0-9]*\) steps.*/\1/p' "$T/fit.txt")
    $GNF eval "$5" "$6" --json --mc-res 512 | awk -v m="$1" -v s="$2" -v f="$3" -v r="$4" -v st="$st" -v keys="$keys" '{
      n = split(keys, k, " "); printf "| %s | %s | %s | %s | %s |", m, s, f, r, st;
      for (i = 1; i <= n; i++) { v = "nan"; if (match($0, "\"" k[i] "\": [0-9.e+-]+")) v = substr($0, RSTART + length(k[i]) + 4, RLENGTH - length(k[i]) - 4);
        d = i <= 3 ? 5 : i <= 5 ? 2 : i == 6 ? 6 : 4; printf " %.*f |", d, v; vals = vals " " v }
      printf "\n"; print f, r, vals > "/dev/stderr" }' >> "$out" 2>> "$T/vals"
    tail -1 "$out"
  }
  for m in ${SDF_HOLES_MESHES:-armadillo bunny spot}; do
    f="$DATA/meshes/$m.obj"
    [ -f "$f" ] || { echo "sdf-holes: $f not found" >&2; continue; }
    h="$T/${m}_holes.obj"
    python3 tools/make_holes.py "$f" "$h" --holes "$holes" --radius "$radius" --seed 1 2> "$T/holes.txt" || { cat "$T/holes.txt" >&2; continue; }
    sed "s|^make_holes: [^ ]* -> [^ ]*: |- $m: |" "$T/holes.txt" | tee -a "$T/holes_all.txt"
    for s in $budgets; do
      : > "$T/vals"
      if $GNF fit "$f" -o "$T/c.gnf" $budget "$s" --quiet > "$T/fit.txt"; then row "$m" "$s" closed closed "$T/c.gnf" "$f"; fi
      if $GNF fit "$h" -o "$T/h.gnf" $budget "$s" --quiet > "$T/fit.txt"; then
        row "$m" "$s" holed closed "$T/h.gnf" "$f"
        row "$m" "$s" holed holed "$T/h.gnf" "$h"
      fi
      awk -v m="$m" -v s="$s" '$1 == "closed" && $2 == "closed" { for (i = 3; i <= NF; i++) c[i] = $i; have_c = 1 }
        $1 == "holed" && $2 == "closed" { for (i = 3; i <= NF; i++) h[i] = $i; have_h = 1 }
        END { if (!have_c || !have_h) exit; printf "| %s | %s | ratio | holed/closed | |", m, s;
              for (i = 3; i <= 9; i++) { e = (i <= 5 || i == 9) ? 1 - c[i] : c[i]; g = (i <= 5 || i == 9) ? 1 - h[i] : h[i];
                if (e > (i == 9 ? 1e-3 : 0)) printf " %.2f |", g / e; else printf " n/a |" } printf "\n" }' "$T/vals" >> "$out"
      tail -1 "$out"
    done
  done
  { echo; echo "Holes cut (faces deleted per hole, boundary edges before -> after):"; echo; cat "$T/holes_all.txt"; } >> "$out"
fi
if [ "$1" = nerf ]; then
  LEGO="$DATA/nerf/lego_400"
  [ -f "$LEGO/transforms_train.json" ] || { echo "nerf: $LEGO not found" >&2; exit 1; }
  secs=${NERF_SECONDS:-1800}
  out=${NERF_OUT:-$R/nerf.md}
  /usr/bin/time -f "peak RSS %M KiB" $GNF fit "$LEGO" --seconds "$secs" $NERF_ARGS -o "$T/lego.gnf" > "$T/fit.txt" 2> "$T/fit.err"
  $GNF eval "$T/lego.gnf" "$LEGO" --json > "$T/eval.json"
  [ -n "$NERF_KEEP" ] && cp "$T/lego.gnf" "$NERF_KEEP"
  $GNF render "$T/lego.gnf" --scene "$LEGO" --view test:0 -o "$T/v.png" > "$T/render.txt"
  {
    echo "# Radiance field: lego_400 ($stamp, $host)"
    echo
    echo "\`gnf fit $LEGO --seconds $secs${NERF_ARGS:+ $NERF_ARGS}\` (${NERF_ARGS:+otherwise }defaults), then \`gnf eval MODEL $LEGO --json\` (all 200 test views at 400x400 on white: mean PSNR, SSIM, median frame time)."
    echo
    echo "## Summary"
    echo
    sed -n 's/.*step \([0-9]*\)  \([0-9.]*\) s  held-out PSNR \([0-9.]*\) dB.*/\1 \2 \3/p' "$T/fit.err" |
      awk 'BEGIN { n = split("60 300 900 1800", m, " ") } { for (i = 1; i <= n; i++) if (!done[i] && $2 >= m[i] - 15) { printf "- held-out PSNR after %d min: %s dB (step %s, %.0f s)\n", m[i] / 60, $3, $1, $2; done[i] = 1 } }'
    sed 's/.*"psnr": \([0-9.]*\), "ssim": \([0-9.]*\), "views": \([0-9]*\).*"fps": \([0-9.]*\), "ms_per_frame": \([0-9.]*\), "samples_per_pixel": \([0-9.]*\).*/- test split: mean PSNR \1 dB, SSIM \2 over \3 views; \5 ms per frame (\4 fps), \6 field samples per pixel/' "$T/eval.json"
    echo
    echo "## Held-out PSNR during training (mean over 4 test views of ~2500 pixels each)"
    echo
    echo "| step | seconds | held-out PSNR dB | M samples/s |"
    echo "|---|---|---|---|"
    sed -n 's/.*step \([0-9]*\)  \([0-9.]*\) s  held-out PSNR \([0-9.]*\) dB  \([0-9.]*\) M samples.*/| \1 | \2 | \3 | \4 |/p' "$T/fit.err"
    echo
    echo "## Fit"
    echo
    grep -E "^model:|^encoding:|^decoder:|^training:|where the time went|peak RSS" "$T/fit.err" | sed 's/^/    /'
    sed 's/^/    /' "$T/fit.txt"
    echo
    echo "## Evaluation"
    echo
    sed 's/^/    /' "$T/eval.json"
    sed 's/^/    /' "$T/render.txt"
  } > "$out"
  cat "$out"
fi
if [ "$1" = render ]; then
  LEGO="$DATA/nerf/lego_400"
  M=${RENDER_MODEL:-}
  [ -f "$LEGO/transforms_test.json" ] || { echo "render: $LEGO not found" >&2; exit 1; }
  [ -f "$M" ] || { echo "render: set RENDER_MODEL to a model of $LEGO (e.g. NERF_KEEP=lego.gnf sh bench/run.sh nerf)" >&2; exit 1; }
  rounds=${RENDER_ROUNDS:-3}; every=${RENDER_EVERY:-4}; n800=${RENDER_VIEWS_800:-10}
  builds="new=$GNF ref=$GNF ${RENDER_BASE:-}"
  raw="$R/render.txt"; out="$R/render.md"
  : > "$raw"
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  num() { v=$(sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" "$2"); echo "${v:-0}"; }   # 0: not reported
  run_build() {   # run_build LABEL BIN ARGS...: the reference renderer for label ref
    lab=$1; shift
    if [ "$lab" = ref ]; then GNF_NERF_REFERENCE=1 "$@"; else GNF_NERF_REFERENCE=0 "$@"; fi
  }
  for r in $(seq "$rounds"); do
    for b in $builds; do
      lab=${b%%=*}; bin=${b#*=}
      run_build "$lab" "$bin" eval "$M" "$LEGO" --json --every "$every" > "$T/e.json" || { echo "render: $lab eval failed" >&2; exit 1; }
      echo "$r $lab 400 $(num ms_per_frame "$T/e.json") $(num samples_per_pixel "$T/e.json") $(num ms_march "$T/e.json") $(num ms_lookup "$T/e.json") $(num ms_decoder "$T/e.json") $(num ms_composite "$T/e.json") $(num psnr "$T/e.json")" >> "$raw"
      : > "$T/ms800"
      for k in $(seq 0 $((n800 - 1))); do
        v=$((k * 200 / n800))
        run_build "$lab" "$bin" render "$M" --scene "$LEGO" --view "test:$v" --width 800 -o "$T/v800.png" > "$T/r.txt" || { echo "render: $lab render failed" >&2; exit 1; }
        sed -n 's/.* \([0-9.]*\) ms (\([0-9.]*\) field samples per pixel).*/\1 \2/p' "$T/r.txt" >> "$T/ms800"
      done
      echo "$r $lab 800 $(sort -n "$T/ms800" | awk '{ a[NR] = $1; s += $2 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), s / NR }')" >> "$raw"
    done
    echo "-- round $r of $rounds done (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  done
  : > "$T/quality"
  [ "${RENDER_QUALITY:-1}" = 0 ] && builds_q= || builds_q=$builds
  for b in $builds_q; do
    lab=${b%%=*}; bin=${b#*=}
    run_build "$lab" "$bin" eval "$M" "$LEGO" --json > "$T/q.json"
    echo "$lab 1 $(num psnr "$T/q.json") $(num ssim "$T/q.json") $(num views "$T/q.json") $(num ms_per_frame "$T/q.json")" >> "$T/quality"
    if [ "$lab" = new ]; then
      run_build "$lab" "$bin" eval "$M" "$LEGO" --json --scale 2 > "$T/q.json"
      echo "$lab 2 $(num psnr "$T/q.json") $(num ssim "$T/q.json") $(num views "$T/q.json") $(num ms_per_frame "$T/q.json")" >> "$T/quality"
    fi
  done
  cat "$T/quality" >> "$raw"
  {
    echo "# Interactive rendering of a radiance field ($stamp)"
    echo
    echo "Machine: $host. Load average (1, 5, 15 min) $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after."
    echo "Model: \`$M\`. Builds: $builds (ref: this build with GNF_NERF_REFERENCE=1)."
    echo "$rounds rounds, the builds alternating within each; medians over the rounds."
    echo "400x400: \`gnf eval MODEL lego_400 --json --every $every\` (median frame of $((200 / every)) test views after a warm-up frame)."
    echo "800x800: \`gnf render MODEL --scene lego_400 --view test:V --width 800\` for $n800 views, median frame."
    echo
    echo "| build | 400x400 ms | fps | samples/pixel | march ms | lookup ms | decoder ms | compositing ms | 800x800 ms | fps | samples/pixel |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    awk '{ k = $2; if ($3 == 400) { n4[k]++; t4[k, n4[k]] = $4; s4[k] = $5; for (i = 6; i <= 9; i++) ph[k, i, n4[k]] = $i }
                   else { n8[k]++; t8[k, n8[k]] = $4; s8[k] = $5 }
           if (!(k in seen)) { seen[k] = 1; order[++nk] = k } }
         function med(arr, key, n,   i, j, v, t) { for (i = 1; i <= n; i++) v[i] = arr[key, i]
           for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
           return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
         function med3(arr, key, c, n,   i, j, v, t) { for (i = 1; i <= n; i++) v[i] = arr[key, c, i]
           for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
           return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
         NF == 0 { next }
         END { for (o = 1; o <= nk; o++) { k = order[o]; a = med(t4, k, n4[k]); b = med(t8, k, n8[k])
                 printf "| %s | %.1f | %.2f | %.2f |", k, a, 1000 / a, s4[k]
                 for (i = 6; i <= 9; i++) { v = med3(ph, k, i, n4[k]); if (v > 0) printf " %.1f |", v; else printf " - |" }
                 printf " %.1f | %.2f | %.2f |\n", b, 1000 / b, s8[k]; A[k] = a; Bm[k] = b }
               print ""; print "Speed of new over each build (ratio of median frame times):"; print ""
               for (o = 1; o <= nk; o++) { k = order[o]; if (k != "new") printf "- %s: %.2fx at 400x400, %.2fx at 800x800\n", k, A[k] / A["new"], Bm[k] / Bm["new"] } }' \
      "$(grep -v '^[a-z]' "$raw" > "$T/timing"; echo "$T/timing")"
    echo
    echo "Quality over the test views (\`gnf eval MODEL lego_400 --json\`; scale 2: \`--scale 2\`, 800x800 frames averaged 2x2):"
    echo
    echo "| build | scale | PSNR dB | SSIM | views | ms per frame in that run |"
    echo "|---|---|---|---|---|---|"
    awk '{ printf "| %s | %s | %.4f | %.6f | %s | %.1f |\n", $1, $2, $3, $4, $5, $6 }' "$T/quality"
  } > "$out"
  cat "$out"
fi
rm -rf "$T"
