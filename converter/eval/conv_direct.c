/* Direct convolution on x86-64 with AVX2 and FMA.
 *
 * Output-stationary, with vector lanes along the output channels: a register tile holds 6
 * output positions x 16 output channels (12 accumulators of 8 floats). For each input channel
 * and kernel tap it loads the 16 channels' weights (2 vectors), broadcasts the input value each
 * of the 6 positions reads, and issues 12 FMAs: 8 loads per 12 FMAs, so the FMA units set the
 * pace, and the 16 vector registers hold the tile (12 + 2 weights + 1 broadcast). This is the
 * register blocking of the CPU inference libraries' direct convolutions (Georganas et al.,
 * "Anatomy of High-Performance Deep Learning Convolutions on SIMD Architectures", SC 2018),
 * kept on the evaluator's NCHW tensors: only the weights are repacked, once per evaluator, into
 * (ceil(M/16), C, KH, KW, 16) blocks.
 *
 * The input is first copied into zero-padded planes, so the loops have no bounds tests. The 6
 * positions of a tile are any 6 consecutive output positions of the chunk of samples, which
 * makes strides, dilations and small planes cost nothing extra, and lets the deep layers of a
 * CNN (few positions, many weights) reuse each weight block over many samples. */
#include "conv_direct.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define CONV_DIRECT_X86 1
#include <immintrin.h>
#else
#define CONV_DIRECT_X86 0
#endif

enum {
    TILE_M = 16, /* output channels per register tile: 2 vectors of 8 */
    TILE_P = 6,  /* output positions per register tile */
    /* Output positions per call: each weight block (16 x C x KH x KW) is reused this often. */
    CHUNK_POSITIONS = 1024,
    /* A tile's results go to a staging buffer whose channel rows are a cache line further
     * apart than the positions need: in the output itself, the 16 channels' planes are often a
     * multiple of 4 KB apart (32x32 floats), so they fall into one set of the L1 cache and
     * evict each other (measured: 32x32 planes ran at 33 GMAC/s, 16x16 ones at 41). */
    STAGE_PAD = 16
};

/* The zero-padded copy of a sample: planes of Hp x Wp, holding every row and column a
 * position reads (padding the ONNX model declares but no tap reads is left out). */
typedef struct {
    int64_t Hp, Wp, plane;
} padded_plane;

static padded_plane padded_of(const conv_geom *q)
{
    int64_t pb = (q->OH - 1) * q->sh + (q->KH - 1) * q->dh + 1 - q->H - q->pt;
    int64_t pr = (q->OW - 1) * q->sw + (q->KW - 1) * q->dw + 1 - q->W - q->pl;
    padded_plane p = {.Hp = q->pt + q->H + (pb > 0 ? pb : 0), .Wp = q->pl + q->W + (pr > 0 ? pr : 0)};
    p.plane = p.Hp * p.Wp;
    return p;
}

static bool cpu_has_avx2_fma(void)
{
#if CONV_DIRECT_X86
    static int known = -1; /* benign race: every thread computes the same answer */
    if (known < 0)
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return known;
#else
    return false;
#endif
}

bool conv_direct_applies(const conv_geom *q)
{
    /* Fewer than 16 output channels, or a count that leaves a last block mostly empty, would
     * waste more than a fifth of the FMAs on zero weights. */
    int64_t computed = (q->M + TILE_M - 1) / TILE_M * TILE_M;
    return cpu_has_avx2_fma() && q->G == 1 && q->M >= TILE_M && (computed - q->M) * 5 <= computed;
}

size_t conv_direct_packed_size(const conv_geom *q)
{
    return (size_t)((q->M + TILE_M - 1) / TILE_M * TILE_M * q->C * q->KH * q->KW);
}

void conv_direct_pack(const conv_geom *q, const float *w, float *wp)
{
    int64_t k = q->C * q->KH * q->KW; /* weights per output channel */
    for (int64_t m0 = 0; m0 < q->M; m0 += TILE_M)
        for (int64_t i = 0; i < k; i++)
            for (int64_t r = 0; r < TILE_M; r++)
                *wp++ = m0 + r < q->M ? w[(m0 + r) * k + i] : 0.0f;
}

int64_t conv_direct_chunk(const conv_geom *q)
{
    int64_t ohw = q->OH * q->OW, nb = (CHUNK_POSITIONS + ohw - 1) / ohw;
    return nb < q->N ? nb : q->N;
}

/* Floats per channel row of the staging buffer (16 rows), for n samples. */
static int64_t stage_stride(const conv_geom *q, int64_t n)
{
    return (n * q->OH * q->OW + TILE_P - 1) / TILE_P * TILE_P + STAGE_PAD;
}

size_t conv_direct_scratch(const conv_geom *q)
{
    int64_t nb = conv_direct_chunk(q);
    return (size_t)(nb * q->C * padded_of(q).plane + TILE_M * stage_stride(q, nb));
}

/* xp (n, C, Hp, Wp) = x (n, C, H, W) with zeros around it. */
static void pad_input(const conv_geom *q, const padded_plane *p, int64_t n, const float *x,
                      float *xp)
{
    for (int64_t k = 0; k < n * q->C; k++) {
        const float *xc = x + k * q->H * q->W; /* (H, W) */
        float *pc = xp + k * p->plane;         /* (Hp, Wp) */
        if (p->Wp == q->W && p->Hp == q->H) {
            memcpy(pc, xc, (size_t)p->plane * sizeof *pc);
            continue;
        }
        /* only the border is zeroed: rows above, the sides of each row, rows below */
        int64_t right = p->Wp - q->pl - q->W, below = p->Hp - q->pt - q->H;
        memset(pc, 0, (size_t)(q->pt * p->Wp) * sizeof *pc);
        for (int64_t h = 0; h < q->H; h++) {
            float *row = pc + (q->pt + h) * p->Wp;
            memset(row, 0, (size_t)q->pl * sizeof *row);
            memcpy(row + q->pl, xc + h * q->W, (size_t)q->W * sizeof *row);
            memset(row + q->pl + q->W, 0, (size_t)right * sizeof *row);
        }
        memset(pc + (q->pt + q->H) * p->Wp, 0, (size_t)(below * p->Wp) * sizeof *pc);
    }
}

#if CONV_DIRECT_X86
#define DIRECT_TARGET __attribute__((target("avx2,fma")))

/* acc (6 positions, 16 channels) = b16 + the packed block wp (C, KH, KW, 16) applied at the 6
 * positions whose tap (0, 0) reads xp + xoff[i]. Inlined into callers with constant KH, KW,
 * dh, dw, so the tap loops unroll. The 6 positions are spelt out, one named pointer and two
 * accumulators each: written as arrays and loops over 6, GCC 12 re-read xoff[] in the tap loop
 * and the kernel ran at 0.64x (24.5 against 38.4 G multiply-adds/s, 64 channels, 32x32). */
DIRECT_TARGET static inline __attribute__((always_inline)) void
tile(const float *xp, const int64_t xoff[TILE_P], int64_t C, int64_t plane, int64_t Wp,
     int64_t KH, int64_t KW, int64_t dh, int64_t dw, const float *wp, const float b16[TILE_M],
     float acc[TILE_P][TILE_M])
{
    const __m256 bl = _mm256_loadu_ps(b16), bh = _mm256_loadu_ps(b16 + 8);
    __m256 a0l = bl, a0h = bh, a1l = bl, a1h = bh, a2l = bl, a2h = bh;
    __m256 a3l = bl, a3h = bh, a4l = bl, a4h = bh, a5l = bl, a5h = bh;
    const float *x0 = xp + xoff[0], *x1 = xp + xoff[1], *x2 = xp + xoff[2];
    const float *x3 = xp + xoff[3], *x4 = xp + xoff[4], *x5 = xp + xoff[5];
    const float *w = wp;
    for (int64_t c = 0; c < C; c++)
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++, w += TILE_M) {
                int64_t o = c * plane + kh * dh * Wp + kw * dw;
                __m256 wl = _mm256_loadu_ps(w), wh = _mm256_loadu_ps(w + 8), v;
                v = _mm256_broadcast_ss(x0 + o);
                a0l = _mm256_fmadd_ps(v, wl, a0l), a0h = _mm256_fmadd_ps(v, wh, a0h);
                v = _mm256_broadcast_ss(x1 + o);
                a1l = _mm256_fmadd_ps(v, wl, a1l), a1h = _mm256_fmadd_ps(v, wh, a1h);
                v = _mm256_broadcast_ss(x2 + o);
                a2l = _mm256_fmadd_ps(v, wl, a2l), a2h = _mm256_fmadd_ps(v, wh, a2h);
                v = _mm256_broadcast_ss(x3 + o);
                a3l = _mm256_fmadd_ps(v, wl, a3l), a3h = _mm256_fmadd_ps(v, wh, a3h);
                v = _mm256_broadcast_ss(x4 + o);
                a4l = _mm256_fmadd_ps(v, wl, a4l), a4h = _mm256_fmadd_ps(v, wh, a4h);
                v = _mm256_broadcast_ss(x5 + o);
                a5l = _mm256_fmadd_ps(v, wl, a5l), a5h = _mm256_fmadd_ps(v, wh, a5h);
            }
    _mm256_storeu_ps(acc[0], a0l), _mm256_storeu_ps(acc[0] + 8, a0h);
    _mm256_storeu_ps(acc[1], a1l), _mm256_storeu_ps(acc[1] + 8, a1h);
    _mm256_storeu_ps(acc[2], a2l), _mm256_storeu_ps(acc[2] + 8, a2h);
    _mm256_storeu_ps(acc[3], a3l), _mm256_storeu_ps(acc[3] + 8, a3h);
    _mm256_storeu_ps(acc[4], a4l), _mm256_storeu_ps(acc[4] + 8, a4h);
    _mm256_storeu_ps(acc[5], a5l), _mm256_storeu_ps(acc[5] + 8, a5h);
}

DIRECT_TARGET static void tile_3x3(const float *xp, const int64_t xoff[TILE_P], int64_t C,
                                   int64_t plane, int64_t Wp, const float *wp,
                                   const float b16[TILE_M], float acc[TILE_P][TILE_M])
{
    tile(xp, xoff, C, plane, Wp, 3, 3, 1, 1, wp, b16, acc);
}

DIRECT_TARGET static void tile_1x1(const float *xp, const int64_t xoff[TILE_P], int64_t C,
                                   int64_t plane, const float *wp, const float b16[TILE_M],
                                   float acc[TILE_P][TILE_M])
{
    tile(xp, xoff, C, plane, 0, 1, 1, 1, 1, wp, b16, acc);
}

DIRECT_TARGET static void tile_any(const conv_geom *q, const float *xp,
                                   const int64_t xoff[TILE_P], int64_t plane, int64_t Wp,
                                   const float *wp, const float b16[TILE_M],
                                   float acc[TILE_P][TILE_M])
{
    tile(xp, xoff, q->C, plane, Wp, q->KH, q->KW, q->dh, q->dw, wp, b16, acc);
}
#endif

/* An output position (sample, row, column), walked in NCHW order over the chunk. */
typedef struct {
    int64_t s, oh, ow;
} position;

static void next_position(const conv_geom *q, position *at)
{
    if (++at->ow < q->OW)
        return;
    at->ow = 0;
    if (++at->oh < q->OH)
        return;
    at->oh = 0;
    at->s++;
}

void conv_direct(const conv_geom *q, int64_t n, const float *x, const float *wp,
                 const float *bias, float *y, float *scratch)
{
#if CONV_DIRECT_X86
    padded_plane p = padded_of(q);
    int64_t ohw = q->OH * q->OW, total = n * ohw, per_block = q->C * q->KH * q->KW * TILE_M;
    int64_t ld = stage_stride(q, n);
    float *xp = scratch;                      /* (n, C, Hp, Wp) */
    float *st = xp + n * q->C * p.plane;      /* (16, ld): the block's outputs, n*OH*OW per row */
    pad_input(q, &p, n, x, xp);
    bool k3 = q->KH == 3 && q->KW == 3 && q->dh == 1 && q->dw == 1, k1 = q->KH == 1 && q->KW == 1;
    for (int64_t m0 = 0; m0 < q->M; m0 += TILE_M) {
        int64_t rows = q->M - m0 < TILE_M ? q->M - m0 : TILE_M;
        float b16[TILE_M] = {0};
        for (int64_t r = 0; r < rows && bias; r++)
            b16[r] = bias[m0 + r];
        const float *wb = wp + m0 / TILE_M * per_block;
        position at = {0, 0, 0};
        for (int64_t p0 = 0; p0 < total; p0 += TILE_P) {
            int64_t cnt = total - p0 < TILE_P ? total - p0 : TILE_P;
            int64_t xoff[TILE_P];
            for (int64_t i = 0; i < TILE_P; i++) {
                if (i >= cnt) { /* a short last tile repeats its last position */
                    xoff[i] = xoff[cnt - 1];
                    continue;
                }
                xoff[i] = at.s * q->C * p.plane + at.oh * q->sh * p.Wp + at.ow * q->sw;
                next_position(q, &at);
            }
            float acc[TILE_P][TILE_M];
            if (k3)
                tile_3x3(xp, xoff, q->C, p.plane, p.Wp, wb, b16, acc);
            else if (k1)
                tile_1x1(xp, xoff, q->C, p.plane, wb, b16, acc);
            else
                tile_any(q, xp, xoff, p.plane, p.Wp, wb, b16, acc);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t i = 0; i < TILE_P; i++)
                    st[r * ld + p0 + i] = acc[i][r];
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t s = 0; s < n; s++)
                memcpy(y + (s * q->M + m0 + r) * ohw, st + r * ld + s * ohw, (size_t)ohw * sizeof *y);
    }
#else
    (void)q, (void)n, (void)x, (void)wp, (void)bias, (void)y, (void)scratch;
#endif
}
