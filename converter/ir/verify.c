/* The verifier: every invariant the evaluator and the passes rely on. Shape inference is
 * its oracle, so it lives apart from graph.c, which shape inference itself builds on. */
#include "verify.h"

#include <string.h>

#include "shape.h"

static bool index_ok(const snn_graph *g, int t)
{
    return t >= 0 && t < g->n_tensors;
}

snn_status snn_graph_verify(const snn_graph *g, snn_diag *diag)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (!index_ok(g, g->inputs[i]) || !(g->tensors[g->inputs[i]].flags & SNN_TENSOR_INPUT))
            return snn_diag_set(diag, SNN_ERR_INVALID, "graph input %d is not a valid input tensor", i);
    for (int i = 0; i < g->n_outputs; i++)
        if (!index_ok(g, g->outputs[i]))
            return snn_diag_set(diag, SNN_ERR_INVALID, "graph output %d refers to no tensor", i);
    for (int t = 0; t < g->n_tensors; t++) {
        const snn_tensor *ten = &g->tensors[t];
        if (!ten->shape_known || ten->rank < 0 || ten->rank > SNN_MAX_RANK || snn_tensor_numel(ten) < 0)
            return snn_diag_at(diag, SNN_ERR_INVALID, ten->name, "tensor '%s' has no valid shape",
                               ten->name);
        if ((ten->flags & SNN_TENSOR_CONST) && !ten->data && snn_tensor_numel(ten) > 0)
            return snn_diag_at(diag, SNN_ERR_INVALID, ten->name, "constant '%s' has no data",
                               ten->name);
        if (!(ten->flags & SNN_TENSOR_CONST) && ten->dtype != SNN_DTYPE_FLOAT)
            return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, ten->name,
                               "tensor '%s' is int64 but depends on run-time input; only float "
                               "tensors are computed at run time", ten->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const snn_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            int t = n->inputs[k];
            if (t == -1)
                continue;
            if (!index_ok(g, t))
                return snn_diag_at(diag, SNN_ERR_INVALID, n->name, "input %d is out of range", k);
            const snn_tensor *ten = &g->tensors[t];
            if (!(ten->flags & (SNN_TENSOR_CONST | SNN_TENSOR_INPUT)) &&
                (ten->producer < 0 || ten->producer >= i))
                return snn_diag_at(diag, SNN_ERR_INVALID, n->name,
                                   "input '%s' is not produced before node '%s'", ten->name, n->name);
        }
        for (int k = 0; k < n->n_outputs; k++) {
            int t = n->outputs[k];
            if (t == -1)
                continue;
            if (!index_ok(g, t) || g->tensors[t].producer != i)
                return snn_diag_at(diag, SNN_ERR_INVALID, n->name, "output %d is inconsistent", k);
        }
        /* Shapes: the stored ones must be what inference gives from the inputs. */
        int rank[SNN_NODE_MAX_OUTPUTS];
        int64_t dims[SNN_NODE_MAX_OUTPUTS][SNN_MAX_RANK];
        snn_status st = snn_shape_infer_node(g, n, rank, dims, diag);
        if (st != SNN_OK)
            return st;
        for (int k = 0; k < n->n_outputs && k < SNN_NODE_MAX_OUTPUTS; k++) {
            int t = n->outputs[k];
            if (t < 0)
                continue;
            const snn_tensor *ten = &g->tensors[t];
            bool same = ten->rank == rank[k];
            for (int d = 0; same && d < rank[k]; d++)
                same = ten->dims[d] == dims[k][d];
            if (!same)
                return snn_diag_at(diag, SNN_ERR_INVALID, n->name,
                                   "output '%s' has a shape that does not follow from the inputs",
                                   ten->name);
        }
    }
    return SNN_OK;
}
