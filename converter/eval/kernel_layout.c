/* Data movement: Pad, Concat, Gather. Byte-wise, so they serve float and int64 alike. */
#include <string.h>

#include "kernels.h"

SNN_KERNEL(pad)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]], *Y = &g->tensors[n->outputs[0]];
    size_t es = snn_dtype_size(Y->dtype);
    int r = X->rank;
    int64_t total = snn_tensor_numel(Y);
    /* Value: the optional input (opset 11+) or the attribute. */
    float fv = n->n_inputs > 2 && in[2] ? ((const float *)in[2])[0] : n->attr.pad_value;
    int64_t iv = (int64_t)fv;
    int64_t idx[SNN_MAX_RANK] = {0}, xs[SNN_MAX_RANK];
    int64_t s = 1;
    for (int d = r - 1; d >= 0; d--) {
        xs[d] = s;
        s *= X->dims[d];
    }
    for (int64_t i = 0; i < total; i++) {
        int64_t off = 0;
        bool inside = true;
        for (int d = 0; d < r && inside; d++) {
            int64_t src = idx[d] - n->attr.ints[d];
            inside = src >= 0 && src < X->dims[d];
            off += src * xs[d];
        }
        char *dst = (char *)out + (size_t)i * es;
        if (inside)
            memcpy(dst, (const char *)in[0] + (size_t)off * es, es);
        else if (Y->dtype == SNN_DTYPE_FLOAT)
            memcpy(dst, &fv, es);
        else
            memcpy(dst, &iv, es);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < Y->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return SNN_OK;
}

SNN_KERNEL(concat)
{
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    size_t es = snn_dtype_size(Y->dtype);
    int64_t axis = n->attr.axis < 0 ? n->attr.axis + Y->rank : n->attr.axis;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= Y->dims[d];
    for (int d = (int)axis + 1; d < Y->rank; d++)
        inner *= Y->dims[d];
    char *o = out;
    for (int64_t b = 0; b < outer; b++)
        for (int k = 0; k < n->n_inputs; k++) {
            const snn_tensor *X = &g->tensors[n->inputs[k]];
            size_t chunk = (size_t)(X->dims[axis] * inner) * es;
            memcpy(o, (const char *)in[k] + (size_t)b * chunk, chunk);
            o += chunk;
        }
    return SNN_OK;
}

SNN_KERNEL(gather)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]], *I = &g->tensors[n->inputs[1]];
    size_t es = snn_dtype_size(X->dtype);
    int64_t axis = n->attr.axis < 0 ? n->attr.axis + X->rank : n->attr.axis;
    int64_t outer = 1, inner = 1, len = X->dims[axis], ni = snn_tensor_numel(I);
    for (int d = 0; d < axis; d++)
        outer *= X->dims[d];
    for (int d = (int)axis + 1; d < X->rank; d++)
        inner *= X->dims[d];
    char *o = out;
    for (int64_t b = 0; b < outer; b++)
        for (int64_t k = 0; k < ni; k++) {
            int64_t j = I->dtype == SNN_DTYPE_INT64 ? ((const int64_t *)in[1])[k]
                                                    : (int64_t)((const float *)in[1])[k];
            if (j < 0)
                j += len;
            if (j < 0 || j >= len)
                return snn_diag_at(diag, SNN_ERR_INVALID, n->name, "Gather index %lld out of range",
                                   (long long)j);
            size_t chunk = (size_t)inner * es;
            memcpy(o, (const char *)in[0] + (size_t)((b * len + j) * inner) * es, chunk);
            o += chunk;
        }
    return SNN_OK;
}

static size_t out_bytes(const snn_graph *g, const snn_node *n)
{
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    return (size_t)snn_tensor_numel(Y) * snn_dtype_size(Y->dtype);
}

/* Ops that change only the shape (or nothing) copy their input, unless run in place. */
SNN_KERNEL(copy)
{
    if (out != in[0])
        memcpy(out, in[0], out_bytes(g, n));
    return SNN_OK;
}

SNN_KERNEL(shape_of)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]], *Y = &g->tensors[n->outputs[0]];
    int64_t *o = out;
    int64_t s = n->attr.shape_start < 0 ? n->attr.shape_start + X->rank : n->attr.shape_start;
    if (s < 0)
        s = 0;
    for (int64_t i = 0; i < Y->dims[0]; i++)
        o[i] = X->dims[s + i];
    return SNN_OK;
}

SNN_KERNEL(cast)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]], *Y = &g->tensors[n->outputs[0]];
    int64_t cnt = snn_tensor_numel(Y);
    if (X->dtype == Y->dtype) {
        memcpy(out, in[0], out_bytes(g, n));
    } else if (Y->dtype == SNN_DTYPE_FLOAT) {
        const int64_t *s = in[0];
        float *o = out;
        for (int64_t i = 0; i < cnt; i++)
            o[i] = (float)s[i];
    } else {
        const float *s = in[0];
        int64_t *o = out;
        for (int64_t i = 0; i < cnt; i++)
            o[i] = (int64_t)s[i];
    }
    return SNN_OK;
}
