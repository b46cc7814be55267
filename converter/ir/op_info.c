#include "op_info.h"

#include <assert.h>
#include <string.h>

static const snn_op_info op_table[] = {
#define SNN_OP(ENUM, NAME, SINCE, TYPES, ROLE, READS, SHAPE, KERNEL, SPIKING)                    \
    {NAME, SINCE, SNN_OP_TYPES_##TYPES, SNN_OP_ROLE_##ROLE, SNN_OP_READS_##READS, #SPIKING},
#include "ops.def"
#undef SNN_OP
};
static_assert(sizeof op_table / sizeof op_table[0] == SNN_OP_COUNT, "one row per op");

const snn_op_info *snn_op_info_of(snn_op op)
{
    assert((unsigned)op < SNN_OP_COUNT);
    return &op_table[op];
}

const char *snn_op_name(snn_op op)
{
    return (unsigned)op < SNN_OP_COUNT ? op_table[op].name : "?";
}

bool snn_op_from_name(const char *name, snn_op *op)
{
    for (int i = 0; i < SNN_OP_COUNT; i++)
        if (strcmp(op_table[i].name, name) == 0) {
            *op = (snn_op)i;
            return true;
        }
    return false;
}

snn_dtype snn_op_output_dtype(const snn_graph *g, const snn_node *n)
{
    switch (op_table[n->op].types) {
    case SNN_OP_TYPES_FLOAT: return SNN_DTYPE_FLOAT;
    case SNN_OP_TYPES_ANY: return g->tensors[n->inputs[0]].dtype;
    case SNN_OP_TYPES_SHAPE_OF: return SNN_DTYPE_INT64;
    case SNN_OP_TYPES_CAST: return n->attr.cast_to;
    }
    return SNN_DTYPE_FLOAT;
}
