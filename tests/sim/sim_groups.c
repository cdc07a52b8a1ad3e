/* A consumer group under faults: three members (classic range, classic
 * cooperative-sticky or KIP-848, by seed) read a topic the producer workload filled,
 * process each record, store its offset and commit after success (the event-driven
 * pattern). Meanwhile a member leaves and a new one joins, and one member stops polling
 * past its session timeout (it is expelled, then comes back).
 *
 * What must hold:
 * - every record below the high watermark is handed to some member (at least once);
 * - nothing is handed to a member for a partition it does not own (between its
 *   ASSIGNED and its REVOKED/LOST callback);
 * - a partition's committed offset never goes backwards;
 * - at the end the group has committed every partition up to its high watermark. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "tests/sim/sim_workloads.h"

#define N_MEMBERS 3
#define MAX_PARTS 16
#define MAX_RECS 4096
#define GROUP "pipeline"

typedef struct member {
  kw_client *c;
  bool owns[MAX_PARTS];
  bool paused; /* not polled: the session runs out */
  int handled;
  int64_t next_commit;
  struct groups *g;
  int index;
} member;

typedef struct groups {
  kw_sim *s;
  const char *topic;
  int32_t n_parts;
  int64_t hw[MAX_PARTS];
  int64_t committed[MAX_PARTS]; /* the largest seen, -1 none */
  unsigned char seen[MAX_PARTS][MAX_RECS];
  member m[N_MEMBERS + 1];
  const char *protocol, *strategy;
  bool trace;
  sim_verdict v;
} groups;

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  member *m = ud;
  for (int i = 0; i < n; i++) {
    if (tps[i].partition < 0 || tps[i].partition >= MAX_PARTS) continue;
    bool *own = &m->owns[tps[i].partition];
    if (kind == KW_REBALANCE_ASSIGNED && *own)
      sim_fail(&m->g->v, "member %d assigned [%d] it already owns", m->index, (int)tps[i].partition);
    if (kind != KW_REBALANCE_ASSIGNED && !*own)
      sim_fail(&m->g->v, "member %d gave up [%d] it did not own", m->index, (int)tps[i].partition);
    *own = kind == KW_REBALANCE_ASSIGNED;
  }
}

static void join(groups *g, member *m, int index) {
  kw_config *conf = sim_client_config(g->s, g->trace);
  char err[256];
  const char *kv[][2] = {{"bootstrap.servers", kw_sim_bootstrap(g->s)},
                         {"group.id", GROUP},
                         {"group.protocol", g->protocol},
                         {"partition.assignment.strategy", g->strategy},
                         {"auto.offset.reset", "earliest"},
                         {"enable.auto.commit", "false"},
                         {"enable.auto.offset.store", "false"},
                         {"session.timeout.ms", "6000"},
                         {"heartbeat.interval.ms", "500"},
                         {"request.timeout.ms", "5000"},
                         {"fetch.wait.max.ms", "100"},
                         {"debug", g->trace && (!getenv("KW_SIM_MEMBER") || atoi(getenv("KW_SIM_MEMBER")) == index) ? "all" : ""}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (*kv[i][1] && kw_config_set(conf, kv[i][0], kv[i][1], err, sizeof err) != 0 &&
        strcmp(kv[i][0], "partition.assignment.strategy") != 0)
      sim_fail(&g->v, "config %s: %s", kv[i][0], err);
  memset(m, 0, sizeof *m);
  m->g = g;
  m->index = index;
  m->c = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!m->c) {
    sim_fail(&g->v, "consumer: %s", err);
    return;
  }
  kw_consumer_set_rebalance_cb(m->c, on_rebalance, m);
  const char *topics[] = {g->topic};
  kw_consumer_subscribe(m->c, topics, 1);
}

static void leave(member *m) {
  if (!m->c) return;
  kw_consumer_close(m->c, 2000);
  kw_client_destroy(m->c);
  m->c = NULL;
}

/* One member's turn: what is there to read, handled, stored, committed (async). */
static void turn(groups *g, member *m) {
  kw_message msg;
  int got = 0;
  while (m->c && !m->paused && got < 50 && kw_consumer_poll(m->c, &msg, 0) == 1) {
    if (msg.err) continue;
    int32_t p = msg.partition;
    if (p < 0 || p >= g->n_parts || msg.offset < 0 || msg.offset >= MAX_RECS) {
      sim_fail(&g->v, "record out of range");
      return;
    }
    if (!m->owns[p]) {
      sim_fail(&g->v, "member %d was handed [%d] offset %lld, a partition it does not own", m->index, (int)p,
           (long long)msg.offset);
      return;
    }
    g->seen[p][msg.offset] = 1;
    kw_consumer_store_offset(m->c, msg.topic, p, msg.offset + 1);
    m->handled++;
    got++;
  }
  /* commit after success, and again now and then: an async commit that failed (a
   * rebalance, a stale epoch) is retried by the next one, as an application does */
  if (m->c && !m->paused && (got || kw_sim_now(g->s) >= m->next_commit)) {
    kw_consumer_commit(m->c, 0);
    m->next_commit = kw_sim_now(g->s) + 1000;
  }
}

static void watch_commits(groups *g) {
  for (int32_t p = 0; p < g->n_parts; p++) {
    int64_t c = kw_sim_committed(g->s, GROUP, g->topic, p);
    if (c < g->committed[p] && c >= 0)
      sim_fail(&g->v, "[%d] committed offset went back from %lld to %lld", (int)p, (long long)g->committed[p], (long long)c);
    if (c > g->committed[p]) g->committed[p] = c;
  }
}

static void count_hw(void *ud, int64_t offset, const uint8_t *k, int32_t kl, const uint8_t *v, int32_t vl) {
  (void)k, (void)kl, (void)v, (void)vl;
  int64_t *hw = ud;
  if (offset + 1 > *hw) *hw = offset + 1;
}

static bool all_done(groups *g) {
  for (int32_t p = 0; p < g->n_parts; p++) {
    if (g->hw[p] > 0 && g->committed[p] < g->hw[p]) return false; /* an empty partition has nothing to commit */
    for (int64_t o = 0; o < g->hw[p]; o++)
      if (!g->seen[p][o]) return false;
  }
  return true;
}

static void script(groups *g, int64_t t0, int64_t now) {
  int64_t at = now - t0;
  if (at >= 3000 && g->m[0].c && !g->m[N_MEMBERS].c) { /* a member leaves, a new one joins */
    leave(&g->m[0]);
    join(g, &g->m[N_MEMBERS], N_MEMBERS);
  }
  g->m[1].paused = at >= 5000 && at < 14000; /* past session.timeout.ms: expelled, then back */
}

int sim_group_workload(kw_sim *s, const char *topic, int32_t n_parts, uint64_t seed, bool trace, char *why,
                       size_t whylen) {
  groups *g = calloc(1, sizeof *g);
  if (!g) return snprintf(why, whylen, "out of memory"), 1;
  *g = (groups){.s = s, .topic = topic, .n_parts = n_parts < MAX_PARTS ? n_parts : MAX_PARTS, .trace = trace,
                .v = {why, whylen, false}};
  static const char *const kinds[][2] = {{"classic", "range"}, {"classic", "cooperative-sticky"}, {"consumer", "range"}};
  g->protocol = kinds[seed % 3][0];
  g->strategy = kinds[seed % 3][1];
  for (int32_t p = 0; p < g->n_parts; p++) {
    kw_sim_read_log(s, topic, p, count_hw, &g->hw[p]);
    g->committed[p] = -1;
  }
  for (int i = 0; i < N_MEMBERS; i++) join(g, &g->m[i], i);
  int64_t t0 = kw_sim_now(s), end = t0 + 120000;
  while (!g->v.bad && kw_sim_now(s) < end && !all_done(g)) {
    script(g, t0, kw_sim_now(s));
    for (int i = 0; i <= N_MEMBERS; i++) turn(g, &g->m[i]);
    watch_commits(g);
    kw_sim_advance(s, kw_sim_now(s) + 10);
  }
  if (!g->v.bad && !all_done(g)) {
    int32_t p = 0;
    while (p < g->n_parts && (g->hw[p] == 0 || g->committed[p] >= g->hw[p])) p++;
    sim_fail(&g->v, "%s/%s: after 120 s (virtual) [%d] is committed at %lld of %lld", g->protocol, g->strategy,
         (int)(p < g->n_parts ? p : 0), (long long)g->committed[p < g->n_parts ? p : 0],
         (long long)g->hw[p < g->n_parts ? p : 0]);
  }
  for (int i = 0; i <= N_MEMBERS; i++) leave(&g->m[i]);
  int bad = g->v.bad;
  free(g);
  return bad;
}
