/* ONNX models into the graph IR (the largest file accepted is SNN_PROTO_MAX_BYTES).
 * TensorProto (.pb) files are proto/tensorproto.h's. */
#ifndef ANN2SNN_ONNX_IMPORT_H
#define ANN2SNN_ONNX_IMPORT_H

#include "ir/graph.h"

/* Opsets read in full; older files only when every op is unchanged since (see import). */
#define SNN_ONNX_OPSET_MIN 7
#define SNN_ONNX_OPSET_MAX 18

/* Fixes a graph input: its shape (for symbolic dimensions) and, with data, its value
 * (the input then becomes a constant, as the int64 parameters of ONNX's tests need). */
typedef struct {
    const char *name;
    snn_dtype dtype;
    int rank;
    int64_t dims[SNN_MAX_RANK];
    const void *data; /* (numel) of dtype, copied; NULL to bind the shape only */
} snn_input_binding;

typedef struct {
    const snn_input_binding *bindings; /* (n_bindings) */
    int n_bindings;
    int64_t batch;  /* value of a symbolic leading (batch) dimension; default 1 */
    bool optimize;  /* run snn_graph_optimize(); default true */
} snn_import_options;

void snn_import_options_init(snn_import_options *o);

snn_status snn_onnx_load_buffer(const uint8_t *buf, size_t len, const snn_import_options *opts,
                                snn_graph *g, snn_diag *diag);
snn_status snn_onnx_load_file(const char *path, const snn_import_options *opts, snn_graph *g,
                              snn_diag *diag);

/* Names of the graph inputs fed at run time (initializers excluded), in order: up to max
 * malloc'd strings in names, their total number in *count. */
snn_status snn_onnx_input_names(const char *path, char **names, int max, int *count,
                                snn_diag *diag);

/* The distinct op types of a model's nodes, comma-separated, into buf (cap bytes). */
snn_status snn_onnx_op_types(const char *path, char *buf, size_t cap, snn_diag *diag);

#endif
