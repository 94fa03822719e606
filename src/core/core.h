/* core.h — internal foundations shared by every libgnf module: errors, allocation, RNG,
 * thread pool, timing, CPU feature detection.  Not part of the public API. */
#ifndef GNF_CORE_H
#define GNF_CORE_H

#include "gnf.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define GNF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GNF_PRINTF(a, b)
#endif

/* Records a failure message for gnf_last_error() and returns s (so: return gnf_fail(...)). */
gnf_status gnf_fail(gnf_status s, const char *fmt, ...) GNF_PRINTF(2, 3);
/* Clears the last error message. */
void gnf_clear_error(void);

/* Allocation: 64-byte aligned, zeroed; NULL on failure or overflow (n*size).  Free with gnf_free. */
void *gnf_calloc(size_t n, size_t size);
void gnf_free(void *p);
/* One buffer of a multi-buffer allocation: *slot receives `bytes` zeroed bytes, 64-byte aligned. */
typedef struct { void **slot; size_t bytes; } gnf_buf;
#define GNF_BUF(ptr, count) ((gnf_buf){(void **)&(ptr), (size_t)(count) * sizeof *(ptr)})
/* Bytes that gnf_alloc_bufs takes for the n buffers (what a memory estimate should say). */
size_t gnf_bufs_bytes(const gnf_buf *b, int n);
/* Allocates the n buffers as one zeroed block: the slots point into *block (free it with
 * gnf_free).  On failure returns 0 with the slots and *block NULL. */
int gnf_alloc_bufs(const gnf_buf *b, int n, void **block);
/* Duplicates a string (malloc'd); NULL on failure. */
char *gnf_strdup(const char *s);

/* Counter-based RNG: deterministic streams from (seed, stream).  splitmix64 state. */
typedef struct { uint64_t s; } gnf_rng;
void gnf_rng_seed(gnf_rng *r, uint64_t seed, uint64_t stream);
uint64_t gnf_rng_u64(gnf_rng *r);
/* Uniform in [0,1) with 24 random bits. */
float gnf_rng_uniform(gnf_rng *r);
/* Uniform integer in [0, n). */
uint32_t gnf_rng_below(gnf_rng *r, uint32_t n);

/* Thread pool: runs fn(ctx, task, thread) for task = 0..ntasks-1 over `threads` workers (the
 * caller is one of them) and returns when all are done.  Tasks are taken in increasing order;
 * results must not depend on which thread ran a task.  Fork-safe: a child re-creates the pool. */
typedef void (*gnf_task_fn)(void *ctx, long task, int thread);
void gnf_parallel_for(long ntasks, int threads, gnf_task_fn fn, void *ctx);
/* Upper bound on the `thread` argument + 1 for a given request (to size per-thread buffers). */
int gnf_threads_resolve(int threads);

/* Nonzero when the CPU has AVX2 and FMA (the kernel tables are in field/kernels.h). */
int gnf_cpu_has_avx2_fma(void);

/* Reads the whole file at path into *data (malloc'd, NUL-terminated one past *size: text parsers
 * may look one byte ahead).  Errors name path, *data stays NULL: GNF_ERR_IO (cannot open, a
 * directory, read error), GNF_ERR_UNSUPPORTED (over max bytes; a regular file is refused before
 * anything is read), GNF_ERR_NOMEM.  Streams (pipes) are read too. */
gnf_status gnf_read_file(const char *path, size_t max, unsigned char **data, size_t *size);

/* Atomic output: write to a temporary file next to path (mode 0644), then rename over path, so
 * a failure or crash never leaves a partial file.  gnf_atomic_open creates it (a.f to write
 * to); gnf_atomic_commit(a, s) with s == GNF_OK flushes, syncs, closes and renames, with s !=
 * GNF_OK (the writer failed) closes and removes the temporary.  Returns the final status; errors
 * name path.  While open, the temporary is listed for gnf_remove_partial_outputs() (gnf.h). */
typedef struct { FILE *f; char *tmp; const char *path; int slot; } gnf_atomic_file;
gnf_status gnf_atomic_open(gnf_atomic_file *a, const char *path);
gnf_status gnf_atomic_commit(gnf_atomic_file *a, gnf_status s);

/* f32 <-> f16 (IEEE binary16, round to nearest even). */
uint16_t gnf_f32_to_f16(float f);
float gnf_f16_to_f32(uint16_t h);

#define GNF_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GNF_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
