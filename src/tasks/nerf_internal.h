/* nerf_internal.h — pieces of the radiance-field task (nerf.c) that tests reach directly: the
 * space a field lives in, ray/box intersection, occupancy-guided marching and the occupancy
 * grid's storage in the model's metadata. */
#ifndef GNF_NERF_INTERNAL_H
#define GNF_NERF_INTERNAL_H

#include "field/field.h"
#include "geom/mesh.h"

typedef struct {
    float box, dt, dscale;  /* scene box half-size, march step (world units), optical scale */
    int G;                  /* occupancy resolution per axis */
    unsigned char *occ;     /* G³ flags (0/1), x fastest, cell i spans [-box + i·2box/G, ...) */
    unsigned char *coarse;  /* (G/8)³ flags: 1 where any of the 8³ cells of the block is occupied
                             * (NULL: not used); lets marching cross empty space a block at a time */
    float lo[3], hi[3];     /* bounding box of the occupied cells (world units); lo > hi if none */
} nerf_space;

#define NERF_COARSE 8

/* (Re)computes what is derived from sp->occ: the occupied bounding box sp->lo/hi, and sp->coarse
 * (allocated on first use) when G % 8 == 0; returns GNF_ERR_NOMEM if it cannot allocate
 * (sp->coarse stays NULL).  On `threads` threads (0: the default); the result does not depend
 * on them. */
gnf_status gnf_nerf_space_update_coarse(nerf_space *sp, int threads);

/* Entry t0 and exit t1 of the ray o + t d (t >= 0) through [-B, B]³; returns 0 if it misses. */
int gnf_nerf_ray_box(const float o[3], const float d[3], float B, float *t0, float *t1);
/* The same through the box [lo, hi]. */
int gnf_nerf_ray_aabb(const float o[3], const float d[3], const float lo[3], const float hi[3], float *t0, float *t1);

/* Marches the ray from *t toward tf on its lattice *t + k·dt, emitting up to cap samples whose
 * positions fall in occupied cells: normalised positions x (3 per sample, in [-1,1]; may be NULL
 * to count only) and distances ts (may be NULL).  Empty cells are skipped to their exit without
 * leaving the lattice, so the samples are exactly the lattice points in occupied cells.  *t is
 * left after the last emitted sample.  Returns the count. */
long gnf_nerf_march(const nerf_space *sp, const float o[3], const float d[3], float *t, float tf, long cap,
                float *x, float *ts);

/* The fast renderer's distance field: *out (gnf_nerf_dist_bytes(G) bytes, gnf_calloc'd; the
 * caller frees; cell (x, y, z) at gnf_nerf_dist_at) holds for every cell its Chebyshev distance
 * in cells to the nearest occupied cell (0: occupied), or
 * NERF_DIST_CAP + 1 when that is larger than NERF_DIST_CAP (a lower bound: all marching needs).
 * The cube of cells within distance - 1 of an empty cell is empty.  On `threads` threads (0: the
 * default); the result does not depend on them. */
#define NERF_DIST_CAP 32
gnf_status gnf_nerf_distance_field(const nerf_space *sp, int threads, unsigned char **out);

/* The distance field's layout: the byte of cell (x, y, z), and the bytes of the field.  Row-major
 * (x fastest); bricks of 4x4x4 cells, a cache line each, were measured: the renderer's marching
 * phase about 7% faster on a lego model, the fill 45% slower on one thread. */
static inline long gnf_nerf_dist_at(int x, int y, int z, int G) { return x + (long)G * (y + (long)G * z); }
static inline long gnf_nerf_dist_bytes(int G) { return (long)G * G * G; }

/* The fast renderer's marcher: from lattice index *li (samples at tstart + i·dt, i >= *li) toward
 * t1, up to cap samples in occupied cells, positions x (3 per sample, normalised, clamped to
 * [-1,1]) and distances ts as gnf_nerf_march computes them (x and ts both NULL: count only, the
 * same count); inv[a] = 1/d[a] (0 where d[a] = 0).
 * Runs of lattice points inside an occupied cell are emitted without re-classifying each, and
 * empty space is crossed in jumps over the empty cubes of cdist, so the samples are those of
 * gnf_nerf_march but for lattice points within float rounding of a cell face, which either may
 * take or leave.  *li is left after the last sample.  Returns the count.
 * run_end (may be NULL; 0 before a ray's first call) carries the run a call stopped in to the
 * next call: with it, a march in pieces gives exactly the samples of one march in one piece
 * (without it, the point after a piece is classified afresh, which at a face may go the other
 * way). */
long gnf_nerf_march_fast(const nerf_space *sp, const unsigned char *cdist, const float o[3], const float d[3],
                         const float inv[3], float tstart, long *li, float *run_end, float t1, long cap, float *x,
                         float *ts);

/* Stores sp's flags in m's metadata (gnf.nerf.occupancy = "G:" + base64(zlib(bits))). */
gnf_status gnf_nerf_occupancy_store(gnf_model *m, const nerf_space *sp);
/* Reads them back into sp->G and sp->occ (allocated with gnf_calloc; the caller frees);
 * GNF_ERR_FORMAT if missing or corrupt. */
gnf_status gnf_nerf_occupancy_load(const gnf_model *m, nerf_space *sp);

/* The density mesh of gnf_nerf_extract_mesh, coloured, in memory: marching cubes at res³ over
 * the scene box at density iso, then gnf_nerf_mesh_colours.  GNF_ERR_INVALID when no surface. */
gnf_status gnf_nerf_mesh_build(const gnf_model *m, int res, float iso, int threads, gnf_mesh *out);
/* Vertex colours (mesh->rgb, replaced) of a density mesh of m: per vertex, the view-independent
 * colour where a short ray into the surface along the inward normal stops (nerf_mesh.c).  box: the scene box half-size; cell: the marching
 * cubes' cell size (world units; sets how far the colour ray reaches); dist_scale: the model's
 * optical scale (gnf.nerf.dist_scale). */
gnf_status gnf_nerf_mesh_colours(const gnf_model *m, gnf_mesh *mesh, float box, float cell, float dist_scale,
                                 int threads);

/* Phases of rendering a frame: marching (rays, occupancy), grid lookup, decoder (density and
 * activations, the colour head), compositing (weights, termination, sums). */
enum { NERF_PH_MARCH, NERF_PH_LOOKUP, NERF_PH_DECODE, NERF_PH_COMPOSITE, NERF_PH_N };

/* Thread-seconds spent in each phase over the frames r has rendered (returned), the seconds
 * gnf_nerf_renderer_create took (setup_s) and whether r is the reference renderer
 * (GNF_NERF_REFERENCE=1 when it was created); setup_s and reference may be NULL. */
long gnf_nerf_renderer_phases(const gnf_nerf_renderer *r, double s[NERF_PH_N], double *setup_s, int *reference);

#endif
