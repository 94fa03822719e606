/* fuzz_model.c — feeds model files to the safetensors reader (gnf_st_read_memory) and, when that
 * accepts them, to the model loader (gnf_model_load_from_memory: metadata, architecture, tensor
 * shapes), the path of every verb that opens a .gnf file.  Checks: no sanitizer finding, no slow
 * input or allocation the file does not back, a failure names the input and leaves nothing
 * behind; an accepted file has tensors whose shapes, counts and values are consistent (finite,
 * unique names); a loaded model has a valid configuration, exactly as many parameters as the
 * file's tensors hold, every metadata entry but "format", and evaluates. */
#include "fuzz.h"
#include "io/safetensors.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Whether the n strings s[0..n) (reordered) are distinct: sorted, so that a header of a hundred
 * thousand names is checked in n log n. */
static int distinct(const char **s, int n) {
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    for (int i = 1; i < n; i++)
        if (strcmp(s[i - 1], s[i]) == 0) return 0;
    return 1;
}

/* The promises of an accepted safetensors file; returns the total number of floats. */
static int64_t check_st(const gnf_st_file *f) {
    int64_t total = 0;
    FUZZ_ASSERT(f->ntensors >= 0 && f->nmeta >= 0 && (f->ntensors == 0 || f->tensors) && (f->nmeta == 0 || f->meta),
                "%d tensors, %d metadata entries", f->ntensors, f->nmeta);
    for (int i = 0; i < f->ntensors; i++) {
        const gnf_st_tensor *t = &f->tensors[i];
        FUZZ_ASSERT(t->name && t->data && t->ndim >= 0 && t->ndim <= 8, "tensor %d: ndim %d", i, t->ndim);
        if (!t->name || !t->data || t->ndim < 0 || t->ndim > 8) return -1;
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_ASSERT(t->shape[d] >= 0, "tensor %d: shape[%d] = %lld", i, d, (long long)t->shape[d]);
            numel *= t->shape[d];
        }
        FUZZ_ASSERT(numel == t->numel, "tensor %d: numel %lld, shape product %lld", i, (long long)t->numel,
                    (long long)numel);
        for (int64_t j = 0; j < t->numel; j++)
            if (!isfinite(t->data[j])) {
                FUZZ_ASSERT(0, "tensor %d element %lld is not finite", i, (long long)j);
                break;
            }
        total += t->numel;
    }
    int n = f->ntensors > f->nmeta ? f->ntensors : f->nmeta;
    const char **names = malloc((size_t)(n + 1) * sizeof *names);
    if (!names) return total;
    for (int i = 0; i < f->ntensors; i++) names[i] = f->tensors[i].name;
    FUZZ_ASSERT(distinct(names, f->ntensors), "two tensors have the same name");
    int complete = 1;
    for (int i = 0; i < f->nmeta; i++) {
        complete &= f->meta[i].key && f->meta[i].value;
        names[i] = f->meta[i].key ? f->meta[i].key : "";
    }
    FUZZ_ASSERT(complete, "a metadata entry without key or value");
    FUZZ_ASSERT(distinct(names, f->nmeta), "two metadata entries have the same key");
    free(names);
    return total;
}

gnf_status gnf_fuzz_model(const uint8_t *data, size_t size) {
    const char *name = "fuzz.gnf";
    gnf_st_file f;
    gnf_status s = gnf_st_read_memory(data, size, name, &f);
    if (s != GNF_OK) {
        gnf_fuzz_check_error(s, name, 0);
        FUZZ_ASSERT(!f.tensors && !f.meta && !f.ntensors && !f.nmeta, "a failed read left a file behind");
        return s; /* the model loader reads through gnf_st_read_memory: it fails the same way */
    }
    int64_t floats = check_st(&f);
    int nmeta = f.nmeta - (gnf_st_meta(&f, "format") != NULL); /* what the model keeps */
    gnf_st_file_free(&f);

    gnf_model *m = (gnf_model *)&f; /* must come back NULL on failure */
    s = gnf_model_load_from_memory(data, size, name, &m);
    if (s != GNF_OK) {
        gnf_fuzz_check_error(s, name, 0);
        FUZZ_ASSERT(m == NULL, "a failed load left a model behind");
        return s;
    }
    const gnf_model_config *c = gnf_model_get_config(m);
    FUZZ_ASSERT(gnf_model_config_validate(c) == GNF_OK, "a loaded model has an invalid configuration: %s",
                gnf_last_error());
    FUZZ_ASSERT(gnf_model_param_count(m) == floats, "a model of %ld parameters from tensors of %lld floats",
                gnf_model_param_count(m), (long long)floats);
    int kept = 0;
    for (const char *k, *v; gnf_model_meta_at(m, kept, &k, &v);) kept++;
    FUZZ_ASSERT(kept == nmeta, "the model keeps %d of the file's %d metadata entries", kept, nmeta);
    /* Usable: four points inside and on the edge of the domain. */
    static const float x[4 * 3] = {0, 0, 0, -1, -1, -1, 1, 1, 1, 0.25f, -0.5f, 0.75f};
    float y[4 * 64];
    FUZZ_ASSERT(c->out_dim >= 1 && c->out_dim <= 64, "out_dim %d", c->out_dim);
    if (c->out_dim >= 1 && c->out_dim <= 64)
        FUZZ_ASSERT(gnf_model_eval(m, x, 4, y, 1) == GNF_OK, "a loaded model does not evaluate: %s", gnf_last_error());
    gnf_model_free(m);
    return s;
}

GNF_FUZZ_MAIN(model)
