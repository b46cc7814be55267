/* SNN conversion and runtime on small nets with known answers: normalisation math, rates
 * approaching the ANN's activations, file round trip, and corrupt files refused with the
 * exact error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calib.h"
#include "eval/eval.h"
#include "onnx/onnx_import.h"
#include "snn_net.h"
#include "snn_file_edit.h"
#include "snn_loaded.h"
#include "snn_runtime.h"

static const char *data_dir;

/* dense2.onnx: h = relu(W1 x + b1) (3 units), y = W2 h + b2; see tools/scripts/make_test_models.py. */
static const float W1[3][2] = {{1.0f, -1.0f}, {0.5f, 2.0f}, {-1.0f, -1.0f}};
static const float B1[3] = {0.5f, 0.0f, -0.25f};
static const float W2[2][3] = {{1.0f, 2.0f, 3.0f}, {-1.0f, 0.5f, 0.0f}};
static const float B2[2] = {0.1f, -0.1f};
static const float CALIB[4][2] = {{1, 0}, {0, 1}, {2, 1}, {-1, 3}};

static void hidden(const float *x, float *h)
{
    for (int o = 0; o < 3; o++) {
        float z = W1[o][0] * x[0] + W1[o][1] * x[1] + B1[o];
        h[o] = z > 0 ? z : 0;
    }
}

/* The ANN's logit o for hidden activations h. */
static double logit(const float *h, int o)
{
    return (double)(W2[o][0] * h[0] + W2[o][1] * h[1] + W2[o][2] * h[2] + B2[o]);
}

static void convert(snn_net *net, uint32_t norm, double pct)
{
    char path[512];
    snprintf(path, sizeof path, "%s/dense2.onnx", data_dir);
    snn_graph *g = malloc(sizeof *g);
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, g, &d), SNN_OK);
    snn_eval ev;
    calib_stats cs;
    assert_int_equal(snn_eval_init(&ev, g, &d), SNN_OK);
    assert_int_equal(calib_init(&cs, g, &d), SNN_OK);
    for (int i = 0; i < 4; i++) {
        const float *feed[1] = {CALIB[i]};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        calib_add(&cs, &ev);
    }
    snn_build_opts o;
    snn_build_opts_init(&o);
    o.norm = norm;
    o.percentile = pct;
    snn_status st = snn_build(g, &cs, &o, net, &d);
    if (st != SNN_OK)
        print_error("%s\n", d.msg);
    assert_int_equal(st, SNN_OK);
    snn_eval_free(&ev);
    calib_free(&cs);
    snn_graph_free(g);
    free(g);
}

static void test_max_norm_weights(void **state)
{
    (void)state;
    snn_net net;
    convert(&net, SNN_NORM_MAX, 0);
    /* Largest hidden activation over the calibration set: unit 1 at x = (-1, 3): 5.5. */
    float lam = 0, h[3];
    for (int i = 0; i < 4; i++) {
        hidden(CALIB[i], h);
        for (int o = 0; o < 3; o++)
            lam = fmaxf(lam, h[o]);
    }
    assert_float_equal(lam, 5.5f, 1e-6);
    assert_int_equal(net.n_layers, 2);
    const net_layer *L0 = &net.layers[0], *L1 = &net.layers[1];
    assert_int_equal(L0->c, 3);
    assert_true(L1->flags & SNN_LAYER_F_OUTPUT);
    for (int o = 0; o < 3; o++) {
        assert_float_equal(L0->lambda[o], lam, 1e-6);
        assert_float_equal(L0->threshold[o], 1.0f, 0);
        assert_float_equal(L0->bias[o], B1[o] / lam, 1e-6);
    }
    /* Hidden weights: (n_src, n_out) = W1^T / lambda; output weights W2^T * lambda. */
    const net_proj *p0 = &net.proj[L0->proj_first], *p1 = &net.proj[L1->proj_first];
    assert_int_equal(p0->kind, SNN_PROJ_DENSE);
    for (int j = 0; j < 2; j++)
        for (int o = 0; o < 3; o++)
            assert_float_equal(p0->w[j * 3 + o], W1[o][j] / lam, 1e-6);
    for (int j = 0; j < 3; j++)
        for (int o = 0; o < 2; o++)
            assert_float_equal(p1->w[j * 2 + o], W2[o][j] * lam, 1e-5);
    for (int o = 0; o < 2; o++)
        assert_float_equal(L1->bias[o], B2[o], 1e-6);
    snn_net_free(&net);
}

static void test_channel_norm(void **state)
{
    (void)state;
    snn_net net;
    convert(&net, SNN_NORM_CHANNEL, 100.0);
    /* Per unit maxima 1.5, 5.5; unit 2 never fires, so any positive scale (1) is used. */
    const net_layer *L0 = &net.layers[0];
    assert_float_equal(L0->lambda[0], 1.5f, 1e-6);
    assert_float_equal(L0->lambda[1], 5.5f, 1e-6);
    assert_float_equal(L0->lambda[2], 1.0f, 1e-6);
    const net_proj *p1 = &net.proj[net.layers[1].proj_first];
    for (int j = 0; j < 3; j++)
        assert_float_equal(p1->w[j * 2 + 0], W2[0][j] * L0->lambda[j], 1e-5);
    snn_net_free(&net);
}

static void test_percentile(void **state)
{
    (void)state;
    /* 1000 positive values 1..1000 in one channel: the p-th percentile within 3.1 %. */
    snn_graph g;
    snn_graph_init(&g);
    snn_diag d;
    int x = snn_graph_add_tensor(&g, "x", &d), y = snn_graph_add_tensor(&g, "y", &d);
    int64_t dims[2] = {1, 1000};
    snn_tensor_set_shape(&g.tensors[x], 2, dims);
    snn_tensor_set_shape(&g.tensors[y], 2, dims);
    g.tensors[x].flags = SNN_TENSOR_INPUT;
    (void)y;
    calib_stats cs;
    assert_int_equal(calib_init(&cs, &g, &d), SNN_OK);
    cs.t[y].channels = 1;
    float vals[1000];
    for (int i = 0; i < 1000; i++)
        vals[i] = (float)(i + 1);
    snn_eval fake = {.g = &g};
    float *bufs[2] = {vals, vals};
    fake.buf = bufs;
    calib_add(&cs, &fake);
    assert_float_equal(calib_max(&cs, y, -1), 1000.0f, 0);
    assert_float_equal(calib_percentile(&cs, y, -1, 100.0), 1000.0f, 0);
    for (double p = 50; p < 100; p += 9.9) {
        float got = calib_percentile(&cs, y, -1, p);
        assert_true(got >= (float)(p * 10.0) * 0.99f && got <= (float)(p * 10.0) * 1.03f);
    }
    calib_free(&cs);
    snn_graph_free(&g);
}

/* Serialise, load with the runtime and run: rates times lambda approach the ANN's hidden
 * activations, the output membrane / T its logits. */
static void test_rates_approach_activations(void **state)
{
    (void)state;
    snn_net net;
    convert(&net, SNN_NORM_MAX, 0);
    loaded l;
    load_net(&net, &l);
    snn_state s = l.s;
    const float x[2] = {2.0f, 1.0f};
    float h[3];
    hidden(x, h);
    double err_prev = (double)INFINITY;
    for (uint32_t T = 16; T <= 4096; T *= 4) {
        snn_state_begin(&s, x, SNN_CODING_DIRECT, 1);
        int32_t counts[3] = {0};
        for (uint32_t t = 0; t < T; t++) {
            snn_state_step(&s);
            for (uint32_t q = 0; q < s.n_spikes[1]; q++) /* -1 spikes take one back */
                counts[SNN_SPIKE_INDEX(s.spike_idx[1][q])] += s.spike_idx[1][q] & SNN_SPIKE_NEG ? -1 : 1;
        }
        double err = 0;
        for (int o = 0; o < 3; o++)
            err = fmax(err, fabs((double)counts[o] / T * (double)net.layers[0].lambda[o] - (double)h[o]));
        /* Reset by subtraction: |rate * lambda - a| <= lambda / T. */
        assert_true(err <= 5.5 / T + 1e-4);
        assert_true(err <= err_prev + 1e-9);
        err_prev = err;
        const float *v = snn_state_output(&s);
        for (int o = 0; o < 2; o++)
            assert_true(fabs((double)v[o] / T - logit(h, o)) <= 3 * 5.5 * 6.0 / T + 1e-4);
    }
    unload(&l);
    snn_net_free(&net);
}

/* ----------------------------------------------------------------- file round trip */

static void test_round_trip(void **state)
{
    (void)state;
    snn_net net;
    convert(&net, SNN_NORM_PERCENTILE, 99.0);
    char path[] = "/tmp/ann2snn-rt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    snn_diag d;
    close(fd);
    assert_int_equal(snn_net_write(&net, path, &d), SNN_OK);
    /* Reopen by name: the atomic write renamed a new file over the one mkstemp made. */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)len);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    remove(path);
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag rd;
    assert_int_equal(snn_model_load(m, buf, (size_t)len, &rd), SNN_RT_OK);
    assert_int_equal(m->n_layers, net.n_layers);
    assert_int_equal(m->n_proj, net.n_proj);
    assert_int_equal(m->n_classes, 2);
    assert_int_equal(m->input_size, 2);
    assert_int_equal(m->reset, SNN_RESET_SUBTRACT);
    assert_float_equal(m->v_init, 0.5f, 0);
    assert_float_equal(m->percentile, 99.0f, 0);
    for (uint32_t i = 0; i < net.n_proj; i++) {
        assert_int_equal(m->proj[i].n_w, net.proj[i].n_w);
        assert_memory_equal(m->proj[i].w, net.proj[i].w, net.proj[i].n_w * sizeof(float));
        assert_true((uintptr_t)m->proj[i].w % 64 == (uintptr_t)buf % 64); /* 64-byte aligned in the file */
    }
    for (uint32_t i = 0; i < net.n_layers; i++) {
        assert_memory_equal(m->layers[i].bias, net.layers[i].bias, net.layers[i].c * sizeof(float));
        assert_string_equal(m->layers[i].name, net.layers[i].name);
    }
    /* The file is no larger than its weights plus a few KB. */
    size_t weights = 0;
    for (uint32_t i = 0; i < net.n_proj; i++)
        weights += net.proj[i].n_w * sizeof(float);
    assert_true((size_t)len <= weights + 4096);
    free(m);
    free(buf);
    snn_net_free(&net);
}

/* ----------------------------------------------------------------- corrupt files */

/* Recompute every section CRC and the header CRC after a deliberate edit, so that the
 * loader reaches the check the edit is aimed at. */
static uint8_t *good_file(size_t *len)
{
    snn_net net;
    convert(&net, SNN_NORM_MAX, 0);
    uint8_t *buf;
    snn_diag d;
    assert_int_equal(snn_net_serialize(&net, &buf, len, &d), SNN_OK);
    snn_net_free(&net);
    return buf;
}

/* Section i's table entry and data. */
static void expect(uint8_t *b, size_t len, snn_rt_status want, const char *fragment)
{
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag rd;
    snn_rt_status st = snn_model_load(m, b, len, &rd);
    if (st != want || !strstr(rd.msg, fragment))
        print_error("got '%s' (%d), want '%s' (%d)\n", rd.msg, st, fragment, want);
    assert_int_equal(st, want);
    assert_non_null(strstr(rd.msg, fragment));
    if (st != SNN_RT_OK) /* the table docs/robustness.md quotes */
        print_message("corrupt .snn (%zu bytes): %s: %s (at byte %lld)\n", len, snn_rt_status_name(st), rd.msg,
                      (long long)rd.offset);
    free(m);
}

static void test_corrupt_files(void **state)
{
    (void)state;
    size_t len;
    uint8_t *good = good_file(&len), *b = malloc(len);
#define FRESH() memcpy(b, good, len)
    /* Truncated at every section boundary and in the header. */
    size_t cuts[5 + 2 * SNN_MAX_SECTIONS] = {0, 8, 63, 64, len - 1};
    int nc = 5;
    for (uint32_t i = 0; i < rd32(good + SNN_HDR_N_SECTIONS); i++) {
        uint64_t off = rd32(sec_entry(good, i) + SNN_SEC_OFFSET);
        cuts[nc++] = (size_t)off;
        cuts[nc++] = (size_t)off + 1;
    }
    for (int i = 0; i < nc; i++) {
        FRESH();
        expect(b, cuts[i], SNN_RT_ERR_FORMAT, cuts[i] < 64 ? "bad magic or shorter" : "truncated");
    }
    FRESH(); b[0] = 'X';
    expect(b, len, SNN_RT_ERR_FORMAT, "bad magic");
    FRESH(); b[SNN_HDR_MAJOR] = 2;
    expect(b, len, SNN_RT_ERR_VERSION, "file version 2.");
    FRESH(); sec_data(b, len, SNN_TAG_WGHT)[5] ^= 0x40;
    expect(b, len, SNN_RT_ERR_CRC, "checksum mismatch");
    FRESH(); b[SNN_HDR_N_SECTIONS] = 200; /* header edit without resealing */
    expect(b, len, SNN_RT_ERR_FORMAT, "sections (1 to 16 allowed)");
    FRESH(); wr32(sec_entry(b, 2) + SNN_SEC_OFFSET, rd32(sec_entry(b, 1) + SNN_SEC_OFFSET)); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "overlap");
    FRESH(); wr32(sec_entry(b, 1) + SNN_SEC_OFFSET, rd32(sec_entry(b, 1) + SNN_SEC_OFFSET) + 4); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "misaligned");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_META) + SNN_META_FEATURES, 1u << 7); reseal(b, len);
    expect(b, len, SNN_RT_ERR_VERSION, "features 0x80");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_PROJ) + SNN_PROJ_SOURCE, 99); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "not computed before it");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_PROJ) + SNN_PROJ_WEIGHTS, 1u << 30); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "outside the");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_LAYR) + SNN_LAYER_PROJ_FIRST, 7); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "projections out of range");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_LAYR) + SNN_LAYER_C, 0); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "empty or too large");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_LAYR) + SNN_LAYER_C, 0xffffffffu); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "empty or too large");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_LAYR) + SNN_LAYER_KIND, 9); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "unknown kind 9");
    FRESH();
    {
        uint8_t *w = sec_data(b, len, SNN_TAG_WGHT) + 4 * rd32(sec_data(b, len, SNN_TAG_PROJ) + SNN_PROJ_WEIGHTS);
        wr32(w, 0x7fc00000u); /* NaN */
        reseal(b, len);
        expect(b, len, SNN_RT_ERR_FORMAT, "NaN or infinite weight");
    }
    FRESH();
    {
        uint8_t *th = sec_data(b, len, SNN_TAG_WGHT) + 4 * rd32(sec_data(b, len, SNN_TAG_LAYR) + SNN_LAYER_THRESH);
        wr32(th, 0); /* threshold 0 */
        reseal(b, len);
        expect(b, len, SNN_RT_ERR_FORMAT, "not a positive finite number");
    }
    FRESH(); /* misaligned buffer */
    {
        uint8_t *shifted = malloc(len + 1);
        memcpy(shifted + 1, good, len);
        expect(shifted + 1, len, SNN_RT_ERR_ARG, "4-byte aligned");
        free(shifted);
    }
    FRESH();
    expect(b, len, SNN_RT_OK, ""); /* the untouched copy still loads */
#undef FRESH
    free(b);
    free(good);
}

/* The 1.5 fields: the diagnostics' SCAL and TENS sections and burst spikes. */
static void test_corrupt_15_fields(void **state)
{
    (void)state;
    size_t len;
    uint8_t *good = good_file(&len), *b = malloc(len);
#define FRESH() memcpy(b, good, len)
    uint8_t *scal = sec_data(good, len, SNN_TAG_SCAL), *tens = sec_data(good, len, SNN_TAG_TENS);
    assert_non_null(scal);
    assert_non_null(tens);
    assert_true(strlen((const char *)tens) > 0); /* the first layer names its ANN tensor */
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag rd;
    assert_int_equal(snn_model_load(m, good, len, &rd), SNN_RT_OK);
    assert_non_null(m->scale);
    assert_ptr_equal(m->tensor_names, (const char *)tens);
    free(m);
    FRESH(); wr32(sec_data(b, len, SNN_TAG_SCAL), 0x7fc00000u); reseal(b, len); /* NaN scale */
    expect(b, len, SNN_RT_ERR_FORMAT, "SCAL value 0 is not a finite positive scale");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_SCAL) + 4, 0); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "SCAL value 1 is not a finite positive scale");
    FRESH(); memset(sec_data(b, len, SNN_TAG_TENS), 'x', SNN_TENS_NAME_SIZE); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "TENS name 0 is not NUL-terminated");
    uint32_t n_sec = rd32(good + SNN_HDR_N_SECTIONS);
    for (uint32_t i = 0; i < n_sec; i++)
        if (rd32(sec_entry(good, i) + SNN_SEC_TAG) == SNN_TAG_SCAL) {
            FRESH(); /* one scale fewer: the count and size both say so */
            wr32(sec_entry(b, i) + SNN_SEC_COUNT, rd32(sec_entry(b, i) + SNN_SEC_COUNT) - 1);
            wr32(sec_entry(b, i) + SNN_SEC_SIZE, rd32(sec_entry(b, i) + SNN_SEC_SIZE) - 4);
            reseal(b, len);
            expect(b, len, SNN_RT_ERR_FORMAT, "the layers need");
            FRESH(); /* renamed: TENS alone */
            wr32(sec_entry(b, i) + SNN_SEC_TAG, 0x58585858u);
            reseal(b, len);
            expect(b, len, SNN_RT_ERR_FORMAT, "SCAL and TENS come together");
        }
    uint8_t *meta = NULL;
#define META() (meta = sec_data(b, len, SNN_TAG_META))
    FRESH(); META(); wr32(meta + SNN_META_FEATURES, rd32(meta + SNN_META_FEATURES) | SNN_FEATURE_BURST);
    wr32(meta + SNN_META_BURST, 4); reseal(b, len);
    expect(b, len, SNN_RT_OK, "");
    wr32(meta + SNN_META_BURST, 0); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "burst 0: burst spikes need");
    wr32(meta + SNN_META_BURST, SNN_MAX_BURST + 1); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "burst spikes need");
#undef META
#undef FRESH
    free(b);
    free(good);
}

/* 1.6: per-neuron initial membranes. VINI and its feature bit come together, in float32
 * rate-coded files, with one finite value per neuron; files with the section truncated at it,
 * renamed away, short by one value, or with a NaN are refused. */
static void test_corrupt_16_vini(void **state)
{
    (void)state;
    snn_net net;
    convert(&net, SNN_NORM_MAX, 0);
    uint32_t total = 0;
    for (uint32_t i = 0; i < net.n_layers; i++) {
        net_layer *L = &net.layers[i];
        if (L->kind != SNN_LAYER_NEURON)
            continue;
        uint32_t size = L->c * L->h * L->w;
        L->v0 = malloc(size * sizeof *L->v0);
        for (uint32_t j = 0; j < size; j++)
            L->v0[j] = 0.25f * (float)(j % 7) - 0.5f;
        total += size;
    }
    uint8_t *good;
    size_t len;
    snn_diag d;
    assert_int_equal(snn_net_serialize(&net, &good, &len, &d), SNN_OK);
    assert_int_equal(good[SNN_HDR_MINOR] | good[SNN_HDR_MINOR + 1] << 8, 6);
    /* integer and TTFS files keep one initial membrane per channel */
    net.coding = SNN_CODING_TTFS;
    uint8_t *refused = NULL;
    size_t rlen;
    assert_int_equal(snn_net_serialize(&net, &refused, &rlen, &d), SNN_ERR_UNSUPPORTED);
    assert_null(refused);
    snn_net_free(&net);
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag rd;
    assert_int_equal(snn_model_load(m, good, len, &rd), SNN_RT_OK);
    assert_true(m->features & SNN_FEATURE_VINIT);
    assert_true(m->layers[0].v0 != NULL && m->layers[0].v0[1] == -0.25f);
    free(m);
    uint8_t *b = malloc(len), *meta = NULL;
#define FRESH() memcpy(b, good, len)
#define META() (meta = sec_data(b, len, SNN_TAG_META))
    FRESH(); wr32(sec_data(b, len, SNN_TAG_VINI) + 8, 0x7fc00000u); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "VINI value 2 is not finite");
    FRESH(); wr32(sec_data(b, len, SNN_TAG_VINI), 0x7f800000u); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "VINI value 0 is not finite");
    FRESH(); META(); wr32(meta + SNN_META_FEATURES, rd32(meta + SNN_META_FEATURES) & ~SNN_FEATURE_VINIT); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "a VINI section without its feature bit");
    FRESH(); META(); wr32(meta + SNN_META_FEATURES, rd32(meta + SNN_META_FEATURES) | SNN_FEATURE_TTFS); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "");
    uint32_t n_sec = rd32(good + SNN_HDR_N_SECTIONS);
    int seen = 0;
    for (uint32_t i = 0; i < n_sec; i++)
        if (rd32(sec_entry(good, i) + SNN_SEC_TAG) == SNN_TAG_VINI) {
            seen = 1;
            assert_int_equal(rd32(sec_entry(good, i) + SNN_SEC_COUNT), total);
            FRESH();
            expect(b, (size_t)rd64(sec_entry(b, i) + SNN_SEC_OFFSET) + 4, SNN_RT_ERR_FORMAT, "truncated");
            FRESH(); /* one value fewer: the count and size both say so */
            wr32(sec_entry(b, i) + SNN_SEC_COUNT, total - 1);
            wr32(sec_entry(b, i) + SNN_SEC_SIZE, 4 * (total - 1));
            reseal(b, len);
            expect(b, len, SNN_RT_ERR_FORMAT, "VINI holds");
            FRESH(); /* renamed: the feature bit without its section */
            wr32(sec_entry(b, i) + SNN_SEC_TAG, 0x58585858u);
            reseal(b, len);
            expect(b, len, SNN_RT_ERR_FORMAT, "feature bit VINIT is set but the VINI section is missing");
            FRESH(); /* the count says one more than the size holds */
            wr32(sec_entry(b, i) + SNN_SEC_COUNT, total + 1);
            reseal(b, len);
            expect(b, len, SNN_RT_ERR_FORMAT, "size does not match its record count");
        }
    assert_true(seen);
#undef META
#undef FRESH
    free(b);
    free(good);
}

/* The same for an integer file (1.4): QWGT and QPAR, the weight type, the integer
 * parameters' bounds and the units. */
static void test_corrupt_int_files(void **state)
{
    (void)state;
    snn_net net;
    convert(&net, SNN_NORM_MAX, 0);
    snn_diag d;
    assert_int_equal(snn_net_quantize(&net, SNN_DTYPE_I8, 1.0f, &d), SNN_OK);
    uint8_t *good;
    size_t len;
    assert_int_equal(snn_net_serialize(&net, &good, &len, &d), SNN_OK);
    snn_net_free(&net);
    uint8_t *b = malloc(len);
#define FRESH() memcpy(b, good, len)
    uint32_t n_sec = rd32(good + SNN_HDR_N_SECTIONS);
    for (uint32_t i = 0; i < n_sec; i++) { /* truncated at every section, the new ones too */
        size_t off = (size_t)rd64(sec_entry(good, i) + SNN_SEC_OFFSET);
        FRESH();
        expect(b, off + 1, SNN_RT_ERR_FORMAT, "truncated");
    }
    FRESH(); sec_data(b, len, SNN_TAG_QWGT)[3] ^= 0x40;
    expect(b, len, SNN_RT_ERR_CRC, "checksum mismatch");
    uint8_t *meta = NULL;
#define META() (meta = sec_data(b, len, SNN_TAG_META))
    FRESH(); META(); wr32(meta + SNN_META_FEATURES, rd32(meta + SNN_META_FEATURES) & ~SNN_FEATURE_INT); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "does not match the integer feature bit");
    FRESH(); META(); wr32(meta + SNN_META_WEIGHT_DTYPE, 7); reseal(b, len);
    expect(b, len, SNN_RT_ERR_VERSION, "weight type 7 is unknown");
    FRESH(); META(); wr32(meta + SNN_META_WEIGHT_DTYPE, SNN_DTYPE_I16); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "QWGT's size does not match");
    FRESH(); META(); wr32(meta + SNN_META_INPUT_FRAC, 40); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "input fraction bits 40");
    FRESH();
    for (uint32_t i = 0; i < n_sec; i++) /* QPAR renamed: an unknown section, skipped */
        if (rd32(sec_entry(b, i) + SNN_SEC_TAG) == SNN_TAG_QPAR)
            wr32(sec_entry(b, i) + SNN_SEC_TAG, 0x58585858u);
    reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "without its QWGT or QPAR");
    uint8_t *layr = NULL, *qpar = NULL, *wght = NULL;
#define LAYERS() (layr = sec_data(b, len, SNN_TAG_LAYR), qpar = sec_data(b, len, SNN_TAG_QPAR), \
                  wght = sec_data(b, len, SNN_TAG_WGHT))
    FRESH(); LAYERS();
    wr32(qpar + 4 * (rd32(layr + SNN_LAYER_QPARAM) + rd32(layr + SNN_LAYER_C)), 0); /* threshold 0 */
    reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "integer threshold not in [1, 2^24]");
    FRESH(); LAYERS();
    wr32(qpar + 4 * rd32(layr + SNN_LAYER_QPARAM), (uint32_t)(SNN_MAX_QPARAM + 1)); /* bias */
    reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "beyond +-2^24");
    FRESH(); LAYERS(); wr32(layr + SNN_LAYER_QPARAM, 1u << 30); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "integer parameters or units outside");
    FRESH(); LAYERS(); /* the output's units (dense2: layer 1); hidden layers have none */
    wr32(wght + 4 * rd32(layr + SNN_LAYER_SIZE + SNN_LAYER_UNIT), 0x7fc00000u);
    reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "layer 1: unit 0 is not a positive finite number");
    FRESH(); LAYERS();
    {
        uint8_t *out = layr + SNN_LAYER_SIZE; /* dense2: the output is layer 1, two classes */
        uint8_t *u1 = wght + 4 * (rd32(out + SNN_LAYER_UNIT) + 1);
        wr32(u1, rd32(u1) + 1);
        reseal(b, len);
        expect(b, len, SNN_RT_ERR_FORMAT, "units differ between classes");
    }
    FRESH(); wr32(sec_data(b, len, SNN_TAG_PROJ) + SNN_PROJ_WEIGHTS, 1u << 30); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "outside the");
    /* 1.7: the initial membranes are derived; without the bit QPAR is a third short */
    FRESH(); META(); wr32(meta + SNN_META_FEATURES, rd32(meta + SNN_META_FEATURES) & ~SNN_FEATURE_QINIT); reseal(b, len);
    expect(b, len, SNN_RT_ERR_FORMAT, "integer parameters or units outside QPAR");
    FRESH();
    expect(b, len, SNN_RT_OK, "");
#undef LAYERS
#undef META
#undef FRESH
    free(b);
    free(good);
    /* The bit in a float file. */
    convert(&net, SNN_NORM_MAX, 0);
    assert_int_equal(snn_net_serialize(&net, &good, &len, &d), SNN_OK);
    snn_net_free(&net);
    uint8_t *fm = sec_data(good, len, SNN_TAG_META);
    wr32(fm + SNN_META_FEATURES, rd32(fm + SNN_META_FEATURES) | SNN_FEATURE_QINIT);
    reseal(good, len);
    expect(good, len, SNN_RT_ERR_FORMAT, "feature bit QINIT (derived integer initial membranes) in a file that is not");
    free(good);
}

/* An integer file written before 1.7 (tests/data/snn/dense2-int8-1.5.snn: QPAR with stored
 * initial membranes, no QINIT bit) loads and runs; what it stores is the derived value within
 * one unit (its rounding was of the float threshold's, the derivation rounds the integer's). */
static void test_int_file_before_17(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/dense2-int8-1.5.snn", data_dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[4096] __attribute__((aligned(8)));
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snn_model *m = malloc(sizeof *m);
    snn_rt_diag rd;
    assert_int_equal(snn_model_load(m, buf, len, &rd), SNN_RT_OK);
    assert_true((m->features & SNN_FEATURE_INT) && !(m->features & SNN_FEATURE_QINIT));
    int checked = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind != SNN_LAYER_NEURON || (L->flags & SNN_LAYER_F_OUTPUT))
            continue;
        assert_non_null(L->qv0);
        for (uint32_t c = 0; c < L->c; c++, checked++)
            assert_true(abs(L->qv0[c] - snn_qinit(L->qtheta[c], m->v_init)) <= 1);
    }
    assert_true(checked > 0);
    size_t ms = snn_state_mem_size(m);
    void *mem = malloc(ms);
    snn_state s;
    assert_int_equal(snn_state_init(&s, m, mem, ms), SNN_RT_OK);
    float x[16] = {0.5f, 0.25f, 1.0f, 0.0f};
    assert_true(m->input_size <= 16);
    snn_state_begin(&s, x, SNN_CODING_DIRECT, 1);
    for (int t = 0; t < 32; t++)
        snn_state_step(&s);
    int p = snn_state_predict(&s);
    assert_true(p >= 0 && p < (int)m->n_classes);
    free(mem);
    free(m);
}

/* snn_qinit() is round(v_init x threshold), exactly, for the thresholds and fractions it meets. */
static void test_qinit_rounds(void **state)
{
    (void)state;
    static const float fr[] = {0.0f, 0.25f, 0.5f, 0.5001f, 0.75f, 1.0f / 3.0f, 1.0f};
    for (size_t k = 0; k < sizeof fr / sizeof fr[0]; k++)
        for (int32_t t = 1; t <= SNN_MAX_QPARAM; t = t * 3 + 1) {
            double want = floor((double)t * floor((double)fr[k] * 65536.0 + 0.5) / 65536.0 + 0.5);
            assert_int_equal(snn_qinit(t, fr[k]), (int32_t)want);
            assert_true(fabs(snn_qinit(t, fr[k]) - (double)fr[k] * t) <= 0.5 + t / 131072.0);
        }
}

/* Clip(0, 6), channel Concat, strided conv, max pooling, global average pooling: converted
 * and run with every coding and readout, the SNN follows the ANN. */
static uint32_t lcg(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

static double run_agreement(const snn_graph *g, const calib_stats *cs, uint32_t readout, uint32_t coding,
                            uint32_t steps, float in_max, uint32_t dtype)
{
    snn_build_opts o;
    snn_build_opts_init(&o);
    o.readout = readout;
    snn_net net;
    snn_diag d;
    assert_int_equal(snn_build(g, cs, &o, &net, &d), SNN_OK);
    bool has_concat = false, has_pool = false, capped = false;
    for (uint32_t i = 0; i < net.n_layers; i++) {
        has_concat |= net.layers[i].kind == SNN_LAYER_CONCAT;
        has_pool |= net.layers[i].kind == SNN_LAYER_MAXPOOL;
        if (strstr(net.layers[i].name, "Clip"))
            capped = net.layers[i].lambda[0] <= 6.0f;
    }
    assert_true(has_concat && has_pool && capped);
    if (dtype != SNN_DTYPE_F32)
        assert_int_equal(snn_net_quantize(&net, dtype, in_max, &d), SNN_OK);
    loaded l;
    load_net(&net, &l);
    snn_state s = l.s;
    snn_eval ev;
    assert_int_equal(snn_eval_init(&ev, g, &d), SNN_OK);
    uint32_t seed = 99;
    int agree = 0, n = 60;
    float x[64];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 64; k++)
            x[k] = (float)(lcg(&seed) % 1000) / 1000.0f * in_max;
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        const float *y = snn_eval_output(&ev, 0);
        int a = 0;
        for (int k = 1; k < 4; k++)
            a = y[k] > y[a] ? k : a;
        snn_state_begin(&s, x, coding, (uint64_t)i + 1);
        for (uint32_t t = 0; t < steps; t++)
            snn_state_step(&s);
        agree += snn_state_predict(&s) == a;
    }
    snn_eval_free(&ev);
    unload(&l);
    snn_net_free(&net);
    return (double)agree / n;
}

static void test_concat_clip_maxpool(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/concat_clip.onnx", data_dir);
    snn_graph g;
    snn_diag d;
    assert_int_equal(snn_onnx_load_file(path, NULL, &g, &d), SNN_OK);
    snn_eval ev;
    calib_stats cs;
    assert_int_equal(snn_eval_init(&ev, &g, &d), SNN_OK);
    assert_int_equal(calib_init(&cs, &g, &d), SNN_OK);
    uint32_t seed = 7;
    float x[64];
    /* Inputs up to 4 drive the Clip branch past 6, so the cap matters. */
    for (int i = 0; i < 300; i++) {
        for (int k = 0; k < 64; k++)
            x[k] = (float)(lcg(&seed) % 1000) / 1000.0f * 4.0f;
        const float *feed[1] = {x};
        assert_int_equal(snn_eval_run(&ev, feed, &d), SNN_OK);
        calib_add(&cs, &ev);
    }
    snn_eval_free(&ev);
    /* float32, then the integer files: Concat, Clip, strided conv, max-pool and global
     * average pooling in integers. */
    static const uint32_t dtypes[] = {SNN_DTYPE_F32, SNN_DTYPE_I16, SNN_DTYPE_I8};
    static const char *const names[] = {"float32", "int16", "int8"};
    for (int k = 0; k < 3; k++) {
        double direct = run_agreement(&g, &cs, SNN_READOUT_MEMBRANE, SNN_CODING_DIRECT, 512, 4.0f, dtypes[k]);
        double spikes = run_agreement(&g, &cs, SNN_READOUT_SPIKES, SNN_CODING_DIRECT, 512, 4.0f, dtypes[k]);
        print_message("concat/clip/maxpool net, %s: agreement with the ANN %.0f %% (membrane), %.0f %% (spike count)\n",
                      names[k], 100 * direct, 100 * spikes);
        assert_true(direct >= 0.9);
        assert_true(spikes >= 0.8);
    }
    calib_free(&cs);
    snn_graph_free(&g);
}

/* Poisson input coding on the small dense net: rates of x in [0, 1]. */
static void test_poisson(void **state)
{
    (void)state;
    snn_net net;
    convert(&net, SNN_NORM_MAX, 0);
    loaded l;
    load_net(&net, &l);
    snn_state s = l.s;
    const float x[2] = {0.8f, 0.3f};
    float h[3];
    hidden(x, h);
    const uint32_t T = 20000;
    snn_state_begin(&s, x, SNN_CODING_POISSON, 42);
    for (uint32_t t = 0; t < T; t++)
        snn_state_step(&s);
    /* Input spike rate matches x; the output membrane / T approaches the logits. */
    assert_true(fabs((double)s.input_spikes / T - 1.1) < 0.03);
    const float *v = snn_state_output(&s);
    for (int o = 0; o < 2; o++)
        assert_true(fabs((double)v[o] / T - logit(h, o)) < 0.1);
    /* Same seed, same spikes: the generator is deterministic. */
    float first = v[0];
    snn_state_begin(&s, x, SNN_CODING_POISSON, 42);
    for (uint32_t t = 0; t < T; t++)
        snn_state_step(&s);
    assert_true(snn_state_output(&s)[0] == first);
    unload(&l);
    snn_net_free(&net);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_snn DATA_DIR\n");
        return 2;
    }
    data_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_norm_weights),
        cmocka_unit_test(test_channel_norm),
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_rates_approach_activations),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_corrupt_15_fields),
        cmocka_unit_test(test_corrupt_16_vini),
        cmocka_unit_test(test_corrupt_int_files),
        cmocka_unit_test(test_int_file_before_17),
        cmocka_unit_test(test_qinit_rounds),
        cmocka_unit_test(test_concat_clip_maxpool),
        cmocka_unit_test(test_poisson),
    };
    return cmocka_run_group_tests_name("snn", tests, NULL, NULL);
}
