/* Internal to the runtime: helpers shared by the rate-coded (snn_sim.c, snn_sim_step.c) and
 * time-to-first-spike (snn_ttfs.c) simulations. */
#ifndef SNN_INTERNAL_H
#define SNN_INTERNAL_H

#include <stdint.h>
#include <string.h>
#if defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h> /* __usad8 (snn_popcount) */
#endif

#include "snn_runtime.h"

/* The two simulations behind the state API (snn_state.c): float files (snn_sim.c,
 * snn_sim_step.c) and integer files (snn_qsim.c). */
size_t snn_fsim_mem_size(const snn_model *m);
snn_rt_status snn_fsim_init(snn_state *s, const snn_model *m, void *mem, size_t mem_size);
void snn_fsim_begin(snn_state *s, const float *x, uint32_t coding, uint64_t seed);
void snn_fsim_step(snn_state *s);
const float *snn_fsim_output(const snn_state *s);
int snn_fsim_predict(const snn_state *s);
size_t snn_qsim_mem_size(const snn_model *m);
snn_rt_status snn_qsim_init(snn_state *s, const snn_model *m, void *mem, size_t mem_size);
void snn_qsim_begin(snn_state *s, const float *x, uint32_t coding, uint64_t seed);
void snn_qsim_step(snn_state *s);
const float *snn_qsim_output(const snn_state *s);
const int32_t *snn_qsim_output_q(const snn_state *s);
int snn_qsim_predict(const snn_state *s);

/* x86-64 hosts built for the baseline ISA (SSE2): the step loops are compiled a second time,
 * for AVX2 and POPCNT (snn_sim_step_avx2.c, snn_qsim_step_avx2.c), and a state runs that copy
 * when the CPU has both (snn_state.simd, chosen by snn_state_init()). It is the same C code
 * with 256-bit vectors and without FMA, so every product and sum rounds as in the baseline
 * copy: the loops work element by element in the same order, and the results are the same bit
 * for bit (the simd-copies test, tests/check_simd.sh, runs files through both copies and
 * compares). SNN_SIMD=baseline in the environment keeps the baseline copy. Other targets, and
 * builds whose flags already allow AVX2, compile the loops once. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX2__) && !defined(SNN_NO_AVX2_COPY)
#define SNN_AVX2_COPY 1
void snn_fsim_begin_avx2(snn_state *s, const float *x, uint32_t coding, uint64_t seed);
void snn_fsim_step_avx2(snn_state *s);
void snn_qsim_begin_avx2(snn_state *s, const float *x, uint32_t coding, uint64_t seed);
void snn_qsim_step_avx2(snn_state *s);
#else
#define SNN_AVX2_COPY 0
#endif
enum { SNN_SIMD_BASELINE = 0, SNN_SIMD_AVX2 = 1 };

/* The state's arrays start on SNN_MEM_ALIGN bytes inside the caller's block (whose size
 * snn_state_mem_size() gives with room for aligning its start). */
#define SNN_MEM_ALIGN 16
static inline size_t snn_align_up(size_t n)
{
    return (n + SNN_MEM_ALIGN - 1) / SNN_MEM_ALIGN * SNN_MEM_ALIGN;
}
static inline uint8_t *snn_mem_base(void *mem)
{
    uint8_t *base = mem;
    return base + (SNN_MEM_ALIGN - (uintptr_t)base % SNN_MEM_ALIGN) % SNN_MEM_ALIGN;
}

/* Does a MAXPOOL layer read buffer b? */
static inline int snn_maxpool_reads(const snn_model *m, uint32_t b)
{
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_MAXPOOL && m->layers[i].source == b)
            return 1;
    return 0;
}

/* A hidden neuron layer fed only by the network input: under direct coding its current is
 * the same every step. */
static inline int snn_input_only(const snn_model *m, uint32_t i)
{
    const snn_layer *L = &m->layers[i];
    if (L->kind != SNN_LAYER_NEURON || (L->flags & SNN_LAYER_F_OUTPUT))
        return 0;
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++)
        if (m->proj[k].source != 0)
            return 0;
    return 1;
}

/* The scatter is inlined at every call so that value, 1 or -1 for a spike, folds into an
 * add or a subtract; partial inlining would leave a multiply per weight. */
#if defined(__GNUC__)
#define SNN_HOT_INLINE static inline __attribute__((always_inline))
#else
#define SNN_HOT_INLINE static inline
#endif

/* memset(p, 0, bytes) for word-aligned p. The C libraries of device toolchains (picolibc and
 * newlib-nano as Debian builds them for Cortex-M) store one byte per loop turn, four
 * instructions a byte; zeroing an inference's state that way took a sixth of the int8 CNN's
 * instructions. This stores four words a turn; the empty asm hides the loop from GCC, which
 * would turn it back into a memset call. Hosts keep their libc's memset. */
static inline void snn_zero(void *p, size_t bytes)
{
#if defined(__GNUC__) && defined(__arm__)
    uint32_t *w = (uint32_t *)p;
    for (; bytes >= 16; bytes -= 16, w += 4) {
        w[0] = 0, w[1] = 0, w[2] = 0, w[3] = 0;
        __asm__("" : "+r"(w));
    }
    memset(w, 0, bytes);
#else
    memset(p, 0, bytes);
#endif
}

/* Index of the lowest set bit of x (x != 0). */
static inline uint32_t snn_ctz(uint32_t x)
{
#if defined(__GNUC__)
    return (uint32_t)__builtin_ctz(x);
#else
    uint32_t n = 0;
    while (!(x & 1u)) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

/* Number of set bits of x. */
static inline uint32_t snn_popcount(uint32_t x)
{
#if defined(__GNUC__) && defined(__ARM_FEATURE_SIMD32) && !defined(__OPTIMIZE_SIZE__)
    /* No popcount instruction (GCC calls libgcc): bit pairs, nibbles, bytes, then USAD8
     * sums the four bytes. */
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return __usad8((x + (x >> 4)) & 0x0f0f0f0fu, 0);
#elif defined(__GNUC__)
    return (uint32_t)__builtin_popcount(x);
#else
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return (((x + (x >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24;
#endif
}

/* o[0..16) += value * w[0..16): four vector loads of each, four adds, four stores (o and w
 * never overlap: currents and weights). Spelt out with vector types where the compiler has
 * them: inlined into a loop over spikes, GCC's vectoriser loses the caller's restrict and
 * falls back to scalar adds, or to one load-add-store after another. The copies go through
 * memcpy, so any alignment works. */
#if defined(__GNUC__)
typedef float snn_f32x4 __attribute__((vector_size(16)));
SNN_HOT_INLINE void snn_axpy16(float *o, const float *w, float value)
{
    snn_f32x4 a0, a1, a2, a3, b0, b1, b2, b3;
    memcpy(&a0, o, 16), memcpy(&a1, o + 4, 16), memcpy(&a2, o + 8, 16), memcpy(&a3, o + 12, 16);
    memcpy(&b0, w, 16), memcpy(&b1, w + 4, 16), memcpy(&b2, w + 8, 16), memcpy(&b3, w + 12, 16);
    a0 += value * b0, a1 += value * b1, a2 += value * b2, a3 += value * b3;
    memcpy(o, &a0, 16), memcpy(o + 4, &a1, 16), memcpy(o + 8, &a2, 16), memcpy(o + 12, &a3, 16);
}
#else
SNN_HOT_INLINE void snn_axpy16(float *restrict o, const float *restrict w, float value)
{
    for (uint32_t k = 0; k < 16; k++)
        o[k] += value * w[k];
}
#endif

/* o += value * w over n floats. Multiples of 16 up to 64 (the common channel counts) are
 * straight vector code: a runtime-length loop spends more on its prologue and remainder than
 * on the 16 or 32 additions of a convolution tap. */
SNN_HOT_INLINE void snn_axpy(float *restrict o, const float *restrict w, float value, uint32_t n)
{
    switch (n) {
    case 64:
        snn_axpy16(o + 48, w + 48, value);
        /* fall through */
    case 48:
        snn_axpy16(o + 32, w + 32, value);
        /* fall through */
    case 32:
        snn_axpy16(o + 16, w + 16, value);
        /* fall through */
    case 16:
        snn_axpy16(o, w, value);
        return;
    default:
        for (uint32_t k = 0; k < n; k++)
            o[k] += value * w[k];
    }
}

/* Add the effect of source neuron j, scaled by value, into I (the layer's current).
 * Buffers are channel-last: neuron (y, x, c) of a (C, H, W) buffer is index (y*W + x)*C + c,
 * so one tap of a convolution updates C_out / group contiguous currents. Returns the
 * synaptic operations done. Called with a constant value (1 or -1 for a spike) and always
 * inlined, so the multiply folds into an add or a subtract. */
SNN_HOT_INLINE uint32_t snn_scatter(const snn_proj *p, const snn_layer *L, const uint32_t *yx,
                               const uint32_t *map, uint32_t j, float value, float *restrict I)
{
    switch (p->kind) {
    case SNN_PROJ_DENSE: {
        const float *restrict row = p->w + (size_t)j * L->size;
        for (uint32_t o = 0; o < L->size; o++)
            I[o] += value * row[o];
        return L->size;
    }
    case SNN_PROJ_CONV: {
        uint32_t iy = yx[j] >> 16, ix = yx[j] & 0xffff;
        uint32_t c = j - (iy * p->src_w + ix) * p->src_c;
        /* Three divisions per spike cost more than its additions: skip them for group 1. */
        uint32_t cg = p->src_c, mg = L->c, g = 0;
        if (p->group != 1) {
            cg = p->src_c / p->group, mg = L->c / p->group;
            g = c / cg;
        }
        const float *wc = p->w + (size_t)c * p->kh * p->kw * mg; /* (KH, KW, Mg) */
        uint32_t ops = 0;
        if (p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1) {
            /* Stride 1, no dilation: output (iy + pt - kh, ix + pl - kw), no divisions. */
            int32_t y0 = (int32_t)(iy + p->pt), x0 = (int32_t)(ix + p->pl);
            uint32_t kh0 = y0 >= (int32_t)L->h ? (uint32_t)y0 - L->h + 1 : 0;
            uint32_t kw0 = x0 >= (int32_t)L->w ? (uint32_t)x0 - L->w + 1 : 0;
            uint32_t kh1 = (uint32_t)y0 + 1 < p->kh ? (uint32_t)y0 + 1 : p->kh;
            uint32_t kw1 = (uint32_t)x0 + 1 < p->kw ? (uint32_t)x0 + 1 : p->kw;
            for (uint32_t kh = kh0; kh < kh1; kh++) {
                uint32_t oy = (uint32_t)y0 - kh;
                for (uint32_t kw = kw0; kw < kw1; kw++) {
                    uint32_t ox = (uint32_t)x0 - kw;
                    snn_axpy(I + (size_t)(oy * L->w + ox) * L->c + g * mg, wc + (kh * p->kw + kw) * mg,
                             value, mg);
                }
            }
            return (kh1 > kh0 ? kh1 - kh0 : 0) * (kw1 > kw0 ? kw1 - kw0 : 0) * mg;
        }
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
                snn_axpy(I + (size_t)(oy * L->w + ox) * L->c + g * mg, wc + (kh * p->kw + kw) * mg, value, mg);
                ops += mg;
            }
        }
        return ops;
    }
    case SNN_PROJ_AVGPOOL: {
        if (map) { /* windows do not overlap: at most one output per input */
            uint32_t o = map[j];
            if (o == UINT32_MAX)
                return 0;
            I[o] += value * p->w[j % p->src_c];
            return 1;
        }
        uint32_t iy = yx[j] >> 16, ix = yx[j] & 0xffff;
        uint32_t c = j - (iy * p->src_w + ix) * p->src_c;
        float wv = value * p->w[c];
        /* Outputs whose window [o*s - pad, o*s - pad + k) holds the input. */
        int32_t y0 = (int32_t)iy + p->pt - p->kh + 1, x0 = (int32_t)ix + p->pl - p->kw + 1;
        uint32_t oy0 = y0 <= 0 ? 0 : ((uint32_t)y0 + p->sh - 1) / p->sh;
        uint32_t ox0 = x0 <= 0 ? 0 : ((uint32_t)x0 + p->sw - 1) / p->sw;
        uint32_t oy1 = (iy + p->pt) / p->sh, ox1 = (ix + p->pl) / p->sw;
        uint32_t ops = 0;
        for (uint32_t oy = oy0; oy <= oy1 && oy < L->h; oy++)
            for (uint32_t ox = ox0; ox <= ox1 && ox < L->w; ox++) {
                I[(oy * L->w + ox) * L->c + c] += wv;
                ops++;
            }
        return ops;
    }
    case SNN_PROJ_GLOBALAVG: {
        uint32_t c = j % p->src_c;
        I[c] += value * p->w[c];
        return 1;
    }
    default: /* IDENTITY */
        I[j] += value * p->w[j % p->src_c];
        return 1;
    }
}

/* A stride-1, undilated, group-1 convolution, read once per step (snn_conv_events()). */
typedef struct {
    uint32_t c, w, kh, kw, pt, pl, oh, ow; /* source C and W, kernel, pads, output H and W */
    const float *wt;                       /* (C_src, KH, KW, MG) */
} snn_conv_geom;

/* One spike of such a convolution with MG output channels: output (iy + pt - kh, ix + pl - kw)
 * gains tap (kh, kw) of source channel c. Inlined with constant MG and value, so each tap is
 * straight vector code: an add or a subtract. */
SNN_HOT_INLINE uint32_t snn_conv_spike(const snn_conv_geom *g, uint32_t mg, uint32_t iy, uint32_t ix, uint32_t c,
                                   float value, float *restrict I)
{
    const float *wc = g->wt + (size_t)c * g->kh * g->kw * mg;
    uint32_t y0 = iy + g->pt, x0 = ix + g->pl;
    uint32_t kh0 = y0 >= g->oh ? y0 - g->oh + 1 : 0, kw0 = x0 >= g->ow ? x0 - g->ow + 1 : 0;
    uint32_t kh1 = y0 + 1 < g->kh ? y0 + 1 : g->kh, kw1 = x0 + 1 < g->kw ? x0 + 1 : g->kw;
    for (uint32_t kh = kh0; kh < kh1; kh++) {
        float *row = I + (size_t)(y0 - kh) * g->ow * mg;
        for (uint32_t kw = kw0; kw < kw1; kw++) {
            float *restrict o = row + (size_t)(x0 - kw) * mg;
            const float *restrict wk = wc + (kh * g->kw + kw) * mg;
            if (mg == 16) { /* GCC unrolls a loop of 16 fully, then fails to vectorise it */
                snn_axpy16(o, wk, value);
                continue;
            }
            for (uint32_t q = 0; q < mg; q++)
                o[q] += value * wk[q];
        }
    }
    return (kh1 > kh0 ? kh1 - kh0 : 0) * (kw1 > kw0 ? kw1 - kw0 : 0) * mg;
}

/* Can snn_conv_events() take projection p? Other projections go through snn_scatter(). */
static inline int snn_conv_fast_ok(const snn_proj *p)
{
    return p->kind == SNN_PROJ_CONV && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 && p->group == 1;
}

/* All n events idx (SNN_SPIKE_NEG for -1) of a step through convolution p into the currents
 * I of layer L: the geometry is read once, not per spike, and 16 or 32 output channels are
 * compile-time loop lengths. Returns the synaptic operations. */
static inline uint64_t snn_conv_events(const snn_proj *p, const snn_layer *L, const uint32_t *restrict yx,
                                       const uint32_t *restrict idx, uint32_t n, float *restrict I)
{
    snn_conv_geom g = {p->src_c, p->src_w, p->kh, p->kw, p->pt, p->pl, L->h, L->w, p->w};
    uint64_t ops = 0;
#define CONV_EVENTS(MG)                                                                        \
    for (uint32_t q = 0; q < n; q++) {                                                         \
        uint32_t e = idx[q], j = SNN_SPIKE_INDEX(e), iy = yx[j] >> 16, ix = yx[j] & 0xffff;    \
        uint32_t c = j - (iy * g.w + ix) * g.c;                                                \
        ops += e & SNN_SPIKE_NEG ? snn_conv_spike(&g, MG, iy, ix, c, -1.0f, I)                 \
                                 : snn_conv_spike(&g, MG, iy, ix, c, 1.0f, I);                 \
    }
    switch (L->c) {
    case 16: CONV_EVENTS(16) break;
    case 32: CONV_EVENTS(32) break;
    default: CONV_EVENTS(L->c) break;
    }
#undef CONV_EVENTS
    return ops;
}

/* The outputs of a max-pool layer whose windows may hold input (iy, ix): rows oy0..oy1 and
 * columns ox0..ox1 (also bounded by the layer's H and W). When the kernel is smaller than the
 * stride this admits one window too many; snn_pool_window_holds() tells. */
typedef struct {
    uint32_t oy0, oy1, ox0, ox1;
} snn_window_range;

static inline snn_window_range snn_pool_windows(const snn_layer *L, uint32_t iy, uint32_t ix)
{
    snn_window_range r;
    int32_t y0 = (int32_t)iy + L->pt - L->kh + 1, x0 = (int32_t)ix + L->pl - L->kw + 1;
    r.oy0 = y0 <= 0 ? 0 : ((uint32_t)y0 + L->sh - 1) / L->sh;
    r.ox0 = x0 <= 0 ? 0 : ((uint32_t)x0 + L->sw - 1) / L->sw;
    r.oy1 = (iy + L->pt) / L->sh;
    r.ox1 = (ix + L->pl) / L->sw;
    return r;
}

static inline int snn_pool_window_holds(const snn_layer *L, uint32_t oy, uint32_t ox, uint32_t iy,
                                        uint32_t ix)
{
    return iy + L->pt >= oy * L->sh && iy + L->pt < oy * L->sh + L->kh &&
           ix + L->pl >= ox * L->sw && ix + L->pl < ox * L->sw + L->kw;
}

/* Copy input x, channel-first (C, H, W) as ONNX and the data files lay it out, to the state's
 * channel-last buffer. */
static inline void snn_input_to_hwc(snn_state *s, const float *x)
{
    const snn_model *m = s->m;
    uint32_t hw = m->input_h * m->input_w;
    for (uint32_t c = 0; c < m->input_c; c++)
        for (uint32_t q = 0; q < hw; q++)
            s->input_hwc[q * m->input_c + c] = x[c * hw + q];
}

#endif
