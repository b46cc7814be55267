/* The state API: preprocessing, and each call passed to the simulation of the file's kind,
 * float (snn_sim.c, snn_sim_step.c) or integer (snn_qsim.c), in the AVX2 copy of its step
 * loops where the state chose it (snn_internal.h). A device build for integer files defines
 * SNN_NO_FLOAT and links no float simulation; its loader then refuses float files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "snn_runtime.h"
#include "snn_internal.h"

static int is_int(const snn_model *m)
{
    return (m->features & SNN_FEATURE_INT) != 0;
}

#ifdef SNN_NO_FLOAT
/* Never reached: the loader refuses float files in this build. */
#define FLOAT_CALL(call, fallback) fallback
#else
#define FLOAT_CALL(call, fallback) call
#endif

size_t snn_state_mem_size(const snn_model *m)
{
    return is_int(m) ? snn_qsim_mem_size(m) : FLOAT_CALL(snn_fsim_mem_size(m), 0);
}

#if SNN_AVX2_COPY
/* The copy of the step loops this CPU runs (snn_internal.h). */
static uint8_t simd_of_cpu(void)
{
    const char *force = getenv("SNN_SIMD");
    if (force && strcmp(force, "baseline") == 0)
        return SNN_SIMD_BASELINE;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") ? SNN_SIMD_AVX2 : SNN_SIMD_BASELINE;
}
#endif

snn_rt_status snn_state_init(snn_state *s, const snn_model *m, void *mem, size_t mem_size)
{
    memset(s, 0, sizeof *s);
    snn_rt_status st = is_int(m) ? snn_qsim_init(s, m, mem, mem_size)
                                 : FLOAT_CALL(snn_fsim_init(s, m, mem, mem_size), SNN_RT_ERR_ARG);
#if SNN_AVX2_COPY
    s->simd = simd_of_cpu();
#endif
    return st;
}

void snn_state_begin(snn_state *s, const float *x, uint32_t coding, uint64_t seed)
{
#if SNN_AVX2_COPY
    if (s->simd == SNN_SIMD_AVX2) {
        if (is_int(s->m))
            snn_qsim_begin_avx2(s, x, coding, seed);
        else
            FLOAT_CALL(snn_fsim_begin_avx2(s, x, coding, seed), (void)0);
        return;
    }
#endif
    if (is_int(s->m))
        snn_qsim_begin(s, x, coding, seed);
    else
        FLOAT_CALL(snn_fsim_begin(s, x, coding, seed), (void)0);
}

void snn_state_step(snn_state *s)
{
#if SNN_AVX2_COPY
    if (s->simd == SNN_SIMD_AVX2) {
        if (is_int(s->m))
            snn_qsim_step_avx2(s);
        else
            FLOAT_CALL(snn_fsim_step_avx2(s), (void)0);
        return;
    }
#endif
    if (is_int(s->m))
        snn_qsim_step(s);
    else
        FLOAT_CALL(snn_fsim_step(s), (void)0);
}

const float *snn_state_output(const snn_state *s)
{
    return is_int(s->m) ? snn_qsim_output(s) : FLOAT_CALL(snn_fsim_output(s), NULL);
}

const int32_t *snn_state_output_q(const snn_state *s)
{
    return is_int(s->m) ? snn_qsim_output_q(s) : NULL;
}

int snn_state_predict(const snn_state *s)
{
    return is_int(s->m) ? snn_qsim_predict(s) : FLOAT_CALL(snn_fsim_predict(s), 0);
}

/* Readout value of class k: the output's membrane, or its spike count with the spike-count
 * readout. */
static float readout(const snn_state *s, const float *v, uint32_t k)
{
    const snn_model *m = s->m;
    if (m->readout != SNN_READOUT_SPIKES)
        return v[k];
    if (is_int(m))
        return (float)s->qcount[m->n_layers][k];
    return s->count[m->n_layers] ? s->count[m->n_layers][k] : v[k];
}

/* Bit j of a bit set. */
static int bit_of(const uint32_t *b, uint32_t j)
{
    return (int)(b[j >> 5] >> (j & 31) & 1u);
}

int snn_state_add_step_spikes(const snn_state *s, uint32_t i, int32_t *acc)
{
    const snn_model *m = s->m;
    if (i >= m->n_layers || (m->features & SNN_FEATURE_TTFS))
        return 0;
    const snn_layer *L = &m->layers[i];
    if ((L->flags & SNN_LAYER_F_OUTPUT) || s->t == 0)
        return 0;
    uint32_t size = m->buffer_size[i + 1];
    if (is_int(m)) {
        const uint32_t *bits = s->bits[i + 1], *neg = s->neg_bits[i + 1];
        for (uint32_t j = 0; j < size; j++)
            if (bit_of(bits, j))
                acc[j] += neg && bit_of(neg, j) ? -1 : 1;
        return 1;
    }
#ifndef SNN_NO_FLOAT
    if (L->kind == SNN_LAYER_NEURON && !s->scheduled[i]) { /* fire() leaves every neuron's flag */
        for (uint32_t j = 0; j < size; j++)
            acc[j] += (int32_t)s->flag[i][j];
        return 1;
    }
    /* The timing wheel, max-pool and concat layers list their events. */
    for (uint32_t q = 0; q < s->n_spikes[i + 1]; q++) {
        uint32_t e = s->spike_idx[i + 1][q];
        acc[SNN_SPIKE_INDEX(e)] += e & SNN_SPIKE_NEG ? -1 : 1;
    }
    return 1;
#else
    return 0;
#endif
}

int snn_state_decisive(const snn_state *s, uint32_t rule, float threshold)
{
    return snn_state_exit_score(s, rule) >= threshold;
}

float snn_state_exit_score(const snn_state *s, uint32_t rule)
{
    const snn_model *m = s->m;
    /* Not before as many steps as the network has layers: the first steps' readout carries the
     * biases and the initial membranes more than the input (measured: docs/models.md). */
    if (s->t < m->n_layers || m->n_classes == 0)
        return -1.0f; /* below every threshold */
    const float *v = snn_state_output(s);
    float top = readout(s, v, 0), second = -INFINITY, t = (float)s->t;
    for (uint32_t k = 1; k < m->n_classes; k++) {
        float x = readout(s, v, k);
        if (x > top)
            second = top, top = x;
        else if (x > second)
            second = x;
    }
    if (rule == SNN_EXIT_MARGIN)
        return m->n_classes > 1 ? (top - second) / t : INFINITY;
    /* max softmax of r / t: 1 / sum_k exp((r_k - top) / t) */
    float sum = 0.0f;
    for (uint32_t k = 0; k < m->n_classes; k++)
        sum += expf((readout(s, v, k) - top) / t);
    return 1.0f / sum;
}

/* The mean and 1/std of channel c; the same for every channel without PREP. */
static void prep_of(const snn_model *m, uint32_t c, float *mean, float *inv)
{
    *mean = m->pre_mean_c ? m->pre_mean_c[c] : m->pre_mean;
    *inv = 1.0f / (m->pre_std_c ? m->pre_std_c[c] : m->pre_std);
}

void snn_preprocess_u8(const snn_model *m, const uint8_t *raw, float *x)
{
    for (uint32_t i = 0; i < m->input_size; i++)
        x[i] = (float)raw[i];
    snn_preprocess_f32(m, x, x); /* element by element, so in place is fine */
}

void snn_preprocess_f32(const snn_model *m, const float *raw, float *x)
{
    uint32_t plane = m->input_h * m->input_w;
    for (uint32_t c = 0; c < m->input_c; c++) {
        float mean, inv;
        prep_of(m, c, &mean, &inv);
        for (uint32_t i = c * plane; i < (c + 1) * plane; i++)
            x[i] = (raw[i] * m->pre_scale - mean) * inv;
    }
}

