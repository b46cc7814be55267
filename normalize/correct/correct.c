/* Bias correction for a target number of time steps: Li et al. 2021, "A Free Lunch From ANN:
 * Towards Efficient, Accurate Spiking Neural Networks Calibration" (ICML), sec. 4.2, the
 * "light pipeline". Clipping, quantisation to 1/T and the uneven arrival of spikes shift the
 * mean rate of a converted layer away from its ANN activation, and the shift adds up layer
 * after layer. Layer by layer, with the layers before already corrected, the SNN runs T steps
 * on calibration samples and each channel's bias moves by the difference of the means:
 *     bias[c] += theta[c] * (E[min(ANN activation / lambda[c], G)] - E[spike count / T]),
 * G the most spikes per step (the activation beyond is clipping, which no bias can mend).
 * A rate responds to its bias through a staircase (floor, clipping), so one shift leaves part
 * of the difference; each layer repeats measure-and-shift `rounds` times (a fixed point
 * iteration; tests/test_latency.c measures how the error falls with rounds).
 *
 * Potential correction (the same paper, sec. 4.2) leaves the biases alone and gives every neuron
 * its own initial membrane instead: the neuron's difference of means (over samples only, not
 * positions), times T thresholds, is charge the membrane would have gathered in T steps:
 *     v0[n] += T * theta[c] * (E[min(ANN activation / lambda[c], G)] - E[spike count / T]).
 * A bias acts every step and keeps acting at any T; an initial membrane is paid out once, so
 * its effect on the rate fades as 1/T beyond the T it was measured for.
 *
 * Sums are integers (spike counts, and the ANN's activations in fixed point), so splitting the
 * samples over threads in any way gives the same file. */
#include "correct.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "snn_runtime.h"

/* ANN activations in rate units are summed as round(a * 2^ANN_FRAC_BITS) in int64: exact in
 * any order, and room for 2^63 / 2^24 = 5e11 units of rate. */
#define ANN_FRAC_BITS 24

typedef struct {
    snn_net *net;
    const snn_graph *g;
    const snn_correct_opts *o;
    int64_t n;
    int workers;
    bool per_neuron;    /* potential correction: a slot per neuron (channel-last), not per channel */
    uint32_t *chan_off; /* (n_layers + 1) first slot of layer i's channels (or neurons) in a sum
                         * array; a layer that is not corrected has none (chan_off[i + 1] ==
                         * chan_off[i]) */
    uint32_t n_slots;
    int64_t *sums[SNN_MAX_THREADS]; /* per worker: (n_slots) */
    const snn_model *model;         /* SNN pass */
    uint32_t layer;                 /* SNN pass: the layer measured */
    snn_status st[SNN_MAX_THREADS];
    snn_diag diag[SNN_MAX_THREADS];
} correct_run;

/* Layers that get a correction: neurons with a bias, whose rates carry an IR tensor of
 * (N, C, ...) with C the layer's channels; the output layer too (its membrane / T against the
 * ANN's logits). */
static bool correctable(const snn_net *net, const snn_graph *g, uint32_t i)
{
    const net_layer *L = &net->layers[i];
    if (L->kind != SNN_LAYER_NEURON || L->tensor < 0 || L->tensor >= g->n_tensors)
        return false;
    const snn_tensor *t = &g->tensors[L->tensor];
    uint32_t c = t->rank >= 2 ? (uint32_t)t->dims[1] : 1;
    return c == L->c && (uint64_t)snn_tensor_numel(t) == (uint64_t)L->c * L->h * L->w;
}

/* Decided once, by correctable(), when chan_off is laid out. */
static bool has_slots(const correct_run *r, uint32_t i)
{
    return r->chan_off[i + 1] > r->chan_off[i];
}

static bool is_output(const net_layer *L)
{
    return (L->flags & SNN_LAYER_F_OUTPUT) != 0;
}

/* ANN pass: per channel (per neuron), the sum over samples (and positions) of the activation
 * in rate units (max(0, a) / lambda; the output layer's logits as they are). */
static void ann_worker(void *arg, int w)
{
    correct_run *r = arg;
    int64_t begin, end;
    snn_parallel_range(r->n, r->workers, w, &begin, &end);
    snn_eval ev;
    memset(&ev, 0, sizeof ev);
    const snn_tensor *in = &r->g->tensors[r->g->inputs[0]];
    float *x = malloc((size_t)snn_tensor_numel(in) * sizeof *x);
    int64_t *sum = r->sums[w];
    snn_status st = x ? snn_eval_init(&ev, r->g, &r->diag[w]) : snn_diag_set(&r->diag[w], SNN_ERR_NOMEM, "out of memory");
    if (st == SNN_OK)
        snn_eval_use_reference(&ev, r->o->reference);
    double top = r->net->burst > 1 ? (double)r->net->burst : 1.0; /* most spikes per step */
    for (int64_t s = begin; s < end && st == SNN_OK; s++) {
        if ((st = r->o->sample(r->o->ctx, s, x, &r->diag[w])) != SNN_OK)
            break;
        const float *feed[1] = {x};
        if ((st = snn_eval_run(&ev, feed, &r->diag[w])) != SNN_OK)
            break;
        for (uint32_t i = 0; i < r->net->n_layers; i++) {
            if (!has_slots(r, i))
                continue;
            const net_layer *L = &r->net->layers[i];
            const float *a = snn_eval_tensor(&ev, L->tensor); /* (C, H, W) of one sample */
            uint32_t hw = L->h * L->w;
            int64_t *slot = sum + r->chan_off[i];
            for (uint32_t c = 0; c < L->c; c++) {
                double inv = is_output(L) ? 1.0 : 1.0 / (double)L->lambda[c];
                int64_t acc = 0;
                for (uint32_t k = 0; k < hw; k++) {
                    double v = (double)a[(size_t)c * hw + k];
                    int64_t q = 0;
                    /* a hidden neuron's rate cannot pass `top` spikes per step: the target is
                     * the activation clipped there, or the correction would lift every neuron
                     * of a channel to make up for the few that clipping cut */
                    if (is_output(L) || v > 0.0) {
                        v *= inv;
                        q = llround(ldexp(is_output(L) || v < top ? v : top, ANN_FRAC_BITS));
                    }
                    if (r->per_neuron)
                        slot[(size_t)k * L->c + c] += q; /* channel-last, as the runtime's neurons */
                    else
                        acc += q;
                }
                if (!r->per_neuron)
                    slot[c] += acc;
            }
        }
    }
    r->st[w] = st;
    free(x);
    snn_eval_free(&ev);
}

/* SNN pass: per channel (per neuron) of layer r->layer, the sum over samples (and positions) of
 * its spike count after T steps (the output layer: its membrane after T steps, in fixed
 * point). */
static void snn_worker(void *arg, int w)
{
    correct_run *r = arg;
    int64_t begin, end;
    snn_parallel_range(r->n, r->workers, w, &begin, &end);
    const snn_model *m = r->model;
    const net_layer *L = &r->net->layers[r->layer];
    uint32_t size = L->c * L->h * L->w;
    size_t mem_size = snn_state_mem_size(m);
    void *mem = malloc(mem_size);
    float *x = malloc((size_t)m->input_size * sizeof *x);
    int32_t *count = malloc((size_t)size * sizeof *count); /* (H, W, C) channel-last */
    snn_state s;
    snn_status st = SNN_OK;
    if (!mem || !x || !count)
        st = snn_diag_set(&r->diag[w], SNN_ERR_NOMEM, "out of memory for the bias correction's simulation");
    else if (snn_state_init(&s, m, mem, mem_size) != SNN_RT_OK)
        st = snn_diag_set(&r->diag[w], SNN_ERR_INVALID, "the network cannot be simulated");
    int64_t *sum = r->sums[w] + r->chan_off[r->layer];
    for (int64_t smp = begin; smp < end && st == SNN_OK; smp++) {
        if ((st = r->o->sample(r->o->ctx, smp, x, &r->diag[w])) != SNN_OK)
            break;
        snn_state_begin(&s, x, SNN_CODING_DIRECT, (uint64_t)smp);
        memset(count, 0, (size_t)size * sizeof *count);
        for (uint32_t t = 0; t < r->o->steps; t++) {
            snn_state_step(&s);
            if (!is_output(L))
                snn_state_add_step_spikes(&s, r->layer, count);
        }
        if (is_output(L)) {
            const float *v = snn_state_output(&s); /* (n_classes): one neuron per channel */
            for (uint32_t c = 0; c < L->c; c++)
                sum[c] += llround(ldexp((double)v[c] / r->o->steps, ANN_FRAC_BITS));
        } else {
            for (uint32_t j = 0; j < size; j++)
                sum[r->per_neuron ? j : j % L->c] += count[j];
        }
    }
    r->st[w] = st;
    free(count);
    free(x);
    free(mem);
}

/* Merge worker sums into sums[0] (integers: the order does not matter); the first failure. */
static snn_status merge(correct_run *r, uint32_t first, uint32_t n, snn_diag *diag)
{
    for (int w = 0; w < r->workers; w++)
        if (r->st[w] != SNN_OK) {
            *diag = r->diag[w];
            return r->st[w];
        }
    for (int w = 1; w < r->workers; w++)
        for (uint32_t k = first; k < first + n; k++)
            r->sums[0][k] += r->sums[w][k];
    return SNN_OK;
}

static void clear_sums(correct_run *r)
{
    for (int w = 0; w < r->workers; w++)
        memset(r->sums[w], 0, r->n_slots * sizeof(int64_t));
}

/* One measure-and-shift round on layer i: run the network as corrected so far (through the
 * runtime that will run it) and move each channel's bias (each neuron's initial membrane) by
 * the ANN's mean (ann, summed in fixed point) minus the SNN's. */
static snn_status correct_layer(correct_run *r, uint32_t i, const int64_t *ann, snn_model *model, snn_diag *diag)
{
    net_layer *L = &r->net->layers[i];
    uint8_t *bytes = NULL;
    size_t len;
    snn_status st = snn_net_serialize(r->net, &bytes, &len, diag);
    if (st != SNN_OK)
        return st;
    snn_rt_diag rd;
    if (snn_model_load(model, bytes, len, &rd) != SNN_RT_OK) {
        free(bytes);
        return snn_diag_set(diag, SNN_ERR_INVALID, "bias correction: the network does not load: %s", rd.msg);
    }
    r->model = model, r->layer = i;
    clear_sums(r);
    st = snn_parallel_run(r->workers, snn_worker, r, diag);
    uint32_t slots = r->chan_off[i + 1] - r->chan_off[i];
    if (st == SNN_OK)
        st = merge(r, r->chan_off[i], slots, diag);
    free(bytes); /* the model points into it: done with both */
    if (st != SNN_OK)
        return st;
    double hw = (double)L->h * L->w, n = (double)r->n, T = r->o->steps;
    if (r->per_neuron) {
        for (uint32_t j = 0; j < slots; j++) {
            uint32_t k = r->chan_off[i] + j;
            double ann_mean = ldexp((double)ann[k], -ANN_FRAC_BITS) / n;
            double snn_mean = is_output(L) ? ldexp((double)r->sums[0][k], -ANN_FRAC_BITS) / n
                                           : (double)r->sums[0][k] / (n * T);
            L->v0[j] += (float)((ann_mean - snn_mean) * T * (double)L->threshold[j % L->c]);
        }
        return SNN_OK;
    }
    for (uint32_t c = 0; c < L->c; c++) {
        uint32_t k = r->chan_off[i] + c;
        double ann_mean = ldexp((double)ann[k], -ANN_FRAC_BITS) / (n * hw);
        double snn_mean = is_output(L) ? ldexp((double)r->sums[0][k], -ANN_FRAC_BITS) / (n * hw)
                                       : (double)r->sums[0][k] / (n * hw * T);
        L->bias[c] += (float)((ann_mean - snn_mean) * (double)L->threshold[c]);
    }
    return SNN_OK;
}

/* Every corrected layer's initial membranes as the runtime would start them (v_init
 * thresholds; the output 0), for potential correction to move. */
static snn_status start_membranes(snn_net *net, const correct_run *r, snn_diag *diag)
{
    for (uint32_t i = 0; i < net->n_layers; i++) {
        net_layer *L = &net->layers[i];
        if (!has_slots(r, i) || L->v0)
            continue;
        uint32_t size = L->c * L->h * L->w;
        if (!(L->v0 = malloc((size_t)size * sizeof *L->v0)))
            return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for the initial membranes");
        for (uint32_t j = 0; j < size; j++)
            L->v0[j] = is_output(L) ? 0.0f : net->v_init * L->threshold[j % L->c];
    }
    return SNN_OK;
}

static snn_status correct_net(snn_net *net, const snn_graph *g, const snn_correct_opts *o, bool per_neuron,
                              snn_diag *diag)
{
    const char *what = per_neuron ? "potential correction" : "bias correction";
    if (net->coding == SNN_CODING_TTFS || net->weight_dtype != SNN_DTYPE_F32)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, "%s needs a rate-coded float32 network "
                            "(it runs before quantisation)", what);
    if (o->steps < 1 || o->samples < 1)
        return snn_diag_set(diag, SNN_ERR_INVALID, "%s needs at least one step and one sample", what);
    correct_run r;
    memset(&r, 0, sizeof r);
    r.net = net, r.g = g, r.o = o, r.n = o->samples, r.per_neuron = per_neuron;
    uint32_t rounds = o->rounds ? o->rounds : 1;
    r.workers = o->workers < 1 ? 1 : o->workers > SNN_MAX_THREADS ? SNN_MAX_THREADS : o->workers;
    if (r.workers > r.n)
        r.workers = (int)r.n;
    snn_status st = SNN_OK;
    int64_t *ann = NULL;
    snn_model *model = malloc(sizeof *model);
    if (!model)
        goto nomem;
    r.chan_off = calloc(net->n_layers + 1, sizeof *r.chan_off);
    if (!r.chan_off)
        goto nomem;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const net_layer *L = &net->layers[i];
        uint32_t slots = !correctable(net, g, i) ? 0 : per_neuron ? L->c * L->h * L->w : L->c;
        r.chan_off[i + 1] = r.chan_off[i] + slots;
    }
    if (per_neuron && (st = start_membranes(net, &r, diag)) != SNN_OK)
        goto out;
    r.n_slots = r.chan_off[net->n_layers] ? r.chan_off[net->n_layers] : 1;
    for (int w = 0; w < r.workers; w++)
        if (!(r.sums[w] = calloc(r.n_slots, sizeof(int64_t))))
            goto nomem;
    if (!(ann = malloc(r.n_slots * sizeof *ann)))
        goto nomem;
    /* The ANN's means do not change with the SNN's biases: one pass. */
    if ((st = snn_parallel_run(r.workers, ann_worker, &r, diag)) != SNN_OK ||
        (st = merge(&r, 0, r.n_slots, diag)) != SNN_OK)
        goto out;
    memcpy(ann, r.sums[0], r.n_slots * sizeof *ann);
    for (uint32_t i = 0; i < net->n_layers && st == SNN_OK; i++) {
        if (!has_slots(&r, i))
            continue;
        if (is_output(&net->layers[i]) && net->readout != SNN_READOUT_MEMBRANE)
            continue; /* a spike-count readout has no membrane mean to match */
        for (uint32_t round = 0; round < rounds && st == SNN_OK; round++)
            st = correct_layer(&r, i, ann, model, diag);
    }
    if (st != SNN_OK)
        goto out;
    net->correct_steps = o->steps;
    net->correct_count = (uint32_t)r.n;
out:
    free(model);
    free(ann);
    for (int w = 0; w < r.workers; w++)
        free(r.sums[w]);
    free(r.chan_off);
    return st;
nomem:
    st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for the %s", what);
    goto out;
}

snn_status snn_net_correct_bias(snn_net *net, const snn_graph *g, const snn_correct_opts *o, snn_diag *diag)
{
    return correct_net(net, g, o, false, diag);
}

snn_status snn_net_correct_potential(snn_net *net, const snn_graph *g, const snn_correct_opts *o, snn_diag *diag)
{
    return correct_net(net, g, o, true, diag);
}
