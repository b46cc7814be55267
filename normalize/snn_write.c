/* snn_net -> .snn bytes (docs/snn-format.md): header, section table, then META, LAYR, PROJ,
 * NAME and WGHT, each 64-byte aligned with its CRC-32 (zlib's). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/bigmem.h"
#include "base/fileio.h"
#include "snn_net.h"

static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}
static void wrf32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    wr32(p, u);
}

static size_t align64(size_t n)
{
    return (n + SNN_ALIGN - 1) / SNN_ALIGN * SNN_ALIGN;
}

/* Weights are packed with every array starting on 16 floats (64 bytes). */
typedef struct {
    float *data;
    uint32_t n, cap;
} wpack;

static int64_t pack(wpack *w, const float *src, uint32_t n)
{
    uint32_t off = (w->n + 15) / 16 * 16;
    if ((uint64_t)off + n > UINT32_MAX / 2)
        return -1;
    if (off + n > w->cap) {
        uint32_t cap = w->cap ? w->cap : 4096;
        while (cap < off + n)
            cap *= 2;
        float *d = snn_big_realloc(w->data, (size_t)cap * sizeof *d);
        if (!d)
            return -1;
        w->data = d;
        w->cap = cap;
    }
    memset(w->data + w->n, 0, (size_t)(off - w->n) * sizeof *w->data);
    if (n)
        memcpy(w->data + off, src, (size_t)n * sizeof *src);
    w->n = off + n;
    return off;
}

/* A growing byte array: QWGT's weights (arrays on 64 bytes), QPAR's int32s (packed). */
typedef struct {
    uint8_t *data;
    size_t n, cap;
} bpack;

/* Append n elements of size es at a multiple of align bytes; returns the offset in elements,
 * or -1. */
static int64_t bpack_add(bpack *b, const void *src, size_t n, size_t es, size_t align)
{
    size_t off = (b->n + align - 1) / align * align, end = off + n * es;
    if (end / es > UINT32_MAX / 2)
        return -1;
    if (end > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < end)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d, b->cap = cap;
    }
    memset(b->data + b->n, 0, off - b->n);
    if (n)
        memcpy(b->data + off, src, n * es);
    b->n = end;
    return (int64_t)(off / es);
}

/* Projection p's weights in the file's integer type, appended to QWGT. */
static int64_t pack_qweights(bpack *q, const net_proj *p, uint32_t dtype)
{
    if (dtype == SNN_DTYPE_I16) {
        uint8_t *le = malloc((p->n_w ? p->n_w : 1) * 2u);
        if (!le)
            return -1;
        for (uint32_t i = 0; i < p->n_w; i++)
            wr16(le + 2 * i, (uint16_t)p->wq[i]);
        int64_t off = bpack_add(q, le, p->n_w, 2, SNN_ALIGN);
        free(le);
        return off;
    }
    int8_t *b = malloc(p->n_w ? p->n_w : 1);
    if (!b)
        return -1;
    for (uint32_t i = 0; i < p->n_w; i++)
        b[i] = (int8_t)p->wq[i];
    int64_t off = bpack_add(q, b, p->n_w, 1, SNN_ALIGN);
    free(b);
    return off;
}

/* A layer's biases and thresholds; its initial membranes are derived (SNN_FEATURE_QINIT). */
static int64_t pack_qparams(bpack *q, const net_layer *L)
{
    uint8_t *le = malloc(8u * L->c);
    if (!le)
        return -1;
    for (uint32_t i = 0; i < 2 * L->c; i++)
        wr32(le + 4 * i, (uint32_t)L->qparam[i]);
    int64_t off = bpack_add(q, le, 2u * L->c, 4, 4); /* read as scalars: no padding */
    free(le);
    return off;
}

snn_status snn_net_serialize(const snn_net *net, uint8_t **out, size_t *len, snn_diag *diag)
{
    *out = NULL;
    *len = 0;
    wpack wp = {NULL, 0, 0};
    bpack qw = {NULL, 0, 0}, qp = {NULL, 0, 0};
    bool integer = net->weight_dtype != SNN_DTYPE_F32;
    uint32_t nl = net->n_layers, np = net->n_proj;
    uint8_t *layr = calloc(nl ? nl : 1, SNN_LAYER_SIZE), *proj = calloc(np ? np : 1, SNN_PROJ_SIZE);
    uint8_t *names = calloc(nl ? nl : 1, SNN_NAME_SIZE), meta[SNN_META_SIZE] = {0};
    uint8_t *buf = NULL;
    snn_status st = SNN_OK;
    /* SCAL and TENS (diagnostics) for float files whose every layer knows its scales. */
    float *scales = NULL, *vini = NULL; /* (n_vini) */
    uint32_t n_vini = 0;
    bool has_vini = false;
    uint8_t *tens = NULL;
    uint32_t n_scales = 0;
    bool diag_scales = !integer && nl > 0;
    for (uint32_t i = 0; i < nl && diag_scales; i++) {
        diag_scales = net->layers[i].lambda != NULL;
        n_scales += net->layers[i].c;
    }
    if (diag_scales) {
        scales = malloc((size_t)n_scales * sizeof *scales);
        tens = calloc(nl, SNN_TENS_NAME_SIZE);
        if (!scales || !tens)
            goto nomem;
        for (uint32_t i = 0, k = 0; i < nl; i++) {
            const net_layer *L = &net->layers[i];
            for (uint32_t c = 0; c < L->c; c++)
                scales[k++] = L->lambda[c];
            memcpy(tens + (size_t)i * SNN_TENS_NAME_SIZE, L->tensor_name,
                   strnlen(L->tensor_name, SNN_TENS_NAME_SIZE - 1));
        }
    }
    /* VINI (1.6): every neuron's initial membrane, when a layer has its own (potential
     * correction); the others' are what the runtime would take without it. */
    for (uint32_t i = 0; i < nl; i++)
        if (net->layers[i].kind == SNN_LAYER_NEURON) {
            has_vini |= net->layers[i].v0 != NULL;
            n_vini += net->layers[i].c * net->layers[i].h * net->layers[i].w;
        }
    if (has_vini && (integer || net->coding == SNN_CODING_TTFS)) {
        st = snn_diag_set(diag, SNN_ERR_UNSUPPORTED,
                          "per-neuron initial membranes (potential correction) need a float32 rate-coded file");
        goto done;
    }
    if (has_vini) {
        if (!(vini = malloc((size_t)n_vini * sizeof *vini)))
            goto nomem;
        for (uint32_t i = 0, k = 0; i < nl; i++) {
            const net_layer *L = &net->layers[i];
            if (L->kind != SNN_LAYER_NEURON)
                continue;
            uint32_t size = L->c * L->h * L->w;
            bool is_out = L->flags & SNN_LAYER_F_OUTPUT;
            for (uint32_t j = 0; j < size; j++)
                vini[k++] = L->v0 ? L->v0[j] : is_out ? 0.0f : net->v_init * L->threshold[j % L->c];
        }
    }
    if (!layr || !proj || !names)
        goto nomem;
    /* Room for every float array at once: grown by doubling, the weights were copied about
     * twice over on their way (VGG-11: 37 MB). An upper bound: each array and its padding. */
    uint64_t room = 0;
    for (uint32_t i = 0; i < np && !integer; i++)
        room += (uint64_t)net->proj[i].n_w + 16;
    for (uint32_t i = 0; i < nl; i++)
        room += 2 * ((uint64_t)net->layers[i].c + 16);
    if (room < UINT32_MAX / 2 && room > 4096) {
        if (!(wp.data = snn_big_malloc((size_t)room * sizeof *wp.data)))
            goto nomem;
        wp.cap = (uint32_t)room;
    }
    for (uint32_t i = 0; i < np; i++) {
        const net_proj *p = &net->proj[i];
        uint8_t *r = proj + (size_t)i * SNN_PROJ_SIZE;
        int64_t off = integer ? pack_qweights(&qw, p, net->weight_dtype) : pack(&wp, p->w, p->n_w);
        if (off < 0)
            goto nomem;
        wr32(r + SNN_PROJ_KIND, p->kind);
        wr32(r + SNN_PROJ_SOURCE, p->source);
        wr32(r + SNN_PROJ_WEIGHTS, (uint32_t)off);
        wr32(r + SNN_PROJ_N_WEIGHTS, p->n_w);
        const uint16_t f[] = {p->kh, p->kw, p->sh, p->sw, p->dh, p->dw, p->pt, p->pl, p->pb, p->pr, p->group};
        for (int k = 0; k < 11; k++)
            wr16(r + SNN_PROJ_KH + 2 * k, f[k]);
        wr32(r + SNN_PROJ_SRC_C, p->src_c);
        wr32(r + SNN_PROJ_SRC_H, p->src_h);
        wr32(r + SNN_PROJ_SRC_W, p->src_w);
    }
    for (uint32_t i = 0; i < nl; i++) {
        const net_layer *L = &net->layers[i];
        uint8_t *r = layr + (size_t)i * SNN_LAYER_SIZE;
        wr32(r + SNN_LAYER_KIND, L->kind);
        wr32(r + SNN_LAYER_FLAGS, L->flags);
        wr32(r + SNN_LAYER_C, L->c);
        wr32(r + SNN_LAYER_H, L->h);
        wr32(r + SNN_LAYER_W, L->w);
        wr32(r + SNN_LAYER_PROJ_FIRST, L->proj_first);
        wr32(r + SNN_LAYER_PROJ_COUNT, L->proj_count);
        if (L->kind == SNN_LAYER_NEURON && integer) {
            /* Integers only; the output's units, so that its membranes read as floats. */
            int64_t qo = pack_qparams(&qp, L), uo = 0;
            if (L->flags & SNN_LAYER_F_OUTPUT)
                uo = pack(&wp, L->unit, L->c);
            if (uo < 0 || qo < 0)
                goto nomem;
            wr32(r + SNN_LAYER_UNIT, (uint32_t)uo);
            wr32(r + SNN_LAYER_QPARAM, (uint32_t)qo);
        } else if (L->kind == SNN_LAYER_NEURON) {
            int64_t bo = pack(&wp, L->bias, L->c), to = pack(&wp, L->threshold, L->c);
            if (bo < 0 || to < 0)
                goto nomem;
            wr32(r + SNN_LAYER_BIAS, (uint32_t)bo);
            wr32(r + SNN_LAYER_THRESH, (uint32_t)to);
        }
        wr32(r + SNN_LAYER_SOURCE, L->source);
        const uint16_t f[] = {L->kh, L->kw, L->sh, L->sw, L->pt, L->pl, L->pb, L->pr};
        for (int k = 0; k < 8; k++)
            wr16(r + SNN_LAYER_KH + 2 * k, f[k]);
        memcpy(names + (size_t)i * SNN_NAME_SIZE, L->name, strnlen(L->name, SNN_NAME_SIZE - 1));
    }
    wr32(meta + SNN_META_INPUT_C, net->input_c);
    wr32(meta + SNN_META_INPUT_H, net->input_h);
    wr32(meta + SNN_META_INPUT_W, net->input_w);
    wrf32(meta + SNN_META_PRE_SCALE, net->pre_scale);
    wrf32(meta + SNN_META_PRE_MEAN, net->pre_mean);
    wrf32(meta + SNN_META_PRE_STD, net->pre_std);
    wr32(meta + SNN_META_N_CLASSES, net->n_classes);
    wr32(meta + SNN_META_N_LAYERS, nl);
    wr32(meta + SNN_META_N_PROJ, np);
    wr32(meta + SNN_META_CODING, net->coding);
    wr32(meta + SNN_META_STEPS, net->steps);
    wr32(meta + SNN_META_RESET, net->reset);
    wrf32(meta + SNN_META_V_INIT, net->v_init);
    wr32(meta + SNN_META_READOUT, net->readout);
    bool channel_prep = net->pre_channels > 1;
    wr32(meta + SNN_META_FEATURES, (net->coding == SNN_CODING_TTFS ? SNN_FEATURE_TTFS : 0) |
                                       (net->signed_spikes ? SNN_FEATURE_SIGNED : 0) |
                                       (channel_prep ? SNN_FEATURE_CHANNEL_PREP : 0) |
                                       (integer ? SNN_FEATURE_INT : 0) |
                                       (net->burst ? SNN_FEATURE_BURST : 0) |
                                       (has_vini ? SNN_FEATURE_VINIT : 0) |
                                       (integer ? SNN_FEATURE_QINIT : 0));
    wr32(meta + SNN_META_BURST, net->burst);
    /* PREP: C means, then C stds. */
    float prep[2 * SNN_MAX_PREP_CHANNELS];
    uint32_t pc = channel_prep ? net->pre_channels : 0;
    for (uint32_t c = 0; c < pc; c++)
        prep[c] = net->pre_mean_c[c], prep[pc + c] = net->pre_std_c[c];
    wrf32(meta + SNN_META_ANN_ACC, net->ann_accuracy);
    wr32(meta + SNN_META_NORM, net->norm);
    wrf32(meta + SNN_META_PERCENTILE, net->percentile);
    wr32(meta + SNN_META_CALIB_COUNT, net->calib_count);
    wr32(meta + SNN_META_TARGET_STEPS, net->target_steps);
    wr32(meta + SNN_META_CORRECT_STEPS, net->correct_steps);
    wr32(meta + SNN_META_CORRECT_COUNT, net->correct_count);
    wr32(meta + SNN_META_CALIB_SOURCE, net->calib_source);
    memcpy(meta + SNN_META_SHA256, net->sha256, 32);
    wr32(meta + SNN_META_WEIGHT_DTYPE, net->weight_dtype);
    wr32(meta + SNN_META_INPUT_FRAC, integer ? net->input_frac : 0);
    wrf32(meta + SNN_META_TTFS_IN_LO, net->ttfs_in_lo);
    wrf32(meta + SNN_META_TTFS_IN_HI, net->ttfs_in_hi);

    struct {
        uint32_t tag, count;
        const uint8_t *data;
        size_t size;
    } sec[11];
    int n_sec = 0;
#define SECTION(TAG, COUNT, DATA, SIZE) \
    sec[n_sec].tag = TAG, sec[n_sec].count = COUNT, sec[n_sec].data = DATA, sec[n_sec].size = SIZE, n_sec++
    SECTION(SNN_TAG_META, 1, meta, SNN_META_SIZE);
    SECTION(SNN_TAG_LAYR, nl, layr, (size_t)nl * SNN_LAYER_SIZE);
    SECTION(SNN_TAG_PROJ, np, proj, (size_t)np * SNN_PROJ_SIZE);
    SECTION(SNN_TAG_NAME, nl, names, (size_t)nl * SNN_NAME_SIZE);
    /* Sections that exist only with their feature: older files stay as they were. */
    if (channel_prep)
        SECTION(SNN_TAG_PREP, pc, (const uint8_t *)prep, (size_t)pc * 2 * sizeof(float));
    SECTION(SNN_TAG_WGHT, wp.n, (const uint8_t *)wp.data, (size_t)wp.n * sizeof(float));
    if (diag_scales) {
        SECTION(SNN_TAG_SCAL, n_scales, (const uint8_t *)scales, (size_t)n_scales * sizeof(float));
        SECTION(SNN_TAG_TENS, nl, tens, (size_t)nl * SNN_TENS_NAME_SIZE);
    }
    if (has_vini)
        SECTION(SNN_TAG_VINI, n_vini, (const uint8_t *)vini, (size_t)n_vini * sizeof(float));
    if (integer) {
        size_t es = net->weight_dtype == SNN_DTYPE_I8 ? 1 : 2;
        SECTION(SNN_TAG_QWGT, (uint32_t)(qw.n / es), qw.data, qw.n);
        SECTION(SNN_TAG_QPAR, (uint32_t)(qp.n / 4), qp.data, qp.n);
    }
#undef SECTION
    size_t offs[11], pos = align64(SNN_HDR_SIZE + (size_t)n_sec * SNN_SEC_ENTRY_SIZE);
    for (int i = 0; i < n_sec; i++) {
        offs[i] = pos;
        pos = align64(pos + sec[i].size);
    }
    size_t total = offs[n_sec - 1] + sec[n_sec - 1].size;
    buf = snn_big_calloc(total, 1);
    if (!buf)
        goto nomem;
    memcpy(buf + SNN_HDR_MAGIC, SNN_MAGIC, SNN_MAGIC_LEN);
    wr16(buf + SNN_HDR_MAJOR, SNN_VERSION_MAJOR);
    /* 1.5 fields; SCAL and TENS alone do not count: every reader skips sections it does not know */
    bool tuned = net->target_steps || net->correct_steps || net->burst || net->calib_source;
    /* the oldest minor that describes the file */
    wr16(buf + SNN_HDR_MINOR, integer ? 7 : has_vini ? 6 : tuned ? 5 : channel_prep ? 3 : 2);
    wr32(buf + SNN_HDR_HEADER_SIZE, SNN_HDR_SIZE);
    wr32(buf + SNN_HDR_N_SECTIONS, (uint32_t)n_sec);
    wr32(buf + SNN_HDR_TABLE_OFFSET, SNN_HDR_SIZE);
    wr64(buf + SNN_HDR_FILE_SIZE, total);
    for (int i = 0; i < n_sec; i++) {
        uint8_t *e = buf + SNN_HDR_SIZE + i * SNN_SEC_ENTRY_SIZE;
        if (sec[i].size)
            memcpy(buf + offs[i], sec[i].data, sec[i].size);
        wr32(e + SNN_SEC_TAG, sec[i].tag);
        wr64(e + SNN_SEC_OFFSET, offs[i]);
        wr64(e + SNN_SEC_SIZE, sec[i].size);
        wr32(e + SNN_SEC_CRC, (uint32_t)crc32(0L, buf + offs[i], (uInt)sec[i].size));
        wr32(e + SNN_SEC_COUNT, sec[i].count);
    }
    /* Header CRC: the header with this field zero, then the section table. */
    uint32_t crc = (uint32_t)crc32(0L, buf, SNN_HDR_SIZE);
    crc = (uint32_t)crc32(crc, buf + SNN_HDR_SIZE, (uInt)(n_sec * SNN_SEC_ENTRY_SIZE));
    wr32(buf + SNN_HDR_CRC, crc);
    *out = buf;
    *len = total;
    buf = NULL;
    goto done;
nomem:
    st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory writing the SNN");
done:
    free(buf);
    free(layr);
    free(proj);
    free(names);
    free(scales);
    free(vini);
    free(tens);
    free(wp.data);
    free(qw.data);
    free(qp.data);
    return st;
}

snn_status snn_net_write(const snn_net *net, const char *path, snn_diag *diag)
{
    uint8_t *buf;
    size_t len;
    snn_status st = snn_net_serialize(net, &buf, &len, diag);
    if (st != SNN_OK)
        return st;
    st = snn_file_write_atomic(path, buf, len, diag);
    free(buf);
    return st;
}
