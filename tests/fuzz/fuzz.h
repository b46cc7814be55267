/* Fuzz targets: each file defines LLVMFuzzerTestOneInput for one parser. Built with
 * -Dfuzzing=true (clang) they link libFuzzer; otherwise replay.c drives them over a corpus
 * directory, which `meson test` does for tests/fuzz/corpus/NAME on every run. A target must
 * accept any bytes: refuse them with an error or process them, never crash, hang or leak. */
#ifndef ANN2SNN_FUZZ_H
#define ANN2SNN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
