#include "shape.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool snn_shape_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *rout,
                         int64_t *out)
{
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        int64_t da = i < r - ra ? 1 : a[i - (r - ra)];
        int64_t db = i < r - rb ? 1 : b[i - (r - rb)];
        if (da != db && da != 1 && db != 1)
            return false;
        out[i] = da == 1 ? db : da;
    }
    *rout = r;
    return true;
}

int snn_shape_const_ints(const snn_graph *g, int t, int64_t *vals, int max)
{
    if (t < 0 || t >= g->n_tensors)
        return -1;
    const snn_tensor *ten = &g->tensors[t];
    if (!(ten->flags & SNN_TENSOR_CONST) || ten->dtype != SNN_DTYPE_INT64 || ten->rank > 1)
        return -1;
    int64_t n = snn_tensor_numel(ten);
    if (n < 0 || n > max)
        return -1;
    if (n > 0)
        memcpy(vals, ten->data, (size_t)n * sizeof *vals);
    return (int)n;
}

static snn_status node_error(snn_diag *diag, const snn_node *n, const char *fmt, ...);

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

snn_status snn_shape_window(const snn_node *n, const int64_t kernel[2], const int64_t in_hw[2],
                            int64_t pads[4], int64_t out_hw[2], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    for (int d = 0; d < 2; d++) {
        if (kernel[d] < 1 || a->strides[d] < 1 || a->dilations[d] < 1)
            return node_error(diag, n, "kernel, strides and dilations must be positive");
        if (kernel[d] > (1 << 20) || a->strides[d] > (1 << 20) || a->dilations[d] > (1 << 20))
            return node_error(diag, n, "kernel, stride or dilation too large");
        int64_t ext = (kernel[d] - 1) * a->dilations[d] + 1; /* receptive field */
        int64_t in = in_hw[d], s = a->strides[d], out;
        int64_t pb = a->pads[d], pe = a->pads[d + 2];
        switch (a->auto_pad) {
        case SNN_AUTO_PAD_SAME_UPPER:
        case SNN_AUTO_PAD_SAME_LOWER: {
            out = ceil_div(in, s);
            int64_t total = (out - 1) * s + ext - in;
            if (total < 0)
                total = 0;
            pb = a->auto_pad == SNN_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
            break;
        }
        case SNN_AUTO_PAD_VALID:
            pb = pe = 0;
            out = in >= ext ? (in - ext) / s + 1 : 0;
            break;
        default: {
            if (pb < 0 || pe < 0 || pb > (1 << 20) || pe > (1 << 20))
                return node_error(diag, n, "pads out of range");
            int64_t span = in + pb + pe - ext;
            if (span < 0) {
                out = 0;
                break;
            }
            out = (a->ceil_mode ? ceil_div(span, s) : span / s) + 1;
            /* As PyTorch and ONNX's reference do: with ceil_mode the last window must start
             * inside the input or its leading padding. */
            if (a->ceil_mode && (out - 1) * s >= in + pb)
                out--;
            break;
        }
        }
        if (out < 1)
            return node_error(diag, n,
                              "window of %lld (dilated) does not fit the input of %lld with these pads",
                              (long long)ext, (long long)in);
        pads[d] = pb;
        pads[d + 2] = pe;
        out_hw[d] = out;
    }
    return SNN_OK;
}

static const snn_tensor *in_t(const snn_graph *g, const snn_node *n, int k)
{
    if (k >= n->n_inputs || n->inputs[k] < 0)
        return NULL;
    return &g->tensors[n->inputs[k]];
}

static void copy_shape(const snn_tensor *t, int *rank, int64_t *dims)
{
    *rank = t->rank;
    memcpy(dims, t->dims, (size_t)t->rank * sizeof *dims);
}

static int64_t norm_axis(int64_t axis, int rank)
{
    return axis < 0 ? axis + rank : axis;
}

/* "node 'NAME' (Op): message", as every shape error reads. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static snn_status node_error(snn_diag *diag, const snn_node *n, const char *fmt, ...)
{
    if (diag) {
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snn_diag_at(diag, SNN_ERR_INVALID, n->name, "node '%.100s' (%s): %s", n->name,
                    snn_op_name(n->op), msg);
    }
    return SNN_ERR_INVALID;
}

#define REQUIRE(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            return node_error(diag, n, __VA_ARGS__);                                       \
    } while (0)

static snn_status infer_matmul(const snn_node *n, const snn_tensor *A, const snn_tensor *B,
                               int *rank, int64_t *dims, snn_diag *diag)
{
    REQUIRE(A->rank >= 1 && B->rank >= 1, "MatMul inputs must have rank >= 1");
    int64_t ad[SNN_MAX_RANK + 1], bd[SNN_MAX_RANK + 1];
    int ra = A->rank, rb = B->rank;
    memcpy(ad, A->dims, (size_t)ra * sizeof *ad);
    memcpy(bd, B->dims, (size_t)rb * sizeof *bd);
    bool a_vec = ra == 1, b_vec = rb == 1;
    if (a_vec) { ad[1] = ad[0]; ad[0] = 1; ra = 2; }
    if (b_vec) { bd[1] = 1; rb = 2; }
    REQUIRE(ad[ra - 1] == bd[rb - 2], "MatMul inner dimensions differ (%lld vs %lld)",
            (long long)ad[ra - 1], (long long)bd[rb - 2]);
    int rbatch;
    int64_t batch[SNN_MAX_RANK];
    REQUIRE(snn_shape_broadcast(ra - 2, ad, rb - 2, bd, &rbatch, batch),
            "MatMul batch dimensions do not broadcast");
    int r = 0;
    for (int i = 0; i < rbatch; i++)
        dims[r++] = batch[i];
    if (!a_vec)
        dims[r++] = ad[ra - 2];
    if (!b_vec)
        dims[r++] = bd[rb - 1];
    REQUIRE(r <= SNN_MAX_RANK, "MatMul result rank too large");
    *rank = r;
    return SNN_OK;
}

static snn_status shape_gemm(const snn_graph *g, const snn_node *n, int *rank,
                             int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    const snn_tensor *B = in_t(g, n, 1), *C = in_t(g, n, 2);
    REQUIRE(B && X->rank == 2 && B->rank == 2, "Gemm needs 2-D A and B");
    int64_t M = a->trans_a ? X->dims[1] : X->dims[0], K = a->trans_a ? X->dims[0] : X->dims[1];
    int64_t K2 = a->trans_b ? B->dims[1] : B->dims[0], N = a->trans_b ? B->dims[0] : B->dims[1];
    REQUIRE(K == K2, "Gemm inner dimensions differ (%lld vs %lld)", (long long)K, (long long)K2);
    rank[0] = 2;
    dims[0][0] = M;
    dims[0][1] = N;
    if (C) {
        int r;
        int64_t o[SNN_MAX_RANK];
        REQUIRE(C->rank <= 2 && snn_shape_broadcast(2, dims[0], C->rank, C->dims, &r, o) &&
                    o[0] == M && o[1] == N,
                "Gemm bias C does not broadcast to (%lld, %lld)", (long long)M, (long long)N);
    }
    return SNN_OK;
}

static snn_status shape_matmul(const snn_graph *g, const snn_node *n, int *rank,
                               int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_tensor *X = in_t(g, n, 0);
    REQUIRE(in_t(g, n, 1), "MatMul needs two inputs");
    return infer_matmul(n, X, in_t(g, n, 1), &rank[0], dims[0], diag);
}

/* Element-wise over inputs broadcast together (numpy rules). */
static snn_status shape_broadcast(const snn_graph *g, const snn_node *n, int *rank,
                                  int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_tensor *X = in_t(g, n, 0);
    copy_shape(X, &rank[0], dims[0]);
    for (int k = 1; k < n->n_inputs; k++) {
        const snn_tensor *Y = in_t(g, n, k);
        REQUIRE(Y, "input %d is missing", k);
        int64_t o[SNN_MAX_RANK];
        int r;
        REQUIRE(snn_shape_broadcast(rank[0], dims[0], Y->rank, Y->dims, &r, o),
                "inputs do not broadcast together");
        rank[0] = r;
        memcpy(dims[0], o, (size_t)r * sizeof *o);
    }
    return SNN_OK;
}

static snn_status shape_conv(const snn_graph *g, const snn_node *n, int *rank,
                             int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    const snn_tensor *W = in_t(g, n, 1), *B = in_t(g, n, 2);
    REQUIRE(W && X->rank == 4 && W->rank == 4, "Conv needs 4-D X and W");
    int64_t C = X->dims[1], M = W->dims[0];
    REQUIRE(a->group >= 1 && C % a->group == 0 && M % a->group == 0,
            "group=%lld does not divide %lld input channels and %lld output channels",
            (long long)a->group, (long long)C, (long long)M);
    REQUIRE(W->dims[1] * a->group == C, "weight has %lld input channels per group, expected %lld",
            (long long)W->dims[1], (long long)(C / a->group));
    REQUIRE(!B || (B->rank == 1 && B->dims[0] == M), "bias must have %lld elements", (long long)M);
    int64_t kernel[2] = {W->dims[2], W->dims[3]};
    REQUIRE(a->kernel[0] == 0 || (a->kernel[0] == kernel[0] && a->kernel[1] == kernel[1]),
            "kernel_shape does not match the weight");
    int64_t pads[4], out[2];
    snn_status st = snn_shape_window(n, kernel, &X->dims[2], pads, out, diag);
    if (st != SNN_OK)
        return st;
    rank[0] = 4;
    dims[0][0] = X->dims[0];
    dims[0][1] = M;
    dims[0][2] = out[0];
    dims[0][3] = out[1];
    return SNN_OK;
}

/* A 2-D window over NCHW input: pooling. */
static snn_status shape_window(const snn_graph *g, const snn_node *n, int *rank,
                               int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    REQUIRE(X->rank == 4, "pooling needs a 4-D input");
    int64_t pads[4], out[2];
    snn_status st = snn_shape_window(n, a->kernel, &X->dims[2], pads, out, diag);
    if (st != SNN_OK)
        return st;
    rank[0] = 4;
    dims[0][0] = X->dims[0];
    dims[0][1] = X->dims[1];
    dims[0][2] = out[0];
    dims[0][3] = out[1];
    return SNN_OK;
}

static snn_status shape_global_pool(const snn_graph *g, const snn_node *n, int *rank,
                                    int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_tensor *X = in_t(g, n, 0);
    REQUIRE(X->rank >= 3, "%s needs rank >= 3", snn_op_name(n->op));
    copy_shape(X, &rank[0], dims[0]);
    for (int d = 2; d < X->rank; d++)
        dims[0][d] = 1;
    return SNN_OK;
}

static snn_status shape_batchnorm(const snn_graph *g, const snn_node *n, int *rank,
                                  int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_tensor *X = in_t(g, n, 0);
    REQUIRE(X->rank >= 2, "BatchNormalization needs rank >= 2");
    for (int k = 1; k <= 4; k++) {
        const snn_tensor *p = in_t(g, n, k);
        REQUIRE(p && p->rank == 1 && p->dims[0] == X->dims[1],
                "BatchNormalization parameter %d must have %lld elements", k,
                (long long)X->dims[1]);
    }
    copy_shape(X, &rank[0], dims[0]);
    return SNN_OK;
}

/* Output shaped as input 0. */
static snn_status shape_same(const snn_graph *g, const snn_node *n, int *rank,
                             int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_tensor *X = in_t(g, n, 0);
    (void)diag;
    copy_shape(X, &rank[0], dims[0]);
    return SNN_OK;
}

static snn_status shape_softmax(const snn_graph *g, const snn_node *n, int *rank,
                                int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    int64_t ax = norm_axis(a->axis, X->rank);
    REQUIRE(ax >= 0 && ax < (X->rank ? X->rank : 1), "axis %lld out of range", (long long)a->axis);
    copy_shape(X, &rank[0], dims[0]);
    return SNN_OK;
}

static snn_status shape_pad(const snn_graph *g, const snn_node *n, int *rank,
                            int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    REQUIRE(a->n_ints == 2 * X->rank, "Pad needs %d pads, has %d", 2 * X->rank, a->n_ints);
    copy_shape(X, &rank[0], dims[0]);
    for (int d = 0; d < X->rank; d++) {
        int64_t pb = a->ints[d], pe = a->ints[d + X->rank];
        REQUIRE(pb > -(1LL << 30) && pb < (1LL << 30) && pe > -(1LL << 30) && pe < (1LL << 30),
                "pads out of range");
        dims[0][d] = X->dims[d] + pb + pe;
        REQUIRE(dims[0][d] >= 0, "pads remove more than the whole axis %d", d);
    }
    return SNN_OK;
}

static snn_status shape_flatten(const snn_graph *g, const snn_node *n, int *rank,
                                int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    int64_t ax = norm_axis(a->axis, X->rank);
    REQUIRE(ax >= 0 && ax <= X->rank, "axis %lld out of range", (long long)a->axis);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < X->rank; d++)
        *(d < ax ? &outer : &inner) *= X->dims[d];
    rank[0] = 2;
    dims[0][0] = outer;
    dims[0][1] = inner;
    return SNN_OK;
}

static snn_status shape_reshape(const snn_graph *g, const snn_node *n, int *rank,
                                int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    int64_t shp[SNN_MAX_RANK];
    int r = n->n_inputs > 1 ? snn_shape_const_ints(g, n->inputs[1], shp, SNN_MAX_RANK) : -1;
    REQUIRE(r >= 0, "Reshape needs a constant int64 shape of rank <= %d", SNN_MAX_RANK);
    int64_t numel = snn_tensor_numel(X), known = 1;
    int infer_at = -1;
    for (int d = 0; d < r; d++) {
        if (shp[d] == 0 && !a->allowzero) {
            REQUIRE(d < X->rank, "shape[%d]=0 copies a dimension the input lacks", d);
            shp[d] = X->dims[d];
        }
        if (shp[d] == -1) {
            REQUIRE(infer_at < 0, "more than one -1 in the shape");
            infer_at = d;
            continue;
        }
        REQUIRE(shp[d] >= 0 && shp[d] <= SNN_MAX_NUMEL, "shape[%d]=%lld is invalid", d,
                (long long)shp[d]);
        REQUIRE(shp[d] == 0 || known <= SNN_MAX_NUMEL / shp[d], "shape too large");
        known *= shp[d];
    }
    if (infer_at >= 0) {
        REQUIRE(known > 0 && numel % known == 0, "cannot infer -1: %lld elements into %lld",
                (long long)numel, (long long)known);
        shp[infer_at] = numel / known;
    } else {
        REQUIRE(known == numel, "reshape of %lld elements into %lld", (long long)numel,
                (long long)known);
    }
    rank[0] = r;
    memcpy(dims[0], shp, (size_t)r * sizeof *shp);
    return SNN_OK;
}

static snn_status shape_concat(const snn_graph *g, const snn_node *n, int *rank,
                               int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    int64_t ax = norm_axis(a->axis, X->rank);
    REQUIRE(ax >= 0 && ax < X->rank, "axis %lld out of range", (long long)a->axis);
    copy_shape(X, &rank[0], dims[0]);
    for (int k = 1; k < n->n_inputs; k++) {
        const snn_tensor *Y = in_t(g, n, k);
        REQUIRE(Y && Y->rank == X->rank && Y->dtype == X->dtype,
                "Concat inputs differ in rank or type");
        for (int d = 0; d < X->rank; d++)
            REQUIRE(d == ax || Y->dims[d] == X->dims[d], "Concat inputs differ on axis %d", d);
        dims[0][ax] += Y->dims[ax];
    }
    return SNN_OK;
}

static snn_status shape_shape_of(const snn_graph *g, const snn_node *n, int *rank,
                                 int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    (void)diag;
    int64_t s = a->shape_start < 0 ? a->shape_start + X->rank : a->shape_start;
    int64_t e = a->shape_end < 0 ? a->shape_end + X->rank : a->shape_end;
    s = s < 0 ? 0 : s > X->rank ? X->rank : s;
    e = e < 0 ? 0 : e > X->rank ? X->rank : e;
    rank[0] = 1;
    dims[0][0] = e > s ? e - s : 0;
    return SNN_OK;
}

static snn_status shape_gather(const snn_graph *g, const snn_node *n, int *rank,
                               int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    const snn_tensor *I = in_t(g, n, 1);
    int64_t ax = norm_axis(a->axis, X->rank);
    REQUIRE(I && ax >= 0 && ax < X->rank && X->rank + I->rank - 1 <= SNN_MAX_RANK,
            "Gather axis or ranks out of range");
    int r = 0;
    for (int d = 0; d < ax; d++)
        dims[0][r++] = X->dims[d];
    for (int d = 0; d < I->rank; d++)
        dims[0][r++] = I->dims[d];
    for (int d = (int)ax + 1; d < X->rank; d++)
        dims[0][r++] = X->dims[d];
    rank[0] = r;
    return SNN_OK;
}

static snn_status shape_squeeze(const snn_graph *g, const snn_node *n, int *rank,
                                int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_attrs *a = &n->attr;
    const snn_tensor *X = in_t(g, n, 0);
    int64_t axes[SNN_MAX_RANK];
    int na = a->n_ints;
    REQUIRE(na <= SNN_MAX_RANK, "too many axes");
    if (na)
        memcpy(axes, a->ints, (size_t)na * sizeof *axes);
    bool sq = n->op == SNN_OP_SQUEEZE;
    int rout = sq ? X->rank : X->rank + na;
    REQUIRE(rout <= SNN_MAX_RANK, "result rank too large");
    bool mark[SNN_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int64_t ax = norm_axis(axes[i], rout);
        REQUIRE(ax >= 0 && ax < rout && !mark[ax], "axis %lld invalid or repeated",
                (long long)axes[i]);
        mark[ax] = true;
    }
    int r = 0, src = 0;
    if (sq) {
        for (int d = 0; d < X->rank; d++) {
            bool drop = na ? mark[d] : X->dims[d] == 1;
            REQUIRE(!drop || X->dims[d] == 1, "Squeeze of axis %d whose size is not 1", d);
            if (!drop)
                dims[0][r++] = X->dims[d];
        }
    } else {
        for (int d = 0; d < rout; d++)
            dims[0][r++] = mark[d] ? 1 : X->dims[src++];
    }
    rank[0] = r;
    return SNN_OK;
}

typedef snn_status shape_fn(const snn_graph *g, const snn_node *n, int *rank,
                           int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag);

/* The SHAPE column of ops.def. */
static shape_fn *const shape_of_op[] = {
#define SNN_OP(ENUM, NAME, SINCE, TYPES, ROLE, READS, SHAPE, KERNEL, SPIKING) shape_##SHAPE,
#include "ops.def"
#undef SNN_OP
};
static_assert(sizeof shape_of_op / sizeof shape_of_op[0] == SNN_OP_COUNT, "one per op");

snn_status snn_shape_infer_node(const snn_graph *g, const snn_node *n, int *rank,
                                int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag)
{
    const snn_tensor *X = in_t(g, n, 0);
    for (int k = 0; k < n->n_inputs; k++) {
        const snn_tensor *t = in_t(g, n, k);
        REQUIRE(!t || t->shape_known, "input %d has an unknown shape", k);
    }
    REQUIRE(n->n_outputs >= 1 && n->n_outputs <= SNN_NODE_MAX_OUTPUTS, "bad number of outputs");
    REQUIRE(X || n->op == SNN_OP_SUM, "first input is missing");
    if (n->op == SNN_OP_SUM)
        REQUIRE(n->n_inputs >= 1 && X, "Sum needs at least one input");

    return shape_of_op[n->op](g, n, rank, dims, diag);
}
