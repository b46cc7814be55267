/* Signed spikes (SNN_FEATURE_SIGNED) on nets built by hand, so every step can be checked:
 * the -1 spikes of a neuron whose input arrives unevenly, traced step by step; its count
 * staying the rounded ReLU of its summed input; spiking max-pool following the largest count
 * when that count falls; and the files the loader refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snn_file_edit.h"
#include "snn_loaded.h"
#include "snn_net.h"
#include "snn_runtime.h"

static float *floats(uint32_t n, const float *v)
{
    float *p = calloc(n, sizeof *p);
    memcpy(p, v, n * sizeof *p);
    return p;
}

static void add_dense(snn_net *net, uint32_t source, uint32_t n_src, uint32_t n_out, const float *w)
{
    net_proj *p = &net->proj[net->n_proj++];
    p->kind = SNN_PROJ_DENSE;
    p->source = source;
    p->w = floats(n_src * n_out, w);
    p->n_w = n_src * n_out;
    p->kh = p->kw = p->sh = p->sw = p->dh = p->dw = p->group = 1;
    p->src_c = n_src, p->src_h = 1, p->src_w = 1;
}

/* A NEURON layer of shape (c, 1, w) with one dense projection, bias 0 and threshold 1. */
static void add_neuron(snn_net *net, uint32_t c, uint32_t w, uint32_t source, uint32_t n_src, const float *wt,
                       uint32_t flags)
{
    net_layer *L = &net->layers[net->n_layers++];
    L->kind = SNN_LAYER_NEURON;
    L->flags = flags;
    L->c = c, L->h = 1, L->w = w;
    L->proj_first = net->n_proj;
    L->proj_count = 1;
    L->bias = calloc(c, sizeof(float));
    L->threshold = calloc(c, sizeof(float));
    for (uint32_t k = 0; k < c; k++)
        L->threshold[k] = 1.0f;
    snprintf(L->name, sizeof L->name, "layer%u", net->n_layers - 1);
    add_dense(net, source, n_src, c * w, wt);
}

static void net_init(snn_net *net, uint32_t signed_spikes)
{
    memset(net, 0, sizeof *net);
    net->layers = calloc(8, sizeof *net->layers);
    net->proj = calloc(8, sizeof *net->proj);
    net->cap_layers = net->cap_proj = 8;
    net->input_c = 2, net->input_h = 1, net->input_w = 1;
    net->n_classes = 2;
    net->pre_scale = 1.0f, net->pre_std = 1.0f;
    net->coding = SNN_CODING_DIRECT;
    net->steps = 64;
    net->reset = SNN_RESET_SUBTRACT;
    net->signed_spikes = signed_spikes;
    net->v_init = 0.5f;
    net->readout = SNN_READOUT_MEMBRANE;
    net->norm = SNN_NORM_MAX;
    net->ann_accuracy = NAN;
}

/* input (2) -> A (2 neurons, identity) -> B (1 neuron: a0 - 2.5 a1) -> output (2: +B, -B). */
static void uneven_net(snn_net *net, uint32_t signed_spikes)
{
    net_init(net, signed_spikes);
    const float id[4] = {1, 0, 0, 1}, wb[2] = {1.0f, -2.5f}, wo[2] = {1.0f, -1.0f};
    add_neuron(net, 2, 1, 0, 2, id, 0);
    add_neuron(net, 1, 1, 1, 2, wb, 0);
    add_neuron(net, 2, 1, 2, 1, wo, SNN_LAYER_F_OUTPUT);
}

/* Net events of buffer b this step: +1 per spike, -1 per -1 spike, for neuron j. */
static int net_events(const snn_state *s, uint32_t b, uint32_t j)
{
    int sum = 0;
    for (uint32_t q = 0; q < s->n_spikes[b]; q++) {
        uint32_t e = s->spike_idx[b][q];
        if (SNN_SPIKE_INDEX(e) == j)
            sum += e & SNN_SPIKE_NEG ? -1 : 1;
    }
    return sum;
}

/* x = (1, 0.25): A0 fires every step, A1 at steps 2, 6, 10, ... B's input is +1 on most steps
 * and -1.5 on A1's, so B overshoots and takes spikes back. Traced by hand (v starts at 0.5):
 *   step    1    2    3    4    5    6    7    8    9   10
 *   input  +1 -1.5   +1   +1   +1 -1.5   +1   +1   +1 -1.5
 *   v      1.5 -1.0  1.0  1.0  1.0 -1.5  0.5  1.5  1.5 -1.0  (before firing)
 *   spike  +1   -1   +1   +1   +1   -1    .   +1   +1   -1 */
static void test_trace_by_hand(void **state)
{
    (void)state;
    snn_net net;
    uneven_net(&net, 1);
    loaded l;
    load_net(&net, &l);
    assert_true(l.m->features & SNN_FEATURE_SIGNED);
    const int want[10] = {1, -1, 1, 1, 1, -1, 0, 1, 1, -1};
    const float x[2] = {1.0f, 0.25f};
    snn_state_begin(&l.s, x, SNN_CODING_DIRECT, 1);
    int count = 0;
    for (int t = 0; t < 10; t++) {
        snn_state_step(&l.s);
        int got = net_events(&l.s, 2, 0);
        if (got != want[t])
            print_error("step %d: B's event %d, expected %d\n", t + 1, got, want[t]);
        assert_int_equal(got, want[t]);
        assert_int_equal(l.s.n_spikes[2], want[t] != 0);
        count += got;
        assert_true(l.s.count[2][0] == (float)count);
        /* The output integrates B's events: its membrane is B's net count. */
        assert_true(snn_state_output(&l.s)[0] == (float)count);
        assert_true(snn_state_output(&l.s)[1] == (float)-count);
    }
    /* Spikes and -1 spikes both count as events in the statistics. */
    assert_int_equal(l.s.stats[1].spikes, 9);
    unload(&l);
    snn_net_free(&net);
}

/* The same net without signed spikes keeps the spikes of the transient: with x = (1, 0.45)
 * B's summed input ends negative (ReLU 0) but a plain neuron keeps the spike of step 1. The
 * signed neuron's count ends at the rounded ReLU of its summed input on every input here, and
 * never strays by more than 2 (its input moves by up to 2.5 thresholds a step and it fires at
 * most once a step). */
static void test_count_is_rounded_relu(void **state)
{
    (void)state;
    const float xs[][2] = {{1.0f, 0.25f}, {0.9f, 0.35f}, {0.6f, 0.1f}, {0.3f, 0.5f},
                           {1.0f, 0.39f}, {1.0f, 0.45f}, {0.8f, 0.4f}, {1.0f, 0.42f}};
    double final_signed = 0, final_plain = 0;
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        for (uint32_t sg = 0; sg <= 1; sg++) {
            snn_net net;
            uneven_net(&net, sg);
            loaded l;
            load_net(&net, &l);
            snn_state_begin(&l.s, xs[i], SNN_CODING_DIRECT, 1);
            int count_a0 = 0, count_a1 = 0;
            double err = 0;
            for (int t = 1; t <= 200; t++) {
                snn_state_step(&l.s);
                count_a0 += net_events(&l.s, 1, 0);
                count_a1 += net_events(&l.s, 1, 1);
                double summed = count_a0 - 2.5 * count_a1; /* B's summed input so far */
                double b = (double)snn_state_output(&l.s)[0]; /* B's net count */
                err = fabs(b - fmax(0.0, floor(0.5 + summed)));
                if (sg)
                    assert_true(err <= 2.0);
            }
            if (sg)
                final_signed += err;
            else
                final_plain += err;
            unload(&l);
            snn_net_free(&net);
        }
    }
    print_message("after 200 steps, sum over inputs of |count - round(relu(summed input))|: "
                  "signed %.0f, positive only %.0f\n", final_signed, final_plain);
    assert_true(final_signed == 0.0);
    assert_true(final_plain >= 3.0);
}

/* Max-pool over B0, B1 (a 1x2 window): the pooled count follows max(count B0, count B1) after
 * every step, down as well as up. */
static void test_maxpool_follows_falling_max(void **state)
{
    (void)state;
    snn_net net;
    net_init(&net, 1);
    const float id[4] = {1, 0, 0, 1}, wb[4] = {1.0f, 0.5f, -2.5f, -0.4f}, wo[2] = {1.0f, -1.0f};
    add_neuron(&net, 2, 1, 0, 2, id, 0);
    add_neuron(&net, 1, 2, 1, 2, wb, 0); /* B: shape (1, 1, 2) */
    net_layer *P = &net.layers[net.n_layers++];
    P->kind = SNN_LAYER_MAXPOOL;
    P->c = 1, P->h = 1, P->w = 1;
    P->source = 2;
    P->kh = 1, P->kw = 2, P->sh = 1, P->sw = 2;
    P->proj_first = net.n_proj;
    snprintf(P->name, sizeof P->name, "pool");
    add_neuron(&net, 2, 1, 3, 1, wo, SNN_LAYER_F_OUTPUT);
    loaded l;
    load_net(&net, &l);
    int falls = 0;
    const float xs[][2] = {{1.0f, 0.25f}, {0.8f, 0.45f}, {0.5f, 0.3f}};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        snn_state_begin(&l.s, xs[i], SNN_CODING_DIRECT, 1);
        for (int t = 0; t < 100; t++) {
            snn_state_step(&l.s);
            float top = fmaxf(l.s.count[2][0], l.s.count[2][1]);
            assert_true(l.s.count[3][0] == top);
            assert_true(snn_state_output(&l.s)[0] == top);
            falls += net_events(&l.s, 3, 0) < 0;
        }
    }
    assert_true(falls > 0); /* the case under test happened */
    unload(&l);
    snn_net_free(&net);
}

/* The loader refuses signed spikes with reset to zero or with TTFS coding. */
static void test_refused_files(void **state)
{
    (void)state;
    snn_net net;
    uneven_net(&net, 1);
    uint8_t *buf;
    size_t len;
    snn_diag d;
    assert_int_equal(snn_net_serialize(&net, &buf, &len, &d), SNN_OK);
    uint8_t *meta = sec_data(buf, len, SNN_TAG_META);
    assert_non_null(meta);
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag rd;
    wr32(meta + SNN_META_RESET, SNN_RESET_ZERO);
    reseal(buf, len);
    assert_int_equal(snn_model_load(m, buf, len, &rd), SNN_RT_ERR_FORMAT);
    assert_string_equal(rd.msg, "signed spikes need rate coding with reset by subtraction");
    wr32(meta + SNN_META_RESET, SNN_RESET_SUBTRACT);
    wr32(meta + SNN_META_FEATURES, SNN_FEATURE_SIGNED | SNN_FEATURE_TTFS);
    wr32(meta + SNN_META_CODING, SNN_CODING_TTFS);
    wr32(meta + SNN_META_STEPS, 0);
    const float hi = 1.0f;
    uint32_t hi_bits;
    memcpy(&hi_bits, &hi, sizeof hi_bits);
    wr32(meta + SNN_META_TTFS_IN_HI, hi_bits);
    reseal(buf, len);
    assert_int_equal(snn_model_load(m, buf, len, &rd), SNN_RT_ERR_FORMAT);
    assert_string_equal(rd.msg, "signed spikes need rate coding with reset by subtraction");
    /* A runtime that knows only TTFS (1.1) would refuse the bit; this one loads it. */
    wr32(meta + SNN_META_FEATURES, SNN_FEATURE_SIGNED);
    wr32(meta + SNN_META_CODING, SNN_CODING_DIRECT);
    wr32(meta + SNN_META_STEPS, 64);
    reseal(buf, len);
    assert_int_equal(snn_model_load(m, buf, len, &rd), SNN_RT_OK);
    free(m);
    free(buf);
    snn_net_free(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_by_hand),
        cmocka_unit_test(test_count_is_rounded_relu),
        cmocka_unit_test(test_maxpool_follows_falling_max),
        cmocka_unit_test(test_refused_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
