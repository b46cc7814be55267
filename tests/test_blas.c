/* The evaluator's fast paths against its plain C reference kernels: Conv over random
 * geometries (strides, padding, dilations, groups, 1x1, batches that the BLAS path stacks into
 * one product; large stride-1 planes that take the AVX2 direct convolution), Gemm with every transpose and bias shape, and MatMul with broadcast batch
 * dimensions. Outputs must agree to float rounding: |a - b| <= 1e-4 * (1 + sum of |terms|)
 * scale. Skipped where the build has no BLAS. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eval/conv_direct.h"
#include "eval/eval.h"
#include "eval/kernels.h"
#include "ir/graph.h"
#include "passes/passes.h"

static uint32_t lcg(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

static float uniform(uint32_t *st)
{
    return (float)(lcg(st) % 20001) / 10000.0f - 1.0f; /* [-1, 1] */
}

static int64_t pick(uint32_t *st, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(lcg(st) % (uint32_t)(hi - lo + 1));
}

/* A tensor of the given shape; constant (random data) unless it is the graph's input. */
static int add_tensor(snn_graph *g, const char *name, int rank, const int64_t *dims, bool input,
                      uint32_t *seed)
{
    snn_diag d;
    int t = snn_graph_add_tensor(g, name, &d);
    assert_true(t >= 0);
    snn_tensor_set_shape(&g->tensors[t], rank, dims);
    if (input) {
        g->tensors[t].flags |= SNN_TENSOR_INPUT;
        g->inputs[g->n_inputs++] = t;
        return t;
    }
    int64_t n = snn_tensor_numel(&g->tensors[t]);
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t k = 0; k < n; k++)
        v[k] = uniform(seed);
    snn_tensor_set_const(&g->tensors[t], SNN_DTYPE_FLOAT, v);
    return t;
}

/* One node of `op` reading tensors in[0..n_in) (-1 omitted) into a fresh output. */
static snn_node *one_node(snn_graph *g, snn_op op, const int *in, int n_in)
{
    snn_diag d;
    int y = snn_graph_add_tensor(g, "y", &d);
    g->outputs[g->n_outputs++] = y;
    int k = snn_graph_add_node(g, op, "node", n_in, 1, &d);
    assert_true(k >= 0);
    for (int i = 0; i < n_in; i++)
        g->nodes[k].inputs[i] = in[i];
    g->nodes[k].outputs[0] = y;
    return &g->nodes[k];
}

static void new_graph(snn_graph *g)
{
    snn_graph_init(g);
    g->inputs = malloc(sizeof *g->inputs);
    g->outputs = malloc(sizeof *g->outputs);
    assert_non_null(g->inputs);
    assert_non_null(g->outputs);
    g->opset = 13;
}

/* Evaluates g both ways on a random input; returns the largest error relative to the output's
 * magnitude. */
static double compare(snn_graph *g, uint32_t *seed)
{
    snn_diag d;
    assert_int_equal(snn_graph_sort(g, &d), SNN_OK);
    if (snn_pass_infer_and_fold(g, &d) != SNN_OK)
        print_error("shape inference: %s\n", d.msg);
    int64_t n_in = snn_tensor_numel(&g->tensors[g->inputs[0]]);
    float *x = malloc((size_t)n_in * sizeof *x);
    assert_non_null(x);
    for (int64_t k = 0; k < n_in; k++)
        x[k] = uniform(seed);
    snn_eval fast, ref;
    snn_status st = snn_eval_init(&fast, g, &d);
    if (st != SNN_OK)
        print_error("evaluator: %s\n", d.msg);
    assert_int_equal(st, SNN_OK);
    assert_int_equal(snn_eval_init(&ref, g, &d), SNN_OK);
    snn_eval_use_reference(&ref, true);
    assert_true(fast.blas && !ref.blas);
    const float *feed[1] = {x};
    assert_int_equal(snn_eval_run(&fast, feed, &d), SNN_OK);
    assert_int_equal(snn_eval_run(&ref, feed, &d), SNN_OK);
    int64_t n_out = snn_tensor_numel(&g->tensors[g->outputs[0]]);
    const float *a = snn_eval_output(&fast, 0), *b = snn_eval_output(&ref, 0);
    double worst = 0.0, mag = 1.0;
    for (int64_t k = 0; k < n_out; k++)
        mag = fmax(mag, fabs((double)b[k]));
    for (int64_t k = 0; k < n_out; k++)
        worst = fmax(worst, fabs((double)a[k] - (double)b[k]) / mag);
    snn_eval_free(&fast);
    snn_eval_free(&ref);
    free(x);
    return worst;
}

static void skip_without_blas(void)
{
    if (!snn_blas_available()) {
        print_message("skipped: built without OpenBLAS (Debian libopenblas-dev)\n");
        skip();
    }
}

static void test_conv(void **state)
{
    (void)state;
    skip_without_blas();
    uint32_t seed = 11;
    for (int trial = 0; trial < 300; trial++) {
        int64_t G = trial % 5 == 0 ? pick(&seed, 2, 4) : 1;
        int64_t Cg = pick(&seed, 1, 6), Mg = pick(&seed, 1, 6), N = pick(&seed, 1, 3);
        int64_t kh = pick(&seed, 1, 4), kw = pick(&seed, 1, 4);
        if (trial % 7 == 0)
            kh = kw = 1;
        int64_t H = pick(&seed, kh, 12), W = pick(&seed, kw, 12);
        snn_graph g;
        new_graph(&g);
        int64_t xd[4] = {N, G * Cg, H, W}, wd[4] = {G * Mg, Cg, kh, kw}, bd[1] = {G * Mg};
        int in[3] = {add_tensor(&g, "x", 4, xd, true, &seed), add_tensor(&g, "w", 4, wd, false, &seed),
                     add_tensor(&g, "b", 1, bd, false, &seed)};
        snn_node *n = one_node(&g, SNN_OP_CONV, in, trial % 3 ? 3 : 2);
        snn_attrs *at = &n->attr;
        at->kernel[0] = kh, at->kernel[1] = kw;
        at->group = G;
        for (int k = 0; k < 2; k++) {
            at->strides[k] = trial % 7 == 0 ? 1 : pick(&seed, 1, 3);
            at->dilations[k] = trial % 4 == 1 ? 2 : 1;
        }
        for (int k = 0; k < 4; k++)
            at->pads[k] = trial % 7 == 0 ? 0 : pick(&seed, 0, (k % 2 ? kw : kh) - 1);
        if ((H + at->pads[0] + at->pads[2] - (kh - 1) * at->dilations[0] - 1) < 0 ||
            (W + at->pads[1] + at->pads[3] - (kw - 1) * at->dilations[1] - 1) < 0) {
            snn_graph_free(&g);
            continue; /* the dilated kernel does not fit */
        }
        double err = compare(&g, &seed);
        if (err > 1e-5)
            print_error("trial %d: N %lld G %lld Cg %lld Mg %lld %lldx%lld k %lldx%lld: error %g\n", trial,
                        (long long)N, (long long)G, (long long)Cg, (long long)Mg, (long long)H, (long long)W,
                        (long long)kh, (long long)kw, err);
        assert_true(err <= 1e-5);
        snn_graph_free(&g);
    }
}

/* A deep-end layer: few positions, many samples, so the BLAS path stacks the samples' columns
 * into one product and copies each sample's block back. */
static void test_conv_stacked_batch(void **state)
{
    (void)state;
    skip_without_blas();
    uint32_t seed = 5;
    snn_graph g;
    new_graph(&g);
    int64_t xd[4] = {70, 16, 4, 4}, wd[4] = {24, 16, 3, 3}, bd[1] = {24};
    int in[3] = {add_tensor(&g, "x", 4, xd, true, &seed), add_tensor(&g, "w", 4, wd, false, &seed),
                 add_tensor(&g, "b", 1, bd, false, &seed)};
    snn_attrs *at = &one_node(&g, SNN_OP_CONV, in, 3)->attr;
    at->kernel[0] = at->kernel[1] = 3;
    at->group = 1;
    at->strides[0] = at->strides[1] = at->dilations[0] = at->dilations[1] = 1;
    for (int k = 0; k < 4; k++)
        at->pads[k] = 1;
    assert_true(compare(&g, &seed) <= 1e-5);
    snn_graph_free(&g);
}

/* Convolutions without groups and with at least 16 output channels: the direct path, with
 * strides, asymmetric padding, dilations, kernels up to 5x5, channel counts that leave a
 * partial block of 16, 1x1 kernels, with and without bias, and batches that span several
 * chunks of samples. Every trial must take that path where the CPU has AVX2 and FMA. */
static void test_conv_direct(void **state)
{
    (void)state;
    skip_without_blas();
    uint32_t seed = 23;
    int trials = 0, direct = 0;
    for (int trial = 0; trial < 60; trial++) {
        int64_t C = pick(&seed, 1, 9), M = trial % 2 ? 16 * pick(&seed, 1, 3) : pick(&seed, 16, 40);
        int64_t N = pick(&seed, 1, 3), kh = pick(&seed, 1, 5), kw = pick(&seed, 1, 5);
        int64_t dil = trial % 3 == 1 ? 2 : 1, sh = pick(&seed, 1, 2), sw = pick(&seed, 1, 3);
        int64_t H = pick(&seed, kh * dil, 24), W = pick(&seed, kw * dil, 24);
        if (trial % 6 == 5) /* 1x1 */
            kh = kw = 1;
        if (trial % 10 == 9) /* deep-layer planes: one chunk holds several samples */
            H = W = pick(&seed, 2, 5), kh = kw = 3, dil = 1, N = 70;
        if (trial == 0) /* the common case: 3x3, padding 1, a 32x32 plane, 64 channels */
            C = M = 64, kh = kw = 3, H = W = 32, dil = sh = sw = 1, N = 1;
        if (M % 16 && (M + 15) / 16 * 16 - M > M / 4)
            M = 16 * (M / 16); /* a count whose last block is mostly empty goes to BLAS */
        snn_graph g;
        new_graph(&g);
        int64_t xd[4] = {N, C, H, W}, wd[4] = {M, C, kh, kw}, bd[1] = {M};
        int in[3] = {add_tensor(&g, "x", 4, xd, true, &seed), add_tensor(&g, "w", 4, wd, false, &seed),
                     add_tensor(&g, "b", 1, bd, false, &seed)};
        snn_node *n = one_node(&g, SNN_OP_CONV, in, trial % 4 == 3 ? 2 : 3);
        snn_attrs *at = &n->attr;
        at->kernel[0] = kh, at->kernel[1] = kw;
        at->group = 1;
        at->strides[0] = sh, at->strides[1] = sw;
        at->dilations[0] = at->dilations[1] = dil;
        for (int k = 0; k < 4; k++)
            at->pads[k] =
                trial == 0 || trial % 10 == 9 ? 1 : pick(&seed, 0, ((k % 2 ? kw : kh) - 1) * dil);
        conv_geom q = {.N = N, .C = C, .H = H, .W = W, .M = M, .KH = kh, .KW = kw, .G = 1, .Cg = C,
                       .Mg = M, .sh = sh, .sw = sw, .dh = dil, .dw = dil, .pt = at->pads[0],
                       .pl = at->pads[1]};
        trials++;
        direct += conv_direct_applies(&q);
        double err = compare(&g, &seed);
        if (err > 1e-5)
            print_error("trial %d: N %lld C %lld M %lld %lldx%lld k %lldx%lld s %lldx%lld dil %lld: "
                        "error %g\n", trial, (long long)N, (long long)C, (long long)M, (long long)H,
                        (long long)W, (long long)kh, (long long)kw, (long long)sh, (long long)sw,
                        (long long)dil, err);
        assert_true(err <= 1e-5);
        snn_graph_free(&g);
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        assert_int_equal(direct, trials);
    else
#endif
        print_message("note: no AVX2/FMA here, so these trials compared the BLAS path (%d direct)\n",
                      direct);
}

static void test_gemm(void **state)
{
    (void)state;
    skip_without_blas();
    uint32_t seed = 3;
    for (int trial = 0; trial < 64; trial++) {
        int64_t M = pick(&seed, 1, 9), K = pick(&seed, 1, 40), N = pick(&seed, 1, 30);
        bool ta = trial & 1, tb = trial & 2;
        snn_graph g;
        new_graph(&g);
        int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
        /* C: none, (N), (1, N), (M, 1), (M, N) */
        int c_kind = (trial >> 2) % 5;
        int64_t cd[2] = {c_kind == 3 || c_kind == 4 ? M : 1, c_kind == 3 ? 1 : N};
        int in[3] = {add_tensor(&g, "a", 2, ad, true, &seed), add_tensor(&g, "b", 2, bd, false, &seed), -1};
        if (c_kind == 1)
            in[2] = add_tensor(&g, "c", 1, &cd[1], false, &seed);
        else if (c_kind > 1)
            in[2] = add_tensor(&g, "c", 2, cd, false, &seed);
        snn_attrs *at = &one_node(&g, SNN_OP_GEMM, in, c_kind ? 3 : 2)->attr;
        at->trans_a = ta, at->trans_b = tb;
        at->alpha = trial % 3 ? 1.0f : 0.5f;
        at->beta = trial % 5 ? 1.0f : 2.0f;
        assert_true(compare(&g, &seed) <= 1e-5);
        snn_graph_free(&g);
    }
}

static void test_matmul(void **state)
{
    (void)state;
    skip_without_blas();
    uint32_t seed = 9;
    /* (rank, dims) pairs: 2-D, batched, broadcast batch, a 1-D right operand */
    static const int64_t shapes[][2][4] = {
        {{2, 5, 7}, {2, 7, 3}},
        {{3, 4, 5, 6}, {3, 4, 6, 2}},
        {{3, 2, 5, 6}, {2, 6, 4}},
        {{3, 1, 3, 8}, {3, 2, 8, 5}},
        {{2, 6, 9}, {1, 9}},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        snn_graph g;
        new_graph(&g);
        int in[2] = {add_tensor(&g, "a", (int)shapes[i][0][0], &shapes[i][0][1], true, &seed),
                     add_tensor(&g, "b", (int)shapes[i][1][0], &shapes[i][1][1], false, &seed)};
        one_node(&g, SNN_OP_MATMUL, in, 2);
        assert_true(compare(&g, &seed) <= 1e-5);
        snn_graph_free(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_stacked_batch),
        cmocka_unit_test(test_conv_direct),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
