/* A .snn file described for people (what `ann2snn info FILE.snn` prints) or as JSON
 * (`--json`), after the runtime has validated it whole. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "snn_format.h"
#include "snn_runtime.h"

/* The file was checked whole by snn_model_load() (magic, version, CRCs, every offset and
 * count), so the header and section table are read here without further checks. */
static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const uint8_t *p)
{
    return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

static const char *pick(const char *const *names, size_t n, uint32_t v)
{
    return v < n ? names[v] : "?";
}
#define PICK(names, v) pick(names, sizeof names / sizeof names[0], v)

static const char *const codings[] = {"direct", "poisson", "ttfs"};
static const char *const resets[] = {"subtract", "zero"};
static const char *const readouts[] = {"membrane", "spikes"};
static const char *const norms[] = {"model", "max", "percentile", "channel", "tsearch", "tsearch-layer"};
static const char *const layer_kinds[] = {"?", "neuron", "maxpool", "concat"};
static const char *const proj_kinds[] = {"?", "dense", "conv", "avgpool", "globalavg", "identity", "copy"};

/* What one layer of a loaded model holds, as info prints it. */
typedef struct {
    const char *kind;
    uint64_t weights;     /* weights of its projections */
    float th_min, th_max; /* NEURON: threshold range (integer files: in the channels' units) */
    const char *spikes;   /* "signed" (+1/-1), "positive", or "none" (output, pooling) */
    char inputs[96];      /* projection kinds, comma-separated */
} layer_info;

static layer_info describe_layer(const snn_model *m, uint32_t i)
{
    const snn_layer *L = &m->layers[i];
    layer_info li;
    memset(&li, 0, sizeof li);
    bool out = L->flags & SNN_LAYER_F_OUTPUT;
    li.kind = out ? "output" : PICK(layer_kinds, L->kind);
    li.spikes = L->kind != SNN_LAYER_NEURON || out        ? "none"
                : (m->features & SNN_FEATURE_SIGNED) != 0 ? "signed"
                                                          : "positive";
    size_t used = 0;
    for (uint32_t k = 0; k < L->proj_count; k++) {
        const snn_proj *p = &m->proj[L->proj_first + k];
        li.weights += p->n_w;
        int w = snprintf(li.inputs + used, sizeof li.inputs - used, "%s%s", k ? "," : "",
                         PICK(proj_kinds, p->kind));
        if (w > 0 && (size_t)w < sizeof li.inputs - used)
            used += (size_t)w;
    }
    if (L->kind == SNN_LAYER_NEURON) { /* an integer file's in its units (integers) */
        for (uint32_t c = 0; c < L->c; c++) {
            float t = L->threshold ? L->threshold[c] : (float)L->qtheta[c];
            li.th_min = c == 0 || t < li.th_min ? t : li.th_min;
            li.th_max = c == 0 || t > li.th_max ? t : li.th_max;
        }
    }
    return li;
}

static void tag_name(uint32_t tag, char out[5])
{
    for (int k = 0; k < 4; k++)
        out[k] = (char)(tag >> (8 * k));
    out[4] = '\0';
}

static void sha_hex(const uint8_t sha[32], char out[65])
{
    for (int k = 0; k < 32; k++)
        snprintf(out + 2 * k, 3, "%02x", sha[k]);
}

static const char *precision_name(const snn_model *m)
{
    return m->weight_dtype == SNN_DTYPE_I8 ? "int8" : m->weight_dtype == SNN_DTYPE_I16 ? "int16" : "float32";
}

static void print_snn_text(FILE *f, const char *path, const snn_model *m, const uint8_t *file, size_t len)
{
    char sha[65], tag[5];
    sha_hex(m->source_sha256, sha);
    fprintf(f, "%s: .snn %u.%u, %zu bytes, %u layers, %u projections\n", path,
           (unsigned)(file[SNN_HDR_MAJOR] | file[SNN_HDR_MAJOR + 1] << 8),
           (unsigned)(file[SNN_HDR_MINOR] | file[SNN_HDR_MINOR + 1] << 8), len, m->n_layers, m->n_proj);
    fprintf(f, "  source      sha256 %s\n", sha);
    fprintf(f, "  precision   %s", precision_name(m));
    if (m->features & SNN_FEATURE_INT)
        fprintf(f, " weights per output channel, int32 membranes, input x * 2^%u; state %zu bytes",
               m->input_frac, snn_state_mem_size(m));
    else
        fprintf(f, ", state %zu bytes", snn_state_mem_size(m));
    fprintf(f, "\n");
    fprintf(f, "  normalise   %s", PICK(norms, m->norm));
    if (m->norm == SNN_NORM_PERCENTILE || m->norm == SNN_NORM_CHANNEL)
        fprintf(f, " (%gth percentile)", (double)m->percentile);
    if (m->target_steps)
        fprintf(f, " (fitted to T = %u)", m->target_steps);
    static const char *const sources[] = {"", " (synthetic: uniform noise)", " (synthetic: smoothed noise)",
                                          " (synthetic: uniform and smoothed noise)"};
    fprintf(f, ", %u calibration samples%s%s", m->calib_count, PICK(sources, m->calib_source & ~SNN_CALIB_BN_PRIOR),
           (m->calib_source & SNN_CALIB_BN_PRIOR) ? " and BatchNormalization statistics" : "");
    if (m->correct_steps)
        fprintf(f, "; %s corrected for T = %u on %u samples",
               (m->features & SNN_FEATURE_VINIT) ? "initial membranes (per neuron)" : "biases", m->correct_steps,
               m->correct_count);
    if (m->ann_accuracy == m->ann_accuracy)
        fprintf(f, ", ANN accuracy %.4f", (double)m->ann_accuracy);
    fprintf(f, "\n  input       %u x %u x %u, x = (raw * %g - mean) / std, ", m->input_c, m->input_h,
           m->input_w, (double)m->pre_scale);
    if (m->pre_mean_c) {
        fprintf(f, "per channel:");
        for (uint32_t c = 0; c < m->input_c; c++)
            fprintf(f, " %g/%g", (double)m->pre_mean_c[c], (double)m->pre_std_c[c]);
        fprintf(f, "\n");
    } else {
        fprintf(f, "mean %g, std %g\n", (double)m->pre_mean, (double)m->pre_std);
    }
    fprintf(f, "  coding      %s, %s %u, reset %s, v_init %g, readout %s, %u classes\n",
           PICK(codings, m->coding), m->coding == SNN_CODING_TTFS ? "resolution" : "steps", m->steps,
           PICK(resets, m->reset), (double)m->v_init, PICK(readouts, m->readout), m->n_classes);
    if (m->burst > 1)
        fprintf(f, "  burst       up to %u spikes per neuron and step\n", m->burst);
    fprintf(f, "  %-3s %-24s %-8s %-16s %9s %9s %-12s %-21s %s\n", "#", "layer", "kind", "shape (C,H,W)",
           "neurons", "weights", "thresholds", "inputs", "spikes");
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        layer_info li = describe_layer(m, i);
        char shape[32], th[32];
        snprintf(shape, sizeof shape, "%u,%u,%u", L->c, L->h, L->w);
        if (L->kind == SNN_LAYER_NEURON)
            snprintf(th, sizeof th, "%.3g..%.3g", (double)li.th_min, (double)li.th_max);
        else
            snprintf(th, sizeof th, "-");
        fprintf(f, "  %-3u %-24.24s %-8s %-16s %9u %9llu %-12s %-21.21s %s\n", i, L->name, li.kind, shape,
               L->size, (unsigned long long)li.weights, th, L->kind == SNN_LAYER_MAXPOOL ? "maxpool" : li.inputs,
               li.spikes);
    }
    uint32_t n_sec = rd_u32(file + SNN_HDR_N_SECTIONS), table = rd_u32(file + SNN_HDR_TABLE_OFFSET);
    fprintf(f, "  sections   ");
    for (uint32_t s = 0; s < n_sec; s++) {
        const uint8_t *e = file + table + s * SNN_SEC_ENTRY_SIZE;
        tag_name(rd_u32(e + SNN_SEC_TAG), tag);
        fprintf(f, " %s %llu B%s", tag, (unsigned long long)rd_u64(e + SNN_SEC_SIZE), s + 1 < n_sec ? "," : "\n");
    }
}

static char *snn_json(const char *path, const snn_model *m, const uint8_t *file, size_t len)
{
    char sha[65], tag[5];
    sha_hex(m->source_sha256, sha);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", path);
    cJSON_AddNumberToObject(root, "bytes", (double)len);
    cJSON *hdr = cJSON_AddObjectToObject(root, "version");
    cJSON_AddNumberToObject(hdr, "major", file[SNN_HDR_MAJOR] | file[SNN_HDR_MAJOR + 1] << 8);
    cJSON_AddNumberToObject(hdr, "minor", file[SNN_HDR_MINOR] | file[SNN_HDR_MINOR + 1] << 8);
    cJSON_AddNumberToObject(root, "features", m->features);
    cJSON_AddStringToObject(root, "precision", precision_name(m));
    cJSON_AddNumberToObject(root, "state_bytes", (double)snn_state_mem_size(m));
    cJSON *prov = cJSON_AddObjectToObject(root, "provenance");
    cJSON_AddStringToObject(prov, "source_sha256", sha);
    cJSON_AddStringToObject(prov, "norm", PICK(norms, m->norm));
    cJSON_AddNumberToObject(prov, "percentile", (double)m->percentile);
    cJSON_AddNumberToObject(prov, "calibration_samples", m->calib_count);
    static const char *const source_names[] = {"data", "uniform", "smooth", "mix"};
    cJSON_AddStringToObject(prov, "calibration_source", PICK(source_names, m->calib_source & ~SNN_CALIB_BN_PRIOR));
    cJSON_AddBoolToObject(prov, "bn_statistics", (m->calib_source & SNN_CALIB_BN_PRIOR) != 0);
    cJSON_AddNumberToObject(prov, "target_steps", m->target_steps);
    cJSON_AddNumberToObject(prov, "bias_correction_steps", m->correct_steps);
    cJSON_AddNumberToObject(prov, "bias_correction_samples", m->correct_count);
    /* what the correction moved: "bias" (per channel) or "potential" (per-neuron initial
     * membranes, VINI); null without one */
    if (m->correct_steps)
        cJSON_AddStringToObject(prov, "correction", (m->features & SNN_FEATURE_VINIT) ? "potential" : "bias");
    else
        cJSON_AddNullToObject(prov, "correction");
    if (m->ann_accuracy == m->ann_accuracy)
        cJSON_AddNumberToObject(prov, "ann_accuracy", (double)m->ann_accuracy);
    else
        cJSON_AddNullToObject(prov, "ann_accuracy");
    cJSON *in = cJSON_AddObjectToObject(root, "input");
    cJSON_AddItemToObject(in, "shape", cJSON_CreateIntArray((const int[]){(int)m->input_c, (int)m->input_h, (int)m->input_w}, 3));
    cJSON_AddNumberToObject(in, "scale", (double)m->pre_scale);
    if (m->pre_mean_c) { /* one mean and std per channel */
        cJSON *mean = cJSON_AddArrayToObject(in, "mean"), *std = cJSON_AddArrayToObject(in, "std");
        for (uint32_t c = 0; c < m->input_c; c++) {
            cJSON_AddItemToArray(mean, cJSON_CreateNumber((double)m->pre_mean_c[c]));
            cJSON_AddItemToArray(std, cJSON_CreateNumber((double)m->pre_std_c[c]));
        }
    } else {
        cJSON_AddNumberToObject(in, "mean", (double)m->pre_mean);
        cJSON_AddNumberToObject(in, "std", (double)m->pre_std);
    }
    cJSON_AddStringToObject(root, "coding", PICK(codings, m->coding));
    cJSON_AddNumberToObject(root, m->coding == SNN_CODING_TTFS ? "resolution" : "steps", m->steps);
    cJSON_AddStringToObject(root, "reset", PICK(resets, m->reset));
    cJSON_AddNumberToObject(root, "v_init", (double)m->v_init);
    cJSON_AddStringToObject(root, "readout", PICK(readouts, m->readout));
    cJSON_AddNumberToObject(root, "burst", m->burst);
    cJSON_AddNumberToObject(root, "classes", m->n_classes);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const snn_layer *L = &m->layers[i];
        layer_info li = describe_layer(m, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", L->name);
        cJSON_AddStringToObject(o, "kind", li.kind);
        cJSON_AddItemToObject(o, "shape", cJSON_CreateIntArray((const int[]){(int)L->c, (int)L->h, (int)L->w}, 3));
        cJSON_AddNumberToObject(o, "neurons", L->size);
        cJSON_AddNumberToObject(o, "weights", (double)li.weights);
        if (L->kind == SNN_LAYER_NEURON) {
            cJSON_AddNumberToObject(o, "threshold_min", (double)li.th_min);
            cJSON_AddNumberToObject(o, "threshold_max", (double)li.th_max);
            cJSON_AddStringToObject(o, "reset", PICK(resets, m->reset));
        }
        cJSON_AddStringToObject(o, "inputs", L->kind == SNN_LAYER_MAXPOOL ? "maxpool" : li.inputs);
        cJSON_AddStringToObject(o, "spikes", li.spikes);
        cJSON_AddItemToArray(layers, o);
    }
    cJSON *secs = cJSON_AddArrayToObject(root, "sections");
    uint32_t n_sec = rd_u32(file + SNN_HDR_N_SECTIONS), table = rd_u32(file + SNN_HDR_TABLE_OFFSET);
    for (uint32_t s = 0; s < n_sec; s++) {
        const uint8_t *e = file + table + s * SNN_SEC_ENTRY_SIZE;
        tag_name(rd_u32(e + SNN_SEC_TAG), tag);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tag", tag);
        cJSON_AddNumberToObject(o, "offset", (double)rd_u64(e + SNN_SEC_OFFSET));
        cJSON_AddNumberToObject(o, "bytes", (double)rd_u64(e + SNN_SEC_SIZE));
        cJSON_AddNumberToObject(o, "records", rd_u32(e + SNN_SEC_COUNT));
        cJSON_AddItemToArray(secs, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}


ann2snn_status ann2snn_snn_describe(const void *bytes, size_t len, const char *name, bool json, char **text,
                                    ann2snn_diag *diag)
{
    if (!text)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_snn_describe: no place for the text");
    *text = NULL;
    if (!bytes && len)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_snn_describe: no bytes");
    uint8_t *file;
    snn_model *m;
    ann2snn_status st = api_load_snn(bytes, len, -1, &file, &m, diag);
    if (st != ANN2SNN_OK)
        goto done;
    const char *path = name ? name : "";
    if (json) {
        char *j = snn_json(path, m, file, len);
        size_t n = j ? strlen(j) : 0;
        if (j && (*text = malloc(n + 2))) { /* a final newline, as puts() gave */
            memcpy(*text, j, n);
            memcpy(*text + n, "\n", 2);
        }
        free(j);
    } else {
        size_t size;
        FILE *f = open_memstream(text, &size);
        if (f) {
            print_snn_text(f, path, m, file, len);
            if (fclose(f) != 0) {
                free(*text);
                *text = NULL;
            }
        }
    }
    if (!*text)
        st = api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
done:
    free(m);
    free(file);
    return st;
}
