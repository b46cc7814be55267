/* ann2snn_evaluate(): accuracy of a .snn file against time steps, with spikes, synaptic
 * operations and an energy estimate, next to the ANN's accuracy (what `ann2snn eval` prints and
 * writes). Rate coding: each sample runs once for T steps; the readout is taken at every power
 * of two up to T (and at T), so one run gives the whole curve. Time-to-first-spike coding: one
 * run per resolution (steps per layer window, every power of two up to R) and one with exact
 * spike times. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "base/parallel.h"
#include "eval/eval.h"
#include "eval_layers.h"
#include "snn_runtime.h"

#define MAX_POINTS 32
#define MAX_EXITS ANN2SNN_MAX_EXITS
#define PJ_PER_AC 0.9
#define PJ_PER_MAC 4.6

typedef struct {
    uint32_t steps;      /* rate: time steps; ttfs: latency in steps (0 when exact) */
    uint32_t resolution; /* ttfs: steps per layer window, 0 exact */
    int64_t correct, agree;
    double spikes, synops; /* summed over samples */
    uint32_t max_spikes;   /* ttfs: most spikes of any one neuron in any inference */
} point;

/* Early exit at one threshold: what the samples gave when they stopped. */
typedef struct {
    float threshold;
    int64_t correct, agree;
    double steps, synops; /* summed over samples */
} exit_point;

/* --exit RULE[=X,...] into the options' rule and thresholds; false on a bad value. */
static bool parse_exit(const char *arg, ann2snn_eval_options *o)
{
    static const float conf[] = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 0.95f, 0.99f, 0.999f};
    static const float margin[] = {0.01f, 0.02f, 0.05f, 0.1f, 0.2f, 0.5f, 1.0f, 2.0f};
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    ann2snn_exit_rule rule;
    if (len == 10 && strncmp(arg, "confidence", 10) == 0)
        rule = ANN2SNN_EXIT_CONFIDENCE;
    else if (len == 6 && strncmp(arg, "margin", 6) == 0)
        rule = ANN2SNN_EXIT_MARGIN;
    else
        return false;
    float th[ANN2SNN_MAX_EXITS];
    int n = 0;
    if (!eq) {
        for (int k = 0; k < 8; k++)
            th[n++] = rule == ANN2SNN_EXIT_CONFIDENCE ? conf[k] : margin[k];
    }
    for (const char *p = eq ? eq + 1 : ""; *p;) {
        char *end;
        float x = strtof(p, &end);
        if (n == ANN2SNN_MAX_EXITS || end == p || (*end && *end != ',') || !(x >= 0.0f) || !isfinite(x))
            return false;
        th[n++] = x;
        p = *end ? end + 1 : end;
    }
    if (!n)
        return false;
    o->exit_rule = rule, o->n_exit = n;
    memcpy(o->exit_thresholds, th, (size_t)n * sizeof *th);
    return true;
}

void ann2snn_eval_options_init(ann2snn_eval_options *o)
{
    memset(o, 0, sizeof *o);
    o->coding = -1;
    o->resolution = -1;
    o->seed = 1;
    o->pj_ac = PJ_PER_AC;
    o->pj_mac = PJ_PER_MAC;
}

size_t ann2snn_eval_options_size(void)
{
    return sizeof(ann2snn_eval_options);
}

ann2snn_status ann2snn_eval_options_set(ann2snn_eval_options *o, const char *name, const char *v, ann2snn_diag *diag)
{
    if (!o || !name)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_eval_options_set: no options or no name");
    if (strcmp(name, "layers") == 0) {
        o->layers = true;
        return ANN2SNN_OK;
    }
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", name);
    long long n;
    float f;
    if (!v)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s needs a value", opt);
    if (strcmp(name, "steps") == 0) {
        if (!api_parse_long(opt, v, 1, 1 << 20, &n, diag))
            return ANN2SNN_ERR_ARGUMENT;
        o->steps = (uint32_t)n;
    } else if (strcmp(name, "coding") == 0) {
        static const char *const names[] = {"direct", "poisson", "ttfs"};
        int k = 0;
        while (k < 3 && strcmp(v, names[k]) != 0)
            k++;
        if (k == 3)
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--coding: '%s' is not direct, poisson or ttfs", v);
        o->coding = k;
    } else if (strcmp(name, "resolution") == 0) {
        if (!api_parse_long(opt, v, 0, SNN_MAX_RESOLUTION, &n, diag))
            return ANN2SNN_ERR_ARGUMENT;
        o->resolution = n;
    } else if (strcmp(name, "seed") == 0) {
        if (!api_parse_long(opt, v, 0, INT64_MAX, &n, diag))
            return ANN2SNN_ERR_ARGUMENT;
        o->seed = (uint64_t)n;
    } else if (strcmp(name, "threads") == 0) {
        if (!api_parse_long(opt, v, 1, SNN_MAX_THREADS, &n, diag))
            return ANN2SNN_ERR_ARGUMENT;
        o->threads = (int)n;
    } else if (strcmp(name, "pj-ac") == 0 || strcmp(name, "pj-mac") == 0) {
        if (!api_parse_float(opt, v, &f, diag))
            return ANN2SNN_ERR_ARGUMENT;
        if (!(f > 0) || !isfinite(f))
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s must be a positive number of picojoules", opt);
        *(name[3] == 'a' ? &o->pj_ac : &o->pj_mac) = (double)f;
    } else if (strcmp(name, "exit") == 0) {
        if (!parse_exit(v, o))
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT,
                            "--exit: '%s' is not confidence[=A,...] or margin[=M,...] (values >= 0, at most %d)", v,
                            ANN2SNN_MAX_EXITS);
    } else {
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s: no such evaluation option", opt);
    }
    return ANN2SNN_OK;
}

/* Energy per operation in picojoules: an accumulate (an SNN synaptic operation) and a
 * multiply-accumulate (an ANN's), the 45 nm figures of Horowitz 2014, "Computing's energy
 * problem (and what we can do about it)", ISSCC, that conversion papers quote: a 32-bit float
 * add 0.9 pJ, a 32-bit float multiply 3.7 pJ. */

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
    const ann2snn_samples *src;
    const int32_t *y;        /* (n) labels */
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
    *correct += p == e->y[i];
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
    const ann2snn_samples *src;
    const int32_t *y;
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
    const ann2snn_eval_options *o;         /* split and progress */
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
    api_worker_range(r->o->split, r->n, r->workers, w, &begin, &end);
    snn_diag_clear(&r->diag[w]);
    if (!mem || !x || !seen || !r->tot[w] || snn_state_init(&s, m, mem, mem_size) != SNN_RT_OK ||
        (r->plan && layer_tally_init(&r->lt[w], r->plan, m, r->g, &r->diag[w]) != SNN_OK)) {
        r->failed[w] = 1;
        begin = end;
    }
    eval_ctx e = {m, &s, r->src, r->y, r->n, r->ann_pred, r->tot[w], x, seen,
                  r->pts[w][r->np - 1].steps, r->exit_rule, r->ex[w], r->nex,
                  r->plan, r->plan ? &r->lt[w] : NULL, &r->diag[w], false};
    for (int64_t i = begin; i < end; i++) {
        if (api_fetch(r->src, i, NULL, x, &r->diag[w]) != SNN_OK) {
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
        if (w == 0 && r->o->progress && d % 50 == 0 && d < r->n)
            r->o->progress(r->o->progress_ctx, "SNN", d, r->n);
    }
    free(seen);
    free(x);
    free(mem);
}

/* pts: points with steps > 0; exact: the accuracy of TTFS exact spike times, or NaN. */
static char *svg_text(const point *pts, int np, int64_t n, double ann, double exact, const exit_point *ex, int nex)
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
        return NULL;
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
    return buf;
}

typedef struct {
    double ann_macs;       /* per inference */
    double pj_ac, pj_mac;  /* per operation */
} energy_model;

static char *json_text(const char *model, const snn_model *m, const point *pts,
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
    return text;
}

/* --layers: one row per measured layer, one column per point: the relative error of rate x
 * scale against the ANN activation, and the percentage of neurons at their most spikes. */
static void print_layer_errors(FILE *f, const snn_model *m, const layer_plan *plan, const layer_tally *lt)
{
    fprintf(f, "\nper layer (--layers): sum |rate x scale - ANN| / sum ANN, (%% of neurons saturated: at the\n"
           "most spikes %u per step allow)\n%-24s", m->burst, "layer");
    for (int k = 0; k < plan->n_points; k++) {
        char head[24];
        snprintf(head, sizeof head, "T=%u", plan->steps[k]);
        fprintf(f, " %15s", head);
    }
    fprintf(f, "\n");
    for (int q = 0; q < plan->n; q++) {
        fprintf(f, "%-24.24s", m->layers[plan->layer[q]].name);
        for (int k = 0; k < plan->n_points; k++) {
            char cell[32];
            snprintf(cell, sizeof cell, "%.3f (%.1f%%)", layer_relative_error(lt, q, k), 100.0 * layer_saturated(lt, q, k));
            fprintf(f, " %15s", cell);
        }
        fprintf(f, "\n");
    }
}

/* A table row's accuracy, its difference to the ANN (when known) and the agreement with the
 * ANN's predictions (when given, else NaN). */
/* The tallies of every MPI rank, summed (counts, and spikes and synops: whole numbers, exact in
 * doubles) or maximised, into every rank's copy: what one process would have counted. */
static void reduce_processes(const ann2snn_split *sp, point *pts, int np, exit_point *ex, int nex,
                             snn_layer_stats *tot, uint32_t n_layers)
{
    if (!sp || sp->ranks <= 1 || !sp->all_reduce)
        return;
#define REDUCE(OP, PTR) sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_##OP, PTR, 1)
    for (int k = 0; k < np; k++) {
        REDUCE(SUM_I64, &pts[k].correct);
        REDUCE(SUM_I64, &pts[k].agree);
        REDUCE(SUM_F64, &pts[k].spikes);
        REDUCE(SUM_F64, &pts[k].synops);
        REDUCE(MAX_U32, &pts[k].max_spikes);
    }
    for (int q = 0; q < nex; q++) {
        REDUCE(SUM_I64, &ex[q].correct);
        REDUCE(SUM_I64, &ex[q].agree);
        REDUCE(SUM_F64, &ex[q].steps);
        REDUCE(SUM_F64, &ex[q].synops);
    }
    for (uint32_t l = 0; l < n_layers; l++) {
        REDUCE(SUM_U64, &tot[l].spikes);
        REDUCE(SUM_U64, &tot[l].synops);
    }
#undef REDUCE
}

static void print_accuracy(FILE *f, double acc, double ann, double same)
{
    fprintf(f, "%9.2f%% ", 100 * acc);
    if (isnan(ann))
        fprintf(f, "%9s", "-");
    else
        fprintf(f, "%+7.2fpp", 100 * (acc - ann));
    if (!isnan(same))
        fprintf(f, " %10.2f%%", 100 * same);
}

ann2snn_status ann2snn_evaluate(const void *bytes, size_t len, const char *name, const ann2snn_samples *x,
                                const int32_t *labels, const ann2snn_eval_options *o, ann2snn_evaluation *out,
                                ann2snn_diag *diag)
{
    if (!out)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_evaluate: no place for the results");
    memset(out, 0, sizeof *out);
    ann2snn_eval_options defaults;
    ann2snn_eval_options_init(&defaults);
    if (!o)
        o = &defaults;
    if ((!bytes && len) || !x || !labels || x->n < 1 || (!x->values && !x->get))
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_evaluate: no file, no samples or no labels");
    if (o->coding < -1 || o->coding > ANN2SNN_CODING_TTFS || o->threads < 0 || o->threads > SNN_MAX_THREADS ||
        o->n_exit < 0 || o->n_exit > ANN2SNN_MAX_EXITS || (o->exit_rule && !o->n_exit) ||
        (unsigned)o->exit_rule > ANN2SNN_EXIT_MARGIN || !(o->pj_ac > 0) || !(o->pj_mac > 0) ||
        o->resolution > (int64_t)SNN_MAX_RESOLUTION || o->steps > (1u << 20))
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_evaluate: an option out of range (ann2snn eval --help)");
    const char *path = name ? name : "model.snn";
    int64_t n = x->n;
    ann2snn_status as = ANN2SNN_OK;
    uint8_t *file = NULL;
    snn_model *m = NULL;
    snn_layer_stats *tot = NULL;
    eval_run *run = NULL;
    layer_plan *plan = NULL; /* o->layers */
    layer_tally *ltot = NULL;
    int32_t *ann_pred = NULL;
    char *table = NULL;
    size_t table_size = 0;
    FILE *f = NULL;
    int threads = o->threads ? o->threads : snn_cpu_count();
    snn_diag d;
    snn_diag_clear(&d);
    if ((as = api_load_snn(bytes, len, x->sample_size, &file, &m, diag)) != ANN2SNN_OK)
        goto done;
    uint32_t coding = o->coding >= 0 ? (uint32_t)o->coding : m->coding;
    bool ttfs = coding == SNN_CODING_TTFS;
    uint32_t exit_rule = (uint32_t)o->exit_rule;
    int nex = exit_rule ? o->n_exit : 0;
    exit_point ex[MAX_EXITS];
    for (int q = 0; q < nex; q++)
        ex[q] = (exit_point){.threshold = o->exit_thresholds[q]};
    if (ttfs && !(m->features & SNN_FEATURE_TTFS)) {
        as = api_fail(diag, ANN2SNN_ERR_ARGUMENT, "the file is rate-coded; convert with --coding ttfs for TTFS");
        goto done;
    }
    if (ttfs && exit_rule) {
        as = api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--exit needs rate coding");
        goto done;
    }
    if (o->layers && (ttfs || !o->ann)) {
        as = api_fail(diag, ANN2SNN_ERR_ARGUMENT,
                      "--layers needs rate coding and --onnx MODEL.onnx (the ANN to compare with)");
        goto done;
    }
    uint32_t T = o->steps ? o->steps : ttfs ? 64 : m->steps;
    if ((m->features & SNN_FEATURE_INT) && T > SNN_MAX_INT_STEPS) {
        as = api_fail(diag, ANN2SNN_ERR_ARGUMENT, "an integer file runs at most %d steps (16-bit spike counts)",
                      SNN_MAX_INT_STEPS);
        goto done;
    }
    uint32_t R = o->resolution >= 0 ? (uint32_t)o->resolution : 64;
    tot = calloc(m->n_layers, sizeof *tot);
    run = calloc(1, sizeof *run);
    ann_pred = o->ann ? malloc((size_t)n * sizeof *ann_pred) : NULL;
    if (!tot || !run || (o->ann && !ann_pred)) {
        as = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
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
    const snn_graph *ann_graph = o->ann ? &o->ann->graph : NULL;
    if (o->layers) {
        uint32_t psteps[MAX_POINTS];
        for (int k = 0; k < np; k++)
            psteps[k] = pts[k].steps;
        char why[256];
        plan = malloc(sizeof *plan);
        ltot = calloc(1, sizeof *ltot);
        if (!plan || !ltot) {
            as = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (!layer_plan_make(plan, m, ann_graph, psteps, np, why, sizeof why)) {
            as = api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--layers: %s: %s", path, why);
            goto done;
        }
    }
    uint64_t neurons = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_NEURON && i != m->output_layer)
            neurons += m->layers[i].size;
    /* The ANN sees what the SNN sees: the file's preprocessing. */
    snn_preprocess pp = {.scale = m->pre_scale, .mean = m->pre_mean, .std = m->pre_std};
    if (m->pre_mean_c && m->input_c <= SNN_MAX_PREP_CHANNELS) {
        pp.channels = (int)m->input_c;
        for (uint32_t c = 0; c < m->input_c; c++)
            pp.mean_c[c] = m->pre_mean_c[c], pp.std_c[c] = m->pre_std_c[c];
    }
    double ann = (double)m->ann_accuracy;
    const char *ann_src = "stored at conversion";
    if (o->ann) {
        api_classify_opts co = {.workers = threads, .batch = 1, .split = o->split, .progress = o->progress,
                                .progress_ctx = o->progress_ctx};
        snn_status st = api_classify(ann_graph, x, n, &pp, &co, ann_pred, &d);
        if (st != SNN_OK) {
            as = api_status(st, &d, diag);
            if (diag && !diag->where[0])
                snprintf(diag->where, sizeof diag->where, "%s", o->ann->name);
            goto done;
        }
        int64_t correct = 0;
        for (int64_t i = 0; i < n; i++)
            correct += ann_pred[i] == labels[i];
        ann = n ? (double)correct / (double)n : 0.0;
        ann_src = o->ann->name && o->ann->name[0] ? o->ann->name : "the given ANN";
    }
    *run = (eval_run){.m = m, .src = x, .y = labels, .n = n, .ann_pred = ann_pred, .ttfs = ttfs,
                      .coding = coding, .seed = o->seed, .np = np, .workers = threads, .o = o,
                      .exit_rule = exit_rule, .nex = nex, .plan = plan, .g = ann_graph,
                      .lt = plan ? calloc((size_t)threads, sizeof(layer_tally)) : NULL};
    if (plan && !run->lt) {
        as = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int w = 0; w < run->workers; w++) {
        memcpy(run->pts[w], pts, (size_t)np * sizeof *pts);
        memcpy(run->ex[w], ex, (size_t)nex * sizeof *ex);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool ran = snn_parallel_run(run->workers, eval_worker, run, &d) == SNN_OK;
    if (o->progress && ran)
        o->progress(o->progress_ctx, "SNN", n, n);
    for (int w = 0; w < run->workers; w++) {
        ran &= !run->failed[w];
        for (int k = 0; k < np; k++) {
            const point *q = &run->pts[w][k];
            pts[k].correct += q->correct, pts[k].agree += q->agree;
            pts[k].spikes += q->spikes, pts[k].synops += q->synops;
            pts[k].max_spikes = q->max_spikes > pts[k].max_spikes ? q->max_spikes : pts[k].max_spikes;
        }
        for (int q = 0; q < nex; q++) {
            const exit_point *e = &run->ex[w][q];
            ex[q].correct += e->correct, ex[q].agree += e->agree;
            ex[q].steps += e->steps, ex[q].synops += e->synops;
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
            as = api_status(SNN_ERR_IO, &run->diag[w], diag);
            goto done;
        }
    if (!ran) {
        as = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory or threads for %d workers", run->workers);
        goto done;
    }
    reduce_processes(o->split, pts, np, ex, nex, tot, m->n_layers);
    if (plan)
        layer_tally_reduce(ltot, plan, o->split);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double t_snn = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (!(f = open_memstream(&table, &table_size))) {
        as = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (ttfs)
        fprintf(f, "SNN %s on %lld samples, ttfs coding, %u layer windows (%.1f samples/s per run)\n", path,
                (long long)n, m->latency_windows, (double)n * np / t_snn);
    else
        fprintf(f, "SNN %s on %lld samples, %s coding, %u steps (%.1f samples/s)\n", path, (long long)n,
                coding == SNN_CODING_DIRECT ? "direct" : "poisson", T, (double)n / t_snn);
    if (isnan(ann))
        fprintf(f, "ANN accuracy: unknown (give --onnx MODEL.onnx)\n");
    else
        fprintf(f, "ANN accuracy: %.2f %% (%s)\n", 100 * ann, ann_src);
    double macs = ann_macs(m), pj_ac = o->pj_ac, pj_mac = o->pj_mac;
    fprintf(f, "ANN: %.0f multiply-accumulates per inference, %.3f uJ at %g pJ each; SNN energy at %g pJ "
               "per synaptic operation\n", macs, macs * pj_mac * 1e-6, pj_mac, pj_ac);
    fprintf(f, "\n");
    if (ttfs)
        fprintf(f, "%10s ", "resolution");
    fprintf(f, "%8s %10s %9s", "steps", "accuracy", "vs ANN");
    if (ann_pred)
        fprintf(f, " %9s", "same as ANN");
    fprintf(f, " %14s %14s %12s", "spikes/neuron", "synops", "energy/ANN");
    if (ttfs)
        fprintf(f, " %10s", "max/neuron");
    fprintf(f, "\n");
    for (int i = 0; i < np; i++) {
        double acc = (double)pts[i].correct / (double)n;
        if (ttfs && pts[i].resolution)
            fprintf(f, "%10u %8u ", pts[i].resolution, pts[i].steps);
        else if (ttfs)
            fprintf(f, "%10s %8s ", "exact", "-");
        else
            fprintf(f, "%8u ", pts[i].steps);
        print_accuracy(f, acc, ann, ann_pred ? (double)pts[i].agree / (double)n : (double)NAN);
        fprintf(f, " %14.4f %14.0f %11.3fx", pts[i].spikes / (double)n / (double)(neurons ? neurons : 1),
                pts[i].synops / (double)n, pts[i].synops / (double)n * pj_ac / (macs * pj_mac));
        if (ttfs)
            fprintf(f, " %10u", pts[i].max_spikes);
        fprintf(f, "\n");
    }
    if (exit_rule) {
        fprintf(f, "\nearly exit, rule %s (SEENN-I): each sample runs until its readout is decisive, at most %u "
                   "steps\n", exit_rule == SNN_EXIT_CONFIDENCE ? "confidence" : "margin", T);
        fprintf(f, "%10s %10s %9s", "threshold", "accuracy", "vs ANN");
        if (ann_pred)
            fprintf(f, " %9s", "same as ANN");
        fprintf(f, " %11s %14s %12s\n", "mean steps", "synops", "energy/ANN");
        for (int q = 0; q < nex; q++) {
            double acc = (double)ex[q].correct / (double)n;
            fprintf(f, "%10g ", (double)ex[q].threshold);
            print_accuracy(f, acc, ann, ann_pred ? (double)ex[q].agree / (double)n : (double)NAN);
            fprintf(f, " %11.2f %14.0f %11.3fx\n", ex[q].steps / (double)n, ex[q].synops / (double)n,
                    ex[q].synops / (double)n * pj_ac / (macs * pj_mac));
        }
    }
    if (plan)
        print_layer_errors(f, m, plan, ltot);
    if (fclose(f) != 0) {
        free(table);
        table = NULL;
    }
    energy_model en = {macs, pj_ac, pj_mac};
    out->json = json_text(path, m, pts, np, n, ann, neurons, coding, tot, ann_pred != NULL, &en, exit_rule, ex, nex,
                          plan, ltot);
    double exact = ttfs ? (double)pts[np - 1].correct / (double)n : (double)NAN;
    out->svg = svg_text(pts, ttfs ? np - 1 : np, n, ann, exact, ex, nex);
    out->table = table;
    table = NULL;
    if (!out->json || !out->svg || !out->table) {
        ann2snn_evaluation_free(out);
        as = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
    }
done:
    free(table);
    if (run && run->lt)
        free(run->lt);
    free(plan);
    free(ltot);
    free(ann_pred);
    free(run);
    free(tot);
    free(m);
    free(file);
    return as;
}

void ann2snn_evaluation_free(ann2snn_evaluation *e)
{
    if (!e)
        return;
    free(e->table);
    free(e->json);
    free(e->svg);
    memset(e, 0, sizeof *e);
}
