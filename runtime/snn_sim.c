/* Simulation: integrate-and-fire layers driven by spike events.
 *
 * Each time step walks the layers in order. A neuron layer starts from its constant current
 * (bias, plus the direct-coded input's contribution, computed once in begin()), adds the
 * weights of every source neuron that spiked this step (event-driven: work grows with the
 * spikes, not with the synapses), then integrates and fires:
 *     v += I;  if v >= theta: spike, v -= theta (reset by subtraction) or v = 0.
 * Reset by subtraction keeps the residual charge, which is what makes rates track ReLU
 * activations (Rueckauer et al. 2017, "Conversion of continuous-valued deep networks to
 * efficient event-driven networks for image classification", Front. Neurosci. 11:682).
 * Max-pooling gates spikes: an output passes the spike of the input in its window with the
 * most spikes so far (Rueckauer et al. 2017, sec. 2.2.2). */
#include <stdbool.h>
#include <string.h>

#include "snn_runtime.h"

#define MEM_ALIGN 16

static size_t align_up(size_t n)
{
    return (n + MEM_ALIGN - 1) / MEM_ALIGN * MEM_ALIGN;
}

/* Buffers whose spikes a MAXPOOL layer gates need spike counts. */
static int needs_count(const snn_model *m, uint32_t b)
{
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_MAXPOOL && m->layers[i].source == b)
            return 1;
    return 0;
}

/* Walks the layout once; with mem == NULL it only measures. */
static size_t layout(snn_state *s, const snn_model *m, uint8_t *mem)
{
    size_t off = 0;
#define TAKE(ptr, type, n)                                                                  \
    do {                                                                                   \
        if (mem)                                                                           \
            ptr = (type *)(void *)(mem + off);                                             \
        off += align_up((size_t)(n) * sizeof(type));                                       \
    } while (0)
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        TAKE(s->spike_idx[b], uint32_t, m->buffer_size[b]);
        if (needs_count(m, b))
            TAKE(s->count[b], float, m->buffer_size[b]);
        else if (mem)
            s->count[b] = NULL;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind != SNN_LAYER_NEURON)
            continue;
        TAKE(s->v[i], float, L->size);
        TAKE(s->current[i], float, L->size);
        TAKE(s->constant[i], float, L->size);
    }
    /* The output buffer always counts spikes (for the spike-count readout). */
    if (!needs_count(m, m->n_layers))
        TAKE(s->count[m->n_layers], float, m->buffer_size[m->n_layers]);
    TAKE(s->stats, snn_layer_stats, m->n_layers);
#undef TAKE
    return off;
}

size_t snn_state_mem_size(const snn_model *m)
{
    snn_state tmp;
    return layout(&tmp, m, NULL) + MEM_ALIGN;
}

snn_rt_status snn_state_init(snn_state *s, const snn_model *m, void *mem, size_t mem_size)
{
    memset(s, 0, sizeof *s);
    if (!mem || mem_size < snn_state_mem_size(m))
        return SNN_RT_ERR_ARG;
    uint8_t *base = mem;
    base += (MEM_ALIGN - (uintptr_t)base % MEM_ALIGN) % MEM_ALIGN;
    s->m = m;
    layout(s, m, base);
    return SNN_RT_OK;
}

void snn_preprocess_u8(const snn_model *m, const uint8_t *raw, float *x)
{
    float inv = 1.0f / m->pre_std;
    for (uint32_t i = 0; i < m->input_size; i++)
        x[i] = ((float)raw[i] * m->pre_scale - m->pre_mean) * inv;
}

/* xorshift64* (Vigna 2016): a small, seedable generator with no global state. */
static float next_uniform(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return (float)((x * 0x2545F4914F6CDD1DULL) >> 40) * (1.0f / 16777216.0f);
}

/* Add the effect of source neuron j, scaled by value, into I (the layer's current).
 * Returns the synaptic operations done. */
static uint32_t scatter(const snn_proj *p, const snn_layer *L, uint32_t j, float value, float *I)
{
    uint32_t src_hw = p->src_h * p->src_w, out_hw = L->h * L->w;
    switch (p->kind) {
    case SNN_PROJ_DENSE: {
        const float *row = p->w + (size_t)j * L->size;
        for (uint32_t o = 0; o < L->size; o++)
            I[o] += value * row[o];
        return L->size;
    }
    case SNN_PROJ_CONV: {
        uint32_t c = j / src_hw, iy = (j % src_hw) / p->src_w, ix = j % p->src_w;
        uint32_t cg = p->src_c / p->group, mg = L->c / p->group, g = c / cg;
        const float *wc = p->w + (size_t)c * p->kh * p->kw * mg; /* (KH, KW, Mg) */
        float *out = I + (size_t)g * mg * out_hw;
        uint32_t ops = 0;
        for (uint32_t kh = 0; kh < p->kh; kh++) {
            int32_t ny = (int32_t)(iy + p->pt) - (int32_t)(kh * p->dh);
            if (ny < 0 || ny % p->sh)
                continue;
            uint32_t oy = (uint32_t)ny / p->sh;
            if (oy >= L->h)
                continue;
            for (uint32_t kw = 0; kw < p->kw; kw++) {
                int32_t nx = (int32_t)(ix + p->pl) - (int32_t)(kw * p->dw);
                if (nx < 0 || nx % p->sw)
                    continue;
                uint32_t ox = (uint32_t)nx / p->sw;
                if (ox >= L->w)
                    continue;
                const float *wk = wc + (kh * p->kw + kw) * mg;
                float *o = out + oy * L->w + ox;
                for (uint32_t m = 0; m < mg; m++)
                    o[(size_t)m * out_hw] += value * wk[m];
                ops += mg;
            }
        }
        return ops;
    }
    case SNN_PROJ_AVGPOOL: {
        uint32_t c = j / src_hw, iy = (j % src_hw) / p->src_w, ix = j % p->src_w;
        float wv = value * p->w[c];
        /* Outputs whose window [o*s - pad, o*s - pad + k) holds the input. */
        int32_t y0 = (int32_t)iy + p->pt - p->kh + 1, x0 = (int32_t)ix + p->pl - p->kw + 1;
        uint32_t oy0 = y0 <= 0 ? 0 : ((uint32_t)y0 + p->sh - 1) / p->sh;
        uint32_t ox0 = x0 <= 0 ? 0 : ((uint32_t)x0 + p->sw - 1) / p->sw;
        uint32_t oy1 = (iy + p->pt) / p->sh, ox1 = (ix + p->pl) / p->sw;
        uint32_t ops = 0;
        for (uint32_t oy = oy0; oy <= oy1 && oy < L->h; oy++)
            for (uint32_t ox = ox0; ox <= ox1 && ox < L->w; ox++) {
                I[c * out_hw + oy * L->w + ox] += wv;
                ops++;
            }
        return ops;
    }
    case SNN_PROJ_GLOBALAVG: {
        uint32_t c = j / src_hw;
        I[c] += value * p->w[c];
        return 1;
    }
    default: /* IDENTITY */
        I[j] += value * p->w[j / src_hw];
        return 1;
    }
}

void snn_state_begin(snn_state *s, const float *x, uint32_t coding, uint64_t seed)
{
    const snn_model *m = s->m;
    s->input = x;
    s->coding = coding;
    s->rng = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!s->rng)
        s->rng = 1;
    s->t = 0;
    s->input_spikes = 0;
    memset(s->stats, 0, m->n_layers * sizeof *s->stats);
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        s->n_spikes[b] = 0;
        if (s->count[b])
            memset(s->count[b], 0, m->buffer_size[b] * sizeof(float));
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind != SNN_LAYER_NEURON)
            continue;
        uint32_t hw = L->h * L->w;
        bool is_out = L->flags & SNN_LAYER_F_OUTPUT;
        for (uint32_t j = 0; j < L->size; j++) {
            s->constant[i][j] = L->bias[j / hw];
            /* The output integrates from zero: a common offset would not change the argmax. */
            s->v[i][j] = is_out ? 0.0f : m->v_init * L->threshold[j / hw];
        }
        if (coding != SNN_CODING_DIRECT)
            continue;
        /* Direct coding: the input is the same current every step, so its contribution is
         * computed once here instead of T times. */
        for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
            const snn_proj *p = &m->proj[k];
            if (p->source != 0)
                continue;
            for (uint32_t j = 0; j < m->input_size; j++)
                if (x[j] != 0.0f)
                    scatter(p, L, j, x[j], s->constant[i]);
        }
    }
}

/* Integrate and fire layer i; spikes go to buffer i + 1. */
static void fire(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    float *v = s->v[i], *I = s->current[i];
    uint32_t *out = s->spike_idx[i + 1], n = 0, hw = L->h * L->w;
    bool is_out = L->flags & SNN_LAYER_F_OUTPUT;
    if (is_out && m->readout == SNN_READOUT_MEMBRANE) {
        for (uint32_t j = 0; j < L->size; j++)
            v[j] += I[j];
        s->n_spikes[i + 1] = 0;
        return;
    }
    bool subtract = m->reset == SNN_RESET_SUBTRACT;
    for (uint32_t c = 0; c < L->c; c++) {
        float th = L->threshold[c];
        for (uint32_t j = c * hw; j < (c + 1) * hw; j++) {
            float vj = v[j] + I[j];
            if (vj >= th) {
                vj = subtract ? vj - th : 0.0f;
                out[n++] = j;
            }
            v[j] = vj;
        }
    }
    s->n_spikes[i + 1] = n;
}

/* Max-pool gating: an output spikes when the input with the most spikes so far in its
 * window (ties: the first in row-major order) spiked this step. */
static void maxpool(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    uint32_t src = L->source, n = 0;
    const snn_layer *S = &m->layers[src - 1];
    const float *cnt = s->count[src];
    uint32_t *out = s->spike_idx[i + 1], shw = S->h * S->w, ohw = L->h * L->w;
    for (uint32_t k = 0; k < s->n_spikes[src]; k++) {
        uint32_t j = s->spike_idx[src][k];
        uint32_t c = j / shw, iy = (j % shw) / S->w, ix = j % S->w;
        int32_t y0 = (int32_t)iy + L->pt - L->kh + 1, x0 = (int32_t)ix + L->pl - L->kw + 1;
        uint32_t oy0 = y0 <= 0 ? 0 : ((uint32_t)y0 + L->sh - 1) / L->sh;
        uint32_t ox0 = x0 <= 0 ? 0 : ((uint32_t)x0 + L->sw - 1) / L->sw;
        uint32_t oy1 = (iy + L->pt) / L->sh, ox1 = (ix + L->pl) / L->sw;
        for (uint32_t oy = oy0; oy <= oy1 && oy < L->h; oy++)
            for (uint32_t ox = ox0; ox <= ox1 && ox < L->w; ox++) {
                /* Is j the arg-max of this window? */
                uint32_t best = UINT32_MAX;
                float bc = -1.0f;
                for (uint32_t ky = 0; ky < L->kh; ky++) {
                    int32_t y = (int32_t)(oy * L->sh + ky) - L->pt;
                    if (y < 0 || (uint32_t)y >= S->h)
                        continue;
                    for (uint32_t kx = 0; kx < L->kw; kx++) {
                        int32_t x = (int32_t)(ox * L->sw + kx) - L->pl;
                        if (x < 0 || (uint32_t)x >= S->w)
                            continue;
                        uint32_t q = c * shw + (uint32_t)y * S->w + (uint32_t)x;
                        if (cnt[q] > bc) {
                            bc = cnt[q];
                            best = q;
                        }
                    }
                }
                if (best == j)
                    out[n++] = c * ohw + oy * L->w + ox;
            }
    }
    s->n_spikes[i + 1] = n;
}

void snn_state_step(snn_state *s)
{
    const snn_model *m = s->m;
    if (s->coding == SNN_CODING_POISSON) {
        uint32_t n = 0;
        for (uint32_t j = 0; j < m->input_size; j++)
            if (next_uniform(&s->rng) < s->input[j])
                s->spike_idx[0][n++] = j;
        s->n_spikes[0] = n;
        s->input_spikes += n;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        snn_layer_stats *st = &s->stats[i];
        if (L->kind == SNN_LAYER_NEURON) {
            float *I = s->current[i];
            memcpy(I, s->constant[i], L->size * sizeof *I);
            for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
                const snn_proj *p = &m->proj[k];
                if (p->source == 0 && s->coding == SNN_CODING_DIRECT)
                    continue; /* already in the constant current */
                const uint32_t *idx = s->spike_idx[p->source];
                for (uint32_t q = 0; q < s->n_spikes[p->source]; q++)
                    st->synops += scatter(p, L, idx[q], 1.0f, I);
            }
            fire(s, i);
        } else if (L->kind == SNN_LAYER_MAXPOOL) {
            maxpool(s, i);
        } else { /* CONCAT: spikes of each source at its channel offset */
            uint32_t n = 0, offset = 0, hw = L->h * L->w;
            for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
                const snn_proj *p = &m->proj[k];
                for (uint32_t q = 0; q < s->n_spikes[p->source]; q++)
                    s->spike_idx[i + 1][n++] = s->spike_idx[p->source][q] + offset;
                offset += p->src_c * hw;
            }
            s->n_spikes[i + 1] = n;
        }
        st->spikes += s->n_spikes[i + 1];
        if (s->count[i + 1])
            for (uint32_t q = 0; q < s->n_spikes[i + 1]; q++)
                s->count[i + 1][s->spike_idx[i + 1][q]] += 1.0f;
    }
    s->t++;
}

const float *snn_state_output(const snn_state *s)
{
    return s->v[s->m->output_layer];
}

int snn_state_predict(const snn_state *s)
{
    const snn_model *m = s->m;
    const float *v = snn_state_output(s);
    const float *cnt = s->count[m->n_layers];
    bool by_count = m->readout == SNN_READOUT_SPIKES;
    int best = 0;
    for (uint32_t k = 1; k < m->n_classes; k++) {
        bool better = by_count ? cnt[k] > cnt[best] || (cnt[k] == cnt[best] && v[k] > v[best])
                               : v[k] > v[best];
        if (better)
            best = (int)k;
    }
    return best;
}
