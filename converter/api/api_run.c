/* ann2snn_run(): a .snn file run on samples held in memory, as snn-run runs it (the file's
 * preprocessing, Poisson input seeded per sample, every thread count alike), through the
 * runtime. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "base/parallel.h"
#include "snn_format.h"
#include "snn_runtime.h"

typedef struct {
    const snn_model *m;
    const float *x; /* (n, input_size) raw samples */
    int64_t n;
    uint32_t coding, T, R;
    uint64_t seed;
    int workers;
    float *outputs;       /* (n, n_classes) or NULL */
    int32_t *predictions; /* (n) or NULL */
    uint64_t *spikes, *synops; /* (workers, n_layers) per worker */
    uint8_t failed[SNN_MAX_THREADS];
    const ann2snn_run_options *o; /* progress */
    _Atomic int64_t done;
} run_ctx;

static void run_worker(void *arg, int w)
{
    run_ctx *c = arg;
    const snn_model *m = c->m;
    int64_t begin, end;
    snn_parallel_range(c->n, c->workers, w, &begin, &end);
    size_t mem_size = snn_state_mem_size(m);
    void *mem = malloc(mem_size);
    float *x = malloc(m->input_size * sizeof *x);
    snn_state s;
    if (!mem || !x || snn_state_init(&s, m, mem, mem_size) != SNN_RT_OK) {
        c->failed[w] = 1;
        begin = end;
    }
    uint64_t *spikes = c->spikes + (size_t)w * m->n_layers, *synops = c->synops + (size_t)w * m->n_layers;
    for (int64_t i = begin; i < end; i++) {
        snn_preprocess_f32(m, c->x + (size_t)i * m->input_size, x); /* the file's preprocessing */
        if (c->coding == SNN_CODING_TTFS) {
            snn_state_run_ttfs(&s, x, c->R);
        } else {
            snn_state_begin(&s, x, c->coding, c->seed + (uint64_t)i); /* seeded per sample */
            for (uint32_t t = 0; t < c->T; t++)
                snn_state_step(&s);
        }
        if (c->predictions)
            c->predictions[i] = snn_state_predict(&s);
        if (c->outputs)
            memcpy(c->outputs + (size_t)i * m->n_classes, snn_state_output(&s), m->n_classes * sizeof(float));
        for (uint32_t l = 0; l < m->n_layers; l++)
            spikes[l] += s.stats[l].spikes, synops[l] += s.stats[l].synops;
        int64_t d = ++c->done;
        if (w == 0 && c->o->progress && d % 50 == 0 && d < c->n)
            c->o->progress(c->o->progress_ctx, "SNN", d, c->n);
    }
    free(x);
    free(mem);
}

ann2snn_status ann2snn_run(const void *bytes, size_t len, const float *samples, int64_t n, int64_t sample_size,
                           const ann2snn_run_options *o, float *outputs, int32_t *predictions, uint64_t *layer_spikes,
                           uint64_t *layer_synops, ann2snn_diag *diag)
{
    ann2snn_run_options defaults = {.coding = -1, .seed = 1};
    if (!o)
        o = &defaults;
    if ((!bytes && len) || (!samples && n) || n < 0)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_run: no file or no samples");
    if (o->coding < -1 || o->coding > ANN2SNN_CODING_TTFS || o->threads < 0 || o->threads > SNN_MAX_THREADS)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_run: coding %d or threads %d out of range", o->coding,
                        o->threads);
    uint8_t *file;
    snn_model *m;
    run_ctx *c = NULL;
    ann2snn_status st = api_load_snn(bytes, len, sample_size, &file, &m, diag);
    if (st != ANN2SNN_OK)
        goto done;
    if (!(c = calloc(1, sizeof *c))) {
        st = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    uint32_t coding = o->coding >= 0 ? (uint32_t)o->coding : m->coding;
    if (coding == SNN_CODING_TTFS && !(m->features & SNN_FEATURE_TTFS)) {
        st = api_fail(diag, ANN2SNN_ERR_ARGUMENT, "the file is rate-coded; convert with coding ttfs for TTFS");
        goto done;
    }
    uint32_t T = o->steps ? o->steps : m->coding == SNN_CODING_TTFS ? 64 : m->steps;
    uint32_t R = o->steps ? o->steps : m->coding == SNN_CODING_TTFS ? m->steps : 0;
    if ((m->features & SNN_FEATURE_INT) && T > SNN_MAX_INT_STEPS) {
        st = api_fail(diag, ANN2SNN_ERR_ARGUMENT, "an integer file runs at most %d steps (16-bit spike counts)",
                      SNN_MAX_INT_STEPS);
        goto done;
    }
    int workers = o->threads ? o->threads : snn_cpu_count();
    if (workers > n)
        workers = n > 0 ? (int)n : 1;
    *c = (run_ctx){.m = m, .x = samples, .n = n, .coding = coding, .T = T, .R = R, .seed = o->seed,
                   .workers = workers, .outputs = outputs, .predictions = predictions, .o = o};
    c->spikes = calloc((size_t)workers * m->n_layers + 1, sizeof *c->spikes);
    c->synops = calloc((size_t)workers * m->n_layers + 1, sizeof *c->synops);
    snn_diag d;
    snn_diag_clear(&d);
    if (!c->spikes || !c->synops) {
        st = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
    } else if (snn_parallel_run(workers, run_worker, c, &d) != SNN_OK) {
        st = api_status(SNN_ERR_NOMEM, &d, diag);
    } else {
        if (o->progress)
            o->progress(o->progress_ctx, "SNN", n, n);
        for (int w = 0; w < workers; w++)
            if (c->failed[w])
                st = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory for the simulation state");
    }
    for (uint32_t l = 0; st == ANN2SNN_OK && l < m->n_layers; l++) { /* summed in worker order */
        uint64_t sp = 0, so = 0;
        for (int w = 0; w < workers; w++)
            sp += c->spikes[(size_t)w * m->n_layers + l], so += c->synops[(size_t)w * m->n_layers + l];
        if (layer_spikes)
            layer_spikes[l] = sp;
        if (layer_synops)
            layer_synops[l] = so;
    }
    free(c->spikes);
    free(c->synops);
done:
    free(c);
    free(m);
    free(file);
    return st;
}
