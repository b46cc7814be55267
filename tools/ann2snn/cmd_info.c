/* ann2snn info: describe an ONNX model (the imported graph) or a .snn file. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "ir/op_info.h"
#include "onnx/onnx_import.h"
#include "snn_format.h"
#include "snn_runtime.h"

static void info_usage(FILE *f)
{
    fprintf(f, "Usage: ann2snn info MODEL.onnx [--no-optimize]\n"
               "       ann2snn info --ops\n"
               "       ann2snn info MODEL.snn [--json]\n"
               "An ONNX model: the imported graph, inputs, one line per node with its output shape,\n"
               "outputs. A .snn file: header, provenance, preprocessing, coding, one line per layer\n"
               "and the sections.\n"
               "      --no-optimize  ONNX: the graph before the optimising passes\n"
               "      --json         .snn: the same as JSON on stdout\n"
            "      --ops          every op the converter reads, and whether it converts\n"
               "  -h, --help         this help\n");
}

static void print_shape(const snn_tensor *t)
{
    printf("(");
    for (int d = 0; d < t->rank; d++)
        printf(d ? ", %lld" : "%lld", (long long)t->dims[d]);
    printf(")");
}

/* ---------------------------------------------------------------- .snn files */

static bool is_snn_file(const char *path)
{
    char magic[SNN_MAGIC_LEN];
    FILE *f = fopen(path, "rb");
    bool yes = f && fread(magic, 1, sizeof magic, f) == sizeof magic &&
               memcmp(magic, SNN_MAGIC, SNN_MAGIC_LEN) == 0;
    if (f)
        fclose(f);
    return yes;
}

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

static int print_snn_text(const char *path, const snn_model *m, const uint8_t *file, size_t len)
{
    char sha[65], tag[5];
    sha_hex(m->source_sha256, sha);
    printf("%s: .snn %u.%u, %zu bytes, %u layers, %u projections\n", path,
           (unsigned)(file[SNN_HDR_MAJOR] | file[SNN_HDR_MAJOR + 1] << 8),
           (unsigned)(file[SNN_HDR_MINOR] | file[SNN_HDR_MINOR + 1] << 8), len, m->n_layers, m->n_proj);
    printf("  source      sha256 %s\n", sha);
    printf("  precision   %s", precision_name(m));
    if (m->features & SNN_FEATURE_INT)
        printf(" weights per output channel, int32 membranes, input x * 2^%u; state %zu bytes",
               m->input_frac, snn_state_mem_size(m));
    else
        printf(", state %zu bytes", snn_state_mem_size(m));
    printf("\n");
    printf("  normalise   %s", PICK(norms, m->norm));
    if (m->norm == SNN_NORM_PERCENTILE || m->norm == SNN_NORM_CHANNEL)
        printf(" (%gth percentile)", (double)m->percentile);
    if (m->target_steps)
        printf(" (fitted to T = %u)", m->target_steps);
    static const char *const sources[] = {"", " (synthetic: uniform noise)", " (synthetic: smoothed noise)",
                                          " (synthetic: uniform and smoothed noise)"};
    printf(", %u calibration samples%s%s", m->calib_count, PICK(sources, m->calib_source & ~SNN_CALIB_BN_PRIOR),
           (m->calib_source & SNN_CALIB_BN_PRIOR) ? " and BatchNormalization statistics" : "");
    if (m->correct_steps)
        printf("; %s corrected for T = %u on %u samples",
               (m->features & SNN_FEATURE_VINIT) ? "initial membranes (per neuron)" : "biases", m->correct_steps,
               m->correct_count);
    if (m->ann_accuracy == m->ann_accuracy)
        printf(", ANN accuracy %.4f", (double)m->ann_accuracy);
    printf("\n  input       %u x %u x %u, x = (raw * %g - mean) / std, ", m->input_c, m->input_h,
           m->input_w, (double)m->pre_scale);
    if (m->pre_mean_c) {
        printf("per channel:");
        for (uint32_t c = 0; c < m->input_c; c++)
            printf(" %g/%g", (double)m->pre_mean_c[c], (double)m->pre_std_c[c]);
        printf("\n");
    } else {
        printf("mean %g, std %g\n", (double)m->pre_mean, (double)m->pre_std);
    }
    printf("  coding      %s, %s %u, reset %s, v_init %g, readout %s, %u classes\n",
           PICK(codings, m->coding), m->coding == SNN_CODING_TTFS ? "resolution" : "steps", m->steps,
           PICK(resets, m->reset), (double)m->v_init, PICK(readouts, m->readout), m->n_classes);
    if (m->burst > 1)
        printf("  burst       up to %u spikes per neuron and step\n", m->burst);
    printf("  %-3s %-24s %-8s %-16s %9s %9s %-12s %-21s %s\n", "#", "layer", "kind", "shape (C,H,W)",
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
        printf("  %-3u %-24.24s %-8s %-16s %9u %9llu %-12s %-21.21s %s\n", i, L->name, li.kind, shape,
               L->size, (unsigned long long)li.weights, th, L->kind == SNN_LAYER_MAXPOOL ? "maxpool" : li.inputs,
               li.spikes);
    }
    uint32_t n_sec = rd_u32(file + SNN_HDR_N_SECTIONS), table = rd_u32(file + SNN_HDR_TABLE_OFFSET);
    printf("  sections   ");
    for (uint32_t s = 0; s < n_sec; s++) {
        const uint8_t *e = file + table + s * SNN_SEC_ENTRY_SIZE;
        tag_name(rd_u32(e + SNN_SEC_TAG), tag);
        printf(" %s %llu B%s", tag, (unsigned long long)rd_u64(e + SNN_SEC_SIZE), s + 1 < n_sec ? "," : "\n");
    }
    return 0;
}

static int print_snn_json(const char *path, const snn_model *m, const uint8_t *file, size_t len)
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
    if (!text) {
        fprintf(stderr, "ann2snn: out of memory\n");
        return EXIT_RUN_FAILED;
    }
    puts(text);
    free(text);
    return 0;
}

/* The file was checked whole by snn_model_load() (magic, version, CRCs, every offset and
 * count), so the header and section table are read here without further checks. */
static int snn_info(const char *path, bool json)
{
    uint8_t *file = NULL;
    size_t len = 0;
    snn_model *m = NULL;
    int rc = cli_load_snn(path, &file, &len, &m);
    if (rc == 0)
        rc = json ? print_snn_json(path, m, file, len) : print_snn_text(path, m, file, len);
    free(m);
    free(file);
    return rc;
}

/* ---------------------------------------------------------------- the op table */

/* Every op the converter imports, from the op table (ir/ops.def), so that a user can check a
 * model's ops before converting it. */
static int print_ops(void)
{
    static const char *const roles[] = {"runs", "folds"};
    printf("%-20s %-6s %-6s %s\n", "op", "opset", "role", "spiking form");
    for (int i = 0; i < SNN_OP_COUNT; i++) {
        const snn_op_info *o = snn_op_info_of((snn_op)i);
        printf("%-20s %-6s %-6s %s\n", o->name, o->since > 1 ? "7-18" : "1-18", roles[o->role],
               o->spiking);
    }
    printf("\nConstant nodes fold into constants. 'folds': shape arithmetic, accepted only where it\n"
           "folds into a constant. Spiking form 'none': conversion refuses the op unless a graph\n"
           "pass removes it first (a zero Pad merges into the Conv or pool after it; folded shape\n"
           "arithmetic leaves no node). Opsets 1-6 only for files whose every op reads '1-18'.\n");
    return 0;
}

/* ---------------------------------------------------------------- both */

int cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-optimize", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"ops", no_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool optimize = true, json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': optimize = false; break;
        case 'j': json = true; break;
        case 'o': return print_ops();
        case 'h': info_usage(stdout); return 0;
        default: info_usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1) {
        info_usage(stderr);
        return EXIT_BAD_INPUT;
    }
    if (is_snn_file(argv[optind]))
        return snn_info(argv[optind], json);
    if (json) {
        fprintf(stderr, "ann2snn: info: --json describes .snn files; %s is not one\n", argv[optind]);
        return EXIT_BAD_INPUT;
    }
    snn_import_options io;
    snn_import_options_init(&io);
    io.optimize = optimize;
    snn_graph g;
    snn_diag diag;
    snn_status st = snn_onnx_load_file(argv[optind], &io, &g, &diag);
    if (st != SNN_OK)
        return cli_report(argv[optind], st, &diag);
    printf("%s: opset %lld, %d nodes, %d tensors\n", argv[optind], (long long)g.opset, g.n_nodes,
           g.n_tensors);
    for (int i = 0; i < g.n_inputs; i++) {
        printf("  input  %-24s ", g.tensors[g.inputs[i]].name);
        print_shape(&g.tensors[g.inputs[i]]);
        printf("\n");
    }
    for (int i = 0; i < g.n_nodes; i++) {
        const snn_node *n = &g.nodes[i];
        printf("  %-20s %-24s -> ", snn_op_name(n->op), n->name);
        print_shape(&g.tensors[n->outputs[0]]);
        printf("\n");
    }
    for (int i = 0; i < g.n_outputs; i++) {
        printf("  output %-24s ", g.tensors[g.outputs[i]].name);
        print_shape(&g.tensors[g.outputs[i]]);
        printf("\n");
    }
    if (g.has_preprocess)
        printf("  preprocess: x * %g - %g, / %g\n", (double)g.pre_scale, (double)g.pre_mean,
               (double)g.pre_std);
    snn_graph_free(&g);
    return 0;
}
