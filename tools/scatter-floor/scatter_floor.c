/* scatter-floor: how fast can the event-driven accumulation alone go?
 *
 * Runs a .snn file with direct coding as snn-run does, records every event that a projection
 * accumulates one spike at a time (convolution and dense layers; the constant input current
 * and the dense pooling passes are not events), then replays only those accumulations, with
 * the runtime's own inlined scatter, into scratch currents: no integrate-and-fire, no spike
 * lists, no pooling, no max-pool. The replay's speed bounds what any step loop built on
 * float32 event accumulation can reach on this machine for these spike trains: it is the
 * speed the runtime would have if everything but the additions were free.
 *
 * Prints one line per measurement (medians over --repeats of the whole sample set; each image
 * is recorded, then run in full and replayed, one after the other):
 *   full <images/s>   the complete step loop (snn_state_step)
 *   replay <images/s> the recorded accumulations alone
 *   synops <per image> accumulated by the replay
 *   all_synops <per image> the run's own count (adds the input current and the pooling passes)
 *   replay_i16 <images/s> the same replay with 16-bit weights and currents (timing only; when
 *                         every event projection is one replay_i16() handles)
 * Used by tools/scripts/bench_speed.py; not installed. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/data.h"
#include "base/fileio.h"
#include "snn_internal.h"
#include "snn_runtime.h"

/* A sample's events, step by step, as batches: projection k, count n, then n spike_idx
 * entries (index | SNN_SPIKE_NEG), in the order the step consumed them. */
typedef struct {
    uint32_t *w;
    size_t n, cap;
} event_log;

static int log_push(event_log *lg, uint32_t word)
{
    if (lg->n == lg->cap) {
        size_t cap = lg->cap ? lg->cap * 2 : 1 << 16;
        uint32_t *p = realloc(lg->w, cap * sizeof *p);
        if (!p)
            return 0;
        lg->w = p, lg->cap = cap;
    }
    lg->w[lg->n++] = word;
    return 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The layer each projection belongs to (the runtime keeps only the reverse map): a NEURON
 * layer's inputs, or a CONCAT layer's sources. */
static void proj_targets(const snn_model *m, uint32_t *target)
{
    for (uint32_t i = 0; i < m->n_layers; i++)
        for (uint32_t k = m->layers[i].proj_first; k < m->layers[i].proj_first + m->layers[i].proj_count; k++)
            target[k] = i;
}

/* Run one sample for T steps; with lg, append every accumulated event (step order). Returns
 * 0 when the log could not grow, else 1. */
static int run_sample(snn_state *s, const float *x, uint32_t T, const uint32_t *target, event_log *lg)
{
    const snn_model *m = s->m;
    snn_state_begin(s, x, SNN_CODING_DIRECT, 1);
    for (uint32_t t = 0; t < T; t++) {
        snn_state_step(s);
        if (!lg)
            continue;
        /* The step has run; its events are still in spike_idx. Record them in the order the
         * step consumed them: layer by layer, projection by projection. */
        for (uint32_t k = 0; k < m->n_proj; k++) {
            const snn_proj *p = &m->proj[k];
            if (p->source == 0 || s->dense_proj[k] || m->layers[target[k]].kind != SNN_LAYER_NEURON)
                continue;
            uint32_t n = s->n_spikes[p->source];
            if (!log_push(lg, k) || !log_push(lg, n))
                return 0;
            for (uint32_t q = 0; q < n; q++)
                if (!log_push(lg, s->spike_idx[p->source][q]))
                    return 0;
        }
    }
    return 1;
}

/* Replay the accumulations of a log into scratch currents, as snn_state_step() does them;
 * returns the synaptic operations. */
static uint64_t replay(const snn_state *s, const event_log *lg, const uint32_t *target, float **scratch)
{
    const snn_model *m = s->m;
    uint64_t ops = 0;
    for (size_t r = 0; r < lg->n;) {
        uint32_t k = lg->w[r], n = lg->w[r + 1], i = target[k];
        const uint32_t *idx = lg->w + r + 2;
        const snn_proj *p = &m->proj[k];
        const snn_layer *L = &m->layers[i];
        r += 2 + (size_t)n;
        /* The dispatch of snn_state_step(), line for line: sharing it through a helper in
         * snn_internal.h moved the step loop's speed by 2-6 % with the compiler's inlining. */
        if (snn_conv_fast_ok(p)) {
            ops += snn_conv_events(p, L, s->yx[p->source], idx, n, scratch[i]);
            continue;
        }
        for (uint32_t q = 0; q < n; q++) {
            if (idx[q] & SNN_SPIKE_NEG)
                ops += snn_scatter(p, L, s->yx[p->source], s->pool_map[k], SNN_SPIKE_INDEX(idx[q]), -1.0f,
                                   scratch[i]);
            else
                ops += snn_scatter(p, L, s->yx[p->source], s->pool_map[k], idx[q], 1.0f, scratch[i]);
        }
    }
    return ops;
}

/* The same replay with 16-bit weights and currents: what halving the bytes of every addition
 * would give, measured instead of guessed. Timing only; the sums are not used (the runtime
 * has no 16-bit format). Conv (stride 1, output channels a multiple of 8) and dense
 * projections only; i16_ok() tells whether a model has no others. Vectors of 8 lanes, or 16 in
 * a build with AVX2 (meson setup B -Dc_args=-march=x86-64-v3), to bound that case too. */
#if defined(__GNUC__)
#if defined(__AVX2__) /* a -march=x86-64-v3 build: 16 lanes */
typedef uint16_t i16xN __attribute__((vector_size(32)));
#else
typedef uint16_t i16xN __attribute__((vector_size(16)));
#endif
#define I16_LANES (sizeof(i16xN) / sizeof(uint16_t))

/* Two's complement 16-bit values held as uint16_t: the same instructions as int16_t, and a sum
 * that wraps is defined (the replay's sums are not used). */
static inline void add_i16(uint16_t *o, const uint16_t *w, int neg, uint32_t n)
{
    uint32_t k = 0;
    for (; k + I16_LANES <= n; k += I16_LANES) {
        i16xN a, b;
        memcpy(&a, o + k, sizeof a);
        memcpy(&b, w + k, sizeof b);
        a = neg ? a - b : a + b;
        memcpy(o + k, &a, sizeof a);
    }
    for (; k < n; k++)
        o[k] = (uint16_t)(neg ? o[k] - w[k] : o[k] + w[k]);
}

static int i16_ok(const snn_state *s, const uint32_t *target)
{
    const snn_model *m = s->m;
    for (uint32_t k = 0; k < m->n_proj; k++) {
        const snn_proj *p = &m->proj[k];
        const snn_layer *L = &m->layers[target[k]];
        if (p->source == 0 || s->dense_proj[k] || L->kind != SNN_LAYER_NEURON)
            continue;
        if (p->kind != SNN_PROJ_DENSE && (!snn_conv_fast_ok(p) || L->c % 8))
            return 0;
    }
    return 1;
}

static void replay_i16(const snn_state *s, const event_log *lg, const uint32_t *target, uint16_t **w16,
                       uint16_t **acc)
{
    const snn_model *m = s->m;
    for (size_t r = 0; r < lg->n;) {
        uint32_t k = lg->w[r], n = lg->w[r + 1], i = target[k];
        const uint32_t *idx = lg->w + r + 2, *yx = s->yx[m->proj[k].source];
        const snn_proj *p = &m->proj[k];
        const snn_layer *L = &m->layers[i];
        r += 2 + (size_t)n;
        for (uint32_t q = 0; q < n; q++) {
            uint32_t j = SNN_SPIKE_INDEX(idx[q]);
            int neg = (idx[q] & SNN_SPIKE_NEG) != 0;
            if (p->kind == SNN_PROJ_DENSE) {
                add_i16(acc[i], w16[k] + (size_t)j * L->size, neg, L->size);
                continue;
            }
            uint32_t iy = yx[j] >> 16, ix = yx[j] & 0xffff, c = j - (iy * p->src_w + ix) * p->src_c, mg = L->c;
            const uint16_t *wc = w16[k] + (size_t)c * p->kh * p->kw * mg; /* (KH, KW, MG) */
            uint32_t y0 = iy + p->pt, x0 = ix + p->pl;
            uint32_t kh0 = y0 >= L->h ? y0 - L->h + 1 : 0, kw0 = x0 >= L->w ? x0 - L->w + 1 : 0;
            uint32_t kh1 = y0 + 1 < p->kh ? y0 + 1u : p->kh, kw1 = x0 + 1 < p->kw ? x0 + 1u : p->kw;
            for (uint32_t kh = kh0; kh < kh1; kh++)
                for (uint32_t kw = kw0; kw < kw1; kw++) {
                    uint16_t *o = acc[i] + ((size_t)(y0 - kh) * L->w + (x0 - kw)) * mg;
                    const uint16_t *wk = wc + (kh * p->kw + kw) * mg;
                    if (mg == 16) /* constant lengths, as the float replay has them */
                        add_i16(o, wk, neg, 16);
                    else if (mg == 32)
                        add_i16(o, wk, neg, 32);
                    else
                        add_i16(o, wk, neg, mg);
                }
        }
    }
}

/* Weights scaled so the largest is 2^12, rounded. */
static uint16_t *quantise(const snn_proj *p)
{
    uint16_t *q = malloc((size_t)p->n_w * sizeof *q);
    float big = 0.0f;
    if (!q)
        return NULL;
    for (uint32_t k = 0; k < p->n_w; k++)
        big = fabsf(p->w[k]) > big ? fabsf(p->w[k]) : big;
    for (uint32_t k = 0; k < p->n_w; k++)
        q[k] = (uint16_t)(int16_t)lrintf(big > 0.0f ? p->w[k] * 4096.0f / big : 0.0f);
    return q;
}
#endif

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: scatter-floor MODEL.snn --input FILE [--steps T] [--limit N] [--repeats R]\n"
               "\n"
               "Times the whole step loop, then only the event-driven accumulations of the same\n"
               "run replayed (direct coding). Prints 'full', 'replay' and, where the model allows\n"
               "it, 'replay_i16' (the replay on 16-bit integers; images/s, medians of R), and\n"
               "'synops' / 'all_synops' (event / all synaptic operations per image).\n"
               "  -i, --input FILE     samples (IDX, .npy or .pb, raw values)\n"
               "  -T, --steps T        time steps (default 64)\n"
               "  -n, --limit N        only the first N samples (default 200)\n"
               "  -r, --repeats R      timed passes over the samples (default 3)\n"
               "  -h, --help           this help\n"
               "Exit status: 0 success, 1 failure, 2 bad input.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'}, {"steps", required_argument, NULL, 'T'},
        {"limit", required_argument, NULL, 'n'}, {"repeats", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *input = NULL;
    long T = 64, limit = 200, repeats = 3;
    int c;
    while ((c = getopt_long(argc, argv, "i:T:n:r:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'i': input = optarg; break;
        case 'T': T = strtol(optarg, &end, 10); break;
        case 'n': limit = strtol(optarg, &end, 10); break;
        case 'r': repeats = strtol(optarg, &end, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (end && (*end || end == optarg || strtol(optarg, NULL, 10) < 1 || strtol(optarg, NULL, 10) > 100000)) {
            fprintf(stderr, "scatter-floor: '%s' is not a whole number in 1..100000\n", optarg);
            return 2;
        }
    }
    if (argc - optind != 1 || !input) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    snn_diag d;
    snn_diag_clear(&d);
    uint8_t *file = NULL;
    size_t len = 0;
    snn_model *m = calloc(1, sizeof *m);
    snn_dataset ds;
    memset(&ds, 0, sizeof ds);
    snn_rt_diag rd;
    int rc = 2;
    void *mem = NULL;
    float *x = NULL, *scratch[SNN_RT_MAX_LAYERS] = {0};
    event_log lg = {NULL, 0, 0};
    double *t_full = NULL, *t_replay = NULL, *t_i16 = NULL;
    uint16_t *w16[SNN_RT_MAX_PROJ] = {0}, *acc16[SNN_RT_MAX_LAYERS] = {0};
    if (!m || snn_file_read_all(path, (size_t)1 << 32, &file, &len, &d) != SNN_OK) {
        fprintf(stderr, "scatter-floor: %s: %s\n", path, m ? d.msg : "out of memory");
        goto done;
    }
    if (snn_model_load(m, file, len, &rd) != SNN_RT_OK) {
        fprintf(stderr, "scatter-floor: %s: %s\n", path, rd.msg);
        goto done;
    }
    if (m->features & SNN_FEATURE_TTFS) {
        fprintf(stderr, "scatter-floor: %s: a TTFS file; this measures rate coding\n", path);
        goto done;
    }
    if (snn_dataset_read(input, &ds, &d) != SNN_OK ||
        snn_dataset_check_size(&ds, m->input_size, "the SNN", &d) != SNN_OK) {
        fprintf(stderr, "scatter-floor: %s: %s\n", input, d.msg);
        goto done;
    }
    rc = 1;
    int64_t n = ds.n < limit ? ds.n : limit;
    size_t mem_size = snn_state_mem_size(m);
    mem = malloc(mem_size);
    x = malloc(m->input_size * sizeof *x);
    t_full = malloc((size_t)repeats * sizeof *t_full);
    t_replay = malloc((size_t)repeats * sizeof *t_replay);
    t_i16 = malloc((size_t)repeats * sizeof *t_i16);
    if (!mem || !x || !t_full || !t_replay || !t_i16)
        goto oom;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (!(scratch[i] = calloc(m->layers[i].size, sizeof(float))))
            goto oom;
    snn_state s;
    snn_state_init(&s, m, mem, mem_size);
    uint32_t target[SNN_RT_MAX_PROJ];
    proj_targets(m, target);
    uint64_t run_ops = 0, replay_ops = 0;
    int with_i16 = 0;
#if defined(__GNUC__)
    with_i16 = i16_ok(&s, target);
    for (uint32_t k = 0; with_i16 && k < m->n_proj; k++)
        if (!(w16[k] = quantise(&m->proj[k])))
            goto oom;
    for (uint32_t i = 0; with_i16 && i < m->n_layers; i++)
        if (!(acc16[i] = calloc(m->layers[i].size, sizeof(uint16_t))))
            goto oom;
#endif
    /* Image by image: record (untimed), then time the full loop and the replay of the same
     * image one after the other, so that both see the same machine. */
    for (long r = 0; r < repeats; r++) {
        t_full[r] = t_replay[r] = t_i16[r] = 0.0;
        for (int64_t i = 0; i < n; i++) {
            if (snn_dataset_get(&ds, i, x, &d) != SNN_OK) {
                fprintf(stderr, "scatter-floor: %s: %s\n", input, d.msg);
                goto done;
            }
            snn_preprocess_f32(m, x, x);
            lg.n = 0;
            if (!run_sample(&s, x, (uint32_t)T, target, &lg))
                goto oom;
            if (r == 0)
                for (uint32_t k = 0; k < m->n_layers; k++)
                    run_ops += s.stats[k].synops;
            double t0 = now();
            run_sample(&s, x, (uint32_t)T, target, NULL);
            double t1 = now();
            uint64_t ops = replay(&s, &lg, target, scratch);
            double t2 = now();
            if (r == 0)
                replay_ops += ops;
            t_full[r] += t1 - t0, t_replay[r] += t2 - t1;
#if defined(__GNUC__)
            if (with_i16) {
                replay_i16(&s, &lg, target, w16, acc16);
                t_i16[r] += now() - t2;
            }
#endif
        }
    }
    qsort(t_full, (size_t)repeats, sizeof *t_full, cmp_double);
    qsort(t_replay, (size_t)repeats, sizeof *t_replay, cmp_double);
    qsort(t_i16, (size_t)repeats, sizeof *t_i16, cmp_double);
    printf("full %.1f\nreplay %.1f\nsynops %.0f\nall_synops %.0f\n", (double)n / t_full[repeats / 2],
           (double)n / t_replay[repeats / 2], (double)replay_ops / (double)n, (double)run_ops / (double)n);
    if (with_i16)
        printf("replay_i16 %.1f\n", (double)n / t_i16[repeats / 2]);
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "scatter-floor: out of memory\n");
done:
    free(lg.w);
    free(t_full);
    free(t_replay);
    free(t_i16);
    for (uint32_t k = 0; k < SNN_RT_MAX_PROJ; k++)
        free(w16[k]);
    for (uint32_t i = 0; i < SNN_RT_MAX_LAYERS; i++)
        free(acc16[i]);
    for (uint32_t i = 0; i < SNN_RT_MAX_LAYERS; i++)
        free(scratch[i]);
    free(x);
    free(mem);
    free(m);
    free(file);
    snn_dataset_free(&ds);
    return rc;
}
