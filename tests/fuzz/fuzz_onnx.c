/* ONNX import: nesting pre-scan, protobuf-c unpack, translation, shape inference, passes and
 * the IR verifier (all inside snn_onnx_load_buffer); on success the verifier once more. */
#include "fuzz.h"
#include "ir/graph.h"
#include "onnx/onnx_import.h"
#include "ir/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snn_graph g;
    snn_diag d;
    if (snn_onnx_load_buffer(data, size, NULL, &g, &d) == SNN_OK) {
        snn_graph_verify(&g, &d);
        snn_graph_free(&g);
    }
    return 0;
}
