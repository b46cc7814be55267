/* ann2snn infer / info: run the reference evaluator on .pb inputs; print the graph. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_common.h"
#include "commands.h"
#include "onnx/pb_session.h"

static void infer_usage(FILE *f)
{
    fprintf(f,
            "Usage: ann2snn infer MODEL.onnx INPUT.pb [INPUT.pb ...] -o OUTDIR [--no-optimize]\n"
            "\n"
            "Evaluates MODEL.onnx in float32 on the given inputs (ONNX TensorProto files, one per\n"
            "graph input, in the graph's input order) and writes every graph output to\n"
            "OUTDIR/output_K.pb. Integer inputs are taken as constants (shape parameters).\n"
            "  -o, --output DIR     output directory (created if missing)\n"
            "      --no-optimize    skip graph passes (BN folding, Identity removal, Pad merging)\n"
            "  -h, --help           this help\n");
}

int cmd_infer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"no-optimize", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *outdir = NULL;
    bool optimize = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'n': optimize = false; break;
        case 'h': infer_usage(stdout); return 0;
        default: infer_usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind < 1 || !outdir) {
        infer_usage(stderr);
        return EXIT_BAD_INPUT;
    }
    const char *model = argv[optind];
    int n_in = argc - optind - 1;
    int rc = EXIT_BAD_INPUT;
    snn_diag diag;
    snn_diag_clear(&diag);
    snn_tensor_file *tf = calloc((size_t)(n_in ? n_in : 1), sizeof *tf);
    snn_pb_session sess;
    memset(&sess, 0, sizeof sess);
    if (!tf) {
        fprintf(stderr, "ann2snn: out of memory\n");
        return EXIT_RUN_FAILED;
    }
    for (int i = 0; i < n_in; i++) {
        const char *path = argv[optind + 1 + i];
        snn_status st = snn_tensorproto_read_file(path, &tf[i], &diag);
        if (st != SNN_OK) {
            rc = cli_report(path, st, &diag);
            goto done;
        }
    }
    snn_status st = snn_pb_session_run(model, tf, n_in, optimize, &sess, &diag);
    if (st != SNN_OK) {
        rc = cli_report(model, st, &diag);
        goto done;
    }
    const snn_graph *gp = &sess.graph;
    if (mkdir(outdir, 0777) != 0) {
        struct stat sb;
        if (stat(outdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "ann2snn: %s: cannot create the output directory\n", outdir);
            rc = EXIT_RUN_FAILED;
            goto done;
        }
    }
    for (int k = 0; k < gp->n_outputs; k++) {
        const snn_tensor *t = &gp->tensors[gp->outputs[k]];
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", outdir, k);
        if (t->dtype != SNN_DTYPE_FLOAT) {
            fprintf(stderr, "ann2snn: %s: output '%s' is not float\n", model, t->name);
            goto done;
        }
        st = snn_tensorproto_write_file(path, t->name, t->rank, t->dims,
                                        snn_eval_output(&sess.eval, k), &diag);
        if (st != SNN_OK) {
            rc = cli_report(path, st, &diag);
            goto done;
        }
    }
    rc = 0;
done:
    snn_pb_session_free(&sess);
    for (int i = 0; i < n_in; i++)
        snn_tensor_file_free(&tf[i]);
    free(tf);
    return rc;
}
