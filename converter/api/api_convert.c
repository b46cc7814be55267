/* ann2snn_convert(): options resolved to their defaults and checked, calibration over worker
 * threads (and processes, through the caller's all_reduce), threshold balancing, correction for
 * a target T, quantisation, and the .snn bytes with a JSON report. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "base/parallel.h"
#include "calib.h"
#include "correct/correct.h"
#include "eval/eval.h"
#include "ir/rebatch.h"
#include "snn_net.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A growing text of notes, one per line. */
typedef struct {
    char *text;
    size_t len, cap;
} notes;

static void note(notes *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void note(notes *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    size_t need = n->len + (size_t)k + 2;
    if (need > n->cap) {
        char *t = realloc(n->text, need * 2);
        if (!t)
            return; /* a note lost to memory; the conversion goes on */
        n->text = t, n->cap = need * 2;
    }
    va_start(ap, fmt);
    vsnprintf(n->text + n->len, (size_t)k + 1, fmt, ap);
    va_end(ap);
    n->len += (size_t)k;
    n->text[n->len++] = '\n';
    n->text[n->len] = '\0';
}

/* ------------------------------------------------------------------ samples */

typedef struct {
    const ann2snn_samples *src;
    const snn_preprocess *pp;
} sample_source;

static snn_status preprocessed_sample(void *ctx, int64_t i, float *x, snn_diag *diag)
{
    const sample_source *s = ctx;
    return api_fetch(s->src, i, s->pp, x, diag);
}

/* ------------------------------------------------------------------ calibration */

/* Calibration split over workers (base/parallel.h): each runs the float evaluator on the
 * batches it takes into statistics of its own, which are then merged; maxima and counts merge
 * exactly, so the .snn bytes are the same for every thread count.
 *
 * The evaluator runs batches of samples (the graph seen through ir/rebatch.h), so each weight
 * is read once per batch: one sample at a time, VGG-11's 37 MB of weights streamed from memory
 * for every sample and two workers shared that bandwidth. The batches are fixed by sample
 * index (batch k holds samples kB .. kB+B-1); processes split whole batches, and a process's
 * workers take its batches in turn from a shared counter, which balances them. Which worker
 * took a batch does not matter: statistics merge exactly, and the evaluator gives a sample
 * the same bits at any place of any batch (snn_eval_init_samples). */
typedef struct {
    const snn_graph *g;  /* one sample: the statistics' shapes */
    const snn_graph *gb; /* batch samples: what the evaluators run (g itself when batch is 1) */
    const snn_eval_weights *weights; /* the Conv weights packed once for every worker */
    int64_t batch;
    const ann2snn_samples *src;
    const snn_preprocess *pp;
    const ann2snn_options *o;
    int64_t n;
    int workers;
    calib_stats stats[SNN_MAX_THREADS];             /* per worker */
    float lo[SNN_MAX_THREADS], hi[SNN_MAX_THREADS]; /* per worker: the preprocessed input's range */
    snn_status st[SNN_MAX_THREADS];
    snn_diag diag[SNN_MAX_THREADS];
    _Atomic int64_t next; /* the process's next batch, from its first */
    _Atomic int64_t done;
} calib_run;

/* Samples per calibration batch: up to 16, and no more than CALIB_BATCH_BYTES of run-time
 * tensors per worker (an upper bound of its evaluator's arena), so an ImageNet-sized net runs
 * one sample at a time rather than exhausting memory. Depends on the model and n only. */
#define CALIB_BATCH_MAX 16
#define CALIB_BATCH_BYTES ((int64_t)128 << 20)

static int64_t calib_batch_size(const snn_graph *g, int64_t n)
{
    int64_t per_sample = 0;
    for (int i = 0; i < g->n_tensors; i++)
        if (!(g->tensors[i].flags & SNN_TENSOR_CONST))
            per_sample += snn_tensor_numel(&g->tensors[i]) * (int64_t)sizeof(float);
    int64_t b = per_sample > 0 ? CALIB_BATCH_BYTES / per_sample : 1;
    b = b > CALIB_BATCH_MAX ? CALIB_BATCH_MAX : b;
    b = b > n ? n : b;
    return b < 1 ? 1 : b;
}

static void calib_worker(void *arg, int w)
{
    calib_run *r = arg;
    int64_t first, last, size = r->src->sample_size; /* this process's batches [first, last) */
    api_worker_range(r->o->split, (r->n + r->batch - 1) / r->batch, 1, 0, &first, &last);
    r->lo[w] = INFINITY, r->hi[w] = -INFINITY;
    snn_eval ev;
    memset(&ev, 0, sizeof ev);
    float *x = calloc((size_t)(size * r->batch), sizeof *x); /* (batch, sample) */
    r->st[w] = !x ? snn_diag_set(&r->diag[w], SNN_ERR_NOMEM, "out of memory") : SNN_OK;
    if (r->st[w] == SNN_OK)
        r->st[w] = calib_init(&r->stats[w], r->g, &r->diag[w]);
    if (r->st[w] == SNN_OK)
        r->st[w] = snn_eval_init_samples(&ev, r->gb, r->g, r->weights, &r->diag[w]);
    if (r->st[w] == SNN_OK)
        snn_eval_use_reference(&ev, r->o->reference_kernels);
    for (int64_t k = first + atomic_fetch_add(&r->next, 1); k < last && r->st[w] == SNN_OK;
         k = first + atomic_fetch_add(&r->next, 1)) {
        int64_t i0 = k * r->batch, cnt = r->n - i0 < r->batch ? r->n - i0 : r->batch; /* the last may be short */
        for (int64_t s = 0; s < cnt && r->st[w] == SNN_OK; s++)
            r->st[w] = api_fetch(r->src, i0 + s, r->pp, x + s * size, &r->diag[w]);
        if (r->st[w] != SNN_OK)
            break;
        for (int64_t j = 0; j < cnt * size; j++) {
            r->lo[w] = fminf(r->lo[w], x[j]);
            r->hi[w] = fmaxf(r->hi[w], x[j]);
        }
        const float *feed[1] = {x};
        if ((r->st[w] = snn_eval_run(&ev, feed, &r->diag[w])) != SNN_OK)
            break;
        calib_add_samples(&r->stats[w], &ev, cnt);
        int64_t d = atomic_fetch_add(&r->done, cnt) + cnt;
        if (w == 0 && r->o->progress && d / 50 != (d - cnt) / 50 && d < r->n)
            r->o->progress(r->o->progress_ctx, "calibration", d, r->n);
    }
    free(x);
    snn_eval_free(&ev);
}

/* Every process's statistics and input range merged into each one's copy, as calib_merge()
 * merges workers: maxima and counts, so the result is exactly one process's. */
static void reduce_processes(const ann2snn_split *sp, calib_stats *cs, float *in_lo, float *in_hi)
{
    if (!sp || sp->ranks <= 1 || !sp->all_reduce)
        return;
    for (int i = 0; i < cs->g->n_tensors; i++) {
        calib_tensor *t = &cs->t[i];
        if (!t->channels || t->same_as >= 0)
            continue;
        sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_MAX_F32, t->max, t->channels);
        sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_U64, t->n_pos, t->channels);
        sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_U64, t->n_total, t->channels);
        sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_U32, t->hist, (int64_t)t->channels * CALIB_BINS);
    }
    sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_I64, &cs->samples, 1);
    sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_MIN_F32, in_lo, 1);
    sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_MAX_F32, in_hi, 1);
}

/* Statistics of the first n samples of src into cs (initialised here), and the preprocessed
 * input's range. */
static snn_status calibrate(const snn_graph *g, const ann2snn_samples *src, int64_t n, const snn_preprocess *pp,
                            const ann2snn_options *o, int workers, calib_stats *cs, float *in_lo, float *in_hi,
                            snn_diag *diag)
{
    snn_status st = calib_init(cs, g, diag);
    if (st != SNN_OK)
        return st;
    calib_run *r = calloc(1, sizeof *r);
    if (!r) {
        calib_free(cs);
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    }
    *r = (calib_run){.g = g, .gb = g, .batch = 1, .src = src, .pp = pp, .o = o, .n = n, .workers = workers};
    /* A graph that cannot be batched (a node mixes samples: see ir/rebatch.h) is calibrated
     * one sample at a time; the statistics are the same either way. */
    snn_graph gb;
    int64_t batch = calib_batch_size(g, n);
    bool batched = batch > 1 && snn_graph_rebatch(g, batch, &gb, NULL) == SNN_OK;
    if (batched)
        r->gb = &gb, r->batch = batch;
    snn_eval_weights weights = {0};
    if (!o->reference_kernels && (st = snn_eval_weights_make(&weights, g, workers, diag)) != SNN_OK) {
        calib_free(cs);
        free(r);
        if (batched)
            snn_graph_rebatch_free(&gb);
        return st;
    }
    r->weights = o->reference_kernels ? NULL : &weights;
    st = snn_parallel_run(workers, calib_worker, r, diag);
    snn_eval_weights_free(&weights);
    if (batched)
        snn_graph_rebatch_free(&gb);
    if (o->progress && st == SNN_OK)
        o->progress(o->progress_ctx, "calibration", n, n);
    *in_lo = INFINITY, *in_hi = -INFINITY;
    for (int w = 0; w < workers; w++) { /* merged in worker order: the same for every count */
        if (st == SNN_OK && r->st[w] != SNN_OK) {
            st = r->st[w];
            if (diag)
                *diag = r->diag[w];
        }
        if (st == SNN_OK && w == 0) { /* the first worker's statistics become the result */
            calib_free(cs);
            *cs = r->stats[0];
            memset(&r->stats[0], 0, sizeof r->stats[0]);
        } else if (st == SNN_OK) {
            calib_merge(cs, &r->stats[w]);
        }
        *in_lo = fminf(*in_lo, r->lo[w]);
        *in_hi = fmaxf(*in_hi, r->hi[w]);
        if (r->stats[w].t)
            calib_free(&r->stats[w]);
    }
    free(r);
    if (st == SNN_OK)
        reduce_processes(o->split, cs, in_lo, in_hi);
    return st;
}

/* ------------------------------------------------------------------ report */

static const char *norm_name(uint32_t n)
{
    static const char *const names[] = {"model", "max", "percentile", "channel", "tsearch", "tsearch-layer"};
    return n < sizeof names / sizeof names[0] ? names[n] : "?";
}

/* Per-layer scales, thresholds and calibration statistics, as JSON. */
static char *report_json(const snn_net *net, const snn_graph *g, const calib_stats *cs, const char *model)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "norm", norm_name(net->norm));
    cJSON_AddNumberToObject(root, "percentile", (double)net->percentile);
    cJSON_AddNumberToObject(root, "calibration_samples", net->calib_count);
    cJSON_AddStringToObject(root, "reset", net->reset == SNN_RESET_SUBTRACT ? "subtract" : "zero");
    cJSON_AddStringToObject(root, "spikes", net->signed_spikes ? "signed" : "positive");
    cJSON_AddNumberToObject(root, "v_init", (double)net->v_init);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    static const char *const kinds[] = {"?", "neuron", "maxpool", "concat"};
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const net_layer *L = &net->layers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", L->name);
        cJSON_AddStringToObject(o, "kind", kinds[L->kind <= 3 ? L->kind : 0]);
        cJSON_AddBoolToObject(o, "output", (L->flags & SNN_LAYER_F_OUTPUT) != 0);
        int shape[3] = {(int)L->c, (int)L->h, (int)L->w};
        cJSON_AddItemToObject(o, "shape", cJSON_CreateIntArray(shape, 3));
        cJSON_AddNumberToObject(o, "projections", L->proj_count);
        if (L->lambda) {
            float lo = INFINITY, hi = 0;
            for (uint32_t c = 0; c < L->c; c++) {
                lo = fminf(lo, L->lambda[c]);
                hi = fmaxf(hi, L->lambda[c]);
            }
            cJSON_AddNumberToObject(o, "scale_min", (double)lo);
            cJSON_AddNumberToObject(o, "scale_max", (double)hi);
            if (L->c <= 1024)
                cJSON_AddItemToObject(o, "scale", cJSON_CreateFloatArray(L->lambda, (int)L->c));
        }
        if (L->threshold)
            cJSON_AddNumberToObject(o, "threshold", (double)L->threshold[0]);
        if (cs && L->tensor >= 0 && cs->t[L->tensor].channels) {
            cJSON *st = cJSON_AddObjectToObject(o, "calibration");
            cJSON_AddStringToObject(st, "tensor", g->tensors[L->tensor].name);
            cJSON_AddNumberToObject(st, "max", (double)calib_max(cs, L->tensor, -1));
            cJSON_AddNumberToObject(st, "p99", (double)calib_percentile(cs, L->tensor, -1, 99.0));
            cJSON_AddNumberToObject(st, "p99_9", (double)calib_percentile(cs, L->tensor, -1, 99.9));
            cJSON_AddNumberToObject(st, "p99_99", (double)calib_percentile(cs, L->tensor, -1, 99.99));
            uint64_t pos = 0, tot = 0;
            for (int c = 0; c < cs->t[L->tensor].channels; c++) {
                pos += cs->t[L->tensor].n_pos[c];
                tot += cs->t[L->tensor].n_total[c];
            }
            cJSON_AddNumberToObject(st, "positive_fraction", tot ? (double)pos / (double)tot : 0.0);
        }
        cJSON_AddItemToArray(layers, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

/* TTFS is exact up to values beyond a layer's window (clipped to it). Say where calibration
 * saw that, and how often. */
static void note_ttfs_clipping(notes *out, const snn_net *net, const calib_stats *cs, const snn_graph *g)
{
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const net_layer *L = &net->layers[i];
        if (L->kind != SNN_LAYER_NEURON || (L->flags & SNN_LAYER_F_OUTPUT) || !L->lambda || L->tensor < 0 ||
            !cs->t[L->tensor].channels)
            continue;
        double above = 0.0;
        if (cs->t[L->tensor].channels == (int)L->c) /* each channel against its own window */
            for (uint32_t c = 0; c < L->c; c++)
                above += calib_fraction_above(cs, L->tensor, (int)c, L->lambda[c]) / L->c;
        else
            above = calib_fraction_above(cs, L->tensor, -1, L->lambda[0]);
        if (above > 0.0)
            note(out, "TTFS layer '%s' (%s): up to %.4f %% of the calibration activations exceed its window and are "
                      "clipped; the mapping is exact for the rest", L->name, g->tensors[L->tensor].name, 100.0 * above);
    }
}

/* "N layers, ... ; norm ..." */
static char *summary_line(const snn_net *net, bool potential)
{
    uint64_t neurons = 0, weights = 0;
    for (uint32_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].kind == SNN_LAYER_NEURON && !(net->layers[i].flags & SNN_LAYER_F_OUTPUT))
            neurons += (uint64_t)net->layers[i].c * net->layers[i].h * net->layers[i].w;
    for (uint32_t i = 0; i < net->n_proj; i++)
        weights += net->proj[i].n_w;
    char *s = malloc(512);
    if (!s)
        return NULL;
    int k = snprintf(s, 512, "%u layers, %llu spiking neurons, %llu weights; norm %s", net->n_layers,
                     (unsigned long long)neurons, (unsigned long long)weights, norm_name(net->norm));
#define MORE(...) (k += snprintf(s + k, (size_t)(512 - k), __VA_ARGS__))
    if (net->norm == SNN_NORM_PERCENTILE || net->norm == SNN_NORM_CHANNEL)
        MORE("=%g", (double)net->percentile);
    MORE(" on %u samples", net->calib_count);
    MORE("%s", net->coding == SNN_CODING_TTFS ? "; coding ttfs" : net->signed_spikes ? "; signed spikes"
                                                                                     : "; positive spikes");
    if (net->weight_dtype != SNN_DTYPE_F32)
        MORE("; %s", net->weight_dtype == SNN_DTYPE_I8 ? "int8" : "int16");
    if (net->burst)
        MORE("; bursts of up to %u", net->burst);
    if (net->correct_steps)
        MORE("; %s corrected for T = %u", potential ? "initial membranes" : "biases", net->correct_steps);
#undef MORE
    return s;
}

/* ------------------------------------------------------------------ conversion */

/* The largest |(b * scale - mean) / std| over raw bytes b in 0..255 and every channel. */
static float raw_byte_absmax(const snn_preprocess *pp)
{
    int nc = pp->channels > 1 ? pp->channels : 1;
    float m = 0.0f;
    for (int k = 0; k < nc; k++) {
        float mean = pp->channels > 1 ? pp->mean_c[k] : pp->mean, std = pp->channels > 1 ? pp->std_c[k] : pp->std;
        m = fmaxf(m, fmaxf(fabsf((255.0f * pp->scale - mean) / std), fabsf(mean / std)));
    }
    return m;
}

/* The options as snn_build() takes them, with the defaults that depend on other options
 * resolved and the combinations that do not go refused. */
static ann2snn_status resolve(const ann2snn_options *o, bool has_samples, snn_build_opts *bo, ann2snn_diag *diag)
{
    static const uint32_t norms[] = {
        [ANN2SNN_NORM_MAX] = SNN_NORM_MAX, [ANN2SNN_NORM_PERCENTILE] = SNN_NORM_PERCENTILE,
        [ANN2SNN_NORM_CHANNEL] = SNN_NORM_CHANNEL, [ANN2SNN_NORM_MODEL] = SNN_NORM_MODEL,
        [ANN2SNN_NORM_TSEARCH] = SNN_NORM_TSEARCH, [ANN2SNN_NORM_TSEARCH_LAYER] = SNN_NORM_TSEARCH_LAYER};
    static const uint32_t codings[] = {SNN_CODING_DIRECT, SNN_CODING_POISSON, SNN_CODING_TTFS};
    if ((unsigned)o->norm > ANN2SNN_NORM_TSEARCH_LAYER || (unsigned)o->coding > ANN2SNN_CODING_TTFS ||
        (unsigned)o->precision > ANN2SNN_PRECISION_INT8 || (unsigned)o->data_free > ANN2SNN_DATA_FREE_MODEL ||
        (unsigned)o->reset > ANN2SNN_RESET_ZERO || (unsigned)o->spikes > ANN2SNN_SPIKES_POSITIVE ||
        (unsigned)o->readout > ANN2SNN_READOUT_SPIKES || (unsigned)o->correct > ANN2SNN_CORRECT_POTENTIAL)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "an option holds a value outside its enumeration");
    if (o->burst > SNN_MAX_BURST || !(o->v_init >= 0.0f && o->v_init <= 1.0f) ||
        !(o->headroom >= 1.0f && o->headroom <= 1000.0f) || o->calib_count < 1 || o->correct_count < 1 ||
        o->correct_rounds < 1 || o->correct_rounds > 16 || o->calibrate_for > 4096 || o->tsearch_steps > 4096 ||
        o->threads < 0 || o->threads > SNN_MAX_THREADS || o->steps > (1 << 20) ||
        !(o->percentile > 0.0 && o->percentile <= 100.0) || o->n_mean < 0 || o->n_mean > ANN2SNN_MAX_CHANNELS ||
        o->n_std < 0 || o->n_std > ANN2SNN_MAX_CHANNELS)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "an option holds a value outside its range (ann2snn --help)");
    for (int k = 0; k < o->n_std; k++)
        if (o->std[k] == 0.0f)
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--std must not be 0");
    snn_build_opts_init(bo);
    bool float32 = o->precision == ANN2SNN_PRECISION_FLOAT32, ttfs = o->coding == ANN2SNN_CODING_TTFS;
    bo->reset = o->reset == ANN2SNN_RESET_ZERO ? SNN_RESET_ZERO : SNN_RESET_SUBTRACT;
    bo->coding = codings[o->coding];
    bo->v_init = o->v_init;
    bo->readout = o->readout == ANN2SNN_READOUT_SPIKES ? SNN_READOUT_SPIKES : SNN_READOUT_MEMBRANE;
    bo->headroom = o->headroom;
    bo->percentile = o->percentile;
    if (o->norm != ANN2SNN_NORM_AUTO)
        bo->norm = norms[o->norm];
    if (o->burst > 1 && (ttfs || !float32 || o->reset != ANN2SNN_RESET_SUBTRACT))
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--burst needs float32 rate coding with --reset subtract");
    if (o->correct != ANN2SNN_CORRECT_BIAS && !o->calibrate_for)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--correct chooses what --calibrate-for T corrects; give that too");
    if (o->correct == ANN2SNN_CORRECT_POTENTIAL && !float32)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--correct potential needs --precision float32 (integer files keep "
                                                    "one initial membrane per channel)");
    bo->target_steps = o->tsearch_steps ? o->tsearch_steps : o->calibrate_for ? o->calibrate_for
                                                                              : SNN_DEFAULT_TARGET_STEPS;
    bool synthetic = !has_samples && o->data_free != ANN2SNN_DATA_FREE_MODEL;
    if (synthetic && o->data_free == ANN2SNN_DATA_FREE_BN)
        bo->bn_prior_k = o->bn_k; /* data-free only: with samples the samples decide */
    if (o->calibrate_for && (ttfs || (!has_samples && !synthetic)))
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--calibrate-for needs rate coding and calibration samples "
                                                    "(--calib, or synthetic ones)");
    bo->signed_spikes = o->spikes != ANN2SNN_SPIKES_POSITIVE;
    if (bo->signed_spikes && (ttfs || bo->reset != SNN_RESET_SUBTRACT)) {
        if (o->spikes == ANN2SNN_SPIKES_SIGNED)
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--spikes signed needs rate coding with --reset subtract");
        bo->signed_spikes = 0;
    }
    if (ttfs && !float32)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--precision int16/int8 files are rate-coded; TTFS runs in float32");
    /* The low-latency defaults (snn_net.h) for the files that can burst: float32, rate coding,
     * reset by subtraction. Integer and TTFS files keep the plain neuron. */
    bool can_burst = !ttfs && float32 && bo->reset == SNN_RESET_SUBTRACT;
    bo->burst = o->burst ? o->burst : can_burst ? SNN_DEFAULT_BURST : 1;
    if (can_burst && o->norm == ANN2SNN_NORM_AUTO && has_samples)
        bo->norm = SNN_DEFAULT_NORM;
    int64_t steps = o->steps;
    if (ttfs) {
        if (o->norm == ANN2SNN_NORM_AUTO) { /* no clipping where calibration reaches: exact on those values */
            bo->norm = SNN_NORM_CHANNEL;
            bo->percentile = 100.0;
        }
        if (bo->readout != SNN_READOUT_MEMBRANE)
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--readout spikes: a TTFS network reads out the membrane");
        steps = steps < 0 ? 0 : steps;
    } else if (steps == 0) {
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--steps 0 (exact spike times) needs --coding ttfs");
    }
    bo->steps = (uint32_t)(steps < 0 ? (bo->burst > 1 ? SNN_DEFAULT_BURST_STEPS : 64) : steps);
    return ANN2SNN_OK;
}

static const snn_synthetic_kind synthetic_kinds[] = {
    [ANN2SNN_DATA_FREE_BN] = SNN_SYNTH_UNIFORM, /* for the layers without BN */
    [ANN2SNN_DATA_FREE_UNIFORM] = SNN_SYNTH_UNIFORM, [ANN2SNN_DATA_FREE_SMOOTH] = SNN_SYNTH_SMOOTH,
    [ANN2SNN_DATA_FREE_MIX] = SNN_SYNTH_MIX};
static const uint32_t calib_sources[] = {
    [ANN2SNN_DATA_FREE_BN] = SNN_CALIB_SYNTH_UNIFORM, [ANN2SNN_DATA_FREE_UNIFORM] = SNN_CALIB_SYNTH_UNIFORM,
    [ANN2SNN_DATA_FREE_SMOOTH] = SNN_CALIB_SYNTH_SMOOTH, [ANN2SNN_DATA_FREE_MIX] = SNN_CALIB_SYNTH_MIX};

ann2snn_status ann2snn_options_check(const ann2snn_options *o, bool has_samples, ann2snn_diag *diag)
{
    snn_build_opts bo;
    return o ? resolve(o, has_samples, &bo, diag) : ANN2SNN_OK;
}

ann2snn_status ann2snn_convert(const ann2snn_model *model, const ann2snn_samples *calib, const ann2snn_options *opts,
                               ann2snn_result *result, ann2snn_diag *diag)
{
    if (!result)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_convert: no place for the result");
    memset(result, 0, sizeof *result);
    if (!model)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_convert: no model");
    if (calib && (calib->n < 1 || calib->sample_size < 1 || (!calib->values && !calib->get)))
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_convert: calibration samples without values (n %lld, "
                        "sample size %lld)", (long long)calib->n, (long long)calib->sample_size);
    ann2snn_options defaults;
    ann2snn_options_init(&defaults);
    const ann2snn_options *o = opts ? opts : &defaults;
    snn_build_opts bo;
    ann2snn_status as = resolve(o, calib != NULL, &bo, diag);
    if (as != ANN2SNN_OK)
        return as;
    double t0 = now_s();
    snn_graph g = model->graph; /* a shallow copy: only its preprocessing fields are written */
    const char *name = model->name && model->name[0] ? model->name : "model";
    bool synthetic = !calib && o->data_free != ANN2SNN_DATA_FREE_MODEL;
    int workers = o->threads ? o->threads : snn_cpu_count();
    float input_absmax = 0.0f; /* the largest |preprocessed input| an integer file represents */
    notes nt = {0};
    snn_diag d;
    snn_diag_clear(&d);
    snn_status st = SNN_OK;
    snn_dataset synth;
    calib_stats cs;
    snn_net net;
    memset(&synth, 0, sizeof synth);
    memset(&cs, 0, sizeof cs);
    memset(&net, 0, sizeof net);
    ann2snn_samples synth_src;
    const ann2snn_samples *src = calib;
    snn_preprocess pp;
    if (!calib && !synthetic) {
        if (o->norm != ANN2SNN_NORM_MODEL)
            note(&nt, "no --calib data: model-based normalisation (Diehl et al. 2015), which needs many more time "
                      "steps (docs/models.md)");
        bo.norm = SNN_NORM_MODEL;
        if ((as = api_pick_preprocess(o, &g, true, &pp, diag)) != ANN2SNN_OK)
            goto done;
        /* The largest preprocessed input of raw bytes 0..255, over every channel. */
        int nc = pp.channels > 1 ? pp.channels : 1;
        bo.input_max = -INFINITY;
        for (int k = 0; k < nc; k++) {
            float mean = pp.channels > 1 ? pp.mean_c[k] : pp.mean;
            float std = pp.channels > 1 ? pp.std_c[k] : pp.std;
            bo.input_max = fmaxf(bo.input_max, fmaxf((255.0f * pp.scale - mean) / std, (0.0f - mean) / std));
        }
    } else if (synthetic) {
        const snn_tensor *in = &g.tensors[g.inputs[0]];
        if (g.n_inputs != 1 || in->rank < 2) {
            as = api_fail(diag, ANN2SNN_ERR_UNSUPPORTED, "%s: synthetic calibration needs one input of shape (N, ...)",
                          name);
            goto done;
        }
        if ((st = snn_dataset_synthetic(&synth, in->dims + 1, in->rank - 1, o->calib_count,
                                        synthetic_kinds[o->data_free], &d)) != SNN_OK)
            goto failed;
        synth_src = (ann2snn_samples){.values = synth.x, .n = synth.n, .sample_size = synth.sample_size,
                                      .raw_bytes = synth.from_uint8};
        src = &synth_src;
        if (o->norm == ANN2SNN_NORM_AUTO)
            bo.norm = SNN_NORM_MAX; /* measured: the layer-wise maximum suits noise best (docs/models.md) */
        int bn_layers = 0; /* BatchNormalization outputs whose statistics can set a range */
        for (int t = 0; t < g.n_tensors && bo.bn_prior_k > 0.0f; t++)
            bn_layers += g.tensors[t].bn_prior != NULL;
        if (!bn_layers)
            bo.bn_prior_k = 0.0f; /* nothing to take them from: uniform noise, recorded as such */
        char bn_note[96] = "";
        if (bn_layers)
            snprintf(bn_note, sizeof bn_note, ", and its %d BatchNormalization layers' statistics (beta + %g |gamma|)",
                     bn_layers, (double)bo.bn_prior_k);
        note(&nt, "no --calib data: calibrating on %lld synthetic images (%s) with %s%s; measured on the bundled models "
                  "with the default bursts, this costs up to 0.25 pp at T = 32 and 1.7 pp at T = 8 against real "
                  "calibration data (docs/models.md). Give --calib for the best SNN", (long long)o->calib_count,
             o->data_free == ANN2SNN_DATA_FREE_MIX ? "half uniform, half smoothed noise"
             : o->data_free == ANN2SNN_DATA_FREE_SMOOTH ? "smoothed noise" : "uniform noise",
             bo.norm == SNN_NORM_MAX ? "the layer-wise maximum" : "the chosen --norm", bn_note);
    }
    if (src) {
        const snn_tensor *in = &g.tensors[g.inputs[0]];
        if (g.n_inputs != 1 || snn_tensor_numel(in) != src->sample_size) {
            as = api_fail(diag, ANN2SNN_ERR_INVALID, "%s: samples have %lld values, the model's input takes %lld",
                          calib ? "calibration data" : "synthetic data", (long long)src->sample_size,
                          (long long)snn_tensor_numel(in));
            goto done;
        }
        if ((as = api_pick_preprocess(o, &g, src->raw_bytes, &pp, diag)) != ANN2SNN_OK)
            goto done;
        float in_lo, in_hi;
        int64_t n = src->n < o->calib_count ? src->n : o->calib_count;
        if ((st = calibrate(&g, src, n, &pp, o, workers, &cs, &in_lo, &in_hi, &d)) != SNN_OK)
            goto failed;
        /* TTFS codes the input range in spike times: raw bytes have theirs (0..255, the
         * build's default); float data take the calibration range. */
        if (!src->raw_bytes && in_lo < in_hi)
            bo.input_lo = in_lo, bo.input_hi = in_hi;
        if (in_lo <= in_hi)
            input_absmax = fmaxf(fabsf(in_lo), fabsf(in_hi));
    }
    if (!calib || calib->raw_bytes) /* raw bytes: their whole range, not only the samples' */
        input_absmax = fmaxf(input_absmax, raw_byte_absmax(&pp));
    g.pre_scale = pp.scale, g.pre_mean = pp.mean, g.pre_std = pp.std;
    g.pre_channels = pp.channels;
    for (int k = 0; k < pp.channels; k++)
        g.pre_mean_c[k] = pp.mean_c[k], g.pre_std_c[k] = pp.std_c[k];
    result->calib_seconds = now_s() - t0;
    bo.workers = workers;
    if ((st = snn_build(&g, src ? &cs : NULL, &bo, &net, &d)) != SNN_OK)
        goto failed;
    net.calib_source = synthetic ? calib_sources[o->data_free] : SNN_CALIB_DATA;
    if (bo.bn_prior_k > 0.0f)
        net.calib_source |= SNN_CALIB_BN_PRIOR;
    bool potential = o->correct == ANN2SNN_CORRECT_POTENTIAL;
    if (o->calibrate_for) {
        sample_source ss = {.src = src, .pp = &pp};
        int64_t n = src->n < o->correct_count ? src->n : o->correct_count;
        snn_correct_opts co = {.steps = o->calibrate_for, .samples = n < o->calib_count ? n : o->calib_count,
                               .rounds = o->correct_rounds, .sample = preprocessed_sample, .ctx = &ss,
                               .workers = workers, .reference = o->reference_kernels};
        st = potential ? snn_net_correct_potential(&net, &g, &co, &d) : snn_net_correct_bias(&net, &g, &co, &d);
        if (st != SNN_OK)
            goto failed;
    }
    static const uint32_t dtypes[] = {SNN_DTYPE_F32, SNN_DTYPE_I16, SNN_DTYPE_I8};
    if (o->precision != ANN2SNN_PRECISION_FLOAT32 &&
        (st = snn_net_quantize(&net, dtypes[o->precision], input_absmax, &d)) != SNN_OK)
        goto failed;
    memcpy(net.sha256, model->sha256, sizeof net.sha256);
    if ((st = snn_net_serialize(&net, &result->bytes, &result->size, &d)) != SNN_OK)
        goto failed;
    if (bo.coding == SNN_CODING_TTFS && src)
        note_ttfs_clipping(&nt, &net, &cs, &g);
    result->report = report_json(&net, &g, src ? &cs : NULL, name);
    result->summary = summary_line(&net, potential);
    result->notes = nt.text ? nt.text : calloc(1, 1);
    nt.text = NULL;
    if (!result->report || !result->summary || !result->notes) {
        ann2snn_result_free(result);
        as = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    as = ANN2SNN_OK;
    goto done;
failed:
    as = api_status(st, &d, diag);
done:
    free(nt.text);
    snn_net_free(&net);
    calib_free(&cs);
    snn_dataset_free(&synth);
    return as;
}

void ann2snn_result_free(ann2snn_result *result)
{
    if (!result)
        return;
    free(result->bytes);
    free(result->report);
    free(result->notes);
    free(result->summary);
    memset(result, 0, sizeof *result);
}
