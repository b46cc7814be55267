/* Walks the protobuf wire format of an ONNX ModelProto, descending only into the fields that
 * lead to recursion (field numbers from onnx.proto), with the depth bounded. The walk itself
 * recurses at most SNN_ONNX_MAX_NESTING levels. */
#include "pb_nesting.h"

typedef enum { M_MODEL, M_GRAPH, M_NODE, M_ATTR, M_FUNCTION, M_TRAINING, M_VALUE_INFO, M_TYPE,
               M_TYPE_ELEM /* TypeProto.Sequence / Optional: elem_type = 1 */,
               M_TYPE_MAP /* TypeProto.Map: value_type = 2 */, M_NONE } msg_kind;

/* The kind of message field `field` of a `kind` message holds, if it can lead to nesting. */
static msg_kind child(msg_kind kind, uint32_t field)
{
    switch (kind) {
    case M_MODEL: return field == 7 ? M_GRAPH : field == 25 ? M_FUNCTION : field == 20 ? M_TRAINING : M_NONE;
    case M_GRAPH: return field == 1 ? M_NODE : (field >= 11 && field <= 13) ? M_VALUE_INFO : M_NONE;
    case M_NODE: return field == 5 ? M_ATTR : M_NONE;
    case M_ATTR: return field == 6 || field == 11 ? M_GRAPH : field == 14 || field == 15 ? M_TYPE : M_NONE;
    case M_FUNCTION: return field == 7 ? M_NODE : M_NONE;
    case M_TRAINING: return field == 1 || field == 2 ? M_GRAPH : M_NONE;
    case M_VALUE_INFO: return field == 2 ? M_TYPE : M_NONE;
    case M_TYPE: return field == 4 || field == 9 ? M_TYPE_ELEM : field == 5 ? M_TYPE_MAP : M_NONE;
    case M_TYPE_ELEM: return field == 1 ? M_TYPE : M_NONE;
    case M_TYPE_MAP: return field == 2 ? M_TYPE : M_NONE;
    default: return M_NONE;
    }
}

/* Reads a base-128 varint; 0 if it runs past end or over 10 bytes. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

static snn_status walk(const uint8_t *p, const uint8_t *end, msg_kind kind, int depth, snn_diag *diag)
{
    if (depth > SNN_ONNX_MAX_NESTING)
        return snn_diag_set(diag, SNN_ERR_LIMIT, "the model nests messages more than %d deep "
                            "(graphs in attributes, or types in types)", SNN_ONNX_MAX_NESTING);
    while (p < end) {
        uint64_t key, n;
        if (!varint(&p, end, &key))
            goto broken;
        uint32_t field = (uint32_t)(key >> 3), wire = (uint32_t)(key & 7);
        switch (wire) {
        case 0: /* varint */
            if (!varint(&p, end, &n))
                goto broken;
            break;
        case 1: /* 64-bit */
            if (end - p < 8)
                goto broken;
            p += 8;
            break;
        case 5: /* 32-bit */
            if (end - p < 4)
                goto broken;
            p += 4;
            break;
        case 2: { /* length-delimited */
            if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
                goto broken;
            msg_kind c = child(kind, field);
            if (c != M_NONE) {
                snn_status st = walk(p, p + n, c, depth + 1, diag);
                if (st != SNN_OK)
                    return st;
            }
            p += n;
            break;
        }
        default: /* groups (3, 4) are not used by ONNX; 6, 7 do not exist */
            goto broken;
        }
    }
    return SNN_OK;
broken:
    return snn_diag_set(diag, SNN_ERR_FORMAT, "not a valid ONNX model: the protobuf data is truncated or corrupt");
}

snn_status snn_onnx_check_nesting(const uint8_t *buf, size_t len, snn_diag *diag)
{
    return walk(buf, buf + len, M_MODEL, 0, diag);
}
