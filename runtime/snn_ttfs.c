/* Time-to-first-spike (TTFS) simulation: every neuron fires at most once, and the time of its
 * spike within its layer's window carries its value. docs/ttfs.md states the model; in short:
 *
 * Layers fire in consecutive windows of unit length. A spike at time t (a fraction of its
 * window) stands for the value y = 1 - t: early is large. While its sources' windows run, a
 * neuron integrates a synaptic current w from each input spike until the end of that
 * window, which charges it by w * y; then, in its own window, a constant ramp current of 1
 * (threshold units per window) drives it across its threshold theta at
 *     t = 1 - V / theta,   V = bias + sum_j w_j * y_j,
 * so the spike time encodes ReLU(V) / theta, clipped to the window. A neuron that has not
 * crossed by the window's end stays silent: its value is 0. This is the exact ReLU-to-
 * single-spike mapping of Stanojevic et al. 2023 ("An exact mapping from ReLU networks to
 * spiking neural networks", Neural Networks 168; arXiv:2212.12522), with spike time
 * t_max - tau * x, consecutive layer windows and calibrated window lengths (here folded into
 * the thresholds by the converter), with the synaptic current gated to the presynaptic window
 * so that silent neurons need no spike. Max-pooling passes the first spike in its window
 * (the largest value, Rueckauer & Liu 2018); concatenation relays spikes. A shortcut from an
 * earlier layer is a synapse delayed to the receiving window: its value is read against its
 * own window, as here.
 *
 * With a finite resolution R the membrane is compared with the threshold at R steps per window
 * (starting half a step in, as v_init = 0.5 does for rate coding), so a spike lands on step
 * R - round(R * y) and carries round(R * y) / R. Resolution 0 uses exact spike times.
 *
 * Since no neuron receives input during its own window, each window's dynamics have the
 * closed form above: the run walks the layers once, and work grows with the spikes (each
 * spike scatters its weights once), as in snn_sim_step.c. */
#include <math.h>
#include <string.h>

#include "snn_internal.h"
#include "snn_runtime.h"

#ifdef SNN_NO_TTFS

snn_rt_status snn_state_run_ttfs(snn_state *s, const float *x, uint32_t resolution)
{
    (void)s, (void)x, (void)resolution;
    return SNN_RT_ERR_VERSION;
}

uint32_t snn_state_max_spikes_per_neuron(const snn_state *s, uint32_t *scratch)
{
    (void)s, (void)scratch;
    return 0;
}

#else

/* When a neuron at value y (a fraction of its threshold) crosses it, as a fraction of its
 * window, at resolution R; > 1: it does not, no spike. */
static inline float crossing_time(float y, uint32_t R)
{
    if (R == 0)
        return y <= 0.0f ? 2.0f : y >= 1.0f ? 0.0f : 1.0f - y;
    float k = floorf(y * (float)R + 0.5f);
    if (k <= 0.0f)
        return 2.0f;
    if (k > (float)R)
        k = (float)R;
    return ((float)R - k) / (float)R;
}

/* Input window: the file's input range [lo, hi] maps onto the window, so value x spikes at
 * t = (hi - x) / (hi - lo) and its synapses deliver hi - t * (hi - lo): exact for inputs of
 * any sign (values outside the range are clipped to it). For raw bytes, lo and hi are the
 * preprocessed 0 and 255. */
static inline float input_value(const snn_model *m, float t)
{
    return m->ttfs_in_hi - t * (m->ttfs_in_hi - m->ttfs_in_lo);
}

static void encode_input(snn_state *s, uint32_t R)
{
    const snn_model *m = s->m;
    float span = m->ttfs_in_hi - m->ttfs_in_lo;
    uint32_t count = 0;
    for (uint32_t j = 0; j < m->input_size; j++) {
        float t = (m->ttfs_in_hi - s->input_hwc[j]) / span;
        t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
        if (R)
            t = floorf(t * (float)R + 0.5f) / (float)R;
        if (input_value(m, t) == 0.0f)
            continue; /* delivers no charge: no spike needed */
        s->spike_idx[0][count] = j;
        s->spike_time[0][count] = t;
        count++;
    }
    s->n_spikes[0] = count;
    s->input_spikes = count;
}

/* Charge carried by a spike at time t from buffer src. */
static inline float spike_value(const snn_model *m, uint32_t src, float t)
{
    return src == 0 ? input_value(m, t) : 1.0f - t;
}

static void neuron_window(snn_state *s, uint32_t i, uint32_t R)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    snn_layer_stats *st = &s->stats[i];
    float *V = s->v[i];
    for (uint32_t pos = 0; pos < L->size; pos += L->c)
        memcpy(V + pos, L->bias, L->c * sizeof *V);
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        const snn_proj *p = &m->proj[k];
        const uint32_t *idx = s->spike_idx[p->source];
        const float *t = s->spike_time[p->source];
        for (uint32_t q = 0; q < s->n_spikes[p->source]; q++)
            st->synops += snn_scatter(p, L, s->yx[p->source], s->pool_map[k], idx[q],
                                      spike_value(m, p->source, t[q]), V);
    }
    uint32_t n = 0;
    if (!(L->flags & SNN_LAYER_F_OUTPUT)) {
        uint32_t *out = s->spike_idx[i + 1];
        float *out_t = s->spike_time[i + 1];
        for (uint32_t pos = 0; pos < L->size; pos += L->c)
            for (uint32_t c = 0; c < L->c; c++) {
                float t = crossing_time(V[pos + c] / L->threshold[c], R);
                if (t <= 1.0f) {
                    out[n] = pos + c;
                    out_t[n++] = t;
                }
            }
    }
    s->n_spikes[i + 1] = n;
}

/* The first spike in each window passes: the earliest time is the largest value. */
static void maxpool_window(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    const snn_layer *S = &m->layers[L->source - 1];
    float *first = s->count[i + 1]; /* (size) earliest input time per output, > 1: none */
    for (uint32_t o = 0; o < L->size; o++)
        first[o] = 2.0f;
    for (uint32_t q = 0; q < s->n_spikes[L->source]; q++) {
        uint32_t j = s->spike_idx[L->source][q];
        float t = s->spike_time[L->source][q];
        uint32_t iy = s->yx[L->source][j] >> 16, ix = s->yx[L->source][j] & 0xffff;
        uint32_t c = j - (iy * S->w + ix) * S->c;
        snn_window_range r = snn_pool_windows(L, iy, ix);
        for (uint32_t oy = r.oy0; oy <= r.oy1 && oy < L->h; oy++)
            for (uint32_t ox = r.ox0; ox <= r.ox1 && ox < L->w; ox++) {
                if (!snn_pool_window_holds(L, oy, ox, iy, ix))
                    continue;
                uint32_t o = (oy * L->w + ox) * S->c + c;
                first[o] = t < first[o] ? t : first[o];
            }
    }
    uint32_t n = 0;
    for (uint32_t o = 0; o < L->size; o++)
        if (first[o] <= 1.0f) {
            s->spike_idx[i + 1][n] = o;
            s->spike_time[i + 1][n++] = first[o];
        }
    s->n_spikes[i + 1] = n;
}

static void concat_window(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    uint32_t n = 0, offset = 0;
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        const snn_proj *p = &m->proj[k];
        for (uint32_t q = 0; q < s->n_spikes[p->source]; q++) {
            uint32_t j = s->spike_idx[p->source][q];
            s->spike_idx[i + 1][n] = (j / p->src_c) * L->c + offset + j % p->src_c;
            s->spike_time[i + 1][n++] = s->spike_time[p->source][q];
        }
        offset += p->src_c;
    }
    s->n_spikes[i + 1] = n;
}

uint32_t snn_state_max_spikes_per_neuron(const snn_state *s, uint32_t *scratch)
{
    const snn_model *m = s->m;
    uint32_t most = 0;
    for (uint32_t b = 1; b <= m->n_layers; b++) {
        if (b - 1 == m->output_layer)
            continue;
        const uint32_t *idx = s->spike_idx[b];
        for (uint32_t q = 0; q < s->n_spikes[b]; q++) {
            uint32_t c = ++scratch[idx[q]];
            most = c > most ? c : most;
        }
        for (uint32_t q = 0; q < s->n_spikes[b]; q++)
            scratch[idx[q]] = 0;
    }
    return most;
}

snn_rt_status snn_state_run_ttfs(snn_state *s, const float *x, uint32_t resolution)
{
    const snn_model *m = s->m;
    if (!(m->features & SNN_FEATURE_TTFS) || resolution > SNN_MAX_RESOLUTION)
        return SNN_RT_ERR_ARG;
    snn_input_to_hwc(s, x);
    s->coding = SNN_CODING_TTFS;
    memset(s->stats, 0, m->n_layers * sizeof *s->stats);
    encode_input(s, resolution);
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind == SNN_LAYER_NEURON)
            neuron_window(s, i, resolution);
        else if (L->kind == SNN_LAYER_MAXPOOL)
            maxpool_window(s, i);
        else
            concat_window(s, i);
        s->stats[i].spikes = s->n_spikes[i + 1];
    }
    s->t = m->latency_windows * resolution;
    return SNN_RT_OK;
}

#endif
