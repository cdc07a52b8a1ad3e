/* Consumer groups (classic protocol) against the real broker: one member takes every
 * partition and commits; a second member joins and the partitions split; every
 * record is consumed once across the group; the committed offsets are the ones
 * Kafka's own tool reports; a member leaving hands its partitions back; with
 * cooperative-sticky only the moved partitions are revoked. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_PARTS 6
#define PER_PART 100

typedef struct member {
  kw_client *c;
  const char *name;
  int assigned, revoked_last, assigned_last, lost;
  int owned;
} member;

static int seen[2 * N_PARTS * PER_PART + 1]; /* how often each record (by its number) was consumed */

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  member *m = ud;
  (void)tps;
  if (kind == KW_REBALANCE_ASSIGNED) {
    m->assigned_last = n;
    m->owned += n;
  } else if (kind == KW_REBALANCE_REVOKED) {
    m->revoked_last = n;
    m->owned -= n;
  } else {
    m->lost += n;
    m->owned -= n;
  }
  printf("  %s: %s %d partition(s), owns %d\n", m->name,
         kind == KW_REBALANCE_ASSIGNED ? "assigned" : kind == KW_REBALANCE_REVOKED ? "revoked" : "lost", n, m->owned);
}

static const char *protocol = NULL; /* group.protocol for the next join() */

static void join(member *m, const char *name, const char *group, const char *topic, const char *strategy) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "heartbeat.interval.ms", "300", err, sizeof err);
  kw_config_set(conf, "session.timeout.ms", "6000", err, sizeof err);
  kw_config_set(conf, "auto.commit.interval.ms", "200", err, sizeof err);
  if (strategy) IT_CHECK(kw_config_set(conf, "partition.assignment.strategy", strategy, err, sizeof err) == 0, "%s", err);
  if (protocol) IT_CHECK(kw_config_set(conf, "group.protocol", protocol, err, sizeof err) == 0, "%s", err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  memset(m, 0, sizeof *m);
  m->name = name;
  m->c = kw_consumer_new(conf, err, sizeof err);
  IT_CHECK(m->c != NULL, "consumer: %s", err);
  kw_config_free(conf);
  kw_consumer_set_rebalance_cb(m->c, on_rebalance, m);
  const char *topics[] = {topic};
  IT_CHECK(kw_consumer_subscribe(m->c, topics, 1) == 0, "subscribe");
}

/* Polls every member in turn until `total` records were consumed by the group since
 * the call (and, if owned_each > 0, every member owns that many), or timeout. */
static int run_group(member *ms, int n, int total, int owned_each, int timeout_ms) {
  int got = 0;
  int64_t end = kw_now_ms() + timeout_ms;
  while (kw_now_ms() < end) {
    bool owned_ok = true;
    for (int i = 0; i < n; i++) owned_ok = owned_ok && (owned_each <= 0 || ms[i].owned == owned_each);
    if (got >= total && owned_ok) break;
    for (int i = 0; i < n; i++) {
      kw_message msg;
      for (int k = 0; k < 200 && kw_consumer_poll(ms[i].c, &msg, k == 0 ? 20 : 0) == 1; k++) {
        IT_CHECK(msg.err == 0, "%s: error event %s", ms[i].name, kw_strerror(msg.err));
        int num;
        if (sscanf((const char *)msg.value, "rec-%d", &num) == 1 && num >= 0 && num <= 2 * N_PARTS * PER_PART) seen[num]++;
        got++;
      }
    }
  }
  return got;
}

static void produce(const char *topic, int from, int n) {
  kw_config *conf = kw_config_new();
  char err[256];
  kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(p != NULL, "%s", err);
  for (int i = from; i < from + n; i++) {
    char v[32];
    int vn = snprintf(v, sizeof v, "rec-%d", i);
    IT_CHECK(kw_produce(p, topic, i % N_PARTS, NULL, 0, v, (size_t)vn, NULL, 0, 0, NULL) == 0, "produce");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
}

/* Kafka's own view of the group's committed offsets (kafka-consumer-groups --describe). */
static long long java_committed_total(const char *group) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "java -cp \"$(%s fetch)/*\" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "
           "--bootstrap-server %s --describe --group %s 2>/dev/null",
           getenv("KW_BROKER_SCRIPT"), it_bootstrap_string(), group);
  FILE *f = popen(cmd, "r");
  IT_CHECK(f != NULL, "ConsumerGroupCommand");
  char line[512];
  long long total = 0;
  while (fgets(line, sizeof line, f)) {
    char g[128], t[128];
    int part;
    long long cur;
    if (sscanf(line, "%127s %127s %d %lld", g, t, &part, &cur) == 4 && strcmp(g, group) == 0) total += cur;
  }
  pclose(f);
  return total;
}

static void classic_scenario(const char *topic) {
  char group[64];
  snprintf(group, sizeof group, "it-group-%d", (int)getpid());
  member ms[2];
  printf("eager (range): one member, then two, then one again\n");
  join(&ms[0], "A", group, topic, NULL);
  int got = run_group(ms, 1, N_PARTS * PER_PART, N_PARTS, 30000);
  IT_CHECK(got == N_PARTS * PER_PART && ms[0].owned == N_PARTS, "A alone: %d records, owns %d", got, ms[0].owned);
  IT_CHECK(kw_consumer_commit(ms[0].c, 10000) == 0, "sync commit");
  int64_t committed;
  IT_CHECK(kw_consumer_committed(ms[0].c, topic, 3, &committed, 10000) == 0 && committed == PER_PART,
           "committed offset of partition 3: %lld", (long long)committed);
  long long java_total = java_committed_total(group);
  printf("  A consumed %d; committed %lld per partition; Kafka's tool reports %lld in total\n", got,
         (long long)committed, java_total);
  IT_CHECK(java_total == N_PARTS * PER_PART, "ConsumerGroupCommand reports %lld", java_total);

  join(&ms[1], "B", group, topic, NULL);
  produce(topic, N_PARTS * PER_PART, N_PARTS * PER_PART);
  got = run_group(ms, 2, N_PARTS * PER_PART, N_PARTS / 2, 30000);
  printf("  after B joined: %d new records, A owns %d, B owns %d\n", got, ms[0].owned, ms[1].owned);
  IT_CHECK(ms[0].owned == N_PARTS / 2 && ms[1].owned == N_PARTS / 2, "split 3/3");
  IT_CHECK(ms[0].revoked_last == N_PARTS, "eager: A gave up all %d before the split (%d)", N_PARTS, ms[0].revoked_last);
  int dup = 0, missing = 0;
  for (int i = 0; i < 2 * N_PARTS * PER_PART; i++) {
    if (seen[i] == 0) missing++;
    if (seen[i] > 1) dup++;
  }
  printf("  across the group: %d records missing, %d consumed twice\n", missing, dup);
  IT_CHECK(missing == 0 && dup == 0, "each record once");

  IT_CHECK(kw_consumer_close(ms[1].c, 10000) == 0, "close B");
  kw_client_destroy(ms[1].c);
  run_group(ms, 1, 0, N_PARTS, 20000);
  printf("  B left: A owns %d again\n", ms[0].owned);
  IT_CHECK(ms[0].owned == N_PARTS, "A owns everything after B left");
  kw_client_destroy(ms[0].c);
}

static void cooperative_scenario(const char *topic) {
  char group[64];
  snprintf(group, sizeof group, "it-coop-%d", (int)getpid());
  memset(seen, 0, sizeof seen);
  member ms[2];
  printf("cooperative-sticky: only moved partitions are revoked\n");
  join(&ms[0], "A", group, topic, "cooperative-sticky");
  run_group(ms, 1, 2 * N_PARTS * PER_PART, N_PARTS, 30000);
  IT_CHECK(ms[0].owned == N_PARTS, "A alone owns %d", ms[0].owned);
  join(&ms[1], "B", group, topic, "cooperative-sticky");
  run_group(ms, 2, 0, N_PARTS / 2, 30000);
  printf("  A revoked %d (not %d), A owns %d, B owns %d\n", ms[0].revoked_last, N_PARTS, ms[0].owned, ms[1].owned);
  IT_CHECK(ms[0].owned == N_PARTS / 2 && ms[1].owned == N_PARTS / 2, "split 3/3");
  IT_CHECK(ms[0].revoked_last == N_PARTS / 2, "A revoked %d", ms[0].revoked_last);
  kw_client_destroy(ms[1].c);
  kw_client_destroy(ms[0].c);
}

/* KIP-848: the broker assigns; members reconcile through ConsumerGroupHeartbeat. */
static void consumer_protocol_scenario(const char *topic) {
  char group[64];
  snprintf(group, sizeof group, "it-kip848-%d", (int)getpid());
  memset(seen, 0, sizeof seen);
  member ms[2];
  protocol = "consumer";
  printf("group.protocol=consumer (KIP-848): broker-side assignment\n");
  join(&ms[0], "A", group, topic, NULL);
  int got = run_group(ms, 1, 2 * N_PARTS * PER_PART, N_PARTS, 30000);
  IT_CHECK(ms[0].owned == N_PARTS && got == 2 * N_PARTS * PER_PART, "A alone: owns %d, read %d", ms[0].owned, got);
  IT_CHECK(kw_consumer_generation(ms[0].c) > 0, "member epoch %d", kw_consumer_generation(ms[0].c));
  IT_CHECK(kw_consumer_commit(ms[0].c, 10000) == 0, "commit with the member epoch");
  join(&ms[1], "B", group, topic, NULL);
  run_group(ms, 2, 0, N_PARTS / 2, 30000);
  printf("  A owns %d, B owns %d; A's epoch %d, B's %d\n", ms[0].owned, ms[1].owned, kw_consumer_generation(ms[0].c),
         kw_consumer_generation(ms[1].c));
  IT_CHECK(ms[0].owned == N_PARTS / 2 && ms[1].owned == N_PARTS / 2, "split 3/3");
  IT_CHECK(ms[0].revoked_last == N_PARTS / 2, "A revoked only the %d that moved (%d)", N_PARTS / 2, ms[0].revoked_last);
  int dup = 0;
  for (int i = 0; i < 2 * N_PARTS * PER_PART; i++) dup += seen[i] > 1;
  IT_CHECK(dup == 0, "%d records consumed twice", dup);
  IT_CHECK(kw_consumer_close(ms[1].c, 10000) == 0, "close B");
  kw_client_destroy(ms[1].c);
  run_group(ms, 1, 0, N_PARTS, 30000);
  printf("  B left: A owns %d again\n", ms[0].owned);
  IT_CHECK(ms[0].owned == N_PARTS, "A owns everything after B left");
  kw_client_destroy(ms[0].c);
  protocol = NULL;
}

int main(void) {
  kw_conn *admin = it_connect(30000);
  char topic[64];
  snprintf(topic, sizeof topic, "it-group-%d", (int)getpid());
  it_create_topic(admin, topic, N_PARTS);
  kw_conn_free(admin);
  produce(topic, 0, N_PARTS * PER_PART);
  classic_scenario(topic);
  cooperative_scenario(topic);
  consumer_protocol_scenario(topic);
  printf("PASS it_group\n");
  return 0;
}
