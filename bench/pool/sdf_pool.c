/* sdf_pool.c — writes the ground-truth pool `gnf fit MESH` trains on to a safetensors file, so
 * that bench/torch_gnf.py trains the PyTorch model on exactly the same samples.
 *
 * usage: gnf_sdf_pool MESH OUT.safetensors [--seconds S] [--samples N] [--threads T]
 *   --seconds S   the pool the SDF recipe takes for a budget of S seconds (as `gnf fit --seconds S`)
 *   --samples N   pool size (as `gnf fit --samples N`; overrides the recipe's)
 * The file holds "points" [n, 3] (normalised frame: bounding-box centre 0, diagonal 1.9) and
 * "sdf" [n], plus metadata: gnf.sdf.center, gnf.sdf.scale, pool.samples, pool.mix, pool.sigma,
 * pool.seed and pool.seconds (time to build it, mesh loading and BVH included).
 * Built by `make build/release/gnf_sdf_pool` (bench/torch_vs_gnf.sh does it); not part of make. */
#include "io/safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the usage line and returns the usage exit status. */
static int usage(void) {
    fprintf(stderr, "usage: gnf_sdf_pool MESH OUT.safetensors [--seconds S] [--samples N] [--threads T]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    const char *mesh = argv[1], *out = argv[2];
    double seconds = 0;
    long samples = 0;
    int threads = 0;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--samples")) samples = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
        else return usage();
    }
    gnf_recipe_input in = {.seconds = seconds};
    gnf_recipe r;
    if (gnf_recipe_for(GNF_TASK_SDF, "default", &in, &r) != GNF_OK) {
        fprintf(stderr, "gnf_sdf_pool: %s\n", gnf_last_error());
        return 1;
    }
    if (samples > 0) r.sdf.samples = samples;
    r.sdf.threads = threads;
    double t0 = gnf_now();
    gnf_sdf_target *t = NULL;
    if (gnf_sdf_target_create(mesh, &r.sdf, &t) != GNF_OK) {
        fprintf(stderr, "gnf_sdf_pool: %s\n", gnf_last_error());
        return 1;
    }
    double built = gnf_now() - t0;
    gnf_sdf_target_info info;
    gnf_sdf_target_get_info(t, &info);
    const float *pts, *sdf;
    long n;
    gnf_sdf_target_pool(t, &pts, &sdf, &n);
    char center[96], scale[32], ns[32], mix[32], sigma[32], seed[32], secs[32];
    snprintf(center, sizeof center, "%.9g,%.9g,%.9g", (double)info.center[0], (double)info.center[1], (double)info.center[2]);
    snprintf(scale, sizeof scale, "%.9g", (double)info.scale);
    snprintf(ns, sizeof ns, "%ld", n);
    snprintf(mix, sizeof mix, "%s", r.sdf.uniform_frac > 0 ? "uniform_frac" : r.sdf.mix == GNF_SDF_SAMPLES_GNF ? "gnf" : "ngp");
    snprintf(sigma, sizeof sigma, "%g", (double)r.sdf.sigma);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r.sdf.seed);
    snprintf(secs, sizeof secs, "%.3f", built);
    gnf_st_kv meta[] = {{"gnf.sdf.center", center}, {"gnf.sdf.scale", scale}, {"pool.samples", ns}, {"pool.mix", mix},
                        {"pool.sigma", sigma}, {"pool.seed", seed}, {"pool.seconds", secs}};
    gnf_st_tensor ts[2] = {{"points", 2, {n, 3}, 3 * (int64_t)n, (float *)pts}, {"sdf", 1, {n}, n, (float *)sdf}};
    gnf_status st = gnf_st_write(out, ts, 2, meta, (int)(sizeof meta / sizeof meta[0]), 0);
    gnf_sdf_target_free(t);
    if (st != GNF_OK) {
        fprintf(stderr, "gnf_sdf_pool: %s\n", gnf_last_error());
        return 1;
    }
    printf("%s: %ld points (%s mix), built in %.2f s\n", out, n, mix, built);
    return 0;
}
