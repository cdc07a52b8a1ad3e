/* Consumer-group edge cases against the real broker (classic protocol, range):
 *
 *  static    static membership (KIP-345): a member with group.instance.id that is
 *            destroyed (no LeaveGroup) and comes back at once gets the same partitions
 *            in the same generation, and the other member sees no rebalance, not even
 *            after the old member id's session ran out; a second process with the same
 *            group.instance.id fences the first one (LOST), again without a rebalance.
 *  maxpoll   max.poll.interval.ms: a member whose client is still driven (event loop)
 *            but whose application stops calling kw_consumer_poll leaves the group, the
 *            other member takes every partition; the next poll rejoins and the group
 *            splits again; no member hands out records of partitions it does not own.
 *  sleep     the whole process of a member stops (no call at all) for 5 s, longer than
 *            max.poll.interval.ms but less than the session timeout: with no threads
 *            nothing can leave the group meanwhile; nothing may be handed out twice.
 *  sleeprb   the same while a third member joins: the rebalance goes on without the
 *            stopped member after its rebalance timeout; when it wakes it must find
 *            out before handing out buffered records of partitions others now own.
 *  longpoll  one kw_consumer_poll() waiting longer than max.poll.interval.ms on an idle
 *            topic is polling, not a stalled application: no rebalance.
 *  session   the process of a member stops longer than session.timeout.ms while it has
 *            fetched records buffered: the broker gives its partitions to the other
 *            member; when it wakes it must find out it is no longer a member (LOST or
 *            REVOKED) before handing out any buffered record of those partitions.
 *  slow      a member that polls often but slowly (10 ms per record) with a deep
 *            prefetch buffer takes part in a rebalance instead of handing out its buffer
 *            while the group moves on without it; answers that arrive while it works
 *            through the buffer (longer than request.timeout.ms) are not timeouts.
 *  store     enable.auto.offset.store=false: only kw_consumer_store_offset()ed offsets
 *            are committed (sync commit, and auto commit), and a new member resumes there.
 *
 * `it_group_edges NAME...` runs only those scenarios. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_PARTS 4
#define MAX_NUM 20000

static int seen[MAX_NUM]; /* how often each record (by its number) was handed out */
static int next_num;      /* the next record number to produce */

typedef struct member {
  kw_client *c;
  char name[16];
  unsigned owned; /* bit p: partition p, as the rebalance callback says */
  int n_assigned, n_revoked, n_lost; /* callback events */
  int delivered;
  int foreign; /* records handed out from a partition it did not own (see owns_it) */
  int64_t first_foreign_offset;
  int foreign_partition;
  int client_errors; /* the client's error callback (e.g. "all brokers down") */
  char last_error[160];
} member;

/* The live members: a record is "foreign" to m when m does not own its partition, or
 * another member owns it in a generation at least as new as m's. */
static member *live[8];

static const char *kind_name(int kind) {
  return kind == KW_REBALANCE_ASSIGNED ? "assigned" : kind == KW_REBALANCE_REVOKED ? "revoked" : "lost";
}

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  member *m = ud;
  unsigned bits = 0;
  char list[64] = "";
  for (int i = 0; i < n; i++) {
    bits |= 1u << tps[i].partition;
    size_t l = strlen(list);
    snprintf(list + l, sizeof list - l, "%s%d", i ? "," : "", tps[i].partition);
  }
  if (kind == KW_REBALANCE_ASSIGNED) {
    m->n_assigned++;
    m->owned |= bits;
  } else {
    if (kind == KW_REBALANCE_REVOKED) m->n_revoked++;
    else m->n_lost++;
    m->owned &= ~bits;
  }
  printf("    %s: %s [%s], owns %d, generation %d\n", m->name, kind_name(kind), list, __builtin_popcount(m->owned),
         m->c ? kw_consumer_generation(m->c) : -1);
}

static void on_client_error(void *ud, int err, const char *reason) {
  member *m = ud;
  m->client_errors++;
  snprintf(m->last_error, sizeof m->last_error, "%s: %s", kw_strerror(err), reason ? reason : "");
  printf("    %s: client error %s\n", m->name, m->last_error);
}

/* A member of `group` subscribed to `topic`; extra config as key, value, ..., NULL. */
static void join(member *m, const char *name, const char *group, const char *topic, ...) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "session.timeout.ms", "6000", err, sizeof err);
  kw_config_set(conf, "heartbeat.interval.ms", "500", err, sizeof err);
  kw_config_set(conf, "auto.commit.interval.ms", "200", err, sizeof err);
  kw_config_set(conf, "fetch.wait.max.ms", "100", err, sizeof err);
  va_list ap;
  va_start(ap, topic);
  for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
    const char *v = va_arg(ap, const char *);
    IT_CHECK(kw_config_set(conf, k, v, err, sizeof err) == 0, "%s=%s: %s", k, v, err);
  }
  va_end(ap);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  memset(m, 0, sizeof *m);
  snprintf(m->name, sizeof m->name, "%s", name);
  m->c = kw_consumer_new(conf, err, sizeof err);
  IT_CHECK(m->c != NULL, "consumer: %s", err);
  kw_config_free(conf);
  kw_consumer_set_rebalance_cb(m->c, on_rebalance, m);
  kw_client_set_error_cb(m->c, on_client_error, m);
  const char *topics[] = {topic};
  IT_CHECK(kw_consumer_subscribe(m->c, topics, 1) == 0, "subscribe");
  int i = 0;
  while (i < 8 && live[i]) i++;
  IT_CHECK(i < 8, "too many members");
  live[i] = m;
}

static void leave(member *m) {
  for (int i = 0; i < 8; i++)
    if (live[i] == m) live[i] = NULL;
  kw_client_destroy(m->c);
  m->c = NULL;
}

static bool owns_it(member *m, int32_t partition) {
  unsigned bit = 1u << partition;
  if (!(m->owned & bit)) return false;
  int32_t gen = kw_consumer_generation(m->c);
  for (int i = 0; i < 8; i++) {
    member *o = live[i];
    if (o && o != m && o->c && (o->owned & bit) && kw_consumer_generation(o->c) >= gen) return false;
  }
  return true;
}

/* n records per partition, numbered from next_num on. */
static void produce(const char *topic, int per_part) {
  kw_config *conf = kw_config_new();
  char err[256];
  kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(p != NULL, "%s", err);
  for (int i = 0; i < per_part * N_PARTS; i++) {
    char v[32];
    int num = next_num++;
    IT_CHECK(num < MAX_NUM, "too many records");
    int vn = snprintf(v, sizeof v, "r-%d", num);
    IT_CHECK(kw_produce(p, topic, i % N_PARTS, NULL, 0, v, (size_t)vn, NULL, 0, 0, NULL) == 0, "produce");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
}

/* One kw_consumer_poll round for m: up to `max` records, each checked against what m
 * and the others own right now. Returns the number handed out. */
static int poll_member(member *m, int timeout_ms, int max) {
  int got = 0;
  kw_message msg;
  while (got < max && kw_consumer_poll(m->c, &msg, got == 0 ? timeout_ms : 0) == 1) {
    IT_CHECK(msg.err == 0, "%s: error event %s (kafka %d)", m->name, kw_strerror(msg.err), msg.kafka_error);
    if (!owns_it(m, msg.partition)) {
      if (m->foreign++ == 0) {
        m->first_foreign_offset = msg.offset;
        m->foreign_partition = msg.partition;
      }
    }
    int num;
    if (msg.value && sscanf((const char *)msg.value, "r-%d", &num) == 1 && num >= 0 && num < MAX_NUM) seen[num]++;
    m->delivered++;
    got++;
  }
  return got;
}

typedef bool (*cond_fn)(member **ms, int n, void *arg);

/* Polls every member (each a slice of ~20 ms) until cond holds or timeout_ms passed. */
static bool pump_until(member **ms, int n, cond_fn cond, void *arg, int timeout_ms) {
  int64_t end = kw_now_ms() + timeout_ms;
  for (;;) {
    if (cond && cond(ms, n, arg)) return true;
    if (kw_now_ms() >= end) return cond == NULL;
    for (int i = 0; i < n; i++)
      if (ms[i]->c) poll_member(ms[i], 20, 500);
  }
}

static bool each_owns(member **ms, int n, void *arg) {
  int want = *(int *)arg;
  for (int i = 0; i < n; i++)
    if (__builtin_popcount(ms[i]->owned) != want) return false;
  return true;
}

static int total_seen_distinct(int from, int to) {
  int k = 0;
  for (int i = from; i < to; i++) k += seen[i] > 0;
  return k;
}

static bool all_consumed(member **ms, int n, void *arg) {
  (void)ms, (void)n;
  int from = *(int *)arg;
  return total_seen_distinct(from, next_num) == next_num - from;
}

typedef struct split_and_all {
  int owned_each, from;
} split_and_all;

static bool split_and_consumed(member **ms, int n, void *arg) {
  split_and_all *s = arg;
  return each_owns(ms, n, &s->owned_each) && all_consumed(ms, n, &s->from);
}

/* Every record of [from, next_num) handed out exactly once? Prints the counts. */
static bool once(const char *what, int from) {
  int missing = 0, dup = 0;
  for (int i = from; i < next_num; i++) {
    if (seen[i] == 0) missing++;
    if (seen[i] > 1) dup++;
  }
  printf("  %s: %d records, %d missing, %d handed out more than once\n", what, next_num - from, missing, dup);
  return missing == 0 && dup == 0;
}

static void new_topic(char *topic, size_t len, const char *what, int parts) {
  snprintf(topic, len, "it-edge-%s-%d", what, (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, parts);
  kw_conn_free(admin);
}

/* ---------------------------------------------------------------- static membership */

static void scenario_static(void) {
  char topic[64], group[64];
  new_topic(topic, sizeof topic, "static", N_PARTS);
  snprintf(group, sizeof group, "it-static-%d", (int)getpid());
  printf("static membership (group.instance.id), session.timeout.ms 6000\n");
  int from = next_num;
  produce(topic, 50);
  member a, b, a2, a3;
  join(&a, "A", group, topic, "group.instance.id", "static-a", NULL);
  join(&b, "B", group, topic, "group.instance.id", "static-b", NULL);
  member *ms[] = {&a, &b};
  split_and_all s = {N_PARTS / 2, from};
  IT_CHECK(pump_until(ms, 2, split_and_consumed, &s, 30000), "A and B did not settle: A owns %d, B owns %d",
           __builtin_popcount(a.owned), __builtin_popcount(b.owned));
  pump_until(ms, 2, NULL, NULL, 1000); /* auto commits land */
  int32_t gen = kw_consumer_generation(b.c);
  unsigned a_owned = a.owned;
  IT_CHECK(kw_consumer_generation(a.c) == gen, "A generation %d, B %d", kw_consumer_generation(a.c), gen);
  member b_before = b;
  printf("  stable: generation %d, A owns 0x%x, B owns 0x%x; destroying A (a static member sends no LeaveGroup)\n", gen,
         a.owned, b.owned);

  leave(&a);
  int64_t t0 = kw_now_ms();
  join(&a2, "A'", group, topic, "group.instance.id", "static-a", NULL);
  int from2 = next_num;
  produce(topic, 50);
  member *ms2[] = {&a2, &b};
  split_and_all s2 = {N_PARTS / 2, from2};
  bool ok = pump_until(ms2, 2, split_and_consumed, &s2, 20000);
  printf("  A' (same group.instance.id) owns 0x%x after %lld ms, generation %d; B: generation %d, %d revoked, %d lost, "
         "%d assigned events since\n",
         a2.owned, (long long)(kw_now_ms() - t0), kw_consumer_generation(a2.c), kw_consumer_generation(b.c),
         b.n_revoked - b_before.n_revoked, b.n_lost - b_before.n_lost, b.n_assigned - b_before.n_assigned);
  IT_CHECK(ok, "A' and B did not consume the new records with a 2/2 split");
  IT_CHECK(a2.owned == a_owned, "A' owns 0x%x, A owned 0x%x", a2.owned, a_owned);
  IT_CHECK(kw_consumer_generation(a2.c) == gen, "A' joined generation %d, not %d (a rebalance happened)",
           kw_consumer_generation(a2.c), gen);
  IT_CHECK(b.n_revoked == b_before.n_revoked && b.n_lost == b_before.n_lost && b.n_assigned == b_before.n_assigned &&
               kw_consumer_generation(b.c) == gen,
           "B saw a rebalance (generation %d)", kw_consumer_generation(b.c));

  /* The old member id's session (6 s) runs out in the broker: that must change nothing. */
  pump_until(ms2, 2, NULL, NULL, 6500);
  printf("  6.5 s later: generation %d/%d, B %d revoked, A' owns 0x%x\n", kw_consumer_generation(a2.c),
         kw_consumer_generation(b.c), b.n_revoked - b_before.n_revoked, a2.owned);
  IT_CHECK(kw_consumer_generation(b.c) == gen && b.n_revoked == b_before.n_revoked && b.n_lost == b_before.n_lost,
           "B saw a rebalance after the old session expired");
  IT_CHECK(a2.owned == a_owned && a2.n_revoked == 0 && a2.n_lost == 0, "A' lost its partitions");

  /* A second live process with the same group.instance.id takes over; the first is fenced. */
  join(&a3, "A''", group, topic, "group.instance.id", "static-a", NULL);
  member *ms3[] = {&a2, &a3, &b};
  t0 = kw_now_ms();
  int64_t end = t0 + 15000;
  while (kw_now_ms() < end && !(a2.n_lost + a2.n_revoked > 0 && a3.owned == a_owned))
    pump_until(ms3, 3, NULL, NULL, 50);
  printf("  A'' joined with the same id: A' %d lost / %d revoked after %lld ms, owns 0x%x; A'' owns 0x%x; B generation "
         "%d\n",
         a2.n_lost, a2.n_revoked, (long long)(kw_now_ms() - t0), a2.owned, a3.owned, kw_consumer_generation(b.c));
  IT_CHECK(a2.n_lost == 1 && a2.owned == 0, "A' was not told it is fenced (lost %d, revoked %d)", a2.n_lost,
           a2.n_revoked);
  IT_CHECK(a3.owned == a_owned, "A'' owns 0x%x", a3.owned);
  IT_CHECK(kw_consumer_generation(b.c) == gen && b.n_revoked == b_before.n_revoked, "B saw a rebalance");
  int a2_delivered = a2.delivered;
  int from3 = next_num;
  produce(topic, 20);
  member *ms4[] = {&a2, &a3, &b};
  pump_until(ms4, 3, all_consumed, &from3, 15000);
  pump_until(ms4, 3, NULL, NULL, 500);
  printf("  after fencing: A' handed out %d more records\n", a2.delivered - a2_delivered);
  IT_CHECK(a2.delivered == a2_delivered, "the fenced A' handed out %d records", a2.delivered - a2_delivered);
  IT_CHECK(a2.foreign == 0 && a3.foreign == 0 && b.foreign == 0, "foreign records: A' %d, A'' %d, B %d", a2.foreign,
           a3.foreign, b.foreign);
  IT_CHECK(once("static", from), "every record once");
  leave(&a2);
  leave(&a3);
  leave(&b);
}

/* ---------------------------------------------------------------- max.poll.interval.ms */

#define MAXPOLL_CONF "max.poll.interval.ms", "3000"

/* A and B with max.poll.interval.ms 3000 (and one more setting if key is not NULL),
 * settled 2/2 with every record so far consumed. */
static void settle_pair(member *a, member *b, const char *group, const char *topic, int from, const char *key,
                        const char *value) {
  join(a, "A", group, topic, MAXPOLL_CONF, key, value, NULL);
  join(b, "B", group, topic, MAXPOLL_CONF, key, value, NULL);
  member *ms[] = {a, b};
  split_and_all s = {N_PARTS / 2, from};
  IT_CHECK(pump_until(ms, 2, split_and_consumed, &s, 30000), "A and B did not settle: A owns %d, B owns %d",
           __builtin_popcount(a->owned), __builtin_popcount(b->owned));
  pump_until(ms, 2, NULL, NULL, 600); /* auto commits land */
}

static void scenario_maxpoll(void) {
  char topic[64], group[64];
  new_topic(topic, sizeof topic, "maxpoll", N_PARTS);
  snprintf(group, sizeof group, "it-maxpoll-%d", (int)getpid());
  printf("max.poll.interval.ms 3000 (session 6000, heartbeat 500): A's application stops polling for 5 s, its "
         "event loop still runs\n");
  int from = next_num;
  produce(topic, 50);
  member a, b;
  settle_pair(&a, &b, group, topic, from, NULL, NULL);
  int a_rev = a.n_revoked + a.n_lost;
  int64_t t0 = kw_now_ms(), a_left_at = -1, b_all_at = -1;
  bool produced = false;
  while (kw_now_ms() - t0 < 5000) {
    kw_client_poll(a.c, 10); /* the event loop: I/O and timers, no kw_consumer_poll */
    poll_member(&b, 10, 500);
    if (!produced && kw_now_ms() - t0 > 1000) {
      produce(topic, 10);
      produced = true;
    }
    if (a_left_at < 0 && a.n_revoked + a.n_lost > a_rev) a_left_at = kw_now_ms() - t0;
    if (b_all_at < 0 && b.owned == (1u << N_PARTS) - 1) b_all_at = kw_now_ms() - t0;
  }
  printf("  during the pause: A gave up its partitions after %lld ms, B owned all %d after %lld ms\n",
         (long long)a_left_at, N_PARTS, (long long)b_all_at);
  IT_CHECK(a_left_at >= 2500 && a.owned == 0, "A did not leave after max.poll.interval.ms (at %lld ms, owns 0x%x)",
           (long long)a_left_at, a.owned);
  IT_CHECK(b.owned == (1u << N_PARTS) - 1, "B owns 0x%x after A left", b.owned);
  t0 = kw_now_ms();
  produce(topic, 10);
  member *ms[] = {&a, &b};
  split_and_all s = {N_PARTS / 2, from};
  bool ok = pump_until(ms, 2, split_and_consumed, &s, 25000);
  printf("  A polls again: split A 0x%x / B 0x%x after %lld ms; records from partitions not owned: A %d, B %d\n",
         a.owned, b.owned, (long long)(kw_now_ms() - t0), a.foreign, b.foreign);
  bool once_ok = once("max.poll.interval.ms", from);
  IT_CHECK(ok, "no 2/2 split after A came back (A owns 0x%x, B 0x%x)", a.owned, b.owned);
  IT_CHECK(a.foreign == 0 && b.foreign == 0, "A handed out %d records of partitions it did not own (first: [%d] @%lld)",
           a.foreign, a.foreign_partition, (long long)a.first_foreign_offset);
  IT_CHECK(once_ok, "every record once");
  leave(&a);
  leave(&b);
}

/* A's whole process stops for 5 s (< session.timeout.ms): no call into its client at
 * all, so nothing can send a LeaveGroup (kwire has no threads). The broker keeps A as a
 * member; what matters is that nothing is handed out twice and the group ends split. */
static void scenario_sleep(void) {
  char topic[64], group[64];
  new_topic(topic, sizeof topic, "sleep", N_PARTS);
  snprintf(group, sizeof group, "it-sleep-%d", (int)getpid());
  printf("max.poll.interval.ms 3000: A's process stops completely for 5 s (< session.timeout.ms 6000)\n");
  int from = next_num;
  produce(topic, 50);
  member a, b;
  settle_pair(&a, &b, group, topic, from, NULL, NULL);
  produce(topic, 20);
  poll_member(&a, 500, 3); /* A has more of its records buffered than it handed out */
  IT_CHECK(kw_consumer_commit(a.c, 5000) == 0, "commit");
  int64_t t0 = kw_now_ms();
  bool b_all = false;
  while (kw_now_ms() - t0 < 5000) {
    poll_member(&b, 20, 500);
    b_all = b_all || b.owned == (1u << N_PARTS) - 1;
  }
  int a_rev = a.n_revoked + a.n_lost;
  member *ms[] = {&a, &b};
  split_and_all s = {N_PARTS / 2, from};
  bool ok = pump_until(ms, 2, split_and_consumed, &s, 25000);
  printf("  B owned everything during the pause: %s; A after waking: %d revoked/lost events; split A 0x%x / B 0x%x; "
         "foreign records A %d, B %d\n",
         b_all ? "yes" : "no", a.n_revoked + a.n_lost - a_rev, a.owned, b.owned, a.foreign, b.foreign);
  bool once_ok = once("sleep < session timeout", from);
  IT_CHECK(ok, "no 2/2 split with everything consumed (A owns 0x%x, B 0x%x)", a.owned, b.owned);
  IT_CHECK(a.foreign == 0 && b.foreign == 0, "A handed out %d records of partitions it did not own (first: [%d] @%lld)",
           a.foreign, a.foreign_partition, (long long)a.first_foreign_offset);
  IT_CHECK(once_ok, "every record once");
  leave(&a);
  leave(&b);
}

/* Like "sleep", but a third member joins while A is stopped: the rebalance waits for A
 * at most its rebalance timeout (max.poll.interval.ms, 3 s), then goes on without it. */
static bool three_way(member **ms, int n, void *arg) {
  unsigned all = 0;
  int sum = 0;
  for (int i = 0; i < n; i++) {
    if (ms[i]->owned == 0) return false;
    all |= ms[i]->owned;
    sum += __builtin_popcount(ms[i]->owned);
  }
  return all == (1u << N_PARTS) - 1 && sum == N_PARTS && all_consumed(ms, n, arg);
}

static void scenario_sleep_rebalance(void) {
  char topic[64], group[64];
  new_topic(topic, sizeof topic, "sleeprb", N_PARTS);
  snprintf(group, sizeof group, "it-sleeprb-%d", (int)getpid());
  printf("max.poll.interval.ms 3000: A's process stops for 5 s with records buffered; C joins meanwhile\n");
  int from = next_num;
  produce(topic, 50);
  member a, b, c;
  settle_pair(&a, &b, group, topic, from, NULL, NULL);
  produce(topic, 200);
  poll_member(&a, 500, 5); /* A fetched far more than the 5 records it handed out */
  IT_CHECK(kw_consumer_commit(a.c, 5000) == 0, "commit");
  int64_t t0 = kw_now_ms();
  c.c = NULL;
  while (kw_now_ms() - t0 < 5000) {
    if (!c.c && kw_now_ms() - t0 >= 500) join(&c, "C", group, topic, MAXPOLL_CONF, NULL);
    poll_member(&b, 20, 500);
    if (c.c) poll_member(&c, 20, 500);
  }
  printf("  while A was stopped: B owns 0x%x, C owns 0x%x (generation %d)\n", b.owned, c.owned,
         kw_consumer_generation(b.c));
  IT_CHECK((b.owned | c.owned) == (1u << N_PARTS) - 1, "B and C own 0x%x: the rebalance did not go on without A",
           b.owned | c.owned);
  int a_events = a.n_revoked + a.n_lost, a_delivered = a.delivered;
  t0 = kw_now_ms();
  while (kw_now_ms() - t0 < 3000 && a.n_revoked + a.n_lost == a_events) {
    poll_member(&a, 20, 1);
    poll_member(&b, 0, 500);
    poll_member(&c, 0, 500);
  }
  printf("  A woke: told it lost its partitions: %s (after %lld ms); meanwhile it handed out %d records, %d of them of "
         "partitions others owned (first: partition %d offset %lld)\n",
         a.n_revoked + a.n_lost > a_events ? "yes" : "no", (long long)(kw_now_ms() - t0), a.delivered - a_delivered,
         a.foreign, a.foreign_partition, (long long)a.first_foreign_offset);
  member *ms[] = {&a, &b, &c};
  bool ok = pump_until(ms, 3, three_way, &from, 25000);
  printf("  then: A 0x%x / B 0x%x / C 0x%x; foreign A %d, B %d, C %d\n", a.owned, b.owned, c.owned, a.foreign,
         b.foreign, c.foreign);
  bool once_ok = once("sleep across a rebalance", from);
  IT_CHECK(a.n_revoked + a.n_lost > a_events, "A never noticed it was removed");
  IT_CHECK(ok, "no 3-way split with everything consumed");
  IT_CHECK(a.foreign == 0, "A handed out %d records of partitions it no longer owned (first: [%d] @%lld)", a.foreign,
           a.foreign_partition, (long long)a.first_foreign_offset);
  IT_CHECK(b.foreign == 0 && c.foreign == 0, "foreign records: B %d, C %d", b.foreign, c.foreign);
  IT_CHECK(once_ok, "every record once");
  leave(&a);
  leave(&b);
  leave(&c);
}

/* A healthy but slow member: it calls kw_consumer_poll for every record (10 ms of work
 * each, far below max.poll.interval.ms) with hundreds of records already fetched. C
 * joins: A must take part in the rebalance like any polling member (the Java client
 * runs its network I/O inside every poll), not hand out its buffer while the group
 * moves on without it. */
static void scenario_slow(void) {
  char topic[64], group[64];
  new_topic(topic, sizeof topic, "slow", N_PARTS);
  snprintf(group, sizeof group, "it-slow-%d", (int)getpid());
  printf("max.poll.interval.ms 3000: A polls every ~10 ms from a deep prefetch buffer while C joins\n");
  int from = next_num;
  produce(topic, 50);
  member a, b, c;
  settle_pair(&a, &b, group, topic, from, "request.timeout.ms", "2000");
  produce(topic, 300);
  kw_client_poll(a.c, 500); /* A fetches its ~600 new records; none handed out yet */
  kw_client_poll(a.c, 300);
  int32_t gen = kw_consumer_generation(a.c);
  int a_revoked = a.n_revoked + a.n_lost, a_delivered = a.delivered;
  int64_t t0 = kw_now_ms(), a_told_at = -1, moved_at = -1;
  c.c = NULL;
  member *ms[] = {&a, &b, &c};
  while (kw_now_ms() - t0 < 25000 && !(c.c && three_way(ms, 3, &from))) {
    if (!c.c && kw_now_ms() - t0 >= 300)
      join(&c, "C", group, topic, MAXPOLL_CONF, "request.timeout.ms", "2000", NULL);
    poll_member(&a, 1, 1);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the application works on the record */
    poll_member(&b, 1, 500);
    if (c.c) poll_member(&c, 1, 500);
    if (a_told_at < 0 && a.n_revoked + a.n_lost > a_revoked) a_told_at = kw_now_ms() - t0;
    if (moved_at < 0 && c.c && kw_consumer_generation(b.c) > gen) moved_at = kw_now_ms() - t0;
  }
  bool split = c.c && three_way(ms, 3, &from);
  printf("  the group moved to generation %d after %lld ms; A was told (revoked/lost) after %lld ms, having handed out "
         "%d records by then; A 0x%x / B 0x%x / C 0x%x; foreign A %d, B %d, C %d\n",
         kw_consumer_generation(b.c), (long long)moved_at, (long long)a_told_at, a.delivered - a_delivered, a.owned,
         b.owned, c.owned, a.foreign, b.foreign, c.foreign);
  bool once_ok = once("slow member", from);
  IT_CHECK(split, "no 3-way split with everything consumed");
  IT_CHECK(a.foreign == 0, "A handed out %d records of partitions others owned (first: [%d] @%lld)", a.foreign,
           a.foreign_partition, (long long)a.first_foreign_offset);
  IT_CHECK(b.foreign == 0 && c.foreign == 0, "foreign records: B %d, C %d", b.foreign, c.foreign);
  IT_CHECK(once_ok, "every record once");
  /* Answers that arrived while A worked through its buffer are answers, not timeouts. */
  IT_CHECK(a.client_errors == 0, "A: %d client errors while busy for longer than request.timeout.ms 2000, last: %s",
           a.client_errors, a.last_error);
  leave(&a);
  leave(&b);
  leave(&c);
}

/* kw_consumer_poll(timeout 5000) on an idle topic with max.poll.interval.ms 3000: the
 * application is inside poll the whole time. */
static void scenario_longpoll(void) {
  char topic[64], group[64];
  new_topic(topic, sizeof topic, "longpoll", 2);
  snprintf(group, sizeof group, "it-longpoll-%d", (int)getpid());
  printf("max.poll.interval.ms 3000: one kw_consumer_poll(5000 ms) on an idle topic\n");
  member a;
  join(&a, "A", group, topic, MAXPOLL_CONF, NULL);
  member *ms[] = {&a};
  int two = 2;
  IT_CHECK(pump_until(ms, 1, each_owns, &two, 20000), "A alone does not own both partitions");
  pump_until(ms, 1, NULL, NULL, 500);
  int32_t gen = kw_consumer_generation(a.c);
  kw_message m;
  int64_t t0 = kw_now_ms();
  int r = kw_consumer_poll(a.c, &m, 5000);
  int64_t took = kw_now_ms() - t0;
  pump_until(ms, 1, NULL, NULL, 1500); /* a rejoin after a wrongful leave would show here */
  printf("  poll returned %d after %lld ms; revoked %d, lost %d, assigned %d events; generation %d -> %d\n", r,
         (long long)took, a.n_revoked, a.n_lost, a.n_assigned, gen, kw_consumer_generation(a.c));
  IT_CHECK(r == 0 && took >= 4900, "poll returned %d after %lld ms", r, (long long)took);
  IT_CHECK(a.n_revoked == 0 && a.n_lost == 0 && kw_consumer_generation(a.c) == gen,
           "a long kw_consumer_poll counted as a stalled application: the member left the group");
  leave(&a);
}

/* ---------------------------------------------------------------- session timeout */

static void scenario_session(void) {
  char topic[64], group[64];
  new_topic(topic, sizeof topic, "session", N_PARTS);
  snprintf(group, sizeof group, "it-session-%d", (int)getpid());
  printf("A's process stops for 9 s (> session.timeout.ms 6000) with records buffered\n");
  int from = next_num;
  produce(topic, 50);
  member a, b;
  settle_pair(&a, &b, group, topic, from, NULL, NULL);
  produce(topic, 200);
  poll_member(&a, 500, 5); /* A fetched far more than the 5 records it handed out */
  IT_CHECK(kw_consumer_commit(a.c, 5000) == 0, "commit"); /* so nothing A handed out is consumed again legitimately */
  int a_delivered = a.delivered;
  int64_t t0 = kw_now_ms(), b_all_at = -1;
  while (kw_now_ms() - t0 < 9000) {
    poll_member(&b, 20, 500);
    if (b_all_at < 0 && b.owned == (1u << N_PARTS) - 1) b_all_at = kw_now_ms() - t0;
  }
  printf("  while A was gone: B owned all %d partitions after %lld ms (generation %d)\n", N_PARTS, (long long)b_all_at,
         kw_consumer_generation(b.c));
  IT_CHECK(b.owned == (1u << N_PARTS) - 1, "B owns 0x%x: the broker did not expire A", b.owned);
  /* A wakes up. Everything it hands out from its old partitions now is a duplicate. */
  int a_events = a.n_revoked + a.n_lost;
  int stale = 0;
  t0 = kw_now_ms();
  member *ms[] = {&a, &b};
  while (kw_now_ms() - t0 < 3000 && a.n_revoked + a.n_lost == a_events) {
    int before = a.foreign;
    poll_member(&a, 20, 1);
    stale += a.foreign - before;
    poll_member(&b, 0, 500);
  }
  printf("  A woke: told it lost [%s] after %lld ms (%d lost, %d revoked events); meanwhile it handed out %d "
         "records of "
         "partitions B owned (first: partition %d offset %lld)\n",
         a.n_revoked + a.n_lost > a_events ? "yes" : "no", (long long)(kw_now_ms() - t0), a.n_lost, a.n_revoked,
         stale, a.foreign_partition, (long long)a.first_foreign_offset);
  split_and_all s = {N_PARTS / 2, from};
  bool ok = pump_until(ms, 2, split_and_consumed, &s, 25000);
  printf("  then: split A 0x%x / B 0x%x; A handed out %d records in all after waking; foreign A %d, B %d\n", a.owned,
         b.owned, a.delivered - a_delivered, a.foreign, b.foreign);
  bool once_ok = once("session expiry", from);
  IT_CHECK(a.n_revoked + a.n_lost > a_events, "A never noticed it was expired");
  IT_CHECK(ok, "no 2/2 split with everything consumed (A owns 0x%x, B 0x%x)", a.owned, b.owned);
  IT_CHECK(a.foreign == 0, "A handed out %d records of partitions it no longer owned (first: [%d] @%lld)", a.foreign,
           a.foreign_partition, (long long)a.first_foreign_offset);
  IT_CHECK(b.foreign == 0, "B handed out %d records of partitions it did not own", b.foreign);
  IT_CHECK(once_ok, "every record once");
  leave(&a);
  leave(&b);
}

/* ---------------------------------------------------------------- manual offset store */

static int64_t consume_store(member *m, const char *topic, int n, int store_first) {
  int64_t first = -1;
  int got = 0;
  int64_t end = kw_now_ms() + 20000;
  while (got < n && kw_now_ms() < end) {
    kw_message msg;
    if (kw_consumer_poll(m->c, &msg, 100) != 1) continue;
    IT_CHECK(msg.err == 0, "error event %s", kw_strerror(msg.err));
    if (first < 0) first = msg.offset;
    if (got < store_first)
      IT_CHECK(kw_consumer_store_offset(m->c, topic, msg.partition, msg.offset + 1) == 0, "store_offset");
    got++;
  }
  IT_CHECK(got == n, "%s: %d of %d records", m->name, got, n);
  return first;
}

static void scenario_store(void) {
  char topic[64], group[64], group2[64];
  new_topic(topic, sizeof topic, "store", 1);
  snprintf(group, sizeof group, "it-store-%d", (int)getpid());
  snprintf(group2, sizeof group2, "it-store-auto-%d", (int)getpid());
  printf("enable.auto.offset.store=false: 100 records, the first 50 stored\n");
  kw_config *conf = kw_config_new();
  char err[256];
  kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(p != NULL, "%s", err);
  for (int i = 0; i < 100; i++) {
    char v[16];
    int vn = snprintf(v, sizeof v, "s-%d", i);
    IT_CHECK(kw_produce(p, topic, 0, NULL, 0, v, (size_t)vn, NULL, 0, 0, NULL) == 0, "produce");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);

  /* sync commit, no auto commit */
  member c;
  join(&c, "C", group, topic, "enable.auto.offset.store", "false", "enable.auto.commit", "false", NULL);
  consume_store(&c, topic, 100, 50);
  IT_CHECK(kw_consumer_store_offset(c.c, topic, 7, 1) < 0, "store_offset for a partition not assigned succeeded");
  int rc = kw_consumer_commit(c.c, 10000);
  int64_t committed = -2;
  int rc2 = kw_consumer_committed(c.c, topic, 0, &committed, 10000);
  printf("  sync commit: %s; committed offset %lld\n", kw_strerror(rc), (long long)committed);
  IT_CHECK(rc == 0 && rc2 == 0 && committed == 50, "committed %lld (commit %d, committed %d)", (long long)committed, rc,
           rc2);
  leave(&c);
  member d;
  join(&d, "D", group, topic, NULL);
  int64_t first = consume_store(&d, topic, 50, 0);
  kw_message extra;
  int more = 0;
  for (int64_t end = kw_now_ms() + 1000; kw_now_ms() < end;) more += kw_consumer_poll(d.c, &extra, 100) == 1;
  printf("  a new member starts at offset %lld and gets %d records\n", (long long)first, 50 + more);
  IT_CHECK(first == 50 && more == 0, "new member started at %lld, %d extra records", (long long)first, more);
  leave(&d);

  /* the same with auto commit on: it commits only what was stored, also on close */
  member e;
  join(&e, "E", group2, topic, "enable.auto.offset.store", "false", NULL);
  consume_store(&e, topic, 100, 50);
  member *ms[] = {&e};
  pump_until(ms, 1, NULL, NULL, 1000); /* several auto commit periods */
  committed = -2;
  rc2 = kw_consumer_committed(e.c, topic, 0, &committed, 10000);
  leave(&e); /* close commits with auto commit: still only the stored offsets */
  member f;
  join(&f, "F", group2, topic, NULL);
  int64_t after_close = -2;
  int rc3 = kw_consumer_committed(f.c, topic, 0, &after_close, 10000);
  printf("  auto commit: committed %lld while running, %lld after close\n", (long long)committed,
         (long long)after_close);
  IT_CHECK(rc2 == 0 && committed == 50, "auto commit committed %lld", (long long)committed);
  IT_CHECK(rc3 == 0 && after_close == 50, "after close: committed %lld", (long long)after_close);
  leave(&f);
}

int main(int argc, char **argv) {
  struct {
    const char *name;
    void (*fn)(void);
  } all[] = {{"static", scenario_static},     {"maxpoll", scenario_maxpoll}, {"sleep", scenario_sleep},
             {"store", scenario_store},       {"longpoll", scenario_longpoll}, {"sleeprb", scenario_sleep_rebalance},
             {"session", scenario_session},   {"slow", scenario_slow}};
  setvbuf(stdout, NULL, _IOLBF, 0);
  char failed[256] = "";
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    bool run = argc < 2;
    for (int k = 1; k < argc; k++) run = run || strcmp(argv[k], all[i].name) == 0;
    if (!run) continue;
    /* each scenario in its own process: a failure (IT_CHECK exits) does not hide the others */
    fflush(stdout);
    fflush(stderr);
    int64_t t0 = kw_now_ms();
    pid_t pid = fork();
    IT_CHECK(pid >= 0, "fork");
    if (pid == 0) {
      all[i].fn();
      fflush(stdout);
      _exit(0);
    }
    int st = 0;
    IT_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("  -> %s %s (%.1f s)\n", all[i].name, ok ? "passed" : "FAILED", (double)(kw_now_ms() - t0) / 1000.0);
    if (!ok) {
      size_t l = strlen(failed);
      snprintf(failed + l, sizeof failed - l, " %s", all[i].name);
    }
  }
  if (failed[0]) {
    fprintf(stderr, "FAIL it_group_edges:%s\n", failed);
    return 1;
  }
  printf("PASS it_group_edges\n");
  return 0;
}
