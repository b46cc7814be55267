/* ann2snn MODEL.onnx: convert an ONNX ReLU network into a .snn file, through the library
 * (api/ann2snn.h): the options go to it by their names, the samples through a callback. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/ann2snn.h"
#include "api/api_internal.h"
#include "base/parallel.h"
#include "cli_common.h"
#include "cli_mpi.h"
#include "commands.h"
#include "data/data.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ann2snn MODEL.onnx [options]\n"
            "\n"
            "Converts a ReLU network into a spiking network (.snn) for snn-run and the runtime.\n"
            "  -o, --output FILE        output file (default: MODEL.snn next to the model)\n"
            "      --calib FILE|DIR     calibration samples (IDX/.npy/.pb, or an image folder\n"
            "                           DIR/CLASS/IMAGE.png|jpg); without it, see --data-free\n"
            "      --data-free METHOD   without --calib: bn[=K] (the default: calibrate on 1000\n"
            "                           synthetic images of uniform noise with the layer-wise\n"
            "                           maximum, and a layer fed by a BatchNormalization node takes\n"
            "                           beta + K |gamma| of the BN instead, K = 6; Nagel et al.\n"
            "                           2019) | uniform (noise alone) | smooth (smoothed noise) |\n"
            "                           mix (half of each) | model (Diehl et al. 2015's bound from\n"
            "                           the weights alone)\n"
            "      --calib-count N      use the first N calibration samples (default 1000; of a\n"
            "                           folder, N spread over its sorted files)\n"
            "      --resize N, --crop N image folder: shorter side to N pixels, then the centre\n"
            "                           N x N (as ann2snn accuracy --help says)\n"
            "      --scale S, --mean M[,M...], --std D[,D...]\n"
            "                           preprocessing x = (raw * S - M) / D (default: the model's\n"
            "                           metadata, else 1/255 for uint8 data); M and D one value or\n"
            "                           one per input channel; stored in the file\n"
            "      --norm METHOD        max | percentile=P | channel=P | model | tsearch[=T] |\n"
            "                           tsearch-layer[=T]. tsearch: per channel (or layer) the\n"
            "                           scale whose T-step rate code best fits the activations (T\n"
            "                           from --calibrate-for, else 4, times the burst). Default:\n"
            "                           tsearch for float32 rate coding with --calib; channel=99.9\n"
            "                           (per-channel robust percentile) for integer files; max\n"
            "                           without --calib\n"
            "      --calibrate-for T    bias correction for T time steps: layer by layer, each\n"
            "                           channel's bias moves so that its mean rate over T steps\n"
            "                           matches the ANN's mean activation (Li et al. 2021)\n"
            "      --correct KIND       what --calibrate-for moves: bias (each channel's bias, the\n"
            "                           default) | potential (each neuron's initial membrane, by T\n"
            "                           thresholds times its difference; fades as 1/T at other T;\n"
            "                           float32 files only)\n"
            "      --correct-count N    calibration samples the bias correction runs (default 256)\n"
            "      --correct-rounds R   measure-and-shift rounds per layer (default 3; 1 as Li et al.)\n"
            "      --burst G            burst spikes: a neuron emits up to G spikes in one step\n"
            "                           (Li & Zeng 2022), its scale a G-th of its range, so that T\n"
            "                           steps resolve as finely as G T single-spike steps (every\n"
            "                           spike counts in spikes and synops); 1 to 16, default 4 for\n"
            "                           float32 rate coding with reset by subtraction, else 1\n"
            "      --reset MODE         subtract (default) | zero\n"
            "      --spikes MODE        signed (default with subtract): a neuron that has fired\n"
            "                           emits a -1 spike when its membrane falls below 0, so its\n"
            "                           count follows the ReLU of its summed input | positive\n"
            "                           (the classic integrate-and-fire neuron; the default with\n"
            "                           --reset zero or --coding ttfs)\n"
            "      --v-init F           initial membrane as a fraction of the threshold (default 0.5)\n");
    fprintf(f,
            "      --readout MODE       membrane (default) | spikes\n"
            "      --coding MODE        coding stored in the file: direct | poisson (rate coding)\n"
            "                           | ttfs (time-to-first-spike, one spike per neuron at most;\n"
            "                           default norm channel=100, the per-channel maximum)\n"
            "      --steps T            default time steps stored in the file (default 16 with\n"
            "                           bursts, else 64); with\n"
            "                           ttfs: steps per layer window, 0 for exact spike times\n"
            "                           (default 0)\n"
            "      --resolution R       the same as --steps, the name used for ttfs\n"
            "      --headroom F         multiply every hidden layer's scale by F >= 1, leaving room\n"
            "                           for values above the calibration set's (default 1)\n"
            "      --report FILE        write per-layer scales, thresholds and statistics as JSON\n"
            "      --precision P        float32 (default) | int16 | int8: integer files hold int16\n"
            "                           or int8 weights (per output channel) and int32 membranes,\n"
            "                           and run integer-only (rate coding; docs/snn-format.md)\n"
            "      --threads N          calibration workers (default: every core); the file is the\n"
            "                           same for every N\n"
            "      --reference-kernels  calibrate with the plain C kernels instead of BLAS: slower,\n"
            "                           and the file is the same on every machine (with BLAS, on\n"
            "                           every machine with the same CPU kind and OpenBLAS)\n"
            "  -h, --help               this help\n");
}

/* "ann2snn: [FILE: ]message" for a library failure; the exit code. */
static int report(const char *file, ann2snn_status st, const ann2snn_diag *d)
{
    fprintf(stderr, "ann2snn: ");
    if (file)
        fprintf(stderr, "%s: ", file);
    fprintf(stderr, "%s", d->message[0] ? d->message : ann2snn_status_name(st));
    if (d->offset >= 0)
        fprintf(stderr, " (at byte %lld)", (long long)d->offset);
    fputc('\n', stderr);
    return st == ANN2SNN_ERR_NOMEM ? EXIT_RUN_FAILED : EXIT_BAD_INPUT;
}

/* Print each line of the library's notes as "ann2snn: LINE". */
static void print_notes(const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(stderr, "ann2snn: %.*s\n", len, p);
        p += len + (nl != NULL);
    }
}

enum { OPT_LIBRARY = 0x300 }; /* an option the library parses, by its name */

int cmd_convert(int argc, char **argv)
{
#define LIB(NAME, ARG) {NAME, ARG, NULL, OPT_LIBRARY}
    static const struct option opts[] = {
        CLI_IMAGE_LONGOPTS,
        {"output", required_argument, NULL, 'o'}, {"calib", required_argument, NULL, 'c'},
        {"report", required_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
        LIB("calib-count", required_argument), LIB("scale", required_argument), LIB("mean", required_argument),
        LIB("std", required_argument), LIB("norm", required_argument), LIB("reset", required_argument),
        LIB("v-init", required_argument), LIB("readout", required_argument), LIB("coding", required_argument),
        LIB("steps", required_argument), LIB("resolution", required_argument), LIB("headroom", required_argument),
        LIB("spikes", required_argument), LIB("threads", required_argument), LIB("precision", required_argument),
        LIB("reference-kernels", no_argument), LIB("calibrate-for", required_argument),
        LIB("correct-count", required_argument), LIB("burst", required_argument), LIB("data-free", required_argument),
        LIB("correct-rounds", required_argument), LIB("correct", required_argument),
        {NULL, 0, NULL, 0},
    };
#undef LIB
    const char *out_path = NULL, *calib_path = NULL, *report_path = NULL;
    ann2snn_options o;
    ann2snn_options_init(&o);
    ann2snn_diag diag = {.offset = -1};
    snn_image_opts img = {0, 0, 0};
    int c, idx;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, &idx)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'c': calib_path = optarg; break;
        case 'j': report_path = optarg; break;
        case CLI_OPT_RESIZE: case CLI_OPT_CROP: if (!cli_image_opt(c, optarg, &img)) return EXIT_BAD_INPUT; break;
        case OPT_LIBRARY:
            if (ann2snn_options_set(&o, opts[idx].name, optarg, &diag) != ANN2SNN_OK)
                return report(NULL, ANN2SNN_ERR_ARGUMENT, &diag);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (ann2snn_options_check(&o, calib_path != NULL, &diag) != ANN2SNN_OK)
        return report(NULL, ANN2SNN_ERR_ARGUMENT, &diag); /* before any file is read */
    const char *model_path = argv[optind];
    char default_out[4096];
    if (!out_path) {
        size_t n = strlen(model_path);
        const char *dot = n > 5 && strcmp(model_path + n - 5, ".onnx") == 0 ? model_path + n - 5 : model_path + n;
        snprintf(default_out, sizeof default_out, "%.*s.snn", (int)(dot - model_path), model_path);
        out_path = default_out;
    }
    double t0 = cli_now_s();
    ann2snn_split split = cli_mpi_split();
    o.split = &split;
    double t_progress;
    cli_progress_hook(&o.progress, &o.progress_ctx, &t_progress);
    int rc = EXIT_BAD_INPUT;
    ann2snn_model *model = NULL;
    ann2snn_result res = {0};
    snn_dataset ds;
    memset(&ds, 0, sizeof ds);
    ann2snn_status st = ann2snn_model_load_file(model_path, &model, &diag);
    if (st != ANN2SNN_OK) {
        rc = report(model_path, st, &diag);
        goto done;
    }
    ann2snn_samples samples = {0}, *calib = NULL;
    if (calib_path) {
        snn_diag d;
        snn_diag_clear(&d);
        img.channels = cli_image_channels(&model->graph); /* an image folder is read as gray for a one-channel model */
        snn_status ds_st = cli_open_data(calib_path, &img, o.calib_count, &ds, NULL, &d);
        if (ds_st != SNN_OK) {
            rc = cli_report(calib_path, ds_st, &d);
            goto done;
        }
        samples = cli_samples_of(&ds);
        calib = &samples;
    }
    st = ann2snn_convert(model, calib, &o, &res, &diag);
    if (st != ANN2SNN_OK) {
        rc = report(model_path, st, &diag);
        goto done;
    }
    if (cli_mpi_root())
        print_notes(res.notes);
    if (!cli_mpi_root()) { /* rank 0 writes */
        rc = 0;
        goto done;
    }
    if ((st = ann2snn_write_file(out_path, res.bytes, res.size, &diag)) != ANN2SNN_OK) {
        rc = report(out_path, st, &diag);
        goto done;
    }
    if (report_path && ann2snn_write_file(report_path, res.report, strlen(res.report), &diag) != ANN2SNN_OK) {
        fprintf(stderr, "ann2snn: %s: cannot write the report\n", report_path);
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    printf("%s -> %s: %s; %.3f s (calibration %.3f s)\n", model_path, out_path, res.summary, cli_now_s() - t0,
           res.calib_seconds);
    rc = 0;
done:
    ann2snn_result_free(&res);
    ann2snn_model_free(model);
    snn_dataset_free(&ds);
    return rc;
}
