/* Status codes and the caller-owned diagnostic that every converter function fills.
 * The libraries never print: the CLI turns a diagnostic into one line on stderr. */
#ifndef ANN2SNN_DIAG_H
#define ANN2SNN_DIAG_H

#include <stdint.h>

typedef enum {
    SNN_OK = 0,
    SNN_ERR_IO,          /* file could not be opened or read */
    SNN_ERR_FORMAT,      /* bytes are not a valid file of the expected kind */
    SNN_ERR_UNSUPPORTED, /* valid input that ann2snn does not handle */
    SNN_ERR_INVALID,     /* inconsistent model: shapes, indices, cycles */
    SNN_ERR_NOMEM,
    SNN_ERR_LIMIT,       /* a size or count above the limits we accept */
} snn_status;

typedef struct {
    char msg[512];   /* what is wrong, in one sentence */
    char where[160]; /* node or tensor name, or "" */
    int64_t offset;  /* byte offset in the file, or -1 */
} snn_diag;

void snn_diag_clear(snn_diag *d);
/* Fill d (if not NULL) and return status; printf-style message. */
snn_status snn_diag_set(snn_diag *d, snn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Like snn_diag_set, naming the node or tensor the problem is at. */
snn_status snn_diag_at(snn_diag *d, snn_status status, const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
const char *snn_status_name(snn_status s);

#endif
