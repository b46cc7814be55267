/* Graph passes: what each removes, and that outputs do not change (optimised vs not, on
 * random inputs and on every bundled model). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "onnx/onnx_import.h"

static const char *pass_dir, *models_dir;

static int count_op(const snn_graph *g, snn_op op)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        c += g->nodes[i].op == op;
    return c;
}

static void load(const char *path, bool optimize, snn_graph *g)
{
    snn_import_options o;
    snn_import_options_init(&o);
    o.optimize = optimize;
    snn_diag d;
    snn_status st = snn_onnx_load_file(path, &o, g, &d);
    if (st != SNN_OK)
        print_error("%s: %s\n", path, d.msg);
    assert_int_equal(st, SNN_OK);
}

/* Largest |a-b| / (1 + |b|) over the outputs of both graphs for `trials` random inputs. */
static double max_output_diff(const snn_graph *a, const snn_graph *b, int trials)
{
    snn_eval ea, eb;
    snn_diag d;
    assert_int_equal(snn_eval_init(&ea, a, &d), SNN_OK);
    assert_int_equal(snn_eval_init(&eb, b, &d), SNN_OK);
    assert_int_equal(a->n_inputs, 1);
    int64_t n = snn_tensor_numel(&a->tensors[a->inputs[0]]);
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    unsigned seed = 12345;
    double worst = 0;
    for (int t = 0; t < trials; t++) {
        for (int64_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            x[i] = (float)((seed >> 8) & 0xffff) / 65535.0f * 2.0f - 0.5f;
        }
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ea, feed, &d), SNN_OK);
        assert_int_equal(snn_eval_run(&eb, feed, &d), SNN_OK);
        assert_int_equal(a->n_outputs, b->n_outputs);
        for (int k = 0; k < a->n_outputs; k++) {
            int64_t m = snn_tensor_numel(&a->tensors[a->outputs[k]]);
            assert_int_equal(m, snn_tensor_numel(&b->tensors[b->outputs[k]]));
            const float *ya = snn_eval_output(&ea, k), *yb = snn_eval_output(&eb, k);
            for (int64_t i = 0; i < m; i++) {
                double e = fabs((double)ya[i] - (double)yb[i]) / (1.0 + fabs((double)yb[i]));
                worst = e > worst ? e : worst;
            }
        }
    }
    free(x);
    snn_eval_free(&ea);
    snn_eval_free(&eb);
    return worst;
}

static void check_same_outputs(const char *path, snn_graph *raw, snn_graph *opt)
{
    load(path, false, raw);
    load(path, true, opt);
    double diff = max_output_diff(raw, opt, 8);
    if (diff > 1e-5)
        print_error("%s: outputs differ by %g after the passes\n", path, diff);
    assert_true(diff <= 1e-5);
}

static void test_conv_bn_identity(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/conv_bn_identity.onnx", pass_dir);
    snn_graph raw, opt;
    check_same_outputs(path, &raw, &opt);
    assert_int_equal(count_op(&raw, SNN_OP_BATCHNORM), 2);
    assert_int_equal(count_op(&opt, SNN_OP_BATCHNORM), 0);
    assert_int_equal(count_op(&opt, SNN_OP_IDENTITY) + count_op(&opt, SNN_OP_DROPOUT), 0);
    assert_int_equal(opt.n_nodes, 3); /* Conv, Relu, Conv */
    /* The graph output keeps its name after its producer changed. */
    assert_string_equal(opt.tensors[opt.outputs[0]].name, "y");
    /* Each folded BN leaves its beta and |gamma| on its output, a data-free range: the file's
     * bn1_b and bn1_g, read back from the unoptimised graph. */
    int r1in = snn_graph_find_tensor(&opt, "r1in"), y = opt.outputs[0];
    assert_true(r1in >= 0);
    const float *prior = opt.tensors[r1in].bn_prior;
    assert_non_null(prior);
    assert_non_null(opt.tensors[y].bn_prior);
    int g1 = snn_graph_find_tensor(&raw, "bn1_g"), b1 = snn_graph_find_tensor(&raw, "bn1_b");
    const float *gamma = raw.tensors[g1].data, *beta = raw.tensors[b1].data;
    for (int c = 0; c < 4; c++) {
        assert_float_equal(prior[c], beta[c], 0.0f);
        assert_float_equal(prior[4 + c], fabsf(gamma[c]), 0.0f);
    }
    assert_null(opt.tensors[opt.inputs[0]].bn_prior);
    snn_graph_free(&raw);
    snn_graph_free(&opt);
}

static void test_gemm_bn(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/gemm_bn.onnx", pass_dir);
    snn_graph raw, opt;
    check_same_outputs(path, &raw, &opt);
    assert_int_equal(count_op(&opt, SNN_OP_BATCHNORM), 0);
    assert_int_equal(count_op(&opt, SNN_OP_GEMM), 2);
    snn_graph_free(&raw);
    snn_graph_free(&opt);
}

static void test_pad_merge(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/pad_merge.onnx", pass_dir);
    snn_graph raw, opt;
    check_same_outputs(path, &raw, &opt);
    assert_int_equal(count_op(&raw, SNN_OP_PAD), 4);
    /* Merged into Conv, the MaxPool after ReLU and the AveragePool; the Pad before the last
     * MaxPool (input not known to be non-negative) stays. */
    assert_int_equal(count_op(&opt, SNN_OP_PAD), 1);
    snn_graph_free(&raw);
    snn_graph_free(&opt);
}

static void test_bundled_models(void **state)
{
    (void)state;
    static const char *const names[] = {"fmnist_mlp", "fmnist_cnn_avg", "fmnist_cnn_maxbn",
                                        "fmnist_resnet", "mnist_lenet"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.onnx", models_dir, names[i]);
        snn_graph raw, opt;
        check_same_outputs(path, &raw, &opt);
        /* After the passes no BatchNormalization, Identity or Dropout is left. */
        assert_int_equal(count_op(&opt, SNN_OP_BATCHNORM), 0);
        assert_int_equal(count_op(&opt, SNN_OP_IDENTITY), 0);
        assert_int_equal(count_op(&opt, SNN_OP_DROPOUT), 0);
        snn_graph_free(&raw);
        snn_graph_free(&opt);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_passes PASS_DIR MODELS_DIR\n");
        return 2;
    }
    pass_dir = argv[1];
    models_dir = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_bn_identity),
        cmocka_unit_test(test_gemm_bn),
        cmocka_unit_test(test_pad_merge),
        cmocka_unit_test(test_bundled_models),
    };
    return cmocka_run_group_tests_name("passes", tests, NULL, NULL);
}
