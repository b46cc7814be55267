/* Load an ONNX model bound to a set of TensorProto inputs and evaluate it: what
 * `ann2snn infer` and the ONNX conformance test both do. Inputs are matched to the
 * graph's inputs by position (initializers excluded), as ONNX's backend tests lay them out;
 * int64 inputs become constants (shape parameters), float inputs are fed at run time. */
#ifndef ANN2SNN_PB_SESSION_H
#define ANN2SNN_PB_SESSION_H

#include "eval/eval.h"
#include "onnx_import.h"
#include "proto/tensorproto.h"

typedef struct {
    snn_graph graph;
    snn_eval eval;
} snn_pb_session;

snn_status snn_pb_session_run(const char *model, const snn_tensor_file *inputs, int n_inputs,
                              bool optimize, snn_pb_session *s, snn_diag *diag);
void snn_pb_session_free(snn_pb_session *s);

#endif
