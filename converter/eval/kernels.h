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

/* Every kernel (kernel_*.c) has snn_kernel_run()'s contract and this signature; the KERNEL
 * column of the op table names them, and the table declares them all here. */
#if defined(__GNUC__)
#define SNN_KERNEL_UNUSED __attribute__((unused))
#else
#define SNN_KERNEL_UNUSED
#endif
#define SNN_KERNEL(name)                                                                    \
    snn_status snn_kernel_##name(const snn_graph *g, const snn_node *n,                    \
                                 const void *const *in SNN_KERNEL_UNUSED, void *out,       \
                                 snn_diag *diag SNN_KERNEL_UNUSED)
#define SNN_OP(ENUM, NAME, SINCE, TYPES, ROLE, READS, SHAPE, KERNEL, SPIKING) SNN_KERNEL(KERNEL);
#include "ir/ops.def"
#undef SNN_OP

#endif
