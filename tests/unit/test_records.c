/* RecordBatch v2 writer and reader, every codec; CRC and truncation errors; legacy
 * MessageSet v0/v1 with a compressed wrapper. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"
#include "proto/kw_records.h"

#define S(lit) ((kw_slice){(const uint8_t *)(lit), (int32_t)(sizeof(lit) - 1)})

static void write_batch(kw_buf *b, int codec, int n) {
  kw_batch_writer w;
  cr_assert_eq(kw_batch_begin(&w, b, (int16_t)codec, 4242, 3, 100), 0);
  kw_record_header hs[2] = {{S("event_type"), S("OrderCreated")}, {S("trace"), {NULL, 0}}};
  for (int i = 0; i < n; i++) {
    char key[32], val[64];
    snprintf(key, sizeof key, "order-%d", i);
    snprintf(val, sizeof val, "{\"order_id\":%d,\"amount\":%d}", i, i * 10);
    kw_slice k = {(const uint8_t *)key, (int32_t)strlen(key)};
    kw_slice v = {(const uint8_t *)val, (int32_t)strlen(val)};
    if (i == 1) k = (kw_slice){NULL, 0}; /* a null key */
    cr_assert_eq(kw_batch_append(&w, 1700000000000 + i, k, v, hs, i % 2 ? 2 : 0), 0);
  }
  cr_assert_eq(kw_batch_seal(&w, NULL), 0);
}

static void read_back(const kw_buf *b, int codec, int n) {
  kw_rd r;
  kw_rd_init(&r, b->data, b->len);
  cr_assert_eq(kw_records_magic(&r), 2);
  kw_batch batch;
  cr_assert_eq(kw_batch_next(&r, &batch), 0, "codec %d", codec);
  cr_assert_eq(kw_rd_left(&r), 0);
  cr_assert_eq(batch.attributes & KW_BATCH_CODEC_MASK, codec);
  cr_assert_eq(batch.record_count, n);
  cr_assert_eq(batch.last_offset_delta, n - 1);
  cr_assert_eq(batch.producer_id, 4242);
  cr_assert_eq(batch.producer_epoch, 3);
  cr_assert_eq(batch.base_sequence, 100);
  cr_assert_eq(batch.max_timestamp, 1700000000000 + n - 1);
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  kw_rd recs;
  cr_assert_eq(kw_batch_records(&batch, &scratch, 1 << 20, &recs), 0);
  for (int i = 0; i < n; i++) {
    kw_record rec;
    cr_assert_eq(kw_record_next(&recs, &batch, &rec), 0, "record %d", i);
    cr_assert_eq(rec.offset, i);
    cr_assert_eq(rec.timestamp, 1700000000000 + i);
    char key[32], val[64];
    snprintf(key, sizeof key, "order-%d", i);
    snprintf(val, sizeof val, "{\"order_id\":%d,\"amount\":%d}", i, i * 10);
    if (i == 1) cr_assert_null(rec.key.ptr);
    else cr_assert(rec.key.len == (int32_t)strlen(key) && memcmp(rec.key.ptr, key, strlen(key)) == 0);
    cr_assert(rec.value.len == (int32_t)strlen(val) && memcmp(rec.value.ptr, val, strlen(val)) == 0);
    cr_assert_eq(rec.n_headers, i % 2 ? 2 : 0);
    if (rec.n_headers) {
      kw_record_header h;
      cr_assert_eq(kw_record_header_next(&rec.headers, &h), 0);
      cr_assert(h.key.len == 10 && memcmp(h.key.ptr, "event_type", 10) == 0);
      cr_assert(h.value.len == 12 && memcmp(h.value.ptr, "OrderCreated", 12) == 0);
      cr_assert_eq(kw_record_header_next(&rec.headers, &h), 0);
      cr_assert_null(h.value.ptr, "null header value");
    }
  }
  cr_assert_eq(kw_rd_left(&recs), 0);
  kw_buf_free(&scratch);
}

Test(records, round_trip_every_codec) {
  for (int codec = KW_CODEC_NONE; codec <= KW_CODEC_ZSTD; codec++) {
    if (!kw_codec_available(codec)) continue;
    kw_buf b;
    kw_buf_init_grow(&b, NULL);
    write_batch(&b, codec, 50);
    read_back(&b, codec, 50);
    kw_buf_free(&b);
  }
}

Test(records, size_prediction_matches) {
  kw_slice k = S("k"), v = S("value");
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  kw_batch_writer w;
  kw_batch_begin(&w, &b, 0, -1, -1, -1);
  kw_batch_append(&w, 5, k, v, NULL, 0);
  size_t before = b.len;
  kw_batch_append(&w, 9, k, v, NULL, 0);
  cr_assert_eq(b.len - before, kw_record_size(4, 1, k, v, NULL, 0));
  kw_buf_free(&b);
}

Test(records, crc_mismatch_is_named) {
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  write_batch(&b, KW_CODEC_NONE, 3);
  b.data[b.len - 2] ^= 0x40; /* one bit in the last record */
  kw_rd r;
  kw_rd_init(&r, b.data, b.len);
  kw_batch batch;
  cr_assert_eq(kw_batch_next(&r, &batch), KW_ERR_CRC);
  kw_buf_free(&b);
}

Test(records, truncation_at_every_byte) {
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  write_batch(&b, KW_CODEC_NONE, 4);
  for (size_t cut = 0; cut < b.len; cut++) {
    kw_rd r;
    kw_rd_init(&r, b.data, cut);
    kw_batch batch;
    cr_assert_eq(kw_batch_next(&r, &batch), KW_ERR_TRUNCATED, "cut %zu", cut);
  }
  kw_buf_free(&b);
}

Test(records, lying_record_lengths_are_errors) {
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  write_batch(&b, KW_CODEC_NONE, 2);
  kw_rd r;
  kw_rd_init(&r, b.data, b.len);
  kw_batch batch;
  cr_assert_eq(kw_batch_next(&r, &batch), 0);
  batch.record_count = 5; /* claims more records than there are */
  kw_rd recs;
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  kw_batch_records(&batch, &scratch, 1 << 20, &recs);
  kw_record rec;
  cr_assert_eq(kw_record_next(&recs, &batch, &rec), 0);
  cr_assert_eq(kw_record_next(&recs, &batch, &rec), 0);
  cr_assert_neq(kw_record_next(&recs, &batch, &rec), 0, "third record does not exist");
  kw_buf_free(&scratch);
  kw_buf_free(&b);
}

Test(records, zip_bomb_is_refused) {
  /* 64 MB of zeros gzip-compressed into a batch; the reader caps output at 1 MB. */
  size_t big = 64u << 20;
  uint8_t *zeros = calloc(1, big);
  kw_buf z;
  kw_buf_init_grow(&z, NULL);
  cr_assert_eq(kw_compress(KW_CODEC_GZIP, -1, zeros, big, &z), 0);
  free(zeros);
  kw_batch batch = {.attributes = KW_CODEC_GZIP, .records = z.data, .records_len = z.len, .record_count = 1};
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  kw_rd recs;
  int err = kw_batch_records(&batch, &scratch, 1 << 20, &recs);
  cr_assert(err == KW_ERR_DECOMPRESS || err == KW_ERR_TOO_LARGE, "got %s", kw_errname(err));
  cr_assert_leq(scratch.cap, 4u << 20, "scratch grew to %zu", scratch.cap);
  kw_buf_free(&scratch);
  kw_buf_free(&z);
}

Test(records, unknown_codec_is_unsupported) {
  kw_batch batch = {.attributes = 6, .records = (const uint8_t *)"x", .records_len = 1};
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  kw_rd recs;
  cr_assert_eq(kw_batch_records(&batch, &scratch, 1 << 20, &recs), KW_ERR_UNSUPPORTED_CODEC);
  kw_buf_free(&scratch);
}

/* Builds one legacy message (magic 0 or 1) with a correct CRC-32. */
static void legacy_msg(kw_buf *b, int64_t offset, int magic, int attrs, int64_t ts, kw_slice key, kw_slice value) {
  kw_buf_i64(b, offset);
  size_t size_at = b->len;
  kw_buf_i32(b, 0);
  size_t crc_at = b->len;
  kw_buf_i32(b, 0);
  kw_buf_i8(b, (int8_t)magic);
  kw_buf_i8(b, (int8_t)attrs);
  if (magic == 1) kw_buf_i64(b, ts);
  kw_buf_bytes(b, key, false, true);
  kw_buf_bytes(b, value, false, true);
  kw_buf_put_i32_at(b, size_at, (int32_t)(b->len - crc_at));
  kw_buf_put_i32_at(b, crc_at, (int32_t)crc32(0L, b->data + crc_at + 4, (uInt)(b->len - crc_at - 4)));
}

Test(records, legacy_v0_and_v1_with_compressed_wrapper) {
  kw_buf inner, set;
  kw_buf_init_grow(&inner, NULL);
  kw_buf_init_grow(&set, NULL);
  legacy_msg(&inner, 0, 1, 0, 111, S("a"), S("first"));
  legacy_msg(&inner, 1, 1, 0, 112, S("b"), S("second"));
  kw_buf z;
  kw_buf_init_grow(&z, NULL);
  cr_assert_eq(kw_compress(KW_CODEC_GZIP, -1, inner.data, inner.len, &z), 0);
  legacy_msg(&set, 7, 0, 0, -1, (kw_slice){NULL, 0}, S("plain v0"));
  legacy_msg(&set, 41, 1, KW_CODEC_GZIP, 112, (kw_slice){NULL, 0}, (kw_slice){z.data, (int32_t)z.len});

  kw_rd r;
  kw_rd_init(&r, set.data, set.len);
  cr_assert_eq(kw_records_magic(&r), 0);
  kw_legacy_msg m;
  cr_assert_eq(kw_legacy_next(&r, &m), 0);
  cr_assert_eq(m.offset, 7);
  cr_assert_eq(m.timestamp, -1);
  cr_assert(m.value.len == 8 && memcmp(m.value.ptr, "plain v0", 8) == 0);
  cr_assert_eq(kw_legacy_next(&r, &m), 0);
  cr_assert_eq(m.attributes & 7, KW_CODEC_GZIP);

  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  kw_rd in;
  int64_t base;
  int32_t count;
  cr_assert_eq(kw_legacy_inner(&m, &scratch, 1 << 20, &in, &base, &count), 0);
  cr_assert_eq(count, 2);
  kw_legacy_msg im;
  cr_assert_eq(kw_legacy_next(&in, &im), 0);
  cr_assert_eq(base + im.offset, 40, "relative inner offsets end at the wrapper's offset");
  cr_assert_eq(kw_legacy_next(&in, &im), 0);
  cr_assert_eq(base + im.offset, 41);
  cr_assert(im.value.len == 6 && memcmp(im.value.ptr, "second", 6) == 0);

  /* The next fetch starts after the wrapper, whose offset is its last inner message's;
   * the first message alone (34 bytes) is shorter than a v2 batch header. */
  cr_assert_eq(kw_records_next_offset(set.data, set.len, 0), 42);
  cr_assert_eq(kw_records_next_offset(set.data, 34, 0), 8);

  set.data[30] ^= 1; /* inside the first message: its CRC no longer holds */
  kw_rd_init(&r, set.data, set.len);
  cr_assert_eq(kw_legacy_next(&r, &m), KW_ERR_CRC);
  kw_buf_free(&scratch);
  kw_buf_free(&inner);
  kw_buf_free(&set);
  kw_buf_free(&z);
}

/* Where the consumer's next Fetch starts: after the last complete entry, from the
 * headers alone. Two batches, offsets 0-2 and 3-6. */
Test(records, next_offset_from_batch_headers) {
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  write_batch(&b, KW_CODEC_NONE, 3);
  size_t second = b.len;
  write_batch(&b, KW_CODEC_GZIP, 4);
  b.data[second + 7] = 3; /* the second batch's base offset (big-endian int64) */
  cr_assert_eq(kw_records_next_offset(b.data, b.len, 0), 7);
  cr_assert_eq(kw_records_next_offset(b.data, b.len, 100), 100, "never backwards");
  cr_assert_eq(kw_records_next_offset(b.data, b.len - 1, 0), 3, "a partial last batch ends the walk");
  cr_assert_eq(kw_records_next_offset(b.data, KW_BATCH_HEADER_SIZE - 1, 5), 5, "shorter than a header");
  b.data[second + 16] = 1; /* magic 1: a legacy message, whose offset (3) is its last */
  cr_assert_eq(kw_records_next_offset(b.data, b.len, 0), 4);
  b.data[second + 16] = 3; /* no such magic: the walk ends before it */
  cr_assert_eq(kw_records_next_offset(b.data, b.len, 0), 3);
  kw_buf_free(&b);
}
