/* NumPy .npy: "\x93NUMPY", version, header length, a Python-literal dict
 * {'descr': '<f4', 'fortran_order': False, 'shape': (n, ...), }, then the data.
 * Format: numpy.lib.format (NEP 1). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

#include "base/dims.h"

/* Find key in the header dict; returns pointer after its ':' or NULL. */
static const char *dict_value(const char *h, size_t hl, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 <= hl; i++) {
        if ((h[i] == '\'' || h[i] == '"') && memcmp(h + i + 1, key, kl) == 0 && h[i + 1 + kl] == h[i]) {
            const char *p = h + i + kl + 2;
            while (p < h + hl && isspace((unsigned char)*p))
                p++;
            if (p < h + hl && *p == ':')
                return p + 1;
        }
    }
    return NULL;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

snn_status snn_npy_layout(const uint8_t *buf, size_t len, size_t total, snn_dataset *ds, snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return snn_diag_set(diag, SNN_ERR_FORMAT, "not a .npy file (bad magic)");
    uint8_t major = buf[6];
    size_t hl, start;
    if (major == 1) {
        hl = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return snn_diag_set(diag, SNN_ERR_FORMAT, ".npy header truncated");
        hl = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        start = 12;
    } else {
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, ".npy version %u is not supported", major);
    }
    if (hl > len - start) {
        if (diag)
            diag->offset = (int64_t)len;
        return snn_diag_set(diag, SNN_ERR_FORMAT, ".npy header says %zu bytes, file has %zu", hl,
                            len - start);
    }
    const char *h = (const char *)buf + start, *end = h + hl;
    const char *descr = dict_value(h, hl, "descr");
    const char *fortran = dict_value(h, hl, "fortran_order");
    const char *shape = dict_value(h, hl, "shape");
    if (!descr || !fortran || !shape)
        return snn_diag_set(diag, SNN_ERR_FORMAT, ".npy header lacks descr, fortran_order or shape");
    descr = skip_ws(descr, end);
    char dt[8] = {0};
    if (descr >= end || (*descr != '\'' && *descr != '"'))
        return snn_diag_set(diag, SNN_ERR_FORMAT, ".npy descr is not a string");
    for (int i = 0; i < 7 && descr + 1 + i < end && descr[1 + i] != *descr; i++)
        dt[i] = descr[1 + i];
    if (strcmp(dt, "|u1") == 0 || strcmp(dt, "<u1") == 0) ds->kind = SNN_VALUES_U8;
    else if (strcmp(dt, "<f4") == 0) ds->kind = SNN_VALUES_F32_LE;
    else if (strcmp(dt, "<f8") == 0) ds->kind = SNN_VALUES_F64_LE;
    else if (strcmp(dt, "<i8") == 0) ds->kind = SNN_VALUES_I64_LE;
    else if (strcmp(dt, "<i4") == 0) ds->kind = SNN_VALUES_I32_LE;
    else
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED,
                            ".npy dtype '%s' is not supported (uint8, float32, float64, int32, int64)", dt);
    fortran = skip_ws(fortran, end);
    if ((size_t)(end - fortran) >= 4 && memcmp(fortran, "True", 4) == 0)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, ".npy in Fortran order; save with C order");
    shape = skip_ws(shape, end);
    if (shape >= end || *shape != '(')
        return snn_diag_set(diag, SNN_ERR_FORMAT, ".npy shape is not a tuple");
    int64_t dims[SNN_MAX_RANK + 1], numel = 1;
    int nd = 0;
    const char *p = shape + 1;
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == ')')
            break;
        if (p >= end || !isdigit((unsigned char)*p))
            return snn_diag_set(diag, SNN_ERR_FORMAT, ".npy shape is malformed");
        int64_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (v > SNN_MAX_NUMEL)
                return snn_diag_set(diag, SNN_ERR_LIMIT, ".npy dimension too large");
            v = v * 10 + (*p++ - '0');
        }
        if (nd == SNN_MAX_RANK + 1)
            return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, ".npy rank above %d", SNN_MAX_RANK + 1);
        dims[nd++] = v;
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
    }
    if (nd == 0)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, ".npy holds a scalar; need at least 1-D");
    snn_status st = snn_dims_check(dims, nd, "the .npy array", NULL, &numel, diag);
    if (st != SNN_OK)
        return st;
    size_t es = snn_values_size(ds->kind), data_len = total - start - hl;
    if (data_len % es || data_len / es != (size_t)numel) {
        if (diag)
            diag->offset = (int64_t)total;
        return snn_diag_set(diag, SNN_ERR_FORMAT, ".npy data has %zu bytes, shape needs %lld",
                            data_len, (long long)numel * (long long)es);
    }
    ds->data_offset = (int64_t)(start + hl);
    snn_dataset_set_shape(ds, dims, nd);
    return SNN_OK;
}

snn_status snn_npy_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag)
{
    snn_status st = snn_npy_layout(buf, len, len, ds, diag);
    return st == SNN_OK ? snn_dataset_decode_all(buf, ds, diag) : st;
}
