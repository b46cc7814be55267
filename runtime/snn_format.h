/* The .snn file format: constants and field offsets shared by the writer (converter) and
 * the reader (runtime). docs/snn-format.md is the normative spec; this header follows it.
 *
 * Little-endian throughout. Fields are read and written at the fixed offsets below, never
 * through sizeof(struct). */
#ifndef SNN_FORMAT_H
#define SNN_FORMAT_H

#include <stdint.h>

#define SNN_MAGIC "A2SNN\r\n\x1a" /* 8 bytes: catches text-mode and truncated transfers */
#define SNN_MAGIC_LEN 8
#define SNN_VERSION_MAJOR 1
#define SNN_VERSION_MINOR 7 /* 1.1: TTFS coding (SNN_FEATURE_TTFS); 1.2: signed spikes;
                              * 1.3: per-channel preprocessing (PREP, SNN_FEATURE_CHANNEL_PREP);
                              * 1.4: integer weights and membranes (SNN_FEATURE_INT);
                              * 1.5: T-aware scales and bias correction (META 124-135, no
                              * feature bit: a 1.4 reader runs these files as they are);
                              * burst spikes (SNN_FEATURE_BURST);
                              * 1.6: per-neuron initial membranes (VINI, SNN_FEATURE_VINIT);
                              * 1.7: integer files derive their initial membranes
                              * (SNN_FEATURE_QINIT) */
#define SNN_ALIGN 64 /* every section starts on a multiple of this */

/* Header: 64 bytes at offset 0. */
#define SNN_HDR_SIZE 64
#define SNN_HDR_MAGIC 0          /* u8[8] */
#define SNN_HDR_MAJOR 8          /* u16 */
#define SNN_HDR_MINOR 10         /* u16 */
#define SNN_HDR_HEADER_SIZE 12   /* u32, = 64 */
#define SNN_HDR_N_SECTIONS 16    /* u32 */
#define SNN_HDR_TABLE_OFFSET 20  /* u32, = 64 */
#define SNN_HDR_FILE_SIZE 24     /* u64 */
#define SNN_HDR_CRC 32           /* u32: CRC-32 of header (this field as 0) + section table */

/* Section table: n_sections entries of 32 bytes. */
#define SNN_SEC_ENTRY_SIZE 32
#define SNN_SEC_TAG 0    /* u32 */
#define SNN_SEC_OFFSET 8 /* u64 */
#define SNN_SEC_SIZE 16  /* u64 */
#define SNN_SEC_CRC 24   /* u32: CRC-32 of the section's bytes */
#define SNN_SEC_COUNT 28 /* u32: number of records (or floats for WGHT) */
#define SNN_MAX_SECTIONS 16

enum {
    SNN_TAG_META = 0x4154454d, /* "META" */
    SNN_TAG_LAYR = 0x5259414c, /* "LAYR" */
    SNN_TAG_PROJ = 0x4a4f5250, /* "PROJ" */
    SNN_TAG_WGHT = 0x54484757, /* "WGHT" */
    SNN_TAG_NAME = 0x454d414e, /* "NAME" */
    SNN_TAG_PREP = 0x50455250, /* "PREP", 1.3: per-channel mean and std of the input */
    SNN_TAG_QWGT = 0x54475751, /* "QWGT", 1.4: int8 or int16 weights (META weight type) */
    SNN_TAG_QPAR = 0x52415051, /* "QPAR", 1.4: int32 bias, threshold, initial membrane */
    SNN_TAG_SCAL = 0x4c414353, /* "SCAL", 1.5, optional: each layer's activation scales */
    SNN_TAG_TENS = 0x534e4554, /* "TENS", 1.5, optional: each layer's ANN tensor name */
    SNN_TAG_VINI = 0x494e4956, /* "VINI", 1.6, with SNN_FEATURE_VINIT: each neuron's initial membrane */
};

/* META: one 256-byte record. */
#define SNN_META_SIZE 256
#define SNN_META_INPUT_C 0      /* u32 */
#define SNN_META_INPUT_H 4      /* u32 */
#define SNN_META_INPUT_W 8      /* u32 */
#define SNN_META_PRE_SCALE 12   /* f32: x = (raw * scale - mean) / std */
#define SNN_META_PRE_MEAN 16    /* f32 */
#define SNN_META_PRE_STD 20     /* f32 */
#define SNN_META_N_CLASSES 24   /* u32 */
#define SNN_META_N_LAYERS 28    /* u32 */
#define SNN_META_N_PROJ 32      /* u32 */
#define SNN_META_CODING 36      /* u32: SNN_CODING_* default input coding */
#define SNN_META_STEPS 40       /* u32: default time steps; TTFS: steps per layer window, 0 exact */
#define SNN_META_RESET 44       /* u32: SNN_RESET_* */
#define SNN_META_V_INIT 48      /* f32: initial membrane, fraction of threshold */
#define SNN_META_READOUT 52     /* u32: SNN_READOUT_* */
#define SNN_META_FEATURES 56    /* u32: required-feature bits; a reader refuses unknown bits */
#define SNN_META_ANN_ACC 60     /* f32: ANN accuracy at conversion, NaN if unknown */
#define SNN_META_NORM 64        /* u32: SNN_NORM_* */
#define SNN_META_PERCENTILE 68  /* f32 */
#define SNN_META_CALIB_COUNT 72 /* u32 */
#define SNN_META_SHA256 76      /* u8[32]: SHA-256 of the source ONNX file */
#define SNN_META_WEIGHT_DTYPE 108 /* u32: SNN_DTYPE_F32; I16 or I8 with SNN_FEATURE_INT */
#define SNN_META_TTFS_IN_LO 112 /* f32, 1.1, TTFS: input value that spikes at its window's end */
#define SNN_META_TTFS_IN_HI 116 /* f32, 1.1, TTFS: input value that spikes at its window's start */
#define SNN_META_TARGET_STEPS 124 /* u32, 1.5: the T the scales were searched for (norms 4, 5), else 0 */
#define SNN_META_CORRECT_STEPS 128 /* u32, 1.5: the T the biases were corrected for, else 0 */
#define SNN_META_CORRECT_COUNT 132 /* u32, 1.5: calibration samples the bias correction used */
#define SNN_META_CALIB_SOURCE 140 /* u32, 1.5: SNN_CALIB_*, what calibrated the scales */
#define SNN_META_BURST 136      /* u32, 1.5, with SNN_FEATURE_BURST: most spikes a neuron emits in
                                 * one step, 1 to SNN_MAX_BURST (else 0, read as 1) */
#define SNN_META_INPUT_FRAC 120 /* u32, 1.4, integer files: fractional bits of the direct input,
                                 * x_q = round(x * 2^frac) (at most SNN_MAX_INPUT_FRAC) */

/* LAYR: n_layers records of 64 bytes. Layer i writes buffer i + 1; buffer 0 is the input. */
#define SNN_LAYER_SIZE 64
#define SNN_LAYER_KIND 0        /* u32: SNN_LAYER_* */
#define SNN_LAYER_FLAGS 4       /* u32: SNN_LAYER_F_* */
#define SNN_LAYER_C 8           /* u32: output shape (C, H, W) */
#define SNN_LAYER_H 12
#define SNN_LAYER_W 16
#define SNN_LAYER_PROJ_FIRST 20 /* u32: NEURON/CONCAT: first projection */
#define SNN_LAYER_PROJ_COUNT 24 /* u32 */
#define SNN_LAYER_BIAS 28       /* u32: NEURON: offset (floats) of C biases in WGHT */
#define SNN_LAYER_THRESH 32     /* u32: NEURON: offset of C thresholds */
#define SNN_LAYER_SOURCE 36     /* u32: MAXPOOL: source buffer */
#define SNN_LAYER_KH 40         /* u16 x 8: MAXPOOL kernel, strides, pads (t, l, b, r) */
#define SNN_LAYER_KW 42
#define SNN_LAYER_SH 44
#define SNN_LAYER_SW 46
#define SNN_LAYER_PT 48
#define SNN_LAYER_PL 50
#define SNN_LAYER_PB 52
#define SNN_LAYER_PR 54
#define SNN_LAYER_QPARAM 56     /* u32, 1.4, NEURON of an integer file: offset (int32s) in QPAR of
                                 * C biases, C thresholds, C initial membranes, in the layer's units */
#define SNN_LAYER_UNIT 60       /* u32, 1.4, NEURON of an integer file: offset (floats) in WGHT of
                                 * the C membrane units: channel c's integer 1 is unit[c] in float */

enum { SNN_LAYER_NEURON = 1, SNN_LAYER_MAXPOOL = 2, SNN_LAYER_CONCAT = 3 };
enum { SNN_LAYER_F_OUTPUT = 1u << 0 }; /* integrates without spiking; its membrane is the readout */

/* PROJ: n_proj records of 64 bytes: a synaptic projection from a buffer into a layer. */
#define SNN_PROJ_SIZE 64
#define SNN_PROJ_KIND 0     /* u32: SNN_PROJ_* */
#define SNN_PROJ_SOURCE 4   /* u32: source buffer, < the layer's own buffer */
#define SNN_PROJ_WEIGHTS 8  /* u32: offset (floats) in WGHT */
#define SNN_PROJ_N_WEIGHTS 12 /* u32 */
#define SNN_PROJ_KH 16      /* u16 x 12: kernel, strides, dilations, pads (t, l, b, r), group */
#define SNN_PROJ_KW 18
#define SNN_PROJ_SH 20
#define SNN_PROJ_SW 22
#define SNN_PROJ_DH 24
#define SNN_PROJ_DW 26
#define SNN_PROJ_PT 28
#define SNN_PROJ_PL 30
#define SNN_PROJ_PB 32
#define SNN_PROJ_PR 34
#define SNN_PROJ_GROUP 36
#define SNN_PROJ_SRC_C 40   /* u32: source shape as the projection reads it (C, H, W) */
#define SNN_PROJ_SRC_H 44
#define SNN_PROJ_SRC_W 48

enum {
    SNN_PROJ_DENSE = 1,     /* weights (n_src, n_out), source-major */
    SNN_PROJ_CONV = 2,      /* weights (C_src, KH, KW, C_out / group) */
    SNN_PROJ_AVGPOOL = 3,   /* weights (C_out): per-channel weight of each input in a window */
    SNN_PROJ_GLOBALAVG = 4, /* weights (C_out) */
    SNN_PROJ_IDENTITY = 5,  /* weights (C_out): element-wise, per-channel weight */
    SNN_PROJ_COPY = 6,      /* CONCAT source: spikes copied at the channel offset, no weights */
};

enum { SNN_CODING_DIRECT = 0, SNN_CODING_POISSON = 1, SNN_CODING_TTFS = 2 };
/* Required-feature bits (META features). A reader refuses a file with a bit it lacks. */
enum {
    SNN_FEATURE_TTFS = 1u << 0,   /* 1.1: time-to-first-spike coding, docs/ttfs.md */
    SNN_FEATURE_SIGNED = 1u << 1, /* 1.2: hidden neurons also emit -1 spikes (rate coding) */
};
#define SNN_FEATURE_CHANNEL_PREP (1u << 2) /* 1.3: a PREP section replaces META's mean and std */
#define SNN_FEATURE_INT (1u << 3) /* 1.4: int8/int16 weights in QWGT, int32 membranes; rate coding */
#define SNN_FEATURE_BURST (1u << 4) /* 1.5: burst spikes, up to META burst per neuron and step;
                                    * float rate coding with reset by subtraction */
#define SNN_FEATURE_VINIT (1u << 5) /* 1.6: a VINI section gives every neuron its own initial membrane
                                     * (potential correction); float32 rate coding */
#define SNN_FEATURE_QINIT (1u << 6) /* 1.7: an integer file's QPAR holds no initial membranes: each is
                                     * derived from its threshold and META v_init (snn_qinit()) */
#define SNN_FEATURES_KNOWN                                                                            \
    (SNN_FEATURE_TTFS | SNN_FEATURE_SIGNED | SNN_FEATURE_CHANNEL_PREP | SNN_FEATURE_INT | SNN_FEATURE_BURST | \
     SNN_FEATURE_VINIT | SNN_FEATURE_QINIT)
enum { SNN_RESET_SUBTRACT = 0, SNN_RESET_ZERO = 1 };
enum { SNN_READOUT_MEMBRANE = 0, SNN_READOUT_SPIKES = 1 };
enum {
    SNN_NORM_MODEL = 0, SNN_NORM_MAX = 1, SNN_NORM_PERCENTILE = 2, SNN_NORM_CHANNEL = 3,
    SNN_NORM_TSEARCH = 4,       /* 1.5: per channel, the scale that best fits a T-step rate code */
    SNN_NORM_TSEARCH_LAYER = 5, /* 1.5: the same per layer */
};
enum { SNN_DTYPE_F32 = 0, SNN_DTYPE_I16 = 1, SNN_DTYPE_I8 = 2 };
/* META calib source (1.5): real samples (or none, with model-based norm), or synthetic images
 * (converter/data/data_synthetic.c): uniform noise, smoothed noise, half of each. */
enum { SNN_CALIB_DATA = 0, SNN_CALIB_SYNTH_UNIFORM = 1, SNN_CALIB_SYNTH_SMOOTH = 2, SNN_CALIB_SYNTH_MIX = 3 };
/* Or'ed into META calib source (1.6, provenance only): layers fed by a BatchNormalization took
 * their ranges from its statistics (beta + k |gamma|), the others from the source above. */
#define SNN_CALIB_BN_PRIOR 0x100u

/* The initial membrane of a channel of an integer file with SNN_FEATURE_QINIT: round(v_init x
 * threshold), in integers so that every target gets the same: v_init (in [0, 1]) as a 16-bit
 * fraction q = floor(v_init 2^16 + 1/2) (exact in float32), then (threshold q + 2^15) >> 16. */
static inline int32_t snn_qinit(int32_t qtheta, float v_init)
{
    int64_t q = (int64_t)(v_init * 65536.0f + 0.5f);
    return (int32_t)(((int64_t)qtheta * q + 32768) >> 16);
}

/* PREP (1.3, with SNN_FEATURE_CHANNEL_PREP): count = input_c; input_c float32 means, then
 * input_c float32 stds: x = (raw * scale - mean[c]) / std[c] for the values of channel c. */

/* NAME: n_layers records of 32 bytes, NUL-padded layer names (for reports). */
#define SNN_NAME_SIZE 32
/* SCAL (1.5, optional, float files; with TENS or not at all): for every layer in order, its C
 * float32 activation scales: a neuron of channel c at a rate of r spikes per step stands for
 * r * scale[c] of the ANN's activation (1 for the output layer). count = the sum of the C.
 * TENS: n_layers records of 64 bytes, the NUL-padded name of the ANN tensor (after import and
 * graph passes) whose rectified values layer i's rates carry; empty when there is none. For
 * diagnostics that compare layers with the ANN (ann2snn eval --layers); running needs neither. */
#define SNN_TENS_NAME_SIZE 64
/* VINI (1.6, with SNN_FEATURE_VINIT, float32 rate-coded files only): for every NEURON layer in
 * order, its c * h * w initial membranes as float32, channel-last (neuron (y, x, c) at
 * (y W + x) C + c), in the layer's own units (the threshold's). They replace v_init * threshold
 * (and the output layer's 0). count = the sum of the NEURON layers' sizes; every value finite. */

/* Limits a reader enforces (and a writer respects). */
#define SNN_MAX_LAYERS 128
#define SNN_MAX_PROJ 256
#define SNN_MAX_NEURONS (1u << 26) /* per buffer */
#define SNN_MAX_RESOLUTION (1u << 20) /* TTFS steps per layer window */
#define SNN_MAX_BURST 16 /* spikes per neuron and step (SNN_FEATURE_BURST) */
/* Integer files (1.4): bounds that keep every sum inside int32 and int64 (docs/snn-format.md). */
#define SNN_MAX_INPUT_FRAC 16          /* fractional bits of the direct input */
#define SNN_MAX_INPUT_Q (1 << 20)      /* |x_q| is clamped to this */
#define SNN_MAX_QPARAM (1 << 24)       /* |bias|, threshold and |initial membrane| */
#define SNN_NARROW_MAX (1 << 12)       /* a hidden layer whose parameters all lie within this
                                        * keeps 16-bit saturating membranes */

#endif
