/* Record batches: public, declared in kwire/codec.h (RecordBatch v2 writer and reader,
 * legacy MessageSet v0/v1 reader). Kept as the internal include path, with what only
 * the library uses. */
#ifndef KW_PROTO_RECORDS_H
#define KW_PROTO_RECORDS_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/codec.h"

/* The offset after the last complete entry of a fetched records blob (a v2 batch, or a
 * v0/v1 message or compressed wrapper), read from the headers alone (no CRC check, no
 * decompression): where the next Fetch may start. `current` when no complete entry is
 * there or none reaches past it. The walk stops at a partial entry (brokers cut the
 * answer at max bytes), a too-short length or an unknown magic. */
int64_t kw_records_next_offset(const uint8_t *records, size_t len, int64_t current);

#endif
