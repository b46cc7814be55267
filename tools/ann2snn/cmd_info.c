/* ann2snn info: describe an ONNX model (the imported graph) or a .snn file. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "onnx/onnx_import.h"

static void info_usage(FILE *f)
{
    fprintf(f, "Usage: ann2snn info MODEL.onnx [--no-optimize]\n"
               "Prints the imported graph: inputs, one line per node with output shape, outputs.\n");
}

static void print_shape(const snn_tensor *t)
{
    printf("(");
    for (int d = 0; d < t->rank; d++)
        printf(d ? ", %lld" : "%lld", (long long)t->dims[d]);
    printf(")");
}

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-optimize", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool optimize = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': optimize = false; break;
        case 'h': info_usage(stdout); return 0;
        default: info_usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1) {
        info_usage(stderr);
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
