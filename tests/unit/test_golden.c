/* Golden bytes: frames captured between a real Kafka 4.4.0 broker and real clients
 * (kcat 1.7.1 / librdkafka 2.0.2, the Java 4.4.0 ConsoleProducer), see tests/data/README.md.
 * Each frame must decode whole, carry the values the client sent, and re-encode to the
 * very same bytes: this pins our codec to what real peers put on the wire. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_frame.h"
#include "proto/kw_msg.h"

#define GOLDEN_DIR KW_TEST_DATA_DIR "/golden/"

/* The three messages every producer capture sent, key:value, in this order. */
static const char *const msg_keys[3] = {"order-1", "order-2", "order-1"};
static const char *const msg_values[3] = {
    "{\"event_type\":\"OrderCreated\",\"order_id\":\"order-1\",\"amount_cents\":1250}",
    "{\"event_type\":\"OrderCreated\",\"order_id\":\"order-2\",\"amount_cents\":899}",
    "{\"event_type\":\"OrderPaid\",\"order_id\":\"order-1\"}",
};

/* Capture order on the single-partition topic: for each codec, kcat then Java, three
 * records each, so the base offsets are 0, 3, 6, ... (README.md). */
static const char *const codecs[5] = {"none", "gzip", "snappy", "lz4", "zstd"};

static const uint8_t golden_topic_id[16] = {0x6c, 0x7f, 0x40, 0xdd, 0x69, 0x95, 0x44, 0xce,
                                            0x8b, 0x60, 0xb8, 0xdf, 0xf5, 0xfb, 0x65, 0xe9};
static const int32_t broker_port = 14949; /* the broker's real port during the capture */

typedef struct golden {
  uint8_t *data;
  size_t len;
  kw_arena arena;
} golden;

static void load(golden *g, const char *name) {
  char path[512];
  snprintf(path, sizeof path, GOLDEN_DIR "%s", name);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  cr_assert_gt(n, 0, "%s is empty", path);
  g->data = malloc((size_t)n);
  cr_assert_not_null(g->data);
  cr_assert_eq(fread(g->data, 1, (size_t)n, f), (size_t)n, "short read of %s", path);
  fclose(f);
  g->len = (size_t)n;
  kw_arena_init(&g->arena, NULL, 0);
}

static void unload(golden *g) {
  kw_arena_reset(&g->arena);
  free(g->data);
}

static bool slice_is(kw_slice s, const char *want) {
  return s.ptr && (size_t)s.len == strlen(want) && memcmp(s.ptr, want, (size_t)s.len) == 0;
}

#define assert_slice(s, want, what)                                                                  \
  cr_assert(slice_is((s), (want)), "%s: \"%.*s\", want \"%s\"", (what), (s).ptr ? (int)(s).len : 6, \
            (s).ptr ? (const char *)(s).ptr : "(null)", (want))

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

static const uint8_t *find(const uint8_t *from, const uint8_t *end, const char *s) {
  size_t n = strlen(s);
  for (const uint8_t *q = from; q + n <= end; q++)
    if (memcmp(q, s, n) == 0) return q;
  return NULL;
}

static void assert_same_bytes(const char *name, const kw_buf *b, const golden *g) {
  cr_assert_eq(b->err, 0, "%s: re-encode: %s", name, kw_errname(b->err));
  size_t n = b->len < g->len ? b->len : g->len;
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(b->data[i], g->data[i], "%s: re-encoded byte %zu (frame offset, no size prefix) is %02x, captured %02x",
                 name, i, b->data[i], g->data[i]);
  cr_assert_eq(b->len, g->len, "%s: re-encoded %zu bytes, captured %zu", name, b->len, g->len);
}

/* Decodes request header + body at (api, v), checks all bytes are used, then re-encodes
 * header + body and compares with the capture. */
static void request(golden *g, const char *name, int16_t api, int16_t v, kw_req_header *h, void *msg) {
  load(g, name);
  int hv = kw_req_header_version(api, v);
  kw_rd r;
  kw_rd_init(&r, g->data, g->len);
  cr_assert_eq(kw_req_header_decode(&r, h, hv), 0, "%s: header: %s", name, kw_errname(r.err));
  cr_assert_eq(h->api_key, api, "%s: api key %d", name, h->api_key);
  cr_assert_eq(h->api_version, v, "%s: version %d", name, h->api_version);
  int err = kw_request_decode(api, v, &r, &g->arena, msg);
  cr_assert_eq(err, 0, "%s: decode: %s at offset %td", name, kw_errname(err), r.p - g->data);
  cr_assert_eq(kw_rd_left(&r), 0, "%s: %zu bytes left after the body", name, kw_rd_left(&r));

  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  kw_req_header_encode(&b, h, hv);
  err = kw_request_encode(api, v, msg, &b);
  cr_assert_eq(err, 0, "%s: encode: %s", name, kw_errname(err));
  assert_same_bytes(name, &b, g);
  kw_buf_free(&b);
}

/* Same for a response; `v_body` differs from the captured version only where kwire
 * decodes a newer version's identical body layout at the version it speaks. */
static void response(golden *g, const char *name, int16_t api, int16_t v, int16_t v_body, void *msg) {
  load(g, name);
  int hv = kw_resp_header_version(api, v);
  kw_rd r;
  kw_rd_init(&r, g->data, g->len);
  int32_t corr = -1;
  cr_assert_eq(kw_resp_header_decode(&r, &corr, hv), 0, "%s: header: %s", name, kw_errname(r.err));
  cr_assert_geq(corr, 0, "%s: correlation id %d", name, corr);
  int err = kw_response_decode(api, v_body, &r, &g->arena, msg);
  cr_assert_eq(err, 0, "%s: decode: %s at offset %td", name, kw_errname(err), r.p - g->data);
  cr_assert_eq(kw_rd_left(&r), 0, "%s: %zu bytes left after the body", name, kw_rd_left(&r));

  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  kw_resp_header_encode(&b, corr, hv);
  err = kw_response_encode(api, v_body, msg, &b);
  cr_assert_eq(err, 0, "%s: encode: %s", name, kw_errname(err));
  assert_same_bytes(name, &b, g);
  kw_buf_free(&b);
}

static const kw_api_versions_resp_api_version *find_api(const kw_api_versions_resp *resp, int16_t key) {
  for (int32_t i = 0; i < resp->n_api_keys; i++)
    if (resp->api_keys[i].api_key == key) return &resp->api_keys[i];
  return NULL;
}

/* ---- ApiVersions ---- */

Test(golden, kcat_api_versions_v3_request) {
  golden g;
  kw_req_header h;
  kw_api_versions_req req;
  request(&g, "kcat-ApiVersions-v3-request.bin", KW_API_API_VERSIONS, 3, &h, &req);
  assert_slice(h.client_id, "rdkafka", "client id");
  assert_slice(req.client_software_name, "librdkafka", "software name");
  assert_slice(req.client_software_version, "2.0.2", "software version");
  unload(&g);
}

static void check_broker_api_versions(const kw_api_versions_resp *resp) {
  cr_assert_eq(resp->error_code, 0);
  cr_assert_gt(resp->n_api_keys, 20, "a 4.4 broker lists many APIs (%d)", resp->n_api_keys);
  /* The versions the captured clients used must lie in the broker's ranges. */
  static const struct { int16_t key, v; } used[] = {
      {KW_API_PRODUCE, 7}, {KW_API_PRODUCE, 13}, {KW_API_FETCH, 11}, {KW_API_METADATA, 4},
      {KW_API_METADATA, 13}, {KW_API_API_VERSIONS, 5}, {KW_API_LIST_OFFSETS, 2}, {KW_API_INIT_PRODUCER_ID, 5},
  };
  for (size_t i = 0; i < sizeof used / sizeof used[0]; i++) {
    const kw_api_versions_resp_api_version *a = find_api(resp, used[i].key);
    cr_assert_not_null(a, "api %d missing", used[i].key);
    cr_assert(a->min_version <= used[i].v && used[i].v <= a->max_version, "api %d: %d-%d lacks v%d", used[i].key,
              a->min_version, a->max_version, used[i].v);
  }
  /* KRaft brokers finalize metadata.version, sent as tagged fields. */
  cr_assert_geq(resp->finalized_features_epoch, 0);
  bool metadata_version = false;
  for (int32_t i = 0; i < resp->n_finalized_features; i++)
    metadata_version |= slice_is(resp->finalized_features[i].name, "metadata.version");
  cr_assert(metadata_version, "finalized features lack metadata.version");
}

Test(golden, broker_api_versions_v3_response) {
  golden g;
  kw_api_versions_resp resp;
  response(&g, "kcat-ApiVersions-v3-response.bin", KW_API_API_VERSIONS, 3, 3, &resp);
  check_broker_api_versions(&resp);
  unload(&g);
}

/* The Java 4.4 client asks ApiVersions v5 (KIP-1242), which kwire does not speak (its
 * tables stop at v4). The v5 response body has exactly the v4 layout (v5 only changes
 * the request and adds an error code), so the v4 codec must reproduce it byte for byte. */
Test(golden, broker_api_versions_v5_response_has_v4_layout) {
  golden g;
  kw_api_versions_resp resp;
  response(&g, "java-ApiVersions-v5-response.bin", KW_API_API_VERSIONS, 5, 4, &resp);
  check_broker_api_versions(&resp);
  unload(&g);
}

/* v5 requests: only the header is ours to decode; the body's v5 fields are read by hand. */
static void java_api_versions_v5_request(const char *name, bool has_cluster, int32_t node_id) {
  golden g;
  load(&g, name);
  kw_rd r;
  kw_rd_init(&r, g.data, g.len);
  kw_req_header h;
  cr_assert_eq(kw_req_header_decode(&r, &h, kw_req_header_version(KW_API_API_VERSIONS, 5)), 0);
  cr_assert_eq(h.api_key, KW_API_API_VERSIONS);
  cr_assert_eq(h.api_version, 5);
  assert_slice(h.client_id, "console-producer", "client id");
  assert_slice(kw_rd_string(&r, true, false), "apache-kafka-java", "software name");
  assert_slice(kw_rd_string(&r, true, false), "4.4.0", "software version");
  kw_slice cluster = kw_rd_string(&r, true, true);
  cr_assert_eq(cluster.ptr != NULL, has_cluster, "cluster id present: %d", cluster.ptr != NULL);
  cr_assert_eq(kw_rd_i32(&r), node_id);
  kw_rd_skip_tags(&r);
  cr_assert_eq(r.err, 0);
  cr_assert_eq(kw_rd_left(&r), 0);
  unload(&g);
}

Test(golden, java_api_versions_v5_requests) {
  java_api_versions_v5_request("java-ApiVersions-v5-request.bin", false, -1);
  java_api_versions_v5_request("java-ApiVersions-v5-request-node1.bin", true, 1);
}

/* ---- Metadata ---- */

Test(golden, kcat_metadata_v4_request) {
  golden g;
  kw_req_header h;
  kw_metadata_req req;
  request(&g, "kcat-Metadata-v4-request.bin", KW_API_METADATA, 4, &h, &req);
  assert_slice(h.client_id, "rdkafka", "client id");
  cr_assert_eq(req.n_topics, 1);
  assert_slice(req.topics[0].name, "golden", "topic");
  cr_assert_eq(req.allow_auto_topic_creation, true);
  unload(&g);
}

Test(golden, java_metadata_v13_request) {
  golden g;
  kw_req_header h;
  kw_metadata_req req;
  request(&g, "java-Metadata-v13-request.bin", KW_API_METADATA, 13, &h, &req);
  assert_slice(h.client_id, "console-producer", "client id");
  cr_assert_eq(req.n_topics, 1);
  assert_slice(req.topics[0].name, "golden", "topic");
  static const uint8_t zero[16];
  cr_assert_arr_eq(req.topics[0].topic_id.b, zero, 16, "topic id unknown yet");
  cr_assert_eq(req.allow_auto_topic_creation, true);
  cr_assert_eq(req.include_topic_authorized_operations, false);
  unload(&g);
}

static void check_metadata(const kw_metadata_resp *resp) {
  cr_assert_eq(resp->n_brokers, 1);
  cr_assert_eq(resp->brokers[0].node_id, 1);
  assert_slice(resp->brokers[0].host, "127.0.0.1", "host");
  cr_assert_eq(resp->brokers[0].port, broker_port, "captured bytes keep the broker's own port");
  cr_assert_null(resp->brokers[0].rack.ptr);
  cr_assert_eq(resp->controller_id, 1);
  cr_assert_eq(resp->n_topics, 1);
  const kw_metadata_resp_topic *t = &resp->topics[0];
  cr_assert_eq(t->error_code, 0);
  assert_slice(t->name, "golden", "topic");
  cr_assert_eq(t->n_partitions, 1);
  cr_assert_eq(t->partitions[0].partition_index, 0);
  cr_assert_eq(t->partitions[0].leader_id, 1);
  cr_assert_eq(t->partitions[0].n_replica_nodes, 1);
  cr_assert_eq(t->partitions[0].replica_nodes[0], 1);
  cr_assert_eq(t->partitions[0].n_isr_nodes, 1);
}

Test(golden, broker_metadata_v4_response) {
  golden g;
  kw_metadata_resp resp;
  response(&g, "kcat-Metadata-v4-response.bin", KW_API_METADATA, 4, 4, &resp);
  check_metadata(&resp);
  cr_assert_eq(resp.cluster_id.len, 22, "base64 uuid");
  unload(&g);
}

Test(golden, broker_metadata_v13_response) {
  golden g;
  kw_metadata_resp resp;
  response(&g, "java-Metadata-v13-response.bin", KW_API_METADATA, 13, 13, &resp);
  check_metadata(&resp);
  cr_assert_eq(resp.error_code, 0);
  cr_assert_arr_eq(resp.topics[0].topic_id.b, golden_topic_id, 16);
  cr_assert_eq(resp.topics[0].partitions[0].leader_epoch, 0);
  unload(&g);
}

/* ---- InitProducerId (Java producers are idempotent by default) ---- */

Test(golden, java_init_producer_id_v5) {
  golden g;
  kw_req_header h;
  kw_init_producer_id_req req;
  request(&g, "java-InitProducerId-v5-request.bin", KW_API_INIT_PRODUCER_ID, 5, &h, &req);
  cr_assert_null(req.transactional_id.ptr);
  cr_assert_eq(req.transaction_timeout_ms, INT32_MAX);
  cr_assert_eq(req.producer_id, -1);
  cr_assert_eq(req.producer_epoch, -1);
  unload(&g);

  kw_init_producer_id_resp resp;
  response(&g, "java-InitProducerId-v5-response.bin", KW_API_INIT_PRODUCER_ID, 5, 5, &resp);
  cr_assert_eq(resp.error_code, 0);
  cr_assert_eq(resp.producer_id, 0);
  cr_assert_eq(resp.producer_epoch, 0);
  unload(&g);

  /* The first try on a fresh broker: COORDINATOR_LOAD_IN_PROGRESS, retriable. */
  response(&g, "java-InitProducerId-v5-response-load-in-progress.bin", KW_API_INIT_PRODUCER_ID, 5, 5, &resp);
  cr_assert_eq(resp.error_code, 14);
  cr_assert_eq(resp.producer_id, -1);
  cr_assert_eq(resp.producer_epoch, -1);
  unload(&g);
}

/* ---- Produce ---- */

/* A RecordBatch v2 holding the three messages, compressed with codec `ci`. */
static void check_batch(kw_slice records, int ci, int64_t producer_id) {
  cr_assert_not_null(records.ptr);
  cr_assert_geq(records.len, 61, "batch header is 61 bytes");
  const uint8_t *p = records.ptr;
  cr_assert_eq(be64(p), 0, "a producer's baseOffset is 0");
  cr_assert_eq((int32_t)be32(p + 8), records.len - 12, "batchLength covers the rest");
  cr_assert_eq(p[16], 2, "magic");
  cr_assert_eq(p[22] & 7, ci, "attributes codec %d, want %s", p[22] & 7, codecs[ci]);
  cr_assert_eq(be64(p + 43), producer_id, "producerId");
  cr_assert_eq(be32(p + 57), 3, "record count");
  if (ci == 0) { /* uncompressed: the keys and values are in the clear */
    const uint8_t *end = p + records.len;
    const uint8_t *at = p + 61;
    for (int i = 0; i < 3; i++) {
      const uint8_t *value = find(at, end, msg_values[i]);
      cr_assert_not_null(value, "value %d not found in order", i);
      cr_assert_not_null(find(at, value, msg_keys[i]), "key %d precedes value %d", i, i);
      at = value + strlen(msg_values[i]);
    }
  }
}

static void check_produce_response(const char *name, int16_t v, int64_t base_offset, bool by_id) {
  golden g;
  kw_produce_resp resp;
  response(&g, name, KW_API_PRODUCE, v, v, &resp);
  cr_assert_eq(resp.n_responses, 1);
  if (by_id) {
    cr_assert_arr_eq(resp.responses[0].topic_id.b, golden_topic_id, 16);
  } else {
    assert_slice(resp.responses[0].name, "golden", "topic");
  }
  cr_assert_eq(resp.responses[0].n_partition_responses, 1);
  const kw_produce_resp_partition_produce_response *pr = &resp.responses[0].partition_responses[0];
  cr_assert_eq(pr->index, 0);
  cr_assert_eq(pr->error_code, 0, "%s: error %d", name, pr->error_code);
  cr_assert_eq(pr->base_offset, base_offset, "%s: base offset %lld", name, (long long)pr->base_offset);
  cr_assert_eq(pr->log_append_time_ms, -1, "CreateTime topic");
  cr_assert_eq(pr->log_start_offset, 0);
  cr_assert_eq(pr->n_record_errors, 0);
  cr_assert_null(pr->error_message.ptr);
  cr_assert_eq(resp.throttle_time_ms, 0);
  unload(&g);
}

Test(golden, kcat_produce_v7_every_codec) {
  for (int ci = 0; ci < 5; ci++) {
    char name[128];
    snprintf(name, sizeof name, "kcat-%s-Produce-v7-request.bin", codecs[ci]);
    golden g;
    kw_req_header h;
    kw_produce_req req;
    request(&g, name, KW_API_PRODUCE, 7, &h, &req);
    assert_slice(h.client_id, "rdkafka", "client id");
    cr_assert_null(req.transactional_id.ptr, "transactional id null");
    cr_assert_eq(req.acks, -1);
    cr_assert_eq(req.timeout_ms, 30000);
    cr_assert_eq(req.n_topic_data, 1);
    assert_slice(req.topic_data[0].name, "golden", "topic");
    cr_assert_eq(req.topic_data[0].n_partition_data, 1);
    cr_assert_eq(req.topic_data[0].partition_data[0].index, 0);
    check_batch(req.topic_data[0].partition_data[0].records, ci, -1);
    unload(&g);

    snprintf(name, sizeof name, "kcat-%s-Produce-v7-response.bin", codecs[ci]);
    check_produce_response(name, 7, 6 * ci, false);
  }
}

/* Produce v13 names the topic by id only (KIP-516). */
Test(golden, java_produce_v13_every_codec) {
  for (int ci = 0; ci < 5; ci++) {
    char name[128];
    snprintf(name, sizeof name, "java-%s-Produce-v13-request.bin", codecs[ci]);
    golden g;
    kw_req_header h;
    kw_produce_req req;
    request(&g, name, KW_API_PRODUCE, 13, &h, &req);
    assert_slice(h.client_id, "console-producer", "client id");
    cr_assert_null(req.transactional_id.ptr, "transactional id null");
    cr_assert_eq(req.acks, -1);
    cr_assert_eq(req.timeout_ms, 1500);
    cr_assert_eq(req.n_topic_data, 1);
    cr_assert_arr_eq(req.topic_data[0].topic_id.b, golden_topic_id, 16);
    cr_assert_eq(req.topic_data[0].n_partition_data, 1);
    cr_assert_eq(req.topic_data[0].partition_data[0].index, 0);
    /* Each ConsoleProducer run got the next producer id from InitProducerId. */
    check_batch(req.topic_data[0].partition_data[0].records, ci, ci);
    unload(&g);

    snprintf(name, sizeof name, "java-%s-Produce-v13-response.bin", codecs[ci]);
    check_produce_response(name, 13, 6 * ci + 3, true);
  }
}

/* ---- ListOffsets and Fetch (kcat -C -o beginning -e) ---- */

Test(golden, kcat_list_offsets_v2) {
  golden g;
  kw_req_header h;
  kw_list_offsets_req req;
  request(&g, "kcat-ListOffsets-v2-request.bin", KW_API_LIST_OFFSETS, 2, &h, &req);
  cr_assert_eq(req.replica_id, -1);
  cr_assert_eq(req.n_topics, 1);
  assert_slice(req.topics[0].name, "golden", "topic");
  cr_assert_eq(req.topics[0].n_partitions, 1);
  cr_assert_eq(req.topics[0].partitions[0].timestamp, -2, "earliest");
  unload(&g);

  kw_list_offsets_resp resp;
  response(&g, "kcat-ListOffsets-v2-response.bin", KW_API_LIST_OFFSETS, 2, 2, &resp);
  cr_assert_eq(resp.n_topics, 1);
  cr_assert_eq(resp.topics[0].partitions[0].error_code, 0);
  cr_assert_eq(resp.topics[0].partitions[0].offset, 0);
  unload(&g);
}

Test(golden, kcat_fetch_v11_request) {
  golden g;
  kw_req_header h;
  kw_fetch_req req;
  request(&g, "kcat-Fetch-v11-request.bin", KW_API_FETCH, 11, &h, &req);
  assert_slice(h.client_id, "rdkafka", "client id");
  cr_assert_eq(req.replica_id, -1);
  cr_assert_eq(req.n_topics, 1);
  assert_slice(req.topics[0].topic, "golden", "topic");
  cr_assert_eq(req.topics[0].n_partitions, 1);
  cr_assert_eq(req.topics[0].partitions[0].partition, 0);
  cr_assert_eq(req.topics[0].partitions[0].fetch_offset, 0);
  cr_assert_eq(req.n_forgotten_topics_data, 0);
  unload(&g);
}

Test(golden, broker_fetch_v11_response) {
  golden g;
  kw_fetch_resp resp;
  response(&g, "kcat-Fetch-v11-response.bin", KW_API_FETCH, 11, 11, &resp);
  cr_assert_eq(resp.error_code, 0);
  cr_assert_eq(resp.n_responses, 1);
  assert_slice(resp.responses[0].topic, "golden", "topic");
  cr_assert_eq(resp.responses[0].n_partitions, 1);
  const kw_fetch_resp_partition_data *pd = &resp.responses[0].partitions[0];
  cr_assert_eq(pd->partition_index, 0);
  cr_assert_eq(pd->error_code, 0);
  cr_assert_eq(pd->high_watermark, 30);
  cr_assert_eq(pd->last_stable_offset, 30);
  cr_assert_eq(pd->preferred_read_replica, -1);
  cr_assert_not_null(pd->records.ptr);
  cr_assert_gt(pd->records.len, 0);
  const uint8_t *p = pd->records.ptr;
  cr_assert_eq(be64(p), 0, "first baseOffset");
  cr_assert_eq(p[16], 2, "magic");
  /* All ten batches, in capture order: kcat then Java for each codec, 3 records each. */
  int32_t off = 0;
  for (int i = 0; i < 10; i++) {
    cr_assert_leq(off + 61, pd->records.len, "batch %d", i);
    cr_assert_eq(be64(p + off), 3 * i, "batch %d baseOffset", i);
    cr_assert_eq(p[off + 16], 2, "batch %d magic", i);
    cr_assert_eq(p[off + 22] & 7, i / 2, "batch %d codec", i);
    off += 12 + (int32_t)be32(p + off + 8);
  }
  cr_assert_eq(off, pd->records.len, "ten whole batches");
  unload(&g);

  response(&g, "kcat-Fetch-v11-response-empty.bin", KW_API_FETCH, 11, 11, &resp);
  cr_assert_eq(resp.responses[0].partitions[0].high_watermark, 30);
  cr_assert_eq(resp.responses[0].partitions[0].records.len, 0);
  unload(&g);
}
