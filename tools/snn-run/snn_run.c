/* snn-run: run a .snn file on samples and print one prediction per line. */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/parallel.h"
#include "data/data.h"
#include "snn_runtime.h"

#ifndef ANN2SNN_VERSION
#define ANN2SNN_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: snn-run MODEL.snn --input FILE [options]\n"
            "\n"
            "Runs the spiking network on every sample of FILE (IDX, .npy or .pb; raw values, the\n"
            "file's preprocessing applies) and prints one predicted class per line.\n"
            "  -i, --input FILE     samples; or an image folder DIR/CLASS/IMAGE.png|jpg, whose\n"
            "                       sorted CLASS names are the labels (accuracy is printed)\n"
            "  -l, --labels FILE    class per sample: also print the accuracy\n"
            "      --resize N       image folder: shorter side to N pixels (bilinear)\n"
            "      --crop N         image folder: then the centre N x N (default: N of --resize)\n"
            "  -T, --steps T        time steps (default: the file's)\n"
            "  -c, --coding MODE    direct | poisson | ttfs (default: the file's; ttfs needs a file\n"
            "                       converted with --coding ttfs)\n"
            "  -r, --resolution R   ttfs: steps per layer window, 0 for exact spike times\n"
            "                       (default: the file's)\n"
            "  -s, --seed S         Poisson generator seed (default 1)\n"
            "  -n, --limit N        only the first N samples\n"
            "  -j, --threads N      worker threads (default: every core); the output is the same\n"
            "                       for every N (Poisson input is seeded per sample)\n"
            "  -q, --quiet          no per-sample lines (with --labels: accuracy only)\n"
            "  -e, --exit RULE=X    early exit: stop a sample's run once its readout is\n"
            "                       decisive, confidence=A (largest softmax of the mean readout\n"
            "                       >= A) or margin=M (top two outputs apart by >= M per step);\n"
            "                       with --labels, the mean steps are printed too\n"
            "  -m, --membranes      after each class, the CRC-32 of the output membranes (the\n"
            "                       int32 values of an integer file, the float bits of a float\n"
            "                       file, little-endian): an integer file gives the same on\n"
            "                       every target (ann2snn export-c's app prints it too)\n"
            "  -h, --help           this help\n"
            "  -V, --version        print the version\n"
            "\n"
            "Exit status: 0 success, 1 the run failed, 2 bad input or usage.\n");
}

static int parse_ll(const char *opt, const char *arg, long long min, long long *out)
{
    char *end;
    long long v = strtoll(arg, &end, 10);
    if (end == arg || *end || v < min) {
        fprintf(stderr, "snn-run: %s: '%s' is not a whole number >= %lld\n", opt, arg, min);
        return 0;
    }
    *out = v;
    return 1;
}

/* CRC-32 of the output membranes as little-endian 32-bit words: the integers of an integer
 * file, the float bits otherwise. */
static uint32_t membranes_crc(const snn_state *s)
{
    const int32_t *q = snn_state_output_q(s);
    const float *f = snn_state_output(s);
    uint32_t crc = 0;
    for (uint32_t k = 0; k < s->m->n_classes; k++) {
        uint32_t u;
        if (q)
            u = (uint32_t)q[k];
        else
            memcpy(&u, &f[k], sizeof u);
        uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        crc = snn_crc32(crc, le, 4);
    }
    return crc;
}

/* What the workers share; each runs its own range of samples with its own state. */
typedef struct {
    const snn_model *m;
    const snn_dataset *ds;
    int64_t n;
    uint32_t coding, T, R;
    uint64_t seed;
    int workers;
    int32_t *pred;       /* (n) predicted class per sample */
    uint32_t *crc;       /* (n) CRC-32 of the output membranes, or NULL */
    uint32_t exit_rule;  /* SNN_EXIT_*, 0 none */
    float exit_at;
    uint32_t *used;      /* (n) steps each sample ran */
    uint8_t failed[SNN_MAX_THREADS]; /* (workers) out of memory, or a sample not read */
    snn_diag diag[SNN_MAX_THREADS];  /* (workers) why a sample could not be read */
} run_ctx;

static void run_worker(void *arg, int w)
{
    run_ctx *c = arg;
    const snn_model *m = c->m;
    int64_t begin, end;
    snn_parallel_range(c->n, c->workers, w, &begin, &end);
    size_t mem_size = snn_state_mem_size(m);
    void *mem = malloc(mem_size);
    float *x = malloc(m->input_size * sizeof *x);
    snn_state s;
    if (!mem || !x || snn_state_init(&s, m, mem, mem_size) != SNN_RT_OK) {
        c->failed[w] = 1;
        begin = end;
    }
    for (int64_t i = begin; i < end; i++) {
        if (snn_dataset_get(c->ds, i, x, &c->diag[w]) != SNN_OK) {
            c->failed[w] = 1;
            break;
        }
        snn_preprocess_f32(m, x, x); /* the file's preprocessing */
        if (c->coding == SNN_CODING_TTFS) {
            snn_state_run_ttfs(&s, x, c->R);
        } else {
            snn_state_begin(&s, x, c->coding, c->seed + (uint64_t)i); /* seeded per sample */
            for (uint32_t t = 0; t < c->T; t++) {
                snn_state_step(&s);
                if (c->exit_rule && snn_state_decisive(&s, c->exit_rule, c->exit_at))
                    break;
            }
        }
        c->pred[i] = snn_state_predict(&s);
        c->used[i] = s.t;
        if (c->crc)
            c->crc[i] = membranes_crc(&s);
    }
    free(x);
    free(mem);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'}, {"labels", required_argument, NULL, 'l'},
        {"steps", required_argument, NULL, 'T'}, {"coding", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'},  {"limit", required_argument, NULL, 'n'},
        {"resolution", required_argument, NULL, 'r'}, {"threads", required_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},       {"help", no_argument, NULL, 'h'},
        {"membranes", no_argument, NULL, 'm'},   {"exit", required_argument, NULL, 'e'},
        {"version", no_argument, NULL, 'V'},     {"resize", required_argument, NULL, 'R'},
        {"crop", required_argument, NULL, 'C'},  {NULL, 0, NULL, 0},
    };
    const char *input = NULL, *labels = NULL;
    snn_image_opts img = {0, 0, 0};
    long long side;
    long long steps = 0, seed = 1, limit = -1, resolution = -1, threads = snn_cpu_count();
    int coding = -1, quiet = 0, membranes = 0, c;
    uint32_t *crc = NULL, *used = NULL, exit_rule = 0;
    float exit_at = 0.0f;
    while ((c = getopt_long(argc, argv, "i:l:T:c:r:s:n:j:qme:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'i': input = optarg; break;
        case 'l': labels = optarg; break;
        case 'R': case 'C':
            if (!parse_ll(c == 'R' ? "--resize" : "--crop", optarg, 1, &side)) return 2;
            if (side > 16384) { fprintf(stderr, "snn-run: --%s: at most 16384\n", c == 'R' ? "resize" : "crop"); return 2; }
            *(c == 'R' ? &img.resize : &img.crop) = (int)side;
            break;
        case 'T': if (!parse_ll("--steps", optarg, 1, &steps)) return 2; break;
        case 's': if (!parse_ll("--seed", optarg, 0, &seed)) return 2; break;
        case 'n': if (!parse_ll("--limit", optarg, 1, &limit)) return 2; break;
        case 'j':
            if (!parse_ll("--threads", optarg, 1, &threads)) return 2;
            if (threads > SNN_MAX_THREADS) { fprintf(stderr, "snn-run: --threads: at most %d\n", SNN_MAX_THREADS); return 2; }
            break;
        case 'q': quiet = 1; break;
        case 'm': membranes = 1; break;
        case 'e': {
            char *end;
            const char *eq = strchr(optarg, '=');
            exit_rule = eq && (size_t)(eq - optarg) == 10 && strncmp(optarg, "confidence", 10) == 0 ? SNN_EXIT_CONFIDENCE
                      : eq && (size_t)(eq - optarg) == 6 && strncmp(optarg, "margin", 6) == 0 ? SNN_EXIT_MARGIN : 0;
            exit_at = exit_rule ? strtof(eq + 1, &end) : 0.0f;
            if (!exit_rule || end == eq + 1 || *end || !(exit_at >= 0.0f) || !isfinite(exit_at)) {
                fprintf(stderr, "snn-run: --exit: '%s' is not confidence=A or margin=M (A, M >= 0)\n", optarg);
                return 2;
            }
            break;
        }
        case 'r':
            if (!parse_ll("--resolution", optarg, 0, &resolution)) return 2;
            if (resolution > SNN_MAX_RESOLUTION) { fprintf(stderr, "snn-run: --resolution: at most %u\n", SNN_MAX_RESOLUTION); return 2; }
            break;
        case 'c':
            if (strcmp(optarg, "direct") == 0) coding = SNN_CODING_DIRECT;
            else if (strcmp(optarg, "poisson") == 0) coding = SNN_CODING_POISSON;
            else if (strcmp(optarg, "ttfs") == 0) coding = SNN_CODING_TTFS;
            else { fprintf(stderr, "snn-run: --coding: '%s' is not direct, poisson or ttfs\n", optarg); return 2; }
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("snn-run %s\n", ANN2SNN_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1 || !input) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    int rc = 2;
    uint8_t *file = NULL;
    size_t len = 0;
    snn_model *m = malloc(sizeof *m);
    int32_t *pred = NULL;
    snn_dataset ds;
    snn_labels lb;
    memset(&ds, 0, sizeof ds);
    memset(&lb, 0, sizeof lb);
    snn_diag d;
    snn_diag_clear(&d);
    if (!m) {
        rc = 1;
        goto done;
    }
    if (snn_file_read_all(path, (size_t)1 << 32, &file, &len, &d) != SNN_OK) {
        fprintf(stderr, "snn-run: %s: %s\n", path, d.msg);
        goto done;
    }
    snn_rt_diag rd;
    if (snn_model_load(m, file, len, &rd) != SNN_RT_OK) {
        fprintf(stderr, "snn-run: %s: %s", path, rd.msg);
        if (rd.offset >= 0)
            fprintf(stderr, " (at byte %lld)", (long long)rd.offset);
        fputc('\n', stderr);
        goto done;
    }
    bool folder = snn_path_is_dir(input);
    img.channels = m->input_c == 1 ? 1 : 3; /* an image folder is read as gray for a one-channel model */
    if (folder && labels) {
        fprintf(stderr, "snn-run: %s is an image folder: its class sub-folders are the labels; drop --labels\n", input);
        goto done;
    }
    if ((folder ? snn_dataset_open_folder(input, &img, 0, &ds, &lb, &d) : snn_dataset_open(input, &ds, &d)) != SNN_OK) {
        fprintf(stderr, "snn-run: %s: %s\n", input, d.msg);
        goto done;
    }
    if (folder)
        labels = input; /* the folder's labels are in lb */
    if (labels && !folder && snn_labels_read(labels, &lb, &d) != SNN_OK) {
        fprintf(stderr, "snn-run: %s: %s\n", labels, d.msg);
        goto done;
    }
    if (snn_dataset_check_size(&ds, m->input_size, "the SNN", &d) != SNN_OK) {
        fprintf(stderr, "snn-run: %s: %s\n", input, d.msg);
        goto done;
    }
    if (coding == SNN_CODING_TTFS && !(m->features & SNN_FEATURE_TTFS)) {
        fprintf(stderr, "snn-run: %s: the file is rate-coded; convert with 'ann2snn --coding ttfs' for TTFS\n", path);
        goto done;
    }
    int64_t n = ds.n;
    if (labels && lb.n < n)
        n = lb.n;
    if (limit > 0 && limit < n)
        n = limit;
    uint32_t cod = coding >= 0 ? (uint32_t)coding : m->coding;
    uint32_t T = steps ? (uint32_t)steps : m->coding == SNN_CODING_TTFS ? 64 : m->steps;
    uint32_t R = resolution >= 0 ? (uint32_t)resolution : m->coding == SNN_CODING_TTFS ? m->steps : 0;
    pred = malloc((size_t)(n ? n : 1) * sizeof *pred);
    if (!pred) {
        fprintf(stderr, "snn-run: out of memory\n");
        rc = 1;
        goto done;
    }
    if ((m->features & SNN_FEATURE_INT) && T > SNN_MAX_INT_STEPS) {
        fprintf(stderr, "snn-run: %s: an integer file runs at most %d steps (16-bit spike counts)\n", path,
                SNN_MAX_INT_STEPS);
        rc = 2;
        goto done;
    }
    if (exit_rule && cod == SNN_CODING_TTFS) {
        fprintf(stderr, "snn-run: --exit needs rate coding\n");
        rc = 2;
        goto done;
    }
    used = malloc((size_t)(n ? n : 1) * sizeof *used);
    if (!used || (membranes && !(crc = malloc((size_t)(n ? n : 1) * sizeof *crc)))) {
        fprintf(stderr, "snn-run: out of memory\n");
        rc = 1;
        goto done;
    }
    run_ctx rc_ctx = {.m = m, .ds = &ds, .n = n, .coding = cod, .T = T, .R = R, .seed = (uint64_t)seed,
                      .workers = (int)threads, .pred = pred, .crc = crc, .exit_rule = exit_rule,
                      .exit_at = exit_at, .used = used};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (snn_parallel_run((int)threads, run_worker, &rc_ctx, &d) != SNN_OK) {
        fprintf(stderr, "snn-run: %s\n", d.msg);
        rc = 1;
        goto done;
    }
    for (int w = 0; w < (int)threads; w++)
        if (rc_ctx.failed[w]) {
            if (rc_ctx.diag[w].msg[0])
                fprintf(stderr, "snn-run: %s: %s\n", input, rc_ctx.diag[w].msg);
            else
                fprintf(stderr, "snn-run: out of memory\n");
            rc = 1;
            goto done;
        }
    int64_t correct = 0;
    double steps_run = 0;
    for (int64_t i = 0; i < n; i++) {
        steps_run += used[i];
        if (!quiet && crc)
            printf("%d %08x\n", pred[i], crc[i]);
        else if (!quiet)
            printf("%d\n", pred[i]);
        if (labels)
            correct += pred[i] == lb.y[i];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (labels) {
        char how[96];
        if (cod != SNN_CODING_TTFS && exit_rule)
            snprintf(how, sizeof how, "early exit, mean %.2f of %u steps", n ? steps_run / (double)n : 0.0, T);
        else if (cod != SNN_CODING_TTFS)
            snprintf(how, sizeof how, "%u steps", T);
        else if (R)
            snprintf(how, sizeof how, "ttfs, %u steps per window, latency %u steps", R, R * m->latency_windows);
        else
            snprintf(how, sizeof how, "ttfs, exact spike times, latency %u windows", m->latency_windows);
        fprintf(quiet ? stdout : stderr, "accuracy %.2f %% (%lld / %lld), %s, %.1f samples/s\n",
                n ? 100.0 * (double)correct / (double)n : 0.0, (long long)correct, (long long)n, how,
                el > 0 ? (double)n / el : 0.0);
    }
    rc = 0;
done:
    free(used);
    free(crc);
    free(pred);
    free(m);
    free(file);
    snn_dataset_free(&ds);
    snn_labels_free(&lb);
    return rc;
}
