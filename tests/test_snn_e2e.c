/* End to end, every bundled model: calibrate on training images, convert with the default
 * options, write the .snn bytes, load them with the runtime and classify a fixed subset of
 * the test set. The SNN must agree with the ANN (the reference evaluator) on most images and
 * lose little accuracy; a broken conversion lands near chance (10 %). The runtime's dense
 * projections must match the all-events computation bit for bit. The same calibration
 * then converts with time-to-first-spike coding, which must fire at most one spike per
 * neuron and, with exact spike times, reproduce the ANN's logits. */
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
#include "data/data.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "snn_net.h"
#include "snn_loaded.h"
#include "snn_runtime.h"

#define CALIB_N 300
#define TEST_N 300
#define STEPS 64

static const char *models_dir, *fmnist_dir;

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

/* Convert g with options o and load the result. */
static void build_and_load(const char *name, const snn_graph *g, const calib_stats *cs,
                           const snn_build_opts *o, snn_net *net, loaded *l)
{
    snn_diag d;
    snn_status st = snn_build(g, cs, o, net, &d);
    if (st != SNN_OK)
        print_error("%s: %s\n", name, d.msg);
    assert_int_equal(st, SNN_OK);
    load_net(net, l);
}

/* TTFS conversion of the same calibration: exact spike times against the ANN. */
static void check_ttfs(const char *name, const snn_graph *g, const calib_stats *cs, snn_eval *ev,
                       const snn_dataset *test, const snn_preprocess *pp)
{
    snn_build_opts o;
    snn_build_opts_init(&o);
    o.coding = SNN_CODING_TTFS;
    o.norm = SNN_NORM_CHANNEL;
    o.percentile = 100.0;
    o.steps = 0;
    snn_net net;
    loaded l;
    build_and_load(name, g, cs, &o, &net, &l);
    snn_model *m = l.m;
    snn_state s = l.s;
    snn_diag d;
    uint32_t *seen = calloc(1u << 20, sizeof *seen);
    float x[784];
    int agree = 0;
    uint32_t most = 0;
    double worst = 0, spikes = 0, neurons = 0;
    int exact = 0; /* images whose logits match to float rounding: nothing clipped */
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_NEURON && i != m->output_layer)
            neurons += m->layers[i].size;
    for (int i = 0; i < TEST_N; i++) {
        snn_preprocess_sample(test, i, pp, x, NULL);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(ev, feed, &d), SNN_OK);
        const float *y = snn_eval_output(ev, 0);
        assert_int_equal(snn_state_run_ttfs(&s, x, 0), SNN_RT_OK);
        const float *v = snn_state_output(&s);
        agree += argmax(y, 10) == snn_state_predict(&s);
        double scale = 0, diff = 0;
        for (int k = 0; k < 10; k++) {
            scale = fmax(scale, fabs((double)y[k]));
            diff = fmax(diff, fabs((double)v[k] - (double)y[k]));
        }
        worst = fmax(worst, diff / scale);
        exact += diff / scale < 1e-4;
        uint32_t mo = snn_state_max_spikes_per_neuron(&s, seen);
        most = mo > most ? mo : most;
        for (uint32_t k = 0; k < m->n_layers; k++)
            if (m->layers[k].kind == SNN_LAYER_NEURON && k != m->output_layer)
                spikes += (double)s.stats[k].spikes;
    }
    print_message("%s TTFS exact: agreement %.1f %%, logits exact on %.1f %% of the images (worst error %.2g "
                  "of the logit scale), spikes per neuron %.3f (max %u), latency %u windows\n", name,
                  100.0 * agree / TEST_N, 100.0 * exact / TEST_N, worst, spikes / TEST_N / neurons, most,
                  m->latency_windows);
    assert_true(most <= 1);
    assert_true(agree >= TEST_N * 99 / 100);
    /* Exact but for images with a value beyond a window calibrated on 300 images. */
    assert_true(exact >= TEST_N / 2);
    free(seen);
    unload(&l);
    snn_net_free(&net);
}

/* The runtime computes some projections densely from flags and lists no events where no
 * layer reads them (snn_state.dense_proj, .events). The all-events plan must give the same
 * membranes, spikes and synaptic operations, bit for bit: both add the same values in the same
 * order. */
static void check_plans_agree(const char *name, const loaded *l, const snn_dataset *test, const snn_preprocess *pp)
{
    const snn_model *m = l->m;
    size_t ms = snn_state_mem_size(m);
    void *mem = malloc(ms);
    snn_state ev;
    assert_int_equal(snn_state_init(&ev, m, mem, ms), SNN_RT_OK);
    int dense = 0;
    for (uint32_t k = 0; k < m->n_proj; k++) {
        dense += ev.dense_proj[k];
        ev.dense_proj[k] = 0;
    }
    for (uint32_t b = 0; b <= m->n_layers; b++)
        ev.events[b] = 1;
    snn_state s = l->s;
    float x[784];
    for (int i = 0; i < 20; i++) {
        snn_preprocess_sample(test, i, pp, x, NULL);
        snn_state_begin(&s, x, SNN_CODING_DIRECT, 1);
        snn_state_begin(&ev, x, SNN_CODING_DIRECT, 1);
        for (int t = 0; t < STEPS; t++) {
            snn_state_step(&s);
            snn_state_step(&ev);
        }
        assert_memory_equal(snn_state_output(&s), snn_state_output(&ev), m->n_classes * sizeof(float));
        for (uint32_t k = 0; k < m->n_layers; k++) {
            assert_int_equal(s.stats[k].spikes, ev.stats[k].spikes);
            assert_int_equal(s.stats[k].synops, ev.stats[k].synops);
        }
    }
    print_message("%s: %d dense projections; same membranes, spikes and synops as with events only\n",
                  name, dense);
    free(mem);
}

static void check(const char *name, double min_agree, double max_loss)
{
    char path[1024], calib_path[1024], test_path[1024], label_path[1024];
    snprintf(path, sizeof path, "%s/%s.onnx", models_dir, name);
    if (strncmp(name, "fmnist", 6) == 0) {
        snprintf(calib_path, sizeof calib_path, "%s/train-images-idx3-ubyte.gz", fmnist_dir);
        snprintf(test_path, sizeof test_path, "%s/t10k-images-idx3-ubyte.gz", fmnist_dir);
        snprintf(label_path, sizeof label_path, "%s/t10k-labels-idx1-ubyte.gz", fmnist_dir);
    } else {
        snprintf(calib_path, sizeof calib_path, "%s/data/mnist-digits-calib-images-idx3-ubyte.gz", models_dir);
        snprintf(test_path, sizeof test_path, "%s/data/mnist-digits-test-images-idx3-ubyte.gz", models_dir);
        snprintf(label_path, sizeof label_path, "%s/data/mnist-digits-test-labels-idx1-ubyte.gz", models_dir);
    }
    snn_graph g;
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, &g, &d), SNN_OK);
    snn_dataset calib, test;
    snn_labels labels;
    assert_int_equal(snn_dataset_read(calib_path, &calib, &d), SNN_OK);
    assert_int_equal(snn_dataset_read(test_path, &test, &d), SNN_OK);
    assert_int_equal(snn_labels_read(label_path, &labels, &d), SNN_OK);
    snn_eval ev;
    calib_stats cs;
    assert_int_equal(snn_eval_init(&ev, &g, &d), SNN_OK);
    assert_int_equal(calib_init(&cs, &g, &d), SNN_OK);
    snn_preprocess pp = {.scale = g.pre_scale, .mean = g.pre_mean, .std = g.pre_std};
    float x[784];
    for (int i = 0; i < CALIB_N; i++) {
        snn_preprocess_sample(&calib, i, &pp, x, NULL);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        calib_add(&cs, &ev);
    }
    snn_build_opts o;
    snn_build_opts_init(&o);
    snn_net net;
    loaded l;
    build_and_load(name, &g, &cs, &o, &net, &l);
    snn_state s = l.s;
    int ann_ok = 0, snn_ok = 0, agree = 0;
    for (int i = 0; i < TEST_N; i++) {
        snn_preprocess_sample(&test, i, &pp, x, NULL);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        int a = argmax(snn_eval_output(&ev, 0), 10);
        snn_state_begin(&s, x, SNN_CODING_DIRECT, 1);
        for (int t = 0; t < STEPS; t++)
            snn_state_step(&s);
        int p = snn_state_predict(&s);
        ann_ok += a == labels.y[i];
        snn_ok += p == labels.y[i];
        agree += a == p;
    }
    double ann = (double)ann_ok / TEST_N, snn = (double)snn_ok / TEST_N, ag = (double)agree / TEST_N;
    print_message("%s: ANN %.1f %%, SNN %.1f %% at T=%d, agreement %.1f %% (%d test images)\n", name,
                  100 * ann, 100 * snn, STEPS, 100 * ag, TEST_N);
    assert_true(ag >= min_agree);
    assert_true(snn >= ann - max_loss);
    check_plans_agree(name, &l, &test, &pp);
    check_ttfs(name, &g, &cs, &ev, &test, &pp);
    unload(&l);
    snn_net_free(&net);
    calib_free(&cs);
    snn_eval_free(&ev);
    snn_graph_free(&g);
    snn_dataset_free(&calib);
    snn_dataset_free(&test);
    snn_labels_free(&labels);
}

static void test_mlp(void **s) { (void)s; check("fmnist_mlp", 0.97, 0.01); }
static void test_cnn_avg(void **s) { (void)s; check("fmnist_cnn_avg", 0.97, 0.01); }
static void test_cnn_maxbn(void **s) { (void)s; check("fmnist_cnn_maxbn", 0.97, 0.01); }
static void test_resnet(void **s) { (void)s; check("fmnist_resnet", 0.97, 0.01); }
static void test_lenet(void **s) { (void)s; check("mnist_lenet", 0.97, 0.01); }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_snn_e2e MODELS_DIR FASHION_MNIST_DIR\n");
        return 2;
    }
    models_dir = argv[1];
    fmnist_dir = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp),     cmocka_unit_test(test_cnn_avg), cmocka_unit_test(test_cnn_maxbn),
        cmocka_unit_test(test_resnet),  cmocka_unit_test(test_lenet),
    };
    return cmocka_run_group_tests_name("snn-e2e", tests, NULL, NULL);
}
