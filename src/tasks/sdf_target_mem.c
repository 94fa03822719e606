/* sdf_target_mem.c — SDF targets from a mesh file image in memory or from vertex/face arrays
 * (see gnf.h); both parse or check the mesh like gnf_sdf_target_create's file loader, then hand
 * it to gnf_sdf_target_from_mesh (sdf.c). */
#include "geom/mesh.h"

gnf_status gnf_sdf_target_create_from_memory(const void *data, size_t size, const char *name,
                                             const gnf_sdf_config *c, gnf_sdf_target **out) {
    *out = NULL;
    gnf_mesh m;
    gnf_mesh_report r;
    gnf_status s = gnf_mesh_load_from_memory(data, size, name, &m, &r);
    return s == GNF_OK ? gnf_sdf_target_from_mesh(name, &m, &r, c, out) : s;
}

gnf_status gnf_sdf_target_create_from_arrays(const float *vertices, long nv, const int32_t *faces, long nf,
                                             const gnf_sdf_config *c, gnf_sdf_target **out) {
    *out = NULL;
    gnf_mesh m;
    gnf_mesh_report r;
    gnf_status s = gnf_mesh_from_arrays(vertices, nv, faces, nf, "mesh arrays", &m, &r);
    return s == GNF_OK ? gnf_sdf_target_from_mesh("mesh arrays", &m, &r, c, out) : s;
}
