/* ONNX TensorProto (.pb) files to and from arrays: the data format of ONNX's conformance
 * tests and of `ann2snn infer`. Needs no protobuf-c header: the generated types stay in
 * tensorproto_pb.h, which only converter/proto/ and converter/onnx/ include. */
#ifndef ANN2SNN_TENSORPROTO_H
#define ANN2SNN_TENSORPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/dtype.h"

/* Largest .pb (or ONNX model) file accepted: protobuf's own limit is 2 GiB. */
#define SNN_PROTO_MAX_BYTES ((size_t)1 << 31)

/* A tensor read from a TensorProto: float32 (from any float type) or int64 (any integer). */
typedef struct {
    char *name;
    snn_dtype dtype;
    int rank;
    int64_t dims[SNN_MAX_RANK];
    void *data; /* (numel) */
} snn_tensor_file;

snn_status snn_tensorproto_read_buffer(const uint8_t *buf, size_t len, snn_tensor_file *t,
                                       snn_diag *diag);
snn_status snn_tensorproto_read_file(const char *path, snn_tensor_file *t, snn_diag *diag);
void snn_tensor_file_free(snn_tensor_file *t);
/* Write a float tensor as a TensorProto .pb (raw_data, little-endian), atomically. */
snn_status snn_tensorproto_write_file(const char *path, const char *name, int rank,
                                      const int64_t *dims, const float *data, snn_diag *diag);

#endif
