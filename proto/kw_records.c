/* RecordBatch v2 writer/reader and legacy MessageSet reader (see kw_records.h). */
#include <string.h>
#include <zlib.h>
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"
#include "proto/kw_crc32c.h"
#include "proto/kw_records.h"

/* Offsets inside the 61-byte v2 batch header. */
enum {
  OFF_LENGTH = 8,
  LOG_OVERHEAD = 12, /* base offset and length: the bytes the length does not count */
  OFF_MAGIC = 16,
  OFF_CRC = 17,
  OFF_ATTRIBUTES = 21, /* the CRC covers from here to the end */
  OFF_LAST_OFFSET_DELTA = 23,
};

/* The smallest legacy message (v0): crc, magic, attributes, key and value lengths. */
enum { LEGACY_MIN_SIZE = 14 };

static void put_be(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static size_t varint_size(int64_t v) { return kw_uvarint_size(kw_zigzag64(v)); }

static size_t slice_size(kw_slice s) { return s.ptr ? varint_size(s.len) + (size_t)s.len : varint_size(-1); }

static size_t record_body_size(int64_t ts_delta, int32_t off_delta, kw_slice key, kw_slice value,
                               const kw_record_header *h, int nh) {
  size_t n = 1 + varint_size(ts_delta) + varint_size(off_delta) + slice_size(key) + slice_size(value) +
             varint_size(nh);
  for (int i = 0; i < nh; i++) n += slice_size(h[i].key) + slice_size(h[i].value);
  return n;
}

size_t kw_record_size(int64_t ts_delta, int32_t off_delta, kw_slice key, kw_slice value, const kw_record_header *h,
                      int nh) {
  size_t body = record_body_size(ts_delta, off_delta, key, value, h, nh);
  return varint_size((int64_t)body) + body;
}

int kw_batch_begin(kw_batch_writer *w, kw_buf *out, int16_t attributes, int64_t producer_id, int16_t producer_epoch,
                   int32_t base_sequence) {
  *w = (kw_batch_writer){.out = out, .start = out->len, .attributes = attributes, .producer_id = producer_id,
                         .producer_epoch = producer_epoch, .base_sequence = base_sequence};
  uint8_t *p = kw_buf_extend(out, KW_BATCH_HEADER_SIZE);
  if (!p) return out->err ? out->err : KW_ERR_INVALID_ARG;
  memset(p, 0, KW_BATCH_HEADER_SIZE);
  return 0;
}

static uint8_t *put_uvarint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

static uint8_t *put_slice(uint8_t *p, kw_slice s) {
  if (!s.ptr) return put_uvarint(p, kw_zigzag64(-1));
  p = put_uvarint(p, kw_zigzag64(s.len));
  if (s.len) memcpy(p, s.ptr, (size_t)s.len);
  return p + s.len;
}

/* The hot path of producing: the record's size is known up front, so one reserve and
 * then plain pointer writes. */
int kw_batch_append(kw_batch_writer *w, int64_t timestamp, kw_slice key, kw_slice value, const kw_record_header *h,
                    int nh) {
  if (w->count == INT32_MAX || nh < 0 || (key.ptr && key.len < 0) || (value.ptr && value.len < 0))
    return KW_ERR_INVALID_ARG;
  if (w->count == 0) w->base_timestamp = w->max_timestamp = timestamp;
  if (timestamp > w->max_timestamp) w->max_timestamp = timestamp;
  int64_t ts_delta = timestamp - w->base_timestamp;
  size_t body = record_body_size(ts_delta, w->count, key, value, h, nh);
  if (body > INT32_MAX) return KW_ERR_MSG_SIZE_TOO_LARGE;
  kw_buf *b = w->out;
  size_t total = varint_size((int64_t)body) + body;
  uint8_t *p = kw_buf_extend(b, total);
  if (!p) {
    if (b->err) return b->err;
    w->count++; /* counting mode: only the length matters */
    return 0;
  }
  p = put_uvarint(p, kw_zigzag64((int64_t)body));
  *p++ = 0; /* record attributes: unused */
  p = put_uvarint(p, kw_zigzag64(ts_delta));
  p = put_uvarint(p, kw_zigzag64(w->count));
  p = put_slice(p, key);
  p = put_slice(p, value);
  p = put_uvarint(p, kw_zigzag64(nh));
  for (int i = 0; i < nh; i++) {
    p = put_slice(p, h[i].key);
    p = put_slice(p, h[i].value);
  }
  w->count++;
  return 0;
}

int kw_batch_seal(kw_batch_writer *w, const kw_mem *mem) {
  kw_buf *b = w->out;
  if (b->err) return b->err;
  if (w->count == 0) return KW_ERR_INVALID_ARG;
  int codec = w->attributes & KW_BATCH_CODEC_MASK;
  if (codec != KW_CODEC_NONE) {
    size_t rec_start = w->start + KW_BATCH_HEADER_SIZE;
    kw_buf z;
    kw_buf_init_grow(&z, mem);
    int err = kw_compress(codec, -1, b->data + rec_start, b->len - rec_start, &z);
    if (!err) {
      b->len = rec_start;
      kw_buf_raw(b, z.data, z.len);
      err = b->err;
    }
    kw_buf_free(&z);
    if (err) return err;
  }
  size_t total = b->len - w->start;
  if (total - 12 > INT32_MAX) return KW_ERR_MSG_SIZE_TOO_LARGE;
  uint8_t *p = b->data + w->start;
  put_be(p + 0, 0, 8); /* base offset: the broker assigns it */
  put_be(p + OFF_LENGTH, total - 12, 4);
  put_be(p + 12, (uint64_t)-1, 4); /* partition leader epoch: set by the broker */
  p[OFF_MAGIC] = 2;
  put_be(p + OFF_ATTRIBUTES, (uint16_t)w->attributes, 2);
  put_be(p + 23, (uint32_t)(w->count - 1), 4);
  put_be(p + 27, (uint64_t)w->base_timestamp, 8);
  put_be(p + 35, (uint64_t)w->max_timestamp, 8);
  put_be(p + 43, (uint64_t)w->producer_id, 8);
  put_be(p + 51, (uint16_t)w->producer_epoch, 2);
  put_be(p + 53, (uint32_t)w->base_sequence, 4);
  put_be(p + 57, (uint32_t)w->count, 4);
  put_be(p + OFF_CRC, kw_crc32c(0, p + OFF_ATTRIBUTES, total - OFF_ATTRIBUTES), 4);
  return 0;
}

/* ---- reader ---- */

int kw_records_magic(const kw_rd *r) {
  if (r->err || kw_rd_left(r) <= OFF_MAGIC) return -1;
  return (int8_t)r->p[OFF_MAGIC];
}

static uint64_t get_be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

int64_t kw_records_next_offset(const uint8_t *records, size_t len, int64_t current) {
  int64_t next = current;
  size_t at = 0;
  while (len - at > OFF_MAGIC) { /* the magic byte is at the same place in both layouts */
    const uint8_t *h = records + at;
    int64_t offset = (int64_t)get_be(h, 8);
    int32_t length = (int32_t)get_be(h + OFF_LENGTH, 4);
    int8_t magic = (int8_t)h[OFF_MAGIC];
    /* v0/v1: crc, magic, attributes and two lengths at least; v2: the batch header */
    int32_t least = magic == 2 ? KW_BATCH_HEADER_SIZE - LOG_OVERHEAD : LEGACY_MIN_SIZE;
    if (magic < 0 || magic > 2 || length < least || (size_t)length > len - at - LOG_OVERHEAD) break;
    /* A legacy message's offset is its own, or a compressed wrapper's last inner one. */
    int64_t last = offset;
    if (magic == 2) /* wraps rather than overflows on hostile input */
      last = (int64_t)((uint64_t)offset + (uint64_t)(int64_t)(int32_t)get_be(h + OFF_LAST_OFFSET_DELTA, 4));
    if (last < INT64_MAX && last + 1 > next) next = last + 1;
    at += LOG_OVERHEAD + (size_t)length;
  }
  return next;
}

static int batch_next(kw_rd *r, kw_batch *b, bool check_crc);

int kw_batch_next(kw_rd *r, kw_batch *b) { return batch_next(r, b, true); }
int kw_batch_next_unchecked(kw_rd *r, kw_batch *b) { return batch_next(r, b, false); }

static int batch_next(kw_rd *r, kw_batch *b, bool check_crc) {
  if (r->err) return r->err;
  if (kw_rd_left(r) < 12) return KW_ERR_TRUNCATED;
  kw_rd h = *r;
  b->base_offset = kw_rd_i64(&h);
  b->length = kw_rd_i32(&h);
  if (b->length < KW_BATCH_HEADER_SIZE - 12) return KW_ERR_MALFORMED;
  if ((size_t)b->length > kw_rd_left(&h)) return KW_ERR_TRUNCATED; /* partial batch at the end */
  const uint8_t *crc_start = h.p + (OFF_ATTRIBUTES - 12);
  b->partition_leader_epoch = kw_rd_i32(&h);
  b->magic = kw_rd_i8(&h);
  if (b->magic != 2) return KW_ERR_UNSUPPORTED_VERSION;
  b->crc = kw_rd_u32(&h);
  b->attributes = kw_rd_i16(&h);
  b->last_offset_delta = kw_rd_i32(&h);
  b->base_timestamp = kw_rd_i64(&h);
  b->max_timestamp = kw_rd_i64(&h);
  b->producer_id = kw_rd_i64(&h);
  b->producer_epoch = kw_rd_i16(&h);
  b->base_sequence = kw_rd_i32(&h);
  b->record_count = kw_rd_i32(&h);
  size_t rec_len = (size_t)b->length - (KW_BATCH_HEADER_SIZE - 12);
  b->records = h.p;
  b->records_len = rec_len;
  if (h.err) return h.err;
  if (b->record_count < 0) return KW_ERR_MALFORMED;
  if (check_crc && kw_crc32c(0, crc_start, (size_t)(b->records + rec_len - crc_start)) != b->crc) return KW_ERR_CRC;
  kw_rd_skip(r, 12 + (size_t)b->length);
  return 0;
}

int kw_batch_records(const kw_batch *b, kw_buf *scratch, size_t max_decompressed, kw_rd *records) {
  int codec = b->attributes & KW_BATCH_CODEC_MASK;
  if (codec == KW_CODEC_NONE) {
    kw_rd_init(records, b->records, b->records_len);
    return 0;
  }
  kw_buf_reset(scratch);
  int err = kw_decompress(codec, b->records, b->records_len, max_decompressed, scratch);
  if (err) return err;
  kw_rd_init(records, scratch->data, scratch->len);
  return 0;
}

static kw_slice read_varslice(kw_rd *r) {
  int32_t len = kw_rd_varint_fast(r);
  if (r->err) return (kw_slice){NULL, 0};
  if (len < -1) {
    kw_rd_fail(r, KW_ERR_MALFORMED);
    return (kw_slice){NULL, 0};
  }
  if (len == -1) return (kw_slice){NULL, 0};
  const uint8_t *p = kw_rd_raw(r, (size_t)len);
  return (kw_slice){p, p ? len : 0};
}

int kw_record_next(kw_rd *records, const kw_batch *b, kw_record *rec) {
  int32_t len = kw_rd_varint_fast(records);
  if (records->err) return records->err;
  if (len < 1 || (size_t)len > kw_rd_left(records)) return len < 0 ? KW_ERR_MALFORMED : KW_ERR_TRUNCATED;
  kw_rd r = {records->p, records->p + len, 0};
  records->p += len;
  rec->attributes = (int8_t)*r.p++;
  /* Hostile deltas may overflow: wrap (unsigned) rather than invoke undefined behaviour. */
  rec->timestamp = (int64_t)((uint64_t)b->base_timestamp + (uint64_t)kw_rd_varlong_fast(&r));
  rec->offset = (int64_t)((uint64_t)b->base_offset + (uint64_t)(int64_t)kw_rd_varint_fast(&r));
  rec->key = read_varslice(&r);
  rec->value = read_varslice(&r);
  rec->n_headers = kw_rd_varint_fast(&r);
  if (!r.err && (rec->n_headers < 0 || (size_t)rec->n_headers > kw_rd_left(&r) / 2)) kw_rd_fail(&r, KW_ERR_MALFORMED);
  rec->headers = r; /* the rest of the record */
  if (b->attributes & KW_BATCH_LOG_APPEND_TIME) rec->timestamp = b->max_timestamp;
  return r.err;
}

int kw_record_header_next(kw_rd *headers, kw_record_header *h) {
  h->key = read_varslice(headers);
  h->value = read_varslice(headers);
  if (!headers->err && !h->key.ptr) kw_rd_fail(headers, KW_ERR_MALFORMED); /* header keys are never null */
  return headers->err;
}

/* ---- legacy MessageSet v0/v1 ---- */

int kw_legacy_next(kw_rd *r, kw_legacy_msg *m) {
  if (r->err) return r->err;
  if (kw_rd_left(r) < 12) return KW_ERR_TRUNCATED;
  kw_rd h = *r;
  m->offset = kw_rd_i64(&h);
  int32_t size = kw_rd_i32(&h);
  if (size < LEGACY_MIN_SIZE) return KW_ERR_MALFORMED;
  if ((size_t)size > kw_rd_left(&h)) return KW_ERR_TRUNCATED;
  kw_rd msg;
  kw_rd_init(&msg, h.p, (size_t)size);
  uint32_t crc = kw_rd_u32(&msg);
  /* Legacy messages use CRC-32 (IEEE), over everything after the crc field. */
  uint32_t want = (uint32_t)crc32(0L, msg.p, (uInt)kw_rd_left(&msg));
  m->magic = kw_rd_i8(&msg);
  if (m->magic != 0 && m->magic != 1) return KW_ERR_UNSUPPORTED_VERSION;
  m->attributes = kw_rd_i8(&msg);
  m->timestamp = m->magic == 1 ? kw_rd_i64(&msg) : -1;
  m->key = kw_rd_bytes(&msg, false, true);
  m->value = kw_rd_bytes(&msg, false, true);
  if (msg.err) return msg.err;
  if (kw_rd_left(&msg)) return KW_ERR_MALFORMED;
  if (crc != want) return KW_ERR_CRC;
  kw_rd_skip(r, 12 + (size_t)size);
  return 0;
}

int kw_legacy_inner(const kw_legacy_msg *w, kw_buf *scratch, size_t max_decompressed, kw_rd *inner,
                    int64_t *offset_base, int32_t *inner_count) {
  int codec = w->attributes & KW_BATCH_CODEC_MASK;
  if (codec == KW_CODEC_NONE || !w->value.ptr) return KW_ERR_INVALID_ARG;
  kw_buf_reset(scratch);
  int err = kw_decompress(codec, w->value.ptr, (size_t)w->value.len, max_decompressed, scratch);
  if (err) return err;
  /* Count the inner messages and find the last offset: v1 wrappers carry the absolute
   * offset of the last inner message and relative offsets inside. */
  kw_rd scan;
  kw_rd_init(&scan, scratch->data, scratch->len);
  kw_legacy_msg m;
  int32_t n = 0;
  int64_t last = 0;
  while (kw_rd_left(&scan)) {
    err = kw_legacy_next(&scan, &m);
    if (err == KW_ERR_TRUNCATED) break;
    if (err) return err;
    if ((m.attributes & KW_BATCH_CODEC_MASK) != KW_CODEC_NONE) return KW_ERR_MALFORMED; /* one level only */
    last = m.offset;
    n++;
  }
  *offset_base = w->magic == 1 ? (int64_t)((uint64_t)w->offset - (uint64_t)last) : 0; /* wraps on hostile input */
  *inner_count = n;
  kw_rd_init(inner, scratch->data, scratch->len);
  return 0;
}
