/* Element-wise kernels: broadcasting arithmetic, ReLU/Clip, BatchNormalization, Softmax. */
#include <math.h>
#include <string.h>

#include "kernels.h"

/* Strides of a tensor of shape (rank, dims) seen through the output's shape (orank, odims):
 * 0 along broadcast axes. */
static void broadcast_strides(int rank, const int64_t *dims, int orank, int64_t *strides)
{
    int64_t s = 1;
    for (int i = orank - 1; i >= 0; i--) {
        int j = i - (orank - rank);
        if (j < 0 || dims[j] == 1) {
            strides[i] = 0;
        } else {
            strides[i] = s;
        }
        if (j >= 0)
            s *= dims[j];
    }
}

/* The arithmetic of the element-wise kernels; each kernel names its own. */
typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } bin_op;

static float apply_f(bin_op op, float a, float b)
{
    switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    }
    return a + b;
}

static int64_t apply_i(bin_op op, int64_t a, int64_t b)
{
    switch (op) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return b ? a / b : 0;
    }
    return a + b;
}

/* out = a (op) b, both broadcast to the node's output shape; out may alias a when a has the
 * output's shape. Float or int64 per the output's dtype. */
static void binary(const snn_graph *g, const snn_node *n, bin_op op, const snn_tensor *A,
                   const void *a, const snn_tensor *B, const void *b, void *out)
{
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    int r = Y->rank;
    int64_t sa[SNN_MAX_RANK], sb[SNN_MAX_RANK], idx[SNN_MAX_RANK] = {0};
    broadcast_strides(A->rank, A->dims, r, sa);
    broadcast_strides(B->rank, B->dims, r, sb);
    int64_t total = snn_tensor_numel(Y), na = snn_tensor_numel(A), nb = snn_tensor_numel(B);
    bool is_float = Y->dtype == SNN_DTYPE_FLOAT;
    if (is_float && na == total && (nb == total || nb == 1)) {
        /* Fast paths: same shape, or a scalar on the right. */
        const float *fa = a, *fb = b;
        float *o = out;
        for (int64_t i = 0; i < total; i++)
            o[i] = apply_f(op, fa[i], fb[nb == 1 ? 0 : i]);
        return;
    }
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < total; i++) {
        if (is_float)
            ((float *)out)[i] = apply_f(op, ((const float *)a)[ia], ((const float *)b)[ib]);
        else
            ((int64_t *)out)[i] = apply_i(op, ((const int64_t *)a)[ia], ((const int64_t *)b)[ib]);
        /* Odometer increment over the output index, carrying the two input offsets. */
        for (int d = r - 1; d >= 0; d--) {
            ia += sa[d];
            ib += sb[d];
            if (++idx[d] < Y->dims[d])
                break;
            ia -= sa[d] * Y->dims[d];
            ib -= sb[d] * Y->dims[d];
            idx[d] = 0;
        }
    }
}

static size_t out_bytes(const snn_graph *g, const snn_node *n)
{
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    return (size_t)snn_tensor_numel(Y) * snn_dtype_size(Y->dtype);
}

/* Variadic element-wise ops fold left: out = ((x0 + x1) + x2) ... Each step broadcasts
 * both operands to the final output shape, so broadcast(x0 + x1) + x2 is the same as
 * broadcasting all three at once. */
static snn_status fold(const snn_graph *g, const snn_node *n, bin_op op, const void *const *in,
                       void *out)
{
    const snn_tensor *Y = &g->tensors[n->outputs[0]];
    if (n->n_inputs == 1) {
        memcpy(out, in[0], out_bytes(g, n));
        return SNN_OK;
    }
    binary(g, n, op, &g->tensors[n->inputs[0]], in[0], &g->tensors[n->inputs[1]], in[1], out);
    for (int k = 2; k < n->n_inputs; k++)
        binary(g, n, op, Y, out, &g->tensors[n->inputs[k]], in[k], out);
    return SNN_OK;
}

SNN_KERNEL(add) { return fold(g, n, BIN_ADD, in, out); }
SNN_KERNEL(sub) { return fold(g, n, BIN_SUB, in, out); }
SNN_KERNEL(mul) { return fold(g, n, BIN_MUL, in, out); }
SNN_KERNEL(div) { return fold(g, n, BIN_DIV, in, out); }

static void unary_f32(const snn_graph *g, const snn_node *n, const float *const *in, float *out)
{
    const float *x = in[0];
    int64_t total = snn_tensor_numel(&g->tensors[n->outputs[0]]);
    float lo = 0.0f, hi = INFINITY;
    if (n->op == SNN_OP_CLIP) {
        /* Opset 11+ takes the bounds as (scalar) inputs, earlier opsets as attributes. */
        lo = n->n_inputs > 1 && in[1] ? in[1][0] : n->attr.clip_min;
        hi = n->n_inputs > 2 && in[2] ? in[2][0] : n->attr.clip_max;
    }
    for (int64_t i = 0; i < total; i++) {
        float v = x[i];
        v = v < lo ? lo : v;
        out[i] = v > hi ? hi : v;
    }
}

SNN_KERNEL(unary)
{
    unary_f32(g, n, (const float *const *)in, out);
    return SNN_OK;
}

static void batchnorm_f32(const snn_graph *g, const snn_node *n, const float *const *in, float *out)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]];
    const float *x = in[0], *gamma = in[1], *beta = in[2], *mean = in[3], *var = in[4];
    int64_t N = X->dims[0], C = X->dims[1], inner = 1;
    for (int d = 2; d < X->rank; d++)
        inner *= X->dims[d];
    for (int64_t c = 0; c < C; c++) {
        float s = gamma[c] / sqrtf(var[c] + n->attr.epsilon);
        float t = beta[c] - mean[c] * s;
        for (int64_t b = 0; b < N; b++) {
            const float *xp = x + (b * C + c) * inner;
            float *op = out + (b * C + c) * inner;
            for (int64_t i = 0; i < inner; i++)
                op[i] = xp[i] * s + t;
        }
    }
}

SNN_KERNEL(batchnorm)
{
    batchnorm_f32(g, n, (const float *const *)in, out);
    return SNN_OK;
}

static void softmax_f32(const snn_graph *g, const snn_node *n, const float *x, float *out)
{
    const snn_tensor *X = &g->tensors[n->inputs[0]];
    int64_t axis = n->attr.axis < 0 ? n->attr.axis + X->rank : n->attr.axis;
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < X->rank; d++) {
        if (d < axis)
            outer *= X->dims[d];
        else if (d == axis || n->attr.softmax_legacy)
            len *= X->dims[d]; /* opset < 13: everything from axis on is one row */
        else
            inner *= X->dims[d];
    }
    bool log_out = n->op == SNN_OP_LOGSOFTMAX;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *xp = x + o * len * inner + i;
            float *op = out + o * len * inner + i;
            float mx = -INFINITY;
            for (int64_t k = 0; k < len; k++)
                mx = xp[k * inner] > mx ? xp[k * inner] : mx;
            double sum = 0.0;
            for (int64_t k = 0; k < len; k++)
                sum += exp((double)(xp[k * inner] - mx));
            for (int64_t k = 0; k < len; k++) {
                float z = xp[k * inner] - mx;
                op[k * inner] = log_out ? z - (float)log(sum) : (float)(exp((double)z) / sum);
            }
        }
    }
}

SNN_KERNEL(softmax)
{
    softmax_f32(g, n, (const float *)in[0], out);
    return SNN_OK;
}
