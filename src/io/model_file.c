/* model_file.c — gnf models <-> safetensors files (docs/FORMAT.md).
 *
 * Tensors:  grid.<l>            [res_l, res_l, feat_l]  level l of the dense 2D grid
 *           rbf.centers         [D, K]   (feature-major, as in memory)
 *           rbf.log_precision   [D, K]   beta = exp(.)
 *           rbf.W [O, K], rbf.w0 [O]
 *           mlp.<i>.weight [out, in], mlp.<i>.bias [out]
 * __metadata__ holds "format" = "gnf", "gnf.version", the task and every architecture value
 * needed to rebuild the field, plus the model's own metadata (training settings, image size). */
#include "io/model_file.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_VERSION 1

static const char *task_name(gnf_task t) {
    switch (t) {
    case GNF_TASK_IMAGE: return "image";
    case GNF_TASK_SDF: return "sdf";
    case GNF_TASK_NERF: return "nerf";
    default: return "none";
    }
}

static const char *basis_name(gnf_basis b) {
    return b == GNF_BASIS_IMQ ? "imq" : b == GNF_BASIS_MQ ? "mq" : "gaussian";
}

/* Builds the tensor list of m (pointing into m's arena; names malloc'd into names[]). */
static int model_tensors(const gnf_model *m, gnf_st_tensor *t, char names[][32]) {
    int nt = 0;
    for (int l = 0; l < m->cfg.levels; l++) {
        snprintf(names[nt], 32, "grid.%d", l);
        int64_t R = m->cfg.res[l], C = m->cfg.feat[l];
        if (!m->level_dense[l])
            t[nt] = (gnf_st_tensor){names[nt], 2, {m->level_nodes[l], C}, m->grid_size[l], m->params + m->grid_off[l]};
        else if (m->cfg.in_dim == 3)
            t[nt] = (gnf_st_tensor){names[nt], 4, {R, R, R, C}, m->grid_size[l], m->params + m->grid_off[l]};
        else
            t[nt] = (gnf_st_tensor){names[nt], 3, {R, R, C}, m->grid_size[l], m->params + m->grid_off[l]};
        nt++;
    }
    int D = m->D, K = m->cfg.rbf_k, O = m->cfg.out_dim;
    if (m->cfg.decoder == GNF_DEC_RBF) {
        snprintf(names[nt], 32, "rbf.centers");
        t[nt] = (gnf_st_tensor){names[nt], 2, {D, K}, (int64_t)D * K, m->params + m->off_c}; nt++;
        snprintf(names[nt], 32, "rbf.log_precision");
        t[nt] = (gnf_st_tensor){names[nt], 2, {D, K}, (int64_t)D * K, m->params + m->off_b}; nt++;
        snprintf(names[nt], 32, "rbf.W");
        t[nt] = (gnf_st_tensor){names[nt], 2, {O, K}, (int64_t)O * K, m->params + m->off_W}; nt++;
        snprintf(names[nt], 32, "rbf.w0");
        t[nt] = (gnf_st_tensor){names[nt], 1, {O}, O, m->params + m->off_w0}; nt++;
    } else {
        for (int i = 0; i < m->mlp_nlayers; i++) {
            snprintf(names[nt], 32, "mlp.%d.weight", i);
            t[nt] = (gnf_st_tensor){names[nt], 2, {m->mlp_out[i], m->mlp_in[i]},
                                    (int64_t)m->mlp_out[i] * m->mlp_in[i], m->params + m->mlp_w[i]};
            nt++;
            snprintf(names[nt], 32, "mlp.%d.bias", i);
            t[nt] = (gnf_st_tensor){names[nt], 1, {m->mlp_out[i]}, m->mlp_out[i], m->params + m->mlp_b[i]};
            nt++;
        }
    }
    return nt;
}

#define MAX_TENSORS (GNF_MAX_LEVELS + 2 * GNF_MAX_MLP_LAYERS + 4)
#define ARCH_KEYS 15

/* Writes v[0..n) into p (512 bytes) as "a,b,c". */
static void int_list(char *p, const int *v, int n) {
    int len = 0;
    for (int l = 0; l < n; l++) len += snprintf(p + len, (size_t)(512 - len), l ? ",%d" : "%d", v[l]);
}

/* Architecture metadata (strings in buf) followed by the model's own metadata and then the extra
 * entries, in a calloc'd array of *nk entries (NULL: out of memory).  A checkpoint's gnf.ckpt.*
 * keys a model may carry (gnf_checkpoint_load_model) are never written from the model, nor a
 * model key that extra gives again. */
static gnf_st_kv *model_meta(const gnf_model *m, char buf[ARCH_KEYS][512], int *nk, const gnf_st_kv *extra, int nextra) {
    const gnf_model_config *c = &m->cfg;
    gnf_st_kv *kv = calloc((size_t)(ARCH_KEYS + m->nmeta + nextra + 1), sizeof *kv);
    if (!kv) return NULL;
    int n = 0;
#define PUT(k, ...) do { snprintf(buf[n], 512, __VA_ARGS__); kv[n].key = (char *)(k); kv[n].value = buf[n]; n++; } while (0)
    PUT("format", "gnf");
    PUT("gnf.version", "%d", FORMAT_VERSION);
    PUT("gnf.task", "%s", task_name(m->task));
    PUT("gnf.encoding", "%s%dd", c->encoding == GNF_ENC_HASH ? "hash" : "dense", c->in_dim);
    PUT("gnf.hash_log2", "%d", c->hash_log2);
    PUT("gnf.in_dim", "%d", c->in_dim);
    PUT("gnf.out_dim", "%d", c->out_dim);
    PUT("gnf.levels", "%d", c->levels);
    int_list(buf[n], c->res, c->levels);
    kv[n].key = "gnf.res"; kv[n].value = buf[n]; n++;
    int_list(buf[n], c->feat, c->levels);
    kv[n].key = "gnf.feat"; kv[n].value = buf[n]; n++;
    PUT("gnf.decoder", "%s", c->decoder == GNF_DEC_MLP ? "mlp" : "rbf");
    PUT("gnf.basis", "%s", basis_name(c->basis));
    PUT("gnf.rbf_k", "%d", c->rbf_k);
    PUT("gnf.mlp_hidden", "%d", c->mlp_hidden);
    PUT("gnf.mlp_layers", "%d", c->mlp_layers);
#undef PUT
    for (int i = 0; i < m->nmeta; i++) {
        if (strncmp(m->meta[i].key, "gnf.", 4) == 0 && gnf_st_meta(&(gnf_st_file){0, NULL, n, kv}, m->meta[i].key))
            continue; /* architecture keys are written from the config, never from stale metadata */
        if (strcmp(m->meta[i].key, "format") == 0 || strncmp(m->meta[i].key, GNF_CKPT_PREFIX, strlen(GNF_CKPT_PREFIX)) == 0)
            continue;
        int again = 0;
        for (int e = 0; e < nextra && !again; e++) again = strcmp(extra[e].key, m->meta[i].key) == 0;
        if (again) continue;
        kv[n].key = m->meta[i].key;
        kv[n].value = m->meta[i].value;
        n++;
    }
    for (int e = 0; e < nextra; e++) kv[n++] = extra[e];
    *nk = n;
    return kv;
}

gnf_status gnf_model_save(const gnf_model *m, const char *path, int half) {
    gnf_st_tensor t[MAX_TENSORS];
    char names[MAX_TENSORS][32], buf[ARCH_KEYS][512];
    int nt = model_tensors(m, t, names), nk;
    gnf_st_kv *kv = model_meta(m, buf, &nk, NULL, 0);
    if (!kv) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    gnf_status s = gnf_st_write(path, t, nt, kv, nk, half);
    free(kv);
    return s;
}

gnf_status gnf_model_save_with(const gnf_model *m, const char *path, const gnf_st_tensor *extra, int nextra,
                               const gnf_st_kv *meta, int nmeta) {
    gnf_st_tensor *t = calloc((size_t)(MAX_TENSORS + nextra), sizeof *t);
    char names[MAX_TENSORS][32], buf[ARCH_KEYS][512];
    int nk;
    gnf_st_kv *kv = t ? model_meta(m, buf, &nk, meta, nmeta) : NULL;
    if (!kv) { free(t); return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path); }
    int nt = model_tensors(m, t, names);
    for (int i = 0; i < nextra; i++) t[nt++] = extra[i];
    gnf_status s = gnf_st_write(path, t, nt, kv, nk, 0);
    free(kv);
    free(t);
    return s;
}

long gnf_model_file_bytes(const gnf_model *m, int half) {
    gnf_st_tensor t[MAX_TENSORS];
    char names[MAX_TENSORS][32], buf[ARCH_KEYS][512];
    int nt = model_tensors(m, t, names), nk;
    gnf_st_kv *kv = model_meta(m, buf, &nk, NULL, 0);
    if (!kv) return -1;
    int64_t n = gnf_st_file_size(t, nt, kv, nk, half);
    free(kv);
    return (long)n;
}

/* Parses a whole decimal integer in [lo, hi]; 0 on anything else. */
static int parse_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static gnf_status meta_int(const gnf_st_file *f, const char *path, const char *key, long lo, long hi, long *out) {
    const char *v = gnf_st_meta(f, key);
    if (!v) return gnf_fail(GNF_ERR_FORMAT, "%s: metadata key \"%s\" is missing", path, key);
    if (!parse_int(v, lo, hi, out))
        return gnf_fail(GNF_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not an integer in %ld..%ld", path, key, v, lo, hi);
    return GNF_OK;
}

static gnf_status meta_list(const gnf_st_file *f, const char *path, const char *key, int n, int lo, int hi, int *out) {
    const char *v = gnf_st_meta(f, key);
    if (!v) return gnf_fail(GNF_ERR_FORMAT, "%s: metadata key \"%s\" is missing", path, key);
    const char *p = v;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < lo || x > hi || (i < n - 1 ? *end != ',' : *end != 0))
            return gnf_fail(GNF_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not %d integers in %d..%d", path, key, v, n, lo, hi);
        out[i] = (int)x;
        p = end + 1;
    }
    return GNF_OK;
}

gnf_status gnf_model_from_file(const gnf_st_file *fp, const char *path, const char *skip, gnf_model **out) {
    gnf_status s;
    gnf_model *m = NULL;
    const gnf_st_file f = *fp;
    *out = NULL;
    const char *fmt = gnf_st_meta(&f, "format");
    if (!fmt || strcmp(fmt, "gnf") != 0) {
        s = gnf_fail(GNF_ERR_FORMAT, "%s: a safetensors file but not a gnf model (metadata \"format\" is %s%s%s)",
                     path, fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : "");
        goto fail;
    }
    if (!skip && gnf_st_meta(&f, GNF_CKPT_PREFIX "version")) {
        s = gnf_fail(GNF_ERR_FORMAT, "%s: a training checkpoint, not a model (training resumes from it; the model is written "
                     "when training ends)", path);
        goto fail;
    }
    long ver, v;
    if ((s = meta_int(&f, path, "gnf.version", 1, INT_MAX, &ver)) != GNF_OK) goto fail;
    if (ver > FORMAT_VERSION) {
        s = gnf_fail(GNF_ERR_UNSUPPORTED, "%s: model format version %ld is newer than this gnf reads (%d)", path, ver, FORMAT_VERSION);
        goto fail;
    }
    gnf_model_config c;
    memset(&c, 0, sizeof c);
    const char *task = gnf_st_meta(&f, "gnf.task"), *enc = gnf_st_meta(&f, "gnf.encoding");
    const char *dec = gnf_st_meta(&f, "gnf.decoder"), *basis = gnf_st_meta(&f, "gnf.basis");
    gnf_task tk = GNF_TASK_NONE;
    if (task && strcmp(task, "image") == 0) tk = GNF_TASK_IMAGE;
    else if (task && strcmp(task, "sdf") == 0) tk = GNF_TASK_SDF;
    else if (task && strcmp(task, "nerf") == 0) tk = GNF_TASK_NERF;
    else { s = gnf_fail(GNF_ERR_UNSUPPORTED, "%s: task \"%s\" is not supported by this gnf", path, task ? task : "(missing)"); goto fail; }
    if ((s = meta_int(&f, path, "gnf.in_dim", 2, 3, &v)) != GNF_OK) goto fail;
    c.in_dim = (int)v;
    char want_dense[16], want_hash[16];
    snprintf(want_dense, sizeof want_dense, "dense%dd", c.in_dim);
    snprintf(want_hash, sizeof want_hash, "hash%dd", c.in_dim);
    if (enc && strcmp(enc, want_dense) == 0) c.encoding = GNF_ENC_DENSE;
    else if (enc && strcmp(enc, want_hash) == 0) c.encoding = GNF_ENC_HASH;
    else { s = gnf_fail(GNF_ERR_UNSUPPORTED, "%s: encoding \"%s\" is not supported for %dD fields", path, enc ? enc : "(missing)", c.in_dim); goto fail; }
    if ((s = meta_int(&f, path, "gnf.hash_log2", 4, 26, &v)) != GNF_OK) goto fail;
    c.hash_log2 = (int)v;
    if ((s = meta_int(&f, path, "gnf.out_dim", 1, 64, &v)) != GNF_OK) goto fail;
    c.out_dim = (int)v;
    if ((s = meta_int(&f, path, "gnf.levels", 1, GNF_MAX_LEVELS, &v)) != GNF_OK) goto fail;
    c.levels = (int)v;
    if ((s = meta_list(&f, path, "gnf.res", c.levels, 2, 16384, c.res)) != GNF_OK) goto fail;
    if ((s = meta_list(&f, path, "gnf.feat", c.levels, 1, 64, c.feat)) != GNF_OK) goto fail;
    if (dec && strcmp(dec, "rbf") == 0) c.decoder = GNF_DEC_RBF;
    else if (dec && strcmp(dec, "mlp") == 0) c.decoder = GNF_DEC_MLP;
    else { s = gnf_fail(GNF_ERR_FORMAT, "%s: decoder \"%s\" unknown", path, dec ? dec : "(missing)"); goto fail; }
    if (!basis) basis = "gaussian";
    if (strcmp(basis, "gaussian") == 0) c.basis = GNF_BASIS_GAUSSIAN;
    else if (strcmp(basis, "imq") == 0) c.basis = GNF_BASIS_IMQ;
    else if (strcmp(basis, "mq") == 0) c.basis = GNF_BASIS_MQ;
    else { s = gnf_fail(GNF_ERR_FORMAT, "%s: radial basis \"%s\" unknown", path, basis); goto fail; }
    if ((s = meta_int(&f, path, "gnf.rbf_k", 1, 4096, &v)) != GNF_OK) goto fail;
    c.rbf_k = (int)v;
    if ((s = meta_int(&f, path, "gnf.mlp_hidden", 1, 512, &v)) != GNF_OK) goto fail;
    c.mlp_hidden = (int)v;
    if ((s = meta_int(&f, path, "gnf.mlp_layers", 1, GNF_MAX_MLP_LAYERS - 1, &v)) != GNF_OK) goto fail;
    c.mlp_layers = (int)v;
    if (gnf_model_config_validate(&c) != GNF_OK) {
        s = gnf_fail(GNF_ERR_FORMAT, "%s: architecture in metadata is invalid: %s", path, gnf_last_error());
        goto fail;
    }
    /* The metadata alone must not size the model: a few bytes claiming 24 levels of 2^28
     * features would allocate (and initialise) gigabytes.  The tensors, already read and
     * bounded by the file, must hold every parameter. */
    long need = gnf_model_config_param_count(&c);
    int64_t have = 0;
    for (int i = 0; i < f.ntensors; i++) have += f.tensors[i].numel;
    if (need > have) {
        s = gnf_fail(GNF_ERR_FORMAT, "%s: the architecture in the metadata has %ld parameters but the tensors hold %lld",
                     path, need, (long long)have);
        goto fail;
    }
    if ((s = gnf_model_create(&c, tk, &m)) != GNF_OK) goto fail;
    gnf_st_tensor want[MAX_TENSORS];
    char names[MAX_TENSORS][32];
    int nt = model_tensors(m, want, names);
    for (int i = 0; i < nt; i++) {
        const gnf_st_tensor *t = gnf_st_find(&f, want[i].name);
        if (!t) { s = gnf_fail(GNF_ERR_FORMAT, "%s: tensor \"%s\" is missing", path, want[i].name); goto fail; }
        int same = t->ndim == want[i].ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == want[i].shape[d];
        if (!same) {
            s = gnf_fail(GNF_ERR_FORMAT, "%s: tensor \"%s\" has shape [%lld...] (%d dims), expected [%lld...] (%d dims)", path,
                         want[i].name, t->ndim ? (long long)t->shape[0] : 0LL, t->ndim, (long long)want[i].shape[0], want[i].ndim);
            goto fail;
        }
        memcpy(want[i].data, t->data, sizeof(float) * (size_t)want[i].numel);
    }
    int nfile = 0;
    for (int i = 0; i < f.ntensors; i++) nfile += !skip || strncmp(f.tensors[i].name, skip, strlen(skip)) != 0;
    if (nfile != nt) {
        s = gnf_fail(GNF_ERR_FORMAT, "%s: %d tensors in the file, the architecture has %d", path, nfile, nt);
        goto fail;
    }
    /* The keys are unique (gnf_st_read checked): the entries are copied as they are, in file
     * order, in linear time (gnf_model_set_meta looks for the key first, quadratic in a header
     * of a hundred thousand entries).  Copied, not moved: the caller's file stays whole (a
     * checkpoint reads its own keys from it afterwards). */
    if (f.nmeta > 0 && !(m->meta = calloc((size_t)f.nmeta, sizeof *m->meta))) {
        s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %d metadata entries", path, f.nmeta);
        goto fail;
    }
    for (int i = 0; i < f.nmeta; i++) {
        if (strcmp(f.meta[i].key, "format") == 0) continue;
        char *k = gnf_strdup(f.meta[i].key), *val = gnf_strdup(f.meta[i].value);
        if (!k || !val) {
            free(k);
            free(val);
            s = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for %d metadata entries", path, f.nmeta);
            goto fail;
        }
        m->meta[m->nmeta++] = (gnf_meta_kv){k, val};
    }
    *out = m;
    return GNF_OK;
fail:
    gnf_model_free(m);
    return s;
}

gnf_status gnf_model_load(const char *path, gnf_model **out) {
    *out = NULL;
    gnf_st_file f;
    gnf_status s = gnf_st_read(path, &f);
    if (s == GNF_OK) s = gnf_model_from_file(&f, path, NULL, out);
    gnf_st_file_free(&f);
    return s;
}

gnf_status gnf_model_load_from_memory(const void *data, size_t size, const char *name, gnf_model **out) {
    *out = NULL;
    gnf_st_file f;
    gnf_status s = gnf_st_read_memory(data, size, name, &f);
    if (s == GNF_OK) s = gnf_model_from_file(&f, name, NULL, out);
    gnf_st_file_free(&f);
    return s;
}

int gnf_model_tensor_at(const gnf_model *m, int i, char name[32], int *ndim, int64_t shape[4], const float **data) {
    gnf_st_tensor t[MAX_TENSORS];
    char names[MAX_TENSORS][32];
    int nt = model_tensors(m, t, names);
    if (i < 0 || i >= nt) return 0;
    memcpy(name, names[i], 32);
    *ndim = t[i].ndim;
    for (int k = 0; k < 4; k++) shape[k] = k < t[i].ndim ? t[i].shape[k] : 1;
    *data = t[i].data;
    return 1;
}
