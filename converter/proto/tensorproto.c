/* TensorProto <-> arrays. Every integer type becomes int64 and every float type float32;
 * each value field's length is checked against the shape before anything is copied. */
#include "tensorproto.h"
#include "tensorproto_pb.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/dims.h"
#include "base/fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is read as little-endian: add byte swapping for this host"
#endif

const char *snn_onnx_dtype_name(int32_t dt)
{
    static const char *const names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16",
                                        "INT16", "INT32", "INT64", "STRING", "BOOL", "FLOAT16",
                                        "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128",
                                        "BFLOAT16"};
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof names[0]) ? names[dt] : "unknown";
}

static float half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

static float bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

snn_status snn_tensorproto_convert(const Onnx__TensorProto *tp, const char *where, snn_dtype *dt,
                                   int *rank, int64_t *dims, void **out, snn_diag *diag)
{
    *out = NULL;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, where,
                           "tensor '%s' keeps its data in an external file; save the model with "
                           "the weights inside", where);
    if (tp->segment)
        return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, where, "tensor '%s' is segmented", where);
    if (tp->n_dims > SNN_MAX_RANK)
        return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, where, "tensor '%s' has rank %zu (max %d)",
                           where, tp->n_dims, SNN_MAX_RANK);
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return snn_diag_at(diag, SNN_ERR_FORMAT, where, "tensor '%s' has negative dimension %lld",
                               where, (long long)tp->dims[i]);
        dims[i] = tp->dims[i];
    }
    char what[200];
    snprintf(what, sizeof what, "tensor '%.150s'", where);
    snn_status st = snn_dims_check(dims, (int)tp->n_dims, what, where, &numel, diag);
    if (st != SNN_OK)
        return st;
    *rank = (int)tp->n_dims;
    int32_t type = tp->has_data_type ? tp->data_type : 0;
    size_t esz;
    bool is_float = false;
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: esz = 4; is_float = true; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: esz = 8; is_float = true; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: esz = 2; is_float = true; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: esz = 8; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: esz = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: esz = 2; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: esz = 1; break;
    default:
        return snn_diag_at(diag, SNN_ERR_UNSUPPORTED, where, "tensor '%s' has element type %s",
                           where, snn_onnx_dtype_name(type));
    }
    *dt = is_float ? SNN_DTYPE_FLOAT : SNN_DTYPE_INT64;
    /* Which field carries the values, and does its length match the shape? */
    size_t have;
    const char *field;
    if (tp->has_raw_data) {
        have = tp->raw_data.len / esz;
        field = "raw_data";
        if (tp->raw_data.len % esz != 0 || have != (size_t)numel)
            return snn_diag_at(diag, SNN_ERR_FORMAT, where,
                               "tensor '%s': raw_data has %zu bytes, shape needs %lld x %zu",
                               where, tp->raw_data.len, (long long)numel, esz);
    } else {
        switch (type) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: have = tp->n_float_data; field = "float_data"; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: have = tp->n_double_data; field = "double_data"; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: have = tp->n_int64_data; field = "int64_data"; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: have = tp->n_uint64_data; field = "uint64_data"; break;
        default: have = tp->n_int32_data; field = "int32_data"; break;
        }
        if (have != (size_t)numel)
            return snn_diag_at(diag, SNN_ERR_FORMAT, where,
                               "tensor '%s': %s has %zu values, shape needs %lld", where, field,
                               have, (long long)numel);
    }
    void *data = snn_big_malloc((size_t)(numel ? numel : 1) * snn_dtype_size(*dt));
    if (!data)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for tensor '%s'", where);
    float *f = data;
    int64_t *iv = data;
    const uint8_t *raw = tp->has_raw_data ? tp->raw_data.data : NULL;
    for (int64_t k = 0; k < numel; k++) {
        const uint8_t *r = raw ? raw + (size_t)k * esz : NULL;
        switch (type) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            if (r) memcpy(&f[k], r, 4); else f[k] = tp->float_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
            double d;
            if (r) memcpy(&d, r, 8); else d = tp->double_data[k];
            f[k] = (float)d;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: {
            uint16_t h;
            if (r) memcpy(&h, r, 2); else h = (uint16_t)tp->int32_data[k];
            f[k] = type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ? half_to_float(h) : bf16_to_float(h);
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            if (r) memcpy(&iv[k], r, 8); else iv[k] = tp->int64_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: {
            uint64_t u = 0;
            if (r) memcpy(&u, r, esz); else u = tp->uint64_data[k];
            iv[k] = (int64_t)u;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
            int32_t v;
            if (r) memcpy(&v, r, 4); else v = tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: {
            int16_t v;
            if (r) memcpy(&v, r, 2); else v = (int16_t)tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: {
            uint16_t v;
            if (r) memcpy(&v, r, 2); else v = (uint16_t)tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
            iv[k] = r ? (int8_t)r[0] : (int8_t)tp->int32_data[k];
            break;
        default: /* UINT8, BOOL */
            iv[k] = r ? r[0] : (uint8_t)tp->int32_data[k];
            break;
        }
    }
    *out = data;
    return SNN_OK;
}

void snn_tensor_file_free(snn_tensor_file *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->data);
    memset(t, 0, sizeof *t);
}

snn_status snn_tensorproto_read_buffer(const uint8_t *buf, size_t len, snn_tensor_file *t,
                                       snn_diag *diag)
{
    memset(t, 0, sizeof *t);
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!tp)
        return snn_diag_set(diag, SNN_ERR_FORMAT, "not a valid ONNX TensorProto: truncated or corrupt");
    const char *name = tp->name ? tp->name : "";
    snn_status st = snn_tensorproto_convert(tp, name, &t->dtype, &t->rank, t->dims, &t->data, diag);
    if (st == SNN_OK) {
        size_t n = strlen(name) + 1;
        t->name = malloc(n);
        if (!t->name)
            st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        else
            memcpy(t->name, name, n);
    }
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (st != SNN_OK)
        snn_tensor_file_free(t);
    return st;
}

snn_status snn_tensorproto_read_file(const char *path, snn_tensor_file *t, snn_diag *diag)
{
    uint8_t *buf;
    size_t len;
    memset(t, 0, sizeof *t);
    snn_status st = snn_file_read_all(path, SNN_PROTO_MAX_BYTES, &buf, &len, diag);
    if (st != SNN_OK)
        return st;
    st = snn_tensorproto_read_buffer(buf, len, t, diag);
    free(buf);
    return st;
}

snn_status snn_tensorproto_write_file(const char *path, const char *name, int rank,
                                      const int64_t *dims, const float *data, snn_diag *diag)
{
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t numel = 1;
    for (int i = 0; i < rank; i++)
        numel *= dims[i];
    tp.n_dims = (size_t)rank;
    tp.dims = (int64_t *)(uintptr_t)dims;
    tp.has_data_type = 1;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp.name = (char *)(uintptr_t)name;
    tp.has_raw_data = 1;
    tp.raw_data.len = (size_t)numel * sizeof(float);
    tp.raw_data.data = (uint8_t *)(uintptr_t)data;
    size_t size = onnx__tensor_proto__get_packed_size(&tp);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    onnx__tensor_proto__pack(&tp, buf);
    snn_status st = snn_file_write_atomic(path, buf, size, diag);
    free(buf);
    return st;
}
