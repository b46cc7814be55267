/* IDX reader, plain or gzip (gunzip with a bounded output first, as the file reader does). */
#include <stdlib.h>

#include "data/data.h"
#include "fuzz.h"

#define MAX_GUNZIP ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snn_dataset ds;
    snn_diag d;
    if (snn_idx_parse(data, size, &ds, &d) == SNN_OK)
        snn_dataset_free(&ds);
    uint8_t *plain;
    size_t len;
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b && snn_gunzip(data, size, MAX_GUNZIP, &plain, &len, &d) == SNN_OK) {
        if (snn_idx_parse(plain, len, &ds, &d) == SNN_OK)
            snn_dataset_free(&ds);
        free(plain);
    }
    return 0;
}
