#include "eval_layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define FIX_BITS 16 /* activations and errors summed as round(v * 2^16) */

static int64_t fixed(double v)
{
    return llround(ldexp(v, FIX_BITS));
}

bool layer_plan_make(layer_plan *p, const snn_model *m, const snn_graph *g, const uint32_t *steps, int n_points,
                     char *msg, size_t msg_size)
{
    memset(p, 0, sizeof *p);
    if (!m->scale || !m->tensor_names) {
        snprintf(msg, msg_size, "the file has no layer scales (SCAL/TENS): an integer file, or one written "
                                "before format 1.5; convert the model again in float32");
        return false;
    }
    p->n_points = n_points < LAYERS_MAX_POINTS ? n_points : LAYERS_MAX_POINTS;
    memcpy(p->steps, steps, (size_t)p->n_points * sizeof *steps);
    const float *scale = m->scale;
    for (uint32_t i = 0; i < m->n_layers; scale += m->layers[i].c, i++) {
        const snn_layer *L = &m->layers[i];
        if (L->kind != SNN_LAYER_NEURON || i == m->output_layer)
            continue;
        const char *name = m->tensor_names + (size_t)i * SNN_TENS_NAME_SIZE;
        int t = name[0] ? snn_graph_find_tensor(g, name) : -1;
        if (t < 0 || snn_tensor_numel(&g->tensors[t]) != (int64_t)L->size)
            continue;
        p->layer[p->n] = i;
        p->tensor[p->n] = t;
        p->scale[p->n] = scale;
        p->n++;
    }
    if (p->n == 0) {
        snprintf(msg, msg_size, "no spiking layer's tensor is in the ONNX model: is it the model the file was "
                                "converted from?");
        return false;
    }
    return true;
}

snn_status layer_tally_init(layer_tally *t, const layer_plan *p, const snn_model *m, const snn_graph *g,
                            snn_diag *diag)
{
    memset(t, 0, sizeof *t);
    snn_status st = snn_eval_init(&t->ev, g, diag);
    for (int i = 0; i < p->n && st == SNN_OK; i++)
        if (!(t->count[i] = calloc(m->layers[p->layer[i]].size, sizeof(int32_t))))
            st = snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory for the layer diagnostics");
    return st;
}

void layer_tally_free(layer_tally *t, const layer_plan *p)
{
    for (int i = 0; i < p->n; i++)
        free(t->count[i]);
    snn_eval_free(&t->ev);
}

snn_status layer_tally_begin(layer_tally *t, const layer_plan *p, const float *x, snn_diag *diag)
{
    const float *feed[1] = {x};
    for (int i = 0; i < p->n; i++)
        memset(t->count[i], 0, (size_t)snn_tensor_numel(&t->ev.g->tensors[p->tensor[i]]) * sizeof(int32_t));
    return snn_eval_run(&t->ev, feed, diag);
}

void layer_tally_step(layer_tally *t, const layer_plan *p, const snn_state *s)
{
    for (int i = 0; i < p->n; i++)
        snn_state_add_step_spikes(s, p->layer[i], t->count[i]);
}

void layer_tally_point(layer_tally *t, const layer_plan *p, const snn_model *m, int k)
{
    double T = p->steps[k];
    int64_t most = (int64_t)m->burst * (int64_t)p->steps[k]; /* every step at its most spikes */
    for (int i = 0; i < p->n; i++) {
        const snn_layer *L = &m->layers[p->layer[i]];
        const float *a = snn_eval_tensor(&t->ev, p->tensor[i]); /* (C, H, W) */
        const int32_t *cnt = t->count[i];                       /* (H, W, C) */
        uint32_t hw = L->h * L->w;
        int64_t err = 0, act = 0, sat = 0;
        for (uint32_t c = 0; c < L->c; c++) {
            double lam = (double)p->scale[i][c];
            for (uint32_t q = 0; q < hw; q++) {
                double ann = fmax(0.0, (double)a[(size_t)c * hw + q]);
                int32_t n = cnt[(size_t)q * L->c + c];
                err += fixed(fabs((double)n / T * lam - ann));
                act += fixed(ann);
                sat += n >= most;
            }
        }
        t->err[i][k] += err;
        t->act[i][k] += act;
        t->sat[i][k] += sat;
        if (k == 0)
            t->neurons[i] += (int64_t)L->size;
    }
}

void layer_tally_add(layer_tally *dst, const layer_tally *src, const layer_plan *p)
{
    for (int i = 0; i < p->n; i++) {
        for (int k = 0; k < p->n_points; k++) {
            dst->err[i][k] += src->err[i][k];
            dst->act[i][k] += src->act[i][k];
            dst->sat[i][k] += src->sat[i][k];
        }
        dst->neurons[i] += src->neurons[i];
    }
}

void layer_tally_reduce(layer_tally *t, const layer_plan *p, const ann2snn_split *sp)
{
    if (!sp || sp->ranks <= 1 || !sp->all_reduce)
        return;
    for (int i = 0; i < p->n; i++) {
        sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_I64, t->err[i], p->n_points);
        sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_I64, t->act[i], p->n_points);
        sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_I64, t->sat[i], p->n_points);
    }
    sp->all_reduce(sp->ctx, ANN2SNN_REDUCE_SUM_I64, t->neurons, p->n);
}

double layer_relative_error(const layer_tally *t, int i, int k)
{
    return t->act[i][k] ? (double)t->err[i][k] / (double)t->act[i][k] : 0.0;
}

double layer_saturated(const layer_tally *t, int i, int k)
{
    return t->neurons[i] ? (double)t->sat[i][k] / (double)t->neurons[i] : 0.0;
}
