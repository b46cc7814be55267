/* ONNX TensorProto (.pb) reader, alone and through the dataset dispatcher. */
#include "data/data.h"
#include "fuzz.h"
#include "proto/tensorproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snn_tensor_file t;
    snn_diag d;
    if (snn_tensorproto_read_buffer(data, size, &t, &d) == SNN_OK)
        snn_tensor_file_free(&t);
    snn_dataset ds;
    if (snn_dataset_parse(data, size, &ds, &d) == SNN_OK)
        snn_dataset_free(&ds);
    return 0;
}
