/* test_safetensors.c — the safetensors reader/writer: exact round trips, the on-disk layout,
 * atomic writes, and a catalogue of malformed files that must each fail cleanly with a status
 * and a message naming the file (run under ASan/UBSan, so crashes and leaks show too). */
#include "io/safetensors.h"
#include "test.h"
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh folder under the test tmp dir, so listings show exactly what a test left behind; with
 * file, p (512 bytes) receives the path of that file in it. */
static void make_dir(char *buf, size_t cap, const char *name, char *p, const char *file) {
    snprintf(buf, cap, "%s/st_%s", test_tmp_dir(), name);
    mkdir(buf, 0755);
    if (file) snprintf(p, 512, "%s/%s", buf, file);
}

/* Reading path succeeds (and the result is freed). */
static void read_ok(const char *path) {
    gnf_st_file f;
    CHECK_EQ_INT(gnf_st_read(path, &f), GNF_OK);
    gnf_st_file_free(&f);
}

/* Writes an 8-byte little-endian header length, the JSON text (unpadded) and ndata data bytes. */
static void write_st(const char *path, const char *json, const void *data, size_t ndata) {
    size_t hl = strlen(json);
    unsigned char *b = malloc(8 + hl + ndata + 1);
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)hl >> (8 * k));
    memcpy(b + 8, json, hl);
    if (ndata) memcpy(b + 8 + hl, data, ndata);
    test_write_file(path, b, 8 + hl + ndata);
    free(b);
}

static int is_zeroed(const gnf_st_file *f) {
    return f->ntensors == 0 && f->tensors == NULL && f->nmeta == 0 && f->meta == NULL;
}

/* Reading path must fail with status want (0: any failure), a message naming the path and
 * containing `needle` (if given), and leave the output zeroed. */
static void expect_fail_at(const char *path, gnf_status want, const char *needle, int line) {
    gnf_st_file f;
    memset(&f, 0xAB, sizeof f); /* garbage in: the reader must zero it */
    gnf_clear_error();
    gnf_status s = gnf_st_read(path, &f);
    const char *msg = gnf_last_error();
    if (s == GNF_OK) {
        test_fail(__FILE__, line, "%s: read succeeded, expected failure", path);
        gnf_st_file_free(&f);
        return;
    }
    if (want && s != want)
        test_fail(__FILE__, line, "%s: status %d (%s), expected %d; message: %s", path, (int)s, gnf_status_name(s),
                  (int)want, msg);
    if (!strstr(msg, path)) test_fail(__FILE__, line, "message does not name the file: %s", msg);
    if (needle && !strstr(msg, needle)) test_fail(__FILE__, line, "message lacks '%s': %s", needle, msg);
    if (!is_zeroed(&f)) test_fail(__FILE__, line, "output not zeroed after failure");
}
#define EXPECT_FAIL(path, want, needle) expect_fail_at(path, want, needle, __LINE__)

/* Writes json + data to dir/name and expects reading it to fail. */
static void bad_at(const char *dir, const char *name, const char *json, const void *data, size_t nd,
                   gnf_status want, const char *needle, int line) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s.gnf", dir, name);
    write_st(p, json, data, nd);
    expect_fail_at(p, want, needle, line);
}
#define BAD(name, json, data, nd, want, needle) bad_at(dir, name, json, data, nd, want, needle, __LINE__)

static int meta_is(const gnf_st_file *f, const char *k, const char *v) {
    const char *x = gnf_st_meta(f, k);
    return x && strcmp(x, v) == 0;
}

/* A small set of tensors shared by several tests: a matrix, a scalar, a zero-size tensor and a
 * vector of awkward values (signed zero, subnormals, extremes). */
static float g_mat[6] = {1.0f, -2.5f, 3.25f, 1e-3f, -7.5e3f, 0.1f};
static float g_scalar[1] = {3.14159265f};
static float g_vec[7];
static gnf_st_tensor g_t[4];
static const gnf_st_kv g_meta[] = {
    {"quote", "say \"hi\""},
    {"back\\slash", "C:\\path\\to"},
    {"newline", "line1\nline2\r\n\ttab\x01\x1f end"},
    {"unicode", "h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80"},
    {"", "empty key"},
    {"gnf.version", "0.1.0"},
};

static void setup_tensors(void) {
    float v[7] = {-0.0f, FLT_MIN, 1e-45f, FLT_MAX, -FLT_MAX, 1.0f / 3.0f, 65504.0f};
    memcpy(g_vec, v, sizeof v);
    memset(g_t, 0, sizeof g_t);
    g_t[0] = (gnf_st_tensor){.name = "grid.0", .ndim = 2, .shape = {2, 3}, .numel = 6, .data = g_mat};
    g_t[1] = (gnf_st_tensor){.name = "scalar", .ndim = 0, .numel = 1, .data = g_scalar};
    g_t[2] = (gnf_st_tensor){.name = "empty", .ndim = 3, .shape = {4, 0, 2}, .numel = 0, .data = NULL};
    g_t[3] = (gnf_st_tensor){.name = "dec.w \"q\"", .ndim = 1, .shape = {7}, .numel = 7, .data = g_vec};
}

static void check_structure_same(const gnf_st_file *f, const gnf_st_tensor *t, int nt) {
    CHECK_EQ_INT(f->ntensors, nt);
    for (int i = 0; i < nt && i < f->ntensors; i++) {
        const gnf_st_tensor *r = &f->tensors[i];
        CHECK_MSG(strcmp(r->name, t[i].name) == 0, "tensor %d: name '%s' vs '%s'", i, r->name, t[i].name);
        CHECK_EQ_INT(r->ndim, t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++) CHECK_EQ_INT(r->shape[d], t[i].shape[d]);
        CHECK_EQ_INT(r->numel, t[i].numel);
        CHECK(r->data != NULL);
        CHECK(gnf_st_find(f, t[i].name) == r);
    }
}

static void check_meta_same(const gnf_st_file *f) {
    int nm = (int)(sizeof g_meta / sizeof g_meta[0]);
    CHECK_EQ_INT(f->nmeta, nm);
    for (int i = 0; i < nm; i++) CHECK_MSG(meta_is(f, g_meta[i].key, g_meta[i].value), "meta '%s'", g_meta[i].key);
}

TEST(st_roundtrip_f32_exact) {
    char dir[256], p[512];
    make_dir(dir, sizeof dir, "rt32", p, "m.gnf");
    setup_tensors();
    int nm = (int)(sizeof g_meta / sizeof g_meta[0]);
    CHECK_EQ_INT(gnf_st_write(p, g_t, 4, g_meta, nm, 0), GNF_OK);
    CHECK_EQ_INT(test_file_size(p), gnf_st_file_size(g_t, 4, g_meta, nm, 0));
    gnf_st_file f;
    CHECK_EQ_INT(gnf_st_read(p, &f), GNF_OK);
    check_structure_same(&f, g_t, 4);
    check_meta_same(&f);
    if (f.ntensors == 4) {
        for (int i = 0; i < 4; i++)
            if (g_t[i].numel) CHECK(memcmp(f.tensors[i].data, g_t[i].data, (size_t)g_t[i].numel * 4) == 0);
        CHECK(signbit(f.tensors[3].data[0])); /* -0 kept */
    }
    CHECK(gnf_st_find(&f, "nope") == NULL);
    CHECK(gnf_st_meta(&f, "nope") == NULL);
    gnf_st_file_free(&f);
    CHECK(is_zeroed(&f));
    gnf_st_file_free(&f); /* safe twice */
    CHECK_EQ_INT(test_count_files(dir, NULL), 1); /* no temp file left */
}

TEST(st_roundtrip_f16) {
    char dir[256], p[512];
    make_dir(dir, sizeof dir, "rt16", p, "m.gnf");
    /* Exactly representable in f16: must come back bit-exact. */
    float ex[10] = {0.0f, -0.0f, 0.5f, -2.0f, 1024.0f, 65504.0f, -65504.0f, 6.103515625e-05f,
                    5.9604644775390625e-08f, 0.333251953125f};
    /* Not representable: must come back within half an f16 ulp (relative 2^-11). */
    float ap[6] = {0.1f, 3.14159265f, 1000.3f, -123.456f, 1e-3f, 7.77e4f / 2.0f};
    gnf_st_tensor t[2] = {
        {.name = "exact", .ndim = 1, .shape = {10}, .numel = 10, .data = ex},
        {.name = "approx", .ndim = 2, .shape = {3, 2}, .numel = 6, .data = ap},
    };
    gnf_st_kv m[1] = {{"k", "v"}};
    CHECK_EQ_INT(gnf_st_write(p, t, 2, m, 1, 1), GNF_OK);
    CHECK_EQ_INT(test_file_size(p), gnf_st_file_size(t, 2, m, 1, 1));
    gnf_st_file f;
    CHECK_EQ_INT(gnf_st_read(p, &f), GNF_OK);
    check_structure_same(&f, t, 2);
    CHECK(meta_is(&f, "k", "v"));
    if (f.ntensors == 2) {
        CHECK(memcmp(f.tensors[0].data, ex, sizeof ex) == 0);
        for (int i = 0; i < 6; i++) CHECK_NEAR(f.tensors[1].data[i], ap[i], fabs(ap[i]) * (1.0 / 2048.0));
    }
    gnf_st_file_free(&f);
    CHECK_EQ_INT(test_count_files(dir, NULL), 1);
    /* The header really says F16 and the data section is 2 bytes per element. */
    size_t n = 0;
    unsigned char *b = test_read_file(p, &n);
    CHECK(b != NULL);
    if (b) {
        b[n] = 0;
        CHECK(strstr((char *)b + 8, "\"F16\"") != NULL);
        CHECK(strstr((char *)b + 8, "\"F32\"") == NULL);
        free(b);
    }
}

TEST(st_layout) {
    char dir[256], p[512];
    make_dir(dir, sizeof dir, "layout", NULL, NULL);
    setup_tensors();
    int nm = (int)(sizeof g_meta / sizeof g_meta[0]);
    for (int half = 0; half <= 1; half++) {
        /* g_t[3] holds FLT_MAX, which f16 cannot store: leave it out of the f16 file */
        int nt = half ? 3 : 4;
        snprintf(p, sizeof p, "%s/m%d.gnf", dir, half);
        CHECK_EQ_INT(gnf_st_write(p, g_t, nt, g_meta, nm, half), GNF_OK);
        size_t n = 0;
        unsigned char *b = test_read_file(p, &n);
        CHECK(b != NULL);
        if (!b) continue;
        CHECK_EQ_INT((long long)n, gnf_st_file_size(g_t, nt, g_meta, nm, half));
        uint64_t hl = 0;
        for (int k = 0; k < 8; k++) hl |= (uint64_t)b[k] << (8 * k);
        CHECK_EQ_INT(hl % 8, 0);
        CHECK(hl > 0 && 8 + hl <= n);
        int64_t data = 0;
        for (int i = 0; i < nt; i++) data += g_t[i].numel * (half ? 2 : 4);
        CHECK_EQ_INT((long long)n, (long long)(8 + hl) + data); /* data begins right at 8 + N */
        if (8 + hl <= n && n > 8 + hl + 4) {
            const unsigned char *d = b + 8 + hl;
            if (half) {
                CHECK_EQ_INT(d[0] | (d[1] << 8), gnf_f32_to_f16(g_mat[0]));
            } else {
                uint32_t u = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24, w;
                memcpy(&w, &g_mat[0], 4);
                CHECK_EQ_INT(u, w);
            }
            /* header is JSON padded with spaces only */
            CHECK(b[8 + hl - 1] == ' ' || b[8 + hl - 1] == '}');
            CHECK(b[8] == '{');
        }
        free(b);
    }
    /* no tensors, no metadata: a valid file of "{}" plus padding */
    snprintf(p, sizeof p, "%s/empty.gnf", dir);
    CHECK_EQ_INT(gnf_st_write(p, NULL, 0, NULL, 0, 0), GNF_OK);
    CHECK_EQ_INT(test_file_size(p), 16);
    CHECK_EQ_INT(gnf_st_file_size(NULL, 0, NULL, 0, 0), 16);
    gnf_st_file f;
    CHECK_EQ_INT(gnf_st_read(p, &f), GNF_OK);
    CHECK(is_zeroed(&f));
    gnf_st_file_free(&f);
    CHECK_EQ_INT(test_count_files(dir, NULL), 3);
}

TEST(st_bad_short_and_magic) {
    char dir[256], p[512];
    make_dir(dir, sizeof dir, "short", NULL, NULL);
    snprintf(p, sizeof p, "%s/empty.gnf", dir);
    test_write_file(p, "", 0);
    EXPECT_FAIL(p, GNF_ERR_FORMAT, "too short");
    snprintf(p, sizeof p, "%s/five.gnf", dir);
    test_write_file(p, "abcde", 5);
    EXPECT_FAIL(p, GNF_ERR_FORMAT, "too short");
    /* a PNG read as a model: its signature is a huge header length */
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                        0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    snprintf(p, sizeof p, "%s/image.png", dir);
    test_write_file(p, png, sizeof png);
    EXPECT_FAIL(p, GNF_ERR_FORMAT, "exceeds file size");
    EXPECT_FAIL(p, GNF_ERR_FORMAT, "not a safetensors/gnf model file");
    /* header length a little past the end */
    snprintf(p, sizeof p, "%s/past.gnf", dir);
    const unsigned char past[10] = {11, 0, 0, 0, 0, 0, 0, 0, '{', '}'}, zero[16] = {0};
    test_write_file(p, past, sizeof past);
    EXPECT_FAIL(p, GNF_ERR_FORMAT, "header length 11");
    snprintf(p, sizeof p, "%s/zero.gnf", dir);
    test_write_file(p, zero, sizeof zero);
    EXPECT_FAIL(p, GNF_ERR_FORMAT, "header length is 0");
    /* a header longer than 1 MiB (sparse file, so cheap) */
    snprintf(p, sizeof p, "%s/huge.gnf", dir);
    {
        uint64_t hl = ((uint64_t)1 << 20) + 8;
        unsigned char b[8];
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(hl >> (8 * k));
        test_write_file(p, b, 8);
        CHECK(truncate(p, (off_t)(hl + 8)) == 0);
    }
    EXPECT_FAIL(p, GNF_ERR_FORMAT, "1 MiB");
    unlink(p);
    /* missing file and a directory */
    snprintf(p, sizeof p, "%s/missing.gnf", dir);
    EXPECT_FAIL(p, GNF_ERR_IO, NULL);
    EXPECT_FAIL(dir, GNF_ERR_IO, NULL);
}

TEST(st_bad_truncated_every_length) {
    char dir[256], p[512], q[512];
    make_dir(dir, sizeof dir, "trunc", p, "full.gnf");
    float a[3] = {1, 2, 3}, b[2] = {4, 5};
    gnf_st_tensor t[2] = {{.name = "a", .ndim = 1, .shape = {3}, .numel = 3, .data = a},
                          {.name = "b", .ndim = 2, .shape = {1, 2}, .numel = 2, .data = b}};
    gnf_st_kv m[1] = {{"k", "v"}};
    CHECK_EQ_INT(gnf_st_write(p, t, 2, m, 1, 0), GNF_OK);
    size_t n = 0;
    unsigned char *buf = test_read_file(p, &n);
    CHECK(buf != NULL && n > 40);
    if (!buf) return;
    snprintf(q, sizeof q, "%s/cut.gnf", dir);
    for (size_t len = 0; len < n; len++) {
        test_write_file(q, buf, len);
        EXPECT_FAIL(q, GNF_ERR_FORMAT, NULL);
    }
    /* and the full file still reads */
    test_write_file(q, buf, n);
    read_ok(q);
    free(buf);
}

/* Every single-byte corruption of a small valid file must either read fine (with finite data)
 * or fail cleanly; nothing may crash or leak. */
TEST(st_bad_byte_flips) {
    char dir[256], p[512], q[512];
    make_dir(dir, sizeof dir, "flip", p, "full.gnf");
    float a[3] = {1, -2, 3};
    gnf_st_tensor t[2] = {{.name = "a", .ndim = 1, .shape = {3}, .numel = 3, .data = a},
                          {.name = "b", .ndim = 0, .numel = 1, .data = a}};
    gnf_st_kv m[1] = {{"k", "v"}};
    for (int half = 0; half <= 1; half++) {
        CHECK_EQ_INT(gnf_st_write(p, t, 2, m, 1, half), GNF_OK);
        size_t n = 0;
        unsigned char *buf = test_read_file(p, &n);
        CHECK(buf != NULL);
        if (!buf) return;
        snprintf(q, sizeof q, "%s/mut.gnf", dir);
        static const unsigned char vals[] = {0x00, 0xFF, 0x80, '"', '\\', '9', '-', '{', ']', ',', 0x7F, 0xC3};
        int ok = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t v = 0; v < sizeof vals; v++) {
                unsigned char old = buf[i];
                if (old == vals[v]) continue;
                buf[i] = vals[v];
                test_write_file(q, buf, n);
                buf[i] = old;
                gnf_st_file f;
                gnf_status s = gnf_st_read(q, &f);
                if (s == GNF_OK) {
                    ok++;
                    for (int k = 0; k < f.ntensors; k++)
                        for (int64_t j = 0; j < f.tensors[k].numel; j++) CHECK(isfinite(f.tensors[k].data[j]));
                    gnf_st_file_free(&f);
                } else {
                    bad++;
                    CHECK(is_zeroed(&f));
                    CHECK_MSG(strstr(gnf_last_error(), q) != NULL, "message lacks path: %s", gnf_last_error());
                }
            }
        }
        CHECK(bad > 0);
        CHECK(ok > 0); /* e.g. flips inside data bytes or metadata text */
        free(buf);
    }
}

TEST(st_bad_json) {
    char dir[256];
    make_dir(dir, sizeof dir, "json", NULL, NULL);
    BAD("invalid", "{\"a\": {\"dtype\": \"F32\",", NULL, 0, GNF_ERR_FORMAT, "not valid JSON");
    BAD("garbage", "hello world", NULL, 0, GNF_ERR_FORMAT, "not valid JSON");
    BAD("array", "[1, 2, 3]", NULL, 0, GNF_ERR_FORMAT, "not a JSON object");
    BAD("string", "\"abc\"   ", NULL, 0, GNF_ERR_FORMAT, "not a JSON object");
    BAD("trailing", "{} {}", NULL, 0, GNF_ERR_FORMAT, "extra characters");
    BAD("unterminated", "{\"abc", NULL, 0, GNF_ERR_FORMAT, "inside a string");
    BAD("backslash_end", "{\"abc\\", NULL, 0, GNF_ERR_FORMAT, "inside a string");
    BAD("bad_utf8", "{\"\xC3\x28\":1}", NULL, 0, GNF_ERR_FORMAT, "UTF-8");
    BAD("overlong", "{\"\xC0\xAF\":1}", NULL, 0, GNF_ERR_FORMAT, "UTF-8");
    BAD("surrogate", "{\"\xED\xA0\x80\":1}", NULL, 0, GNF_ERR_FORMAT, "UTF-8");
    BAD("nul_escape", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", "\0\0\0\0", 4,
        GNF_ERR_FORMAT, "u0000");
    BAD("raw_ctl", "{\"a\x01\":{}}", NULL, 0, GNF_ERR_FORMAT, "control character");
    BAD("raw_tab_in_string", "{\"a\tb\":{}}", NULL, 0, GNF_ERR_FORMAT, "control character");
    /* a raw NUL byte in the header (write_st uses strlen, so build it by hand) */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/nul.gnf", dir);
        unsigned char b[8 + 8] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', 0, ' ', ' ', ' ', ' '};
        test_write_file(p, b, sizeof b);
        EXPECT_FAIL(p, GNF_ERR_FORMAT, "control character");
    }
    /* deep nesting: cJSON's depth limit must turn this into an error, not a stack overflow */
    {
        size_t depth = 100000;
        char *j = malloc(2 * depth + 16);
        strcpy(j, "{\"a\":");
        size_t o = strlen(j);
        for (size_t i = 0; i < depth; i++) j[o++] = '[';
        for (size_t i = 0; i < depth; i++) j[o++] = ']';
        j[o++] = '}';
        j[o] = 0;
        BAD("deep", j, NULL, 0, GNF_ERR_FORMAT, "not valid JSON");
        free(j);
    }
    /* whitespace padding (spaces, tabs, newlines) after the object is fine */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/ws.gnf", dir);
        write_st(p, " \n{ }\t\r\n  ", NULL, 0);
        read_ok(p);
    }
}

TEST(st_bad_fields) {
    char dir[256];
    make_dir(dir, sizeof dir, "fields", NULL, NULL);
    static const unsigned char z16[16] = {0};
    /* {"w":{"dtype":DTYPE,"shape":SHAPE,"data_offsets":OFFSETS}} with nd data bytes */
    static const struct { const char *name, *dtype, *shape, *offsets; int nd; gnf_status want; const char *needle; } c[] = {
        {"dtype_i64", "\"I64\"", "[1]", "[0,8]", 8, GNF_ERR_UNSUPPORTED, "I64"},
        {"dtype_num", "32", "[1]", "[0,4]", 4, GNF_ERR_FORMAT, "dtype is not a string"},
        {"neg_shape", "\"F32\"", "[-1]", "[0,4]", 4, GNF_ERR_FORMAT, "shape[0] is negative"},
        {"frac_shape", "\"F32\"", "[2,1.5]", "[0,12]", 12, GNF_ERR_FORMAT, "shape[1] is not an integer"},
        {"str_shape", "\"F32\"", "[\"1\"]", "[0,4]", 4, GNF_ERR_FORMAT, "shape[0] is not a number"},
        {"shape_obj", "\"F32\"", "{}", "[0,4]", 4, GNF_ERR_FORMAT, "shape is not an array"},
        {"big_dim", "\"F32\"", "[1099511627777]", "[0,4]", 4, GNF_ERR_FORMAT, "too large"},
        {"overflow", "\"F32\"", "[1099511627776,1099511627776]", "[0,4]", 4, GNF_ERR_FORMAT, "overflow"},
        {"nine_dims", "\"F32\"", "[1,1,1,1,1,1,1,1,1]", "[0,4]", 4, GNF_ERR_FORMAT, "more than 8"},
        {"mismatch", "\"F32\"", "[3]", "[0,8]", 8, GNF_ERR_FORMAT, "'w': data_offsets span 8 bytes but shape needs 12"},
        {"mismatch_f16", "\"F16\"", "[2]", "[0,8]", 8, GNF_ERR_FORMAT, "span"},
        {"past_end", "\"F32\"", "[2]", "[0,8]", 4, GNF_ERR_FORMAT, "past the data section"},
        {"begin_gt_end", "\"F32\"", "[0]", "[8,0]", 8, GNF_ERR_FORMAT, "begin 8 > end 0"},
        {"offs_three", "\"F32\"", "[1]", "[0,4,8]", 4, GNF_ERR_FORMAT, "two integers"},
        {"offs_one", "\"F32\"", "[1]", "[4]", 4, GNF_ERR_FORMAT, "two integers"},
        {"offs_neg", "\"F32\"", "[1]", "[-4,0]", 4, GNF_ERR_FORMAT, "data_offsets[0] is negative"},
        {"offs_huge", "\"F32\"", "[1]", "[0,1e300]", 4, GNF_ERR_FORMAT, "data_offsets[1] is too large"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char j[256];
        snprintf(j, sizeof j, "{\"w\":{\"dtype\":%s,\"shape\":%s,\"data_offsets\":%s}}", c[i].dtype, c[i].shape,
                 c[i].offsets);
        BAD(c[i].name, j, z16, (size_t)c[i].nd, c[i].want, c[i].needle);
    }
    BAD("missing", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", z16, 4, GNF_ERR_FORMAT,
        "missing field 'shape'");
    BAD("unknown", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", z16, 4,
        GNF_ERR_FORMAT, "unknown field 'x'");
    BAD("dup_field", "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", z16, 4,
        GNF_ERR_FORMAT, "duplicate field 'dtype'");
    BAD("entry_num", "{\"w\":5}", NULL, 0, GNF_ERR_FORMAT, "'w': entry is not a JSON object");
}

TEST(st_bad_layout) {
    char dir[256];
    make_dir(dir, sizeof dir, "tiling", NULL, NULL);
    static const unsigned char z16[16] = {0};
    BAD("overlap",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        z16, 12, GNF_ERR_FORMAT, "overlap");
    BAD("same_range",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        z16, 8, GNF_ERR_FORMAT, "overlap");
    BAD("gap",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
        z16, 12, GNF_ERR_FORMAT, "4 unused bytes");
    BAD("gap_first", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", z16, 8, GNF_ERR_FORMAT,
        "unused bytes");
    BAD("trailing", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", z16, 8, GNF_ERR_FORMAT,
        "4 trailing bytes");
    BAD("trailing_no_tensors", "{}", z16, 3, GNF_ERR_FORMAT, "3 trailing bytes");
    BAD("dup_name",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        z16, 8, GNF_ERR_FORMAT, "duplicate tensor name 'a'");
    BAD("meta_num", "{\"__metadata__\":{\"k\":1}}", NULL, 0, GNF_ERR_FORMAT, "key 'k' is not a string");
    BAD("meta_arr", "{\"__metadata__\":[\"k\"]}", NULL, 0, GNF_ERR_FORMAT, "__metadata__ is not a JSON object");
    BAD("meta_dup_key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", NULL, 0, GNF_ERR_FORMAT,
        "duplicate __metadata__ key 'k'");
    BAD("meta_twice", "{\"__metadata__\":{},\"__metadata__\":{}}", NULL, 0, GNF_ERR_FORMAT,
        "duplicate __metadata__");
    /* zero-size tensors sitting between others are fine */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/ok_zero.gnf", dir);
        write_st(p,
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"z\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                 "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}",
                 z16, 8);
        gnf_st_file f;
        CHECK_EQ_INT(gnf_st_read(p, &f), GNF_OK);
        CHECK_EQ_INT(f.ntensors, 3);
        const gnf_st_tensor *z = gnf_st_find(&f, "z");
        CHECK(z && z->numel == 0 && z->ndim == 2 && z->shape[1] == 5 && z->data);
        gnf_st_file_free(&f);
    }
}

TEST(st_bad_values) {
    char dir[256];
    make_dir(dir, sizeof dir, "values", NULL, NULL);
    /* f32: 1.0, then NaN / +Inf / -Inf at element 1 */
    static const unsigned char nan32[8] = {0, 0, 0x80, 0x3F, 0, 0, 0xC0, 0x7F};
    static const unsigned char inf32[8] = {0, 0, 0x80, 0x3F, 0, 0, 0x80, 0x7F};
    static const unsigned char ninf32[8] = {0, 0, 0x80, 0x3F, 0, 0, 0x80, 0xFF};
    const char *j32 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    BAD("nan32", j32, nan32, 8, GNF_ERR_FORMAT, "tensor 'w' element 1 is NaN");
    BAD("inf32", j32, inf32, 8, GNF_ERR_FORMAT, "tensor 'w' element 1 is infinite");
    BAD("ninf32", j32, ninf32, 8, GNF_ERR_FORMAT, "element 1 is infinite");
    /* f16: 1.0 (0x3C00), then NaN (0x7E00) / Inf (0x7C00) */
    static const unsigned char nan16[4] = {0x00, 0x3C, 0x00, 0x7E};
    static const unsigned char inf16[4] = {0x00, 0x3C, 0x00, 0x7C};
    const char *j16 = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
    BAD("nan16", j16, nan16, 4, GNF_ERR_FORMAT, "tensor 'h' element 1 is NaN");
    BAD("inf16", j16, inf16, 4, GNF_ERR_FORMAT, "tensor 'h' element 1 is infinite");
    /* a hostile name is quoted harmlessly: the ESC byte appears escaped, not raw */
    BAD("esc_name", "{\"\\u001b[31mred\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", nan32, 8,
        GNF_ERR_FORMAT, "\\x1B[31mred");
    CHECK(strchr(gnf_last_error(), 0x1B) == NULL);
    /* and a very long one is cut */
    {
        char *j = malloc(20000);
        strcpy(j, "{\"");
        memset(j + 2, 'n', 10000);
        strcpy(j + 10002, "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}");
        BAD("long_name", j, nan32, 8, GNF_ERR_FORMAT, "...");
        CHECK(strlen(gnf_last_error()) < 400);
        free(j);
    }
}

TEST(st_write_refuses_bad_input) {
    char dir[256], p[512];
    make_dir(dir, sizeof dir, "refuse", p, "m.gnf");
    float v[3] = {1, NAN, 2};
    gnf_st_tensor t = {.name = "w", .ndim = 1, .shape = {3}, .numel = 3, .data = v};
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 0), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "element 1 is NaN") != NULL);
    CHECK(strstr(gnf_last_error(), p) != NULL);
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 1), GNF_ERR_INVALID);
    v[1] = -INFINITY;
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 0), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "infinite") != NULL);
    v[1] = 1e6f; /* finite, but past the f16 range */
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 1), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "f16") != NULL);
    CHECK_EQ_INT(test_count_files(dir, NULL), 0); /* nothing at all written so far */
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 0), GNF_OK); /* fine in f32 */
    /* a failed write leaves an existing file untouched */
    long before = test_file_size(p);
    v[1] = NAN;
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 0), GNF_ERR_INVALID);
    CHECK_EQ_INT(test_file_size(p), before);
    v[1] = 2;

    /* structural problems */
    gnf_st_tensor two[2] = {t, t};
    CHECK_EQ_INT(gnf_st_write(p, two, 2, NULL, 0, 0), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "duplicate tensor name 'w'") != NULL);
    CHECK_EQ_INT(gnf_st_file_size(two, 2, NULL, 0, 0), -1);
    gnf_st_kv dm[2] = {{"k", "a"}, {"k", "b"}};
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, dm, 2, 0), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "duplicate metadata key 'k'") != NULL);
    /* numel not the shape's, a negative dimension, 9 dimensions, the reserved name, no data, a
     * name that is not UTF-8 (last, so its message can be checked) */
    gnf_st_tensor bad[6] = {t, t, t, t, t, t};
    bad[0].numel = 4;
    bad[1].shape[0] = -3;
    bad[2].ndim = 9;
    bad[3].name = "__metadata__";
    bad[4].data = NULL;
    bad[5].name = "bad\xFFutf8";
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(gnf_st_write(p, &bad[i], 1, NULL, 0, 0), GNF_ERR_INVALID);
    CHECK(strstr(gnf_last_error(), "\\xFF") != NULL);
    CHECK_EQ_INT(test_count_files(dir, NULL), 1);
    CHECK_EQ_INT(test_file_size(p), before);
}

TEST(st_write_io_errors) {
    char dir[256], p[512];
    make_dir(dir, sizeof dir, "ioerr", p, "no/such/dir/m.gnf");
    float v[1] = {1};
    gnf_st_tensor t = {.name = "w", .ndim = 1, .shape = {1}, .numel = 1, .data = v};
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 0), GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), p) != NULL);
    CHECK_EQ_INT(test_count_files(dir, NULL), 0);
    /* the target is a directory: rename fails, the temp file is removed */
    snprintf(p, sizeof p, "%s/adir", dir);
    CHECK(mkdir(p, 0755) == 0);
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, NULL, 0, 0), GNF_ERR_IO);
    CHECK(strstr(gnf_last_error(), p) != NULL);
    CHECK_EQ_INT(test_count_files(dir, NULL), 1); /* just adir */
}

TEST(st_write_atomic_replace) {
    char dir[256], p[512];
    make_dir(dir, sizeof dir, "atomic", p, "m.gnf");
    test_write_file(p, "old contents", 12);
    chmod(p, 0600);
    float v[2] = {5, 6};
    gnf_st_tensor t = {.name = "w", .ndim = 1, .shape = {2}, .numel = 2, .data = v};
    gnf_st_kv m = {"note", "replaced"};
    CHECK_EQ_INT(gnf_st_write(p, &t, 1, &m, 1, 0), GNF_OK);
    CHECK_EQ_INT(test_count_files(dir, NULL), 1); /* no temp file remains */
    struct stat sb;
    CHECK(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    gnf_st_file f;
    CHECK_EQ_INT(gnf_st_read(p, &f), GNF_OK);
    CHECK(meta_is(&f, "note", "replaced"));
    const gnf_st_tensor *w = gnf_st_find(&f, "w");
    CHECK(w && w->numel == 2 && w->data[0] == 5 && w->data[1] == 6);
    gnf_st_file_free(&f);
}
