/* Float evaluator on the IR: the calibration engine and the test oracle.
 * Buffers for every run-time tensor are allocated once by snn_eval_init(); snn_eval_run()
 * allocates nothing, so evaluating a test set is one init and many runs.
 * Conv, Gemm and MatMul go through BLAS matrix products when the build has OpenBLAS (the
 * default); snn_eval_use_reference() switches an evaluator to the plain C kernels, which
 * tests compare against. */
#ifndef ANN2SNN_EVAL_H
#define ANN2SNN_EVAL_H

#include "ir/graph.h"

typedef struct {
    const snn_graph *g;
    float **buf;  /* (n_tensors) data of each tensor: constants point into the graph */
    float *arena; /* backing store of all run-time tensors */
    size_t arena_floats; /* floats in arena */
    float *scratch; /* the largest convolution's scratch (snn_conv_fast_scratch); NULL if none */
    float **packed; /* (n_nodes) a Conv node's constant weights as its fast path reads them, or
                     * NULL (not a Conv, weights computed at run time, or read as they are) */
    bool blas;      /* the fast paths: Conv (direct or BLAS), Gemm, MatMul through BLAS */
} snn_eval;

snn_status snn_eval_init(snn_eval *ev, const snn_graph *g, snn_diag *diag);
/* reference: every node through the plain C kernels (ir/ops.def), as constant folding does. */
void snn_eval_use_reference(snn_eval *ev, bool reference);
/* inputs[k]: data of graph input k, laid out as its shape (numel floats). */
snn_status snn_eval_run(snn_eval *ev, const float *const *inputs, snn_diag *diag);
/* Data of tensor t after a run (any tensor: activations are kept for calibration). A tensor
 * that only reshapes a graph input (Flatten, Reshape, ...) may point into that input, and is
 * valid while the input is; graph outputs always live in the evaluator. */
const float *snn_eval_tensor(const snn_eval *ev, int t);
/* Data of graph output k after a run. */
const float *snn_eval_output(const snn_eval *ev, int k);
void snn_eval_free(snn_eval *ev);

#endif
