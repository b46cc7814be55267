/* ann2snn export-c: a self-contained C project for a device. The .snn file becomes const
 * data (model.c, in flash), the run-time state one static buffer of exactly the size the
 * model needs, and the runtime's sources and an example program are written beside it with
 * a Makefile for the host and for a Cortex-M4. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "cli_common.h"
#include "commands.h"
#include "embedded_files.h"
#include "snn_runtime.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ann2snn export-c MODEL.snn -o DIR\n"
            "Writes a C project that runs MODEL.snn without a file system or an allocator:\n"
            "  DIR/model.c, model.h   the model as const data (flash) and its state size\n"
            "  DIR/main.c             example: app --input IDX [--steps T] [--limit N] [--count]\n"
            "  DIR/runtime/           the runtime's sources (libc and libm only)\n"
            "  DIR/Makefile           'make' builds DIR/app for this machine, 'make mcu' builds\n"
            "                         DIR/app.elf for a Cortex-M4F (arm-none-eabi-gcc, picolibc)\n"
            "  -o, --output DIR       the project folder (created if missing)\n"
            "  -h, --help             this help\n");
}

static const embedded_file *embedded(const char *name)
{
    for (const embedded_file *e = snn_embedded_files; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* A growing text buffer; on allocation failure it stays marked failed and writes nothing. */
typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} text;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap * 2 + (size_t)n + 4096;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->p = p, t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* Replace every "@KEY@" of src by value. */
static void put_template(text *t, const embedded_file *src, const char *const *keys,
                         const char *const *values, int n_keys)
{
    const char *s = (const char *)src->data, *end = s + src->len;
    while (s < end) {
        int k = -1;
        for (int i = 0; i < n_keys && k < 0; i++)
            if (strncmp(s, keys[i], strlen(keys[i])) == 0)
                k = i;
        if (k >= 0) {
            put(t, "%s", values[k]);
            s += strlen(keys[k]);
        } else {
            put(t, "%c", *s++);
        }
    }
}

static int write_text(const char *dir, const char *name, const text *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (t->failed || !t->p) {
        fprintf(stderr, "ann2snn: out of memory\n");
        return EXIT_RUN_FAILED;
    }
    snn_diag d;
    snn_status st = snn_file_write_atomic(path, t->p, t->len, &d);
    return st == SNN_OK ? 0 : cli_report(path, st, &d);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            return 0;
    }
    fprintf(stderr, "ann2snn: %s: cannot create the folder (%s)\n", path, strerror(errno));
    return EXIT_BAD_INPUT;
}

/* Whether projection k of m gets a pair-ordered copy of its weights: an int8 stride-1,
 * undilated, group-1 convolution into a layer whose channels are a multiple of 8, the ones the
 * Cortex-M4 step loop adds a kernel row at a time. */
static bool wants_pairs(const snn_model *m, uint32_t k)
{
    const snn_proj *p = &m->proj[k];
    if (!p->w8 || p->kind != SNN_PROJ_CONV || p->sh != 1 || p->sw != 1 || p->dh != 1 || p->dw != 1 || p->group != 1)
        return false;
    for (uint32_t i = 0; i < m->n_layers; i++)
        if (k >= m->layers[i].proj_first && k < m->layers[i].proj_first + m->layers[i].proj_count)
            return m->layers[i].c % 8 == 0;
    return false;
}

/* model.c's pair-ordered weight copies (snn_pair_index()) and their table. */
static void put_paired_weights(text *c, const snn_model *m, uint32_t n_proj)
{
    put(c, "\n/* Only where the step loop reads them (a Cortex-M4 build for speed). */\n#if SNN_PAIRED_WEIGHTS\n");
    for (uint32_t k = 0; k < m->n_proj; k++) {
        if (!wants_pairs(m, k))
            continue;
        const snn_proj *p = &m->proj[k];
        put(c, "\n/* Projection %u's weights in pair order. */\n", k);
        put(c, "__attribute__((aligned(4))) static const int8_t paired_%u[%u] = {\n", k, p->n_w);
        for (uint32_t i = 0; i < p->n_w; i++)
            put(c, "%s%d,%s", i % 20 ? "" : "    ", p->w8[snn_pair_index(i)],
                i % 20 == 19 || i + 1 == p->n_w ? "\n" : "");
        put(c, "};\n");
    }
    for (int with = 1; with >= 0; with--) {
        put(c, "%sconst int8_t *const snn_model_paired_weights[%u] = {", with ? "\n" : "#else\n", n_proj);
        for (uint32_t k = 0; k < n_proj; k++) {
            if (with && k < m->n_proj && wants_pairs(m, k))
                put(c, "%spaired_%u", k ? ", " : "", k);
            else
                put(c, "%sNULL", k ? ", " : "");
        }
        put(c, "};\n");
    }
    put(c, "#endif\n");
}

static int write_project(const char *model_path, const char *dir, const snn_model *m,
                         const uint8_t *file, size_t len)
{
    int rc = make_dir(dir);
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/runtime", dir);
    if (rc == 0)
        rc = make_dir(sub);
    bool ttfs = m->coding == SNN_CODING_TTFS;
    size_t state_bytes = snn_state_mem_size(m);

    text h = {0};
    put(&h, "/* Written by ann2snn export-c from %s. */\n", model_path);
    put(&h, "#ifndef SNN_EXPORTED_MODEL_H\n#define SNN_EXPORTED_MODEL_H\n\n");
    put(&h, "#include <stddef.h>\n#include <stdint.h>\n\n");
    put(&h, "/* Values per input sample (C x H x W = %u x %u x %u). */\n", m->input_c, m->input_h,
        m->input_w);
    put(&h, "#define SNN_MODEL_INPUT_SIZE %uu\n", m->input_size);
    put(&h, "/* snn_state_mem_size() of this model: all the RAM an inference needs beside the\n"
            " * snn_model and snn_state structures. */\n");
    put(&h, "#define SNN_MODEL_STATE_BYTES %zuu\n\n", state_bytes);
    put(&h, "extern const uint8_t snn_model_bytes[]; /* (snn_model_len) the .snn file, 64-byte aligned */\n");
    put(&h, "extern const size_t snn_model_len;\n\n");
    uint32_t n_proj = m->n_proj ? m->n_proj : 1u;
    put(&h, "/* Per projection, a copy of its int8 weights in pair order for the Cortex-M4's step loop\n"
            " * (snn_model_use_paired_weights()), or NULL. */\n");
    put(&h, "#define SNN_MODEL_N_PROJ %uu\n", n_proj);
    put(&h, "extern const int8_t *const snn_model_paired_weights[SNN_MODEL_N_PROJ];\n\n#endif\n");

    text c = {0};
    put(&c, "/* Written by ann2snn export-c from %s: the .snn file as const data, so that it\n"
            " * stays in flash and the runtime reads its weights in place. */\n", model_path);
    put(&c, "#include \"model.h\"\n#include \"snn_runtime.h\" /* SNN_PAIRED_WEIGHTS */\n\n");
    put(&c, "const size_t snn_model_len = %zu;\n\n", len);
    put(&c, "__attribute__((aligned(64))) const uint8_t snn_model_bytes[%zu] = {\n", len);
    for (size_t i = 0; i < len; i++)
        put(&c, "%s%u,%s", i % 20 ? "" : "    ", file[i], i % 20 == 19 || i + 1 == len ? "\n" : "");
    put(&c, "};\n");
    put_paired_weights(&c, m, n_proj);

    /* The structures sized for this model's layers and projections; TTFS left out of a
     * rate-coded model, the float simulation and the other weight type out of an integer one. */
    bool integer = m->features & SNN_FEATURE_INT;
    char defines[160], sources[256];
    /* One copy of the step loops: no AVX2 copy beside the baseline one (snn_internal.h). */
    snprintf(defines, sizeof defines, "-DSNN_RT_MAX_LAYERS=%u -DSNN_RT_MAX_PROJ=%u -DSNN_NO_AVX2_COPY%s%s", m->n_layers,
             m->n_proj ? m->n_proj : 1u, ttfs ? "" : " -DSNN_NO_TTFS",
             !integer ? "" : m->weight_dtype == SNN_DTYPE_I8 ? " -DSNN_NO_FLOAT -DSNN_NO_INT16"
                                                            : " -DSNN_NO_FLOAT -DSNN_NO_INT8");
    snprintf(sources, sizeof sources, "runtime/snn_model.c runtime/snn_state.c %s runtime/snn_crc32.c%s",
             integer ? "runtime/snn_qsim.c" : "runtime/snn_sim.c runtime/snn_sim_step.c runtime/snn_qsim.c",
             ttfs ? " runtime/snn_ttfs.c" : "");
    const char *keys[] = {"@RUNTIME_SOURCES@", "@DEFINES@"};
    const char *values[] = {sources, defines};
    text mk = {0}, mainc = {0};
    put_template(&mk, embedded("Makefile.in"), keys, values, 2);
    put_template(&mainc, embedded("main.c.in"), keys, values, 0);

    if (rc == 0)
        rc = write_text(dir, "model.h", &h);
    if (rc == 0)
        rc = write_text(dir, "model.c", &c);
    if (rc == 0)
        rc = write_text(dir, "main.c", &mainc);
    if (rc == 0)
        rc = write_text(dir, "Makefile", &mk);
    for (const embedded_file *e = snn_embedded_files; rc == 0 && e->name; e++) {
        if (strncmp(e->name, "runtime/", 8) != 0)
            continue;
        text f = {0};
        put(&f, "%.*s", (int)e->len, (const char *)e->data);
        rc = write_text(dir, e->name, &f);
        free(f.p);
    }
    free(h.p);
    free(c.p);
    free(mk.p);
    free(mainc.p);
    if (rc == 0)
        fprintf(stderr, "ann2snn: %s: %zu bytes of model data, a state buffer of %zu bytes; "
                        "'make -C %s' or 'make -C %s mcu'\n", dir, len, state_bytes, dir, dir);
    return rc;
}

int cmd_export_c(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_BAD_INPUT;
        }
    }
    if (argc - optind != 1 || !out) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    uint8_t *file = NULL;
    size_t len = 0;
    snn_model *m = NULL;
    int rc = cli_load_snn(argv[optind], &file, &len, &m);
    if (rc == 0)
        rc = write_project(argv[optind], out, m, file, len);
    free(m);
    free(file);
    return rc;
}
