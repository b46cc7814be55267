#include "kernels.h"

#include <string.h>

static const snn_tensor *tin(const snn_graph *g, const snn_node *n, int k)
{
    return &g->tensors[n->inputs[k]];
}

static const snn_tensor *tout(const snn_graph *g, const snn_node *n)
{
    return &g->tensors[n->outputs[0]];
}

snn_status snn_kernel_run(const snn_graph *g, const snn_node *n, const void *const *in, void *out,
                          snn_diag *diag)
{
    const float *const *fin = (const float *const *)in;
    const snn_tensor *X = tin(g, n, 0), *Y = tout(g, n);
    size_t out_bytes = (size_t)snn_tensor_numel(Y) * snn_dtype_size(Y->dtype);
    switch (n->op) {
    case SNN_OP_GEMM: snn_kernel_gemm(g, n, fin, out); break;
    case SNN_OP_MATMUL: snn_kernel_matmul(g, n, fin, out); break;
    case SNN_OP_CONV: snn_kernel_conv(g, n, fin, out); break;
    case SNN_OP_MAXPOOL: snn_kernel_maxpool(g, n, fin[0], out); break;
    case SNN_OP_AVGPOOL: snn_kernel_avgpool(g, n, fin[0], out); break;
    case SNN_OP_GLOBALAVGPOOL: snn_kernel_global_avgpool(g, n, fin[0], out); break;
    case SNN_OP_BATCHNORM: snn_kernel_batchnorm(g, n, fin, out); break;
    case SNN_OP_SOFTMAX:
    case SNN_OP_LOGSOFTMAX: snn_kernel_softmax(g, n, fin[0], out); break;
    case SNN_OP_RELU:
    case SNN_OP_CLIP: snn_kernel_unary(g, n, fin, out); break;
    case SNN_OP_ADD:
    case SNN_OP_SUB:
    case SNN_OP_MUL:
    case SNN_OP_DIV:
    case SNN_OP_SUM:
        /* Variadic Sum folds left: out = ((x0 + x1) + x2) ... */
        if (n->n_inputs == 1) {
            memcpy(out, in[0], out_bytes);
            break;
        }
        /* Each step broadcasts both operands to the final output shape, so
         * broadcast(x0 + x1) + x2 is the same as broadcasting all three at once. */
        snn_kernel_binary(g, n, X, in[0], tin(g, n, 1), in[1], out);
        for (int k = 2; k < n->n_inputs; k++)
            snn_kernel_binary(g, n, Y, out, tin(g, n, k), in[k], out);
        break;
    case SNN_OP_PAD: snn_kernel_pad(g, n, in, out); break;
    case SNN_OP_CONCAT: snn_kernel_concat(g, n, in, out); break;
    case SNN_OP_GATHER: return snn_kernel_gather(g, n, in, out, diag);
    case SNN_OP_FLATTEN:
    case SNN_OP_RESHAPE:
    case SNN_OP_IDENTITY:
    case SNN_OP_DROPOUT:
    case SNN_OP_UNSQUEEZE:
    case SNN_OP_SQUEEZE:
        if (out != in[0])
            memcpy(out, in[0], out_bytes);
        break;
    case SNN_OP_SHAPE: {
        int64_t *o = out;
        int64_t s = n->attr.shape_start < 0 ? n->attr.shape_start + X->rank : n->attr.shape_start;
        if (s < 0)
            s = 0;
        for (int64_t i = 0; i < Y->dims[0]; i++)
            o[i] = X->dims[s + i];
        break;
    }
    case SNN_OP_CAST: {
        int64_t cnt = snn_tensor_numel(Y);
        if (X->dtype == Y->dtype) {
            memcpy(out, in[0], out_bytes);
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
        break;
    }
    case SNN_OP_COUNT:
        return snn_diag_at(diag, SNN_ERR_INVALID, n->name, "unknown op");
    }
    return SNN_OK;
}
