/* ONNX models for the library: loaded from a file or from bytes, with the SHA-256 of those
 * bytes (nettle) that the .snn file records; the preprocessing a conversion uses. */
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "base/fileio.h"
#include "onnx/onnx_import.h"
#include "proto/tensorproto.h"

static char *copy_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, name, n);
        s[n] = '\0';
    }
    return s;
}

ann2snn_status ann2snn_model_load_bytes(const void *bytes, size_t len, const char *name, ann2snn_model **model,
                                        ann2snn_diag *diag)
{
    if (!model)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_model_load_bytes: no place for the model");
    *model = NULL;
    if (!bytes && len)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_model_load_bytes: no bytes");
    ann2snn_model *m = calloc(1, sizeof *m);
    if (!m || !(m->name = copy_name(name))) {
        free(m);
        return api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
    }
    snn_diag d;
    snn_diag_clear(&d);
    snn_status st = snn_onnx_load_buffer(bytes, len, NULL, &m->graph, &d);
    if (st != SNN_OK) {
        ann2snn_model_free(m);
        return api_status(st, &d, diag);
    }
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, bytes);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, m->sha256);
    *model = m;
    return ANN2SNN_OK;
}

ann2snn_status ann2snn_model_load_file(const char *path, ann2snn_model **model, ann2snn_diag *diag)
{
    if (model)
        *model = NULL;
    if (!path)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_model_load_file: no path");
    uint8_t *buf = NULL;
    size_t len = 0;
    snn_diag d;
    snn_diag_clear(&d);
    snn_status st = snn_file_read_all(path, SNN_PROTO_MAX_BYTES, &buf, &len, &d);
    ann2snn_status as = st != SNN_OK ? api_status(st, &d, diag) : ann2snn_model_load_bytes(buf, len, path, model, diag);
    free(buf);
    if (as != ANN2SNN_OK && diag && !diag->where[0]) /* name the file where nothing narrower is named */
        snprintf(diag->where, sizeof diag->where, "%s", path);
    return as;
}

void ann2snn_model_free(ann2snn_model *model)
{
    if (!model)
        return;
    snn_graph_free(&model->graph);
    free(model->name);
    free(model);
}

int ann2snn_model_input_shape(const ann2snn_model *model, int64_t dims[8])
{
    const snn_graph *g = &model->graph;
    if (g->n_inputs != 1)
        return 0;
    const snn_tensor *in = &g->tensors[g->inputs[0]];
    int rank = in->rank < 8 ? in->rank : 8;
    for (int d = 0; d < rank; d++)
        dims[d] = in->dims[d];
    return rank;
}

ann2snn_status ann2snn_write_file(const char *path, const void *bytes, size_t len, ann2snn_diag *diag)
{
    if (!path || (!bytes && len))
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "ann2snn_write_file: no path or no bytes");
    snn_diag d;
    snn_diag_clear(&d);
    return api_status(snn_file_write_atomic(path, bytes, len, &d), &d, diag);
}

ann2snn_status api_pick_preprocess(const ann2snn_options *o, const snn_graph *g, bool raw_bytes, snn_preprocess *pp,
                                   ann2snn_diag *diag)
{
    bool meta = g && g->has_preprocess;
    memset(pp, 0, sizeof *pp);
    pp->scale = o->scale != 0.0f ? o->scale : meta ? g->pre_scale : raw_bytes ? 1.0f / 255.0f : 1.0f;
    pp->mean = o->n_mean ? o->mean[0] : meta ? g->pre_mean : 0.0f;
    pp->std = o->n_std ? o->std[0] : meta ? g->pre_std : 1.0f;
    int nm = o->n_mean ? o->n_mean : 1, ns = o->n_std ? o->n_std : 1;
    if (nm == 1 && ns == 1)
        return ANN2SNN_OK;
    /* Per channel: the input's channel axis is 1 (NCHW). */
    const snn_tensor *in = g && g->n_inputs == 1 ? &g->tensors[g->inputs[0]] : NULL;
    int64_t c = in && in->rank >= 2 ? in->dims[1] : 1;
    if ((nm != 1 && nm != c) || (ns != 1 && ns != c) || c < 2)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT,
                        "--mean/--std: %d and %d values for a model input of %lld channels (give 1, or one per channel)",
                        nm, ns, (long long)c);
    pp->channels = (int)c;
    for (int k = 0; k < pp->channels; k++) {
        pp->mean_c[k] = nm == 1 ? pp->mean : o->mean[k];
        pp->std_c[k] = ns == 1 ? pp->std : o->std[k];
    }
    return ANN2SNN_OK;
}

ann2snn_status api_load_snn(const void *bytes, size_t len, int64_t sample_size, uint8_t **file, snn_model **m,
                            ann2snn_diag *diag)
{
    *file = NULL, *m = NULL;
    if (!bytes && len)
        return api_fail(diag, ANN2SNN_ERR_ARGUMENT, "no .snn bytes");
    *file = malloc(len ? len : 1);
    *m = malloc(sizeof **m);
    if (!*file || !*m)
        return api_fail(diag, ANN2SNN_ERR_NOMEM, "out of memory");
    if (len)
        memcpy(*file, bytes, len);
    snn_rt_diag rd;
    if (snn_model_load(*m, *file, len, &rd) != SNN_RT_OK) {
        api_fail(diag, ANN2SNN_ERR_FORMAT, "%s", rd.msg);
        if (diag)
            diag->offset = rd.offset;
        return ANN2SNN_ERR_FORMAT;
    }
    const snn_model *mm = *m;
    if (sample_size >= 0 && sample_size != (int64_t)mm->input_size)
        return api_fail(diag, ANN2SNN_ERR_INVALID, "samples have %lld values, the SNN's input takes %u (%u x %u x %u)",
                        (long long)sample_size, mm->input_size, mm->input_c, mm->input_h, mm->input_w);
    return ANN2SNN_OK;
}
