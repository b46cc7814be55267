/* ann2snn eval: accuracy of a .snn file against time steps, with spikes and synaptic
 * operations, next to the ANN's accuracy, through the library (ann2snn_evaluate()): this reads
 * the files, passes the options by name, prints the table and writes the JSON and SVG. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ann2snn.h"
#include "base/fileio.h"
#include "cli_common.h"
#include "cli_mpi.h"
#include "commands.h"
#include "data/data.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ann2snn eval MODEL.snn --data FILE --labels FILE [options]\n"
            "\n"
            "Runs the SNN on every sample for T steps and prints accuracy, spikes per neuron and\n"
            "synaptic operations per inference at every power of two up to T.\n"
            "  -d, --data FILE|DIR   samples (IDX/.npy/.pb, or an image folder DIR/CLASS/IMAGE),\n"
            "                        raw: the file's preprocessing applies\n"
            "  -l, --labels FILE     class per sample (an image folder's are its CLASS names)\n"
            CLI_IMAGE_HELP
            "      --onnx MODEL.onnx ANN accuracy on the same samples (else the stored one)\n"
            "  -T, --steps T         time steps (default: the file's)\n"
            "      --coding MODE     direct | poisson | ttfs (default: the file's)\n"
            "  -r, --resolution R    ttfs: largest steps per layer window (default 64); the\n"
            "                        curve has every power of two up to R, and exact times\n"
            "      --seed S          Poisson generator seed (default 1)\n"
            "  -n, --limit N         use only the first N samples\n"
            "      --pj-ac E         energy of an accumulate, pJ (default 0.9: 45 nm, Horowitz 2014)\n"
            "      --pj-mac E        energy of a multiply-accumulate, pJ (default 4.6)\n"
            "      --threads N       worker threads (default: every core); the numbers are the\n"
            "                        same for every N (and under mpirun -n R for every R:\n"
            "                        docs/scale.md)\n"
            "      --exit RULE[=X,...]\n"
            "                        early exit (rate coding): besides the curve, run each\n"
            "                        sample only until its readout is decisive and report\n"
            "                        accuracy against mean steps for each threshold X; RULE\n"
            "                        confidence (largest softmax of the mean readout >= X;\n"
            "                        default X 0.5,0.6,0.7,0.8,0.9,0.95,0.99,0.999) or margin\n"
            "                        (top two outputs apart by >= X per step; default X\n"
            "                        0.01,0.02,0.05,0.1,0.2,0.5,1,2)\n"
            "      --layers          per spiking layer and point of the curve (rate coding, needs\n"
            "                        --onnx and a float32 file): the relative error between\n"
            "                        rate x scale and the ANN activation, and the fraction of\n"
            "                        neurons at their most spikes (saturated)\n"
            "      --json FILE       write the results as JSON (ann_accuracy, curve, layers,\n"
            "                        early_exit)\n"
            "      --plot FILE       write accuracy against time steps as SVG\n"
            "  -h, --help            this help\n");
}

/* "ann2snn: [FILE: ]message" for a library failure; the exit code. */
static int report(const char *file, ann2snn_status st, const ann2snn_diag *d)
{
    fprintf(stderr, "ann2snn: ");
    if (d->where[0])
        fprintf(stderr, "%s: ", d->where);
    else if (file)
        fprintf(stderr, "%s: ", file);
    fprintf(stderr, "%s", d->message[0] ? d->message : ann2snn_status_name(st));
    if (d->offset >= 0)
        fprintf(stderr, " (at byte %lld)", (long long)d->offset);
    fputc('\n', stderr);
    return st == ANN2SNN_ERR_NOMEM || st == ANN2SNN_ERR_IO ? EXIT_RUN_FAILED : EXIT_BAD_INPUT;
}

enum { OPT_LIBRARY = 0x300 }; /* an option the library parses, by its name */

int cmd_eval(int argc, char **argv)
{
#define LIB(NAME, ARG) {NAME, ARG, NULL, OPT_LIBRARY}
    static const struct option opts[] = {
        CLI_IMAGE_LONGOPTS,
        {"data", required_argument, NULL, 'd'}, {"labels", required_argument, NULL, 'l'},
        {"onnx", required_argument, NULL, 'o'}, {"limit", required_argument, NULL, 'n'},
        {"json", required_argument, NULL, 'j'}, {"plot", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        LIB("steps", required_argument), LIB("coding", required_argument), LIB("seed", required_argument),
        LIB("resolution", required_argument), LIB("threads", required_argument), LIB("pj-ac", required_argument),
        LIB("pj-mac", required_argument), LIB("exit", required_argument), LIB("layers", no_argument),
        {NULL, 0, NULL, 0},
    };
#undef LIB
    static const char *const short_names[128] = {['T'] = "steps", ['r'] = "resolution"};
    const char *data_path = NULL, *label_path = NULL, *onnx = NULL, *json = NULL, *plot = NULL;
    long long limit = -1;
    ann2snn_eval_options o;
    ann2snn_eval_options_init(&o);
    ann2snn_diag diag = {.offset = -1};
    snn_image_opts img = {0, 0, 0};
    int c, idx;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:T:n:r:h", opts, &idx)) != -1) {
        switch (c) {
        case 'd': data_path = optarg; break;
        case CLI_OPT_RESIZE: case CLI_OPT_CROP: if (!cli_image_opt(c, optarg, &img)) return EXIT_BAD_INPUT; break;
        case 'l': label_path = optarg; break;
        case 'o': onnx = optarg; break;
        case 'n': if (!cli_parse_long("--limit", optarg, 1, 1LL << 40, &limit)) return EXIT_BAD_INPUT; break;
        case 'j': json = optarg; break;
        case 'p': plot = optarg; break;
        case 'T': case 'r': case OPT_LIBRARY:
            if (ann2snn_eval_options_set(&o, c == OPT_LIBRARY ? opts[idx].name : short_names[c], optarg, &diag) !=
                ANN2SNN_OK)
                return report(NULL, ANN2SNN_ERR_ARGUMENT, &diag);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1 || !data_path || (!label_path && cli_needs_labels(data_path))) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    const char *path = argv[optind];
    int rc = EXIT_BAD_INPUT;
    uint8_t *file = NULL;
    size_t len = 0;
    snn_model *m = NULL;
    snn_dataset ds;
    snn_labels lb;
    memset(&ds, 0, sizeof ds);
    memset(&lb, 0, sizeof lb);
    ann2snn_model *ann = NULL;
    ann2snn_evaluation ev = {0};
    if ((rc = cli_load_snn(path, &file, &len, &m)) != 0)
        goto done;
    int64_t n;
    img.channels = m->input_c == 1 ? 1 : 3; /* an image folder is read as gray for a one-channel model */
    if ((rc = cli_load_labelled(data_path, label_path, &img, limit, &ds, &lb, &n)) != 0)
        goto done;
    rc = EXIT_BAD_INPUT;
    snn_diag d;
    if (snn_dataset_check_size(&ds, m->input_size, "the SNN", &d) != SNN_OK) {
        fprintf(stderr, "ann2snn: %s: %s\n", data_path, d.msg);
        goto done;
    }
    ann2snn_status st;
    if (onnx && (st = ann2snn_model_load_file(onnx, &ann, &diag)) != ANN2SNN_OK) {
        rc = report(onnx, st, &diag);
        goto done;
    }
    o.ann = ann;
    ann2snn_split split = cli_mpi_split();
    o.split = &split;
    double t0;
    cli_progress_hook(&o.progress, &o.progress_ctx, &t0);
    ann2snn_samples x = cli_samples_of(&ds);
    x.n = n;
    if ((st = ann2snn_evaluate(file, len, path, &x, lb.y, &o, &ev, &diag)) != ANN2SNN_OK) {
        rc = report(path, st, &diag);
        goto done;
    }
    rc = 0;
    if (!cli_mpi_root()) /* rank 0 prints and writes */
        goto done;
    fputs(ev.table, stdout);
    if (json && ann2snn_write_file(json, ev.json, strlen(ev.json), &diag) != ANN2SNN_OK) {
        fprintf(stderr, "ann2snn: %s: cannot write\n", json);
        rc = EXIT_RUN_FAILED;
    }
    if (plot && ann2snn_write_file(plot, ev.svg, strlen(ev.svg), &diag) != ANN2SNN_OK) {
        fprintf(stderr, "ann2snn: %s: cannot write\n", plot);
        rc = EXIT_RUN_FAILED;
    }
done:
    ann2snn_evaluation_free(&ev);
    ann2snn_model_free(ann);
    free(m);
    free(file);
    snn_dataset_free(&ds);
    snn_labels_free(&lb);
    return rc;
}
