/* NumPy .npy reader. */
#include "data/data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snn_dataset ds;
    snn_diag d;
    if (snn_npy_parse(data, size, &ds, &d) == SNN_OK)
        snn_dataset_free(&ds);
    return 0;
}
