#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void snn_diag_clear(snn_diag *d)
{
    if (!d)
        return;
    d->msg[0] = '\0';
    d->where[0] = '\0';
    d->offset = -1;
}

snn_status snn_diag_set(snn_diag *d, snn_status status, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

snn_status snn_diag_at(snn_diag *d, snn_status status, const char *where, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
        snprintf(d->where, sizeof d->where, "%s", where ? where : "");
    }
    return status;
}

const char *snn_status_name(snn_status s)
{
    switch (s) {
    case SNN_OK: return "ok";
    case SNN_ERR_IO: return "I/O error";
    case SNN_ERR_FORMAT: return "format error";
    case SNN_ERR_UNSUPPORTED: return "unsupported";
    case SNN_ERR_INVALID: return "invalid model";
    case SNN_ERR_NOMEM: return "out of memory";
    case SNN_ERR_LIMIT: return "limit exceeded";
    }
    return "unknown status";
}
