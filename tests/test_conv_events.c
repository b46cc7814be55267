/* The runtime's batched convolution scatter (snn_conv_events(), stride 1) against a direct
 * reference written from the definition: input spike (iy, ix, c) with sign s adds
 * s * w[c][kh][kw][m] to output (oy, ox, m) whenever iy + pt - oy = kh and ix + pl - ox = kw
 * fall inside the kernel. Both add the spikes in the same order, so every current must be
 * equal bit for bit, and the synaptic operations must be the count of such additions.
 * Geometries cover the compile-time channel counts (16, 32), others (5, 8, 48), 1x1 to 5x3
 * kernels, asymmetric pads and outputs smaller than the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "snn_internal.h"
#include "snn_runtime.h"

typedef struct {
    uint32_t c, h, w, m, kh, kw, pt, pl, pb, pr;
} geometry;

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t next_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static float next_weight(void)
{
    return (float)(next_u32() % 2001) / 1000.0f - 1.0f;
}

/* One geometry: random weights, spikes at `density` per mille with random signs. */
static void check_geometry(const geometry *g, uint32_t density)
{
    uint32_t oh = g->h + g->pt + g->pb - g->kh + 1, ow = g->w + g->pl + g->pr - g->kw + 1;
    uint32_t n_in = g->c * g->h * g->w, n_out = g->m * oh * ow, n_w = g->c * g->kh * g->kw * g->m;
    float *w = malloc(n_w * sizeof *w);          /* (C, KH, KW, M) */
    float *got = calloc(n_out, sizeof *got);     /* (OH, OW, M) */
    float *want = calloc(n_out, sizeof *want);   /* (OH, OW, M) */
    uint32_t *yx = malloc(n_in * sizeof *yx);    /* (H, W, C): y << 16 | x */
    uint32_t *idx = malloc(n_in * sizeof *idx);  /* events */
    assert_non_null(w), assert_non_null(got), assert_non_null(want), assert_non_null(yx), assert_non_null(idx);
    for (uint32_t k = 0; k < n_w; k++)
        w[k] = next_weight();
    for (uint32_t j = 0; j < n_in; j++)
        yx[j] = (j / g->c / g->w) << 16 | (j / g->c % g->w);
    uint32_t n = 0;
    for (uint32_t j = 0; j < n_in; j++)
        if (next_u32() % 1000 < density)
            idx[n++] = j | (next_u32() % 3 == 0 ? SNN_SPIKE_NEG : 0);

    snn_proj p;
    memset(&p, 0, sizeof p);
    p.kind = SNN_PROJ_CONV, p.source = 1, p.w = w, p.n_w = n_w;
    p.kh = (uint16_t)g->kh, p.kw = (uint16_t)g->kw, p.sh = p.sw = p.dh = p.dw = p.group = 1;
    p.pt = (uint16_t)g->pt, p.pl = (uint16_t)g->pl, p.pb = (uint16_t)g->pb, p.pr = (uint16_t)g->pr;
    p.src_c = g->c, p.src_h = g->h, p.src_w = g->w;
    snn_layer L;
    memset(&L, 0, sizeof L);
    L.kind = SNN_LAYER_NEURON, L.c = g->m, L.h = oh, L.w = ow, L.size = n_out;
    assert_true(snn_conv_fast_ok(&p));
    uint64_t ops = snn_conv_events(&p, &L, yx, idx, n, got);

    uint64_t want_ops = 0;
    for (uint32_t q = 0; q < n; q++) {
        uint32_t j = SNN_SPIKE_INDEX(idx[q]), c = j % g->c, iy = j / g->c / g->w, ix = j / g->c % g->w;
        float s = idx[q] & SNN_SPIKE_NEG ? -1.0f : 1.0f;
        for (uint32_t oy = 0; oy < oh; oy++)
            for (uint32_t ox = 0; ox < ow; ox++) {
                int32_t kh = (int32_t)(iy + g->pt) - (int32_t)oy, kw = (int32_t)(ix + g->pl) - (int32_t)ox;
                if (kh < 0 || kh >= (int32_t)g->kh || kw < 0 || kw >= (int32_t)g->kw)
                    continue;
                for (uint32_t mo = 0; mo < g->m; mo++)
                    want[(oy * ow + ox) * g->m + mo] += s * w[((c * g->kh + (uint32_t)kh) * g->kw + (uint32_t)kw) * g->m + mo];
                want_ops += g->m;
            }
    }
    assert_int_equal(ops, want_ops);
    for (uint32_t o = 0; o < n_out; o++)
        if (memcmp(&got[o], &want[o], sizeof(float)) != 0)
            fail_msg("c=%u h=%u w=%u m=%u k=%ux%u pads t%u l%u b%u r%u: current %u is %.9g, want %.9g", g->c, g->h,
                     g->w, g->m, g->kh, g->kw, g->pt, g->pl, g->pb, g->pr, o, (double)got[o], (double)want[o]);
    free(w), free(got), free(want), free(yx), free(idx);
}

static void test_geometries(void **state)
{
    (void)state;
    static const geometry gs[] = {
        {16, 14, 14, 32, 3, 3, 1, 1, 1, 1}, /* the bundled CNN's second convolution */
        {16, 28, 28, 16, 3, 3, 1, 1, 1, 1}, /* the ResNet's blocks */
        {32, 14, 14, 32, 3, 3, 1, 1, 1, 1},
        {1, 5, 7, 16, 1, 1, 0, 0, 0, 0},    /* 1x1 */
        {3, 6, 5, 16, 5, 3, 2, 0, 1, 2},    /* asymmetric kernel and pads */
        {4, 9, 9, 32, 3, 3, 0, 0, 0, 0},    /* valid: output smaller than input */
        {2, 4, 4, 5, 3, 3, 1, 1, 1, 1},     /* channel counts without a fixed-length path */
        {3, 5, 6, 8, 2, 4, 1, 2, 0, 1},
        {16, 7, 7, 48, 3, 3, 2, 2, 2, 2},   /* pads as large as the kernel reach */
        {16, 1, 1, 32, 3, 3, 1, 1, 1, 1},   /* one input position */
    };
    for (size_t k = 0; k < sizeof gs / sizeof gs[0]; k++)
        for (uint32_t density = 0; density <= 1000; density += 250)
            check_geometry(&gs[k], density);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
