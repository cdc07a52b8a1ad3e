/* A client's waits watch every socket it has, however many: a consumer fetching from a
 * cluster of more brokers than a fixed poll(2) array would hold (the scripted cluster of
 * tests/unit/fake_broker.h, 80 brokers each leading one partition). A socket left out
 * of the wait is never read, and a connection on it never even completes: its
 * partitions' records would never come. Counted in records and in the Fetch answers
 * the brokers held back, never in milliseconds. */
#include "tests/unit/fake_broker.h"
#include <criterion/criterion.h>
#include "kwire.h"
#include "proto/kw_records.h"

#define N_BROKERS 80 /* more than the 64 sockets the waits once watched */
#define WAIT_MS "1000" /* fetch.wait.max.ms: how long a broker holds a Fetch with nothing new */

#define S(s) ((kw_slice){(const uint8_t *)(s), (int32_t)strlen(s)})

/* Every partition's log: one record at offset 0 whose value names the partition. */
static kw_buf part_log[N_BROKERS];

static void build_logs(void) {
  for (int p = 0; p < N_BROKERS; p++) {
    char v[16];
    snprintf(v, sizeof v, "p%d", p);
    kw_buf_init_grow(&part_log[p], NULL);
    kw_batch_writer w;
    cr_assert_eq(kw_batch_begin(&w, &part_log[p], 0, -1, -1, -1), 0);
    cr_assert_eq(kw_batch_append(&w, 1000, S("k"), S(v), NULL, 0), 0);
    cr_assert_eq(kw_batch_seal(&w, NULL), 0);
  }
}

static void free_logs(void) {
  for (int p = 0; p < N_BROKERS; p++) kw_buf_free(&part_log[p]);
}

static void serve_log(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd,
                      kw_arena *a) {
  (void)b;
  (void)a;
  pd->high_watermark = pd->last_stable_offset = 1;
  if (fetch_offset == 0 && partition >= 0 && partition < N_BROKERS)
    pd->records = (kw_slice){part_log[partition].data, (int32_t)part_log[partition].len};
}

static void start_cluster(fb *b) {
  build_logs();
  *b = (fb){.topic = "t", .n_partitions = N_BROKERS, .n_nodes = N_BROKERS, .end_offset = 1, .on_fetch = serve_log};
  fb_start(b);
}

/* A consumer of every partition from offset 0. */
static kw_client *consumer_of_all(fb *b) {
  kw_config *conf = kw_config_new();
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", b->port);
  cr_assert_eq(kw_config_set(conf, "bootstrap.servers", addr, err, sizeof err), 0, "%s", err);
  cr_assert_eq(kw_config_set(conf, "fetch.wait.max.ms", WAIT_MS, err, sizeof err), 0, "%s", err);
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  cr_assert_not_null(cl, "%s", err);
  for (int p = 0; p < N_BROKERS; p++) cr_assert_eq(kw_consumer_assign(cl, "t", p, 0), KW_OK);
  return cl;
}

/* Polls (kw_consumer_poll, so kw_client_poll's wait) until every partition's record
 * came, or until the brokers that gave theirs handed back three rounds of held (empty)
 * Fetch answers each: then the missing ones were not merely slow. */
static void consume_all(kw_client *cl, fb *b) {
  bool got[N_BROKERS] = {false};
  int n = 0;
  while (n < N_BROKERS && FB_GET(b, n_held_released) < 3 * N_BROKERS) {
    kw_message m;
    if (kw_consumer_poll(cl, &m, 100) != 1) continue;
    cr_assert_eq(m.err, 0, "partition %d: error %d", (int)m.partition, m.err);
    cr_assert(m.partition >= 0 && m.partition < N_BROKERS);
    char want[16];
    snprintf(want, sizeof want, "p%d", (int)m.partition);
    cr_assert(m.value_len == strlen(want) && memcmp(m.value, want, m.value_len) == 0);
    cr_assert_not(got[m.partition], "partition %d delivered twice", (int)m.partition);
    got[m.partition] = true;
    n++;
  }
  char missing[512] = "";
  for (int p = 0; p < N_BROKERS; p++)
    if (!got[p]) snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %d", p);
  cr_assert_eq(n, N_BROKERS, "%d of %d partitions delivered (%d held Fetch answers released); missing:%s", n,
               N_BROKERS, (int)FB_GET(b, n_held_released), missing);
  int accepted = (int)FB_GET(b, n_conns_accepted);
  cr_assert(accepted >= N_BROKERS, "%d connections for %d brokers", accepted, N_BROKERS);
}

/* kw_client_poll (through kw_consumer_poll) waits on all 80 connections: every
 * partition's record comes, each from its own broker. A wait that watches only the
 * first 64 sockets never completes the connections to the other brokers, and their 16
 * records never come. */
Test(wait, poll_watches_every_broker_connection) {
  fb b;
  start_cluster(&b);
  kw_client *cl = consumer_of_all(&b);
  consume_all(cl, &b);
  kw_client_destroy(cl);
  fb_stop(&b);
  free_logs();
}

/* The blocking path (client/kw_call.c: here the watermarks' ListOffsets) waits on all
 * connections too: with 80 of them open, the partition led by the 80th broker gets its
 * answer. A wait on the first 64 sockets never reads it, and the call times out. */
Test(wait, blocking_call_watches_every_broker_connection) {
  fb b;
  start_cluster(&b);
  kw_client *cl = consumer_of_all(&b);
  consume_all(cl, &b);
  int64_t low = -1, high = -1;
  int rc = kw_consumer_watermarks(cl, "t", N_BROKERS - 1, &low, &high, 10000);
  cr_assert_eq(rc, 0, "watermarks of the partition on broker %d: %s (ListOffsets answered: %d)", N_BROKERS,
               kw_strerror(rc), (int)FB_GET(&b, n_list_offsets));
  cr_assert(low == 0 && high == 1, "low %lld high %lld", (long long)low, (long long)high);
  kw_client_destroy(cl);
  fb_stop(&b);
  free_logs();
}
