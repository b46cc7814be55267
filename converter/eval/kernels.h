/* Float reference kernels for every op of the IR. One entry point, snn_kernel_run(),
 * dispatches through the KERNEL column of the op table (ir/ops.def); the evaluator and
 * constant folding both call it.
 * Layout is ONNX's: NCHW activations, (M, C/group, kH, kW) convolution weights. */
#ifndef ANN2SNN_KERNELS_H
#define ANN2SNN_KERNELS_H

#include "ir/graph.h"

/* in[k]: data of input k (NULL for an omitted optional input), dtype of the tensor;
 * out: buffer of the output's numel elements. Shapes are taken from the graph, which
 * must have passed shape inference. */
snn_status snn_kernel_run(const snn_graph *g, const snn_node *n, const void *const *in, void *out,
                          snn_diag *diag);

/* Per-group kernels (kernel_*.c), same contract. */
void snn_kernel_gemm(const snn_graph *g, const snn_node *n, const float *const *in, float *out);
void snn_kernel_matmul(const snn_graph *g, const snn_node *n, const float *const *in, float *out);
void snn_kernel_conv(const snn_graph *g, const snn_node *n, const float *const *in, float *out);
void snn_kernel_maxpool(const snn_graph *g, const snn_node *n, const float *x, float *out);
void snn_kernel_avgpool(const snn_graph *g, const snn_node *n, const float *x, float *out);
void snn_kernel_global_avgpool(const snn_graph *g, const snn_node *n, const float *x, float *out);
void snn_kernel_global_maxpool(const snn_graph *g, const snn_node *n, const float *x, float *out);
/* out = a (op) b, both broadcast to the node's output shape; out may alias a when a has
 * the output's shape. Float or int64 per the output's dtype. */
void snn_kernel_binary(const snn_graph *g, const snn_node *n, const snn_tensor *A, const void *a,
                       const snn_tensor *B, const void *b, void *out);
void snn_kernel_unary(const snn_graph *g, const snn_node *n, const float *const *in, float *out);
void snn_kernel_batchnorm(const snn_graph *g, const snn_node *n, const float *const *in, float *out);
void snn_kernel_softmax(const snn_graph *g, const snn_node *n, const float *x, float *out);
void snn_kernel_pad(const snn_graph *g, const snn_node *n, const void *const *in, void *out);
void snn_kernel_concat(const snn_graph *g, const snn_node *n, const void *const *in, void *out);
snn_status snn_kernel_gather(const snn_graph *g, const snn_node *n, const void *const *in,
                             void *out, snn_diag *diag);

#endif
