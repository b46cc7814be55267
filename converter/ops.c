#include <assert.h>

#include "graph.h"

/* Names as ONNX spells them; the order follows snn_op. */
static const char *const op_names[] = {
    "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Sum", "Conv", "Relu", "Clip",
    "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "Pad",
    "Flatten", "Reshape", "Concat", "Identity", "Dropout", "Softmax", "LogSoftmax",
    "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast",
};
static_assert(sizeof op_names / sizeof op_names[0] == SNN_OP_COUNT,
              "op_names must list every snn_op");

const char *snn_op_name(snn_op op)
{
    return (unsigned)op < SNN_OP_COUNT ? op_names[op] : "?";
}
