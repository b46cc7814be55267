/* Helpers that the ann2snn subcommands share. */
#include "cli_common.h"
#include "cli_mpi.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "base/fileio.h"
#include "base/parallel.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "snn_format.h"

double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_report(const char *file, snn_status st, const snn_diag *diag)
{
    fprintf(stderr, "ann2snn: %s: %s", file, diag->msg[0] ? diag->msg : snn_status_name(st));
    if (diag->offset >= 0)
        fprintf(stderr, " (at byte %lld)", (long long)diag->offset);
    fputc('\n', stderr);
    return st == SNN_ERR_NOMEM ? EXIT_RUN_FAILED : EXIT_BAD_INPUT;
}

/* The library's parsers (one spelling for every command), with their message on stderr. */
static int printed(bool ok, const ann2snn_diag *d)
{
    if (!ok)
        fprintf(stderr, "ann2snn: %s\n", d->message);
    return ok;
}

int cli_parse_float(const char *opt, const char *arg, float *out)
{
    ann2snn_diag d;
    return printed(api_parse_float(opt, arg, out, &d), &d);
}

int cli_parse_long(const char *opt, const char *arg, long long min, long long max, long long *out)
{
    ann2snn_diag d;
    return printed(api_parse_long(opt, arg, min, max, out, &d), &d);
}

void cli_prep_opts_init(cli_prep_opts *o)
{
    memset(o, 0, sizeof *o);
    o->std[0] = 1.0f;
}

static int parse_float_list(const char *opt, const char *arg, float *v, int *n)
{
    ann2snn_diag d;
    return printed(api_parse_float_list(opt, arg, v, n, &d), &d);
}

int cli_prep_opt(cli_prep_opts *o, int c, const char *arg)
{
    switch (c) {
    case 's':
        o->has_scale = true;
        if (!cli_parse_float("--scale", arg, &o->scale))
            return 0;
        if (o->scale == 0.0f) {
            fprintf(stderr, "ann2snn: --scale must not be 0\n");
            return 0;
        }
        return 1;
    case 'm':
        o->has_mean = true;
        return parse_float_list("--mean", arg, o->mean, &o->n_mean);
    default:
        o->has_std = true;
        if (!parse_float_list("--std", arg, o->std, &o->n_std))
            return 0;
        for (int k = 0; k < o->n_std; k++)
            if (o->std[k] == 0.0f) {
                fprintf(stderr, "ann2snn: --std must not be 0\n");
                return 0;
            }
        return 1;
    }
}

bool cli_pick_preprocess(const cli_prep_opts *o, const snn_graph *g, bool uint8_data,
                         snn_preprocess *pp)
{
    ann2snn_options ao;
    ann2snn_options_init(&ao);
    ao.scale = o->has_scale ? o->scale : 0.0f;
    ao.n_mean = o->has_mean ? o->n_mean : 0, ao.n_std = o->has_std ? o->n_std : 0;
    memcpy(ao.mean, o->mean, sizeof ao.mean);
    memcpy(ao.std, o->std, sizeof ao.std);
    ann2snn_diag d;
    return printed(api_pick_preprocess(&ao, g, uint8_data, pp, &d) == ANN2SNN_OK, &d);
}

int cli_parse_coding(const char *arg, uint32_t *coding)
{
    if (strcmp(arg, "direct") == 0)
        *coding = SNN_CODING_DIRECT;
    else if (strcmp(arg, "poisson") == 0)
        *coding = SNN_CODING_POISSON;
    else if (strcmp(arg, "ttfs") == 0)
        *coding = SNN_CODING_TTFS;
    else {
        fprintf(stderr, "ann2snn: --coding: '%s' is not direct, poisson or ttfs\n", arg);
        return 0;
    }
    return 1;
}

int cli_image_opt(int c, const char *arg, snn_image_opts *o)
{
    long long v;
    if (!cli_parse_long(c == CLI_OPT_RESIZE ? "--resize" : "--crop", arg, 1, 16384, &v))
        return 0;
    if (c == CLI_OPT_RESIZE)
        o->resize = (int)v;
    else
        o->crop = (int)v;
    return 1;
}

int cli_image_channels(const snn_graph *g)
{
    const snn_tensor *in = g->n_inputs == 1 ? &g->tensors[g->inputs[0]] : NULL;
    return in && in->rank == 4 && in->dims[1] == 1 ? 1 : 3;
}

bool cli_needs_labels(const char *data_path)
{
    return !data_path || !snn_path_is_dir(data_path);
}

snn_status cli_open_data(const char *path, const snn_image_opts *img, int64_t max, snn_dataset *ds,
                         snn_labels *lb, snn_diag *diag)
{
    if (snn_path_is_dir(path))
        return snn_dataset_open_folder(path, img, max, ds, lb, diag);
    if (lb)
        memset(lb, 0, sizeof *lb);
    return max > 0 ? snn_dataset_read_prefix(path, max, ds, diag) : snn_dataset_open(path, ds, diag);
}

int cli_load_labelled(const char *data_path, const char *label_path, const snn_image_opts *img,
                      long long limit, snn_dataset *ds, snn_labels *lb, int64_t *n)
{
    snn_diag diag;
    snn_diag_clear(&diag);
    memset(lb, 0, sizeof *lb);
    bool folder = snn_path_is_dir(data_path);
    if (folder && label_path) {
        fprintf(stderr, "ann2snn: %s is an image folder: its class sub-folders are the labels; drop --labels\n",
                data_path);
        return EXIT_BAD_INPUT;
    }
    snn_status st = cli_open_data(data_path, img, 0, ds, folder ? lb : NULL, &diag);
    if (st != SNN_OK)
        return cli_report(data_path, st, &diag);
    if (!folder && (st = snn_labels_read(label_path, lb, &diag)) != SNN_OK)
        return cli_report(label_path, st, &diag);
    *n = ds->n < lb->n ? ds->n : lb->n;
    if (ds->n != lb->n)
        fprintf(stderr, "ann2snn: warning: %lld samples but %lld labels; using %lld\n",
                (long long)ds->n, (long long)lb->n, (long long)*n);
    if (limit > 0 && limit < *n)
        *n = limit;
    if (*n == 0) {
        fprintf(stderr, "ann2snn: %s: no samples\n", data_path);
        return EXIT_BAD_INPUT;
    }
    return 0;
}

/* A data set (a file, streamed, or an image folder) as the library's samples. */
static ann2snn_status dataset_sample(void *ctx, int64_t i, float *x, ann2snn_diag *diag)
{
    snn_diag d;
    snn_diag_clear(&d);
    snn_status st = snn_dataset_get(ctx, i, x, &d);
    return api_status(st, &d, diag);
}

ann2snn_samples cli_samples_of(const snn_dataset *ds)
{
    return (ann2snn_samples){.n = ds->n, .sample_size = ds->sample_size, .raw_bytes = ds->from_uint8,
                             .get = dataset_sample, .ctx = (void *)ds};
}

static void progress(void *ctx, const char *stage, int64_t done, int64_t total)
{
    cli_progress(stage, done, total, *(const double *)ctx);
}

void cli_progress_hook(void (**fn)(void *, const char *, int64_t, int64_t), void **ctx, double *t0)
{
    *t0 = cli_now_s();
    if (isatty(2) && cli_mpi_root())
        *fn = progress, *ctx = t0;
}

int cli_ann_classify(const char *model, const snn_graph *g, const snn_dataset *ds, int64_t n,
                     const snn_preprocess *pp, const cli_ann_opts *o, int32_t *pred)
{
    if (g->n_inputs != 1 || g->n_outputs < 1) {
        fprintf(stderr, "ann2snn: %s: needs a model with one input (it has %d)\n", model, g->n_inputs);
        return EXIT_BAD_INPUT;
    }
    const snn_tensor *in = &g->tensors[g->inputs[0]];
    if (snn_tensor_numel(in) != ds->sample_size) {
        fprintf(stderr, "ann2snn: %s: samples have %lld values, the model's input '%s' takes %lld\n",
                model, (long long)ds->sample_size, in->name, (long long)snn_tensor_numel(in));
        return EXIT_BAD_INPUT;
    }
    /* The same model with a batch dimension of o->batch, when it has a symbolic one. */
    snn_graph gb;
    snn_graph_init(&gb);
    int batch = 1;
    if (o->batch > 1) {
        snn_import_options io;
        snn_import_options_init(&io);
        io.batch = o->batch;
        snn_diag d;
        snn_status st = snn_onnx_load_file(model, &io, &gb, &d);
        if (st != SNN_OK) {
            snn_graph_free(&gb);
            return cli_report(model, st, &d);
        }
        if (gb.n_inputs == 1 && snn_tensor_numel(&gb.tensors[gb.inputs[0]]) == ds->sample_size * o->batch)
            batch = o->batch;
        else
            fprintf(stderr, "ann2snn: note: %s has a fixed batch dimension; evaluating one sample at a time\n",
                    model);
    }
    ann2snn_split split = cli_mpi_split();
    double t0;
    api_classify_opts ao = {.workers = o->threads, .batch = batch, .reference = o->reference, .split = &split};
    cli_progress_hook(&ao.progress, &ao.progress_ctx, &t0);
    ann2snn_samples src = cli_samples_of(ds);
    snn_diag d;
    snn_diag_clear(&d);
    snn_status st = api_classify(batch > 1 ? &gb : g, &src, n, pp, &ao, pred, &d);
    snn_graph_free(&gb);
    return st == SNN_OK ? 0 : cli_report(model, st, &d);
}

int cli_load_snn(const char *path, uint8_t **file, size_t *len, snn_model **m)
{
    snn_diag diag;
    snn_diag_clear(&diag);
    *file = NULL;
    *m = malloc(sizeof **m);
    if (!*m) {
        fprintf(stderr, "ann2snn: out of memory\n");
        return EXIT_RUN_FAILED;
    }
    snn_status st = snn_file_read_all(path, (size_t)1 << 32, file, len, &diag);
    if (st != SNN_OK)
        return cli_report(path, st, &diag);
    snn_rt_diag rd;
    if (snn_model_load(*m, *file, *len, &rd) != SNN_RT_OK) {
        fprintf(stderr, "ann2snn: %s: %s", path, rd.msg);
        if (rd.offset >= 0)
            fprintf(stderr, " (at byte %lld)", (long long)rd.offset);
        fputc('\n', stderr);
        return EXIT_BAD_INPUT;
    }
    return 0;
}

snn_preprocess cli_preprocess_of(const snn_model *m)
{
    snn_preprocess pp = {.scale = m->pre_scale, .mean = m->pre_mean, .std = m->pre_std};
    if (m->pre_mean_c && m->input_c <= SNN_MAX_PREP_CHANNELS) {
        pp.channels = (int)m->input_c;
        for (uint32_t c = 0; c < m->input_c; c++)
            pp.mean_c[c] = m->pre_mean_c[c], pp.std_c[c] = m->pre_std_c[c];
    }
    return pp;
}

void cli_progress(const char *what, int64_t done, int64_t n, double t0)
{
    int width = 30, bar = n ? (int)(width * done / n) : width;
    double el = cli_now_s() - t0, rate = el > 0 ? (double)done / el : 0.0;
    fprintf(stderr, "\r%s [%.*s%*s] %lld/%lld %.0f/s, ETA %.0f s ", what, bar,
            "##############################", width - bar, "", (long long)done, (long long)n, rate,
            rate > 0 ? (double)(n - done) / rate : 0.0);
    if (done == n)
        fputc('\n', stderr);
}
