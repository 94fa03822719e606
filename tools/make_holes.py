#!/usr/bin/env python3
"""make_holes.py — cut holes into an OBJ mesh, reproducibly (Python 3 standard library only).

    python3 tools/make_holes.py IN.obj OUT.obj [--holes 5] [--radius 0.02] [--seed 1]

Picks --holes centres at area-weighted random points of the surface (seeded: the same arguments
give the same file on any machine and Python 3 version) and deletes every face whose centroid (the
mean of its corners) lies within --radius × the bounding-box diagonal of a centre.  Everything else
is copied line for line: all vertices stay (also those no face uses any more, so the bounding box,
and with it gnf's normalisation, is the original's), other faces keep their exact text.  A summary
goes to stderr: faces deleted per hole, and the boundary edges before and after.

Used by `sh bench/run.sh sdf-holes` (bench/README.md, "Meshes with holes").  Exit status 0, 1 when
the input cannot be read or has no faces, 2 on bad arguments.
"""
import argparse
import bisect
import math
import random
import sys


def parse_obj(path):
    """(lines, vertices, faces): lines of the file; vertex positions [(x, y, z)]; faces as
    (line number, [0-based vertex indices]).  OBJ's negative (relative) indices are resolved."""
    with open(path, "r", encoding="utf-8", errors="surrogateescape") as fp:
        lines = fp.readlines()
    verts, faces = [], []
    for ln, line in enumerate(lines):
        w = line.split()
        if not w:
            continue
        if w[0] == "v":
            verts.append((float(w[1]), float(w[2]), float(w[3])))
        elif w[0] == "f":
            idx = []
            for tok in w[1:]:
                i = int(tok.split("/")[0])
                idx.append(i - 1 if i > 0 else len(verts) + i)
            if any(i < 0 or i >= len(verts) for i in idx):
                raise ValueError("%s:%d: face index out of range" % (path, ln + 1))
            faces.append((ln, idx))
    return lines, verts, faces


def tri_area(a, b, c):
    e1 = [b[k] - a[k] for k in range(3)]
    e2 = [c[k] - a[k] for k in range(3)]
    n = (e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0])
    return 0.5 * math.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])


def surface_point(rng, verts, faces, cdf, owner):
    """An area-weighted random point of the surface (polygons as triangle fans).  Draws only
    rng.random(), whose sequence for a given seed Python keeps stable across versions.  cdf: the
    running total of the fan triangles' areas, owner: each one's (face, k), triangle (0, k-1, k)."""
    u = rng.random() * cdf[-1]
    i = min(bisect.bisect_left(cdf, u), len(cdf) - 1)
    fi, k = owner[i]
    idx = faces[fi][1]
    a, b, c = verts[idx[0]], verts[idx[k - 1]], verts[idx[k]]
    r1, r2 = math.sqrt(rng.random()), rng.random()
    wa, wb, wc = 1 - r1, r1 * (1 - r2), r1 * r2
    return tuple(wa * a[j] + wb * b[j] + wc * c[j] for j in range(3))


def boundary_edges(faces, keep):
    """Edges used by exactly one of the kept faces."""
    count = {}
    for fi, (_, idx) in enumerate(faces):
        if not keep[fi]:
            continue
        for j in range(len(idx)):
            a, b = idx[j], idx[(j + 1) % len(idx)]
            e = (a, b) if a < b else (b, a)
            count[e] = count.get(e, 0) + 1
    return sum(1 for c in count.values() if c == 1)


def main():
    ap = argparse.ArgumentParser(description="Cut holes into an OBJ mesh, reproducibly.")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--holes", type=int, default=5, help="number of holes (default 5)")
    ap.add_argument("--radius", type=float, default=0.02,
                    help="hole radius as a fraction of the bounding-box diagonal (default 0.02)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    a = ap.parse_args()
    if a.holes < 1 or not (a.radius > 0 and a.radius < 1):
        ap.error("--holes must be >= 1 and --radius in (0, 1)")
    try:
        lines, verts, faces = parse_obj(a.input)
    except (OSError, ValueError, IndexError) as e:
        print("make_holes: %s" % e, file=sys.stderr)
        return 1
    if not faces:
        print("make_holes: %s has no faces" % a.input, file=sys.stderr)
        return 1
    lo = [min(v[k] for v in verts) for k in range(3)]
    hi = [max(v[k] for v in verts) for k in range(3)]
    diag = math.sqrt(sum((hi[k] - lo[k]) ** 2 for k in range(3)))
    cdf, owner, acc = [], [], 0.0
    for fi, (_, idx) in enumerate(faces):
        for k in range(2, len(idx)):
            acc += tri_area(verts[idx[0]], verts[idx[k - 1]], verts[idx[k]])
            cdf.append(acc)
            owner.append((fi, k))
    if not acc > 0:
        print("make_holes: %s has no surface area" % a.input, file=sys.stderr)
        return 1
    rng = random.Random(a.seed)
    centres = [surface_point(rng, verts, faces, cdf, owner) for _ in range(a.holes)]
    r2 = (a.radius * diag) ** 2
    keep = [True] * len(faces)
    per_hole = [0] * a.holes
    for fi, (_, idx) in enumerate(faces):
        c = [sum(verts[i][k] for i in idx) / len(idx) for k in range(3)]
        for h, p in enumerate(centres):
            if sum((c[k] - p[k]) ** 2 for k in range(3)) < r2:
                keep[fi] = False
                per_hole[h] += 1
                break
    drop = {faces[fi][0] for fi in range(len(faces)) if not keep[fi]}
    deleted = len(drop)
    with open(a.output, "w", encoding="utf-8", errors="surrogateescape") as fp:
        fp.write("# %s with %d holes of radius %g x the bbox diagonal (seed %d): %d of %d faces deleted "
                 "by tools/make_holes.py\n" % (a.input.split("/")[-1], a.holes, a.radius, a.seed, deleted, len(faces)))
        for ln, line in enumerate(lines):
            if ln not in drop:
                fp.write(line)
    print("make_holes: %s -> %s: %d holes, radius %g x diagonal %g = %g; deleted %d of %d faces (per hole: %s); "
          "boundary edges %d -> %d" % (a.input, a.output, a.holes, a.radius, diag, a.radius * diag, deleted, len(faces),
                                       " ".join(str(n) for n in per_hole), boundary_edges(faces, [True] * len(faces)),
                                       boundary_edges(faces, keep)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
