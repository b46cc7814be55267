/* Format dispatch, gzip, streaming, labels and preprocessing for the data readers. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "base/fileio.h"
#include "proto/tensorproto.h"

void snn_dataset_free(snn_dataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    if (ds->streamed)
        close(ds->fd);
    snn_image_set_free(ds->images);
    memset(ds, 0, sizeof *ds);
}

snn_status snn_dataset_check_size(const snn_dataset *ds, int64_t sample_size, const char *what,
                                  snn_diag *diag)
{
    if (ds->sample_size == sample_size)
        return SNN_OK;
    return snn_diag_set(diag, SNN_ERR_INVALID, "samples have %lld values, %s takes %lld",
                        (long long)ds->sample_size, what, (long long)sample_size);
}

void snn_labels_free(snn_labels *lb)
{
    if (!lb)
        return;
    free(lb->y);
    memset(lb, 0, sizeof *lb);
}

snn_status snn_gunzip(const uint8_t *in, size_t in_len, size_t max_bytes, uint8_t **out,
                      size_t *out_len, snn_diag *diag)
{
    *out = NULL;
    *out_len = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper */
        return snn_diag_set(diag, SNN_ERR_NOMEM, "cannot start zlib");
    size_t cap = in_len * 4 + 4096, n = 0;
    if (cap > max_bytes)
        cap = max_bytes;
    uint8_t *buf = malloc(cap ? cap : 1);
    snn_status st = SNN_OK;
    if (!buf) {
        st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    int zr = Z_OK;
    size_t fed = 0;
    while (zr != Z_STREAM_END) {
        if (n == cap) {
            if (cap >= max_bytes) {
                st = snn_diag_set(diag, SNN_ERR_LIMIT, "gzip data expands past %zu bytes", max_bytes);
                goto done;
            }
            size_t ncap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        /* zlib counts in uInt: feed and drain in pieces below 4 GiB. */
        size_t in_chunk = in_len - fed > (1u << 30) ? (1u << 30) : in_len - fed;
        size_t out_chunk = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = buf + n;
        zs.avail_out = (uInt)out_chunk;
        zr = inflate(&zs, Z_NO_FLUSH);
        fed += in_chunk - zs.avail_in;
        n += out_chunk - zs.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            if (diag)
                diag->offset = (int64_t)fed;
            st = snn_diag_set(diag, SNN_ERR_FORMAT, "gzip data is corrupt (%s)", zs.msg ? zs.msg : "zlib error");
            goto done;
        }
        if (zr == Z_BUF_ERROR && fed == in_len && zs.avail_out > 0) {
            if (diag)
                diag->offset = (int64_t)fed;
            st = snn_diag_set(diag, SNN_ERR_FORMAT, "gzip data is truncated");
            goto done;
        }
    }
done:
    inflateEnd(&zs);
    if (st != SNN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_len = n;
    return SNN_OK;
}

static bool is_gzip(const uint8_t *b, size_t len)
{
    return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

snn_status snn_read_maybe_gz(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             snn_diag *diag)
{
    uint8_t *raw;
    size_t rlen;
    snn_status st = snn_file_read_all(path, max_bytes, &raw, &rlen, diag);
    if (st != SNN_OK || !is_gzip(raw, rlen)) {
        *data = raw;
        *len = rlen;
        return st;
    }
    st = snn_gunzip(raw, rlen, max_bytes, data, len, diag);
    free(raw);
    return st;
}

/* A .pb tensor as a dataset: its leading dimension is the sample count. */
static snn_status pb_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag)
{
    snn_tensor_file tf;
    memset(ds, 0, sizeof *ds);
    snn_status st = snn_tensorproto_read_buffer(buf, len, &tf, diag);
    if (st != SNN_OK)
        return st;
    if (tf.rank < 1) {
        snn_tensor_file_free(&tf);
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, "tensor is a scalar; need at least 1-D");
    }
    int64_t numel = 1;
    for (int d = 0; d < tf.rank; d++)
        numel *= tf.dims[d];
    if (tf.dtype == SNN_DTYPE_INT64) {
        float *f = malloc((size_t)(numel ? numel : 1) * sizeof *f);
        if (!f) {
            snn_tensor_file_free(&tf);
            return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        }
        for (int64_t i = 0; i < numel; i++)
            f[i] = (float)((int64_t *)tf.data)[i];
        free(tf.data);
        tf.data = f;
    }
    ds->x = tf.data;
    tf.data = NULL;
    ds->n = tf.dims[0];
    ds->rank = tf.rank - 1;
    ds->sample_size = 1;
    for (int d = 1; d < tf.rank; d++) {
        ds->dims[d - 1] = tf.dims[d];
        ds->sample_size *= tf.dims[d];
    }
    snn_tensor_file_free(&tf);
    return SNN_OK;
}

snn_status snn_dataset_parse(const uint8_t *buf, size_t len, snn_dataset *ds, snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    if (is_gzip(buf, len)) {
        uint8_t *raw;
        size_t rlen;
        snn_status st = snn_gunzip(buf, len, SNN_DATA_MAX_BYTES, &raw, &rlen, diag);
        if (st != SNN_OK)
            return st;
        st = is_gzip(raw, rlen) ? snn_diag_set(diag, SNN_ERR_FORMAT, "gzip inside gzip")
                                : snn_dataset_parse(raw, rlen, ds, diag);
        free(raw);
        return st;
    }
    if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
        return snn_npy_parse(buf, len, ds, diag);
    if (len >= 4 && buf[0] == 0 && buf[1] == 0)
        return snn_idx_parse(buf, len, ds, diag);
    return pb_parse(buf, len, ds, diag);
}

snn_status snn_dataset_read(const char *path, snn_dataset *ds, snn_diag *diag)
{
    uint8_t *buf;
    size_t len;
    memset(ds, 0, sizeof *ds);
    snn_status st = snn_file_read_all(path, SNN_DATA_MAX_BYTES, &buf, &len, diag);
    if (st != SNN_OK)
        return st;
    st = snn_dataset_parse(buf, len, ds, diag);
    free(buf);
    return st;
}

/* Enough for any IDX header and any .npy header numpy writes (it pads them to 64 bytes; a
 * header that does not fit is read the ordinary way). */
#define STREAM_HEADER_BYTES 65536

snn_status snn_dataset_open(const char *path, snn_dataset *ds, snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return snn_dataset_read(path, ds, diag); /* says why it cannot open */
    struct stat sb;
    uint8_t head[STREAM_HEADER_BYTES];
    ssize_t got = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? pread(fd, head, sizeof head, 0) : -1;
    snn_status st = SNN_ERR_UNSUPPORTED;
    if (got >= 6 && memcmp(head, "\x93NUMPY", 6) == 0)
        st = snn_npy_layout(head, (size_t)got, (size_t)sb.st_size, ds, diag);
    else if (got >= 4 && head[0] == 0 && head[1] == 0)
        st = snn_idx_layout(head, (size_t)got, (size_t)sb.st_size, ds, diag);
    if (st == SNN_OK) {
        ds->streamed = true;
        ds->fd = fd;
        return SNN_OK;
    }
    /* gzip, .pb, a header past the first block, or an error: the whole-file reader handles it
     * and gives the message. */
    close(fd);
    return snn_dataset_read(path, ds, diag);
}

snn_status snn_dataset_get_range(const snn_dataset *ds, int64_t first, int64_t count, float *dst,
                                 snn_diag *diag)
{
    size_t S = (size_t)ds->sample_size, total = S * (size_t)count;
    if (ds->images) {
        for (int64_t k = 0; k < count; k++) {
            snn_status st = snn_image_read(ds->images, first + k, dst + (size_t)k * S, diag);
            if (st != SNN_OK)
                return st;
        }
        return SNN_OK;
    }
    if (!ds->streamed) {
        memcpy(dst, ds->x + (size_t)first * S, total * sizeof *dst);
        return SNN_OK;
    }
    size_t es = snn_values_size(ds->kind);
    off_t at = (off_t)(ds->data_offset + (int64_t)((size_t)first * S * es));
    /* Values of at most 4 bytes are read in one call into the end of dst and decoded front to
     * back in place: value k is read before float k is written, and float k never reaches a
     * value after k. Wider values go through a buffer, a block at a time. */
    uint8_t block[4096];
    size_t per = es <= 4 ? total : sizeof block / es;
    for (size_t done = 0; done < total; done += per) {
        size_t cnt = total - done < per ? total - done : per, want = cnt * es, have = 0;
        uint8_t *raw = es <= 4 ? (uint8_t *)dst + (4 - es) * total : block;
        while (have < want) {
            ssize_t r = pread(ds->fd, raw + have, want - have, at + (off_t)have);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                int64_t bad = first + (int64_t)((done * es + have) / (S * es));
                return snn_diag_set(diag, SNN_ERR_IO, "cannot read sample %lld: %s", (long long)bad,
                                    r < 0 ? strerror(errno) : "the file is shorter than when it was opened");
            }
            have += (size_t)r;
        }
        snn_values_decode(ds->kind, raw, (int64_t)cnt, dst + done);
        at += (off_t)want;
    }
    return SNN_OK;
}

snn_status snn_dataset_get(const snn_dataset *ds, int64_t i, float *dst, snn_diag *diag)
{
    return snn_dataset_get_range(ds, i, 1, dst, diag);
}

/* Size in bytes of one IDX element of type code t, 0 if the code is not defined. */
static size_t idx_elem_size(uint8_t t)
{
    switch (t) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
    }
}

snn_status snn_dataset_read_prefix(const char *path, int64_t max_samples, snn_dataset *ds,
                                   snn_diag *diag)
{
    memset(ds, 0, sizeof *ds);
    gzFile f = gzopen(path, "rb"); /* reads plain files as they are, too */
    if (!f)
        return snn_diag_set(diag, SNN_ERR_IO, "cannot open");
    uint8_t hdr[4 + 4 * (SNN_MAX_RANK + 1)];
    int got = gzread(f, hdr, 4);
    size_t es = got == 4 ? idx_elem_size(hdr[2]) : 0;
    if (got != 4 || hdr[0] || hdr[1] || !es || hdr[3] < 1 || hdr[3] > SNN_MAX_RANK + 1) {
        gzclose(f); /* not IDX: the general reader tells what it is */
        snn_status st = snn_dataset_open(path, ds, diag);
        if (st == SNN_OK && ds->n > max_samples)
            ds->n = max_samples;
        return st;
    }
    unsigned nd = hdr[3];
    snn_status st = SNN_OK;
    uint8_t *buf = NULL;
    if (gzread(f, hdr + 4, 4 * nd) != (int)(4 * nd)) {
        st = snn_diag_set(diag, SNN_ERR_FORMAT, "IDX header truncated");
        goto done;
    }
    int64_t n = (int64_t)((uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7]);
    int64_t per = 1;
    for (unsigned d = 1; d < nd; d++) {
        const uint8_t *p = hdr + 4 + 4 * d;
        int64_t v = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (v > 0 && per > SNN_MAX_NUMEL / v) {
            st = snn_diag_set(diag, SNN_ERR_LIMIT, "IDX sample is larger than %lld elements",
                              (long long)SNN_MAX_NUMEL);
            goto done;
        }
        per *= v;
    }
    int64_t take = n < max_samples ? n : max_samples;
    if (per > 0 && take > SNN_MAX_NUMEL / per) {
        st = snn_diag_set(diag, SNN_ERR_LIMIT, "%lld samples of %lld elements are too many",
                          (long long)take, (long long)per);
        goto done;
    }
    size_t hlen = 4 + 4 * (size_t)nd, body = (size_t)(take * per) * es;
    buf = malloc(hlen + (body ? body : 1));
    if (!buf) {
        st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(buf, hdr, hlen);
    buf[4] = (uint8_t)(take >> 24), buf[5] = (uint8_t)(take >> 16);
    buf[6] = (uint8_t)(take >> 8), buf[7] = (uint8_t)take;
    for (size_t done_bytes = 0; done_bytes < body;) {
        size_t chunk = body - done_bytes > (1u << 30) ? (1u << 30) : body - done_bytes;
        int r = gzread(f, buf + hlen + done_bytes, (unsigned)chunk);
        if (r <= 0) {
            st = snn_diag_set(diag, SNN_ERR_FORMAT, "IDX data ends after %zu of %zu bytes",
                              done_bytes, body);
            goto done;
        }
        done_bytes += (size_t)r;
    }
    st = snn_idx_parse(buf, hlen + body, ds, diag);
done:
    free(buf);
    gzclose(f);
    return st;
}

snn_status snn_labels_read(const char *path, snn_labels *lb, snn_diag *diag)
{
    snn_dataset ds;
    memset(lb, 0, sizeof *lb);
    snn_status st = snn_dataset_read(path, &ds, diag);
    if (st != SNN_OK)
        return st;
    if (ds.sample_size != 1) {
        snn_dataset_free(&ds);
        return snn_diag_set(diag, SNN_ERR_FORMAT, "labels must be 1-D, this has %lld values per sample",
                            (long long)ds.sample_size);
    }
    lb->y = malloc((size_t)(ds.n ? ds.n : 1) * sizeof *lb->y);
    if (!lb->y) {
        snn_dataset_free(&ds);
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < ds.n; i++) {
        float v = ds.x[i];
        if (!(v >= 0 && v < 2147483648.0f) || v != floorf(v)) {
            snn_dataset_free(&ds);
            snn_labels_free(lb);
            return snn_diag_set(diag, SNN_ERR_FORMAT, "label %lld is %g, not a class index",
                                (long long)i, (double)v);
        }
        lb->y[i] = (int32_t)v;
    }
    lb->n = ds.n;
    snn_dataset_free(&ds);
    return SNN_OK;
}

snn_status snn_preprocess_sample(const snn_dataset *ds, int64_t i, const snn_preprocess *pp,
                                 float *dst, snn_diag *diag)
{
    snn_status st = snn_dataset_get(ds, i, dst, diag);
    if (st == SNN_OK)
        snn_preprocess_values(ds, pp, dst);
    return st;
}

void snn_preprocess_values(const snn_dataset *ds, const snn_preprocess *pp, float *dst)
{
    const float *src = dst; /* element by element: in place */
    if (pp->channels > 1) {
        int64_t plane = ds->sample_size / pp->channels;
        for (int c = 0; c < pp->channels; c++) {
            float mean = pp->mean_c[c], inv_std = 1.0f / pp->std_c[c];
            for (int64_t k = c * plane; k < (c + 1) * plane; k++)
                dst[k] = (src[k] * pp->scale - mean) * inv_std;
        }
        return;
    }
    float inv_std = 1.0f / pp->std;
    for (int64_t k = 0; k < ds->sample_size; k++)
        dst[k] = (src[k] * pp->scale - pp->mean) * inv_std;
}
