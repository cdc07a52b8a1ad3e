/* Record batches. Writer: RecordBatch v2 with records encoded one at a time straight
 * into the batch buffer, compressed and CRC32C-sealed once. Reader: zero-copy
 * iteration over v2 batches (CRC checked, control batches flagged) and over legacy
 * MessageSet v0/v1, including compressed wrapper messages. */
#ifndef KW_PROTO_RECORDS_H
#define KW_PROTO_RECORDS_H
#include <stdbool.h>
#include <stdint.h>
#include "kwire/buf.h"
#include "kwire/buf.h"

#define KW_BATCH_HEADER_SIZE 61
/* Attribute bits of a v2 batch. */
enum {
  KW_BATCH_CODEC_MASK = 0x07,
  KW_BATCH_LOG_APPEND_TIME = 0x08,
  KW_BATCH_TRANSACTIONAL = 0x10,
  KW_BATCH_CONTROL = 0x20,
};

typedef struct kw_record_header {
  kw_slice key, value; /* value ptr NULL = null */
} kw_record_header;

/* ---- writer ---- */

typedef struct kw_batch_writer {
  kw_buf *out;
  size_t start; /* where this batch begins in out */
  int16_t attributes;
  int64_t base_timestamp, max_timestamp;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t count;
} kw_batch_writer;

/* Starts a batch at the end of `out`. producer_id -1 / epoch -1 / sequence -1 for a
 * non-idempotent producer. attributes: codec and the transactional/control bits. */
int kw_batch_begin(kw_batch_writer *w, kw_buf *out, int16_t attributes, int64_t producer_id,
                   int16_t producer_epoch, int32_t base_sequence);
/* Appends one record (timestamp in ms; key/value ptr NULL = null). */
int kw_batch_append(kw_batch_writer *w, int64_t timestamp, kw_slice key, kw_slice value,
                    const kw_record_header *headers, int n_headers);
/* Bytes one record would add to an uncompressed batch (for batch.size decisions). */
size_t kw_record_size(int64_t timestamp_delta, int32_t offset_delta, kw_slice key, kw_slice value,
                      const kw_record_header *headers, int n_headers);
/* Compresses the records (if the codec says so), fills the header and the CRC. */
int kw_batch_seal(kw_batch_writer *w, const kw_mem *mem);

/* ---- reader ---- */

typedef struct kw_batch {
  int64_t base_offset;
  int32_t length; /* bytes after the length field */
  int32_t partition_leader_epoch;
  int8_t magic;   /* 0, 1 (legacy message) or 2 */
  uint32_t crc;
  int16_t attributes;
  int32_t last_offset_delta;
  int64_t base_timestamp, max_timestamp;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t record_count;
  const uint8_t *records; /* as stored: compressed if the codec says so */
  size_t records_len;
} kw_batch;

/* Reads the next v2 batch from a records blob. KW_ERR_TRUNCATED at a partial batch at
 * the end (brokers send those; treat it as the end), KW_ERR_CRC on a mismatch,
 * KW_ERR_UNSUPPORTED_VERSION for magic 0/1 (use kw_legacy_next). */
int kw_batch_next(kw_rd *r, kw_batch *b);
/* The same without the CRC check (check.crcs=false). */
int kw_batch_next_unchecked(kw_rd *r, kw_batch *b);
/* Magic byte of the batch or message at r (offset 16 in both layouts), -1 if short. */
int kw_records_magic(const kw_rd *r);
/* The offset after the last complete v2 batch of a fetched records blob, read from the
 * batch headers alone (no CRC check, no decompression): where the next Fetch may start.
 * `current` when no complete v2 batch is there or none reaches past it. The walk stops
 * at a partial batch (brokers cut the answer at max bytes) or a too-short length. */
int64_t kw_records_next_offset(const uint8_t *records, size_t len, int64_t current);

typedef struct kw_record {
  int64_t offset, timestamp;
  int8_t attributes;
  kw_slice key, value;
  int32_t n_headers;
  kw_rd headers; /* read each with kw_record_header_next */
} kw_record;

/* A reader over the batch's records, decompressing into `scratch` when needed (at most
 * max_decompressed bytes: KW_ERR_DECOMPRESS beyond that). */
int kw_batch_records(const kw_batch *b, kw_buf *scratch, size_t max_decompressed, kw_rd *records);
/* The next record of a batch (call record_count times). */
int kw_record_next(kw_rd *records, const kw_batch *b, kw_record *rec);
int kw_record_header_next(kw_rd *headers, kw_record_header *h);

/* Legacy MessageSet v0/v1: one message; a compressed wrapper's value holds a nested
 * message set (read it with kw_legacy_inner). */
typedef struct kw_legacy_msg {
  int64_t offset;
  int8_t magic, attributes;
  int64_t timestamp; /* -1 in v0 */
  kw_slice key, value;
} kw_legacy_msg;
int kw_legacy_next(kw_rd *r, kw_legacy_msg *m);
/* Decompresses a wrapper into scratch and returns a reader over the inner messages;
 * *offset_base is what to add to inner offsets (v1 wrappers store relative ones). */
int kw_legacy_inner(const kw_legacy_msg *wrapper, kw_buf *scratch, size_t max_decompressed, kw_rd *inner,
                    int64_t *offset_base, int32_t *inner_count);

#endif
