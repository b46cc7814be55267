/* cli_mpi.h over OpenMPI, or the one-process case without it. */
#include "cli_mpi.h"

#include <stdlib.h>

#include "base/parallel.h"

#ifndef SNN_HAVE_MPI
#define SNN_HAVE_MPI 0 /* meson defines it to 1 when it found MPI */
#endif

#if SNN_HAVE_MPI
#include <mpi.h>

static int rank = 0, size = 1;
static bool joined = false;

void cli_mpi_init(int *argc, char ***argv)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return;
    joined = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
}

void cli_mpi_finish(int status)
{
    if (!joined)
        return;
    if (status != 0 && size > 1)
        MPI_Abort(MPI_COMM_WORLD, status);
    MPI_Finalize();
}

/* Counts above INT_MAX go in pieces (MPI counts are int). */
static void allreduce(void *v, int64_t n, MPI_Datatype type, size_t elem, MPI_Op op)
{
    if (size == 1)
        return;
    for (int64_t off = 0; off < n; off += 1 << 30) {
        int cnt = n - off < (1 << 30) ? (int)(n - off) : 1 << 30;
        MPI_Allreduce(MPI_IN_PLACE, (char *)v + (size_t)off * elem, cnt, type, op, MPI_COMM_WORLD);
    }
}

void cli_mpi_sum_i64(int64_t *v, int n) { allreduce(v, n, MPI_INT64_T, sizeof *v, MPI_SUM); }
void cli_mpi_sum_u64(uint64_t *v, int n) { allreduce(v, n, MPI_UINT64_T, sizeof *v, MPI_SUM); }
void cli_mpi_sum_u32(uint32_t *v, int64_t n) { allreduce(v, n, MPI_UINT32_T, sizeof *v, MPI_SUM); }
void cli_mpi_sum_f64(double *v, int n) { allreduce(v, n, MPI_DOUBLE, sizeof *v, MPI_SUM); }
void cli_mpi_max_f32(float *v, int n) { allreduce(v, n, MPI_FLOAT, sizeof *v, MPI_MAX); }
void cli_mpi_min_f32(float *v, int n) { allreduce(v, n, MPI_FLOAT, sizeof *v, MPI_MIN); }
void cli_mpi_max_u32(uint32_t *v, int n) { allreduce(v, n, MPI_UINT32_T, sizeof *v, MPI_MAX); }

void cli_mpi_allgather_i32(int32_t *all, int64_t n)
{
    if (size == 1)
        return;
    int *counts = malloc((size_t)size * sizeof *counts), *displs = malloc((size_t)size * sizeof *displs);
    if (!counts || !displs)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int r = 0; r < size; r++) {
        int64_t b, e;
        snn_parallel_range(n, size, r, &b, &e);
        counts[r] = (int)(e - b);
        displs[r] = (int)b;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, counts, displs, MPI_INT32_T, MPI_COMM_WORLD);
    free(counts);
    free(displs);
}

#else /* one process */

static const int rank = 0, size = 1;

void cli_mpi_init(int *argc, char ***argv) { (void)argc, (void)argv; }
void cli_mpi_finish(int status) { (void)status; }
void cli_mpi_sum_i64(int64_t *v, int n) { (void)v, (void)n; }
void cli_mpi_sum_u64(uint64_t *v, int n) { (void)v, (void)n; }
void cli_mpi_sum_u32(uint32_t *v, int64_t n) { (void)v, (void)n; }
void cli_mpi_sum_f64(double *v, int n) { (void)v, (void)n; }
void cli_mpi_max_f32(float *v, int n) { (void)v, (void)n; }
void cli_mpi_min_f32(float *v, int n) { (void)v, (void)n; }
void cli_mpi_max_u32(uint32_t *v, int n) { (void)v, (void)n; }
void cli_mpi_allgather_i32(int32_t *all, int64_t n) { (void)all, (void)n; }

#endif

bool cli_mpi_available(void) { return SNN_HAVE_MPI != 0; }
int cli_mpi_size(void) { return size; }
int cli_mpi_rank(void) { return rank; }
bool cli_mpi_root(void) { return rank == 0; }

void cli_mpi_worker_range(int64_t n, int workers, int w, int64_t *begin, int64_t *end)
{
    int64_t rank_begin, rank_end;
    snn_parallel_range(n, size, rank, &rank_begin, &rank_end);
    snn_parallel_range(rank_end - rank_begin, workers, w, begin, end);
    *begin += rank_begin, *end += rank_begin;
}

/* The library's reductions (api/ann2snn.h) over the ranks. */
static void all_reduce(void *ctx, ann2snn_reduce op, void *v, int64_t n)
{
    (void)ctx;
    switch (op) {
    case ANN2SNN_REDUCE_MAX_F32: cli_mpi_max_f32(v, (int)n); break;
    case ANN2SNN_REDUCE_MIN_F32: cli_mpi_min_f32(v, (int)n); break;
    case ANN2SNN_REDUCE_SUM_U64: cli_mpi_sum_u64(v, (int)n); break;
    case ANN2SNN_REDUCE_SUM_U32: cli_mpi_sum_u32(v, n); break;
    case ANN2SNN_REDUCE_SUM_I64: cli_mpi_sum_i64(v, (int)n); break;
    case ANN2SNN_REDUCE_SUM_F64: cli_mpi_sum_f64(v, (int)n); break;
    case ANN2SNN_REDUCE_MAX_U32: cli_mpi_max_u32(v, (int)n); break;
    case ANN2SNN_REDUCE_GATHER_I32: cli_mpi_allgather_i32(v, n); break;
    }
}

ann2snn_split cli_mpi_split(void)
{
    return (ann2snn_split){.rank = rank, .ranks = size, .all_reduce = all_reduce};
}
