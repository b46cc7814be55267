#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"

/* The calibrated tensor whose positive values t has: its input when t is the output of a
 * Relu (or an Identity or Dropout) of the same shape, followed back; t itself otherwise. */
static int value_source(const snn_graph *g, const calib_stats *cs, int t)
{
    for (;;) {
        int p = g->tensors[t].producer;
        if (p < 0)
            return t;
        const snn_node *n = &g->nodes[p];
        if (n->op != SNN_OP_RELU && n->op != SNN_OP_IDENTITY && n->op != SNN_OP_DROPOUT)
            return t;
        int in = n->inputs[0];
        const snn_tensor *a = &g->tensors[in], *b = &g->tensors[t];
        if (in < 0 || !cs->t[in].channels || a->rank != b->rank ||
            memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]))
            return t;
        t = in;
    }
}

snn_status calib_init(calib_stats *cs, const snn_graph *g, snn_diag *diag)
{
    memset(cs, 0, sizeof *cs);
    cs->g = g;
    cs->t = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *cs->t);
    if (!cs->t)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for calibration");
    for (int i = 0; i < g->n_tensors; i++) {
        const snn_tensor *ten = &g->tensors[i];
        cs->t[i].same_as = -1;
        if (ten->flags & (SNN_TENSOR_CONST | SNN_TENSOR_INPUT))
            continue;
        calib_tensor *ct = &cs->t[i];
        ct->channels = ten->rank >= 2 ? (int)ten->dims[1] : 1;
        ct->inner = snn_tensor_numel(ten) / ct->channels;
    }
    for (int i = 0; i < g->n_tensors; i++) {
        calib_tensor *ct = &cs->t[i];
        if (ct->channels && (ct->same_as = value_source(g, cs, i)) == i)
            ct->same_as = -1;
    }
    for (int i = 0; i < g->n_tensors; i++) {
        calib_tensor *ct = &cs->t[i];
        if (!ct->channels || ct->same_as >= 0)
            continue;
        size_t ch = (size_t)ct->channels;
        ct->max = calloc(ch, sizeof *ct->max);
        ct->hist = snn_big_calloc(ch * CALIB_BINS, sizeof *ct->hist);
        ct->n_pos = calloc(ch, sizeof *ct->n_pos);
        ct->n_total = calloc(ch, sizeof *ct->n_total);
        if (!ct->max || !ct->hist || !ct->n_pos || !ct->n_total) {
            calib_free(cs);
            return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for calibration histograms");
        }
    }
    for (int i = 0; i < g->n_tensors; i++) {
        calib_tensor *ct = &cs->t[i], *src = ct->same_as >= 0 ? &cs->t[ct->same_as] : NULL;
        if (src)
            ct->max = src->max, ct->hist = src->hist, ct->n_pos = src->n_pos, ct->n_total = src->n_total;
    }
    return SNN_OK;
}

void calib_free(calib_stats *cs)
{
    if (!cs->t)
        return;
    for (int i = 0; i < cs->g->n_tensors; i++) {
        if (cs->t[i].same_as >= 0)
            continue;
        free(cs->t[i].max);
        free(cs->t[i].hist);
        free(cs->t[i].n_pos);
        free(cs->t[i].n_total);
    }
    free(cs->t);
    memset(cs, 0, sizeof *cs);
}

static int bin_of(float x);

void calib_merge(calib_stats *dst, const calib_stats *src)
{
    for (int i = 0; i < dst->g->n_tensors; i++) {
        calib_tensor *d = &dst->t[i];
        const calib_tensor *s = &src->t[i];
        if (d->same_as >= 0)
            continue;
        for (int c = 0; c < d->channels; c++) {
            d->max[c] = s->max[c] > d->max[c] ? s->max[c] : d->max[c];
            d->n_pos[c] += s->n_pos[c];
            d->n_total[c] += s->n_total[c];
            if (!s->n_pos[c])
                continue; /* an empty histogram */
            uint32_t *h = d->hist + (size_t)c * CALIB_BINS;
            const uint32_t *hs = s->hist + (size_t)c * CALIB_BINS;
            for (int b = 0, top = bin_of(s->max[c]); b <= top; b++) /* nothing lies above the maximum's bin */
                h[b] += hs[b];
        }
    }
    dst->samples += src->samples;
}

/* Bin of a positive float from its bits: the exponent picks the octave, the top 5 mantissa
 * bits one of 32 equal slices of it (relative width 1/32 to 1/64). No log, no division. */
static int bin_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    int e = (int)(u >> 23) - 127; /* x in [2^e, 2^(e+1)) for normal x */
    int b = (e - CALIB_MIN_EXP) * CALIB_BINS_PER_OCTAVE + (int)((u >> 18) & 31);
    return b < 0 ? 0 : b >= CALIB_BINS ? CALIB_BINS - 1 : b;
}

static float bin_upper(int b)
{
    int e = b / CALIB_BINS_PER_OCTAVE + CALIB_MIN_EXP, k = b % CALIB_BINS_PER_OCTAVE;
    return ldexpf(1.0f + (float)(k + 1) / CALIB_BINS_PER_OCTAVE, e);
}

void calib_add(calib_stats *cs, const snn_eval *ev)
{
    calib_add_samples(cs, ev, 1);
}

void calib_add_samples(calib_stats *cs, const snn_eval *ev, int64_t samples)
{
    const snn_graph *g = cs->g;
    for (int i = 0; i < g->n_tensors; i++) {
        calib_tensor *ct = &cs->t[i];
        if (!ct->channels || ct->same_as >= 0)
            continue;
        const float *x = snn_eval_tensor(ev, i);
        int64_t outer = samples * (snn_tensor_numel(&g->tensors[i]) / (ct->channels * ct->inner));
        for (int64_t o = 0; o < outer; o++)
            for (int c = 0; c < ct->channels; c++) {
                const float *xc = x + (o * ct->channels + c) * ct->inner;
                uint32_t *h = ct->hist + (size_t)c * CALIB_BINS;
                float mx = ct->max[c];
                uint64_t pos = 0;
                for (int64_t k = 0; k < ct->inner; k++) {
                    float v = xc[k];
                    if (!(v > 0.0f))
                        continue;
                    pos++;
                    mx = v > mx ? v : mx;
                    h[bin_of(v)]++;
                }
                ct->max[c] = mx;
                ct->n_pos[c] += pos;
                ct->n_total[c] += (uint64_t)ct->inner;
            }
    }
    cs->samples += samples;
}

float calib_max(const calib_stats *cs, int t, int c)
{
    const calib_tensor *ct = &cs->t[t];
    if (c >= 0)
        return ct->max[c];
    float m = 0.0f;
    for (int k = 0; k < ct->channels; k++)
        m = ct->max[k] > m ? ct->max[k] : m;
    return m;
}

float calib_percentile(const calib_stats *cs, int t, int c, double p)
{
    const calib_tensor *ct = &cs->t[t];
    int c0 = c >= 0 ? c : 0, c1 = c >= 0 ? c + 1 : ct->channels;
    uint64_t total = 0;
    for (int k = c0; k < c1; k++)
        total += ct->n_pos[k];
    if (total == 0)
        return 0.0f;
    float mx = calib_max(cs, t, c);
    if (p >= 100.0)
        return mx;
    /* The smallest bin edge below which at least p % of the positive values lie. */
    double want = p / 100.0 * (double)total;
    uint64_t cum = 0;
    for (int b = 0; b < CALIB_BINS; b++) {
        for (int k = c0; k < c1; k++)
            cum += ct->hist[(size_t)k * CALIB_BINS + b];
        if ((double)cum >= want) {
            float up = bin_upper(b);
            return up < mx ? up : mx;
        }
    }
    return mx;
}

double calib_fraction_above(const calib_stats *cs, int t, int c, float v)
{
    const calib_tensor *ct = &cs->t[t];
    int c0 = c >= 0 ? c : 0, c1 = c >= 0 ? c + 1 : ct->channels;
    uint64_t total = 0, above = 0;
    for (int k = c0; k < c1; k++) {
        total += ct->n_total[k];
        if (!(ct->max[k] > v))
            continue; /* nothing above: exact */
        for (int b = 0; b < CALIB_BINS; b++)
            if (bin_upper(b) > v)
                above += ct->hist[(size_t)k * CALIB_BINS + b];
    }
    return total ? (double)above / (double)total : 0.0;
}

/* Squared error of the T-step rate code of x at scale lam: a neuron starting at v0 * theta
 * and driven by a constant x / lam per step fires floor(T x / lam + v0) times, at most T
 * (and 0 for x <= 0), so it stands for lam / T times that. */
static double rate_code_error(double x, double lam, uint32_t T, double v0)
{
    double k = floor(x * T / lam + v0);
    k = k < 0.0 ? 0.0 : k > T ? (double)T : k;
    double e = x - k * lam / T;
    return e * e;
}

/* Sum over bins lo..hi of count times the mean error at the bin's four points, at scale lam.
 * Each point costs two divisions and a floor, 160 candidates over every channel of a network,
 * which made this search a second of VGG-11's conversion; the AVX copy takes a bin's four
 * points in one register. Both do the same IEEE operations in the same order (the four points'
 * errors summed left to right, then scaled by the count), so they return the same bits. */
static double histogram_error_plain(const uint64_t *n, const double (*pts)[4], int lo, int hi, double lam,
                                    uint32_t T, double v0)
{
    double err = 0.0;
    for (int b = lo; b <= hi; b++) {
        if (!n[b])
            continue;
        double e = 0.0;
        for (int q = 0; q < 4; q++)
            e += rate_code_error(pts[b][q], lam, T, v0);
        err += (double)n[b] * e / 4.0;
    }
    return err;
}

typedef double histogram_error_fn(const uint64_t *n, const double (*pts)[4], int lo, int hi, double lam, uint32_t T,
                                  double v0);

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx"))) static double histogram_error_avx(const uint64_t *n, const double (*pts)[4], int lo,
                                                                  int hi, double lam, uint32_t T, double v0)
{
    const __m256d t = _mm256_set1_pd((double)T), l = _mm256_set1_pd(lam), v = _mm256_set1_pd(v0);
    const __m256d zero = _mm256_setzero_pd();
    double err = 0.0;
    for (int b = lo; b <= hi; b++) {
        if (!n[b])
            continue;
        __m256d x = _mm256_loadu_pd(pts[b]);
        __m256d k = _mm256_floor_pd(_mm256_add_pd(_mm256_div_pd(_mm256_mul_pd(x, t), l), v));
        k = _mm256_min_pd(_mm256_max_pd(k, zero), t); /* a -0 that becomes +0 changes no error */
        __m256d e = _mm256_sub_pd(x, _mm256_div_pd(_mm256_mul_pd(k, l), t));
        e = _mm256_mul_pd(e, e);
        double q[4];
        _mm256_storeu_pd(q, e);
        err += (double)n[b] * (((q[0] + q[1]) + q[2]) + q[3]) / 4.0;
    }
    return err;
}

/* The copy a search uses, chosen once per search (the environment is read once per channel,
 * not once per candidate): SNN_SIMD=baseline takes the plain copy, as it does in the runtime. */
static histogram_error_fn *histogram_error_pick(void)
{
    const char *simd = getenv("SNN_SIMD");
    bool avx = __builtin_cpu_supports("avx") && !(simd && !strcmp(simd, "baseline"));
    return avx ? histogram_error_avx : histogram_error_plain;
}
#else
static histogram_error_fn *histogram_error_pick(void)
{
    return histogram_error_plain;
}
#endif

/* T-aware threshold search, Li et al. 2021 ("A Free Lunch From ANN: Towards Efficient,
 * Accurate Spiking Neural Networks Calibration", ICML, sec. 4: the threshold that minimises
 * the squared error between the ANN activation and its clipped, 1/T-quantised SNN rate).
 * The error is summed over the histogram: each bin's count at four points spread over its
 * width (bins are 1.6 % to 3.1 % wide, well below the 1/T steps that matter). Candidates
 * are the maximum times 0.99^k for k = 0..160, down to 0.2 of the maximum; the first of
 * equal errors (the largest scale) wins. */
/* What the search sums over: the merged counts of the channels asked for, the range of bins
 * in use, and each bin's four points (the same for every candidate). */
typedef struct {
    uint64_t n[CALIB_BINS];     /* (bins) 12 KB */
    double pts[CALIB_BINS][4];  /* (bins, 4) 48 KB */
    int lo, hi;
    float mx;
} search_hist;

static void search_hist_make(const calib_stats *cs, int t, int c, search_hist *h)
{
    const calib_tensor *ct = &cs->t[t];
    int c0 = c >= 0 ? c : 0, c1 = c >= 0 ? c + 1 : ct->channels;
    h->mx = calib_max(cs, t, c);
    h->lo = CALIB_BINS, h->hi = -1;
    for (int b = 0; b < CALIB_BINS; b++) {
        h->n[b] = 0;
        for (int k = c0; k < c1; k++)
            h->n[b] += ct->hist[(size_t)k * CALIB_BINS + b];
        if (h->n[b]) {
            h->lo = b < h->lo ? b : h->lo;
            h->hi = b;
        }
    }
    for (int b = h->lo; b <= h->hi; b++) {
        double up = (double)bin_upper(b), down = b > 0 ? (double)bin_upper(b - 1) : 0.0;
        if (up > (double)h->mx)
            up = h->mx; /* the top bin holds the maximum, nothing above it */
        for (int q = 0; q < 4; q++)
            h->pts[b][q] = down + (up - down) * (q + 0.5) / 4.0;
    }
}

double calib_search_error(const calib_stats *cs, int t, int c, uint32_t T, float v0, double lam)
{
    search_hist *h = malloc(sizeof *h);
    if (!h)
        return NAN;
    search_hist_make(cs, t, c, h);
    double err = histogram_error_pick()(h->n, (const double(*)[4])h->pts, h->lo, h->hi, lam, T, v0);
    free(h);
    return err;
}

float calib_search_scale(const calib_stats *cs, int t, int c, uint32_t T, float v0)
{
    float mx = calib_max(cs, t, c);
    if (!(mx > 0.0f) || T == 0)
        return mx;
    search_hist h;
    search_hist_make(cs, t, c, &h);
    histogram_error_fn *histogram_error = histogram_error_pick();
    double best_lam = mx, best_err = INFINITY;
    double lam = mx;
    for (int step = 0; step <= 160; step++, lam *= 0.99) {
        double err = histogram_error(h.n, (const double(*)[4])h.pts, h.lo, h.hi, lam, T, v0);
        if (err < best_err) {
            best_err = err;
            best_lam = lam;
        }
    }
    return (float)best_lam;
}
