/* Whole-file reads with a size cap, and atomic writes (temporary file + rename), so an
 * interrupted run leaves the old file or none, never a truncated one. */
#ifndef ANN2SNN_FILEIO_H
#define ANN2SNN_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"

/* Read path into a malloc'd buffer (*data, *len). Files above max_bytes are refused. */
snn_status snn_file_read_all(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             snn_diag *diag);
/* Write len bytes to path atomically. */
snn_status snn_file_write_atomic(const char *path, const void *data, size_t len, snn_diag *diag);

#endif
