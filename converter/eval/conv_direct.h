/* Direct convolution on x86-64 with AVX2 and FMA: the evaluator's path for convolutions without
 * groups. It reads the input in place (no im2col, which copies each value KH*KW times) and its
 * weights in a layout packed once per evaluator (a BLAS product repacks them on every call).
 * Grouped convolutions, narrow ones and other CPUs keep the im2col + BLAS lowering of
 * kernel_conv.c. */
#ifndef ANN2SNN_CONV_DIRECT_H
#define ANN2SNN_CONV_DIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The geometry of a Conv node: input (N, C, H, W), weights (M, C/G, KH, KW), output
 * (N, M, OH, OW); strides, dilations, and the top and left padding. */
typedef struct {
    int64_t N, C, H, W, M, OH, OW, KH, KW, G, Cg, Mg;
    int64_t sh, sw, dh, dw, pt, pl;
} conv_geom;

/* True when this CPU and this geometry take the direct path. */
bool conv_direct_applies(const conv_geom *q);
/* Floats of the packed weights, and the packing: wp = w (M, C, KH, KW) rearranged. */
size_t conv_direct_packed_size(const conv_geom *q);
void conv_direct_pack(const conv_geom *q, const float *w, float *wp);
/* Samples per conv_direct() call (enough output positions to reuse each weight block), and
 * the floats of scratch such a call needs (the samples' zero-padded input). */
int64_t conv_direct_chunk(const conv_geom *q);
size_t conv_direct_scratch(const conv_geom *q);
/* y (n, M, OH, OW) = bias + wp * x (n, C, H, W) for n <= conv_direct_chunk() samples; bias may
 * be NULL. Each output is the same sum in the same order whatever n and the other samples are;
 * the order differs from the reference kernel's, and the products are fused (FMA). */
void conv_direct(const conv_geom *q, int64_t n, const float *x, const float *wp,
                 const float *bias, float *y, float *scratch);

#endif
