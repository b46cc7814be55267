/* Evaluation per layer (ann2snn eval --layers): for each spiking layer and each point of the curve, how far the
 * SNN's rates (times the layer's scale, the file's SCAL section) are from the ANN activation
 * they stand for (the file's TENS section names it), and how many neurons sit at their most
 * spikes. Sums are integers (activations in fixed point), so every thread and rank count gives
 * the same numbers. */
#ifndef ANN2SNN_EVAL_LAYERS_H
#define ANN2SNN_EVAL_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#include "ann2snn.h"
#include "eval/eval.h"
#include "ir/graph.h"
#include "snn_runtime.h"

#define LAYERS_MAX_POINTS 24

/* Which layers are measured, and where each finds its ANN tensor and scales. */
typedef struct {
    int n;                            /* measured layers */
    uint32_t layer[SNN_MAX_LAYERS];   /* (n) their indices in the file */
    int tensor[SNN_MAX_LAYERS];       /* (n) the ANN tensor in the graph */
    const float *scale[SNN_MAX_LAYERS]; /* (n) the layer's C scales */
    int n_points;
    uint32_t steps[LAYERS_MAX_POINTS]; /* (n_points) steps of each point, ascending */
} layer_plan;

/* One worker's sums: per measured layer and point, in units of 2^-16 for the error and the
 * activation, neurons for saturation. */
typedef struct {
    snn_eval ev;
    int32_t *count[SNN_MAX_LAYERS]; /* (n) this sample's spike counts so far, channel-last */
    int64_t err[SNN_MAX_LAYERS][LAYERS_MAX_POINTS];
    int64_t act[SNN_MAX_LAYERS][LAYERS_MAX_POINTS];
    int64_t sat[SNN_MAX_LAYERS][LAYERS_MAX_POINTS];
    int64_t neurons[SNN_MAX_LAYERS]; /* (n) neurons times samples, per point */
} layer_tally;

/* The plan for file m against graph g (the same model's ONNX): every non-output NEURON layer
 * whose TENS name is a tensor of g of the layer's size. Returns false, with why in msg, when
 * the file has no SCAL/TENS (an integer file, or one written before 1.5) or no layer matches. */
bool layer_plan_make(layer_plan *p, const snn_model *m, const snn_graph *g, const uint32_t *steps, int n_points,
                     char *msg, size_t msg_size);

snn_status layer_tally_init(layer_tally *t, const layer_plan *p, const snn_model *m, const snn_graph *g,
                            snn_diag *diag);
void layer_tally_free(layer_tally *t, const layer_plan *p);
/* A new sample: run the ANN on x (preprocessed, as the SNN gets it) and clear the counts. */
snn_status layer_tally_begin(layer_tally *t, const layer_plan *p, const float *x, snn_diag *diag);
/* After each SNN step of the sample. */
void layer_tally_step(layer_tally *t, const layer_plan *p, const snn_state *s);
/* At point k (after p->steps[k] steps). */
void layer_tally_point(layer_tally *t, const layer_plan *p, const snn_model *m, int k);
/* dst += src (integers: any order gives the same sums). */
void layer_tally_add(layer_tally *dst, const layer_tally *src, const layer_plan *p);
/* Every process's sums into each one's copy (sp NULL: one process). */
void layer_tally_reduce(layer_tally *t, const layer_plan *p, const ann2snn_split *sp);

/* The results of layer i of the plan at point k. */
double layer_relative_error(const layer_tally *t, int i, int k);
double layer_saturated(const layer_tally *t, int i, int k);

#endif
