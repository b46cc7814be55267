/* ONNX ModelProto -> snn_graph. With converter/proto/, the only code that sees protobuf-c types.
 *
 * Order of work: unpack, check the opset, turn initializers and Constant nodes into
 * constant tensors, declare graph inputs (binding symbolic dimensions), translate each
 * node's op and attributes, resolve names to tensor indices, sort, infer shapes and fold
 * constants, then optimise and verify. Every failure names the node and what is wrong. */
#include "onnx_import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/fileio.h"
#include "ir/op_info.h"
#include "passes/passes.h"
#include "proto/pb_nesting.h"
#include "proto/tensorproto.h"
#include "proto/tensorproto_pb.h"
#include "ir/verify.h"

void snn_import_options_init(snn_import_options *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 1;
    o->optimize = true;
}

/* ---------------------------------------------------------------- attributes */

typedef struct {
    const Onnx__NodeProto *np;
    const char *node; /* name for messages */
    snn_diag *diag;
} attr_ctx;

static const Onnx__AttributeProto *find_attr(const attr_ctx *c, const char *name)
{
    for (size_t i = 0; i < c->np->n_attribute; i++)
        if (c->np->attribute[i]->name && strcmp(c->np->attribute[i]->name, name) == 0)
            return c->np->attribute[i];
    return NULL;
}

static snn_status type_error(const attr_ctx *c, const char *name, const char *want)
{
    return snn_diag_at(c->diag, SNN_ERR_FORMAT, c->node, "attribute '%s' of node '%s' must be %s",
                       name, c->node, want);
}

static snn_status attr_int(const attr_ctx *c, const char *name, int64_t *v)
{
    const Onnx__AttributeProto *a = find_attr(c, name);
    if (!a)
        return SNN_OK; /* keep the default already in *v */
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return type_error(c, name, "an int");
    *v = a->i;
    return SNN_OK;
}

static snn_status attr_float(const attr_ctx *c, const char *name, float *v)
{
    const Onnx__AttributeProto *a = find_attr(c, name);
    if (!a)
        return SNN_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        return type_error(c, name, "a float");
    *v = a->f;
    return SNN_OK;
}

/* ints attribute with exactly `want` values (or any count up to max when want < 0). */
static snn_status attr_ints(const attr_ctx *c, const char *name, int want, int max, int64_t *v,
                            int *count)
{
    const Onnx__AttributeProto *a = find_attr(c, name);
    if (count)
        *count = 0;
    if (!a)
        return SNN_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return type_error(c, name, "a list of ints");
    if ((want >= 0 && a->n_ints != (size_t)want) || a->n_ints > (size_t)max)
        return snn_diag_at(c->diag, SNN_ERR_UNSUPPORTED, c->node,
                           "attribute '%s' of node '%s' has %zu values; ann2snn handles 2-D "
                           "(expected %d)", name, c->node, a->n_ints, want >= 0 ? want : max);
    if (a->n_ints) /* protobuf-c leaves ints NULL when empty; memcpy from NULL is undefined */
        memcpy(v, a->ints, a->n_ints * sizeof *v);
    if (count)
        *count = (int)a->n_ints;
    return SNN_OK;
}

static snn_status attr_string(const attr_ctx *c, const char *name, char *buf, size_t cap)
{
    const Onnx__AttributeProto *a = find_attr(c, name);
    if (!a)
        return SNN_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        return type_error(c, name, "a string");
    size_t n = a->s.len < cap - 1 ? a->s.len : cap - 1;
    if (n)
        memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return SNN_OK;
}

#define TRY(expr)                                                                          \
    do {                                                                                   \
        snn_status try_st_ = (expr);                                                       \
        if (try_st_ != SNN_OK)                                                             \
            return try_st_;                                                                \
    } while (0)

/* Window attributes shared by Conv, MaxPool and AveragePool (2-D only). */
static snn_status window_attrs(const attr_ctx *c, snn_attrs *at, bool need_kernel)
{
    int nk = 0;
    TRY(attr_ints(c, "kernel_shape", -1, SNN_MAX_RANK, at->kernel, &nk));
    if (need_kernel && nk == 0)
        return snn_diag_at(c->diag, SNN_ERR_FORMAT, c->node, "node '%s' has no kernel_shape", c->node);
    if (nk && nk != 2)
        return snn_diag_at(c->diag, SNN_ERR_UNSUPPORTED, c->node,
                           "node '%s' is a %d-D window; ann2snn handles 2-D only", c->node, nk);
    TRY(attr_ints(c, "strides", 2, 2, at->strides, NULL));
    TRY(attr_ints(c, "dilations", 2, 2, at->dilations, NULL));
    TRY(attr_ints(c, "pads", 4, 4, at->pads, NULL));
    char ap[32] = "NOTSET";
    TRY(attr_string(c, "auto_pad", ap, sizeof ap));
    if (strcmp(ap, "NOTSET") == 0 || ap[0] == '\0')
        at->auto_pad = SNN_AUTO_PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0)
        at->auto_pad = SNN_AUTO_PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        at->auto_pad = SNN_AUTO_PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0)
        at->auto_pad = SNN_AUTO_PAD_VALID;
    else
        return snn_diag_at(c->diag, SNN_ERR_FORMAT, c->node, "node '%s': unknown auto_pad '%s'",
                           c->node, ap);
    int64_t v = 0;
    TRY(attr_int(c, "ceil_mode", &v));
    at->ceil_mode = v != 0;
    v = 0;
    TRY(attr_int(c, "count_include_pad", &v));
    at->count_include_pad = v != 0;
    return SNN_OK;
}

/* Fill n->attr from the node's attributes, refusing what would change semantics silently. */
static snn_status translate_attrs(const attr_ctx *c, snn_node *n, int64_t opset)
{
    snn_attrs *at = &n->attr;
    int64_t v;
    switch (n->op) {
    case SNN_OP_GEMM:
        TRY(attr_float(c, "alpha", &at->alpha));
        TRY(attr_float(c, "beta", &at->beta));
        v = 0;
        TRY(attr_int(c, "transA", &v));
        at->trans_a = v != 0;
        v = 0;
        TRY(attr_int(c, "transB", &v));
        at->trans_b = v != 0;
        break;
    case SNN_OP_CONV:
        TRY(window_attrs(c, at, false));
        TRY(attr_int(c, "group", &at->group));
        break;
    case SNN_OP_MAXPOOL:
        TRY(window_attrs(c, at, true));
        v = 0;
        TRY(attr_int(c, "storage_order", &v)); /* affects only the Indices output */
        break;
    case SNN_OP_AVGPOOL:
        TRY(window_attrs(c, at, true));
        break;
    case SNN_OP_BATCHNORM:
        TRY(attr_float(c, "epsilon", &at->epsilon));
        v = 1;
        TRY(attr_int(c, "spatial", &v));
        if (!v)
            return snn_diag_at(c->diag, SNN_ERR_UNSUPPORTED, c->node,
                               "node '%s': BatchNormalization with spatial=0 is not supported",
                               c->node);
        v = 0;
        TRY(attr_int(c, "training_mode", &v));
        if (v)
            return snn_diag_at(c->diag, SNN_ERR_UNSUPPORTED, c->node,
                               "node '%s': BatchNormalization in training mode; export the model "
                               "in eval mode", c->node);
        break;
    case SNN_OP_CLIP:
        if (opset < 11) {
            TRY(attr_float(c, "min", &at->clip_min));
            TRY(attr_float(c, "max", &at->clip_max));
        }
        break;
    case SNN_OP_PAD: {
        char mode[32] = "constant";
        TRY(attr_string(c, "mode", mode, sizeof mode));
        if (strcmp(mode, "constant") != 0)
            return snn_diag_at(c->diag, SNN_ERR_UNSUPPORTED, c->node,
                               "node '%s': Pad mode '%s' is not supported (constant only)", c->node,
                               mode);
        if (opset < 11) {
            int64_t pads[2 * SNN_MAX_RANK];
            int np = 0;
            TRY(attr_ints(c, "pads", -1, 2 * SNN_MAX_RANK, pads, &np));
            TRY(attr_float(c, "value", &at->pad_value));
            at->ints = malloc((size_t)(np ? np : 1) * sizeof *at->ints);
            if (!at->ints)
                return snn_diag_set(c->diag, SNN_ERR_NOMEM, "out of memory");
            memcpy(at->ints, pads, (size_t)np * sizeof *pads);
            at->n_ints = np;
        }
        break;
    }
    case SNN_OP_UNSQUEEZE:
    case SNN_OP_SQUEEZE:
        if (opset < 13) {
            int64_t axes[SNN_MAX_RANK];
            int na = 0;
            TRY(attr_ints(c, "axes", -1, SNN_MAX_RANK, axes, &na));
            if (na) {
                at->ints = malloc((size_t)na * sizeof *at->ints);
                if (!at->ints)
                    return snn_diag_set(c->diag, SNN_ERR_NOMEM, "out of memory");
                memcpy(at->ints, axes, (size_t)na * sizeof *axes);
                at->n_ints = na;
            }
        }
        break;
    case SNN_OP_FLATTEN:
    case SNN_OP_GATHER:
        at->axis = n->op == SNN_OP_FLATTEN ? 1 : 0;
        TRY(attr_int(c, "axis", &at->axis));
        break;
    case SNN_OP_CONCAT:
        if (!find_attr(c, "axis"))
            return snn_diag_at(c->diag, SNN_ERR_FORMAT, c->node, "Concat node '%s' has no axis",
                               c->node);
        TRY(attr_int(c, "axis", &at->axis));
        break;
    case SNN_OP_SOFTMAX:
    case SNN_OP_LOGSOFTMAX:
        /* Opset 13 changed the meaning: before it, axis splits the input into 2-D. */
        at->softmax_legacy = opset < 13;
        at->axis = opset < 13 ? 1 : -1;
        TRY(attr_int(c, "axis", &at->axis));
        break;
    case SNN_OP_RESHAPE:
        v = 0;
        TRY(attr_int(c, "allowzero", &v));
        at->allowzero = v != 0;
        break;
    case SNN_OP_SHAPE:
        TRY(attr_int(c, "start", &at->shape_start));
        TRY(attr_int(c, "end", &at->shape_end));
        break;
    case SNN_OP_CAST:
        v = 0;
        TRY(attr_int(c, "to", &v));
        if (v == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || v == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
            v == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16)
            at->cast_to = SNN_DTYPE_FLOAT;
        else if (v == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || v == ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
            at->cast_to = SNN_DTYPE_INT64;
        else
            return snn_diag_at(c->diag, SNN_ERR_UNSUPPORTED, c->node,
                               "node '%s': Cast to %s is not supported", c->node,
                               snn_onnx_dtype_name((int32_t)v));
        break;
    case SNN_OP_MATMUL:
    case SNN_OP_ADD:
    case SNN_OP_SUB:
    case SNN_OP_MUL:
    case SNN_OP_DIV:
    case SNN_OP_SUM:
    case SNN_OP_RELU:
    case SNN_OP_GLOBALAVGPOOL:
    case SNN_OP_GLOBALMAXPOOL:
    case SNN_OP_IDENTITY:
    case SNN_OP_DROPOUT: /* ratio and seed do not matter in inference */
        break; /* no attributes that change the result */
    }
    return SNN_OK;
}

/* ---------------------------------------------------------------- graph */

typedef struct {
    snn_graph *g;
    const snn_import_options *opts;
    snn_diag *diag;
} import_ctx;

static bool is_default_domain(const char *d)
{
    return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

static snn_status add_const_tensor(import_ctx *ic, const Onnx__TensorProto *tp, const char *name)
{
    snn_graph *g = ic->g;
    if (snn_graph_find_tensor(g, name) >= 0)
        return snn_diag_at(ic->diag, SNN_ERR_INVALID, name, "tensor name '%s' is defined twice", name);
    snn_dtype dt;
    int rank;
    int64_t dims[SNN_MAX_RANK];
    void *data;
    TRY(snn_tensorproto_convert(tp, name, &dt, &rank, dims, &data, ic->diag));
    int t = snn_graph_add_tensor(g, name, ic->diag);
    if (t < 0) {
        free(data);
        return SNN_ERR_NOMEM;
    }
    snn_tensor_set_shape(&g->tensors[t], rank, dims);
    snn_tensor_set_const(&g->tensors[t], dt, data);
    return SNN_OK;
}

/* A Constant node becomes a constant tensor directly. */
static snn_status constant_node(import_ctx *ic, const Onnx__NodeProto *np, const char *node)
{
    if (np->n_output != 1 || !np->output[0] || !*np->output[0])
        return snn_diag_at(ic->diag, SNN_ERR_FORMAT, node, "Constant node '%s' needs one output", node);
    if (np->n_attribute != 1)
        return snn_diag_at(ic->diag, SNN_ERR_FORMAT, node, "Constant node '%s' needs exactly one value attribute", node);
    const Onnx__AttributeProto *a = np->attribute[0];
    const char *out = np->output[0];
    if (a->name && strcmp(a->name, "value") == 0 && a->t)
        return add_const_tensor(ic, a->t, out);
    /* value_float(s) / value_int(s): build the tensor here. */
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t dim;
    float f;
    int64_t i;
    tp.has_data_type = 1;
    if (a->name && strcmp(a->name, "value_float") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) {
        f = a->f;
        tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        tp.n_float_data = 1;
        tp.float_data = &f;
    } else if (a->name && strcmp(a->name, "value_floats") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS) {
        tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        tp.n_float_data = a->n_floats;
        tp.float_data = a->floats;
        dim = (int64_t)a->n_floats;
        tp.n_dims = 1;
        tp.dims = &dim;
    } else if (a->name && strcmp(a->name, "value_int") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
        i = a->i;
        tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        tp.n_int64_data = 1;
        tp.int64_data = &i;
    } else if (a->name && strcmp(a->name, "value_ints") == 0 && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) {
        tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
        tp.n_int64_data = a->n_ints;
        tp.int64_data = a->ints;
        dim = (int64_t)a->n_ints;
        tp.n_dims = 1;
        tp.dims = &dim;
    } else {
        return snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, node,
                           "Constant node '%s': attribute '%s' is not supported", node,
                           a->name ? a->name : "");
    }
    return add_const_tensor(ic, &tp, out);
}

static const snn_input_binding *find_binding(const import_ctx *ic, const char *name)
{
    for (int i = 0; i < ic->opts->n_bindings; i++)
        if (strcmp(ic->opts->bindings[i].name, name) == 0)
            return &ic->opts->bindings[i];
    return NULL;
}

static snn_status declare_input(import_ctx *ic, const Onnx__ValueInfoProto *vi)
{
    snn_graph *g = ic->g;
    const char *name = vi->name ? vi->name : "";
    if (snn_graph_find_tensor(g, name) >= 0)
        return SNN_OK; /* an initializer listed as input (IR < 4 style): a constant */
    const snn_input_binding *b = find_binding(ic, name);
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, name, "graph input '%s' is not a tensor", name);
    int32_t et = tp->tensor_type->has_elem_type ? tp->tensor_type->elem_type : 0;
    /* Float inputs are fed at run time; int64 inputs are shape parameters and must be
     * bound to a value; any other element type is refused. */
    bool is_int = et == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || et == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    if (et != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && !(is_int && b && b->data))
        return snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, name,
                           "graph input '%s' has element type %s; ann2snn computes in float32%s",
                           name, snn_onnx_dtype_name(et), is_int ? " (integer inputs must be constants)" : "");
    int t = snn_graph_add_tensor(g, name, ic->diag);
    if (t < 0)
        return SNN_ERR_NOMEM;
    snn_tensor *ten = &g->tensors[t];
    if (b) {
        if (b->dtype != (is_int ? SNN_DTYPE_INT64 : SNN_DTYPE_FLOAT))
            return snn_diag_at(ic->diag, SNN_ERR_INVALID, name,
                               "the value given for graph input '%s' has the wrong element type", name);
        snn_tensor_set_shape(ten, b->rank, b->dims);
        if (snn_tensor_numel(ten) < 0)
            return snn_diag_at(ic->diag, SNN_ERR_LIMIT, name, "graph input '%s' is too large", name);
        if (is_int) {
            int64_t numel = snn_tensor_numel(ten);
            void *d = malloc((size_t)(numel > 0 ? numel : 1) * sizeof(int64_t));
            if (!d)
                return snn_diag_set(ic->diag, SNN_ERR_NOMEM, "out of memory");
            if (numel > 0)
                memcpy(d, b->data, (size_t)numel * sizeof(int64_t));
            snn_tensor_set_const(ten, SNN_DTYPE_INT64, d);
            return SNN_OK;
        }
    } else {
        const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
        if (!sp)
            return snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, name,
                               "graph input '%s' has no shape; give one when exporting", name);
        if (sp->n_dim > SNN_MAX_RANK)
            return snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, name, "graph input '%s' has rank %zu",
                               name, sp->n_dim);
        int64_t dims[SNN_MAX_RANK];
        for (size_t d = 0; d < sp->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = sp->dim[d];
            if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                dim->dim_value >= 0) {
                dims[d] = dim->dim_value;
            } else if (d == 0) {
                dims[d] = ic->opts->batch; /* symbolic batch */
            } else {
                return snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, name,
                                   "graph input '%s' has a symbolic dimension %zu ('%s'); only the "
                                   "batch dimension may be symbolic", name, d,
                                   dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                                           dim->dim_param ? dim->dim_param : "?");
            }
        }
        snn_tensor_set_shape(ten, (int)sp->n_dim, dims);
        if (snn_tensor_numel(ten) < 0)
            return snn_diag_at(ic->diag, SNN_ERR_LIMIT, name, "graph input '%s' is too large", name);
    }
    ten->dtype = SNN_DTYPE_FLOAT;
    ten->flags |= SNN_TENSOR_INPUT;
    int *ni = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *ni);
    if (!ni)
        return snn_diag_set(ic->diag, SNN_ERR_NOMEM, "out of memory");
    g->inputs = ni;
    g->inputs[g->n_inputs++] = t;
    return SNN_OK;
}

/* Outputs that must be unused because ann2snn does not compute them. */
static snn_status check_extra_outputs(import_ctx *ic, const Onnx__NodeProto *np, const char *node,
                                      const Onnx__GraphProto *gp)
{
    for (size_t k = 1; k < np->n_output; k++) {
        const char *o = np->output[k];
        if (!o || !*o)
            continue;
        bool used = false;
        for (size_t i = 0; i < gp->n_node && !used; i++)
            for (size_t j = 0; j < gp->node[i]->n_input && !used; j++)
                used = gp->node[i]->input[j] && strcmp(gp->node[i]->input[j], o) == 0;
        for (size_t i = 0; i < gp->n_output && !used; i++)
            used = gp->output[i]->name && strcmp(gp->output[i]->name, o) == 0;
        if (used)
            return snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, node,
                               "node '%s' (%s): output %zu ('%s') is used; ann2snn computes only "
                               "the first output of this op (inference mode)", node, np->op_type, k, o);
    }
    return SNN_OK;
}

static snn_status translate_graph(import_ctx *ic, const Onnx__ModelProto *mp)
{
    snn_graph *g = ic->g;
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp)
        return snn_diag_set(ic->diag, SNN_ERR_FORMAT, "the model has no graph");
    if (gp->n_node > 100000 || gp->n_initializer > 100000)
        return snn_diag_set(ic->diag, SNN_ERR_LIMIT, "the graph has more than 100000 nodes or initializers");
    if (gp->n_sparse_initializer)
        return snn_diag_set(ic->diag, SNN_ERR_UNSUPPORTED, "sparse initializers are not supported");

    /* Opset of the default domain. */
    g->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++)
        if (is_default_domain(mp->opset_import[i]->domain))
            g->opset = mp->opset_import[i]->version;
    if (g->opset < 0)
        return snn_diag_set(ic->diag, SNN_ERR_FORMAT, "the model imports no opset of the default ONNX domain");
    if (g->opset < 1 || g->opset > SNN_ONNX_OPSET_MAX)
        return snn_diag_set(ic->diag, SNN_ERR_UNSUPPORTED,
                            "opset %lld is outside the range ann2snn reads (%d to %d)",
                            (long long)g->opset, SNN_ONNX_OPSET_MIN, SNN_ONNX_OPSET_MAX);

    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (!e->key || !e->value)
            continue;
        float *dst = strcmp(e->key, "ann2snn.scale") == 0  ? &g->pre_scale
                     : strcmp(e->key, "ann2snn.mean") == 0 ? &g->pre_mean
                     : strcmp(e->key, "ann2snn.std") == 0  ? &g->pre_std
                                                           : NULL;
        if (!dst)
            continue;
        char *end;
        float v = strtof(e->value, &end);
        if (end == e->value || *end || !isfinite(v) || (dst == &g->pre_std && v <= 0))
            return snn_diag_set(ic->diag, SNN_ERR_FORMAT, "metadata %s='%s' is not a valid number",
                                e->key, e->value);
        *dst = v;
        g->has_preprocess = true;
    }

    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return snn_diag_set(ic->diag, SNN_ERR_FORMAT, "initializer %zu has no name", i);
        TRY(add_const_tensor(ic, tp, tp->name));
    }
    for (size_t i = 0; i < gp->n_input; i++)
        TRY(declare_input(ic, gp->input[i]));

    /* Pass 1: ops, attributes and output tensors, so inputs can refer forward. */
    int *node_of = malloc((gp->n_node ? gp->n_node : 1) * sizeof *node_of); /* (n_node) */
    if (!node_of)
        return snn_diag_set(ic->diag, SNN_ERR_NOMEM, "out of memory");
    snn_status st = SNN_OK;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        char auto_name[64];
        const char *node = np->name && *np->name ? np->name : NULL;
        if (!node) {
            snprintf(auto_name, sizeof auto_name, "#%zu", i);
            node = auto_name;
        }
        node_of[i] = -1;
        const char *op_type = np->op_type ? np->op_type : "";
        if (!is_default_domain(np->domain)) {
            st = snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, node,
                             "node '%s': op '%s' of domain '%s' is not supported", node, op_type,
                             np->domain);
            goto fail;
        }
        if (strcmp(op_type, "Constant") == 0) {
            st = constant_node(ic, np, node);
            if (st != SNN_OK)
                goto fail;
            continue;
        }
        snn_op op;
        if (!snn_op_from_name(op_type, &op)) {
            st = snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, node,
                             "node '%s': op '%s' (opset %lld) is not supported", node, op_type,
                             (long long)g->opset);
            goto fail;
        }
        if (g->opset < snn_op_info_of(op)->since) {
            st = snn_diag_at(ic->diag, SNN_ERR_UNSUPPORTED, node,
                             "node '%s': %s at opset %lld is not supported; ann2snn reads opset "
                             "%d to %d (older files only for ops unchanged since)", node, op_type,
                             (long long)g->opset, SNN_ONNX_OPSET_MIN, SNN_ONNX_OPSET_MAX);
            goto fail;
        }
        if (np->n_output < 1 || !np->output[0] || !*np->output[0]) {
            st = snn_diag_at(ic->diag, SNN_ERR_FORMAT, node, "node '%s' (%s) has no output", node, op_type);
            goto fail;
        }
        if (np->n_input > SNN_NODE_MAX_INPUTS) {
            st = snn_diag_at(ic->diag, SNN_ERR_LIMIT, node, "node '%s' has more than %d inputs", node,
                             SNN_NODE_MAX_INPUTS);
            goto fail;
        }
        st = check_extra_outputs(ic, np, node, gp);
        if (st != SNN_OK)
            goto fail;
        int ni = snn_graph_add_node(g, op, np->name, (int)np->n_input, 1, ic->diag);
        if (ni < 0) {
            st = SNN_ERR_NOMEM;
            goto fail;
        }
        attr_ctx ac = {np, node, ic->diag};
        st = translate_attrs(&ac, &g->nodes[ni], g->opset);
        if (st != SNN_OK)
            goto fail;
        if (snn_graph_find_tensor(g, np->output[0]) >= 0) {
            st = snn_diag_at(ic->diag, SNN_ERR_INVALID, node,
                             "node '%s' writes '%s', which is already defined", node, np->output[0]);
            goto fail;
        }
        int t = snn_graph_add_tensor(g, np->output[0], ic->diag);
        if (t < 0) {
            st = SNN_ERR_NOMEM;
            goto fail;
        }
        g->nodes[ni].outputs[0] = t;
        g->tensors[t].producer = ni;
        node_of[i] = ni;
    }
    /* Pass 2: resolve input names. */
    for (size_t i = 0; i < gp->n_node; i++) {
        if (node_of[i] < 0)
            continue;
        const Onnx__NodeProto *np = gp->node[i];
        snn_node *n = &g->nodes[node_of[i]];
        for (size_t k = 0; k < np->n_input; k++) {
            const char *in = np->input[k];
            if (!in || !*in)
                continue; /* omitted optional input */
            int t = snn_graph_find_tensor(g, in);
            if (t < 0) {
                st = snn_diag_at(ic->diag, SNN_ERR_INVALID, n->name,
                                 "node '%s' reads '%s', which no node, input or initializer provides",
                                 n->name, in);
                goto fail;
            }
            n->inputs[k] = t;
        }
    }
    if (gp->n_output == 0) {
        st = snn_diag_set(ic->diag, SNN_ERR_FORMAT, "the graph has no outputs");
        goto fail;
    }
    g->outputs = malloc(gp->n_output * sizeof *g->outputs);
    if (!g->outputs) {
        st = snn_diag_set(ic->diag, SNN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int t = snn_graph_find_tensor(g, name);
        if (t < 0) {
            st = snn_diag_at(ic->diag, SNN_ERR_INVALID, name, "graph output '%s' is never computed", name);
            goto fail;
        }
        g->outputs[g->n_outputs++] = t;
        g->tensors[t].flags |= SNN_TENSOR_OUTPUT;
    }
fail:
    free(node_of);
    return st;
}

/* protobuf-c's allocations through base/bigmem.h: a tensor's raw_data is most of a model's
 * bytes. What it allocates is freed by free(), so free_unpacked takes the default allocator. */
static void *pb_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return snn_big_malloc(n);
}

static void pb_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* Unpack a ModelProto with a graph, after bounding its nesting (pb_nesting.h). */
static snn_status unpack_model(const uint8_t *buf, size_t len, Onnx__ModelProto **out, snn_diag *diag)
{
    *out = NULL;
    snn_status st = snn_onnx_check_nesting(buf, len, diag);
    if (st != SNN_OK)
        return st;
    ProtobufCAllocator big = {.alloc = pb_alloc, .free = pb_free, .allocator_data = NULL};
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&big, len, buf);
    if (!mp)
        return snn_diag_set(diag, SNN_ERR_FORMAT,
                            "not a valid ONNX model: the protobuf data is truncated or corrupt");
    *out = mp;
    return SNN_OK;
}

snn_status snn_onnx_load_buffer(const uint8_t *buf, size_t len, const snn_import_options *opts,
                                snn_graph *g, snn_diag *diag)
{
    snn_import_options defaults;
    if (!opts) {
        snn_import_options_init(&defaults);
        opts = &defaults;
    }
    snn_graph_init(g);
    snn_diag_clear(diag);
    Onnx__ModelProto *mp;
    snn_status st0 = unpack_model(buf, len, &mp, diag);
    if (st0 != SNN_OK)
        return st0;
    import_ctx ic = {g, opts, diag};
    snn_status st = translate_graph(&ic, mp);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (st == SNN_OK)
        st = snn_graph_sort(g, diag);
    if (st == SNN_OK)
        st = snn_pass_infer_and_fold(g, diag);
    if (st == SNN_OK)
        st = snn_graph_verify(g, diag);
    if (st == SNN_OK && opts->optimize)
        st = snn_graph_optimize(g, diag);
    if (st != SNN_OK)
        snn_graph_free(g);
    return st;
}

snn_status snn_onnx_load_file(const char *path, const snn_import_options *opts, snn_graph *g,
                              snn_diag *diag)
{
    uint8_t *buf;
    size_t len;
    snn_graph_init(g);
    snn_status st = snn_file_read_all(path, SNN_PROTO_MAX_BYTES, &buf, &len, diag);
    if (st != SNN_OK)
        return st;
    st = snn_onnx_load_buffer(buf, len, opts, g, diag);
    free(buf);
    if (st == SNN_OK) {
        size_t n = strlen(path) + 1;
        g->source_name = malloc(n);
        if (g->source_name)
            memcpy(g->source_name, path, n);
    }
    return st;
}

snn_status snn_onnx_input_names(const char *path, char **names, int max, int *count,
                                snn_diag *diag)
{
    uint8_t *buf;
    size_t len;
    *count = 0;
    snn_diag_clear(diag);
    snn_status st = snn_file_read_all(path, SNN_PROTO_MAX_BYTES, &buf, &len, diag);
    if (st != SNN_OK)
        return st;
    Onnx__ModelProto *mp;
    st = unpack_model(buf, len, &mp, diag);
    free(buf);
    if (st != SNN_OK)
        return st;
    if (!mp->graph) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return snn_diag_set(diag, SNN_ERR_FORMAT, "the model has no graph");
    }
    const Onnx__GraphProto *gp = mp->graph;
    for (size_t i = 0; i < gp->n_input && st == SNN_OK; i++) {
        const char *name = gp->input[i]->name ? gp->input[i]->name : "";
        bool is_init = false;
        for (size_t k = 0; k < gp->n_initializer && !is_init; k++)
            is_init = gp->initializer[k]->name && strcmp(gp->initializer[k]->name, name) == 0;
        if (is_init)
            continue;
        const Onnx__TypeProto *tp = gp->input[i]->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
            st = snn_diag_at(diag, SNN_ERR_UNSUPPORTED, name,
                             "graph input '%s' is not a tensor (sequence, map or optional)", name);
            break;
        }
        if (*count < max) {
            size_t n = strlen(name) + 1;
            names[*count] = malloc(n);
            if (!names[*count])
                st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory");
            else
                memcpy(names[*count], name, n);
        }
        (*count)++;
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return st;
}

snn_status snn_onnx_op_types(const char *path, char *buf, size_t cap, snn_diag *diag)
{
    uint8_t *data;
    size_t len;
    buf[0] = '\0';
    snn_status st = snn_file_read_all(path, SNN_PROTO_MAX_BYTES, &data, &len, diag);
    if (st != SNN_OK)
        return st;
    Onnx__ModelProto *mp;
    st = unpack_model(data, len, &mp, diag);
    free(data);
    if (st != SNN_OK)
        return st;
    if (!mp->graph) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return snn_diag_set(diag, SNN_ERR_FORMAT, "the model has no graph");
    }
    size_t used = 0;
    for (size_t i = 0; i < mp->graph->n_node; i++) {
        const char *op = mp->graph->node[i]->op_type ? mp->graph->node[i]->op_type : "";
        /* Skip ops already listed (",op," against ",buf,"). */
        char probe[256];
        snprintf(probe, sizeof probe, ",%s,", op);
        char list[4096];
        snprintf(list, sizeof list, ",%s,", buf);
        if (strstr(list, probe))
            continue;
        int w = snprintf(buf + used, cap - used, "%s%s", used ? "," : "", op);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return SNN_OK;
}
