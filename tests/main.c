/* main.c — the test runner: runs every registered test (or those whose name contains any argv),
 * prints one line per test and ends with "N passed, N failed, N skipped". Exit 1 on failure. */
#define _GNU_SOURCE
#include "test.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 1024
static struct { const char *name; test_fn fn; } g_tests[MAX_TESTS];
static int g_ntests, g_cur_failed, g_cur_skipped;
static char g_skip_why[256];

void test_register(const char *name, test_fn fn) {
    if (g_ntests < MAX_TESTS) { g_tests[g_ntests].name = name; g_tests[g_ntests].fn = fn; g_ntests++; }
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    if (g_cur_failed < 10) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "    FAIL %s:%d: ", file, line);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    g_cur_failed++;
}

void test_skip(const char *why) {
    g_cur_skipped = 1;
    snprintf(g_skip_why, sizeof g_skip_why, "%s", why);
}

const char *test_data_dir(void) {
    static char buf[4096];
    static int done;
    if (!done) {
        done = 1;
        const char *e = getenv("GNF_DATA");
        const char *cands[] = {e, "../shared/data", "../../shared/data", NULL};
        for (int i = 0; i < 3; i++) {
            if (!cands[i]) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/images/kodak/kodim01.png", cands[i]);
            if (access(p, R_OK) == 0) { snprintf(buf, sizeof buf, "%s", cands[i]); return buf; }
        }
        buf[0] = 0;
    }
    return buf[0] ? buf : NULL;
}

const char *test_tmp_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/gnf_tests_XXXXXX");
        if (!mkdtemp(dir)) { perror("mkdtemp"); exit(1); }
    }
    return dir;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < g_ntests; i++) {
        int want = argc <= 1;
        for (int a = 1; a < argc && !want; a++) want = strstr(g_tests[i].name, argv[a]) != NULL;
        if (!want) continue;
        g_cur_failed = 0;
        g_cur_skipped = 0;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        g_tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        if (g_cur_failed) { failed++; printf("FAIL  %s (%d checks failed)\n", g_tests[i].name, g_cur_failed); }
        else if (g_cur_skipped) { skipped++; printf("SKIP  %s: %s\n", g_tests[i].name, g_skip_why); }
        else { passed++; printf("ok    %s (%.2fs)\n", g_tests[i].name, s); }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
