/* Buffers of megabytes (a model's weights, the evaluator's activations, the .snn file) asked
 * of the kernel in transparent huge pages where it gives them on request (the "madvise" THP
 * mode, this machine's and many distributions' default): a 2 MB page takes one fault where
 * 4 KB pages take 512. On the VM we measure on, page faults were a third of a VGG-11
 * conversion's serial time. Elsewhere the advice is ignored. Free with free(). */
#ifndef ANN2SNN_BIGMEM_H
#define ANN2SNN_BIGMEM_H

#include <stddef.h>

void *snn_big_malloc(size_t n);
void *snn_big_calloc(size_t count, size_t size); /* zeroed */
void *snn_big_realloc(void *p, size_t n);

#endif
