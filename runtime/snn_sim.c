/* Float files' rate-coded simulation, set up: the state's arrays in the caller's memory, the
 * tables the step loop reads instead of dividing, and the plan of which projections run from
 * flags and which from events. The steps themselves are in snn_sim_step.c. */
#ifndef SNN_NO_FLOAT /* a device build for integer files leaves the float simulation out */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "snn_runtime.h"
#include "snn_internal.h"


/* Spike counts are kept for buffers a MAXPOOL reads, for MAXPOOL outputs (their own count),
 * for signed neuron layers (a neuron takes back only spikes it has fired), and for the output
 * (the spike-count readout). */
static int needs_count(const snn_model *m, uint32_t b)
{
    if (b > 0 && m->layers[b - 1].kind == SNN_LAYER_MAXPOOL)
        return 1;
    if (b > 0 && m->layers[b - 1].kind == SNN_LAYER_NEURON && (m->features & SNN_FEATURE_SIGNED))
        return 1;
    return snn_maxpool_reads(m, b);
}

/* Average pooling whose windows do not overlap gets an input -> output table. */
static int pool_map_ok(const snn_proj *p)
{
    return p->kind == SNN_PROJ_AVGPOOL && p->kh <= p->sh && p->kw <= p->sw;
}

/* Projections computed from the source's flags: element-wise and non-overlapping average
 * pooling of a spiking neuron layer. Every output reads a few inputs, so one vectorised pass
 * over the outputs costs less than handling each spike, at any rate; and a layer whose readers
 * are all dense needs no list of its spikes. */
static int proj_dense(const snn_model *m, uint32_t k)
{
    const snn_proj *p = &m->proj[k];
    if (p->source == 0)
        return 0;
    const snn_layer *S = &m->layers[p->source - 1];
    if (S->kind != SNN_LAYER_NEURON || (S->flags & SNN_LAYER_F_OUTPUT))
        return 0;
    return p->kind == SNN_PROJ_IDENTITY || pool_map_ok(p);
}

/* Does a later layer read buffer b's spikes one event at a time? */
static int buffer_needs_events(const snn_model *m, uint32_t b)
{
    for (uint32_t k = 0; k < m->n_proj; k++)
        if (m->proj[k].source == b && !proj_dense(m, k))
            return 1;
    return snn_maxpool_reads(m, b);
}

/* An input-only layer fires on the timing wheel (which lists events, not flags) when no layer
 * reads it densely. The wheel schedules one spike per step at most: not with burst spikes. */
static int wheel_ok(const snn_model *m, uint32_t i)
{
    if (!snn_input_only(m, i) || m->burst > 1)
        return 0;
    for (uint32_t k = 0; k < m->n_proj; k++)
        if (m->proj[k].source == i + 1 && proj_dense(m, k))
            return 0;
    return 1;
}

/* Events buffer b can hold in one step. A neuron emits at most `burst` spikes per step, each
 * its own event. A max-pool output follows the largest count in its window: within a step it
 * can fall (an input's -1 spikes) and then rise again (another input's), so twice that; a
 * concat layer holds its sources' events. */
static uint32_t event_capacity(const snn_model *m, uint32_t b)
{
    uint32_t per = 1;
    if (b > 0 && m->layers[b - 1].kind != SNN_LAYER_NEURON)
        per = 2;
    if (b > 0)
        per *= m->burst;
    return per * m->buffer_size[b];
}

/* Walks the layout once; with mem == NULL it only measures. */
static size_t layout(snn_state *s, const snn_model *m, uint8_t *mem)
{
    size_t off = 0;
#define TAKE(ptr, type, n)                                                                  \
    do {                                                                                   \
        if (mem)                                                                           \
            ptr = (type *)(void *)(mem + off);                                             \
        off += snn_align_up((size_t)(n) * sizeof(type));                                       \
    } while (0)
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        TAKE(s->spike_idx[b], uint32_t, event_capacity(m, b));
        TAKE(s->yx[b], uint32_t, m->buffer_size[b]);
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
        TAKE(s->constant[i], float, L->size);
        TAKE(s->th_full[i], float, L->size);
        TAKE(s->flag[i], float, L->size);
        if (wheel_ok(m, i)) {
            TAKE(s->next_t[i], uint32_t, L->size);
            TAKE(s->link[i], uint32_t, L->size);
            TAKE(s->n_fired[i], uint32_t, L->size);
        } else if (mem) {
            s->next_t[i] = s->link[i] = s->n_fired[i] = NULL;
        }
    }
    /* The output buffer always counts spikes (for the spike-count readout). */
    if (!needs_count(m, m->n_layers))
        TAKE(s->count[m->n_layers], float, m->buffer_size[m->n_layers]);
    for (uint32_t k = 0; k < m->n_proj; k++) {
        if (pool_map_ok(&m->proj[k]) && ((m->features & SNN_FEATURE_TTFS) || !proj_dense(m, k)))
            TAKE(s->pool_map[k], uint32_t, m->buffer_size[m->proj[k].source]);
        else if (mem)
            s->pool_map[k] = NULL;
    }
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        if (m->features & SNN_FEATURE_TTFS)
            TAKE(s->spike_time[b], float, m->buffer_size[b]);
        else if (mem)
            s->spike_time[b] = NULL;
    }
    TAKE(s->stats, snn_layer_stats, m->n_layers);
    TAKE(s->input_hwc, float, m->input_size);
#undef TAKE
    return off;
}

size_t snn_fsim_mem_size(const snn_model *m)
{
    snn_state tmp;
    return layout(&tmp, m, NULL) + SNN_MEM_ALIGN;
}

snn_rt_status snn_fsim_init(snn_state *s, const snn_model *m, void *mem, size_t mem_size)
{
    if (!mem || mem_size < snn_fsim_mem_size(m))
        return SNN_RT_ERR_ARG;
    uint8_t *base = snn_mem_base(mem);
    s->m = m;
    layout(s, m, base);
    /* Tables the step loop reads instead of dividing: each neuron's (y, x) packed as
     * y << 16 | x (the loader keeps H and W below 2^16), and each neuron's threshold. */
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        uint32_t C = b ? m->layers[b - 1].c : m->input_c, W = b ? m->layers[b - 1].w : m->input_w;
        for (uint32_t j = 0; j < m->buffer_size[b]; j++) {
            uint32_t pos = j / C;
            s->yx[b][j] = (pos / W) << 16 | (pos % W);
        }
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind != SNN_LAYER_NEURON)
            continue;
        for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
            const snn_proj *p = &m->proj[k];
            if (!s->pool_map[k])
                continue;
            for (uint32_t j = 0; j < m->buffer_size[p->source]; j++) {
                uint32_t iy = s->yx[p->source][j] >> 16, ix = s->yx[p->source][j] & 0xffff;
                uint32_t c = j % p->src_c, y = iy + p->pt, x = ix + p->pl;
                uint32_t oy = y / p->sh, ox = x / p->sw;
                bool inside = y % p->sh < p->kh && x % p->sw < p->kw && oy < L->h && ox < L->w;
                s->pool_map[k][j] = inside ? (oy * L->w + ox) * L->c + c : UINT32_MAX;
            }
        }
    }
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_NEURON)
            for (uint32_t j = 0; j < m->layers[i].size; j++)
                s->th_full[i][j] = m->layers[i].threshold[j % m->layers[i].c];
    for (uint32_t k = 0; k < m->n_proj; k++)
        s->dense_proj[k] = (uint8_t)proj_dense(m, k);
    for (uint32_t b = 0; b <= m->n_layers; b++)
        s->events[b] = (uint8_t)(b == 0 || buffer_needs_events(m, b));
    for (uint32_t b = 0; b <= m->n_layers; b++)
        s->pool_reads[b] = (uint8_t)snn_maxpool_reads(m, b);
    return SNN_RT_OK;
}

const float *snn_fsim_output(const snn_state *s)
{
    return s->v[s->m->output_layer];
}

int snn_fsim_predict(const snn_state *s)
{
    const snn_model *m = s->m;
    const float *v = snn_fsim_output(s);
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

#endif /* SNN_NO_FLOAT */
