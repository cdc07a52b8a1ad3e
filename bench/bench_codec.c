/* Codec benchmarks (figures only, never assertions):
 *   encode: 1 M records of 100 bytes into RecordBatch v2 batches of 10,000 records,
 *           sealed with CRC32C (no compression);
 *   decode: a 1 MB Fetch response (v18) decoded and every record iterated.
 * Prints records/s and GB/s, then one JSON line. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "proto/kw_msg.h"
#include "proto/kw_records.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define N_RECORDS 1000000
#define PER_BATCH 10000
#define VALUE_SIZE 100

static volatile uint64_t sink;

static double bench_encode(size_t *bytes_out) {
  uint8_t value[VALUE_SIZE];
  memset(value, 'v', sizeof value);
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  kw_buf_reserve(&b, 2u << 20);
  size_t bytes = 0;
  double t0 = now_s();
  for (int done = 0; done < N_RECORDS; done += PER_BATCH) {
    kw_buf_reset(&b);
    kw_batch_writer w;
    kw_batch_begin(&w, &b, 0, 1000, 0, done);
    for (int i = 0; i < PER_BATCH; i++)
      kw_batch_append(&w, 1700000000000 + i, (kw_slice){NULL, 0}, (kw_slice){value, VALUE_SIZE}, NULL, 0);
    kw_batch_seal(&w, NULL);
    bytes += b.len;
    sink += b.data[20];
  }
  double t = now_s() - t0;
  kw_buf_free(&b);
  *bytes_out = bytes;
  return t;
}

/* Builds a Fetch v18 response body whose records field holds ~1 MB of batches. */
static void build_fetch_response(kw_buf *out) {
  uint8_t value[VALUE_SIZE];
  memset(value, 'v', sizeof value);
  kw_buf recs;
  kw_buf_init_grow(&recs, NULL);
  int64_t base = 0;
  while (recs.len < (1u << 20) - 200 * 1024) {
    size_t start = recs.len;
    kw_batch_writer w;
    kw_batch_begin(&w, &recs, 0, -1, -1, -1);
    for (int i = 0; i < 1000; i++)
      kw_batch_append(&w, 1700000000000 + i, (kw_slice){NULL, 0}, (kw_slice){value, VALUE_SIZE}, NULL, 0);
    kw_batch_seal(&w, NULL);
    /* the broker assigns base offsets; patch ours in (CRC does not cover them) */
    for (int k = 0; k < 8; k++) recs.data[start + (size_t)k] = (uint8_t)((uint64_t)base >> (56 - 8 * k));
    base += 1000;
  }
  kw_fetch_resp_partition_data pd;
  kw_msg_init(KW_SCHEMA_FETCH_RESP_PARTITION_DATA, &pd);
  pd.high_watermark = base;
  pd.records = (kw_slice){recs.data, (int32_t)recs.len};
  kw_fetch_resp_fetchable_topic_response t;
  kw_msg_init(KW_SCHEMA_FETCH_RESP_FETCHABLE_TOPIC_RESPONSE, &t);
  t.topic_id.b[0] = 1;
  t.partitions = &pd;
  t.n_partitions = 1;
  kw_fetch_resp resp;
  kw_msg_init(KW_SCHEMA_FETCH_RESP, &resp);
  resp.responses = &t;
  resp.n_responses = 1;
  kw_response_encode(KW_API_FETCH, 18, &resp, out);
  kw_buf_free(&recs);
}

static double bench_decode(const kw_buf *frame, int rounds, uint64_t *records) {
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  uint64_t n = 0;
  double t0 = now_s();
  for (int r = 0; r < rounds; r++) {
    kw_rd rd;
    kw_rd_init(&rd, frame->data, frame->len);
    kw_fetch_resp resp;
    if (kw_response_decode(KW_API_FETCH, 18, &rd, &a, &resp)) return -1;
    const kw_slice *blob = &resp.responses[0].partitions[0].records;
    kw_rd br;
    kw_rd_init(&br, blob->ptr, (size_t)blob->len);
    kw_batch b;
    while (kw_batch_next(&br, &b) == 0) {
      kw_rd recs;
      kw_batch_records(&b, &scratch, 64u << 20, &recs);
      for (int32_t i = 0; i < b.record_count; i++) {
        kw_record rec;
        if (kw_record_next(&recs, &b, &rec)) break;
        sink += (uint64_t)rec.value.len;
        n++;
      }
    }
    kw_arena_reset(&a);
  }
  double t = now_s() - t0;
  kw_buf_free(&scratch);
  *records = n;
  return t;
}

int main(void) {
  size_t enc_bytes;
  bench_encode(&enc_bytes); /* warm up */
  double te = bench_encode(&enc_bytes);
  printf("encode: %d records x %d B in %.3f s: %.2f M records/s, %.2f GB/s of batches\n", N_RECORDS, VALUE_SIZE, te,
         N_RECORDS / te / 1e6, (double)enc_bytes / te / 1e9);

  kw_buf frame;
  kw_buf_init_grow(&frame, NULL);
  build_fetch_response(&frame);
  int rounds = 500;
  uint64_t recs;
  bench_decode(&frame, 20, &recs);
  double td = bench_decode(&frame, rounds, &recs);
  printf("decode: %zu-byte Fetch response x %d in %.3f s: %.2f GB/s, %.2f M records/s\n", frame.len, rounds, td,
         (double)frame.len * rounds / td / 1e9, (double)recs / td / 1e6);
  printf("{\"bench\":\"codec\",\"encode_records_per_s\":%.0f,\"encode_gb_per_s\":%.3f,"
         "\"decode_gb_per_s\":%.3f,\"decode_records_per_s\":%.0f}\n",
         N_RECORDS / te, (double)enc_bytes / te / 1e9, (double)frame.len * rounds / td / 1e9, (double)recs / td);
  kw_buf_free(&frame);
  return 0;
}
