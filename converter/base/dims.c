#include "dims.h"

#include <stdio.h>

#include "dtype.h"

bool snn_dims_bounded(const int64_t *dims, int rank)
{
    int64_t bound = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0)
            return false;
        int64_t f = dims[d] > 0 ? dims[d] : 1;
        if (f > SNN_MAX_NUMEL / bound)
            return false;
        bound *= f;
    }
    return true;
}

const char *snn_dims_str(const int64_t *dims, int rank, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    for (int d = 0; d <= rank && used < cap; d++) {
        int w = d == rank ? snprintf(buf + used, cap - used, "]")
                          : snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "[", (long long)dims[d]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (rank == 0)
        snprintf(buf, cap, "[]");
    return buf;
}

snn_status snn_dims_check(const int64_t *dims, int rank, const char *what, const char *where,
                          int64_t *numel, snn_diag *diag)
{
    if (!snn_dims_bounded(dims, rank)) {
        char s[160];
        return snn_diag_at(diag, SNN_ERR_LIMIT, where ? where : "",
                           "%s has shape %s: its dimensions multiply past %lld elements (zeros "
                           "counted as 1)", what, snn_dims_str(dims, rank, s, sizeof s),
                           (long long)SNN_MAX_NUMEL);
    }
    *numel = 1;
    for (int d = 0; d < rank; d++)
        *numel *= dims[d];
    return SNN_OK;
}
