# kernels_table.awk — bench/run.sh's table from gnf_bench RESULT lines of several rounds.
# Input: "BUILD name=N threads=T kernel=K mpts=M flop=F ... [dec_ms=.. scatter_ms=.. adam_ms=..]",
# BUILD "new" (this build) or "prev"; "BUILD name=peak threads=T gflops=G" for the FMA peak.
# Output (markdown): per (name, threads) the medians over rounds of this build's Mpoints/s, its
# nominal GFLOP/s and share of the median peak (all rounds, both builds) at that thread count,
# the scaling (all threads / 1 thread), the previous build's Mpoints/s and the ratio new / prev;
# then the per-phase times of the training steps.
function med(s,   a, n, i, j, x) {
    n = split(s, a, " ")
    if (!n) return -1
    for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return n % 2 ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmt(x, d) { return x < 0 ? "-" : sprintf("%.*f", d, x) }
{
    b = $1
    split("", kv)
    for (i = 2; i <= NF; i++) { e = index($i, "="); if (e) kv[substr($i, 1, e - 1)] = substr($i, e + 1) }
    t = kv["threads"]
    if (kv["name"] == "peak") { pk[t] = pk[t] " " kv["gflops"]; if (!(t in pkseen)) { pkseen[t] = 1; pkt[++npk] = t } next }
    key = kv["name"] SUBSEP t
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    v[key, b] = v[key, b] " " kv["mpts"]
    if (kv["flop"] > 0) flop[key] = kv["flop"]
    if (b == "new" || !(key in kern)) kern[key] = kv["kernel"]
    if ("dec_ms" in kv) { ph[key, b, 1] = ph[key, b, 1] " " kv["dec_ms"]; ph[key, b, 2] = ph[key, b, 2] " " kv["scatter_ms"]; ph[key, b, 3] = ph[key, b, 3] " " kv["adam_ms"]; steps[key] = 1 }
}
END {
    s = "Measured FP32 FMA peak (median over all rounds):"
    for (i = 1; i <= npk; i++) { mp[pkt[i]] = med(pk[pkt[i]]); s = s sprintf("%s %.1f GFLOP/s on %s thread%s", i > 1 ? "," : "", mp[pkt[i]], pkt[i], pkt[i] == 1 ? "" : "s") }
    print s "."
    print ""
    print "| kernel | code | threads | Mpoints/s | GFLOP/s (nominal) | share of peak | scaling | previous Mpoints/s | ratio |"
    print "|---|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= n; i++) {
        key = order[i]; split(key, q, SUBSEP); name = q[1]; t = q[2]
        a = med(v[key, "new"]); o = med(v[key, "prev"])
        gf = a >= 0 && flop[key] > 0 ? a * flop[key] / 1000 : -1
        sh = gf >= 0 && mp[t] > 0 ? sprintf("%.1f%%", 100 * gf / mp[t]) : "-"
        a1 = t != 1 ? med(v[name SUBSEP 1, "new"]) : -1
        sc = a >= 0 && a1 > 0 ? sprintf("%.2fx", a / a1) : "-"
        ra = a > 0 && o > 0 ? sprintf("%.2f", a / o) : "-"
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, kern[key], t, fmt(a, 3), fmt(gf, 1), sh, sc, fmt(o, 3), ra
    }
    ns = 0
    for (i = 1; i <= n; i++) if (order[i] in steps) ns++
    if (!ns) exit
    print ""
    print "Training steps, milliseconds per step by phase (the library's report; this build / previous build):"
    print ""
    print "| step | threads | sample + grid lookup + decoder | grid scatter | Adam |"
    print "|---|---|---|---|---|"
    for (i = 1; i <= n; i++) {
        key = order[i]
        if (!(key in steps)) continue
        split(key, q, SUBSEP)
        printf "| %s | %s |", q[1], q[2]
        for (p = 1; p <= 3; p++) printf " %s / %s |", fmt(med(ph[key, "new", p]), 2), fmt(med(ph[key, "prev", p]), 2)
        printf "\n"
    }
}
