/* The ann2snn CLI: --help/--version, usage errors (exit 2), `infer` writing outputs that
 * equal the evaluator's, read back through the .pb reader, and `info` on a .snn file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "proto/tensorproto.h"

static const char *cli, *pass_dir, *snn_dir;

/* Run the CLI with args; returns the exit code and fills out (stdout+stderr). */
static int run(const char *args, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", cli, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    assert_true(WIFEXITED(rc));
    return WEXITSTATUS(rc);
}

/* Run `ann2snn ARGS` (printf-style) into out; it must exit with want and print fragment. */
static void expect_run(char *out, size_t cap, int want, const char *fragment, const char *fmt, ...)
{
    char args[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int rc = run(args, out, cap);
    if (rc != want || !strstr(out, fragment))
        print_error("ann2snn %s: exit %d, want %d and '%s'; printed:\n%s\n", args, rc, want, fragment, out);
    assert_int_equal(rc, want);
    assert_non_null(strstr(out, fragment));
}

static void test_help_and_version(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(run("--help", out, sizeof out), 0);
    assert_non_null(strstr(out, "Usage: ann2snn"));
    assert_int_equal(run("--version", out, sizeof out), 0);
    assert_non_null(strstr(out, "ann2snn "));
    assert_int_equal(run("info --ops", out, sizeof out), 0);
    assert_non_null(strstr(out, "GlobalMaxPool        1-18   runs   maxpool"));
    assert_non_null(strstr(out, "Shape                7-18   folds  none"));
    static const char *const cmds[] = {"info", "infer", "accuracy"};
    for (size_t i = 0; i < 3; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        assert_int_equal(run(args, out, sizeof out), 0);
        assert_non_null(strstr(out, "Usage: ann2snn"));
    }
}

static void test_usage_errors(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(run("", out, sizeof out), 2);
    assert_int_equal(run("frobnicate", out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown command 'frobnicate'"));
    assert_int_equal(run("accuracy model.onnx", out, sizeof out), 2);
    assert_int_equal(run("accuracy m.onnx --data a --labels b --limit zero", out, sizeof out), 2);
    assert_non_null(strstr(out, "--limit"));
    assert_int_equal(run("info /nonexistent/model.onnx", out, sizeof out), 2);
    assert_non_null(strstr(out, "/nonexistent/model.onnx: cannot open"));
    assert_int_equal(run("infer --bogus", out, sizeof out), 2);
    /* Conversion options that contradict each other are refused before any file is read. */
    static const char *const refused[][2] = {
        {"m.onnx --coding ttfs --readout spikes", "reads out the membrane"},
        {"m.onnx --steps 0", "needs --coding ttfs"},
        {"m.onnx --coding morse", "not direct, poisson or ttfs"},
        {"m.onnx --headroom 0.5", "--headroom"},
        {"m.onnx --spikes both", "not signed or positive"},
        {"m.onnx --spikes signed --reset zero", "--spikes signed needs rate coding with --reset subtract"},
        {"m.onnx --spikes signed --coding ttfs", "--spikes signed needs rate coding"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(run(refused[i][0], out, sizeof out), 2);
        if (!strstr(out, refused[i][1]))
            print_error("'%s' printed: %s\n", refused[i][0], out);
        assert_non_null(strstr(out, refused[i][1]));
    }
}

static void test_infer_round_trip(void **state)
{
    (void)state;
    char model[512], dir[] = "/tmp/ann2snn-cli-XXXXXX", in_path[600], out_path[600];
    snprintf(model, sizeof model, "%s/gemm_bn.onnx", pass_dir);
    assert_non_null(mkdtemp(dir));
    snprintf(in_path, sizeof in_path, "%s/input_0.pb", dir);
    float x[14];
    for (int i = 0; i < 14; i++)
        x[i] = (float)i * 0.25f - 1.5f;
    int64_t dims[2] = {2, 7};
    snn_diag d;
    assert_int_equal(snn_tensorproto_write_file(in_path, "x", 2, dims, x, &d), SNN_OK);

    char args[2048], out[8192];
    snprintf(args, sizeof args, "infer '%s' '%s' -o '%s/out'", model, in_path, dir);
    assert_int_equal(run(args, out, sizeof out), 0);
    snprintf(out_path, sizeof out_path, "%s/out/output_0.pb", dir);
    snn_tensor_file got;
    assert_int_equal(snn_tensorproto_read_file(out_path, &got, &d), SNN_OK);
    assert_string_equal(got.name, "y");
    assert_int_equal(got.rank, 2);
    assert_true(got.dims[0] == 2 && got.dims[1] == 3);

    snn_graph g;
    snn_eval ev;
    assert_int_equal(snn_onnx_load_file(model, NULL, &g, &d), SNN_OK);
    assert_int_equal(snn_eval_init(&ev, &g, &d), SNN_OK);
    const float *feed[1] = {x};
    assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
    assert_memory_equal(got.data, snn_eval_output(&ev, 0), 6 * sizeof(float));
    snn_eval_free(&ev);
    snn_graph_free(&g);
    snn_tensor_file_free(&got);

    /* Wrong number of inputs: exit 2 with the counts. */
    snprintf(args, sizeof args, "infer '%s' '%s' '%s' -o '%s/out'", model, in_path, in_path, dir);
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "has 1 inputs, 2 were given"));
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    assert_int_equal(system(args), 0);
}

/* info on a .snn file: text and JSON agree with what was converted; a corrupt file and
 * --json on an ONNX model are refused with exit 2. */
static void test_info_snn(void **state)
{
    (void)state;
    char out[16384], args[1024], snn[64] = "/tmp/test_cli_snn_XXXXXX";
    int fd = mkstemp(snn);
    assert_true(fd >= 0);
    close(fd);
    snprintf(args, sizeof args, "'%s/dense2.onnx' -o %s", snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 0);

    snprintf(args, sizeof args, "info %s", snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    assert_non_null(strstr(out, ".snn 1."));
    assert_non_null(strstr(out, "2 layers"));
    /* no --calib: calibrated on synthetic uniform noise with the layer-wise maximum */
    assert_non_null(strstr(out, "normalise   max, 1000 calibration samples (synthetic: uniform noise)"));
    /* the defaults: bursts of up to 4 spikes, and 16 steps stored */
    assert_non_null(strstr(out, "coding      direct, steps 16, reset subtract"));
    assert_non_null(strstr(out, "burst       up to 4 spikes per neuron and step"));
    assert_non_null(strstr(out, "signed"));
    assert_non_null(strstr(out, "WGHT"));

    snprintf(args, sizeof args, "'%s/dense2.onnx' --data-free model -o %s.model", snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "model-based normalisation"));
    snprintf(args, sizeof args, "info %s.model", snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "normalise   model, 0 calibration samples\n"));
    snprintf(args, sizeof args, "rm -f %s.model", snn);
    assert_int_equal(system(args), 0);
    snprintf(args, sizeof args, "'%s/dense2.onnx' --data-free nothing -o %s.x", snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "is not uniform, smooth, mix, bn[=K] or model"));
    expect_run(out, sizeof out, 2, "K must be in (0, 100]", "'%s/dense2.onnx' --data-free bn=0 -o %s.x", snn_dir, snn);
    /* Without --calib a layer fed by a BatchNormalization takes its statistics, and says so. */
    expect_run(out, sizeof out, 0, "its 1 BatchNormalization layers' statistics (beta + 6 |gamma|)",
               "'%s/dense_bn.onnx' -o %s.bn", snn_dir, snn);
    expect_run(out, sizeof out, 0, "(synthetic: uniform noise) and BatchNormalization statistics", "info %s.bn", snn);
    /* A model without BN nodes: uniform noise, and the file says nothing of BN statistics. */
    expect_run(out, sizeof out, 0, "", "'%s/dense2.onnx' -o %s.u", snn_dir, snn);
    assert_null(strstr(out, "BatchNormalization"));
    expect_run(out, sizeof out, 0, "(synthetic: uniform noise)\n", "info %s.u", snn);
    assert_null(strstr(out, "BatchNormalization"));
    /* Potential correction: asked for with --calibrate-for, in float files only. */
    expect_run(out, sizeof out, 2, "--correct chooses what --calibrate-for T corrects",
               "'%s/dense_bn.onnx' --correct potential -o %s.x", snn_dir, snn);
    expect_run(out, sizeof out, 2, "is not bias or potential",
               "'%s/dense_bn.onnx' --calibrate-for 4 --correct membrane -o %s.x", snn_dir, snn);
    expect_run(out, sizeof out, 2, "--correct potential needs --precision float32",
               "'%s/dense_bn.onnx' --calibrate-for 4 --correct potential --precision int8 -o %s.x", snn_dir, snn);
    expect_run(out, sizeof out, 0, "initial membranes corrected for T = 4",
               "'%s/dense_bn.onnx' --calibrate-for 4 --correct potential -o %s.bn", snn_dir, snn);
    expect_run(out, sizeof out, 0, "\"correction\":\t\"potential\"", "info --json %s.bn", snn);
    assert_non_null(strstr(out, "\"VINI\""));
    snprintf(args, sizeof args, "rm -f %s.bn", snn);
    assert_int_equal(system(args), 0);

    snprintf(args, sizeof args, "info --json %s", snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *layers = cJSON_GetObjectItem(j, "layers");
    assert_int_equal(cJSON_GetArraySize(layers), 2);
    cJSON *hidden = cJSON_GetArrayItem(layers, 0), *output = cJSON_GetArrayItem(layers, 1);
    assert_int_equal(cJSON_GetObjectItem(hidden, "neurons")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(hidden, "weights")->valueint, 6); /* 2 -> 3 dense */
    assert_string_equal(cJSON_GetObjectItem(hidden, "spikes")->valuestring, "signed");
    assert_string_equal(cJSON_GetObjectItem(output, "kind")->valuestring, "output");
    assert_string_equal(cJSON_GetObjectItem(j, "coding")->valuestring, "direct");
    /* META LAYR PROJ NAME WGHT, and the diagnostics' SCAL (3 + 2 scales) and TENS */
    cJSON *secs = cJSON_GetObjectItem(j, "sections");
    assert_int_equal(cJSON_GetArraySize(secs), 7);
    assert_non_null(strstr(out, "\"SCAL\""));
    assert_non_null(strstr(out, "\"TENS\""));
    cJSON_Delete(j);

    /* Flip a byte of the last section: the CRC check names the file. */
    FILE *f = fopen(snn, "r+b");
    assert_non_null(f);
    fseek(f, -4, SEEK_END);
    fputc(0x5a, f);
    fclose(f);
    snprintf(args, sizeof args, "info %s", snn);
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, snn));
    /* Per-channel --mean/--std: one value per input channel, or refused with the counts. */
    snprintf(args, sizeof args, "'%s/rgb_net.onnx' --mean 0.1,0.2,0.3 --std 0.5,0.25,2 --data-free model --burst 1 -o %s",
             snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "info %s", snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    assert_non_null(strstr(out, "per channel: 0.1/0.5 0.2/0.25 0.3/2"));
    assert_non_null(strstr(out, ".snn 1.3")); /* the oldest version with every field it uses */
    snprintf(args, sizeof args, "'%s/rgb_net.onnx' --mean 0.1,0.2,0.3 --std 0.5,0.25,2 -o %s", snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "info %s", snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    assert_non_null(strstr(out, ".snn 1.5")); /* synthetic calibration is recorded (1.5) */
    snprintf(args, sizeof args, "'%s/rgb_net.onnx' --mean 0.1,0.2 -o %s.bad", snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "2 and 1 values for a model input of 3 channels"));
    snprintf(args, sizeof args, "'%s/rgb_net.onnx' --std 1,0,1 -o %s.bad", snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "--std must not be 0"));

    snprintf(args, sizeof args, "info --json '%s/dense2.onnx'", snn_dir);
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "--json describes .snn files"));
    unlink(snn);
}

/* The start of DIR/proj/NAME (up to size - 1 bytes) as a string. */
static void read_text(const char *dir, const char *name, char *out, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/proj/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* export-c writes the whole project, with the model's sizes in model.h; bad use is exit 2. */
static void test_export_c(void **state)
{
    (void)state;
    char out[8192], args[2048], dir[64] = "/tmp/test_cli_export_XXXXXX", snn[128], path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(snn, sizeof snn, "%s/m.snn", dir);
    snprintf(args, sizeof args, "'%s/dense2.onnx' -o %s", snn_dir, snn);
    assert_int_equal(run(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "export-c %s -o %s/proj", snn, dir);
    assert_int_equal(run(args, out, sizeof out), 0);
    static const char *const files[] = {"model.c", "model.h", "main.c", "Makefile",
                                        "runtime/snn_runtime.h", "runtime/snn_sim.c", "runtime/snn_sim_step.c",
                                        "runtime/snn_model.c", "runtime/snn_crc32.c"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/proj/%s", dir, files[i]);
        assert_int_equal(access(path, R_OK), 0);
    }
    read_text(dir, "model.h", out, sizeof out);
    assert_non_null(strstr(out, "#define SNN_MODEL_INPUT_SIZE 2u"));
    assert_non_null(strstr(out, "#define SNN_MODEL_STATE_BYTES "));
    assert_non_null(strstr(out, "#define SNN_MODEL_N_PROJ 2u")); /* the paired weights' table */
    assert_non_null(strstr(out, "snn_model_paired_weights[SNN_MODEL_N_PROJ]"));
    read_text(dir, "model.c", out, sizeof out);
    assert_non_null(strstr(out, "snn_model_paired_weights[2] = {NULL, NULL}")); /* float: none */
    read_text(dir, "Makefile", out, sizeof out);
    assert_non_null(strstr(out, "-DSNN_NO_TTFS")); /* a rate-coded model leaves TTFS out */
    assert_non_null(strstr(out, "-DSNN_RT_MAX_LAYERS=2 -DSNN_RT_MAX_PROJ=2")); /* sized to it */
    assert_null(strstr(out, "@RUNTIME_SOURCES@")); /* every template key was filled */
    assert_null(strstr(out, "@DEFINES@"));

    snprintf(args, sizeof args, "export-c %s", snn);
    assert_int_equal(run(args, out, sizeof out), 2); /* no -o */
    snprintf(args, sizeof args, "export-c %s/missing.snn -o %s/p2", dir, dir);
    assert_int_equal(run(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "missing.snn"));
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    assert_int_equal(system(args), 0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_cli ANN2SNN PASS_DIR SNN_DIR\n");
        return 2;
    }
    cli = argv[1];
    pass_dir = argv[2];
    snn_dir = argv[3];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_infer_round_trip),
        cmocka_unit_test(test_info_snn),
        cmocka_unit_test(test_export_c),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
