/* Bundled models against PyTorch: on the first test images (models/NAME.ref_logits.npy,
 * written by tools/scripts/train_models.py) our evaluator's logits match PyTorch's and the
 * predicted classes are the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/data.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"

static const char *models_dir, *fmnist_dir;

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

static void check_model(const char *name)
{
    char path[1024], data_path[1024], ref_path[1024], pred_path[1024];
    snprintf(path, sizeof path, "%s/%s.onnx", models_dir, name);
    snprintf(ref_path, sizeof ref_path, "%s/%s.ref_logits.npy", models_dir, name);
    snprintf(pred_path, sizeof pred_path, "%s/%s.torch_pred.npy", models_dir, name);
    if (strncmp(name, "fmnist", 6) == 0)
        snprintf(data_path, sizeof data_path, "%s/t10k-images-idx3-ubyte.gz", fmnist_dir);
    else
        snprintf(data_path, sizeof data_path, "%s/data/mnist-digits-test-images-idx3-ubyte.gz", models_dir);
    snn_graph g;
    snn_diag d;
    snn_status st = snn_onnx_load_file(path, NULL, &g, &d);
    if (st != SNN_OK)
        print_error("%s: %s\n", path, d.msg);
    assert_int_equal(st, SNN_OK);
    assert_true(g.has_preprocess);
    snn_dataset images, ref;
    snn_labels torch_pred;
    assert_int_equal(snn_dataset_read(data_path, &images, &d), SNN_OK);
    assert_int_equal(snn_dataset_read(ref_path, &ref, &d), SNN_OK);
    assert_int_equal(snn_labels_read(pred_path, &torch_pred, &d), SNN_OK);
    assert_int_equal(torch_pred.n, images.n);
    assert_int_equal(ref.sample_size, 10);
    assert_true(ref.n >= 100);
    snn_eval ev;
    assert_int_equal(snn_eval_init(&ev, &g, &d), SNN_OK);
    snn_preprocess pp = {.scale = g.pre_scale, .mean = g.pre_mean, .std = g.pre_std};
    float x[784];
    assert_int_equal(images.sample_size, 784);
    double worst = 0;
    for (int64_t i = 0; i < ref.n; i++) {
        snn_preprocess_sample(&images, i, &pp, x, NULL);
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        const float *y = snn_eval_output(&ev, 0), *want = ref.x + i * 10;
        /* Error relative to the sample's logit scale: float32 sums in another order differ
         * by a few ulps of the largest term, not of each (possibly near-zero) logit. */
        double scale = 0, diff = 0;
        for (int k = 0; k < 10; k++) {
            scale = fmax(scale, fabs((double)want[k]));
            diff = fmax(diff, fabs((double)y[k] - (double)want[k]));
        }
        worst = fmax(worst, diff / fmax(scale, 1e-6));
        if (argmax(y, 10) != torch_pred.y[i])
            print_error("%s: image %lld: we predict %d, PyTorch %d\n", name, (long long)i,
                        argmax(y, 10), torch_pred.y[i]);
        assert_int_equal(argmax(y, 10), torch_pred.y[i]);
        assert_int_equal(argmax(want, 10), torch_pred.y[i]);
    }
    print_message("%s: %lld images, worst logit difference %.2e of the logit scale\n", name,
                  (long long)ref.n, worst);
    assert_true(worst < 1e-4);
    snn_eval_free(&ev);
    snn_graph_free(&g);
    snn_dataset_free(&images);
    snn_dataset_free(&ref);
    snn_labels_free(&torch_pred);
}

static void test_fmnist_mlp(void **s) { (void)s; check_model("fmnist_mlp"); }
static void test_fmnist_cnn_avg(void **s) { (void)s; check_model("fmnist_cnn_avg"); }
static void test_fmnist_cnn_maxbn(void **s) { (void)s; check_model("fmnist_cnn_maxbn"); }
static void test_fmnist_resnet(void **s) { (void)s; check_model("fmnist_resnet"); }
static void test_mnist_lenet(void **s) { (void)s; check_model("mnist_lenet"); }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_models MODELS_DIR FASHION_MNIST_DIR\n");
        return 2;
    }
    models_dir = argv[1];
    fmnist_dir = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmnist_mlp),
        cmocka_unit_test(test_fmnist_cnn_avg),
        cmocka_unit_test(test_fmnist_cnn_maxbn),
        cmocka_unit_test(test_fmnist_resnet),
        cmocka_unit_test(test_mnist_lenet),
    };
    return cmocka_run_group_tests_name("models", tests, NULL, NULL);
}
