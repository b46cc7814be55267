/* Float reference kernels for every op of the IR. One entry point, snn_kernel_run(),
 * dispatches through the KERNEL column of the op table (ir/ops.def); the evaluator and
 * constant folding both call it.
 * Layout is ONNX's: NCHW activations, (M, C/group, kH, kW) convolution weights. */
#ifndef ANN2SNN_KERNELS_H
#define ANN2SNN_KERNELS_H

#include "ir/graph.h"

#ifndef SNN_HAVE_BLAS
#define SNN_HAVE_BLAS 0 /* meson defines it to 1 when it found OpenBLAS */
#endif

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

/* The evaluator's fast paths: Conv, Gemm and MatMul as BLAS matrix products (OpenBLAS, when
 * the build found it: snn_blas_available()), and convolutions without groups as an AVX2 direct
 * convolution where the CPU has it (conv_direct.h). Same contract as the reference kernels,
 * whose results they match to float rounding (the order of the sums differs). Each call runs
 * on the calling thread: the evaluator parallelises over samples. */
bool snn_blas_available(void);
/* Keeps BLAS on the calling thread (OpenBLAS's own pool would compete with the evaluator's
 * workers); a process-wide setting, made by snn_eval_init(). */
void snn_blas_single_thread(void);
/* Conv node n's fast path needs scratch of snn_conv_fast_scratch() floats (padded input or
 * im2col), and reads its weights packed by snn_conv_fast_pack() into
 * snn_conv_fast_packed_size() floats (0: it reads them as they are). The evaluator packs
 * constant weights once; packed = NULL packs in[1] into scratch on each call. */
size_t snn_conv_fast_scratch(const snn_graph *g, const snn_node *n);
size_t snn_conv_fast_packed_size(const snn_graph *g, const snn_node *n);
/* Whether Conv node n's fast path is the direct convolution, whose outputs do not depend on
 * the batch they are computed in (im2col + BLAS otherwise). */
bool snn_conv_fast_is_direct(const snn_graph *g, const snn_node *n);
void snn_conv_fast_pack(const snn_graph *g, const snn_node *n, const float *w, float *packed);
snn_status snn_kernel_conv_fast(const snn_graph *g, const snn_node *n, const void *const *in,
                                void *out, float *scratch, const float *packed, snn_diag *diag);
snn_status snn_kernel_gemm_blas(const snn_graph *g, const snn_node *n, const void *const *in,
                                void *out, snn_diag *diag);
snn_status snn_kernel_matmul_blas(const snn_graph *g, const snn_node *n, const void *const *in,
                                  void *out, snn_diag *diag);

#endif
