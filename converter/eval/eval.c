#include "eval.h"

#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"
#include "base/parallel.h"
#include "kernels.h"
#include "ir/verify.h"

/* Offsets are rounded up so each tensor starts on a 64-byte line (vector loads). */
#define ALIGN_FLOATS 16

void snn_eval_free(snn_eval *ev)
{
    if (!ev)
        return;
    free(ev->buf);
    free(ev->arena);
    free(ev->scratch);
    if (ev->packed && !ev->packed_shared) {
        for (int i = 0; i < ev->g->n_nodes; i++)
            free(ev->packed[i]);
        free(ev->packed);
    }
    memset(ev, 0, sizeof *ev);
}

static bool is_runtime(const snn_tensor *t)
{
    return !(t->flags & (SNN_TENSOR_CONST | SNN_TENSOR_INPUT));
}

/* Conv node n's constant weights packed for its fast path, or NULL when it reads them as they
 * are; *st is SNN_ERR_NOMEM when out of memory. */
static float *pack_node(const snn_graph *g, const snn_node *n, snn_status *st)
{
    *st = SNN_OK;
    if (n->op != SNN_OP_CONV)
        return NULL;
    size_t packed = snn_conv_fast_packed_size(g, n);
    const snn_tensor *w = &g->tensors[n->inputs[1]];
    if (!packed || !(w->flags & SNN_TENSOR_CONST))
        return NULL;
    float *p = snn_big_malloc(packed * sizeof *p);
    if (!p)
        *st = SNN_ERR_NOMEM;
    else
        snn_conv_fast_pack(g, n, w->data, p);
    return p;
}

/* The fast paths' scratch, and each Conv's constant weights packed once for its fast path
 * (or those of shared, when given). */
static snn_status prepare_conv_fast_paths(snn_eval *ev, const snn_eval_weights *shared)
{
    const snn_graph *g = ev->g;
    if (shared) {
        ev->packed = shared->packed;
        ev->packed_shared = true;
    } else if (!(ev->packed = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *ev->packed))) {
        return SNN_ERR_NOMEM;
    }
    size_t scratch = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const snn_node *n = &g->nodes[i];
        if (n->op != SNN_OP_CONV)
            continue;
        size_t need = snn_conv_fast_scratch(g, n);
        size_t need_one = ev->one ? snn_conv_fast_scratch(ev->one, n) : 0; /* sample by sample */
        scratch = need > scratch ? need : scratch;
        scratch = need_one > scratch ? need_one : scratch;
        snn_status st;
        if (!shared && !(ev->packed[i] = pack_node(g, n, &st)) && st != SNN_OK)
            return st;
    }
    if (scratch && !(ev->scratch = malloc(scratch * sizeof *ev->scratch)))
        return SNN_ERR_NOMEM;
    return SNN_OK;
}

typedef struct {
    const snn_graph *g;
    snn_eval_weights *w;
    int workers;
    snn_status st[SNN_MAX_THREADS];
} pack_run;

static void pack_worker(void *arg, int k)
{
    pack_run *r = arg;
    r->st[k] = SNN_OK;
    for (int i = k; i < r->g->n_nodes && r->st[k] == SNN_OK; i += r->workers) /* nodes dealt in turn */
        r->w->packed[i] = pack_node(r->g, &r->g->nodes[i], &r->st[k]);
}

snn_status snn_eval_weights_make(snn_eval_weights *w, const snn_graph *g, int workers, snn_diag *diag)
{
    w->n_nodes = g->n_nodes;
    w->packed = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *w->packed);
    pack_run *r = calloc(1, sizeof *r);
    snn_status st = w->packed && r ? SNN_OK : SNN_ERR_NOMEM;
    if (st == SNN_OK && snn_blas_available()) { /* else the evaluators take no fast path */
        *r = (pack_run){.g = g, .w = w, .workers = workers < 1 ? 1 : workers > SNN_MAX_THREADS ? SNN_MAX_THREADS : workers};
        st = snn_parallel_run(r->workers, pack_worker, r, diag);
        for (int k = 0; k < r->workers && st == SNN_OK; k++)
            st = r->st[k];
    }
    free(r);
    if (st != SNN_OK) {
        snn_eval_weights_free(w);
        return snn_diag_set(diag, st, "out of memory packing convolution weights");
    }
    return SNN_OK;
}

void snn_eval_weights_free(snn_eval_weights *w)
{
    if (w->packed)
        for (int i = 0; i < w->n_nodes; i++)
            free(w->packed[i]);
    free(w->packed);
    memset(w, 0, sizeof *w);
}

static snn_status eval_init(snn_eval *ev, const snn_graph *g, const snn_graph *one, const snn_eval_weights *shared,
                            snn_diag *diag)
{
    memset(ev, 0, sizeof *ev);
    ev->g = g;
    ev->one = one;
    snn_status st = snn_graph_verify(g, diag);
    if (st != SNN_OK)
        return st;
    ev->buf = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *ev->buf);
    if (!ev->buf)
        goto nomem;
    size_t total = 0;
    for (int t = 0; t < g->n_tensors; t++)
        if (is_runtime(&g->tensors[t]))
            total += ((size_t)snn_tensor_numel(&g->tensors[t]) + ALIGN_FLOATS - 1) / ALIGN_FLOATS *
                     ALIGN_FLOATS;
    if (total > (size_t)SNN_MAX_NUMEL)
        return snn_diag_set(diag, SNN_ERR_LIMIT, "activations need %zu floats, above the limit",
                            total);
    ev->arena = snn_big_calloc(total ? total : 1, sizeof *ev->arena);
    ev->arena_floats = total;
    if (!ev->arena)
        goto nomem;
    size_t off = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const snn_tensor *ten = &g->tensors[t];
        if (ten->flags & SNN_TENSOR_CONST) {
            ev->buf[t] = ten->data;
        } else if (is_runtime(ten)) {
            ev->buf[t] = ev->arena + off;
            off += ((size_t)snn_tensor_numel(ten) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
        }
    }
    ev->blas = snn_blas_available();
    if (ev->blas)
        snn_blas_single_thread();
    if (ev->blas && prepare_conv_fast_paths(ev, shared) != SNN_OK)
        goto nomem;
    return SNN_OK;
nomem:
    snn_eval_free(ev);
    return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory allocating activations");
}

snn_status snn_eval_init(snn_eval *ev, const snn_graph *g, snn_diag *diag)
{
    return eval_init(ev, g, NULL, NULL, diag);
}

snn_status snn_eval_init_samples(snn_eval *ev, const snn_graph *batch, const snn_graph *one, const snn_eval_weights *w,
                                 snn_diag *diag)
{
    memset(ev, 0, sizeof *ev);
    if (batch->n_nodes != one->n_nodes || batch->n_tensors != one->n_tensors || (w && w->n_nodes != one->n_nodes))
        return snn_diag_set(diag, SNN_ERR_INVALID, "a batched graph must have its one-sample graph's nodes");
    return eval_init(ev, batch, batch == one ? NULL : one, w, diag);
}

void snn_eval_use_reference(snn_eval *ev, bool reference)
{
    ev->blas = !reference && snn_blas_available();
}

/* Whether node n's fast path rounds a sample's outputs differently in a batch (BLAS). */
static bool batch_sensitive(const snn_graph *g, const snn_node *n)
{
    return n->op == SNN_OP_GEMM || n->op == SNN_OP_MATMUL || (n->op == SNN_OP_CONV && !snn_conv_fast_is_direct(g, n));
}

/* Node i of graph g (the evaluator's, or its one-sample graph) through its fast path (direct
 * convolution, BLAS) where it has one, else through its reference kernel. */
static snn_status run_fast(const snn_eval *ev, const snn_graph *g, int i, const void *const *in, float *out,
                           snn_diag *diag)
{
    const snn_node *n = &g->nodes[i];
    if (ev->blas) {
        switch (n->op) {
        case SNN_OP_CONV: return snn_kernel_conv_fast(g, n, in, out, ev->scratch, ev->packed[i], diag);
        case SNN_OP_GEMM: return snn_kernel_gemm_blas(g, n, in, out, diag);
        case SNN_OP_MATMUL: return snn_kernel_matmul_blas(g, n, in, out, diag);
        default: break;
        }
    }
    return snn_kernel_run(g, n, in, out, diag);
}

/* Node i of a batch, one sample at a time through the one-sample graph: run-time tensors
 * advance by a sample's elements, constants stay. */
static snn_status run_samples(const snn_eval *ev, int i, const void *const *in, float *out, snn_diag *diag)
{
    const snn_graph *one = ev->one;
    const snn_node *n = &one->nodes[i];
    int64_t samples = ev->g->tensors[n->outputs[0]].dims[0];
    int64_t out_step = snn_tensor_numel(&one->tensors[n->outputs[0]]);
    const void *in_s[SNN_NODE_MAX_INPUTS];
    snn_status st = SNN_OK;
    for (int64_t s = 0; s < samples && st == SNN_OK; s++) {
        for (int k = 0; k < n->n_inputs; k++) {
            int t = n->inputs[k];
            bool moves = t >= 0 && in[k] && !(one->tensors[t].flags & SNN_TENSOR_CONST);
            in_s[k] = moves ? (const float *)in[k] + s * snn_tensor_numel(&one->tensors[t]) : in[k];
        }
        st = run_fast(ev, one, i, in_s, out + s * out_step, diag);
    }
    return st;
}

static snn_status run_node(snn_eval *ev, int i, const void *const *in, float *out, snn_diag *diag)
{
    if (ev->blas && ev->one && batch_sensitive(ev->g, &ev->g->nodes[i]))
        return run_samples(ev, i, in, out, diag);
    return run_fast(ev, ev->g, i, in, out, diag);
}

/* Ops whose output holds the input's values in the same order (the `copy` kernel of the op
 * table): the evaluator points the output at the input instead of copying it. A graph output
 * is aliased only to the evaluator's own buffers: a graph input belongs to the caller, who may
 * free it before reading the outputs. */
static bool is_alias(const snn_node *n)
{
    switch (n->op) {
    case SNN_OP_FLATTEN: case SNN_OP_RESHAPE: case SNN_OP_IDENTITY: case SNN_OP_DROPOUT:
    case SNN_OP_UNSQUEEZE: case SNN_OP_SQUEEZE: return n->n_inputs >= 1 && n->inputs[0] >= 0;
    default: return false;
    }
}

snn_status snn_eval_run(snn_eval *ev, const float *const *inputs, snn_diag *diag)
{
    const snn_graph *g = ev->g;
    for (int k = 0; k < g->n_inputs; k++)
        ev->buf[g->inputs[k]] = (float *)(uintptr_t)inputs[k]; /* read-only: no node writes it */
    const void *in[SNN_NODE_MAX_INPUTS];
    for (int i = 0; i < g->n_nodes; i++) {
        const snn_node *n = &g->nodes[i];
        if (n->n_inputs > SNN_NODE_MAX_INPUTS)
            return snn_diag_at(diag, SNN_ERR_LIMIT, n->name, "more than 64 inputs");
        const float *src = is_alias(n) ? ev->buf[n->inputs[0]] : NULL;
        uintptr_t at = (uintptr_t)src, arena = (uintptr_t)ev->arena; /* unrelated pointers */
        bool owned = at >= arena && at < arena + ev->arena_floats * sizeof *ev->arena;
        const snn_tensor *to = &g->tensors[n->outputs[0]];
        if (src && (owned || !(to->flags & SNN_TENSOR_OUTPUT)) &&
            g->tensors[n->inputs[0]].dtype == to->dtype) {
            ev->buf[n->outputs[0]] = (float *)(uintptr_t)src; /* tensors are never written twice */
            continue;
        }
        for (int k = 0; k < n->n_inputs; k++)
            in[k] = n->inputs[k] >= 0 ? ev->buf[n->inputs[k]] : NULL;
        snn_status st = run_node(ev, i, in, ev->buf[n->outputs[0]], diag);
        if (st != SNN_OK)
            return st;
    }
    return SNN_OK;
}

const float *snn_eval_tensor(const snn_eval *ev, int t)
{
    return ev->buf[t];
}

const float *snn_eval_output(const snn_eval *ev, int k)
{
    return ev->buf[ev->g->outputs[k]];
}
