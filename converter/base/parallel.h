/* Work split over threads, deterministically: worker k of n always gets the same contiguous
 * range of items, so a caller that merges per-worker results in worker order gets the same
 * answer for every thread count (integer counts, maxima) or the same bytes outright. */
#ifndef ANN2SNN_PARALLEL_H
#define ANN2SNN_PARALLEL_H

#include <stdint.h>

#include "diag.h"

/* Most worker threads any command runs; callers size their per-worker arrays by it. */
#define SNN_MAX_THREADS 256

/* Processors online (at least 1). */
int snn_cpu_count(void);

/* Items [begin, end) of n for worker `worker` of `workers`. */
void snn_parallel_range(int64_t n, int workers, int worker, int64_t *begin, int64_t *end);

/* Call fn(ctx, k) for k = 0 .. workers-1, each on a thread of its own (worker 0 on the
 * calling thread), and wait for all. workers is clamped to [1, SNN_MAX_THREADS]. SNN_ERR_NOMEM if a thread
 * cannot be started (the ones started are joined first). */
snn_status snn_parallel_run(int workers, void (*fn)(void *ctx, int worker), void *ctx,
                            snn_diag *diag);

#endif
