/* The rate-coded simulation of integer files (SNN_FEATURE_INT): int8 or int16 weights, int32
 * membranes, spikes as bit sets. The step loop only adds, compares and subtracts integers, so
 * it gives the same membranes, bit for bit, on every compiler and target.
 *
 * Units. The membrane of channel c of a layer counts in units of unit[c] (float): the
 * converter chose unit[c] so that the largest weight into the channel is the weight type's
 * largest integer (per output channel, symmetric), and wrote the bias, the threshold and the
 * initial membrane in the same unit (docs/snn-format.md). A spike carries the value 1, so its
 * effect is its integer weight, whatever the source's unit. Several projections into one layer
 * (a residual Add) share the layer's units. The output layer has one unit for all classes, so
 * its argmax compares integers.
 *
 * The direct-coded input is the only analog value: it is quantised once per inference to
 * x_q = round(x * 2^input_frac), clamped to +-SNN_MAX_INPUT_Q, and each neuron that reads it
 * gets the constant current bias + round(sum(w * x_q) / 2^input_frac), summed in 64 bits
 * neuron by neuron (a gather, so no 64-bit array is needed).
 *
 * The neuron model, max-pool and concat are those of snn_sim_step.c. Membrane arithmetic wraps
 * modulo 2^32 (done in unsigned, so it is defined): a converted file stays far from it. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "snn_runtime.h"
#include "snn_internal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__ARM_FEATURE_SIMD32) || defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* SNN_FAST_PATHS and SNN_PAIRED_WEIGHTS: snn_runtime.h. */
#define SNN_ROW_KERNELS SNN_PAIRED_WEIGHTS /* the Cortex-M4's written-out kernels */
#if defined(__ARM_FEATURE_SIMD32)
/* Pairs of 16-bit lanes from SXTB16's (w0, w2) and (w1, w3): PKHBT gives (w0, w1), PKHTB
 * (w2, w3). A 32-bit word that may alias the int8 weights and int16 membranes it is read from. */
#if defined(__GNUC__)
static inline uint32_t PKHBT(uint32_t even, uint32_t odd)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(even), "r"(odd));
    return r;
}
static inline uint32_t PKHTB(uint32_t even, uint32_t odd)
{
    uint32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(even), "r"(odd));
    return r;
}
typedef uint32_t __attribute__((may_alias)) snn_word;
#else
#define PKHBT(even, odd) (((even) & 0xffffu) | (odd) << 16)
#define PKHTB(even, odd) (((odd) & 0xffff0000u) | (even) >> 16)
typedef uint32_t snn_word;
#endif
#endif


/* Are projection weights int8 (else int16)? A device build for one weight type defines
 * SNN_NO_INT16 or SNN_NO_INT8 (ann2snn export-c does), which makes this a constant and leaves
 * the other type's loops out of the binary; its loader refuses files of that type. */
#if defined(SNN_NO_INT16)
#define IS_I8(w8) 1
#elif defined(SNN_NO_INT8)
#define IS_I8(w8) 0
#else
#define IS_I8(w8) ((w8) != NULL)
#endif

static inline int32_t wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* x clamped to the int16 range: a narrow layer's membrane saturates. */
static inline int32_t sat16(int32_t x)
{
#if defined(__ARM_FEATURE_SAT)
    return __ssat(x, 16); /* one SSAT */
#else
    return x > INT16_MAX ? INT16_MAX : x < INT16_MIN ? INT16_MIN : x;
#endif
}

#ifndef SNN_QSIM_STEP_ONLY /* set-up only; snn_qsim_step_avx2.c compiles the steps alone */
/* Division of n < 2^26 by a divisor d < 2^26 as a multiply and a shift: with l = ceil(log2 d)
 * and m = ceil(2^(26 + l) / d), n / d = (n * m) >> (26 + l) (Granlund and Montgomery 1994,
 * "Division by invariant integers using multiplication", PLDI, theorem 4.2). m < 2^27, so
 * n * m < 2^53, and the pair packs into one word as m << 5 | l. */
static uint32_t div_pack(uint32_t d)
{
    uint32_t l = 0;
    while ((1u << l) < d)
        l++;
    uint64_t m = (((uint64_t)1 << (26 + l)) + d - 1) / d;
    return (uint32_t)m << 5 | l;
}

#endif

static inline uint32_t qdiv(uint32_t packed, uint32_t n)
{
    return (uint32_t)(((uint64_t)n * (packed >> 5)) >> (26 + (packed & 31)));
}

/* Channel c's initial membrane: stored (before 1.7) or derived from its threshold. */
static int32_t qinit(const snn_model *m, const snn_layer *L, uint32_t c)
{
    return L->qv0 ? L->qv0[c] : snn_qinit(L->qtheta[c], m->v_init);
}

static int reads_input(const snn_model *m, uint32_t i)
{
    const snn_layer *L = &m->layers[i];
    if (L->kind != SNN_LAYER_NEURON)
        return 0;
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++)
        if (m->proj[k].source == 0)
            return 1;
    return 0;
}

#ifndef SNN_QSIM_STEP_ONLY
/* Counts as snn_sim.c keeps them: max-pool sources and outputs, signed neuron layers, and the
 * output (spike-count readout). */
static int needs_count(const snn_model *m, uint32_t b)
{
    if (b == m->n_layers)
        return 1;
    if (b > 0 && m->layers[b - 1].kind == SNN_LAYER_MAXPOOL)
        return 1;
    if (b > 0 && m->layers[b - 1].kind == SNN_LAYER_NEURON && (m->features & SNN_FEATURE_SIGNED))
        return 1;
    return snn_maxpool_reads(m, b);
}

#endif

/* A signed layer fed only by the input needs its counts under Poisson coding, and its
 * per-neuron current only under direct coding: the two share memory (int16 counts in the
 * int32 currents' space) unless a max-pool reads the counts. */
static int count_in_k(const snn_model *m, uint32_t i)
{
    return snn_input_only(m, i) && !snn_maxpool_reads(m, i + 1);
}

/* A stride-1, undilated, group-1 convolution (the kind the fast paths take). */
static int conv_fast(const snn_proj *p)
{
    return p->kind == SNN_PROJ_CONV && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 && p->group == 1;
}

/* The taps of a stride-1, undilated kernel (p) from input position (iy, ix) that land inside an
 * oh x ow output: kh in [kh0, kh1) and kw in [kw0, kw1), tap (kh, kw) onto output
 * (y0 - kh, x0 - kw). */
typedef struct {
    uint32_t y0, x0, kh0, kh1, kw0, kw1;
} tap_span;

static inline tap_span taps_from(const snn_proj *p, uint32_t oh, uint32_t ow, uint32_t iy, uint32_t ix)
{
    tap_span t;
    t.y0 = iy + p->pt, t.x0 = ix + p->pl;
    t.kh0 = t.y0 >= oh ? t.y0 - oh + 1 : 0, t.kw0 = t.x0 >= ow ? t.x0 - ow + 1 : 0;
    t.kh1 = t.y0 + 1 < p->kh ? t.y0 + 1 : p->kh, t.kw1 = t.x0 + 1 < p->kw ? t.x0 + 1 : p->kw;
    return t;
}

/* How many taps a span has, times n (the outputs of one tap). */
static inline uint32_t taps_times(tap_span t, uint32_t n)
{
    return (t.kh1 > t.kh0 ? t.kh1 - t.kh0 : 0) * (t.kw1 > t.kw0 ? t.kw1 - t.kw0 : 0) * n;
}

/* A narrow layer keeps 16-bit membranes that saturate at the int16 range
 * (docs/snn-format.md, "Integer files"): a hidden neuron layer that does not read the input,
 * whose projections all have a 16-bit path here (dense, stride-1 group-1 convolution, average
 * pooling whose windows do not overlap, identity, global average), and whose integer
 * thresholds, biases and initial membranes lie within +-SNN_NARROW_MAX. An int8 file's hidden
 * layers are narrow as a rule; an int16 file's thresholds are too large for it. */
static int narrow_ok(const snn_model *m, uint32_t i)
{
    const snn_layer *L = &m->layers[i];
    if (L->kind != SNN_LAYER_NEURON || (L->flags & SNN_LAYER_F_OUTPUT) || reads_input(m, i))
        return 0;
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        const snn_proj *p = &m->proj[k];
        bool fast_conv = conv_fast(p);
        bool pool_apart = p->kind == SNN_PROJ_AVGPOOL && p->kh <= p->sh && p->kw <= p->sw;
        if (!(p->kind == SNN_PROJ_DENSE || fast_conv || pool_apart || p->kind == SNN_PROJ_IDENTITY ||
              p->kind == SNN_PROJ_GLOBALAVG))
            return 0;
    }
    for (uint32_t c = 0; c < L->c; c++)
        if (L->qtheta[c] > SNN_NARROW_MAX || L->qbias[c] > SNN_NARROW_MAX || L->qbias[c] < -SNN_NARROW_MAX ||
            qinit(m, L, c) > SNN_NARROW_MAX || qinit(m, L, c) < -SNN_NARROW_MAX)
            return 0;
    return 1;
}

static uint32_t words(uint32_t n)
{
    return (n + 31) / 32;
}

#ifndef SNN_QSIM_STEP_ONLY
static size_t layout(snn_state *s, const snn_model *m, uint8_t *mem)
{
    size_t off = 0;
#define TAKE(ptr, type, n)                                                                  \
    do {                                                                                   \
        if (mem)                                                                           \
            ptr = (type *)(void *)(mem + off);                                             \
        off += snn_align_up((size_t)(n) * sizeof(type));                                       \
    } while (0)
    bool signed_f = m->features & SNN_FEATURE_SIGNED;
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        TAKE(s->bits[b], uint32_t, words(m->buffer_size[b]));
        if (signed_f)
            TAKE(s->neg_bits[b], uint32_t, words(m->buffer_size[b]));
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind != SNN_LAYER_NEURON)
            continue;
        if (narrow_ok(m, i))
            TAKE(s->qv16[i], int16_t, L->size);
        else
            TAKE(s->qv[i], int32_t, L->size);
        if (reads_input(m, i))
            TAKE(s->qk[i], int32_t, L->size);
    }
    for (uint32_t b = 1; b <= m->n_layers; b++) {
        if (!needs_count(m, b))
            continue;
        if (b < m->n_layers && count_in_k(m, b - 1)) {
            if (mem)
                s->qcount[b] = (int16_t *)(void *)s->qk[b - 1];
        } else {
            TAKE(s->qcount[b], int16_t, m->buffer_size[b]);
        }
    }
    if (snn_maxpool_reads(m, 0))
        TAKE(s->qcount[0], int16_t, m->input_size);
    TAKE(s->stats, snn_layer_stats, m->n_layers);
    TAKE(s->x_q, int32_t, m->input_size);
    TAKE(s->out_f, float, m->n_classes);
#undef TAKE
    return off;
}

#if SNN_FAST_PATHS
/* Layer i reads the input through dense projections and fast convolutions only: the largest
 * sum of |w| over the input weights into one of its neurons, an upper bound on
 * |sum(w * x_q)| / max|x_q|; 0 where another kind reads the input or the bound passes 2^31. */
static uint32_t input_weight_bound(const snn_model *m, uint32_t i)
{
    const snn_layer *L = &m->layers[i];
    uint64_t total = 0;
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        const snn_proj *p = &m->proj[k];
        if (p->source != 0)
            continue;
        if (p->kind != SNN_PROJ_DENSE && !conv_fast(p))
            return 0;
        /* Dense: w[j * size + o]; convolution: w[((c * kh + y) * kw + x) * C + o]. */
        uint32_t fan = p->kind == SNN_PROJ_DENSE ? m->input_size : p->src_c * p->kh * p->kw;
        uint32_t outs = p->kind == SNN_PROJ_DENSE ? L->size : L->c;
        uint64_t best = 0;
        for (uint32_t o = 0; o < outs; o++) {
            uint64_t sum = 0;
            for (uint32_t f = 0; f < fan; f++) {
                int32_t w = IS_I8(p->w8) ? p->w8[(size_t)f * outs + o] : p->w16[(size_t)f * outs + o];
                sum += (uint32_t)(w < 0 ? -w : w);
            }
            best = sum > best ? sum : best;
        }
        total += best;
    }
    return total > INT32_MAX ? 0 : (uint32_t)total;
}
#else
#define input_weight_bound(m, i) 0u
#endif

size_t snn_qsim_mem_size(const snn_model *m)
{
    snn_state tmp;
    memset(&tmp, 0, sizeof tmp);
    return layout(&tmp, m, NULL) + SNN_MEM_ALIGN;
}

snn_rt_status snn_qsim_init(snn_state *s, const snn_model *m, void *mem, size_t mem_size)
{
    if (!mem || mem_size < snn_qsim_mem_size(m))
        return SNN_RT_ERR_ARG;
    uint8_t *base = snn_mem_base(mem);
    s->m = m;
    layout(s, m, base);
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        uint32_t C = b ? m->layers[b - 1].c : m->input_c, W = b ? m->layers[b - 1].w : m->input_w;
        s->div_c[b] = div_pack(C);
        s->div_w[b] = div_pack(W);
    }
    for (uint32_t i = 0; i < m->n_layers; i++)
        s->input_wsum[i] = reads_input(m, i) ? input_weight_bound(m, i) : 0;
    for (uint32_t k = 0; k < m->n_proj; k++) {
        s->div_sh[k] = div_pack(m->proj[k].sh ? m->proj[k].sh : 1);
        s->div_sw[k] = div_pack(m->proj[k].sw ? m->proj[k].sw : 1);
    }
    return SNN_RT_OK;
}

#endif /* SNN_QSIM_STEP_ONLY */

/* Neuron j of buffer b: its position's row and column, and its channel. */
typedef struct {
    uint32_t y, x, c;
} qpos;

static inline qpos where(const snn_state *s, uint32_t b, uint32_t C, uint32_t W, uint32_t j)
{
    qpos r;
    uint32_t pos = qdiv(s->div_c[b], j);
    r.c = j - pos * C;
    r.y = qdiv(s->div_w[b], pos);
    r.x = pos - r.y * W;
    return r;
}

/* floor((a + 2^(f-1)) / 2^f): a rounded to a whole multiple of 2^f, ties upward; defined for
 * negative a too (a right shift of a negative value is not, in C). */
static int64_t round_shift(int64_t a, uint32_t f)
{
    if (f == 0)
        return a;
    int64_t h = (int64_t)1 << (f - 1), q = a + h;
    if (q >= 0)
        return q >> f;
    return -(int64_t)(((uint64_t)(-q) + ((uint64_t)1 << f) - 1) >> f);
}

/* round_shift() of an int32 in 32-bit arithmetic, for f <= SNN_MAX_INPUT_FRAC (16): a is
 * offset by 2^31 to an unsigned u, whose quotient and remainder by 2^f are rounded apart. */
static inline int32_t round_shift32(int32_t a, uint32_t f)
{
    uint32_t u = (uint32_t)a ^ 0x80000000u, h = f ? 1u << (f - 1) : 0, mask = (1u << f) - 1;
    return (int32_t)((u >> f) + (((u & mask) + h) >> f) - (0x80000000u >> f));
}

/* a[C .. size) repeats a[0 .. C): every position of a channel-last array takes the first
 * position's values (C <= size, size a multiple of C). */
static void repeat_first32(int32_t *a, uint32_t C, uint32_t size)
{
    for (uint32_t j = C; j < size; j++)
        a[j] = a[j - C];
}

#define GATHER_BLOCK 32

/* acc[q] += sum(w * x_q) into output neurons (oy, ox, m0 + q), q < nb, of layer L from the
 * input through p (nb <= GATHER_BLOCK, within one group). A block of outputs at a time, so
 * that each term reads nb adjacent weights and the 64-bit sums stay in a small local array.
 * Returns the synaptic operations (terms with x_q != 0). */
static uint64_t gather_input(const snn_state *s, const snn_proj *p, const snn_layer *L, uint32_t oy,
                             uint32_t ox, uint32_t m0, uint32_t nb, int64_t *restrict acc)
{
    const snn_model *m = s->m;
    const int32_t *x = s->x_q;
    const int8_t *w8 = p->w8;
    const int16_t *w16 = p->w16;
    uint32_t C = m->input_c, H = m->input_h, W = m->input_w;
    uint64_t n = 0;
#define TERMS(OFF, XV)                                                                          \
    do {                                                                                       \
        size_t off_ = (OFF);                                                                   \
        int32_t xv_ = (XV); /* |x_q| <= 2^20: w * x_q is one 32 x 32 -> 64 multiply */  \
        if (IS_I8(w8))                                                                         \
            for (uint32_t q = 0; q < nb; q++)                                                  \
                acc[q] += (int64_t)w8[off_ + q] * xv_;                                         \
        else                                                                                   \
            for (uint32_t q = 0; q < nb; q++)                                                  \
                acc[q] += (int64_t)w16[off_ + q] * xv_;                                        \
        n += nb;                                                                               \
    } while (0)
    switch (p->kind) {
    case SNN_PROJ_DENSE: {
        uint32_t o = (oy * L->w + ox) * L->c + m0;
        for (uint32_t j = 0; j < m->input_size; j++)
            if (x[j])
                TERMS((size_t)j * L->size + o, x[j]);
        break;
    }
    case SNN_PROJ_CONV: {
        uint32_t mg = L->c / p->group, g = m0 / mg, cg = C / p->group;
        for (uint32_t kh = 0; kh < p->kh; kh++) {
            int32_t iy = (int32_t)(oy * p->sh + kh * p->dh) - p->pt;
            if (iy < 0 || iy >= (int32_t)H)
                continue;
            for (uint32_t kw = 0; kw < p->kw; kw++) {
                int32_t ix = (int32_t)(ox * p->sw + kw * p->dw) - p->pl;
                if (ix < 0 || ix >= (int32_t)W)
                    continue;
                const int32_t *xp = x + ((size_t)iy * W + (uint32_t)ix) * C;
                for (uint32_t c = g * cg; c < (g + 1) * cg; c++)
                    if (xp[c])
                        TERMS((((size_t)c * p->kh + kh) * p->kw + kw) * mg + m0 - g * mg, xp[c]);
            }
        }
        break;
    }
#undef TERMS
    default: { /* AVGPOOL, GLOBALAVG, IDENTITY: channel m0 + q reads channel m0 + q */
        int32_t y0 = 0, y1 = (int32_t)H, x0 = 0, x1 = (int32_t)W; /* GLOBALAVG: everything */
        if (p->kind == SNN_PROJ_IDENTITY) {
            y0 = (int32_t)oy, y1 = y0 + 1, x0 = (int32_t)ox, x1 = x0 + 1;
        } else if (p->kind == SNN_PROJ_AVGPOOL) { /* the window, clipped to the input */
            y0 = (int32_t)(oy * p->sh) - p->pt, x0 = (int32_t)(ox * p->sw) - p->pl;
            y1 = y0 + p->kh, x1 = x0 + p->kw;
            y0 = y0 < 0 ? 0 : y0, x0 = x0 < 0 ? 0 : x0;
            y1 = y1 > (int32_t)H ? (int32_t)H : y1, x1 = x1 > (int32_t)W ? (int32_t)W : x1;
        }
        for (int32_t y = y0; y < y1; y++)
            for (int32_t xx = x0; xx < x1; xx++) {
                const int32_t *xp = x + ((size_t)y * W + (uint32_t)xx) * C + m0;
                for (uint32_t q = 0; q < nb; q++) {
                    int32_t wv = IS_I8(w8) ? (int32_t)w8[m0 + q] : (int32_t)w16[m0 + q];
                    acc[q] += (int64_t)wv * xp[q]; /* a widening multiply */
                    n += xp[q] != 0;
                }
            }
    }
    }
    return n;
}

#if SNN_FAST_PATHS
/* Layer i's constant current k = bias + round(sum(w * x_q) / 2^input_frac) where every term
 * and partial sum fits in 32 bits (max|x_q| * snn_state.input_wsum[i] < 2^31): input by input,
 * each nonzero x_q adding its weight rows into k itself, as a spike adds its rows into the
 * membranes. The sums are exact, so k is that of gather_input(), in any order. Returns the
 * synaptic operations (terms with x_q != 0). */
static uint64_t input_scatter(snn_state *s, uint32_t i, uint32_t max_x)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    int32_t *restrict kq = s->qk[i]; /* (H, W, C) */
    const int32_t *restrict x = s->x_q; /* (input H, W, C) */
    uint64_t n = 0;
    /* With input_frac f >= 1, k may start at bias * 2^f + 2^(f-1) instead of 0 where no partial
     * sum can then leave 32 bits: the sum of the terms, shifted down f bits (a floor), is then
     * bias + round_shift32(sum) itself, and inside +-2^30, so the rounding loop below is a
     * shift. (bias * 2^f is a multiple of 2^f, so the floor passes it through exactly.) */
    uint32_t f = m->input_frac, C = L->c, bmax = 0;
    for (uint32_t c = 0; c < C; c++) { /* |bias| <= 2^24 (the loader checks) */
        uint32_t b = (uint32_t)(L->qbias[c] < 0 ? -L->qbias[c] : L->qbias[c]);
        bmax = b > bmax ? b : bmax;
    }
    bool prefill = f >= 1 && f <= 16 &&
                   ((uint64_t)bmax << f) + (1u << (f - 1)) + (uint64_t)max_x * s->input_wsum[i] <= INT32_MAX;
    if (prefill) {
        for (uint32_t c = 0; c < C && c < L->size; c++)
            kq[c] = L->qbias[c] * (int32_t)(1u << f) + (int32_t)(1u << (f - 1));
        repeat_first32(kq, C, L->size);
    } else {
        snn_zero(kq, L->size * sizeof *kq);
    }
#define MAC_ROW(O, OFF, XV, N)                                                                   \
    do {                                                                                       \
        int32_t *restrict o_ = (O), xv_ = (XV);                                                \
        uint32_t n_ = (N);                                                                     \
        if (IS_I8(w8)) {                                                                       \
            const int8_t *restrict w_ = w8 + (OFF);                                            \
            for (uint32_t q = 0; q < n_; q++)                                                  \
                o_[q] += w_[q] * xv_;                                                          \
        } else {                                                                               \
            const int16_t *restrict w_ = w16 + (OFF);                                          \
            for (uint32_t q = 0; q < n_; q++)                                                  \
                o_[q] += w_[q] * xv_;                                                          \
        }                                                                                      \
        n += n_;                                                                               \
    } while (0)
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        const snn_proj *p = &m->proj[k];
        const int8_t *w8 = p->w8;
        const int16_t *w16 = p->w16;
        if (p->source != 0)
            continue;
        if (p->kind == SNN_PROJ_DENSE) {
            for (uint32_t j = 0; j < m->input_size; j++)
                if (x[j])
                    MAC_ROW(kq, (size_t)j * L->size, x[j], L->size);
            continue;
        }
        uint32_t in_c = m->input_c, mg = L->c, kh_n = p->kh, kw_n = p->kw, oh = L->h, ow = L->w;
        for (uint32_t iy = 0, j = 0; iy < m->input_h; iy++)
            for (uint32_t ix = 0; ix < m->input_w; ix++, j += in_c) {
                tap_span t = taps_from(p, oh, ow, iy, ix);
                for (uint32_t c = 0; c < in_c; c++) {
                    int32_t xv = x[j + c];
                    if (!xv)
                        continue;
                    for (uint32_t kh = t.kh0; kh < t.kh1; kh++)
                        for (uint32_t kw = t.kw0; kw < t.kw1; kw++)
                            MAC_ROW(kq + ((t.y0 - kh) * ow + t.x0 - kw) * mg, ((c * kh_n + kh) * kw_n + kw) * mg, xv, mg);
                }
            }
    }
#undef MAC_ROW
    /* As gather_input's caller: k = bias + the rounded sum, clamped to +-2^30. |bias| <= 2^24
     * (the loader checks), so clamping the sum to +-(2^30 + 2^25) first changes nothing and
     * keeps the addition in 32 bits. */
    if (prefill) {
        for (uint32_t j = 0; j < L->size; j++) /* floor(k / 2^f), in unsigned shifts */
            kq[j] = (int32_t)((((uint32_t)kq[j] ^ 0x80000000u) >> f) - (0x80000000u >> f));
        return n;
    }
    const int32_t *bias = L->qbias, lim = (1 << 30) + (1 << 25);
    bool big = f == 0; /* else |round_shift32()| <= 2^30 < lim: no clamp before the bias */
    for (uint32_t j0 = 0; j0 < L->size; j0 += C)
        for (uint32_t c = 0; c < C; c++) {
            int32_t r = round_shift32(kq[j0 + c], f);
            if (big)
                r = r > lim ? lim : r < -lim ? -lim : r;
            int32_t kk = bias[c] + r;
            kq[j0 + c] = kk > (1 << 30) ? (1 << 30) : kk < -(1 << 30) ? -(1 << 30) : kk;
        }
    return n;
}
#endif

void snn_qsim_begin(snn_state *s, const float *x, uint32_t coding, uint64_t seed)
{
    const snn_model *m = s->m;
    s->coding = coding;
    s->rng = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
    if (!s->rng)
        s->rng = 1;
    s->t = 0;
    s->input_spikes = 0;
    snn_zero(s->stats, m->n_layers * sizeof *s->stats);
    /* Quantise the input, channel-last. Scaling by 2^frac is exact and lrintf rounds to
     * nearest even on every IEEE target, so x_q is the same everywhere. Poisson coding keeps
     * x itself as a probability; x_q then holds x * 2^24 for the comparison. */
    uint32_t hw = m->input_h * m->input_w;
    float scale = coding == SNN_CODING_POISSON ? 16777216.0f : ldexpf(1.0f, (int)m->input_frac);
    uint32_t max_x = 0; /* max |x_q| */
    for (uint32_t c = 0; c < m->input_c; c++)
        for (uint32_t q = 0; q < hw; q++) {
            float y = x[c * hw + q] * scale;
            int32_t v;
            if (coding == SNN_CODING_POISSON)
                v = y >= 16777216.0f ? (1 << 24) : y > 0.0f ? (int32_t)ceilf(y) : 0; /* u < x*2^24 */
            else
                v = y >= (float)SNN_MAX_INPUT_Q ? SNN_MAX_INPUT_Q
                  : y <= -(float)SNN_MAX_INPUT_Q ? -SNN_MAX_INPUT_Q
                  : y == y ? (int32_t)lrintf(y) : 0; /* NaN reads as 0 */
            s->x_q[q * m->input_c + c] = v;
            max_x = (uint32_t)(v < 0 ? -v : v) > max_x ? (uint32_t)(v < 0 ? -v : v) : max_x;
        }
    for (uint32_t b = 0; b <= m->n_layers; b++) {
        s->n_spikes[b] = 0;
        snn_zero(s->bits[b], words(m->buffer_size[b]) * sizeof(uint32_t));
        if (s->neg_bits[b])
            snn_zero(s->neg_bits[b], words(m->buffer_size[b]) * sizeof(uint32_t));
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind != SNN_LAYER_NEURON)
            continue;
        bool is_out = L->flags & SNN_LAYER_F_OUTPUT;
        int32_t *v = s->qv[i];
        int16_t *v16 = s->qv16[i];
        uint32_t C = L->c, size = L->size;
        for (uint32_t c = 0; c < C && c < size; c++) { /* the first position; each value worked out once */
            int32_t v0 = is_out ? 0 : qinit(m, L, c);
            if (v16)
                v16[c] = (int16_t)v0;
            else
                v[c] = v0;
        }
        if (v16 && C % 2 == 0) /* the other positions copy the one before, a word (two) at a time */
            for (uint32_t *w = (uint32_t *)(void *)v16, q = C / 2; q < size / 2; q++)
                w[q] = w[q - C / 2];
        else if (v16)
            for (uint32_t j = C; j < size; j++)
                v16[j] = v16[j - C];
        else
            repeat_first32(v, C, size);
        s->steady[i] = (uint8_t)(coding == SNN_CODING_DIRECT && snn_input_only(m, i));
        if (!s->qk[i] || coding != SNN_CODING_DIRECT)
            continue;
#if SNN_FAST_PATHS
        if (s->input_wsum[i] && (uint64_t)max_x * s->input_wsum[i] <= INT32_MAX) {
            s->stats[i].synops += input_scatter(s, i, max_x);
            continue;
        }
#else
        (void)max_x;
#endif
        /* Blocks of outputs that stay within one group of every grouped convolution. */
        uint32_t blk = L->c;
        for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++)
            if (m->proj[k].kind == SNN_PROJ_CONV && L->c / m->proj[k].group < blk)
                blk = L->c / m->proj[k].group;
        for (uint32_t oy = 0; oy < L->h; oy++)
            for (uint32_t ox = 0; ox < L->w; ox++)
                for (uint32_t g0 = 0; g0 < L->c; g0 += blk)
                    for (uint32_t m0 = g0; m0 < g0 + blk; m0 += GATHER_BLOCK) {
                        uint32_t nb = g0 + blk - m0 < GATHER_BLOCK ? g0 + blk - m0 : GATHER_BLOCK;
                        int64_t acc[GATHER_BLOCK] = {0};
                        for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++)
                            if (m->proj[k].source == 0)
                                s->stats[i].synops += gather_input(s, &m->proj[k], L, oy, ox, m0, nb, acc);
                        int32_t *kq = s->qk[i] + (size_t)(oy * L->w + ox) * L->c + m0;
                        for (uint32_t q = 0; q < nb; q++) {
                            int64_t kk = L->qbias[m0 + q] + round_shift(acc[q], m->input_frac);
                            kq[q] = kk > (1 << 30) ? (1 << 30) : kk < -(1 << 30) ? -(1 << 30) : (int32_t)kk;
                        }
                    }
    }
    /* Counts last: an input-only layer's counts share its currents' memory (count_in_k()),
     * which Poisson coding does not use. */
    for (uint32_t b = 0; b <= m->n_layers; b++)
        if (s->qcount[b] && !(b > 0 && b < m->n_layers && count_in_k(m, b - 1) && coding == SNN_CODING_DIRECT))
            snn_zero(s->qcount[b], m->buffer_size[b] * sizeof(int16_t));
}

/* xorshift64* as in snn_sim_step.c: the 24 high bits of the output. */
static uint32_t next_u24(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 40);
}

/* o[0..n) += w or -= w (OP + or -), with the common channel counts as fixed-length loops that
 * the compiler turns into straight vector code. */
#define ROW_FN(NAME, WT, OP)                                                                   \
    static inline void NAME(int32_t *restrict o, const WT *restrict w, uint32_t n)             \
    {                                                                                          \
        switch (n) {                                                                           \
        case 8: for (uint32_t q = 0; q < 8; q++) o[q] = wrap_add(o[q], OP(int32_t)w[q]); return; \
        case 16: for (uint32_t q = 0; q < 16; q++) o[q] = wrap_add(o[q], OP(int32_t)w[q]); return; \
        case 32: for (uint32_t q = 0; q < 32; q++) o[q] = wrap_add(o[q], OP(int32_t)w[q]); return; \
        case 64: for (uint32_t q = 0; q < 64; q++) o[q] = wrap_add(o[q], OP(int32_t)w[q]); return; \
        default: for (uint32_t q = 0; q < n; q++) o[q] = wrap_add(o[q], OP(int32_t)w[q]);       \
        }                                                                                      \
    }
#if defined(__SSE2__)
ROW_FN(row_add_i8, int8_t, +)
ROW_FN(row_sub_i8, int8_t, -)
#else
/* Scalar targets: four int8 weights per 32-bit load, each sign-extended from its byte (one SXTB
 * on a Cortex-M4), and four membranes loaded and stored together: about 3 instructions a
 * synapse instead of 6. OP is + or -. */
#define ROW4_FN(NAME, OP)                                                                      \
    static inline void NAME(int32_t *restrict o, const int8_t *restrict w, uint32_t n)         \
    {                                                                                          \
        uint32_t q = 0;                                                                        \
        for (; q + 4 <= n; q += 4) {                                                           \
            uint32_t w4;                                                                       \
            memcpy(&w4, w + q, 4);                                                             \
            int32_t a = o[q], b = o[q + 1], c = o[q + 2], d = o[q + 3];                        \
            a = wrap_add(a, OP(int32_t)(int8_t)(uint8_t)w4);                                   \
            b = wrap_add(b, OP(int32_t)(int8_t)(uint8_t)(w4 >> 8));                            \
            c = wrap_add(c, OP(int32_t)(int8_t)(uint8_t)(w4 >> 16));                           \
            d = wrap_add(d, OP(int32_t)(int8_t)(uint8_t)(w4 >> 24));                           \
            o[q] = a, o[q + 1] = b, o[q + 2] = c, o[q + 3] = d;                                \
        }                                                                                      \
        for (; q < n; q++)                                                                     \
            o[q] = wrap_add(o[q], OP(int32_t)w[q]);                                            \
    }
ROW4_FN(row_add_i8, +)
ROW4_FN(row_sub_i8, -)
#undef ROW4_FN
#endif
ROW_FN(row_add_i16, int16_t, +)
ROW_FN(row_sub_i16, int16_t, -)
#undef ROW_FN

/* Add the weights of source neuron j (at pos) into the layer's membranes, +w for a spike and
 * -w for a -1 spike (sign +1 or -1). Returns the synaptic operations. */
#define SCATTER_FN(NAME, WT, FIELD, ADD, SUB)                                                             \
    static uint32_t NAME(const snn_proj *p, const snn_layer *L, qpos at, uint32_t j, int32_t sign, \
                         int32_t *restrict I)                                                   \
    {                                                                                          \
        const WT *restrict w = p->FIELD;                                                        \
        switch (p->kind) {                                                                     \
        case SNN_PROJ_DENSE: {                                                                 \
            const WT *restrict row = w + (size_t)j * L->size;                                  \
            if (sign > 0)                                                                      \
                ADD(I, row, L->size);                                                          \
            else                                                                               \
                SUB(I, row, L->size);                                                          \
            return L->size;                                                                    \
        }                                                                                      \
        case SNN_PROJ_CONV: {                                                                  \
            uint32_t mg = L->c / p->group, g = at.c / (p->src_c / p->group), ops = 0;          \
            const WT *wc = w + (size_t)at.c * p->kh * p->kw * mg;                               \
            if (p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1) {                        \
                /* Stride 1, no dilation: output (y0 - kh, x0 - kw), no divisions. */          \
                tap_span t = taps_from(p, L->h, L->w, at.y, at.x);                             \
                for (uint32_t kh = t.kh0; kh < t.kh1; kh++)                                    \
                    for (uint32_t kw = t.kw0; kw < t.kw1; kw++) {                              \
                        int32_t *o = I + (size_t)((t.y0 - kh) * L->w + t.x0 - kw) * L->c + g * mg; \
                        if (sign > 0)                                                          \
                            ADD(o, wc + (kh * p->kw + kw) * mg, mg);                           \
                        else                                                                   \
                            SUB(o, wc + (kh * p->kw + kw) * mg, mg);                           \
                    }                                                                          \
                return taps_times(t, mg);                                                      \
            }                                                                                  \
            for (uint32_t kh = 0; kh < p->kh; kh++) {                                          \
                int32_t ny = (int32_t)(at.y + p->pt) - (int32_t)(kh * p->dh);                   \
                if (ny < 0 || ny % p->sh)                                                      \
                    continue;                                                                  \
                uint32_t oy = (uint32_t)ny / p->sh;                                            \
                if (oy >= L->h)                                                                \
                    continue;                                                                  \
                for (uint32_t kw = 0; kw < p->kw; kw++) {                                      \
                    int32_t nx = (int32_t)(at.x + p->pl) - (int32_t)(kw * p->dw);               \
                    if (nx < 0 || nx % p->sw)                                                  \
                        continue;                                                              \
                    uint32_t ox = (uint32_t)nx / p->sw;                                        \
                    if (ox >= L->w)                                                            \
                        continue;                                                              \
                    int32_t *o = I + (size_t)(oy * L->w + ox) * L->c + g * mg;                  \
                    if (sign > 0)                                                              \
                        ADD(o, wc + (kh * p->kw + kw) * mg, mg);                               \
                    else                                                                       \
                        SUB(o, wc + (kh * p->kw + kw) * mg, mg);                               \
                    ops += mg;                                                                 \
                }                                                                              \
            }                                                                                  \
            return ops;                                                                        \
        }                                                                                      \
        case SNN_PROJ_AVGPOOL: {                                                               \
            int32_t wv = sign * (int32_t)w[at.c];                                              \
            if (p->kh <= p->sh && p->kw <= p->sw) { /* windows apart: one output at most */    \
                uint32_t y = at.y + p->pt, x = at.x + p->pl, oy = y / p->sh, ox = x / p->sw;    \
                if (y - oy * p->sh >= p->kh || x - ox * p->sw >= p->kw || oy >= L->h || ox >= L->w) \
                    return 0;                                                                  \
                size_t o = (size_t)(oy * L->w + ox) * L->c + at.c;                              \
                I[o] = wrap_add(I[o], wv);                                                      \
                return 1;                                                                      \
            }                                                                                  \
            int32_t y0 = (int32_t)at.y + p->pt - p->kh + 1, x0 = (int32_t)at.x + p->pl - p->kw + 1; \
            uint32_t oy0 = y0 <= 0 ? 0 : ((uint32_t)y0 + p->sh - 1) / p->sh;                   \
            uint32_t ox0 = x0 <= 0 ? 0 : ((uint32_t)x0 + p->sw - 1) / p->sw;                   \
            uint32_t oy1 = (at.y + p->pt) / p->sh, ox1 = (at.x + p->pl) / p->sw, ops = 0;       \
            for (uint32_t oy = oy0; oy <= oy1 && oy < L->h; oy++)                              \
                for (uint32_t ox = ox0; ox <= ox1 && ox < L->w; ox++) {                        \
                    size_t o = (size_t)(oy * L->w + ox) * L->c + at.c;                          \
                    I[o] = wrap_add(I[o], wv);                                                  \
                    ops++;                                                                     \
                }                                                                              \
            return ops;                                                                        \
        }                                                                                      \
        case SNN_PROJ_GLOBALAVG:                                                               \
            I[at.c] = wrap_add(I[at.c], sign * (int32_t)w[at.c]);                              \
            return 1;                                                                          \
        default: /* IDENTITY */                                                                \
            I[j] = wrap_add(I[j], sign * (int32_t)w[at.c]);                                    \
            return 1;                                                                          \
        }                                                                                      \
    }
SCATTER_FN(scatter_i8, int8_t, w8, row_add_i8, row_sub_i8)
SCATTER_FN(scatter_i16, int16_t, w16, row_add_i16, row_sub_i16)
#undef SCATTER_FN

/* Average pooling whose windows do not overlap (projection k): the offset of the first
 * channel of the output whose window holds input position (iy, ix), or SIZE_MAX for none. */
static inline size_t pool_output(const snn_state *s, uint32_t k, const snn_proj *p, const snn_layer *L,
                                 uint32_t iy, uint32_t ix)
{
    uint32_t y = iy + p->pt, x = ix + p->pl, oy = qdiv(s->div_sh[k], y), ox = qdiv(s->div_sw[k], x);
    if (y - oy * p->sh >= p->kh || x - ox * p->sw >= p->kw || oy >= L->h || ox >= L->w)
        return SIZE_MAX;
    return (size_t)(oy * L->w + ox) * L->c;
}

/* Visit every spike of buffer src: j its index, sign +1 or -1 (a -1 spike of a signed file). */
#define FOR_EACH_SPIKE(S, SRC, J, SIGN, ...)                                                   \
    do {                                                                                       \
        const uint32_t *bits_ = (S)->bits[SRC], *neg_ = (S)->neg_bits[SRC];                    \
        uint32_t nw_ = words((S)->m->buffer_size[SRC]);                                        \
        for (uint32_t wi_ = 0; wi_ < nw_; wi_++) {                                             \
            uint32_t b_ = bits_[wi_], n_ = neg_ ? neg_[wi_] : 0;                               \
            while (b_) {                                                                       \
                uint32_t q_ = snn_ctz(b_), J = wi_ * 32 + q_;                                   \
                int32_t SIGN = (n_ >> q_ & 1u) ? -1 : 1;                                       \
                b_ &= b_ - 1;                                                                  \
                __VA_ARGS__                                                                    \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* Bits [j0, j0 + n) of a bit set, n in 1..32, as the low bits of the result. */
static inline uint32_t bits_at(const uint32_t *b, uint32_t j0, uint32_t n)
{
    uint32_t w = j0 >> 5, sh = j0 & 31;
    uint64_t x = b[w] >> sh;
    if (sh + n > 32) /* the field runs into the next word, which the set then has */
        x |= (uint64_t)b[w + 1] << (32 - sh);
    return (uint32_t)x & (n == 32 ? ~0u : (1u << n) - 1u);
}

/* Visit the spikes of buffer SRC (shape C, H, W) position by position: IY, IX, then CH and SIGN
 * for each spiking channel. A position's row, column and whatever follows from them are
 * computed once for all its channels (PER_POS), not per spike; positions without spikes cost
 * a field read. */
#define FOR_EACH_SPIKE_AT(S, SRC, C, H, W, IY, IX, PER_POS, CH, SIGN, ...)                       \
    do {                                                                                       \
        const uint32_t *bits_ = (S)->bits[SRC], *neg_ = (S)->neg_bits[SRC];                    \
        for (uint32_t IY = 0, j0_ = 0; IY < (H); IY++)                                         \
            for (uint32_t IX = 0; IX < (W); IX++, j0_ += (C))                                  \
                for (uint32_t c0_ = 0; c0_ < (C); c0_ += 32) {                                 \
                    uint32_t n_ = (C) - c0_ < 32 ? (C) - c0_ : 32;                             \
                    uint32_t f_ = bits_at(bits_, j0_ + c0_, n_);                               \
                    if (!f_)                                                                   \
                        continue;                                                              \
                    uint32_t g_ = neg_ ? bits_at(neg_, j0_ + c0_, n_) : 0;                     \
                    PER_POS                                                                    \
                    while (f_) {                                                               \
                        uint32_t q_ = snn_ctz(f_), CH = c0_ + q_;                              \
                        int32_t SIGN = (g_ >> q_ & 1u) ? -1 : 1;                               \
                        f_ &= f_ - 1;                                                          \
                        __VA_ARGS__                                                            \
                    }                                                                          \
                }                                                                              \
    } while (0)

#if defined(__AVX2__)
/* The AVX2 copy of the step loops (snn_qsim_step_avx2.c) takes non-overlapping average pooling
 * into int32 membranes position by position instead of spike by spike: a field of up to 32
 * channels' bits becomes lane masks, 8 channels an instruction, and each output channel gains
 * +w or -w (a -1 spike) where its bit is set. Integer sums, so the order does not matter: the
 * membranes are those of the spike-by-spike loop. */
static inline __m256i lane_mask(uint32_t bits8)
{
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)bits8), lane), lane); /* -1: bit set */
}

static uint64_t pool_fields_avx2(const snn_state *s, uint32_t k, const snn_proj *p, const snn_layer *L,
                                 int32_t *restrict I)
{
    const uint32_t *bits = s->bits[p->source], *neg = s->neg_bits[p->source];
    uint32_t C = p->src_c;
    uint64_t ops = 0;
    for (uint32_t iy = 0, j0 = 0; iy < p->src_h; iy++)
        for (uint32_t ix = 0; ix < p->src_w; ix++, j0 += C) {
            size_t o = pool_output(s, k, p, L, iy, ix);
            if (o == SIZE_MAX)
                continue;
            for (uint32_t c0 = 0; c0 < C; c0 += 32) {
                uint32_t n = C - c0 < 32 ? C - c0 : 32, f = bits_at(bits, j0 + c0, n), q = 0;
                if (!f)
                    continue;
                uint32_t g = neg ? bits_at(neg, j0 + c0, n) : 0;
                int32_t *restrict out = I + o + c0; /* (n) */
                ops += snn_popcount(f);
                for (; q + 8 <= n; q += 8) {
                    uint32_t fq = f >> q & 0xffu, gq = g >> q & 0xffu;
                    if (!fq)
                        continue;
                    __m256i on = lane_mask(fq), minus = lane_mask(gq);
                    __m256i w = IS_I8(p->w8) ? _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p->w8 + c0 + q)))
                                             : _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(p->w16 + c0 + q)));
                    w = _mm256_and_si256(w, on);
                    w = _mm256_sub_epi32(_mm256_xor_si256(w, minus), minus); /* -w where minus */
                    __m256i v = _mm256_loadu_si256((const __m256i *)(out + q));
                    _mm256_storeu_si256((__m256i *)(out + q), _mm256_add_epi32(v, w));
                }
                for (; q < n; q++)
                    if (f >> q & 1u) {
                        int32_t wv = IS_I8(p->w8) ? (int32_t)p->w8[c0 + q] : (int32_t)p->w16[c0 + q];
                        out[q] = wrap_add(out[q], (g >> q & 1u) ? -wv : wv);
                    }
            }
        }
    return ops;
}
#endif

/* A stride-1, undilated, group-1 convolution's spikes with MG output channels: the taps of
 * each spike are whole rows of MG weights, added or subtracted (ROW_FN); the range of taps
 * that land inside the output is worked out once per position. */
#define CONV_FAST_FN(NAME, WT, FIELD, ADD, SUB)                                                 \
    static uint64_t NAME(const snn_state *s, const snn_proj *p, const snn_layer *L, uint32_t mg,  \
                         int32_t *restrict I)                                                   \
    {                                                                                          \
        uint32_t kh_n = p->kh, kw_n = p->kw, oh = L->h, ow = L->w, taps = kh_n * kw_n * mg;    \
        const WT *w = p->FIELD;                                                                \
        uint64_t ops = 0;                                                                      \
        tap_span t;                                                                            \
        FOR_EACH_SPIKE_AT(s, p->source, p->src_c, p->src_h, p->src_w, iy, ix, {               \
            t = taps_from(p, oh, ow, iy, ix);                                                  \
        }, c, sign, {                                                                          \
            const WT *wc = w + (size_t)c * taps;                                               \
            for (uint32_t kh = t.kh0; kh < t.kh1; kh++)                                        \
                for (uint32_t kw = t.kw0; kw < t.kw1; kw++) {                                  \
                    int32_t *o = I + (size_t)((t.y0 - kh) * ow + t.x0 - kw) * mg;              \
                    if (sign > 0)                                                              \
                        ADD(o, wc + (kh * kw_n + kw) * mg, mg);                                \
                    else                                                                       \
                        SUB(o, wc + (kh * kw_n + kw) * mg, mg);                                \
                }                                                                              \
            ops += taps_times(t, mg);                                                          \
        });                                                                                    \
        return ops;                                                                            \
    }
CONV_FAST_FN(conv_fast_i8, int8_t, w8, row_add_i8, row_sub_i8)
CONV_FAST_FN(conv_fast_i16, int16_t, w16, row_add_i16, row_sub_i16)
#undef CONV_FAST_FN

/* The convolution above for the projection's weight type. */
SNN_HOT_INLINE uint64_t conv_fast_any(const snn_state *s, const snn_proj *p, const snn_layer *L, uint32_t mg,
                                      int32_t *restrict I)
{
    return IS_I8(p->w8) ? conv_fast_i8(s, p, L, mg, I) : conv_fast_i16(s, p, L, mg, I);
}

/* Average pooling whose windows do not overlap, output by output: for each output position O
 * (offset of its first channel) and each input position of its window, the spike bits F and
 * -1 bits G of channels C0 .. C0 + 31. Every output element so takes its inputs in raster
 * order, as the spike-by-spike path does (so a narrow layer saturates alike). The rates of a
 * converted net make this cheaper than visiting each spike, and no division finds an output. */
#define FOR_EACH_POOL_FIELD(S, P, L, O, C0, F, G, ...)                                          \
    do {                                                                                       \
        const uint32_t *pb_ = (S)->bits[(P)->source], *pn_ = (S)->neg_bits[(P)->source];       \
        uint32_t C_ = (L)->c;                                                                  \
        for (uint32_t oy_ = 0; oy_ < (L)->h; oy_++)                                            \
            for (uint32_t ox_ = 0; ox_ < (L)->w; ox_++)                                        \
                for (uint32_t ky_ = 0; ky_ < (P)->kh; ky_++) {                                 \
                    int32_t iy_ = (int32_t)(oy_ * (P)->sh + ky_) - (P)->pt;                    \
                    if (iy_ < 0 || iy_ >= (int32_t)(P)->src_h)                                 \
                        continue;                                                              \
                    for (uint32_t kx_ = 0; kx_ < (P)->kw; kx_++) {                             \
                        int32_t ix_ = (int32_t)(ox_ * (P)->sw + kx_) - (P)->pl;                \
                        if (ix_ < 0 || ix_ >= (int32_t)(P)->src_w)                             \
                            continue;                                                          \
                        uint32_t j0_ = ((uint32_t)iy_ * (P)->src_w + (uint32_t)ix_) * C_;       \
                        size_t O = (size_t)(oy_ * (L)->w + ox_) * C_;                          \
                        for (uint32_t C0 = 0; C0 < C_; C0 += 32) {                             \
                            uint32_t n_ = C_ - C0 < 32 ? C_ - C0 : 32, F = bits_at(pb_, j0_ + C0, n_); \
                            if (!F)                                                            \
                                continue;                                                      \
                            uint32_t G = pn_ ? bits_at(pn_, j0_ + C0, n_) : 0;                 \
                            __VA_ARGS__                                                        \
                        }                                                                      \
                    }                                                                          \
                }                                                                              \
    } while (0)

#if defined(__SSE2__)
/* Into a narrow layer (int8 weights, C a multiple of 8): spike bits become lane masks eight
 * channels at a time; the masked weights are added, and subtracted for -1 spikes, saturating. */
static uint64_t avgpool16_sse2(const snn_state *s, const snn_proj *p, const snn_layer *L, int16_t *restrict I)
{
    uint64_t ops = 0;
    const __m128i lane = _mm_set_epi16(128, 64, 32, 16, 8, 4, 2, 1);
    FOR_EACH_POOL_FIELD(s, p, L, o, c0, f, g, {
        ops += snn_popcount(f);
        for (uint32_t q = 0; q < 32 && c0 + q < L->c; q += 8) {
            uint32_t f8 = f >> q & 0xffu, g8 = g >> q & 0xffu;
            if (!f8)
                continue;
            __m128i wv = _mm_loadl_epi64((const __m128i *)(const void *)(p->w8 + c0 + q));
            wv = _mm_srai_epi16(_mm_unpacklo_epi8(wv, wv), 8);
            __m128i pm = _mm_cmpeq_epi16(_mm_and_si128(_mm_set1_epi16((short)(f8 & ~g8)), lane), lane);
            __m128i nm = _mm_cmpeq_epi16(_mm_and_si128(_mm_set1_epi16((short)g8), lane), lane);
            int16_t *out = I + o + c0 + q;
            __m128i v = _mm_loadu_si128((const __m128i *)(void *)out);
            v = _mm_subs_epi16(_mm_adds_epi16(v, _mm_and_si128(pm, wv)), _mm_and_si128(nm, wv));
            _mm_storeu_si128((__m128i *)(void *)out, v);
        }
    });
    return ops;
}

#endif

/* The spikes of buffer p->source (bits, neg_bits) through projection p into the membranes I of
 * layer L. The common kinds loop over spikes with their own code: dense rows, stride-1
 * convolutions, and average pooling whose windows do not overlap (one output per input, found
 * with the stride's reciprocal, snn_qsim_init()); the rest go through the general scatter. */
static uint64_t project(snn_state *s, uint32_t k, const snn_proj *p, const snn_layer *L, int32_t *restrict I)
{
    uint32_t src = p->source;
    uint64_t ops = 0;
    if (p->kind == SNN_PROJ_DENSE) {
        uint32_t n = L->size;
        FOR_EACH_SPIKE(s, src, j, sign, {
            if (IS_I8(p->w8))
                (sign > 0 ? row_add_i8 : row_sub_i8)(I, p->w8 + (size_t)j * n, n);
            else
                (sign > 0 ? row_add_i16 : row_sub_i16)(I, p->w16 + (size_t)j * n, n);
            ops += n;
        });
        return ops;
    }
    if (conv_fast(p)) {
#if defined(__SSE2__)
        /* x86 hosts: 16 and 32 output channels as constants, so that each tap's row is straight
         * vector code without a test of its length (as the float path's snn_conv_events()). */
        if (L->c == 16)
            return conv_fast_any(s, p, L, 16, I);
        if (L->c == 32)
            return conv_fast_any(s, p, L, 32, I);
#endif
        return conv_fast_any(s, p, L, L->c, I);
    }
    if (p->kind == SNN_PROJ_AVGPOOL && p->kh <= p->sh && p->kw <= p->sw) {
#if defined(__AVX2__)
        return pool_fields_avx2(s, k, p, L, I);
#endif
        /* One output per input at most: the position's output, found once per position. */
        int32_t *out = NULL;
        FOR_EACH_SPIKE_AT(s, src, p->src_c, p->src_h, p->src_w, iy, ix, {
            size_t o_ = pool_output(s, k, p, L, iy, ix);
            if (o_ == SIZE_MAX)
                continue;
            out = I + o_;
        }, c, sign, {
            int32_t wv = IS_I8(p->w8) ? (int32_t)p->w8[c] : (int32_t)p->w16[c];
            out[c] = wrap_add(out[c], sign * wv);
            ops++;
        });
        return ops;
    }
    FOR_EACH_SPIKE(s, src, j, sign, {
        qpos at = where(s, src, p->src_c, p->src_w, j);
        ops += IS_I8(p->w8) ? scatter_i8(p, L, at, j, sign, I) : scatter_i16(p, L, at, j, sign, I);
    });
    return ops;
}

#if SNN_ROW_KERNELS
/* o[0..8 n8) += w (or -= w), saturating, for word-aligned o and w: per eight synapses one LDRD
 * of weights, one LDM and one STM of membranes, SXTB16 to (w0, w2) (w1, w3), PKHBT / PKHTB back
 * to (w0, w1) (w2, w3), four QADD16 (QSUB16): 17 instructions with the loop (two LDRD and STRD
 * of membranes: 19). Written out because the compiler spills its own version of this loop to
 * the stack; naked, so that LDM and STM get ascending registers. */
#define ROW16_QUAD(W, M0, M1, OP) /* weight word W's four lanes, reordered, into M0, M1 */   \
    "sxtb16 r12, " W "\n\t"                                                                    \
    "sxtb16 " W ", " W ", ror #8\n\t"                                                          \
    "pkhbt lr, r12, " W ", lsl #16\n\t"                                                        \
    "pkhtb " W ", " W ", r12, asr #16\n\t"                                                     \
    OP " " M0 ", " M0 ", lr\n\t"                                                               \
    OP " " M1 ", " M1 ", " W "\n\t"
#define ROW16_KERNEL(NAME, OP)                                                                 \
    __attribute__((naked, noinline)) static void NAME(int16_t *o, const int8_t *w, uint32_t n8) \
    {                                                                                          \
        (void)o, (void)w, (void)n8; /* r0, r1, r2 */                                          \
        __asm__ volatile("push {r4-r9, lr}\n"                                                  \
                         "1:\n\t"                                                              \
                         "ldm r0, {r4-r7}\n\t"                                                 \
                         "ldrd r8, r9, [r1], #8\n\t"                                           \
                         ROW16_QUAD("r8", "r4", "r5", OP)                                      \
                         ROW16_QUAD("r9", "r6", "r7", OP)                                      \
                         "stmia r0!, {r4-r7}\n\t"                                              \
                         "subs r2, r2, #1\n\t"                                                 \
                         "bne 1b\n\t"                                                          \
                         "pop {r4-r9, pc}");                                                   \
    }
ROW16_KERNEL(row16_add8, "qadd16")
ROW16_KERNEL(row16_sub8, "qsub16")
#undef ROW16_KERNEL
#undef ROW16_QUAD

/* One kernel row of a spike's taps into a narrow layer of MG channels, from pair-ordered int8
 * weights (snn_pair_index()): tap t (t < ntaps) adds, saturating (or subtracts), the MG weights
 * at w + t MG to the MG membranes at o - t MG; o and w word-aligned, ntaps >= 1. Per 16
 * synapses one LDM and one STM of eight membrane words, two LDRD of weights, eight SXTB16 and
 * eight QADD16 (QSUB16); weights in the lanes' order need no PKHBT / PKHTB. taps32_* hold the
 * common MG = 32 unrolled (43 instructions a tap); tapsn_* take any MG that is a multiple of 8
 * (n8 = MG / 8) eight synapses a turn (13 instructions, and 4 a tap). Naked functions in the
 * AAPCS, so that LDM and STM get the ascending registers they need. */
#define SNN_PAIR16(W, M0, M1, OP) /* the four lanes pairs of weight word W into M0, M1 */      \
    "sxtb16 r12, " W "\n\t" OP " " M0 ", " M0 ", r12\n\t"                                      \
    "sxtb16 r12, " W ", ror #8\n\t" OP " " M1 ", " M1 ", r12\n\t"
#define SNN_SIXTEEN(OP) /* 16 synapses: eight membrane words at r0 (advanced), weights at r1 */ \
    "ldm r0, {r4-r11}\n\t"                                                                     \
    "ldrd r3, lr, [r1], #8\n\t"                                                                \
    SNN_PAIR16("r3", "r4", "r5", OP) SNN_PAIR16("lr", "r6", "r7", OP)                          \
    "ldrd r3, lr, [r1], #8\n\t"                                                                \
    SNN_PAIR16("r3", "r8", "r9", OP) SNN_PAIR16("lr", "r10", "r11", OP)                        \
    "stmia r0!, {r4-r11}\n\t"
#define TAPS32_KERNEL(NAME, OP)                                                                \
    __attribute__((naked, noinline)) static void NAME(int16_t *o, const int8_t *w, uint32_t ntaps, uint32_t n8) \
    {                                                                                          \
        (void)o, (void)w, (void)ntaps, (void)n8; /* r0, r1, r2; n8 = 4, unused */             \
        __asm__ volatile("push {r4-r11, lr}\n"                                                 \
                         "1:\n\t"                                                              \
                         SNN_SIXTEEN(OP) SNN_SIXTEEN(OP)                                       \
                         "sub r0, r0, #128\n\t" /* back over this tap and one more */         \
                         "subs r2, r2, #1\n\t"                                                 \
                         "bne 1b\n\t"                                                          \
                         "pop {r4-r11, pc}");                                                  \
    }
#define TAPSN_KERNEL(NAME, OP)                                                                 \
    __attribute__((naked, noinline)) static void NAME(int16_t *o, const int8_t *w, uint32_t ntaps, uint32_t n8) \
    {                                                                                          \
        (void)o, (void)w, (void)ntaps, (void)n8; /* r0, r1, r2, r3 */                         \
        __asm__ volatile("push {r4-r9, lr}\n"                                                  \
                         "1:\n\t"                                                              \
                         "mov lr, r3\n"                                                        \
                         "2:\n\t"                                                              \
                         "ldm r0, {r4-r7}\n\t"                                                 \
                         "ldrd r8, r9, [r1], #8\n\t"                                           \
                         SNN_PAIR16("r8", "r4", "r5", OP) SNN_PAIR16("r9", "r6", "r7", OP)     \
                         "stmia r0!, {r4-r7}\n\t"                                              \
                         "subs lr, lr, #1\n\t"                                                 \
                         "bne 2b\n\t"                                                          \
                         "sub r0, r0, r3, lsl #5\n\t" /* back over this tap and one more */   \
                         "subs r2, r2, #1\n\t"                                                 \
                         "bne 1b\n\t"                                                          \
                         "pop {r4-r9, pc}");                                                   \
    }
TAPS32_KERNEL(taps32_add8p, "qadd16")
TAPS32_KERNEL(taps32_sub8p, "qsub16")
TAPSN_KERNEL(tapsn_add8p, "qadd16")
TAPSN_KERNEL(tapsn_sub8p, "qsub16")
#undef TAPS32_KERNEL
#undef TAPSN_KERNEL
#undef SNN_SIXTEEN
#undef SNN_PAIR16
#else
/* Not called (their callers test SNN_ROW_KERNELS); declared so that the calls compile. */
static inline void row16_add8(int16_t *o, const int8_t *w, uint32_t n8) { (void)o, (void)w, (void)n8; }
static inline void row16_sub8(int16_t *o, const int8_t *w, uint32_t n8) { (void)o, (void)w, (void)n8; }
static inline void taps32_add8p(int16_t *o, const int8_t *w, uint32_t nt, uint32_t n8) { (void)o, (void)w, (void)nt, (void)n8; }
static inline void taps32_sub8p(int16_t *o, const int8_t *w, uint32_t nt, uint32_t n8) { (void)o, (void)w, (void)nt, (void)n8; }
static inline void tapsn_add8p(int16_t *o, const int8_t *w, uint32_t nt, uint32_t n8) { (void)o, (void)w, (void)nt, (void)n8; }
static inline void tapsn_sub8p(int16_t *o, const int8_t *w, uint32_t nt, uint32_t n8) { (void)o, (void)w, (void)nt, (void)n8; }
#endif

/* o[0..n) += w or -= w (sub), saturating each 16-bit membrane: a narrow layer's rows. SSE2
 * adds eight with one saturating instruction, a Cortex-M4 (SIMD32) two (QADD16 / QSUB16), other
 * cores one at a time; every path saturates each element after each add, so all agree. */
SNN_HOT_INLINE void row16(int16_t *restrict o, const int8_t *restrict w8, const int16_t *restrict w16, uint32_t n,
                          bool sub)
{
    uint32_t q = 0;
#if defined(__SSE2__)
    if (IS_I8(w8)) {
        for (; q + 16 <= n; q += 16) {
            __m128i wv = _mm_loadu_si128((const __m128i *)(const void *)(w8 + q));
            __m128i lo = _mm_srai_epi16(_mm_unpacklo_epi8(wv, wv), 8), hi = _mm_srai_epi16(_mm_unpackhi_epi8(wv, wv), 8);
            __m128i o0 = _mm_loadu_si128((const __m128i *)(void *)(o + q));
            __m128i o1 = _mm_loadu_si128((const __m128i *)(void *)(o + q + 8));
            o0 = sub ? _mm_subs_epi16(o0, lo) : _mm_adds_epi16(o0, lo);
            o1 = sub ? _mm_subs_epi16(o1, hi) : _mm_adds_epi16(o1, hi);
            _mm_storeu_si128((__m128i *)(void *)(o + q), o0);
            _mm_storeu_si128((__m128i *)(void *)(o + q + 8), o1);
        }
    } else {
        for (; q + 8 <= n; q += 8) {
            __m128i wv = _mm_loadu_si128((const __m128i *)(const void *)(w16 + q));
            __m128i o0 = _mm_loadu_si128((const __m128i *)(void *)(o + q));
            o0 = sub ? _mm_subs_epi16(o0, wv) : _mm_adds_epi16(o0, wv);
            _mm_storeu_si128((__m128i *)(void *)(o + q), o0);
        }
    }
#elif defined(__ARM_FEATURE_SIMD32)
#if SNN_ROW_KERNELS
    if (IS_I8(w8) && n >= 8 && !(((uintptr_t)o | (uintptr_t)w8) & 3u)) {
        q = n & ~7u;
        if (sub)
            row16_sub8(o, w8, q / 8);
        else
            row16_add8(o, w8, q / 8);
    }
#endif
    if (IS_I8(w8)) {
        for (; q + 4 <= n; q += 4) {
            uint32_t w4, o01, o23;
            memcpy(&w4, w8 + q, 4);
            uint32_t even = (uint32_t)__sxtb16((int8x4_t)w4), odd = (uint32_t)__sxtb16((int8x4_t)(w4 >> 8 | w4 << 24));
            uint32_t p01 = PKHBT(even, odd), p23 = PKHTB(even, odd);
            memcpy(&o01, o + q, 4);
            memcpy(&o23, o + q + 2, 4);
            o01 = (uint32_t)(sub ? __qsub16((int16x2_t)o01, (int16x2_t)p01) : __qadd16((int16x2_t)o01, (int16x2_t)p01));
            o23 = (uint32_t)(sub ? __qsub16((int16x2_t)o23, (int16x2_t)p23) : __qadd16((int16x2_t)o23, (int16x2_t)p23));
            memcpy(o + q, &o01, 4);
            memcpy(o + q + 2, &o23, 4);
        }
    } else {
        for (; q + 2 <= n; q += 2) {
            uint32_t w2, o01;
            memcpy(&w2, w16 + q, 4);
            memcpy(&o01, o + q, 4);
            o01 = (uint32_t)(sub ? __qsub16((int16x2_t)o01, (int16x2_t)w2) : __qadd16((int16x2_t)o01, (int16x2_t)w2));
            memcpy(o + q, &o01, 4);
        }
    }
#endif
    for (; q < n; q++) {
        int32_t wv = IS_I8(w8) ? w8[q] : w16[q];
        o[q] = (int16_t)sat16(sub ? o[q] - wv : o[q] + wv);
    }
}


/* A spike's taps into a narrow layer (project16()'s convolution): W8/W16 name the weights at
 * offset wo, SUB is a constant. */
#define TAPS(W8, W16, SUB, N) /* N: mg, or a constant equal to it */                        \
    for (uint32_t kh = t.kh0; kh < t.kh1; kh++)                                                \
        for (uint32_t kw = t.kw0; kw < t.kw1; kw++) {                                          \
            size_t wo = (size_t)c * taps + (kh * kw_n + kw) * mg;                              \
            row16(I + (size_t)((t.y0 - kh) * ow + t.x0 - kw) * mg, W8, W16, N, SUB);           \
        }
#if defined(__SSE2__)
#define ROW32_CONSTANT 1
#else
#define ROW32_CONSTANT 0 /* one copy of each loop is enough where code size counts */
#endif

/* Average pooling whose windows do not overlap into a narrow layer (FOR_EACH_POOL_FIELD), one
 * spiking channel at a time. Not inlined into project16(), whose other cases would take the
 * registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static uint64_t avgpool16_outputs(const snn_state *s, const snn_proj *p, const snn_layer *L, int16_t *restrict I)
{
    const int8_t *w8 = p->w8;
    const int16_t *w16 = p->w16;
    uint64_t ops = 0;
    uint32_t C = L->c;
    if (SNN_FAST_PATHS && !p->pt && !p->pl && (L->h - 1) * p->sh + p->kh <= p->src_h &&
        (L->w - 1) * p->sw + p->kw <= p->src_w && (C % 32 == 0 || 32 % C == 0)) {
        /* No padding, every window inside the input, and each channel field within one word
         * of the bit sets: the same visits in the same order without the bounds tests, and the
         * synaptic operations counted spike by spike (one output per spike). */
        const uint32_t *pb = s->bits[p->source], *pn = s->neg_bits[p->source];
        /* Locals, not p's fields: the 16-bit stores below could alias them, and the compiler
         * would read them again after each. */
        uint32_t mask = C >= 32 ? ~0u : (1u << C) - 1u, spikes = 0, step = C < 32 ? C : 32;
        uint32_t kh = p->kh, kw = p->kw, sh = p->sh, sw = p->sw, src_w = p->src_w, oh = L->h, ow = L->w;
        int16_t *restrict out = I;
        for (uint32_t oy = 0; oy < oh; oy++)
            for (uint32_t ox = 0; ox < ow; ox++, out += C)
                for (uint32_t ky = 0; ky < kh; ky++) {
                    uint32_t j = ((oy * sh + ky) * src_w + ox * sw) * C;
                    for (uint32_t kx = 0; kx < kw; kx++)
                        for (uint32_t c0 = 0; c0 < C; c0 += 32, j += step) {
                            uint32_t f = pb[j >> 5] >> (j & 31) & mask;
                            if (!f)
                                continue;
                            uint32_t g = pn ? pn[j >> 5] >> (j & 31) & mask : 0;
                            int16_t *restrict o = out + c0;
                            const int8_t *wb8 = IS_I8(w8) ? w8 + c0 : NULL;
                            const int16_t *wb16 = IS_I8(w8) ? NULL : w16 + c0;
                            for (f &= ~g; f; f &= f - 1, spikes++) {
                                uint32_t c = snn_ctz(f);
                                o[c] = (int16_t)sat16(o[c] + (IS_I8(w8) ? wb8[c] : wb16[c]));
                            }
                            for (; g; g &= g - 1, spikes++) {
                                uint32_t c = snn_ctz(g);
                                o[c] = (int16_t)sat16(o[c] - (IS_I8(w8) ? wb8[c] : wb16[c]));
                            }
                        }
                }
        return spikes;
    }
    FOR_EACH_POOL_FIELD(s, p, L, o, c0, f, g, {
        int16_t *out = I + o + c0;
        ops += snn_popcount(f);
        for (f &= ~g; f; f &= f - 1) {
            uint32_t c = snn_ctz(f);
            out[c] = (int16_t)sat16(out[c] + (IS_I8(w8) ? w8[c0 + c] : w16[c0 + c]));
        }
        for (; g; g &= g - 1) {
            uint32_t c = snn_ctz(g);
            out[c] = (int16_t)sat16(out[c] - (IS_I8(w8) ? w8[c0 + c] : w16[c0 + c]));
        }
    });
    return ops;
}
#undef FOR_EACH_POOL_FIELD

#if SNN_ROW_KERNELS
/* A stride-1 group-1 convolution into a narrow layer (channels a multiple of 8, membranes
 * word-aligned) from its pair-ordered weights: per spike, a kernel row of taps per call to
 * taps32_* (32 channels) or tapsn_*; what a position's spikes share (the rows and taps inside
 * the output, where they start) worked out once for all of them. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static uint64_t conv16_paired(const snn_state *s, const snn_proj *p, const snn_layer *L, int16_t *restrict I)
{
    typedef void taps_fn(int16_t *o, const int8_t *w, uint32_t ntaps, uint32_t n8);
    uint32_t kw_n = p->kw, ow = L->w, mg = L->c, taps = p->kh * kw_n * mg, n8 = mg / 8;
    taps_fn *add = mg == 32 ? taps32_add8p : tapsn_add8p, *sub = mg == 32 ? taps32_sub8p : tapsn_sub8p;
    uint32_t w_row = kw_n * mg, o_row = ow * mg;
    uint64_t ops = 0;
    const int8_t *w0 = NULL;
    int16_t *o0 = NULL;
    uint32_t nt = 0, nr = 0, per_spike = 0;
    FOR_EACH_SPIKE_AT(s, p->source, p->src_c, p->src_h, p->src_w, iy, ix, {
        tap_span t = taps_from(p, L->h, ow, iy, ix);
        nt = t.kw1 > t.kw0 ? t.kw1 - t.kw0 : 0;
        nr = t.kh1 > t.kh0 ? t.kh1 - t.kh0 : 0;
        if (!nt || !nr)
            continue;
        w0 = p->w8_pairs + (t.kh0 * kw_n + t.kw0) * mg;
        o0 = I + ((t.y0 - t.kh0) * ow + t.x0 - t.kw0) * mg;
        per_spike = nt * nr * mg;
    }, c, sign, {
        const int8_t *w = w0 + (size_t)c * taps;
        int16_t *o = o0;
        taps_fn *fn = sign > 0 ? add : sub;
        for (uint32_t r = nr; r; r--, w += w_row, o -= o_row)
            fn(o, w, nt, n8);
        ops += per_spike;
    });
    return ops;
}
#endif

/* project() for a narrow layer (narrow_ok() admits only these kinds). Not inlined into the
 * step: it is called once per projection and step, and GCC's bounds warnings misfire on the
 * inlined copies. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static uint64_t project16(snn_state *s, const snn_proj *p, const snn_layer *L, int16_t *restrict I)
{
    uint32_t src = p->source;
    uint64_t ops = 0;
    const int8_t *w8 = p->w8;
    const int16_t *w16 = p->w16;
    switch (p->kind) {
    case SNN_PROJ_DENSE: {
        uint32_t n = L->size;
        FOR_EACH_SPIKE(s, src, j, sign, {
            if (IS_I8(w8) && sign > 0) /* type and sign as constants of the inlined row16() */
                row16(I, w8 + (size_t)j * n, NULL, n, false);
            else if (IS_I8(w8))
                row16(I, w8 + (size_t)j * n, NULL, n, true);
            else
                row16(I, NULL, w16 + (size_t)j * n, n, sign < 0);
            ops += n;
        });
        return ops;
    }
    case SNN_PROJ_CONV: { /* stride 1, group 1 */
        uint32_t kh_n = p->kh, kw_n = p->kw, oh = L->h, ow = L->w, mg = L->c, taps = kh_n * kw_n * mg;
        tap_span t;
        /* Every row word-aligned: the row kernels straight, eight synapses a turn; with a
         * pair-ordered copy of the weights, a kernel row of taps a call. */
        bool kernels = SNN_ROW_KERNELS && IS_I8(w8) && mg % 8 == 0 && !(((uintptr_t)w8 | (uintptr_t)I) & 3u);
#if SNN_ROW_KERNELS
        if (kernels && p->w8_pairs)
            return conv16_paired(s, p, L, I);
#endif
        FOR_EACH_SPIKE_AT(s, src, p->src_c, p->src_h, p->src_w, iy, ix, {
            t = taps_from(p, oh, ow, iy, ix);
        }, c, sign, {
            if (kernels) {
                const int8_t *wc = w8 + (size_t)c * taps;
                for (uint32_t kh = t.kh0; kh < t.kh1; kh++) {
                    int16_t *o = I + ((t.y0 - kh) * ow + t.x0 - t.kw0) * mg;
                    const int8_t *wr = wc + (kh * kw_n + t.kw0) * mg;
                    for (uint32_t kw = t.kw0; kw < t.kw1; kw++, o -= mg, wr += mg) {
                        if (sign > 0)
                            row16_add8(o, wr, mg / 8);
                        else
                            row16_sub8(o, wr, mg / 8);
                    }
                }
            } else
            /* The weight type and the sign as constants of inlined copies of row16(), and with
             * SSE2 the common row of 32 channels as a constant length. */
            if (ROW32_CONSTANT && IS_I8(w8) && mg == 32 && sign > 0) {
                TAPS(w8 + wo, NULL, false, 32)
            } else if (ROW32_CONSTANT && IS_I8(w8) && mg == 32) {
                TAPS(w8 + wo, NULL, true, 32)
            } else if (IS_I8(w8) && sign > 0) {
                TAPS(w8 + wo, NULL, false, mg)
            } else if (IS_I8(w8)) {
                TAPS(w8 + wo, NULL, true, mg)
            } else if (sign > 0) {
                TAPS(NULL, w16 + wo, false, mg)
            } else {
                TAPS(NULL, w16 + wo, true, mg)
            }
            ops += taps_times(t, mg);
        });
        return ops;
    }
    case SNN_PROJ_AVGPOOL: { /* windows apart */
#if defined(__SSE2__)
        if (L->c % 8 == 0 && IS_I8(w8))
            return avgpool16_sse2(s, p, L, I);
#endif
        return avgpool16_outputs(s, p, L, I);
    }
    default: /* IDENTITY, GLOBALAVG: one output per spike, the spike's own channel */
        FOR_EACH_SPIKE(s, src, j, sign, {
            qpos at = where(s, src, p->src_c, p->src_w, j);
            uint32_t o = p->kind == SNN_PROJ_IDENTITY ? j : at.c;
            int32_t wv = IS_I8(w8) ? (int32_t)w8[at.c] : (int32_t)w16[at.c];
            I[o] = (int16_t)sat16(I[o] + sign * wv);
            ops++;
        });
        return ops;
    }
}
#undef TAPS
#undef ROW32_CONSTANT

#if defined(__SSE2__)
/* Bit q of the result: f[q] != 0, for q < 32. */
static inline uint32_t mask32(const uint8_t *f)
{
    __m128i z = _mm_setzero_si128();
    __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)f), z);
    __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(f + 16)), z);
    return ~((uint32_t)_mm_movemask_epi8(a) | (uint32_t)_mm_movemask_epi8(b) << 16);
}
#endif

#if defined(__AVX2__)
/* The AVX2 copy of the step loops (snn_qsim_step_avx2.c): a whole word of fire32's neurons,
 * 8 a turn, with fire32's own arithmetic (wrapping int32 adds, the same compares; counts
 * stored back as their low 16 bits, as the cast to int16_t does) and the spike words from
 * move-masks. pos and neg get the word's spikes and -1 spikes. */
static inline void fire32_word_avx2(int32_t *restrict v, const int32_t *restrict k, const int32_t *restrict b,
                                    const int32_t *restrict th, int16_t *restrict cnt, bool signed_fire,
                                    bool subtract, uint32_t *pos, uint32_t *neg)
{
    const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi32(-1);
    const __m256i low_halves = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                                0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    uint32_t p = 0, n = 0;
    for (uint32_t q = 0; q < 32; q += 8) {
        __m256i vj = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(v + q)),
                                      _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(k + q)),
                                                       _mm256_loadu_si256((const __m256i *)(b + q))));
        __m256i t = _mm256_loadu_si256((const __m256i *)(th + q));
        __m256i c = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(cnt + q)));
        __m256i fp = _mm256_xor_si256(_mm256_cmpgt_epi32(t, vj), ones); /* vj >= t: -1 */
        __m256i fn = zero;
        if (signed_fire) /* vj < 0 and a count > 0: -1 */
            fn = _mm256_and_si256(_mm256_cmpgt_epi32(zero, vj), _mm256_cmpgt_epi32(c, zero));
        if (signed_fire || subtract) /* vj - (fp - fn) * t */
            vj = _mm256_add_epi32(_mm256_sub_epi32(vj, _mm256_and_si256(t, fp)), _mm256_and_si256(t, fn));
        else /* reset to zero */
            vj = _mm256_andnot_si256(fp, vj);
        _mm256_storeu_si256((__m256i *)(v + q), vj);
        c = _mm256_add_epi32(_mm256_sub_epi32(c, fp), fn); /* + fp - fn, with masks of -1 */
        c = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(c, low_halves), 0x08);
        _mm_storeu_si128((__m128i *)(cnt + q), _mm256_castsi256_si128(c));
        p |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(fp)) << q;
        n |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(fn)) << q;
    }
    *pos = p, *neg = n;
}
#define FIRE32_AVX2 1
#else
#define FIRE32_AVX2 0
static inline void fire32_word_avx2(int32_t *v, const int32_t *k, const int32_t *b, const int32_t *th, int16_t *cnt,
                                    bool signed_fire, bool subtract, uint32_t *pos, uint32_t *neg)
{
    (void)v, (void)k, (void)b, (void)th, (void)cnt, (void)signed_fire, (void)subtract, *pos = 0, *neg = 0;
}
#endif

/* Store a word of this step's spikes (pos: all of them, neg: the -1 ones) and count them. */
static inline uint32_t put_word(uint32_t *bits, uint32_t *neg, uint32_t w, uint32_t pos, uint32_t negw)
{
    bits[w] = pos | negw;
    if (neg)
        neg[w] = negw;
    return snn_popcount(pos | negw);
}

/* Integrate and fire layer i (its spike input already in its membranes); spikes go to buffer
 * i + 1. The same neuron as snn_sim_step.c's fire(), in integers, on 32-bit membranes (fire32) or a
 * narrow layer's saturating 16-bit ones (fire16; narrow_ok()). Scalar targets (a Cortex-M has
 * no vector unit for this) go one neuron at a time with a channel counter into the tables, the
 * flags straight into the word's bits. With SSE2, neurons go 32 at a time, one word of the bit
 * sets: a loop without branches over the block (it vectorises), then the flags to bits; the
 * block's per-channel thresholds and biases come straight from the tables when C is a multiple
 * of 32, from one pattern when C divides 32, else gathered per block. */
#define FIRE_SETUP                                                                             \
    const snn_model *m = s->m;                                                                 \
    const snn_layer *L = &m->layers[i];                                                        \
    const int32_t *k = s->coding == SNN_CODING_DIRECT ? s->qk[i] : NULL; /* else the bias */   \
    uint32_t size = L->size, C = L->c, n = 0;                                                  \
    bool signed_fire = (m->features & SNN_FEATURE_SIGNED) && !s->steady[i];                    \
    int16_t *restrict cnt = s->qcount[i + 1];                                                  \
    if (s->steady[i] && !snn_maxpool_reads(m, i + 1))                                              \
        cnt = NULL; /* steady: no -1 spikes; the counts' memory holds k (count_in_k()) */      \
    uint32_t *bits = s->bits[i + 1], *neg = s->neg_bits[i + 1];                                \
    bool subtract = m->reset == SNN_RESET_SUBTRACT;

#define STORE32(x) (x)

#if !defined(__SSE2__)
#if SNN_FAST_PATHS
/* The thresholds (or biases) of the 32 neurons of a word of a layer with C channels, the first
 * of channel c0: the table itself where C is a multiple of 32, the pattern pat where C divides
 * 32 (filled for the first word, then kept), else pat filled for this word (end entries: the
 * word's neurons). The caller steps c0 by 32 modulo C. */
static inline const int32_t *word_table(const int32_t *tab, uint32_t C, uint32_t c0, bool first, int32_t *pat,
                                        uint32_t end)
{
    if (C % 32 == 0)
        return tab + c0;
    if (!first && 32 % C == 0)
        return pat;
    for (uint32_t q = 0, c = c0; q < end; q++) {
        pat[q] = tab[c];
        if (++c == C)
            c = 0;
    }
    return pat;
}

/* A steady layer (a constant current k per neuron, no -1 spikes; counts if a max-pool reads them) with reset by
 * subtraction, four neurons a turn: v += k; v >= theta: spike, v -= theta. */
#if SNN_ROW_KERNELS
/* fire_steady() for one whole word on a Cortex-M4, unrolled: per neuron ADD, SUBS, and under
 * IT GE the reset and the neuron's bit (7 instructions a neuron with the LDRD and STRD, GCC's
 * version 11). Returns the word's spike bits. */
#define STEADY_PAIR(B0, B1)                                                                    \
    "ldrd r4, r5, [r0]\n\t"                                                                    \
    "ldrd r6, r7, [r1], #8\n\t"                                                                \
    "ldrd r8, r9, [r2], #8\n\t"                                                                \
    "add r4, r4, r6\n\t"                                                                       \
    "subs r6, r4, r8\n\t"                                                                      \
    "itt ge\n\t"                                                                               \
    "movge r4, r6\n\t"                                                                         \
    "orrge r3, r3, #" B0 "\n\t"                                                                \
    "add r5, r5, r7\n\t"                                                                       \
    "subs r7, r5, r9\n\t"                                                                      \
    "itt ge\n\t"                                                                               \
    "movge r5, r7\n\t"                                                                         \
    "orrge r3, r3, #" B1 "\n\t"                                                                \
    "strd r4, r5, [r0], #8\n\t"
__attribute__((naked, noinline)) static uint32_t steady_word_m4(int32_t *v, const int32_t *k, const int32_t *th)
{
    (void)v, (void)k, (void)th; /* r0, r1, r2 */
    __asm__ volatile("push {r4-r9, lr}\n\t"
                     "movs r3, #0\n\t"
                     STEADY_PAIR("0x1", "0x2") STEADY_PAIR("0x4", "0x8")
                     STEADY_PAIR("0x10", "0x20") STEADY_PAIR("0x40", "0x80")
                     STEADY_PAIR("0x100", "0x200") STEADY_PAIR("0x400", "0x800")
                     STEADY_PAIR("0x1000", "0x2000") STEADY_PAIR("0x4000", "0x8000")
                     STEADY_PAIR("0x10000", "0x20000") STEADY_PAIR("0x40000", "0x80000")
                     STEADY_PAIR("0x100000", "0x200000") STEADY_PAIR("0x400000", "0x800000")
                     STEADY_PAIR("0x1000000", "0x2000000") STEADY_PAIR("0x4000000", "0x8000000")
                     STEADY_PAIR("0x10000000", "0x20000000") STEADY_PAIR("0x40000000", "0x80000000")
                     "mov r0, r3\n\t"
                     "pop {r4-r9, pc}");
}
#undef STEADY_PAIR
#endif

static uint32_t fire_steady(uint32_t *restrict bits, int32_t *restrict v, const int32_t *restrict k,
                            int16_t *restrict cnt, const int32_t *th_tab, uint32_t C, uint32_t size)
{
    int32_t th_pat[32];
    uint32_t n = 0;
    for (uint32_t w0 = 0, c0 = 0; w0 < size; w0 += 32, c0 = (c0 + 32) % C) {
        uint32_t end = size - w0 < 32 ? size - w0 : 32, word = 0, q = 0;
        const int32_t *th = word_table(th_tab, C, c0, w0 == 0, th_pat, end);
        int32_t *vw = v + w0;
        const int32_t *kw = k + w0;
#if SNN_ROW_KERNELS
        if (end == 32) {
            word = steady_word_m4(vw, kw, th);
            bits[w0 / 32] = word;
            n += snn_popcount(word);
            for (uint32_t b = cnt ? word : 0; b; b &= b - 1)
                cnt[w0 + snn_ctz(b)]++;
            continue;
        }
#endif
#define STEADY_ONE(Q)                                                                          \
    do {                                                                                       \
        int32_t vj = wrap_add(vw[Q], kw[Q]), t = th[Q];                                        \
        if (vj >= t) {                                                                         \
            vj -= t;                                                                           \
            word |= 1u << (Q);                                                                 \
        }                                                                                      \
        vw[Q] = vj;                                                                            \
    } while (0)
        for (; q + 4 <= end; q += 4) {
            STEADY_ONE(q);
            STEADY_ONE(q + 1);
            STEADY_ONE(q + 2);
            STEADY_ONE(q + 3);
        }
        for (; q < end; q++)
            STEADY_ONE(q);
#undef STEADY_ONE
        bits[w0 / 32] = word;
        n += snn_popcount(word);
        for (uint32_t b = cnt ? word : 0; b; b &= b - 1) /* a max-pool reads the counts */
            cnt[w0 + snn_ctz(b)]++;
    }
    return n;
}
#define FIRE_STEADY fire_steady
#else
#define FIRE_STEADY(...) 0u
#endif
#define FIRE_FN(NAME, VT, STORE)                                                               \
    static void NAME(snn_state *s, uint32_t i, VT *restrict v)                                 \
    {                                                                                          \
        FIRE_SETUP                                                                             \
        if (SNN_FAST_PATHS && k && !signed_fire && subtract) {                                 \
            /* neg stays as begin() left it: a steady layer has no -1 spikes */               \
            s->n_spikes[i + 1] = FIRE_STEADY(bits, v, k, cnt, L->qtheta, C, size);             \
            return;                                                                            \
        }                                                                                      \
        for (uint32_t w0 = 0, c = 0; w0 < size; w0 += 32) {                                    \
            uint32_t end = size - w0 < 32 ? size - w0 : 32, pos_bits = 0, neg_word = 0;        \
            for (uint32_t q = 0; q < end; q++) {                                               \
                uint32_t j = w0 + q;                                                           \
                int32_t th = L->qtheta[c], vj = wrap_add(v[j], k ? k[j] : L->qbias[c]);        \
                if (++c == C)                                                                  \
                    c = 0;                                                                     \
                if (vj >= th) {                                                                \
                    v[j] = (VT)STORE(subtract ? vj - th : 0);                                  \
                    pos_bits |= 1u << q;                                                       \
                    if (cnt)                                                                   \
                        cnt[j]++;                                                              \
                } else if (signed_fire && vj < 0 && cnt[j] > 0) {                              \
                    v[j] = (VT)STORE(vj + th);                                                 \
                    neg_word |= 1u << q;                                                       \
                    cnt[j]--;                                                                  \
                } else {                                                                       \
                    v[j] = (VT)STORE(vj);                                                      \
                }                                                                              \
            }                                                                                  \
            n += put_word(bits, neg, w0 / 32, pos_bits, neg_word);                              \
        }                                                                                      \
        s->n_spikes[i + 1] = n;                                                                \
    }
#else
#define FIRE_FN(NAME, VT, STORE)                                                               \
    static void NAME(snn_state *s, uint32_t i, VT *restrict v)                                 \
    {                                                                                          \
        FIRE_SETUP                                                                             \
        int32_t th_pat[32], b_pat[32], zero_k[32] = {0};                                       \
        int16_t zero_cnt[32] = {0};                                                            \
        bool tiled = C % 32 == 0, pattern = 32 % C == 0;                                       \
        if (pattern)                                                                           \
            for (uint32_t q = 0; q < 32; q++)                                                  \
                th_pat[q] = L->qtheta[q % C], b_pat[q] = L->qbias[q % C];                      \
        for (uint32_t w0 = 0, c0 = 0; w0 < size; w0 += 32) {                                   \
            uint32_t end = size - w0 < 32 ? size - w0 : 32;                                    \
            const int32_t *th = th_pat, *bias = b_pat;                                         \
            if (tiled) {                                                                       \
                th = L->qtheta + c0, bias = L->qbias + c0;                                     \
            } else if (!pattern) {                                                             \
                for (uint32_t q = 0, c = c0; q < 32; q++) {                                    \
                    th_pat[q] = L->qtheta[c], b_pat[q] = L->qbias[c];                          \
                    if (++c == C)                                                              \
                        c = 0;                                                                 \
                }                                                                              \
            }                                                                                  \
            c0 = pattern ? 0 : tiled ? (c0 + 32 == C ? 0 : c0 + 32) : (c0 + 32) % C;           \
            if (end < 32) { /* the last, partial word: one neuron at a time */                 \
                uint32_t pos_bits = 0, neg_word = 0;                                           \
                for (uint32_t q = 0; q < end; q++) {                                           \
                    uint32_t j = w0 + q;                                                       \
                    int32_t vj = wrap_add(v[j], k ? k[j] : bias[q]);                           \
                    bool fp = vj >= th[q], fn = !fp && signed_fire && vj < 0 && cnt[j] > 0;    \
                    v[j] = (VT)STORE(fp ? (subtract ? vj - th[q] : 0) : fn ? vj + th[q] : vj); \
                    if (cnt)                                                                   \
                        cnt[j] = (int16_t)(cnt[j] + fp - fn);                                  \
                    pos_bits |= (uint32_t)fp << q;                                             \
                    neg_word |= (uint32_t)fn << q;                                             \
                }                                                                              \
                n += put_word(bits, neg, w0 / 32, pos_bits, neg_word);                          \
                continue;                                                                      \
            }                                                                                  \
            VT *restrict vb = v + w0;                                                          \
            const int32_t *restrict kb = k ? k + w0 : zero_k;                                  \
            const int32_t *restrict bb = k ? zero_k : bias;                                    \
            int16_t *restrict cb = cnt ? cnt + w0 : zero_cnt;                                  \
            if (FIRE32_AVX2 && sizeof(VT) == 4) {                                              \
                uint32_t pw, nw;                                                               \
                fire32_word_avx2((int32_t *)vb, kb, bb, th, cb, signed_fire, subtract, &pw, &nw); \
                n += put_word(bits, neg, w0 / 32, pw, nw);                                     \
                continue;                                                                      \
            }                                                                                  \
            uint8_t fpos[32], fneg[32];                                                        \
            if (signed_fire) {                                                                 \
                for (uint32_t q = 0; q < 32; q++) {                                            \
                    int32_t vj = wrap_add(vb[q], wrap_add(kb[q], bb[q]));                      \
                    int32_t fp = vj >= th[q], fn = (vj < 0) & (cb[q] > 0);                     \
                    vb[q] = (VT)STORE(vj - (fp - fn) * th[q]);                                 \
                    cb[q] = (int16_t)(cb[q] + fp - fn);                                        \
                    fpos[q] = (uint8_t)fp, fneg[q] = (uint8_t)fn;                              \
                }                                                                              \
            } else {                                                                           \
                for (uint32_t q = 0; q < 32; q++) {                                            \
                    int32_t vj = wrap_add(vb[q], wrap_add(kb[q], bb[q]));                      \
                    int32_t fp = vj >= th[q];                                                  \
                    vb[q] = (VT)STORE(subtract ? vj - fp * th[q] : vj * (1 - fp));             \
                    cb[q] = (int16_t)(cb[q] + fp);                                             \
                    fpos[q] = (uint8_t)fp;                                                     \
                }                                                                              \
                memset(fneg, 0, sizeof fneg);                                                  \
            }                                                                                  \
            uint32_t pw = mask32(fpos), nw = signed_fire ? mask32(fneg) : 0;                   \
            n += put_word(bits, neg, w0 / 32, pw, nw);                                          \
        }                                                                                      \
        s->n_spikes[i + 1] = n;                                                                \
    }
#endif
FIRE_FN(fire32, int32_t, STORE32)
#undef FIRE_FN
#undef STORE32

/* A narrow layer (16-bit membranes; it never reads the input, so its current is its bias):
 *     v' = sat16(v + bias); v' >= theta: spike, v = v' - theta (or 0); signed and v' < 0 with a
 *     positive count: -1 spike, v = v' + theta; else v = v'.
 * Neither reset leaves the int16 range (theta <= SNN_NARROW_MAX), so the one saturation is the
 * bias's. With SSE2 eight neurons go per instruction: saturating add, compares to masks, the
 * masks packed to the word's bits. */
#if defined(__ARM_FEATURE_SIMD32) && SNN_FAST_PATHS
/* Bits 0..15 of x to the even bits, 16..31 to the odd ones (the outer perfect shuffle,
 * Warren, "Hacker's Delight", 2nd ed., section 7-2). */
static inline uint32_t shuffle_halves(uint32_t x)
{
    uint32_t t;
    t = (x ^ (x >> 8)) & 0x0000FF00u, x ^= t ^ (t << 8);
    t = (x ^ (x >> 4)) & 0x00F000F0u, x ^= t ^ (t << 4);
    t = (x ^ (x >> 2)) & 0x0C0C0C0Cu, x ^= t ^ (t << 2);
    t = (x ^ (x >> 1)) & 0x22222222u, x ^= t ^ (t << 1);
    return x;
}

/* Two neurons of fire16_word_simd32(), pair h, with its flags as constants. */
#define FIRE16_PAIRS(SIGNED, SUBTRACT, COUNT)                                                   \
    for (uint32_t h = 0; h < 16; h++) {                                                        \
        uint32_t th = tw[h];                                                                   \
        uint32_t vj = (uint32_t)__qadd16((int16x2_t)vw[h], (int16x2_t)bw[h]);                 \
        uint32_t below = (uint32_t)__ssat16(__qsub16((int16x2_t)vj, (int16x2_t)th), 1); /* -1: vj < th */ \
        uint32_t fp = ~below, fn = 0;                                                          \
        uint32_t nv = (SUBTRACT) ? (uint32_t)__ssub16((int16x2_t)vj, (int16x2_t)(th & fp)) : vj & below; \
        if (SIGNED) { /* vj < 0 and count > 0 (vj < 0 rules out vj >= th >= 1) */             \
            fn = (uint32_t)__ssat16((int16x2_t)vj, 1) & (uint32_t)__ssat16(__qsub16(0, (int16x2_t)cw[h]), 1); \
            nv = (uint32_t)__sadd16((int16x2_t)nv, (int16x2_t)(th & fn));                      \
        }                                                                                      \
        vw[h] = nv;                                                                            \
        if (COUNT)                                                                             \
            cw[h] = (uint32_t)__ssub16(__sadd16((int16x2_t)cw[h], (int16x2_t)fn), (int16x2_t)fp); \
        pw |= (fp & 0x10001u) << h;                                                            \
        nw |= (fn & 0x10001u) << h;                                                            \
    }

/* fire16() for one whole word of 32 neurons on a core with the DSP extension (Cortex-M4):
 * two neurons per instruction, as fire16()'s SSE2 path does eight. Lane masks come from
 * SSAT16 to one bit (-1 where a lane is negative), so nothing depends on the GE flags. v, cnt
 * (NULL for none; not NULL if signed_fire), th and b are word-aligned; the spike and -1 bits
 * go to *pos and *neg. A copy of the loop per case, with the case's flags as constants; not
 * inlined, so that the loop has the registers to itself. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void fire16_word_simd32(int16_t *restrict v, int16_t *restrict cnt, const int16_t *th16, const int16_t *b16,
                               bool signed_fire, bool subtract, uint32_t *pos, uint32_t *neg)
{
    snn_word *restrict vw = (snn_word *)(void *)v, *restrict cw = (snn_word *)(void *)cnt;
    const snn_word *tw = (const snn_word *)(const void *)th16, *bw = (const snn_word *)(const void *)b16;
    uint32_t pw = 0, nw = 0; /* pair h's lane 0 (neuron 2h) at bit h, lane 1 at bit 16 + h */
    if (signed_fire && subtract)
        FIRE16_PAIRS(1, 1, 1)
    else if (!signed_fire && subtract && !cw)
        FIRE16_PAIRS(0, 1, 0)
    else
        FIRE16_PAIRS(signed_fire, subtract, cw != NULL)
    *pos = shuffle_halves(pw);
    *neg = shuffle_halves(nw);
}
#undef FIRE16_PAIRS

#if SNN_ROW_KERNELS
/* fire16_word_simd32()'s commonest case, a signed layer with reset by subtraction and counts,
 * written out: the 16 pairs of a word unrolled, each in 21 instructions (GCC's loop: 27, and 4
 * more a pair for the word). tb holds the word's pairs of thresholds and biases interleaved
 * (th of neurons 2h, 2h + 1; their biases), so one LDRD reads both. SSUB16 sets GE where
 * v >= theta and SEL takes the reset or the count's increment from it; the -1 spike's lanes
 * (v < 0 and count > 0) are a sign test: SSAT16 to one bit of ~v | (count - 1). pn[0] and
 * pn[1] get the spike and -1 bits, pair h's lanes at bits h and 16 + h as fire16_word_simd32()
 * has them before its shuffle. */
#define FIRE16S_PAIR(H)                                                                        \
    "ldr r7, [r0]\n\t"                 /* v */                                                \
    "ldrd r8, r9, [r2], #8\n\t"        /* theta, bias */                                      \
    "ldr r10, [r1]\n\t"                /* count */                                            \
    "sadd16 r11, r10, r3\n\t"          /* count + 1 */                                        \
    "qadd16 r7, r7, r9\n\t"            /* v' = sat16(v + bias) */                             \
    "ssub16 r12, r7, r8\n\t"           /* v' - theta; GE: v' >= theta */                      \
    "sel r12, r12, r7\n\t"             /* reset by subtraction */                             \
    "sel r10, r11, r10\n\t"            /* count + spike */                                    \
    "sel r9, r3, r4\n\t"               /* spike lanes: 1 */                                   \
    "orr r5, r5, r9, lsl #" #H "\n\t"                                                         \
    "mvn r7, r7\n\t"                   /* negative where v' >= 0 */                           \
    "qsub16 r11, r10, r3\n\t"          /* negative where count <= 0 */                        \
    "orr r7, r7, r11\n\t"                                                                     \
    "ssat16 r7, #1, r7\n\t"            /* 0: a -1 spike; -1: none */                          \
    "bic r9, r8, r7\n\t"                                                                      \
    "sadd16 r12, r12, r9\n\t"          /* -1 spike: v' + theta */                             \
    "sadd16 r7, r7, r3\n\t"            /* -1 spike lanes: 1 */                                \
    "ssub16 r10, r10, r7\n\t"          /* count - 1 */                                        \
    "orr r6, r6, r7, lsl #" #H "\n\t"                                                         \
    "str r12, [r0], #4\n\t"                                                                   \
    "str r10, [r1], #4\n\t"
__attribute__((naked, noinline)) static void fire16_signed_m4(int16_t *v, int16_t *cnt, const uint32_t *tb, uint32_t *pn)
{
    (void)v, (void)cnt, (void)tb, (void)pn; /* r0, r1, r2, r3 */
    __asm__ volatile("push {r3-r11, lr}\n\t"
                     "mov r3, #0x10001\n\t"
                     "movs r4, #0\n\t"
                     "movs r5, #0\n\t"
                     "movs r6, #0\n\t"
                     FIRE16S_PAIR(0) FIRE16S_PAIR(1) FIRE16S_PAIR(2) FIRE16S_PAIR(3)
                     FIRE16S_PAIR(4) FIRE16S_PAIR(5) FIRE16S_PAIR(6) FIRE16S_PAIR(7)
                     FIRE16S_PAIR(8) FIRE16S_PAIR(9) FIRE16S_PAIR(10) FIRE16S_PAIR(11)
                     FIRE16S_PAIR(12) FIRE16S_PAIR(13) FIRE16S_PAIR(14) FIRE16S_PAIR(15)
                     "ldr r0, [sp]\n\t"
                     "strd r5, r6, [r0]\n\t"
                     "pop {r3-r11, pc}");
}
#undef FIRE16S_PAIR
#endif
#endif

static void fire16(snn_state *s, uint32_t i, int16_t *restrict v)
{
    FIRE_SETUP
    (void)k;
    _Alignas(4) int16_t th16[32], b16[32];
#if SNN_ROW_KERNELS
    uint32_t tb[32]; /* fire16_signed_m4()'s (theta, bias) pairs */
#endif
#if defined(__SSE2__)
    int16_t zero_cnt[32] = {0}; /* scratch counts where the layer keeps none */
#endif
    bool pattern = 32 % C == 0;
    if (pattern)
        for (uint32_t q = 0; q < 32; q++)
            th16[q] = (int16_t)L->qtheta[q % C], b16[q] = (int16_t)L->qbias[q % C];
    for (uint32_t w0 = 0, c0 = 0; w0 < size; w0 += 32) {
        uint32_t end = size - w0 < 32 ? size - w0 : 32, pos_bits = 0, neg_word = 0;
        if (!pattern)
            for (uint32_t q = 0, c = c0; q < end; q++) {
                th16[q] = (int16_t)L->qtheta[c], b16[q] = (int16_t)L->qbias[c];
                if (++c == C)
                    c = 0;
            }
        c0 = (c0 + 32) % C;
#if defined(__SSE2__)
        if (end == 32) {
            int16_t *cb = cnt ? cnt + w0 : zero_cnt;
            uint32_t pw = 0, nw = 0;
            __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi16(1);
            for (uint32_t h = 0; h < 32; h += 8) {
                __m128i vj = _mm_adds_epi16(_mm_loadu_si128((const __m128i *)(void *)(v + w0 + h)),
                                            _mm_loadu_si128((const __m128i *)(void *)(b16 + h)));
                __m128i th = _mm_loadu_si128((const __m128i *)(void *)(th16 + h));
                __m128i ct = _mm_loadu_si128((const __m128i *)(void *)(cb + h));
                __m128i fp = _mm_cmpgt_epi16(vj, _mm_sub_epi16(th, one)); /* vj >= th */
                __m128i fn = signed_fire ? _mm_and_si128(_mm_cmplt_epi16(vj, zero), _mm_cmpgt_epi16(ct, zero)) : zero;
                __m128i nv = subtract ? _mm_sub_epi16(vj, _mm_and_si128(fp, th)) : _mm_andnot_si128(fp, vj);
                nv = _mm_add_epi16(nv, _mm_and_si128(fn, th));
                _mm_storeu_si128((__m128i *)(void *)(v + w0 + h), nv);
                _mm_storeu_si128((__m128i *)(void *)(cb + h), _mm_add_epi16(_mm_sub_epi16(ct, fp), fn));
                pw |= (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(fp, zero)) << h;
                nw |= (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(fn, zero)) << h;
            }
            pos_bits = pw, neg_word = nw;
        } else
#elif defined(__ARM_FEATURE_SIMD32) && SNN_FAST_PATHS
        if (SNN_ROW_KERNELS && end == 32 && signed_fire && subtract && cnt) {
            if (!pattern || w0 == 0)
                for (uint32_t h = 0; h < 16; h++) /* the word's (theta, bias) pairs */
                    memcpy(&tb[2 * h], &th16[2 * h], 4), memcpy(&tb[2 * h + 1], &b16[2 * h], 4);
            uint32_t pn[2];
            fire16_signed_m4(v + w0, cnt + w0, tb, pn);
            pos_bits = shuffle_halves(pn[0]), neg_word = pn[1] ? shuffle_halves(pn[1]) : 0; /* -1 spikes are rare */
        } else if (end == 32) {
            fire16_word_simd32(v + w0, cnt ? cnt + w0 : NULL, th16, b16, signed_fire, subtract, &pos_bits, &neg_word);
        } else
#endif
        {
            for (uint32_t q = 0; q < end; q++) {
                uint32_t j = w0 + q;
                int32_t th = th16[q], vj = sat16(v[j] + b16[q]);
                if (vj >= th) {
                    v[j] = (int16_t)(subtract ? vj - th : 0);
                    pos_bits |= 1u << q;
                    if (cnt)
                        cnt[j]++;
                } else if (signed_fire && vj < 0 && cnt[j] > 0) {
                    v[j] = (int16_t)(vj + th);
                    neg_word |= 1u << q;
                    cnt[j]--;
                } else {
                    v[j] = (int16_t)vj;
                }
            }
        }
        n += put_word(bits, neg, w0 / 32, pos_bits, neg_word);
    }
    s->n_spikes[i + 1] = n;
}
#undef FIRE_SETUP

static void fire(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    if ((L->flags & SNN_LAYER_F_OUTPUT) && m->readout == SNN_READOUT_MEMBRANE) {
        int32_t *v = s->qv[i];
        const int32_t *k = s->coding == SNN_CODING_DIRECT ? s->qk[i] : NULL;
        for (uint32_t j = 0, c = 0; j < L->size; j++) {
            v[j] = wrap_add(v[j], k ? k[j] : L->qbias[c]);
            if (++c == L->c)
                c = 0;
        }
        s->n_spikes[i + 1] = 0;
        return;
    }
    if (s->qv16[i])
        fire16(s, i, s->qv16[i]);
    else
        fire32(s, i, s->qv[i]);
}

/* The largest count among the inputs in output (oy, ox, c)'s window. */
static int32_t window_max(const snn_layer *L, const snn_layer *S, const int16_t *cnt, uint32_t oy,
                          uint32_t ox, uint32_t c)
{
    int32_t y0 = (int32_t)(oy * L->sh) - L->pt, x0 = (int32_t)(ox * L->sw) - L->pl, best = 0;
    for (int32_t y = y0 < 0 ? 0 : y0; y < y0 + L->kh && y < (int32_t)S->h; y++)
        for (int32_t x = x0 < 0 ? 0 : x0; x < x0 + L->kw && x < (int32_t)S->w; x++) {
            int32_t v = cnt[((uint32_t)y * S->w + (uint32_t)x) * S->c + c];
            best = v > best ? v : best;
        }
    return best;
}

static inline void set_bit(uint32_t *bits, uint32_t j)
{
    bits[j / 32] |= 1u << (j & 31);
}

/* Spiking max-pool as in snn_sim_step.c: an output's count follows the largest count in its
 * window. */
static void maxpool(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    uint32_t src = L->source, n = 0;
    const snn_layer *S = &m->layers[src - 1];
    const int16_t *cnt = s->qcount[src];
    int16_t *own = s->qcount[i + 1];
    uint32_t *bits = s->bits[i + 1], *neg = s->neg_bits[i + 1];
    const uint32_t *sb = s->bits[src], *sn = s->neg_bits[src];
    snn_zero(bits, words(L->size) * sizeof *bits);
    if (neg)
        snn_zero(neg, words(L->size) * sizeof *neg);
    if (SNN_FAST_PATHS && L->kh <= L->sh && L->kw <= L->sw) {
        /* Windows apart: an input lies in one window at most, found once per input position
         * (as the loop below finds it per spike). Each output still takes its inputs in
         * raster order, and outputs do not interact, so the counts and spikes are the same. */
        uint32_t C = S->c, sh = L->sh, sw = L->sw, kh = L->kh, kw = L->kw, pt = L->pt, pl = L->pl;
        uint32_t oh = L->h, ow = L->w;
        int16_t *o_own = NULL;
        uint32_t o0 = 0, oy = 0, ox = 0;
        FOR_EACH_SPIKE_AT(s, src, C, S->h, S->w, iy, ix, {
            oy = (iy + pt) / sh;
            ox = (ix + pl) / sw;
            if (iy + pt - oy * sh >= kh || ix + pl - ox * sw >= kw || oy >= oh || ox >= ow)
                continue;
            o0 = (oy * ow + ox) * C;
            o_own = own + o0;
        }, c, sign, {
            uint32_t o = o0 + c;
            if (sign < 0) {
                if (o_own[c] > window_max(L, S, cnt, oy, ox, c)) {
                    o_own[c]--;
                    set_bit(bits, o);
                    set_bit(neg, o);
                    n++;
                }
            } else if (cnt[(iy * S->w + ix) * C + c] > o_own[c]) {
                o_own[c]++;
                set_bit(bits, o);
                n++;
            }
        });
        s->n_spikes[i + 1] = n;
        return;
    }
    for (uint32_t wi = 0; wi < words(m->buffer_size[src]); wi++) {
        uint32_t b = sb[wi];
        while (b) {
            uint32_t j = wi * 32 + snn_ctz(b);
            bool is_neg = sn && (sn[wi] >> (j & 31) & 1u);
            b &= b - 1;
            qpos at = where(s, src, S->c, S->w, j);
            snn_window_range r = snn_pool_windows(L, at.y, at.x);
            for (uint32_t oy = r.oy0; oy <= r.oy1 && oy < L->h; oy++)
                for (uint32_t ox = r.ox0; ox <= r.ox1 && ox < L->w; ox++) {
                    uint32_t o = (oy * L->w + ox) * S->c + at.c;
                    if (!snn_pool_window_holds(L, oy, ox, at.y, at.x))
                        continue;
                    if (is_neg) {
                        if (own[o] > window_max(L, S, cnt, oy, ox, at.c)) {
                            own[o]--;
                            set_bit(bits, o);
                            set_bit(neg, o);
                            n++;
                        }
                    } else if (cnt[j] > own[o]) {
                        own[o]++;
                        set_bit(bits, o);
                        n++;
                    }
                }
        }
    }
    s->n_spikes[i + 1] = n;
}

/* Concat: each source's channels at its offset within every position. */
static void concat(snn_state *s, uint32_t i)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[i];
    uint32_t *bits = s->bits[i + 1], *neg = s->neg_bits[i + 1], offset = 0, n = 0;
    int16_t *cnt = s->qcount[i + 1];
    snn_zero(bits, words(L->size) * sizeof *bits);
    if (neg)
        snn_zero(neg, words(L->size) * sizeof *neg);
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        const snn_proj *p = &m->proj[k];
        const uint32_t *sb = s->bits[p->source], *sn = s->neg_bits[p->source];
        for (uint32_t wi = 0; wi < words(m->buffer_size[p->source]); wi++) {
            uint32_t b = sb[wi];
            while (b) {
                uint32_t j = wi * 32 + snn_ctz(b);
                bool is_neg = sn && (sn[wi] >> (j & 31) & 1u);
                b &= b - 1;
                uint32_t pos = qdiv(s->div_c[p->source], j), o = pos * L->c + offset + (j - pos * p->src_c);
                set_bit(bits, o);
                if (is_neg)
                    set_bit(neg, o);
                if (cnt)
                    cnt[o] = (int16_t)(cnt[o] + (is_neg ? -1 : 1));
                n++;
            }
        }
        offset += p->src_c;
    }
    s->n_spikes[i + 1] = n;
}

void snn_qsim_step(snn_state *s)
{
    const snn_model *m = s->m;
    if (s->t >= SNN_MAX_INT_STEPS)
        return; /* counts are 16-bit */
    if (s->coding == SNN_CODING_POISSON) {
        uint32_t n = 0;
        snn_zero(s->bits[0], words(m->input_size) * sizeof(uint32_t));
        for (uint32_t j = 0; j < m->input_size; j++)
            if ((int32_t)next_u24(&s->rng) < s->x_q[j]) {
                set_bit(s->bits[0], j);
                n++;
            }
        s->n_spikes[0] = n;
        s->input_spikes += n;
    }
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        snn_layer_stats *st = &s->stats[i];
        if (L->kind == SNN_LAYER_NEURON) {
            for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
                const snn_proj *p = &m->proj[k];
                if (p->source == 0 && s->coding == SNN_CODING_DIRECT)
                    continue; /* in the constant current */
                if (s->n_spikes[p->source])
                    st->synops += s->qv16[i] ? project16(s, p, L, s->qv16[i]) : project(s, k, p, L, s->qv[i]);
            }
            fire(s, i);
        } else if (L->kind == SNN_LAYER_MAXPOOL) {
            maxpool(s, i);
        } else {
            concat(s, i);
        }
        st->spikes += s->n_spikes[i + 1];
    }
    s->t++;
}

#ifndef SNN_QSIM_STEP_ONLY
const int32_t *snn_qsim_output_q(const snn_state *s)
{
    return s->qv[s->m->output_layer];
}

const float *snn_qsim_output(const snn_state *s)
{
    const snn_model *m = s->m;
    const snn_layer *L = &m->layers[m->output_layer];
    for (uint32_t k = 0; k < m->n_classes; k++)
        s->out_f[k] = (float)s->qv[m->output_layer][k] * L->unit[k];
    return s->out_f;
}

/* The loader makes the output layer's units equal, so the argmax compares integers. */
int snn_qsim_predict(const snn_state *s)
{
    const snn_model *m = s->m;
    const int32_t *v = s->qv[m->output_layer];
    const int16_t *cnt = s->qcount[m->n_layers];
    bool by_count = m->readout == SNN_READOUT_SPIKES;
    int best = 0;
    for (uint32_t k = 1; k < m->n_classes; k++) {
        bool better = by_count ? cnt[k] > cnt[best] || (cnt[k] == cnt[best] && v[k] > v[best]) : v[k] > v[best];
        if (better)
            best = (int)k;
    }
    return best;
}
#endif /* SNN_QSIM_STEP_ONLY */
