/* Integer files (SNN_FEATURE_INT) against the float simulation.
 *
 * A hand-built net whose every weight, bias, threshold and initial membrane is a whole
 * number of its channel's unit (the largest weight of a channel is qmax units, so quantising
 * is exact), driven by binary inputs: the float simulation computes exactly too, so the two
 * must agree spike for spike: the same spikes and synaptic operations per layer, the same
 * prediction, and output membranes equal to the integers times the unit, with direct and
 * Poisson input and for int8 and int16. The net has a convolution, a residual (identity)
 * projection, signed spikes, a spiking max-pool and a dense readout. Then the converter's
 * bounds: units, integer thresholds and the file's size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snn_net.h"
#include "snn_loaded.h"
#include "snn_runtime.h"

static uint32_t lcg(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

static float *floats(uint32_t n)
{
    float *p = calloc(n, sizeof *p);
    assert_non_null(p);
    return p;
}

/* Channel c's weights of projection p: whole multiples of unit, the first one qmax units. */
static void fill_weights(net_proj *p, uint32_t n_out_c, uint32_t (*chan)(uint32_t), double unit, int qmax,
                         uint32_t *seed)
{
    int *first = calloc(n_out_c, sizeof *first);
    assert_non_null(first);
    for (uint32_t i = 0; i < p->n_w; i++) {
        uint32_t c = chan(i);
        int k = (int)(lcg(seed) % (uint32_t)(2 * qmax + 1)) - qmax;
        if (!first[c]) {
            k = (lcg(seed) & 1) ? qmax : -qmax; /* sets the channel's largest |w| */
            first[c] = 1;
        }
        p->w[i] = (float)(k * unit);
    }
    free(first);
}

/* Output channel of weight i for the layouts below: CONV (1 or 2 sources, 3, 3, 2 outputs)
 * and IDENTITY (2): i % 2; DENSE (8, 3): i % 3. */
static uint32_t chan2(uint32_t i) { return i % 2; }
static uint32_t chan3(uint32_t i) { return i % 3; }

static void neuron(net_layer *L, const char *name, uint32_t c, uint32_t h, uint32_t w, uint32_t first,
                   uint32_t count, double unit, uint32_t *seed)
{
    memset(L, 0, sizeof *L);
    L->kind = SNN_LAYER_NEURON;
    L->c = c, L->h = h, L->w = w;
    L->proj_first = first, L->proj_count = count;
    L->bias = floats(c), L->threshold = floats(c);
    for (uint32_t k = 0; k < c; k++) {
        /* threshold 0.5 .. 1.5 in an even number of units (v_init 0.5 makes half of it) and
         * bias -0.1 .. 0.1, in whole units */
        L->threshold[k] = (float)(2.0 * round((0.5 + (lcg(seed) % 1000) / 1000.0) / (2.0 * unit)) * unit);
        L->bias[k] = (float)(round(((double)(lcg(seed) % 200) - 100.0) / 1000.0 / unit) * unit);
    }
    snprintf(L->name, sizeof L->name, "%s", name);
}

static void conv3(net_proj *p, uint32_t source, uint32_t src_c)
{
    memset(p, 0, sizeof *p);
    p->kind = SNN_PROJ_CONV, p->source = source;
    p->kh = p->kw = 3, p->sh = p->sw = p->dh = p->dw = 1, p->pt = p->pl = p->pb = p->pr = 1, p->group = 1;
    p->src_c = src_c, p->src_h = 4, p->src_w = 4;
    p->n_w = src_c * 3 * 3 * 2;
    p->w = floats(p->n_w);
}

/* input (1, 4, 4) -> conv 3x3 -> A (2, 4, 4) -> conv 3x3 + identity -> B (2, 4, 4)
 * -> max-pool 2x2 -> (2, 2, 2) -> dense -> 3 outputs. */
static void build(snn_net *net, int qmax, uint32_t coding)
{
    uint32_t seed = 12345u + (uint32_t)qmax;
    /* The largest weight of a channel is qmax units, and the unit a power of two (2^-7 for
     * int8: the largest weight 127/128), so the quantiser's unit, max|w| / qmax, is exact. */
    double unit = qmax == 127 ? 1.0 / 128.0 : 1.0 / 32768.0;
    memset(net, 0, sizeof *net);
    net->input_c = 1, net->input_h = 4, net->input_w = 4, net->n_classes = 3;
    net->pre_scale = 1.0f, net->pre_mean = 0.0f, net->pre_std = 1.0f;
    net->coding = coding, net->steps = 16, net->reset = SNN_RESET_SUBTRACT, net->readout = SNN_READOUT_MEMBRANE;
    net->signed_spikes = 1, net->v_init = 0.5f, net->ann_accuracy = NAN, net->percentile = 100.0f;
    net->n_layers = 4, net->n_proj = 4;
    net->layers = calloc(4, sizeof *net->layers);
    net->proj = calloc(4, sizeof *net->proj);
    assert_non_null(net->layers);
    assert_non_null(net->proj);
    conv3(&net->proj[0], 0, 1);
    fill_weights(&net->proj[0], 2, chan2, unit, qmax, &seed);
    conv3(&net->proj[1], 1, 2);
    fill_weights(&net->proj[1], 2, chan2, unit, qmax, &seed);
    net_proj *id = &net->proj[2];
    id->kind = SNN_PROJ_IDENTITY, id->source = 1, id->src_c = 2, id->src_h = 4, id->src_w = 4, id->n_w = 2;
    id->w = floats(2);
    for (uint32_t k = 0; k < 2; k++) /* below the conv's largest weight: the conv sets the unit */
        id->w[k] = (float)((double)(lcg(&seed) % (uint32_t)qmax) * unit);
    net_proj *d = &net->proj[3];
    d->kind = SNN_PROJ_DENSE, d->source = 3, d->src_c = 2, d->src_h = 2, d->src_w = 2, d->n_w = 8 * 3;
    d->w = floats(d->n_w);
    fill_weights(d, 3, chan3, unit, qmax, &seed);
    neuron(&net->layers[0], "A", 2, 4, 4, 0, 1, unit, &seed);
    neuron(&net->layers[1], "B", 2, 4, 4, 1, 2, unit, &seed);
    net_layer *mp = &net->layers[2];
    mp->kind = SNN_LAYER_MAXPOOL, mp->c = 2, mp->h = 2, mp->w = 2, mp->source = 2;
    mp->kh = mp->kw = mp->sh = mp->sw = 2;
    snprintf(mp->name, sizeof mp->name, "pool");
    neuron(&net->layers[3], "out", 3, 1, 1, 3, 1, unit, &seed);
    net->layers[3].flags = SNN_LAYER_F_OUTPUT;
}

static void run_both(int qmax, uint32_t dtype, uint32_t coding)
{
    snn_net net;
    build(&net, qmax, coding);
    loaded f, q;
    load_net(&net, &f);
    snn_diag d;
    assert_int_equal(snn_net_quantize(&net, dtype, 1.0f, &d), SNN_OK);
    for (uint32_t i = 0; i < net.n_layers; i++)
        if (net.layers[i].kind == SNN_LAYER_NEURON)
            for (uint32_t c = 0; c < net.layers[i].c; c++) /* exact: the unit is a power of two */
                assert_float_equal(net.layers[i].unit[c], qmax == 127 ? 1.0f / 128 : 1.0f / 32768, 0);
    load_net(&net, &q);
    assert_true(q.m->features & SNN_FEATURE_INT);
    assert_int_equal(q.m->weight_dtype, dtype);
    uint32_t seed = 777;
    uint64_t total_spikes = 0, neg_spikes_seen = 0;
    for (int n = 0; n < 40; n++) {
        float x[16];
        for (int k = 0; k < 16; k++)
            x[k] = (float)(lcg(&seed) & 1); /* binary input: the input current is exact */
        snn_state_begin(&f.s, x, coding, (uint64_t)n + 1);
        snn_state_begin(&q.s, x, coding, (uint64_t)n + 1);
        for (int t = 0; t < 24; t++) {
            snn_state_step(&f.s);
            snn_state_step(&q.s);
            for (uint32_t i = 0; i < net.n_layers; i++) {
                assert_int_equal(f.s.stats[i].spikes, q.s.stats[i].spikes);
                assert_int_equal(f.s.stats[i].synops, q.s.stats[i].synops);
            }
        }
        const float *fo = snn_state_output(&f.s), *qo = snn_state_output(&q.s);
        const int32_t *qi = snn_state_output_q(&q.s);
        assert_non_null(qi);
        assert_null(snn_state_output_q(&f.s));
        for (uint32_t k = 0; k < 3; k++) {
            assert_float_equal(fo[k], qo[k], 0);
            assert_float_equal(fo[k], (float)qi[k] * q.m->layers[3].unit[k], 0);
        }
        assert_int_equal(snn_state_predict(&f.s), snn_state_predict(&q.s));
        for (uint32_t i = 0; i < net.n_layers; i++)
            total_spikes += q.s.stats[i].spikes;
        int64_t net_count = 0; /* layer B: spikes net of -1 spikes, against all its spikes */
        for (uint32_t j = 0; j < 32; j++)
            net_count += q.s.qcount[2][j];
        neg_spikes_seen += (uint64_t)net_count < q.s.stats[1].spikes;
    }
    assert_true(neg_spikes_seen > 0); /* -1 spikes ran */
    print_message("int%d, %s: 40 inputs x 24 steps, %llu spikes, identical to float32 step by step\n",
                  qmax == 127 ? 8 : 16, coding == SNN_CODING_DIRECT ? "direct" : "poisson",
                  (unsigned long long)total_spikes);
    assert_true(total_spikes > 1000);
    unload(&f);
    unload(&q);
    snn_net_free(&net);
}

/* A device program may give a projection a pair-ordered copy of its int8 weights
 * (snn_model_use_paired_weights()): taken only if it is that projection's weights in
 * snn_pair_index() order, word-aligned and whole; the results are the same with it. */
static void test_paired_weights(void **state)
{
    (void)state;
    static const uint32_t order[4] = {0, 2, 1, 3};
    for (uint32_t i = 0; i < 64; i++) { /* positions 1 and 2 of each four swap, and back */
        uint32_t j = snn_pair_index(i);
        assert_int_equal(j / 4, i / 4);
        assert_int_equal(j % 4, order[i % 4]);
        assert_int_equal(snn_pair_index(j), i);
    }
    snn_net net;
    build(&net, 127, SNN_CODING_DIRECT);
    snn_diag d;
    assert_int_equal(snn_net_quantize(&net, SNN_DTYPE_I8, 1.0f, &d), SNN_OK);
    loaded q;
    load_net(&net, &q);
    const snn_proj *p = &q.m->proj[1]; /* the second convolution: 2 x 3 x 3 x 2 weights */
    assert_int_equal(p->kind, SNN_PROJ_CONV);
    assert_int_equal(p->n_w, 36);
    assert_null(p->w8_pairs); /* never from the file */
    uint32_t n = p->n_w, *words = calloc(n / 4 + 2, sizeof *words);
    assert_non_null(words);
    int8_t *pairs = (int8_t *)words;
    for (uint32_t i = 0; i < n; i++)
        pairs[snn_pair_index(i)] = p->w8[i];
    pairs[snn_pair_index(5)] ^= 1; /* one weight off */
    assert_int_equal(snn_model_use_paired_weights(q.m, 1, pairs, n), SNN_RT_ERR_ARG);
    pairs[snn_pair_index(5)] ^= 1;
    assert_int_equal(snn_model_use_paired_weights(q.m, 1, pairs, n + 4), SNN_RT_ERR_ARG); /* length */
    assert_int_equal(snn_model_use_paired_weights(q.m, 1, pairs + 1, n), SNN_RT_ERR_ARG); /* alignment */
    assert_int_equal(snn_model_use_paired_weights(q.m, q.m->n_proj, pairs, n), SNN_RT_ERR_ARG);
    /* the first convolution's 18 weights are no whole number of fours */
    assert_int_equal(snn_model_use_paired_weights(q.m, 0, pairs, q.m->proj[0].n_w), SNN_RT_ERR_ARG);
    assert_null(q.m->proj[1].w8_pairs);
    assert_int_equal(snn_model_use_paired_weights(q.m, 1, pairs, n), SNN_RT_OK);
    assert_ptr_equal(q.m->proj[1].w8_pairs, pairs);
    loaded f; /* a float file has no int8 weights to pair */
    snn_net fnet;
    build(&fnet, 127, SNN_CODING_DIRECT);
    load_net(&fnet, &f);
    assert_int_equal(snn_model_use_paired_weights(f.m, 1, pairs, n), SNN_RT_ERR_ARG);
    free(words);
    unload(&f);
    unload(&q);
    snn_net_free(&fnet);
    snn_net_free(&net);
}

static void test_int8_direct(void **state) { (void)state; run_both(127, SNN_DTYPE_I8, SNN_CODING_DIRECT); }
static void test_int8_poisson(void **state) { (void)state; run_both(127, SNN_DTYPE_I8, SNN_CODING_POISSON); }
static void test_int16_direct(void **state) { (void)state; run_both(32767, SNN_DTYPE_I16, SNN_CODING_DIRECT); }
static void test_int16_poisson(void **state) { (void)state; run_both(32767, SNN_DTYPE_I16, SNN_CODING_POISSON); }

/* A narrow layer (an int8 file's hidden layer B: integer parameters within 2^12) keeps 16-bit
 * membranes that saturate: with a bias of -4000 units per step and no input, B's membranes
 * reach the int16 floor and stay there, where int32 ones would go on to -4000 * 24. */
static void test_narrow_saturates(void **state)
{
    (void)state;
    snn_net net;
    build(&net, 127, SNN_CODING_DIRECT);
    net_layer *B = &net.layers[1];
    for (uint32_t c = 0; c < B->c; c++)
        B->bias[c] = -4000.0f / 128.0f;
    snn_diag d;
    assert_int_equal(snn_net_quantize(&net, SNN_DTYPE_I8, 1.0f, &d), SNN_OK);
    loaded q;
    load_net(&net, &q);
    assert_non_null(q.s.qv16[1]); /* B is narrow */
    assert_null(q.s.qv[1]);
    assert_null(q.s.qv16[0]); /* A reads the input: 32-bit */
    float x[16] = {0}; /* no input: A and B never fire */
    snn_state_begin(&q.s, x, SNN_CODING_DIRECT, 1);
    for (int t = 0; t < 24; t++)
        snn_state_step(&q.s);
    for (uint32_t j = 0; j < 32; j++)
        assert_int_equal(q.s.qv16[1][j], INT16_MIN);
    assert_int_equal(q.s.stats[1].spikes, 0);
    unload(&q);
    snn_net_free(&net);
}

/* floor(a / 2^f) for any sign of a, in plain arithmetic. */
static int64_t floor_shift(int64_t a, uint32_t f)
{
    int64_t d = (int64_t)1 << f, q = a / d;
    return q * d > a ? q - 1 : q;
}

/* Layer A's constant input current, k = bias + round(sum(w * x_q) / 2^input_frac) clamped to
 * +-2^30, against the sum worked out here from the loaded weights: the runtime sums it input by
 * input in 32 bits where max|x_q| times the largest sum of |w| into a neuron stays below 2^31
 * (snn_state.input_wsum), else output by output in 64 bits. Both paths, int8 and int16, small
 * and huge inputs. */
static void check_input_current(int qmax, uint32_t dtype)
{
    snn_net net;
    build(&net, qmax, SNN_CODING_DIRECT);
    snn_diag d;
    assert_int_equal(snn_net_quantize(&net, dtype, 1.0f, &d), SNN_OK);
    loaded q;
    load_net(&net, &q);
    const snn_model *m = q.m;
    const snn_layer *A = &m->layers[0];
    const snn_proj *p = &m->proj[0];
    uint32_t seed = 99, scatter_runs = 0, gather_runs = 0, prefill_runs = 0;
    for (int n = 0; n < 60; n++) {
        /* Small inputs (int16 weights need smaller ones for the 32-bit path), then inputs of
         * up to 40, where max|x_q| reaches the clamp, 2^20. */
        float x[16], range = n >= 30 ? 40.0f : qmax == 127 ? 3.0f : 0.01f;
        for (int k = 0; k < 16; k++)
            x[k] = ((float)(lcg(&seed) % 20001) / 10000.0f - 1.0f) * range;
        uint32_t wsum = q.s.input_wsum[0];
        int64_t max_x = 0;
        for (int path = 0; path < 3; path++) {
            if (path == 1) { /* the 32-bit bound as loose as it may be: no room to start at the bias */
                if (!wsum || !max_x || max_x * wsum > INT32_MAX)
                    continue;
                q.s.input_wsum[0] = (uint32_t)(INT32_MAX / max_x);
            }
            if (path == 2)
                q.s.input_wsum[0] = 0; /* force the 64-bit path */
            snn_state_begin(&q.s, x, SNN_CODING_DIRECT, 1);
            max_x = 0;
            for (uint32_t j = 0; j < 16; j++)
                max_x = llabs(q.s.x_q[j]) > max_x ? llabs(q.s.x_q[j]) : max_x;
            if (path < 2 && q.s.input_wsum[0] && max_x * q.s.input_wsum[0] <= INT32_MAX) {
                scatter_runs++;
                /* the scatter's currents start at bias * 2^f + 2^(f-1) where that keeps 32 bits */
                uint32_t f = m->input_frac;
                int64_t bmax = llabs(A->qbias[0]) > llabs(A->qbias[1]) ? llabs(A->qbias[0]) : llabs(A->qbias[1]);
                prefill_runs += f >= 1 && (bmax << f) + (1 << (f - 1)) + max_x * q.s.input_wsum[0] <= INT32_MAX;
            } else
                gather_runs++;
            uint64_t synops = 0;
            for (uint32_t oy = 0; oy < 4; oy++)
                for (uint32_t ox = 0; ox < 4; ox++)
                    for (uint32_t c = 0; c < 2; c++) {
                        int64_t acc = 0;
                        for (uint32_t kh = 0; kh < 3; kh++)
                            for (uint32_t kw = 0; kw < 3; kw++) {
                                int32_t iy = (int32_t)(oy + kh) - 1, ix = (int32_t)(ox + kw) - 1;
                                if (iy < 0 || iy >= 4 || ix < 0 || ix >= 4)
                                    continue;
                                size_t wi = (kh * 3 + kw) * 2 + c;
                                int64_t w = dtype == SNN_DTYPE_I8 ? p->w8[wi] : p->w16[wi];
                                int32_t xq = q.s.x_q[iy * 4 + ix];
                                acc += w * xq;
                                synops += xq != 0;
                            }
                        int64_t k = A->qbias[c] + floor_shift(acc + (m->input_frac ? (int64_t)1 << (m->input_frac - 1) : 0),
                                                              m->input_frac);
                        k = k > (1 << 30) ? (1 << 30) : k < -(1 << 30) ? -(1 << 30) : k;
                        assert_int_equal(q.s.qk[0][(oy * 4 + ox) * 2 + c], k);
                    }
            assert_int_equal(q.s.stats[0].synops, synops);
            q.s.input_wsum[0] = 0;
        }
        assert_int_equal(snn_state_init(&q.s, q.m, q.mem, snn_state_mem_size(q.m)), SNN_RT_OK); /* input_wsum back */
    }
    print_message("int%d: %u inputs summed in 32 bits (%u from the bias), %u in 64, all equal to the reference\n",
                  qmax == 127 ? 8 : 16, scatter_runs, prefill_runs, gather_runs);
    assert_true(prefill_runs >= 30);                /* the sums started at the bias */
    assert_true(scatter_runs - prefill_runs >= 30); /* and at zero */
    assert_true(scatter_runs >= 30);
    assert_true(gather_runs >= 60);
    unload(&q);
    snn_net_free(&net);
}

static void test_input_current_int8(void **state) { (void)state; check_input_current(127, SNN_DTYPE_I8); }
static void test_input_current_int16(void **state) { (void)state; check_input_current(32767, SNN_DTYPE_I16); }

/* The quantiser's bounds: weights within +-qmax with qmax reached in every channel, integer
 * thresholds of round(theta / unit), one unit for the output's classes, and TTFS refused. */
static void test_quantiser_bounds(void **state)
{
    (void)state;
    snn_net net;
    build(&net, 127, SNN_CODING_DIRECT);
    for (uint32_t i = 0; i < net.proj[3].n_w; i++) /* output channels of different ranges */
        net.proj[3].w[i] *= (float)(1 + i % 3);
    snn_diag d;
    assert_int_equal(snn_net_quantize(&net, SNN_DTYPE_I8, 1.0f, &d), SNN_OK);
    for (uint32_t k = 0; k < net.n_proj; k++)
        for (uint32_t i = 0; i < net.proj[k].n_w; i++)
            assert_true(net.proj[k].wq[i] >= -127 && net.proj[k].wq[i] <= 127);
    const net_layer *out = &net.layers[3];
    for (uint32_t c = 0; c < 3; c++) {
        assert_float_equal(out->unit[c], out->unit[0], 0);
        assert_int_equal(out->qparam[3 + c], (int32_t)lround((double)out->threshold[c] / (double)out->unit[c]));
    }
    assert_float_equal(out->unit[0], 3.0f / 128, 1e-9); /* the widest channel's */
    assert_true(net.input_frac <= SNN_MAX_INPUT_FRAC && net.input_frac >= 10);
    snn_net_free(&net);
    build(&net, 127, SNN_CODING_TTFS);
    assert_int_equal(snn_net_quantize(&net, SNN_DTYPE_I8, 1.0f, &d), SNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "rate-coded"));
    snn_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paired_weights),
        cmocka_unit_test(test_int8_direct),
        cmocka_unit_test(test_int8_poisson),
        cmocka_unit_test(test_int16_direct),
        cmocka_unit_test(test_int16_poisson),
        cmocka_unit_test(test_narrow_saturates),
        cmocka_unit_test(test_quantiser_bounds),
        cmocka_unit_test(test_input_current_int8),
        cmocka_unit_test(test_input_current_int16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
