/* The size bound every reader keeps on a shape it reads from a file. */
#ifndef ANN2SNN_DIMS_H
#define ANN2SNN_DIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

/* True when every dimension is >= 0 and their product, with zeros counted as 1, is at most
 * SNN_MAX_NUMEL. Counting zeros as 1 matters: a zero dimension makes the tensor empty, but
 * the product of the others (a sample's size, a stride) must still not overflow. */
bool snn_dims_bounded(const int64_t *dims, int rank);

/* The shape as "[d0, d1, ...]" into buf (cap bytes, truncated if need be); returns buf. */
const char *snn_dims_str(const int64_t *dims, int rank, char *buf, size_t cap);

/* SNN_OK with the element count in *numel when snn_dims_bounded(); else SNN_ERR_LIMIT with
 * "WHAT has shape [..]: its dimensions multiply past ..." in diag, at where (may be NULL). */
snn_status snn_dims_check(const int64_t *dims, int rank, const char *what, const char *where,
                          int64_t *numel, snn_diag *diag);

#endif
