/* Element types and size limits of tensors, shared by the graph IR, the data readers and
 * the TensorProto reader, so that none of them has to include the others for them. */
#ifndef ANN2SNN_DTYPE_H
#define ANN2SNN_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#define SNN_MAX_RANK 8
/* Input channels that can carry a mean and std of their own (CIFAR: 3, ImageNet: 3). */
#define SNN_MAX_PREP_CHANNELS 16
/* Largest element count of one tensor: 2^31, so byte sizes and int32 loops never overflow. */
#define SNN_MAX_NUMEL (INT64_C(1) << 31)

/* Element types. Run-time tensors are always float; int64 exists only for constants
 * (shape arithmetic that exporters emit) and is folded away before evaluation. */
typedef enum {
    SNN_DTYPE_FLOAT = 0,
    SNN_DTYPE_INT64 = 1,
} snn_dtype;

static inline size_t snn_dtype_size(snn_dtype dt)
{
    return dt == SNN_DTYPE_INT64 ? sizeof(int64_t) : sizeof(float);
}

#endif
