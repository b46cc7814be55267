#include "kernels.h"

#include <assert.h>
#include <string.h>

static const snn_tensor *tin(const snn_graph *g, const snn_node *n, int k)
{
    return &g->tensors[n->inputs[k]];
}

static const snn_tensor *tout(const snn_graph *g, const snn_node *n)
{
    return &g->tensors[n->outputs[0]];
}

static size_t out_bytes(const snn_graph *g, const snn_node *n)
{
    const snn_tensor *Y = tout(g, n);
    return (size_t)snn_tensor_numel(Y) * snn_dtype_size(Y->dtype);
}

/* One adapter per KERNEL name of ops.def, all of one signature, so that the table below
 * can name them. fin views the inputs as float for the float-only kernels. */
#define KERNEL_FN(name)                                                                     \
    static snn_status kernel_##name(const snn_graph *g, const snn_node *n,                 \
                                    const void *const *in, void *out, snn_diag *diag)
#define FIN ((const float *const *)in)

KERNEL_FN(gemm) { (void)diag; snn_kernel_gemm(g, n, FIN, out); return SNN_OK; }
KERNEL_FN(matmul) { (void)diag; snn_kernel_matmul(g, n, FIN, out); return SNN_OK; }
KERNEL_FN(conv) { (void)diag; snn_kernel_conv(g, n, FIN, out); return SNN_OK; }
KERNEL_FN(maxpool) { (void)diag; snn_kernel_maxpool(g, n, FIN[0], out); return SNN_OK; }
KERNEL_FN(avgpool) { (void)diag; snn_kernel_avgpool(g, n, FIN[0], out); return SNN_OK; }
KERNEL_FN(global_avgpool) { (void)diag; snn_kernel_global_avgpool(g, n, FIN[0], out); return SNN_OK; }
KERNEL_FN(global_maxpool) { (void)diag; snn_kernel_global_maxpool(g, n, FIN[0], out); return SNN_OK; }
KERNEL_FN(batchnorm) { (void)diag; snn_kernel_batchnorm(g, n, FIN, out); return SNN_OK; }
KERNEL_FN(softmax) { (void)diag; snn_kernel_softmax(g, n, FIN[0], out); return SNN_OK; }
KERNEL_FN(unary) { (void)diag; snn_kernel_unary(g, n, FIN, out); return SNN_OK; }
KERNEL_FN(pad) { (void)diag; snn_kernel_pad(g, n, in, out); return SNN_OK; }
KERNEL_FN(concat) { (void)diag; snn_kernel_concat(g, n, in, out); return SNN_OK; }
KERNEL_FN(gather) { return snn_kernel_gather(g, n, in, out, diag); }

/* Variadic element-wise ops fold left: out = ((x0 + x1) + x2) ... Each step broadcasts
 * both operands to the final output shape, so broadcast(x0 + x1) + x2 is the same as
 * broadcasting all three at once. */
KERNEL_FN(elementwise)
{
    (void)diag;
    if (n->n_inputs == 1) {
        memcpy(out, in[0], out_bytes(g, n));
        return SNN_OK;
    }
    snn_kernel_binary(g, n, tin(g, n, 0), in[0], tin(g, n, 1), in[1], out);
    for (int k = 2; k < n->n_inputs; k++)
        snn_kernel_binary(g, n, tout(g, n), out, tin(g, n, k), in[k], out);
    return SNN_OK;
}

/* Ops that change only the shape (or nothing) copy their input, unless run in place. */
KERNEL_FN(copy)
{
    (void)diag;
    if (out != in[0])
        memcpy(out, in[0], out_bytes(g, n));
    return SNN_OK;
}

KERNEL_FN(shape_of)
{
    (void)diag;
    (void)in;
    const snn_tensor *X = tin(g, n, 0), *Y = tout(g, n);
    int64_t *o = out;
    int64_t s = n->attr.shape_start < 0 ? n->attr.shape_start + X->rank : n->attr.shape_start;
    if (s < 0)
        s = 0;
    for (int64_t i = 0; i < Y->dims[0]; i++)
        o[i] = X->dims[s + i];
    return SNN_OK;
}

KERNEL_FN(cast)
{
    (void)diag;
    const snn_tensor *X = tin(g, n, 0), *Y = tout(g, n);
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

typedef snn_status kernel_fn(const snn_graph *g, const snn_node *n, const void *const *in,
                             void *out, snn_diag *diag);

/* The KERNEL column of ops.def. */
static kernel_fn *const kernel_of_op[] = {
#define SNN_OP(ENUM, NAME, SINCE, TYPES, ROLE, READS, SHAPE, KERNEL, SPIKING) kernel_##KERNEL,
#include "ir/ops.def"
#undef SNN_OP
};
static_assert(sizeof kernel_of_op / sizeof kernel_of_op[0] == SNN_OP_COUNT, "one per op");

snn_status snn_kernel_run(const snn_graph *g, const snn_node *n, const void *const *in, void *out,
                          snn_diag *diag)
{
    if ((unsigned)n->op >= SNN_OP_COUNT)
        return snn_diag_at(diag, SNN_ERR_INVALID, n->name, "unknown op");
    return kernel_of_op[n->op](g, n, in, out, diag);
}
