/* info.c — gnf info: what a model file holds. */
#include "cli.h"
#include <string.h>

int cmd_info(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(&a, V_INFO, "gnf info", argc, argv, 1, "usage: gnf info MODEL.gnf|CHECKPOINT.ckpt\n"
                       "Shows the task, encoding, decoder, sizes and training settings stored in a model file (or the\n"
                       "model and training state of a checkpoint: gnf fit --checkpoint-every).\n", NULL);
    if (rc >= 0) return rc;
    if (!a.npos) return usage_error("missing MODEL");
    const char *model = a.pos[0];
    gnf_model *m = NULL;
    int ckpt = 0;
    if (gnf_model_load(model, &m) != GNF_OK) {   /* a checkpoint, or the first error */
        char why[1024];
        snprintf(why, sizeof why, "%s", gnf_last_error());
        if (!strstr(why, "a training checkpoint") || gnf_checkpoint_load_model(model, &m) != GNF_OK) return fail("%s", why);
        ckpt = 1;
    }
    long bytes = file_size(model);
    if (ckpt) printf("file: %s (%ld bytes, a training checkpoint at step %s)\n", model, bytes, gnf_model_get_meta(m, "gnf.ckpt.step"));
    else printf("file: %s (%ld bytes, %s)\n", model, bytes, bytes == gnf_model_file_bytes(m, 1) ? "f16" : "f32");
    const char *c = gnf_model_get_meta(m, "gnf.sdf.center"), *s = gnf_model_get_meta(m, "gnf.sdf.scale"), *box = gnf_model_get_meta(m, "gnf.nerf.box");
    int out = gnf_model_get_config(m)->out_dim;
    if (gnf_model_get_task(m) == GNF_TASK_SDF)
        printf("task: sdf (signed distance; normalisation: centre %s, scale %s)\n", c ? c : "0,0,0", s ? s : "1");
    else if (gnf_model_get_task(m) == GNF_TASK_NERF)
        printf("task: nerf (radiance field; scene box half-size %s)\n", box ? box : "1.5");
    else
        printf("task: image (%d channel%s)\n", out, out > 1 ? "s" : "");
    describe_model(stdout, m);
    printf("parameters: %ld\nmetadata:\n", gnf_model_param_count(m));
    const char *k, *v;
    for (int i = 0; gnf_model_meta_at(m, i, &k, &v); i++) {
        if (strlen(v) > 200) printf("  %s = (%zu characters)\n", k, strlen(v));
        else printf("  %s = %s\n", k, v);
    }
    gnf_model_free(m);
    return 0;
}
