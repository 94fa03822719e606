/* test_model_file.c — model files: save/load round trips (f32 exact, f16 close), byte-identical
 * re-saves, and refusal of bad files with a message naming the file: not a gnf model, missing or
 * lying metadata, wrong tensor shapes, NaNs, truncation. */
#include "field/field.h"
#include "io/safetensors.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static gnf_model *small_model(gnf_decoder_kind dec) {
    gnf_model_config cfg;
    gnf_model_config_default(&cfg, 2, 3);
    cfg.levels = 3;
    cfg.res[0] = 4; cfg.res[1] = 7; cfg.res[2] = 12;
    cfg.feat[0] = 2; cfg.feat[1] = 2; cfg.feat[2] = 4;
    cfg.rbf_k = 16;
    cfg.decoder = dec;
    cfg.mlp_hidden = 8;
    gnf_model *m = NULL;
    CHECK(gnf_model_create(&cfg, GNF_TASK_IMAGE, &m) == GNF_OK);
    gnf_rng r;
    gnf_rng_seed(&r, 9, 9);
    for (long i = 0; i < m->nparams; i++) m->params[i] = gnf_rng_uniform(&r) - 0.5f;
    gnf_model_set_meta(m, "gnf.image.width", "64");
    gnf_model_set_meta(m, "note", "quote \" backslash \\ newline \n done");
    return m;
}

TEST(model_roundtrip_f32_exact) {
    gnf_decoder_kind kinds[2] = {GNF_DEC_RBF, GNF_DEC_MLP};
    for (int i = 0; i < 2; i++) {
        gnf_model *m = small_model(kinds[i]), *b = NULL;
        const char *p = test_tmp("rt.gnf");
        CHECK(gnf_model_save(m, p, 0) == GNF_OK);
        CHECK_EQ_INT(test_file_size(p), gnf_model_file_bytes(m, 0));
        CHECK(gnf_model_load(p, &b) == GNF_OK);
        if (!b) { gnf_model_free(m); continue; }
        CHECK_EQ_INT(b->nparams, m->nparams);
        CHECK(memcmp(b->params, m->params, sizeof(float) * (size_t)m->nparams) == 0);
        CHECK(b->cfg.decoder == m->cfg.decoder && b->cfg.levels == 3 && b->cfg.res[2] == 12 && b->cfg.feat[2] == 4);
        const char *note = gnf_model_get_meta(b, "note");
        CHECK(note && strcmp(note, "quote \" backslash \\ newline \n done") == 0);
        /* saving what was loaded gives the same bytes */
        const char *p2 = test_tmp("rt2.gnf");
        CHECK(gnf_model_save(b, p2, 0) == GNF_OK);
        CHECK_EQ_INT(test_file_size(p2), test_file_size(p));
        gnf_model_free(m);
        gnf_model_free(b);
    }
}

TEST(model_roundtrip_f16_close_and_smaller) {
    gnf_model *m = small_model(GNF_DEC_RBF), *b = NULL;
    const char *p = test_tmp("half.gnf"), *q = test_tmp("full.gnf");
    CHECK(gnf_model_save(m, p, 1) == GNF_OK);
    CHECK(gnf_model_save(m, q, 0) == GNF_OK);
    CHECK_EQ_INT(test_file_size(p), gnf_model_file_bytes(m, 1));
    CHECK(test_file_size(p) < test_file_size(q) * 6 / 10);
    CHECK(gnf_model_load(p, &b) == GNF_OK);
    if (b) for (long i = 0; i < m->nparams; i++) CHECK_NEAR(b->params[i], m->params[i], 1e-3 * fabsf(m->params[i]) + 1e-7);
    gnf_model_free(m);
    gnf_model_free(b);
}

/* Rewrites a valid model file with one change made through the safetensors layer. */
typedef void (*mutator)(gnf_st_file *f);

static gnf_status load_mutated(mutator mut, const char *name) {
    gnf_model *m = small_model(GNF_DEC_RBF);
    const char *p = test_tmp(name);
    gnf_model_save(m, p, 0);
    gnf_model_free(m);
    gnf_st_file f;
    if (gnf_st_read(p, &f) != GNF_OK) return GNF_OK;
    int nt = f.ntensors;
    mut(&f);
    gnf_st_write(p, f.tensors, f.ntensors, f.meta, f.nmeta, 0);
    f.ntensors = nt; /* a mutator may hide the last tensor; free them all */
    gnf_st_file_free(&f);
    gnf_model *b = NULL;
    gnf_status s = gnf_model_load(p, &b);
    CHECK(b == NULL);
    gnf_model_free(b);
    CHECK_MSG(strstr(gnf_last_error(), p) != NULL, "message does not name the file: %s", gnf_last_error());
    return s;
}

static void set_meta(gnf_st_file *f, const char *key, const char *value) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[i].key, key)) { free(f->meta[i].value); f->meta[i].value = strdup(value); }
}
static void mut_format(gnf_st_file *f) { set_meta(f, "format", "pt"); }
static void mut_version(gnf_st_file *f) { set_meta(f, "gnf.version", "99"); }
static void mut_levels(gnf_st_file *f) { set_meta(f, "gnf.levels", "4"); }
static void mut_res(gnf_st_file *f) { set_meta(f, "gnf.res", "4,7,1"); }
static void mut_res_text(gnf_st_file *f) { set_meta(f, "gnf.res", "4,seven,12"); }
static void mut_k(gnf_st_file *f) { set_meta(f, "gnf.rbf_k", "17"); }
static void mut_task(gnf_st_file *f) { set_meta(f, "gnf.task", "teapot"); }
static void mut_drop_tensor(gnf_st_file *f) { f->ntensors--; }
static void mut_rename_tensor(gnf_st_file *f) { free(f->tensors[0].name); f->tensors[0].name = strdup("grid.x"); }

TEST(model_load_refuses_lying_metadata) {
    CHECK(load_mutated(mut_format, "m1.gnf") == GNF_ERR_FORMAT);
    CHECK(load_mutated(mut_version, "m2.gnf") == GNF_ERR_UNSUPPORTED);
    CHECK(load_mutated(mut_levels, "m3.gnf") == GNF_ERR_FORMAT);
    CHECK(load_mutated(mut_res, "m4.gnf") == GNF_ERR_FORMAT);
    CHECK(load_mutated(mut_res_text, "m5.gnf") == GNF_ERR_FORMAT);
    CHECK(load_mutated(mut_k, "m6.gnf") == GNF_ERR_FORMAT);
    CHECK(load_mutated(mut_task, "m7.gnf") == GNF_ERR_UNSUPPORTED);
    CHECK(load_mutated(mut_drop_tensor, "m8.gnf") == GNF_ERR_FORMAT);
    CHECK(load_mutated(mut_rename_tensor, "m9.gnf") == GNF_ERR_FORMAT);
}

TEST(model_load_refuses_bad_bytes) {
    gnf_model *m = small_model(GNF_DEC_RBF), *b = NULL;
    const char *p = test_tmp("bytes.gnf");
    gnf_model_save(m, p, 0);
    gnf_model_free(m);
    size_t n = 0;
    unsigned char *buf = test_read_file(p, &n);
    CHECK(buf != NULL);
    if (!buf) return;
    const char *q = test_tmp("bad.gnf");
    /* the whole file from memory loads like the file */
    CHECK(gnf_model_load_from_memory(buf, n, "mem.gnf", &b) == GNF_OK && b);
    gnf_model *fb = NULL;
    CHECK(gnf_model_load(p, &fb) == GNF_OK && fb);
    if (b && fb) CHECK(b->nparams == fb->nparams && !memcmp(b->params, fb->params, sizeof(float) * (size_t)b->nparams));
    gnf_model_free(b);
    gnf_model_free(fb);
    /* truncated at every length (from memory: exact-size copies, so ASan sees any overread) */
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        unsigned char *cut = malloc(len + 1);
        memcpy(cut, buf, len);
        b = NULL;
        bad += gnf_model_load_from_memory(cut, len, "cut.gnf", &b) != GNF_ERR_FORMAT || b ||
               !strstr(gnf_last_error(), "cut.gnf");
        free(cut);
    }
    CHECK_EQ_INT(bad, 0);
    test_write_file(q, buf, n / 2);
    CHECK(gnf_model_load(q, &b) == GNF_ERR_FORMAT && b == NULL && strstr(gnf_last_error(), q));
    /* wrong magic: a PNG signature where the header length should be */
    unsigned char png[16] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    test_write_file(q, png, 16);
    CHECK(gnf_model_load(q, &b) == GNF_ERR_FORMAT);
    /* a NaN in the last float of the data */
    unsigned char nan[4] = {0, 0, 0xC0, 0x7F};
    memcpy(buf + n - 4, nan, 4);
    test_write_file(q, buf, n);
    CHECK(gnf_model_load(q, &b) == GNF_ERR_FORMAT);
    CHECK(strstr(gnf_last_error(), "rbf.w0") != NULL || strstr(gnf_last_error(), "NaN") != NULL || strstr(gnf_last_error(), "finite") != NULL);
    /* missing file */
    CHECK(gnf_model_load(test_tmp("does-not-exist.gnf"), &b) == GNF_ERR_IO);
    free(buf);
}

TEST(model_save_is_atomic) {
    gnf_model *m = small_model(GNF_DEC_RBF);
    CHECK(gnf_model_save(m, "/nonexistent-dir/x.gnf", 0) == GNF_ERR_IO);
    CHECK(access("/nonexistent-dir/x.gnf", F_OK) != 0);
    gnf_model_free(m);
}
