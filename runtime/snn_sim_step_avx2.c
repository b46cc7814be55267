/* The float step loops once more, compiled for AVX2 (snn_internal.h, SNN_AVX2_COPY): the same
 * source as snn_sim_step.c, with its two entry points renamed. Empty on other targets. */
#include "snn_internal.h"

#if SNN_AVX2_COPY && !defined(SNN_NO_FLOAT)
#pragma GCC target("avx2,popcnt")
#define snn_fsim_begin snn_fsim_begin_avx2
#define snn_fsim_step snn_fsim_step_avx2
#include "snn_sim_step.c"
#else
typedef int snn_sim_step_avx2_empty; /* ISO C: a translation unit declares something */
#endif
