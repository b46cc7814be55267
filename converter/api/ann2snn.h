/* libann2snn: the converter as a library (installed as <ann2snn/ann2snn.h>, pkg-config
 * `ann2snn`). Load an ONNX ReLU network, calibrate it on samples held in memory (or given by
 * a callback), and convert it into the bytes of a .snn file, which the runtime
 * (<ann2snn/snn_runtime.h>, `ann2snn-runtime`) executes. The `ann2snn` command line is a user
 * of this API: a file made here is byte for byte the one `ann2snn MODEL.onnx` writes with the
 * same options and samples.
 *
 * Habits, as in the runtime:
 * - Every function that can fail returns an ann2snn_status and fills the caller's
 *   ann2snn_diag (may be NULL) with one sentence saying what and where.
 * - No globals, no printing: progress and notes reach the caller through callbacks and the
 *   result.
 * - Whoever gets a pointer from a function here frees it with the function named for it.
 * - Thread safety: distinct objects may be used from distinct threads; a model may be
 *   converted from several threads at once (it is read only). */
#ifndef ANN2SNN_ANN2SNN_H
#define ANN2SNN_ANN2SNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ANN2SNN_API_VERSION 1

typedef enum {
    ANN2SNN_OK = 0,
    ANN2SNN_ERR_IO = 1,          /* a file could not be opened, read or written */
    ANN2SNN_ERR_FORMAT = 2,      /* bytes that are not a valid file of the expected kind */
    ANN2SNN_ERR_UNSUPPORTED = 3, /* a valid model that ann2snn does not convert (an op, a shape) */
    ANN2SNN_ERR_INVALID = 4,     /* an inconsistent model or data: shapes, indices, cycles */
    ANN2SNN_ERR_NOMEM = 5,
    ANN2SNN_ERR_LIMIT = 6,       /* a size or count above the limits ann2snn accepts */
    ANN2SNN_ERR_ARGUMENT = 7,    /* an option's value, or options that do not go together */
} ann2snn_status;

typedef struct {
    char message[512]; /* what is wrong, in one sentence */
    char where[160];   /* the node, tensor or option it is at, or "" */
    int64_t offset;    /* byte offset in the file, or -1 */
} ann2snn_diag;

/* "ok", "io", "format", ...: a short name for a status. */
const char *ann2snn_status_name(ann2snn_status st);
/* The library's version, "MAJOR.MINOR.PATCH". */
const char *ann2snn_version(void);

/* ------------------------------------------------------------------ ONNX models */

typedef struct ann2snn_model ann2snn_model;

/* Load and check the ONNX model at path (the graph is imported and optimised: BatchNorm folded,
 * constants computed). *model receives the model, NULL on failure. */
ann2snn_status ann2snn_model_load_file(const char *path, ann2snn_model **model, ann2snn_diag *diag);
/* The same from the len bytes of an ONNX file in memory (copied as needed; the caller keeps
 * its buffer). name (may be NULL) names the model in reports. */
ann2snn_status ann2snn_model_load_bytes(const void *bytes, size_t len, const char *name, ann2snn_model **model,
                                        ann2snn_diag *diag);
void ann2snn_model_free(ann2snn_model *model);
/* The model's input shape, batch dimension first (a symbolic batch reads 1): up to 8 values into
 * dims; returns the rank, or 0 when the model has not exactly one input. */
int ann2snn_model_input_shape(const ann2snn_model *model, int64_t dims[8]);

/* ------------------------------------------------------------------ samples */

/* Samples, one after another, each of sample_size values as stored: raw bytes stay 0..255
 * (raw_bytes true: the default scale is then 1/255, and integer files cover the whole byte
 * range), float data as they are. The options' scale, mean and std (else the model's metadata)
 * preprocess them: x = (raw * scale - mean) / std. Either values holds all n samples, or get
 * writes sample i (0 <= i < n) into x (sample_size floats); get may be called from several
 * threads at once, and returns ANN2SNN_OK or fills diag. */
typedef struct {
    const float *values; /* (n, sample_size), or NULL with get */
    int64_t n;
    int64_t sample_size;
    bool raw_bytes;
    ann2snn_status (*get)(void *ctx, int64_t i, float *x, ann2snn_diag *diag);
    void *ctx;
} ann2snn_samples;

/* ------------------------------------------------------------------ options */

typedef enum {
    ANN2SNN_NORM_AUTO = 0,      /* tsearch for float32 rate coding with samples; channel=99.9 for
                                 * integer files; channel=100 for TTFS; max on synthetic samples */
    ANN2SNN_NORM_MAX,           /* layer-wise maximum (Diehl et al. 2015) */
    ANN2SNN_NORM_PERCENTILE,    /* layer-wise robust percentile (Rueckauer et al. 2017) */
    ANN2SNN_NORM_CHANNEL,       /* channel-wise percentile */
    ANN2SNN_NORM_MODEL,         /* from the weights alone, no samples (Diehl et al. 2015) */
    ANN2SNN_NORM_TSEARCH,       /* per channel, the scale whose T-step rate code fits best (Li et al. 2021) */
    ANN2SNN_NORM_TSEARCH_LAYER, /* the same per layer */
} ann2snn_norm;

typedef enum {
    ANN2SNN_DATA_FREE_BN = 0,  /* uniform noise with the layer-wise maximum, and BN statistics
                                * (beta + bn_k |gamma|) where a BatchNormalization feeds a layer */
    ANN2SNN_DATA_FREE_UNIFORM, /* uniform noise alone */
    ANN2SNN_DATA_FREE_SMOOTH,  /* smoothed noise */
    ANN2SNN_DATA_FREE_MIX,     /* half of each */
    ANN2SNN_DATA_FREE_MODEL,   /* no samples: model-based normalisation */
} ann2snn_data_free;

typedef enum { ANN2SNN_CORRECT_BIAS = 0, ANN2SNN_CORRECT_POTENTIAL } ann2snn_correct;
typedef enum { ANN2SNN_RESET_SUBTRACT = 0, ANN2SNN_RESET_ZERO } ann2snn_reset;
typedef enum { ANN2SNN_SPIKES_AUTO = 0, ANN2SNN_SPIKES_SIGNED, ANN2SNN_SPIKES_POSITIVE } ann2snn_spikes;
typedef enum { ANN2SNN_READOUT_MEMBRANE = 0, ANN2SNN_READOUT_SPIKES } ann2snn_readout;
typedef enum { ANN2SNN_CODING_DIRECT = 0, ANN2SNN_CODING_POISSON, ANN2SNN_CODING_TTFS } ann2snn_coding;
typedef enum { ANN2SNN_PRECISION_FLOAT32 = 0, ANN2SNN_PRECISION_INT16, ANN2SNN_PRECISION_INT8 } ann2snn_precision;

/* Operations ann2snn_split.all_reduce performs over every process, in place. */
typedef enum {
    ANN2SNN_REDUCE_MAX_F32, ANN2SNN_REDUCE_MIN_F32, ANN2SNN_REDUCE_SUM_U64, ANN2SNN_REDUCE_SUM_U32,
    ANN2SNN_REDUCE_SUM_I64, ANN2SNN_REDUCE_SUM_F64, ANN2SNN_REDUCE_MAX_U32,
    /* int32 values of which each process has filled its own share (by rank, as the samples
     * are split); afterwards every process has all */
    ANN2SNN_REDUCE_GATHER_I32,
} ann2snn_reduce;

/* Calibration split over processes (MPI ranks, say): this process takes its share of the
 * samples and all_reduce merges the statistics, so every process ends with the file one
 * process would write. */
typedef struct {
    int rank, ranks;
    void (*all_reduce)(void *ctx, ann2snn_reduce op, void *values, int64_t n);
    void *ctx;
} ann2snn_split;

#define ANN2SNN_MAX_CHANNELS 16

/* Every option of `ann2snn MODEL.onnx` (its --help says more); ann2snn_options_init() sets the
 * defaults, ann2snn_options_set() sets one by its command-line name. */
typedef struct {
    /* Calibration */
    int64_t calib_count;           /* samples used (default 1000; synthetic ones without samples) */
    ann2snn_data_free data_free;   /* without samples */
    float bn_k;                    /* ANN2SNN_DATA_FREE_BN: K (default 6) */
    float scale;                   /* preprocessing; 0: the model's metadata, else 1/255 for raw bytes, else 1 */
    float mean[ANN2SNN_MAX_CHANNELS], std[ANN2SNN_MAX_CHANNELS]; /* (n_mean), (n_std): 1 or one per channel */
    int n_mean, n_std;             /* 0: the model's metadata, else 0 and 1 */
    /* Normalisation */
    ann2snn_norm norm;
    double percentile;             /* PERCENTILE, CHANNEL: 0 < P <= 100 (default 99.9) */
    uint32_t tsearch_steps;        /* TSEARCH*: the T fitted; 0: calibrate_for, else 4 */
    float headroom;                /* every hidden layer's scale times this, >= 1 (default 1) */
    /* Correction for a target T (Li et al. 2021) */
    uint32_t calibrate_for;        /* T; 0: no correction */
    ann2snn_correct correct;
    int64_t correct_count;         /* samples the correction runs (default 256) */
    uint32_t correct_rounds;       /* measure-and-shift rounds per layer (default 3) */
    /* Neurons and coding */
    uint32_t burst;                /* up to this many spikes per step; 0: 4 where the file can burst, else 1 */
    ann2snn_reset reset;
    ann2snn_spikes spikes;
    float v_init;                  /* initial membrane, a fraction of the threshold (default 0.5) */
    ann2snn_readout readout;
    ann2snn_coding coding;
    int64_t steps;                 /* default T stored in the file; -1: 16 with bursts, 64 without, 0 for TTFS */
    ann2snn_precision precision;
    /* Execution (the file is the same for every value) */
    int threads;                   /* calibration workers; 0: every core */
    bool reference_kernels;        /* plain C kernels instead of BLAS: the same file on every machine */
    const ann2snn_split *split;    /* NULL: one process */
    /* Progress of long stages ("calibration", "correction"), from one thread at a time */
    void (*progress)(void *ctx, const char *stage, int64_t done, int64_t total);
    void *progress_ctx;
} ann2snn_options;

void ann2snn_options_init(ann2snn_options *o);
/* sizeof(ann2snn_options), for bindings that lay the struct out themselves (Python's ctypes). */
size_t ann2snn_options_size(void);
/* Set the option the command line calls `--name` to value, spelled as there: ("norm",
 * "tsearch=4"), ("burst", "2"), ("mean", "0.49,0.48,0.45"), ("reference-kernels", NULL).
 * Unknown names and bad values fail with ANN2SNN_ERR_ARGUMENT and leave o as it was. */
ann2snn_status ann2snn_options_set(ann2snn_options *o, const char *name, const char *value, ann2snn_diag *diag);

/* Check o before anything is loaded: every value in its range, and no options that contradict
 * each other (--burst with an integer file, --readout spikes with TTFS, ...). has_samples says
 * whether calibration samples will be given. ann2snn_convert() checks the same. */
ann2snn_status ann2snn_options_check(const ann2snn_options *o, bool has_samples, ann2snn_diag *diag);

/* ------------------------------------------------------------------ conversion */

typedef struct {
    uint8_t *bytes;      /* (size) the .snn file */
    size_t size;
    char *report;        /* JSON: per-layer scales, thresholds and calibration statistics */
    char *notes;         /* what the user should know (data-free calibration, TTFS clipping):
                          * lines ending in '\n', "" when none */
    char *summary;       /* one line without a newline: layers, neurons, weights, norm, coding */
    double calib_seconds;/* time spent loading samples and calibrating */
} ann2snn_result;

/* Convert model with options o (NULL: the defaults), calibrating on calib (NULL: without data,
 * o->data_free says how). On success *result owns its arrays (ann2snn_result_free()); on
 * failure it is zeroed. */
ann2snn_status ann2snn_convert(const ann2snn_model *model, const ann2snn_samples *calib, const ann2snn_options *o,
                               ann2snn_result *result, ann2snn_diag *diag);
void ann2snn_result_free(ann2snn_result *result);

/* Write len bytes to path atomically (a temporary file renamed into place): a reader never
 * sees a partial file, and a failure leaves no file behind. */
ann2snn_status ann2snn_write_file(const char *path, const void *bytes, size_t len, ann2snn_diag *diag);

/* ------------------------------------------------------------------ .snn files */

/* Describe the .snn file held in bytes (checked whole first): as `ann2snn info FILE.snn` prints
 * it (json false), or as the JSON of `ann2snn info FILE.snn --json`: header, provenance,
 * preprocessing, coding, layers, sections. name names the file in the text. *text is malloc'd:
 * free it with ann2snn_free(). A file that does not load fails with ANN2SNN_ERR_FORMAT and the
 * runtime's message. */
ann2snn_status ann2snn_snn_describe(const void *bytes, size_t len, const char *name, bool json, char **text,
                                    ann2snn_diag *diag);

typedef struct {
    uint32_t steps;   /* rate coding: time steps; TTFS: steps per layer window (0 exact times); 0: the file's */
    int coding;       /* ANN2SNN_CODING_*, or -1: the file's */
    uint64_t seed;    /* Poisson coding: sample i is seeded seed + i, as snn-run --seed (default 1) */
    int threads;      /* 0: every core; the results are the same for every count */
    /* Progress ("SNN", samples done, samples), from one thread at a time; NULL: none */
    void (*progress)(void *ctx, const char *stage, int64_t done, int64_t total);
    void *progress_ctx;
} ann2snn_run_options;

/* Run the .snn file held in bytes on n raw samples (n, sample_size), as stored: the file's
 * preprocessing applies, as in snn-run. Fills, each where not NULL: outputs (n, classes) the
 * readout after the last step (the output membranes, or the spike counts with readout spikes);
 * predictions (n) the arg-max; layer_spikes and layer_synops (layers) the spikes each layer
 * emitted and the synaptic operations into it, summed over the samples. o NULL: the file's
 * coding and steps, seed 1, every core. */
ann2snn_status ann2snn_run(const void *bytes, size_t len, const float *samples, int64_t n, int64_t sample_size,
                           const ann2snn_run_options *o, float *outputs, int32_t *predictions, uint64_t *layer_spikes,
                           uint64_t *layer_synops, ann2snn_diag *diag);

/* ------------------------------------------------------------------ evaluation */

typedef enum { ANN2SNN_EXIT_NONE = 0, ANN2SNN_EXIT_CONFIDENCE = 1, ANN2SNN_EXIT_MARGIN = 2 } ann2snn_exit_rule;
#define ANN2SNN_MAX_EXITS 16

/* Every option of `ann2snn eval` that is not a file (its --help says more);
 * ann2snn_eval_options_init() sets the defaults, ann2snn_eval_options_set() one by its
 * command-line name: ("steps", "32"), ("exit", "confidence=0.9,0.99"), ("layers", NULL). */
typedef struct {
    uint32_t steps;                /* rate coding: time steps; 0: the file's */
    int coding;                    /* ANN2SNN_CODING_*, or -1: the file's */
    int64_t resolution;            /* TTFS: largest steps per layer window; -1: 64 */
    uint64_t seed;                 /* Poisson coding: sample i is seeded seed + i (default 1) */
    int threads;                   /* 0: every core; the numbers are the same for every count */
    double pj_ac, pj_mac;          /* energy per accumulate and multiply-accumulate, pJ (0.9, 4.6:
                                    * 45 nm, Horowitz 2014) */
    ann2snn_exit_rule exit_rule;   /* early exit (SEENN-I), rate coding */
    float exit_thresholds[ANN2SNN_MAX_EXITS]; /* (n_exit) */
    int n_exit;
    bool layers;                   /* per-layer error against the ANN (needs ann, a float32 file) */
    const ann2snn_model *ann;      /* the ANN: its accuracy on the same samples and the agreement
                                    * with it; NULL: the accuracy stored at conversion */
    const ann2snn_split *split;    /* NULL: one process */
    void (*progress)(void *ctx, const char *stage, int64_t done, int64_t total);
    void *progress_ctx;
} ann2snn_eval_options;

void ann2snn_eval_options_init(ann2snn_eval_options *o);
size_t ann2snn_eval_options_size(void);
ann2snn_status ann2snn_eval_options_set(ann2snn_eval_options *o, const char *name, const char *value,
                                        ann2snn_diag *diag);

typedef struct {
    char *table; /* what `ann2snn eval` prints */
    char *json;  /* what `ann2snn eval --json` writes: ann_accuracy, curve, layers, early_exit */
    char *svg;   /* what `ann2snn eval --plot` writes: accuracy against time steps */
} ann2snn_evaluation;

/* Evaluate the .snn file held in bytes (named name in the table and JSON) on the samples x
 * (raw: the file's preprocessing applies) with labels (x->n class indices): accuracy, spikes
 * per neuron, synaptic operations and energy at every power of two up to T, next to the ANN's
 * accuracy. The numbers are those of `ann2snn eval` on the same samples and options. On
 * success *out owns its texts (ann2snn_evaluation_free()). */
ann2snn_status ann2snn_evaluate(const void *bytes, size_t len, const char *name, const ann2snn_samples *x,
                                const int32_t *labels, const ann2snn_eval_options *o, ann2snn_evaluation *out,
                                ann2snn_diag *diag);
void ann2snn_evaluation_free(ann2snn_evaluation *e);

/* Free memory this library returned as a bare pointer. */
void ann2snn_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
