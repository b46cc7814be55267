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

snn_status snn_idx_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    if (len < 4 || buf[0] != 0 || buf[1] != 0) {
        if (diag)
            diag->offset = 0;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "not an IDX file (bad magic)");
    }
    uint8_t type = buf[2], nd = buf[3];
    size_t es;
    switch (type) {
    case 0x08: case 0x09: es = 1; break;
    case 0x0B: es = 2; break;
    case 0x0C: case 0x0D: es = 4; break;
    case 0x0E: es = 8; break;
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
    if ((len - hdr) / es != (size_t)numel || (len - hdr) % es) {
        if (diag)
            diag->offset = (int64_t)len;
        return snn_diag_set(diag, SNN_ERR_FORMAT, "IDX data has %zu bytes, dimensions need %lld",
                            len - hdr, (long long)numel * (long long)es);
    }
    ds->x = malloc((size_t)(numel ? numel : 1) * sizeof *ds->x);
    if (!ds->x)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for %lld values", (long long)numel);
    const uint8_t *p = buf + hdr;
    for (int64_t i = 0; i < numel; i++, p += es) {
        float v;
        switch (type) {
        case 0x08: v = p[0]; break;
        case 0x09: v = (int8_t)p[0]; break;
        case 0x0B: v = (int16_t)(uint16_t)(p[0] << 8 | p[1]); break;
        case 0x0C: v = (float)(int32_t)be32(p); break;
        case 0x0D: {
            uint32_t u = be32(p);
            memcpy(&v, &u, 4);
            break;
        }
        default: {
            uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
            double d;
            memcpy(&d, &u, 8);
            v = (float)d;
            break;
        }
        }
        ds->x[i] = v;
    }
    ds->n = dims[0];
    ds->rank = nd - 1;
    ds->sample_size = 1;
    for (int d = 1; d < nd; d++) {
        ds->dims[d - 1] = dims[d];
        ds->sample_size *= dims[d];
    }
    ds->from_uint8 = type == 0x08;
    return SNN_OK;
}
