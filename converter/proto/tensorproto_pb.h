/* The protobuf-c side of the TensorProto reader, for the ONNX model importer
 * (converter/onnx/), which meets TensorProtos inside a model as initializers and
 * Constant nodes. Nothing outside converter/proto/ and converter/onnx/ includes this. */
#ifndef ANN2SNN_TENSORPROTO_PB_H
#define ANN2SNN_TENSORPROTO_PB_H

#include "base/diag.h"
#include "base/dtype.h"
#include "onnx.pb-c.h"

/* Convert a TensorProto into float32 or int64 data (*out malloc'd, numel elements of *dt,
 * shape in *rank/dims). where names it in messages. */
snn_status snn_tensorproto_convert(const Onnx__TensorProto *tp, const char *where, snn_dtype *dt,
                                   int *rank, int64_t *dims, void **out, snn_diag *diag);

/* ONNX's name of a TensorProto data type ("FLOAT", "INT64", ...), "unknown" when out of range. */
const char *snn_onnx_dtype_name(int32_t dt);

#endif
