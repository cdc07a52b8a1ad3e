/* Record batches written by kwire's codec, one per compression codec, produced to the
 * real broker (Produce at the negotiated version, topic ids from v13), then read back
 * two ways: by kcat (librdkafka) and by kwire's own Fetch + batch reader. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"
#include "proto/kw_records.h"
#include "tests/integration/it_support.h"

#define N_PER_CODEC 10
#define SL(str) ((kw_slice){(const uint8_t *)(str), (int32_t)strlen(str)})

static void create_topic(kw_conn *c, const char *topic) {
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_create_topics_req_creatable_topic t;
  kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ_CREATABLE_TOPIC, &t);
  t.name = SL(topic);
  t.num_partitions = 1;
  t.replication_factor = 1;
  kw_create_topics_req req;
  kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ, &req);
  req.topics = &t;
  req.n_topics = 1;
  req.timeout_ms = 15000;
  kw_create_topics_resp resp;
  it_call(c, KW_API_CREATE_TOPICS, &req, &resp, &a);
  IT_CHECK(resp.n_topics == 1, "CreateTopics answered %d topics", resp.n_topics);
  IT_CHECK(resp.topics[0].error_code == 0, "CreateTopics %s: %s", topic, kw_kerr_name(resp.topics[0].error_code));
  kw_arena_reset(&a);
}

/* Waits until the topic has a leader; returns its topic id. */
static kw_uuid await_leader(kw_conn *c, const char *topic) {
  for (int attempt = 0; attempt < 150; attempt++) {
    kw_arena a;
    kw_arena_init(&a, NULL, 0);
    kw_metadata_req_topic t;
    kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &t);
    t.name = SL(topic);
    kw_metadata_req req;
    kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
    req.topics = &t;
    req.n_topics = 1;
    kw_metadata_resp resp;
    it_call(c, KW_API_METADATA, &req, &resp, &a);
    if (resp.n_topics == 1 && resp.topics[0].error_code == 0 && resp.topics[0].n_partitions == 1 &&
        resp.topics[0].partitions[0].leader_id >= 0) {
      kw_uuid id = resp.topics[0].topic_id;
      kw_arena_reset(&a);
      return id;
    }
    kw_arena_reset(&a);
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  }
  IT_CHECK(0, "topic %s has no leader after 15 s", topic);
  return (kw_uuid){{0}};
}

/* Record timestamps start here: now, read once. A fixed date in the past would make
 * the broker's retention check (7 days by default) delete the segment between the
 * Produce and the Fetch below, which then answers OFFSET_OUT_OF_RANGE. */
static int64_t ts_base;

static void record_text(int codec, int i, char *key, size_t kn, char *val, size_t vn) {
  snprintf(key, kn, "order-%d", i);
  snprintf(val, vn, "{\"event_type\":\"OrderCreated\",\"codec\":\"%s\",\"n\":%d}", kw_codec_name(codec), i);
}

static int64_t produce(kw_conn *c, const char *topic, kw_uuid topic_id, int codec) {
  kw_buf batch;
  kw_buf_init_grow(&batch, NULL);
  kw_batch_writer w;
  IT_CHECK(kw_batch_begin(&w, &batch, (int16_t)codec, -1, -1, -1) == 0, "batch begin");
  for (int i = 0; i < N_PER_CODEC; i++) {
    char key[32], val[128];
    record_text(codec, i, key, sizeof key, val, sizeof val);
    kw_record_header h = {SL("codec"), SL(kw_codec_name(codec))};
    IT_CHECK(kw_batch_append(&w, ts_base + i, SL(key), SL(val), &h, 1) == 0, "append");
  }
  int err = kw_batch_seal(&w, NULL);
  IT_CHECK(err == 0, "seal (%s): %s", kw_codec_name(codec), kw_strerror(err));

  kw_produce_req_partition_produce_data p = {0, {batch.data, (int32_t)batch.len}};
  kw_produce_req_topic_produce_data t;
  kw_msg_init(KW_SCHEMA_PRODUCE_REQ_TOPIC_PRODUCE_DATA, &t);
  int v = kw_conn_version(c, KW_API_PRODUCE);
  if (v >= 13) t.topic_id = topic_id; /* Produce v13 names topics by id only */
  else t.name = SL(topic);
  t.partition_data = &p;
  t.n_partition_data = 1;
  kw_produce_req req;
  kw_msg_init(KW_SCHEMA_PRODUCE_REQ, &req);
  req.acks = -1;
  req.timeout_ms = 10000;
  req.topic_data = &t;
  req.n_topic_data = 1;
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_produce_resp resp;
  it_call(c, KW_API_PRODUCE, &req, &resp, &a);
  IT_CHECK(resp.n_responses == 1 && resp.responses[0].n_partition_responses == 1, "produce answer shape");
  const kw_produce_resp_partition_produce_response *pr = &resp.responses[0].partition_responses[0];
  IT_CHECK(pr->error_code == 0, "produce %s: %s", kw_codec_name(codec), kw_kerr_name(pr->error_code));
  int64_t base = pr->base_offset;
  printf("produced %d records with %-6s at offset %lld (Produce v%d)\n", N_PER_CODEC, kw_codec_name(codec),
         (long long)base, v);
  kw_arena_reset(&a);
  kw_buf_free(&batch);
  return base;
}

/* kcat reads everything back: key=value lines in offset order. */
static void check_with_kcat(const char *topic, const int *codecs, int n_codecs) {
  char host[256], cmd[1024];
  int port;
  it_bootstrap(host, sizeof host, &port);
  snprintf(cmd, sizeof cmd, "kcat -C -b %s:%d -t %s -o beginning -e -q -f '%%k=%%s|%%h\\n'", host, port, topic);
  FILE *p = popen(cmd, "r");
  IT_CHECK(p != NULL, "cannot run kcat");
  char line[512];
  int seen = 0;
  for (int ci = 0; ci < n_codecs; ci++) {
    for (int i = 0; i < N_PER_CODEC; i++) {
      char key[32], val[128], want[512];
      record_text(codecs[ci], i, key, sizeof key, val, sizeof val);
      snprintf(want, sizeof want, "%s=%s|codec=%s\n", key, val, kw_codec_name(codecs[ci]));
      IT_CHECK(fgets(line, sizeof line, p) != NULL, "kcat ended after %d records", seen);
      IT_CHECK(strcmp(line, want) == 0, "kcat record %d: got '%s' want '%s'", seen, line, want);
      seen++;
    }
  }
  IT_CHECK(fgets(line, sizeof line, p) == NULL, "kcat printed extra output: %s", line);
  int rc = pclose(p);
  IT_CHECK(rc == 0, "kcat exited with %d", rc);
  printf("kcat read all %d records back\n", seen);
}

/* kwire's own Fetch reads everything back. */
static void check_with_fetch(kw_conn *c, const char *topic, kw_uuid topic_id, const int *codecs, int n_codecs) {
  kw_fetch_req_fetch_partition fp;
  kw_msg_init(KW_SCHEMA_FETCH_REQ_FETCH_PARTITION, &fp);
  fp.partition = 0;
  fp.fetch_offset = 0;
  fp.partition_max_bytes = 1 << 20;
  kw_fetch_req_fetch_topic ft;
  kw_msg_init(KW_SCHEMA_FETCH_REQ_FETCH_TOPIC, &ft);
  int v = kw_conn_version(c, KW_API_FETCH);
  if (v >= 13) ft.topic_id = topic_id;
  else ft.topic = SL(topic);
  ft.partitions = &fp;
  ft.n_partitions = 1;
  kw_fetch_req req;
  kw_msg_init(KW_SCHEMA_FETCH_REQ, &req);
  req.max_wait_ms = 500;
  req.min_bytes = 1;
  req.max_bytes = 4 << 20;
  req.topics = &ft;
  req.n_topics = 1;
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_fetch_resp resp;
  it_call(c, KW_API_FETCH, &req, &resp, &a);
  IT_CHECK(resp.error_code == 0, "fetch: %s", kw_kerr_name(resp.error_code));
  IT_CHECK(resp.n_responses == 1 && resp.responses[0].n_partitions == 1, "fetch answer shape");
  const kw_fetch_resp_partition_data *pd = &resp.responses[0].partitions[0];
  IT_CHECK(pd->error_code == 0, "fetch partition: %s", kw_kerr_name(pd->error_code));
  IT_CHECK(pd->high_watermark == n_codecs * N_PER_CODEC, "high watermark %lld", (long long)pd->high_watermark);

  kw_rd r;
  kw_rd_init(&r, pd->records.ptr, pd->records.ptr ? (size_t)pd->records.len : 0);
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  int64_t next = 0;
  for (int ci = 0; ci < n_codecs; ci++) {
    kw_batch b;
    int err = kw_batch_next(&r, &b);
    IT_CHECK(err == 0, "batch %d: %s", ci, kw_strerror(err));
    IT_CHECK((b.attributes & KW_BATCH_CODEC_MASK) == codecs[ci], "batch %d codec %d", ci, b.attributes & 7);
    kw_rd recs;
    err = kw_batch_records(&b, &scratch, 16 << 20, &recs);
    IT_CHECK(err == 0, "batch %d records: %s", ci, kw_strerror(err));
    for (int i = 0; i < b.record_count; i++) {
      kw_record rec;
      IT_CHECK(kw_record_next(&recs, &b, &rec) == 0, "record %d", i);
      char key[32], val[128];
      record_text(codecs[ci], i, key, sizeof key, val, sizeof val);
      IT_CHECK(rec.offset == next, "offset %lld want %lld", (long long)rec.offset, (long long)next);
      IT_CHECK(rec.key.len == (int32_t)strlen(key) && memcmp(rec.key.ptr, key, strlen(key)) == 0, "key %d", i);
      IT_CHECK(rec.value.len == (int32_t)strlen(val) && memcmp(rec.value.ptr, val, strlen(val)) == 0, "value %d", i);
      IT_CHECK(rec.timestamp == ts_base + i, "timestamp %lld", (long long)rec.timestamp);
      next++;
    }
  }
  IT_CHECK(next == n_codecs * N_PER_CODEC, "fetched %lld records", (long long)next);
  printf("kwire Fetch v%d read all %lld records back\n", v, (long long)next);
  kw_buf_free(&scratch);
  kw_arena_reset(&a);
}

int main(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  ts_base = (int64_t)now.tv_sec * 1000;
  kw_conn *c = it_connect(30000);
  char topic[64];
  snprintf(topic, sizeof topic, "it-records-%d", (int)getpid());
  create_topic(c, topic);
  kw_uuid id = await_leader(c, topic);

  int codecs[KW_CODEC_ZSTD + 1], n = 0;
  for (int codec = KW_CODEC_NONE; codec <= KW_CODEC_ZSTD; codec++)
    if (kw_codec_available(codec)) codecs[n++] = codec;
  IT_CHECK(n >= 4, "only %d codecs built in (none, gzip, snappy, lz4 are always there)", n);
  for (int i = 0; i < n; i++) {
    int64_t base = produce(c, topic, id, codecs[i]);
    IT_CHECK(base == (int64_t)i * N_PER_CODEC, "base offset %lld", (long long)base);
  }
  check_with_kcat(topic, codecs, n);
  check_with_fetch(c, topic, id, codecs, n);
  kw_conn_free(c);
  printf("PASS it_records_interop\n");
  return 0;
}
