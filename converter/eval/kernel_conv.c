/* 2-D convolution. The reference is direct: for each (output channel, input channel, kernel
 * tap) add a shifted, scaled input plane into the output plane. The innermost loop runs over a
 * precomputed valid range of output columns, so it has no bounds tests and vectorises for
 * stride 1. The fast path takes the AVX2 direct convolution (conv_direct.c) where it applies,
 * and otherwise lowers each sample and group to one BLAS matrix product (im2col). */
#include <string.h>

#include "conv_direct.h"
#include "kernels.h"
#include "ir/shape.h"

#if SNN_HAVE_BLAS
#include <cblas.h>
#endif

/* First and one-past-last output index o with 0 <= o*s - p + t < in (t: tap offset). */
static void valid_range(int64_t out, int64_t in, int64_t s, int64_t p, int64_t t, int64_t *lo,
                        int64_t *hi)
{
    int64_t off = t - p; /* input index = o*s + off */
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = in - off <= 0 ? 0 : (in - off + s - 1) / s;
    *lo = a;
    *hi = b < out ? b : out;
}

/* The geometry of a Conv node, from the graph. */
static conv_geom conv_geometry(const snn_graph *g, const snn_node *n)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]], *Wt = &g->tensors[n->inputs[1]];
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    const snn_attrs *at = &n->attr;
    conv_geom q = {.N = X->dims[0], .C = X->dims[1], .H = X->dims[2], .W = X->dims[3],
                   .M = Y->dims[1], .OH = Y->dims[2], .OW = Y->dims[3], .KH = Wt->dims[2],
                   .KW = Wt->dims[3], .G = at->group, .sh = at->strides[0], .sw = at->strides[1],
                   .dh = at->dilations[0], .dw = at->dilations[1]};
    q.Cg = q.C / q.G;
    q.Mg = q.M / q.G;
    int64_t kernel[2] = {q.KH, q.KW}, pads[4], ohw[2];
    snn_shape_window(n, kernel, &X->dims[2], pads, ohw, NULL);
    q.pt = pads[0];
    q.pl = pads[1];
    return q;
}

/* A 1x1 convolution of stride 1 without padding reads its input as the matrix itself. */
static bool conv_is_pointwise(const conv_geom *q)
{
    return q->KH == 1 && q->KW == 1 && q->sh == 1 && q->sw == 1 && q->pt == 0 && q->pl == 0 &&
           q->OH == q->H && q->OW == q->W;
}

/* Samples whose im2col columns go into one matrix product. A layer with few output positions
 * (the deep end of a CNN) would otherwise stream its whole weight matrix once per sample for a
 * product a few columns wide; batched, the weights are read once for about 1024 columns. */
static int64_t conv_chunk(const conv_geom *q)
{
    int64_t ohw = q->OH * q->OW, nb = (1024 + ohw - 1) / ohw;
    return nb < q->N ? nb : q->N;
}

static size_t conv_blas_scratch(const conv_geom *q)
{
    int64_t nb = conv_chunk(q), cols = nb * q->OH * q->OW;
    if (nb == 1)
        return conv_is_pointwise(q) ? 0 : (size_t)(q->Cg * q->KH * q->KW * cols);
    return (size_t)((q->Cg * q->KH * q->KW + q->Mg) * cols); /* im2col, then the product */
}

size_t snn_conv_fast_scratch(const snn_graph *g, const snn_node *n)
{
    conv_geom q = conv_geometry(g, n);
    if (conv_direct_applies(&q)) /* padded input, and room to pack weights that are not constant */
        return conv_direct_scratch(&q) + conv_direct_packed_size(&q);
    return snn_blas_available() ? conv_blas_scratch(&q) : 0;
}

size_t snn_conv_fast_packed_size(const snn_graph *g, const snn_node *n)
{
    conv_geom q = conv_geometry(g, n);
    return conv_direct_applies(&q) ? conv_direct_packed_size(&q) : 0;
}

bool snn_conv_fast_is_direct(const snn_graph *g, const snn_node *n)
{
    conv_geom q = conv_geometry(g, n);
    return conv_direct_applies(&q);
}

void snn_conv_fast_pack(const snn_graph *g, const snn_node *n, const float *w, float *packed)
{
    conv_geom q = conv_geometry(g, n);
    conv_direct_pack(&q, w, packed);
}

/* im2col of one sample's group: col (Cg*KH*KW, OH*OW) with rows ld floats apart, row (c, kh, kw)
 * holding the input value each output position reads through that tap (0 in the padding).
 * x: (Cg, H, W). */
static void im2col(const conv_geom *q, const float *x, int64_t ld, float *col)
{
    int64_t ohw = q->OH * q->OW;
    for (int64_t c = 0; c < q->Cg; c++)
        for (int64_t kh = 0; kh < q->KH; kh++) {
            int64_t oh0, oh1;
            valid_range(q->OH, q->H, q->sh, q->pt, kh * q->dh, &oh0, &oh1);
            for (int64_t kw = 0; kw < q->KW; kw++) {
                int64_t ow0, ow1, col0 = kw * q->dw - q->pl;
                valid_range(q->OW, q->W, q->sw, q->pl, kw * q->dw, &ow0, &ow1);
                float *row = col + ((c * q->KH + kh) * q->KW + kw) * ld; /* (OH, OW) */
                const float *xp = x + c * q->H * q->W;                   /* (H, W) */
                if (oh0 > 0 || oh1 < q->OH || ow0 > 0 || ow1 < q->OW)
                    memset(row, 0, (size_t)ohw * sizeof *row); /* the tap reads padding */
                for (int64_t oh = oh0; oh < oh1 && ow1 > ow0; oh++) {
                    float *r = row + oh * q->OW;
                    const float *xr = xp + (oh * q->sh - q->pt + kh * q->dh) * q->W;
                    if (q->sw == 1)
                        memcpy(r + ow0, xr + ow0 + col0, (size_t)(ow1 - ow0) * sizeof *r);
                    else
                        for (int64_t ow = ow0; ow < ow1; ow++)
                            r[ow] = xr[ow * q->sw + col0];
                }
            }
        }
}

/* ys (Mg, cols) = bias + w (Mg, K) * col (K, cols), row-major with rows of ldy floats. */
static void conv_gemm(const conv_geom *q, const float *w, const float *bias, const float *col,
                      int64_t cols, float *ys)
{
#if SNN_HAVE_BLAS
    int64_t K = q->Cg * q->KH * q->KW;
    for (int64_t m = 0; m < q->Mg; m++) {
        float bv = bias ? bias[m] : 0.0f;
        for (int64_t i = 0; i < cols; i++)
            ys[m * cols + i] = bv;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)q->Mg, (int)cols, (int)K, 1.0f, w,
                (int)K, col, (int)cols, 1.0f, ys, (int)cols);
#else
    (void)q, (void)w, (void)bias, (void)col, (void)cols, (void)ys;
#endif
}

snn_status snn_kernel_conv_fast(const snn_graph *g, const snn_node *n, const void *const *in,
                                void *out, float *scratch, const float *packed, snn_diag *diag)
{
    conv_geom q = conv_geometry(g, n);
    const float *x = in[0], *w = in[1], *bias = n->n_inputs > 2 ? in[2] : NULL;
    float *y = out;
    if (conv_direct_applies(&q)) {
        float *xp = scratch;
        if (!packed) { /* weights computed at run time: pack them after the padded input */
            float *wp = scratch + conv_direct_scratch(&q);
            conv_direct_pack(&q, w, wp);
            packed = wp;
        }
        int64_t nb = conv_direct_chunk(&q);
        for (int64_t b0 = 0; b0 < q.N; b0 += nb)
            conv_direct(&q, q.N - b0 < nb ? q.N - b0 : nb, x + b0 * q.C * q.H * q.W, packed, bias,
                        y + b0 * q.M * q.OH * q.OW, xp);
        return SNN_OK;
    }
    if (!snn_blas_available())
        return snn_kernel_conv(g, n, in, out, diag);
    int64_t ohw = q.OH * q.OW, K = q.Cg * q.KH * q.KW, nb = conv_chunk(&q);
    for (int64_t grp = 0; grp < q.G; grp++) {
        const float *wg = w + grp * q.Mg * K, *bg = bias ? bias + grp * q.Mg : NULL;
        for (int64_t b0 = 0; b0 < q.N; b0 += nb) {
            int64_t cnt = q.N - b0 < nb ? q.N - b0 : nb;
            if (nb == 1) {
                const float *xs = x + (b0 * q.C + grp * q.Cg) * q.H * q.W; /* (Cg, H, W) */
                const float *col = xs;                                     /* (K, OH*OW) */
                if (!conv_is_pointwise(&q)) {
                    im2col(&q, xs, ohw, scratch);
                    col = scratch;
                }
                conv_gemm(&q, wg, bg, col, ohw, y + (b0 * q.M + grp * q.Mg) * ohw);
                continue;
            }
            /* col (K, cnt*OHW): sample s's columns at s*OHW; the product (Mg, cnt*OHW) after
             * it, then copied to each sample's (Mg, OH, OW) block. */
            float *col = scratch, *prod = scratch + K * nb * ohw;
            for (int64_t s = 0; s < cnt; s++)
                im2col(&q, x + ((b0 + s) * q.C + grp * q.Cg) * q.H * q.W, cnt * ohw, col + s * ohw);
            conv_gemm(&q, wg, bg, col, cnt * ohw, prod);
            for (int64_t s = 0; s < cnt; s++)
                for (int64_t m = 0; m < q.Mg; m++)
                    memcpy(y + ((b0 + s) * q.M + grp * q.Mg + m) * ohw, prod + m * cnt * ohw + s * ohw,
                           (size_t)ohw * sizeof *y);
        }
    }
    return SNN_OK;
}

static void conv_f32(const snn_graph *g, const snn_node *n, const float *const *in, float *out)
{
    conv_geom q = conv_geometry(g, n);
    const float *x = in[0], *w = in[1];
    const float *bias = n->n_inputs > 2 ? in[2] : NULL;
    int64_t N = q.N, C = q.C, H = q.H, Wd = q.W, M = q.M, OH = q.OH, OW = q.OW;
    int64_t KH = q.KH, KW = q.KW, Cg = q.Cg, Mg = q.Mg, pads[2] = {q.pt, q.pl};
    int64_t sh = q.sh, sw = q.sw, dh = q.dh, dw = q.dw;
    for (int64_t b = 0; b < N; b++) {
        for (int64_t m = 0; m < M; m++) {
            float *yp = out + (b * M + m) * OH * OW; /* (OH, OW) */
            float bv = bias ? bias[m] : 0.0f;
            for (int64_t i = 0; i < OH * OW; i++)
                yp[i] = bv;
            int64_t grp = m / Mg;
            for (int64_t c = 0; c < Cg; c++) {
                const float *xp = x + (b * C + grp * Cg + c) * H * Wd; /* (H, W) */
                const float *wp = w + (m * Cg + c) * KH * KW;         /* (KH, KW) */
                for (int64_t kh = 0; kh < KH; kh++) {
                    int64_t oh0, oh1;
                    valid_range(OH, H, sh, pads[0], kh * dh, &oh0, &oh1);
                    for (int64_t kw = 0; kw < KW; kw++) {
                        float wv = wp[kh * KW + kw];
                        int64_t ow0, ow1;
                        valid_range(OW, Wd, sw, pads[1], kw * dw, &ow0, &ow1);
                        for (int64_t oh = oh0; oh < oh1; oh++) {
                            /* Input column of output column ow is ow*sw + col0 (col0 may be < 0). */
                            int64_t col0 = kw * dw - pads[1];
                            const float *xr = xp + (oh * sh - pads[0] + kh * dh) * Wd;
                            float *yr = yp + oh * OW;
                            if (sw == 1) {
                                const float *xs = xr + ow0 + col0;
                                for (int64_t ow = ow0; ow < ow1; ow++)
                                    yr[ow] += wv * xs[ow - ow0];
                            } else {
                                for (int64_t ow = ow0; ow < ow1; ow++)
                                    yr[ow] += wv * xr[ow * sw + col0];
                            }
                        }
                    }
                }
            }
        }
    }
}

SNN_KERNEL(conv)
{
    conv_f32(g, n, (const float *const *)in, out);
    return SNN_OK;
}
