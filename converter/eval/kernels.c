/* snn_kernel_run(): one table lookup; the kernels live in kernel_*.c by kind. */
#include "kernels.h"

#include <assert.h>

typedef snn_status kernel_fn(const snn_graph *g, const snn_node *n, const void *const *in,
                             void *out, snn_diag *diag);

/* The KERNEL column of ops.def. */
static kernel_fn *const kernel_of_op[] = {
#define SNN_OP(ENUM, NAME, SINCE, TYPES, ROLE, READS, SHAPE, KERNEL, SPIKING) snn_kernel_##KERNEL,
#include "ir/ops.def"
#undef SNN_OP
};
static_assert(sizeof kernel_of_op / sizeof kernel_of_op[0] == SNN_OP_COUNT, "one per op");

snn_status snn_kernel_run(const snn_graph *g, const snn_node *n, const void *const *in, void *out,
                          snn_diag *diag)
{
    if ((unsigned)n->op >= SNN_OP_COUNT)
        return snn_diag_at(diag, SNN_ERR_INVALID, n->name, "unknown op");
    return kernel_of_op[n->op](g, n, in, out, diag);
}
