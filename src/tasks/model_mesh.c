/* model_mesh.c — gnf_model_mesh: the surface of an SDF or radiance-field model in memory, the
 * mesh gnf_sdf_extract_mesh / gnf_nerf_extract_mesh write to a file. */
#include "core/core.h"
#include "field/field.h"
#include "geom/mesh.h"
#include "tasks/nerf_internal.h"
#include "tasks/sdf_internal.h"
#include <math.h>
#include <string.h>

gnf_status gnf_model_mesh(const gnf_model *m, int res, float iso, int threads, gnf_mesh *out) {
    memset(out, 0, sizeof *out);
    if (res < 2 || res > 4096) return gnf_fail(GNF_ERR_INVALID, "mesh resolution %d is outside 2..4096", res);
    switch (gnf_model_get_task(m)) {
    case GNF_TASK_SDF:
        if (iso != 0) return gnf_fail(GNF_ERR_INVALID, "an SDF model's mesh is its zero level set (iso must be 0, got %g)", (double)iso);
        return gnf_sdf_mesh_build(m, res, threads, out);
    case GNF_TASK_NERF:
        if (!(iso > 0) || !isfinite(iso))
            return gnf_fail(GNF_ERR_INVALID, "a radiance field's mesh needs a positive, finite density level (got %g)", (double)iso);
        return gnf_nerf_mesh_build(m, res, iso, threads, out);
    default:
        return gnf_fail(GNF_ERR_INVALID, "not a signed distance field or radiance field model (an image has no mesh)");
    }
}
