/* A one-sample graph evaluated as a batch of samples (the calibration's batched passes). */
#ifndef ANN2SNN_REBATCH_H
#define ANN2SNN_REBATCH_H

#include "graph.h"
#include "op_info.h"

/* A view of g (every run-time tensor of leading dimension 1) whose run-time tensors lead with
 * batch instead. It shares g's nodes, names and constants, so g must outlive it; free it with
 * snn_graph_rebatch_free(), never snn_graph_free(). Fails with SNN_ERR_UNSUPPORTED (diag says
 * which node or tensor) when some node would mix samples or not keep the batch axis: a
 * Softmax over axis 0, a reshape of the batch away, a Gemm on a transposed activation. */
snn_status snn_graph_rebatch(const snn_graph *g, int64_t batch, snn_graph *out, snn_diag *diag);
void snn_graph_rebatch_free(snn_graph *view);

#endif
