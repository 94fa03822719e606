#!/usr/bin/python3
"""mesh_check.py — Open3D's view of triangle meshes (what 3D printing and boolean tools ask for).

usage: /usr/bin/python3 tools/mesh_check.py MESH.ply [MESH.ply ...] [--full]

Prints one line per mesh: triangles, edge- and vertex-manifold (Open3D), boundary edges,
self-intersecting triangle pairs (Open3D's own test), watertight (= the three above, as Open3D's
is_watertight() defines it), triangles of zero area / under 1e-12 / under 1e-9 (mesh units²) and
vertices that share a position.  Needs python3-open3d (Debian) and numpy.

Open3D 0.16's get_self_intersecting_triangles() compares every pair of triangles (about 5 minutes
for 134k triangles), so this runs it block by block: triangles go into every block of a uniform
grid their bounding box touches (blocks 4 triangle-widths wide) and each block's triangles are
checked as one small mesh.  Two triangles whose boxes overlap share a block, and Open3D looks at
no other pair, so the pairs found are the ones the whole-mesh call returns (checked on a 134k
triangle mesh: the same 7 pairs).  --full also calls is_watertight() on the whole mesh.
"""
import sys
import time

import numpy as np
import open3d as o3d


def self_intersecting_pairs(v, f):
    """Open3D's self-intersecting pairs of mesh (v, f), as sorted (i, j) triangle indices."""
    tmin, tmax = v[f].min(axis=1), v[f].max(axis=1)
    block = 4 * float((tmax - tmin).max())
    lo = v.min(axis=0)
    b0 = np.floor((tmin - lo) / block).astype(np.int64)
    b1 = np.floor((tmax - lo) / block).astype(np.int64)
    nb = b1.max(axis=0) + 1
    span = (b1 - b0).max(axis=0)
    tris, keys = [], []
    for dx in range(span[0] + 1):
        for dy in range(span[1] + 1):
            for dz in range(span[2] + 1):
                d = np.array([dx, dy, dz])
                sel = np.nonzero(np.all(b0 + d <= b1, axis=1))[0]
                c = b0[sel] + d
                tris.append(sel)
                keys.append((c[:, 0] * nb[1] + c[:, 1]) * nb[2] + c[:, 2])
    tris, keys = np.concatenate(tris), np.concatenate(keys)
    order = np.argsort(keys, kind="stable")
    tris, keys = tris[order], keys[order]
    cuts = np.r_[0, np.nonzero(np.diff(keys))[0] + 1, len(keys)]
    pairs = set()
    for s, e in zip(cuts[:-1], cuts[1:]):
        t = tris[s:e]
        if len(t) < 2:
            continue
        used, local = np.unique(f[t], return_inverse=True)  # shared vertices stay shared
        part = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(v[used]),
                                         o3d.utility.Vector3iVector(local.reshape(-1, 3).astype(np.int32)))
        for p, q in np.asarray(part.get_self_intersecting_triangles()):
            pairs.add((min(t[p], t[q]), max(t[p], t[q])))
    return sorted(pairs)


def check(path, full=False):
    m = o3d.io.read_triangle_mesh(path)
    v, f = np.asarray(m.vertices), np.asarray(m.triangles)
    if len(f) == 0:
        return {"triangles": 0}, []
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, edge_count = np.unique(edges, axis=0, return_counts=True)
    _, pos_count = np.unique(v, axis=0, return_counts=True)
    pairs = self_intersecting_pairs(v, f)
    em, vm = m.is_edge_manifold(allow_boundary_edges=True), m.is_vertex_manifold()
    r = {"triangles": len(f), "edge_manifold": em, "vertex_manifold": vm,
         "boundary_edges": int((edge_count == 1).sum()), "self_intersecting_pairs": len(pairs),
         "watertight": bool(em and vm and (edge_count == 2).all() and not pairs),
         "area_0": int((area == 0).sum()), "area_lt_1e-12": int((area < 1e-12).sum()),
         "area_lt_1e-9": int((area < 1e-9).sum()), "shared_positions": int((pos_count > 1).sum())}
    if full:
        r["is_watertight()"] = m.is_watertight()
    return r, pairs


def main(argv):
    full = "--full" in argv
    paths = [a for a in argv if a != "--full"]
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    for p in paths:
        t = time.time()
        r, pairs = check(p, full)
        print("%s: %s (%.1f s)" % (p, ", ".join("%s %s" % kv for kv in r.items()), time.time() - t))
        if pairs:
            print("  first pairs:", pairs[:8])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
