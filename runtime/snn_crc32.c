/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bytewise with a table built on the
 * stack: the runtime stays libc-only and global-free. Matches zlib's crc32(). */
#include "snn_runtime.h"

uint32_t snn_crc32(uint32_t crc, const void *data, size_t len)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}
