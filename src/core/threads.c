/* threads.c — a small fork-safe pthread pool behind gnf_parallel_for().
 *
 * Workers are created lazily and kept.  One parallel_for runs at a time (others wait on
 * g_run_lock); a call from inside a task runs inline.  After fork() the child has no workers:
 * the atfork handler resets the pool so the child re-creates it on first use. */
#define _GNU_SOURCE
#include "core.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 256

static pthread_mutex_t g_run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_done = PTHREAD_COND_INITIALIZER;
static int g_nworkers;            /* workers alive (excluding callers) */
static unsigned long g_generation;
static int g_active;              /* workers wanted for the current job */
static int g_finished;            /* workers finished with the current job */
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

static void *worker_main(void *arg) {
    int id = (int)(intptr_t)arg; /* 1..g_nworkers */
    unsigned long seen = 0;
    pthread_mutex_lock(&g_lock);
    for (;;) {
        while (g_generation == seen) pthread_cond_wait(&g_wake, &g_lock);
        seen = g_generation;
        if (id > g_active) continue;
        pthread_mutex_unlock(&g_lock);
        run_tasks(id);
        pthread_mutex_lock(&g_lock);
        if (++g_finished == g_active) pthread_cond_signal(&g_done);
    }
    return NULL;
}

static void atfork_child(void) {
    pthread_mutex_init(&g_run_lock, NULL);
    pthread_mutex_init(&g_lock, NULL);
    pthread_cond_init(&g_wake, NULL);
    pthread_cond_init(&g_done, NULL);
    g_nworkers = 0;
    g_active = g_finished = 0;
}

int gnf_default_threads(void) {
    const char *e = getenv("GNF_THREADS");
    if (e && *e) {
        int n = atoi(e);
        if (n >= 1) return GNF_MIN(n, MAX_THREADS);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    return (int)GNF_MIN(n, MAX_THREADS);
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
    g_active = GNF_MIN(threads - 1, g_nworkers);
    g_finished = 0;
    g_generation++;
    pthread_cond_broadcast(&g_wake);
    pthread_mutex_unlock(&g_lock);
    run_tasks(0);
    pthread_mutex_lock(&g_lock);
    while (g_finished < g_active) pthread_cond_wait(&g_done, &g_lock);
    pthread_mutex_unlock(&g_lock);
    pthread_mutex_unlock(&g_run_lock);
}
