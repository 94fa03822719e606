/* threads.c — a small fork-safe pthread pool behind gnf_parallel_for().
 *
 * Workers are created lazily and kept.  One parallel_for runs at a time (others wait on
 * g_run_lock); a call from inside a task runs inline.  After fork() the child has no workers:
 * the atfork handler resets the pool so the child re-creates it on first use.
 *
 * Hand-off: a training step is a few parallel_for calls of 0.1-3 ms each with a little serial
 * work between them, so waking sleeping workers through a condition variable (tens of
 * microseconds each, and the caller runs ahead meanwhile and takes more than its share of a
 * handful of chunks) cost a visible part of the second core.  Workers therefore spin for a short
 * while (SPIN_S) on the job word after each job before they sleep, and the caller spins the same
 * way for the workers to finish; with more threads than cores nobody spins.  The job word holds
 * the job's generation and how many workers it wants in one atomic, so a worker never mixes the
 * two of different jobs. */
#define _GNU_SOURCE
#include "core.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define MAX_THREADS 256
#define SPIN_S 200e-6   /* how long a worker (or the caller) spins before it sleeps */

static pthread_mutex_t g_run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_done = PTHREAD_COND_INITIALIZER;
static int g_nworkers;            /* workers alive (excluding callers) */
static int g_sleepers;            /* workers waiting on g_wake (under g_lock) */
static int g_spin;                /* spinning allowed: the workers fit on the cores */
static atomic_ulong g_job;        /* generation << 8 | workers wanted (0..255) */
static atomic_int g_finished;     /* workers finished with the current job */
static atomic_long g_next;
static long g_ntasks;
static gnf_task_fn g_fn;
static void *g_ctx;
static int g_atfork_installed;
static _Thread_local int t_in_pool;

static void run_tasks(int thread) {
    t_in_pool = 1;
    for (;;) {
        long t = atomic_fetch_add(&g_next, 1);
        if (t >= g_ntasks) break;
        g_fn(g_ctx, t, thread);
    }
    t_in_pool = 0;
}

/* The next job word different from `seen`: spinning first, then sleeping on g_wake. */
static unsigned long wait_job(unsigned long seen) {
    unsigned long job = atomic_load_explicit(&g_job, memory_order_acquire);
    if (job == seen && g_spin) {
        double until = gnf_now() + SPIN_S;
        while ((job = atomic_load_explicit(&g_job, memory_order_acquire)) == seen && gnf_now() < until)
            for (int i = 0; i < 16; i++) CPU_RELAX();
    }
    if (job != seen) return job;
    pthread_mutex_lock(&g_lock);
    g_sleepers++;
    while ((job = atomic_load_explicit(&g_job, memory_order_acquire)) == seen) pthread_cond_wait(&g_wake, &g_lock);
    g_sleepers--;
    pthread_mutex_unlock(&g_lock);
    return job;
}

static void *worker_main(void *arg) {
    int id = (int)(intptr_t)arg; /* 1..g_nworkers */
    unsigned long seen = 0;
    for (;;) {
        seen = wait_job(seen);
        if (id > (int)(seen & 255)) continue;   /* not wanted for this job */
        run_tasks(id);
        if (atomic_fetch_add(&g_finished, 1) + 1 == (int)(seen & 255)) {
            pthread_mutex_lock(&g_lock);           /* the caller checks g_finished under g_lock */
            pthread_cond_signal(&g_done);
            pthread_mutex_unlock(&g_lock);
        }
    }
    return NULL;
}

static void atfork_child(void) {
    pthread_mutex_init(&g_run_lock, NULL);
    pthread_mutex_init(&g_lock, NULL);
    pthread_cond_init(&g_wake, NULL);
    pthread_cond_init(&g_done, NULL);
    g_nworkers = 0;
    g_sleepers = 0;
    atomic_store(&g_job, 0);
    atomic_store(&g_finished, 0);
}

/* Online CPUs (at least 1). */
static int gnf_online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)GNF_MIN(n, MAX_THREADS);
}

int gnf_default_threads(void) {
    const char *e = getenv("GNF_THREADS");
    if (e && *e) {
        int n = atoi(e);
        if (n >= 1) return GNF_MIN(n, MAX_THREADS);
    }
    return gnf_online_cores();
}

int gnf_threads_resolve(int threads) {
    if (threads <= 0) threads = gnf_default_threads();
    return GNF_MIN(threads, MAX_THREADS);
}

void gnf_parallel_for(long ntasks, int threads, gnf_task_fn fn, void *ctx) {
    if (ntasks <= 0) return;
    threads = gnf_threads_resolve(threads);
    if (threads > ntasks) threads = (int)ntasks;
    if (threads <= 1 || t_in_pool) {
        for (long t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&g_run_lock);
    pthread_mutex_lock(&g_lock);
    if (!g_atfork_installed) {
        pthread_atfork(NULL, NULL, atfork_child);
        g_atfork_installed = 1;
    }
    while (g_nworkers < threads - 1) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, worker_main, (void *)(intptr_t)(g_nworkers + 1)) != 0) {
            pthread_attr_destroy(&at);
            break; /* fewer workers: the tasks still all run */
        }
        pthread_attr_destroy(&at);
        g_nworkers++;
    }
    g_fn = fn;
    g_ctx = ctx;
    g_ntasks = ntasks;
    atomic_store(&g_next, 0);
    int active = GNF_MIN(threads - 1, g_nworkers);
    atomic_store(&g_finished, 0);
    g_spin = g_nworkers + 1 <= gnf_online_cores();
    unsigned long gen = (atomic_load(&g_job) >> 8) + 1;
    atomic_store_explicit(&g_job, gen << 8 | (unsigned long)active, memory_order_release);
    if (g_sleepers > 0) pthread_cond_broadcast(&g_wake);
    pthread_mutex_unlock(&g_lock);
    run_tasks(0);
    if (atomic_load(&g_finished) < active && g_spin) {
        double until = gnf_now() + SPIN_S;
        while (atomic_load(&g_finished) < active && gnf_now() < until)
            for (int i = 0; i < 16; i++) CPU_RELAX();
    }
    if (atomic_load(&g_finished) < active) {
        pthread_mutex_lock(&g_lock);
        while (atomic_load(&g_finished) < active) pthread_cond_wait(&g_done, &g_lock);
        pthread_mutex_unlock(&g_lock);
    }
    pthread_mutex_unlock(&g_run_lock);
}
