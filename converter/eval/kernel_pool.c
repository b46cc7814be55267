/* Pooling over NCHW: windowed max and average, global average and max. */
#include <math.h>

#include "kernels.h"
#include "ir/shape.h"

typedef struct {
    int64_t N, C, H, W, OH, OW;
    int64_t kh, kw, sh, sw, dh, dw;
    int64_t pads[4]; /* (top, left, bottom, right) */
} pool_geom;

static void geometry(const snn_graph *g, const snn_node *n, pool_geom *p)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]], *Y = &g->tensors[n->outputs[0]];
    int64_t ohw[2];
    snn_shape_window(n, n->attr.kernel, &X->dims[2], p->pads, ohw, NULL);
    p->N = X->dims[0];
    p->C = X->dims[1];
    p->H = X->dims[2];
    p->W = X->dims[3];
    p->OH = Y->dims[2];
    p->OW = Y->dims[3];
    p->kh = n->attr.kernel[0];
    p->kw = n->attr.kernel[1];
    p->sh = n->attr.strides[0];
    p->sw = n->attr.strides[1];
    p->dh = n->attr.dilations[0];
    p->dw = n->attr.dilations[1];
}

static void maxpool_f32(const snn_graph *g, const snn_node *n, const float *x, float *out)
{
    pool_geom p;
    geometry(g, n, &p);
    for (int64_t plane = 0; plane < p.N * p.C; plane++) {
        const float *xp = x + plane * p.H * p.W;
        float *yp = out + plane * p.OH * p.OW;
        for (int64_t oh = 0; oh < p.OH; oh++)
            for (int64_t ow = 0; ow < p.OW; ow++) {
                float m = -INFINITY; /* padding never wins */
                for (int64_t i = 0; i < p.kh; i++) {
                    int64_t ih = oh * p.sh - p.pads[0] + i * p.dh;
                    if (ih < 0 || ih >= p.H)
                        continue;
                    for (int64_t j = 0; j < p.kw; j++) {
                        int64_t iw = ow * p.sw - p.pads[1] + j * p.dw;
                        if (iw >= 0 && iw < p.W && xp[ih * p.W + iw] > m)
                            m = xp[ih * p.W + iw];
                    }
                }
                yp[oh * p.OW + ow] = m;
            }
    }
}

SNN_KERNEL(maxpool)
{
    maxpool_f32(g, n, (const float *)in[0], out);
    return SNN_OK;
}

static void avgpool_f32(const snn_graph *g, const snn_node *n, const float *x, float *out)
{
    pool_geom p;
    geometry(g, n, &p);
    bool include_pad = n->attr.count_include_pad;
    for (int64_t plane = 0; plane < p.N * p.C; plane++) {
        const float *xp = x + plane * p.H * p.W;
        float *yp = out + plane * p.OH * p.OW;
        for (int64_t oh = 0; oh < p.OH; oh++)
            for (int64_t ow = 0; ow < p.OW; ow++) {
                float sum = 0.0f;
                int64_t count = 0;
                for (int64_t i = 0; i < p.kh; i++) {
                    int64_t ih = oh * p.sh - p.pads[0] + i * p.dh;
                    /* count_include_pad counts explicit padding, never the overhang that
                     * ceil_mode adds past it (as PyTorch and ONNX's reference do). */
                    bool row_in_pad = ih >= -p.pads[0] && ih < p.H + p.pads[2];
                    for (int64_t j = 0; j < p.kw; j++) {
                        int64_t iw = ow * p.sw - p.pads[1] + j * p.dw;
                        bool inside = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
                        if (inside) {
                            sum += xp[ih * p.W + iw];
                            count++;
                        } else if (include_pad && row_in_pad && iw >= -p.pads[1] &&
                                   iw < p.W + p.pads[3]) {
                            count++;
                        }
                    }
                }
                yp[oh * p.OW + ow] = count ? sum / (float)count : 0.0f;
            }
    }
}

SNN_KERNEL(avgpool)
{
    avgpool_f32(g, n, (const float *)in[0], out);
    return SNN_OK;
}

/* Planes of an (N, C, ...) tensor and the elements of each: what a global pool reduces. */
static void planes_of(const snn_tensor *X, int64_t *planes, int64_t *inner)
{
    *planes = X->dims[0] * X->dims[1];
    *inner = 1;
    for (int d = 2; d < X->rank; d++)
        *inner *= X->dims[d];
}

SNN_KERNEL(global_avgpool)
{
    const float *x = in[0];
    float *y = out;
    int64_t planes, inner;
    planes_of(&g->tensors[n->inputs[0]], &planes, &inner);
    for (int64_t p = 0; p < planes; p++) {
        double sum = 0.0;
        for (int64_t i = 0; i < inner; i++)
            sum += (double)x[p * inner + i];
        y[p] = (float)(sum / (double)inner);
    }
    return SNN_OK;
}

SNN_KERNEL(global_maxpool)
{
    const float *x = in[0];
    float *y = out;
    int64_t planes, inner;
    planes_of(&g->tensors[n->inputs[0]], &planes, &inner);
    for (int64_t p = 0; p < planes; p++) {
        float m = -INFINITY;
        for (int64_t i = 0; i < inner; i++)
            m = fmaxf(m, x[p * inner + i]);
        y[p] = m;
    }
    return SNN_OK;
}
