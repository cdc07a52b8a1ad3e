/* The consumer against a scripted broker (tests/unit/fake_broker.h), for what a real
 * Kafka 4 broker cannot be made to send: v0/v1 message sets (Kafka 4 no longer writes
 * them; older logs still hold them), a first entry no reader can make sense of, an
 * aborted-transaction list of exactly the size a test needs. Also what the consumer
 * asks (ListOffsets' replica id) and how often it talks to the broker, counted in
 * requests the broker saw, never in milliseconds. */
#include "tests/unit/fake_broker.h"
#include <criterion/criterion.h>
#include "kwire.h"
#include "proto/kw_records.h"

#define S(s) ((kw_slice){(const uint8_t *)(s), (int32_t)strlen(s)})

static kw_client *consumer_for(fb *b, const char *isolation, const char *wait_ms) {
  kw_config *conf = kw_config_new();
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", b->port);
  cr_assert_eq(kw_config_set(conf, "bootstrap.servers", addr, err, sizeof err), 0, "%s", err);
  cr_assert_eq(kw_config_set(conf, "isolation.level", isolation, err, sizeof err), 0, "%s", err);
  cr_assert_eq(kw_config_set(conf, "fetch.wait.max.ms", wait_ms, err, sizeof err), 0, "%s", err);
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  cr_assert_not_null(cl, "%s", err);
  return cl;
}

/* What a test polled: offsets, values (first 15 bytes) and errors. */
typedef struct got {
  int n;
  int64_t offset[64];
  char value[64][16];
  int err[64];
} got;

/* ---- ListOffsets: a client, not a follower ---- */

/* Kafka applies the isolation level to ListOffsets only for replica id -1 (a consumer);
 * any other id is a follower, which is told the log end offset. So a read_committed
 * consumer resetting to the end must say -1 and isolation 1, or it starts past the
 * records of transactions still open. The watermarks go through admin's ListOffsets. */
Test(fetcher_peer, list_offsets_asks_as_a_consumer) {
  fb b = {.topic = "t", .n_partitions = 1, .end_offset = 7};
  fb_start(&b);
  kw_client *cl = consumer_for(&b, "read_committed", "100");
  cr_assert_eq(kw_consumer_assign(cl, "t", 0, KW_OFFSET_END), 0);
  kw_message m;
  for (int i = 0; i < 100 && FB_GET(&b, n_list_offsets) == 0; i++) kw_consumer_poll(cl, &m, 50);
  cr_assert_eq(FB_GET(&b, n_list_offsets), 1);
  cr_assert_eq(FB_GET(&b, lo_replica_id), -1, "the fetcher's ListOffsets said replica id %d",
               (int)FB_GET(&b, lo_replica_id));
  cr_assert_eq(FB_GET(&b, lo_isolation), 1);
  for (int i = 0; i < 100 && kw_consumer_position(cl, "t", 0) < 0; i++) kw_consumer_poll(cl, &m, 50);
  cr_assert_eq(kw_consumer_position(cl, "t", 0), 7);

  int64_t low = -1, high = -1;
  cr_assert_eq(kw_consumer_watermarks(cl, "t", 0, &low, &high, 10000), 0);
  cr_assert_eq(FB_GET(&b, lo_replica_id), -1, "the watermarks' ListOffsets said replica id %d",
               (int)FB_GET(&b, lo_replica_id));
  cr_assert(low == 0 && high == 7);
  kw_client_destroy(cl);
  fb_stop(&b);
}

/* ---- read_committed: any number of producers aborting at once ---- */

#define N_ABORTING 40
static kw_buf txn_log;

static void put_batch(kw_buf *out, int64_t base_offset, int16_t attrs, int64_t pid, kw_slice key, kw_slice value) {
  size_t start = out->len;
  kw_batch_writer w;
  cr_assert_eq(kw_batch_begin(&w, out, attrs, pid, 0, pid >= 0 ? 0 : -1), 0);
  cr_assert_eq(kw_batch_append(&w, 1000, key, value, NULL, 0), 0);
  cr_assert_eq(kw_batch_seal(&w, NULL), 0);
  for (int i = 0; i < 8; i++) out->data[start + (size_t)i] = (uint8_t)((uint64_t)base_offset >> (56 - 8 * i));
}

/* Offsets 0..N-1: one record of each of N transactional producers, all open at once;
 * N: a plain record; then each producer's ABORT marker; then a plain record. */
static void build_txn_log(void) {
  kw_buf_init_grow(&txn_log, NULL);
  for (int i = 0; i < N_ABORTING; i++) {
    char v[16];
    snprintf(v, sizeof v, "aborted-%d", i);
    put_batch(&txn_log, i, KW_BATCH_TRANSACTIONAL, 1000 + i, S("k"), S(v));
  }
  put_batch(&txn_log, N_ABORTING, 0, -1, S("k"), S("plain-1"));
  static const uint8_t abort_key[4] = {0, 0, 0, 0}, marker_value[6] = {0, 0, 0, 0, 0, 0};
  for (int i = 0; i < N_ABORTING; i++)
    put_batch(&txn_log, N_ABORTING + 1 + i, KW_BATCH_TRANSACTIONAL | KW_BATCH_CONTROL, 1000 + i,
              (kw_slice){abort_key, 4}, (kw_slice){marker_value, 6});
  put_batch(&txn_log, 2 * N_ABORTING + 1, 0, -1, S("k"), S("plain-2"));
}

static void serve_txn(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd, kw_arena *a) {
  (void)b, (void)partition;
  if (fetch_offset != 0) return;
  pd->records = (kw_slice){txn_log.data, (int32_t)txn_log.len};
  pd->aborted_transactions = kw_arena_alloc(a, sizeof *pd->aborted_transactions * N_ABORTING);
  pd->n_aborted_transactions = N_ABORTING;
  for (int i = 0; i < N_ABORTING; i++) {
    kw_msg_init(KW_SCHEMA_FETCH_RESP_ABORTED_TRANSACTION, &pd->aborted_transactions[i]);
    pd->aborted_transactions[i].producer_id = 1000 + i;
    pd->aborted_transactions[i].first_offset = i;
  }
}

Test(fetcher_peer, read_committed_skips_every_aborting_producer) {
  build_txn_log();
  fb b = {.topic = "t", .n_partitions = 1, .end_offset = 2 * N_ABORTING + 2, .on_fetch = serve_txn};
  fb_start(&b);
  kw_client *cl = consumer_for(&b, "read_committed", "100");
  cr_assert_eq(kw_consumer_assign(cl, "t", 0, 0), 0);
  got g = {0};
  kw_message m;
  for (int i = 0; i < 200 && kw_consumer_position(cl, "t", 0) < 2 * N_ABORTING + 2; i++)
    if (kw_consumer_poll(cl, &m, 20) == 1 && g.n < 64) {
      g.offset[g.n] = m.offset;
      g.err[g.n] = m.err;
      snprintf(g.value[g.n], sizeof g.value[0], "%.*s", (int)m.value_len, (const char *)m.value);
      g.n++;
    }
  for (int i = 0; i < g.n; i++) cr_log_info("delivered %lld %s", (long long)g.offset[i], g.value[i]);
  cr_assert_eq(g.n, 2, "%d records delivered, the first %s", g.n, g.value[0]);
  cr_assert_str_eq(g.value[0], "plain-1");
  cr_assert_eq(g.offset[0], N_ABORTING);
  cr_assert_str_eq(g.value[1], "plain-2");
  cr_assert_eq(g.offset[1], 2 * N_ABORTING + 1);
  kw_client_destroy(cl);
  fb_stop(&b);
  kw_buf_free(&txn_log);
}
