/* The idempotent producer against a faulty simulated cluster: keyed records (ten keys,
 * each with its own running sequence), acks=all, produced a few at a time while the
 * cluster drops connections, delays answers, crashes brokers and moves leaders.
 *
 * What must hold at the end (Kafka's system tests' ProduceConsumeValidate, exhaustive):
 * - every record gets exactly one delivery report;
 * - a record reported delivered is in its partition's log exactly once, at the offset
 *   the report gave;
 * - no record is in any log twice (idempotence);
 * - per key, the records in the log keep the order they were produced in;
 * - a record reported failed is not in the log, unless the report says its outcome is
 *   unknown (KW_ERR_TIMED_OUT: the broker may have taken it). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "tests/sim/sim_workloads.h"

#define N_RECORDS 200
#define N_KEYS 10
#define N_PARTS 4
#define TOPIC "orders"

typedef struct rec_state {
  int reports;
  int err;
  int32_t partition;
  int64_t offset;
  int in_log;          /* times found in the logs */
  int32_t log_partition;
  int64_t log_offset;
} rec_state;

typedef struct run {
  sim_mem mem;
  rec_state rec[N_RECORDS];
  int last_seq[N_PARTS][N_KEYS]; /* the last key sequence met while walking a log */
  int32_t walking;               /* the partition being walked */
  sim_verdict v;
} run;

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  run *r = ud;
  int i = (int)(intptr_t)dr->opaque;
  if (i < 0 || i >= N_RECORDS) {
    sim_fail(&r->v, "a delivery report for an unknown record %d", i);
    return;
  }
  rec_state *x = &r->rec[i];
  x->reports++;
  x->err = dr->err;
  x->partition = dr->partition;
  x->offset = dr->offset;
}

/* Values are "key:seq:i". */
static void on_log_record(void *ud, int64_t offset, const uint8_t *key, int32_t key_len, const uint8_t *value,
                          int32_t value_len) {
  run *r = ud;
  (void)key, (void)key_len;
  char v[64];
  snprintf(v, sizeof v, "%.*s", value_len > 0 ? (int)value_len : 0, value ? (const char *)value : "");
  int k, seq, i;
  if (sscanf(v, "%d:%d:%d", &k, &seq, &i) != 3 || k < 0 || k >= N_KEYS || i < 0 || i >= N_RECORDS) {
    sim_fail(&r->v, "a record in the log that nobody produced: \"%s\" at %lld", v, (long long)offset);
    return;
  }
  rec_state *x = &r->rec[i];
  if (x->in_log++) {
    sim_fail(&r->v, "record %d is in the log twice: %s [%d] at %lld and %s [%d] at %lld", i, TOPIC, (int)x->log_partition,
         (long long)x->log_offset, TOPIC, (int)r->walking, (long long)offset);
    return;
  }
  x->log_partition = r->walking;
  x->log_offset = offset;
  if (seq <= r->last_seq[r->walking][k])
    sim_fail(&r->v, "key %d out of order in %s [%d]: sequence %d at offset %lld after %d", k, TOPIC, (int)r->walking, seq,
         (long long)offset, r->last_seq[r->walking][k]);
  r->last_seq[r->walking][k] = seq;
}

static kw_client *new_producer(kw_sim *s, bool trace, run *r) {
  kw_config *conf = sim_client_config(s, trace);
  char err[256];
  const char *kv[][2] = {{"bootstrap.servers", kw_sim_bootstrap(s)},
                         {"enable.idempotence", getenv("KW_SIM_NO_IDEMPOTENCE") ? "false" : "true"},
                         {"acks", "all"},
                         {"linger.ms", "5"},
                         {"request.timeout.ms", "5000"},
                         {"delivery.timeout.ms", "60000"},
                         {"socket.connection.setup.timeout.ms", "2000"},
                         {"debug", trace ? "all" : ""}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (*kv[i][1] && kw_config_set(conf, kv[i][0], kv[i][1], err, sizeof err) != 0) {
      sim_fail(&r->v, "config %s: %s", kv[i][0], err);
      kw_config_free(conf);
      return NULL;
    }
  sim_mem_init(&r->mem);
  kw_config_set_mem(conf, &r->mem.mem);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!p) sim_fail(&r->v, "producer: %s", err);
  else kw_client_set_delivery_cb(p, on_delivery, r);
  return p;
}

static void check(kw_sim *s, run *r) {
  for (int32_t p = 0; p < N_PARTS && !r->v.bad; p++) {
    r->walking = p;
    for (int k = 0; k < N_KEYS; k++) r->last_seq[p][k] = -1;
    int err = kw_sim_read_log(s, TOPIC, p, on_log_record, r);
    if (err) sim_fail(&r->v, "reading %s [%d]: %s", TOPIC, (int)p, kw_strerror(err));
  }
  for (int i = 0; i < N_RECORDS && !r->v.bad; i++) {
    rec_state *x = &r->rec[i];
    if (x->reports != 1) sim_fail(&r->v, "record %d got %d delivery reports", i, x->reports);
    else if (!x->err && !x->in_log)
      sim_fail(&r->v, "record %d was reported delivered at %s [%d] %lld but is not in the log", i, TOPIC, (int)x->partition,
           (long long)x->offset);
    else if (!x->err && (x->log_partition != x->partition || x->log_offset != x->offset))
      sim_fail(&r->v, "record %d was reported at %s [%d] %lld, the log has it at [%d] %lld", i, TOPIC, (int)x->partition,
           (long long)x->offset, (int)x->log_partition, (long long)x->log_offset);
    else if (x->err && x->err != KW_ERR_TIMED_OUT && x->in_log)
      sim_fail(&r->v, "record %d was reported failed (%s) but is in the log at [%d] %lld", i, kw_errname(x->err),
           (int)x->log_partition, (long long)x->log_offset);
  }
}

int sim_producer_workload(kw_sim *s, bool trace, sim_totals *totals, char *why, size_t whylen) {
  run *r = calloc(1, sizeof *r);
  if (!r) return snprintf(why, whylen, "out of memory"), 1;
  r->v = (sim_verdict){why, whylen, false};
  if (kw_sim_create_topic(s, TOPIC, N_PARTS, 0) != 0) sim_fail(&r->v, "create topic");
  kw_client *p = r->v.bad ? NULL : new_producer(s, trace, r);
  int seq[N_KEYS] = {0};
  for (int i = 0; p && i < N_RECORDS && !r->v.bad; i++) {
    int k = i % N_KEYS;
    char key[8], value[32];
    int kl = snprintf(key, sizeof key, "k%d", k), vl = snprintf(value, sizeof value, "%d:%d:%d", k, seq[k]++, i);
    int rc = kw_produce(p, TOPIC, KW_PARTITION_UA, key, (size_t)kl, value, (size_t)vl, NULL, 0, 0, (void *)(intptr_t)i);
    if (rc) sim_fail(&r->v, "kw_produce of record %d: %s", i, kw_strerror(rc));
    if (i % 10 == 9) kw_client_poll(p, 50); /* a few at a time, while virtual time moves */
  }
  if (p && !r->v.bad) kw_client_flush(p, 300000);
  int unreported = 0;
  for (int i = 0; i < N_RECORDS; i++) unreported += r->rec[i].reports == 0;
  if (p) kw_client_destroy(p); /* reports the rest as KW_ERR_DESTROYED */
  if (p && r->mem.live) sim_fail(&r->v, "the destroyed producer still holds %zu bytes", r->mem.live);
  if (r->mem.peak > SIM_MEM_BOUND) sim_fail(&r->v, "the producer held %zu bytes at its peak", r->mem.peak);
  if (!r->v.bad && unreported) sim_fail(&r->v, "%d records had no delivery report after a flush of 300 s (virtual)", unreported);
  if (!r->v.bad) check(s, r);
  for (int i = 0; i < N_RECORDS; i++) {
    totals->acked += r->rec[i].reports && !r->rec[i].err;
    totals->failed += r->rec[i].reports && r->rec[i].err;
  }
  int bad = r->v.bad;
  free(r);
  return bad;
}

int sim_run_seed(const kw_sim_config *cfg, bool trace, sim_totals *totals, kw_sim_stats *st, char *why, size_t whylen) {
  kw_sim *s = kw_sim_new(cfg);
  if (!s) return snprintf(why, whylen, "out of memory"), 1;
  kw_sim_install(s);
  int rc = sim_producer_workload(s, trace, totals, why, whylen);
  if (!rc) rc = sim_consumer_workload(s, TOPIC, N_PARTS, trace, why, whylen);
  if (!rc) rc = sim_group_workload(s, TOPIC, N_PARTS, cfg->seed, trace, why, whylen);
  if (!rc) rc = sim_router_workload(s, trace, why, whylen);
  kw_sim_install(NULL);
  *st = kw_sim_get_stats(s);
  /* KIP-219: a client told to pause writes nothing on that connection until it ends */
  if (!rc && st->throttle_violations)
    rc = snprintf(why, whylen, "the clients wrote %llu times on connections they were told to pause",
                  (unsigned long long)st->throttle_violations) > 0;
  kw_sim_free(s);
  return rc;
}
