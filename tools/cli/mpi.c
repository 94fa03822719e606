/* mpi.c — data-parallel `gnf fit` over MPI (docs/CLUSTER.md, "Data-parallel training over MPI").
 *
 * libgnf knows nothing of MPI: its training loop takes a gnf_parallel (gnf.h) — this process's
 * rank, the number of ranks and two sums — and this file provides it with MPI when the CLI is
 * built by `make mpi` (mpicc, -DGNF_MPI: build/mpi/gnf).  Under `mpirun -np N gnf fit ...` every
 * rank loads the input, trains its share of every step's batch and takes part in the sums; rank 0
 * alone prints progress and writes the model.  Any other build is a single process and says so
 * when started by a launcher with more than one rank, instead of training N copies side by side.
 *
 * The sums are deterministic: MPI_Allreduce may add the ranks' values in any order (and a
 * different one from run to run), so the gradients are summed by hand — a reduce-scatter in rank
 * order, then an allgather:
 *   1. the vector is cut into N contiguous segments; rank s owns segment s;
 *   2. MPI_Alltoallv sends every rank's copy of segment s to rank s, which adds the N copies in
 *      rank order, 0 first (((x0 + x1) + x2) + ...);
 *   3. MPI_Allgatherv hands every owner's sums to every rank.
 * Each float is added once, by its owner, in a fixed order, and every rank receives those bits:
 * the same N gives the same model whatever the timing.  Each rank sends and receives (N-1)/N of
 * the vector in each of the two phases, what a ring allreduce moves.  The small double sums (the
 * loss, the step boundary's clock and stop flags, the parameter checksums) are an MPI_Allgather
 * added up in rank order on every rank.
 *
 * Measured here, and printed by rank 0 after the fit: the time spent in the sums (communication,
 * including waiting for the slowest rank) against the training time, and the gradient volume.
 * GNF_MPI_STATS=1 also counts the nonzero gradient entries every step — what this rank's batch
 * touched, and the union over the ranks — for the scaling model of docs/CLUSTER.md.
 * GNF_MPI_TEST_DESYNC=1 (tests only) perturbs one gradient entry on the last rank after its first
 * sum, so the cross-rank parameter check must fail. */
#include "cli.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The launcher's rank count from its environment (Open MPI, MPICH/PMI, Slurm's srun), 0 if none. */
static int launcher_ranks(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", NULL};
    for (int k = 0; vars[k]; k++) {
        const char *v = getenv(vars[k]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 0;
}

#ifdef GNF_MPI
#include <mpi.h>

static struct {
    int active, rank, ranks, stats, desync;
    gnf_parallel par;
    float *recv;                 /* phase 2's N copies of this rank's segment */
    long recv_cap;
    double *dbuf;
    long dbuf_cap;
    int *cnt, *dis, *rcnt, *rdis;
    /* measurements */
    double comm_s;               /* seconds in the sums */
    long f32_calls, f32_n;
    double nnz_local, nnz_sum;   /* GNF_MPI_STATS: nonzero entries before and after the sums, summed over steps */
} g_mpi;

static void *grow(void *p, long *cap, long need, size_t elem) {
    if (need <= *cap) return p;
    void *q = realloc(p, (size_t)need * elem);
    if (q) *cap = need;
    return q;
}

static long count_nonzero(const float *x, long n) {
    long c = 0;
    for (long i = 0; i < n; i++) c += x[i] != 0.0f;
    return c;
}

/* A sum that cannot be done ends the whole job: the other ranks would wait in it forever.  (A
 * failed MPI call ends it too: MPI_COMM_WORLD keeps MPI's default handler, errors are fatal.) */
static void die_out_of_memory(long n) {
    fail("rank %d: out of memory for the gradient exchange (%ld values)", g_mpi.rank, n);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, EXIT_RUNTIME);
}

/* gnf_parallel.sum_f32: the rank-ordered reduce-scatter and allgather described above. */
static int sum_f32(void *user, float *x, long n) {
    (void)user;
    const int N = g_mpi.ranks, me = g_mpi.rank;
    double t0 = MPI_Wtime();
    if (g_mpi.stats) g_mpi.nnz_local += (double)count_nonzero(x, n);
    if (n / N >= 0x7FFFFFFF) die_out_of_memory(n);   /* MPI counts are ints: no model is near this */
    for (int s = 0; s < N; s++) {
        long a = n * s / N, b = n * (s + 1) / N;
        g_mpi.cnt[s] = (int)(b - a);
        g_mpi.dis[s] = (int)a;
    }
    const long mine = g_mpi.cnt[me];
    float *r = grow(g_mpi.recv, &g_mpi.recv_cap, mine * N > 0 ? mine * N : 1, sizeof(float));
    if (!r) die_out_of_memory(mine * N);
    g_mpi.recv = r;
    for (int s = 0; s < N; s++) { g_mpi.rcnt[s] = (int)mine; g_mpi.rdis[s] = (int)(mine * s); }
    MPI_Alltoallv(x, g_mpi.cnt, g_mpi.dis, MPI_FLOAT, r, g_mpi.rcnt, g_mpi.rdis, MPI_FLOAT, MPI_COMM_WORLD);
    float *seg = x + g_mpi.dis[me];
    memcpy(seg, r, sizeof(float) * (size_t)mine);
    for (int q = 1; q < N; q++) {
        const float *src = r + mine * q;
        for (long i = 0; i < mine; i++) seg[i] += src[i];
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, x, g_mpi.cnt, g_mpi.dis, MPI_FLOAT, MPI_COMM_WORLD);
    if (g_mpi.desync && me == N - 1 && g_mpi.f32_calls == 0 && n > 0) x[n - 1] += 1e-3f;
    if (g_mpi.stats) g_mpi.nnz_sum += (double)count_nonzero(x, n);
    g_mpi.f32_calls++;
    g_mpi.f32_n = n;
    g_mpi.comm_s += MPI_Wtime() - t0;
    return GNF_OK;
}

/* gnf_parallel.sum_f64: every rank's n values gathered, added in rank order on every rank. */
static int sum_f64(void *user, double *x, long n) {
    (void)user;
    const int N = g_mpi.ranks;
    double t0 = MPI_Wtime();
    double *b = grow(g_mpi.dbuf, &g_mpi.dbuf_cap, n * N, sizeof(double));
    if (!b) die_out_of_memory(n * N);
    g_mpi.dbuf = b;
    MPI_Allgather(x, (int)n, MPI_DOUBLE, b, (int)n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (long i = 0; i < n; i++) {
        double s = b[i];
        for (int q = 1; q < N; q++) s += b[(long)q * n + i];
        x[i] = s;
    }
    g_mpi.comm_s += MPI_Wtime() - t0;
    return GNF_OK;
}

int cli_mpi_init(int *argc, char ***argv) {
    if (launcher_ranks() == 0) return -1;   /* not started by a launcher: one process, no MPI */
    (void)argc, (void)argv;   /* MPI needs no arguments of ours */
    int err = MPI_Init(NULL, NULL);
    if (err != MPI_SUCCESS) return fail("MPI_Init failed (error %d)", err);
    g_mpi.active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_mpi.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_mpi.ranks);
    const char *s = getenv("GNF_MPI_STATS"), *d = getenv("GNF_MPI_TEST_DESYNC");
    g_mpi.stats = s && !strcmp(s, "1");
    g_mpi.desync = d && !strcmp(d, "1");
    size_t N = (size_t)g_mpi.ranks;
    g_mpi.cnt = calloc(4 * N, sizeof(int));
    if (!g_mpi.cnt) return fail("out of memory");
    g_mpi.dis = g_mpi.cnt + N, g_mpi.rcnt = g_mpi.cnt + 2 * N, g_mpi.rdis = g_mpi.cnt + 3 * N;
    g_mpi.par = (gnf_parallel){g_mpi.rank, g_mpi.ranks, sum_f32, sum_f64, NULL};
    return -1;
}

const gnf_parallel *cli_mpi_parallel(void) { return g_mpi.active ? &g_mpi.par : NULL; }

int cli_mpi_rank(void) { return g_mpi.rank; }

void cli_mpi_report(const gnf_train_report *rep) {
    if (!g_mpi.active || g_mpi.rank != 0 || rep->steps <= 0 || g_mpi.f32_calls == 0) return;
    const double steps = (double)g_mpi.f32_calls, step_s = rep->seconds / (double)rep->steps;
    fprintf(stderr, "mpi: %d ranks; gradient exchange %ld floats (%.2f MiB) a step, %.3f ms a step = %.1f%% of a step "
            "(%.3f ms; sums and waiting for the slowest rank)\n", g_mpi.ranks, g_mpi.f32_n, (double)g_mpi.f32_n * 4 / 1048576.0,
            1e3 * g_mpi.comm_s / steps, 100 * g_mpi.comm_s / rep->seconds, 1e3 * step_s);
    if (g_mpi.stats)
        fprintf(stderr, "mpi: nonzero gradient entries a step: rank 0's batch %.0f (%.2f%%), all ranks summed %.0f (%.2f%%)\n",
                g_mpi.nnz_local / steps, 100 * g_mpi.nnz_local / steps / (double)g_mpi.f32_n, g_mpi.nnz_sum / steps,
                100 * g_mpi.nnz_sum / steps / (double)g_mpi.f32_n);
}

int cli_mpi_finish(int rc) {
    if (!g_mpi.active) return rc;
    free(g_mpi.recv);
    free(g_mpi.dbuf);
    free(g_mpi.cnt);
    /* success and an agreed interruption end together; any failure may be this rank's alone
     * (the others then wait in a sum), so it ends the whole job with its exit code */
    if (rc == 0 || rc == 128 + SIGINT || rc == 128 + SIGTERM) {
        MPI_Finalize();
        return rc;
    }
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, rc);
    return rc;
}

#else /* a build without MPI: one process */

int cli_mpi_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (launcher_ranks() > 1)
        return fail("started as one of %d ranks, but this gnf was built without MPI: it would train %d separate copies; "
                    "build the MPI one with `make mpi` (build/mpi/gnf)", launcher_ranks(), launcher_ranks());
    return -1;
}

const gnf_parallel *cli_mpi_parallel(void) { return NULL; }

int cli_mpi_rank(void) { return 0; }

void cli_mpi_report(const gnf_train_report *rep) { (void)rep; }

int cli_mpi_finish(int rc) { return rc; }

#endif
