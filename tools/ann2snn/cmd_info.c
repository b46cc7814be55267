/* ann2snn info: describe an ONNX model (the imported graph) or a .snn file. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ann2snn.h"
#include "base/fileio.h"
#include "cli_common.h"
#include "commands.h"
#include "ir/op_info.h"
#include "onnx/onnx_import.h"
#include "snn_format.h"
#include "snn_runtime.h"

static void info_usage(FILE *f)
{
    fprintf(f, "Usage: ann2snn info MODEL.onnx [--no-optimize]\n"
               "       ann2snn info --ops\n"
               "       ann2snn info MODEL.snn [--json]\n"
               "An ONNX model: the imported graph, inputs, one line per node with its output shape,\n"
               "outputs. A .snn file: header, provenance, preprocessing, coding, one line per layer\n"
               "and the sections.\n"
               "      --no-optimize  ONNX: the graph before the optimising passes\n"
               "      --json         .snn: the same as JSON on stdout\n"
            "      --ops          every op the converter reads, and whether it converts\n"
               "  -h, --help         this help\n");
}

static void print_shape(const snn_tensor *t)
{
    printf("(");
    for (int d = 0; d < t->rank; d++)
        printf(d ? ", %lld" : "%lld", (long long)t->dims[d]);
    printf(")");
}

/* ---------------------------------------------------------------- .snn files */

static bool is_snn_file(const char *path)
{
    char magic[SNN_MAGIC_LEN];
    FILE *f = fopen(path, "rb");
    bool yes = f && fread(magic, 1, sizeof magic, f) == sizeof magic &&
               memcmp(magic, SNN_MAGIC, SNN_MAGIC_LEN) == 0;
    if (f)
        fclose(f);
    return yes;
}

/* The description comes from the library (ann2snn_snn_describe()), which validates the file
 * whole with the runtime first. */
static int snn_info(const char *path, bool json)
{
    uint8_t *file = NULL;
    size_t len = 0;
    snn_diag d;
    snn_diag_clear(&d);
    snn_status st = snn_file_read_all(path, (size_t)1 << 32, &file, &len, &d);
    if (st != SNN_OK)
        return cli_report(path, st, &d);
    char *text = NULL;
    ann2snn_diag ad;
    ann2snn_status as = ann2snn_snn_describe(file, len, path, json, &text, &ad);
    free(file);
    if (as != ANN2SNN_OK) {
        fprintf(stderr, "ann2snn: %s: %s", path, ad.message);
        if (ad.offset >= 0)
            fprintf(stderr, " (at byte %lld)", (long long)ad.offset);
        fputc('\n', stderr);
        return as == ANN2SNN_ERR_NOMEM ? EXIT_RUN_FAILED : EXIT_BAD_INPUT;
    }
    fputs(text, stdout);
    ann2snn_free(text);
    return 0;
}

/* ---------------------------------------------------------------- the op table */

/* Every op the converter imports, from the op table (ir/ops.def), so that a user can check a
 * model's ops before converting it. */
static int print_ops(void)
{
    static const char *const roles[] = {"runs", "folds"};
    printf("%-20s %-6s %-6s %s\n", "op", "opset", "role", "spiking form");
    for (int i = 0; i < SNN_OP_COUNT; i++) {
        const snn_op_info *o = snn_op_info_of((snn_op)i);
        printf("%-20s %-6s %-6s %s\n", o->name, o->since > 1 ? "7-18" : "1-18", roles[o->role],
               o->spiking);
    }
    printf("\nConstant nodes fold into constants. 'folds': shape arithmetic, accepted only where it\n"
           "folds into a constant. Spiking form 'none': conversion refuses the op unless a graph\n"
           "pass removes it first (a zero Pad merges into the Conv or pool after it; folded shape\n"
           "arithmetic leaves no node). Opsets 1-6 only for files whose every op reads '1-18'.\n");
    return 0;
}

/* ---------------------------------------------------------------- both */

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-optimize", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"ops", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool optimize = true, json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': optimize = false; break;
        case 'j': json = true; break;
        case 'o': return print_ops();
        case 'h': info_usage(stdout); return 0;
        default: info_usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1) {
        info_usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (is_snn_file(argv[optind]))
        return snn_info(argv[optind], json);
    if (json) {
        fprintf(stderr, "ann2snn: info: --json describes .snn files; %s is not one\n", argv[optind]);
        return EXIT_BAD_INPUT;
    }
    snn_import_options io;
    snn_import_options_init(&io);
    io.optimize = optimize;
    snn_graph g;
    snn_diag diag;
    snn_status st = snn_onnx_load_file(argv[optind], &io, &g, &diag);
    if (st != SNN_OK)
        return cli_report(argv[optind], st, &diag);
    printf("%s: opset %lld, %d nodes, %d tensors\n", argv[optind], (long long)g.opset, g.n_nodes,
           g.n_tensors);
    for (int i = 0; i < g.n_inputs; i++) {
        printf("  input  %-24s ", g.tensors[g.inputs[i]].name);
        print_shape(&g.tensors[g.inputs[i]]);
        printf("\n");
    }
    for (int i = 0; i < g.n_nodes; i++) {
        const snn_node *n = &g.nodes[i];
        printf("  %-20s %-24s -> ", snn_op_name(n->op), n->name);
        print_shape(&g.tensors[n->outputs[0]]);
        printf("\n");
    }
    for (int i = 0; i < g.n_outputs; i++) {
        printf("  output %-24s ", g.tensors[g.outputs[i]].name);
        print_shape(&g.tensors[g.outputs[i]]);
        printf("\n");
    }
    if (g.has_preprocess)
        printf("  preprocess: x * %g - %g, / %g\n", (double)g.pre_scale, (double)g.pre_mean,
               (double)g.pre_std);
    snn_graph_free(&g);
    return 0;
}
