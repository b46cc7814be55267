/* Data readers: IDX (plain and gzip), .npy, labels, preprocessing, streamed files; every
 * truncation of a valid file is refused with an error, never read past its end. */
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
#include <zlib.h>

#include "data/data.h"

/* IDX uint8 of shape (3, 2, 2) with values 0..11. */
static size_t make_idx(uint8_t *buf)
{
    uint8_t hdr[] = {0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    memcpy(buf, hdr, sizeof hdr);
    for (int i = 0; i < 12; i++)
        buf[sizeof hdr + (size_t)i] = (uint8_t)i;
    return sizeof hdr + 12;
}

static void test_idx_uint8(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_idx(buf);
    snn_dataset ds;
    snn_diag d;
    assert_int_equal(snn_idx_parse(buf, len, &ds, &d), SNN_OK);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.rank, 2);
    assert_int_equal(ds.sample_size, 4);
    assert_true(ds.from_uint8);
    assert_true(ds.x[11] == 11.0f);
    snn_dataset_free(&ds);
}

static void test_idx_float_big_endian(void **state)
{
    (void)state;
    uint8_t buf[] = {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3f, 0x80, 0, 0, 0xc0, 0x00, 0, 0};
    snn_dataset ds;
    snn_diag d;
    assert_int_equal(snn_idx_parse(buf, sizeof buf, &ds, &d), SNN_OK);
    assert_true(ds.x[0] == 1.0f && ds.x[1] == -2.0f);
    assert_false(ds.from_uint8);
    snn_dataset_free(&ds);
}

static void test_idx_every_truncation(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_idx(buf);
    for (size_t cut = 0; cut < len; cut++) {
        snn_dataset ds;
        snn_diag d;
        snn_diag_clear(&d);
        assert_int_equal(snn_idx_parse(buf, cut, &ds, &d), SNN_ERR_FORMAT);
        assert_true(d.msg[0] != '\0');
        assert_null(ds.x);
    }
    /* Trailing bytes are an error too: the header must describe the file exactly. */
    snn_dataset ds;
    snn_diag d;
    assert_int_equal(snn_idx_parse(buf, len + 1, &ds, &d), SNN_ERR_FORMAT);
}

static void test_idx_bad_header(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t len = make_idx(buf);
    snn_dataset ds;
    snn_diag d;
    buf[0] = 1;
    assert_int_equal(snn_idx_parse(buf, len, &ds, &d), SNN_ERR_FORMAT);
    assert_non_null(strstr(d.msg, "bad magic"));
    buf[0] = 0;
    buf[2] = 0x42;
    assert_int_equal(snn_idx_parse(buf, len, &ds, &d), SNN_ERR_FORMAT);
    assert_non_null(strstr(d.msg, "element type 0x42"));
    /* Dimensions whose product overflows are refused before any allocation. */
    uint8_t huge[] = {0, 0, 0x08, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(snn_idx_parse(huge, sizeof huge, &ds, &d), SNN_ERR_LIMIT);
}

static size_t gzip_buf(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    return n;
}

static void test_gzip(void **state)
{
    (void)state;
    uint8_t raw[64], gz[256];
    size_t len = make_idx(raw);
    size_t glen = gzip_buf(raw, len, gz, sizeof gz);
    snn_dataset ds;
    snn_diag d;
    assert_int_equal(snn_dataset_parse(gz, glen, &ds, &d), SNN_OK);
    assert_int_equal(ds.n, 3);
    assert_true(ds.x[5] == 5.0f);
    snn_dataset_free(&ds);
    /* Every truncated gzip stream is refused. */
    for (size_t cut = 2; cut < glen; cut++) {
        snn_diag_clear(&d);
        snn_status st = snn_dataset_parse(gz, cut, &ds, &d);
        assert_int_not_equal(st, SNN_OK);
        assert_true(d.msg[0] != '\0');
    }
    /* A bomb is stopped at the cap. */
    uint8_t *zeros = calloc(1 << 20, 1), *bomb = malloc(1 << 16), *out;
    size_t blen = gzip_buf(zeros, 1 << 20, bomb, 1 << 16), olen;
    assert_int_equal(snn_gunzip(bomb, blen, 1 << 16, &out, &olen, &d), SNN_ERR_LIMIT);
    free(zeros);
    free(bomb);
}

static size_t make_npy(uint8_t *buf, const char *dict, const void *data, size_t dlen)
{
    size_t hl = strlen(dict);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)hl;
    buf[9] = 0;
    memcpy(buf + 10, dict, hl);
    memcpy(buf + 10 + hl, data, dlen);
    return 10 + hl + dlen;
}

static void test_npy(void **state)
{
    (void)state;
    uint8_t buf[256];
    float vals[6] = {0, 1, 2, 3, 4.5f, -5};
    size_t len = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", vals, sizeof vals);
    snn_dataset ds;
    snn_diag d;
    assert_int_equal(snn_npy_parse(buf, len, &ds, &d), SNN_OK);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.sample_size, 3);
    assert_true(ds.x[4] == 4.5f && ds.x[5] == -5.0f);
    snn_dataset_free(&ds);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_not_equal(snn_npy_parse(buf, cut, &ds, &d), SNN_OK);

    uint8_t u8[4] = {9, 8, 7, 6};
    len = make_npy(buf, "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", u8, 4);
    assert_int_equal(snn_npy_parse(buf, len, &ds, &d), SNN_OK);
    assert_true(ds.from_uint8 && ds.n == 4 && ds.sample_size == 1 && ds.x[3] == 6.0f);
    snn_dataset_free(&ds);

    len = make_npy(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", vals, sizeof vals);
    assert_int_equal(snn_npy_parse(buf, len, &ds, &d), SNN_ERR_UNSUPPORTED);
    assert_non_null(strstr(d.msg, "Fortran"));
    len = make_npy(buf, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", vals, 24);
    assert_int_equal(snn_npy_parse(buf, len, &ds, &d), SNN_ERR_UNSUPPORTED);
    len = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", vals, sizeof vals);
    assert_int_equal(snn_npy_parse(buf, len, &ds, &d), SNN_ERR_FORMAT);
    len = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", vals, 4);
    assert_int_equal(snn_npy_parse(buf, len, &ds, &d), SNN_ERR_LIMIT);
}

/* A zero dimension empties a tensor, so a data-length check passes whatever the other
 * dimensions say; their product (a sample's size) must still be bounded, by every reader,
 * and the message must name the shape. */
static void test_zero_dim_shapes(void **state)
{
    (void)state;
    snn_dataset ds;
    snn_diag d;
    /* Found by fuzzing the .pb reader under UBSan: dims [0, 2, 1207517473079815166, 2, 2]. */
    static const uint8_t pb[] = {
        0x10, 0x10, 0x28, 0x05, 0x28, 0x05, 0x28, 0x28, 0x28, 0x10, 0x28, 0x05, 0x08, 0x00,
        0x10, 0x0c, 0x28, 0x28, 0x08, 0x02, 0x28, 0x00, 0x28, 0x10, 0x28, 0x28, 0x08, 0xfe,
        0xd7, 0xff, 0xd7, 0xe7, 0xd7, 0xfd, 0xe0, 0x10, 0x08, 0x02, 0x28, 0x10, 0x08, 0x02};
    assert_int_equal(snn_dataset_parse(pb, sizeof pb, &ds, &d), SNN_ERR_LIMIT);
    assert_non_null(strstr(d.msg, "[0, 2, 1207517473079815166, 2, 2]"));

    uint8_t buf[256];
    size_t len = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3000000000, 3000000000), }", "", 0);
    assert_int_equal(snn_npy_parse(buf, len, &ds, &d), SNN_ERR_LIMIT);
    assert_non_null(strstr(d.msg, "[0, 3000000000, 3000000000]"));

    /* IDX: 0 samples of 65536 x 65536 bytes. */
    static const uint8_t idx[] = {0, 0, 0x08, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
    assert_int_equal(snn_idx_parse(idx, sizeof idx, &ds, &d), SNN_ERR_LIMIT);
    assert_non_null(strstr(d.msg, "[0, 65536, 65536]"));
    /* ... and an empty set of small samples is fine. */
    static const uint8_t empty[] = {0, 0, 0x08, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    assert_int_equal(snn_idx_parse(empty, sizeof empty, &ds, &d), SNN_OK);
    assert_int_equal(ds.n, 0);
    assert_int_equal(ds.sample_size, 784);
    snn_dataset_free(&ds);
}

static void test_labels_and_preprocess(void **state)
{
    (void)state;
    char path[] = "/tmp/ann2snn-labels-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t lbl[] = {0, 0, 0x08, 1, 0, 0, 0, 3, 7, 0, 9};
    FILE *f = fdopen(fd, "wb");
    fwrite(lbl, 1, sizeof lbl, f);
    fclose(f);
    snn_labels lb;
    snn_diag d;
    assert_int_equal(snn_labels_read(path, &lb, &d), SNN_OK);
    assert_int_equal(lb.n, 3);
    assert_int_equal(lb.y[0], 7);
    assert_int_equal(lb.y[2], 9);
    snn_labels_free(&lb);
    remove(path);

    uint8_t buf[64];
    size_t len = make_idx(buf);
    snn_dataset ds;
    assert_int_equal(snn_idx_parse(buf, len, &ds, &d), SNN_OK);
    snn_preprocess pp = {.scale = 0.5f, .mean = 1.0f, .std = 2.0f};
    float x[4];
    snn_preprocess_sample(&ds, 1, &pp, x, NULL); /* raw 4..7 */
    assert_float_equal(x[0], (4 * 0.5 - 1) / 2, 1e-6);
    assert_float_equal(x[3], (7 * 0.5 - 1) / 2, 1e-6);
    snn_dataset_free(&ds);
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* The prefix reader takes the first samples of plain and gzip IDX without reading the rest,
 * refuses a file cut inside the samples it needs, and falls back to the full reader for
 * other formats. */
static void test_read_prefix(void **state)
{
    (void)state;
    char path[] = "/tmp/ann2snn-prefix-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uint8_t raw[64], gz[256];
    size_t len = make_idx(raw), glen = gzip_buf(raw, len, gz, sizeof gz);
    snn_dataset ds;
    snn_diag d;
    const uint8_t *bufs[2] = {raw, gz};
    size_t lens[2] = {len, glen};
    for (int k = 0; k < 2; k++) {
        write_file(path, bufs[k], lens[k]);
        assert_int_equal(snn_dataset_read_prefix(path, 2, &ds, &d), SNN_OK);
        assert_int_equal(ds.n, 2);
        assert_int_equal(ds.sample_size, 4);
        assert_true(ds.x[7] == 7.0f && ds.from_uint8);
        snn_dataset_free(&ds);
        assert_int_equal(snn_dataset_read_prefix(path, 100, &ds, &d), SNN_OK);
        assert_int_equal(ds.n, 3);
        snn_dataset_free(&ds);
    }
    write_file(path, raw, len - 2); /* the third sample is cut */
    assert_int_equal(snn_dataset_read_prefix(path, 2, &ds, &d), SNN_OK);
    snn_dataset_free(&ds);
    assert_int_equal(snn_dataset_read_prefix(path, 3, &ds, &d), SNN_ERR_FORMAT);
    assert_non_null(strstr(d.msg, "IDX data ends after"));
    uint8_t npy[256];
    float vals[6] = {0, 1, 2, 3, 4, 5};
    size_t nlen = make_npy(npy, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", vals, sizeof vals);
    write_file(path, npy, nlen);
    assert_int_equal(snn_dataset_read_prefix(path, 2, &ds, &d), SNN_OK);
    assert_int_equal(ds.n, 2);
    float two[2];
    assert_int_equal(snn_dataset_get(&ds, 1, two, &d), SNN_OK); /* streamed: no ds.x */
    assert_true(two[1] == 3.0f);
    snn_dataset_free(&ds);
    remove(path);
}

/* A file of every value kind, written to a temporary path, read whole and streamed: the two
 * give the same samples; a streamed file that shrinks after opening fails with a message. */
static void check_streamed_equals_whole(const char *path, int64_t n, int64_t sample_size)
{
    snn_dataset whole, st;
    snn_diag d;
    assert_int_equal(snn_dataset_read(path, &whole, &d), SNN_OK);
    assert_int_equal(snn_dataset_open(path, &st, &d), SNN_OK);
    assert_true(st.streamed && !st.x && !whole.streamed);
    assert_int_equal(st.n, n);
    assert_int_equal(st.sample_size, sample_size);
    assert_int_equal(st.from_uint8, whole.from_uint8);
    float a[600], b[600];
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(snn_dataset_get(&whole, i, a, &d), SNN_OK);
        assert_int_equal(snn_dataset_get(&st, i, b, &d), SNN_OK);
        assert_memory_equal(a, b, (size_t)sample_size * sizeof *a);
    }
    snn_dataset_free(&whole);
    snn_dataset_free(&st);
}

static void test_streamed(void **state)
{
    (void)state;
    char path[] = "/tmp/ann2snn-test-stream-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    /* IDX of every element type: 5 samples of 3 x 200 values (600 per sample: more than one
     * 4 KB block of float64). */
    static const uint8_t idx_types[] = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E};
    static const size_t idx_sizes[] = {1, 1, 2, 4, 4, 8};
    static uint8_t buf[16 + 5 * 600 * 8 + 128];
    for (size_t t = 0; t < sizeof idx_types; t++) {
        uint8_t hdr[] = {0, 0, idx_types[t], 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 200};
        memcpy(buf, hdr, sizeof hdr);
        size_t body = 5 * 600 * idx_sizes[t];
        for (size_t k = 0; k < body; k++)
            buf[sizeof hdr + k] = (uint8_t)(k * 37 + t); /* any bytes: a value of each kind */
        if (idx_types[t] == 0x0D || idx_types[t] == 0x0E) /* keep floats finite: clear exponents' top bit */
            for (size_t k = 0; k < body; k += idx_sizes[t])
                buf[sizeof hdr + k] &= 0x3f;
        write_file(path, buf, sizeof hdr + body);
        check_streamed_equals_whole(path, 5, 600);
    }
    /* .npy of every accepted dtype */
    static const char *dtypes[] = {"|u1", "<f4", "<f8", "<i8", "<i4"};
    static const size_t npy_sizes[] = {1, 4, 8, 8, 4};
    for (size_t t = 0; t < 5; t++) {
        char header[128];
        int hl = snprintf(header, sizeof header,
                          "{'descr': '%s', 'fortran_order': False, 'shape': (4, 600), }", dtypes[t]);
        while ((10 + hl + 1) % 64)
            header[hl++] = ' ';
        header[hl++] = '\n';
        memcpy(buf, "\x93NUMPY\x01\x00", 8);
        buf[8] = (uint8_t)hl, buf[9] = 0;
        memcpy(buf + 10, header, (size_t)hl);
        size_t body = 4 * 600 * npy_sizes[t];
        for (size_t k = 0; k < body; k++)
            buf[10 + (size_t)hl + k] = (uint8_t)(k * 13 + t);
        if (t == 1 || t == 2) /* floats: little-endian, the exponent's top bit is the last byte's */
            for (size_t k = npy_sizes[t] - 1; k < body; k += npy_sizes[t])
                buf[10 + (size_t)hl + k] &= 0x3f;
        write_file(path, buf, 10 + (size_t)hl + body);
        check_streamed_equals_whole(path, 4, 600);
    }
    /* Opened, then cut short: the sample past the end is an error, not garbage. */
    snn_dataset ds;
    snn_diag d;
    assert_int_equal(snn_dataset_open(path, &ds, &d), SNN_OK);
    assert_int_equal(truncate(path, (off_t)ds.data_offset + 600 * 4 * 2 + 10), 0);
    float x[600];
    assert_int_equal(snn_dataset_get(&ds, 1, x, &d), SNN_OK);
    assert_int_equal(snn_dataset_get(&ds, 3, x, &d), SNN_ERR_IO);
    assert_non_null(strstr(d.msg, "sample 3"));
    snn_dataset_free(&ds);
    /* A file shorter than its header says is refused when opened. */
    assert_int_equal(snn_dataset_open(path, &ds, &d), SNN_ERR_FORMAT);
    unlink(path);
}

/* Mean |difference| between horizontal neighbours over a data set's (1, H, W) samples. */
static double neighbour_step(const snn_dataset *ds, int64_t first, int64_t last)
{
    int64_t h = ds->dims[1], w = ds->dims[2];
    double sum = 0.0;
    for (int64_t i = first; i < last; i++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x + 1 < w; x++) {
                const float *p = ds->x + i * ds->sample_size + y * w + x;
                sum += fabs((double)p[1] - (double)p[0]);
            }
    return sum / (double)((last - first) * h * (w - 1));
}

/* Synthetic calibration images: raw bytes (whole numbers in 0..255), the same on every call;
 * uniform noise changes a lot from pixel to pixel, smoothed noise little, and the mix has
 * one half of each. */
static void test_synthetic(void **state)
{
    (void)state;
    const int64_t dims[3] = {1, 28, 28};
    snn_dataset a, b, mix;
    snn_diag d;
    assert_int_equal(snn_dataset_synthetic(&a, dims, 3, 40, SNN_SYNTH_UNIFORM, &d), SNN_OK);
    assert_int_equal(snn_dataset_synthetic(&b, dims, 3, 40, SNN_SYNTH_SMOOTH, &d), SNN_OK);
    assert_int_equal(snn_dataset_synthetic(&mix, dims, 3, 40, SNN_SYNTH_MIX, &d), SNN_OK);
    assert_int_equal(a.n, 40);
    assert_int_equal(a.sample_size, 784);
    assert_true(a.from_uint8 && b.from_uint8);
    for (int64_t k = 0; k < 40 * 784; k++) {
        float v[2] = {a.x[k], b.x[k]};
        for (int q = 0; q < 2; q++)
            assert_true(v[q] >= 0.0f && v[q] <= 255.0f && v[q] == floorf(v[q]));
    }
    double su = neighbour_step(&a, 0, 40), ss = neighbour_step(&b, 0, 40);
    print_message("mean neighbour step: uniform %.1f, smoothed %.1f\n", su, ss);
    assert_true(su > 60.0 && ss < 20.0);
    assert_true(neighbour_step(&mix, 0, 20) > 60.0 && neighbour_step(&mix, 20, 40) < 20.0);
    snn_dataset again;
    assert_int_equal(snn_dataset_synthetic(&again, dims, 3, 40, SNN_SYNTH_MIX, &d), SNN_OK);
    assert_memory_equal(again.x, mix.x, 40 * 784 * sizeof(float));
    snn_dataset_free(&again);
    snn_dataset_free(&a);
    snn_dataset_free(&b);
    snn_dataset_free(&mix);
    assert_int_equal(snn_dataset_synthetic(&a, dims, 0, 40, SNN_SYNTH_MIX, &d), SNN_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_uint8),
        cmocka_unit_test(test_idx_float_big_endian),
        cmocka_unit_test(test_idx_every_truncation),
        cmocka_unit_test(test_idx_bad_header),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_npy),
        cmocka_unit_test(test_zero_dim_shapes),
        cmocka_unit_test(test_labels_and_preprocess),
        cmocka_unit_test(test_read_prefix),
        cmocka_unit_test(test_streamed),
        cmocka_unit_test(test_synthetic),
    };
    return cmocka_run_group_tests_name("data", tests, NULL, NULL);
}
