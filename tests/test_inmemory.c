/* test_inmemory.c — what bindings (python/gnf) take from the library without files: a model's
 * mesh in memory equals the one `gnf mesh` writes, a model's tensors cover its parameters in the
 * model file's order, and gnf_last_error() is per thread (two threads failing at once each read
 * their own message). */
#include "test.h"
#include "geom/mcubes.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A UV sphere of radius r at c as arrays (nv vertices, nf triangles), counter-clockwise from outside. */
static void sphere_arrays(float r, const float c[3], float **v, long *nv, int32_t **f, long *nf) {
    const int nu = 32, nl = 16;
    *nv = 2 + (long)(nl - 1) * nu;
    *nf = 2L * nu * (nl - 1);
    *v = calloc((size_t)*nv * 3, sizeof(float));
    *f = calloc((size_t)*nf * 3, sizeof(int32_t));
    float *p = *v;
    int32_t *t = *f;
    p[0] = c[0], p[1] = c[1], p[2] = c[2] + r;
    for (int i = 1; i < nl; i++)
        for (int j = 0; j < nu; j++) {
            double th = M_PI * i / nl, ph = 2 * M_PI * j / nu;
            float *q = p + 3 * (1 + (i - 1) * nu + j);
            q[0] = c[0] + r * (float)(sin(th) * cos(ph)), q[1] = c[1] + r * (float)(sin(th) * sin(ph)), q[2] = c[2] + r * (float)cos(th);
        }
    int last = (int)*nv - 1;
    p[3 * last] = c[0], p[3 * last + 1] = c[1], p[3 * last + 2] = c[2] - r;
    long k = 0;
    for (int j = 0; j < nu; j++) {   /* north cap, bands, south cap */
        int a = 1 + j, b = 1 + (j + 1) % nu;
        t[k++] = 0, t[k++] = a, t[k++] = b;
    }
    for (int i = 1; i < nl - 1; i++)
        for (int j = 0; j < nu; j++) {
            int a = 1 + (i - 1) * nu + j, b = 1 + (i - 1) * nu + (j + 1) % nu, a2 = a + nu, b2 = b + nu;
            t[k++] = a, t[k++] = a2, t[k++] = b2;
            t[k++] = a, t[k++] = b2, t[k++] = b;
        }
    for (int j = 0; j < nu; j++) {
        int a = 1 + (nl - 2) * nu + j, b = 1 + (nl - 2) * nu + (j + 1) % nu;
        t[k++] = a, t[k++] = last, t[k++] = b;
    }
}

/* A small SDF model of a sphere (dense grids, 150 steps): enough for a closed zero level set. */
static gnf_model *sphere_model(void) {
    const float c[3] = {1, 2, -1};
    float *v;
    int32_t *f;
    long nv, nf;
    sphere_arrays(2, c, &v, &nv, &f, &nf);
    gnf_sdf_config sc;
    gnf_sdf_config_default(&sc);
    sc.samples = 1 << 16;
    gnf_sdf_target *t = NULL;
    CHECK(gnf_sdf_target_create_from_arrays(v, nv, f, nf, &sc, &t) == GNF_OK);
    free(v);
    free(f);
    if (!t) return NULL;
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 3, 1);
    cfg.levels = 3;
    int res[3] = {8, 16, 32};
    for (int l = 0; l < 3; l++) cfg.res[l] = res[l], cfg.feat[l] = 2;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_SDF, &m) == GNF_OK);
    gnf_train_config tc;
    gnf_train_config_default(&tc);
    tc.steps = 150;
    tc.batch = 4096;
    tc.lr0 = 5e-3f, tc.lr1 = 5e-4f;
    if (m) CHECK(gnf_fit_sdf(m, t, &tc, 0, NULL) == GNF_OK);
    gnf_sdf_target_free(t);
    return m;
}

TEST(inmemory_sdf_mesh_equals_the_written_one) {
    gnf_model *m = sphere_model();
    if (!m) return;
    gnf_mesh mem, file;
    CHECK(gnf_model_mesh(m, 40, 0, 0, &mem) == GNF_OK);
    const char *ply = test_tmp("inmemory_sphere.ply");
    long nv = 0, nf = 0;
    CHECK(gnf_sdf_extract_mesh(m, 40, ply, 0, &nv, &nf) == GNF_OK);
    CHECK(gnf_mesh_load(ply, &file, NULL) == GNF_OK);
    CHECK_MSG(mem.nv == nv && mem.nf == nf && file.nv == nv && file.nf == nf && nf > 100, "memory %ld/%ld, file %ld/%ld",
              mem.nv, mem.nf, nv, nf);
    CHECK(mem.rgb == NULL);
    if (mem.nv == file.nv && mem.nf == file.nf) {
        CHECK(memcmp(mem.v, file.v, sizeof(float) * 3 * (size_t)nv) == 0);
        CHECK(memcmp(mem.f, file.f, sizeof(int32_t) * 3 * (size_t)nf) == 0);
    }
    /* in the mesh's coordinates: the sphere of radius 2 around (1, 2, -1) */
    double worst = 0;
    for (long i = 0; i < mem.nv; i++) {
        double dx = mem.v[3 * i] - 1, dy = mem.v[3 * i + 1] - 2, dz = mem.v[3 * i + 2] + 1;
        worst = fmax(worst, fabs(sqrt(dx * dx + dy * dy + dz * dz) - 2));
    }
    CHECK_MSG(worst < 0.2, "a vertex %.3f off the sphere", worst);
    CHECK(gnf_mesh_volume(&mem) > 0);
    gnf_mesh_free(&mem);
    gnf_mesh_free(&file);
    CHECK(mem.v == NULL && mem.nv == 0);
    gnf_mesh_free(&mem);   /* safe on a zeroed mesh */
    /* bad requests: *out zeroed, the message says what is wrong */
    memset(&mem, 0xff, sizeof mem);
    CHECK(gnf_model_mesh(m, 1, 0, 0, &mem) == GNF_ERR_INVALID && mem.v == NULL && mem.nf == 0);
    CHECK(strstr(gnf_last_error(), "2..4096") != NULL);
    CHECK(gnf_model_mesh(m, 40, 0.5f, 0, &mem) == GNF_ERR_INVALID && strstr(gnf_last_error(), "iso") != NULL);
    gnf_model_free(m);
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    CHECK(gnf_model_mesh(m, 40, 0, 0, &mem) == GNF_ERR_INVALID && strstr(gnf_last_error(), "image") != NULL);
    gnf_model_free(m);
}

/* Tensors i = 0, 1, ... lie back to back over the whole arena, named and shaped as the file's. */
static void check_tensors(const gnf_model *m, const char *const *want, int nwant) {
    char name[32];
    int ndim = 0, i = 0;
    int64_t shape[4];
    const float *data = NULL, *next = NULL;
    long total = 0;
    for (; gnf_model_tensor_at(m, i, name, &ndim, shape, &data); i++) {
        long n = 1;
        for (int k = 0; k < ndim; k++) n *= (long)shape[k];
        CHECK(ndim >= 1 && ndim <= 4);
        if (next) CHECK_MSG(data == next, "tensor %d (%s) does not follow the previous one", i, name);
        next = data + n;
        total += n;
        if (i < nwant) CHECK_MSG(strcmp(name, want[i]) == 0, "tensor %d is %s, wanted %s", i, name, want[i]);
    }
    CHECK_EQ_INT(i, nwant);
    CHECK_EQ_INT(total, gnf_model_param_count(m));
    CHECK(gnf_model_tensor_at(m, -1, name, &ndim, shape, &data) == 0);
}

TEST(inmemory_tensors_cover_the_parameters) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    cfg.levels = 2;
    cfg.res[0] = 16, cfg.res[1] = 24, cfg.feat[0] = 2, cfg.feat[1] = 4;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    const char *img[] = {"grid.0", "grid.1", "rbf.centers", "rbf.log_precision", "rbf.W", "rbf.w0"};
    check_tensors(m, img, 6);
    char name[32];
    int ndim;
    int64_t shape[4];
    const float *data;
    CHECK(gnf_model_tensor_at(m, 1, name, &ndim, shape, &data) == 1);
    CHECK(ndim == 3 && shape[0] == 24 && shape[1] == 24 && shape[2] == 4);
    CHECK(gnf_model_tensor_at(m, 2, name, &ndim, shape, &data) == 1);
    CHECK(ndim == 2 && shape[0] == 6 && shape[1] == 64);   /* [D, K] */
    gnf_model_free(m);
    gnf_model_config_default(&cfg, 2, 1);
    cfg.decoder = GNF_DEC_MLP;
    cfg.levels = 1;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    const char *mlp[] = {"grid.0", "mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias", "mlp.2.weight", "mlp.2.bias"};
    check_tensors(m, mlp, 7);
    gnf_model_free(m);
    gnf_model_config_default(&cfg, 3, 1);   /* hash grids: [T, C] per level */
    cfg.encoding = GNF_ENC_HASH;
    CHECK(gnf_model_config_for_params(&cfg, 200000, 256) == GNF_OK);
    CHECK(gnf_model_create(&cfg, GNF_TASK_SDF, &m) == GNF_OK);
    CHECK(gnf_model_tensor_at(m, cfg.levels - 1, name, &ndim, shape, &data) == 1);
    CHECK(ndim == 2 && shape[1] == cfg.feat[cfg.levels - 1]);
    gnf_model_free(m);
}

typedef struct { int id; int ok; } err_job;
static pthread_barrier_t g_barrier;

/* Fails a load naming a file of its own, waits for the other thread to fail too, then reads. */
static void *fail_and_read(void *arg) {
    err_job *j = arg;
    char path[64];
    snprintf(path, sizeof path, "/nonexistent/thread_%d.gnf", j->id);
    gnf_model *m = NULL;
    int failed = gnf_model_load(path, &m) == GNF_ERR_IO;
    pthread_barrier_wait(&g_barrier);
    j->ok = failed && strstr(gnf_last_error(), path) != NULL;
    pthread_barrier_wait(&g_barrier);
    return NULL;
}

TEST(inmemory_last_error_is_per_thread) {
    pthread_barrier_init(&g_barrier, NULL, 2);
    err_job a = {1, 0}, b = {2, 0};
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, fail_and_read, &a) == 0);
    CHECK(pthread_create(&tb, NULL, fail_and_read, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&g_barrier);
    CHECK_MSG(a.ok && b.ok, "thread 1 read its own message: %d, thread 2: %d", a.ok, b.ok);
}
