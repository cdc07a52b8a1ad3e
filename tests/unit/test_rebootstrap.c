/* Rebootstrapping (KIP-899, KIP-1102; metadata.recovery.strategy, Java's default since
 * Kafka 4.0): a client whose known brokers say REBOOTSTRAP_REQUIRED, or give no
 * metadata for metadata.recovery.rebootstrap.trigger.ms, forgets them and starts over
 * from bootstrap.servers. The scripted cluster (tests/unit/fake_broker.h) has two
 * brokers; the consumer bootstraps at node 1 and fetches partition 1 from node 2. Then
 * the cluster "moves away" (fb_move): the connections the client has are to brokers
 * that left, and only a new connection to the bootstrap address leads back. Counted in
 * connections accepted, answers sent and records delivered. */
#include "tests/unit/fake_broker.h"
#include <criterion/criterion.h>
#include "client/group/kw_group_int.h"
#include "kwire.h"
#include "proto/kw_records.h"

#define S(s) ((kw_slice){(const uint8_t *)(s), (int32_t)strlen(s)})
#define PART 1 /* led by node 2 */

static kw_buf moved_log; /* partition 1's one record, served only after the move */

static void serve_after_move(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd,
                             kw_arena *a) {
  (void)a;
  pd->high_watermark = pd->last_stable_offset = b->generation > 0 ? 1 : 0;
  if (b->generation > 0 && partition == PART && fetch_offset == 0)
    pd->records = (kw_slice){moved_log.data, (int32_t)moved_log.len};
}

static void start_cluster(fb *b, bool metadata_hangs) {
  kw_buf_init_grow(&moved_log, NULL);
  kw_batch_writer w;
  cr_assert_eq(kw_batch_begin(&w, &moved_log, 0, -1, -1, -1), 0);
  cr_assert_eq(kw_batch_append(&w, 1000, S("k"), S("after the move"), NULL, 0), 0);
  cr_assert_eq(kw_batch_seal(&w, NULL), 0);
  *b = (fb){.topic = "t", .n_partitions = 2, .n_nodes = 2, .on_fetch = serve_after_move,
            .stale_metadata_hangs = metadata_hangs};
  fb_start(b);
}

static void stop_cluster(fb *b) {
  fb_stop(b);
  kw_buf_free(&moved_log);
}

static void set(kw_config *c, const char *k, const char *v) {
  char err[256];
  cr_assert_eq(kw_config_set(c, k, v, err, sizeof err), KW_OK, "%s=%s: %s", k, v, err);
}

/* A consumer of partition 1 from offset 0, bootstrapped at node 1; extra: name, value
 * pairs (NULL-terminated). */
static kw_client *consumer(fb *b, const char *const *extra) {
  kw_config *conf = kw_config_new();
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", b->port);
  set(conf, "bootstrap.servers", addr);
  set(conf, "fetch.wait.max.ms", "100");
  for (; extra && extra[0]; extra += 2) set(conf, extra[0], extra[1]);
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  cr_assert_not_null(cl, "%s", err);
  cr_assert_eq(kw_consumer_assign(cl, "t", PART, 0), KW_OK);
  return cl;
}

/* Before the move: the client knows both brokers and fetches from node 2. */
static void fetching_from_node_2(kw_client *cl, fb *b) {
  kw_message m;
  for (int i = 0; i < 200 && FB_GET(b, n_fetch) < 2; i++)
    cr_assert_neq(kw_consumer_poll(cl, &m, 50), 1, "no record before the move");
  cr_assert_geq(FB_GET(b, n_fetch), 2);
  cr_assert_eq(FB_GET(b, n_accepted_on[0]), 1, "one connection to the bootstrap address");
  cr_assert_eq(FB_GET(b, n_accepted_on[1]), 1, "one connection to node 2");
}

/* Polls until the record comes, at most max_polls polls of 100 ms or until the moved
 * cluster sent max_rebootstraps REBOOTSTRAP_REQUIRED answers. */
static bool record_after_move(kw_client *cl, fb *b, int max_polls, int max_rebootstraps) {
  for (int i = 0; i < max_polls && FB_GET(b, n_rebootstrap_sent) < max_rebootstraps; i++) {
    kw_message m;
    if (kw_consumer_poll(cl, &m, 100) != 1) continue;
    cr_assert_eq(m.err, 0, "error %d: %s", m.err, kw_strerror(m.err));
    cr_assert(m.partition == PART && m.offset == 0);
    cr_assert(m.value_len == strlen("after the move") && memcmp(m.value, "after the move", m.value_len) == 0);
    return true;
  }
  return false;
}

Test(rebootstrap, config_names_and_defaults_are_the_java_clients) {
  kw_config *c = kw_config_new();
  char v[64];
  cr_assert_geq(kw_config_get(c, "metadata.recovery.strategy", v, sizeof v), 0);
  cr_assert_str_eq(v, "rebootstrap");
  cr_assert_geq(kw_config_get(c, "metadata.recovery.rebootstrap.trigger.ms", v, sizeof v), 0);
  cr_assert_str_eq(v, "300000");
  set(c, "metadata.recovery.strategy", "NONE");
  cr_assert_geq(kw_config_get(c, "metadata.recovery.strategy", v, sizeof v), 0);
  cr_assert_str_eq(v, "none");
  char err[256];
  cr_assert_eq(kw_config_set(c, "metadata.recovery.strategy", "sometimes", err, sizeof err), KW_ERR_CONFIG);
  kw_config_free(c);
}

/* The broker the client asks for metadata answers REBOOTSTRAP_REQUIRED: the client
 * drops its connections, connects to the bootstrap address again (a second connection
 * accepted there), learns node 2 anew and fetches the record from it. One such answer
 * is enough. */
Test(rebootstrap, required_answer_goes_back_to_bootstrap_servers) {
  fb b;
  start_cluster(&b, false);
  kw_client *cl = consumer(&b, NULL);
  fetching_from_node_2(cl, &b);
  fb_move(&b);
  bool got = record_after_move(cl, &b, 400, 10);
  int rebootstraps = (int)FB_GET(&b, n_rebootstrap_sent);
  int bootstrap_conns = (int)FB_GET(&b, n_accepted_on[0]);
  cr_assert(got, "no record after the move: %d REBOOTSTRAP_REQUIRED answers, %d connections to the bootstrap "
            "address, %d Fetch answered NOT_LEADER_OR_FOLLOWER", rebootstraps, bootstrap_conns,
            (int)FB_GET(&b, n_stale_fetch));
  cr_assert_eq(rebootstraps, 1);
  cr_assert_eq(bootstrap_conns, 2, "connections to the bootstrap address: %d", bootstrap_conns);
  cr_assert_eq(FB_GET(&b, n_accepted_on[1]), 2, "node 2 reached again through the new metadata");
  kw_client_destroy(cl);
  stop_cluster(&b);
}

/* metadata.recovery.strategy=none: the client keeps asking the brokers it knows, as
 * the Java client does with it, and never goes back to the bootstrap address. */
Test(rebootstrap, strategy_none_keeps_the_known_brokers) {
  fb b;
  start_cluster(&b, false);
  static const char *const none[] = {"metadata.recovery.strategy", "none", NULL};
  kw_client *cl = consumer(&b, none);
  fetching_from_node_2(cl, &b);
  fb_move(&b);
  cr_assert_not(record_after_move(cl, &b, 400, 5), "the moved cluster's record came without a rebootstrap");
  cr_assert_geq(FB_GET(&b, n_rebootstrap_sent), 5);
  cr_assert_eq(FB_GET(&b, n_accepted_on[0]), 1, "no new connection to the bootstrap address");
  kw_client_destroy(cl);
  stop_cluster(&b);
}

/* The known brokers take Metadata requests and never answer them (request.timeout.ms,
 * 30 s by default, is far away): after metadata.recovery.rebootstrap.trigger.ms without
 * metadata (500 ms here) the client starts over from the bootstrap address. The record
 * must come within 50 polls of 100 ms, ten times the trigger. */
Test(rebootstrap, no_metadata_for_the_trigger_time_goes_back_to_bootstrap_servers) {
  fb b;
  start_cluster(&b, true);
  static const char *const trigger[] = {"metadata.recovery.rebootstrap.trigger.ms", "500", NULL};
  kw_client *cl = consumer(&b, trigger);
  fetching_from_node_2(cl, &b);
  fb_move(&b);
  bool got = record_after_move(cl, &b, 50, 1);
  int bootstrap_conns = (int)FB_GET(&b, n_accepted_on[0]);
  cr_assert(got, "no record after the move: %d Metadata requests left unanswered, %d connections to the "
            "bootstrap address", (int)FB_GET(&b, n_metadata_hung), bootstrap_conns);
  cr_assert_geq(FB_GET(&b, n_metadata_hung), 1);
  cr_assert_eq(FB_GET(&b, n_rebootstrap_sent), 0);
  cr_assert_eq(bootstrap_conns, 2, "connections to the bootstrap address: %d", bootstrap_conns);
  kw_client_destroy(cl);
  stop_cluster(&b);
}

/* A rebootstrap forgets every broker, the group's coordinator among them (kw_cluster
 * knows it only from FindCoordinator). A stable member whose coordinator the cluster no
 * longer knows looks it up again (and resumes heartbeating with it) instead of waiting
 * for a connection to a broker nobody will ever connect to. */
Test(rebootstrap, a_group_whose_coordinator_was_forgotten_finds_it_again) {
  kw_cluster cl;
  char err[128];
  kw_cluster_settings cs = {.client_id = "t", .request_timeout_ms = 5000, .connect_timeout_ms = 5000,
                            .reconnect_backoff_ms = 100, .reconnect_backoff_max_ms = 1000, .retry_backoff_ms = 100,
                            .metadata_refresh_ms = 300000, .max_frame = 1 << 20, .max_in_flight = 5,
                            .rebootstrap = true, .rebootstrap_trigger_ms = 300000};
  cr_assert_eq(kw_cluster_init(&cl, &cs, "127.0.0.1:9", err, sizeof err), 0, "%s", err);
  kw_logger quiet;
  memset(&quiet, 0, sizeof quiet);
  kw_group_settings gs = {.group_id = "g", .session_timeout_ms = 45000, .heartbeat_interval_ms = 3000,
                          .max_poll_interval_ms = 300000, .retry_backoff_ms = 100, .request_timeout_ms = 30000};
  kw_group *g = kw_group_create(&cl, NULL, &gs, kw_mem_default(), &quiet);
  cr_assert_not_null(g);
  g->coordinator = 7; /* found before the rebootstrap; the cluster lists only the bootstrap entry now */
  g->generation = 3;
  g->state = G_STABLE;
  cr_assert_null(kw_grp_coordinator_conn(g, kw_now_ms()));
  cr_assert_eq(kw_group_coordinator(g), -1, "still waiting for coordinator %d, unknown to the cluster",
               (int)kw_group_coordinator(g));
  cr_assert_eq(g->state, G_FIND);
  cr_assert(g->resume_stable, "a stable member resumes heartbeats with the coordinator found again");
  kw_group_free(g);
  kw_cluster_free(&cl);
}
