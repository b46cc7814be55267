/* Batched calibration (ir/rebatch.c, snn_eval_init_samples): every bundled model batches, and
 * a sample evaluated at any place of a batch gets the bits it gets alone, in every tensor, so
 * the calibration statistics (and the .snn bytes) are those of one sample at a time. Graphs
 * whose nodes mix samples are refused rather than batched wrongly.
 *
 * Usage: test_rebatch MODELS_DIR */
#include <math.h>
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
#include "ir/rebatch.h"
#include "onnx/onnx_import.h"
#include "passes/passes.h"

static const char *models_dir;

static float noise(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return (float)(*st >> 8) / 16777216.0f; /* [0, 1) */
}

static void assert_same_stats(const calib_stats *a, const calib_stats *b)
{
    assert_int_equal(a->samples, b->samples);
    for (int i = 0; i < a->g->n_tensors; i++) {
        const calib_tensor *x = &a->t[i], *y = &b->t[i];
        assert_int_equal(x->channels, y->channels);
        if (!x->channels)
            continue;
        assert_memory_equal(x->max, y->max, (size_t)x->channels * sizeof *x->max);
        assert_memory_equal(x->n_pos, y->n_pos, (size_t)x->channels * sizeof *x->n_pos);
        assert_memory_equal(x->n_total, y->n_total, (size_t)x->channels * sizeof *x->n_total);
        assert_memory_equal(x->hist, y->hist, (size_t)x->channels * CALIB_BINS * sizeof *x->hist);
    }
}

/* Eleven samples in batches of 4 (the last one short) against one at a time: every run-time
 * tensor bit for bit, and the statistics. */
static void check_model(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.onnx", models_dir, name);
    snn_graph g, gb;
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, &g, &d), SNN_OK);
    const int64_t B = 4, n = 11;
    snn_status st = snn_graph_rebatch(&g, B, &gb, &d);
    if (st != SNN_OK)
        print_error("%s: %s\n", name, d.msg);
    assert_int_equal(st, SNN_OK);
    int64_t size = snn_tensor_numel(&g.tensors[g.inputs[0]]);
    float *x = malloc((size_t)(size * B) * sizeof *x); /* (B, sample) */
    assert_non_null(x);
    snn_eval one, batch;
    assert_int_equal(snn_eval_init(&one, &g, &d), SNN_OK);
    assert_int_equal(snn_eval_init_samples(&batch, &gb, &g, NULL, &d), SNN_OK);
    calib_stats cs_one, cs_batch;
    assert_int_equal(calib_init(&cs_one, &g, &d), SNN_OK);
    assert_int_equal(calib_init(&cs_batch, &g, &d), SNN_OK);
    uint32_t seed = 7;
    int64_t compared = 0;
    for (int64_t i0 = 0; i0 < n; i0 += B) {
        int64_t cnt = n - i0 < B ? n - i0 : B;
        for (int64_t k = 0; k < cnt * size; k++)
            x[k] = noise(&seed);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&batch, feed, &d), SNN_OK);
        calib_add_samples(&cs_batch, &batch, cnt);
        for (int64_t s = 0; s < cnt; s++) {
            const float *fs[1] = {x + s * size};
            assert_int_equal(snn_eval_run(&one, fs, &d), SNN_OK);
            calib_add(&cs_one, &one);
            for (int t = 0; t < g.n_tensors; t++) {
                if (g.tensors[t].flags & (SNN_TENSOR_CONST | SNN_TENSOR_INPUT))
                    continue;
                int64_t numel = snn_tensor_numel(&g.tensors[t]);
                assert_memory_equal(snn_eval_tensor(&one, t), snn_eval_tensor(&batch, t) + s * numel,
                                    (size_t)numel * sizeof(float));
                compared += numel;
            }
        }
    }
    assert_same_stats(&cs_one, &cs_batch);
    print_message("%s: %lld values of %lld samples in batches of %lld, the same bits\n", name,
                  (long long)compared, (long long)n, (long long)B);
    calib_free(&cs_one);
    calib_free(&cs_batch);
    snn_eval_free(&one);
    snn_eval_free(&batch);
    snn_graph_rebatch_free(&gb);
    snn_graph_free(&g);
    free(x);
}

static void test_bundled_models(void **state)
{
    (void)state;
    static const char *const names[] = {"fmnist_mlp", "fmnist_cnn_avg", "fmnist_cnn_maxbn", "fmnist_resnet",
                                        "mnist_lenet"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        check_model(names[i]);
}

/* input (1, 6) -> node -> y, for a node that reads the input and optional constants. */
static snn_node *tiny_graph(snn_graph *g, snn_op op, int n_const, const int64_t (*const_dims)[2])
{
    snn_diag d;
    snn_graph_init(g);
    g->inputs = malloc(sizeof *g->inputs);
    g->outputs = malloc(sizeof *g->outputs);
    assert_true(g->inputs && g->outputs);
    g->opset = 13;
    int x = snn_graph_add_tensor(g, "x", &d);
    snn_tensor_set_shape(&g->tensors[x], 2, (const int64_t[]){1, 6});
    g->tensors[x].flags |= SNN_TENSOR_INPUT;
    g->inputs[g->n_inputs++] = x;
    int k = snn_graph_add_node(g, op, "node", 1 + n_const, 1, &d);
    assert_true(k >= 0);
    g->nodes[k].inputs[0] = x;
    for (int c = 0; c < n_const; c++) {
        char nm[8];
        snprintf(nm, sizeof nm, "c%d", c);
        int t = snn_graph_add_tensor(g, nm, &d);
        snn_tensor_set_shape(&g->tensors[t], 2, const_dims[c]);
        int64_t numel = snn_tensor_numel(&g->tensors[t]);
        float *v = calloc((size_t)numel, sizeof *v);
        assert_non_null(v);
        snn_tensor_set_const(&g->tensors[t], SNN_DTYPE_FLOAT, v);
        g->nodes[k].inputs[1 + c] = t;
    }
    int y = snn_graph_add_tensor(g, "y", &d);
    g->nodes[k].outputs[0] = y;
    g->outputs[g->n_outputs++] = y;
    g->tensors[y].flags |= SNN_TENSOR_OUTPUT;
    assert_int_equal(snn_graph_sort(g, &d), SNN_OK);
    return &g->nodes[k];
}

static void assert_refused(snn_graph *g, const char *what)
{
    snn_diag d;
    assert_int_equal(snn_pass_infer_and_fold(g, &d), SNN_OK);
    snn_graph gb;
    assert_int_equal(snn_graph_rebatch(g, 3, &gb, &d), SNN_ERR_UNSUPPORTED);
    print_message("%s: refused (%s)\n", what, d.msg);
    snn_graph_free(g);
}

static void test_mixing_refused(void **state)
{
    (void)state;
    snn_graph g;
    snn_node *n = tiny_graph(&g, SNN_OP_SOFTMAX, 0, NULL);
    n->attr.axis = 0;
    assert_refused(&g, "Softmax over axis 0");
    n = tiny_graph(&g, SNN_OP_GEMM, 1, (const int64_t[][2]){{1, 4}});
    n->attr.trans_a = true; /* A (1, 6) read as (6, 1): the batch axis is a Gemm row index */
    n->attr.alpha = 1.0f;
    g.tensors[n->inputs[1]].dims[0] = 1, g.tensors[n->inputs[1]].dims[1] = 4;
    assert_refused(&g, "Gemm with transA");
    n = tiny_graph(&g, SNN_OP_FLATTEN, 0, NULL);
    n->attr.axis = 2; /* (1, 6) -> (6, 1): the batch leaves the leading axis */
    assert_refused(&g, "Flatten to (6, 1)");
    /* And a per-sample node is batched. */
    n = tiny_graph(&g, SNN_OP_SOFTMAX, 0, NULL);
    n->attr.axis = 1;
    snn_diag d;
    assert_int_equal(snn_pass_infer_and_fold(&g, &d), SNN_OK);
    snn_graph gb;
    assert_int_equal(snn_graph_rebatch(&g, 3, &gb, &d), SNN_OK);
    assert_int_equal(gb.tensors[g.outputs[0]].dims[0], 3);
    assert_int_equal(g.tensors[g.outputs[0]].dims[0], 1); /* the graph itself is untouched */
    snn_graph_rebatch_free(&gb);
    snn_graph_free(&g);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_rebatch MODELS_DIR\n");
        return 2;
    }
    models_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundled_models),
        cmocka_unit_test(test_mixing_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
