/* mesh.c — gnf mesh: marching cubes of an SDF model's zero level set or a radiance field's
 * density surface. */
#include "cli.h"
#include <string.h>

static const char *HEAD =
    "usage: gnf mesh MODEL.gnf -o OUT.ply|OUT.obj [options]\n"
    "Extracts the zero level set of an SDF model by marching cubes over the normalised box (memory\n"
    "grows with R^2, so --res 1024 works), or the surface where a radiance field's density is --iso over\n"
    "its scene box: welded, indexed, outward-oriented triangles in the model's own coordinates.\n"
    "PLY (binary) or OBJ by extension.  A radiance field's mesh carries a colour per vertex: the\n"
    "view-independent colour where a ray into the surface there stops (PLY: red/green/blue bytes;\n"
    "OBJ: \"v x y z r g b\").\n";

int cmd_mesh(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, V_MESH, "gnf mesh", argc, argv, 1, HEAD, NULL);
    if (rc >= 0) return rc;
    const char *model = a.pos[0], *output = a.o[O_OUTPUT].s, *dot = output ? strrchr(output, '.') : NULL;
    if (!a.npos) return usage_error("missing MODEL");
    if (!output) return usage_error("missing -o OUT.ply");
    if (!dot || (strcmp(dot, ".ply") && strcmp(dot, ".obj"))) return usage_error("-o must end in .ply or .obj");
    gnf_model *m = NULL;
    if (gnf_model_load(model, &m) != GNF_OK) return runtime_error();
    gnf_task task = gnf_model_get_task(m);
    long res = task == GNF_TASK_NERF && !a.o[O_MRES].set ? 256 : a.o[O_MRES].i, nv = 0, nf = 0;
    int threads = (int)a.o[O_THREADS].i;
    double t0 = gnf_now();
    gnf_status st = GNF_OK;
    if (task != GNF_TASK_SDF && task != GNF_TASK_NERF) rc = fail("%s is not a signed distance field or radiance field model", model);
    else if (!(rc = cli_check_task(&a, task)))
        st = task == GNF_TASK_NERF ? gnf_nerf_extract_mesh(m, (int)res, (float)a.o[O_ISO].d, output, threads, &nv, &nf)
                                   : gnf_sdf_extract_mesh(m, (int)res, output, threads, &nv, &nf);
    gnf_model_free(m);
    if (rc) return rc;
    if (st != GNF_OK) return runtime_error();
    if (task == GNF_TASK_NERF)
        printf("%s: %ld coloured vertices, %ld triangles at density %g, marching cubes %ld^3 in %.2f s\n", output, nv, nf, a.o[O_ISO].d, res, gnf_now() - t0);
    else
        printf("%s: %ld vertices, %ld triangles, marching cubes %ld^3 in %.2f s\n", output, nv, nf, res, gnf_now() - t0);
    return 0;
}
