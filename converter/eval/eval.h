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
    const snn_graph *one; /* NULL, or g's graph of one sample: its BLAS products run sample by
                           * sample (snn_eval_init_samples) */
    bool packed_shared;   /* packed belongs to an snn_eval_weights, not to this evaluator */
} snn_eval;

/* Each Conv's constant weights packed for its fast path, once, for several evaluators of a
 * graph (and of batched views of it: the packing does not depend on the batch). Calibration's
 * workers share one copy: VGG-11's is 37 MB. */
typedef struct {
    int n_nodes;
    float **packed; /* (n_nodes) as snn_eval.packed */
} snn_eval_weights;

/* Packs on `workers` threads (base/parallel.h). */
snn_status snn_eval_weights_make(snn_eval_weights *w, const snn_graph *g, int workers, snn_diag *diag);
void snn_eval_weights_free(snn_eval_weights *w);

snn_status snn_eval_init(snn_eval *ev, const snn_graph *g, snn_diag *diag);
/* An evaluator of batch, a batched view (ir/rebatch.h) of the one-sample graph one, whose every
 * sample gets the bits snn_eval_init(one) would give it, wherever it sits in the batch: BLAS
 * rounds a product's rows differently as the row count changes, so Gemm, MatMul and the
 * im2col convolutions run sample by sample; the direct convolution and the other kernels are
 * already the same for every batch. Calibration batches with it and keeps its bytes. batch may
 * be one itself (an evaluator of one). w: the Conv weights packed for one by several
 * evaluators (it must outlive ev), or NULL for weights of ev's own. */
snn_status snn_eval_init_samples(snn_eval *ev, const snn_graph *batch, const snn_graph *one, const snn_eval_weights *w,
                                 snn_diag *diag);
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
