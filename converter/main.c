/* ann2snn: the converter's command-line front end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snn_format.h"

#ifndef ANN2SNN_VERSION
#define ANN2SNN_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ann2snn MODEL.onnx [OPTIONS]     convert to a spiking network (MODEL.snn)\n"
            "       ann2snn COMMAND [OPTIONS]\n"
            "\n"
            "Commands:\n"
            "  eval MODEL.snn --data FILE --labels FILE\n"
            "                                  SNN accuracy against time steps, spikes and synaptic\n"
            "                                  operations, next to the ANN's accuracy\n"
            "  info MODEL.onnx                 print the imported graph, one line per node\n"
            "  infer MODEL.onnx IN.pb... -o DIR\n"
            "                                  run the float reference evaluator; write each graph\n"
            "                                  output as DIR/output_K.pb (ONNX TensorProto)\n"
            "  accuracy MODEL.onnx --data FILE --labels FILE\n"
            "                                  ANN accuracy of the model on a labelled data set\n"
            "\n"
            "Run 'ann2snn COMMAND --help' for a command's options.\n"
            "  -h, --help       this help\n"
            "  -V, --version    print the version\n"
            "\n"
            "Exit status: 0 success, 1 the run failed, 2 bad input or usage.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("ann2snn %s\n", ANN2SNN_VERSION);
        return 0;
    }
    if (strcmp(cmd, "infer") == 0)
        return cmd_infer(argc - 1, argv + 1);
    if (strcmp(cmd, "accuracy") == 0)
        return cmd_accuracy(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "convert") == 0)
        return cmd_convert(argc - 1, argv + 1);
    size_t n = strlen(cmd);
    if (n > 5 && strcmp(cmd + n - 5, ".onnx") == 0)
        return cmd_convert(argc, argv);
    fprintf(stderr, "ann2snn: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_BAD_INPUT;
}

int cli_report(const char *file, snn_status st, const snn_diag *diag)
{
    fprintf(stderr, "ann2snn: %s: %s", file, diag->msg[0] ? diag->msg : snn_status_name(st));
    if (diag->offset >= 0)
        fprintf(stderr, " (at byte %lld)", (long long)diag->offset);
    fputc('\n', stderr);
    return st == SNN_ERR_NOMEM ? EXIT_RUN_FAILED : EXIT_BAD_INPUT;
}

int cli_parse_float(const char *opt, const char *arg, float *out)
{
    char *end;
    float v = strtof(arg, &end);
    if (end == arg || *end) {
        fprintf(stderr, "ann2snn: %s: '%s' is not a number\n", opt, arg);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_long(const char *opt, const char *arg, long long min, long long max, long long *out)
{
    char *end;
    long long v = strtoll(arg, &end, 10);
    if (end == arg || *end || v < min || v > max) {
        fprintf(stderr, "ann2snn: %s: '%s' is not a whole number from %lld to %lld\n", opt, arg, min, max);
        return 0;
    }
    *out = v;
    return 1;
}

void cli_prep_opts_init(cli_prep_opts *o)
{
    memset(o, 0, sizeof *o);
    o->std = 1.0f;
}

int cli_prep_opt(cli_prep_opts *o, int c, const char *arg)
{
    switch (c) {
    case 's':
        o->has_scale = true;
        return cli_parse_float("--scale", arg, &o->scale);
    case 'm':
        o->has_mean = true;
        return cli_parse_float("--mean", arg, &o->mean);
    default:
        o->has_std = true;
        if (!cli_parse_float("--std", arg, &o->std))
            return 0;
        if (o->std == 0.0f) {
            fprintf(stderr, "ann2snn: --std must not be 0\n");
            return 0;
        }
        return 1;
    }
}

snn_preprocess cli_pick_preprocess(const cli_prep_opts *o, const snn_graph *g, bool uint8_data)
{
    bool meta = g && g->has_preprocess;
    snn_preprocess pp = {
        o->has_scale ? o->scale : meta ? g->pre_scale : uint8_data ? 1.0f / 255.0f : 1.0f,
        o->has_mean ? o->mean : meta ? g->pre_mean : 0.0f,
        o->has_std ? o->std : meta ? g->pre_std : 1.0f,
    };
    return pp;
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

int cli_load_labelled(const char *data_path, const char *label_path, long long limit,
                      snn_dataset *ds, snn_labels *lb, int64_t *n)
{
    snn_diag diag;
    snn_diag_clear(&diag);
    memset(lb, 0, sizeof *lb);
    snn_status st = snn_dataset_read(data_path, ds, &diag);
    if (st != SNN_OK)
        return cli_report(data_path, st, &diag);
    if ((st = snn_labels_read(label_path, lb, &diag)) != SNN_OK)
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
