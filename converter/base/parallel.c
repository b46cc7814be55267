#include "parallel.h"

#include <pthread.h>
#include <unistd.h>

int snn_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > SNN_MAX_THREADS ? SNN_MAX_THREADS : (int)n;
}

void snn_parallel_range(int64_t n, int workers, int worker, int64_t *begin, int64_t *end)
{
    *begin = n * worker / workers;
    *end = n * (worker + 1) / workers;
}

typedef struct {
    void (*fn)(void *ctx, int worker);
    void *ctx;
    int worker;
} job;

static void *trampoline(void *arg)
{
    job *j = arg;
    j->fn(j->ctx, j->worker);
    return NULL;
}

snn_status snn_parallel_run(int workers, void (*fn)(void *ctx, int worker), void *ctx,
                            snn_diag *diag)
{
    workers = workers < 1 ? 1 : workers > SNN_MAX_THREADS ? SNN_MAX_THREADS : workers;
    pthread_t tid[SNN_MAX_THREADS];
    job jobs[SNN_MAX_THREADS];
    int started = 1;
    snn_status st = SNN_OK;
    for (int k = 1; k < workers; k++, started++) {
        jobs[k] = (job){fn, ctx, k};
        if (pthread_create(&tid[k], NULL, trampoline, &jobs[k]) != 0) {
            st = snn_diag_set(diag, SNN_ERR_NOMEM, "cannot start thread %d of %d", k + 1, workers);
            break;
        }
    }
    if (st == SNN_OK)
        fn(ctx, 0);
    for (int k = 1; k < started; k++)
        pthread_join(tid[k], NULL);
    return st;
}
