/* The integer step loops once more, compiled for AVX2 (snn_internal.h, SNN_AVX2_COPY): the
 * same source as snn_qsim.c without its set-up functions (SNN_QSIM_STEP_ONLY), with begin()
 * and step() renamed. Empty on other targets. */
#include "snn_internal.h"

#if SNN_AVX2_COPY
#pragma GCC target("avx2,popcnt")
#pragma GCC diagnostic ignored "-Wunused-function" /* helpers only the set-up calls */
#define SNN_QSIM_STEP_ONLY 1
#define snn_qsim_begin snn_qsim_begin_avx2
#define snn_qsim_step snn_qsim_step_avx2
#include "snn_qsim.c"
#else
typedef int snn_qsim_step_avx2_empty; /* ISO C: a translation unit declares something */
#endif
