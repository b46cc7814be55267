/* ann2snn runtime: loads a .snn file and runs it. libc and libm only, no globals, no
 * allocation: the caller supplies the memory (snn_state_mem_size()), as CMSIS-NN does.
 *
 *   snn_model m;
 *   snn_model_load(&m, file_bytes, file_len, &diag);   // validates everything once
 *   void *mem = malloc(snn_state_mem_size(&m));
 *   snn_state s;
 *   snn_state_init(&s, &m, mem, snn_state_mem_size(&m));
 *   snn_preprocess_u8(&m, raw_pixels, x);              // x: m.input_size floats
 *   snn_state_begin(&s, x, SNN_CODING_DIRECT, seed);
 *   for (t = 0; t < T; t++) snn_state_step(&s);
 *   int cls = snn_state_predict(&s);
 *
 * The model keeps pointers into file_bytes (weights are used in place): keep it alive and
 * 4-byte aligned while the model is in use. After a successful load the step loop does no
 * further checks. */
#ifndef SNN_RUNTIME_H
#define SNN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "snn_format.h"

/* The speed paths of the integer step loop: the constant input current summed input by input,
 * the steady layers' fire loop, and on a Cortex-M4 the written-out kernels (rows of taps, the
 * two-lane fire loops). They take about 6 KB of code on a Cortex-M4, so a build that
 * optimises for size (-Os) leaves them out unless it defines SNN_FAST_PATHS=1 (and an -O2
 * build may define it 0). The results are the same, bit for bit, either way. */
#if !defined(SNN_FAST_PATHS)
#if defined(__OPTIMIZE_SIZE__)
#define SNN_FAST_PATHS 0
#else
#define SNN_FAST_PATHS 1
#endif
#endif
/* 1 where the step loop reads pair-ordered int8 weights (snn_model_use_paired_weights()): a
 * core with the DSP extension's SIMD32 (Cortex-M4, -M7, -M33) and the speed paths. Elsewhere
 * a program need not keep the copies: export-c's model.c leaves them out. */
#if SNN_FAST_PATHS && defined(__ARM_FEATURE_SIMD32) && defined(__GNUC__)
#define SNN_PAIRED_WEIGHTS 1
#else
#define SNN_PAIRED_WEIGHTS 0
#endif

/* How many layers and projections this build's structures hold. The file format allows
 * SNN_MAX_LAYERS and SNN_MAX_PROJ; a device build sets these to its model's counts (ann2snn
 * export-c does) so that snn_model and snn_state take a few KB instead of 76 KB. The runtime
 * and every file that includes this header must see the same values; a file with more is
 * refused at load. */
#ifndef SNN_RT_MAX_LAYERS
#define SNN_RT_MAX_LAYERS SNN_MAX_LAYERS
#endif
#ifndef SNN_RT_MAX_PROJ
#define SNN_RT_MAX_PROJ SNN_MAX_PROJ
#endif
#if SNN_RT_MAX_LAYERS < 1 || SNN_RT_MAX_LAYERS > SNN_MAX_LAYERS || SNN_RT_MAX_PROJ < 1 || \
    SNN_RT_MAX_PROJ > SNN_MAX_PROJ
#error "SNN_RT_MAX_LAYERS / SNN_RT_MAX_PROJ must lie between 1 and the format's limits"
#endif

typedef enum {
    SNN_RT_OK = 0,
    SNN_RT_ERR_FORMAT,      /* not a .snn file, or a field out of range */
    SNN_RT_ERR_VERSION,     /* a version or feature this runtime cannot run */
    SNN_RT_ERR_CRC,         /* a checksum does not match */
    SNN_RT_ERR_ARG,         /* caller error: size too small, misaligned buffer */
} snn_rt_status;

typedef struct {
    char msg[256];  /* what is wrong */
    int64_t offset; /* byte offset in the file, or -1 */
} snn_rt_diag;

typedef struct {
    uint32_t kind;        /* SNN_PROJ_* */
    uint32_t source;      /* buffer index */
    const float *w;       /* (n_w) layout per kind, see snn_format.h; NULL in integer files */
    const int8_t *w8;     /* (n_w) integer files with SNN_DTYPE_I8, else NULL */
    const int16_t *w16;   /* (n_w) integer files with SNN_DTYPE_I16, else NULL */
    const int8_t *w8_pairs; /* (n_w) NULL, or w8 in pair order: snn_model_use_paired_weights() */
    uint32_t n_w;
    uint16_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group;
    uint32_t src_c, src_h, src_w;
} snn_proj;

typedef struct {
    uint32_t kind;  /* SNN_LAYER_* */
    uint32_t flags; /* SNN_LAYER_F_* */
    uint32_t c, h, w, size; /* output shape; size = c * h * w */
    uint32_t proj_first, proj_count;
    const float *bias;      /* (c) NEURON of a float file; NULL in an integer file */
    const float *threshold; /* (c) NEURON of a float file; NULL in an integer file */
    /* Integer files (SNN_FEATURE_INT), NEURON: bias, threshold and initial membrane as
     * integers of the channel's unit. */
    const int32_t *qbias, *qtheta; /* (c) each */
    const int32_t *qv0;             /* (c) initial membranes, or NULL: snn_qinit() of qtheta (1.7) */
    const float *v0; /* (size) NEURON, files with VINI (1.6): each neuron's initial membrane,
                      * channel-last; NULL: v_init * threshold (the output layer: 0) */
    const float *unit; /* (c) the output layer: the float value of its integer 1 (one for all
                        * classes); NULL for a hidden layer, whose units the file leaves out */
    uint32_t source;        /* MAXPOOL source buffer */
    uint16_t kh, kw, sh, sw, pt, pl, pb, pr;
    char name[SNN_NAME_SIZE];
} snn_layer;

typedef struct {
    uint32_t input_c, input_h, input_w, input_size;
    float pre_scale, pre_mean, pre_std;
    const float *pre_mean_c, *pre_std_c; /* (input_c) per-channel mean and std, or NULL: then
                                          * pre_mean and pre_std hold for every value */
    uint32_t n_classes;
    uint32_t coding, steps, reset, readout, norm, calib_count, features;
    uint32_t target_steps, correct_steps, correct_count; /* 1.5 provenance (META 124-135) */
    uint32_t calib_source; /* 1.5: SNN_CALIB_*, what calibrated the scales (provenance) */
    uint32_t burst; /* most spikes per neuron and step: 1, or META burst with SNN_FEATURE_BURST */
    const float *scale;       /* SCAL (1.5): every layer's C activation scales in order, or NULL */
    const char *tensor_names; /* TENS (1.5): n_layers NUL-terminated names of 64 bytes, or NULL */
    float v_init, ann_accuracy, percentile;
    float ttfs_in_lo, ttfs_in_hi; /* TTFS: input values spiking at the window's end and start */
    uint32_t weight_dtype;        /* SNN_DTYPE_*: F32, or I16 / I8 with SNN_FEATURE_INT */
    uint32_t input_frac;          /* integer files: direct input x_q = round(x * 2^input_frac) */
    uint8_t source_sha256[32];
    uint32_t n_layers, n_proj, output_layer;
    snn_layer layers[SNN_RT_MAX_LAYERS]; /* (n_layers) */
    snn_proj proj[SNN_RT_MAX_PROJ];      /* (n_proj) */
    uint32_t buffer_size[SNN_RT_MAX_LAYERS + 1]; /* (n_layers + 1) neurons per buffer */
    /* TTFS: the window each buffer spikes in (input 0), and the windows until the output's
     * membrane is final; latency in steps is latency_windows * resolution. */
    uint32_t window[SNN_RT_MAX_LAYERS + 1];      /* (n_layers + 1) */
    uint32_t latency_windows;
} snn_model;

/* Parse and validate a whole file held in buf (4-byte aligned). */
snn_rt_status snn_model_load(snn_model *m, const void *buf, size_t len, snn_rt_diag *diag);

/* Where weight i of a projection sits in its pair-ordered copy (and back: the order is its own
 * inverse): each four consecutive weights stored 0, 2, 1, 3. A Cortex-M4's SXTB16 then
 * sign-extends bytes 0 and 2 of a word of them to the 16-bit lanes of channels (0, 1), and
 * bytes 1 and 3 to those of channels (2, 3), the order of the membranes they go to. */
static inline uint32_t snn_pair_index(uint32_t i)
{
    return (i & ~3u) | (i & 1u) << 1 | (i >> 1 & 1u);
}

/* Give projection k a pair-ordered copy of its int8 weights (n_w of them, 4-byte aligned),
 * kept in flash beside the file: ann2snn export-c writes one for every stride-1 convolution of
 * an int8 file (model.c). The Cortex-M4 step loop then adds a spike's taps with two
 * instructions per four synapses fewer; every other target ignores it. The copy is checked
 * against the file's weights; SNN_RT_ERR_ARG (and nothing changed) if it differs or does not
 * fit. Not part of the file, so snn_model_load() leaves it NULL. */
static inline snn_rt_status snn_model_use_paired_weights(snn_model *m, uint32_t k, const int8_t *w, uint32_t n_w)
{
    if (k >= m->n_proj || !m->proj[k].w8 || n_w != m->proj[k].n_w || n_w % 4 || ((uintptr_t)w & 3u))
        return SNN_RT_ERR_ARG;
    for (uint32_t i = 0; i < n_w; i++)
        if (w[snn_pair_index(i)] != m->proj[k].w8[i])
            return SNN_RT_ERR_ARG;
    m->proj[k].w8_pairs = w;
    return SNN_RT_OK;
}

/* Per-layer counters, accumulated since snn_state_begin(). */
typedef struct {
    uint64_t spikes; /* spikes emitted by the layer's neurons */
    uint64_t synops; /* synaptic operations (weight additions) into the layer */
} snn_layer_stats;

/* Entries of spike_idx: the neuron's index, with SNN_SPIKE_NEG set for a -1 spike (files with
 * SNN_FEATURE_SIGNED only; buffers hold fewer than 2^26 neurons). */
#define SNN_SPIKE_NEG 0x80000000u
#define SNN_SPIKE_INDEX(e) ((e) & ~SNN_SPIKE_NEG)

/* Simulation state. All arrays point into the caller's memory block. */
#define SNN_WHEEL 64

typedef struct {
    const snn_model *m;
    uint32_t *spike_idx[SNN_RT_MAX_LAYERS + 1]; /* per buffer: events this step (SNN_SPIKE_NEG) */
    uint32_t n_spikes[SNN_RT_MAX_LAYERS + 1];
    float *v[SNN_RT_MAX_LAYERS];        /* per NEURON layer: membrane (size) */
    float *constant[SNN_RT_MAX_LAYERS]; /* per NEURON layer: bias + direct-coded input (size) */
    float *th_full[SNN_RT_MAX_LAYERS];  /* per NEURON layer: each neuron's threshold (size) */
    float *flag[SNN_RT_MAX_LAYERS];     /* per NEURON layer: this step's spike, 1, -1 or 0 (size) */
    uint32_t *yx[SNN_RT_MAX_LAYERS + 1];/* per buffer: each neuron's y << 16 | x (size) */
    uint32_t *pool_map[SNN_RT_MAX_PROJ];/* per non-overlapping AVGPOOL: input -> output, or ~0 */
    /* Layers fed only by the direct-coded input fire on a timing wheel of SNN_WHEEL slots. */
    uint8_t scheduled[SNN_RT_MAX_LAYERS];
    uint32_t *next_t[SNN_RT_MAX_LAYERS];   /* (size) step of each neuron's next spike */
    uint32_t *link[SNN_RT_MAX_LAYERS];     /* (size) next neuron in the same wheel slot */
    uint32_t *n_fired[SNN_RT_MAX_LAYERS];  /* (size) spikes so far */
    uint32_t wheel[SNN_RT_MAX_LAYERS][SNN_WHEEL]; /* slot heads */
    float *count[SNN_RT_MAX_LAYERS + 1];/* spike counts (net of -1 spikes): buffers a MAXPOOL gates,
                                      * MAXPOOL outputs, signed neuron layers, the output */
    float *input_hwc;                /* the begin() input, channel-last (input_size) */
    /* Rate coding plan, fixed by the model at init: projection k is computed from its source's
     * flags (a vectorised pass over its outputs) rather than from its events; buffer b's events
     * are listed in spike_idx only when a later layer reads them (events[b]). n_spikes counts
     * every buffer's events either way. */
    uint8_t dense_proj[SNN_RT_MAX_PROJ];
    uint8_t events[SNN_RT_MAX_LAYERS + 1];
    uint8_t pool_reads[SNN_RT_MAX_LAYERS + 1]; /* a MAXPOOL reads buffer b's counts */
    /* Set by begin(): layer i's current is constant (direct coding, input only), so it
     * cannot emit -1 spikes. */
    uint8_t steady[SNN_RT_MAX_LAYERS];
    /* TTFS files: per buffer, the spike time of each event in spike_idx, as a fraction of its
     * window: 0 at the window's start (the largest value) to 1 at its end. */
    float *spike_time[SNN_RT_MAX_LAYERS + 1];
    uint32_t coding;
#if defined(__x86_64__)
    uint8_t simd;  /* which copy of the step loops runs (snn_internal.h); devices have one */
#endif
    uint64_t rng;
    uint32_t t; /* steps done */
    snn_layer_stats *stats; /* (n_layers) */
    uint64_t input_spikes;  /* Poisson coding: input spikes so far */
    /* Integer files (SNN_FEATURE_INT; runtime/snn_qsim.c). A step's spikes are bit sets, not
     * index lists, and nothing per neuron is stored that a channel's table gives, so that the
     * state takes about 4 to 8 bytes per neuron (docs/snn-format.md, "Memory"). */
    int32_t *qv[SNN_RT_MAX_LAYERS];     /* per NEURON layer: membrane (size), layer's units; NULL
                                         * for a narrow layer, which has qv16 instead */
    int16_t *qv16[SNN_RT_MAX_LAYERS];   /* per narrow layer: 16-bit saturating membrane (size) */
    int32_t *qk[SNN_RT_MAX_LAYERS];     /* per NEURON layer reading the input: bias + the
                                         * direct-coded input's current (size), else NULL */
    int16_t *qcount[SNN_RT_MAX_LAYERS + 1]; /* spike counts, where the float path keeps them */
    uint32_t *bits[SNN_RT_MAX_LAYERS + 1];  /* per buffer: spiked this step, (size + 31) / 32 words */
    uint32_t *neg_bits[SNN_RT_MAX_LAYERS + 1]; /* signed files: which spikes are -1 */
    int32_t *x_q;                       /* (input_size) input, channel-last, x * 2^input_frac */
    uint32_t div_c[SNN_RT_MAX_LAYERS + 1], div_w[SNN_RT_MAX_LAYERS + 1]; /* j / C and pos / W
                                         * by multiplication (snn_qsim.c) */
    uint32_t div_sh[SNN_RT_MAX_PROJ], div_sw[SNN_RT_MAX_PROJ]; /* and by projection k's strides */
    uint32_t input_wsum[SNN_RT_MAX_LAYERS]; /* per layer reading the input through dense or
                                         * stride-1 convolutions only: the largest sum of |w| into
                                         * one neuron, else 0 (snn_qsim.c, input_scatter()) */
    float *out_f;                       /* (n_classes) the readout as floats */
} snn_state;

/* Integer files count spikes in 16 bits: a run stops advancing after this many steps. */
#define SNN_MAX_INT_STEPS 32767

size_t snn_state_mem_size(const snn_model *m);
snn_rt_status snn_state_init(snn_state *s, const snn_model *m, void *mem, size_t mem_size);

/* Map a raw sample (input_size values, (C, H, W)) to network input with the file's
 * preprocessing: x = (raw * scale - mean) / std, mean and std per channel when the file has
 * them. x may be raw itself (snn_preprocess_f32 in place). */
void snn_preprocess_u8(const snn_model *m, const uint8_t *raw, float *x);
void snn_preprocess_f32(const snn_model *m, const float *raw, float *x);

/* Start an inference on input x (input_size floats, preprocessed). coding: SNN_CODING_*;
 * Poisson coding needs x in [0, 1] (values are clamped) and uses seed. */
void snn_state_begin(snn_state *s, const float *x, uint32_t coding, uint64_t seed);
/* Advance one time step. */
void snn_state_step(snn_state *s);
/* Time-to-first-spike inference (files with SNN_FEATURE_TTFS; docs/ttfs.md): the whole
 * network on input x (input_size floats, preprocessed) in one call, window by window, each
 * neuron firing at most once. resolution: steps per layer window, 0 for exact spike times.
 * Returns SNN_RT_ERR_ARG for a rate-coded file. Readout, predict and stats work as after
 * rate-coded steps; s->t becomes the latency in steps (latency_windows * resolution). */
snn_rt_status snn_state_run_ttfs(snn_state *s, const float *x, uint32_t resolution);
/* After a TTFS run: the most spikes any one neuron (inputs and output aside) emitted, counted
 * from the event lists (1 at most by construction; this measures it). scratch: as many
 * uint32_t as the largest buffer, all 0; they are 0 again on return. */
uint32_t snn_state_max_spikes_per_neuron(const snn_state *s, uint32_t *scratch);

/* Readout: the output layer's membrane (n_classes floats; for an integer file the integer
 * membrane times its unit). */
const float *snn_state_output(const snn_state *s);
/* Integer files: the output layer's integer membrane (n_classes), bit-identical on every
 * target; NULL for a float file. */
const int32_t *snn_state_output_q(const snn_state *s);
/* argmax of the readout; ties go to the lower class. */
int snn_state_predict(const snn_state *s);

/* Early exit (SEENN-I: Li et al. 2023, "SEENN: Towards Temporal Spiking Early-Exit Neural
 * Networks", NeurIPS): after s->t >= 1 rate-coded steps, is the readout decisive enough to stop?
 *   SNN_EXIT_CONFIDENCE: the largest softmax of the mean readout per step (output / t) is at
 *                        least threshold (in (0, 1]);
 *   SNN_EXIT_MARGIN:     (largest - second largest output) / t is at least threshold.
 * The readout is the output membrane, or the spike counts with the spike-count readout.
 * Never decisive before n_layers steps: the first steps' mean readout reflects the biases and
 * the initial membranes more than the input (docs/models.md, "Early exit"). */
enum { SNN_EXIT_CONFIDENCE = 1, SNN_EXIT_MARGIN = 2 };
int snn_state_decisive(const snn_state *s, uint32_t rule, float threshold);
/* The score that snn_state_decisive() compares with its threshold (thresholds are >= 0); -1
 * before n_layers steps. */
float snn_state_exit_score(const snn_state *s, uint32_t rule);

/* Rate coding, after a step: add the spikes that layer i's neurons emitted in that step (+1,
 * or -1 for a signed file's negative spikes) to acc (the layer's buffer size, channel-last:
 * neuron (y, x, c) at (y W + x) C + c). For tools that measure rates layer by layer (bias
 * correction, diagnostics). Returns 0 (and adds nothing) for the output layer, a TTFS file or
 * before the first step. */
int snn_state_add_step_spikes(const snn_state *s, uint32_t i, int32_t *acc);

const char *snn_rt_status_name(snn_rt_status st);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of len bytes, continuing from crc (0 to start). */
uint32_t snn_crc32(uint32_t crc, const void *data, size_t len);

#endif
