/* test_fuzz.c — replays inputs through the fuzz harnesses (fuzz/fuzz_<reader>.c: the same entry
 * points and checks libFuzzer drives in `make fuzz`), so that what fuzzing once found stays fixed:
 *   tests/fuzz_regressions/<reader>/<status>-<what>: inputs that crashed, hung or over-allocated,
 *       minimised; <status> is what the reader must now return (ok, format, unsupported, nomem,
 *       io, invalid);
 *   fuzz/seeds/<reader>/: the small hand-written seeds (any status).
 * Every replay must keep the harness's promises (a broken one is a failure here), raise no
 * sanitizer report (the ASan build runs this too) and take under 2 s of CPU time. */
#define _GNU_SOURCE /* memmem */
#include "test.h"
#include "../fuzz/fuzz.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef gnf_status (*harness_fn)(const uint8_t *, size_t);
static const struct {
    const char *name;
    harness_fn fn;
} k_harness[] = {{"png", gnf_fuzz_png},     {"jpeg", gnf_fuzz_jpeg},   {"obj", gnf_fuzz_obj},
                 {"ply", gnf_fuzz_ply},     {"stl", gnf_fuzz_stl},     {"off", gnf_fuzz_off},
                 {"model", gnf_fuzz_model}, {"scene", gnf_fuzz_scene}, {"query", gnf_fuzz_query}};
#define NHARNESS (int)(sizeof k_harness / sizeof *k_harness)

static char g_current[600]; /* the input being replayed, for the hook's messages */

static void on_violation(const char *msg) { test_fail(__FILE__, __LINE__, "%s: %s", g_current, msg); }

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the regular files in dir, sorted (malloc'd, *n of them); NULL with *n = -1 if dir is
 * unreadable. */
static char **list_files(const char *dir, int *n) {
    *n = -1;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **names = NULL;
    int cnt = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[cnt++] = gnf_strdup(e->d_name);
    }
    closedir(d);
    if (cnt) qsort(names, (size_t)cnt, sizeof *names, cmp_names);
    *n = cnt;
    return names;
}

/* The status a regression file's name promises ("format-..." -> GNF_ERR_FORMAT), or -1. */
static int expected_status(const char *name) {
    static const struct { const char *prefix; gnf_status s; } k[] = {
        {"ok-", GNF_OK}, {"format-", GNF_ERR_FORMAT}, {"unsupported-", GNF_ERR_UNSUPPORTED},
        {"nomem-", GNF_ERR_NOMEM}, {"io-", GNF_ERR_IO}, {"invalid-", GNF_ERR_INVALID}};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        if (strncmp(name, k[i].prefix, strlen(k[i].prefix)) == 0) return (int)k[i].s;
    return -1;
}

/* Replays every file of dir through fn; with_status: names must promise a status.  Returns the
 * number of files replayed, -1 if dir is unreadable. */
static int replay_dir(const char *dir, harness_fn fn, int with_status) {
    int n;
    char **names = list_files(dir, &n);
    if (n < 0) return -1;
    gnf_fuzz_hook = on_violation;
    for (int i = 0; i < n; i++) {
        snprintf(g_current, sizeof g_current, "%s/%s", dir, names[i]);
        int want = with_status ? expected_status(names[i]) : -2;
        CHECK_MSG(want != -1, "%s: the name does not start with ok-, format-, unsupported-, nomem-, io- or invalid-",
                  g_current);
        size_t size;
        unsigned char *data = test_read_file(g_current, &size);
        CHECK_MSG(data != NULL, "%s: cannot read", g_current);
        if (data) {
            /* An exact-size copy, so that ASan sees a read one byte past the input. */
            unsigned char *exact = malloc(size ? size : 1);
            if (size) memcpy(exact, data, size);
            clock_t t0 = clock();
            gnf_status s = fn(exact, size);
            double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
            CHECK_MSG(want < 0 || (int)s == want, "%s: status \"%s\" (%s), the name promises \"%s\"", g_current,
                      gnf_status_name(s), s == GNF_OK ? "" : gnf_last_error(), gnf_status_name((gnf_status)want));
            CHECK_MSG(cpu < 2.0, "%s: %.2f s of CPU time", g_current, cpu);
            free(exact);
            free(data);
        }
        free(names[i]);
    }
    free(names);
    gnf_fuzz_hook = NULL;
    return n;
}

TEST(fuzz_regressions) {
    /* every folder is a harness's (a misspelt one would be skipped silently otherwise) */
    DIR *d = opendir("tests/fuzz_regressions");
    CHECK_MSG(d != NULL, "tests/fuzz_regressions is missing (run the tests from the project root)");
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        int known = e->d_name[0] == '.';
        for (int h = 0; h < NHARNESS && !known; h++) known = strcmp(e->d_name, k_harness[h].name) == 0;
        CHECK_MSG(known, "tests/fuzz_regressions/%s: no harness of that name", e->d_name);
    }
    closedir(d);
    int total = 0;
    for (int h = 0; h < NHARNESS; h++) {
        char dir[256];
        snprintf(dir, sizeof dir, "tests/fuzz_regressions/%s", k_harness[h].name);
        int n = replay_dir(dir, k_harness[h].fn, 1); /* -1: none for this reader yet */
        if (n > 0) total += n;
    }
    printf("      %d regression inputs replayed\n", total);
}

TEST(fuzz_seeds) {
    int total = 0;
    for (int h = 0; h < NHARNESS; h++) {
        char dir[256];
        snprintf(dir, sizeof dir, "fuzz/seeds/%s", k_harness[h].name);
        int n = replay_dir(dir, k_harness[h].fn, 0);
        CHECK_MSG(n > 0, "%s is missing or empty (run the tests from the project root)", dir);
        if (n > 0) total += n;
    }
    printf("      %d hand-written seeds replayed\n", total);
}

/* A regression input too big to commit, built here: a valid model whose header also carries
 * 75,000 metadata entries (975 KB).  The loader once stored them one by one through
 * gnf_model_set_meta, which looks for each key first: 13 s of CPU for this file. */
TEST(fuzz_model_metadata_flood) {
    size_t n = 0;
    unsigned char *seed = test_read_file("fuzz/seeds/model/sdf_dense_f16.model", &n);
    CHECK_MSG(seed && n > 8, "fuzz/seeds/model/sdf_dense_f16.model is missing (run the tests from the project root)");
    if (!seed || n <= 8) { free(seed); return; }
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++) hl |= (uint64_t)seed[k] << (8 * k);
    const char *h = (const char *)seed + 8, *key = "\"__metadata__\":{";
    size_t len = (size_t)hl;
    while (len && h[len - 1] == ' ') len--;
    const char *at = hl <= n - 8 ? memmem(h, len, key, strlen(key)) : NULL;
    CHECK(at != NULL);
    enum { N = 75000, ENTRY = 13 }; /* "m000000":"", */
    unsigned char *file = at ? malloc(8 + len + (size_t)N * ENTRY + 8 + (n - 8 - hl)) : NULL;
    if (!file) { free(seed); return; }
    size_t split = (size_t)(at - h) + strlen(key), o = 8;
    memcpy(file + o, h, split), o += split;
    for (int i = 0; i < N; i++) o += (size_t)snprintf((char *)file + o, ENTRY + 1, "\"m%06d\":\"\",", i);
    memcpy(file + o, h + split, len - split), o += len - split;
    while ((o - 8) % 8) file[o++] = ' ';
    uint64_t nl = o - 8;
    for (int k = 0; k < 8; k++) file[k] = (unsigned char)(nl >> (8 * k));
    memcpy(file + o, seed + 8 + hl, n - 8 - hl), o += n - 8 - hl;
    snprintf(g_current, sizeof g_current, "the metadata flood (%zu bytes)", o);
    gnf_fuzz_hook = on_violation;
    clock_t t0 = clock();
    gnf_status s = gnf_fuzz_model(file, o); /* checks that the model keeps every entry */
    double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
    gnf_fuzz_hook = NULL;
    CHECK_MSG(s == GNF_OK, "%s", gnf_last_error());
    CHECK_MSG(cpu < 2.0, "%.2f s of CPU time", cpu);
    free(file);
    free(seed);
}
