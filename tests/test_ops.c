/* Spiking forms of ops, one small PyTorch-made model each (tests/data/snn/NAME.onnx, written
 * by tools/scripts/make_op_tests.py): the model converts with the default options, holds a
 * layer of the expected kind, and its SNN predicts what the ANN predicts on random inputs.
 * The float evaluator's side of the same models is checked against PyTorch's outputs by the
 * 'ops-vs-pytorch' test. A new op with a spiking form adds one line to main().
 *
 * Usage: test_ops DATA_DIR (tests/data/snn) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calib.h"
#include "data/data.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "snn_file_edit.h"
#include "snn_loaded.h"
#include "snn_net.h"
#include "snn_runtime.h"

static const char *data_dir;

typedef struct {
    const char *model;   /* NAME of tests/data/snn/NAME.onnx */
    uint32_t layer_kind; /* a layer of this kind must be in the converted net */
    double min_agree;    /* fraction of inputs on which SNN and ANN predict alike */
} op_case;

static uint32_t lcg(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

/* in (numel floats): uniform in [0, 1), as the model's PyTorch test input. */
static void random_input(uint32_t *seed, float *in, int64_t numel)
{
    for (int64_t k = 0; k < numel; k++)
        in[k] = (float)(lcg(seed) % 1000) / 1000.0f;
}

static int argmax(const float *y, int64_t n)
{
    int a = 0;
    for (int k = 1; k < n; k++)
        a = y[k] > y[a] ? k : a;
    return a;
}

static void test_case(void **state)
{
    const op_case *c = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.onnx", data_dir, c->model);
    snn_graph g;
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, &g, &d), SNN_OK);
    int64_t numel = snn_tensor_numel(&g.tensors[g.inputs[0]]);
    int64_t n_out = snn_tensor_numel(&g.tensors[g.outputs[0]]);
    float *x = malloc((size_t)numel * sizeof *x);
    assert_non_null(x);
    snn_eval ev;
    calib_stats cs;
    assert_int_equal(snn_eval_init(&ev, &g, &d), SNN_OK);
    assert_int_equal(calib_init(&cs, &g, &d), SNN_OK);
    uint32_t seed = 7;
    for (int i = 0; i < 200; i++) {
        random_input(&seed, x, numel);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        calib_add(&cs, &ev);
    }
    snn_build_opts o;
    snn_build_opts_init(&o);
    snn_net net;
    snn_status st = snn_build(&g, &cs, &o, &net, &d);
    if (st != SNN_OK)
        print_error("%s: %s\n", c->model, d.msg);
    assert_int_equal(st, SNN_OK);
    bool has_kind = false;
    for (uint32_t i = 0; i < net.n_layers; i++)
        has_kind |= net.layers[i].kind == c->layer_kind;
    assert_true(has_kind);

    loaded l;
    load_net(&net, &l);
    int agree = 0, n = 100;
    for (int i = 0; i < n; i++) {
        random_input(&seed, x, numel);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        snn_state_begin(&l.s, x, SNN_CODING_DIRECT, (uint64_t)i + 1);
        for (int t = 0; t < 256; t++)
            snn_state_step(&l.s);
        agree += snn_state_predict(&l.s) == argmax(snn_eval_output(&ev, 0), n_out);
    }
    print_message("%s: SNN agrees with the ANN on %d of %d inputs at T=256\n", c->model, agree, n);
    assert_true(agree >= c->min_agree * n);
    unload(&l);
    snn_net_free(&net);
    snn_eval_free(&ev);
    calib_free(&cs);
    free(x);
    snn_graph_free(&g);
}

/* Per-channel preprocessing end to end: a three-channel model converted with one mean and
 * std per channel. The runtime's snn_preprocess_u8 must give the float evaluator's input bit
 * for bit, the SNN must agree with the ANN, and a file whose PREP section and feature bit
 * disagree, or whose std is 0, must be refused. */
static void test_channel_prep(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/rgb_net.onnx", data_dir);
    snn_graph g;
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, &g, &d), SNN_OK);
    static const float mean[3] = {0.1f, 0.2f, 0.3f}, std[3] = {0.5f, 0.25f, 2.0f};
    snn_preprocess pp = {.scale = 1.0f / 255.0f, .mean = mean[0], .std = std[0], .channels = 3};
    g.pre_scale = pp.scale, g.pre_mean = mean[0], g.pre_std = std[0], g.pre_channels = 3;
    for (int c = 0; c < 3; c++)
        pp.mean_c[c] = g.pre_mean_c[c] = mean[c], pp.std_c[c] = g.pre_std_c[c] = std[c];
    enum { N = 108 }; /* (3, 6, 6) */
    float raw[N], x[N], x_rt[N];
    uint8_t raw8[N];
    snn_dataset one = {.n = 1, .rank = 3, .dims = {3, 6, 6}, .sample_size = N, .x = raw};
    snn_eval ev;
    calib_stats cs;
    assert_int_equal(snn_eval_init(&ev, &g, &d), SNN_OK);
    assert_int_equal(calib_init(&cs, &g, &d), SNN_OK);
    uint32_t seed = 11;
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < N; k++)
            raw[k] = (float)(lcg(&seed) % 256);
        snn_preprocess_sample(&one, 0, &pp, x, NULL);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        calib_add(&cs, &ev);
    }
    snn_build_opts o;
    snn_build_opts_init(&o);
    snn_net net;
    assert_int_equal(snn_build(&g, &cs, &o, &net, &d), SNN_OK);
    loaded l;
    load_net(&net, &l);
    assert_non_null(l.m->pre_mean_c);
    assert_true(l.m->pre_mean_c[2] == 0.3f && l.m->pre_std_c[1] == 0.25f);
    int agree = 0, n = 100;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < N; k++)
            raw8[k] = (uint8_t)(lcg(&seed) % 256), raw[k] = raw8[k];
        snn_preprocess_sample(&one, 0, &pp, x, NULL);
        snn_preprocess_u8(l.m, raw8, x_rt);
        assert_memory_equal(x, x_rt, sizeof x); /* one preprocessing, bit for bit */
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        snn_state_begin(&l.s, x_rt, SNN_CODING_DIRECT, 1);
        for (int t = 0; t < 256; t++)
            snn_state_step(&l.s);
        agree += snn_state_predict(&l.s) == argmax(snn_eval_output(&ev, 0), 3);
    }
    print_message("rgb_net, per-channel mean/std: SNN agrees with the ANN on %d of %d inputs\n", agree, n);
    assert_true(agree >= 90);

    /* The feature bit without its section, and a std of 0, are refused. */
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag rd;
    uint8_t *b = malloc(l.len);
    memcpy(b, l.buf, l.len);
    uint8_t *meta = sec_data(b, l.len, SNN_TAG_META);
    wr32(meta + SNN_META_FEATURES, rd32(meta + SNN_META_FEATURES) & ~SNN_FEATURE_CHANNEL_PREP);
    reseal(b, l.len);
    assert_int_equal(snn_model_load(m, b, l.len, &rd), SNN_RT_ERR_FORMAT);
    assert_non_null(strstr(rd.msg, "PREP section without"));
    memcpy(b, l.buf, l.len);
    wr32(sec_data(b, l.len, SNN_TAG_PREP) + 4 * 4, 0); /* the second channel's std */
    reseal(b, l.len);
    assert_int_equal(snn_model_load(m, b, l.len, &rd), SNN_RT_ERR_FORMAT);
    assert_non_null(strstr(rd.msg, "std of 0"));
    free(b);
    free(m);
    unload(&l);
    snn_net_free(&net);
    snn_eval_free(&ev);
    calib_free(&cs);
    snn_graph_free(&g);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_ops DATA_DIR\n");
        return 2;
    }
    data_dir = argv[1];
    static const op_case globalmaxpool = {"globalmaxpool_net", SNN_LAYER_MAXPOOL, 0.9};
    static const op_case rgb = {"rgb_net", SNN_LAYER_NEURON, 0.9};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_case, (void *)&globalmaxpool),
        cmocka_unit_test_prestate(test_case, (void *)&rgb),
        cmocka_unit_test(test_channel_prep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
