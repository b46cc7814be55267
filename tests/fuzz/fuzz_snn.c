/* .snn loader, then a few simulation steps of whatever loads: direct and Poisson rate coding
 * (with the first layer's per-step spike tally), and TTFS (exact and at resolution 4) for TTFS files. Each input is loaded twice: as it is,
 * and with its checksums recomputed, since a mutated file almost never passes its CRCs and
 * the fuzzer would not get past them to the checks behind. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "snn_file_edit.h"
#include "snn_runtime.h"

#define MAX_STATE_BYTES ((size_t)64 << 20) /* larger states only load (the caller's choice) */

static void load_and_run(const uint8_t *data, size_t size, int resealed);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_and_run(data, size, 0);
    load_and_run(data, size, 1);
    return 0;
}

static void load_and_run(const uint8_t *data, size_t size, int resealed)
{
    void *buf = malloc(size ? size : 1); /* malloc'd: aligned as the loader requires */
    snn_model *m = malloc(sizeof *m);
    if (!buf || !m)
        goto done;
    memcpy(buf, data, size);
    if (resealed)
        reseal(buf, size);
    snn_rt_diag d;
    if (snn_model_load(m, buf, size, &d) != SNN_RT_OK)
        goto done;
    size_t ms = snn_state_mem_size(m);
    if (ms > MAX_STATE_BYTES)
        goto done;
    void *mem = malloc(ms);
    float *x = malloc(m->input_size * sizeof *x);
    snn_state s;
    if (mem && x && snn_state_init(&s, m, mem, ms) == SNN_RT_OK) {
        for (uint32_t i = 0; i < m->input_size; i++)
            x[i] = (float)(i % 7) / 6.0f;
        snn_state_begin(&s, x, SNN_CODING_DIRECT, 1);
        for (int t = 0; t < 3; t++)
            snn_state_step(&s);
        snn_state_begin(&s, x, SNN_CODING_POISSON, 2);
        int32_t *count = calloc(m->n_layers ? m->buffer_size[1] : 1, sizeof *count);
        for (int t = 0; t < 2; t++) {
            snn_state_step(&s);
            if (count && m->n_layers) /* the per-step tally that bias correction reads */
                snn_state_add_step_spikes(&s, 0, count);
        }
        free(count);
        (void)snn_state_predict(&s);
        if (m->features & SNN_FEATURE_TTFS) {
            snn_state_run_ttfs(&s, x, 0);
            snn_state_run_ttfs(&s, x, 4);
            (void)snn_state_predict(&s);
        }
    }
    free(x);
    free(mem);
done:
    free(m);
    free(buf);
}
