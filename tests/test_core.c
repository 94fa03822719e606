/* test_core.c — foundations: the thread pool runs every task exactly once (also nested and in a
 * forked child), RNG streams are reproducible, f16 conversion rounds to nearest even. */
#include "test.h"
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int g_count[1000];

static void count_task(void *ctx, long t, int thread) {
    (void)ctx;
    (void)thread;
    atomic_fetch_add(&g_count[t], 1);
}

static void nested_task(void *ctx, long t, int thread) {
    (void)thread;
    gnf_parallel_for(10, 4, count_task, ctx); /* runs inline inside a task */
    atomic_fetch_add(&g_count[100 + t], 1);
}

static int all_once(long n, int base) {
    for (long i = 0; i < n; i++)
        if (atomic_load(&g_count[base + i]) != 1) return 0;
    return 1;
}

TEST(pool_runs_every_task_once) {
    for (int T = 1; T <= 5; T++) {
        memset(g_count, 0, sizeof g_count);
        gnf_parallel_for(1000, T, count_task, NULL);
        CHECK_MSG(all_once(1000, 0), "threads %d", T);
    }
    memset(g_count, 0, sizeof g_count);
    gnf_parallel_for(7, 3, nested_task, NULL);
    for (int i = 0; i < 10; i++) CHECK_EQ_INT(atomic_load(&g_count[i]), 7);
    CHECK(all_once(7, 100));
}

/* After fork() the child has no worker threads; the pool must notice and start new ones. */
TEST(pool_works_after_fork) {
    gnf_parallel_for(100, 2, count_task, NULL); /* make sure workers exist in the parent */
    pid_t pid = fork();
    if (pid == 0) {
        memset(g_count, 0, sizeof g_count);
        gnf_parallel_for(1000, 2, count_task, NULL);
        _exit(all_once(1000, 0) ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(rng_streams_reproducible_and_distinct) {
    gnf_rng a, b, c;
    gnf_rng_seed(&a, 42, 7);
    gnf_rng_seed(&b, 42, 7);
    gnf_rng_seed(&c, 42, 8);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = gnf_rng_u64(&a), y = gnf_rng_u64(&b), z = gnf_rng_u64(&c);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same && diff > 95);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        float u = gnf_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        sum += u;
    }
    CHECK_NEAR(sum / 100000, 0.5, 0.01);
    for (int i = 0; i < 1000; i++) CHECK(gnf_rng_below(&a, 7) < 7);
}

TEST(f16_conversion_rounds_to_nearest_even) {
    CHECK(gnf_f32_to_f16(1.0f) == 0x3C00);
    CHECK(gnf_f32_to_f16(-2.0f) == 0xC000);
    CHECK(gnf_f32_to_f16(65504.0f) == 0x7BFF);
    CHECK(gnf_f32_to_f16(1e6f) == 0x7C00);                   /* overflow -> inf */
    CHECK(gnf_f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00);     /* tie -> even */
    CHECK(gnf_f32_to_f16(1.0f + 3.0f / 2048) == 0x3C02);     /* tie -> even (up) */
    CHECK(gnf_f32_to_f16(5.96046448e-8f) == 0x0001);         /* smallest subnormal */
    for (uint32_t h = 0; h < 0x7C00; h++) {                  /* every finite positive half */
        float f = gnf_f16_to_f32((uint16_t)h);
        if (gnf_f32_to_f16(f) != h) { CHECK_MSG(0, "half 0x%04x does not round-trip", h); break; }
    }
}
