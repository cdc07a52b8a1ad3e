/* A consumer in assign mode reads back what the producer workload left, from the
 * beginning of every partition, while the cluster keeps failing (connections dropped,
 * answers delayed, brokers crashing, leaders moving: fetch sessions, leader epochs and
 * offset resets all get exercised).
 *
 * What must hold: every record below the high watermark is handed to the application
 * exactly once, in offset order per partition, with the key and value the log holds;
 * nothing is handed out that the log does not hold. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "tests/sim/sim_workloads.h"

#define MAX_PARTS 16

typedef struct logged {
  int64_t offset;
  char value[48];
} logged;

typedef struct part {
  logged *recs; /* the log below the high watermark */
  int n, cap;
  int next;     /* index of the next record the consumer must hand out */
} part;

typedef struct check {
  part parts[MAX_PARTS];
  sim_verdict v;
} check;

static part *walking;

static void keep(void *ud, int64_t offset, const uint8_t *key, int32_t key_len, const uint8_t *value,
                 int32_t value_len) {
  (void)ud, (void)key, (void)key_len;
  part *p = walking;
  if (p->n == p->cap) {
    int cap = p->cap ? 2 * p->cap : 64;
    logged *arr = realloc(p->recs, sizeof *arr * (size_t)cap);
    if (!arr) return;
    p->recs = arr;
    p->cap = cap;
  }
  logged *l = &p->recs[p->n++];
  l->offset = offset;
  snprintf(l->value, sizeof l->value, "%.*s", value_len > 0 ? (int)value_len : 0, value ? (const char *)value : "");
}

static void on_message(check *c, const kw_message *m, int32_t n_parts) {
  if (m->partition < 0 || m->partition >= n_parts) {
    sim_fail(&c->v, "a record from partition %d", (int)m->partition);
    return;
  }
  part *p = &c->parts[m->partition];
  if (p->next >= p->n)
    {
    sim_fail(&c->v, "[%d] offset %lld handed out past the log's end (%d records)", (int)m->partition,
                (long long)m->offset, p->n);
    return;
  }
  const logged *want = &p->recs[p->next];
  char v[48];
  snprintf(v, sizeof v, "%.*s", m->value ? (int)m->value_len : 0, m->value ? (const char *)m->value : "");
  if (m->offset != want->offset || strcmp(v, want->value) != 0)
    {
    sim_fail(&c->v, "[%d] handed out offset %lld \"%s\", the log's next is %lld \"%s\"", (int)m->partition,
                (long long)m->offset, v, (long long)want->offset, want->value);
    return;
  }
  p->next++;
}

int sim_consumer_workload(kw_sim *s, const char *topic, int32_t n_parts, bool trace, char *why, size_t whylen) {
  check *c = calloc(1, sizeof *c);
  if (!c) return snprintf(why, whylen, "out of memory"), 1;
  c->v = (sim_verdict){why, whylen, false};
  int total = 0;
  for (int32_t i = 0; i < n_parts && i < MAX_PARTS; i++) {
    walking = &c->parts[i];
    if (kw_sim_read_log(s, topic, i, keep, NULL)) sim_fail(&c->v, "reading the log of [%d]", (int)i);
    total += c->parts[i].n;
  }
  kw_config *conf = sim_client_config(s, trace);
  char err[256];
  kw_config_set(conf, "bootstrap.servers", kw_sim_bootstrap(s), err, sizeof err);
  kw_config_set(conf, "request.timeout.ms", "5000", err, sizeof err);
  kw_config_set(conf, "fetch.wait.max.ms", "100", err, sizeof err);
  if (trace) kw_config_set(conf, "debug", "all", err, sizeof err);
  sim_mem mem;
  sim_mem_init(&mem);
  kw_config_set_mem(conf, &mem.mem);
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!cl) sim_fail(&c->v, "consumer: %s", err);
  for (int32_t i = 0; cl && i < n_parts; i++) kw_consumer_assign(cl, topic, i, KW_OFFSET_BEGINNING);
  int got = 0;
  int64_t end = kw_sim_now(s) + 120000; /* virtual */
  while (cl && !c->v.bad && got < total && kw_sim_now(s) < end) {
    kw_message m;
    int rc = kw_consumer_poll(cl, &m, 100);
    if (rc != 1 || m.err) continue; /* error events: the fetcher recovers on its own */
    on_message(c, &m, n_parts);
    got++;
  }
  if (!c->v.bad && got < total) sim_fail(&c->v, "the consumer got %d of %d records in 120 s (virtual)", got, total);
  if (cl) kw_client_destroy(cl);
  if (cl && mem.live) sim_fail(&c->v, "the destroyed consumer still holds %zu bytes", mem.live);
  if (mem.peak > SIM_MEM_BOUND) sim_fail(&c->v, "the consumer held %zu bytes at its peak", mem.peak);
  for (int i = 0; i < MAX_PARTS; i++) free(c->parts[i].recs);
  int bad = c->v.bad;
  free(c);
  return bad;
}
