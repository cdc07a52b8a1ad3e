/* kwire's sans-I/O Kafka codec: bytes in, structs out; structs in, bytes out. No
 * sockets, no clock, no threads; memory only through the caller's kw_mem or arena.
 * The client is built on it, and so can be a fuzzer, a proxy or a test broker.
 *
 *   frames     request and response headers, the int32 size prefix (kw_request_frame,
 *              kw_frame_peek)
 *   messages   every request and response of the APIs kwire speaks, at every version in
 *              its range, as the plain structs of kwire/codec_messages.h (generated from
 *              Kafka's message schemas): kw_request_encode, kw_response_decode, and the
 *              other direction for broker-side code
 *   records    RecordBatch v2 writer (records, headers, compression) and reader, legacy
 *              MessageSet v0/v1 reader
 *   checks     CRC32C, Kafka's error code names
 *
 * Decoding never trusts the input: every read is bounds-checked (kw_rd), array counts
 * are checked against the bytes left before anything is allocated, one decode takes at
 * most KW_DECODE_FACTOR bytes per input byte from its arena, and an arena limit caps
 * what one message may allocate. Decoded strings and bytes point into the input, so
 * keep the input alive as long as the decoded struct. */
#ifndef KWIRE_CODEC_H
#define KWIRE_CODEC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kwire/buf.h"
#include "kwire/codec_errors.h"
#include "kwire/codec_messages.h"
#include "kwire/error.h"
#include "kwire/export.h"
#include "kwire/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Arena: where decoded arrays and nested structs live ---- */

/* Everything allocated from an arena is released at once. `limit` caps the bytes it may
 * hold (0 = no cap): a decoder that would go past it fails with KW_ERR_TOO_LARGE, so a
 * hostile count cannot make it allocate without bound. NULL mem means libc. */
typedef struct kw_arena kw_arena;
KW_API kw_arena *kw_arena_new(const kw_mem *mem, size_t limit); /* NULL if out of memory */
KW_API void kw_arena_clear(kw_arena *a);   /* frees what was allocated; the arena stays usable */
KW_API void kw_arena_destroy(kw_arena *a); /* NULL is a no-op */

/* What one decode (kw_response_decode and the others below) may take from its arena's
 * kw_mem, chunk headers included: KW_DECODE_FACTOR x the bytes left in the reader plus
 * KW_DECODE_SLACK. Array counts are checked against each element's smallest encoding at
 * the version decoded, which keeps every message that decodes under it (the worst,
 * ListGroups v3's 3-byte groups in 64-byte structs, takes 21.3x); an input that would
 * go past it cannot decode and fails with KW_ERR_MALFORMED before the allocation. */
#define KW_DECODE_FACTOR 24
#define KW_DECODE_SLACK 8192

/* ---- APIs and versions ---- */

/* The APIs kwire speaks (enum kw_api_key), by index 0..kw_api_count()-1. */
KW_API int kw_api_count(void);
KW_API int16_t kw_api_key_at(int index); /* -1 outside 0..count-1 */
KW_API const char *kw_api_name(int16_t api_key); /* "Metadata"; NULL for an unknown key */
/* The version range kwire encodes and decodes; KW_ERR_UNSUPPORTED_VERSION for an unknown key. */
KW_API int kw_api_versions(int16_t api_key, int16_t *min_version, int16_t *max_version);
/* Highest version both sides speak, given the broker's advertised range (ApiVersions);
 * KW_ERR_NO_VERSION when the ranges do not meet. Pure: no state, no I/O. kwire's ranges
 * start where Kafka 4.x does (Produce >= 3: 4.x advertises 0-2 but rejects them). */
KW_API int kw_version_pick(int16_t api_key, int16_t broker_min, int16_t broker_max);

/* ---- Messages ---- */

/* Schema ids (enum kw_schema_id) name every message and nested struct. Call
 * kw_msg_init() before filling a struct: it sets every field to Kafka's default, so a
 * field left alone is one the encoder may omit at versions that lack it. */
KW_API int kw_request_schema(int16_t api_key);  /* -1 for an unknown key */
KW_API int kw_response_schema(int16_t api_key); /* -1 for an unknown key */
KW_API void kw_msg_init(int schema, void *msg);
/* A struct of the schema from the arena, initialised; NULL when the arena refuses or the
 * schema id is unknown. For code that handles any API without naming its struct type. */
KW_API void *kw_msg_new(kw_arena *arena, int schema);

/* Request and response bodies (no header) of an API at a version in its range
 * (KW_ERR_UNSUPPORTED_VERSION otherwise). Encoding appends to `out`; a field the version
 * lacks that holds a non-default value is KW_ERR_FIELD_VERSION unless Kafka marks it
 * ignorable. Decoding fills `msg` (the API's struct), taking arrays and nested structs
 * from `arena`; bytes after the body are left in `rd`. Both return 0 or a KW_ERR_*. */
KW_API int kw_request_encode(int16_t api_key, int16_t version, const void *msg, kw_buf *out);
KW_API int kw_response_decode(int16_t api_key, int16_t version, kw_rd *rd, kw_arena *arena, void *msg);
/* The other direction, for brokers, proxies and fuzzers of either side. */
KW_API int kw_request_decode(int16_t api_key, int16_t version, kw_rd *rd, kw_arena *arena, void *msg);
KW_API int kw_response_encode(int16_t api_key, int16_t version, const void *msg, kw_buf *out);
/* Any schema, including the data schemas carried inside messages (the consumer
 * protocol's subscription and assignment, never flexible). */
KW_API int kw_msg_encode(int schema, int16_t version, bool flexible, const void *msg, kw_buf *out);
KW_API int kw_msg_decode(int schema, int16_t version, bool flexible, kw_rd *rd, kw_arena *arena, void *msg);

/* ---- Frames: int32 size, header, body ---- */

typedef struct kw_req_header {
  int16_t api_key, api_version;
  int32_t correlation_id;
  kw_slice client_id; /* nullable; always a classic int16 string, even in header v2 */
} kw_req_header;

/* Header versions: request v1 (v2 when the API version is flexible); response v0 (v1
 * when flexible) except ApiVersions, whose response header is always v0 so a client can
 * read it before it knows which versions the broker speaks. */
KW_API int kw_req_header_version(int16_t api_key, int16_t api_version);
KW_API int kw_resp_header_version(int16_t api_key, int16_t api_version);

KW_API void kw_req_header_encode(kw_buf *b, const kw_req_header *h, int header_version);
KW_API int kw_req_header_decode(kw_rd *r, kw_req_header *h, int header_version);
KW_API void kw_resp_header_encode(kw_buf *b, int32_t correlation_id, int header_version);
KW_API int kw_resp_header_decode(kw_rd *r, int32_t *correlation_id, int header_version);

/* A whole request frame appended to `out`: size, header (its version chosen from the
 * API and version), body from the request struct. */
KW_API int kw_request_frame(kw_buf *out, const kw_req_header *h, const void *msg);
/* Size of the frame that starts at p: 0 and *frame_len set when all of it is there,
 * KW_ERR_TRUNCATED when more bytes are needed, KW_ERR_TOO_LARGE over max_frame,
 * KW_ERR_MALFORMED for a negative size. *frame_len excludes the 4 size bytes. */
KW_API int kw_frame_peek(const uint8_t *p, size_t n, int32_t max_frame, size_t *frame_len);

/* ---- Record batches ---- */

enum kw_codec { KW_CODEC_NONE = 0, KW_CODEC_GZIP = 1, KW_CODEC_SNAPPY = 2, KW_CODEC_LZ4 = 3, KW_CODEC_ZSTD = 4 };
/* Whether this build compresses and decompresses the codec (zstd needs libzstd). */
KW_API bool kw_codec_available(int codec);

#define KW_BATCH_HEADER_SIZE 61
/* Attribute bits of a v2 batch; the low three are the codec. */
enum {
  KW_BATCH_CODEC_MASK = 0x07,
  KW_BATCH_LOG_APPEND_TIME = 0x08,
  KW_BATCH_TRANSACTIONAL = 0x10,
  KW_BATCH_CONTROL = 0x20,
};

typedef struct kw_record_header {
  kw_slice key, value; /* value ptr NULL = null */
} kw_record_header;

/* Writer: records are encoded one at a time straight into the batch's buffer, then
 * compressed and CRC-sealed once. The struct is the writer's state; do not touch it. */
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
KW_API int kw_batch_begin(kw_batch_writer *w, kw_buf *out, int16_t attributes, int64_t producer_id,
                          int16_t producer_epoch, int32_t base_sequence);
/* Appends one record (timestamp in ms; key/value ptr NULL = null). */
KW_API int kw_batch_append(kw_batch_writer *w, int64_t timestamp, kw_slice key, kw_slice value,
                           const kw_record_header *headers, int n_headers);
/* Bytes one record would add to an uncompressed batch (for batch size decisions). */
KW_API size_t kw_record_size(int64_t timestamp_delta, int32_t offset_delta, kw_slice key, kw_slice value,
                             const kw_record_header *headers, int n_headers);
/* Compresses the records (if the codec says so), fills the header and the CRC. The
 * compressor allocates through `mem` (NULL = libc). An empty batch is KW_ERR_INVALID_ARG. */
KW_API int kw_batch_seal(kw_batch_writer *w, const kw_mem *mem);

/* Reader: one batch as it is on the wire (zero-copy). */
typedef struct kw_batch {
  int64_t base_offset;
  int32_t length; /* bytes after the length field */
  int32_t partition_leader_epoch;
  int8_t magic; /* 0, 1 (legacy message) or 2 */
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

/* Reads the next v2 batch from a records blob (a Produce or Fetch `records` field).
 * KW_ERR_TRUNCATED at a partial batch at the end (brokers send those; treat it as the
 * end), KW_ERR_CRC on a mismatch (every field of b is filled all the same),
 * KW_ERR_UNSUPPORTED_VERSION for magic 0/1 (use kw_legacy_next). */
KW_API int kw_batch_next(kw_rd *r, kw_batch *b);
/* The same without the CRC check (check.crcs=false). */
KW_API int kw_batch_next_unchecked(kw_rd *r, kw_batch *b);
/* Magic byte of the batch or message at r (offset 16 in both layouts), -1 if short. */
KW_API int kw_records_magic(const kw_rd *r);

typedef struct kw_record {
  int64_t offset, timestamp;
  int8_t attributes;
  kw_slice key, value;
  int32_t n_headers;
  kw_rd headers; /* read each with kw_record_header_next */
} kw_record;

/* A reader over the batch's records, decompressing into `scratch` when needed (at most
 * max_decompressed bytes: KW_ERR_TOO_LARGE beyond that, KW_ERR_DECOMPRESS for corrupt
 * data). */
KW_API int kw_batch_records(const kw_batch *b, kw_buf *scratch, size_t max_decompressed, kw_rd *records);
/* The next record of a batch (call record_count times). */
KW_API int kw_record_next(kw_rd *records, const kw_batch *b, kw_record *rec);
KW_API int kw_record_header_next(kw_rd *headers, kw_record_header *h);

/* Legacy MessageSet v0/v1: one message; a compressed wrapper's value holds a nested
 * message set (read it with kw_legacy_inner). */
typedef struct kw_legacy_msg {
  int64_t offset;
  int8_t magic, attributes;
  int64_t timestamp; /* -1 in v0 */
  kw_slice key, value;
} kw_legacy_msg;
KW_API int kw_legacy_next(kw_rd *r, kw_legacy_msg *m);
/* Decompresses a wrapper into scratch and returns a reader over the inner messages;
 * *offset_base is what to add to inner offsets (v1 wrappers store relative ones). */
KW_API int kw_legacy_inner(const kw_legacy_msg *wrapper, kw_buf *scratch, size_t max_decompressed, kw_rd *inner,
                           int64_t *offset_base, int32_t *inner_count);

/* ---- Checks ---- */

/* CRC32C (Castagnoli), the checksum of RecordBatch v2. Start with crc = 0; chainable:
 * kw_crc32c(kw_crc32c(0, a, n), b, m) is the CRC of a||b. data may be NULL when len is 0. */
KW_API uint32_t kw_crc32c(uint32_t crc, const void *data, size_t len);

/* Kafka's error codes: kw_kerr_name and friends are in kwire/error.h; the codes are
 * enum kw_kafka_error in kwire/codec_errors.h. */

#ifdef __cplusplus
}
#endif
#endif
