/* ann2snn eval: accuracy of a .snn file against time steps, with spikes and synaptic
 * operations, next to the ANN's accuracy. Rate coding: each sample runs once for T steps; the
 * readout is taken at every power of two up to T (and at T), so one run gives the whole
 * curve. Time-to-first-spike coding: one run per resolution (steps per layer window, every
 * power of two up to R) and one with exact spike times. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "cli_common.h"
#include "cli_mpi.h"
#include "eval_layers.h"
#include "commands.h"
#include "base/parallel.h"
#include "data/data.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "snn_runtime.h"

#define MAX_POINTS 32

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

typedef struct {
    uint32_t steps;      /* rate: time steps; ttfs: latency in steps (0 when exact) */
    uint32_t resolution; /* ttfs: steps per layer window, 0 exact */
    int64_t correct, agree;
    double spikes, synops; /* summed over samples */
    uint32_t max_spikes;   /* ttfs: most spikes of any one neuron in any inference */
} point;

/* Early exit at one threshold: what the samples gave when they stopped. */
#define MAX_EXITS 16
typedef struct {
    float threshold;
    int64_t correct, agree;
    double steps, synops; /* summed over samples */
} exit_point;

/* --exit RULE[=X,...] into rule and thresholds; returns their count, 0 on a bad value. */
static int parse_exit(const char *arg, uint32_t *rule, exit_point *ex)
{
    static const float conf[] = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 0.95f, 0.99f, 0.999f};
    static const float margin[] = {0.01f, 0.02f, 0.05f, 0.1f, 0.2f, 0.5f, 1.0f, 2.0f};
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len == 10 && strncmp(arg, "confidence", 10) == 0)
        *rule = SNN_EXIT_CONFIDENCE;
    else if (len == 6 && strncmp(arg, "margin", 6) == 0)
        *rule = SNN_EXIT_MARGIN;
    else
        return 0;
    int n = 0;
    if (!eq) {
        for (int k = 0; k < 8; k++)
            ex[n++] = (exit_point){.threshold = *rule == SNN_EXIT_CONFIDENCE ? conf[k] : margin[k]};
        return n;
    }
    for (const char *p = eq + 1; *p && n < MAX_EXITS;) {
        char *end;
        float x = strtof(p, &end);
        if (end == p || (*end && *end != ',') || !(x >= 0.0f) || !isfinite(x))
            return 0;
        ex[n++] = (exit_point){.threshold = x};
        p = *end ? end + 1 : end;
    }
    return n;
}

/* The ANN's prediction for each of the n samples, into pred (n). */
static int ann_predict(const char *onnx, const snn_dataset *ds, int64_t n, const snn_preprocess *pp, int threads,
                       int32_t *pred)
{
    snn_graph g;
    snn_diag d;
    snn_status st = snn_onnx_load_file(onnx, NULL, &g, &d);
    if (st != SNN_OK)
        return cli_report(onnx, st, &d);
    cli_ann_opts o = {.threads = threads, .batch = 1};
    int rc = cli_ann_classify(onnx, &g, ds, n, pp, &o, pred);
    snn_graph_free(&g);
    return rc;
}

/* Energy per operation in picojoules: an accumulate (an SNN synaptic operation) and a
 * multiply-accumulate (an ANN's), the 45 nm figures of Horowitz 2014, "Computing's energy
 * problem (and what we can do about it)", ISSCC, that conversion papers quote: a 32-bit float
 * add 0.9 pJ, a 32-bit float multiply 3.7 pJ. */
#define PJ_PER_AC 0.9
#define PJ_PER_MAC 4.6

/* Multiply-accumulates of the converted network run as an ANN, once: every weight
 * application a dense forward pass makes, counted as the SNN's synaptic operations count
 * them, so that the two compare like with like (convolutions count every tap, padding
 * included, as MAC counters do). */
static double ann_macs(const snn_model *m)
{
    double macs = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        for (uint32_t k = 0; k < L->proj_count && L->kind != SNN_LAYER_MAXPOOL; k++) {
            const snn_proj *p = &m->proj[L->proj_first + k];
            double out = (double)L->size, src = (double)m->buffer_size[p->source];
            switch (p->kind) {
            case SNN_PROJ_DENSE: macs += (double)p->n_w; break;
            case SNN_PROJ_CONV: macs += out * (double)(p->src_c / p->group) * p->kh * p->kw; break;
            case SNN_PROJ_AVGPOOL: macs += out * p->kh * p->kw; break;
            case SNN_PROJ_GLOBALAVG: macs += src; break;
            case SNN_PROJ_IDENTITY: macs += out; break;
            default: break; /* COPY: concatenation moves spikes, no arithmetic */
            }
        }
    }
    return macs;
}

/* What the runs share. */
typedef struct {
    const snn_model *m;
    snn_state *s;
    const snn_dataset *ds;
    const snn_labels *lb;
    int64_t n;
    const int32_t *ann_pred; /* (n) or NULL */
    snn_layer_stats *tot;    /* (n_layers) summed over the samples run */
    float *x;                /* (input_size) */
    uint32_t *seen;          /* (largest buffer) ttfs: spikes per neuron, zero between uses */
    uint32_t last_steps;     /* rate: the last point's steps, where a run ends */
    uint32_t exit_rule;      /* SNN_EXIT_*, 0: no early exit */
    exit_point *ex;          /* (nex) this worker's early-exit tallies */
    int nex;
    const layer_plan *plan;  /* --layers, or NULL */
    layer_tally *lt;         /* this worker's layer tallies (with plan) */
    snn_diag *diag;          /* why the ANN could not run */
    bool failed;
} eval_ctx;

/* Sample i's state now: whether its prediction is right and agrees with the ANN, its hidden
 * spikes and its synaptic operations so far. */
static void outcome(const eval_ctx *e, int64_t i, int64_t *correct, int64_t *agree, double *spikes, double *synops)
{
    const snn_model *m = e->m;
    for (uint32_t l = 0; l < m->n_layers; l++) {
        if (m->layers[l].kind == SNN_LAYER_NEURON && l != m->output_layer)
            *spikes += (double)e->s->stats[l].spikes;
        *synops += (double)e->s->stats[l].synops;
    }
    int p = snn_state_predict(e->s);
    *correct += p == e->lb->y[i];
    *agree += e->ann_pred && p == e->ann_pred[i];
}

static void tally(eval_ctx *e, point *pt, int64_t i)
{
    outcome(e, i, &pt->correct, &pt->agree, &pt->spikes, &pt->synops);
}

static void exit_tally(eval_ctx *e, exit_point *x, int64_t i)
{
    double spikes = 0; /* not reported for early exit */
    outcome(e, i, &x->correct, &x->agree, &spikes, &x->synops);
    x->steps += e->s->t;
}

static void add_layer_totals(eval_ctx *e)
{
    for (uint32_t l = 0; l < e->m->n_layers; l++) {
        e->tot[l].spikes += e->s->stats[l].spikes;
        e->tot[l].synops += e->s->stats[l].synops;
    }
}

/* Rate coding: one run of T steps for sample i (in e->x as stored), read at every point. */
static void sample_rate(eval_ctx *e, uint32_t coding, uint64_t seed, point *pts, int64_t i)
{
    snn_preprocess_f32(e->m, e->x, e->x);
    if (e->plan && layer_tally_begin(e->lt, e->plan, e->x, e->diag) != SNN_OK)
        e->failed = true;
    const layer_plan *plan = e->failed ? NULL : e->plan;
    snn_state_begin(e->s, e->x, coding, seed + (uint64_t)i); /* seeded per sample */
    int k = 0, left = e->nex;
    bool stopped[MAX_EXITS] = {false};
    for (uint32_t t = 1; t <= e->last_steps; t++) {
        snn_state_step(e->s);
        if (plan)
            layer_tally_step(e->lt, plan, e->s);
        if (t == pts[k].steps) {
            if (plan)
                layer_tally_point(e->lt, plan, e->m, k);
            tally(e, &pts[k++], i);
        }
        if (!left)
            continue;
        float score = snn_state_exit_score(e->s, e->exit_rule); /* SEENN-I, one score per step */
        for (int q = 0; q < e->nex; q++)
            if (!stopped[q] && (score >= e->ex[q].threshold || t == e->last_steps)) {
                exit_tally(e, &e->ex[q], i);
                stopped[q] = true;
                left--;
            }
    }
    add_layer_totals(e);
}

/* TTFS: every point (resolution) for sample i (in e->x as stored), so it is preprocessed once;
 * the layer totals are the last point's (exact spike times). */
static void sample_ttfs(eval_ctx *e, point *pts, int np, int64_t i)
{
    snn_preprocess_f32(e->m, e->x, e->x);
    for (int k = 0; k < np; k++) {
        snn_state_run_ttfs(e->s, e->x, pts[k].resolution);
        tally(e, &pts[k], i);
        uint32_t most = snn_state_max_spikes_per_neuron(e->s, e->seen);
        pts[k].max_spikes = most > pts[k].max_spikes ? most : pts[k].max_spikes;
    }
    add_layer_totals(e);
}

/* The samples split over workers (base/parallel.h), each with a state of its own; their
 * counts are merged in worker order, so every thread count gives the same numbers (spikes
 * and synaptic operations are whole numbers, summed exactly in doubles below 2^53). */
typedef struct {
    const snn_model *m;
    const snn_dataset *ds;
    const snn_labels *lb;
    int64_t n;
    const int32_t *ann_pred;
    bool ttfs;
    uint32_t coding;
    uint64_t seed;
    int np, workers;
    point pts[SNN_MAX_THREADS][MAX_POINTS];    /* per worker, from the same template */
    uint32_t exit_rule;
    int nex;
    exit_point ex[SNN_MAX_THREADS][MAX_EXITS]; /* per worker, from the same template */
    const layer_plan *plan;                    /* --layers, or NULL */
    const snn_graph *g;                        /* with plan: the ANN */
    layer_tally *lt;                           /* (workers) with plan */
    snn_layer_stats *tot[SNN_MAX_THREADS];     /* (n_layers) per worker */
    uint8_t failed[SNN_MAX_THREADS];
    snn_diag diag[SNN_MAX_THREADS];            /* per worker: why a sample could not be read */
    _Atomic int64_t done;                  /* samples finished, for the progress line */
    bool tty;
    double t0;
} eval_run;

static void eval_worker(void *arg, int w)
{
    eval_run *r = arg;
    const snn_model *m = r->m;
    uint32_t largest = 0;
    for (uint32_t b = 0; b <= m->n_layers; b++)
        largest = m->buffer_size[b] > largest ? m->buffer_size[b] : largest;
    size_t mem_size = snn_state_mem_size(m);
    void *mem = malloc(mem_size);
    float *x = malloc(m->input_size * sizeof *x);
    uint32_t *seen = calloc(largest, sizeof *seen);
    r->tot[w] = calloc(m->n_layers, sizeof *r->tot[w]);
    snn_state s;
    int64_t begin, end;
    cli_mpi_worker_range(r->n, r->workers, w, &begin, &end);
    snn_diag_clear(&r->diag[w]);
    if (!mem || !x || !seen || !r->tot[w] || snn_state_init(&s, m, mem, mem_size) != SNN_RT_OK ||
        (r->plan && layer_tally_init(&r->lt[w], r->plan, m, r->g, &r->diag[w]) != SNN_OK)) {
        r->failed[w] = 1;
        begin = end;
    }
    eval_ctx e = {m, &s, r->ds, r->lb, r->n, r->ann_pred, r->tot[w], x, seen,
                  r->pts[w][r->np - 1].steps, r->exit_rule, r->ex[w], r->nex,
                  r->plan, r->plan ? &r->lt[w] : NULL, &r->diag[w], false};
    for (int64_t i = begin; i < end; i++) {
        if (snn_dataset_get(r->ds, i, x, &r->diag[w]) != SNN_OK) {
            r->failed[w] = 1;
            break;
        }
        if (r->ttfs)
            sample_ttfs(&e, r->pts[w], r->np, i);
        else
            sample_rate(&e, r->coding, r->seed, r->pts[w], i);
        if (e.failed) {
            r->failed[w] = 1;
            break;
        }
        int64_t d = ++r->done;
        if (w == 0 && r->tty && d % 50 == 0 && d < r->n)
            cli_progress("SNN", d, r->n, r->t0);
    }
    free(seen);
    free(x);
    free(mem);
}

/* pts: points with steps > 0; exact: the accuracy of TTFS exact spike times, or NaN. */
static int write_svg(const char *path, const point *pts, int np, int64_t n, double ann, double exact,
                     const exit_point *ex, int nex)
{
    double lo = 1.0;
    for (int i = 0; i < nex; i++)
        lo = fmin(lo, (double)ex[i].correct / (double)n);
    if (!isnan(exact))
        lo = fmin(lo, exact);
    for (int i = 0; i < np; i++)
        lo = fmin(lo, (double)pts[i].correct / (double)n);
    if (!isnan(ann))
        lo = fmin(lo, ann);
    lo = floor(lo * 10.0) / 10.0;
    const double W = 640, H = 400, L = 60, R = 20, T = 20, B = 50;
    double xmax = log2((double)pts[np - 1].steps);
    char *buf = malloc(65536);
    if (!buf)
        return 0;
    size_t o = 0;
#define OUT(...) o += (size_t)snprintf(buf + o, 65536 - o, __VA_ARGS__)
#define XP(s) (L + (xmax > 0 ? log2((double)(s)) / xmax : 0.0) * (W - L - R))
#define YP(a) (T + (1.0 - ((a) - lo) / (1.0 - lo)) * (H - T - B))
    OUT("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    OUT("<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    OUT("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    OUT("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, T, L, H - B);
    for (int i = 0; i < np; i++)
        OUT("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%u</text>\n", XP(pts[i].steps), H - B + 16, pts[i].steps);
    for (double a = lo; a <= 1.0001; a += (1.0 - lo) / 5.0)
        OUT("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.1f%%</text>\n", L - 6, YP(a) + 4, 100 * a);
    OUT("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2, H - 12,
        isnan(exact) ? "time steps" : "latency (time steps; TTFS, resolution x layer windows)");
    if (!isnan(exact)) {
        OUT("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-dasharray=\"2 3\"/>\n", L, YP(exact), W - R, YP(exact));
        OUT("<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\">TTFS exact spike times %.2f%%</text>\n", L + 6, YP(exact) + 14, 100 * exact);
    }
    OUT("<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">accuracy</text>\n", (T + H - B) / 2);
    if (!isnan(ann)) {
        OUT("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"gray\" stroke-dasharray=\"6 4\"/>\n", L, YP(ann), W - R, YP(ann));
        OUT("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"gray\">ANN %.2f%%</text>\n", W - R, YP(ann) - 6, 100 * ann);
    }
    OUT("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < np; i++)
        OUT("%.1f,%.1f ", XP(pts[i].steps), YP((double)pts[i].correct / (double)n));
    OUT("\"/>\n");
    for (int i = 0; i < np; i++)
        OUT("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f77b4\"/>\n", XP(pts[i].steps), YP((double)pts[i].correct / (double)n));
    if (nex) { /* early exit: accuracy against the mean steps run, one point per threshold */
        OUT("<polyline fill=\"none\" stroke=\"#ff7f0e\" stroke-width=\"2\" points=\"");
        for (int i = 0; i < nex; i++)
            OUT("%.1f,%.1f ", XP(fmax(1.0, ex[i].steps / (double)n)), YP((double)ex[i].correct / (double)n));
        OUT("\"/>\n");
        for (int i = 0; i < nex; i++)
            OUT("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#ff7f0e\"/>\n", XP(fmax(1.0, ex[i].steps / (double)n)),
                YP((double)ex[i].correct / (double)n));
        OUT("<text x=\"%.1f\" y=\"%.1f\" fill=\"#ff7f0e\">early exit (mean steps)</text>\n", L + 6, T + 12);
    }
    OUT("</svg>\n");
#undef OUT
#undef XP
#undef YP
    snn_diag d;
    int ok = snn_file_write_atomic(path, buf, o, &d) == SNN_OK;
    free(buf);
    return ok;
}

typedef struct {
    double ann_macs;       /* per inference */
    double pj_ac, pj_mac;  /* per operation */
} energy_model;

static int write_json(const char *path, const char *model, const snn_model *m, const point *pts,
                      int np, int64_t n, double ann, uint64_t neurons, uint32_t coding,
                      const snn_layer_stats *layer_tot, bool with_agreement, const energy_model *en,
                      uint32_t exit_rule, const exit_point *ex, int nex, const layer_plan *plan,
                      const layer_tally *lt)
{
    static const char *const codings[] = {"direct", "poisson", "ttfs"};
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddNumberToObject(root, "samples", (double)n);
    cJSON_AddStringToObject(root, "coding", codings[coding <= SNN_CODING_TTFS ? coding : 0]);
    if (isnan(ann))
        cJSON_AddNullToObject(root, "ann_accuracy");
    else
        cJSON_AddNumberToObject(root, "ann_accuracy", ann);
    cJSON_AddNumberToObject(root, "neurons", (double)neurons);
    if (coding == SNN_CODING_TTFS)
        cJSON_AddNumberToObject(root, "latency_windows", m->latency_windows);
    cJSON_AddNumberToObject(root, "ann_macs", en->ann_macs);
    cJSON *energy = cJSON_AddObjectToObject(root, "energy");
    cJSON_AddNumberToObject(energy, "pj_per_ac", en->pj_ac);
    cJSON_AddNumberToObject(energy, "pj_per_mac", en->pj_mac);
    cJSON_AddNumberToObject(energy, "ann_uj", en->ann_macs * en->pj_mac * 1e-6);
    cJSON *curve = cJSON_AddArrayToObject(root, "curve");
    for (int i = 0; i < np; i++) {
        cJSON *o = cJSON_CreateObject();
        if (coding == SNN_CODING_TTFS && pts[i].resolution == 0) {
            cJSON_AddNullToObject(o, "steps"); /* exact spike times: no time grid */
            cJSON_AddStringToObject(o, "resolution", "exact");
        } else {
            cJSON_AddNumberToObject(o, "steps", pts[i].steps);
            if (coding == SNN_CODING_TTFS)
                cJSON_AddNumberToObject(o, "resolution", pts[i].resolution);
        }
        cJSON_AddNumberToObject(o, "accuracy", (double)pts[i].correct / (double)n);
        if (with_agreement)
            cJSON_AddNumberToObject(o, "same_as_ann", (double)pts[i].agree / (double)n);
        cJSON_AddNumberToObject(o, "spikes_per_neuron", pts[i].spikes / (double)n / (double)(neurons ? neurons : 1));
        if (coding == SNN_CODING_TTFS)
            cJSON_AddNumberToObject(o, "max_spikes_per_neuron", pts[i].max_spikes);
        cJSON_AddNumberToObject(o, "synops", pts[i].synops / (double)n);
        double uj = pts[i].synops / (double)n * en->pj_ac * 1e-6;
        cJSON_AddNumberToObject(o, "energy_uj", uj);
        cJSON_AddNumberToObject(o, "energy_vs_ann", uj / (en->ann_macs * en->pj_mac * 1e-6));
        cJSON_AddItemToArray(curve, o);
    }
    if (exit_rule) {
        cJSON *early = cJSON_AddArrayToObject(root, "early_exit");
        for (int i = 0; i < nex; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "rule", exit_rule == SNN_EXIT_CONFIDENCE ? "confidence" : "margin");
            cJSON_AddNumberToObject(o, "threshold", (double)ex[i].threshold);
            cJSON_AddNumberToObject(o, "accuracy", (double)ex[i].correct / (double)n);
            if (with_agreement)
                cJSON_AddNumberToObject(o, "same_as_ann", (double)ex[i].agree / (double)n);
            cJSON_AddNumberToObject(o, "mean_steps", ex[i].steps / (double)n);
            cJSON_AddNumberToObject(o, "synops", ex[i].synops / (double)n);
            cJSON_AddItemToArray(early, o);
        }
    }
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (uint32_t i = 0; i < m->n_layers; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->layers[i].name);
        cJSON_AddNumberToObject(o, "neurons", m->layers[i].size);
        cJSON_AddNumberToObject(o, "spikes_per_inference", (double)layer_tot[i].spikes / (double)n);
        cJSON_AddNumberToObject(o, "synops_per_inference", (double)layer_tot[i].synops / (double)n);
        for (int q = 0; plan && q < plan->n; q++) {
            if (plan->layer[q] != i)
                continue;
            cJSON_AddStringToObject(o, "ann_tensor", m->tensor_names + (size_t)i * SNN_TENS_NAME_SIZE);
            cJSON *errs = cJSON_AddArrayToObject(o, "error");
            for (int k = 0; k < plan->n_points; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddNumberToObject(e, "steps", plan->steps[k]);
                cJSON_AddNumberToObject(e, "relative_error", layer_relative_error(lt, q, k));
                cJSON_AddNumberToObject(e, "saturated", layer_saturated(lt, q, k));
                cJSON_AddItemToArray(errs, e);
            }
        }
        cJSON_AddItemToArray(layers, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    snn_diag d;
    int ok = text && snn_file_write_atomic(path, text, strlen(text), &d) == SNN_OK;
    free(text);
    return ok;
}

/* --layers: one row per measured layer, one column per point: the relative error of rate x
 * scale against the ANN activation, and the percentage of neurons at their most spikes. */
static void print_layer_errors(const snn_model *m, const layer_plan *plan, const layer_tally *lt)
{
    printf("\nper layer (--layers): sum |rate x scale - ANN| / sum ANN, (%% of neurons saturated: at the\n"
           "most spikes %u per step allow)\n%-24s", m->burst, "layer");
    for (int k = 0; k < plan->n_points; k++) {
        char head[24];
        snprintf(head, sizeof head, "T=%u", plan->steps[k]);
        printf(" %15s", head);
    }
    printf("\n");
    for (int q = 0; q < plan->n; q++) {
        printf("%-24.24s", m->layers[plan->layer[q]].name);
        for (int k = 0; k < plan->n_points; k++) {
            char cell[32];
            snprintf(cell, sizeof cell, "%.3f (%.1f%%)", layer_relative_error(lt, q, k), 100.0 * layer_saturated(lt, q, k));
            printf(" %15s", cell);
        }
        printf("\n");
    }
}

/* A table row's accuracy, its difference to the ANN (when known) and the agreement with the
 * ANN's predictions (when given, else NaN). */
/* The tallies of every MPI rank, summed (counts, and spikes and synops: whole numbers, exact in
 * doubles) or maximised, into every rank's copy: what one process would have counted. */
static void reduce_ranks(point *pts, int np, exit_point *ex, int nex, snn_layer_stats *tot, uint32_t n_layers)
{
    if (cli_mpi_size() == 1)
        return;
    for (int k = 0; k < np; k++) {
        cli_mpi_sum_i64(&pts[k].correct, 1);
        cli_mpi_sum_i64(&pts[k].agree, 1);
        cli_mpi_sum_f64(&pts[k].spikes, 1);
        cli_mpi_sum_f64(&pts[k].synops, 1);
        cli_mpi_max_u32(&pts[k].max_spikes, 1);
    }
    for (int q = 0; q < nex; q++) {
        cli_mpi_sum_i64(&ex[q].correct, 1);
        cli_mpi_sum_i64(&ex[q].agree, 1);
        cli_mpi_sum_f64(&ex[q].steps, 1);
        cli_mpi_sum_f64(&ex[q].synops, 1);
    }
    for (uint32_t l = 0; l < n_layers; l++) {
        cli_mpi_sum_u64(&tot[l].spikes, 1);
        cli_mpi_sum_u64(&tot[l].synops, 1);
    }
}

static void print_accuracy(double acc, double ann, double same)
{
    printf("%9.2f%% ", 100 * acc);
    if (isnan(ann))
        printf("%9s", "-");
    else
        printf("%+7.2fpp", 100 * (acc - ann));
    if (!isnan(same))
        printf(" %10.2f%%", 100 * same);
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_IMAGE_LONGOPTS,
        {"data", required_argument, NULL, 'd'}, {"labels", required_argument, NULL, 'l'},
        {"onnx", required_argument, NULL, 'o'}, {"steps", required_argument, NULL, 'T'},
        {"coding", required_argument, NULL, 'c'}, {"seed", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'n'}, {"json", required_argument, NULL, 'j'},
        {"plot", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {"resolution", required_argument, NULL, 'r'}, {"threads", required_argument, NULL, 'W'},
        {"pj-ac", required_argument, NULL, 'A'}, {"pj-mac", required_argument, NULL, 'M'},
        {"exit", required_argument, NULL, 'E'}, {"layers", no_argument, NULL, 'L'}, {NULL, 0, NULL, 0},
    };
    bool layers = false;
    const char *data_path = NULL, *label_path = NULL, *onnx = NULL, *json = NULL, *plot = NULL;
    long long steps = 0, limit = -1, seed = 1, resolution = -1, threads = snn_cpu_count();
    double pj_ac = PJ_PER_AC, pj_mac = PJ_PER_MAC;
    uint32_t coding = UINT32_MAX, exit_rule = 0;
    exit_point ex[MAX_EXITS];
    int nex = 0;
    snn_image_opts img = {0, 0, 0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:T:n:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data_path = optarg; break;
        case CLI_OPT_RESIZE: case CLI_OPT_CROP: if (!cli_image_opt(c, optarg, &img)) return EXIT_BAD_INPUT; break;
        case 'l': label_path = optarg; break;
        case 'o': onnx = optarg; break;
        case 'T': if (!cli_parse_long("--steps", optarg, 1, 1 << 20, &steps)) return EXIT_BAD_INPUT; break;
        case 'c': if (!cli_parse_coding(optarg, &coding)) return EXIT_BAD_INPUT; break;
        case 'S': if (!cli_parse_long("--seed", optarg, 0, INT64_MAX, &seed)) return EXIT_BAD_INPUT; break;
        case 'n': if (!cli_parse_long("--limit", optarg, 1, 1LL << 40, &limit)) return EXIT_BAD_INPUT; break;
        case 'r': if (!cli_parse_long("--resolution", optarg, 0, SNN_MAX_RESOLUTION, &resolution)) return EXIT_BAD_INPUT; break;
        case 'j': json = optarg; break;
        case 'W': if (!cli_parse_long("--threads", optarg, 1, SNN_MAX_THREADS, &threads)) return EXIT_BAD_INPUT; break;
        case 'A':
        case 'M': {
            float e;
            if (!cli_parse_float(c == 'A' ? "--pj-ac" : "--pj-mac", optarg, &e))
                return EXIT_BAD_INPUT;
            if (!(e > 0) || !isfinite(e)) {
                fprintf(stderr, "ann2snn: %s must be a positive number of picojoules\n", c == 'A' ? "--pj-ac" : "--pj-mac");
                return EXIT_BAD_INPUT;
            }
            *(c == 'A' ? &pj_ac : &pj_mac) = (double)e;
            break;
        }
        case 'p': plot = optarg; break;
        case 'L': layers = true; break;
        case 'E':
            if (!(nex = parse_exit(optarg, &exit_rule, ex))) {
                fprintf(stderr, "ann2snn: --exit: '%s' is not confidence[=A,...] or margin[=M,...] (values >= 0, "
                                "at most %d)\n", optarg, MAX_EXITS);
                return EXIT_BAD_INPUT;
            }
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
    snn_diag diag;
    snn_diag_clear(&diag);
    uint8_t *file = NULL;
    size_t len = 0;
    snn_model *m = NULL;
    snn_dataset ds;
    snn_labels lb;
    memset(&ds, 0, sizeof ds);
    memset(&lb, 0, sizeof lb);
    snn_layer_stats *tot = NULL;
    eval_run *run = NULL;
    layer_plan *plan = NULL; /* --layers */
    layer_tally *ltot = NULL;
    snn_graph lg;
    bool lg_loaded = false;
    int32_t *ann_pred = NULL;
    if ((rc = cli_load_snn(path, &file, &len, &m)) != 0)
        goto done;
    rc = EXIT_BAD_INPUT;
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
    if (coding == UINT32_MAX)
        coding = m->coding;
    bool ttfs = coding == SNN_CODING_TTFS;
    if (ttfs && !(m->features & SNN_FEATURE_TTFS)) {
        fprintf(stderr, "ann2snn: %s: the file is rate-coded; convert with --coding ttfs for TTFS\n", path);
        goto done;
    }
    if (ttfs && exit_rule) {
        fprintf(stderr, "ann2snn: --exit needs rate coding\n");
        goto done;
    }
    if (layers && (ttfs || !onnx)) {
        fprintf(stderr, "ann2snn: --layers needs rate coding and --onnx MODEL.onnx (the ANN to compare with)\n");
        goto done;
    }
    uint32_t T = steps ? (uint32_t)steps : ttfs ? 64 : m->steps;
    if ((m->features & SNN_FEATURE_INT) && T > SNN_MAX_INT_STEPS) {
        fprintf(stderr, "ann2snn: %s: an integer file runs at most %d steps (16-bit spike counts)\n", path,
                SNN_MAX_INT_STEPS);
        goto done;
    }
    uint32_t R = resolution >= 0 ? (uint32_t)resolution : 64;
    tot = calloc(m->n_layers, sizeof *tot);
    run = calloc(1, sizeof *run);
    ann_pred = onnx ? malloc((size_t)n * sizeof *ann_pred) : NULL;
    if (!tot || !run || (onnx && !ann_pred)) {
        fprintf(stderr, "ann2snn: out of memory\n");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    point pts[MAX_POINTS];
    int np = 0;
    if (ttfs) { /* resolutions 1, 2, 4, ... R, then exact spike times */
        for (uint32_t r = 1; r < R && np < MAX_POINTS - 2; r *= 2)
            pts[np++] = (point){.steps = r * m->latency_windows, .resolution = r};
        if (R)
            pts[np++] = (point){.steps = R * m->latency_windows, .resolution = R};
        pts[np++] = (point){.steps = 0, .resolution = 0};
    } else {
        for (uint32_t t = 1; t < T && np < MAX_POINTS - 1; t *= 2)
            pts[np++] = (point){.steps = t};
        pts[np++] = (point){.steps = T};
    }
    if (layers) {
        snn_status st_layers = snn_onnx_load_file(onnx, NULL, &lg, &diag);
        if (st_layers != SNN_OK) {
            rc = cli_report(onnx, st_layers, &diag);
            goto done;
        }
        lg_loaded = true;
        uint32_t psteps[MAX_POINTS];
        for (int k = 0; k < np; k++)
            psteps[k] = pts[k].steps;
        char why[256];
        plan = malloc(sizeof *plan);
        ltot = calloc(1, sizeof *ltot);
        if (!plan || !ltot) {
            fprintf(stderr, "ann2snn: out of memory\n");
            rc = EXIT_RUN_FAILED;
            goto done;
        }
        if (!layer_plan_make(plan, m, &lg, psteps, np, why, sizeof why)) {
            fprintf(stderr, "ann2snn: --layers: %s: %s\n", path, why);
            goto done;
        }
    }
    uint64_t neurons = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_NEURON && i != m->output_layer)
            neurons += m->layers[i].size;
    snn_preprocess pp = cli_preprocess_of(m); /* the ANN sees what the SNN sees */
    double ann = (double)m->ann_accuracy;
    const char *ann_src = "stored at conversion";
    if (onnx) {
        if ((rc = ann_predict(onnx, &ds, n, &pp, (int)threads, ann_pred)) != 0)
            goto done;
        int64_t correct = 0;
        for (int64_t i = 0; i < n; i++)
            correct += ann_pred[i] == lb.y[i];
        ann = n ? (double)correct / (double)n : 0.0;
        ann_src = onnx;
    }
    *run = (eval_run){.m = m, .ds = &ds, .lb = &lb, .n = n, .ann_pred = ann_pred, .ttfs = ttfs,
                      .coding = coding, .seed = (uint64_t)seed, .np = np, .workers = (int)threads,
                      .tty = isatty(2) && cli_mpi_root(), .t0 = cli_now_s(), .exit_rule = exit_rule,
                      .nex = nex, .plan = plan, .g = lg_loaded ? &lg : NULL,
                      .lt = plan ? calloc((size_t)threads, sizeof(layer_tally)) : NULL};
    if (plan && !run->lt) {
        fprintf(stderr, "ann2snn: out of memory\n");
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    for (int w = 0; w < run->workers; w++) {
        memcpy(run->pts[w], pts, (size_t)np * sizeof *pts);
        memcpy(run->ex[w], ex, (size_t)nex * sizeof *ex);
    }
    double t0 = cli_now_s();
    snn_diag pd;
    bool ran = snn_parallel_run(run->workers, eval_worker, run, &pd) == SNN_OK;
    if (run->tty && ran)
        cli_progress("SNN", n, n, run->t0);
    for (int w = 0; w < run->workers; w++) {
        ran &= !run->failed[w];
        for (int k = 0; k < np; k++) {
            const point *q = &run->pts[w][k];
            pts[k].correct += q->correct, pts[k].agree += q->agree;
            pts[k].spikes += q->spikes, pts[k].synops += q->synops;
            pts[k].max_spikes = q->max_spikes > pts[k].max_spikes ? q->max_spikes : pts[k].max_spikes;
        }
        for (int q = 0; q < nex; q++) {
            const exit_point *x = &run->ex[w][q];
            ex[q].correct += x->correct, ex[q].agree += x->agree;
            ex[q].steps += x->steps, ex[q].synops += x->synops;
        }
        for (uint32_t l = 0; run->tot[w] && l < m->n_layers; l++)
            tot[l].spikes += run->tot[w][l].spikes, tot[l].synops += run->tot[w][l].synops;
        if (plan) {
            layer_tally_add(ltot, &run->lt[w], plan);
            layer_tally_free(&run->lt[w], plan);
        }
        free(run->tot[w]);
        run->tot[w] = NULL;
    }
    for (int w = 0; w < run->workers; w++)
        if (run->failed[w] && run->diag[w].msg[0]) {
            fprintf(stderr, "ann2snn: %s: %s\n", data_path, run->diag[w].msg);
            rc = EXIT_RUN_FAILED;
            goto done;
        }
    if (!ran) {
        fprintf(stderr, "ann2snn: out of memory or threads for %d workers\n", run->workers);
        rc = EXIT_RUN_FAILED;
        goto done;
    }
    reduce_ranks(pts, np, ex, nex, tot, m->n_layers);
    if (plan)
        layer_tally_reduce_ranks(ltot, plan);
    double t_snn = cli_now_s() - t0;
    if (!cli_mpi_root()) { /* rank 0 prints and writes */
        rc = 0;
        goto done;
    }
    if (ttfs)
        printf("SNN %s on %lld samples, ttfs coding, %u layer windows (%.1f samples/s per run)\n", path,
               (long long)n, m->latency_windows, (double)n * np / t_snn);
    else
        printf("SNN %s on %lld samples, %s coding, %u steps (%.1f samples/s)\n", path, (long long)n,
               coding == SNN_CODING_DIRECT ? "direct" : "poisson", T, (double)n / t_snn);
    if (isnan(ann))
        printf("ANN accuracy: unknown (give --onnx MODEL.onnx)\n");
    else
        printf("ANN accuracy: %.2f %% (%s)\n", 100 * ann, ann_src);
    double macs = ann_macs(m);
    printf("ANN: %.0f multiply-accumulates per inference, %.3f uJ at %g pJ each; SNN energy at %g pJ "
           "per synaptic operation\n", macs, macs * pj_mac * 1e-6, pj_mac, pj_ac);
    printf("\n");
    if (ttfs)
        printf("%10s ", "resolution");
    printf("%8s %10s %9s", "steps", "accuracy", "vs ANN");
    if (ann_pred)
        printf(" %9s", "same as ANN");
    printf(" %14s %14s %12s", "spikes/neuron", "synops", "energy/ANN");
    if (ttfs)
        printf(" %10s", "max/neuron");
    printf("\n");
    for (int i = 0; i < np; i++) {
        double acc = (double)pts[i].correct / (double)n;
        if (ttfs && pts[i].resolution)
            printf("%10u %8u ", pts[i].resolution, pts[i].steps);
        else if (ttfs)
            printf("%10s %8s ", "exact", "-");
        else
            printf("%8u ", pts[i].steps);
        print_accuracy(acc, ann, ann_pred ? (double)pts[i].agree / (double)n : (double)NAN);
        printf(" %14.4f %14.0f %11.3fx", pts[i].spikes / (double)n / (double)(neurons ? neurons : 1),
               pts[i].synops / (double)n, pts[i].synops / (double)n * pj_ac / (macs * pj_mac));
        if (ttfs)
            printf(" %10u", pts[i].max_spikes);
        printf("\n");
    }
    if (exit_rule) {
        printf("\nearly exit, rule %s (SEENN-I): each sample runs until its readout is decisive, at most %u steps\n",
               exit_rule == SNN_EXIT_CONFIDENCE ? "confidence" : "margin", T);
        printf("%10s %10s %9s", "threshold", "accuracy", "vs ANN");
        if (ann_pred)
            printf(" %9s", "same as ANN");
        printf(" %11s %14s %12s\n", "mean steps", "synops", "energy/ANN");
        for (int q = 0; q < nex; q++) {
            double acc = (double)ex[q].correct / (double)n;
            printf("%10g ", (double)ex[q].threshold);
            print_accuracy(acc, ann, ann_pred ? (double)ex[q].agree / (double)n : (double)NAN);
            printf(" %11.2f %14.0f %11.3fx\n", ex[q].steps / (double)n, ex[q].synops / (double)n,
                   ex[q].synops / (double)n * pj_ac / (macs * pj_mac));
        }
    }
    if (plan)
        print_layer_errors(m, plan, ltot);
    rc = 0;
    energy_model en = {macs, pj_ac, pj_mac};
    if (json && !write_json(json, path, m, pts, np, n, ann, neurons, coding, tot, ann_pred != NULL, &en,
                            exit_rule, ex, nex, plan, ltot)) {
        fprintf(stderr, "ann2snn: %s: cannot write\n", json);
        rc = EXIT_RUN_FAILED;
    }
    double exact = ttfs ? (double)pts[np - 1].correct / (double)n : (double)NAN;
    if (plot && !write_svg(plot, pts, ttfs ? np - 1 : np, n, ann, exact, ex, nex)) {
        fprintf(stderr, "ann2snn: %s: cannot write\n", plot);
        rc = EXIT_RUN_FAILED;
    }
done:
    if (run && run->lt)
        free(run->lt);
    free(plan);
    free(ltot);
    if (lg_loaded)
        snn_graph_free(&lg);
    free(ann_pred);
    free(run);
    free(tot);
    free(m);
    free(file);
    snn_dataset_free(&ds);
    snn_labels_free(&lb);
    return rc;
}
