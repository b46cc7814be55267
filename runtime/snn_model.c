/* Loading a .snn file: every field is checked here, once, so that the simulation loop can
 * index without checks. The spec is docs/snn-format.md. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "snn_runtime.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static float rdf32(const uint8_t *p)
{
    uint32_t u = rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* FAIL(d, status, offset, fmt, ...): fill the caller's diagnostic and return status. A device
 * build (-DSNN_NO_MESSAGES) keeps the status and the byte offset and leaves every message text
 * and vsnprintf out of the binary; d->msg is then empty. */
#ifdef SNN_NO_MESSAGES
static snn_rt_status fail(snn_rt_diag *d, snn_rt_status st, int64_t offset)
{
    if (d) {
        d->msg[0] = '\0';
        d->offset = offset;
    }
    return st;
}
#define FAIL(d, st, offset, ...) fail(d, st, offset)
#else
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static snn_rt_status fail(snn_rt_diag *d, snn_rt_status st, int64_t offset, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
        d->offset = offset;
    }
    return st;
}
#define FAIL(d, st, offset, ...) fail(d, st, offset, __VA_ARGS__)
#endif

const char *snn_rt_status_name(snn_rt_status st)
{
    switch (st) {
    case SNN_RT_OK: return "ok";
    case SNN_RT_ERR_FORMAT: return "format error";
    case SNN_RT_ERR_VERSION: return "unsupported version";
    case SNN_RT_ERR_CRC: return "checksum mismatch";
    case SNN_RT_ERR_ARG: return "bad argument";
    }
    return "unknown";
}

typedef struct {
    const uint8_t *p;
    uint64_t offset, size;
    uint32_t count;
    bool present;
} section;

/* Product of three dimensions if every one is >= 1 and the product fits SNN_MAX_NEURONS. */
static uint32_t shape_size(uint32_t c, uint32_t h, uint32_t w)
{
    if (c == 0 || h == 0 || w == 0)
        return 0;
    uint64_t n = (uint64_t)c * h * w;
    return n > SNN_MAX_NEURONS ? 0 : (uint32_t)n;
}

/* Output size of a window op along one axis; 0 when it does not fit. */
static uint32_t window_out(uint32_t in, uint32_t k, uint32_t s, uint32_t d, uint32_t pa, uint32_t pb)
{
    if (k == 0 || s == 0 || d == 0)
        return 0;
    uint64_t ext = (uint64_t)(k - 1) * d + 1, span = (uint64_t)in + pa + pb;
    if (span < ext)
        return 0;
    return (uint32_t)((span - ext) / s + 1);
}

/* The sections a reader knows; others are skipped. */
typedef struct {
    section meta, layr, proj, wght, name, prep, qwgt, qpar, scal, tens, vini;
} sections;

static snn_rt_status read_sections(const uint8_t *b, size_t len, sections *x, snn_rt_diag *d)
{
    uint32_t n_sec = rd32(b + SNN_HDR_N_SECTIONS);
    if (rd32(b + SNN_HDR_HEADER_SIZE) != SNN_HDR_SIZE || rd32(b + SNN_HDR_TABLE_OFFSET) != SNN_HDR_SIZE)
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_HEADER_SIZE, "header size or table offset is not 64");
    if (n_sec == 0 || n_sec > SNN_MAX_SECTIONS)
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_N_SECTIONS, "%" PRIu32 " sections (1 to %d allowed)", n_sec,
                    SNN_MAX_SECTIONS);
    uint64_t table_end = SNN_HDR_SIZE + (uint64_t)n_sec * SNN_SEC_ENTRY_SIZE;
    if (table_end > len)
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)len, "section table runs past the end of the file");
    /* Header CRC covers the header with its CRC field zeroed, then the table. */
    uint8_t hdr[SNN_HDR_SIZE];
    memcpy(hdr, b, SNN_HDR_SIZE);
    memset(hdr + SNN_HDR_CRC, 0, 4);
    uint32_t crc = snn_crc32(snn_crc32(0, hdr, SNN_HDR_SIZE), b + SNN_HDR_SIZE, (size_t)(table_end - SNN_HDR_SIZE));
    if (crc != rd32(b + SNN_HDR_CRC))
        return FAIL(d, SNN_RT_ERR_CRC, SNN_HDR_CRC, "header checksum mismatch (file corrupt)");
    section all[SNN_MAX_SECTIONS];
    for (uint32_t i = 0; i < n_sec; i++) {
        const uint8_t *e = b + SNN_HDR_SIZE + i * SNN_SEC_ENTRY_SIZE;
        int64_t eoff = SNN_HDR_SIZE + (int64_t)i * SNN_SEC_ENTRY_SIZE;
        uint32_t tag = rd32(e + SNN_SEC_TAG);
        section s = {NULL, rd64(e + SNN_SEC_OFFSET), rd64(e + SNN_SEC_SIZE), rd32(e + SNN_SEC_COUNT), true};
        if (s.offset % SNN_ALIGN || s.offset < table_end)
            return FAIL(d, SNN_RT_ERR_FORMAT, eoff, "section %" PRIu32 " is misaligned or overlaps the header", i);
        if (s.offset > len || s.size > len - s.offset)
            return FAIL(d, SNN_RT_ERR_FORMAT, eoff,
                        "section %" PRIu32 " (%llu bytes at %llu) runs past the end of the file (%zu bytes)", i,
                        (unsigned long long)s.size, (unsigned long long)s.offset, len);
        for (uint32_t j = 0; j < i; j++)
            if (s.offset < all[j].offset + all[j].size && all[j].offset < s.offset + s.size)
                return FAIL(d, SNN_RT_ERR_FORMAT, eoff, "sections %" PRIu32 " and %" PRIu32 " overlap", j, i);
        s.p = b + s.offset;
        if (snn_crc32(0, s.p, (size_t)s.size) != rd32(e + SNN_SEC_CRC)) /* size <= len, checked */
            return FAIL(d, SNN_RT_ERR_CRC, (int64_t)s.offset, "section %" PRIu32 " checksum mismatch (file corrupt)", i);
        all[i] = s;
        section *dst = tag == SNN_TAG_META ? &x->meta : tag == SNN_TAG_LAYR ? &x->layr
                     : tag == SNN_TAG_PROJ ? &x->proj : tag == SNN_TAG_WGHT ? &x->wght
                     : tag == SNN_TAG_NAME ? &x->name : tag == SNN_TAG_PREP ? &x->prep
                     : tag == SNN_TAG_QWGT ? &x->qwgt : tag == SNN_TAG_QPAR ? &x->qpar
                     : tag == SNN_TAG_SCAL ? &x->scal : tag == SNN_TAG_TENS ? &x->tens
                     : tag == SNN_TAG_VINI ? &x->vini : NULL;
        if (!dst)
            continue; /* unknown section: skipped, as the spec allows */
        if (dst->present)
            return FAIL(d, SNN_RT_ERR_FORMAT, eoff, "section tag 0x%08" PRIx32 " appears twice", tag);
        *dst = s;
    }
    if (!x->meta.present || !x->layr.present || !x->proj.present || !x->wght.present)
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_SIZE, "a required section (META, LAYR, PROJ, WGHT) is missing");
    if (x->meta.size < SNN_META_SIZE || x->layr.size != (uint64_t)x->layr.count * SNN_LAYER_SIZE ||
        x->proj.size != (uint64_t)x->proj.count * SNN_PROJ_SIZE || x->wght.size != (uint64_t)x->wght.count * 4 ||
        (x->name.present && x->name.size != (uint64_t)x->name.count * SNN_NAME_SIZE) ||
        (x->prep.present && x->prep.size != (uint64_t)x->prep.count * 8) ||
        (x->qpar.present && x->qpar.size != (uint64_t)x->qpar.count * 4) ||
        (x->scal.present && x->scal.size != (uint64_t)x->scal.count * 4) ||
        (x->tens.present && x->tens.size != (uint64_t)x->tens.count * SNN_TENS_NAME_SIZE) ||
        (x->vini.present && x->vini.size != (uint64_t)x->vini.count * 4))
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_SIZE, "a section's size does not match its record count");
    return SNN_RT_OK;
}

/* SCAL and TENS (1.5): both or neither, in float files; every layer's C scales (finite,
 * positive) and one NUL-terminated name per layer. After the layers are read. */
static snn_rt_status read_diagnostics(snn_model *m, const section *sc, const section *tn, snn_rt_diag *d)
{
    m->scale = NULL;
    m->tensor_names = NULL;
    if (!sc->present && !tn->present)
        return SNN_RT_OK;
    if (sc->present != tn->present || (m->features & SNN_FEATURE_INT))
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_SIZE,
                    "SCAL and TENS come together, and only in float files");
    uint64_t want = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        want += m->layers[i].c;
    if (sc->count != want || tn->count != m->n_layers)
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)sc->offset,
                    "SCAL holds %" PRIu32 " scales and TENS %" PRIu32 " names; the layers need %llu and %" PRIu32,
                    sc->count, tn->count, (unsigned long long)want, m->n_layers);
    for (uint32_t k = 0; k < sc->count; k++) {
        float v = rdf32(sc->p + 4 * (size_t)k);
        if (!(isfinite(v) && v > 0.0f))
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)sc->offset + 4 * (int64_t)k,
                        "SCAL value %" PRIu32 " is not a finite positive scale", k);
    }
    for (uint32_t i = 0; i < tn->count; i++)
        if (tn->p[(size_t)i * SNN_TENS_NAME_SIZE + SNN_TENS_NAME_SIZE - 1] != 0)
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)tn->offset + (int64_t)i * SNN_TENS_NAME_SIZE,
                        "TENS name %" PRIu32 " is not NUL-terminated", i);
    m->scale = (const float *)(const void *)sc->p; /* 64-byte aligned in a 4-byte aligned buffer */
    m->tensor_names = (const char *)tn->p;
    return SNN_RT_OK;
}

/* VINI (1.6): present exactly with SNN_FEATURE_VINIT, in float32 rate-coded files; the NEURON
 * layers' sizes in order, every value finite. After the layers are read. */
static snn_rt_status read_vini(snn_model *m, const section *s, snn_rt_diag *d)
{
    for (uint32_t i = 0; i < m->n_layers; i++)
        m->layers[i].v0 = NULL;
    bool want = m->features & SNN_FEATURE_VINIT;
    if (want != s->present)
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_SIZE, want ? "feature bit VINIT is set but the VINI section is missing"
                                                             : "a VINI section without its feature bit (VINIT)");
    if (!want)
        return SNN_RT_OK;
    if (m->features & (SNN_FEATURE_INT | SNN_FEATURE_TTFS))
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)s->offset,
                    "per-neuron initial membranes (VINI) are for float32 rate-coded files only");
    uint64_t want_n = 0;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_NEURON)
            want_n += m->layers[i].size;
    if (s->count != want_n)
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)s->offset,
                    "VINI holds %" PRIu32 " initial membranes; the neuron layers have %llu neurons", s->count,
                    (unsigned long long)want_n);
    for (uint32_t k = 0; k < s->count; k++)
        if (!isfinite(rdf32(s->p + 4 * (size_t)k)))
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)s->offset + 4 * (int64_t)k,
                        "VINI value %" PRIu32 " is not finite", k);
    const float *v0 = (const float *)(const void *)s->p; /* 64-byte aligned in a 4-byte aligned buffer */
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == SNN_LAYER_NEURON) {
            m->layers[i].v0 = v0;
            v0 += m->layers[i].size;
        }
    return SNN_RT_OK;
}

/* PREP (1.3): per-channel mean and std, present exactly when the feature bit says so. */
static snn_rt_status read_prep(snn_model *m, const section *s, snn_rt_diag *d)
{
    bool want = m->features & SNN_FEATURE_CHANNEL_PREP;
    m->pre_mean_c = m->pre_std_c = NULL;
    if (want != s->present)
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_SIZE,
                    want ? "the file needs per-channel preprocessing but has no PREP section"
                         : "a PREP section without the per-channel preprocessing feature bit");
    if (!want)
        return SNN_RT_OK;
    if (s->count != m->input_c)
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)s->offset,
                    "PREP has %" PRIu32 " channels, the input %" PRIu32, s->count, m->input_c);
    for (uint32_t c = 0; c < 2 * s->count; c++) {
        float v = rdf32(s->p + 4 * c);
        if (!isfinite(v) || (c >= s->count && v == 0))
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)s->offset + 4 * c,
                        "PREP value %" PRIu32 " is not finite (or a std of 0)", c);
    }
    /* Sections are 64-byte aligned in a 4-byte aligned buffer: read in place. */
    m->pre_mean_c = (const float *)(const void *)s->p;
    m->pre_std_c = m->pre_mean_c + s->count;
    return SNN_RT_OK;
}

static snn_rt_status read_meta(snn_model *m, const section *s, const section *layr,
                               const section *proj, snn_rt_diag *d)
{
    const uint8_t *p = s->p;
    int64_t o = (int64_t)s->offset;
    m->input_c = rd32(p + SNN_META_INPUT_C);
    m->input_h = rd32(p + SNN_META_INPUT_H);
    m->input_w = rd32(p + SNN_META_INPUT_W);
    m->input_size = shape_size(m->input_c, m->input_h, m->input_w);
    if (!m->input_size || m->input_h > 0xffff || m->input_w > 0xffff)
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "input shape %" PRIu32 " x %" PRIu32 " x %" PRIu32 " is empty or too large",
                    m->input_c, m->input_h, m->input_w);
    m->pre_scale = rdf32(p + SNN_META_PRE_SCALE);
    m->pre_mean = rdf32(p + SNN_META_PRE_MEAN);
    m->pre_std = rdf32(p + SNN_META_PRE_STD);
    if (!isfinite(m->pre_scale) || !isfinite(m->pre_mean) || !isfinite(m->pre_std) || m->pre_std == 0)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_PRE_SCALE, "preprocessing scale/mean/std invalid");
    m->n_classes = rd32(p + SNN_META_N_CLASSES);
    m->n_layers = rd32(p + SNN_META_N_LAYERS);
    m->n_proj = rd32(p + SNN_META_N_PROJ);
    if (m->n_layers == 0 || m->n_layers > SNN_MAX_LAYERS || m->n_layers != layr->count)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_N_LAYERS, "%" PRIu32 " layers (section has %" PRIu32 ", limit %d)",
                    m->n_layers, layr->count, SNN_MAX_LAYERS);
    if (m->n_proj > SNN_MAX_PROJ || m->n_proj != proj->count)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_N_PROJ, "%" PRIu32 " projections (section has %" PRIu32 ", limit %d)",
                    m->n_proj, proj->count, SNN_MAX_PROJ);
    if (m->n_layers > SNN_RT_MAX_LAYERS || m->n_proj > SNN_RT_MAX_PROJ)
        return FAIL(d, SNN_RT_ERR_VERSION, o + SNN_META_N_LAYERS,
                    "%" PRIu32 " layers and %" PRIu32 " projections; this runtime was built for at most "
                    "%d and %d (SNN_RT_MAX_LAYERS, SNN_RT_MAX_PROJ)",
                    m->n_layers, m->n_proj, SNN_RT_MAX_LAYERS, SNN_RT_MAX_PROJ);
    m->coding = rd32(p + SNN_META_CODING);
    m->steps = rd32(p + SNN_META_STEPS);
    m->reset = rd32(p + SNN_META_RESET);
    m->v_init = rdf32(p + SNN_META_V_INIT);
    m->readout = rd32(p + SNN_META_READOUT);
    m->features = rd32(p + SNN_META_FEATURES);
    m->ann_accuracy = rdf32(p + SNN_META_ANN_ACC);
    m->norm = rd32(p + SNN_META_NORM);
    m->percentile = rdf32(p + SNN_META_PERCENTILE);
    m->calib_count = rd32(p + SNN_META_CALIB_COUNT);
    m->target_steps = rd32(p + SNN_META_TARGET_STEPS);
    m->correct_steps = rd32(p + SNN_META_CORRECT_STEPS);
    m->correct_count = rd32(p + SNN_META_CORRECT_COUNT);
    m->calib_source = rd32(p + SNN_META_CALIB_SOURCE);
    memcpy(m->source_sha256, p + SNN_META_SHA256, 32);
    if (m->features & ~(uint32_t)SNN_FEATURES_KNOWN)
        return FAIL(d, SNN_RT_ERR_VERSION, o + SNN_META_FEATURES,
                    "the file needs features 0x%" PRIx32 " that this runtime does not have",
                    m->features & ~(uint32_t)SNN_FEATURES_KNOWN);
#ifdef SNN_NO_TTFS
    if (m->features & SNN_FEATURE_TTFS)
        return FAIL(d, SNN_RT_ERR_VERSION, o + SNN_META_FEATURES,
                    "the file is time-to-first-spike coded and this runtime was built without TTFS "
                    "support (SNN_NO_TTFS)");
#endif
    bool ttfs = m->features & SNN_FEATURE_TTFS;
    if (ttfs != (m->coding == SNN_CODING_TTFS))
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_CODING,
                    "coding %" PRIu32 " does not match the TTFS feature bit", m->coding);
    m->ttfs_in_lo = rdf32(p + SNN_META_TTFS_IN_LO);
    m->ttfs_in_hi = rdf32(p + SNN_META_TTFS_IN_HI);
    if (ttfs && !(isfinite(m->ttfs_in_lo) && isfinite(m->ttfs_in_hi) && m->ttfs_in_lo < m->ttfs_in_hi))
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_TTFS_IN_LO, "TTFS input range [%g, %g] is empty or not finite",
                    (double)m->ttfs_in_lo, (double)m->ttfs_in_hi);
    if ((m->features & SNN_FEATURE_SIGNED) && (ttfs || m->reset != SNN_RESET_SUBTRACT))
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_FEATURES,
                    "signed spikes need rate coding with reset by subtraction");
    m->burst = 1;
    if (m->features & SNN_FEATURE_BURST) {
        m->burst = rd32(p + SNN_META_BURST);
        if (m->burst < 1 || m->burst > SNN_MAX_BURST || ttfs || (m->features & SNN_FEATURE_INT) ||
            m->reset != SNN_RESET_SUBTRACT)
            return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_BURST,
                        "burst %" PRIu32 ": burst spikes need 1 to %d spikes per step, float rate coding "
                        "and reset by subtraction", m->burst, SNN_MAX_BURST);
    }
    if (ttfs && m->readout != SNN_READOUT_MEMBRANE)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_READOUT, "a TTFS file reads out the membrane");
    m->weight_dtype = rd32(p + SNN_META_WEIGHT_DTYPE);
    bool integer = m->features & SNN_FEATURE_INT;
    if (m->weight_dtype > SNN_DTYPE_I8)
        return FAIL(d, SNN_RT_ERR_VERSION, o + SNN_META_WEIGHT_DTYPE, "weight type %" PRIu32 " is unknown",
                    m->weight_dtype);
    if (integer != (m->weight_dtype != SNN_DTYPE_F32) || (integer && ttfs))
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_WEIGHT_DTYPE,
                    "weight type %" PRIu32 " does not match the integer feature bit (integer files are "
                    "rate-coded)", m->weight_dtype);
#if defined(SNN_NO_INT16) || defined(SNN_NO_INT8)
#ifdef SNN_NO_INT16
    if (m->weight_dtype == SNN_DTYPE_I16)
#else
    if (m->weight_dtype == SNN_DTYPE_I8)
#endif
        return FAIL(d, SNN_RT_ERR_VERSION, o + SNN_META_WEIGHT_DTYPE,
                    "the file has %s weights and this runtime was built without them (SNN_NO_INT16 / "
                    "SNN_NO_INT8)", m->weight_dtype == SNN_DTYPE_I8 ? "int8" : "int16");
#endif
#ifdef SNN_NO_FLOAT
    if (!integer)
        return FAIL(d, SNN_RT_ERR_VERSION, o + SNN_META_WEIGHT_DTYPE,
                    "the file has float32 weights and this runtime was built for integer files only "
                    "(SNN_NO_FLOAT)");
#endif
    m->input_frac = integer ? rd32(p + SNN_META_INPUT_FRAC) : 0;
    if (m->input_frac > SNN_MAX_INPUT_FRAC)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_INPUT_FRAC, "input fraction bits %" PRIu32 " (at most %d)",
                    m->input_frac, SNN_MAX_INPUT_FRAC);
    /* TTFS: steps is the resolution per layer window, 0 for exact spike times. */
    bool steps_ok = ttfs ? m->steps <= SNN_MAX_RESOLUTION : m->steps != 0;
    if (m->coding > SNN_CODING_TTFS || m->reset > SNN_RESET_ZERO || m->readout > SNN_READOUT_SPIKES ||
        !steps_ok || !(m->v_init >= 0.0f && m->v_init <= 1.0f))
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_META_CODING,
                    "coding, reset, readout, steps or v_init out of range");
    return SNN_RT_OK;
}

/* QWGT and QPAR (1.4): present exactly in integer files; QWGT's size is its count of weights
 * of the file's type. */
static snn_rt_status read_qsections(const snn_model *m, const section *qw, const section *qp, snn_rt_diag *d)
{
    bool want = m->features & SNN_FEATURE_INT;
    if (want != qw->present || want != qp->present)
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_SIZE,
                    want ? "an integer file without its QWGT or QPAR section"
                         : "a QWGT or QPAR section without the integer feature bit");
    if (!want && (m->features & SNN_FEATURE_QINIT))
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_SIZE + 0, "feature bit QINIT (derived integer initial membranes) "
                    "in a file that is not an integer file");
    if (want && qw->size != (uint64_t)qw->count * (m->weight_dtype == SNN_DTYPE_I8 ? 1 : 2))
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)qw->offset,
                    "QWGT's size does not match its count of weights");
    return SNN_RT_OK;
}

/* Shape of buffer b: 0 is the input, b > 0 the output of layer b - 1. */
static void buffer_shape(const snn_model *m, uint32_t b, uint32_t *c, uint32_t *h, uint32_t *w)
{
    if (b == 0) {
        *c = m->input_c, *h = m->input_h, *w = m->input_w;
    } else {
        *c = m->layers[b - 1].c, *h = m->layers[b - 1].h, *w = m->layers[b - 1].w;
    }
}

static bool weights_ok(const float *w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return false;
    return true;
}

static snn_rt_status read_proj(snn_model *m, uint32_t i, const section *s, const section *wg,
                               const section *qw, snn_rt_diag *d)
{
    const uint8_t *p = s->p + (size_t)i * SNN_PROJ_SIZE;
    int64_t o = (int64_t)s->offset + (int64_t)i * SNN_PROJ_SIZE;
    snn_proj *pj = &m->proj[i];
    pj->kind = rd32(p + SNN_PROJ_KIND);
    pj->source = rd32(p + SNN_PROJ_SOURCE);
    uint32_t woff = rd32(p + SNN_PROJ_WEIGHTS);
    pj->n_w = rd32(p + SNN_PROJ_N_WEIGHTS);
    pj->kh = rd16(p + SNN_PROJ_KH), pj->kw = rd16(p + SNN_PROJ_KW);
    pj->sh = rd16(p + SNN_PROJ_SH), pj->sw = rd16(p + SNN_PROJ_SW);
    pj->dh = rd16(p + SNN_PROJ_DH), pj->dw = rd16(p + SNN_PROJ_DW);
    pj->pt = rd16(p + SNN_PROJ_PT), pj->pl = rd16(p + SNN_PROJ_PL);
    pj->pb = rd16(p + SNN_PROJ_PB), pj->pr = rd16(p + SNN_PROJ_PR);
    pj->group = rd16(p + SNN_PROJ_GROUP);
    pj->src_c = rd32(p + SNN_PROJ_SRC_C), pj->src_h = rd32(p + SNN_PROJ_SRC_H);
    pj->src_w = rd32(p + SNN_PROJ_SRC_W);
    if (pj->kind < SNN_PROJ_DENSE || pj->kind > SNN_PROJ_COPY)
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "projection %" PRIu32 " has unknown kind %" PRIu32 "", i, pj->kind);
    pj->w = NULL, pj->w8 = NULL, pj->w16 = NULL;
    if (m->features & SNN_FEATURE_INT) { /* QWGT holds them, in elements of the weight type */
        if (woff > qw->count || pj->n_w > qw->count - woff)
            return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_PROJ_WEIGHTS,
                        "projection %" PRIu32 ": weights [%" PRIu32 ", +%" PRIu32 ") outside the %" PRIu32 " in QWGT",
                        i, woff, pj->n_w, qw->count);
        if (m->weight_dtype == SNN_DTYPE_I8)
            pj->w8 = (const int8_t *)(const void *)qw->p + woff;
        else
            pj->w16 = (const int16_t *)(const void *)qw->p + woff;
        return SNN_RT_OK;
    }
#ifdef SNN_NO_FLOAT
    (void)wg;
    return SNN_RT_OK;
#else
    if (woff > wg->count || pj->n_w > wg->count - woff)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_PROJ_WEIGHTS,
                    "projection %" PRIu32 ": weights [%" PRIu32 ", +%" PRIu32 ") outside the %" PRIu32 " weights", i, woff, pj->n_w, wg->count);
    pj->w = (const float *)(const void *)wg->p + woff;
    if (!weights_ok(pj->w, pj->n_w))
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)wg->offset + (int64_t)woff * 4,
                    "projection %" PRIu32 " has a NaN or infinite weight", i);
    return SNN_RT_OK;
#endif
}

/* Checks that need the owning layer: source order and shapes, weight counts. */
static snn_rt_status check_proj(const snn_model *m, uint32_t li, uint32_t i, snn_rt_diag *d,
                                int64_t o)
{
    const snn_layer *L = &m->layers[li];
    const snn_proj *pj = &m->proj[i];
    if (pj->source > li)
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "layer %" PRIu32 " reads buffer %" PRIu32 ", which is not computed before it",
                    li, pj->source);
    uint32_t c, h, w;
    buffer_shape(m, pj->source, &c, &h, &w);
    if (c != pj->src_c || h != pj->src_h || w != pj->src_w)
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "projection %" PRIu32 ": source shape does not match buffer %" PRIu32 "", i,
                    pj->source);
    uint32_t src_size = c * h * w;
    uint64_t want;
    bool shape_ok = true;
    switch (pj->kind) {
    case SNN_PROJ_DENSE:
        want = (uint64_t)src_size * L->size;
        break;
    case SNN_PROJ_CONV:
        if (pj->group == 0 || c % pj->group || L->c % pj->group)
            return FAIL(d, SNN_RT_ERR_FORMAT, o, "projection %" PRIu32 ": group %u does not divide the channels",
                        i, (unsigned)pj->group);
        want = (uint64_t)c * pj->kh * pj->kw * (L->c / pj->group);
        shape_ok = window_out(h, pj->kh, pj->sh, pj->dh, pj->pt, pj->pb) == L->h &&
                   window_out(w, pj->kw, pj->sw, pj->dw, pj->pl, pj->pr) == L->w;
        break;
    case SNN_PROJ_AVGPOOL:
        want = L->c;
        shape_ok = c == L->c && window_out(h, pj->kh, pj->sh, 1, pj->pt, pj->pb) == L->h &&
                   window_out(w, pj->kw, pj->sw, 1, pj->pl, pj->pr) == L->w;
        break;
    case SNN_PROJ_GLOBALAVG:
        want = L->c;
        shape_ok = c == L->c && L->h == 1 && L->w == 1;
        break;
    case SNN_PROJ_IDENTITY:
        want = L->c;
        shape_ok = c == L->c && h == L->h && w == L->w;
        break;
    default: /* COPY */
        want = 0;
        shape_ok = h == L->h && w == L->w && pj->source > 0;
        break;
    }
    if (!shape_ok)
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "projection %" PRIu32 ": shape does not fit layer %" PRIu32 "", i, li);
    if (pj->n_w != want)
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "projection %" PRIu32 " has %" PRIu32 " weights, its shape needs %llu", i,
                    pj->n_w, (unsigned long long)want);
    if ((pj->kind == SNN_PROJ_COPY) != (L->kind == SNN_LAYER_CONCAT))
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "projection %" PRIu32 " does not fit the kind of layer %" PRIu32 "", i, li);
    return SNN_RT_OK;
}

/* Integer files: a neuron layer's int32 bias, threshold and (before 1.7) initial membrane
 * (QPAR), each C values within the bounds that keep sums in range, and for the output layer its
 * float units (WGHT). With SNN_FEATURE_QINIT the initial membranes are snn_qinit()'s. */
static snn_rt_status read_qparams(snn_layer *L, uint32_t i, const uint8_t *p, int64_t o, const section *wg,
                                  const section *qp, bool derived, snn_rt_diag *d)
{
    uint32_t qoff = rd32(p + SNN_LAYER_QPARAM), uoff = rd32(p + SNN_LAYER_UNIT), per_channel = derived ? 2 : 3;
    bool is_out = L->flags & SNN_LAYER_F_OUTPUT;
    if (qoff > qp->count || L->c > (qp->count - qoff) / per_channel ||
        (is_out && (uoff > wg->count || L->c > wg->count - uoff)))
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_QPARAM, "layer %" PRIu32 ": integer parameters or units outside "
                    "QPAR and WGHT", i);
    L->qbias = (const int32_t *)(const void *)qp->p + qoff;
    L->qtheta = L->qbias + L->c;
    L->qv0 = derived ? NULL : L->qtheta + L->c;
    L->unit = is_out ? (const float *)(const void *)wg->p + uoff : NULL;
    for (uint32_t c = 0; c < L->c; c++) {
        int32_t b = L->qbias[c], t = L->qtheta[c], v = L->qv0 ? L->qv0[c] : 0;
        if (t < 1 || t > SNN_MAX_QPARAM || b < -SNN_MAX_QPARAM || b > SNN_MAX_QPARAM || v < -SNN_MAX_QPARAM ||
            v > SNN_MAX_QPARAM)
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)qp->offset + 4 * (int64_t)(qoff + c),
                        "layer %" PRIu32 ", channel %" PRIu32 ": integer threshold not in [1, 2^24] or bias or "
                        "initial membrane beyond +-2^24", i, c);
        if (is_out && (!(L->unit[c] > 0.0f) || !isfinite(L->unit[c])))
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)wg->offset + 4 * (int64_t)(uoff + c),
                        "layer %" PRIu32 ": unit %" PRIu32 " is not a positive finite number", i, c);
    }
    return SNN_RT_OK;
}

static snn_rt_status read_layer(snn_model *m, uint32_t i, const section *s, const section *wg,
                                const section *nm, const section *qp, snn_rt_diag *d)
{
    const uint8_t *p = s->p + (size_t)i * SNN_LAYER_SIZE;
    int64_t o = (int64_t)s->offset + (int64_t)i * SNN_LAYER_SIZE;
    snn_layer *L = &m->layers[i];
    L->kind = rd32(p + SNN_LAYER_KIND);
    L->flags = rd32(p + SNN_LAYER_FLAGS);
    L->c = rd32(p + SNN_LAYER_C), L->h = rd32(p + SNN_LAYER_H), L->w = rd32(p + SNN_LAYER_W);
    L->size = shape_size(L->c, L->h, L->w);
    L->proj_first = rd32(p + SNN_LAYER_PROJ_FIRST);
    L->proj_count = rd32(p + SNN_LAYER_PROJ_COUNT);
    L->source = rd32(p + SNN_LAYER_SOURCE);
    L->kh = rd16(p + SNN_LAYER_KH), L->kw = rd16(p + SNN_LAYER_KW);
    L->sh = rd16(p + SNN_LAYER_SH), L->sw = rd16(p + SNN_LAYER_SW);
    L->pt = rd16(p + SNN_LAYER_PT), L->pl = rd16(p + SNN_LAYER_PL);
    L->pb = rd16(p + SNN_LAYER_PB), L->pr = rd16(p + SNN_LAYER_PR);
    memset(L->name, 0, sizeof L->name);
    if (nm->present && i < nm->count)
        memcpy(L->name, nm->p + (size_t)i * SNN_NAME_SIZE, SNN_NAME_SIZE - 1);
    if (!L->size || L->h > 0xffff || L->w > 0xffff)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_C, "layer %" PRIu32 ": shape %" PRIu32 " x %" PRIu32 " x %" PRIu32 " is empty or too large",
                    i, L->c, L->h, L->w);
    if (L->flags & ~(uint32_t)SNN_LAYER_F_OUTPUT)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_FLAGS, "layer %" PRIu32 ": unknown flags 0x%" PRIx32 "", i, L->flags);
    m->buffer_size[i + 1] = L->size;
    switch (L->kind) {
    case SNN_LAYER_NEURON: {
        if (m->features & SNN_FEATURE_INT) { /* integers only; float values are not stored */
            L->bias = L->threshold = NULL;
            snn_rt_status st = read_qparams(L, i, p, o, wg, qp, (m->features & SNN_FEATURE_QINIT) != 0, d);
            if (st != SNN_RT_OK)
                return st;
            break;
        }
        uint32_t boff = rd32(p + SNN_LAYER_BIAS), toff = rd32(p + SNN_LAYER_THRESH);
        if (boff > wg->count || L->c > wg->count - boff || toff > wg->count || L->c > wg->count - toff)
            return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_BIAS, "layer %" PRIu32 ": bias or thresholds outside WGHT", i);
        L->bias = (const float *)(const void *)wg->p + boff;
        L->threshold = (const float *)(const void *)wg->p + toff;
        if (!weights_ok(L->bias, L->c))
            return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_BIAS, "layer %" PRIu32 " has a NaN or infinite bias", i);
        for (uint32_t c = 0; c < L->c; c++)
            if (!(L->threshold[c] > 0.0f) || !isfinite(L->threshold[c]))
                return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_THRESH,
                            "layer %" PRIu32 ": threshold %" PRIu32 " is not a positive finite number", i, c);
        break;
    }
    case SNN_LAYER_CONCAT:
        break;
    case SNN_LAYER_MAXPOOL: {
        if (L->source > i || L->source == 0)
            return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_SOURCE, "layer %" PRIu32 ": max-pool source %" PRIu32 " invalid",
                        i, L->source);
        uint32_t c, h, w;
        buffer_shape(m, L->source, &c, &h, &w);
        if (c != L->c || window_out(h, L->kh, L->sh, 1, L->pt, L->pb) != L->h ||
            window_out(w, L->kw, L->sw, 1, L->pl, L->pr) != L->w || L->pt >= L->kh || L->pb >= L->kh ||
            L->pl >= L->kw || L->pr >= L->kw)
            return FAIL(d, SNN_RT_ERR_FORMAT, o, "layer %" PRIu32 ": max-pool window does not fit its source", i);
        return SNN_RT_OK;
    }
    default:
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "layer %" PRIu32 " has unknown kind %" PRIu32 "", i, L->kind);
    }
    if (L->proj_count == 0 || L->proj_first > m->n_proj || L->proj_count > m->n_proj - L->proj_first)
        return FAIL(d, SNN_RT_ERR_FORMAT, o + SNN_LAYER_PROJ_FIRST, "layer %" PRIu32 ": projections out of range", i);
    uint32_t concat_c = 0;
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        snn_rt_status st = check_proj(m, i, k, d, o);
        if (st != SNN_RT_OK)
            return st;
        concat_c += m->proj[k].src_c;
    }
    if (L->kind == SNN_LAYER_CONCAT && concat_c != L->c)
        return FAIL(d, SNN_RT_ERR_FORMAT, o, "layer %" PRIu32 ": concatenated channels %" PRIu32 " != %" PRIu32 "", i, concat_c, L->c);
    return SNN_RT_OK;
}

/* Time-to-first-spike windows (docs/ttfs.md): the input spikes in window 0; a neuron layer
 * fires in the window after the latest of its sources; max-pool and concat relay spikes in
 * their sources' windows. The output's membrane is final at the start of its own window. */
static void set_windows(snn_model *m)
{
    m->window[0] = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        uint32_t latest = 0;
        if (L->kind == SNN_LAYER_MAXPOOL) {
            latest = m->window[L->source];
        } else {
            for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++)
                if (m->window[m->proj[k].source] > latest)
                    latest = m->window[m->proj[k].source];
        }
        m->window[i + 1] = L->kind == SNN_LAYER_NEURON ? latest + 1 : latest;
    }
    m->latency_windows = m->window[m->output_layer + 1];
}

snn_rt_status snn_model_load(snn_model *m, const void *buf, size_t len, snn_rt_diag *d)
{
    if (d) {
        d->msg[0] = '\0';
        d->offset = -1;
    }
    memset(m, 0, sizeof *m);
    const uint8_t *b = buf;
    if (!buf || (uintptr_t)buf % 4)
        return FAIL(d, SNN_RT_ERR_ARG, -1, "the file buffer must be 4-byte aligned");
    if (len < SNN_HDR_SIZE || memcmp(b, SNN_MAGIC, SNN_MAGIC_LEN) != 0)
        return FAIL(d, SNN_RT_ERR_FORMAT, 0, "not a .snn file (bad magic or shorter than its header)");
    uint16_t major = rd16(b + SNN_HDR_MAJOR);
    if (major != SNN_VERSION_MAJOR)
        return FAIL(d, SNN_RT_ERR_VERSION, SNN_HDR_MAJOR, "file version %u.%u; this runtime reads %d.x",
                    (unsigned)major, (unsigned)rd16(b + SNN_HDR_MINOR), SNN_VERSION_MAJOR);
    if (rd64(b + SNN_HDR_FILE_SIZE) != len)
        return FAIL(d, SNN_RT_ERR_FORMAT, SNN_HDR_FILE_SIZE, "file is %zu bytes, its header says %llu (truncated?)",
                    len, (unsigned long long)rd64(b + SNN_HDR_FILE_SIZE));
    sections x;
    memset(&x, 0, sizeof x);
    snn_rt_status st = read_sections(b, len, &x, d);
    const section meta = x.meta, layr = x.layr, proj = x.proj, wght = x.wght, name = x.name;
    if (st == SNN_RT_OK)
        st = read_meta(m, &meta, &layr, &proj, d);
    if (st == SNN_RT_OK)
        st = read_prep(m, &x.prep, d);
    if (st == SNN_RT_OK)
        st = read_qsections(m, &x.qwgt, &x.qpar, d);
    m->buffer_size[0] = m->input_size;
    for (uint32_t i = 0; st == SNN_RT_OK && i < m->n_proj; i++)
        st = read_proj(m, i, &proj, &wght, &x.qwgt, d);
    for (uint32_t i = 0; st == SNN_RT_OK && i < m->n_layers; i++)
        st = read_layer(m, i, &layr, &wght, &name, &x.qpar, d);
    if (st == SNN_RT_OK)
        st = read_diagnostics(m, &x.scal, &x.tens, d);
    if (st == SNN_RT_OK)
        st = read_vini(m, &x.vini, d);
    if (st != SNN_RT_OK)
        return st;
    /* Each projection belongs to exactly one layer, in order. */
    uint32_t next = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind == SNN_LAYER_MAXPOOL)
            continue;
        if (L->proj_first != next)
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)layr.offset + (int64_t)i * SNN_LAYER_SIZE,
                        "layer %" PRIu32 ": projections are not contiguous and in order", i);
        next += L->proj_count;
    }
    if (next != m->n_proj)
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)proj.offset, "%" PRIu32 " projections belong to no layer",
                    m->n_proj - next);
    /* Exactly one output: the last layer, a NEURON layer of n_classes neurons. */
    m->output_layer = m->n_layers - 1;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        bool is_out = m->layers[i].flags & SNN_LAYER_F_OUTPUT;
        if (is_out != (i == m->output_layer))
            return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)layr.offset + (int64_t)i * SNN_LAYER_SIZE,
                        "layer %" PRIu32 ": only the last layer is the output", i);
    }
    const snn_layer *out = &m->layers[m->output_layer];
    if (out->kind != SNN_LAYER_NEURON || out->size != m->n_classes || m->n_classes == 0)
        return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)meta.offset + SNN_META_N_CLASSES,
                    "the output layer must be a neuron layer of n_classes (%" PRIu32 ") neurons", m->n_classes);
    if (m->features & SNN_FEATURE_INT)
        for (uint32_t k = 1; k < out->c; k++)
            if (out->unit[k] != out->unit[0])
                return FAIL(d, SNN_RT_ERR_FORMAT, (int64_t)layr.offset + (int64_t)m->output_layer * SNN_LAYER_SIZE,
                            "the output layer's units differ between classes; its argmax compares integers");
    set_windows(m);
    return SNN_RT_OK;
}
