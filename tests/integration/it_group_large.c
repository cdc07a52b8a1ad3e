/* Large subscriptions against the real broker (issue 14, item 5): 100 topics of 20
 * partitions, two members in one group, with the classic protocol (range and
 * cooperative-sticky) and with KIP-848. Every one of the 2,000 partitions must end up
 * owned by exactly one member, and a record written to each must be consumed exactly
 * once, by its owner. Group messages that hold a fixed number of topics or
 * partitions (an assignment, a subscription's owned partitions, a heartbeat's topic
 * list) lose the rest silently: then partitions belong to nobody, or to two members.
 *
 * Run one scenario with: it_group_large range|cooperative|consumer */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "proto/kw_msg.h"
#include "tests/integration/it_support.h"

#define N_TOPICS 100
#define N_PARTS 20
#define N_ALL (N_TOPICS * N_PARTS)

static char prefix[64];
static char names[N_TOPICS][96];

typedef struct member {
  kw_client *c;
  const char *name;
  unsigned char owns[N_ALL];
  int owned;
  int bad_events; /* a partition assigned twice, or revoked without being owned */
} member;

static int seen[N_ALL]; /* records consumed per partition (one was written to each) */
static const char *tag;  /* the value of this scenario's records (earlier ones' stay in the topics) */
static int seen_by_other[N_ALL]; /* consumed by a member that did not own the partition */

static int index_of(const char *topic, int32_t partition) {
  size_t n = strlen(prefix);
  if (strncmp(topic, prefix, n) != 0 || partition < 0 || partition >= N_PARTS) return -1;
  int t = atoi(topic + n);
  return t >= 0 && t < N_TOPICS ? t * N_PARTS + partition : -1;
}

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  member *m = ud;
  for (int i = 0; i < n; i++) {
    int x = index_of(tps[i].topic, tps[i].partition);
    if (x < 0) continue;
    bool add = kind == KW_REBALANCE_ASSIGNED;
    if (m->owns[x] == add) m->bad_events++;
    m->owns[x] = add;
    m->owned += add ? 1 : -1;
  }
  printf("  %s: %s %d partition(s), owns %d\n", m->name,
         kind == KW_REBALANCE_ASSIGNED ? "assigned" : kind == KW_REBALANCE_REVOKED ? "revoked" : "lost", n, m->owned);
}

static void join(member *m, const char *name, const char *group, const char *strategy, const char *protocol) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "heartbeat.interval.ms", "300", err, sizeof err);
  kw_config_set(conf, "session.timeout.ms", "10000", err, sizeof err);
  if (strategy) IT_CHECK(kw_config_set(conf, "partition.assignment.strategy", strategy, err, sizeof err) == 0, "%s", err);
  if (protocol) IT_CHECK(kw_config_set(conf, "group.protocol", protocol, err, sizeof err) == 0, "%s", err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  memset(m, 0, sizeof *m);
  m->name = name;
  m->c = kw_consumer_new(conf, err, sizeof err);
  IT_CHECK(m->c != NULL, "consumer: %s", err);
  kw_config_free(conf);
  kw_consumer_set_rebalance_cb(m->c, on_rebalance, m);
  const char *topics[N_TOPICS];
  for (int i = 0; i < N_TOPICS; i++) topics[i] = names[i];
  IT_CHECK(kw_consumer_subscribe(m->c, topics, N_TOPICS) == 0, "subscribe");
}

static void poll_members(member *ms, int n, int *got) {
  for (int i = 0; i < n; i++) {
    kw_message msg;
    for (int k = 0; k < 500 && kw_consumer_poll(ms[i].c, &msg, k == 0 ? 20 : 0) == 1; k++) {
      IT_CHECK(msg.err == 0, "%s: error event %s", ms[i].name, kw_strerror(msg.err));
      int x = index_of(msg.topic, msg.partition);
      if (x < 0 || msg.value_len != strlen(tag) || memcmp(msg.value, tag, msg.value_len) != 0) continue;
      seen[x]++;
      if (!ms[i].owns[x]) seen_by_other[x]++;
      (*got)++;
    }
  }
}

/* Partitions owned by nobody and by both. */
static void coverage(const member *ms, int *nobody, int *both) {
  *nobody = *both = 0;
  for (int x = 0; x < N_ALL; x++) {
    int k = ms[0].owns[x] + ms[1].owns[x];
    *nobody += k == 0;
    *both += k > 1;
  }
}

/* Writes one record to each partition; the members keep polling meanwhile (writing
 * 2,000 partitions takes longer than a session timeout here). */
static void produce_one_per_partition(member *ms, int *got) {
  int64_t t0 = kw_now_ms();
  kw_config *conf = kw_config_new();
  char err[256];
  kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(p != NULL, "%s", err);
  for (int t = 0; t < N_TOPICS; t++)
    for (int32_t part = 0; part < N_PARTS; part++)
      IT_CHECK(kw_produce(p, names[t], part, NULL, 0, tag, strlen(tag), NULL, 0, 0, NULL) == 0, "produce");
  int rc;
  while ((rc = kw_client_flush(p, 50)) != 0 && kw_now_ms() - t0 < 120000) poll_members(ms, 2, got);
  IT_CHECK(rc == 0, "flush: %s", kw_strerror(rc));
  kw_client_destroy(p);
  printf("  wrote one record to each partition in %lld ms\n", (long long)(kw_now_ms() - t0));
}

static void scenario(const char *label, const char *strategy, const char *protocol) {
  char group[96];
  snprintf(group, sizeof group, "it-large-%s-%d", label, (int)getpid());
  printf("%s: two members, %d topics x %d partitions\n", label, N_TOPICS, N_PARTS);
  tag = label;
  memset(seen, 0, sizeof seen);
  memset(seen_by_other, 0, sizeof seen_by_other);
  static member ms[2];
  join(&ms[0], "A", group, strategy, protocol);
  join(&ms[1], "B", group, strategy, protocol);
  /* Settled: each member owns half (what every assignor gives two equal members) and
   * together they own every partition once. */
  int got = 0, nobody = N_ALL, both = 0;
  int64_t end = kw_now_ms() + 120000;
  while (kw_now_ms() < end) {
    poll_members(ms, 2, &got);
    coverage(ms, &nobody, &both);
    if (nobody == 0 && both == 0 && ms[0].owned == N_ALL / 2 && ms[1].owned == N_ALL / 2) break;
  }
  printf("  settled: A owns %d, B owns %d; owned by nobody %d, by both %d\n", ms[0].owned, ms[1].owned, nobody, both);
  IT_CHECK(ms[0].bad_events == 0 && ms[1].bad_events == 0, "inconsistent rebalance events: A %d, B %d",
           ms[0].bad_events, ms[1].bad_events);
  IT_CHECK(nobody == 0 && both == 0, "%d partitions owned by nobody, %d by both", nobody, both);
  IT_CHECK(ms[0].owned == N_ALL / 2 && ms[1].owned == N_ALL / 2, "A owns %d, B owns %d", ms[0].owned, ms[1].owned);

  produce_one_per_partition(ms, &got);
  end = kw_now_ms() + 120000;
  while (got < N_ALL && kw_now_ms() < end) poll_members(ms, 2, &got);
  int missing = 0, twice = 0, stray = 0;
  for (int x = 0; x < N_ALL; x++) {
    missing += seen[x] == 0;
    twice += seen[x] > 1;
    stray += seen_by_other[x] > 0;
  }
  printf("  consumed %d records: %d partitions missing, %d twice, %d read by a non-owner\n", got, missing, twice, stray);
  IT_CHECK(missing == 0 && twice == 0 && stray == 0, "each partition's record once, by its owner");
  kw_client_destroy(ms[1].c);
  kw_client_destroy(ms[0].c);
}

/* One CreateTopics for all, then wait until metadata shows a leader everywhere. */
static void create_topics(void) {
  kw_conn *c = it_connect(30000);
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  static kw_create_topics_req_creatable_topic ts[N_TOPICS];
  static kw_metadata_req_topic mts[N_TOPICS];
  for (int i = 0; i < N_TOPICS; i++) {
    kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ_CREATABLE_TOPIC, &ts[i]);
    ts[i].name = (kw_slice){(const uint8_t *)names[i], (int32_t)strlen(names[i])};
    ts[i].num_partitions = N_PARTS;
    ts[i].replication_factor = 1;
    kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &mts[i]);
    mts[i].name = ts[i].name;
  }
  kw_create_topics_req req;
  kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ, &req);
  req.topics = ts;
  req.n_topics = N_TOPICS;
  req.timeout_ms = 60000;
  kw_create_topics_resp resp;
  it_call(c, KW_API_CREATE_TOPICS, &req, &resp, &a);
  IT_CHECK(resp.n_topics == N_TOPICS, "CreateTopics answered %d topics", resp.n_topics);
  for (int i = 0; i < resp.n_topics; i++)
    IT_CHECK(resp.topics[i].error_code == 0, "CreateTopics %s: error %d", names[i], resp.topics[i].error_code);
  kw_arena_reset(&a);
  for (int attempt = 0;; attempt++) {
    IT_CHECK(attempt < 300, "topics have no leaders after 60 s");
    kw_metadata_req mreq;
    kw_msg_init(KW_SCHEMA_METADATA_REQ, &mreq);
    mreq.topics = mts;
    mreq.n_topics = N_TOPICS;
    kw_metadata_resp md;
    it_call(c, KW_API_METADATA, &mreq, &md, &a);
    bool ready = md.n_topics == N_TOPICS;
    for (int t = 0; ready && t < md.n_topics; t++) {
      ready = md.topics[t].error_code == 0 && md.topics[t].n_partitions == N_PARTS;
      for (int32_t p = 0; ready && p < md.topics[t].n_partitions; p++) ready = md.topics[t].partitions[p].leader_id >= 0;
    }
    kw_arena_reset(&a);
    if (ready) break;
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
  }
  kw_conn_free(c);
}

int main(int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : NULL;
  snprintf(prefix, sizeof prefix, "it-large-%d-", (int)getpid());
  for (int i = 0; i < N_TOPICS; i++) snprintf(names[i], sizeof names[i], "%s%03d", prefix, i);
  int64_t t0 = kw_now_ms();
  create_topics();
  printf("created %d topics x %d partitions in %lld ms\n", N_TOPICS, N_PARTS, (long long)(kw_now_ms() - t0));
  if (!only || !strcmp(only, "range")) scenario("range", "range", NULL);
  if (!only || !strcmp(only, "cooperative")) scenario("cooperative", "cooperative-sticky", NULL);
  if (!only || !strcmp(only, "consumer")) scenario("consumer", NULL, "consumer");
  printf("PASS it_group_large\n");
  return 0;
}
