/* occupancy.h — inside/outside of a triangle mesh at every point of a regular grid (the ground
 * truth of the grid IoU, docs/MODEL.md "Metrics"), and the normal angle between two meshes.
 * Internal to libgnf.
 *
 * Grid: res^3 points spanning [lo, hi] inclusive on each axis, point (i, j, k) at
 * lo + (hi - lo) * (i, j, k) / (res - 1) (computed in double, as marching cubes does).
 * Occupancy is stored as bits, one row of res bits per (j, k), each row padded to whole bytes:
 * gnf_occ_bytes(res) bytes in all, read with gnf_occ_get. */
#ifndef GNF_GEOM_OCCUPANCY_H
#define GNF_GEOM_OCCUPANCY_H

#include "geom/bvh.h"
#include "geom/mesh.h"
#include <stddef.h>
#include <stdint.h>

/* Bytes of one row and of a whole res^3 occupancy grid. */
static inline size_t gnf_occ_row_bytes(int res) { return ((size_t)res + 7) / 8; }
static inline size_t gnf_occ_bytes(int res) { return (size_t)res * (size_t)res * gnf_occ_row_bytes(res); }

/* 1 when grid point (i, j, k) is inside. */
static inline int gnf_occ_get(const uint8_t *occ, int res, long i, long j, long k) {
    const uint8_t *row = occ + ((size_t)k * (size_t)res + (size_t)j) * gnf_occ_row_bytes(res);
    return (row[i >> 3] >> (i & 7)) & 1;
}

/* Fills occ (gnf_occ_bytes(res) bytes, caller-owned) with the inside of mesh m (b: its BVH) at
 * the points of the grid (2 <= res <= 4096, lo < hi on each axis).
 *
 * watertight != 0 (closed meshes): exact ray parity along the grid's x-lines.  Each triangle is
 * tested against the x-lines through its (y, z) footprint with exact integer orientation tests
 * (y and z rounded to a fixed-point grid of 2^-29 of the extent: a ~1e-9 shift of the mesh, the
 * same for every triangle), and a line through an edge or a vertex is decided by a symbolic
 * perturbation of the line, (y, z) + (e, e^2), evaluated with each edge's endpoints in one
 * canonical order: every line crosses a closed mesh an even number of times, and a point is
 * inside when an odd number of crossings lie below it in x.  Exact up to points within rounding
 * of the surface in x; the same signs as gnf_bvh_sdf(watertight=1) for closed meshes.
 *
 * watertight == 0: the sign of gnf_bvh_sdf(watertight=0) (generalised winding number >= 1/2),
 * hierarchically: it is evaluated at every 8th grid point (and the last), and a cell of that
 * coarse grid, or of its repeated halvings, takes one sign for all its points when its 8 corners
 * agree and one of them is farther from the mesh than the cell's diagonal (no surface inside the
 * cell); otherwise it is halved down to single grid cells, whose corners are evaluated.  Exact
 * across the surface; across a hole the winding number passes 1/2 away from the surface, and a
 * cell whose corners agree is assumed not to hold such a crossing (checked against per-point
 * winding numbers in tests/test_sdf_metrics.c).
 *
 * Deterministic: occ does not depend on `threads` (<= 0: the default).  Errors: GNF_ERR_INVALID
 * (bad res or box), GNF_ERR_NOMEM. */
gnf_status gnf_grid_occupancy(const gnf_mesh *m, const gnf_bvh *b, const float lo[3], const float hi[3],
                              int res, int watertight, int threads, uint8_t *occ);

/* Mean angle (degrees) between the faces of a and the faces of b near them: n points sampled
 * area-uniformly on a (seeded by seed: deterministic, independent of threads), each matched to
 * its closest point on b (bb: the BVH of b, as gnf_bvh_closest), the angle between the two face
 * normals taken orientation-free, acos |n_a . n_b| in [0, 90].  Points on a zero-area face of a,
 * or whose closest face on b has zero area, are skipped; *used receives the points counted.
 * *mean_deg is NaN when none is.  Errors: GNF_ERR_INVALID (a has no area, n < 1), GNF_ERR_NOMEM. */
gnf_status gnf_mesh_normal_angle(const gnf_mesh *a, const gnf_mesh *b, const gnf_bvh *bb, long n, uint64_t seed,
                                 int threads, double *mean_deg, long *used);

#endif
