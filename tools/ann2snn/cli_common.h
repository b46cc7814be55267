/* Helpers that the ann2snn subcommands share: reporting, option parsing, data loading.
 * Only the CLIs print. */
#ifndef ANN2SNN_CLI_COMMON_H
#define ANN2SNN_CLI_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "api/ann2snn.h"
#include "data/data.h"
#include "base/diag.h"
#include "ir/graph.h"
#include "snn_runtime.h"

/* Exit codes of every tool. */
enum { EXIT_RUN_FAILED = 1, EXIT_BAD_INPUT = 2 };

/* "ann2snn: FILE: message" on stderr; returns the exit code the status maps to. */
int cli_report(const char *file, snn_status st, const snn_diag *diag);
/* Parse a float option argument; prints and returns false on garbage. */
int cli_parse_float(const char *opt, const char *arg, float *out);
int cli_parse_long(const char *opt, const char *arg, long long min, long long max, long long *out);

/* --scale/--mean/--std as given on the command line. --mean and --std take one value, or
 * one per input channel, comma-separated (--mean 0.4914,0.4822,0.4465). */
typedef struct {
    float scale;
    float mean[SNN_MAX_PREP_CHANNELS], std[SNN_MAX_PREP_CHANNELS]; /* (n_mean), (n_std) */
    int n_mean, n_std;
    bool has_scale, has_mean, has_std;
} cli_prep_opts;

void cli_prep_opts_init(cli_prep_opts *o);
/* Take option c ('s' scale, 'm' mean, 'S' std) with argument arg; prints and returns 0 on garbage. */
int cli_prep_opt(cli_prep_opts *o, int c, const char *arg);
/* Options first, then the model's metadata, then 1/255 for uint8 data (1 otherwise), 0, 1.
 * Per-channel means and stds need as many values as the model's input channels (NCHW input);
 * prints and returns false otherwise. */
bool cli_pick_preprocess(const cli_prep_opts *o, const snn_graph *g, bool uint8_data,
                         snn_preprocess *pp);
/* "direct", "poisson" or "ttfs" into *coding (SNN_CODING_*). */
int cli_parse_coding(const char *arg, uint32_t *coding);

/* Image folders (--data DIR): the options every data-reading command takes, their help lines,
 * and their parser (c: the option's code; prints the error and returns 0 when arg is bad). */
#define CLI_OPT_RESIZE 0x200
#define CLI_OPT_CROP 0x201
#define CLI_IMAGE_LONGOPTS                                                                  \
    {"resize", required_argument, NULL, CLI_OPT_RESIZE}, {"crop", required_argument, NULL, CLI_OPT_CROP}
#define CLI_IMAGE_HELP                                                                      \
    "      --resize N         image folder: resize each image's shorter side to N pixels\n"  \
    "      --crop N           image folder: then keep the centre N x N (default: N of\n"     \
    "                         --resize; without either, every image must have one size)\n"
int cli_image_opt(int c, const char *arg, snn_image_opts *o);
/* The channels an image folder is read with for graph g: 1 (gray) when its one input has one
 * channel, else 3 (RGB). */
int cli_image_channels(const snn_graph *g);

/* Read samples and labels, and the number of samples to use: both files' common count,
 * capped by limit (<= 0: no cap). data_path may be an image folder (DIR/CLASS/IMAGE, read
 * with img), which gives the labels: label_path is then NULL. Prints and returns an exit code
 * on failure, else 0. */
int cli_load_labelled(const char *data_path, const char *label_path, const snn_image_opts *img,
                      long long limit, snn_dataset *ds, snn_labels *lb, int64_t *n);
/* Whether a command needs --labels: not for an image folder. */
bool cli_needs_labels(const char *data_path);
/* A data set for calibration or snn-run: an image folder (keeping at most max samples, spread
 * over its classes) or a file (snn_dataset_read_prefix()). */
snn_status cli_open_data(const char *path, const snn_image_opts *img, int64_t max, snn_dataset *ds,
                         snn_labels *lb, snn_diag *diag);

/* How the float evaluator classifies: worker threads, samples per evaluation (a graph made
 * with that batch dimension), and the plain C reference kernels instead of BLAS. */
typedef struct {
    int threads;
    int batch;
    bool reference;
} cli_ann_opts;

/* Classify the first n samples of ds with graph g (the float evaluator; the samples split
 * over o->threads workers, each evaluating o->batch at a time): pred[i] receives the arg-max of
 * the first output, the same for every thread count and batch. With a batch above 1 the model
 * is loaded again from `model` with that batch dimension; a model whose batch dimension is
 * fixed runs one sample at a time, with a note. Checks that the samples fit the model's one
 * input. Prints and returns an exit code on failure, else 0. */
int cli_ann_classify(const char *model, const snn_graph *g, const snn_dataset *ds, int64_t n,
                     const snn_preprocess *pp, const cli_ann_opts *o, int32_t *pred);

/* Read and validate a .snn file: *file holds its bytes (the model points into them), *m the
 * parsed model; both malloc'd, freed by the caller also on failure. Prints and returns an
 * exit code on failure, else 0. */
int cli_load_snn(const char *path, uint8_t **file, size_t *len, snn_model **m);

/* The preprocessing a .snn file carries, for the float evaluator. */
snn_preprocess cli_preprocess_of(const snn_model *m);

/* A progress line on stderr: "what [####    ] done/n  rate/s, ETA s"; a newline when done
 * reaches n. Callers print it only when stderr is a terminal. */
void cli_progress(const char *what, int64_t done, int64_t n, double t0);

/* A data set as the library's samples (read through snn_dataset_get(), from any thread). */
ann2snn_samples cli_samples_of(const snn_dataset *ds);
/* The library's progress callback: cli_progress() from *t0 (set to now) when stderr is a
 * terminal and this is MPI rank 0; else left NULL. */
void cli_progress_hook(void (**fn)(void *, const char *, int64_t, int64_t), void **ctx, double *t0);

/* Seconds on a monotonic clock, for progress and timings. */
double cli_now_s(void);

#endif
