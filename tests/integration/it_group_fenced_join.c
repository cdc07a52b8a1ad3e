/* A member the group dropped learns it from JoinGroup (issue 14, item 7), with the
 * classic cooperative protocol against the real broker. A and B share a topic; A
 * re-subscribes (so its next step is a JoinGroup) and then goes silent past
 * session.timeout.ms: the broker expires it and gives B every partition. When A comes
 * back, JoinGroup answers UNKNOWN_MEMBER_ID. A's partitions are another member's now:
 * A must report them LOST (no commit, no more records from them), as the Java consumer
 * does (resetStateAndRejoin, onPartitionsLost), then join again as a new member. The
 * unfixed kwire cleared its member id, rejoined and kept the partitions as if nothing
 * had happened. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_PARTS 6

typedef struct member {
  kw_client *c;
  const char *name;
  int owned, lost, revoked;
} member;

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  member *m = ud;
  (void)tps;
  if (kind == KW_REBALANCE_ASSIGNED) m->owned += n;
  else m->owned -= n;
  if (kind == KW_REBALANCE_LOST) m->lost += n;
  if (kind == KW_REBALANCE_REVOKED) m->revoked += n;
  printf("  %s: %s %d partition(s), owns %d\n", m->name,
         kind == KW_REBALANCE_ASSIGNED ? "assigned" : kind == KW_REBALANCE_REVOKED ? "revoked" : "lost", n, m->owned);
}

static const char *topic_name;

static void join(member *m, const char *name, const char *group) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "heartbeat.interval.ms", "300", err, sizeof err);
  kw_config_set(conf, "session.timeout.ms", "6000", err, sizeof err);
  kw_config_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, sizeof err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  memset(m, 0, sizeof *m);
  m->name = name;
  m->c = kw_consumer_new(conf, err, sizeof err);
  IT_CHECK(m->c != NULL, "consumer: %s", err);
  kw_config_free(conf);
  kw_consumer_set_rebalance_cb(m->c, on_rebalance, m);
  const char *topics[] = {topic_name};
  IT_CHECK(kw_consumer_subscribe(m->c, topics, 1) == 0, "subscribe");
}

static void poll_some(member *m) {
  kw_message msg;
  for (int k = 0; k < 100 && kw_consumer_poll(m->c, &msg, k == 0 ? 20 : 0) == 1; k++) {
  }
}

int main(void) {
  char topic[64], group[64];
  snprintf(topic, sizeof topic, "it-fenced-join-%d", (int)getpid());
  snprintf(group, sizeof group, "it-fenced-join-%d", (int)getpid());
  topic_name = topic;
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, N_PARTS);
  kw_conn_free(admin);

  member a, b;
  join(&a, "A", group);
  join(&b, "B", group);
  int64_t end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && !(a.owned == N_PARTS / 2 && b.owned == N_PARTS / 2)) {
    poll_some(&a);
    poll_some(&b);
  }
  IT_CHECK(a.owned == N_PARTS / 2 && b.owned == N_PARTS / 2, "split: A owns %d, B owns %d", a.owned, b.owned);
  int a_owned = a.owned;

  /* A's next step is a JoinGroup; it stays silent until the broker has expired it and B
   * owns everything. */
  const char *topics[] = {topic};
  IT_CHECK(kw_consumer_subscribe(a.c, topics, 1) == 0, "re-subscribe");
  end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && b.owned < N_PARTS) poll_some(&b);
  printf("  A silent: B owns %d\n", b.owned);
  IT_CHECK(b.owned == N_PARTS, "B owns %d after A's session expired", b.owned);

  end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && !(a.owned + b.owned == N_PARTS && a.owned > 0 && a.lost > 0)) {
    poll_some(&a);
    poll_some(&b);
  }
  printf("  A back: lost %d, revoked %d, owns %d; B owns %d\n", a.lost, a.revoked, a.owned, b.owned);
  IT_CHECK(a.lost == a_owned, "A, expired by the group, reported %d of its %d partitions lost", a.lost, a_owned);
  IT_CHECK(a.owned + b.owned == N_PARTS, "A owns %d, B owns %d", a.owned, b.owned);
  kw_client_destroy(a.c);
  kw_client_destroy(b.c);
  printf("PASS it_group_fenced_join\n");
  return 0;
}
