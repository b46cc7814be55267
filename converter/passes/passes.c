#include "passes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/kernels.h"
#include "ir/op_info.h"
#include "ir/shape.h"
#include "ir/verify.h"

static bool is_const(const snn_graph *g, int t)
{
    return t >= 0 && (g->tensors[t].flags & SNN_TENSOR_CONST);
}

/* Ops that run on int64 constants during folding; the rest are float-only. */
static bool handles_int64(snn_op op)
{
    return snn_op_info_of(op)->types != SNN_OP_TYPES_FLOAT;
}

/* Move a constant int64 parameter input into attr.ints (Pad pads, (Un)Squeeze axes), and
 * constant Clip bounds (opset 11+ inputs) into clip_min/clip_max. */
static snn_status params_to_attr(snn_graph *g, snn_node *n, snn_diag *diag)
{
    if (n->op == SNN_OP_CLIP) {
        for (int k = 1; k <= 2 && k < n->n_inputs; k++) {
            int t = n->inputs[k];
            if (t < 0 || !is_const(g, t) || g->tensors[t].dtype != SNN_DTYPE_FLOAT ||
                snn_tensor_numel(&g->tensors[t]) != 1)
                continue; /* a run-time bound stays an input */
            *(k == 1 ? &n->attr.clip_min : &n->attr.clip_max) = ((const float *)g->tensors[t].data)[0];
            n->inputs[k] = -1;
        }
        return SNN_OK;
    }
    int k = 1;
    bool is_pad = n->op == SNN_OP_PAD;
    if (!is_pad && n->op != SNN_OP_UNSQUEEZE && n->op != SNN_OP_SQUEEZE)
        return SNN_OK;
    if (n->n_inputs <= k || n->inputs[k] < 0)
        return SNN_OK; /* attribute form, or Squeeze without axes */
    int64_t vals[2 * SNN_MAX_RANK];
    int cnt = snn_shape_const_ints(g, n->inputs[k], vals, 2 * SNN_MAX_RANK);
    if (cnt < 0)
        return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, n->name,
                           "%s input '%s' must be a constant int64 vector of at most %d values",
                           snn_op_name(n->op), g->tensors[n->inputs[k]].name, 2 * SNN_MAX_RANK);
    if (is_pad && n->n_inputs > 3 && n->inputs[3] >= 0) {
        /* Opset 18 axes: pads given for those axes only. */
        int64_t axes[SNN_MAX_RANK], full[2 * SNN_MAX_RANK] = {0};
        int na = snn_shape_const_ints(g, n->inputs[3], axes, SNN_MAX_RANK);
        int r = g->tensors[n->inputs[0]].rank;
        if (na < 0 || cnt != 2 * na)
            return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, n->name,
                               "Pad axes must be constant and match the pads");
        for (int i = 0; i < na; i++) {
            int64_t ax = axes[i] < 0 ? axes[i] + r : axes[i];
            if (ax < 0 || ax >= r)
                return snn_diag_at(diag, SNN_ERR_INVALID, n->name, "Pad axis out of range");
            full[ax] = vals[i];
            full[ax + r] = vals[i + na];
        }
        cnt = 2 * r;
        memcpy(vals, full, sizeof full);
        n->inputs[3] = -1;
    }
    int64_t *ints = malloc((size_t)(cnt ? cnt : 1) * sizeof *ints);
    if (!ints)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    if (cnt)
        memcpy(ints, vals, (size_t)cnt * sizeof *ints);
    free(n->attr.ints);
    n->attr.ints = ints;
    n->attr.n_ints = cnt;
    n->inputs[k] = -1;
    return SNN_OK;
}

snn_status snn_pass_infer_and_fold(snn_graph *g, snn_diag *diag)
{
    bool folded_any = false;
    for (int i = 0; i < g->n_nodes; i++) {
        snn_node *n = &g->nodes[i];
        snn_status st = params_to_attr(g, n, diag);
        if (st != SNN_OK)
            return st;
        int rank[SNN_NODE_MAX_OUTPUTS];
        int64_t dims[SNN_NODE_MAX_OUTPUTS][SNN_MAX_RANK];
        st = snn_shape_infer_node(g, n, rank, dims, diag);
        if (st != SNN_OK)
            return st;
        snn_tensor *out = &g->tensors[n->outputs[0]];
        snn_tensor_set_shape(out, rank[0], dims[0]);
        out->dtype = snn_op_output_dtype(g, n);
        int64_t numel = snn_tensor_numel(out);
        if (numel < 0)
            return snn_diag_at(diag, SNN_ERR_LIMIT, n->name,
                               "output '%s' has more than %lld elements", out->name,
                               (long long)SNN_MAX_NUMEL);
        bool all_const = true, any_int = false;
        for (int k = 0; k < n->n_inputs; k++) {
            int t = n->inputs[k];
            if (t < 0)
                continue;
            all_const &= is_const(g, t);
            any_int |= g->tensors[t].dtype == SNN_DTYPE_INT64 &&
                       !(n->op == SNN_OP_GATHER && k == 1) && !(n->op == SNN_OP_RESHAPE && k == 1);
        }
        if (any_int && !handles_int64(n->op))
            return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, n->name,
                               "%s on int64 tensors is not supported (float only)",
                               snn_op_name(n->op));
        if (!(all_const || n->op == SNN_OP_SHAPE))
            continue;
        void *data = malloc((size_t)(numel ? numel : 1) * snn_dtype_size(out->dtype));
        if (!data)
            return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory folding '%s'", n->name);
        const void *in[SNN_NODE_MAX_INPUTS];
        for (int k = 0; k < n->n_inputs && k < SNN_NODE_MAX_INPUTS; k++)
            in[k] = n->inputs[k] >= 0 ? g->tensors[n->inputs[k]].data : NULL;
        st = snn_kernel_run(g, n, in, data, diag);
        if (st != SNN_OK) {
            free(data);
            return st;
        }
        snn_tensor_set_const(out, out->dtype, data);
        out->producer = -1;
        n->outputs[0] = -1; /* the node is dead; prune removes it */
        folded_any = true;
    }
    if (folded_any)
        snn_graph_prune(g);
    return SNN_OK;
}

/* Make every reader of tensor from read tensor to instead. */
static void replace_uses(snn_graph *g, int from, int to)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == from)
                g->nodes[i].inputs[k] = to;
}

static bool is_graph_output(const snn_graph *g, int t)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            return true;
    return false;
}

snn_status snn_pass_drop_identity(snn_graph *g, snn_diag *diag)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        snn_node *n = &g->nodes[i];
        if (n->op != SNN_OP_IDENTITY && n->op != SNN_OP_DROPOUT)
            continue;
        int in = n->inputs[0], out = n->outputs[0];
        if (is_graph_output(g, out)) {
            /* Keep the output's name: the producer of in writes out directly, if in is
             * an intermediate that nothing else reads. */
            const snn_tensor *ti = &g->tensors[in];
            if (ti->producer < 0 || is_graph_output(g, in) || snn_graph_consumers(g, in) != 1)
                continue;
            g->nodes[ti->producer].outputs[0] = out;
            g->tensors[out].producer = ti->producer;
            n->inputs[0] = -1;
        } else {
            replace_uses(g, out, in);
        }
        n->outputs[0] = -1;
        changed = true;
    }
    if (changed)
        snn_graph_prune(g);
    return snn_graph_verify(g, diag);
}

/* A new constant float tensor named after base, holding numel values copied from src
 * (or zeros when src is NULL). Returns its index or -1. */
static int new_const(snn_graph *g, const char *base, const char *suffix, int rank,
                     const int64_t *dims, const float *src, snn_diag *diag)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", base, suffix);
    int t = snn_graph_add_tensor(g, name, diag);
    if (t < 0)
        return -1;
    snn_tensor *ten = &g->tensors[t];
    snn_tensor_set_shape(ten, rank, dims);
    int64_t numel = snn_tensor_numel(ten);
    float *d = calloc((size_t)(numel ? numel : 1), sizeof *d);
    if (!d) {
        snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (src)
        memcpy(d, src, (size_t)numel * sizeof *d);
    snn_tensor_set_const(ten, SNN_DTYPE_FLOAT, d);
    return t;
}

/* Fold y = s*x + t (per output channel) into producer p: Conv or Gemm. */
static snn_status fold_affine(snn_graph *g, int pi, const float *s, const float *t, snn_diag *diag)
{
    snn_node *p = &g->nodes[pi];
    int wt = p->inputs[1];
    const snn_tensor *W = &g->tensors[wt];
    int64_t wdims[SNN_MAX_RANK];
    memcpy(wdims, W->dims, sizeof wdims);
    int nw = new_const(g, g->tensors[wt].name, "_bnfold", W->rank, wdims, g->tensors[wt].data, diag);
    if (nw < 0)
        return SNN_ERR_NOMEM;
    p = &g->nodes[pi]; /* add_tensor may move tensors, never nodes; W pointer is stale */
    W = &g->tensors[nw];
    float *w = W->data;
    int64_t M;
    if (p->op == SNN_OP_CONV) {
        M = W->dims[0];
        int64_t per = snn_tensor_numel(W) / M;
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < per; i++)
                w[m * per + i] *= s[m];
    } else { /* Gemm: B is (K, N), or (N, K) when trans_b */
        M = g->tensors[p->outputs[0]].dims[1];
        int64_t K = snn_tensor_numel(W) / M;
        for (int64_t k = 0; k < K; k++)
            for (int64_t m = 0; m < M; m++)
                w[p->attr.trans_b ? m * K + k : k * M + m] *= s[m];
    }
    int64_t bdim[1] = {M};
    int nb = new_const(g, g->tensors[p->outputs[0]].name, "_bias", 1, bdim, NULL, diag);
    if (nb < 0)
        return SNN_ERR_NOMEM;
    p = &g->nodes[pi];
    float *b = g->tensors[nb].data;
    int old_b = p->n_inputs > 2 ? p->inputs[2] : -1;
    /* Gemm's C may be a scalar or (1, N) as well as (N); normalised through broadcasting. */
    const snn_tensor *B0 = old_b >= 0 ? &g->tensors[old_b] : NULL;
    int64_t nb0 = B0 ? snn_tensor_numel(B0) : 0;
    float beta = p->op == SNN_OP_GEMM ? p->attr.beta : 1.0f;
    for (int64_t m = 0; m < M; m++) {
        float b0 = B0 ? ((const float *)B0->data)[nb0 == 1 ? 0 : m] * beta : 0.0f;
        b[m] = b0 * s[m] + t[m];
    }
    if (p->n_inputs < 3) {
        int *ni = realloc(p->inputs, 3 * sizeof *ni);
        if (!ni)
            return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        p->inputs = ni;
        p->n_inputs = 3;
    }
    p->inputs[1] = nw;
    p->inputs[2] = nb;
    p->attr.beta = 1.0f;
    return SNN_OK;
}

/* The BN's output per channel has the mean beta and the std |gamma| over its training data
 * (that is what it normalised to): kept on the output tensor as a data-free range (Nagel et
 * al. 2019, "Data-Free Quantization Through Weight Equalization and Bias Correction", ICCV). */
static snn_status record_bn_prior(snn_graph *g, const snn_node *n, snn_diag *diag)
{
    snn_tensor *y = &g->tensors[n->outputs[0]];
    if (y->bn_prior || y->rank < 2 || y->dims[1] < 1 || !is_const(g, n->inputs[1]) || !is_const(g, n->inputs[2]))
        return SNN_OK;
    int64_t C = y->dims[1];
    if (snn_tensor_numel(&g->tensors[n->inputs[1]]) != C || snn_tensor_numel(&g->tensors[n->inputs[2]]) != C)
        return SNN_OK;
    float *prior = malloc((size_t)(2 * C) * sizeof *prior); /* (2, C): beta, then |gamma| */
    if (!prior)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    const float *gamma = g->tensors[n->inputs[1]].data, *beta = g->tensors[n->inputs[2]].data;
    for (int64_t c = 0; c < C; c++)
        prior[c] = beta[c], prior[C + c] = fabsf(gamma[c]);
    y->bn_prior = prior;
    return SNN_OK;
}

snn_status snn_pass_fold_batchnorm(snn_graph *g, snn_diag *diag)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        snn_node *n = &g->nodes[i];
        if (n->op != SNN_OP_BATCHNORM)
            continue;
        if (n->outputs[0] >= 0) {
            snn_status ps = record_bn_prior(g, n, diag);
            if (ps != SNN_OK)
                return ps;
        }
        int x = n->inputs[0];
        int pi = g->tensors[x].producer;
        if (pi < 0 || is_graph_output(g, x) || snn_graph_consumers(g, x) != 1)
            continue;
        const snn_node *p = &g->nodes[pi];
        bool conv = p->op == SNN_OP_CONV;
        bool gemm = p->op == SNN_OP_GEMM && !p->attr.trans_a;
        if (!(conv || gemm) || !is_const(g, p->inputs[1]) ||
            (p->n_inputs > 2 && p->inputs[2] >= 0 && !is_const(g, p->inputs[2])))
            continue;
        if (gemm && p->n_inputs > 2 && p->inputs[2] >= 0) {
            const snn_tensor *C = &g->tensors[p->inputs[2]];
            int64_t cn = snn_tensor_numel(C);
            if (!(cn == 1 || (cn == g->tensors[x].dims[1] && C->dims[C->rank - 1] == cn)))
                continue; /* a per-row bias cannot become a per-channel one */
        }
        bool params_const = true;
        for (int k = 1; k <= 4; k++)
            params_const &= is_const(g, n->inputs[k]);
        if (!params_const)
            continue;
        int64_t C = g->tensors[x].dims[1];
        float *st = malloc((size_t)(2 * C) * sizeof *st); /* (2, C): scale then shift */
        if (!st)
            return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        const float *gamma = g->tensors[n->inputs[1]].data, *beta = g->tensors[n->inputs[2]].data;
        const float *mean = g->tensors[n->inputs[3]].data, *var = g->tensors[n->inputs[4]].data;
        for (int64_t c = 0; c < C; c++) {
            st[c] = gamma[c] / sqrtf(var[c] + n->attr.epsilon);
            st[C + c] = beta[c] - mean[c] * st[c];
        }
        int bn_out = n->outputs[0];
        snn_status s = fold_affine(g, pi, st, st + C, diag);
        free(st);
        if (s != SNN_OK)
            return s;
        n = &g->nodes[i];
        g->nodes[pi].outputs[0] = bn_out;
        g->tensors[bn_out].producer = pi;
        n->outputs[0] = -1;
        n->inputs[0] = -1;
        changed = true;
    }
    if (changed)
        snn_graph_prune(g);
    return snn_graph_verify(g, diag);
}

static bool nonnegative(const snn_graph *g, int t)
{
    int p = g->tensors[t].producer;
    if (p < 0)
        return false;
    const snn_node *n = &g->nodes[p];
    return n->op == SNN_OP_RELU || (n->op == SNN_OP_CLIP && n->n_inputs < 2 && n->attr.clip_min >= 0);
}

snn_status snn_pass_merge_pad(snn_graph *g, snn_diag *diag)
{
    bool changed = false;
    for (int i = 0; i < g->n_nodes; i++) {
        snn_node *pad = &g->nodes[i];
        if (pad->op != SNN_OP_PAD)
            continue;
        int out = pad->outputs[0];
        const snn_tensor *X = &g->tensors[pad->inputs[0]];
        if (X->rank != 4 || is_graph_output(g, out) || snn_graph_consumers(g, out) != 1)
            continue;
        bool zero = pad->n_inputs > 2 && pad->inputs[2] >= 0
                        ? is_const(g, pad->inputs[2]) && ((float *)g->tensors[pad->inputs[2]].data)[0] == 0.0f
                        : pad->attr.pad_value == 0.0f;
        const int64_t *p = pad->attr.ints; /* (8): begin N,C,H,W then end N,C,H,W */
        if (!zero || p[0] || p[1] || p[4] || p[5] || p[2] < 0 || p[3] < 0 || p[6] < 0 || p[7] < 0)
            continue;
        int ci = -1;
        for (int j = i + 1; j < g->n_nodes && ci < 0; j++)
            if (g->nodes[j].inputs[0] == out)
                ci = j;
        if (ci < 0)
            continue;
        snn_node *c = &g->nodes[ci];
        if (c->attr.auto_pad != SNN_AUTO_PAD_NOTSET)
            continue;
        bool ok = false;
        if (c->op == SNN_OP_CONV) {
            ok = true;
        } else if (c->op == SNN_OP_AVGPOOL) {
            bool own = c->attr.pads[0] || c->attr.pads[1] || c->attr.pads[2] || c->attr.pads[3];
            ok = c->attr.count_include_pad || !own;
            /* The zeros were real elements before, so they count now. */
            if (ok)
                c->attr.count_include_pad = true;
        } else if (c->op == SNN_OP_MAXPOOL) {
            /* Zero padding equals -inf padding only under non-negative input, and only when
             * no window lies wholly in the padding. */
            ok = nonnegative(g, pad->inputs[0]) && p[2] + c->attr.pads[0] < c->attr.kernel[0] &&
                 p[3] + c->attr.pads[1] < c->attr.kernel[1] && p[6] + c->attr.pads[2] < c->attr.kernel[0] &&
                 p[7] + c->attr.pads[3] < c->attr.kernel[1];
        }
        if (!ok)
            continue;
        c->attr.pads[0] += p[2];
        c->attr.pads[1] += p[3];
        c->attr.pads[2] += p[6];
        c->attr.pads[3] += p[7];
        c->inputs[0] = pad->inputs[0];
        pad->outputs[0] = -1;
        changed = true;
    }
    if (changed)
        snn_graph_prune(g);
    return snn_graph_verify(g, diag);
}

snn_status snn_pass_untranspose_gemm(snn_graph *g, snn_diag *diag)
{
    for (int i = 0; i < g->n_nodes; i++) {
        snn_node *n = &g->nodes[i];
        if (n->op != SNN_OP_GEMM || !n->attr.trans_b || !is_const(g, n->inputs[1]))
            continue;
        const snn_tensor *B = &g->tensors[n->inputs[1]];
        int64_t N = B->dims[0], K = B->dims[1], dims[2] = {K, N};
        int t = new_const(g, B->name, "_t", 2, dims, NULL, diag);
        if (t < 0)
            return SNN_ERR_NOMEM;
        n = &g->nodes[i];
        const float *src = g->tensors[n->inputs[1]].data;
        float *dst = g->tensors[t].data;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++)
                dst[k * N + j] = src[j * K + k];
        n->inputs[1] = t;
        n->attr.trans_b = false;
    }
    snn_graph_prune(g);
    return snn_graph_verify(g, diag);
}

snn_status snn_graph_optimize(snn_graph *g, snn_diag *diag)
{
    snn_status st = snn_pass_drop_identity(g, diag);
    if (st == SNN_OK)
        st = snn_pass_fold_batchnorm(g, diag);
    if (st == SNN_OK)
        st = snn_pass_merge_pad(g, diag);
    if (st == SNN_OK)
        st = snn_pass_untranspose_gemm(g, diag);
    return st;
}
