/* safetensors.c — the safetensors layout for gnf model files (see safetensors.h).
 *
 * Writer: builds the JSON header itself (so escaping and number formatting are under our
 * control), pads it with spaces to a multiple of 8 and writes atomically via a temp file.
 * Reader: works on the whole file in memory, pre-screens the header bytes for what cJSON
 * would let through (invalid UTF-8, raw control characters, "\u0000", unterminated strings),
 * parses it with cJSON and checks every field before any tensor data are converted. */
#include "safetensors.h"
#include "core/core.h"
#include "io/text.h"
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_NDIM 8
#define ST_MAX_HEADER ((uint64_t)1 << 20)    /* header bytes we parse: gnf headers are a few KiB, and
                                                cJSON can need ~30x the text in memory */
#define ST_MAX_FILE ((uint64_t)4 << 30)      /* whole file; it is read into memory */
#define ST_MAX_DIM ((int64_t)1 << 40)
#define ST_MAX_OFFSET ((int64_t)1 << 53)     /* every integer up to here is exact in a double */
#define ST_META "__metadata__"
#define SHOWN 100                            /* buffer size for names quoted in messages */

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                             */

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0 if there is none:
 * overlong forms, surrogates and code points past U+10FFFF are not well-formed. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

/* Copies s into buf for quoting in an error message.  Names come from hostile files, so
 * control bytes (C0, DEL, C1) and invalid UTF-8 become \xNN and long names are cut with "...":
 * a message can then neither garble a terminal nor be swamped by one name. */
static const char *shown(const char *s, char *buf, size_t cap) {
    const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
    size_t n = strlen((const char *)p), o = 0, i = 0;
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        int esc = l == 0 || p[i] < 0x20 || p[i] == 0x7F || (l == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0);
        size_t need = esc ? 4 * (l ? l : 1) : l;
        if (o + need + 4 > cap) { /* room for "..." and the terminator */
            memcpy(buf + o, "...", 4);
            return buf;
        }
        if (esc) {
            for (size_t k = 0; k < (l ? l : 1); k++)
                o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", p[i + k]);
            i += l ? l : 1;
        } else {
            memcpy(buf + o, p + i, l);
            o += l;
            i += l;
        }
    }
    buf[o] = 0;
    return buf;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Returns a string occurring twice among names[0..n), or NULL.  Sorting keeps this
 * O(n log n), so a header with a million names cannot stall the reader.  -1: out of memory. */
static int find_dup(const char **names, int n, const char **dup) {
    *dup = NULL;
    if (n < 2) return 0;
    const char **s = malloc((size_t)n * sizeof *s);
    if (!s) return -1;
    memcpy(s, names, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    for (int i = 1; i < n && !*dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0) *dup = s[i];
    free(s);
    return 0;
}

/* A growing NUL-terminated byte buffer; oom is sticky so callers check once at the end. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX / 4 - b->len) { b->oom = 1; return; }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_i64(sbuf *b, int64_t v) {
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", (long long)v);
    sb_put(b, t, (size_t)n);
}

/* Appends s as a JSON string literal.  Quote, backslash and control characters are escaped;
 * other bytes (valid UTF-8, checked by the caller) are copied as they are. */
static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            if (*c < 0x20) {
                char t[8];
                snprintf(t, sizeof t, "\\u%04x", (unsigned)*c);
                sb_put(b, t, 6);
            } else {
                sb_put(b, (const char *)c, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                    */

/* Checks the structure of the writer's arguments (not the values); who prefixes messages.
 * On success *data_bytes is the size of the data section. */
static gnf_status check_structure(const char *who, const gnf_st_tensor *t, int nt,
                                  const gnf_st_kv *meta, int nmeta, int half, int64_t *data_bytes) {
    char nb[SHOWN];
    if (nt < 0 || nmeta < 0) return gnf_fail(GNF_ERR_INVALID, "%s: negative tensor or metadata count", who);
    assert(nt == 0 || t);
    assert(nmeta == 0 || meta);
    int64_t dsize = half ? 2 : 4, total = 0;
    for (int i = 0; i < nt; i++) {
        const gnf_st_tensor *x = &t[i];
        assert(x->name);
        const char *nm = shown(x->name, nb, sizeof nb);
        if (!utf8_valid((const unsigned char *)x->name, strlen(x->name)))
            return gnf_fail(GNF_ERR_INVALID, "%s: tensor name '%s' is not valid UTF-8", who, nm);
        if (strcmp(x->name, ST_META) == 0)
            return gnf_fail(GNF_ERR_INVALID, "%s: '%s' is reserved and cannot name a tensor", who, ST_META);
        if (x->ndim < 0 || x->ndim > ST_MAX_NDIM)
            return gnf_fail(GNF_ERR_INVALID, "%s: tensor '%s' has ndim %d (0..%d allowed)", who, nm, x->ndim, ST_MAX_NDIM);
        int64_t numel = 1;
        int zero = 0;
        for (int d = 0; d < x->ndim; d++) {
            int64_t v = x->shape[d];
            if (v < 0 || v > ST_MAX_DIM)
                return gnf_fail(GNF_ERR_INVALID, "%s: tensor '%s' shape[%d] = %lld is out of range", who, nm, d, (long long)v);
            if (v == 0) zero = 1;
            else if (numel > ST_MAX_OFFSET / v)
                return gnf_fail(GNF_ERR_INVALID, "%s: tensor '%s' has too many elements", who, nm);
            else numel *= v;
        }
        if (zero) numel = 0;
        if (numel != x->numel)
            return gnf_fail(GNF_ERR_INVALID, "%s: tensor '%s' numel %lld differs from its shape's product %lld",
                            who, nm, (long long)x->numel, (long long)numel);
        if (numel > 0 && !x->data) return gnf_fail(GNF_ERR_INVALID, "%s: tensor '%s' has no data", who, nm);
        total += numel * dsize;
        if (total > (int64_t)ST_MAX_FILE)
            return gnf_fail(GNF_ERR_INVALID, "%s: tensor data exceed the 4 GiB file limit", who);
    }
    for (int i = 0; i < nmeta; i++) {
        assert(meta[i].key && meta[i].value);
        if (!utf8_valid((const unsigned char *)meta[i].key, strlen(meta[i].key)) ||
            !utf8_valid((const unsigned char *)meta[i].value, strlen(meta[i].value)))
            return gnf_fail(GNF_ERR_INVALID, "%s: metadata entry '%s' is not valid UTF-8", who,
                            shown(meta[i].key, nb, sizeof nb));
    }
    /* Duplicates would be ambiguous on read (and the reader rejects them). */
    const char **names = malloc(((size_t)GNF_MAX(nt, nmeta) + 1) * sizeof *names);
    if (!names) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", who);
    const char *tdup = NULL, *mdup = NULL;
    for (int i = 0; i < nt; i++) names[i] = t[i].name;
    int r = find_dup(names, nt, &tdup);
    for (int i = 0; i < nmeta; i++) names[i] = meta[i].key;
    if (r == 0) r = find_dup(names, nmeta, &mdup);
    free(names);
    if (r < 0) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", who);
    if (tdup) return gnf_fail(GNF_ERR_INVALID, "%s: duplicate tensor name '%s'", who, shown(tdup, nb, sizeof nb));
    if (mdup) return gnf_fail(GNF_ERR_INVALID, "%s: duplicate metadata key '%s'", who, shown(mdup, nb, sizeof nb));
    *data_bytes = total;
    return GNF_OK;
}

/* Refuses non-finite values (and, for f16, values that would overflow to infinity) so that we
 * never write a file the reader rejects. */
static gnf_status check_values(const char *path, const gnf_st_tensor *t, int nt, int half) {
    char nb[SHOWN];
    for (int i = 0; i < nt; i++) {
        for (int64_t j = 0; j < t[i].numel; j++) {
            float v = t[i].data[j];
            if (!isfinite(v))
                return gnf_fail(GNF_ERR_INVALID, "%s: tensor '%s' element %lld is %s; refusing to write it",
                                path, shown(t[i].name, nb, sizeof nb), (long long)j, isnan(v) ? "NaN" : "infinite");
            if (half && !isfinite(gnf_f16_to_f32(gnf_f32_to_f16(v))))
                return gnf_fail(GNF_ERR_INVALID, "%s: tensor '%s' element %lld = %g overflows f16",
                                path, shown(t[i].name, nb, sizeof nb), (long long)j, (double)v);
        }
    }
    return GNF_OK;
}

/* Builds the JSON header, space-padded to a multiple of 8, into *b (structure already checked). */
static gnf_status build_header(const char *who, const gnf_st_tensor *t, int nt, const gnf_st_kv *meta,
                               int nmeta, int half, sbuf *b) {
    int64_t off = 0, dsize = half ? 2 : 4;
    int first = 1;
    sb_put(b, "{", 1);
    if (nmeta > 0) {
        sb_json_string(b, ST_META);
        sb_put(b, ":{", 2);
        for (int i = 0; i < nmeta; i++) {
            if (i) sb_put(b, ",", 1);
            sb_json_string(b, meta[i].key);
            sb_put(b, ":", 1);
            sb_json_string(b, meta[i].value);
        }
        sb_put(b, "}", 1);
        first = 0;
    }
    for (int i = 0; i < nt; i++) {
        if (!first) sb_put(b, ",", 1);
        first = 0;
        sb_json_string(b, t[i].name);
        sb_str(b, half ? ":{\"dtype\":\"F16\",\"shape\":[" : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            if (d) sb_put(b, ",", 1);
            sb_i64(b, t[i].shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_i64(b, off);
        sb_put(b, ",", 1);
        off += t[i].numel * dsize;
        sb_i64(b, off);
        sb_str(b, "]}");
    }
    sb_put(b, "}", 1);
    while (!b->oom && b->len % 8) sb_put(b, " ", 1);
    if (b->oom) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory building the header", who);
    if (b->len > ST_MAX_HEADER)
        return gnf_fail(GNF_ERR_INVALID, "%s: header of %zu bytes exceeds the 1 MiB limit", who, b->len);
    return GNF_OK;
}

/* Checks the structure and builds the header into *h; *size is the exact file size.  Both
 * gnf_st_write and gnf_st_file_size go through here, so they cannot disagree. */
static gnf_status plan(const char *who, const gnf_st_tensor *t, int nt, const gnf_st_kv *meta, int nmeta,
                       int half, sbuf *h, int64_t *size) {
    int64_t data = 0;
    gnf_status s = check_structure(who, t, nt, meta, nmeta, half, &data);
    if (s == GNF_OK) s = build_header(who, t, nt, meta, nmeta, half, h);
    if (s != GNF_OK) return s;
    *size = 8 + (int64_t)h->len + data;
    if (*size > (int64_t)ST_MAX_FILE) /* the reader would refuse it */
        return gnf_fail(GNF_ERR_INVALID, "%s: the file would be %lld bytes, over the 4 GiB limit", who,
                        (long long)*size);
    return GNF_OK;
}

int64_t gnf_st_file_size(const gnf_st_tensor *t, int nt, const gnf_st_kv *meta, int nmeta, int half) {
    sbuf h = {0};
    int64_t size = 0;
    gnf_status s = plan("gnf_st_file_size", t, nt, meta, nmeta, half, &h, &size);
    free(h.p);
    return s == GNF_OK ? size : -1;
}

/* Writes numel floats as little-endian f32 or f16, a chunk at a time.  0 on success. */
static int write_values(FILE *f, const float *x, int64_t numel, int half) {
    unsigned char chunk[16384];
    size_t o = 0;
    for (int64_t i = 0; i < numel; i++) {
        if (half) {
            uint16_t h = gnf_f32_to_f16(x[i]);
            chunk[o++] = (unsigned char)(h & 0xFF);
            chunk[o++] = (unsigned char)(h >> 8);
        } else {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            for (int k = 0; k < 4; k++) chunk[o++] = (unsigned char)(u >> (8 * k));
        }
        if (o == sizeof chunk) {
            if (fwrite(chunk, 1, o, f) != o) return -1;
            o = 0;
        }
    }
    if (o && fwrite(chunk, 1, o, f) != o) return -1;
    return 0;
}

gnf_status gnf_st_write(const char *path, const gnf_st_tensor *t, int nt, const gnf_st_kv *meta,
                        int nmeta, int half) {
    assert(path);
    sbuf h = {0};
    int64_t size = 0;
    gnf_status s = plan(path, t, nt, meta, nmeta, half, &h, &size);
    if (s == GNF_OK) s = check_values(path, t, nt, half); /* before anything touches the disk */
    if (s != GNF_OK) {
        free(h.p);
        return s;
    }

    gnf_atomic_file af;
    s = gnf_atomic_open(&af, path);
    if (s != GNF_OK) {
        free(h.p);
        return s;
    }
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)h.len >> (8 * k));
    errno = 0;
    int bad = fwrite(len8, 1, 8, af.f) != 8 || fwrite(h.p, 1, h.len, af.f) != h.len;
    for (int i = 0; i < nt && !bad; i++) bad = write_values(af.f, t[i].data, t[i].numel, half) != 0;
    if (bad) s = gnf_fail(GNF_ERR_IO, "%s: cannot write: %s", path, errno ? strerror(errno) : "short write");
    free(h.p);
    return gnf_atomic_commit(&af, s);
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                    */

/* What the header says about one tensor, before any data are touched. */
typedef struct {
    const char *name; /* owned by the cJSON tree */
    int dsize;        /* bytes per stored element: 4 (F32) or 2 (F16) */
    int ndim;
    int64_t shape[ST_MAX_NDIM];
    int64_t numel, begin, end;
} st_info;

/* Screens header bytes for what cJSON would accept but JSON forbids or that would lose data:
 * invalid UTF-8, raw control characters, "\u0000" (would silently cut a C string) and a string
 * that never ends (also keeps cJSON from reading past the buffer).  Returns why, or NULL. */
static const char *screen_header(const unsigned char *h, size_t n) {
    if (!utf8_valid(h, n)) return "header is not valid UTF-8";
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = h[i];
        if (!in_str) {
            if (c == '"') in_str = 1;
            else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return "header contains a control character";
        } else if (c < 0x20) {
            return "header contains a raw control character inside a string";
        } else if (c == '"') {
            in_str = 0;
        } else if (c == '\\') {
            if (++i >= n) break;
            if (h[i] == 'u' && n - i > 4 && memcmp(h + i + 1, "0000", 4) == 0)
                return "header contains a \\u0000 escape";
        }
    }
    return in_str ? "header ends inside a string" : NULL;
}

/* Reads a JSON integer in [0, hi] into *out; returns NULL or what is wrong with it. */
static const char *json_uint(const cJSON *v, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(v)) return "is not a number";
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) return "is not an integer";
    if (d < 0) return "is negative";
    if (d > (double)hi) return "is too large";
    *out = (int64_t)d;
    return NULL;
}

/* Validates one tensor entry of the header (fields, dtype, shape, offsets within the data
 * section of data_size bytes) into *ti. */
static gnf_status parse_entry(const char *path, const cJSON *e, int64_t data_size, st_info *ti) {
    char nb[SHOWN], fb[SHOWN];
    const char *nm = shown(e->string, nb, sizeof nb);
    memset(ti, 0, sizeof *ti);
    ti->name = e->string;
    if (!cJSON_IsObject(e))
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, nm);

    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = e->child; f; f = f->next) {
        const char *k = f->string ? f->string : "";
        const cJSON **slot = strcmp(k, "dtype") == 0 ? &dtype
                           : strcmp(k, "shape") == 0 ? &shape
                           : strcmp(k, "data_offsets") == 0 ? &offs : NULL;
        if (!slot)
            return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': unknown field '%s'", path, nm, shown(k, fb, sizeof fb));
        if (*slot)
            return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': duplicate field '%s'", path, nm, k);
        *slot = f;
    }
    if (!dtype || !shape || !offs)
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': missing field '%s'", path, nm,
                        !dtype ? "dtype" : !shape ? "shape" : "data_offsets");

    if (!cJSON_IsString(dtype))
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': dtype is not a string", path, nm);
    if (strcmp(dtype->valuestring, "F32") == 0) ti->dsize = 4;
    else if (strcmp(dtype->valuestring, "F16") == 0) ti->dsize = 2;
    else
        return gnf_fail(GNF_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype '%s'; gnf reads only F32 and F16",
                        path, nm, shown(dtype->valuestring, fb, sizeof fb));

    if (!cJSON_IsArray(shape))
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': shape is not an array", path, nm);
    int zero = 0;
    ti->numel = 1;
    for (const cJSON *v = shape->child; v; v = v->next) {
        if (ti->ndim == ST_MAX_NDIM)
            return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': shape has more than %d dimensions", path, nm, ST_MAX_NDIM);
        int64_t d = 0;
        const char *why = json_uint(v, ST_MAX_DIM, &d);
        if (why) return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': shape[%d] %s", path, nm, ti->ndim, why);
        ti->shape[ti->ndim++] = d;
        /* Keep the product below 2^53 (so numel * 4 cannot overflow); a zero dim wins anyway. */
        if (d == 0) zero = 1;
        else if (!zero && ti->numel > ST_MAX_OFFSET / d)
            return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': shape product overflows", path, nm);
        else if (!zero) ti->numel *= d;
    }
    if (zero) ti->numel = 0;

    if (!cJSON_IsArray(offs) || !offs->child || !offs->child->next || offs->child->next->next)
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': data_offsets is not an array of two integers", path, nm);
    const char *why = json_uint(offs->child, ST_MAX_OFFSET, &ti->begin);
    if (why) return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': data_offsets[0] %s", path, nm, why);
    why = json_uint(offs->child->next, ST_MAX_OFFSET, &ti->end);
    if (why) return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': data_offsets[1] %s", path, nm, why);
    if (ti->begin > ti->end)
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': data_offsets begin %lld > end %lld", path, nm,
                        (long long)ti->begin, (long long)ti->end);
    if (ti->end > data_size)
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': data_offsets end %lld is past the data section (%lld bytes)",
                        path, nm, (long long)ti->end, (long long)data_size);
    if (ti->end - ti->begin != ti->numel * ti->dsize)
        return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s': data_offsets span %lld bytes but shape needs %lld",
                        path, nm, (long long)(ti->end - ti->begin), (long long)(ti->numel * ti->dsize));
    return GNF_OK;
}

static int cmp_range(const void *a, const void *b) {
    const st_info *x = *(const st_info *const *)a, *y = *(const st_info *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks that the tensors tile [0, data_size) exactly: sorted by offset, each must start where
 * the previous one ended (no overlap, no gap) and the last must end at data_size. */
static gnf_status check_coverage(const char *path, st_info *ti, int n, int64_t data_size) {
    char nb[SHOWN], pb[SHOWN];
    st_info **s = malloc(((size_t)n + 1) * sizeof *s);
    if (!s) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) s[i] = &ti[i];
    qsort(s, (size_t)n, sizeof *s, cmp_range);
    int64_t at = 0;
    gnf_status st = GNF_OK;
    for (int i = 0; i < n && st == GNF_OK; i++) {
        if (s[i]->begin < at)
            st = gnf_fail(GNF_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", path,
                          shown(s[i - 1]->name, pb, sizeof pb), shown(s[i]->name, nb, sizeof nb));
        else if (s[i]->begin > at)
            st = gnf_fail(GNF_ERR_FORMAT, "%s: %lld unused bytes in the data section before tensor '%s' (offset %lld)",
                          path, (long long)(s[i]->begin - at), shown(s[i]->name, nb, sizeof nb), (long long)at);
        else
            at = s[i]->end;
    }
    if (st == GNF_OK && at != data_size)
        st = gnf_fail(GNF_ERR_FORMAT, "%s: %lld trailing bytes in the data section %s", path,
                      (long long)(data_size - at), n ? "after the last tensor" : "(the header lists no tensors)");
    free(s);
    return st;
}

/* Converts one tensor's stored bytes to f32 in x, rejecting NaN and infinities. */
static gnf_status convert(const char *path, const st_info *ti, const unsigned char *p, float *x) {
    for (int64_t i = 0; i < ti->numel; i++) {
        float v;
        if (ti->dsize == 2) {
            v = gnf_f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        } else {
            const unsigned char *q = p + 4 * i;
            uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
            memcpy(&v, &u, 4);
        }
        if (!isfinite(v)) {
            char nb[SHOWN];
            return gnf_fail(GNF_ERR_FORMAT, "%s: tensor '%s' element %lld is %s", path,
                            shown(ti->name, nb, sizeof nb), (long long)i, isnan(v) ? "NaN" : "infinite");
        }
        x[i] = v;
    }
    return GNF_OK;
}

/* Validates the parsed header root against the data section and fills *out.  On error the
 * caller frees *out. */
static gnf_status parse_root(const char *path, const cJSON *root, const unsigned char *data,
                             int64_t data_size, gnf_st_file *out) {
    char nb[SHOWN];
    const cJSON *metaobj = NULL;
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e->string && strcmp(e->string, ST_META) == 0) {
            if (metaobj) return gnf_fail(GNF_ERR_FORMAT, "%s: duplicate %s entry", path, ST_META);
            metaobj = e;
        } else {
            n++;
        }
    }

    /* Metadata: an object of strings, keys unique. */
    int nm = 0;
    if (metaobj) {
        if (!cJSON_IsObject(metaobj)) return gnf_fail(GNF_ERR_FORMAT, "%s: %s is not a JSON object", path, ST_META);
        for (const cJSON *e = metaobj->child; e; e = e->next) {
            if (!cJSON_IsString(e))
                return gnf_fail(GNF_ERR_FORMAT, "%s: %s value for key '%s' is not a string", path, ST_META,
                                shown(e->string, nb, sizeof nb));
            nm++;
        }
    }
    if (nm > 0) {
        out->meta = gnf_calloc((size_t)nm, sizeof *out->meta);
        if (!out->meta) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
        out->nmeta = nm;
        const char **keys = malloc((size_t)nm * sizeof *keys);
        if (!keys) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
        int i = 0;
        for (const cJSON *e = metaobj->child; e; e = e->next, i++) keys[i] = e->string;
        const char *dup = NULL;
        int r = find_dup(keys, nm, &dup);
        free(keys);
        if (r < 0) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
        if (dup) return gnf_fail(GNF_ERR_FORMAT, "%s: duplicate %s key '%s'", path, ST_META, shown(dup, nb, sizeof nb));
        i = 0;
        for (const cJSON *e = metaobj->child; e; e = e->next, i++) {
            out->meta[i].key = gnf_strdup(e->string);
            out->meta[i].value = gnf_strdup(e->valuestring);
            if (!out->meta[i].key || !out->meta[i].value) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
        }
    }

    /* Tensor entries: every field first, then names, then the tiling of the data section. */
    st_info *ti = calloc((size_t)n + 1, sizeof *ti);
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    gnf_status st = GNF_OK;
    if (!ti || !names) st = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
    int k = 0;
    for (const cJSON *e = root->child; e && st == GNF_OK; e = e->next) {
        if (e == metaobj) continue;
        st = parse_entry(path, e, data_size, &ti[k]);
        names[k] = ti[k].name;
        k++;
    }
    if (st == GNF_OK) {
        const char *dup = NULL;
        if (find_dup(names, n, &dup) < 0) st = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
        else if (dup) st = gnf_fail(GNF_ERR_FORMAT, "%s: duplicate tensor name '%s'", path, shown(dup, nb, sizeof nb));
    }
    if (st == GNF_OK) st = check_coverage(path, ti, n, data_size);

    if (st == GNF_OK && n > 0) {
        out->tensors = gnf_calloc((size_t)n, sizeof *out->tensors);
        if (!out->tensors) st = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory", path);
        else out->ntensors = n;
    }
    for (int i = 0; i < n && st == GNF_OK; i++) {
        gnf_st_tensor *t = &out->tensors[i];
        t->name = gnf_strdup(ti[i].name);
        t->data = gnf_calloc((size_t)(ti[i].numel ? ti[i].numel : 1), sizeof(float));
        if (!t->name || !t->data) {
            st = gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for tensor '%s'", path, shown(ti[i].name, nb, sizeof nb));
            break;
        }
        t->ndim = ti[i].ndim;
        memcpy(t->shape, ti[i].shape, sizeof t->shape);
        t->numel = ti[i].numel;
        st = convert(path, &ti[i], data + ti[i].begin, t->data);
    }
    free(ti);
    free(names);
    return st;
}

/* Validates the whole file image buf[0..size) and fills *out (the caller frees it on error). */
static gnf_status parse_file(const char *path, const unsigned char *buf, size_t size, gnf_st_file *out) {
    if (size < 8) return gnf_fail(GNF_ERR_FORMAT, "%s: not a gnf model file: too short (%zu bytes)", path, size);
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++) hl |= (uint64_t)buf[k] << (8 * k);
    if (hl > size)
        return gnf_fail(GNF_ERR_FORMAT, "%s: not a safetensors/gnf model file: header length %llu exceeds file size %zu",
                        path, (unsigned long long)hl, size);
    if (hl > size - 8)
        return gnf_fail(GNF_ERR_FORMAT, "%s: truncated: header length %llu needs %llu bytes but the file has %zu",
                        path, (unsigned long long)hl, (unsigned long long)hl + 8, size);
    if (hl == 0) return gnf_fail(GNF_ERR_FORMAT, "%s: header length is 0", path);
    if (hl > ST_MAX_HEADER)
        return gnf_fail(GNF_ERR_FORMAT, "%s: header length %llu exceeds the 1 MiB limit", path, (unsigned long long)hl);

    const unsigned char *h = buf + 8;
    size_t n = (size_t)hl;
    const char *why = screen_header(h, n);
    if (why) return gnf_fail(GNF_ERR_FORMAT, "%s: %s", path, why);

    /* A NUL-terminated copy, so nothing in cJSON can run past the header. */
    char *txt = malloc(n + 1);
    if (!txt) return gnf_fail(GNF_ERR_NOMEM, "%s: out of memory for the header", path);
    memcpy(txt, h, n);
    txt[n] = 0;
    cJSON *root = NULL;
    gnf_status st = gnf_json_parse(path, "header", txt, n, &root);
    if (st == GNF_OK) st = parse_root(path, root, h + n, (int64_t)(size - 8 - n), out);
    cJSON_Delete(root);
    free(txt);
    return st;
}

gnf_status gnf_st_read(const char *path, gnf_st_file *out) {
    assert(path && out);
    memset(out, 0, sizeof *out);
    unsigned char *buf = NULL;
    size_t size = 0;
    gnf_status st = gnf_read_file(path, ST_MAX_FILE, &buf, &size);
    if (st == GNF_OK) st = gnf_st_read_memory(buf, size, path, out);
    free(buf);
    return st;
}

gnf_status gnf_st_read_memory(const void *data, size_t size, const char *name, gnf_st_file *out) {
    assert(name && out && (data || !size));
    memset(out, 0, sizeof *out);
    gnf_status st = parse_file(name, data, size, out);
    if (st != GNF_OK) gnf_st_file_free(out);
    return st;
}

void gnf_st_file_free(gnf_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->ntensors; i++) {
        free(f->tensors[i].name);
        gnf_free(f->tensors[i].data);
    }
    gnf_free(f->tensors);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    gnf_free(f->meta);
    memset(f, 0, sizeof *f);
}

const gnf_st_tensor *gnf_st_find(const gnf_st_file *f, const char *name) {
    for (int i = 0; i < f->ntensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *gnf_st_meta(const gnf_st_file *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}
