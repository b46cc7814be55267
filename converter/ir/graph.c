#include "graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void snn_graph_init(snn_graph *g)
{
    memset(g, 0, sizeof *g);
    g->pre_scale = 1.0f;
    g->pre_std = 1.0f;
}

static void node_free(snn_node *n)
{
    free(n->name);
    free(n->inputs);
    free(n->outputs);
    free(n->attr.ints);
    free(n->spiking.threshold);
    free(n->spiking.scale);
}

void snn_graph_free(snn_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_tensors; i++) {
        free(g->tensors[i].name);
        free(g->tensors[i].data);
        free(g->tensors[i].bn_prior);
    }
    for (int i = 0; i < g->n_nodes; i++)
        node_free(&g->nodes[i]);
    free(g->tensors);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->source_name);
    snn_graph_init(g);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Grow an array to hold at least need elements; doubles so appends stay linear. */
static bool grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return true;
    int ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > (1 << 28))
            return false;
        ncap *= 2;
    }
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

int snn_graph_add_tensor(snn_graph *g, const char *name, snn_diag *diag)
{
    if (!grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof *g->tensors)) {
        snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory adding tensor '%s'", name);
        return -1;
    }
    snn_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = dup_str(name);
    if (!t->name) {
        snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory adding tensor '%s'", name);
        return -1;
    }
    t->producer = -1;
    return g->n_tensors++;
}

int snn_graph_find_tensor(const snn_graph *g, const char *name)
{
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0)
            return i;
    return -1;
}

int snn_graph_add_node(snn_graph *g, snn_op op, const char *name, int n_inputs, int n_outputs,
                       snn_diag *diag)
{
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes))
        goto nomem;
    snn_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    char auto_name[64];
    if (!name || !*name) {
        snprintf(auto_name, sizeof auto_name, "%s_%d", snn_op_name(op), g->n_nodes);
        name = auto_name;
    }
    n->name = dup_str(name);
    n->inputs = calloc((size_t)(n_inputs > 0 ? n_inputs : 1), sizeof *n->inputs);
    n->outputs = calloc((size_t)(n_outputs > 0 ? n_outputs : 1), sizeof *n->outputs);
    if (!n->name || !n->inputs || !n->outputs) {
        node_free(n);
        goto nomem;
    }
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    for (int i = 0; i < n_inputs; i++)
        n->inputs[i] = -1;
    for (int i = 0; i < n_outputs; i++)
        n->outputs[i] = -1;
    n->attr.group = 1;
    n->attr.strides[0] = n->attr.strides[1] = 1;
    n->attr.dilations[0] = n->attr.dilations[1] = 1;
    n->attr.alpha = n->attr.beta = 1.0f;
    n->attr.epsilon = 1e-5f;
    n->attr.clip_min = -INFINITY;
    n->attr.clip_max = INFINITY;
    n->attr.axis = 1;
    n->attr.shape_end = INT64_MAX;
    return g->n_nodes++;
nomem:
    snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory adding node '%s'", name ? name : "");
    return -1;
}

int64_t snn_tensor_numel(const snn_tensor *t)
{
    if (!t->shape_known)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0)
            return -1;
        if (t->dims[i] > 0 && n > SNN_MAX_NUMEL / t->dims[i])
            return -1;
        n *= t->dims[i];
    }
    return n;
}

void snn_tensor_set_shape(snn_tensor *t, int rank, const int64_t *dims)
{
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->shape_known = true;
}

void snn_tensor_set_const(snn_tensor *t, snn_dtype dtype, void *data)
{
    free(t->data);
    t->data = data;
    t->dtype = dtype;
    t->flags |= SNN_TENSOR_CONST;
}

static void set_producers(snn_graph *g)
{
    for (int i = 0; i < g->n_tensors; i++)
        g->tensors[i].producer = -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0)
                g->tensors[g->nodes[i].outputs[k]].producer = i;
}

/* Kahn's algorithm with a FIFO seeded in model order: iterative (a deep graph cannot
 * exhaust the stack), linear in nodes + edges, and deterministic. */
snn_status snn_graph_sort(snn_graph *g, snn_diag *diag)
{
    snn_status st = SNN_OK;
    int nn = g->n_nodes, nt = g->n_tensors;
    size_t n_edges = 0;
    for (int i = 0; i < nn; i++)
        n_edges += (size_t)g->nodes[i].n_inputs;
    int *producer = malloc((size_t)(nt ? nt : 1) * sizeof *producer);  /* (n_tensors) */
    int *pending = calloc((size_t)(nn ? nn : 1), sizeof *pending);      /* (n_nodes) unmet inputs */
    int *cons_start = calloc((size_t)nt + 1, sizeof *cons_start);       /* (n_tensors + 1) CSR */
    int *cons = malloc((n_edges ? n_edges : 1) * sizeof *cons);         /* (n_edges) consumer nodes */
    int *queue = malloc((size_t)(nn ? nn : 1) * sizeof *queue);         /* (n_nodes) order */
    snn_node *sorted = malloc((size_t)(nn ? nn : 1) * sizeof *sorted);
    if (!producer || !pending || !cons_start || !cons || !queue || !sorted) {
        st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory sorting the graph");
        goto fail;
    }
    for (int i = 0; i < nt; i++)
        producer[i] = -1;
    for (int i = 0; i < nn; i++) {
        for (int k = 0; k < g->nodes[i].n_outputs; k++) {
            int t = g->nodes[i].outputs[k];
            if (t < 0)
                continue;
            if (producer[t] >= 0 || (g->tensors[t].flags & (SNN_TENSOR_INPUT | SNN_TENSOR_CONST))) {
                st = snn_diag_at(diag, SNN_ERR_INVALID, g->nodes[i].name,
                                 "tensor '%s' is written by more than one node or is also a graph "
                                 "input/initializer", g->tensors[t].name);
                goto fail;
            }
            producer[t] = i;
        }
    }
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int t = g->nodes[i].inputs[k];
            if (t >= 0 && producer[t] >= 0) {
                pending[i]++;
                cons_start[t + 1]++;
            }
        }
    for (int t = 0; t < nt; t++)
        cons_start[t + 1] += cons_start[t];
    {
        int *cursor = malloc((size_t)(nt ? nt : 1) * sizeof *cursor);
        if (!cursor) {
            st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory sorting the graph");
            goto fail;
        }
        memcpy(cursor, cons_start, (size_t)nt * sizeof *cursor);
        for (int i = 0; i < nn; i++)
            for (int k = 0; k < g->nodes[i].n_inputs; k++) {
                int t = g->nodes[i].inputs[k];
                if (t >= 0 && producer[t] >= 0)
                    cons[cursor[t]++] = i;
            }
        free(cursor);
    }
    int head = 0, tail = 0;
    for (int i = 0; i < nn; i++)
        if (pending[i] == 0)
            queue[tail++] = i;
    while (head < tail) {
        int i = queue[head++];
        for (int k = 0; k < g->nodes[i].n_outputs; k++) {
            int t = g->nodes[i].outputs[k];
            if (t < 0)
                continue;
            for (int c = cons_start[t]; c < cons_start[t + 1]; c++)
                if (--pending[cons[c]] == 0)
                    queue[tail++] = cons[c];
        }
    }
    if (tail < nn) {
        int i = 0;
        while (pending[i] == 0)
            i++;
        st = snn_diag_at(diag, SNN_ERR_INVALID, g->nodes[i].name,
                         "the graph has a cycle through node '%s' (%s)", g->nodes[i].name,
                         snn_op_name(g->nodes[i].op));
        goto fail;
    }
    for (int i = 0; i < nn; i++)
        sorted[i] = g->nodes[queue[i]];
    if (nn)
        memcpy(g->nodes, sorted, (size_t)nn * sizeof *sorted);
    set_producers(g);
fail:
    free(producer);
    free(pending);
    free(cons_start);
    free(cons);
    free(queue);
    free(sorted);
    return st;
}

int snn_graph_consumers(const snn_graph *g, int t)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == t)
                c++;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == t)
            c++;
    return c;
}

void snn_graph_prune(snn_graph *g)
{
    /* Nodes: walk backwards (consumers come after producers), dropping a node when none of
     * its outputs is read, and releasing its reads of earlier tensors. */
    int *uses = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *uses); /* (n_tensors) */
    if (!uses)
        return; /* pruning is an optimisation; the graph stays valid without it */
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] >= 0)
                uses[g->nodes[i].inputs[k]]++;
    for (int i = 0; i < g->n_outputs; i++)
        uses[g->outputs[i]]++;
    bool *keep = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *keep);
    if (!keep) {
        free(uses);
        return;
    }
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        snn_node *n = &g->nodes[i];
        keep[i] = false;
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && uses[n->outputs[k]] > 0)
                keep[i] = true;
        if (keep[i])
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                uses[n->inputs[k]]--;
    }
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (keep[i])
            g->nodes[w++] = g->nodes[i];
        else
            node_free(&g->nodes[i]);
    }
    g->n_nodes = w;
    free(keep);
    free(uses);

    /* Tensors: renumber the ones still referenced. */
    int *remap = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *remap);
    if (!remap)
        return; /* pruning is an optimisation; the graph stays valid without it */
    for (int i = 0; i < g->n_tensors; i++)
        remap[i] = -1;
    for (int i = 0; i < g->n_inputs; i++)
        remap[g->inputs[i]] = 0;
    for (int i = 0; i < g->n_outputs; i++)
        remap[g->outputs[i]] = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] >= 0)
                remap[g->nodes[i].inputs[k]] = 0;
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0)
                remap[g->nodes[i].outputs[k]] = 0;
    }
    int nt = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        if (remap[i] < 0) {
            free(g->tensors[i].name);
            free(g->tensors[i].data);
            free(g->tensors[i].bn_prior);
            continue;
        }
        remap[i] = nt;
        g->tensors[nt++] = g->tensors[i];
    }
    g->n_tensors = nt;
    for (int i = 0; i < g->n_inputs; i++)
        g->inputs[i] = remap[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++)
        g->outputs[i] = remap[g->outputs[i]];
    for (int i = 0; i < g->n_nodes; i++) {
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] >= 0)
                g->nodes[i].inputs[k] = remap[g->nodes[i].inputs[k]];
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0)
                g->nodes[i].outputs[k] = remap[g->nodes[i].outputs[k]];
    }
    free(remap);
    set_producers(g);
}
