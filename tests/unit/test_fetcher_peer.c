/* The consumer against a scripted broker (tests/unit/fake_broker.h), for what a real
 * Kafka 4 broker cannot be made to send: v0/v1 message sets (Kafka 4 no longer writes
 * them; older logs still hold them), a first entry no reader can make sense of, an
 * aborted-transaction list of exactly the size a test needs. Also what the consumer
 * asks (ListOffsets' replica id) and how often it talks to the broker, counted in
 * requests the broker saw, never in milliseconds. */
#include "tests/unit/fake_broker.h"
#include <criterion/criterion.h>
#include <zlib.h>
#include "kwire.h"
#include "proto/compress/kw_compress.h"
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
  kw_config_free(conf);
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

/* Polls until `want` records or error events came, or the broker answered max_fetches
 * Fetch requests (a consumer that fetches again and again without handing anything out
 * ends the loop there). */
static void poll_until(kw_client *cl, fb *b, got *g, int want, int max_fetches) {
  while (g->n < want && FB_GET(b, n_fetch) <= max_fetches) {
    kw_message m;
    if (kw_consumer_poll(cl, &m, 50) != 1) continue;
    g->offset[g->n] = m.offset;
    g->err[g->n] = m.err;
    snprintf(g->value[g->n], sizeof g->value[0], "%.*s", m.value ? (int)m.value_len : 0,
             m.value ? (const char *)m.value : "");
    g->n++;
  }
}

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

/* ---- legacy message sets (magic 0 and 1) ---- */

/* One legacy message with a correct CRC-32 (Kafka's v0/v1 layout). */
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

/* A gzip wrapper around inner messages: v1 inner offsets are relative (0..n-1) and the
 * wrapper carries the last absolute one; v0 inner offsets are absolute. */
static void legacy_wrapper(kw_buf *set, int magic, int64_t first, int n, const char *prefix) {
  kw_buf inner, z;
  kw_buf_init_grow(&inner, NULL);
  kw_buf_init_grow(&z, NULL);
  for (int i = 0; i < n; i++) {
    char v[16];
    snprintf(v, sizeof v, "%s%d", prefix, i);
    legacy_msg(&inner, magic == 1 ? i : first + i, magic, 0, 1000 + i, S("k"), S(v));
  }
  cr_assert_eq(kw_compress(KW_CODEC_GZIP, -1, inner.data, inner.len, &z), 0);
  legacy_msg(set, first + n - 1, magic, KW_CODEC_GZIP, 1000, (kw_slice){NULL, 0}, (kw_slice){z.data, (int32_t)z.len});
  kw_buf_free(&inner);
  kw_buf_free(&z);
}

static kw_buf legacy_log; /* offsets 0..7 as an old broker stored them */

static void build_legacy_log(void) {
  kw_buf_init_grow(&legacy_log, NULL);
  legacy_msg(&legacy_log, 0, 0, 0, -1, S("k"), S("plain-v0"));
  legacy_msg(&legacy_log, 1, 1, 0, 5000, S("k"), S("plain-v1"));
  legacy_wrapper(&legacy_log, 1, 2, 3, "gz1-"); /* offsets 2, 3, 4 */
  legacy_wrapper(&legacy_log, 0, 5, 3, "gz0-"); /* offsets 5, 6, 7 */
}

/* Like a broker: the message set from the entry that holds fetch_offset on (a
 * compressed wrapper is sent whole, so its earlier inner messages come along). */
static void serve_legacy(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd,
                         kw_arena *a) {
  (void)b, (void)partition, (void)a;
  kw_rd r;
  kw_rd_init(&r, legacy_log.data, legacy_log.len);
  while (kw_rd_left(&r)) {
    const uint8_t *at = r.p;
    kw_legacy_msg m;
    if (kw_legacy_next(&r, &m) != 0) break;
    if (m.offset >= fetch_offset) {
      pd->records = (kw_slice){at, (int32_t)(legacy_log.data + legacy_log.len - at)};
      return;
    }
  }
}

static const char *legacy_values[8] = {"plain-v0", "plain-v1", "gz1-0", "gz1-1", "gz1-2", "gz0-0", "gz0-1", "gz0-2"};

/* Every record of a v0/v1 log is delivered once, at its offset, from offset 0 and from
 * inside a compressed wrapper; then the consumer waits at offset 8 like at any end. */
Test(fetcher_peer, legacy_message_sets_are_read) {
  build_legacy_log();
  int64_t starts[] = {0, 3, 6};
  for (int s = 0; s < 3; s++) {
    fb b = {.topic = "t", .n_partitions = 1, .end_offset = 8, .on_fetch = serve_legacy};
    fb_start(&b);
    kw_client *cl = consumer_for(&b, "read_uncommitted", "100");
    cr_assert_eq(kw_consumer_assign(cl, "t", 0, starts[s]), 0);
    got g = {0};
    int want = (int)(8 - starts[s]);
    poll_until(cl, &b, &g, want, 20);
    cr_assert_eq(g.n, want, "from offset %lld: %d of %d records after %d fetches", (long long)starts[s], g.n, want,
                 (int)FB_GET(&b, n_fetch));
    for (int i = 0; i < want; i++) {
      cr_assert_eq(g.err[i], 0, "error event %s at %lld", kw_errname(g.err[i]), (long long)g.offset[i]);
      cr_assert_eq(g.offset[i], starts[s] + i);
      cr_assert_str_eq(g.value[i], legacy_values[starts[s] + i]);
    }
    /* Caught up: the next fetch asks for offset 8 and is held, not repeated at once. */
    kw_message m;
    for (int i = 0; i < 100 && FB_GET(&b, last_fetch_offset) != 8; i++) kw_consumer_poll(cl, &m, 20);
    cr_assert_eq(FB_GET(&b, last_fetch_offset), 8);
    cr_assert_leq(FB_GET(&b, n_fetch), 3, "%d fetches for one message set", (int)FB_GET(&b, n_fetch));
    cr_assert_eq(kw_consumer_position(cl, "t", 0), 8);
    kw_client_destroy(cl);
    fb_stop(&b);
  }
  kw_buf_free(&legacy_log);
}

/* ---- a first entry that cannot be read: a named error, once ---- */

static kw_buf bad_log;

static void serve_bad(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd, kw_arena *a) {
  (void)b, (void)partition, (void)fetch_offset, (void)a;
  pd->records = (kw_slice){bad_log.data, (int32_t)bad_log.len};
}

/* A v2-sized batch with an unknown magic (3), and an answer that is only the first part
 * of a batch (a broker since Fetch v3 always sends the first batch whole): the
 * partition stops with an error event naming why, and is not fetched again. */
Test(fetcher_peer, unreadable_first_entry_stops_the_partition) {
  for (int variant = 0; variant < 2; variant++) {
    kw_buf_init_grow(&bad_log, NULL);
    kw_batch_writer w;
    cr_assert_eq(kw_batch_begin(&w, &bad_log, 0, -1, -1, -1), 0);
    cr_assert_eq(kw_batch_append(&w, 1000, S("k"), S("v"), NULL, 0), 0);
    cr_assert_eq(kw_batch_seal(&w, NULL), 0);
    if (variant == 0) bad_log.data[16] = 3; /* magic */
    else bad_log.len -= 5;                  /* cut */
    fb b = {.topic = "t", .n_partitions = 1, .end_offset = 1, .on_fetch = serve_bad};
    fb_start(&b);
    kw_client *cl = consumer_for(&b, "read_uncommitted", "100");
    cr_assert_eq(kw_consumer_assign(cl, "t", 0, 0), 0);
    got g = {0};
    poll_until(cl, &b, &g, 1, 20);
    cr_assert_eq(g.n, 1, "variant %d: nothing handed out after %d fetches", variant, (int)FB_GET(&b, n_fetch));
    cr_assert_eq(g.err[0], variant == 0 ? KW_ERR_UNSUPPORTED_VERSION : KW_ERR_TRUNCATED, "variant %d: %s", variant,
                 kw_errname(g.err[0]));
    cr_assert_eq(g.offset[0], 0);
    kw_message m;
    for (int i = 0; i < 5; i++) cr_assert_eq(kw_consumer_poll(cl, &m, 50), 0);
    cr_assert_eq(FB_GET(&b, n_fetch), 1, "a stopped partition was fetched %d times", (int)FB_GET(&b, n_fetch));
    kw_client_destroy(cl);
    fb_stop(&b);
    kw_buf_free(&bad_log);
  }
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

/* ---- kw_consumer_poll(…, 0) in an application's own loop ---- */

static kw_buf one_record;

static void serve_one(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd, kw_arena *a) {
  (void)b, (void)partition, (void)a;
  if (fetch_offset == 0) pd->records = (kw_slice){one_record.data, (int32_t)one_record.len};
}

/* An application waits on kwire's sockets and timeout itself (kw_client_fds,
 * kw_client_next_timeout) and calls kw_consumer_poll with 0 whenever they say there is
 * something to do. Each such call must do that work: connecting, ApiVersions,
 * Metadata and the Fetch take a handful of them, not 64 each. */
Test(fetcher_peer, poll_with_zero_timeout_serves_the_sockets_every_call) {
  kw_buf_init_grow(&one_record, NULL);
  put_batch(&one_record, 0, 0, -1, S("k"), S("hello"));
  fb b = {.topic = "t", .n_partitions = 1, .end_offset = 1, .on_fetch = serve_one};
  fb_start(&b);
  kw_client *cl = consumer_for(&b, "read_uncommitted", "100");
  cr_assert_eq(kw_consumer_assign(cl, "t", 0, 0), 0);
  int calls = 0, got = 0;
  kw_message m;
  while (!got && calls < 1000) {
    kw_pollfd fds[16];
    struct pollfd pfds[16];
    int n = kw_client_fds(cl, fds, 16);
    cr_assert_leq(n, 16, "%d sockets for one broker", n); /* one broker: a few sockets, never cut */
    for (int i = 0; i < n; i++) pfds[i] = (struct pollfd){fds[i].fd, fds[i].events, 0};
    int t = kw_client_next_timeout(cl);
    poll(pfds, (nfds_t)n, t < 0 || t > 100 ? 100 : t);
    calls++;
    got = kw_consumer_poll(cl, &m, 0) == 1;
  }
  cr_assert(got, "no record after %d calls", calls);
  cr_assert(m.value_len == 5 && memcmp(m.value, "hello", 5) == 0);
  cr_log_info("the record came on call %d", calls);
  cr_assert_lt(calls, 64, "the record came on call %d", calls);
  kw_client_destroy(cl);
  fb_stop(&b);
  kw_buf_free(&one_record);
}

/* ---- kw_consumer_watermarks while a fetch is held ---- */

/* A Fetch with nothing to return is held by the broker up to fetch.wait.max.ms, and
 * Kafka reads a connection's next request only once it answered the one before. The
 * watermarks' ListOffsets must go to the partition's leader, the broker the held fetch
 * is on: it waits for that one fetch (as the Java consumer's endOffsets does on its
 * single connection per broker), and for no more than that one. */
Test(fetcher_peer, watermarks_wait_for_at_most_the_held_fetch) {
  fb b = {.topic = "t", .n_partitions = 1, .end_offset = 3};
  fb_start(&b);
  kw_client *cl = consumer_for(&b, "read_uncommitted", "1500");
  cr_assert_eq(kw_consumer_assign(cl, "t", 0, 3), 0);
  kw_message m;
  for (int i = 0; i < 100 && FB_GET(&b, n_fetch) == 0; i++) kw_consumer_poll(cl, &m, 20);
  cr_assert_eq(FB_GET(&b, n_fetch), 1);
  int released = (int)FB_GET(&b, n_held_released);
  int64_t low = -1, high = -1;
  cr_assert_eq(kw_consumer_watermarks(cl, "t", 0, &low, &high, 30000), 0);
  cr_assert(low == 0 && high == 3);
  int behind = (int)FB_GET(&b, lo_after_released) - released;
  cr_log_info("the ListOffsets was read after %d held fetch answer(s)", behind);
  cr_assert_leq(behind, 1);
  kw_client_destroy(cl);
  fb_stop(&b);
}

/* ---- a leader epoch that moved on under a fetch session ---- */

static kw_buf epoch_log[2]; /* offset 0, then offset 1 (served once the epoch moved) */

static void serve_by_epoch(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd,
                           kw_arena *a) {
  (void)partition, (void)a;
  if (fetch_offset == 0) pd->records = (kw_slice){epoch_log[0].data, (int32_t)epoch_log[0].len};
  if (fetch_offset == 1 && b->leader_epoch == 1) pd->records = (kw_slice){epoch_log[1].data, (int32_t)epoch_log[1].len};
}

/* A restarted broker (or any leader change) moves the partition's leader epoch on, and
 * a fetch session keeps the epoch it was last sent: the broker answers
 * FENCED_LEADER_EPOCH until the consumer sends the new one from refreshed metadata.
 * A consumer that resends a partition only when its offset moved asks with the old
 * epoch forever and never delivers again (found with a real broker killed and
 * restarted under a group member: tests/integration/it_cluster_gone.c). */
Test(fetcher_peer, a_new_leader_epoch_is_sent_into_the_fetch_session) {
  for (int i = 0; i < 2; i++) {
    kw_buf_init_grow(&epoch_log[i], NULL);
    put_batch(&epoch_log[i], i, 0, -1, S("k"), S(i == 0 ? "before" : "after"));
  }
  fb b = {.topic = "t", .n_partitions = 1, .end_offset = 2, .sessions = true, .on_fetch = serve_by_epoch};
  fb_start(&b);
  kw_client *cl = consumer_for(&b, "read_uncommitted", "50");
  cr_assert_eq(kw_consumer_assign(cl, "t", 0, 0), 0);
  got g = {0};
  poll_until(cl, &b, &g, 1, 100);
  cr_assert(g.n == 1 && strcmp(g.value[0], "before") == 0);
  pthread_mutex_lock(&b.mu);
  b.leader_epoch = 1; /* the leader changed: Metadata says so from now on */
  pthread_mutex_unlock(&b.mu);
  int fetches = (int)FB_GET(&b, n_fetch);
  poll_until(cl, &b, &g, 2, fetches + 50);
  cr_log_info("%d fetches, %d answered FENCED_LEADER_EPOCH", (int)FB_GET(&b, n_fetch) - fetches,
              (int)FB_GET(&b, n_fenced));
  cr_assert_eq(g.n, 2, "nothing delivered after the leader epoch moved: %d fetches answered FENCED_LEADER_EPOCH",
               (int)FB_GET(&b, n_fenced));
  cr_assert(strcmp(g.value[1], "after") == 0 && g.offset[1] == 1);
  kw_client_destroy(cl);
  fb_stop(&b);
  for (int i = 0; i < 2; i++) kw_buf_free(&epoch_log[i]);
}
