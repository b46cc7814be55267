/* ann2snn accuracy: the ANN's accuracy on a labelled data set, by the reference evaluator. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/parallel.h"
#include "cli_common.h"
#include "cli_mpi.h"
#include "commands.h"
#include "data/data.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ann2snn accuracy MODEL.onnx --data FILE --labels FILE [options]\n"
            "       ann2snn accuracy MODEL.onnx --data IMAGE_DIR [--resize N] [--crop N] [options]\n"
            "\n"
            "Classifies every sample with the float evaluator and prints the accuracy.\n"
            "Data: IDX (.gz or plain), .npy or .pb; labels likewise.\n"
            "  -d, --data FILE|DIR    samples; the leading dimension counts them; or an image\n"
            "                         folder DIR/CLASS/IMAGE.png|jpg (labels: sorted CLASS names)\n"
            "  -l, --labels FILE      class index per sample (not with an image folder)\n"
            CLI_IMAGE_HELP
            "      --scale S          multiply raw values by S (default: the model's metadata,\n"
            "                         else 1/255 for uint8 data and 1 otherwise)\n"
            "      --mean M[,M...]    subtract M after scaling, one value or one per input channel\n"
            "                         (default: metadata, else 0)\n"
            "      --std D[,D...]     divide by D after that, likewise (default: metadata, else 1)\n"
            "  -n, --limit N          use only the first N samples\n"
            "      --reference FILE   predictions to compare with (.npy/.idx of class indices,\n"
            "                         e.g. PyTorch's); prints the agreement rate\n"
            "      --save-pred FILE   write our predictions as IDX uint8\n"
            "      --threads N        worker threads (default: every core)\n"
            "      --batch B          samples per evaluation (default 1); needs a symbolic batch\n"
            "                         dimension in the model, else runs one at a time\n"
            "      --reference-kernels\n"
            "                         plain C kernels instead of BLAS for Conv, Gemm, MatMul\n"
            "  -h, --help             this help\n");
}

/* Predictions as a 1-D IDX uint8 file; pred has 8 bytes of room in front for the header. */
static snn_status save_predictions(const char *path, uint8_t *buf, int64_t n, snn_diag *diag)
{
    uint8_t hdr[8] = {0, 0, 0x08, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                      (uint8_t)n};
    memcpy(buf, hdr, sizeof hdr);
    return snn_file_write_atomic(path, buf, (size_t)n + 8, diag);
}

int cmd_accuracy(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_IMAGE_LONGOPTS,
        {"data", required_argument, NULL, 'd'},   {"labels", required_argument, NULL, 'l'},
        {"scale", required_argument, NULL, 's'},  {"mean", required_argument, NULL, 'm'},
        {"std", required_argument, NULL, 'S'},    {"limit", required_argument, NULL, 'n'},
        {"reference", required_argument, NULL, 'r'}, {"save-pred", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 'W'}, {"batch", required_argument, NULL, 'B'},
        {"reference-kernels", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *data_path = NULL, *label_path = NULL, *ref_path = NULL, *save_path = NULL;
    cli_prep_opts prep;
    cli_prep_opts_init(&prep);
    long long limit = -1, threads = snn_cpu_count(), batch = 1;
    bool reference = false;
    snn_image_opts img = {0, 0, 0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data_path = optarg; break;
        case CLI_OPT_RESIZE: case CLI_OPT_CROP: if (!cli_image_opt(c, optarg, &img)) return EXIT_BAD_INPUT; break;
        case 'l': label_path = optarg; break;
        case 's': case 'm': case 'S': if (!cli_prep_opt(&prep, c, optarg)) return EXIT_BAD_INPUT; break;
        case 'n': if (!cli_parse_long("--limit", optarg, 1, 1LL << 40, &limit)) return EXIT_BAD_INPUT; break;
        case 'r': ref_path = optarg; break;
        case 'W': if (!cli_parse_long("--threads", optarg, 1, SNN_MAX_THREADS, &threads)) return EXIT_BAD_INPUT; break;
        case 'p': save_path = optarg; break;
        case 'B': if (!cli_parse_long("--batch", optarg, 1, 4096, &batch)) return EXIT_BAD_INPUT; break;
        case 'K': reference = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1 || !data_path || (!label_path && cli_needs_labels(data_path))) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    const char *model = argv[optind];
    int rc = EXIT_BAD_INPUT;
    snn_diag diag;
    snn_diag_clear(&diag);
    snn_graph g;
    snn_dataset ds;
    snn_labels lb, ref;
    uint8_t *idx = NULL;
    int32_t *pred = NULL;
    snn_graph_init(&g);
    memset(&ds, 0, sizeof ds);
    memset(&lb, 0, sizeof lb);
    memset(&ref, 0, sizeof ref);
    double t0 = cli_now_s();
    snn_status st = snn_onnx_load_file(model, NULL, &g, &diag);
    if (st != SNN_OK) {
        rc = cli_report(model, st, &diag);
        goto done;
    }
    int64_t n;
    img.channels = cli_image_channels(&g); /* an image folder is read as gray for a one-channel model */
    if ((rc = cli_load_labelled(data_path, label_path, &img, limit, &ds, &lb, &n)) != 0)
        goto done;
    rc = EXIT_BAD_INPUT;
    if (ref_path && (st = snn_labels_read(ref_path, &ref, &diag)) != SNN_OK) {
        rc = cli_report(ref_path, st, &diag);
        goto done;
    }
    double t_load = cli_now_s() - t0;
    if (ref_path && ref.n < n) {
        fprintf(stderr, "ann2snn: %s: %lld reference predictions for %lld samples\n", ref_path,
                (long long)ref.n, (long long)n);
        goto done;
    }
    snn_preprocess pp;
    if (!cli_pick_preprocess(&prep, &g, ds.from_uint8, &pp))
        goto done;
    pred = malloc((size_t)n * sizeof *pred); /* (n) class per sample */
    idx = malloc((size_t)n + 8);             /* (8 + n): IDX header, then the classes as uint8 */
    if (!pred || !idx) {
        fprintf(stderr, "ann2snn: out of memory\n");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    double t1 = cli_now_s();
    cli_ann_opts ao = {.threads = (int)threads, .batch = (int)batch, .reference = reference};
    if ((rc = cli_ann_classify(model, &g, &ds, n, &pp, &ao, pred)) != 0)
        goto done;
    rc = EXIT_BAD_INPUT;
    int64_t correct = 0, agree = 0;
    for (int64_t i = 0; i < n; i++) {
        idx[8 + i] = (uint8_t)pred[i];
        correct += pred[i] == lb.y[i];
        if (ref_path)
            agree += pred[i] == ref.y[i];
    }
    double t_eval = cli_now_s() - t1;
    if (!cli_mpi_root()) { /* rank 0 prints and writes */
        rc = 0;
        goto done;
    }
    printf("model      %s\n", model);
    printf("samples    %lld\n", (long long)n);
    printf("preprocess x * %g - %g, / %g\n", (double)pp.scale, (double)pp.mean, (double)pp.std);
    printf("accuracy   %.2f %% (%lld / %lld)\n", n ? 100.0 * (double)correct / (double)n : 0.0,
           (long long)correct, (long long)n);
    if (ref_path)
        printf("agreement  %.2f %% with %s (%lld / %lld)\n", n ? 100.0 * (double)agree / (double)n : 0.0,
               ref_path, (long long)agree, (long long)n);
    printf("time       load %.3f s, evaluate %.3f s (%.0f samples/s)\n", t_load, t_eval,
           t_eval > 0 ? (double)n / t_eval : 0.0);
    if (save_path && (st = save_predictions(save_path, idx, n, &diag)) != SNN_OK) {
        rc = cli_report(save_path, st, &diag);
        goto done;
    }
    rc = 0;
done:
    free(idx);
    free(pred);
    snn_graph_free(&g);
    snn_dataset_free(&ds);
    snn_labels_free(&lb);
    snn_labels_free(&ref);
    return rc;
}
