/* Graph IR -> spiking layers, with threshold balancing.
 *
 * Every IR tensor gets a value: SPIKES (a buffer whose neurons fire at rate a / lambda for
 * activation a; the input is buffer 0 with lambda 1) or LINEAR (a sum of projections of
 * SPIKES values plus a bias, in ANN units, not yet through a non-linearity). A ReLU (or Clip
 * at 0..M) on a LINEAR value makes an integrate-and-fire layer; linear ops without a ReLU
 * between them (Conv -> BN -> Add in a residual block) merge into one layer's projections,
 * so a residual Add becomes a layer that sums its branches at a common scale.
 *
 * Balancing (data-based normalisation, Diehl et al. 2015 "Fast-classifying, high-accuracy
 * spiking deep networks through weight and threshold balancing", IJCNN; robust percentile
 * normalisation, Rueckauer et al. 2016 arXiv:1612.04052 and 2017; channel-wise
 * normalisation, Kim et al. 2020 "Spiking-YOLO", AAAI): with lambda_out the chosen scale of
 * a layer's activation and lambda_src of each source channel, every weight becomes
 *     w * lambda_src[c_in] / lambda_out[c_out],  bias b / lambda_out[c_out],  threshold 1,
 * so spikes are plain 0/1 events. The output layer has lambda 1: its membrane accumulates
 * the ANN's logits times the number of steps. */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/parallel.h"
#include "ir/op_info.h"
#include "ir/shape.h"
#include "snn_net.h"

typedef enum { V_NONE = 0, V_SPIKES, V_LINEAR } value_kind;

typedef struct {
    value_kind kind;
    uint32_t buffer;     /* SPIKES */
    uint32_t c, h, w;    /* SPIKES: the buffer's shape; LINEAR: the output shape */
    net_proj *terms;     /* (n_terms) LINEAR, ANN units */
    int n_terms;
    float *bias;         /* (c) LINEAR */
} value;

typedef struct {
    const snn_graph *g;
    const calib_stats *cs;
    const snn_build_opts *o;
    snn_net *net;
    snn_diag *diag;
    value *vals;     /* (n_tensors) */
    float **lambda;  /* (n_layers + 1) per buffer: lambda of each channel; [0] is the input */
} builder;

void snn_build_opts_init(snn_build_opts *o)
{
    memset(o, 0, sizeof *o);
    /* Chosen from measurements (docs/models.md): channel-wise 99.9th percentile keeps the
     * bundled nets closest to their ANN from T = 16 on, at about twice the spikes of the
     * layer-wise 99.99th percentile. */
    o->norm = SNN_NORM_CHANNEL;
    o->percentile = 99.9;
    o->reset = SNN_RESET_SUBTRACT;
    /* Signed spikes cancel the spikes a neuron fired on a transient (the "unevenness" of
     * Bu et al. 2022): measured in docs/models.md, they bring the residual net from -6 pp to
     * within 0.5 pp of its ANN at T = 32. */
    o->signed_spikes = 1;
    o->v_init = 0.5f;
    o->readout = SNN_READOUT_MEMBRANE;
    o->coding = SNN_CODING_DIRECT;
    o->steps = 64;
    o->input_max = 1.0f;
    o->target_steps = SNN_DEFAULT_TARGET_STEPS;
    o->burst = 1;
    o->input_lo = o->input_hi = NAN;
    o->headroom = 1.0f;
}

void snn_net_free(snn_net *net)
{
    for (uint32_t i = 0; i < net->n_layers; i++) {
        free(net->layers[i].bias);
        free(net->layers[i].threshold);
        free(net->layers[i].lambda);
        free(net->layers[i].qparam);
        free(net->layers[i].unit);
        free(net->layers[i].v0);
    }
    for (uint32_t i = 0; i < net->n_proj; i++) {
        free(net->proj[i].w);
        free(net->proj[i].wq);
    }
    free(net->layers);
    free(net->proj);
    memset(net, 0, sizeof *net);
}

static void value_clear(value *v)
{
    for (int i = 0; i < v->n_terms; i++)
        free(v->terms[i].w);
    free(v->terms);
    free(v->bias);
    memset(v, 0, sizeof *v);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static snn_status node_fail(builder *b, const snn_node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return snn_diag_at(b->diag, SNN_ERR_UNSUPPORTED, n->name, "node '%.100s' (%s): %s", n->name,
                       snn_op_name(n->op), msg);
}

static snn_status nomem(builder *b)
{
    return snn_diag_set(b->diag, SNN_ERR_NOMEM, "out of memory building the SNN");
}

static float *fdup(const float *src, size_t n)
{
    float *d = malloc((n ? n : 1) * sizeof *d);
    if (d && n)
        memcpy(d, src, n * sizeof *d);
    return d;
}

/* Shape of an IR tensor as (C, H, W): rank 4 (1, C, H, W) or rank 2 (1, N) -> (N, 1, 1). */
static bool chw_of(const snn_tensor *t, uint32_t *c, uint32_t *h, uint32_t *w)
{
    if (t->dims[0] != 1 && t->rank > 0)
        return false;
    if (t->rank == 4) {
        *c = (uint32_t)t->dims[1], *h = (uint32_t)t->dims[2], *w = (uint32_t)t->dims[3];
        return true;
    }
    if (t->rank == 2) {
        *c = (uint32_t)t->dims[1], *h = 1, *w = 1;
        return true;
    }
    return false;
}

/* A constant that is a scalar or has one value per channel (shape (C), (C,1,1), (1,C,1,1),
 * (1,C)); out receives c values. */
static bool per_channel_const(const snn_graph *g, int t, uint32_t c, float *out)
{
    if (t < 0 || !(g->tensors[t].flags & SNN_TENSOR_CONST) || g->tensors[t].dtype != SNN_DTYPE_FLOAT)
        return false;
    const snn_tensor *k = &g->tensors[t];
    int64_t n = snn_tensor_numel(k);
    const float *d = k->data;
    if (n == 1) {
        for (uint32_t i = 0; i < c; i++)
            out[i] = d[0];
        return true;
    }
    if (n != (int64_t)c)
        return false;
    int non1 = 0;
    for (int i = 0; i < k->rank; i++)
        non1 += k->dims[i] != 1;
    /* The channel axis must be axis 1 of a 4-D broadcast, or the last of a 1-D/2-D one. */
    bool ok = k->rank <= 2 || (k->rank == 3 && k->dims[0] == (int64_t)c) ||
              (k->rank == 4 && k->dims[1] == (int64_t)c);
    if (non1 > 1 || !ok)
        return false;
    memcpy(out, d, c * sizeof *out);
    return true;
}

/* ------------------------------------------------------------------ terms */

static snn_status add_term(builder *b, value *v, const net_proj *p)
{
    net_proj *nt = realloc(v->terms, (size_t)(v->n_terms + 1) * sizeof *nt);
    if (!nt)
        return nomem(b);
    v->terms = nt;
    v->terms[v->n_terms++] = *p;
    return SNN_OK;
}

static snn_status new_linear(builder *b, value *v, uint32_t c, uint32_t h, uint32_t w)
{
    memset(v, 0, sizeof *v);
    v->kind = V_LINEAR;
    v->c = c, v->h = h, v->w = w;
    v->bias = calloc(c, sizeof *v->bias);
    return v->bias ? SNN_OK : nomem(b);
}

/* Scale output channel o of a term's weights by s[o] (per-channel affine on a LINEAR). */
static void term_scale_out(net_proj *p, uint32_t out_c, uint32_t out_hw, const float *s)
{
    switch (p->kind) {
    case SNN_PROJ_DENSE: {
        uint32_t n_out = out_c * out_hw, n_src = p->n_w / n_out;
        for (uint32_t j = 0; j < n_src; j++)
            for (uint32_t o = 0; o < n_out; o++)
                p->w[(size_t)j * n_out + o] *= s[o / out_hw];
        break;
    }
    case SNN_PROJ_CONV: {
        uint32_t mg = out_c / p->group, cg = p->src_c / p->group, taps = p->kh * p->kw;
        for (uint32_t c = 0; c < p->src_c; c++)
            for (uint32_t t = 0; t < taps; t++)
                for (uint32_t m = 0; m < mg; m++)
                    p->w[((size_t)c * taps + t) * mg + m] *= s[(c / cg) * mg + m];
        break;
    }
    default: /* per-channel kinds */
        for (uint32_t c = 0; c < p->n_w; c++)
            p->w[c] *= s[c];
        break;
    }
}

/* Scale source channel c of a term's weights by s[c] (lambda of the source). */
static void term_scale_src(net_proj *p, const float *s, uint32_t out_size)
{
    uint32_t src_hw = p->src_h * p->src_w;
    switch (p->kind) {
    case SNN_PROJ_DENSE: /* rows are source neurons, channel-last: channel j % C */
        for (uint32_t j = 0; j < p->src_c * src_hw; j++)
            for (uint32_t o = 0; o < out_size; o++)
                p->w[(size_t)j * out_size + o] *= s[j % p->src_c];
        break;
    case SNN_PROJ_CONV: {
        uint32_t per = p->n_w / p->src_c;
        for (uint32_t c = 0; c < p->src_c; c++)
            for (uint32_t k = 0; k < per; k++)
                p->w[(size_t)c * per + k] *= s[c];
        break;
    }
    default:
        for (uint32_t c = 0; c < p->n_w; c++)
            p->w[c] *= s[c];
        break;
    }
}

/* A term reading SPIKES value src. */
static net_proj term_from(const value *src, uint32_t kind)
{
    net_proj p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.source = src->buffer;
    p.src_c = src->c, p.src_h = src->h, p.src_w = src->w;
    p.kh = p.kw = p.sh = p.sw = p.dh = p.dw = p.group = 1;
    return p;
}

/* ------------------------------------------------------------------ layers */

static snn_status push_layer(builder *b, net_layer **out)
{
    snn_net *net = b->net;
    if (net->n_layers >= SNN_MAX_LAYERS)
        return snn_diag_set(b->diag, SNN_ERR_UNSUPPORTED, "more than %d spiking layers", SNN_MAX_LAYERS);
    if (net->n_layers == net->cap_layers) {
        uint32_t cap = net->cap_layers ? net->cap_layers * 2 : 16;
        net_layer *nl = realloc(net->layers, cap * sizeof *nl);
        float **lam = realloc(b->lambda, (cap + 1) * sizeof *lam);
        if (!nl || !lam) {
            if (nl) net->layers = nl;
            if (lam) b->lambda = lam;
            return nomem(b);
        }
        net->layers = nl;
        b->lambda = lam;
        net->cap_layers = cap;
    }
    *out = &net->layers[net->n_layers];
    memset(*out, 0, sizeof **out);
    (*out)->tensor = -1;
    return SNN_OK;
}

static snn_status push_proj(builder *b, const net_proj *p)
{
    snn_net *net = b->net;
    if (net->n_proj >= SNN_MAX_PROJ)
        return snn_diag_set(b->diag, SNN_ERR_UNSUPPORTED, "more than %d projections", SNN_MAX_PROJ);
    if (net->n_proj == net->cap_proj) {
        uint32_t cap = net->cap_proj ? net->cap_proj * 2 : 16;
        net_proj *np = realloc(net->proj, cap * sizeof *np);
        if (!np)
            return nomem(b);
        net->proj = np;
        net->cap_proj = cap;
    }
    net->proj[net->n_proj++] = *p;
    return SNN_OK;
}

/* Finish a layer whose record is net->layers[n_layers]: count it and give its buffer a
 * lambda. Returns the buffer index. */
static uint32_t commit_layer(builder *b, float *lambda)
{
    snn_net *net = b->net;
    uint32_t buf = net->n_layers + 1;
    net->layers[net->n_layers].lambda = lambda;
    b->lambda[buf] = lambda;
    net->n_layers++;
    return buf;
}

/* Upper bound of each output channel's activation from the sources' bounds (Diehl et al.
 * 2015, model-based normalisation): sum of positive weights times source lambda, plus bias. */
static float model_bound(builder *b, const value *v)
{
    /* A source neuron's largest value: its scale times the most spikes it emits in a step. */
#define LS(ch) (ls ? ls[ch] * (float)(b->o->burst > 1 ? b->o->burst : 1) : in_bound[0])
    float worst = 0.0f;
    uint32_t hw = v->h * v->w;
    float *acc = calloc((size_t)v->c * hw, sizeof *acc);
    if (!acc)
        return 1.0f;
    for (int t = 0; t < v->n_terms; t++) {
        const net_proj *p = &v->terms[t];
        /* The input is fed as it is (lambda 1); its bound is the largest input value. */
        float in_bound[1] = {b->o->input_max};
        const float *ls = p->source == 0 ? NULL : b->lambda[p->source];
        uint32_t src_hw = p->src_h * p->src_w, out = v->c * hw;
        switch (p->kind) {
        case SNN_PROJ_DENSE:
            for (uint32_t j = 0; j < p->src_c * src_hw; j++)
                for (uint32_t o = 0; o < out; o++) {
                    float wv = p->w[(size_t)j * out + o];
                    if (wv > 0)
                        acc[o] += wv * LS(j % p->src_c);
                }
            break;
        case SNN_PROJ_CONV: {
            uint32_t mg = v->c / p->group, cg = p->src_c / p->group, taps = p->kh * p->kw;
            for (uint32_t c = 0; c < p->src_c; c++)
                for (uint32_t k = 0; k < taps * mg; k++) {
                    float wv = p->w[(size_t)c * taps * mg + k];
                    if (wv > 0)
                        acc[((c / cg) * mg + k % mg) * hw] += wv * LS(c);
                }
            break;
        }
        case SNN_PROJ_AVGPOOL:
            for (uint32_t c = 0; c < v->c; c++)
                acc[c * hw] += p->w[c] * (float)(p->kh * p->kw) * LS(c);
            break;
        case SNN_PROJ_GLOBALAVG:
            for (uint32_t c = 0; c < v->c; c++)
                acc[c * hw] += p->w[c] * (float)src_hw * LS(c);
            break;
        default:
            for (uint32_t c = 0; c < v->c; c++)
                acc[c * hw] += (p->w[c] > 0 ? p->w[c] : 0) * LS(c);
            break;
        }
    }
    for (uint32_t c = 0; c < v->c; c++) {
        float bound = acc[c * hw] + (v->bias[c] > 0 ? v->bias[c] : 0);
        worst = bound > worst ? bound : worst;
    }
    free(acc);
    return worst;
#undef LS
}

/* Layer L carries IR tensor t; its name goes in the file (TENS) when it fits. */
static void set_tensor(builder *b, net_layer *L, int t)
{
    L->tensor = t;
    const char *name = t >= 0 ? b->g->tensors[t].name : NULL;
    L->tensor_name[0] = '\0';
    if (name && strlen(name) < sizeof L->tensor_name)
        strcpy(L->tensor_name, name);
}

/* The BatchNormalization statistics behind tensor t ((2, C): beta, |gamma|), its own or, for
 * a ReLU or Clip of it, its input's; NULL if none or not of c channels. */
static const float *bn_prior_of(const snn_graph *g, int t, uint32_t c)
{
    const snn_tensor *ten = &g->tensors[t];
    if (!ten->bn_prior && ten->producer >= 0) {
        const snn_node *p = &g->nodes[ten->producer];
        if ((p->op == SNN_OP_RELU || p->op == SNN_OP_CLIP) && p->inputs[0] >= 0)
            ten = &g->tensors[p->inputs[0]];
    }
    return ten->bn_prior && ten->rank >= 2 && ten->dims[1] == (int64_t)c ? ten->bn_prior : NULL;
}

/* The T-aware search of every channel of tensor t, split over threads: each channel's search
 * is independent and costs about a millisecond (a few thousand channels in a VGG). */
typedef struct {
    const calib_stats *cs;
    int t;
    uint32_t channels, T;
    float v0;
    int workers;
    float *out; /* (channels) */
} channel_search;

static void search_channels(void *ctx, int worker)
{
    const channel_search *j = ctx;
    int64_t begin, end;
    snn_parallel_range(j->channels, j->workers, worker, &begin, &end);
    for (int64_t c = begin; c < end; c++)
        j->out[c] = calib_search_scale(j->cs, j->t, (int)c, j->T, j->v0);
}

/* Per-channel lambda of tensor t's rectified activation (v is its LINEAR value). */
static snn_status choose_lambda(builder *b, const value *v, int t, float cap, float **out)
{
    float *lam = malloc(v->c * sizeof *lam);
    if (!lam)
        return nomem(b);
    const snn_build_opts *o = b->o;
    float layer = 0.0f;
    const float *prior = o->bn_prior_k > 0.0f && o->norm != SNN_NORM_MODEL ? bn_prior_of(b->g, t, v->c) : NULL;
    if (prior) {
        /* Data-free ranges from the BN statistics: channel c's pre-activation had mean beta
         * and std |gamma| in training; beta + k |gamma| bounds most of its positive part. The
         * layer-wise norms take the largest channel's, the others each channel's own. */
        bool per_channel = o->norm == SNN_NORM_CHANNEL || o->norm == SNN_NORM_TSEARCH;
        for (uint32_t c = 0; c < v->c; c++)
            layer = fmaxf(layer, prior[c] + o->bn_prior_k * prior[v->c + c]);
        uint32_t G = o->burst > 1 ? o->burst : 1;
        for (uint32_t c = 0; c < v->c; c++) {
            float l = per_channel ? prior[c] + o->bn_prior_k * prior[v->c + c] : layer;
            l *= o->headroom;
            if (l > cap)
                l = cap;
            lam[c] = l > 0.0f ? l / (float)G : 1.0f;
        }
        *out = lam;
        return SNN_OK;
    }
    if (o->norm == SNN_NORM_MODEL)
        layer = model_bound(b, v);
    else if (o->norm == SNN_NORM_MAX)
        layer = calib_max(b->cs, t, -1);
    else if (o->norm == SNN_NORM_PERCENTILE)
        layer = calib_percentile(b->cs, t, -1, o->percentile);
    /* With bursts of up to G spikes a neuron covers [0, G lambda] in steps of lambda / T: the
     * range keeps the method's value and lambda is a G-th of it, so a step of T carries what
     * G T steps of single spikes do. The T-aware search fits that resolution. */
    uint32_t G = o->burst > 1 ? o->burst : 1, T_eff = o->target_steps * G;
    if (o->norm == SNN_NORM_TSEARCH_LAYER)
        layer = calib_search_scale(b->cs, t, -1, T_eff, o->v_init);
    if (o->norm == SNN_NORM_TSEARCH) { /* lam[c] = channel c's search, then scaled below */
        int workers = o->workers > 1 ? o->workers : 1;
        channel_search job = {.cs = b->cs, .t = t, .channels = v->c, .T = T_eff, .v0 = o->v_init,
                              .workers = workers < (int)v->c ? workers : 1, .out = lam};
        snn_diag d;
        if (snn_parallel_run(job.workers, search_channels, &job, &d) != SNN_OK) {
            free(lam);
            return nomem(b);
        }
    }
    for (uint32_t c = 0; c < v->c; c++) {
        float l = layer;
        if (o->norm == SNN_NORM_CHANNEL) {
            /* Channels of a dense layer are single neurons: per-channel then means per-neuron. */
            l = calib_percentile(b->cs, t, (int)c, o->percentile);
        } else if (o->norm == SNN_NORM_TSEARCH) {
            l = lam[c];
        }
        l *= o->headroom; /* before the cap: a Clip bound is exact as it is */
        if (l > cap)
            l = cap;
        lam[c] = l > 0.0f ? l / (float)G : 1.0f; /* a silent channel: any positive scale will do */
    }
    *out = lam;
    return SNN_OK;
}

/* Turn a LINEAR value into an integrate-and-fire layer whose rates carry tensor t. */
static snn_status materialize(builder *b, value *v, int t, float cap, uint32_t flags,
                              const char *name)
{
    net_layer *L;
    snn_status st = push_layer(b, &L);
    if (st != SNN_OK)
        return st;
    float *lam = NULL;
    bool is_out = flags & SNN_LAYER_F_OUTPUT;
    if (is_out) {
        lam = malloc(v->c * sizeof *lam);
        if (!lam)
            return nomem(b);
        for (uint32_t c = 0; c < v->c; c++)
            lam[c] = 1.0f;
    } else {
        st = choose_lambda(b, v, t, cap, &lam);
        if (st != SNN_OK)
            return st;
    }
    L->kind = SNN_LAYER_NEURON;
    L->flags = flags;
    L->c = v->c, L->h = v->h, L->w = v->w;
    set_tensor(b, L, t);
    snprintf(L->name, sizeof L->name, "%s", name);
    L->bias = malloc(v->c * sizeof *L->bias);
    L->threshold = malloc(v->c * sizeof *L->threshold);
    if (!L->bias || !L->threshold) {
        free(lam);
        return nomem(b);
    }
    float *inv_out = malloc(v->c * sizeof *inv_out);
    if (!inv_out) {
        free(lam);
        return nomem(b);
    }
    for (uint32_t c = 0; c < v->c; c++) {
        inv_out[c] = 1.0f / lam[c];
        L->bias[c] = v->bias[c] * inv_out[c];
        L->threshold[c] = 1.0f;
    }
    if (is_out && b->o->readout == SNN_READOUT_SPIKES && b->cs) {
        /* Output spikes count logits in units of their positive percentile. */
        float th = calib_percentile(b->cs, t, -1, b->o->percentile);
        for (uint32_t c = 0; c < v->c; c++)
            L->threshold[c] = th > 0 ? th : 1.0f;
    }
    L->proj_first = b->net->n_proj;
    L->proj_count = (uint32_t)v->n_terms;
    for (int k = 0; k < v->n_terms; k++) {
        net_proj *p = &v->terms[k];
        term_scale_src(p, b->lambda[p->source], v->c * v->h * v->w);
        term_scale_out(p, v->c, v->h * v->w, inv_out);
        st = push_proj(b, p);
        if (st != SNN_OK) {
            free(inv_out);
            free(lam);
            return st;
        }
        p->w = NULL; /* owned by the net now */
    }
    free(inv_out);
    uint32_t buf = commit_layer(b, lam);
    uint32_t c = v->c, h = v->h, w = v->w;
    value_clear(v);
    v->kind = V_SPIKES;
    v->buffer = buf;
    v->c = c, v->h = h, v->w = w;
    return SNN_OK;
}

/* ------------------------------------------------------------------ ops */

/* A LINEAR value that cannot be negative: pooling (or positive identity) of spikes with no
 * negative bias. ReLU is the identity on it, so it may become neurons where spikes are
 * needed, as snn_toolbox does for average pooling. */
static bool nonnegative_linear(const value *v)
{
    if (v->kind != V_LINEAR)
        return false;
    for (uint32_t c = 0; c < v->c; c++)
        if (v->bias[c] < 0)
            return false;
    for (int k = 0; k < v->n_terms; k++) {
        const net_proj *p = &v->terms[k];
        if (p->kind != SNN_PROJ_AVGPOOL && p->kind != SNN_PROJ_GLOBALAVG && p->kind != SNN_PROJ_IDENTITY)
            return false;
        for (uint32_t i = 0; i < p->n_w; i++)
            if (p->w[i] < 0)
                return false;
    }
    return true;
}

static snn_status materialize(builder *b, value *v, int t, float cap, uint32_t flags,
                              const char *name);

/* Make input k of n a SPIKES value if it is a non-negative LINEAR one. */
static snn_status ensure_spikes(builder *b, const snn_node *n, int k)
{
    int t = n->inputs[k];
    if (t < 0 || !nonnegative_linear(&b->vals[t]))
        return SNN_OK;
    const snn_tensor *ten = &b->g->tensors[t];
    int p = ten->producer;
    return materialize(b, &b->vals[t], t, INFINITY, 0, p >= 0 ? b->g->nodes[p].name : ten->name);
}

static const value *val(builder *b, const snn_node *n, int k)
{
    return n->inputs[k] >= 0 ? &b->vals[n->inputs[k]] : NULL;
}

static bool is_const_t(const snn_graph *g, int t)
{
    return t >= 0 && (g->tensors[t].flags & SNN_TENSOR_CONST);
}

static snn_status op_conv(builder *b, const snn_node *n, value *out)
{
    const snn_graph *g = b->g;
    const value *x = val(b, n, 0);
    if (!x || x->kind != V_SPIKES)
        return node_fail(b, n, "its input must be the network input or a ReLU output (found a linear "
                               "value: put a ReLU between linear layers)");
    if (!is_const_t(g, n->inputs[1]) || (n->n_inputs > 2 && n->inputs[2] >= 0 && !is_const_t(g, n->inputs[2])))
        return node_fail(b, n, "weights and bias must be constants");
    const snn_tensor *W = &g->tensors[n->inputs[1]], *X = &g->tensors[n->inputs[0]];
    uint32_t c, h, w;
    if (!chw_of(&g->tensors[n->outputs[0]], &c, &h, &w) || X->rank != 4)
        return node_fail(b, n, "batch size must be 1 and the input 4-D");
    int64_t kernel[2] = {W->dims[2], W->dims[3]}, pads[4], ohw[2];
    snn_status st = snn_shape_window(n, kernel, &X->dims[2], pads, ohw, b->diag);
    if (st != SNN_OK)
        return st;
    for (int i = 0; i < 4; i++)
        if (pads[i] > 65535)
            return node_fail(b, n, "pads too large");
    net_proj p = term_from(x, SNN_PROJ_CONV);
    p.src_c = (uint32_t)X->dims[1], p.src_h = (uint32_t)X->dims[2], p.src_w = (uint32_t)X->dims[3];
    if (p.src_c * p.src_h * p.src_w != x->c * x->h * x->w)
        return node_fail(b, n, "input shape differs from its spiking source");
    p.kh = (uint16_t)kernel[0], p.kw = (uint16_t)kernel[1];
    p.sh = (uint16_t)n->attr.strides[0], p.sw = (uint16_t)n->attr.strides[1];
    p.dh = (uint16_t)n->attr.dilations[0], p.dw = (uint16_t)n->attr.dilations[1];
    p.pt = (uint16_t)pads[0], p.pl = (uint16_t)pads[1], p.pb = (uint16_t)pads[2], p.pr = (uint16_t)pads[3];
    p.group = (uint16_t)n->attr.group;
    uint32_t cg = p.src_c / p.group, mg = c / p.group, taps = p.kh * p.kw;
    p.n_w = p.src_c * taps * mg;
    p.w = snn_big_malloc(p.n_w * sizeof *p.w);
    if (!p.w)
        return nomem(b);
    const float *wd = W->data; /* (M, Cg, KH, KW) -> (C_src, KH, KW, Mg) */
    for (uint32_t ci = 0; ci < p.src_c; ci++) {
        uint32_t grp = ci / cg, cl = ci % cg;
        for (uint32_t t = 0; t < taps; t++)
            for (uint32_t m = 0; m < mg; m++)
                p.w[((size_t)ci * taps + t) * mg + m] = wd[(((size_t)(grp * mg + m) * cg + cl) * taps) + t];
    }
    st = new_linear(b, out, c, h, w);
    if (st == SNN_OK && n->n_inputs > 2 && n->inputs[2] >= 0)
        memcpy(out->bias, g->tensors[n->inputs[2]].data, c * sizeof(float));
    if (st == SNN_OK)
        st = add_term(b, out, &p);
    if (st != SNN_OK)
        free(p.w);
    return st;
}

/* A value that is only a global average pool of spikes (no bias): the classifier after it
 * can read the pooled neurons directly, with its weights spread over the positions. That is
 * exact, and spares a layer of neurons whose rates would lag. */
static bool is_pure_gap(const value *v)
{
    if (v->kind != V_LINEAR || v->n_terms != 1 || v->terms[0].kind != SNN_PROJ_GLOBALAVG)
        return false;
    for (uint32_t c = 0; c < v->c; c++)
        if (v->bias[c] != 0.0f)
            return false;
    return true;
}

static snn_status op_dense(builder *b, const snn_node *n, value *out)
{
    const snn_graph *g = b->g;
    const value *x = val(b, n, 0);
    value gap_src;
    const float *gap_w = NULL; /* (C) the pool's per-channel weights, when composing */
    if (x && is_pure_gap(x)) {
        const net_proj *t = &x->terms[0];
        memset(&gap_src, 0, sizeof gap_src);
        gap_src.kind = V_SPIKES;
        gap_src.buffer = t->source;
        gap_src.c = t->src_c, gap_src.h = t->src_h, gap_src.w = t->src_w;
        gap_w = t->w;
        x = &gap_src;
    }
    if (!x || x->kind != V_SPIKES)
        return node_fail(b, n, "its input must be the network input or a ReLU output");
    bool gemm = n->op == SNN_OP_GEMM;
    if (gemm && n->attr.trans_a)
        return node_fail(b, n, "transA=1 is not supported");
    if (!is_const_t(g, n->inputs[1]) || (gemm && n->n_inputs > 2 && n->inputs[2] >= 0 && !is_const_t(g, n->inputs[2])))
        return node_fail(b, n, "weights and bias must be constants");
    const snn_tensor *B = &g->tensors[n->inputs[1]], *A = &g->tensors[n->inputs[0]];
    if (B->rank != 2 || A->rank != 2 || A->dims[0] != 1)
        return node_fail(b, n, "needs a (1, K) input and 2-D weights");
    bool tb = gemm && n->attr.trans_b;
    uint32_t K = (uint32_t)(tb ? B->dims[1] : B->dims[0]), N = (uint32_t)(tb ? B->dims[0] : B->dims[1]);
    uint32_t n_src = gap_w ? x->c * x->h * x->w : K;
    if (gap_w ? K != x->c : K != x->c * x->h * x->w)
        return node_fail(b, n, "reads %u values from a source of %u", K, x->c * x->h * x->w);
    net_proj p = term_from(x, SNN_PROJ_DENSE);
    p.n_w = n_src * N;
    p.w = snn_big_malloc((size_t)p.n_w * sizeof *p.w);
    if (!p.w)
        return nomem(b);
    const float *bd = B->data;
    float alpha = gemm ? n->attr.alpha : 1.0f;
    /* ONNX flattens (C, H, W) channel-first; the source buffer is channel-last. Row k of the
     * ANN weights (k = c*H*W + pos) becomes row pos*C + c. */
    uint32_t hw = x->h * x->w;
    if (gap_w) {
        /* Source neuron j (channel j % C) carries the pool's weight for its channel. */
        for (uint32_t j = 0; j < n_src; j++) {
            uint32_t k = j % x->c;
            for (uint32_t o = 0; o < N; o++)
                p.w[(size_t)j * N + o] =
                    alpha * gap_w[k] * (tb ? bd[(size_t)o * K + k] : bd[(size_t)k * N + o]);
        }
    } else {
        for (uint32_t k = 0; k < K; k++) {
            uint32_t j = (k % hw) * x->c + k / hw;
            for (uint32_t o = 0; o < N; o++)
                p.w[(size_t)j * N + o] = alpha * (tb ? bd[(size_t)o * K + k] : bd[(size_t)k * N + o]);
        }
    }
    snn_status st = new_linear(b, out, N, 1, 1);
    if (st == SNN_OK && gemm && n->n_inputs > 2 && n->inputs[2] >= 0) {
        const snn_tensor *C = &g->tensors[n->inputs[2]];
        int64_t cn = snn_tensor_numel(C);
        if (cn != 1 && cn != N) {
            free(p.w);
            return node_fail(b, n, "bias C must have 1 or %u values", N);
        }
        for (uint32_t o = 0; o < N; o++)
            out->bias[o] = n->attr.beta * ((const float *)C->data)[cn == 1 ? 0 : o];
    }
    if (st == SNN_OK)
        st = add_term(b, out, &p);
    if (st != SNN_OK)
        free(p.w);
    return st;
}

static snn_status op_pool(builder *b, const snn_node *n, value *out)
{
    const snn_graph *g = b->g;
    const value *x = val(b, n, 0);
    if (!x || x->kind != V_SPIKES)
        return node_fail(b, n, "average pooling must follow a ReLU (pooling before the activation "
                               "is not supported)");
    const snn_tensor *X = &g->tensors[n->inputs[0]];
    uint32_t c, h, w;
    if (!chw_of(&g->tensors[n->outputs[0]], &c, &h, &w) || X->rank != 4)
        return node_fail(b, n, "batch size must be 1");
    net_proj p = term_from(x, n->op == SNN_OP_AVGPOOL ? SNN_PROJ_AVGPOOL : SNN_PROJ_GLOBALAVG);
    p.n_w = c;
    p.w = malloc(c * sizeof *p.w);
    if (!p.w)
        return nomem(b);
    float wv;
    if (n->op == SNN_OP_AVGPOOL) {
        int64_t pads[4], ohw[2];
        snn_status st = snn_shape_window(n, n->attr.kernel, &X->dims[2], pads, ohw, b->diag);
        if (st != SNN_OK) {
            free(p.w);
            return st;
        }
        bool padded = pads[0] || pads[1] || pads[2] || pads[3];
        bool overhang = (ohw[0] - 1) * n->attr.strides[0] + n->attr.kernel[0] > X->dims[2] + pads[0] + pads[2] ||
                        (ohw[1] - 1) * n->attr.strides[1] + n->attr.kernel[1] > X->dims[3] + pads[1] + pads[3];
        if ((padded && !n->attr.count_include_pad) || overhang) {
            free(p.w);
            return node_fail(b, n, "windows with a varying divisor (padding not counted, or ceil_mode "
                                   "overhang) are not supported");
        }
        p.kh = (uint16_t)n->attr.kernel[0], p.kw = (uint16_t)n->attr.kernel[1];
        p.sh = (uint16_t)n->attr.strides[0], p.sw = (uint16_t)n->attr.strides[1];
        p.pt = (uint16_t)pads[0], p.pl = (uint16_t)pads[1], p.pb = (uint16_t)pads[2], p.pr = (uint16_t)pads[3];
        wv = 1.0f / (float)(p.kh * p.kw);
    } else {
        wv = 1.0f / (float)(x->h * x->w);
    }
    for (uint32_t k = 0; k < c; k++)
        p.w[k] = wv;
    snn_status st = new_linear(b, out, c, h, w);
    if (st == SNN_OK)
        st = add_term(b, out, &p);
    if (st != SNN_OK)
        free(p.w);
    return st;
}

/* Copy a value (deep) so that the same tensor can feed several ops. */
static snn_status value_copy(builder *b, const value *src, value *dst)
{
    *dst = *src;
    dst->terms = NULL;
    dst->bias = NULL;
    dst->n_terms = 0;
    if (src->kind != V_LINEAR)
        return SNN_OK;
    dst->bias = fdup(src->bias, src->c);
    if (!dst->bias)
        return nomem(b);
    for (int k = 0; k < src->n_terms; k++) {
        net_proj p = src->terms[k];
        p.w = fdup(p.w, p.n_w);
        if (!p.w || add_term(b, dst, &p) != SNN_OK) {
            free(p.w);
            value_clear(dst);
            return nomem(b);
        }
    }
    return SNN_OK;
}

/* x as a LINEAR value: itself, or an identity projection of a SPIKES value. */
static snn_status as_linear(builder *b, const value *x, value *out)
{
    if (x->kind == V_LINEAR)
        return value_copy(b, x, out);
    snn_status st = new_linear(b, out, x->c, x->h, x->w);
    if (st != SNN_OK)
        return st;
    net_proj p = term_from(x, SNN_PROJ_IDENTITY);
    p.n_w = x->c;
    p.w = malloc(x->c * sizeof *p.w);
    if (!p.w)
        return nomem(b);
    for (uint32_t c = 0; c < x->c; c++)
        p.w[c] = 1.0f;
    st = add_term(b, out, &p);
    if (st != SNN_OK)
        free(p.w);
    return st;
}

/* out = s * x + t per channel, x LINEAR or SPIKES. */
static snn_status affine(builder *b, const snn_node *n, const value *x, const float *s, const float *t,
                         value *out)
{
    if (!x || x->kind == V_NONE)
        return node_fail(b, n, "input has no spiking representation");
    snn_status st = as_linear(b, x, out);
    if (st != SNN_OK)
        return st;
    for (int k = 0; k < out->n_terms; k++)
        term_scale_out(&out->terms[k], out->c, out->h * out->w, s);
    for (uint32_t c = 0; c < out->c; c++)
        out->bias[c] = out->bias[c] * s[c] + (t ? t[c] : 0.0f);
    return SNN_OK;
}

static snn_status op_add(builder *b, const snn_node *n, value *out)
{
    const snn_graph *g = b->g;
    const value *a = val(b, n, 0);
    if (!a || a->kind == V_NONE)
        return node_fail(b, n, "first input has no spiking representation");
    float *cst = malloc(a->c * sizeof *cst);
    if (!cst)
        return nomem(b);
    snn_status st = as_linear(b, a, out);
    for (int k = 1; st == SNN_OK && k < n->n_inputs; k++) {
        int t = n->inputs[k];
        const value *y = val(b, n, k);
        if (per_channel_const(g, t, out->c, cst)) {
            float sign = n->op == SNN_OP_SUB ? -1.0f : 1.0f;
            for (uint32_t c = 0; c < out->c; c++)
                out->bias[c] += sign * cst[c];
            continue;
        }
        if (n->op == SNN_OP_SUB) {
            st = node_fail(b, n, "only a constant can be subtracted");
            break;
        }
        if (!y || y->kind == V_NONE || y->c != out->c || y->h != out->h || y->w != out->w) {
            st = node_fail(b, n, "operands must be spiking values of the same shape, or constants");
            break;
        }
        value ly;
        st = as_linear(b, y, &ly);
        if (st != SNN_OK)
            break;
        for (uint32_t c = 0; c < out->c; c++)
            out->bias[c] += ly.bias[c];
        for (int q = 0; st == SNN_OK && q < ly.n_terms; q++) {
            st = add_term(b, out, &ly.terms[q]);
            if (st == SNN_OK)
                ly.terms[q].w = NULL;
        }
        value_clear(&ly);
    }
    free(cst);
    return st;
}

static snn_status op_scale(builder *b, const snn_node *n, value *out)
{
    const value *x = val(b, n, 0);
    if (!x || x->kind == V_NONE)
        return node_fail(b, n, "input has no spiking representation");
    float *s = malloc(x->c * sizeof *s);
    if (!s)
        return nomem(b);
    if (!per_channel_const(b->g, n->inputs[1], x->c, s)) {
        free(s);
        return node_fail(b, n, "only multiplication or division by a scalar or per-channel constant is supported");
    }
    if (n->op == SNN_OP_DIV)
        for (uint32_t c = 0; c < x->c; c++)
            s[c] = 1.0f / s[c];
    snn_status st = affine(b, n, x, s, NULL, out);
    free(s);
    return st;
}

static snn_status op_batchnorm(builder *b, const snn_node *n, value *out)
{
    const value *x = val(b, n, 0);
    if (!x || x->kind == V_NONE)
        return node_fail(b, n, "input has no spiking representation");
    for (int k = 1; k <= 4; k++)
        if (!is_const_t(b->g, n->inputs[k]))
            return node_fail(b, n, "parameters must be constants");
    const float *gm = b->g->tensors[n->inputs[1]].data, *bt = b->g->tensors[n->inputs[2]].data;
    const float *mu = b->g->tensors[n->inputs[3]].data, *var = b->g->tensors[n->inputs[4]].data;
    float *s = malloc(2 * x->c * sizeof *s); /* (2, C): scale, shift */
    if (!s)
        return nomem(b);
    for (uint32_t c = 0; c < x->c; c++) {
        s[c] = gm[c] / sqrtf(var[c] + n->attr.epsilon);
        s[x->c + c] = bt[c] - mu[c] * s[c];
    }
    snn_status st = affine(b, n, x, s, s + x->c, out);
    free(s);
    return st;
}

static snn_status op_maxpool(builder *b, const snn_node *n, value *x_in, value *out)
{
    const snn_graph *g = b->g;
    const snn_tensor *X = &g->tensors[n->inputs[0]];
    value *x = x_in;
    if (x->kind == V_LINEAR) {
        /* relu(maxpool(z)) == maxpool(relu(z)): fire first when a ReLU alone reads the pool
         * and the pool alone reads z. */
        int y = n->outputs[0], readers = 0;
        bool relu = false;
        for (int i = 0; i < g->n_nodes; i++)
            for (int k = 0; k < g->nodes[i].n_inputs; k++)
                if (g->nodes[i].inputs[k] == y) {
                    readers++;
                    relu = g->nodes[i].op == SNN_OP_RELU;
                }
        if (readers != 1 || !relu || snn_graph_consumers(g, n->inputs[0]) != 1)
            return node_fail(b, n, "max pooling of a pre-activation value must be followed by a ReLU alone");
        snn_status st = materialize(b, x, n->inputs[0], INFINITY, 0, n->name);
        if (st != SNN_OK)
            return st;
    }
    if (x->kind != V_SPIKES || x->buffer == 0)
        return node_fail(b, n, "max pooling must read a spiking layer (not the raw input)");
    /* GlobalMaxPool is a max pool whose one window is the whole plane. */
    bool global = n->op == SNN_OP_GLOBALMAXPOOL;
    if (global && (X->rank != 4 || X->dims[2] > UINT16_MAX || X->dims[3] > UINT16_MAX))
        return node_fail(b, n, "global max pooling needs an NCHW input of at most 65535x65535");
    int64_t kernel[2] = {global ? X->dims[2] : n->attr.kernel[0], global ? X->dims[3] : n->attr.kernel[1]};
    int64_t strides[2] = {global ? 1 : n->attr.strides[0], global ? 1 : n->attr.strides[1]};
    int64_t pads[4] = {0, 0, 0, 0}, ohw[2] = {1, 1};
    if (!global) {
        snn_status st = snn_shape_window(n, kernel, &X->dims[2], pads, ohw, b->diag);
        if (st != SNN_OK)
            return st;
        if (n->attr.dilations[0] != 1 || n->attr.dilations[1] != 1 || pads[0] >= kernel[0] ||
            pads[2] >= kernel[0] || pads[1] >= kernel[1] || pads[3] >= kernel[1])
            return node_fail(b, n, "dilated max pooling, or padding as large as the window, is not supported");
    }
    net_layer *L;
    snn_status st = push_layer(b, &L);
    if (st != SNN_OK)
        return st;
    L->kind = SNN_LAYER_MAXPOOL;
    L->c = x->c, L->h = (uint32_t)ohw[0], L->w = (uint32_t)ohw[1];
    L->source = x->buffer;
    L->kh = (uint16_t)kernel[0], L->kw = (uint16_t)kernel[1];
    L->sh = (uint16_t)strides[0], L->sw = (uint16_t)strides[1];
    L->pt = (uint16_t)pads[0], L->pl = (uint16_t)pads[1], L->pb = (uint16_t)pads[2], L->pr = (uint16_t)pads[3];
    set_tensor(b, L, n->outputs[0]);
    snprintf(L->name, sizeof L->name, "%s", n->name);
    float *lam = fdup(b->lambda[x->buffer], x->c); /* the max of spikes keeps their scale */
    if (!lam)
        return nomem(b);
    uint32_t buf = commit_layer(b, lam);
    memset(out, 0, sizeof *out);
    out->kind = V_SPIKES;
    out->buffer = buf;
    out->c = L->c, out->h = L->h, out->w = L->w;
    return SNN_OK;
}

static snn_status op_concat(builder *b, const snn_node *n, value *out)
{
    const snn_tensor *Y = &b->g->tensors[n->outputs[0]];
    int64_t axis = n->attr.axis < 0 ? n->attr.axis + Y->rank : n->attr.axis;
    if (Y->rank != 4 || axis != 1)
        return node_fail(b, n, "only channel concatenation of 4-D values is supported");
    net_layer *L;
    snn_status st = push_layer(b, &L);
    if (st != SNN_OK)
        return st;
    uint32_t c_total = (uint32_t)Y->dims[1];
    float *lam = malloc(c_total * sizeof *lam);
    if (!lam)
        return nomem(b);
    L->kind = SNN_LAYER_CONCAT;
    L->c = c_total, L->h = (uint32_t)Y->dims[2], L->w = (uint32_t)Y->dims[3];
    L->proj_first = b->net->n_proj;
    set_tensor(b, L, n->outputs[0]);
    snprintf(L->name, sizeof L->name, "%s", n->name);
    uint32_t off = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        const value *x = val(b, n, k);
        if (!x || x->kind != V_SPIKES || x->buffer == 0) {
            free(lam);
            return node_fail(b, n, "every input must be a spiking layer's output (after its ReLU)");
        }
        net_proj p = term_from(x, SNN_PROJ_COPY);
        st = push_proj(b, &p);
        if (st != SNN_OK) {
            free(lam);
            return st;
        }
        memcpy(lam + off, b->lambda[x->buffer], x->c * sizeof *lam);
        off += x->c;
    }
    L->proj_count = (uint32_t)n->n_inputs;
    uint32_t buf = commit_layer(b, lam);
    memset(out, 0, sizeof *out);
    out->kind = V_SPIKES;
    out->buffer = buf;
    out->c = c_total, out->h = (uint32_t)Y->dims[2], out->w = (uint32_t)Y->dims[3];
    return SNN_OK;
}

/* One adapter per SPIKING name of ops.def, all of one signature: x is input 0's value
 * (NULL when the node has none), y the output's. */
#define SPIKING_FN(name) static snn_status spiking_##name(builder *b, const snn_node *n, value *x, value *y)

SPIKING_FN(conv) { (void)x; return op_conv(b, n, y); }
SPIKING_FN(dense) { (void)x; return op_dense(b, n, y); }
SPIKING_FN(pool) { (void)x; return op_pool(b, n, y); }
SPIKING_FN(add) { (void)x; return op_add(b, n, y); }
SPIKING_FN(scale) { (void)x; return op_scale(b, n, y); }
SPIKING_FN(batchnorm) { (void)x; return op_batchnorm(b, n, y); }
SPIKING_FN(maxpool) { return op_maxpool(b, n, x, y); }
SPIKING_FN(concat) { (void)x; return op_concat(b, n, y); }

SPIKING_FN(none)
{
    (void)x;
    (void)y;
    return node_fail(b, n, "has no spiking equivalent");
}

/* Relu, and Clip(0, max): rectification is what a spiking layer does. */
SPIKING_FN(relu)
{
    float cap = INFINITY;
    if (n->op == SNN_OP_CLIP) {
        if ((n->n_inputs > 1 && n->inputs[1] >= 0) || (n->n_inputs > 2 && n->inputs[2] >= 0))
            return node_fail(b, n, "Clip bounds must be constants");
        if (n->attr.clip_min != 0.0f)
            return node_fail(b, n, "only Clip(0, max) (ReLU6 and the like) maps to neurons");
        cap = n->attr.clip_max;
    }
    if (!x || x->kind == V_NONE)
        return node_fail(b, n, "input has no spiking representation");
    if (x->kind == V_SPIKES) {
        /* Already rectified; a Clip below the scale would need a lower ceiling. */
        if (cap < INFINITY && x->buffer && b->lambda[x->buffer][0] * (float)b->o->burst > cap)
            return node_fail(b, n, "clipping a spiking layer's output below its scale is not supported");
        return value_copy(b, x, y);
    }
    /* The Relu is what most linear values are made for: when it is their only reader, it takes
     * them over instead of copying every weight (a second copy of VGG-11's 37 MB). */
    int in = n->inputs[0];
    bool only_reader = snn_graph_consumers(b->g, in) == 1 && !(b->g->tensors[in].flags & SNN_TENSOR_OUTPUT);
    snn_status st = SNN_OK;
    if (only_reader) {
        *y = *x;
        memset(x, 0, sizeof *x); /* V_NONE: a later reader would fail, not read freed weights */
    } else {
        st = value_copy(b, x, y);
    }
    if (st == SNN_OK)
        st = materialize(b, y, n->outputs[0], cap, 0, n->name);
    return st;
}

/* Ops that change only the shape: buffers are flat, so no spike changes. */
SPIKING_FN(reshape)
{
    if (!x || x->kind == V_NONE)
        return node_fail(b, n, "input has no spiking representation");
    if (x->kind == V_LINEAR && (n->op == SNN_OP_FLATTEN || n->op == SNN_OP_RESHAPE)) {
        uint32_t c, h, w;
        if (!chw_of(&b->g->tensors[n->outputs[0]], &c, &h, &w) || c != x->c || h != x->h || w != x->w) {
            /* A real reshape: pooled (non-negative) values become neurons first. */
            snn_status st = ensure_spikes(b, n, 0);
            if (st != SNN_OK)
                return st;
            if (x->kind == V_LINEAR)
                return node_fail(b, n, "reshaping a value before its activation is not supported");
        }
    }
    return value_copy(b, x, y); /* buffers are flat: a reshape changes no spike */
}

/* Softmax at the output: the readout's arg-max ignores it. */
SPIKING_FN(readout)
{
    bool is_out = false;
    for (int i = 0; i < b->g->n_outputs; i++)
        is_out |= b->g->outputs[i] == n->outputs[0];
    if (!is_out)
        return node_fail(b, n, "Softmax is supported only at the output (the readout's argmax ignores it)");
    if (!x || x->kind == V_NONE)
        return node_fail(b, n, "input has no spiking representation");
    return value_copy(b, x, y);
}

typedef snn_status spiking_fn(builder *b, const snn_node *n, value *x, value *y);

/* The SPIKING column of ops.def. */
static spiking_fn *const spiking_of_op[] = {
#define SNN_OP(ENUM, NAME, SINCE, TYPES, ROLE, READS, SHAPE, KERNEL, SPIKING) spiking_##SPIKING,
#include "ir/ops.def"
#undef SNN_OP
};
static_assert(sizeof spiking_of_op / sizeof spiking_of_op[0] == SNN_OP_COUNT, "one per op");

static snn_status build_node(builder *b, const snn_node *n)
{
    /* Ops that read spikes take pooled values as neurons first (a dense layer composes a
     * global average pool instead). */
    snn_op_reads reads = snn_op_info_of(n->op)->reads;
    int spiking_inputs = reads == SNN_OP_READS_ALL_SPIKES ? n->n_inputs
                         : reads == SNN_OP_READS_SPIKES   ? 1
                                                          : 0;
    bool dense = n->op == SNN_OP_GEMM || n->op == SNN_OP_MATMUL;
    if (dense && n->inputs[0] >= 0 && is_pure_gap(&b->vals[n->inputs[0]]))
        spiking_inputs = 0; /* op_dense composes the pool */
    for (int k = 0; k < spiking_inputs; k++) {
        snn_status st = ensure_spikes(b, n, k);
        if (st != SNN_OK)
            return st;
    }
    value *y = &b->vals[n->outputs[0]];
    value *x = n->n_inputs > 0 && n->inputs[0] >= 0 ? &b->vals[n->inputs[0]] : NULL;
    return spiking_of_op[n->op](b, n, x, y);
}

static snn_status finish(builder *b)
{
    const snn_graph *g = b->g;
    int t = g->outputs[0];
    value *v = &b->vals[t];
    /* Softmax at the output was passed through: calibrate on the logits it read. */
    int logits = t;
    int p = g->tensors[t].producer;
    if (p >= 0 && (g->nodes[p].op == SNN_OP_SOFTMAX || g->nodes[p].op == SNN_OP_LOGSOFTMAX))
        logits = g->nodes[p].inputs[0];
    if (v->kind == V_NONE)
        return snn_diag_set(b->diag, SNN_ERR_UNSUPPORTED, "the graph output has no spiking representation");
    value lin;
    snn_status st = as_linear(b, v, &lin);
    if (st != SNN_OK)
        return st;
    if (lin.h * lin.w != 1) {
        value_clear(&lin);
        return snn_diag_set(b->diag, SNN_ERR_UNSUPPORTED, "the output must be a vector of class scores");
    }
    st = materialize(b, &lin, logits, INFINITY, SNN_LAYER_F_OUTPUT, g->tensors[t].name);
    value_clear(&lin);
    if (st == SNN_OK)
        b->net->n_classes = b->net->layers[b->net->n_layers - 1].c;
    return st;
}

snn_status snn_build(const snn_graph *g, const calib_stats *cs, const snn_build_opts *o, snn_net *net,
                     snn_diag *diag)
{
    memset(net, 0, sizeof *net);
    if (g->n_inputs != 1 || g->n_outputs != 1)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, "the model must have one input and one output "
                            "(it has %d and %d)", g->n_inputs, g->n_outputs);
    if (!cs && o->norm != SNN_NORM_MODEL)
        return snn_diag_set(diag, SNN_ERR_INVALID, "data-based normalisation needs calibration data");
    bool signed_spikes = o->signed_spikes && o->coding != SNN_CODING_TTFS; /* TTFS: one spike */
    if (signed_spikes && o->reset != SNN_RESET_SUBTRACT)
        return snn_diag_set(diag, SNN_ERR_INVALID, "signed spikes need reset by subtraction");
    builder b = {g, cs, o, net, diag, NULL, NULL};
    b.vals = calloc((size_t)g->n_tensors, sizeof *b.vals);
    b.lambda = calloc(1, sizeof *b.lambda);
    snn_status st = SNN_OK;
    if (!b.vals || !b.lambda) {
        st = nomem(&b);
        goto done;
    }
    const snn_tensor *in = &g->tensors[g->inputs[0]];
    uint32_t c, h, w;
    if (!chw_of(in, &c, &h, &w)) {
        st = snn_diag_set(diag, SNN_ERR_UNSUPPORTED, "input '%s' must be (1, C, H, W) or (1, N)", in->name);
        goto done;
    }
    net->input_c = c, net->input_h = h, net->input_w = w;
    b.lambda[0] = malloc(c * sizeof(float));
    if (!b.lambda[0]) {
        st = nomem(&b);
        goto done;
    }
    for (uint32_t k = 0; k < c; k++)
        b.lambda[0][k] = 1.0f; /* direct coding feeds x itself; Poisson rates are x */
    value *vin = &b.vals[g->inputs[0]];
    vin->kind = V_SPIKES;
    vin->buffer = 0;
    vin->c = c, vin->h = h, vin->w = w;
    for (int i = 0; i < g->n_nodes && st == SNN_OK; i++)
        st = build_node(&b, &g->nodes[i]);
    if (st == SNN_OK)
        st = finish(&b);
    net->pre_scale = g->pre_scale;
    net->pre_mean = g->pre_mean;
    net->pre_std = g->pre_std;
    net->pre_channels = g->pre_channels > 1 ? (uint32_t)g->pre_channels : 0;
    for (int k = 0; k < g->pre_channels && k < SNN_MAX_PREP_CHANNELS; k++)
        net->pre_mean_c[k] = g->pre_mean_c[k], net->pre_std_c[k] = g->pre_std_c[k];
    net->coding = o->coding;
    net->steps = o->steps;
    net->reset = o->reset;
    net->signed_spikes = signed_spikes;
    net->v_init = o->v_init;
    net->readout = o->readout;
    net->norm = o->norm;
    net->percentile = (float)o->percentile;
    net->calib_count = cs ? (uint32_t)cs->samples : 0;
    net->burst = o->burst > 1 ? o->burst : 0;
    net->target_steps = o->norm == SNN_NORM_TSEARCH || o->norm == SNN_NORM_TSEARCH_LAYER ? o->target_steps : 0;
    net->ann_accuracy = NAN;
    net->ttfs_in_lo = o->input_lo, net->ttfs_in_hi = o->input_hi;
    if (isnan(o->input_lo) || isnan(o->input_hi)) {
        /* Raw bytes 0 and 255 after preprocessing, over every channel. */
        int nc = g->pre_channels > 1 ? g->pre_channels : 1;
        for (int k = 0; k < nc; k++) {
            float mean = g->pre_channels > 1 ? g->pre_mean_c[k] : g->pre_mean;
            float std = g->pre_channels > 1 ? g->pre_std_c[k] : g->pre_std;
            float a = (0.0f * g->pre_scale - mean) / std, z = (255.0f * g->pre_scale - mean) / std;
            float lo = a < z ? a : z, hi = a < z ? z : a;
            net->ttfs_in_lo = k == 0 || lo < net->ttfs_in_lo ? lo : net->ttfs_in_lo;
            net->ttfs_in_hi = k == 0 || hi > net->ttfs_in_hi ? hi : net->ttfs_in_hi;
        }
    }
done:
    if (b.vals)
        for (int i = 0; i < g->n_tensors; i++)
            value_clear(&b.vals[i]);
    free(b.vals);
    if (b.lambda)
        free(b.lambda[0]); /* the others belong to the layers */
    free(b.lambda);
    if (st != SNN_OK)
        snn_net_free(net);
    return st;
}
