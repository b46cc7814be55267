/* Samples for the library: fetching one (from memory or the caller's callback), the split of
 * samples over processes and threads, and the ANN's predictions on them. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "base/parallel.h"
#include "eval/eval.h"

snn_status api_fetch(const ann2snn_samples *src, int64_t i, const snn_preprocess *pp, float *x, snn_diag *diag)
{
    if (src->values) {
        memcpy(x, src->values + i * src->sample_size, (size_t)src->sample_size * sizeof *x);
    } else {
        ann2snn_diag d = {.offset = -1};
        ann2snn_status st = src->get(src->ctx, i, x, &d);
        if (st != ANN2SNN_OK) {
            if (diag) {
                memcpy(diag->msg, d.message, sizeof diag->msg);
                memcpy(diag->where, d.where, sizeof diag->where);
                diag->offset = d.offset;
            }
            return st == ANN2SNN_ERR_ARGUMENT ? SNN_ERR_INVALID : (snn_status)st;
        }
    }
    if (pp) {
        snn_dataset shape = {.sample_size = src->sample_size};
        snn_preprocess_values(&shape, pp, x);
    }
    return SNN_OK;
}

void api_worker_range(const ann2snn_split *sp, int64_t n, int workers, int w, int64_t *begin, int64_t *end)
{
    int64_t b = 0, e = n;
    if (sp && sp->ranks > 1)
        snn_parallel_range(n, sp->ranks, sp->rank, &b, &e);
    snn_parallel_range(e - b, workers, w, begin, end);
    *begin += b, *end += b;
}

/* What the classifying workers share; each has an evaluator of its own. */
typedef struct {
    const snn_graph *g; /* input of o->batch samples */
    const snn_eval_weights *weights; /* the Conv weights packed once for every worker, or NULL */
    const ann2snn_samples *src;
    const snn_preprocess *pp;
    const api_classify_opts *o;
    int64_t n;
    int32_t *pred;
    snn_status st[SNN_MAX_THREADS]; /* per worker */
    snn_diag diag[SNN_MAX_THREADS];
    _Atomic int64_t done;
} classify_run;

static void classify_worker(void *arg, int w)
{
    classify_run *r = arg;
    int64_t begin, end, size = r->src->sample_size, batch = r->o->batch;
    api_worker_range(r->o->split, r->n, r->o->workers, w, &begin, &end);
    snn_eval ev;
    float *x = calloc((size_t)(size * batch), sizeof *x); /* (batch, sample) */
    r->st[w] = x ? snn_eval_init_samples(&ev, r->g, r->g, r->weights, &r->diag[w])
                 : snn_diag_set(&r->diag[w], SNN_ERR_NOMEM, "out of memory");
    if (r->st[w] != SNN_OK) {
        free(x);
        return;
    }
    snn_eval_use_reference(&ev, r->o->reference);
    int64_t n_out = snn_tensor_numel(&r->g->tensors[r->g->outputs[0]]) / batch;
    for (int64_t i = begin; i < end && r->st[w] == SNN_OK; i += batch) {
        int64_t cnt = end - i < batch ? end - i : batch; /* the last batch may be short */
        for (int64_t s = 0; s < cnt && r->st[w] == SNN_OK; s++)
            r->st[w] = api_fetch(r->src, i + s, r->pp, x + s * size, &r->diag[w]);
        if (r->st[w] != SNN_OK)
            break;
        const float *feed[1] = {x};
        if ((r->st[w] = snn_eval_run(&ev, feed, &r->diag[w])) != SNN_OK)
            break;
        for (int64_t s = 0; s < cnt; s++) {
            const float *y = snn_eval_output(&ev, 0) + s * n_out;
            int32_t best = 0;
            for (int64_t k = 1; k < n_out; k++)
                if (y[k] > y[best])
                    best = (int32_t)k;
            r->pred[i + s] = best;
        }
        int64_t d = atomic_fetch_add(&r->done, cnt) + cnt;
        if (w == 0 && r->o->progress && d / 100 != (d - cnt) / 100 && d < r->n)
            r->o->progress(r->o->progress_ctx, "ANN", d, r->n);
    }
    free(x);
    snn_eval_free(&ev);
}

snn_status api_classify(const snn_graph *g, const ann2snn_samples *src, int64_t n, const snn_preprocess *pp,
                        const api_classify_opts *o, int32_t *pred, snn_diag *diag)
{
    if (g->n_inputs != 1 || g->n_outputs < 1)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, "needs a model with one input (it has %d)", g->n_inputs);
    const snn_tensor *in = &g->tensors[g->inputs[0]];
    if (snn_tensor_numel(in) != src->sample_size * o->batch)
        return snn_diag_set(diag, SNN_ERR_INVALID, "samples have %lld values, the model's input '%s' takes %lld",
                            (long long)src->sample_size, in->name, (long long)(snn_tensor_numel(in) / o->batch));
    classify_run *r = calloc(1, sizeof *r);
    if (!r)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    api_classify_opts oc = *o;
    oc.workers = oc.workers < 1 ? 1 : oc.workers > SNN_MAX_THREADS ? SNN_MAX_THREADS : oc.workers;
    *r = (classify_run){.g = g, .src = src, .pp = pp, .o = &oc, .n = n, .pred = pred};
    snn_eval_weights weights = {0};
    snn_status st = oc.reference ? SNN_OK : snn_eval_weights_make(&weights, g, oc.workers, diag);
    if (st != SNN_OK) {
        free(r);
        return st;
    }
    r->weights = oc.reference ? NULL : &weights;
    st = snn_parallel_run(oc.workers, classify_worker, r, diag);
    snn_eval_weights_free(&weights);
    if (st == SNN_OK && oc.progress)
        oc.progress(oc.progress_ctx, "ANN", n, n);
    for (int w = 0; st == SNN_OK && w < oc.workers; w++)
        if (r->st[w] != SNN_OK) {
            st = r->st[w];
            if (diag)
                *diag = r->diag[w];
        }
    free(r);
    if (st == SNN_OK && oc.split && oc.split->ranks > 1 && oc.split->all_reduce) /* every process gets all */
        oc.split->all_reduce(oc.split->ctx, ANN2SNN_REDUCE_GATHER_I32, pred, n);
    return st;
}
