/* Samples split across MPI ranks (OpenMPI), for calibration, `accuracy` and `eval`.
 *
 * Built when meson finds MPI (option `mpi`, auto); otherwise every function here is the
 * one-process case (rank 0 of 1) and the program needs no MPI at all. A program started by
 * mpirun/srun (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment) joins MPI;
 * started by hand it does not, so the MPI library's start-up costs nothing there.
 *
 * Each rank takes one contiguous range of the samples (base/parallel.h's split over ranks,
 * then over its threads), and the per-rank results are reduced exactly: integer counts and
 * maxima, and sums of whole numbers in doubles (exact below 2^53), so every rank count gives
 * the same numbers and the same .snn bytes as one process. Only rank 0 prints tables and
 * writes files. */
#ifndef ANN2SNN_CLI_MPI_H
#define ANN2SNN_CLI_MPI_H

#include <stdbool.h>

#include "api/ann2snn.h"
#include <stdint.h>

/* Whether this build has MPI. */
bool cli_mpi_available(void);
/* Join MPI when started under a launcher. Call once, first thing in main(). */
void cli_mpi_init(int *argc, char ***argv);
/* Leave MPI with the command's exit status: 0 finalises normally; any other status aborts
 * every rank (a rank that fails alone must not leave the others waiting in a reduction). */
void cli_mpi_finish(int status);

int cli_mpi_size(void);
/* This process's rank, 0 .. cli_mpi_size() - 1. */
int cli_mpi_rank(void);
/* Rank 0 (or no MPI): the process that prints and writes. */
bool cli_mpi_root(void);
/* Worker w's contiguous range [begin, end) of n samples: this rank's range, split over its
 * `workers` threads. */
void cli_mpi_worker_range(int64_t n, int workers, int w, int64_t *begin, int64_t *end);

/* The library's split over processes: this rank of every rank, reducing with the functions
 * below. */
ann2snn_split cli_mpi_split(void);

/* In place, over every rank; each rank ends with the result. */
void cli_mpi_sum_i64(int64_t *v, int n);
void cli_mpi_sum_u64(uint64_t *v, int n);
void cli_mpi_sum_u32(uint32_t *v, int64_t n);
void cli_mpi_sum_f64(double *v, int n);
void cli_mpi_max_f32(float *v, int n);
void cli_mpi_min_f32(float *v, int n);
void cli_mpi_max_u32(uint32_t *v, int n);
/* all (n): each rank has filled its own range of it (its workers' ranges together); afterwards every rank has all. */
void cli_mpi_allgather_i32(int32_t *all, int64_t n);

#endif
