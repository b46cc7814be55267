/* Time-to-first-spike conversion and runtime on small nets with known answers: spike times
 * computed by hand, quantised times at a finite resolution, exactness with max-pooling,
 * concatenation, Clip, depthwise conv and a residual shortcut from an earlier window, and
 * files the loader must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "snn_net.h"
#include "snn_file_edit.h"
#include "snn_loaded.h"
#include "snn_runtime.h"

static const char *data_dir;

/* dense2.onnx (tools/scripts/make_test_models.py): h = relu(W1 x + b1), y = W2 h + b2, with
 * W1 = ((1, -1), (0.5, 2), (-1, -1)), b1 = (0.5, 0, -0.25). */
static const float W2[2][3] = {{1.0f, 2.0f, 3.0f}, {-1.0f, 0.5f, 0.0f}};
static const float B2[2] = {0.1f, -0.1f};
static const float CALIB[4][2] = {{1, 0}, {0, 1}, {2, 1}, {-1, 3}};

typedef struct {
    snn_graph g;
    calib_stats cs;
    snn_net net;
    loaded rt;
} fixture;

static uint32_t lcg(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

/* Load data_dir/NAME.onnx and calibrate on n samples from next(). */
static void calibrate(fixture *f, const char *name, int n, void (*next)(int i, float *x))
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.onnx", data_dir, name);
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, &f->g, &d), SNN_OK);
    snn_eval ev;
    assert_int_equal(snn_eval_init(&ev, &f->g, &d), SNN_OK);
    assert_int_equal(calib_init(&f->cs, &f->g, &d), SNN_OK);
    float x[256];
    for (int i = 0; i < n; i++) {
        next(i, x);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        calib_add(&f->cs, &ev);
    }
    snn_eval_free(&ev);
}

static void build_and_load(fixture *f, const snn_build_opts *o)
{
    snn_diag d;
    assert_int_equal(snn_build(&f->g, &f->cs, o, &f->net, &d), SNN_OK);
    load_net(&f->net, &f->rt);
}

static void teardown(fixture *f)
{
    unload(&f->rt);
    snn_net_free(&f->net);
    calib_free(&f->cs);
    snn_graph_free(&f->g);
}

static void dense2_sample(int i, float *x)
{
    x[0] = CALIB[i][0];
    x[1] = CALIB[i][1];
}

static snn_build_opts ttfs_opts(uint32_t norm, double pct, uint32_t resolution)
{
    snn_build_opts o;
    snn_build_opts_init(&o);
    o.coding = SNN_CODING_TTFS;
    o.norm = norm;
    o.percentile = pct;
    o.steps = resolution;
    return o;
}

/* Hand-computed spike times. Max-norm: lambda = 5.5, the largest hidden activation over the
 * calibration set (unit 1 at x = (-1, 3)). Input range [-1, 3] (the calibration range). For
 * x = (0.8, 0.3): the inputs spike at (3 - x) / 4 = 0.55 and 0.675; h = (1.0, 1.0, 0) spike at
 * 1 - h / 5.5 = 9/11 (units 0, 1), unit 2 stays silent; the output membrane is the logits. */
static void test_dense_spike_times(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    calibrate(&f, "dense2", 4, dense2_sample);
    snn_build_opts o = ttfs_opts(SNN_NORM_MAX, 0, 0);
    o.input_lo = -1.0f, o.input_hi = 3.0f;
    build_and_load(&f, &o);
    assert_int_equal(f.rt.m->coding, SNN_CODING_TTFS);
    assert_true(f.rt.m->features & SNN_FEATURE_TTFS);
    assert_int_equal(f.rt.m->latency_windows, 2);
    const float x[2] = {0.8f, 0.3f};
    assert_int_equal(snn_state_run_ttfs(&f.rt.s, x, 0), SNN_RT_OK);
    assert_int_equal(f.rt.s.n_spikes[0], 2);
    assert_float_equal(f.rt.s.spike_time[0][0], 0.55f, 1e-6);
    assert_float_equal(f.rt.s.spike_time[0][1], 0.675f, 1e-6);
    assert_int_equal(f.rt.s.n_spikes[1], 2);
    assert_int_equal(f.rt.s.spike_idx[1][0], 0);
    assert_int_equal(f.rt.s.spike_idx[1][1], 1);
    assert_float_equal(f.rt.s.spike_time[1][0], 9.0f / 11.0f, 1e-6);
    assert_float_equal(f.rt.s.spike_time[1][1], 9.0f / 11.0f, 1e-6);
    const float h[3] = {1.0f, 1.0f, 0.0f};
    const float *v = snn_state_output(&f.rt.s);
    for (int k = 0; k < 2; k++)
        assert_float_equal(v[k], W2[k][0] * h[0] + W2[k][1] * h[1] + W2[k][2] * h[2] + B2[k], 1e-5);
    assert_int_equal(f.rt.s.stats[0].spikes, 2);
    assert_int_equal(f.rt.s.stats[0].synops, 2 * 3); /* two input spikes, three targets each */
    assert_int_equal(f.rt.s.stats[1].synops, 2 * 2);

    /* Resolution 8: x = 0.8 spikes at round(8 * 0.55) / 8 = 4/8 (value 1.0), x = 0.3 at
     * round(5.4) / 8 = 5/8 (value 0.5); h = relu(W1 (1.0, 0.5) + b1) = (1.0, 1.5, 0); y = h / 5.5
     * rounds to 1/8 and 2/8, so the hidden spikes land on steps 7 and 6 of their window. */
    assert_int_equal(snn_state_run_ttfs(&f.rt.s, x, 8), SNN_RT_OK);
    assert_float_equal(f.rt.s.spike_time[0][0], 0.5f, 0);
    assert_float_equal(f.rt.s.spike_time[0][1], 0.625f, 0);
    assert_int_equal(f.rt.s.n_spikes[1], 2);
    assert_float_equal(f.rt.s.spike_time[1][0], 7.0f / 8.0f, 0);
    assert_float_equal(f.rt.s.spike_time[1][1], 6.0f / 8.0f, 0);
    assert_int_equal(f.rt.s.t, 16); /* 2 windows of 8 steps */
    v = snn_state_output(&f.rt.s);
    const float hq[3] = {5.5f / 8.0f, 5.5f * 2.0f / 8.0f, 0.0f};
    for (int k = 0; k < 2; k++)
        assert_float_equal(v[k], W2[k][0] * hq[0] + W2[k][1] * hq[1] + B2[k], 1e-5);
    teardown(&f);
}

/* A rate-coded file does not run as TTFS, and a TTFS run needs a sane resolution. */
static void test_rate_file_refused(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    calibrate(&f, "dense2", 4, dense2_sample);
    snn_build_opts o;
    snn_build_opts_init(&o);
    build_and_load(&f, &o);
    const float x[2] = {0.8f, 0.3f};
    assert_int_equal(snn_state_run_ttfs(&f.rt.s, x, 0), SNN_RT_ERR_ARG);
    teardown(&f);
}

static void image_sample(int i, float *x, int n, float hi)
{
    uint32_t seed = 1000u + (uint32_t)i;
    for (int k = 0; k < n; k++)
        x[k] = (float)(lcg(&seed) % 1000) / 1000.0f * hi;
}
static void concat_sample(int i, float *x) { image_sample(i, x, 64, 4.0f); }
static void residual_sample(int i, float *x) { image_sample(i, x, 81, 1.0f); }

/* With exact spike times the SNN computes the ANN: on the calibration inputs themselves (no
 * value falls outside its window) the logits agree to float rounding, each neuron fires at
 * most once, and the network has the layer kinds the test is about. */
static void check_exact(const char *name, int n_in, int n_out, void (*next)(int, float *), int kinds_wanted)
{
    fixture f;
    memset(&f, 0, sizeof f);
    calibrate(&f, name, 50, next);
    snn_build_opts o = ttfs_opts(SNN_NORM_CHANNEL, 100.0, 0);
    o.input_lo = 0.0f, o.input_hi = n_in == 64 ? 4.0f : 1.0f;
    build_and_load(&f, &o);
    int kinds = 0;
    for (uint32_t i = 0; i < f.rt.m->n_layers; i++)
        kinds |= 1 << f.rt.m->layers[i].kind;
    assert_int_equal(kinds & kinds_wanted, kinds_wanted);
    snn_eval ev;
    snn_diag d;
    assert_int_equal(snn_eval_init(&ev, &f.g, &d), SNN_OK);
    float x[128];
    double worst = 0;
    uint32_t *seen = calloc(4096, sizeof *seen);
    for (int i = 0; i < 50; i++) {
        next(i, x);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        const float *y = snn_eval_output(&ev, 0);
        assert_int_equal(snn_state_run_ttfs(&f.rt.s, x, 0), SNN_RT_OK);
        const float *v = snn_state_output(&f.rt.s);
        double scale = 1e-3;
        for (int k = 0; k < n_out; k++)
            scale = fmax(scale, fabs((double)y[k]));
        for (int k = 0; k < n_out; k++)
            worst = fmax(worst, fabs((double)v[k] - (double)y[k]) / scale);
        for (uint32_t b = 1; b <= f.rt.m->n_layers; b++) {
            for (uint32_t q = 0; q < f.rt.s.n_spikes[b]; q++)
                assert_true(++seen[f.rt.s.spike_idx[b][q]] == 1); /* one spike per neuron */
            for (uint32_t q = 0; q < f.rt.s.n_spikes[b]; q++)
                seen[f.rt.s.spike_idx[b][q]] = 0;
        }
    }
    print_message("%s: TTFS exact, worst logit error %.2g of the logit scale, latency %u windows\n", name, worst,
                  f.rt.m->latency_windows);
    assert_true(worst < 1e-4);
    free(seen);
    snn_eval_free(&ev);
    teardown(&f);
}

static void test_concat_clip_maxpool(void **state)
{
    (void)state;
    check_exact("concat_clip", 64, 4, concat_sample, 1 << SNN_LAYER_MAXPOOL | 1 << SNN_LAYER_CONCAT);
}

static void test_residual_depthwise_maxpool(void **state)
{
    (void)state;
    check_exact("residual", 81, 3, residual_sample, 1 << SNN_LAYER_MAXPOOL);
}

/* The residual net's shortcut reaches across two windows; the windows say so. */
static void test_residual_windows(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    calibrate(&f, "residual", 20, residual_sample);
    snn_build_opts o = ttfs_opts(SNN_NORM_CHANNEL, 100.0, 16);
    build_and_load(&f, &o);
    /* stem (window 1), max-pool (relays in 1), conv (2), depthwise (3), add (4), output (5) */
    assert_int_equal(f.rt.m->latency_windows, 5);
    int shortcut = 0;
    for (uint32_t k = 0; k < f.rt.m->n_proj; k++) {
        uint32_t src = f.rt.m->proj[k].source;
        for (uint32_t i = 0; i < f.rt.m->n_layers; i++) {
            const snn_layer *L = &f.rt.m->layers[i];
            if (L->kind == SNN_LAYER_NEURON && k >= L->proj_first && k < L->proj_first + L->proj_count &&
                f.rt.m->window[i + 1] - f.rt.m->window[src] > 1)
                shortcut = 1;
        }
    }
    assert_true(shortcut);
    teardown(&f);
}

/* Headers the loader must refuse, each with its message. */
static void expect_refused(const uint8_t *good, size_t len, uint32_t off, uint32_t value, snn_rt_status want,
                           const char *fragment)
{
    uint8_t *b = malloc(len);
    memcpy(b, good, len);
    wr32(sec_data(b, len, SNN_TAG_META) + off, value);
    reseal(b, len);
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag d;
    snn_rt_status st = snn_model_load(m, b, len, &d);
    if (st != want || !strstr(d.msg, fragment))
        print_error("got %s '%s', want '%s'\n", snn_rt_status_name(st), d.msg, fragment);
    assert_int_equal(st, want);
    assert_non_null(strstr(d.msg, fragment));
    free(m);
    free(b);
}

static void test_bad_ttfs_headers(void **state)
{
    (void)state;
    fixture f;
    memset(&f, 0, sizeof f);
    calibrate(&f, "dense2", 4, dense2_sample);
    snn_build_opts o = ttfs_opts(SNN_NORM_MAX, 0, 0);
    build_and_load(&f, &o);
    uint32_t nan_bits = 0x7fc00000u, f300 = 0x43960000u;
    expect_refused(f.rt.buf, f.rt.len, SNN_META_CODING, SNN_CODING_DIRECT, SNN_RT_ERR_FORMAT, "does not match the TTFS feature bit");
    expect_refused(f.rt.buf, f.rt.len, SNN_META_FEATURES, 1u << 7, SNN_RT_ERR_VERSION, "needs features 0x80");
    expect_refused(f.rt.buf, f.rt.len, SNN_META_READOUT, SNN_READOUT_SPIKES, SNN_RT_ERR_FORMAT, "reads out the membrane");
    expect_refused(f.rt.buf, f.rt.len, SNN_META_TTFS_IN_LO, nan_bits, SNN_RT_ERR_FORMAT, "TTFS input range");
    expect_refused(f.rt.buf, f.rt.len, SNN_META_TTFS_IN_HI, 0, SNN_RT_ERR_FORMAT, "TTFS input range");
    expect_refused(f.rt.buf, f.rt.len, SNN_META_TTFS_IN_LO, f300, SNN_RT_ERR_FORMAT, "TTFS input range"); /* lo 300 > hi 255 */
    expect_refused(f.rt.buf, f.rt.len, SNN_META_STEPS, SNN_MAX_RESOLUTION + 1, SNN_RT_ERR_FORMAT, "steps");
    teardown(&f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_ttfs DATA_DIR\n");
        return 2;
    }
    data_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_spike_times),    cmocka_unit_test(test_rate_file_refused),
        cmocka_unit_test(test_concat_clip_maxpool),  cmocka_unit_test(test_residual_depthwise_maxpool),
        cmocka_unit_test(test_residual_windows),     cmocka_unit_test(test_bad_ttfs_headers),
    };
    return cmocka_run_group_tests_name("ttfs", tests, NULL, NULL);
}
