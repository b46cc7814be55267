/* Synthetic calibration images for a conversion without data: half uniform noise, half
 * smoothed noise, as raw bytes 0..255 (docs/models.md, "Without calibration data", measures
 * the kinds and their mix). Deterministic: a fixed generator, the same set on every machine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

/* xorshift64*: uniform in [0, 1). */
static double uniform01(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* dst[i * stride] = the Gaussian kernel k (radius r) over src[.. * stride], i < n, edges clamped. */
static void blur_line(const float *src, float *dst, int64_t n, int64_t stride, const double *k, int r)
{
    for (int64_t i = 0; i < n; i++) {
        double acc = 0.0;
        for (int d = -r; d <= r; d++) {
            int64_t j = i + d < 0 ? 0 : i + d >= n ? n - 1 : i + d;
            acc += k[d + r] * (double)src[j * stride];
        }
        dst[i * stride] = (float)acc;
    }
}

/* Blur a (h, w) plane with a Gaussian of sigma pixels (rows into tmp, then columns back), then
 * stretch it to [0, 255]. tmp: h * w floats. */
static void smooth_plane(float *p, float *tmp, int64_t h, int64_t w, double sigma)
{
    int r = (int)ceil(3.0 * sigma);
    double k[64];
    double sum = 0.0;
    for (int d = -r; d <= r; d++)
        sum += k[d + r] = exp(-(double)d * d / (2.0 * sigma * sigma));
    for (int d = 0; d <= 2 * r; d++)
        k[d] /= sum;
    for (int64_t y = 0; y < h; y++)
        blur_line(p + y * w, tmp + y * w, w, 1, k, r);
    for (int64_t x = 0; x < w; x++)
        blur_line(tmp + x, p + x, h, w, k, r);
    float lo = INFINITY, hi = -INFINITY;
    for (int64_t q = 0; q < h * w; q++) {
        lo = fminf(lo, p[q]);
        hi = fmaxf(hi, p[q]);
    }
    float scale = hi > lo ? 255.0f / (hi - lo) : 0.0f;
    for (int64_t q = 0; q < h * w; q++)
        p[q] = roundf((p[q] - lo) * scale);
}

snn_status snn_dataset_synthetic(snn_dataset *ds, const int64_t *dims, int rank, int64_t n, snn_synthetic_kind kind,
                                 snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    if (rank < 1 || rank > SNN_MAX_RANK || n < 1)
        return snn_diag_set(diag, SNN_ERR_INVALID, "synthetic data needs a sample shape and a count");
    int64_t full[SNN_MAX_RANK + 1];
    full[0] = n;
    memcpy(full + 1, dims, (size_t)rank * sizeof *dims);
    ds->kind = SNN_VALUES_U8;
    snn_dataset_set_shape(ds, full, rank + 1);
    /* (C, H, W) planes: the last two dimensions are the image, the rest its channels */
    int64_t h = rank >= 2 ? dims[rank - 2] : 1, w = dims[rank - 1];
    int64_t planes = ds->sample_size / (h * w);
    ds->x = malloc((size_t)(n * ds->sample_size) * sizeof *ds->x);
    float *tmp = malloc((size_t)(h * w) * sizeof *tmp);
    if (!ds->x || !tmp) {
        free(tmp);
        snn_dataset_free(ds);
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for %lld synthetic samples", (long long)n);
    }
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int64_t i = 0; i < n; i++) {
        float *x = ds->x + i * ds->sample_size;
        /* uniform raw bytes; the second half (or every sample of SNN_SYNTH_SMOOTH) smoothed */
        bool smooth = kind == SNN_SYNTH_SMOOTH || (kind == SNN_SYNTH_MIX && i >= n / 2);
        for (int64_t k = 0; k < ds->sample_size; k++)
            x[k] = smooth ? (float)uniform01(&s) : floorf((float)(256.0 * uniform01(&s)));
        if (smooth && h * w > 1)
            for (int64_t c = 0; c < planes; c++)
                smooth_plane(x + c * h * w, tmp, h, w, 2.0);
    }
    free(tmp);
    ds->from_uint8 = true;
    return SNN_OK;
}
