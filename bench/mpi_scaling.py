#!/usr/bin/env python3
"""mpi_scaling.py — data-parallel training measured on this machine and modelled on a cluster
(docs/CLUSTER.md, "Data-parallel training over MPI").

Measures, for an image, an SDF and a short radiance-field fit at their default global batch:
  A  one process, 2 threads          build/release/gnf fit ... --threads 2
  B  2 ranks x 1 thread              mpirun -np 2 build/mpi/gnf fit ... --threads 1  (GNF_MPI_STATS=1)
in alternating rounds (A, B, A, B, ...; medians), each run's steps/s (steps / training seconds of
the summary line), B's communication share (rank 0's "mpi:" line: seconds in the sums, waiting for
the slower rank included) and A's phases ("where the time went"); the load average before each
run is recorded.  Then the gradient volume per step: dense floats, and the nonzero ("touched")
entries of one rank's gradient at 1, 2, 4 and 8 ranks (GNF_MPI_STATS=1, short runs; counts do
not depend on timing).  From these it models steps/s on 4..64 nodes (the formulas and assumptions
are printed with the table) and writes everything to bench/results/mpi_scaling.md.

usage: python3 bench/mpi_scaling.py [--rounds 3] [--data ../shared/data] [--out bench/results/mpi_scaling.md]
       python3 bench/mpi_scaling.py --model-only     (the tables again from bench/results/mpi_scaling.json)
"""
import argparse, json, math, os, re, statistics, subprocess, sys, tempfile, time

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]

def run(cmd, env=None):
    e = dict(os.environ)
    if env: e.update(env)
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-2000:]))
    return p.stdout + p.stderr, load

def summary(out):
    m = re.search(r"after (\d+) steps, ([0-9.]+) s training", out)
    q = re.search(r"(?:held-out IoU|PSNR) ([0-9.]+)", out)
    return int(m.group(1)), float(m.group(2)), float(q.group(1)) if q else float("nan")

def mpi_line(out):
    m = re.search(r"mpi: (\d+) ranks; gradient exchange (\d+) floats .* a step, ([0-9.]+) ms a step = ([0-9.]+)% of a step \(([0-9.]+) ms", out)
    n = re.search(r"rank 0's batch (\d+) .*all ranks summed (\d+)", out)
    return {"floats": int(m.group(2)), "comm_ms": float(m.group(3)), "share": float(m.group(4)), "step_ms": float(m.group(5)),
            "nnz_local": int(n.group(1)) if n else None, "nnz_sum": int(n.group(2)) if n else None}

def phases(out):
    """A's phases as fractions: split (scales with the batch share) and replicated (every rank)."""
    m = re.search(r"where the time went: batch \(sample, lookup, decoder\) ([0-9.]+) s, grid scatter ([0-9.]+) s, adam ([0-9.]+) s, checks ([0-9.]+) s", out)
    if m:
        b, s, a, c = map(float, m.groups())
        return (b + s) / (b + s + a + c), (a + c) / (b + s + a + c)
    m = re.search(r"where the time went: (.*)", out)
    parts = dict((k.strip(), float(v)) for k, v in re.findall(r"([a-z+ -]+) ([0-9.]+)%", m.group(1)))
    # rays+march: the ray draw and sample count of pass 1 run on every rank; charged as replicated
    repl = parts["rays+march"] + parts["adam"] + parts["occupancy+held-out"]
    tot = sum(parts.values())
    return (tot - repl) / tot, repl / tot

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", default=os.environ.get("GNF_DATA", "../shared/data"))
    ap.add_argument("--out", default="bench/results/mpi_scaling.md")
    ap.add_argument("--model-only", action="store_true")
    a = ap.parse_args()
    raw = os.path.splitext(a.out)[0] + ".json"
    if a.model_only:
        d = json.load(open(raw))
        for r in d["res"].values(): r["nnz"] = {int(k): v for k, v in r["nnz"].items()}
        write(a, d["res"], d["log"], d["made"])
        return
    rel, mpi = "build/release/gnf", "build/mpi/gnf"
    tasks = [("image", ["data/kodim23_crop.png", "--steps", "1000"], ["data/kodim23_crop.png", "--steps", "200"]),
             ("sdf", [a.data + "/meshes/bunny.obj", "--steps", "300"], [a.data + "/meshes/bunny.obj", "--steps", "100"]),
             ("nerf", [a.data + "/nerf/lego_400", "--downscale", "4", "--steps", "150"],
              [a.data + "/nerf/lego_400", "--downscale", "4", "--steps", "100"])]
    tmp = tempfile.mkdtemp(prefix="gnf_mpi_scaling_")
    made = "`python3 bench/mpi_scaling.py --rounds %d` on %s (%d cores), %s UTC" % (
        a.rounds, os.uname().nodename, os.cpu_count(), time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
    res = {}
    log = []
    for name, args, count_args in tasks:
        r = res[name] = {"A": [], "B": [], "loads": [], "phases": [], "mpi": [], "qA": [], "qB": []}
        for k in range(a.rounds):
            out, load = run([rel, "fit"] + args + ["--threads", "2", "-o", tmp + "/a.gnf"])
            n, s, q = summary(out)
            info, _ = run([rel, "info", tmp + "/a.gnf"])
            b = re.search(r"gnf.train.batch = (\d+)", info)
            r["chunks"] = (int(b.group(1)) + 2047) // 2048 if b else None   # per-point tasks split by chunks of 2048
            r["A"].append(n / s); r["loads"].append(load); r["phases"].append(phases(out)); r["qA"].append(q)
            log.append("%s A round %d: %d steps in %.2f s = %.1f steps/s (load %.2f)" % (name, k + 1, n, s, n / s, load))
            out, load = run(MPIRUN + ["-np", "2", mpi, "fit"] + args + ["--threads", "1", "-o", tmp + "/b.gnf"], {"GNF_MPI_STATS": "1"})
            n, s, q = summary(out)
            mi = mpi_line(out)
            r["B"].append(n / s); r["loads"].append(load); r["mpi"].append(mi); r["qB"].append(q)
            log.append("%s B round %d: %d steps in %.2f s = %.1f steps/s, comm %.3f ms = %.1f%% (load %.2f)"
                       % (name, k + 1, n, s, n / s, mi["comm_ms"], mi["share"], load))
            print(log[-2]); print(log[-1]); sys.stdout.flush()
        r["nnz"] = {}
        for P in (1, 2, 4, 8):
            out, _ = run(MPIRUN + ["-np", str(P), mpi, "fit"] + count_args + ["--threads", "1", "-o", tmp + "/c.gnf"], {"GNF_MPI_STATS": "1"})
            mi = mpi_line(out)
            r["nnz"][P] = mi["nnz_local"]
            r["floats"] = mi["floats"]
            log.append("%s nonzero gradient entries of rank 0 at %d ranks: %d of %d" % (name, P, mi["nnz_local"], mi["floats"]))
            print(log[-1]); sys.stdout.flush()
    json.dump({"res": res, "log": log, "made": made}, open(raw, "w"), indent=1)
    write(a, res, log, made)

# ---- the model --------------------------------------------------------------------------------
# Strong scaling: the global batch of the measured runs, split over P nodes.  Each node computes
# like this machine's 1 process x 2 threads (A): the split part of A's step time (batch, scatter,
# decoder backward: the phases that follow the samples) divided by P, plus the replicated part
# (Adam over the whole arena, checks, occupancy refresh and held-out PSNR, the radiance field's
# ray draw) on every node.  Communication per step:
#   dense: this implementation's exchange (a reduce-scatter and an allgather by pairwise messages,
#          each rank sending and receiving (P-1)/P of the vector per phase, as a ring allreduce):
#          t = 2 (P-1) alpha + 2 (P-1)/P * 4n / beta
#   touched-only (a sparse exchange, not implemented): every rank's nonzero entries as (index,
#          value) pairs, 8 bytes each, allgathered: t = (P-1) alpha + (P-1) * 8 z(P) / beta, where
#          z(P) is one rank's touched entries at batch B/P (measured at P = 1, 2, 4, 8; beyond,
#          z = c + d/P fitted to P = 4 and 8)
#   plus the step's three small sums of doubles: 3 * 2 log2(P) alpha (latency bound).
NETS = [("10 GbE", 25e-6, 1.1e9), ("100 Gb InfiniBand", 1.5e-6, 11e9)]
NODES = [4, 8, 16, 32, 64]

def model(r, P, alpha, beta):
    stepA = 1.0 / statistics.median(r["A"])
    fs = statistics.median([p[0] for p in r["phases"]])
    comp = stepA * (fs / P + (1 - fs))
    n = r["floats"]
    nz = r["nnz"]
    if P in nz: z = nz[P]
    else:   # z = c + d/P through the two largest measured P
        d = (nz[4] - nz[8]) / (1 / 4 - 1 / 8); c = nz[8] - d / 8
        z = max(0.0, c + d / P)
    small = 3 * 2 * math.log2(P) * alpha
    dense = 2 * (P - 1) * alpha + 2 * (P - 1) / P * 4 * n / beta + small
    sparse = (P - 1) * alpha + (P - 1) * 8 * z / beta + small
    return comp, dense, sparse, z

def write(a, res, log, made):
    L = []
    L.append("# Data-parallel training over MPI: measured here, modelled on a cluster\n")
    L.append("Made by %s.\n" % made)
    L.append("## This machine: 1 process x 2 threads (A) against 2 ranks x 1 thread (B)\n")
    L.append("Same global batch and steps; medians of %d alternating rounds; the load average (1 min) before the runs ranged "
             "%.2f-%.2f (other jobs shared the 2 cores).\n" % (a.rounds, min(min(r["loads"]) for r in res.values()),
                                                              max(max(r["loads"]) for r in res.values())))
    L.append("| task | A steps/s | B steps/s | B/A | B: communication ms/step | B: communication share | quality A | quality B |")
    L.append("|---|---|---|---|---|---|---|---|")
    for name, r in res.items():
        A, B = statistics.median(r["A"]), statistics.median(r["B"])
        cm = statistics.median([m["comm_ms"] for m in r["mpi"]]); sh = statistics.median([m["share"] for m in r["mpi"]])
        L.append("| %s | %.1f | %.1f | %.2f | %.2f | %.1f%% | %.4g | %.4g |" % (name, A, B, B / A, cm, sh,
                                                                     statistics.median(r["qA"]), statistics.median(r["qB"])))
    L.append("\nQuality: image PSNR (dB), SDF held-out IoU, radiance field held-out PSNR (dB).\n")
    L.append("## Gradient volume per step\n")
    L.append("| task | dense floats (MiB) | nonzero in rank 0's gradient at 1 / 2 / 4 / 8 ranks (its batch share) |")
    L.append("|---|---|---|")
    for name, r in res.items():
        n = r["floats"]
        L.append("| %s | %d (%.2f) | %s |" % (name, n, n * 4 / 1048576, " / ".join("%d (%.1f%%)" % (r["nnz"][P], 100 * r["nnz"][P] / n) for P in (1, 2, 4, 8))))
    L.append("\n## Model: steps/s on P nodes (strong scaling, the global batch above)\n")
    L.append("Each node computes like this machine with 2 threads; split phases / P + replicated phases; "
             "communication: dense = 2(P-1)a + 2(P-1)/P 4n/b, touched-only = (P-1)a + (P-1) 8z/b, plus 6 log2(P) a of small sums.  "
             "10 GbE: a = 25 us, b = 1.1 GB/s; 100 Gb InfiniBand: a = 1.5 us, b = 11 GB/s (assumed, not measured).\n")
    L.append("| task | split share of a step | P | compute ms | 10 GbE dense | 10 GbE touched | IB dense | IB touched |")
    L.append("|---|---|---|---|---|---|---|---|")
    for name, r in res.items():
        fs = statistics.median([p[0] for p in r["phases"]])
        L.append("| %s | %.1f%% | 1 (measured) | %.2f | %.1f | | | |" % (name, 100 * fs, 1e3 / statistics.median(r["A"]), statistics.median(r["A"])))
        for P in NODES:
            if r.get("chunks") and P > r["chunks"]:
                L.append("| %s | | %d | | no gain: the batch of %d chunks of 2048 points keeps %d nodes busy at most | | | |" % (name, P, r["chunks"], r["chunks"]))
                continue
            cells = []
            comp = None
            for _, al, be in NETS:
                comp, d, s, z = model(r, P, al, be)
                cells += ["%.1f (comm %.1f ms)" % (1 / (comp + d), 1e3 * d), "%.1f (comm %.1f ms)" % (1 / (comp + s), 1e3 * s)]
            L.append("| %s | | %d | %.2f | %s |" % (name, P, 1e3 * comp, " | ".join(cells)))
    L.append("\n## Raw runs\n")
    L.append("```")
    L += log
    L.append("```")
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    open(a.out, "w").write("\n".join(L) + "\n")
    print("\n".join(L))

if __name__ == "__main__":
    main()
