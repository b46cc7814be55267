/* Graph passes. Each leaves a graph that snn_graph_verify() accepts and that computes the
 * same outputs (tests/test_passes.c checks both on every bundled model). */
#ifndef ANN2SNN_PASSES_H
#define ANN2SNN_PASSES_H

#include "ir/graph.h"

/* Infer every tensor's shape in topological order, folding nodes whose inputs are all
 * constant (and Shape of a known shape) into constants. Moves constant int64 parameter
 * inputs (Pad pads, Squeeze/Unsqueeze axes) into attributes. Required after import. */
snn_status snn_pass_infer_and_fold(snn_graph *g, snn_diag *diag);

/* Remove Identity and inference-mode Dropout. */
snn_status snn_pass_drop_identity(snn_graph *g, snn_diag *diag);

/* Fold BatchNormalization into the Conv or Gemm that feeds it alone. */
snn_status snn_pass_fold_batchnorm(snn_graph *g, snn_diag *diag);

/* Merge a zero constant Pad of the spatial axes into the Conv/pool that reads it. */
snn_status snn_pass_merge_pad(snn_graph *g, snn_diag *diag);

/* Store constant transB Gemm weights as (K, N) once, so that the kernel streams rows of B
 * (vectorised) instead of taking a dot product per output. */
snn_status snn_pass_untranspose_gemm(snn_graph *g, snn_diag *diag);

/* All of the above except infer_and_fold, then prune; verifies after each pass. */
snn_status snn_graph_optimize(snn_graph *g, snn_diag *diag);

#endif
