/* Conversion options: the defaults, and setting one by its command-line name and spelling, so
 * that the ann2snn command line, C callers and the Python package parse options one way. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "snn_format.h"

_Static_assert(ANN2SNN_MAX_CHANNELS == SNN_MAX_PREP_CHANNELS, "the public channel limit is the converter's");
_Static_assert(sizeof(((ann2snn_diag *)0)->message) == sizeof(((snn_diag *)0)->msg) &&
                   sizeof(((ann2snn_diag *)0)->where) == sizeof(((snn_diag *)0)->where),
               "a diagnostic carries over whole");

ann2snn_status api_status(snn_status st, const snn_diag *from, ann2snn_diag *to)
{
    if (to && from && st != SNN_OK) {
        memcpy(to->message, from->msg, sizeof to->message);
        memcpy(to->where, from->where, sizeof to->where);
        to->offset = from->offset;
    }
    return (ann2snn_status)st; /* the same codes, ARGUMENT aside */
}

ann2snn_status api_fail(ann2snn_diag *to, ann2snn_status st, const char *fmt, ...)
{
    if (to) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(to->message, sizeof to->message, fmt, ap);
        va_end(ap);
        to->where[0] = '\0';
        to->offset = -1;
    }
    return st;
}

const char *ann2snn_status_name(ann2snn_status st)
{
    static const char *const names[] = {"ok", "io", "format", "unsupported", "invalid", "nomem", "limit", "argument"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

const char *ann2snn_version(void)
{
    return ANN2SNN_VERSION;
}

void ann2snn_free(void *p)
{
    free(p);
}

bool api_parse_float(const char *opt, const char *arg, float *out, ann2snn_diag *diag)
{
    char *end;
    float v = arg ? strtof(arg, &end) : 0.0f;
    if (!arg || end == arg || *end) {
        api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s: '%s' is not a number", opt, arg ? arg : "");
        return false;
    }
    *out = v;
    return true;
}

bool api_parse_long(const char *opt, const char *arg, long long min, long long max, long long *out,
                    ann2snn_diag *diag)
{
    char *end;
    long long v = arg ? strtoll(arg, &end, 10) : 0;
    if (!arg || end == arg || *end || v < min || v > max) {
        api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s: '%s' is not a whole number from %lld to %lld", opt, arg ? arg : "",
                 min, max);
        return false;
    }
    *out = v;
    return true;
}

bool api_parse_float_list(const char *opt, const char *arg, float *v, int *n, ann2snn_diag *diag)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", arg ? arg : "");
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == ANN2SNN_MAX_CHANNELS) {
            api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s: at most %d values", opt, ANN2SNN_MAX_CHANNELS);
            return false;
        }
        if (!api_parse_float(opt, tok, &v[(*n)++], diag))
            return false;
    }
    if (*n == 0 || buf[strlen(buf) - 1] == ',') {
        api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s: '%s' is not a number or a comma-separated list", opt, buf);
        return false;
    }
    return true;
}

void ann2snn_options_init(ann2snn_options *o)
{
    memset(o, 0, sizeof *o);
    o->calib_count = 1000;
    o->data_free = ANN2SNN_DATA_FREE_BN;
    o->bn_k = 6.0f; /* SNN_DEFAULT_BN_PRIOR_K */
    o->percentile = 99.9;
    o->headroom = 1.0f;
    o->correct_count = 256;
    o->correct_rounds = 3;
    o->v_init = 0.5f;
    o->steps = -1;
}

size_t ann2snn_options_size(void)
{
    return sizeof(ann2snn_options);
}

/* --norm METHOD */
static bool parse_norm(const char *s, ann2snn_options *o, ann2snn_diag *diag)
{
    static const struct { const char *name; ann2snn_norm norm; } plain[] = {
        {"max", ANN2SNN_NORM_MAX}, {"model", ANN2SNN_NORM_MODEL}, {"tsearch", ANN2SNN_NORM_TSEARCH},
        {"tsearch-layer", ANN2SNN_NORM_TSEARCH_LAYER}, {"percentile", ANN2SNN_NORM_PERCENTILE},
        {"channel", ANN2SNN_NORM_CHANNEL}};
    const char *eq = strchr(s, '=');
    size_t name_len = eq ? (size_t)(eq - s) : strlen(s);
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++) {
        if (strlen(plain[k].name) != name_len || strncmp(s, plain[k].name, name_len) != 0)
            continue;
        ann2snn_norm n = plain[k].norm;
        if (!eq) {
            o->norm = n;
            return true;
        }
        char *end;
        if (n == ANN2SNN_NORM_TSEARCH || n == ANN2SNN_NORM_TSEARCH_LAYER) {
            long t = strtol(eq + 1, &end, 10);
            if (end == eq + 1 || *end || t < 1 || t > 4096)
                break;
            o->norm = n, o->tsearch_steps = (uint32_t)t;
            return true;
        }
        if (n != ANN2SNN_NORM_PERCENTILE && n != ANN2SNN_NORM_CHANNEL)
            break;
        double p = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || !(p > 0 && p <= 100))
            break;
        o->norm = n, o->percentile = p;
        return true;
    }
    api_fail(diag, ANN2SNN_ERR_ARGUMENT,
             "--norm: '%s' is not max, percentile=P, channel=P, model, tsearch[=T] or tsearch-layer[=T] (0 < P <= 100, "
             "1 <= T <= 4096)", s);
    return false;
}

/* --data-free METHOD */
static bool parse_data_free(const char *s, ann2snn_options *o, ann2snn_diag *diag)
{
    static const struct { const char *name; ann2snn_data_free kind; } kinds[] = {
        {"uniform", ANN2SNN_DATA_FREE_UNIFORM}, {"smooth", ANN2SNN_DATA_FREE_SMOOTH},
        {"mix", ANN2SNN_DATA_FREE_MIX}, {"model", ANN2SNN_DATA_FREE_MODEL}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strcmp(s, kinds[k].name) == 0) {
            o->data_free = kinds[k].kind;
            return true;
        }
    if (strncmp(s, "bn", 2) == 0 && (s[2] == '\0' || s[2] == '=')) {
        float k = 6.0f;
        if (s[2] == '=' && (!api_parse_float("--data-free bn=K", s + 3, &k, diag) || !(k > 0.0f && k <= 100.0f))) {
            api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--data-free bn=K: K must be in (0, 100]");
            return false;
        }
        o->data_free = ANN2SNN_DATA_FREE_BN, o->bn_k = k;
        return true;
    }
    api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--data-free: '%s' is not uniform, smooth, mix, bn[=K] or model", s);
    return false;
}

/* One of the words in names (count of them) into *out; else "--NAME: 'S' is not A, B or C". */
static bool parse_word(const char *opt, const char *s, const char *const *names, int count, int *out,
                       ann2snn_diag *diag)
{
    for (int k = 0; k < count; k++)
        if (strcmp(s, names[k]) == 0) {
            *out = k;
            return true;
        }
    char list[256] = "";
    for (int k = 0; k < count; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k == 0 ? "" : k + 1 < count ? ", " : " or ",
                 names[k]);
    api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s: '%s' is not %s", opt, s, list);
    return false;
}

#define WORDS(...) (const char *const[]){__VA_ARGS__}, (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Set one option on a copy t of the options; the caller keeps t only if this succeeds. */
static bool set_option(ann2snn_options *t, const char *name, const char *v, ann2snn_diag *diag)
{
    long long n;
    int w;
    float f;
    if (strcmp(name, "reference-kernels") == 0) {
        t->reference_kernels = true;
        return true;
    }
    char opt[64];
    snprintf(opt, sizeof opt, "--%s", name);
    if (!v)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s needs a value", opt), false;
    if (strcmp(name, "calib-count") == 0)
        return api_parse_long(opt, v, 1, 1LL << 30, &n, diag) && (t->calib_count = n, true);
    if (strcmp(name, "data-free") == 0)
        return parse_data_free(v, t, diag);
    if (strcmp(name, "scale") == 0) {
        if (!api_parse_float(opt, v, &f, diag))
            return false;
        if (f == 0.0f)
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--scale must not be 0"), false;
        return t->scale = f, true;
    }
    if (strcmp(name, "mean") == 0)
        return api_parse_float_list(opt, v, t->mean, &t->n_mean, diag);
    if (strcmp(name, "std") == 0) {
        if (!api_parse_float_list(opt, v, t->std, &t->n_std, diag))
            return false;
        for (int k = 0; k < t->n_std; k++)
            if (t->std[k] == 0.0f)
                return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--std must not be 0"), false;
        return true;
    }
    if (strcmp(name, "norm") == 0)
        return parse_norm(v, t, diag);
    if (strcmp(name, "headroom") == 0) {
        if (!api_parse_float(opt, v, &f, diag))
            return false;
        if (!(f >= 1.0f && f <= 1000.0f))
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--headroom must be in [1, 1000]"), false;
        return t->headroom = f, true;
    }
    if (strcmp(name, "calibrate-for") == 0)
        return api_parse_long(opt, v, 1, 4096, &n, diag) && (t->calibrate_for = (uint32_t)n, true);
    if (strcmp(name, "correct") == 0)
        return parse_word(opt, v, WORDS("bias", "potential"), &w, diag) && (t->correct = (ann2snn_correct)w, true);
    if (strcmp(name, "correct-count") == 0)
        return api_parse_long(opt, v, 1, 1LL << 30, &n, diag) && (t->correct_count = n, true);
    if (strcmp(name, "correct-rounds") == 0)
        return api_parse_long(opt, v, 1, 16, &n, diag) && (t->correct_rounds = (uint32_t)n, true);
    if (strcmp(name, "burst") == 0)
        return api_parse_long(opt, v, 1, SNN_MAX_BURST, &n, diag) && (t->burst = (uint32_t)n, true);
    if (strcmp(name, "reset") == 0)
        return parse_word(opt, v, WORDS("subtract", "zero"), &w, diag) && (t->reset = (ann2snn_reset)w, true);
    if (strcmp(name, "spikes") == 0)
        return parse_word(opt, v, WORDS("signed", "positive"), &w, diag) && (t->spikes = (ann2snn_spikes)(w + 1), true);
    if (strcmp(name, "v-init") == 0) {
        if (!api_parse_float(opt, v, &f, diag))
            return false;
        if (!(f >= 0.0f && f <= 1.0f))
            return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "--v-init must be in [0, 1]"), false;
        return t->v_init = f, true;
    }
    if (strcmp(name, "readout") == 0)
        return parse_word(opt, v, WORDS("membrane", "spikes"), &w, diag) && (t->readout = (ann2snn_readout)w, true);
    if (strcmp(name, "coding") == 0)
        return parse_word(opt, v, WORDS("direct", "poisson", "ttfs"), &w, diag) && (t->coding = (ann2snn_coding)w, true);
    if (strcmp(name, "steps") == 0 || strcmp(name, "resolution") == 0)
        return api_parse_long(opt, v, 0, 1 << 20, &n, diag) && (t->steps = n, true);
    if (strcmp(name, "precision") == 0)
        return parse_word(opt, v, WORDS("float32", "int16", "int8"), &w, diag) &&
               (t->precision = (ann2snn_precision)w, true);
    if (strcmp(name, "threads") == 0)
        return api_parse_long(opt, v, 1, 256, &n, diag) && (t->threads = (int)n, true);
    return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "%s: no such conversion option", opt), false;
}

ann2snn_status ann2snn_options_set(ann2snn_options *o, const char *name, const char *value, ann2snn_diag *diag)
{
    if (!o || !name)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_options_set: no options or no name");
    ann2snn_options t = *o;
    if (!set_option(&t, name, value, diag))
        return ANN2SNN_ERR_ARGUMENT;
    *o = t;
    return ANN2SNN_OK;
}
