/* The columns of the op table (ops.def) that are facts rather than functions. */
#ifndef ANN2SNN_OP_INFO_H
#define ANN2SNN_OP_INFO_H

#include <stdbool.h>

#include "graph.h"

typedef enum {
    SNN_OP_TYPES_FLOAT,    /* float only */
    SNN_OP_TYPES_ANY,      /* float or int64 constants; the output has input 0's type */
    SNN_OP_TYPES_SHAPE_OF, /* output int64 whatever the input */
    SNN_OP_TYPES_CAST,     /* output of attr.cast_to */
} snn_op_types;

typedef enum {
    SNN_OP_ROLE_RUN,  /* evaluated on run-time tensors */
    SNN_OP_ROLE_FOLD, /* accepted only where it folds into a constant */
} snn_op_role;

typedef enum {
    SNN_OP_READS_VALUES,     /* takes whatever represents its inputs */
    SNN_OP_READS_SPIKES,     /* input 0 must be a neuron population */
    SNN_OP_READS_ALL_SPIKES, /* every input must be */
} snn_op_reads;

typedef struct {
    const char *name;   /* ONNX op_type */
    int since;          /* oldest opset whose definition we implement */
    snn_op_types types;
    snn_op_role role;
    snn_op_reads reads;
    const char *spiking; /* the SPIKING column's name: "none" when the op has no spiking form */
} snn_op_info;

/* The row of op; op must be below SNN_OP_COUNT. */
const snn_op_info *snn_op_info_of(snn_op op);
/* The op whose ONNX name is name into *op; false when no row has that name. */
bool snn_op_from_name(const char *name, snn_op *op);
/* Output element type of node n of g (inputs' types known). */
snn_dtype snn_op_output_dtype(const snn_graph *g, const snn_node *n);

#endif
