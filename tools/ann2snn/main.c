/* ann2snn: the converter's command-line front end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "cli_mpi.h"
#include "eval/kernels.h"
#include "commands.h"

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
            "  info MODEL.onnx|MODEL.snn       the imported graph, or the .snn file's layers\n"
            "  infer MODEL.onnx IN.pb... -o DIR\n"
            "                                  run the float reference evaluator; write each graph\n"
            "                                  output as DIR/output_K.pb (ONNX TensorProto)\n"
            "  accuracy MODEL.onnx --data FILE --labels FILE\n"
            "                                  ANN accuracy of the model on a labelled data set\n"
            "  export-c MODEL.snn -o DIR       a self-contained C project for a device: the model\n"
            "                                  as const data, the runtime, an example, a Makefile\n"
            "\n"
            "Run 'ann2snn COMMAND --help' for a command's options.\n"
            "  -h, --help       this help\n"
            "  -V, --version    print the version\n"
            "\n"
            "Exit status: 0 success, 1 the run failed, 2 bad input or usage.\n");
}

static int run_command(int argc, char **argv)
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
        printf("ann2snn %s (BLAS evaluator: %s; MPI: %s)\n", ANN2SNN_VERSION,
               snn_blas_available() ? "OpenBLAS" : "no", cli_mpi_available() ? "yes" : "no");
        return 0;
    }
    if (strcmp(cmd, "infer") == 0)
        return cmd_infer(argc - 1, argv + 1);
    if (strcmp(cmd, "accuracy") == 0)
        return cmd_accuracy(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "export-c") == 0)
        return cmd_export_c(argc - 1, argv + 1);
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

int main(int argc, char **argv)
{
    cli_mpi_init(&argc, &argv);
    int status = run_command(argc, argv);
    fflush(stdout);
    cli_mpi_finish(status);
    return status;
}
