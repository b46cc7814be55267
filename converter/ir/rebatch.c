/* A graph of one sample seen as a batch of several: the same nodes and constants, with every
 * run-time tensor's leading dimension multiplied. The evaluator then runs a batch of samples
 * in one pass, and each weight is read once per batch instead of once per sample. */
#include "rebatch.h"

#include <stdlib.h>
#include <string.h>

#include "shape.h"
#include "verify.h"

static bool is_run_time(const snn_graph *g, int t)
{
    return t >= 0 && !(g->tensors[t].flags & SNN_TENSOR_CONST);
}

static bool reshapes(snn_op op)
{
    return op == SNN_OP_FLATTEN || op == SNN_OP_RESHAPE || op == SNN_OP_IDENTITY || op == SNN_OP_DROPOUT ||
           op == SNN_OP_SQUEEZE || op == SNN_OP_UNSQUEEZE;
}

/* Whether node n of g (one sample) computes each sample on its own when its run-time tensors
 * gain a leading batch dimension: no axis of the op may reach across samples. The shapes are
 * checked separately, against shape inference. */
static bool per_sample(const snn_graph *g, const snn_node *n, const char **why)
{
    switch (n->op) {
    case SNN_OP_SOFTMAX:
    case SNN_OP_LOGSOFTMAX: {
        int rank = g->tensors[n->inputs[0]].rank;
        int64_t ax = n->attr.axis < 0 ? n->attr.axis + rank : n->attr.axis;
        *why = "a Softmax over the batch axis";
        return ax >= 1;
    }
    case SNN_OP_GEMM:
        *why = "a Gemm whose run-time operand is not A, untransposed";
        return !n->attr.trans_a && !is_run_time(g, n->inputs[1]) && (n->n_inputs < 3 || !is_run_time(g, n->inputs[2]));
    case SNN_OP_MATMUL:
        *why = "a MatMul with a run-time second operand";
        return !is_run_time(g, n->inputs[1]);
    default:
        break;
    }
    if (snn_op_info_of(n->op)->role != SNN_OP_ROLE_RUN) {
        *why = "shape arithmetic on run-time tensors";
        return false;
    }
    return true;
}

/* A Reshape to a constant shape that spells the batch of one out ([1, -1] from PyTorch's
 * x.view(x.size(0), -1), folded at import) gets the batch in its copy of the shape, stored in
 * room (SNN_MAX_RANK values); the one-sample graph keeps its own. */
static void batch_reshape_shape(const snn_graph *g, const snn_node *n, int64_t batch, snn_tensor *t, int64_t *room)
{
    int s = n->inputs[1];
    int64_t shape[SNN_MAX_RANK];
    int r = s >= 0 ? snn_shape_const_ints(g, s, shape, SNN_MAX_RANK) : -1;
    if (r < 1 || shape[0] != 1 || snn_graph_consumers(g, s) != 1)
        return;
    memcpy(room, shape, (size_t)r * sizeof *room);
    room[0] = batch;
    t[s].data = room;
}

snn_status snn_graph_rebatch(const snn_graph *g, int64_t batch, snn_graph *out, snn_diag *diag)
{
    *out = *g;
    out->tensors = NULL;
    if (batch < 1 || g->n_inputs != 1)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, "a batch needs one graph input and a size of at least 1");
    /* One block: the tensors, then room for every Reshape's batched shape (SNN_MAX_RANK each). */
    size_t tensors_bytes = (size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof(snn_tensor);
    tensors_bytes = (tensors_bytes + sizeof(int64_t) - 1) / sizeof(int64_t) * sizeof(int64_t);
    snn_tensor *t = malloc(tensors_bytes + (size_t)g->n_nodes * SNN_MAX_RANK * sizeof(int64_t));
    if (!t)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    int64_t *shapes = (int64_t *)(void *)((char *)t + tensors_bytes); /* (n_nodes, SNN_MAX_RANK) */
    if (g->n_tensors)
        memcpy(t, g->tensors, (size_t)g->n_tensors * sizeof *t);
    out->tensors = t;
    /* Every run-time tensor leads with a batch of one, which becomes the batch. */
    for (int i = 0; i < g->n_tensors; i++) {
        if (!is_run_time(g, i))
            continue;
        if (t[i].rank < 1 || t[i].dims[0] != 1 || snn_tensor_numel(&t[i]) < 0 ||
            snn_tensor_numel(&t[i]) > SNN_MAX_NUMEL / batch) {
            snn_graph_rebatch_free(out);
            return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, g->tensors[i].name,
                               "tensor '%s' does not lead with a batch dimension of 1", g->tensors[i].name);
        }
        t[i].dims[0] = batch;
    }
    /* Shape inference on the batched tensors must agree, node by node; reshapes only move
     * values within a sample when both ends lead with the batch (checked above). */
    for (int i = 0; i < g->n_nodes; i++) {
        const snn_node *n = &g->nodes[i];
        const char *why = "";
        if (!per_sample(g, n, &why)) {
            snn_graph_rebatch_free(out);
            return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, n->name, "node '%s' mixes samples: %s", n->name, why);
        }
        if (n->op == SNN_OP_RESHAPE && n->n_inputs > 1)
            batch_reshape_shape(g, n, batch, t, shapes + (size_t)i * SNN_MAX_RANK);
        if (reshapes(n->op))
            continue;
        int rank[SNN_NODE_MAX_OUTPUTS];
        int64_t dims[SNN_NODE_MAX_OUTPUTS][SNN_MAX_RANK];
        snn_status st = snn_shape_infer_node(out, n, rank, dims, diag);
        for (int k = 0; st == SNN_OK && k < n->n_outputs && k < SNN_NODE_MAX_OUTPUTS; k++) {
            int o = n->outputs[k];
            if (o >= 0 && (rank[k] != t[o].rank || memcmp(dims[k], t[o].dims, (size_t)rank[k] * sizeof dims[k][0])))
                st = snn_diag_at(diag, SNN_ERR_UNSUPPORTED, n->name, "node '%s' does not keep the batch axis",
                                 n->name);
        }
        if (st != SNN_OK) {
            snn_graph_rebatch_free(out);
            return st;
        }
    }
    snn_status st = snn_graph_verify(out, diag); /* what the evaluator will check */
    if (st != SNN_OK)
        snn_graph_rebatch_free(out);
    return st == SNN_OK ? SNN_OK : SNN_ERR_UNSUPPORTED;
}

void snn_graph_rebatch_free(snn_graph *view)
{
    free(view->tensors);
    view->tensors = NULL;
    view->n_tensors = 0;
}
