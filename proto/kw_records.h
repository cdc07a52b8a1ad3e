/* Record batches: public, declared in kwire/codec.h (RecordBatch v2 writer and reader,
 * legacy MessageSet v0/v1 reader). Kept as the internal include path, with what only
 * the library uses. */
#ifndef KW_PROTO_RECORDS_H
#define KW_PROTO_RECORDS_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/codec.h"

/* The offset after the last complete v2 batch of a fetched records blob, read from the
 * batch headers alone (no CRC check, no decompression): where the next Fetch may start.
 * `current` when no complete v2 batch is there or none reaches past it. The walk stops
 * at a partial batch (brokers cut the answer at max bytes) or a too-short length. */
int64_t kw_records_next_offset(const uint8_t *records, size_t len, int64_t current);

#endif
