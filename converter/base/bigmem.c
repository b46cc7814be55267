#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((uintptr_t)2 << 20)

/* Advise the whole 2 MB pages inside [p, p + n): malloc's large blocks start a little past a
 * page boundary, so the first and last partial pages stay small. */
static void *advise(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && n >= 2 * HUGE_PAGE) {
        uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        uintptr_t b = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
        if (b > a)
            (void)madvise((void *)a, b - a, MADV_HUGEPAGE); /* advice: failure changes nothing */
    }
#else
    (void)n;
#endif
    return p;
}

void *snn_big_malloc(size_t n)
{
    return advise(malloc(n ? n : 1), n);
}

void *snn_big_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    return advise(calloc(count ? count : 1, size ? size : 1), count * size);
}

void *snn_big_realloc(void *p, size_t n)
{
    return advise(realloc(p, n ? n : 1), n);
}
