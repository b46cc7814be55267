/* Byte-level edits of .snn files for the tests and the fuzz target: read and write
 * little-endian fields, find a section, and recompute the checksums after an edit so that a
 * test reaches the check behind the CRCs. Bounds-checked: safe on any bytes. */
#ifndef ANN2SNN_SNN_FILE_EDIT_H
#define ANN2SNN_SNN_FILE_EDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "snn_runtime.h"

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint8_t *sec_entry(uint8_t *b, uint32_t i)
{
    return b + SNN_HDR_SIZE + (size_t)i * SNN_SEC_ENTRY_SIZE;
}

/* The section table holds n entries that fit in size bytes (0 if not). */
static inline uint32_t sec_count(const uint8_t *b, size_t size)
{
    if (size < SNN_HDR_SIZE)
        return 0;
    uint32_t n = rd32(b + SNN_HDR_N_SECTIONS);
    return n <= SNN_MAX_SECTIONS && SNN_HDR_SIZE + (size_t)n * SNN_SEC_ENTRY_SIZE <= size ? n : 0;
}

/* The data of the first section tagged tag, which the caller knows is there (abort if not:
 * a failed test). */
static inline uint8_t *sec_data(uint8_t *b, size_t size, uint32_t tag)
{
    for (uint32_t i = 0; i < sec_count(b, size); i++)
        if (rd32(sec_entry(b, i) + SNN_SEC_TAG) == tag && rd64(sec_entry(b, i) + SNN_SEC_OFFSET) < size)
            return b + rd64(sec_entry(b, i) + SNN_SEC_OFFSET);
    abort();
}

/* Recompute the section CRCs (where a section lies inside the file) and the header CRC. */
static inline void reseal(uint8_t *b, size_t size)
{
    uint32_t n = sec_count(b, size);
    if (size < SNN_HDR_SIZE || (n == 0 && rd32(b + SNN_HDR_N_SECTIONS) != 0))
        return;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = sec_entry(b, i);
        uint64_t off = rd64(e + SNN_SEC_OFFSET), len = rd64(e + SNN_SEC_SIZE);
        if (off <= size && len <= size - off)
            wr32(e + SNN_SEC_CRC, snn_crc32(0, b + off, (size_t)len));
    }
    wr32(b + SNN_HDR_CRC, 0);
    wr32(b + SNN_HDR_CRC, snn_crc32(0, b, SNN_HDR_SIZE + (size_t)n * SNN_SEC_ENTRY_SIZE));
}

#endif
