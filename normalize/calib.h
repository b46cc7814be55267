/* Calibration: activation statistics of every run-time tensor of a graph, gathered by
 * running the float evaluator on sample inputs. Memory is bounded: per channel an exact
 * maximum and a histogram of CALIB_BINS_PER_OCTAVE bins per factor of 2 (equal slices of each
 * octave), so a percentile is known to within 1/32 = 3.1 % whatever the number of samples. */
#ifndef ANN2SNN_CALIB_H
#define ANN2SNN_CALIB_H

#include "eval/eval.h"
#include "ir/graph.h"

#define CALIB_BINS_PER_OCTAVE 32 /* must match the 5 mantissa bits calib.c reads */
#define CALIB_MIN_EXP (-24) /* smallest binned value 2^-24; below counts as the first bin */
#define CALIB_MAX_EXP 24
#define CALIB_BINS ((CALIB_MAX_EXP - CALIB_MIN_EXP) * CALIB_BINS_PER_OCTAVE)

typedef struct {
    int channels;      /* dims[1] of the tensor (1 for rank < 2) */
    int64_t inner;     /* elements per channel per sample */
    float *max;        /* (channels) largest value seen */
    uint32_t *hist;    /* (channels, CALIB_BINS) counts of positive values */
    uint64_t *n_pos;   /* (channels) positive values seen */
    uint64_t *n_total; /* (channels) values seen */
    int same_as;       /* a tensor whose statistics these are (the arrays are its own), or -1:
                        * a Relu's output has its input's positive values, so it is not
                        * counted twice; adding and merging skip it */
} calib_tensor;

typedef struct {
    const snn_graph *g;
    calib_tensor *t; /* (n_tensors); channels == 0 for constants and inputs */
    int64_t samples;
} calib_stats;

snn_status calib_init(calib_stats *cs, const snn_graph *g, snn_diag *diag);
/* Add the activations of one evaluated sample. */
void calib_add(calib_stats *cs, const snn_eval *ev);
/* Add the first `samples` samples of a batch that ev evaluated on a batched view of cs's graph
 * (ir/rebatch.h): the same statistics as calib_add on each sample in turn. */
void calib_add_samples(calib_stats *cs, const snn_eval *ev, int64_t samples);
void calib_free(calib_stats *cs);
/* Add src's statistics into dst (both of the same graph): the result is what calib_add on
 * dst's samples then src's would give, exactly (maxima and counts), so calibration can be
 * split over workers and merged in any grouping. */
void calib_merge(calib_stats *dst, const calib_stats *src);

/* Statistics of the rectified activation max(0, x) of tensor t, channel c (-1: all channels):
 * the maximum, or the p-th percentile (0 < p <= 100) of the positive values. 0 if none. */
float calib_max(const calib_stats *cs, int t, int c);
float calib_percentile(const calib_stats *cs, int t, int c, double p);
/* The scale lambda whose T-step rate code (lambda / T * clamp(floor(x T / lambda + v0), 0, T),
 * v0 the initial membrane as a fraction of the threshold) best fits max(0, x) in squared error
 * over tensor t, channel c (-1: all channels); the maximum when nothing is positive. */
float calib_search_scale(const calib_stats *cs, int t, int c, uint32_t T, float v0);
/* The squared error that search minimises, at scale lam (NaN when out of memory): tests hold
 * its SIMD and plain copies to the same bits. */
double calib_search_error(const calib_stats *cs, int t, int c, uint32_t T, float v0, double lam);
/* Fraction of all values of tensor t, channel c (-1: all) above v: exact 0 when v is at least
 * the maximum, else an upper bound (whole histogram bins that reach above v). */
double calib_fraction_above(const calib_stats *cs, int t, int c, float v);

#endif
