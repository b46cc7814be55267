/* A pre-scan of ONNX protobuf bytes that bounds message nesting before protobuf-c unpacks
 * them: protobuf-c recurses once per nested message, so a small hostile file (a graph
 * attribute holding a graph holding a graph ..., or a TypeProto sequence of sequences)
 * could otherwise exhaust the stack. */
#ifndef ANN2SNN_PB_NESTING_H
#define ANN2SNN_PB_NESTING_H

#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"

/* Deeper than any real model: subgraphs nest a handful of levels. */
#define SNN_ONNX_MAX_NESTING 64

/* SNN_OK, or SNN_ERR_LIMIT naming the depth, or SNN_ERR_FORMAT for wire data too broken to
 * walk (protobuf-c would refuse it too). */
snn_status snn_onnx_check_nesting(const uint8_t *buf, size_t len, snn_diag *diag);

#endif
