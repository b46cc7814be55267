/* IDX: big-endian header {0, 0, type, ndims}, ndims big-endian uint32 sizes, then data.
 * http://yann.lecun.com/exdb/mnist/ describes it; the first dimension is the sample count. */
#include <stdlib.h>
#include <string.h>

#include "data.h"

#include "base/dims.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t snn_values_size(snn_values_kind k)
{
    switch (k) {
    case SNN_VALUES_U8: case SNN_VALUES_I8: return 1;
    case SNN_VALUES_I16_BE: return 2;
    case SNN_VALUES_F64_BE: case SNN_VALUES_I64_LE: case SNN_VALUES_F64_LE: return 8;
    default: return 4;
    }
}

/* One loop per kind, so the common kinds (uint8, little-endian float32) run without a
 * branch per value. */
void snn_values_decode(snn_values_kind k, const uint8_t *p, int64_t n, float *dst)
{
#define DECODE(SIZE, EXPR)                                                                  \
    for (int64_t i = 0; i < n; i++, p += (SIZE)) {                                          \
        EXPR;                                                                               \
    }                                                                                       \
    return
    switch (k) {
    case SNN_VALUES_U8: DECODE(1, dst[i] = p[0]);
    case SNN_VALUES_I8: DECODE(1, dst[i] = (int8_t)p[0]);
    case SNN_VALUES_I16_BE: DECODE(2, dst[i] = (int16_t)(uint16_t)(p[0] << 8 | p[1]));
    case SNN_VALUES_I32_BE: DECODE(4, dst[i] = (float)(int32_t)be32(p));
    case SNN_VALUES_F32_BE: DECODE(4, uint32_t u = be32(p); memcpy(&dst[i], &u, 4));
    case SNN_VALUES_F64_BE: DECODE(8, uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4); double d;
                                   memcpy(&d, &u, 8); dst[i] = (float)d);
    /* .npy: little-endian, as x86 and Arm store them (the reader accepts only '<' types) */
    case SNN_VALUES_I32_LE: DECODE(4, int32_t w; memcpy(&w, p, 4); dst[i] = (float)w);
    case SNN_VALUES_I64_LE: DECODE(8, int64_t w; memcpy(&w, p, 8); dst[i] = (float)w);
    case SNN_VALUES_F32_LE: memmove(dst, p, (size_t)n * 4); return; /* in place when streamed */
    case SNN_VALUES_F64_LE: DECODE(8, double d; memcpy(&d, p, 8); dst[i] = (float)d);
    }
#undef DECODE
}

snn_status snn_idx_layout(const uint8_t *buf, size_t len, size_t total, snn_dataset *ds, snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    if (len < 4 || buf[0] != 0 || buf[1] != 0) {
        if (diag)
            diag->offset = 0;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "not an IDX file (bad magic)");
    }
    uint8_t type = buf[2], nd = buf[3];
    switch (type) {
    case 0x08: ds->kind = SNN_VALUES_U8; break;
    case 0x09: ds->kind = SNN_VALUES_I8; break;
    case 0x0B: ds->kind = SNN_VALUES_I16_BE; break;
    case 0x0C: ds->kind = SNN_VALUES_I32_BE; break;
    case 0x0D: ds->kind = SNN_VALUES_F32_BE; break;
    case 0x0E: ds->kind = SNN_VALUES_F64_BE; break;
    default:
        if (diag)
            diag->offset = 2;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "IDX element type 0x%02x is not defined", type);
    }
    if (nd < 1 || nd > SNN_MAX_RANK + 1) {
        if (diag)
            diag->offset = 3;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "IDX has %u dimensions (1 to %d accepted)", nd,
                            SNN_MAX_RANK + 1);
    }
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr) {
        if (diag)
            diag->offset = (int64_t)len;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "IDX header truncated: %zu of %zu bytes", len, hdr);
    }
    /* Bounded with zero dimensions counted as 1: a zero leading dimension must not let the
     * per-sample size (the product of the others) overflow. */
    int64_t numel = 1, dims[SNN_MAX_RANK + 1];
    for (int d = 0; d < nd; d++)
        dims[d] = be32(buf + 4 + 4 * d);
    snn_status st = snn_dims_check(dims, nd, "the IDX data", NULL, &numel, diag);
    if (st != SNN_OK)
        return st;
    size_t es = snn_values_size(ds->kind);
    if ((total - hdr) / es != (size_t)numel || (total - hdr) % es) {
        if (diag)
            diag->offset = (int64_t)total;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "IDX data has %zu bytes, dimensions need %lld",
                            total - hdr, (long long)numel * (long long)es);
    }
    ds->data_offset = (int64_t)hdr;
    snn_dataset_set_shape(ds, dims, nd);
    return SNN_OK;
}

void snn_dataset_set_shape(snn_dataset *ds, const int64_t *dims, int nd)
{
    ds->n = dims[0];
    ds->rank = nd - 1;
    ds->sample_size = 1;
    for (int d = 1; d < nd; d++) {
        ds->dims[d - 1] = dims[d];
        ds->sample_size *= dims[d];
    }
    ds->from_uint8 = ds->kind == SNN_VALUES_U8;
}

snn_status snn_dataset_decode_all(const uint8_t *buf, snn_dataset *ds, snn_diag *diag)
{
    int64_t numel = ds->n * ds->sample_size;
    ds->x = malloc((size_t)(numel ? numel : 1) * sizeof *ds->x);
    if (!ds->x)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for %lld values", (long long)numel);
    snn_values_decode(ds->kind, buf + ds->data_offset, numel, ds->x);
    return SNN_OK;
}

snn_status snn_idx_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag)
{
    snn_status st = snn_idx_layout(buf, len, len, ds, diag);
    return st == SNN_OK ? snn_dataset_decode_all(buf, ds, diag) : st;
}
