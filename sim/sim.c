/* kwsim: the simulator itself. One seed, one PRNG (splitmix64), virtual time, the
 * cluster's brokers and topics, and the loop that runs them. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_int.h"

static const char *const fault_names[KW_SIM_N_FAULTS] = {
    "drop-before", "drop-after", "delay", "short-io", "connect-fail",
    "error",       "crash",      "election", "coordinator-move", "stale-metadata", "throttle"};

const char *kw_sim_fault_name(enum kw_sim_fault f) {
  return f >= 0 && f < KW_SIM_N_FAULTS ? fault_names[f] : "unknown";
}

uint64_t sim_rand(kw_sim *s) {
  uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t sim_rand_below(kw_sim *s, uint64_t n) { return n ? sim_rand(s) % n : 0; }

bool sim_fault(kw_sim *s, enum kw_sim_fault f) {
  uint32_t ppm = s->cfg.fault_ppm[f];
  if (!ppm || sim_rand_below(s, 1000000) >= ppm) return false;
  s->stats.faults[f]++;
  sim_trace(s, "fault %s", fault_names[f]);
  return true;
}

void sim_trace(kw_sim *s, const char *fmt, ...) {
  if (!s->cfg.trace) return;
  fprintf(s->cfg.trace, "[%lld] ", (long long)s->now);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(s->cfg.trace, fmt, ap);
  va_end(ap);
  fputc('\n', s->cfg.trace);
}

kw_sim *kw_sim_new(const kw_sim_config *cfg) {
  kw_sim *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  if (s->cfg.n_brokers <= 0) s->cfg.n_brokers = 1;
  if (s->cfg.n_brokers > KW_SIM_MAX_BROKERS) s->cfg.n_brokers = KW_SIM_MAX_BROKERS;
  if (!s->cfg.start_ms) s->cfg.start_ms = 1000000;
  if (!s->cfg.latency_ms) s->cfg.latency_ms = 1;
  if (!s->cfg.delay_ms) s->cfg.delay_ms = 35000;
  if (!s->cfg.crash_ms) s->cfg.crash_ms = 3000;
  if (!s->cfg.tick_ms) s->cfg.tick_ms = 5;
  s->rng = cfg->seed;
  s->now = s->cfg.start_ms;
  s->wall_offset = 1767225600000ll - s->now; /* 2026-01-01: a fixed date, as the run must not depend on today */
  s->next_tick = s->now;
  s->n_brokers = s->cfg.n_brokers;
  s->next_producer_id = 1000;
  size_t at = 0;
  for (int i = 1; i <= s->n_brokers; i++) {
    s->brokers[i] = (sim_broker){.node = i, .up = true, .listen_fd = -1};
    snprintf(s->brokers[i].name, sizeof s->brokers[i].name, "sim-%d", i);
    at += (size_t)snprintf(s->bootstrap + at, sizeof s->bootstrap - at, "%s%s:9092", i > 1 ? "," : "", s->brokers[i].name);
  }
  kw_arena_init(&s->arena, NULL, 0);
  return s;
}

void kw_sim_free(kw_sim *s) {
  if (!s) return;
  sim_loop_free(s);
  sim_net_free(s);
  sim_inject_free(s);
  sim_groups_free(s);
  sim_fetch_free(s);
  sim_log_free(s);
  for (int i = 0; i < s->n_topics; i++) sim_log_free_topic(s, s->topics[i]);
  free(s->topics);
  kw_arena_reset(&s->arena);
  free(s);
}

void kw_sim_install(kw_sim *s) {
  static kw_sim *installed;
  if (installed) sim_net_install(installed, false);
  installed = s;
  if (s) sim_net_install(s, true);
}

const char *kw_sim_bootstrap(const kw_sim *s) { return s->bootstrap; }
int64_t kw_sim_now(const kw_sim *s) { return s->now; }
kw_sim_stats kw_sim_get_stats(const kw_sim *s) { return s->stats; }
void kw_sim_set_fault(kw_sim *s, enum kw_sim_fault f, uint32_t ppm) {
  if (f >= 0 && f < KW_SIM_N_FAULTS) s->cfg.fault_ppm[f] = ppm;
}

sim_topic *sim_topic_find(kw_sim *s, const char *name, size_t len) {
  for (int i = 0; i < s->n_topics; i++)
    if (strlen(s->topics[i]->name) == len && memcmp(s->topics[i]->name, name, len) == 0) return s->topics[i];
  return NULL;
}

sim_topic *sim_topic_by_id(kw_sim *s, const kw_uuid *id) {
  for (int i = 0; i < s->n_topics; i++)
    if (memcmp(&s->topics[i]->id, id, sizeof *id) == 0) return s->topics[i];
  return NULL;
}

int kw_sim_create_topic(kw_sim *s, const char *name, int32_t partitions, int replication) {
  if (!name || !*name || partitions <= 0) return KW_ERR_INVALID_ARG;
  if (sim_topic_find(s, name, strlen(name))) return KW_ERR_STATE;
  if (replication <= 0) replication = s->n_brokers < 3 ? s->n_brokers : 3;
  if (replication > s->n_brokers) return KW_ERR_INVALID_ARG;
  sim_topic **arr = realloc(s->topics, sizeof *arr * (size_t)(s->n_topics + 1));
  if (!arr) return KW_ERR_NOMEM;
  s->topics = arr;
  sim_topic *t = sim_log_new_topic(s, name, partitions, replication);
  if (!t) return KW_ERR_NOMEM;
  s->topics[s->n_topics++] = t;
  sim_trace(s, "topic %s created: %d partitions, replication %d", name, partitions, replication);
  return KW_OK;
}

void kw_sim_crash_broker(kw_sim *s, int32_t node) {
  if (node < 1 || node > s->n_brokers || !s->brokers[node].up) return;
  sim_trace(s, "broker %d crashes", node);
  s->brokers[node].up = false;
  s->brokers[node].restart_at = s->now + s->cfg.crash_ms;
  sim_net_break_node(s, node);
  sim_fetch_forget_node(s, node);
  sim_log_crash(s, node);
}

int kw_sim_stop_broker(kw_sim *s, int32_t node) {
  if (node < 1 || node > s->n_brokers) return KW_ERR_INVALID_ARG;
  kw_sim_crash_broker(s, node);
  s->brokers[node].restart_at = INT64_MAX; /* until kw_sim_start_broker */
  return KW_OK;
}

static void restart(kw_sim *s, int32_t node) {
  sim_trace(s, "broker %d restarts", node);
  s->brokers[node].up = true;
  sim_log_restart(s, node);
}

int kw_sim_start_broker(kw_sim *s, int32_t node) {
  if (node < 1 || node > s->n_brokers) return KW_ERR_INVALID_ARG;
  if (!s->brokers[node].up) restart(s, node);
  return KW_OK;
}

void kw_sim_move_leader(kw_sim *s, const char *topic, int32_t partition) {
  sim_topic *t = sim_topic_find(s, topic, strlen(topic));
  if (t && partition >= 0 && partition < t->n_parts) sim_log_elect(s, t, &t->parts[partition]);
}

/* The background: brokers that come back, replication, group timers, and the faults
 * that are not tied to a request. */
static void tick(kw_sim *s) {
  for (int i = 1; i <= s->n_brokers; i++)
    if (!s->brokers[i].up && s->now >= s->brokers[i].restart_at) restart(s, i);
  int up = 0;
  for (int i = 1; i <= s->n_brokers; i++) up += s->brokers[i].up;
  /* Never the last broker up: a run with no cluster at all proves nothing. */
  if (up > 1 && sim_fault(s, KW_SIM_CRASH)) {
    int32_t node = 1 + (int32_t)sim_rand_below(s, (uint64_t)s->n_brokers);
    kw_sim_crash_broker(s, node);
  }
  if (s->n_topics > 0 && sim_fault(s, KW_SIM_ELECTION)) {
    sim_topic *t = s->topics[sim_rand_below(s, (uint64_t)s->n_topics)];
    sim_log_elect(s, t, &t->parts[sim_rand_below(s, (uint64_t)t->n_parts)]);
  }
  if (sim_fault(s, KW_SIM_COORD_MOVE)) sim_groups_move_coordinator(s);
  sim_log_tick(s);
  sim_groups_tick(s);
}

void sim_step(kw_sim *s) {
  if (s->now >= s->next_tick) {
    tick(s);
    s->next_tick = s->now + s->cfg.tick_ms;
  }
  sim_net_step(s);
}

int64_t sim_next_event(kw_sim *s) {
  int64_t n = sim_net_next_event(s);
  return n < s->next_tick ? n : s->next_tick;
}

void kw_sim_advance(kw_sim *s, int64_t until) {
  for (;;) {
    sim_step(s);
    int64_t next = sim_next_event(s);
    if (next > until) break;
    if (next > s->now) s->now = next;
  }
  if (until > s->now) s->now = until;
}
