/* Bias and potential correction of a built float network for a target number of time steps
 * (Li et al. 2021; correct.c). */
#ifndef ANN2SNN_CORRECT_H
#define ANN2SNN_CORRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "snn_net.h"

/* Writes preprocessed calibration sample i (the model's input size in floats) to x. Called
 * from several threads at once. */
typedef snn_status (*snn_sample_fn)(void *ctx, int64_t i, float *x, snn_diag *diag);

typedef struct {
    uint32_t steps;        /* the T to correct for */
    uint32_t rounds;       /* measure-and-shift rounds per layer (0 or 1: once, as Li et al.) */
    int64_t samples;       /* samples 0 .. samples-1 of sample() */
    snn_sample_fn sample;
    void *ctx;
    int workers;           /* threads; the result is the same for every count */
    bool reference;        /* the ANN through the plain C kernels instead of BLAS */
} snn_correct_opts;

/* Layer by layer (in file order, each with the ones before corrected), run the network for T
 * steps on the samples and move every channel's bias by the difference between the ANN's mean
 * activation and the SNN's mean rate times the layer's scale; the output layer's by the
 * difference between the mean logit and its membrane / T (membrane readout). net must be
 * rate-coded float32, as snn_build() made it from g; records the T and sample count in net. */
snn_status snn_net_correct_bias(snn_net *net, const snn_graph *g, const snn_correct_opts *o, snn_diag *diag);

/* Potential correction: the same layer-by-layer measurement, per neuron instead of per channel,
 * moves each neuron's initial membrane (net_layer.v0, written as the file's VINI section) by
 * T thresholds times the difference of its means, and leaves the biases alone. The output
 * layer's too, with the membrane readout. */
snn_status snn_net_correct_potential(snn_net *net, const snn_graph *g, const snn_correct_opts *o, snn_diag *diag);

#endif
