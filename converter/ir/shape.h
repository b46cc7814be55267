/* Shape inference: the output shapes of one node from its input shapes and attributes.
 * Pure (it does not modify the graph), so the verifier reuses it as its oracle. */
#ifndef ANN2SNN_SHAPE_H
#define ANN2SNN_SHAPE_H

#include "graph.h"

#define SNN_NODE_MAX_OUTPUTS 4

/* Compute rank[k] and dims[k] of each output k of n. Inputs must have known shapes. */
snn_status snn_shape_infer_node(const snn_graph *g, const snn_node *n, int *rank,
                                int64_t (*dims)[SNN_MAX_RANK], snn_diag *diag);

/* Effective pads (top, left, bottom, right) and output size of a 2-D window op
 * (Conv, MaxPool, AveragePool) over an input of in_hw, resolving auto_pad and ceil_mode. */
snn_status snn_shape_window(const snn_node *n, const int64_t kernel[2], const int64_t in_hw[2],
                            int64_t pads[4], int64_t out_hw[2], snn_diag *diag);

/* Numpy-style multidirectional broadcast of a and b into out; false if incompatible. */
bool snn_shape_broadcast(int ra, const int64_t *a, int rb, const int64_t *b, int *rout,
                         int64_t *out);

/* Read a constant 1-D int64 tensor (Reshape shape, axes) into vals; returns count or -1. */
int snn_shape_const_ints(const snn_graph *g, int t, int64_t *vals, int max);

#endif
