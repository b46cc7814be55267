/* ann2snn graph IR: a flat array of nodes in topological order, tensors by index.
 *
 * The IR knows nothing of protobuf: converter/onnx/ translates ONNX into it. Every pass
 * ends with snn_graph_verify() (verify.h), and the float evaluator (eval/eval.h) runs
 * directly on it. The ops are the rows of ops.def.
 */
#ifndef ANN2SNN_GRAPH_H
#define ANN2SNN_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/diag.h"
#include "base/dtype.h"

/* Inputs of one node (Sum, Concat are variadic). */
#define SNN_NODE_MAX_INPUTS 64

/* One value per row of ops.def, in its order. SNN_OP_COUNT stands apart so that a switch
 * over snn_op names every op and nothing else (the build has -Werror=switch). */
typedef enum {
#define SNN_OP(ENUM, ...) SNN_OP_##ENUM,
#include "ops.def"
#undef SNN_OP
} snn_op;
enum {
    SNN_OP_COUNT = 0
#define SNN_OP(...) +1
#include "ops.def"
#undef SNN_OP
};

/* The ONNX op_type of op ("?" out of range); ops.h has the rest of the row. */
const char *snn_op_name(snn_op op);

typedef enum {
    SNN_AUTO_PAD_NOTSET = 0,
    SNN_AUTO_PAD_SAME_UPPER,
    SNN_AUTO_PAD_SAME_LOWER,
    SNN_AUTO_PAD_VALID,
} snn_auto_pad;

/* Attributes of every op in one struct; each op reads only its own fields.
 * Spatial attributes are 2-D: 1-D and 3-D convolution/pooling are refused at import. */
typedef struct {
    int64_t kernel[2];    /* (kH, kW) */
    int64_t strides[2];   /* (sH, sW) */
    int64_t dilations[2]; /* (dH, dW) */
    int64_t pads[4];      /* (top, left, bottom, right): ONNX order begin..., end... */
    int64_t group;
    snn_auto_pad auto_pad; /* resolved into pads by shape inference, then NOTSET */
    bool ceil_mode;
    bool count_include_pad;

    float alpha, beta; /* Gemm */
    bool trans_a, trans_b;

    float epsilon; /* BatchNormalization */

    float clip_min, clip_max; /* Clip (attribute form, or constant inputs folded in) */

    int64_t axis;   /* Flatten, Concat, Softmax, Gather */
    bool allowzero; /* Reshape */
    bool softmax_legacy; /* opset < 13: Softmax/LogSoftmax coerce to 2-D at axis */

    float pad_value;    /* Pad: constant value */
    int64_t *ints;      /* (n_ints) Pad: pads (begin..., end...); Unsqueeze/Squeeze: axes */
    int n_ints;
    int64_t shape_start, shape_end; /* Shape (opset 15): slice of the shape */
    snn_dtype cast_to;  /* Cast */
} snn_attrs;

/* Parameters of a spiking layer, filled by normalization (normalize/) on the node
 * whose output is a neuron population. All NULL/0 until then. */
typedef struct {
    float *threshold; /* (n_channels) firing threshold per output channel */
    float *scale;     /* (n_channels) activation scale lambda per output channel */
    int n_channels;
} snn_spiking;

typedef enum {
    SNN_TENSOR_INPUT = 1u << 0,  /* graph input fed at evaluation */
    SNN_TENSOR_OUTPUT = 1u << 1, /* graph output */
    SNN_TENSOR_CONST = 1u << 2,  /* data holds its value */
} snn_tensor_flags;

typedef struct {
    char *name;
    snn_dtype dtype;
    int rank;
    int64_t dims[SNN_MAX_RANK]; /* (rank); -1 while unknown */
    bool shape_known;
    void *data;     /* (numel) float or int64, for constants only */
    uint32_t flags; /* snn_tensor_flags */
    int producer;   /* index of the node that writes it, -1 for inputs/constants */
    float *bn_prior; /* (2, dims[1]) the output of a BatchNormalization (folded or not): its
                      * beta and |gamma| per channel, the mean and std that the normalised
                      * pre-activation had in training; NULL otherwise. A data-free range. */
} snn_tensor;

typedef struct {
    snn_op op;
    char *name;      /* ONNX node name, or "<op>_<index>" when the model gave none */
    int n_inputs;
    int *inputs;     /* (n_inputs) tensor indices; -1 for an omitted optional input */
    int n_outputs;
    int *outputs;    /* (n_outputs) tensor indices; -1 for an omitted optional output */
    snn_attrs attr;
    snn_spiking spiking;
} snn_node;

typedef struct {
    snn_tensor *tensors; /* (n_tensors) */
    int n_tensors, cap_tensors;
    snn_node *nodes;     /* (n_nodes) in topological order after snn_graph_sort() */
    int n_nodes, cap_nodes;
    int *inputs;         /* (n_inputs) tensor indices of graph inputs fed at run time */
    int n_inputs;
    int *outputs;        /* (n_outputs) tensor indices of graph outputs */
    int n_outputs;
    int64_t opset;       /* default-domain opset the model was exported with */
    char *source_name;   /* file the graph came from, for messages */

    /* Preprocessing carried in the model's metadata (ann2snn.scale/mean/std). */
    bool has_preprocess;
    float pre_scale, pre_mean, pre_std;
    int pre_channels; /* > 1: per input channel, pre_mean_c/pre_std_c replace mean/std */
    float pre_mean_c[SNN_MAX_PREP_CHANNELS], pre_std_c[SNN_MAX_PREP_CHANNELS]; /* (pre_channels) */
} snn_graph;

/* Lifetime. */
void snn_graph_init(snn_graph *g);
void snn_graph_free(snn_graph *g);

/* Building. Return the new index or -1 when out of memory (diag filled). */
int snn_graph_add_tensor(snn_graph *g, const char *name, snn_diag *diag);
int snn_graph_find_tensor(const snn_graph *g, const char *name);
int snn_graph_add_node(snn_graph *g, snn_op op, const char *name, int n_inputs, int n_outputs,
                       snn_diag *diag);

/* Element count of a tensor with known shape; -1 when unknown or overflowing. */
int64_t snn_tensor_numel(const snn_tensor *t);
/* Set a tensor's shape (rank <= SNN_MAX_RANK) and mark it known. */
void snn_tensor_set_shape(snn_tensor *t, int rank, const int64_t *dims);
/* Make t a constant owning data (numel elements of dtype), which is taken over. */
void snn_tensor_set_const(snn_tensor *t, snn_dtype dtype, void *data);

/* Reorder nodes topologically; fails on a cycle or a tensor with two producers. */
snn_status snn_graph_sort(snn_graph *g, snn_diag *diag);

/* Count of nodes that read tensor t. */
int snn_graph_consumers(const snn_graph *g, int t);

/* Drop nodes whose outputs nobody reads and tensors nothing refers to. */
void snn_graph_prune(snn_graph *g);

#endif
