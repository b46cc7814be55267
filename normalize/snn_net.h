/* An SNN in memory, as the converter builds it and before it is written as a .snn file.
 * Records mirror the file's (runtime/snn_format.h); arrays are owned here. */
#ifndef ANN2SNN_SNN_NET_H
#define ANN2SNN_SNN_NET_H

#include <stdint.h>

#include "calib.h"
#include "base/diag.h"
#include "ir/graph.h"
#include "snn_format.h"

typedef struct {
    uint32_t kind;   /* SNN_PROJ_* */
    uint32_t source; /* buffer: 0 input, i + 1 layer i */
    float *w;        /* (n_w) layout per kind (snn_format.h) */
    uint32_t n_w;
    uint16_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    uint32_t src_c, src_h, src_w;
    int16_t *wq;     /* (n_w) integer files: the weights in the target layer's units */
} net_proj;

typedef struct {
    uint32_t kind, flags; /* SNN_LAYER_*, SNN_LAYER_F_* */
    uint32_t c, h, w;
    uint32_t proj_first, proj_count;
    float *bias;      /* (c) NEURON, normalised */
    float *threshold; /* (c) NEURON */
    float *lambda;    /* (c) activation scale: a neuron at rate r stands for r * lambda */
    uint32_t source;  /* MAXPOOL */
    uint16_t kh, kw, sh, sw, pt, pl, pb, pr;
    char name[SNN_NAME_SIZE];
    int tensor;       /* IR tensor whose (rectified) activation the layer's rates carry */
    char tensor_name[SNN_TENS_NAME_SIZE]; /* its name, "" if none or too long (TENS section) */
    int32_t *qparam;  /* (3 c) integer files, NEURON: biases, thresholds, initial membranes */
    float *unit;      /* (c) integer files, NEURON: the float value of channel c's integer 1 */
    float *v0;        /* (h w c) NEURON, channel-last: each neuron's initial membrane (potential
                       * correction; VINI section), or NULL: v_init * threshold (output: 0) */
} net_layer;

typedef struct {
    net_layer *layers; /* (n_layers) */
    uint32_t n_layers, cap_layers;
    net_proj *proj;    /* (n_proj) */
    uint32_t n_proj, cap_proj;
    uint32_t input_c, input_h, input_w, n_classes;
    float pre_scale, pre_mean, pre_std;
    uint32_t pre_channels; /* > 1: per input channel (PREP section) */
    float pre_mean_c[SNN_MAX_PREP_CHANNELS], pre_std_c[SNN_MAX_PREP_CHANNELS]; /* (pre_channels) */
    uint32_t coding, steps, reset, readout, norm, calib_count;
    uint32_t target_steps;  /* norms TSEARCH*: the T the scales fit, else 0 */
    uint32_t correct_steps, correct_count; /* bias correction: its T and samples, else 0 */
    uint32_t burst; /* > 1: SNN_FEATURE_BURST with this many spikes per step at most */
    uint32_t calib_source; /* SNN_CALIB_* */
    uint32_t signed_spikes; /* 1: SNN_FEATURE_SIGNED */
    float v_init, ann_accuracy, percentile;
    float ttfs_in_lo, ttfs_in_hi; /* TTFS: input values spiking at the window's end and start */
    uint8_t sha256[32];
    uint32_t weight_dtype; /* SNN_DTYPE_*; I16 / I8 after snn_net_quantize() */
    uint32_t input_frac;   /* integer files: fractional bits of the direct input */
} snn_net;

typedef struct {
    uint32_t norm;      /* SNN_NORM_* */
    double percentile;  /* SNN_NORM_PERCENTILE / SNN_NORM_CHANNEL */
    uint32_t reset;     /* SNN_RESET_* */
    uint32_t signed_spikes; /* 1: a neuron that fired emits a -1 spike when its membrane drops
                             * below 0, so its count follows ReLU of its summed input;
                             * rate coding only (ignored for TTFS), needs SNN_RESET_SUBTRACT */
    float v_init;       /* initial membrane, fraction of the threshold */
    uint32_t readout;   /* SNN_READOUT_* */
    uint32_t coding;    /* default coding stored in the file */
    uint32_t steps;     /* default steps stored in the file */
    float headroom;     /* every hidden scale times this (>= 1 leaves room above calibration) */
    float input_max;    /* model-based norm: largest input value (after preprocessing) */
    uint32_t target_steps; /* SNN_NORM_TSEARCH*: the time steps T the scales are fitted to */
    uint32_t burst;        /* most spikes per neuron and step (1: single spikes); rate coding */
    float bn_prior_k;      /* > 0: a layer fed by a BatchNormalization takes the range
                            * beta + k |gamma| per channel (the max over channels for a layer-wise
                            * norm) instead of its calibration statistics; 0: off */
    /* TTFS: input range coded by spike times; NaN (the default): the preprocessed values of
     * raw bytes 0 and 255. */
    float input_lo, input_hi;
    int workers; /* threads for the per-channel threshold search (SNN_NORM_TSEARCH); 0 or 1:
                  * the calling thread. The result is the same for every count. */
} snn_build_opts;

void snn_build_opts_init(snn_build_opts *o);

/* What the converter (ann2snn) uses for float32 rate-coded files with reset by subtraction,
 * unless told otherwise; chosen on the first half of the bundled models' test sets and checked
 * on the second (docs/models.md, "Low latency"). snn_build_opts_init() keeps the plain neuron
 * (burst 1, channel-wise 99.9th percentile), which integer and TTFS files use. */
#define SNN_DEFAULT_BURST 4        /* bursts of up to 4 spikes per step */
#define SNN_DEFAULT_NORM SNN_NORM_TSEARCH /* with calibration data */
#define SNN_DEFAULT_TARGET_STEPS 4 /* the T the T-aware search fits (times the burst) */
#define SNN_DEFAULT_BURST_STEPS 16 /* the stored default T of a burst file (64 without) */
#define SNN_DEFAULT_BN_PRIOR_K 6.0f /* without --calib (--data-free bn): range beta + k |gamma| */

/* Map graph g to spiking layers, balancing thresholds with the calibration statistics cs
 * (NULL only for SNN_NORM_MODEL). */
snn_status snn_build(const snn_graph *g, const calib_stats *cs, const snn_build_opts *o, snn_net *net,
                     snn_diag *diag);
void snn_net_free(snn_net *net);

/* Quantise a built float network to an integer file (docs/snn-format.md, "Integer files"):
 * dtype SNN_DTYPE_I16 or SNN_DTYPE_I8; input_absmax, the largest |input value| after
 * preprocessing that the file should represent, sets the input's fractional bits. Rate coding
 * only. */
snn_status snn_net_quantize(snn_net *net, uint32_t dtype, float input_absmax, snn_diag *diag);

/* Serialise to the .snn format (docs/snn-format.md) and write atomically. */
snn_status snn_net_serialize(const snn_net *net, uint8_t **out, size_t *len, snn_diag *diag);
snn_status snn_net_write(const snn_net *net, const char *path, snn_diag *diag);

#endif
