/* Cooperative rebalancing commits what it gives up (issue 14, item 7), against the real
 * broker. A alone reads every record of 6 partitions (auto commit on, but its timer
 * far away); B joins and cooperative-sticky moves 3 partitions from A to B. A must
 * commit their offsets before revoking them (the Java consumer commits before every
 * rebalance), so B starts where A stopped. The unfixed kwire committed only before an
 * eager rebalance: B started the moved partitions at auto.offset.reset and read A's
 * records again. New records written after the move must reach their new owner once. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_PARTS 6
#define PER_PART 50
#define N_OLD (N_PARTS * PER_PART)

typedef struct member {
  kw_client *c;
  const char *name;
  int owned, revoked, got_old, got_new;
} member;

static int seen[N_OLD + N_PARTS];

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  member *m = ud;
  (void)tps;
  if (kind == KW_REBALANCE_ASSIGNED) m->owned += n;
  else m->owned -= n;
  if (kind == KW_REBALANCE_REVOKED) m->revoked += n;
  printf("  %s: %s %d partition(s), owns %d\n", m->name,
         kind == KW_REBALANCE_ASSIGNED ? "assigned" : kind == KW_REBALANCE_REVOKED ? "revoked" : "lost", n, m->owned);
}

static void join(member *m, const char *name, const char *group, const char *topic) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "heartbeat.interval.ms", "300", err, sizeof err);
  kw_config_set(conf, "auto.commit.interval.ms", "600000", err, sizeof err); /* no timed commit in this test */
  kw_config_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, sizeof err);
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

static void poll_some(member *m) {
  kw_message msg;
  for (int k = 0; k < 200 && kw_consumer_poll(m->c, &msg, k == 0 ? 20 : 0) == 1; k++) {
    IT_CHECK(msg.err == 0, "%s: error event %s", m->name, kw_strerror(msg.err));
    int num;
    if (sscanf((const char *)msg.value, "rec-%d", &num) != 1 || num < 0 || num >= N_OLD + N_PARTS) continue;
    seen[num]++;
    if (num < N_OLD) m->got_old++;
    else m->got_new++;
  }
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

int main(void) {
  char topic[64], group[64];
  snprintf(topic, sizeof topic, "it-coop-commit-%d", (int)getpid());
  snprintf(group, sizeof group, "it-coop-commit-%d", (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, N_PARTS);
  kw_conn_free(admin);
  produce(topic, 0, N_OLD);

  member a, b;
  join(&a, "A", group, topic);
  int64_t end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && a.got_old < N_OLD) poll_some(&a);
  IT_CHECK(a.got_old == N_OLD && a.owned == N_PARTS, "A alone read %d of %d, owns %d", a.got_old, N_OLD, a.owned);

  join(&b, "B", group, topic);
  end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && !(a.owned == N_PARTS / 2 && b.owned == N_PARTS / 2)) {
    poll_some(&a);
    poll_some(&b);
  }
  IT_CHECK(a.owned == N_PARTS / 2 && b.owned == N_PARTS / 2, "split: A owns %d, B owns %d", a.owned, b.owned);
  IT_CHECK(a.revoked == N_PARTS / 2, "A revoked %d", a.revoked);

  /* One new record per partition: each reaches its owner; by then B has read whatever it
   * was going to read again of the old ones. */
  produce(topic, N_OLD, N_PARTS);
  end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && a.got_new + b.got_new < N_PARTS) {
    poll_some(&a);
    poll_some(&b);
  }
  int twice = 0;
  for (int i = 0; i < N_OLD + N_PARTS; i++) twice += seen[i] > 1;
  printf("  new records: A %d, B %d; old records read again by B: %d; records read twice: %d\n", a.got_new, b.got_new,
         b.got_old, twice);
  IT_CHECK(a.got_new + b.got_new == N_PARTS, "%d of %d new records arrived", a.got_new + b.got_new, N_PARTS);
  IT_CHECK(b.got_old == 0 && twice == 0, "B read %d of A's records again: the revoked partitions were not committed",
           b.got_old);
  kw_client_destroy(b.c);
  kw_client_destroy(a.c);
  printf("PASS it_group_coop_commit\n");
  return 0;
}
