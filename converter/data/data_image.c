/* Image folders (torchvision's ImageFolder layout): DIR/CLASS/IMAGE, decoded with libpng and
 * libjpeg(-turbo) when a sample is read, resized (bilinear) and center-cropped. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "data.h"

/* The images a folder data set reads: paths in sample order. */
struct snn_image_set {
    char **paths;      /* (n) */
    int64_t n;
    snn_image_opts opts;
    int64_t width, height; /* of every sample after resize and crop (C = 3) */
};

/* Largest side accepted in an image file (a 65,535-pixel side would be 12 GB as RGB floats). */
#define MAX_SIDE 16384

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    char ext[8] = {0};
    for (int i = 0; i < 7 && dot[1 + i]; i++)
        ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    return !strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg");
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s) {
        memcpy(s, a, la);
        s[la] = '/';
        memcpy(s + la + 1, b, lb + 1);
    }
    return s;
}

bool snn_path_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Sorted entries of dir that are directories (want_dirs) or image files; *names (count). */
static snn_status list_dir(const char *dir, bool want_dirs, char ***names, int64_t *count, snn_diag *diag)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return snn_diag_set(diag, SNN_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    int64_t cap = 0;
    snn_status st = SNN_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *full = join(dir, e->d_name);
        if (!full) {
            st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
            break;
        }
        bool keep = want_dirs ? snn_path_is_dir(full) : has_image_ext(e->d_name) && !snn_path_is_dir(full);
        if (!keep) {
            free(full);
            continue;
        }
        if (*count == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(*names, (size_t)cap * sizeof *grown);
            if (!grown) {
                free(full);
                st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
                break;
            }
            *names = grown;
        }
        (*names)[(*count)++] = full;
    }
    closedir(d);
    if (st == SNN_OK && *count)
        qsort(*names, (size_t)*count, sizeof **names, cmp_str);
    return st;
}

static void free_list(char **names, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ------------------------------------------------------------------ decoding */

/* RGB bytes of an image file: *rgb (h, w, 3), malloc'd. The message names the file. */
static snn_status decode_png(const char *path, uint8_t **rgb, int64_t *w, int64_t *h, snn_diag *diag)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return snn_diag_set(diag, SNN_ERR_FORMAT, "%s: not a readable PNG (%s)", path, im.message);
    if (im.width == 0 || im.height == 0 || im.width > MAX_SIDE || im.height > MAX_SIDE) {
        png_image_free(&im);
        return snn_diag_set(diag, SNN_ERR_LIMIT, "%s: %ux%u pixels (1 to %d a side accepted)", path,
                            im.width, im.height, MAX_SIDE);
    }
    im.format = PNG_FORMAT_RGB; /* gray and palette expanded, alpha composed onto black */
    *rgb = malloc(PNG_IMAGE_SIZE(im));
    if (!*rgb) {
        png_image_free(&im);
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    }
    if (!png_image_finish_read(&im, NULL, *rgb, 0, NULL)) {
        free(*rgb);
        *rgb = NULL;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "%s: corrupt PNG (%s)", path, im.message);
    }
    *w = im.width, *h = im.height;
    return SNN_OK;
}

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

/* libjpeg's default error handler exits the process; this one jumps back with the message. */
static void jpeg_fail(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)(void *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr c, int level)
{
    (void)c, (void)level; /* warnings (e.g. extraneous bytes) are not errors */
}

static snn_status decode_jpeg(const char *path, uint8_t **rgb, int64_t *w, int64_t *h, snn_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return snn_diag_set(diag, SNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct jpeg_decompress_struct c;
    jpeg_err err;
    c.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    err.mgr.emit_message = jpeg_quiet;
    uint8_t *volatile out = NULL;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&c);
        fclose(f);
        free(out);
        return snn_diag_set(diag, SNN_ERR_FORMAT, "%s: not a readable JPEG (%s)", path, err.msg);
    }
    jpeg_create_decompress(&c);
    jpeg_stdio_src(&c, f);
    jpeg_read_header(&c, TRUE);
    c.out_color_space = JCS_RGB; /* gray and CMYK converted */
    jpeg_start_decompress(&c);
    if (c.output_width > MAX_SIDE || c.output_height > MAX_SIDE || c.output_components != 3) {
        snn_status st = snn_diag_set(diag, SNN_ERR_LIMIT, "%s: %ux%u pixels (1 to %d a side accepted)",
                                     path, c.output_width, c.output_height, MAX_SIDE);
        jpeg_destroy_decompress(&c);
        fclose(f);
        return st;
    }
    size_t row = (size_t)c.output_width * 3;
    out = malloc(row * c.output_height);
    if (!out) {
        jpeg_destroy_decompress(&c);
        fclose(f);
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    }
    while (c.output_scanline < c.output_height) {
        JSAMPROW r = out + row * c.output_scanline;
        jpeg_read_scanlines(&c, &r, 1);
    }
    jpeg_finish_decompress(&c);
    *w = c.output_width, *h = c.output_height;
    jpeg_destroy_decompress(&c);
    fclose(f);
    *rgb = out;
    return SNN_OK;
}

static snn_status decode(const char *path, uint8_t **rgb, int64_t *w, int64_t *h, snn_diag *diag)
{
    uint8_t magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return snn_diag_set(diag, SNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got >= 8 && !png_sig_cmp(magic, 0, 8))
        return decode_png(path, rgb, w, h, diag);
    if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF)
        return decode_jpeg(path, rgb, w, h, diag);
    return snn_diag_set(diag, SNN_ERR_FORMAT, "%s: neither PNG nor JPEG (by its first bytes)", path);
}

/* ------------------------------------------------------------- geometry */

/* Size after resizing the shorter side to r (0: unchanged), rounding the other side. */
static void resized(int64_t w, int64_t h, int r, int64_t *rw, int64_t *rh)
{
    if (r <= 0) {
        *rw = w, *rh = h;
    } else if (w <= h) {
        *rw = r, *rh = (h * r + w / 2) / w;
    } else {
        *rh = r, *rw = (w * r + h / 2) / h;
    }
    *rw = *rw < 1 ? 1 : *rw, *rh = *rh < 1 ? 1 : *rh;
}

/* dst (channels, ch, cw) floats 0..255: rgb (h, w, 3) resized to (rh, rw) by bilinear
 * interpolation (pixel centres aligned, as PIL and torchvision without antialiasing), then the
 * centre (ch, cw) window of that; one channel is the luma of the three. */
static void resize_crop(const uint8_t *rgb, int64_t w, int64_t h, int64_t rw, int64_t rh, int64_t cw,
                        int64_t ch, int channels, float *dst)
{
    int64_t x0 = (rw - cw) / 2, y0 = (rh - ch) / 2;
    double sx = (double)w / (double)rw, sy = (double)h / (double)rh;
    for (int64_t y = 0; y < ch; y++) {
        double fy = ((double)(y + y0) + 0.5) * sy - 0.5;
        fy = fy < 0 ? 0 : fy > (double)(h - 1) ? (double)(h - 1) : fy;
        int64_t ya = (int64_t)fy, yb = ya + 1 < h ? ya + 1 : ya;
        double ty = fy - (double)ya;
        for (int64_t x = 0; x < cw; x++) {
            double fx = ((double)(x + x0) + 0.5) * sx - 0.5;
            fx = fx < 0 ? 0 : fx > (double)(w - 1) ? (double)(w - 1) : fx;
            int64_t xa = (int64_t)fx, xb = xa + 1 < w ? xa + 1 : xa;
            double tx = fx - (double)xa;
            double v[3];
            for (int c = 0; c < 3; c++) {
                double a = rgb[(ya * w + xa) * 3 + c], b = rgb[(ya * w + xb) * 3 + c];
                double p = rgb[(yb * w + xa) * 3 + c], q = rgb[(yb * w + xb) * 3 + c];
                v[c] = (a + (b - a) * tx) * (1 - ty) + (p + (q - p) * tx) * ty;
            }
            if (channels == 1)
                dst[y * cw + x] = (float)(0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]);
            else
                for (int c = 0; c < 3; c++)
                    dst[(c * ch + y) * cw + x] = (float)v[c];
        }
    }
}

snn_status snn_image_read(const snn_image_set *set, int64_t i, float *dst, snn_diag *diag)
{
    uint8_t *rgb = NULL;
    int64_t w, h, rw, rh;
    const char *path = set->paths[i];
    snn_status st = decode(path, &rgb, &w, &h, diag);
    if (st != SNN_OK)
        return st;
    resized(w, h, set->opts.resize, &rw, &rh);
    if (rw < set->width || rh < set->height) {
        free(rgb);
        return snn_diag_set(diag, SNN_ERR_FORMAT,
                            "%s: %lldx%lld pixels%s, not the %lldx%lld the data set's samples have "
                            "(give --resize and --crop)",
                            path, (long long)w, (long long)h, set->opts.resize ? " after resizing" : "",
                            (long long)set->width, (long long)set->height);
    }
    if (!set->opts.resize && !set->opts.crop && (w != set->width || h != set->height)) {
        free(rgb);
        return snn_diag_set(diag, SNN_ERR_FORMAT,
                            "%s: %lldx%lld pixels, not the %lldx%lld of the first image (give --resize "
                            "and --crop)", path, (long long)w, (long long)h, (long long)set->width,
                            (long long)set->height);
    }
    resize_crop(rgb, w, h, rw, rh, set->width, set->height, set->opts.channels == 1 ? 1 : 3, dst);
    free(rgb);
    return SNN_OK;
}

void snn_image_set_free(snn_image_set *set)
{
    if (!set)
        return;
    free_list(set->paths, set->n);
    free(set);
}

/* ------------------------------------------------------------------ opening */

snn_status snn_dataset_open_folder(const char *dir, const snn_image_opts *opts, int64_t max_samples,
                                   snn_dataset *ds, snn_labels *lb, snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    if (lb)
        memset(lb, 0, sizeof *lb);
    char **classes = NULL;
    int64_t n_classes = 0;
    snn_status st = list_dir(dir, true, &classes, &n_classes, diag);
    if (st != SNN_OK)
        return st;
    if (n_classes == 0) {
        free(classes);
        return snn_diag_set(diag, SNN_ERR_FORMAT, "%s: no class sub-folders (DIR/CLASS/IMAGE.png|jpg)", dir);
    }
    snn_image_set *set = calloc(1, sizeof *set);
    int32_t *labels = NULL;
    int64_t cap = 0;
    if (!set) {
        st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    set->opts = *opts;
    if (set->opts.resize && !set->opts.crop)
        set->opts.crop = set->opts.resize; /* torchvision's Resize(N) + CenterCrop(N) */
    for (int64_t k = 0; k < n_classes && st == SNN_OK; k++) {
        char **files;
        int64_t nf;
        if ((st = list_dir(classes[k], false, &files, &nf, diag)) != SNN_OK)
            break;
        if (set->n + nf > cap) {
            cap = (set->n + nf) * 2;
            char **p = realloc(set->paths, (size_t)cap * sizeof *p);
            int32_t *l = p ? realloc(labels, (size_t)cap * sizeof *l) : NULL;
            if (p)
                set->paths = p;
            if (l)
                labels = l;
            if (!p || !l) {
                free_list(files, nf);
                st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
                break;
            }
        }
        for (int64_t i = 0; i < nf; i++) {
            set->paths[set->n] = files[i];
            labels[set->n++] = (int32_t)k;
        }
        free(files);
    }
    if (st != SNN_OK)
        goto fail;
    if (set->n == 0) {
        st = snn_diag_set(diag, SNN_ERR_FORMAT, "%s: no .png, .jpg or .jpeg file in its %lld class folders",
                          dir, (long long)n_classes);
        goto fail;
    }
    /* A subset (calibration) is spread evenly over the sorted list, so every class is in it. */
    if (max_samples > 0 && max_samples < set->n) {
        for (int64_t k = 0; k < max_samples; k++) {
            int64_t from = k * set->n / max_samples;
            char *keep = set->paths[from];
            set->paths[from] = set->paths[k];
            set->paths[k] = keep;
            labels[k] = labels[from];
        }
        for (int64_t k = max_samples; k < set->n; k++)
            free(set->paths[k]);
        set->n = max_samples;
    }
    /* The samples' size: the crop, or the first image's size (after any resize). */
    if (set->opts.crop > 0) {
        set->width = set->height = set->opts.crop;
    } else {
        uint8_t *rgb;
        int64_t w, h;
        if ((st = decode(set->paths[0], &rgb, &w, &h, diag)) != SNN_OK)
            goto fail;
        free(rgb);
        resized(w, h, set->opts.resize, &set->width, &set->height);
    }
    ds->images = set;
    ds->streamed = false;
    ds->n = set->n;
    int64_t C = opts->channels == 1 ? 1 : 3;
    ds->rank = 3;
    ds->dims[0] = C, ds->dims[1] = set->height, ds->dims[2] = set->width;
    ds->sample_size = C * set->height * set->width;
    ds->from_uint8 = true;
    if (lb) {
        lb->n = set->n;
        lb->y = labels;
    } else {
        free(labels);
    }
    free_list(classes, n_classes);
    return SNN_OK;
fail:
    snn_image_set_free(set);
    free(labels);
    free_list(classes, n_classes);
    return st;
}

const char *snn_image_path(const snn_dataset *ds, int64_t i)
{
    return ds->images && i >= 0 && i < ds->images->n ? ds->images->paths[i] : NULL;
}
