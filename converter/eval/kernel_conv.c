/* 2-D convolution, direct: for each (output channel, input channel, kernel tap) add a
 * shifted, scaled input plane into the output plane. The innermost loop runs over a
 * precomputed valid range of output columns, so it has no bounds tests and vectorises
 * for stride 1. */
#include <string.h>

#include "kernels.h"
#include "ir/shape.h"

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

static void conv_f32(const snn_graph *g, const snn_node *n, const float *const *in, float *out)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]], *W = &g->tensors[n->inputs[1]];
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    const snn_attrs *at = &n->attr;
    const float *x = in[0], *w = in[1];
    const float *bias = n->n_inputs > 2 ? in[2] : NULL;
    int64_t N = X->dims[0], C = X->dims[1], H = X->dims[2], Wd = X->dims[3];
    int64_t M = Y->dims[1], OH = Y->dims[2], OW = Y->dims[3];
    int64_t KH = W->dims[2], KW = W->dims[3], G = at->group, Cg = C / G, Mg = M / G;
    int64_t kernel[2] = {KH, KW}, pads[4], ohw[2];
    snn_shape_window(n, kernel, &X->dims[2], pads, ohw, NULL);
    int64_t sh = at->strides[0], sw = at->strides[1], dh = at->dilations[0], dw = at->dilations[1];
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
