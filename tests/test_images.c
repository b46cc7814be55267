/* Image folders (converter/data/data_image.c): generated PNG and JPEG files in class folders;
 * labels from the sorted folder names, exact PNG pixels, luma for one channel, resize and
 * centre crop by hand, a calibration subset that keeps every class, and every bad input an
 * error that names the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "data/data.h"

static char root[64];

static void path_of(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", root, rel);
}

/* rgb (h, w, 3) as a PNG at rel. */
static void write_png(const char *rel, const uint8_t *rgb, int w, int h, bool gray)
{
    char p[256];
    path_of(p, sizeof p, rel);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w, im.height = (png_uint_32)h;
    im.format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    assert_true(png_image_write_to_file(&im, p, 0, rgb, 0, NULL));
}

static void write_jpeg(const char *rel, const uint8_t *rgb, int w, int h)
{
    char p[256];
    path_of(p, sizeof p, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(uintptr_t)(rgb + (size_t)c.next_scanline * (size_t)w * 3);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

static void write_bytes(const char *rel, const char *bytes, size_t n)
{
    char p[256];
    path_of(p, sizeof p, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static void make_dir(const char *rel)
{
    char p[256];
    path_of(p, sizeof p, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

/* A 4 x 6 (w x h) RGB image whose pixel (y, x) channel c is seed + 40 y + 9 x + 3 c. */
static void pattern(uint8_t *rgb, int seed)
{
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 3; c++)
                rgb[(y * 4 + x) * 3 + c] = (uint8_t)(seed + 40 * y + 9 * x + 3 * c);
}

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/ann2snn-images-XXXXXX");
    assert_non_null(mkdtemp(root));
    /* b_cat sorts after a_dog: a_dog is class 0 */
    make_dir("set"), make_dir("set/b_cat"), make_dir("set/a_dog"), make_dir("set/.hidden");
    uint8_t rgb[6 * 4 * 3];
    pattern(rgb, 1);
    write_png("set/a_dog/1.png", rgb, 4, 6, false);
    pattern(rgb, 2);
    write_png("set/a_dog/2.PNG", rgb, 4, 6, false);
    uint8_t gray[6 * 4];
    for (int k = 0; k < 24; k++)
        gray[k] = (uint8_t)(10 * k);
    write_png("set/b_cat/1.png", gray, 4, 6, true);
    pattern(rgb, 5);
    write_jpeg("set/b_cat/2.jpg", rgb, 4, 6);
    write_bytes("set/b_cat/notes.txt", "not an image", 12);
    write_bytes("set/.hidden/x.png", "skipped", 7);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* The generated folder "set", opened with opts. */
static void open_set(snn_image_opts opts, int64_t max, snn_dataset *ds, snn_labels *lb)
{
    char dir[256];
    path_of(dir, sizeof dir, "set");
    snn_diag d;
    snn_status st = snn_dataset_open_folder(dir, &opts, max, ds, lb, &d);
    if (st != SNN_OK)
        print_error("%s\n", d.msg);
    assert_int_equal(st, SNN_OK);
}

static void test_labels_and_pixels(void **state)
{
    (void)state;
    snn_dataset ds;
    snn_labels lb;
    snn_diag d;
    open_set((snn_image_opts){0, 0, 3}, 0, &ds, &lb);
    assert_int_equal(ds.n, 4);
    assert_int_equal(lb.n, 4);
    assert_true(ds.from_uint8);
    assert_int_equal(ds.dims[0], 3);
    assert_int_equal(ds.dims[1], 6);
    assert_int_equal(ds.dims[2], 4);
    int32_t want[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++)
        assert_int_equal(lb.y[i], want[i]);
    assert_non_null(strstr(snn_image_path(&ds, 1), "a_dog/2.PNG"));
    float x[72];
    assert_int_equal(snn_dataset_get(&ds, 0, x, &d), SNN_OK); /* exact PNG values, CHW */
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 6; y++)
            for (int xx = 0; xx < 4; xx++)
                assert_true(x[(c * 6 + y) * 4 + xx] == (float)(1 + 40 * y + 9 * xx + 3 * c));
    assert_int_equal(snn_dataset_get(&ds, 2, x, &d), SNN_OK); /* gray PNG: three equal channels */
    for (int k = 0; k < 24; k++)
        assert_true(x[k] == (float)(10 * k) && x[24 + k] == x[k] && x[48 + k] == x[k]);
    assert_int_equal(snn_dataset_get(&ds, 3, x, &d), SNN_OK); /* JPEG at quality 100: close */
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 6; y++)
            for (int xx = 0; xx < 4; xx++) {
                float want_v = (float)(5 + 40 * y + 9 * xx + 3 * c), got = x[(c * 6 + y) * 4 + xx];
                assert_true(got > want_v - 12 && got < want_v + 12);
            }
    snn_dataset_free(&ds);
    snn_labels_free(&lb);

    open_set((snn_image_opts){0, 0, 1}, 0, &ds, NULL); /* luma */
    assert_int_equal(ds.sample_size, 24);
    assert_int_equal(snn_dataset_get(&ds, 0, x, &d), SNN_OK);
    double r = 1 + 40 * 5 + 9 * 3;
    float luma = (float)(0.299 * r + 0.587 * (r + 3) + 0.114 * (r + 6));
    assert_true(x[5 * 4 + 3] > luma - 1e-3f && x[5 * 4 + 3] < luma + 1e-3f);
    snn_dataset_free(&ds);
}

static void test_resize_and_crop(void **state)
{
    (void)state;
    /* 4 x 6 resized so the shorter side is 2: 2 x 3 (h rounds 6*2/4), then the centre 2 x 2:
     * rows 0..1 of the 3 (y0 = (3-2)/2 = 0). Output pixel (y, x) samples the source at
     * ((x + 0.5) * 2 - 0.5, (y + 0.5) * 2 - 0.5): between pixels, so the mean of a 2 x 2 block. */
    snn_dataset ds;
    snn_diag d;
    open_set((snn_image_opts){2, 2, 3}, 0, &ds, NULL);
    assert_int_equal(ds.sample_size, 12);
    float x[12];
    assert_int_equal(snn_dataset_get(&ds, 0, x, &d), SNN_OK);
    for (int y = 0; y < 2; y++)
        for (int xx = 0; xx < 2; xx++) {
            /* the block's rows 2y, 2y+1 and columns 2xx, 2xx+1: mean 40 (2y + 0.5) + 9 (2xx + 0.5) */
            float want_v = (float)(1 + 40 * (2 * y + 0.5) + 9 * (2 * xx + 0.5));
            assert_true(x[y * 2 + xx] > want_v - 1e-3f && x[y * 2 + xx] < want_v + 1e-3f);
        }
    snn_dataset_free(&ds);
}

static void test_subset_keeps_classes(void **state)
{
    (void)state;
    snn_dataset ds;
    snn_labels lb;
    open_set((snn_image_opts){0, 0, 3}, 2, &ds, &lb);
    assert_int_equal(ds.n, 2);
    assert_int_equal(lb.y[0], 0);
    assert_int_equal(lb.y[1], 1);
    snn_dataset_free(&ds);
    snn_labels_free(&lb);
}

static void test_bad_input(void **state)
{
    (void)state;
    snn_image_opts o = {0, 0, 3};
    snn_dataset ds;
    snn_diag d;
    char dir[256], p[256];
    make_dir("bad"), make_dir("bad/k");
    path_of(dir, sizeof dir, "bad");
    /* no image at all */
    assert_int_equal(snn_dataset_open_folder(dir, &o, 0, &ds, NULL, &d), SNN_ERR_FORMAT);
    assert_non_null(strstr(d.msg, "no .png"));
    /* a good image, one of another size, a truncated PNG, a .jpg that is text */
    uint8_t rgb[6 * 4 * 3], big[8 * 8 * 3] = {0};
    pattern(rgb, 0);
    write_png("bad/k/a.png", rgb, 4, 6, false);
    write_png("bad/k/b.png", big, 8, 8, false);
    write_bytes("bad/k/c.png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    write_bytes("bad/k/d.jpg", "plain text, not a JPEG", 22);
    write_bytes("bad/k/e.jpg", "\xFF\xD8\xFF\xE0\0\x10JFIF", 10);
    assert_int_equal(snn_dataset_open_folder(dir, &o, 0, &ds, NULL, &d), SNN_OK);
    assert_int_equal(ds.n, 5);
    float x[8 * 8 * 3];
    assert_int_equal(snn_dataset_get(&ds, 0, x, &d), SNN_OK);
    const char *expect[] = {"b.png: 8x8 pixels", "c.png: ", "d.jpg: neither PNG nor JPEG", "e.jpg: not a readable JPEG"};
    for (int i = 1; i < 5; i++) {
        assert_int_not_equal(snn_dataset_get(&ds, i, x, &d), SNN_OK);
        if (!strstr(d.msg, expect[i - 1]))
            print_error("sample %d: '%s' lacks '%s'\n", i, d.msg, expect[i - 1]);
        assert_non_null(strstr(d.msg, expect[i - 1]));
    }
    snn_dataset_free(&ds);
    /* a folder without class sub-folders, and one that does not exist */
    path_of(p, sizeof p, "bad/k");
    assert_int_equal(snn_dataset_open_folder(p, &o, 0, &ds, NULL, &d), SNN_ERR_FORMAT);
    assert_non_null(strstr(d.msg, "no class sub-folders"));
    path_of(p, sizeof p, "missing");
    assert_int_equal(snn_dataset_open_folder(p, &o, 0, &ds, NULL, &d), SNN_ERR_IO);
    assert_non_null(strstr(d.msg, "missing"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_and_pixels),
        cmocka_unit_test(test_resize_and_crop),
        cmocka_unit_test(test_subset_keeps_classes),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
