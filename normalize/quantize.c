/* Integer files: a built float network (snn_net) to int8 or int16 weights and int32 neuron
 * parameters, so that the runtime's step loop is integer-only (runtime/snn_qsim.c).
 *
 * Per output channel, symmetric: channel c of a neuron layer gets the unit
 *     unit[c] = max |w| over every weight into channel c (all its projections) / qmax,
 * qmax = 127 (int8) or 32767 (int16), the scheme of per-channel weight quantisation in
 * Krishnamoorthi 2018 ("Quantizing deep convolutional networks for efficient inference: a
 * whitepaper", arXiv:1806.08342). The membrane counts in that unit, so the bias, threshold and
 * initial membrane are rounded to it as well, and the step loop needs no rescaling: a spike
 * adds its integer weight, the comparison with the integer threshold decides. Projections into
 * one layer (a residual Add) share its units. The output layer takes the largest unit of its
 * channels for all of them, so that its argmax compares integers. A unit is never below
 * threshold / 2^22, so that thresholds stay within the format's bounds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snn_net.h"

/* Output channel of weight i of projection p into layer L (layouts in snn_format.h). */
static uint32_t out_channel(const net_proj *p, const net_layer *L, uint32_t i)
{
    switch (p->kind) {
    case SNN_PROJ_DENSE: /* (n_src, n_out), channel-last outputs */
        return (i % (L->c * L->h * L->w)) % L->c;
    case SNN_PROJ_CONV: { /* (C_src, KH, KW, C_out / group) */
        uint32_t mg = L->c / p->group, per_c = (uint32_t)p->kh * p->kw * mg;
        uint32_t c_src = i / per_c, g = c_src / (p->src_c / p->group);
        return g * mg + i % mg;
    }
    default: /* AVGPOOL, GLOBALAVG, IDENTITY: (C_out) */
        return i;
    }
}

static int32_t clamp_round(double v, double lim)
{
    double r = nearbyint(v);
    return (int32_t)(r > lim ? lim : r < -lim ? -lim : r);
}

static snn_status quantize_layer(snn_net *net, uint32_t li, double qmax, snn_diag *diag)
{
    net_layer *L = &net->layers[li];
    uint32_t C = L->c;
    double *wmax = calloc(C, sizeof *wmax);
    L->unit = malloc(C * sizeof *L->unit);
    L->qparam = malloc(3 * (size_t)C * sizeof *L->qparam);
    if (!wmax || !L->unit || !L->qparam) {
        free(wmax);
        return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory quantising layer %s", L->name);
    }
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        const net_proj *p = &net->proj[k];
        for (uint32_t i = 0; i < p->n_w; i++) {
            double a = fabs((double)p->w[i]);
            uint32_t c = out_channel(p, L, i);
            wmax[c] = a > wmax[c] ? a : wmax[c];
        }
    }
    double common = 0;
    for (uint32_t c = 0; c < C; c++) {
        double floor_unit = (double)L->threshold[c] / (double)(1 << 22);
        double u = wmax[c] / qmax;
        wmax[c] = u > floor_unit ? u : floor_unit; /* now the unit */
        common = wmax[c] > common ? wmax[c] : common;
    }
    for (uint32_t c = 0; c < C; c++) {
        /* float: the runtime reports outputs in it; the integers below use the double */
        double u = (L->flags & SNN_LAYER_F_OUTPUT) ? common : wmax[c];
        wmax[c] = (double)(float)u;
        L->unit[c] = (float)u;
    }
    const double lim = (double)SNN_MAX_QPARAM;
    for (uint32_t c = 0; c < C; c++) {
        double u = wmax[c], th = (double)L->threshold[c];
        int32_t qt = clamp_round(th / u, lim);
        L->qparam[c] = clamp_round((double)L->bias[c] / u, lim);
        L->qparam[C + c] = qt < 1 ? 1 : qt;
        L->qparam[2 * C + c] = snn_qinit(L->qparam[C + c], net->v_init); /* as the runtime derives it (1.7) */
    }
    for (uint32_t k = L->proj_first; k < L->proj_first + L->proj_count; k++) {
        net_proj *p = &net->proj[k];
        p->wq = malloc((p->n_w ? p->n_w : 1) * sizeof *p->wq);
        if (!p->wq) {
            free(wmax);
            return snn_diag_set(diag, SNN_ERR_NOMEM, "out of memory quantising layer %s", L->name);
        }
        for (uint32_t i = 0; i < p->n_w; i++)
            p->wq[i] = (int16_t)clamp_round((double)p->w[i] / wmax[out_channel(p, L, i)], qmax);
    }
    free(wmax);
    return SNN_OK;
}

snn_status snn_net_quantize(snn_net *net, uint32_t dtype, float input_absmax, snn_diag *diag)
{
    if (dtype != SNN_DTYPE_I16 && dtype != SNN_DTYPE_I8)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED, "weight type %u is not an integer type", dtype);
    if (net->coding == SNN_CODING_TTFS)
        return snn_diag_set(diag, SNN_ERR_UNSUPPORTED,
                            "integer files are rate-coded; TTFS runs in float32 (--precision float32)");
    double qmax = dtype == SNN_DTYPE_I8 ? 127.0 : 32767.0;
    for (uint32_t i = 0; i < net->n_layers; i++) {
        if (net->layers[i].kind != SNN_LAYER_NEURON)
            continue;
        snn_status st = quantize_layer(net, i, qmax, diag);
        if (st != SNN_OK)
            return st;
    }
    /* The input as x * 2^frac with |x_q| <= SNN_MAX_INPUT_Q for |x| up to 4x the given range. */
    uint32_t frac = SNN_MAX_INPUT_FRAC;
    double span = 4.0 * (input_absmax > 0 && isfinite(input_absmax) ? (double)input_absmax : 1.0);
    while (frac > 0 && span * ldexp(1.0, (int)frac) > (double)SNN_MAX_INPUT_Q)
        frac--;
    net->input_frac = frac;
    net->weight_dtype = dtype;
    return SNN_OK;
}
