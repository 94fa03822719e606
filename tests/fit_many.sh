#!/bin/sh
# fit_many.sh — tests of gnf fit-many and gnf report without a scheduler: manifest errors (exit 2,
# manifest and line named, nothing started), a batch where one item fails and the others succeed,
# resuming (valid models skipped and untouched, a truncated or interrupted model fitted again),
# shards (a partition of the items, the Slurm array variables), two shards writing one
# results.jsonl at once, and report's table, summary and numbers.
# usage: tests/fit_many.sh path/to/gnf     (prints one line per check and "N passed, N failed, N skipped")
GNF=${1:-build/release/gnf}
case $GNF in /*) ;; *) GNF=$(pwd)/$GNF ;; esac
T=$(mktemp -d /tmp/gnf_fit_many_XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0; skipped=0
ok()  { pass=$((pass+1)); echo "ok    fit-many: $1"; }
bad() { fail=$((fail+1)); echo "FAIL  fit-many: $1"; }
expect() {   # expect CODE "description" cmd...
  code=$1; desc=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; rc=$?
  if [ "$rc" = "$code" ]; then ok "$desc"; else bad "$desc (exit $rc, wanted $code): $(head -c 400 "$T/err")"; fi
}
err_has() { if grep -qF -- "$1" "$T/err"; then ok "$2"; else bad "$2: stderr was: $(head -c 400 "$T/err")"; fi; }
out_has() { if grep -qF -- "$1" "$T/out"; then ok "$2"; else bad "$2: stdout was: $(head -c 600 "$T/out")"; fi; }
# records FILE OUTPUT STATUS: how many records of model OUTPUT with STATUS the results file holds
records() { grep -c "\"output\":\"$2\",\"status\":\"$3\"" "$1"; }
PY3=${GNF_PYTHON:-/usr/bin/python3}
[ -x "$PY3" ] || PY3=python3

IMG=$(pwd)/data/kodim23_crop.png
mkdir -p "$T/a" "$T/b"
cp "$IMG" "$T/a/pic.png"; cp "$IMG" "$T/b/pic.png"; cp "$IMG" "$T/c.png"
FIT="--crop 64x64 --params 20000 --steps 60"

# ---- manifest errors: exit 2, the manifest and line named, no folder made
bad_manifest() {   # bad_manifest "description" "expected text in stderr" LINE...
  d=$1; want=$2; shift 2
  printf '%s\n' "$@" > "$T/bad.txt"
  expect 2 "$d" "$GNF" fit-many "$T/bad.txt" -O "$T/never" -- $FIT
  err_has "$want" "$d: the error names it"
}
bad_manifest "malformed JSON line" "bad.txt:2: not a JSON object" "a/pic.png" '{"input": "c.png",'
bad_manifest "unknown key" 'bad.txt:3: unknown key "sconds"' "# comment" "" '{"input": "c.png", "sconds": 3}'
bad_manifest "a key of the wrong type" 'bad.txt:1: "steps" must be a number' '{"input": "c.png", "steps": "many"}'
bad_manifest "a non-integer step count" 'bad.txt:1: "steps" must be an integer' '{"input": "c.png", "steps": 2.5}'
bad_manifest "no input" 'bad.txt:1: no "input"' '{"params": 30000}'
bad_manifest "an output with a folder" 'bad.txt:1: "output" must be a file name' '{"input": "c.png", "output": "../x.gnf"}'
bad_manifest "a fit option out of range" "bad.txt:1: the gnf fit options of 'c.png' are refused" '{"input": "c.png", "params": 5}'
bad_manifest "an option of another task" "--samples is for signed distance fields, not images" '{"input": "c.png", "args": ["--samples", "5000"]}'
bad_manifest "-o among the options" "-o and --resume are chosen by fit-many" '{"input": "c.png", "args": ["-o", "x.gnf"]}'
bad_manifest "the same model twice" "bad.txt:1 and line 2 both write c.png.gnf" "c.png" "./c.png"
bad_manifest "an empty manifest" "bad.txt: no inputs" "# nothing" ""
[ ! -e "$T/never" ] && ok "no output folder after manifest errors" || bad "manifest errors made $T/never"
printf 'c.png\n' > "$T/one.txt"
expect 2 "bad fit option after --" "$GNF" fit-many "$T/one.txt" -O "$T/never" -- --bogus
expect 2 "missing -O" "$GNF" fit-many "$T/one.txt"
expect 2 "missing manifest" "$GNF" fit-many -O "$T/never"
expect 2 "--shard out of range" "$GNF" fit-many "$T/one.txt" -O "$T/never" --shard 2/2
err_has "--shard needs I/N with 0 <= I < N, got '2/2'" "--shard's error names the value"
expect 2 "--shard not a fraction" "$GNF" fit-many "$T/one.txt" -O "$T/never" --shard 1
expect 2 "a Slurm array task past its count" env SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 "$GNF" fit-many "$T/one.txt" -O "$T/never"
err_has "cannot place Slurm array task 7" "the array task is named"
expect 1 "unreadable manifest" "$GNF" fit-many "$T/nope.txt" -O "$T/never"
err_has "$T/nope.txt" "the missing manifest is named"
: > "$T/afile"
expect 1 "DIR is a file" "$GNF" fit-many "$T/one.txt" -O "$T/afile" -- $FIT
err_has "$T/afile: cannot create the folder" "the folder is named"
[ ! -e "$T/never" ] && ok "no output folder after usage errors" || bad "usage errors made $T/never"

# ---- a batch: two inputs with the same file name, a missing input, per-item options
cat > "$T/list.txt" <<EOF
# five items; paths relative to this file
a/pic.png
b/pic.png

missing.png
{"input": "c.png", "output": "small.gnf", "params": 20000, "steps": 30}
{"input": "$T/c.png", "eval": false}
EOF
expect 1 "a batch with a missing input exits 1" "$GNF" fit-many "$T/list.txt" -O "$T/B" -- $FIT
R=$T/B/results.jsonl
n_ok=0
for m in a_pic.png.gnf b_pic.png.gnf small.gnf; do
  [ "$(records "$R" $m ok)" = 1 ] && "$GNF" info "$T/B/$m" >/dev/null 2>&1 && n_ok=$((n_ok+1))
done
M5=$(echo "$T/c.png" | sed 's,^/,,; s,/,_,g').gnf
[ "$(records "$R" "$M5" ok)" = 1 ] && "$GNF" info "$T/B/$M5" >/dev/null 2>&1 && n_ok=$((n_ok+1))
[ $n_ok = 4 ] && ok "the four good items have a valid model and an ok record (same basenames kept apart)" || bad "only $n_ok of 4 good items ok: $(cat "$R")"
[ "$(records "$R" missing.png.gnf failed)" = 1 ] && ok "the missing input is recorded as failed" || bad "no failed record: $(cat "$R")"
grep '"status":"failed"' "$R" | grep -q "missing.png: cannot open" && ok "the failure's error names the file" || bad "failed record without the error: $(grep failed "$R")"
[ -s "$T/B/logs/a_pic.png.log" ] && [ -s "$T/B/logs/missing.png.log" ] && ok "each item has a log" || bad "logs missing: $(ls "$T/B/logs")"
[ ! -e "$T/B/missing.png.gnf" ] && ok "no model for the failed item" || bad "a model for the failed item"
grep '"output":"a_pic.png.gnf"' "$R" | grep -q '"metrics":{"psnr":' && ok "ok records carry gnf eval's metrics" || bad "no metrics: $(head -1 "$R")"
grep "\"output\":\"$M5\"" "$R" | grep -q '"metrics":null' && ok "\"eval\": false: no metrics" || bad "eval false ignored"
grep '"output":"a_pic.png.gnf"' "$R" | grep -q '"params":[0-9].*"seconds":[0-9].*"host":".*"shard":"0/1"' && ok "records carry params, seconds, host, shard" || bad "fields missing: $(head -1 "$R")"
[ "$(wc -l < "$R")" = 5 ] && ok "one record per item" || bad "$(wc -l < "$R") records for 5 items"

# ---- report: table, summary, and its numbers recomputed from results.jsonl
expect 0 "report" "$GNF" report "$T/B"
out_has "5 items: 4 done (4 fitted ok, 0 skipped as already done), 1 failed, 0 interrupted, 0 not run yet" "report's counts"
out_has "failed: missing.png: exit status 1" "report lists the failure with its error"
out_has "b/pic.png" "report's table lists the items"
expect 0 "report --json" "$GNF" report "$T/B" --json
if "$PY3" - "$T/out" "$R" <<'PY' >"$T/py" 2>&1
import json, statistics, sys
rep = json.loads(open(sys.argv[1]).read())
recs = [json.loads(l) for l in open(sys.argv[2])]
ps = [r["metrics"]["psnr"] for r in recs if r["status"] == "ok" and r["metrics"]]
t = rep["summary"]["tasks"]["image"]
assert t["count"] == len(ps) == 3, (t, ps)
assert abs(t["mean"] - statistics.mean(ps)) < 1e-9 and abs(t["median"] - statistics.median(ps)) < 1e-9, (t, ps)
assert t["worst"] == min(ps), (t, ps)
s = rep["summary"]
assert (s["ok"], s["failed"], s["skipped"], s["items"]) == (4, 1, 0, 5), s
assert [f["input"] for f in s["failures"]] == ["missing.png"], s
print("ok")
PY
then ok "report --json: counts, mean, median and worst PSNR match results.jsonl"; else bad "report --json numbers: $(cat "$T/py") $(head -c 300 "$T/out")"; fi

# ---- resuming: valid models skipped and untouched, a truncated one fitted again
ls -l --time-style=+%s.%N "$T/B"/*.gnf | awk '{print $6, $7}' > "$T/mtimes0"
head -c 1000 "$T/B/b_pic.png.gnf" > "$T/trunc" && mv "$T/trunc" "$T/B/b_pic.png.gnf"
expect 1 "rerun (the missing input still fails)" "$GNF" fit-many "$T/list.txt" -O "$T/B" -- $FIT
for m in a_pic.png.gnf small.gnf "$M5"; do [ "$(records "$R" "$m" skipped)" = 1 ] || miss="$miss $m"; done
[ -z "$miss" ] && ok "the rerun skips the valid models" || bad "not skipped:$miss"
[ "$(records "$R" b_pic.png.gnf ok)" = 2 ] && "$GNF" info "$T/B/b_pic.png.gnf" >/dev/null 2>&1 && ok "the truncated model is fitted again" || bad "truncated model not refitted"
ls -l --time-style=+%s.%N "$T/B"/*.gnf | awk '{print $6, $7}' > "$T/mtimes1"
[ "$(grep -v b_pic "$T/mtimes0")" = "$(grep -v b_pic "$T/mtimes1")" ] && ok "the skipped models are untouched (same mtimes)" || bad "mtimes changed"
expect 0 "report after the rerun" "$GNF" report "$T/B"
out_has "5 items: 4 done (1 fitted ok, 3 skipped as already done), 1 failed" "report counts the skips as done"
grep -q "a/pic.png  *skipped  *image  *[0-9.]* dB" "$T/out" && ok "a skipped item keeps the metric of the fit that made it" || bad "skipped row: $(grep a/pic "$T/out")"

# ---- interrupted: SIGTERM stops the current fit, records it, exits 143; the rerun fits it again
printf '{"input": "c.png", "output": "long.gnf", "steps": 2000000}\n' > "$T/long.txt"
"$GNF" fit-many "$T/long.txt" -O "$T/B" -- --crop 64x64 --params 20000 >"$T/out_int" 2>"$T/err_int" &
pid=$!
i=0; while [ $i -lt 300 ] && ! grep -q "^model:" "$T/B/logs/long.log" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
sleep 0.5
kill -TERM $pid; wait $pid; rc=$?
[ $rc = 143 ] && ok "SIGTERM: fit-many exits 143" || bad "SIGTERM: exit $rc: $(cat "$T/err_int")"
[ "$(records "$R" long.gnf interrupted)" = 1 ] && ok "the item is recorded as interrupted" || bad "no interrupted record: $(tail -1 "$R")"
if [ -e "$T/B/long.gnf" ]; then
  "$GNF" info "$T/B/long.gnf" | grep -q "gnf.train.interrupted" && ok "its model is marked interrupted" || bad "model not marked interrupted"
else ok "no model left by the interrupted item"; fi
printf '{"input": "c.png", "output": "long.gnf", "steps": 40}\n' > "$T/long.txt"
expect 0 "dry run lists the interrupted item as to fit" "$GNF" fit-many "$T/long.txt" -O "$T/B" --dry-run -- --crop 64x64 --params 20000
out_has "long.gnf	fit" "the interrupted model is not taken as done"
expect 0 "the rerun completes it" "$GNF" fit-many "$T/long.txt" -O "$T/B" -- --crop 64x64 --params 20000
[ "$(records "$R" long.gnf ok)" = 1 ] && ! "$GNF" info "$T/B/long.gnf" | grep -q interrupted && ok "the interrupted item is fitted again, complete" || bad "interrupted item not refitted"

# ---- a fit killed by SIGKILL (what the out-of-memory killer does): recorded, the batch goes on
printf '{"input": "c.png", "output": "killed.gnf", "steps": 2000000}\n{"input": "c.png", "output": "after.gnf"}\n' > "$T/kill.txt"
"$GNF" fit-many "$T/kill.txt" -O "$T/K" -- --crop 64x64 --params 20000 >"$T/out_kill" 2>"$T/err_kill" &
pid=$!
i=0; while [ $i -lt 300 ] && ! grep -q "^model:" "$T/K/logs/killed.log" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
child=$(pgrep -P $pid)
[ -n "$child" ] && kill -KILL $child
wait $pid; rc=$?
[ $rc = 1 ] && ok "a killed item: fit-many goes on and exits 1" || bad "killed child: exit $rc: $(cat "$T/err_kill")"
grep '"output":"killed.gnf","status":"failed"' "$T/K/results.jsonl" | grep -q "killed by signal 9" && ok "the killed item is recorded as failed, killed by signal 9" || bad "killed record: $(cat "$T/K/results.jsonl")"
[ "$(records "$T/K/results.jsonl" after.gnf ok)" = 1 ] && ok "the next item is fitted" || bad "after the killed item: $(cat "$T/K/results.jsonl")"

# ---- shards: a partition of the items, round-robin; the Slurm array variables pick the same
for i in 0 1 2; do "$GNF" fit-many "$T/list.txt" -O "$T/dry" --shard $i/3 --dry-run -- $FIT | cut -f1 > "$T/shard$i"; done
[ "$(cat "$T/shard0" "$T/shard1" "$T/shard2" | sort -n | tr '\n' ' ')" = "0 1 2 3 4 " ] && [ "$(tr '\n' ' ' < "$T/shard1")" = "1 4 " ] \
  && ok "shards 0/3, 1/3, 2/3 partition the 5 items round-robin" || bad "shards: $(cat "$T"/shard? | tr '\n' ' ')"
env SLURM_ARRAY_TASK_ID=11 SLURM_ARRAY_TASK_MIN=10 SLURM_ARRAY_TASK_COUNT=3 "$GNF" fit-many "$T/list.txt" -O "$T/dry" --dry-run -- $FIT | cut -f1 > "$T/slurm1"
cmp -s "$T/slurm1" "$T/shard1" && ok "array task 11 of 10-12 is shard 1/3" || bad "array task 11: $(cat "$T/slurm1")"
env SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_STEP=2 SLURM_ARRAY_TASK_COUNT=3 "$GNF" fit-many "$T/list.txt" -O "$T/dry" --dry-run -- $FIT | cut -f1 > "$T/slurm2"
[ "$(tr '\n' ' ' < "$T/slurm2")" = "2 " ] && ok "array task 4 of 0-4:2 is shard 2/3" || bad "array 0-4:2 task 4: $(cat "$T/slurm2")"
[ ! -e "$T/dry" ] && ok "--dry-run writes nothing" || bad "--dry-run made $T/dry"

# ---- two shards at once into one folder: one whole record per item
printf 'a/pic.png\nb/pic.png\nc.png\n{"input": "c.png", "output": "c2.gnf"}\n{"input": "c.png", "output": "c3.gnf"}\n{"input": "c.png", "output": "c4.gnf"}\n' > "$T/six.txt"
"$GNF" fit-many "$T/six.txt" -O "$T/par" --shard 0/2 -- $FIT >/dev/null 2>&1 & p0=$!
"$GNF" fit-many "$T/six.txt" -O "$T/par" --shard 1/2 -- $FIT >/dev/null 2>&1 & p1=$!
wait $p0; r0=$?; wait $p1; r1=$?
[ $r0 = 0 ] && [ $r1 = 0 ] && ok "two concurrent shards succeed" || bad "concurrent shards exited $r0 $r1"
if "$PY3" - "$T/par/results.jsonl" <<'PY' >"$T/py" 2>&1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
outs = sorted(r["output"] for r in recs)
assert outs == sorted(["a_pic.png.gnf", "b_pic.png.gnf", "c.png.gnf", "c2.gnf", "c3.gnf", "c4.gnf"]), outs
assert all(r["status"] == "ok" for r in recs), recs
assert sorted(r["shard"] for r in recs) == ["0/2"] * 3 + ["1/2"] * 3
PY
then ok "their results.jsonl: six whole records, three from each shard"; else bad "concurrent results: $(cat "$T/py")"; fi

# ---- report: a damaged line is named and ignored; a folder without results is an error
printf '{"input": "a/pic.png", "outp\n' >> "$R"
expect 0 "report with a truncated record" "$GNF" report "$T/B"
err_has "results.jsonl:$(wc -l < "$R") is not a fit-many record; ignored" "the damaged line is named"
expect 1 "report of a folder without results" "$GNF" report "$T/a"
err_has "$T/a/results.jsonl: cannot open" "the missing results file is named"
expect 2 "report without DIR" "$GNF" report

echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
