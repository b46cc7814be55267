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
 * most spikes so far (Rueckauer et al. 2017, sec. 2.2.2).
 *
 * This file holds begin() and the step loop. On x86-64 hosts it is compiled twice, the second
 * time for AVX2 (snn_sim_step_avx2.c, snn_internal.h). */
#ifndef SNN_NO_FLOAT /* a device build for integer files leaves the float simulation out */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "snn_runtime.h"
#include "snn_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

#define NEVER UINT32_MAX

/* Step of the next spike of a neuron with constant current k, initial membrane v0 and
 * threshold th, after its n-th spike at step last (0 before the first). Reset by subtraction
 * gives v(t) = v0 + t*k - n*th, and a neuron fires once a step at most, so spike n + 1 comes at
 * the first t > last with v0 + t*k >= (n+1)*th. With k <= 0 the left side only falls: the next
 * step or never (a neuron that starts above its threshold, VINI, fires until it is below). */
static uint32_t schedule(double k, double v0, double th, uint32_t n, uint32_t last)
{
    double need = (double)(n + 1) * th - v0;
    if (k <= 0.0)
        return v0 + (double)(last + 1) * k >= (double)(n + 1) * th ? last + 1 : NEVER;
    double tf = ceil(need / k);
    if (tf < 1.0)
        tf = 1.0;
    if (tf > 4.0e9)
        return NEVER;
    uint32_t t = (uint32_t)tf;
    return t > last ? t : last + 1;
}

/* Neuron j's (channel c's) membrane at the start of an inference: its own (VINI), else v_init
 * thresholds (the output layer, which integrates, from 0). */
static inline float initial_membrane(const snn_model *m, const snn_layer *L, uint32_t j, uint32_t c)
{
    if (L->v0)
        return L->v0[j];
    return (L->flags & SNN_LAYER_F_OUTPUT) ? 0.0f : m->v_init * L->threshold[c];
}

static void wheel_insert(snn_state *s, uint32_t i, uint32_t j, uint32_t t)
{
    s->next_t[i][j] = t;
    if (t == NEVER)
        return;
    uint32_t slot = t & (SNN_WHEEL - 1);
    s->link[i][j] = s->wheel[i][slot];
    s->wheel[i][slot] = j;
}

void snn_fsim_begin(snn_state *s, const float *x, uint32_t coding, uint64_t seed)
{
    const snn_model *m = s->m;
    snn_input_to_hwc(s, x);
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
        /* Position by position, channel by channel (buffers are channel-last): no division
         * per neuron. The output integrates from zero (a common offset would not change the
         * argmax), unless VINI gives it its own. */
        for (uint32_t j0 = 0; j0 < L->size; j0 += L->c)
            for (uint32_t c = 0; c < L->c; c++) {
                s->constant[i][j0 + c] = L->bias[c];
                s->v[i][j0 + c] = initial_membrane(m, L, j0 + c, c);
            }
        s->scheduled[i] = 0;
        /* A constant current with a membrane that may start above threshold can fire and then
         * sink below 0: a signed neuron's -1 spike, which the steady loop and the wheel lack. */
        bool v0_signed = L->v0 && (m->features & SNN_FEATURE_SIGNED);
        s->steady[i] = (uint8_t)(coding == SNN_CODING_DIRECT && snn_input_only(m, i) && !v0_signed);
        if (coding != SNN_CODING_DIRECT)
            continue;
        /* Direct coding: the input is the same current every step, so its contribution is
         * computed once here instead of T times. */
        for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
            const snn_proj *p = &m->proj[k];
            if (p->source != 0)
                continue;
            for (uint32_t j = 0; j < m->input_size; j++)
                if (s->input_hwc[j] != 0.0f)
                    s->stats[i].synops += snn_scatter(p, L, s->yx[0], s->pool_map[k], j, s->input_hwc[j],
                                                  s->constant[i]);
        }
        if (!s->next_t[i] || !s->steady[i] || m->reset != SNN_RESET_SUBTRACT)
            continue;
        /* Constant current: every neuron's first spike time, on the wheel. */
        s->scheduled[i] = 1;
        for (uint32_t q = 0; q < SNN_WHEEL; q++)
            s->wheel[i][q] = NEVER;
        for (uint32_t j = 0; j < L->size; j++) {
            double th = (double)L->threshold[j % L->c];
            s->n_fired[i][j] = 0;
            wheel_insert(s, i, j, schedule((double)s->constant[i][j], (double)initial_membrane(m, L, j, j % L->c), th, 0, 0));
        }
    }
}

/* A layer fed by the direct-coded input only: the neurons due this step fire, and are
 * scheduled again. Work is proportional to spikes, not neurons. */
static void fire_scheduled(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    uint32_t t = s->t + 1, slot = t & (SNN_WHEEL - 1), n = 0;
    uint32_t *out = s->spike_idx[i + 1];
    uint32_t j = s->wheel[i][slot];
    s->wheel[i][slot] = NEVER;
    while (j != NEVER) {
        uint32_t nx = s->link[i][j];
        if (s->next_t[i][j] == t) {
            out[n++] = j;
            double th = (double)L->threshold[j % L->c];
            uint32_t t2 = schedule((double)s->constant[i][j], (double)initial_membrane(m, L, j, j % L->c), th,
                                   ++s->n_fired[i][j], t);
            wheel_insert(s, i, j, t2);
        } else {
            wheel_insert(s, i, j, s->next_t[i][j]); /* a later turn of the wheel */
        }
        j = nx;
    }
    if (s->count[i + 1])
        for (uint32_t q = 0; q < n; q++)
            s->count[i + 1][out[q]] += 1.0f;
    s->n_spikes[i + 1] = n;
}

/* Bits q = 0..7 of nz: f[q] != 0; of neg: f[q] < 0. One compare and one move-mask per four
 * flags where SSE2 exists (every x86-64), plain compares elsewhere. */
static inline void flag_masks(const float *restrict f, uint32_t *nz, uint32_t *neg)
{
#if defined(__SSE2__)
    __m128 zero = _mm_setzero_ps(), a = _mm_loadu_ps(f), b = _mm_loadu_ps(f + 4);
    *nz = (uint32_t)(_mm_movemask_ps(_mm_cmpneq_ps(a, zero)) | _mm_movemask_ps(_mm_cmpneq_ps(b, zero)) << 4);
    *neg = (uint32_t)(_mm_movemask_ps(_mm_cmplt_ps(a, zero)) | _mm_movemask_ps(_mm_cmplt_ps(b, zero)) << 4);
#else
    uint32_t z = 0, g = 0;
    for (uint32_t q = 0; q < 8; q++) {
        z |= (uint32_t)(f[q] != 0.0f) << q;
        g |= (uint32_t)(f[q] < 0.0f) << q;
    }
    *nz = z, *neg = g;
#endif
}

/* Append the events of flags f[0..size) to out (index | SNN_SPIKE_NEG for -1); returns the
 * count. burst: a flag of s (-G..G) is |s| events of its own, next to each other, in neuron
 * order (the order the targets add their weights in); else each nonzero flag is one event. Flags are gathered 8 at a time into bit masks, and only the set bits are visited: at
 * the rates of a converted net most groups hold a spike, so a test-and-skip per group
 * mispredicts more than it saves. */
SNN_HOT_INLINE uint32_t list_events(const float *restrict f, uint32_t size, uint32_t *restrict out, bool burst)
{
    uint32_t n = 0, j = 0;
    for (; j + 8 <= size; j += 8) {
        uint32_t nz, neg;
        flag_masks(f + j, &nz, &neg);
        while (nz) {
            uint32_t q = snn_ctz(nz), e = (j + q) | (neg >> q & 1u) << 31;
            out[n++] = e;
            for (uint32_t r = 1, a = burst ? (uint32_t)fabsf(f[j + q]) : 1; r < a; r++)
                out[n++] = e;
            nz &= nz - 1;
        }
    }
    for (; j < size; j++)
        for (uint32_t r = 0, a = burst ? (uint32_t)fabsf(f[j]) : f[j] != 0.0f; r < a; r++)
            out[n++] = j | (f[j] < 0.0f ? SNN_SPIKE_NEG : 0);
    return n;
}

/* The output layer with the membrane readout integrates and never fires: true when layer i is
 * that layer (and has integrated). */
static bool output_integrates(snn_state *s, uint32_t i)
{
    const snn_layer *L = &s->m->layers[i];
    if (!(L->flags & SNN_LAYER_F_OUTPUT) || s->m->readout != SNN_READOUT_MEMBRANE)
        return false;
    for (uint32_t j = 0; j < L->size; j++)
        s->v[i][j] += s->constant[i][j];
    s->n_spikes[i + 1] = 0;
    return true;
}

/* Integrate and fire layer i (its spike input is already in v); spikes go to buffer i + 1.
 * A flat loop over neurons that the compiler vectorises (per-neuron thresholds, flags instead
 * of a branch, the spike count as a sum of flags), then, when a later layer reads this one's
 * events, a scan of the flags (list_events()).
 *
 * Signed spikes (SNN_FEATURE_SIGNED): a neuron whose membrane falls below 0 while its count is
 * positive emits a -1 spike and gets theta back. Its count then stays within half a spike of
 * v_init + (summed input) / theta whenever that is positive (with v_init = 0.5: the rounded
 * ReLU of the summed input), however unevenly the input arrived. A plain integrate-and-fire
 * neuron keeps the spikes an early positive transient gave it; that "unevenness error"
 * (Bu et al. 2022, "Optimal ANN-SNN conversion for high-accuracy and ultra-low-latency spiking
 * neural networks", ICLR) is what costs deep and residual nets most at low T. Negative spikes
 * that take back sent ones, limited by a memory of the spikes sent (here the count), follow
 * Wang et al. 2022 ("Signed neuron with memory: towards simple, accurate and high-efficient
 * ANN-SNN conversion", IJCAI).
 *
 * A steady layer (s->steady: a constant current, starting at v_init thresholds with
 * 0 <= v_init <= 1, or any start without signed spikes) cannot take the -1 branch: with
 * a current k >= 0 the membrane stays >= 0, with k < 0 it never fires. It runs the unsigned
 * loop, and keeps a count only when a max-pool reads it. */
static void fire(snn_state *s, uint32_t i)
{
    if (output_integrates(s, i))
        return;
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    float *restrict v = s->v[i];
    const float *restrict k = s->constant[i];
    const float *restrict th = s->th_full[i];
    float *restrict flag = s->flag[i];
    float *restrict cnt = s->count[i + 1];
    uint32_t n = 0, size = L->size;
    bool signed_fire = (m->features & SNN_FEATURE_SIGNED) && !s->steady[i];
    if (s->steady[i] && !s->pool_reads[i + 1])
        cnt = NULL;
    /* Pure float arithmetic (a 0/1 flag, no branch) so that the loop vectorises. Reset by
     * subtraction removes theta from the membrane; reset to zero removes all of it. */
    if (signed_fire) {
        for (uint32_t j = 0; j < size; j++) {
            float vj = v[j] + k[j];
            float f = (vj >= th[j] ? 1.0f : 0.0f) - (vj < 0.0f && cnt[j] > 0.0f ? 1.0f : 0.0f);
            v[j] = vj - f * th[j];
            cnt[j] += f;
            flag[j] = f;
            n += f != 0.0f;
        }
    } else if (m->reset == SNN_RESET_SUBTRACT) {
        for (uint32_t j = 0; j < size; j++) {
            float vj = v[j] + k[j];
            float f = vj >= th[j] ? 1.0f : 0.0f;
            v[j] = vj - f * th[j];
            flag[j] = f;
            n += f != 0.0f;
        }
    } else {
        for (uint32_t j = 0; j < size; j++) {
            float vj = v[j] + k[j];
            float f = vj >= th[j] ? 1.0f : 0.0f;
            v[j] = vj - f * vj;
            flag[j] = f;
            n += f != 0.0f;
        }
    }
    if (cnt && !signed_fire)
        for (uint32_t j = 0; j < size; j++)
            cnt[j] += flag[j];
    s->n_spikes[i + 1] = n;
    if (s->events[i + 1])
        list_events(flag, size, s->spike_idx[i + 1], false);
}

/* Burst spikes (SNN_FEATURE_BURST): Li & Zeng 2022, "Efficient and Accurate Conversion of
 * Spiking Neural Network with Burst Spikes" (IJCAI). In one step a neuron applies fire()'s rule
 * up to G = m->burst times, so it emits s = clamp(floor(v / theta), 0, G) spikes and keeps
 * v - s theta; with signed spikes, as many -1 spikes as its membrane is thetas below 0, at most
 * G and at most its count. G = 1 is fire()'s neuron operation for operation. Its flag is s
 * (-G..G), which the dense projections multiply by; every spike is an event of its own, so
 * spike counts and synaptic operations count a burst of k as k. */
static void fire_burst(snn_state *s, uint32_t i)
{
    if (output_integrates(s, i))
        return;
    const snn_model *m = s->m;
    float *restrict v = s->v[i], *restrict flag = s->flag[i], *restrict cnt = s->count[i + 1];
    const float *restrict k = s->constant[i], *restrict th = s->th_full[i];
    uint32_t size = m->layers[i].size, G = m->burst;
    bool signed_fire = (m->features & SNN_FEATURE_SIGNED) && !s->steady[i];
    /* The rule's G rounds run for every neuron, instead of a loop per neuron that stops at its
     * first round without a spike: a round after that one is exact arithmetic on 0 (v - 0 *
     * theta, sum + 0), so the result is the same bit for bit, and the loops have no branch and
     * vectorise. After a +1 the membrane is >= 0 and after a -1 below theta, so no round undoes
     * the one before it. flag holds the sum s (-G..G). The default G = 4 runs its rounds
     * unrolled in one pass (measured: the CNN's step loop at T = 4 took 0.61 of the time of the
     * loop per neuron, docs/models.md); other G as G passes. */
#define BURST_ROUND(signed_)                                                                       \
    f = (vj >= t ? 1.0f : 0.0f) - ((signed_) && vj < 0.0f && c + sum > 0.0f ? 1.0f : 0.0f); \
    vj = vj - f * t;                                                                           \
    sum += f
#define BURST4(signed_)                                                                            \
    for (uint32_t j = 0; j < size; j++) {                                                          \
        float vj = v[j] + k[j], t = th[j], c = (signed_) ? cnt[j] : 0.0f, sum = 0.0f, f;           \
        BURST_ROUND(signed_);                                                                      \
        BURST_ROUND(signed_);                                                                      \
        BURST_ROUND(signed_);                                                                      \
        BURST_ROUND(signed_);                                                                      \
        v[j] = vj;                                                                                 \
        flag[j] = sum;                                                                             \
    }
    if (G == 4 && signed_fire) {
        BURST4(true)
    } else if (G == 4) {
        BURST4(false)
    } else {
        for (uint32_t j = 0; j < size; j++) {
            v[j] += k[j];
            flag[j] = 0.0f;
        }
        for (uint32_t g = 0; g < G; g++)
            for (uint32_t j = 0; j < size; j++) {
                float vj = v[j], t = th[j], sum = flag[j], c = signed_fire ? cnt[j] : 0.0f, f;
                BURST_ROUND(signed_fire);
                v[j] = vj;
                flag[j] = sum;
            }
    }
#undef BURST4
#undef BURST_ROUND
    if (cnt && (signed_fire || !s->steady[i] || s->pool_reads[i + 1]))
        for (uint32_t j = 0; j < size; j++)
            cnt[j] += flag[j];
    uint32_t n = 0;
    if (s->events[i + 1])
        n = list_events(flag, size, s->spike_idx[i + 1], true);
    else
        for (uint32_t j = 0; j < size; j++)
            n += (uint32_t)fabsf(flag[j]);
    s->n_spikes[i + 1] = n;
}

/* o += w * f over n floats, with loops of fixed length for common channel counts (as
 * snn_axpy()). */
static inline void mul_add(float *restrict o, const float *restrict w, const float *restrict f, uint32_t n)
{
#define MUL_ADD_FIXED(N)                                                                     \
    case N:                                                                                  \
        for (uint32_t c = 0; c < N; c++)                                                     \
            o[c] += w[c] * f[c];                                                             \
        return;
    switch (n) {
    MUL_ADD_FIXED(8)
    MUL_ADD_FIXED(16)
    MUL_ADD_FIXED(32)
    MUL_ADD_FIXED(64)
    default:
        for (uint32_t c = 0; c < n; c++)
            o[c] += w[c] * f[c];
    }
#undef MUL_ADD_FIXED
}

/* Does dense projection p send every source neuron to exactly one output? Then the synaptic
 * operations of a step are the source's spike count, and the pass need not count them. */
static int proj_one_to_one(const snn_proj *p, const snn_layer *L)
{
    if (p->kind == SNN_PROJ_IDENTITY)
        return 1;
    return p->kh == p->sh && p->kw == p->sw && p->pt == 0 && p->pl == 0 &&
           (uint32_t)L->h * p->sh == p->src_h && (uint32_t)L->w * p->sw == p->src_w;
}

/* Dense projection p (proj_dense()) of this step's flags into the currents I of layer L.
 * Returns the synaptic operations an event-driven pass would have done: one per spike that
 * reaches an output (n_src, the source's spikes, when proj_one_to_one()). */
static uint64_t dense_proj_run(const snn_proj *p, const snn_layer *L, const float *restrict flag,
                               float *restrict I, uint32_t n_src)
{
    const float *restrict w = p->w; /* (C) */
    uint32_t C = L->c, ops = 0;
    if (p->kind == SNN_PROJ_IDENTITY) {
        for (uint32_t q = 0; q < L->h * L->w; q++) {
            const float *restrict f = flag + (size_t)q * C;
            mul_add(I + (size_t)q * C, w, f, C);
        }
        return n_src;
    }
    /* Average pooling, windows that do not overlap: each output sums its window. */
    int count = !proj_one_to_one(p, L);
    for (uint32_t oy = 0; oy < L->h; oy++)
        for (uint32_t ox = 0; ox < L->w; ox++) {
            float *restrict o = I + (size_t)(oy * L->w + ox) * C;
            for (uint32_t ky = 0; ky < p->kh; ky++) {
                int32_t iy = (int32_t)(oy * p->sh + ky) - p->pt;
                if (iy < 0 || iy >= (int32_t)p->src_h)
                    continue;
                for (uint32_t kx = 0; kx < p->kw; kx++) {
                    int32_t ix = (int32_t)(ox * p->sw + kx) - p->pl;
                    if (ix < 0 || ix >= (int32_t)p->src_w)
                        continue;
                    const float *restrict f = flag + ((size_t)iy * p->src_w + (uint32_t)ix) * C;
                    mul_add(o, w, f, C);
                    if (count) /* a burst of k spikes is k operations */
                        for (uint32_t c = 0; c < C; c++)
                            ops += (uint32_t)fabsf(f[c]);
                }
            }
        }
    return count ? ops : n_src;
}

/* The largest count among the inputs in output (oy, ox, c)'s window. */
static float window_max(const snn_layer *L, const snn_layer *S, const float *cnt, uint32_t oy,
                        uint32_t ox, uint32_t c)
{
    int32_t y0 = (int32_t)(oy * L->sh) - L->pt, x0 = (int32_t)(ox * L->sw) - L->pl;
    float best = 0.0f;
    for (int32_t y = y0 < 0 ? 0 : y0; y < y0 + L->kh && y < (int32_t)S->h; y++)
        for (int32_t x = x0 < 0 ? 0 : x0; x < x0 + L->kw && x < (int32_t)S->w; x++) {
            float v = cnt[((uint32_t)y * S->w + (uint32_t)x) * S->c + c];
            best = v > best ? v : best;
        }
    return best;
}

/* Spiking max pooling. Rueckauer et al. 2017 (sec. 2.2.2) gate the spikes of the input with
 * the highest rate estimate; passing a winner's spikes loses or doubles spikes whenever the
 * winner changes. Here an output spikes when an input in its window reaches a spike count
 * above the output's own count, so the output's count equals the largest input count in its
 * window after every step: the max of rates, exact up to one spike, with no estimate. (An
 * input that bursts k spikes lists k events, and each moves the output by at most one.)
 * With signed spikes an input's -1 spike can lower the window's largest count; the output
 * then emits a -1 spike too. */
static void maxpool(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    uint32_t src = L->source, n = 0;
    const snn_layer *S = &m->layers[src - 1];
    const float *cnt = s->count[src];
    float *own = s->count[i + 1];
    uint32_t *out = s->spike_idx[i + 1], C = S->c;
    for (uint32_t k = 0; k < s->n_spikes[src]; k++) {
        uint32_t e = s->spike_idx[src][k], j = SNN_SPIKE_INDEX(e);
        uint32_t iy = s->yx[src][j] >> 16, ix = s->yx[src][j] & 0xffff;
        uint32_t c = j - (iy * S->w + ix) * C;
        snn_window_range r = snn_pool_windows(L, iy, ix);
        for (uint32_t oy = r.oy0; oy <= r.oy1 && oy < L->h; oy++)
            for (uint32_t ox = r.ox0; ox <= r.ox1 && ox < L->w; ox++) {
                uint32_t o = (oy * L->w + ox) * C + c;
                if (!snn_pool_window_holds(L, oy, ox, iy, ix))
                    continue;
                if (e & SNN_SPIKE_NEG) {
                    if (own[o] > window_max(L, S, cnt, oy, ox, c)) {
                        own[o] -= 1.0f;
                        out[n++] = o | SNN_SPIKE_NEG;
                    }
                } else if (cnt[j] > own[o]) {
                    own[o] += 1.0f;
                    out[n++] = o;
                }
            }
    }
    s->n_spikes[i + 1] = n;
}

void snn_fsim_step(snn_state *s)
{
    const snn_model *m = s->m;
    if (s->coding == SNN_CODING_POISSON) {
        uint32_t n = 0;
        for (uint32_t j = 0; j < m->input_size; j++)
            if (next_uniform(&s->rng) < s->input_hwc[j])
                s->spike_idx[0][n++] = j;
        s->n_spikes[0] = n;
        s->input_spikes += n;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        snn_layer_stats *st = &s->stats[i];
        if (L->kind == SNN_LAYER_NEURON) {
            float *I = s->v[i]; /* spikes charge the membrane directly */
            for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
                const snn_proj *p = &m->proj[k];
                if (p->source == 0 && s->coding == SNN_CODING_DIRECT)
                    continue; /* already in the constant current */
                if (s->dense_proj[k]) {
                    st->synops += dense_proj_run(p, L, s->flag[p->source - 1], I, s->n_spikes[p->source]);
                    continue;
                }
                const uint32_t *idx = s->spike_idx[p->source];
                uint32_t n = s->n_spikes[p->source];
                if (snn_conv_fast_ok(p)) {
                    st->synops += snn_conv_events(p, L, s->yx[p->source], idx, n, I);
                    continue;
                }
                /* Two inlined scatters, so each spike's sign is a constant: an add or a
                 * subtract. Files without signed spikes never take the second. */
                for (uint32_t q = 0; q < n; q++) {
                    if (idx[q] & SNN_SPIKE_NEG)
                        st->synops += snn_scatter(p, L, s->yx[p->source], s->pool_map[k],
                                                  SNN_SPIKE_INDEX(idx[q]), -1.0f, I);
                    else
                        st->synops += snn_scatter(p, L, s->yx[p->source], s->pool_map[k], idx[q], 1.0f, I);
                }
            }
            if (s->scheduled[i])
                fire_scheduled(s, i);
            else if (m->features & SNN_FEATURE_BURST)
                fire_burst(s, i);
            else
                fire(s, i);
        } else if (L->kind == SNN_LAYER_MAXPOOL) {
            maxpool(s, i);
        } else { /* CONCAT: each source's channels at its offset within every position */
            uint32_t n = 0, offset = 0;
            for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
                const snn_proj *p = &m->proj[k];
                for (uint32_t q = 0; q < s->n_spikes[p->source]; q++) {
                    uint32_t e = s->spike_idx[p->source][q], j = SNN_SPIKE_INDEX(e);
                    s->spike_idx[i + 1][n++] = ((j / p->src_c) * L->c + offset + j % p->src_c) |
                                               (e & SNN_SPIKE_NEG);
                }
                offset += p->src_c;
            }
            s->n_spikes[i + 1] = n;
        }
        st->spikes += s->n_spikes[i + 1];
        if (s->count[i + 1] && L->kind == SNN_LAYER_CONCAT)
            for (uint32_t q = 0; q < s->n_spikes[i + 1]; q++) {
                uint32_t e = s->spike_idx[i + 1][q];
                s->count[i + 1][SNN_SPIKE_INDEX(e)] += e & SNN_SPIKE_NEG ? -1.0f : 1.0f;
            }
    }
    s->t++;
}


#endif /* SNN_NO_FLOAT */
