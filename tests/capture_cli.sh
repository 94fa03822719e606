#!/bin/sh
# capture_cli.sh — gnf fit / eval / render on a scene in the form real captures give
# (instant-ngp's colmap2nerf.py, nerfstudio's ns-process-data): one transforms.json, no split
# files, aabb_scale/scale/offset, OpenCV distortion keys; render --path from cameras without
# pictures.  The scene is lego's training views, its transforms.json written here with those keys
# (pictures by absolute path).  Prints one line per check and "N passed, N failed, N skipped";
# every check counts as skipped without ../shared/data/nerf/lego_400.
# usage: tests/capture_cli.sh path/to/gnf
GNF=${1:-build/release/gnf}
T=$(mktemp -d /tmp/gnf_capcli_XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0; skipped=0
ok()  { pass=$((pass+1)); echo "ok    capture cli: $1"; }
bad() { fail=$((fail+1)); echo "FAIL  capture cli: $1"; }
expect() {
  code=$1; desc=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; rc=$?
  if [ "$rc" = "$code" ]; then ok "$desc"; else bad "$desc (exit $rc, wanted $code): $(head -c 300 "$T/err")"; fi
}
has() { if grep -q -- "$2" "$1"; then ok "$3"; else bad "$3: $(head -c 300 "$1")"; fi; }
CHECKS=11
DATA=$(cd "$(dirname "$0")/../.." && pwd)/shared/data
LEGO="$DATA/nerf/lego_400"
if [ ! -f "$LEGO/transforms_train.json" ]; then
  echo "skip  capture cli: $CHECKS checks (no $LEGO)"
  echo "0 passed, 0 failed, $CHECKS skipped"
  exit 0
fi

# the capture form: lego's training views in one transforms.json with instant-ngp's box keys
# (centre (0.4, -0.3, 0.2), half-size 1.5) and nerfstudio's camera model / distortion keys
C="$T/cap"
mkdir -p "$C"
sed -e "s#\"\./train/#\"$LEGO/train/#" \
    -e '1s#^{#{"camera_model": "OPENCV", "k1": 0, "p1": 0, "aabb_scale": 1.5, "scale": 0.5, "offset": [0.3, 0.65, 0.4],#' \
    "$LEGO/transforms_train.json" > "$C/transforms.json"

expect 0 "fit a folder with only transforms.json" "$GNF" fit "$C" --downscale 16 --steps 20 --params 200000 -o "$T/cap.gnf"
has "$T/err" "87 training views of 25x25" "every 8th view held out: 87 of 100 train"
has "$T/err" "13 held-back" "the 13 held-out views give the progress PSNR"
has "$T/err" "scene box: half-size 1.5 around (0.4, -0.3, 0.2)" "the scene box from aabb_scale/scale/offset"

expect 0 "eval on the held-out views" "$GNF" eval "$T/cap.gnf" "$C" --downscale 16 --json
has "$T/out" '"views": 13' "eval takes the same every-8th split"

# --path from cameras alone: w/h in the file, pictures absent
sed -e "s#\"$LEGO/train/#\"$T/nowhere/#" -e '1s#^{#{"w": 16, "h": 12,#' "$C/transforms.json" > "$T/cams.json"
expect 0 "render --path whose pictures do not exist (w/h in the file)" "$GNF" render "$T/cap.gnf" --path "$T/cams.json" -o "$T/p1"
has "$T/out" "100 path views of 16x12" "the path's frames take the file's w/h"
# neither w/h nor pictures: --width/--height give the size
sed -e "s#\"$LEGO/train/#\"$T/nowhere/#" "$C/transforms.json" > "$T/cams2.json"
expect 0 "render --path without w/h nor pictures, --width/--height" "$GNF" render "$T/cap.gnf" --path "$T/cams2.json" --width 10 --height 8 -o "$T/p2"
has "$T/out" "path views of 10x8" "--width/--height size such frames"

# the same camera through a file with the box keys and through lego's own file (no keys) renders
# the same picture: --path moves cameras from the file's box centre to the model's
"$GNF" render "$T/cap.gnf" --path "$C/transforms.json" --downscale 40 -o "$T/pa" >/dev/null 2>&1
"$GNF" render "$T/cap.gnf" --path "$LEGO/transforms_train.json" --downscale 40 -o "$T/pb" >/dev/null 2>&1
if [ -s "$T/pa/000.png" ] && cmp -s "$T/pa/000.png" "$T/pb/000.png"; then ok "path cameras follow the model's box centre"
else bad "path cameras follow the model's box centre (000.png differ or missing)"; fi

echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
