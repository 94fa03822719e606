/* sdf_internal.h — SDF-task entry points for the tests and benchmarks, not part of gnf.h. */
#ifndef GNF_SDF_INTERNAL_H
#define GNF_SDF_INTERNAL_H
#include "gnf.h"

/* gnf_sdf_evaluate_exact with `points` (a multiple of 4096, at most 2^20) points on each surface
 * for Chamfer, F-score and the normal angle instead of 2^20 — for quick tests. */
gnf_status gnf_sdf_evaluate_exact_points(const gnf_sdf_target *t, int mc_res, long points, int threads,
                                         gnf_sdf_metrics *out);
/* The mesh of gnf_sdf_extract_mesh, in memory (mesh coordinates); GNF_ERR_INVALID when the field
 * has no zero level set in its box.  *out is zeroed on failure. */
gnf_status gnf_sdf_mesh_build(const gnf_model *m, int res, int threads, gnf_mesh *out);
#endif
