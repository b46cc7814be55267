/* Graph IR: topological sort, cycle detection, verifier, window and broadcast shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "ir/graph.h"
#include "passes/passes.h"
#include "ir/shape.h"
#include "ir/verify.h"

/* x (1, 4) -> Relu a -> Relu b, nodes added in reverse order. */
static void build_chain(snn_graph *g, bool cycle)
{
    snn_diag d;
    snn_graph_init(g);
    int x = snn_graph_add_tensor(g, "x", &d), a = snn_graph_add_tensor(g, "a", &d),
        b = snn_graph_add_tensor(g, "b", &d);
    int64_t dims[2] = {1, 4};
    snn_tensor_set_shape(&g->tensors[x], 2, dims);
    g->tensors[x].flags |= SNN_TENSOR_INPUT;
    g->inputs = malloc(sizeof *g->inputs);
    g->inputs[g->n_inputs++] = x;
    g->outputs = malloc(sizeof *g->outputs);
    g->outputs[g->n_outputs++] = b;
    int n1 = snn_graph_add_node(g, SNN_OP_RELU, "second", 1, 1, &d);
    g->nodes[n1].inputs[0] = a;
    g->nodes[n1].outputs[0] = b;
    int n0 = snn_graph_add_node(g, SNN_OP_RELU, "first", 1, 1, &d);
    g->nodes[n0].inputs[0] = cycle ? b : x;
    g->nodes[n0].outputs[0] = a;
}

static void test_sort_and_eval(void **state)
{
    (void)state;
    snn_graph g;
    snn_diag d;
    build_chain(&g, false);
    assert_int_equal(snn_graph_sort(&g, &d), SNN_OK);
    assert_string_equal(g.nodes[0].name, "first");
    assert_int_equal(snn_pass_infer_and_fold(&g, &d), SNN_OK);
    assert_int_equal(snn_graph_verify(&g, &d), SNN_OK);
    snn_eval ev;
    assert_int_equal(snn_eval_init(&ev, &g, &d), SNN_OK);
    float x[4] = {-1, 2, -3, 4};
    const float *feed[1] = {x};
    assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
    const float *y = snn_eval_output(&ev, 0);
    assert_true(y[0] == 0 && y[1] == 2 && y[2] == 0 && y[3] == 4);
    snn_eval_free(&ev);
    snn_graph_free(&g);
}

static void test_cycle(void **state)
{
    (void)state;
    snn_graph g;
    snn_diag d;
    build_chain(&g, true);
    assert_int_equal(snn_graph_sort(&g, &d), SNN_ERR_INVALID);
    assert_non_null(strstr(d.msg, "cycle"));
    snn_graph_free(&g);
}

static void test_verify_catches_bad_shape(void **state)
{
    (void)state;
    snn_graph g;
    snn_diag d;
    build_chain(&g, false);
    assert_int_equal(snn_graph_sort(&g, &d), SNN_OK);
    assert_int_equal(snn_pass_infer_and_fold(&g, &d), SNN_OK);
    g.tensors[g.nodes[1].outputs[0]].dims[1] = 5; /* a pass that got a shape wrong */
    assert_int_equal(snn_graph_verify(&g, &d), SNN_ERR_INVALID);
    assert_non_null(strstr(d.msg, "does not follow from the inputs"));
    g.tensors[g.nodes[1].outputs[0]].dims[1] = 4;
    g.nodes[0].inputs[0] = 99; /* an index out of range */
    assert_int_equal(snn_graph_verify(&g, &d), SNN_ERR_INVALID);
    g.nodes[0].inputs[0] = g.nodes[1].outputs[0]; /* reads a later tensor */
    assert_int_equal(snn_graph_verify(&g, &d), SNN_ERR_INVALID);
    snn_graph_free(&g);
}

static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, bool ceil_mode,
                          snn_auto_pad ap, int64_t *pads_out)
{
    snn_node n;
    memset(&n, 0, sizeof n);
    n.name = "w";
    n.attr.strides[0] = n.attr.strides[1] = s;
    n.attr.dilations[0] = n.attr.dilations[1] = 1;
    n.attr.pads[0] = n.attr.pads[1] = pb;
    n.attr.pads[2] = n.attr.pads[3] = pe;
    n.attr.ceil_mode = ceil_mode;
    n.attr.auto_pad = ap;
    int64_t kernel[2] = {k, k}, in_hw[2] = {in, in}, pads[4], out[2];
    snn_diag d;
    if (snn_shape_window(&n, kernel, in_hw, pads, out, &d) != SNN_OK)
        return -1;
    if (pads_out)
        memcpy(pads_out, pads, sizeof pads);
    return out[0];
}

static void test_window_shapes(void **state)
{
    (void)state;
    int64_t p[4];
    assert_int_equal(window_out(28, 3, 1, 1, 1, false, SNN_AUTO_PAD_NOTSET, NULL), 28);
    assert_int_equal(window_out(28, 2, 2, 0, 0, false, SNN_AUTO_PAD_NOTSET, NULL), 14);
    assert_int_equal(window_out(4, 3, 2, 0, 0, false, SNN_AUTO_PAD_NOTSET, NULL), 1);
    assert_int_equal(window_out(4, 3, 2, 0, 0, true, SNN_AUTO_PAD_NOTSET, NULL), 2);
    /* ceil_mode never starts a window wholly in the trailing padding. */
    assert_int_equal(window_out(5, 2, 2, 1, 1, true, SNN_AUTO_PAD_NOTSET, NULL), 3);
    /* SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start. */
    assert_int_equal(window_out(5, 4, 1, 0, 0, false, SNN_AUTO_PAD_SAME_UPPER, p), 5);
    assert_true(p[0] == 1 && p[2] == 2);
    assert_int_equal(window_out(5, 4, 1, 0, 0, false, SNN_AUTO_PAD_SAME_LOWER, p), 5);
    assert_true(p[0] == 2 && p[2] == 1);
    assert_int_equal(window_out(7, 3, 2, 0, 0, false, SNN_AUTO_PAD_VALID, NULL), 3);
    assert_int_equal(window_out(2, 3, 1, 0, 0, false, SNN_AUTO_PAD_NOTSET, NULL), -1);
    assert_int_equal(window_out(8, 0, 1, 0, 0, false, SNN_AUTO_PAD_NOTSET, NULL), -1);
}

static void test_broadcast(void **state)
{
    (void)state;
    int64_t a[3] = {2, 1, 4}, b[2] = {3, 1}, out[8];
    int r;
    assert_true(snn_shape_broadcast(3, a, 2, b, &r, out));
    assert_int_equal(r, 3);
    assert_true(out[0] == 2 && out[1] == 3 && out[2] == 4);
    int64_t c[1] = {5};
    assert_false(snn_shape_broadcast(3, a, 1, c, &r, out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_and_eval),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_verify_catches_bad_shape),
        cmocka_unit_test(test_window_shapes),
        cmocka_unit_test(test_broadcast),
    };
    return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
