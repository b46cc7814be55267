/* The public library (api/ann2snn.h) as a C caller uses it: loading from a path and from bytes,
 * options by field and by name, conversion from samples in memory and through a callback,
 * running, describing and evaluating the result, and the refusals with their messages.
 *   test_api MODELS_DIR */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/ann2snn.h"
#include "base/fileio.h"
#include "data/data.h"

static const char *models_dir;

/* The bundled digits: 300 calibration images and 100 test images with labels, raw bytes. */
typedef struct {
    snn_dataset calib, test;
    snn_labels labels;
    char lenet[1024];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char path[1024];
    snn_diag d;
    snprintf(path, sizeof path, "%s/data/mnist-digits-calib-images-idx3-ubyte.gz", models_dir);
    if (!f || snn_dataset_read_prefix(path, 300, &f->calib, &d) != SNN_OK)
        return -1;
    snprintf(path, sizeof path, "%s/data/mnist-digits-test-images-idx3-ubyte.gz", models_dir);
    if (snn_dataset_read_prefix(path, 100, &f->test, &d) != SNN_OK)
        return -1;
    snprintf(path, sizeof path, "%s/data/mnist-digits-test-labels-idx1-ubyte.gz", models_dir);
    if (snn_labels_read(path, &f->labels, &d) != SNN_OK)
        return -1;
    snprintf(f->lenet, sizeof f->lenet, "%s/mnist_lenet.onnx", models_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    snn_dataset_free(&f->calib);
    snn_dataset_free(&f->test);
    snn_labels_free(&f->labels);
    free(f);
    return 0;
}

static ann2snn_samples in_memory(const snn_dataset *ds, int64_t n)
{
    return (ann2snn_samples){.values = ds->x, .n = n, .sample_size = ds->sample_size, .raw_bytes = ds->from_uint8};
}

/* The same samples through the callback instead of an array. */
static ann2snn_status get_sample(void *ctx, int64_t i, float *x, ann2snn_diag *diag)
{
    (void)diag;
    const snn_dataset *ds = ctx;
    memcpy(x, ds->x + i * ds->sample_size, (size_t)ds->sample_size * sizeof *x);
    return ANN2SNN_OK;
}

static ann2snn_status failing_sample(void *ctx, int64_t i, float *x, ann2snn_diag *diag)
{
    (void)ctx, (void)x;
    snprintf(diag->message, sizeof diag->message, "sample %lld is not there", (long long)i);
    return ANN2SNN_ERR_IO;
}

static void test_path_bytes_and_callback_agree(void **state)
{
    fixture *f = *state;
    ann2snn_diag d;
    ann2snn_model *from_path = NULL, *from_bytes = NULL;
    assert_int_equal(ann2snn_model_load_file(f->lenet, &from_path, &d), ANN2SNN_OK);
    uint8_t *buf;
    size_t len;
    snn_diag sd;
    assert_int_equal(snn_file_read_all(f->lenet, 1 << 26, &buf, &len, &sd), SNN_OK);
    assert_int_equal(ann2snn_model_load_bytes(buf, len, "lenet", &from_bytes, &d), ANN2SNN_OK);
    free(buf);
    int64_t dims[8];
    assert_int_equal(ann2snn_model_input_shape(from_path, dims), 4);
    assert_int_equal(dims[1] * dims[2] * dims[3], 784);

    ann2snn_options o;
    ann2snn_options_init(&o);
    assert_int_equal(ann2snn_options_set(&o, "precision", "int8", &d), ANN2SNN_OK);
    o.threads = 2;
    ann2snn_samples mem = in_memory(&f->calib, 300), cb = mem;
    cb.values = NULL, cb.get = get_sample, cb.ctx = &f->calib;
    ann2snn_result a, b, c;
    assert_int_equal(ann2snn_convert(from_path, &mem, &o, &a, &d), ANN2SNN_OK);
    assert_int_equal(ann2snn_convert(from_bytes, &cb, &o, &b, &d), ANN2SNN_OK);
    o.threads = 1;
    assert_int_equal(ann2snn_convert(from_bytes, &mem, &o, &c, &d), ANN2SNN_OK);
    /* a path or bytes, an array or a callback, one thread or two: one file */
    assert_int_equal(a.size, b.size);
    assert_memory_equal(a.bytes, b.bytes, a.size);
    assert_int_equal(a.size, c.size);
    assert_memory_equal(a.bytes, c.bytes, a.size);
    assert_non_null(strstr(a.summary, "int8"));
    assert_non_null(strstr(a.report, "\"layers\""));
    assert_string_equal(a.notes, "");

    /* Described as `ann2snn info` does, and run. */
    char *text;
    assert_int_equal(ann2snn_snn_describe(a.bytes, a.size, "lenet.snn", true, &text, &d), ANN2SNN_OK);
    assert_non_null(strstr(text, "\"precision\":\t\"int8\""));
    ann2snn_free(text);
    float out[100 * 10];
    int32_t pred[100];
    uint64_t spikes[16] = {0}, synops[16] = {0};
    ann2snn_run_options ro = {.steps = 16, .coding = -1, .seed = 1};
    ann2snn_samples test = in_memory(&f->test, 100);
    assert_int_equal(ann2snn_run(a.bytes, a.size, test.values, 100, 784, &ro, out, pred, spikes, synops, &d),
                     ANN2SNN_OK);
    int correct = 0;
    for (int i = 0; i < 100; i++)
        correct += pred[i] == f->labels.y[i];
    assert_true(correct >= 85); /* LeNet on digits: about 94 % (docs/models.md) */
    assert_true(spikes[0] > 0 && synops[0] > 0);

    /* Evaluated as `ann2snn eval --onnx` does. */
    ann2snn_eval_options eo;
    ann2snn_eval_options_init(&eo);
    assert_int_equal(ann2snn_eval_options_set(&eo, "steps", "16", &d), ANN2SNN_OK);
    assert_int_equal(ann2snn_eval_options_set(&eo, "exit", "margin=0.5,1", &d), ANN2SNN_OK);
    eo.ann = from_path;
    ann2snn_evaluation ev;
    assert_int_equal(ann2snn_evaluate(a.bytes, a.size, "lenet.snn", &test, f->labels.y, &eo, &ev, &d), ANN2SNN_OK);
    char want[64];
    snprintf(want, sizeof want, "\"accuracy\":\t%g", correct / 100.0);
    assert_non_null(strstr(ev.json, want)); /* the T = 16 point: the run above */
    assert_non_null(strstr(ev.json, "\"early_exit\""));
    assert_non_null(strstr(ev.table, "same as ANN"));
    assert_non_null(strstr(ev.svg, "<svg"));
    ann2snn_evaluation_free(&ev);

    ann2snn_result_free(&a);
    ann2snn_result_free(&b);
    ann2snn_result_free(&c);
    ann2snn_model_free(from_path);
    ann2snn_model_free(from_bytes);
}

static void test_defaults_without_samples(void **state)
{
    fixture *f = *state;
    ann2snn_diag d;
    ann2snn_model *m;
    assert_int_equal(ann2snn_model_load_file(f->lenet, &m, &d), ANN2SNN_OK);
    ann2snn_result r;
    assert_int_equal(ann2snn_convert(m, NULL, NULL, &r, &d), ANN2SNN_OK); /* data-free, every default */
    assert_non_null(strstr(r.notes, "synthetic images"));
    assert_non_null(strstr(r.summary, "bursts of up to 4"));
    ann2snn_result_free(&r);
    ann2snn_model_free(m);
}

/* Each refusal: its status and a message naming the problem. */
static void test_refusals(void **state)
{
    fixture *f = *state;
    ann2snn_diag d;
    ann2snn_model *m = NULL;
    assert_int_equal(ann2snn_model_load_file("/nonexistent/model.onnx", &m, &d), ANN2SNN_ERR_IO);
    assert_null(m);
    assert_string_equal(d.where, "/nonexistent/model.onnx");
    assert_int_equal(ann2snn_model_load_bytes("not onnx at all", 15, NULL, &m, &d), ANN2SNN_ERR_FORMAT);
    assert_null(m);

    ann2snn_options o;
    ann2snn_options_init(&o);
    static const char *const bad[][3] = {
        {"burst", "99", "--burst: '99' is not a whole number from 1 to 16"},
        {"norm", "median", "--norm: 'median' is not max"},
        {"coding", "morse", "'morse' is not direct, poisson or ttfs"},
        {"std", "0", "--std must not be 0"},
        {"v-init", "2", "--v-init must be in [0, 1]"},
        {"frobnicate", "1", "--frobnicate: no such conversion option"},
        {"steps", NULL, "--steps needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ann2snn_options before = o;
        assert_int_equal(ann2snn_options_set(&o, bad[i][0], bad[i][1], &d), ANN2SNN_ERR_ARGUMENT);
        if (!strstr(d.message, bad[i][2]))
            print_error("%s=%s: %s\n", bad[i][0], bad[i][1] ? bad[i][1] : "(null)", d.message);
        assert_non_null(strstr(d.message, bad[i][2]));
        assert_memory_equal(&before, &o, sizeof o); /* left as it was */
    }
    /* options that contradict each other, before anything is loaded */
    ann2snn_options_set(&o, "precision", "int16", &d);
    ann2snn_options_set(&o, "burst", "2", &d);
    assert_int_equal(ann2snn_options_check(&o, true, &d), ANN2SNN_ERR_ARGUMENT);
    assert_non_null(strstr(d.message, "--burst needs float32"));
    ann2snn_options_init(&o);
    o.coding = (ann2snn_coding)7; /* a C caller's stray value */
    assert_int_equal(ann2snn_options_check(&o, true, &d), ANN2SNN_ERR_ARGUMENT);

    assert_int_equal(ann2snn_model_load_file(f->lenet, &m, &d), ANN2SNN_OK);
    ann2snn_options_init(&o);
    ann2snn_result r;
    ann2snn_samples wrong = in_memory(&f->calib, 300);
    wrong.sample_size = 100;
    wrong.n = 10;
    assert_int_equal(ann2snn_convert(m, &wrong, &o, &r, &d), ANN2SNN_ERR_INVALID);
    assert_non_null(strstr(d.message, "have 100 values, the model's input takes 784"));
    assert_null(r.bytes);
    ann2snn_samples failing = in_memory(&f->calib, 300);
    failing.values = NULL, failing.get = failing_sample;
    assert_int_equal(ann2snn_convert(m, &failing, &o, &r, &d), ANN2SNN_ERR_IO);
    assert_non_null(strstr(d.message, "is not there"));
    ann2snn_model_free(m);

    char *text = NULL;
    assert_int_equal(ann2snn_snn_describe("SNN1 too short", 14, "x.snn", false, &text, &d), ANN2SNN_ERR_FORMAT);
    assert_null(text);
    ann2snn_eval_options eo;
    ann2snn_eval_options_init(&eo);
    assert_int_equal(ann2snn_eval_options_set(&eo, "exit", "sometimes", &d), ANN2SNN_ERR_ARGUMENT);
    assert_non_null(strstr(d.message, "is not confidence"));
    assert_int_equal(ann2snn_eval_options_set(&eo, "pj-ac", "-1", &d), ANN2SNN_ERR_ARGUMENT);
    assert_non_null(strstr(d.message, "positive number of picojoules"));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODELS_DIR\n", argv[0]);
        return 2;
    }
    models_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_bytes_and_callback_agree),
        cmocka_unit_test(test_defaults_without_samples),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
