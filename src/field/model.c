/* model.c — model configuration, parameter layout, initialisation, metadata and evaluation. */
#include "field/field.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gnf_model_config_default(gnf_model_config *cfg, int in_dim, int out_dim) {
    memset(cfg, 0, sizeof *cfg);
    cfg->in_dim = in_dim;
    cfg->out_dim = out_dim;
    cfg->encoding = GNF_ENC_DENSE;
    cfg->hash_log2 = 19;
    cfg->levels = 8;
    for (int l = 0; l < cfg->levels; l++) {
        cfg->res[l] = (int)lround(16.0 * pow(16.0, (double)l / (cfg->levels - 1)));
        cfg->feat[l] = 2;
    }
    cfg->decoder = GNF_DEC_RBF;
    cfg->basis = GNF_BASIS_GAUSSIAN;
    cfg->rbf_k = 64;
    cfg->mlp_hidden = 64;
    cfg->mlp_layers = 2;
    cfg->seed = 1;
}

gnf_status gnf_model_config_validate(const gnf_model_config *c) {
    if (c->in_dim != 2 && c->in_dim != 3) return gnf_fail(GNF_ERR_INVALID, "in_dim %d: only 2D and 3D fields are supported", c->in_dim);
    if (c->encoding != GNF_ENC_DENSE && c->encoding != GNF_ENC_HASH)
        return gnf_fail(GNF_ERR_INVALID, "unknown encoding %d", (int)c->encoding);
    if (c->encoding == GNF_ENC_HASH && (c->hash_log2 < 4 || c->hash_log2 > 26))
        return gnf_fail(GNF_ERR_INVALID, "hash_log2 %d out of range 4..26", c->hash_log2);
    if (c->out_dim < 1 || c->out_dim > 64) return gnf_fail(GNF_ERR_INVALID, "out_dim %d out of range 1..64", c->out_dim);
    if (c->levels < 1 || c->levels > GNF_MAX_LEVELS)
        return gnf_fail(GNF_ERR_INVALID, "levels %d out of range 1..%d", c->levels, GNF_MAX_LEVELS);
    int D = 0;
    for (int l = 0; l < c->levels; l++) {
        if (c->res[l] < 2 || c->res[l] > 16384)
            return gnf_fail(GNF_ERR_INVALID, "resolution of level %d is %d, out of range 2..16384", l, c->res[l]);
        if (c->feat[l] < 1 || c->feat[l] > 64)
            return gnf_fail(GNF_ERR_INVALID, "features of level %d is %d, out of range 1..64", l, c->feat[l]);
        double nodes = pow((double)c->res[l], c->in_dim);
        if (c->encoding == GNF_ENC_HASH && nodes > (double)(1L << c->hash_log2)) nodes = (double)(1L << c->hash_log2);
        if (nodes * c->feat[l] > (double)(1 << 28))
            return gnf_fail(GNF_ERR_INVALID, "level %d has %.0f features, more than 2^28", l, nodes * c->feat[l]);
        D += c->feat[l];
    }
    if (D > 1024) return gnf_fail(GNF_ERR_INVALID, "encoding width %d exceeds 1024", D);
    if (c->decoder == GNF_DEC_RBF) {
        if (c->rbf_k < 1 || c->rbf_k > 4096) return gnf_fail(GNF_ERR_INVALID, "rbf_k %d out of range 1..4096", c->rbf_k);
        if (c->basis != GNF_BASIS_GAUSSIAN && c->basis != GNF_BASIS_IMQ && c->basis != GNF_BASIS_MQ)
            return gnf_fail(GNF_ERR_INVALID, "unknown radial basis %d", (int)c->basis);
    } else if (c->decoder == GNF_DEC_MLP) {
        if (c->mlp_hidden < 1 || c->mlp_hidden > 512)
            return gnf_fail(GNF_ERR_INVALID, "mlp_hidden %d out of range 1..512", c->mlp_hidden);
        if (c->mlp_layers < 1 || c->mlp_layers > GNF_MAX_MLP_LAYERS - 1)
            return gnf_fail(GNF_ERR_INVALID, "mlp_layers %d out of range 1..%d", c->mlp_layers, GNF_MAX_MLP_LAYERS - 1);
    } else {
        return gnf_fail(GNF_ERR_INVALID, "unknown decoder kind %d", (int)c->decoder);
    }
    return GNF_OK;
}

long gnf_model_layout(struct gnf_model *m) {
    const gnf_model_config *c = &m->cfg;
    long off = 0;
    int D = 0;
    for (int l = 0; l < c->levels; l++) {
        long nodes = (long)c->res[l] * c->res[l];
        if (c->in_dim == 3) nodes *= c->res[l];
        m->level_dense[l] = 1;
        if (c->encoding == GNF_ENC_HASH && nodes > (1L << c->hash_log2)) {
            nodes = 1L << c->hash_log2;
            m->level_dense[l] = 0;
        }
        m->level_nodes[l] = nodes;
        m->grid_off[l] = off;
        m->grid_size[l] = nodes * c->feat[l];
        m->feat_off[l] = D;
        off += m->grid_size[l];
        D += c->feat[l];
    }
    m->D = D;
    m->dec_off = off;
    int K = c->rbf_k, O = c->out_dim;
    if (c->decoder == GNF_DEC_RBF) {
        m->off_c = off; off += (long)D * K;
        m->off_b = off; off += (long)D * K;
        m->off_W = off; off += (long)O * K;
        m->off_w0 = off; off += O;
    } else {
        m->mlp_nlayers = c->mlp_layers + 1;
        for (int i = 0; i < m->mlp_nlayers; i++) {
            m->mlp_in[i] = i == 0 ? D : c->mlp_hidden;
            m->mlp_out[i] = i == m->mlp_nlayers - 1 ? O : c->mlp_hidden;
            m->mlp_w[i] = off; off += (long)m->mlp_in[i] * m->mlp_out[i];
            m->mlp_b[i] = off; off += m->mlp_out[i];
        }
    }
    m->nparams = off;
    return off;
}

long gnf_model_config_param_count(const gnf_model_config *cfg) {
    gnf_status s = gnf_model_config_validate(cfg);
    if (s != GNF_OK) return 0;
    struct gnf_model tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *cfg;
    return gnf_model_layout(&tmp);
}

long gnf_model_config_hash_fit(gnf_model_config *cfg, int L, int top, long max_params) {
    int fpl = cfg->feat[0] >= 1 ? cfg->feat[0] : 2;
    if (L < 2 || L > GNF_MAX_LEVELS) return 0;
    for (int t = 26; t >= 4; t--) {
        gnf_model_config c = *cfg;
        c.hash_log2 = t;
        c.levels = L;
        for (int l = 0; l < L; l++) {
            c.res[l] = (int)lround(16.0 * pow((double)top / 16.0, (double)l / (L - 1)));
            if (c.res[l] < 2) c.res[l] = 2;
            c.feat[l] = fpl;
        }
        long n = gnf_model_config_param_count(&c);
        if (n > 0 && n <= max_params) { *cfg = c; return n; }
    }
    return 0;
}

/* Sizing for a parameter budget.  Dense: levels of `feat` features with resolutions geometric
 * from 16 up to a top resolution; the top resolution is the largest (≤ max_res) that fits, and
 * the number of levels grows with the top/bottom ratio (one level per factor ~1.5, at most 16).
 * Hash: 16 levels from 16 to max_res (default 2048), the largest power-of-two table that fits. */
gnf_status gnf_model_config_for_params(gnf_model_config *cfg, long max_params, int max_res) {
    gnf_model_config best = *cfg;
    int found = 0;
    int fpl = cfg->feat[0] >= 1 ? cfg->feat[0] : 2;
    if (cfg->encoding == GNF_ENC_HASH) {
        /* the largest table that fits for each level count 16..8; among those, the most
         * parameters, with a 2% bonus per level so that fine-to-coarse coverage is not traded
         * for a slightly larger table */
        int top = max_res > 0 ? GNF_MIN(max_res, 16384) : 2048;
        double best_score = 0;
        for (int L = 16; L >= 8; L--) {
            gnf_model_config c = *cfg;
            long n = gnf_model_config_hash_fit(&c, L, top, max_params);
            double score = (double)n * (1.0 + 0.02 * L);
            if (n > 0 && score > best_score) { best = c; best_score = score; found = 1; }
        }
    } else {
        if (max_res <= 0) max_res = 16384;
        for (int top = GNF_MIN(max_res, 16384); top >= 2 && !found; top = top > 64 ? top - (top / 64) : top - 1) {
            gnf_model_config c = *cfg;
            int rmin = GNF_MIN(16, top);
            int L = 1 + (int)ceil(log((double)top / rmin) / log(1.5));
            if (L > 16) L = 16;
            if (top == rmin) L = 1;
            c.levels = L;
            for (int l = 0; l < L; l++) {
                c.res[l] = L == 1 ? top : (int)lround(rmin * pow((double)top / rmin, (double)l / (L - 1)));
                if (c.res[l] < 2) c.res[l] = 2;
                c.feat[l] = fpl;
            }
            long n = gnf_model_config_param_count(&c);
            if (n > 0 && n <= max_params) { best = c; found = 1; }
        }
    }
    if (!found) return gnf_fail(GNF_ERR_INVALID, "no model fits in %ld parameters", max_params);
    *cfg = best;
    return GNF_OK;
}

/* Reference initialisation (docs/MODEL.md): grids U(-1e-4, 1e-4), centres U(-1e-4, 1e-4),
 * log-precisions 0, head U(-1/sqrt(K), 1/sqrt(K)); MLP weights U(-1/sqrt(in), 1/sqrt(in)). */
static void init_params(struct gnf_model *m) {
    gnf_rng r;
    gnf_rng_seed(&r, m->cfg.seed, 0x6E66);
    float *p = m->params;
    for (long i = 0; i < m->dec_off; i++) p[i] = (gnf_rng_uniform(&r) * 2 - 1) * 1e-4f;
    if (m->cfg.decoder == GNF_DEC_RBF) {
        int K = m->cfg.rbf_k;
        for (long i = m->off_c; i < m->off_b; i++) p[i] = (gnf_rng_uniform(&r) * 2 - 1) * 1e-4f;
        for (long i = m->off_b; i < m->off_W; i++) p[i] = 0;
        float a = 1.0f / sqrtf((float)K);
        for (long i = m->off_W; i < m->nparams; i++) p[i] = (gnf_rng_uniform(&r) * 2 - 1) * a;
    } else {
        for (int l = 0; l < m->mlp_nlayers; l++) {
            float a = 1.0f / sqrtf((float)m->mlp_in[l]);
            for (long i = m->mlp_w[l]; i < m->mlp_b[l] + m->mlp_out[l]; i++)
                p[i] = (gnf_rng_uniform(&r) * 2 - 1) * a;
        }
    }
}

gnf_status gnf_model_create(const gnf_model_config *cfg, gnf_task task, gnf_model **out) {
    *out = NULL;
    gnf_status s = gnf_model_config_validate(cfg);
    if (s != GNF_OK) return s;
    struct gnf_model *m = calloc(1, sizeof *m);
    if (!m) return gnf_fail(GNF_ERR_NOMEM, "out of memory creating a model");
    m->cfg = *cfg;
    m->task = task;
    gnf_model_layout(m);
    m->params = gnf_calloc((size_t)m->nparams, sizeof(float));
    if (!m->params) {
        long np = m->nparams;
        free(m);
        return gnf_fail(GNF_ERR_NOMEM, "out of memory: %ld parameters", np);
    }
    init_params(m);
    *out = m;
    return GNF_OK;
}

void gnf_model_free(gnf_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nmeta; i++) { free(m->meta[i].key); free(m->meta[i].value); }
    free(m->meta);
    gnf_free(m->params);
    free(m);
}

const gnf_model_config *gnf_model_get_config(const gnf_model *m) { return &m->cfg; }
gnf_task gnf_model_get_task(const gnf_model *m) { return m->task; }
long gnf_model_param_count(const gnf_model *m) { return m->nparams; }

gnf_status gnf_model_set_meta(gnf_model *m, const char *key, const char *value) {
    for (int i = 0; i < m->nmeta; i++) {
        if (strcmp(m->meta[i].key, key) == 0) {
            char *v = gnf_strdup(value);
            if (!v) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
            free(m->meta[i].value);
            m->meta[i].value = v;
            return GNF_OK;
        }
    }
    gnf_meta_kv *nm = realloc(m->meta, (size_t)(m->nmeta + 1) * sizeof *nm);
    if (!nm) return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    m->meta = nm;
    nm[m->nmeta].key = gnf_strdup(key);
    nm[m->nmeta].value = gnf_strdup(value);
    if (!nm[m->nmeta].key || !nm[m->nmeta].value) {
        free(nm[m->nmeta].key);
        free(nm[m->nmeta].value);
        return gnf_fail(GNF_ERR_NOMEM, "out of memory");
    }
    m->nmeta++;
    return GNF_OK;
}

const char *gnf_model_get_meta(const gnf_model *m, const char *key) {
    for (int i = 0; i < m->nmeta; i++)
        if (strcmp(m->meta[i].key, key) == 0) return m->meta[i].value;
    return NULL;
}

int gnf_model_meta_at(const gnf_model *m, int i, const char **key, const char **value) {
    if (i < 0 || i >= m->nmeta) return 0;
    *key = m->meta[i].key;
    *value = m->meta[i].value;
    return 1;
}

void gnf_rbf_beta(float *beta, const struct gnf_model *m, const float *params) {
    long n = (long)m->D * m->cfg.rbf_k;
    const float *b = params + m->off_b;
    for (long i = 0; i < n; i++) beta[i] = expf(b[i]);
}

void gnf_decode(float *y, const struct gnf_model *m, const float *params, const float *beta,
                const float *feats, long n) {
    if (m->cfg.decoder == GNF_DEC_RBF)
        gnf_rbf_forward(y, feats, params + m->off_c, beta, params + m->off_W, params + m->off_w0, n,
                    m->D, m->cfg.rbf_k, m->cfg.out_dim, m->cfg.basis);
    else
        gnf_mlp_forward(y, m, params, feats, n);
}

/* Evaluation in chunks of EVAL_CHUNK points; each chunk has its own feature scratch. */
#define EVAL_CHUNK 1024
typedef struct {
    const struct gnf_model *m;
    const float *beta, *x;
    float *y, *scratch;
    long n;
} eval_ctx;

static void eval_task(void *vctx, long task, int thread) {
    eval_ctx *e = vctx;
    long i0 = task * EVAL_CHUNK, cnt = GNF_MIN(EVAL_CHUNK, e->n - i0);
    float *f = e->scratch + (long)thread * EVAL_CHUNK * e->m->D;
    gnf_grid_encode(f, e->m, e->m->params, e->x + i0 * e->m->cfg.in_dim, cnt);
    gnf_decode(e->y + i0 * e->m->cfg.out_dim, e->m, e->m->params, e->beta, f, cnt);
}

gnf_status gnf_model_eval(const gnf_model *m, const float *x, long n, float *y, int threads) {
    if (n <= 0) return GNF_OK;
    int T = gnf_threads_resolve(threads);
    float *scratch = gnf_calloc((size_t)T * EVAL_CHUNK * (size_t)m->D, sizeof(float));
    float *beta = NULL;
    if (m->cfg.decoder == GNF_DEC_RBF) beta = gnf_calloc((size_t)m->D * (size_t)m->cfg.rbf_k, sizeof(float));
    if (!scratch || (m->cfg.decoder == GNF_DEC_RBF && !beta)) {
        gnf_free(scratch);
        gnf_free(beta);
        return gnf_fail(GNF_ERR_NOMEM, "out of memory evaluating %ld points", n);
    }
    if (beta) gnf_rbf_beta(beta, m, m->params);
    eval_ctx e = {m, beta, x, y, scratch, n};
    gnf_parallel_for((n + EVAL_CHUNK - 1) / EVAL_CHUNK, T, eval_task, &e);
    gnf_free(scratch);
    gnf_free(beta);
    return GNF_OK;
}
