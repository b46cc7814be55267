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
#include "eval/eval.h"
#include "onnx/onnx_import.h"
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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_ops DATA_DIR\n");
        return 2;
    }
    data_dir = argv[1];
    static const op_case globalmaxpool = {"globalmaxpool_net", SNN_LAYER_MAXPOOL, 0.9};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_case, (void *)&globalmaxpool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
