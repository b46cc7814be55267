/* ann2snn MODEL.onnx: convert an ONNX ReLU network into a .snn file. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/parallel.h"
#include "calib.h"
#include "cli_common.h"
#include "cli_mpi.h"
#include "commands.h"
#include "correct/correct.h"
#include "data/data.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "proto/tensorproto.h"
#include "snn_net.h"

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

/* The largest |(b * scale - mean) / std| over raw bytes b in 0..255 and every channel. */
static float raw_byte_absmax(const snn_preprocess *pp)
{
    int nc = pp->channels > 1 ? pp->channels : 1;
    float m = 0.0f;
    for (int k = 0; k < nc; k++) {
        float mean = pp->channels > 1 ? pp->mean_c[k] : pp->mean, std = pp->channels > 1 ? pp->std_c[k] : pp->std;
        m = fmaxf(m, fmaxf(fabsf((255.0f * pp->scale - mean) / std), fabsf(mean / std)));
    }
    return m;
}

static int parse_norm(const char *s, snn_build_opts *o)
{
    char *end;
    if (strcmp(s, "max") == 0) {
        o->norm = SNN_NORM_MAX;
        return 1;
    }
    if (strcmp(s, "model") == 0) {
        o->norm = SNN_NORM_MODEL;
        return 1;
    }
    const char *eq = strchr(s, '=');
    size_t name_len = eq ? (size_t)(eq - s) : strlen(s);
    if ((name_len == 7 && strncmp(s, "tsearch", 7) == 0) || (name_len == 13 && strncmp(s, "tsearch-layer", 13) == 0)) {
        o->norm = name_len == 7 ? SNN_NORM_TSEARCH : SNN_NORM_TSEARCH_LAYER;
        if (!eq)
            return 1; /* T from --calibrate-for, else the default */
        long t = strtol(eq + 1, &end, 10);
        if (end == eq + 1 || *end || t < 1 || t > 4096)
            return 0;
        o->target_steps = (uint32_t)t;
        return 2; /* T given */
    }
    if (strncmp(s, "percentile", 10) == 0)
        o->norm = SNN_NORM_PERCENTILE;
    else if (strncmp(s, "channel", 7) == 0)
        o->norm = SNN_NORM_CHANNEL;
    else
        return 0;
    if (!eq)
        return (s[o->norm == SNN_NORM_CHANNEL ? 7 : 10] == '\0');
    double p = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || !(p > 0 && p <= 100))
        return 0;
    o->percentile = p;
    return 1;
}

static int sha256_file(const char *path, uint8_t out[32])
{
    uint8_t *buf;
    size_t len;
    snn_diag d;
    if (snn_file_read_all(path, SNN_PROTO_MAX_BYTES, &buf, &len, &d) != SNN_OK)
        return 0;
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, buf);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
    free(buf);
    return 1;
}

static const char *norm_name(uint32_t n)
{
    static const char *const names[] = {"model", "max", "percentile", "channel", "tsearch", "tsearch-layer"};
    return n < sizeof names / sizeof names[0] ? names[n] : "?";
}

static int write_report(const char *path, const snn_net *net, const snn_graph *g,
                        const calib_stats *cs, const char *model)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "norm", norm_name(net->norm));
    cJSON_AddNumberToObject(root, "percentile", (double)net->percentile);
    cJSON_AddNumberToObject(root, "calibration_samples", net->calib_count);
    cJSON_AddStringToObject(root, "reset", net->reset == SNN_RESET_SUBTRACT ? "subtract" : "zero");
    cJSON_AddStringToObject(root, "spikes", net->signed_spikes ? "signed" : "positive");
    cJSON_AddNumberToObject(root, "v_init", (double)net->v_init);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    static const char *const kinds[] = {"?", "neuron", "maxpool", "concat"};
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const net_layer *L = &net->layers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", L->name);
        cJSON_AddStringToObject(o, "kind", kinds[L->kind <= 3 ? L->kind : 0]);
        cJSON_AddBoolToObject(o, "output", (L->flags & SNN_LAYER_F_OUTPUT) != 0);
        int shape[3] = {(int)L->c, (int)L->h, (int)L->w};
        cJSON_AddItemToObject(o, "shape", cJSON_CreateIntArray(shape, 3));
        cJSON_AddNumberToObject(o, "projections", L->proj_count);
        if (L->lambda) {
            float lo = INFINITY, hi = 0;
            for (uint32_t c = 0; c < L->c; c++) {
                lo = fminf(lo, L->lambda[c]);
                hi = fmaxf(hi, L->lambda[c]);
            }
            cJSON_AddNumberToObject(o, "scale_min", (double)lo);
            cJSON_AddNumberToObject(o, "scale_max", (double)hi);
            if (L->c <= 1024)
                cJSON_AddItemToObject(o, "scale", cJSON_CreateFloatArray(L->lambda, (int)L->c));
        }
        if (L->threshold)
            cJSON_AddNumberToObject(o, "threshold", (double)L->threshold[0]);
        if (cs && L->tensor >= 0 && cs->t[L->tensor].channels) {
            cJSON *st = cJSON_AddObjectToObject(o, "calibration");
            cJSON_AddStringToObject(st, "tensor", g->tensors[L->tensor].name);
            cJSON_AddNumberToObject(st, "max", (double)calib_max(cs, L->tensor, -1));
            cJSON_AddNumberToObject(st, "p99", (double)calib_percentile(cs, L->tensor, -1, 99.0));
            cJSON_AddNumberToObject(st, "p99_9", (double)calib_percentile(cs, L->tensor, -1, 99.9));
            cJSON_AddNumberToObject(st, "p99_99", (double)calib_percentile(cs, L->tensor, -1, 99.99));
            uint64_t pos = 0, tot = 0;
            for (int c = 0; c < cs->t[L->tensor].channels; c++) {
                pos += cs->t[L->tensor].n_pos[c];
                tot += cs->t[L->tensor].n_total[c];
            }
            cJSON_AddNumberToObject(st, "positive_fraction", tot ? (double)pos / (double)tot : 0.0);
        }
        cJSON_AddItemToArray(layers, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    snn_diag d;
    snn_status st = text ? snn_file_write_atomic(path, text, strlen(text), &d) : SNN_ERR_NOMEM;
    free(text);
    return st == SNN_OK;
}

/* TTFS is exact up to values beyond a layer's window (clipped to it). Say where calibration
 * saw that, and how often. */
static void warn_ttfs_clipping(const snn_net *net, const calib_stats *cs, const snn_graph *g)
{
    for (uint32_t i = 0; i < net->n_layers; i++) {
        const net_layer *L = &net->layers[i];
        if (L->kind != SNN_LAYER_NEURON || (L->flags & SNN_LAYER_F_OUTPUT) || !L->lambda || L->tensor < 0 ||
            !cs->t[L->tensor].channels)
            continue;
        double above = 0.0;
        if (cs->t[L->tensor].channels == (int)L->c) /* each channel against its own window */
            for (uint32_t c = 0; c < L->c; c++)
                above += calib_fraction_above(cs, L->tensor, (int)c, L->lambda[c]) / L->c;
        else
            above = calib_fraction_above(cs, L->tensor, -1, L->lambda[0]);
        if (above > 0.0)
            fprintf(stderr, "ann2snn: TTFS layer '%s' (%s): up to %.4f %% of the calibration activations "
                            "exceed its window and are clipped; the mapping is exact for the rest\n",
                    L->name, g->tensors[L->tensor].name, 100.0 * above);
    }
}

/* Calibration split over workers (base/parallel.h): each runs the float evaluator on its
 * own range of samples into statistics of its own, which the caller merges in worker order;
 * maxima and counts merge exactly, so the .snn bytes are the same for every thread count. */
typedef struct {
    const snn_graph *g;
    const snn_dataset *ds;
    const snn_preprocess *pp;
    int64_t n;
    int workers;
    bool reference; /* plain C kernels instead of BLAS */
    calib_stats stats[SNN_MAX_THREADS]; /* per worker */
    float lo[SNN_MAX_THREADS], hi[SNN_MAX_THREADS]; /* per worker: the preprocessed input's range */
    snn_status st[SNN_MAX_THREADS];
    snn_diag diag[SNN_MAX_THREADS];
    _Atomic int64_t done;
    bool tty;
    double t0;
} calib_run;

static void calib_worker(void *arg, int w)
{
    calib_run *r = arg;
    int64_t begin, end;
    cli_mpi_worker_range(r->n, r->workers, w, &begin, &end);
    r->lo[w] = INFINITY, r->hi[w] = -INFINITY;
    snn_eval ev;
    memset(&ev, 0, sizeof ev);
    float *x = malloc((size_t)r->ds->sample_size * sizeof *x);
    r->st[w] = !x ? snn_diag_set(&r->diag[w], SNN_ERR_NOMEM, "out of memory") : SNN_OK;
    if (r->st[w] == SNN_OK)
        r->st[w] = calib_init(&r->stats[w], r->g, &r->diag[w]);
    if (r->st[w] == SNN_OK)
        r->st[w] = snn_eval_init(&ev, r->g, &r->diag[w]);
    if (r->st[w] == SNN_OK)
        snn_eval_use_reference(&ev, r->reference);
    for (int64_t i = begin; i < end && r->st[w] == SNN_OK; i++) {
        if ((r->st[w] = snn_preprocess_sample(r->ds, i, r->pp, x, &r->diag[w])) != SNN_OK)
            break;
        for (int64_t k = 0; k < r->ds->sample_size; k++) {
            r->lo[w] = fminf(r->lo[w], x[k]);
            r->hi[w] = fmaxf(r->hi[w], x[k]);
        }
        const float *feed[1] = {x};
        if ((r->st[w] = snn_eval_run(&ev, feed, &r->diag[w])) != SNN_OK)
            break;
        calib_add(&r->stats[w], &ev);
        int64_t d = ++r->done;
        if (w == 0 && r->tty && d % 50 == 0 && d < r->n)
            cli_progress("calibration", d, r->n, r->t0);
    }
    free(x);
    snn_eval_free(&ev);
}

/* Calibration samples for the bias correction, preprocessed. */
typedef struct {
    const snn_dataset *ds;
    const snn_preprocess *pp;
} sample_source;

static snn_status preprocessed_sample(void *ctx, int64_t i, float *x, snn_diag *diag)
{
    const sample_source *src = ctx;
    return snn_preprocess_sample(src->ds, i, src->pp, x, diag);
}

/* Every MPI rank's statistics and input range merged into each rank's copy, as calib_merge()
 * merges workers: maxima and counts, so the result is exactly one process's. */
static void reduce_calib_ranks(calib_stats *cs, float *in_lo, float *in_hi)
{
    if (cli_mpi_size() == 1)
        return;
    for (int i = 0; i < cs->g->n_tensors; i++) {
        calib_tensor *t = &cs->t[i];
        if (!t->channels)
            continue;
        cli_mpi_max_f32(t->max, t->channels);
        cli_mpi_sum_u64(t->n_pos, t->channels);
        cli_mpi_sum_u64(t->n_total, t->channels);
        cli_mpi_sum_u32(t->hist, (int64_t)t->channels * CALIB_BINS);
    }
    cli_mpi_sum_i64(&cs->samples, 1);
    cli_mpi_min_f32(in_lo, 1);
    cli_mpi_max_f32(in_hi, 1);
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_IMAGE_LONGOPTS,
        {"output", required_argument, NULL, 'o'}, {"calib", required_argument, NULL, 'c'},
        {"calib-count", required_argument, NULL, 'n'}, {"scale", required_argument, NULL, 's'},
        {"mean", required_argument, NULL, 'm'}, {"std", required_argument, NULL, 'S'},
        {"norm", required_argument, NULL, 'N'}, {"reset", required_argument, NULL, 'r'},
        {"v-init", required_argument, NULL, 'v'}, {"readout", required_argument, NULL, 'R'},
        {"coding", required_argument, NULL, 'C'}, {"steps", required_argument, NULL, 'T'},
        {"resolution", required_argument, NULL, 'T'}, {"headroom", required_argument, NULL, 'H'},
        {"report", required_argument, NULL, 'j'}, {"spikes", required_argument, NULL, 'P'},
        {"threads", required_argument, NULL, 'W'}, {"help", no_argument, NULL, 'h'},
        {"precision", required_argument, NULL, 'Q'}, {"reference-kernels", no_argument, NULL, 'K'},
        {"calibrate-for", required_argument, NULL, 'F'}, {"correct-count", required_argument, NULL, 'k'},
        {"burst", required_argument, NULL, 'B'}, {"data-free", required_argument, NULL, 'D'}, {"correct-rounds", required_argument, NULL, 'G'},
        {"correct", required_argument, NULL, 'X'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = NULL, *calib_path = NULL, *report = NULL;
    long long calib_count = 1000, steps = -1, threads = snn_cpu_count();
    long long correct_for = 0, correct_count = 256, correct_rounds = 3;
    int norm_set = 0, spikes_set = 0, tsearch_t_set = 0, burst_set = 0, correct_set = 0;
    bool potential = false; /* --correct potential */
    int data_free = SNN_CALIB_SYNTH_UNIFORM; /* SNN_CALIB_* without --calib; SNN_CALIB_DATA: model-based */
    float bn_prior_k = SNN_DEFAULT_BN_PRIOR_K; /* without --calib: BN statistics where there are some */
    bool reference = false;
    uint32_t precision = SNN_DTYPE_F32;
    cli_prep_opts prep;
    cli_prep_opts_init(&prep);
    snn_build_opts bo;
    snn_build_opts_init(&bo);
    snn_image_opts img = {0, 0, 0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'W': if (!cli_parse_long("--threads", optarg, 1, SNN_MAX_THREADS, &threads)) return EXIT_BAD_INPUT; break;
        case 'c': calib_path = optarg; break;
        case 'K': reference = true; break;
        case CLI_OPT_RESIZE: case CLI_OPT_CROP: if (!cli_image_opt(c, optarg, &img)) return EXIT_BAD_INPUT; break;
        case 'n': if (!cli_parse_long("--calib-count", optarg, 1, 1LL << 30, &calib_count)) return EXIT_BAD_INPUT; break;
        case 's': case 'm': case 'S': if (!cli_prep_opt(&prep, c, optarg)) return EXIT_BAD_INPUT; break;
        case 'N':
            norm_set = 1;
            if (!(tsearch_t_set = parse_norm(optarg, &bo))) {
                fprintf(stderr, "ann2snn: --norm: '%s' is not max, percentile=P, channel=P, model, tsearch[=T] "
                                "or tsearch-layer[=T] (0 < P <= 100, 1 <= T <= 4096)\n", optarg);
                return EXIT_BAD_INPUT;
            }
            tsearch_t_set = tsearch_t_set == 2;
            break;
        case 'F': if (!cli_parse_long("--calibrate-for", optarg, 1, 4096, &correct_for)) return EXIT_BAD_INPUT; break;
        case 'D':
            bn_prior_k = 0.0f;
            if (strcmp(optarg, "mix") == 0) data_free = SNN_CALIB_SYNTH_MIX;
            else if (strcmp(optarg, "uniform") == 0) data_free = SNN_CALIB_SYNTH_UNIFORM;
            else if (strcmp(optarg, "smooth") == 0) data_free = SNN_CALIB_SYNTH_SMOOTH;
            else if (strcmp(optarg, "model") == 0) data_free = SNN_CALIB_DATA;
            else if (strncmp(optarg, "bn", 2) == 0 && (optarg[2] == '\0' || optarg[2] == '=')) {
                data_free = SNN_CALIB_SYNTH_UNIFORM; /* for the layers without BN */
                bn_prior_k = SNN_DEFAULT_BN_PRIOR_K;
                if (optarg[2] == '=' && (!cli_parse_float("--data-free bn=K", optarg + 3, &bn_prior_k) ||
                                         !(bn_prior_k > 0.0f && bn_prior_k <= 100.0f))) {
                    fprintf(stderr, "ann2snn: --data-free bn=K: K must be in (0, 100]\n");
                    return EXIT_BAD_INPUT;
                }
            }
            else { fprintf(stderr, "ann2snn: --data-free: '%s' is not uniform, smooth, mix, bn[=K] or model\n", optarg); return EXIT_BAD_INPUT; }
            break;
        case 'B': {
            long long g;
            if (!cli_parse_long("--burst", optarg, 1, SNN_MAX_BURST, &g)) return EXIT_BAD_INPUT;
            bo.burst = (uint32_t)g;
            burst_set = 1;
            break;
        }
        case 'k': if (!cli_parse_long("--correct-count", optarg, 1, 1LL << 30, &correct_count)) return EXIT_BAD_INPUT; break;
        case 'G': if (!cli_parse_long("--correct-rounds", optarg, 1, 16, &correct_rounds)) return EXIT_BAD_INPUT; break;
        case 'X':
            correct_set = 1;
            if (strcmp(optarg, "bias") == 0) potential = false;
            else if (strcmp(optarg, "potential") == 0) potential = true;
            else { fprintf(stderr, "ann2snn: --correct: '%s' is not bias or potential\n", optarg); return EXIT_BAD_INPUT; }
            break;
        case 'r':
            if (strcmp(optarg, "subtract") == 0) bo.reset = SNN_RESET_SUBTRACT;
            else if (strcmp(optarg, "zero") == 0) bo.reset = SNN_RESET_ZERO;
            else { fprintf(stderr, "ann2snn: --reset: '%s' is not subtract or zero\n", optarg); return EXIT_BAD_INPUT; }
            break;
        case 'P':
            spikes_set = 1;
            if (strcmp(optarg, "signed") == 0) bo.signed_spikes = 1;
            else if (strcmp(optarg, "positive") == 0) bo.signed_spikes = 0;
            else { fprintf(stderr, "ann2snn: --spikes: '%s' is not signed or positive\n", optarg); return EXIT_BAD_INPUT; }
            break;
        case 'v':
            if (!cli_parse_float("--v-init", optarg, &bo.v_init)) return EXIT_BAD_INPUT;
            if (!(bo.v_init >= 0 && bo.v_init <= 1)) { fprintf(stderr, "ann2snn: --v-init must be in [0, 1]\n"); return EXIT_BAD_INPUT; }
            break;
        case 'R':
            if (strcmp(optarg, "membrane") == 0) bo.readout = SNN_READOUT_MEMBRANE;
            else if (strcmp(optarg, "spikes") == 0) bo.readout = SNN_READOUT_SPIKES;
            else { fprintf(stderr, "ann2snn: --readout: '%s' is not membrane or spikes\n", optarg); return EXIT_BAD_INPUT; }
            break;
        case 'C':
            if (!cli_parse_coding(optarg, &bo.coding)) return EXIT_BAD_INPUT;
            break;
        case 'T': if (!cli_parse_long("--steps", optarg, 0, 1 << 20, &steps)) return EXIT_BAD_INPUT; break;
        case 'j': report = optarg; break;
        case 'H':
            if (!cli_parse_float("--headroom", optarg, &bo.headroom)) return EXIT_BAD_INPUT;
            if (!(bo.headroom >= 1.0f && bo.headroom <= 1000.0f)) { fprintf(stderr, "ann2snn: --headroom must be in [1, 1000]\n"); return EXIT_BAD_INPUT; }
            break;
        case 'Q':
            if (strcmp(optarg, "float32") == 0) precision = SNN_DTYPE_F32;
            else if (strcmp(optarg, "int16") == 0) precision = SNN_DTYPE_I16;
            else if (strcmp(optarg, "int8") == 0) precision = SNN_DTYPE_I8;
            else { fprintf(stderr, "ann2snn: --precision: '%s' is not float32, int16 or int8\n", optarg); return EXIT_BAD_INPUT; }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (bo.burst > 1 && (bo.coding == SNN_CODING_TTFS || precision != SNN_DTYPE_F32 || bo.reset != SNN_RESET_SUBTRACT)) {
        fprintf(stderr, "ann2snn: --burst needs float32 rate coding with --reset subtract\n");
        return EXIT_BAD_INPUT;
    }
    if (correct_set && !correct_for) {
        fprintf(stderr, "ann2snn: --correct chooses what --calibrate-for T corrects; give that too\n");
        return EXIT_BAD_INPUT;
    }
    if (potential && precision != SNN_DTYPE_F32) {
        fprintf(stderr, "ann2snn: --correct potential needs --precision float32 (integer files keep one initial "
                        "membrane per channel)\n");
        return EXIT_BAD_INPUT;
    }
    if (correct_for && !tsearch_t_set)
        bo.target_steps = (uint32_t)correct_for; /* tsearch fits the T that the biases are corrected for */
    bool synthetic = !calib_path && data_free != SNN_CALIB_DATA;
    if (synthetic)
        bo.bn_prior_k = bn_prior_k; /* data-free only: with --calib the samples decide */
    if (correct_for && (bo.coding == SNN_CODING_TTFS || (!calib_path && !synthetic))) {
        fprintf(stderr, "ann2snn: --calibrate-for needs rate coding and calibration samples (--calib, or "
                        "synthetic ones)\n");
        return EXIT_BAD_INPUT;
    }
    if (bo.signed_spikes && (bo.coding == SNN_CODING_TTFS || bo.reset != SNN_RESET_SUBTRACT)) {
        if (spikes_set) {
            fprintf(stderr, "ann2snn: --spikes signed needs rate coding with --reset subtract\n");
            return EXIT_BAD_INPUT;
        }
        bo.signed_spikes = 0;
    }
    if (bo.coding == SNN_CODING_TTFS && precision != SNN_DTYPE_F32) {
        fprintf(stderr, "ann2snn: --precision int16/int8 files are rate-coded; TTFS runs in float32\n");
        return EXIT_BAD_INPUT;
    }
    /* The low-latency defaults (snn_net.h) for the files that can burst: float32, rate coding,
     * reset by subtraction. Integer and TTFS files keep the plain neuron. */
    bool can_burst = bo.coding != SNN_CODING_TTFS && precision == SNN_DTYPE_F32 && bo.reset == SNN_RESET_SUBTRACT;
    if (can_burst && !burst_set)
        bo.burst = SNN_DEFAULT_BURST;
    if (can_burst && !norm_set && calib_path)
        bo.norm = SNN_DEFAULT_NORM;
    if (bo.coding == SNN_CODING_TTFS) {
        if (!norm_set) { /* no clipping where calibration reaches: exact on those values */
            bo.norm = SNN_NORM_CHANNEL;
            bo.percentile = 100.0;
        }
        if (bo.readout != SNN_READOUT_MEMBRANE) {
            fprintf(stderr, "ann2snn: --readout spikes: a TTFS network reads out the membrane\n");
            return EXIT_BAD_INPUT;
        }
        steps = steps < 0 ? 0 : steps;
    } else if (steps == 0) {
        fprintf(stderr, "ann2snn: --steps 0 (exact spike times) needs --coding ttfs\n");
        return EXIT_BAD_INPUT;
    }
    bo.steps = (uint32_t)(steps < 0 ? (bo.burst > 1 ? SNN_DEFAULT_BURST_STEPS : 64) : steps);
    const char *model = argv[optind];
    char default_out[4096];
    if (!out_path) {
        size_t n = strlen(model);
        const char *dot = n > 5 && strcmp(model + n - 5, ".onnx") == 0 ? model + n - 5 : model + n;
        snprintf(default_out, sizeof default_out, "%.*s.snn", (int)(dot - model), model);
        out_path = default_out;
    }
    double t0 = cli_now_s();
    float input_absmax = 0.0f; /* the largest |preprocessed input| an integer file represents */
    int rc = EXIT_BAD_INPUT;
    snn_diag diag;
    snn_diag_clear(&diag);
    snn_graph g;
    snn_dataset ds;
    calib_stats cs;
    snn_net net;
    memset(&ds, 0, sizeof ds);
    memset(&cs, 0, sizeof cs);
    memset(&net, 0, sizeof net);
    snn_status st = snn_onnx_load_file(model, NULL, &g, &diag);
    if (st != SNN_OK) {
        rc = cli_report(model, st, &diag);
        goto done;
    }
    snn_preprocess pp = {.scale = g.pre_scale, .mean = g.pre_mean, .std = g.pre_std};
    if (!calib_path && !synthetic) {
        if (bo.norm != SNN_NORM_MODEL)
            fprintf(stderr, "ann2snn: no --calib data: model-based normalisation (Diehl et al. 2015), "
                            "which needs many more time steps (docs/models.md)\n");
        bo.norm = SNN_NORM_MODEL;
        if (!cli_pick_preprocess(&prep, &g, true, &pp))
            goto done;
        /* The largest preprocessed input of raw bytes 0..255, over every channel. */
        int nc = pp.channels > 1 ? pp.channels : 1;
        bo.input_max = -INFINITY;
        for (int k = 0; k < nc; k++) {
            float mean = pp.channels > 1 ? pp.mean_c[k] : pp.mean;
            float std = pp.channels > 1 ? pp.std_c[k] : pp.std;
            bo.input_max = fmaxf(bo.input_max, fmaxf((255.0f * pp.scale - mean) / std, (0.0f - mean) / std));
        }
    } else if (synthetic) {
        const snn_tensor *in = &g.tensors[g.inputs[0]];
        if (g.n_inputs != 1 || in->rank < 2) {
            fprintf(stderr, "ann2snn: %s: synthetic calibration needs one input of shape (N, ...)\n", model);
            goto done;
        }
        static const snn_synthetic_kind kinds[] = {
            [SNN_CALIB_SYNTH_UNIFORM] = SNN_SYNTH_UNIFORM, [SNN_CALIB_SYNTH_SMOOTH] = SNN_SYNTH_SMOOTH,
            [SNN_CALIB_SYNTH_MIX] = SNN_SYNTH_MIX};
        if ((st = snn_dataset_synthetic(&ds, in->dims + 1, in->rank - 1, calib_count, kinds[data_free], &diag)) != SNN_OK) {
            rc = cli_report(model, st, &diag);
            goto done;
        }
        if (!norm_set)
            bo.norm = SNN_NORM_MAX; /* measured: the layer-wise maximum suits noise best (docs/models.md) */
        int bn_layers = 0; /* BatchNormalization outputs whose statistics can set a range */
        for (int t = 0; t < g.n_tensors && bo.bn_prior_k > 0.0f; t++)
            bn_layers += g.tensors[t].bn_prior != NULL;
        if (!bn_layers)
            bo.bn_prior_k = 0.0f; /* nothing to take them from: uniform noise, recorded as such */
        char bn_note[96] = "";
        if (bn_layers)
            snprintf(bn_note, sizeof bn_note, ", and its %d BatchNormalization layers' statistics (beta + %g |gamma|)",
                     bn_layers, (double)bo.bn_prior_k);
        if (cli_mpi_root())
            fprintf(stderr, "ann2snn: no --calib data: calibrating on %lld synthetic images (%s) with %s%s; "
                            "measured on the bundled models with the default bursts, this costs up to 0.25 pp at "
                            "T = 32 and 1.7 pp at T = 8 against real calibration data (docs/models.md). Give "
                            "--calib for the best SNN\n", calib_count,
                    data_free == SNN_CALIB_SYNTH_MIX ? "half uniform, half smoothed noise"
                    : data_free == SNN_CALIB_SYNTH_UNIFORM ? "uniform noise" : "smoothed noise",
                    bo.norm == SNN_NORM_MAX ? "the layer-wise maximum" : "the chosen --norm",
                    bn_note);
    } else {
        img.channels = cli_image_channels(&g); /* an image folder is read as gray for a one-channel model */
        if ((st = cli_open_data(calib_path, &img, calib_count, &ds, NULL, &diag)) != SNN_OK) {
            rc = cli_report(calib_path, st, &diag);
            goto done;
        }
    }
    if (calib_path || synthetic) {
        const snn_tensor *in = &g.tensors[g.inputs[0]];
        if (g.n_inputs != 1 || snn_tensor_numel(in) != ds.sample_size) {
            fprintf(stderr, "ann2snn: %s: samples have %lld values, the model's input takes %lld\n",
                    calib_path ? calib_path : "synthetic data", (long long)ds.sample_size, (long long)snn_tensor_numel(in));
            goto done;
        }
        if (!cli_pick_preprocess(&prep, &g, ds.from_uint8, &pp))
            goto done;
        if ((st = calib_init(&cs, &g, &diag)) != SNN_OK) {
            rc = cli_report(model, st, &diag);
            goto done;
        }
        calib_run cr = {.g = &g, .ds = &ds, .pp = &pp, .n = ds.n < calib_count ? ds.n : calib_count,
                        .workers = (int)threads, .reference = reference,
                        .tty = isatty(2) && cli_mpi_root(), .t0 = cli_now_s()};
        snn_diag pd;
        st = snn_parallel_run(cr.workers, calib_worker, &cr, &pd);
        if (cr.tty && st == SNN_OK)
            cli_progress("calibration", cr.n, cr.n, cr.t0);
        float in_lo = INFINITY, in_hi = -INFINITY;
        for (int w = 0; w < cr.workers; w++) { /* merged in worker order: the same for every N */
            if (st == SNN_OK && cr.st[w] != SNN_OK)
                st = cr.st[w], pd = cr.diag[w];
            if (st == SNN_OK)
                calib_merge(&cs, &cr.stats[w]);
            in_lo = fminf(in_lo, cr.lo[w]);
            in_hi = fmaxf(in_hi, cr.hi[w]);
            if (cr.stats[w].t)
                calib_free(&cr.stats[w]);
        }
        if (st != SNN_OK) {
            rc = cli_report(model, st, &pd);
            goto done;
        }
        reduce_calib_ranks(&cs, &in_lo, &in_hi);
        /* TTFS codes the input range in spike times: raw bytes have theirs (0..255, the
         * build's default); float data take the calibration range. */
        if (!ds.from_uint8 && in_lo < in_hi)
            bo.input_lo = in_lo, bo.input_hi = in_hi;
        if (in_lo <= in_hi)
            input_absmax = fmaxf(fabsf(in_lo), fabsf(in_hi));
    }
    if (!calib_path || ds.from_uint8) /* raw bytes: their whole range, not only the samples' */
        input_absmax = fmaxf(input_absmax, raw_byte_absmax(&pp));
    g.pre_scale = pp.scale, g.pre_mean = pp.mean, g.pre_std = pp.std;
    g.pre_channels = pp.channels;
    for (int k = 0; k < pp.channels; k++)
        g.pre_mean_c[k] = pp.mean_c[k], g.pre_std_c[k] = pp.std_c[k];
    double t_cal = cli_now_s();
    st = snn_build(&g, calib_path || synthetic ? &cs : NULL, &bo, &net, &diag);
    net.calib_source = synthetic ? (uint32_t)data_free : SNN_CALIB_DATA;
    if (bo.bn_prior_k > 0.0f)
        net.calib_source |= SNN_CALIB_BN_PRIOR;
    if (st != SNN_OK) {
        rc = cli_report(model, st, &diag);
        goto done;
    }
    if (correct_for) {
        sample_source src = {.ds = &ds, .pp = &pp};
        snn_correct_opts co = {.steps = (uint32_t)correct_for,
                               .samples = ds.n < correct_count ? ds.n : correct_count,
                               .rounds = (uint32_t)correct_rounds,
                               .sample = preprocessed_sample, .ctx = &src,
                               .workers = (int)threads, .reference = reference};
        if (co.samples > calib_count)
            co.samples = calib_count;
        st = potential ? snn_net_correct_potential(&net, &g, &co, &diag) : snn_net_correct_bias(&net, &g, &co, &diag);
        if (st != SNN_OK) {
            rc = cli_report(model, st, &diag);
            goto done;
        }
    }
    if (precision != SNN_DTYPE_F32 && (st = snn_net_quantize(&net, precision, input_absmax, &diag)) != SNN_OK) {
        rc = cli_report(model, st, &diag);
        goto done;
    }
    if (!cli_mpi_root()) { /* rank 0 writes */
        rc = 0;
        goto done;
    }
    if (!sha256_file(model, net.sha256)) {
        fprintf(stderr, "ann2snn: %s: cannot read it again for its SHA-256\n", model);
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    if ((st = snn_net_write(&net, out_path, &diag)) != SNN_OK) {
        rc = cli_report(out_path, st, &diag);
        goto done;
    }
    if (report && !write_report(report, &net, &g, calib_path || synthetic ? &cs : NULL, model)) {
        fprintf(stderr, "ann2snn: %s: cannot write the report\n", report);
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    if (bo.coding == SNN_CODING_TTFS && (calib_path || synthetic))
        warn_ttfs_clipping(&net, &cs, &g);
    double t_end = cli_now_s();
    uint64_t neurons = 0, weights = 0;
    for (uint32_t i = 0; i < net.n_layers; i++)
        if (net.layers[i].kind == SNN_LAYER_NEURON && !(net.layers[i].flags & SNN_LAYER_F_OUTPUT))
            neurons += (uint64_t)net.layers[i].c * net.layers[i].h * net.layers[i].w;
    for (uint32_t i = 0; i < net.n_proj; i++)
        weights += net.proj[i].n_w;
    printf("%s -> %s: %u layers, %llu spiking neurons, %llu weights; norm %s", model, out_path,
           net.n_layers, (unsigned long long)neurons, (unsigned long long)weights, norm_name(net.norm));
    if (net.norm == SNN_NORM_PERCENTILE || net.norm == SNN_NORM_CHANNEL)
        printf("=%g", (double)net.percentile);
    printf(" on %u samples", net.calib_count);
    printf(net.coding == SNN_CODING_TTFS ? "; coding ttfs" : net.signed_spikes ? "; signed spikes" : "; positive spikes");
    if (precision != SNN_DTYPE_F32)
        printf("; %s", precision == SNN_DTYPE_I8 ? "int8" : "int16");
    if (net.burst)
        printf("; bursts of up to %u", net.burst);
    if (net.correct_steps)
        printf("; %s corrected for T = %u", potential ? "initial membranes" : "biases", net.correct_steps);
    printf("; %.3f s (calibration %.3f s)\n", t_end - t0, t_cal - t0);
    rc = 0;
done:
    snn_net_free(&net);
    calib_free(&cs);
    snn_dataset_free(&ds);
    snn_graph_free(&g);
    return rc;
}
