/* Files built into ann2snn (embed_files.py): the runtime's sources and the export templates. */
#ifndef ANN2SNN_EMBEDDED_FILES_H
#define ANN2SNN_EMBEDDED_FILES_H

#include <stddef.h>

typedef struct {
    const char *name;           /* e.g. "runtime/snn_sim.c", "main.c.in"; NULL ends the list */
    const unsigned char *data;  /* (len) bytes, NUL after the last */
    size_t len;
} embedded_file;

extern const embedded_file snn_embedded_files[];

#endif
