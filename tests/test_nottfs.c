/* A runtime built as a device build would be: without time-to-first-spike support
 * (SNN_NO_TTFS) and with structures for 2 layers and 2 projections (SNN_RT_MAX_LAYERS,
 * SNN_RT_MAX_PROJ, as export-c sets them). It refuses a TTFS file and a file with more
 * layers at load, with messages that say so, and still runs rate-coded files that fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "snn_net.h"
#include "snn_runtime.h"

static const char *data_dir;

static snn_rt_status load_as(const char *model, uint32_t coding, snn_rt_diag *rd)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data_dir, model);
    snn_graph g;
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, &g, &d), SNN_OK);
    snn_build_opts o;
    snn_build_opts_init(&o);
    o.norm = SNN_NORM_MODEL; /* no calibration needed */
    o.coding = coding;
    o.steps = coding == SNN_CODING_TTFS ? 0 : 64;
    snn_net net;
    assert_int_equal(snn_build(&g, NULL, &o, &net, &d), SNN_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(snn_net_serialize(&net, &buf, &len, &d), SNN_OK);
    snn_model *m = malloc(sizeof *m);
    snn_rt_status st = snn_model_load(m, buf, len, rd);
    if (st == SNN_RT_OK) {
        size_t ms = snn_state_mem_size(m);
        void *mem = malloc(ms);
        snn_state s;
        assert_int_equal(snn_state_init(&s, m, mem, ms), SNN_RT_OK);
        const float x[2] = {0.5f, 0.25f};
        /* The TTFS entry point exists but does nothing in this build. */
        assert_int_equal(snn_state_run_ttfs(&s, x, 0), SNN_RT_ERR_VERSION);
        snn_state_begin(&s, x, SNN_CODING_DIRECT, 1);
        for (int t = 0; t < 8; t++)
            snn_state_step(&s);
        free(mem);
    }
    free(m);
    free(buf);
    snn_net_free(&net);
    snn_graph_free(&g);
    return st;
}

static void test_ttfs_refused(void **state)
{
    (void)state;
    snn_rt_diag rd;
    assert_int_equal(load_as("dense2.onnx", SNN_CODING_TTFS, &rd), SNN_RT_ERR_VERSION);
    assert_non_null(strstr(rd.msg, "built without TTFS support"));
    assert_int_equal(rd.offset >= 0, 1);
}

static void test_rate_still_runs(void **state)
{
    (void)state;
    snn_rt_diag rd;
    assert_int_equal(load_as("dense2.onnx", SNN_CODING_DIRECT, &rd), SNN_RT_OK);
}

static void test_too_many_layers_refused(void **state)
{
    (void)state;
    snn_rt_diag rd;
    assert_int_equal(load_as("residual.onnx", SNN_CODING_DIRECT, &rd), SNN_RT_ERR_VERSION);
    assert_non_null(strstr(rd.msg, "this runtime was built for at most 2 and 2 (SNN_RT_MAX_LAYERS"));
    assert_true(rd.offset > 0);
    assert_int_equal((int)sizeof(((snn_model *)0)->layers) / (int)sizeof(snn_layer), 2);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_nottfs DATA_DIR\n");
        return 2;
    }
    data_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ttfs_refused),
        cmocka_unit_test(test_rate_still_runs),
        cmocka_unit_test(test_too_many_layers_refused),
    };
    return cmocka_run_group_tests_name("nottfs", tests, NULL, NULL);
}
