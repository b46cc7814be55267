/* What the library's modules share, and what the ann2snn command line reaches behind the
 * public header: the model's graph, and the option parsers of the command-line spellings. */
#ifndef ANN2SNN_API_INTERNAL_H
#define ANN2SNN_API_INTERNAL_H

#include "ann2snn.h"
#include "base/diag.h"
#include "data/data.h"
#include "ir/graph.h"
#include "snn_runtime.h"

struct ann2snn_model {
    snn_graph graph;
    uint8_t sha256[32]; /* of the ONNX file's bytes, recorded in the .snn file */
    char *name;         /* the path, or the name given with the bytes; "" if none */
};

/* A converter status and diagnostic as the public ones (the same codes and fields). */
ann2snn_status api_status(snn_status st, const snn_diag *from, ann2snn_diag *to);
/* Fill to (may be NULL) and return st; printf-style. */
ann2snn_status api_fail(ann2snn_diag *to, ann2snn_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Parsers of an option's value as the command line spells it; on garbage they fill diag with
 * "OPT: 'ARG' is not ..." and return false. */
bool api_parse_float(const char *opt, const char *arg, float *out, ann2snn_diag *diag);
bool api_parse_long(const char *opt, const char *arg, long long min, long long max, long long *out,
                    ann2snn_diag *diag);
/* A comma-separated list of 1 to ANN2SNN_MAX_CHANNELS floats. */
bool api_parse_float_list(const char *opt, const char *arg, float *v, int *n, ann2snn_diag *diag);

/* The preprocessing for graph g: the options' scale, mean and std first, then the model's
 * metadata, then 1/255 for raw bytes (1 otherwise), 0 and 1. Per-channel means and stds need as
 * many values as the model's input channels (NCHW). */
ann2snn_status api_pick_preprocess(const ann2snn_options *o, const snn_graph *g, bool raw_bytes, snn_preprocess *pp,
                                   ann2snn_diag *diag);

/* The .snn file in the caller's bytes, loaded by the runtime: *file, an aligned copy of the
 * bytes (the runtime reads 4-byte aligned buffers, the caller's need not be), and *m, which
 * points into it; both malloc'd and freed by the caller, also on failure. A sample_size >= 0
 * must be the file's input size. */
ann2snn_status api_load_snn(const void *bytes, size_t len, int64_t sample_size, uint8_t **file, snn_model **m,
                            ann2snn_diag *diag);

/* Sample i of src into x (sample_size floats), as stored; then preprocessed as pp says, unless
 * pp is NULL. */
snn_status api_fetch(const ann2snn_samples *src, int64_t i, const snn_preprocess *pp, float *x, snn_diag *diag);
/* Worker w's range [begin, end) of n samples: this process's share (sp; NULL: all), then the
 * worker's of it. */
void api_worker_range(const ann2snn_split *sp, int64_t n, int workers, int w, int64_t *begin, int64_t *end);

/* Classify the first n samples of src with graph g (the float evaluator, whose input takes
 * `batch` samples; workers threads, the plain C kernels with reference): pred[i] receives the
 * arg-max of the first output, the same for every thread, process and batch count; every
 * process ends with all of pred. Progress goes to progress(ctx, "ANN", ...). */
typedef struct {
    int workers, batch;
    bool reference;
    const ann2snn_split *split;
    void (*progress)(void *ctx, const char *stage, int64_t done, int64_t total);
    void *progress_ctx;
} api_classify_opts;
snn_status api_classify(const snn_graph *g, const ann2snn_samples *src, int64_t n, const snn_preprocess *pp,
                        const api_classify_opts *o, int32_t *pred, snn_diag *diag);

#endif
