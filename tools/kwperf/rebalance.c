/* kwperf rebalance: the rebalance time of a 3-member kwire consumer group, under the
 * same scenario code as bench/rdkafka_perf's (perf_rebalance_run in perf_common.c).
 *
 * Three kw_client consumers of one group live in this one process and thread (kwire has
 * no threads of its own): each turn polls every member with kw_consumer_poll(..., slice)
 * (2 ms by default); the rebalance callback of each reports its partitions to the shared
 * tracker, which decides when the group is balanced. --loop fds runs them instead as an
 * application's event loop would: one poll() over all their sockets (k_poll_all, through
 * kwperf_poll_clients). The topic is expected to be empty: what is timed is the group
 * protocol, not fetching. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "perf_common.h"
#include "poll_clients.h"

typedef struct kmember {
  kw_client *cl;
  perf_rb *rb;
  int member;
  const char *topic;
  int32_t parts[PERF_RB_MAX_PARTS];
} kmember;

static void on_error(void *ud, int err, const char *reason) {
  kmember *m = ud;
  fprintf(stderr, "kwperf: member %d: client error %s: %s\n", m->member + 1, kw_errname(err), reason);
}

static void set(kw_config *c, const char *k, const char *v) {
  char err[256];
  if (kw_config_set(c, k, v, err, sizeof err) < 0) {
    fprintf(stderr, "kwperf: %s\n", err);
    exit(2);
  }
}

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  kmember *m = ud;
  int k = 0;
  for (int i = 0; i < n && k < PERF_RB_MAX_PARTS; i++)
    if (strcmp(tps[i].topic, m->topic) == 0) m->parts[k++] = tps[i].partition;
  perf_rb_event(m->rb, m->member, kind, m->parts, k);
}

static kw_config *rb_config(const perf_opts *o, const char *group, int member) {
  kw_config *conf = kw_config_new();
  if (!conf) exit(1);
  char id[64];
  snprintf(id, sizeof id, "kwperf-rb-%d", member + 1);
  set(conf, "bootstrap.servers", o->brokers);
  set(conf, "client.id", id);
  set(conf, "group.id", group);
  set(conf, "group.protocol", o->protocol);
  if (strcmp(o->protocol, "classic") == 0) {
    set(conf, "partition.assignment.strategy", o->strategy);
    /* kwire's defaults, set so that the figures say what they ran with (with the
     * consumer protocol the broker decides: group.consumer.heartbeat.interval.ms). */
    set(conf, "heartbeat.interval.ms", "3000");
    set(conf, "session.timeout.ms", "45000");
  }
  for (int i = 0; i < o->n_props; i++) set(conf, o->props[i][0], o->props[i][1]);
  return conf;
}

static void *k_create(const perf_opts *o, const char *group, int member, perf_rb *rb) {
  kmember *m = calloc(1, sizeof *m);
  if (!m) exit(1);
  m->rb = rb;
  m->member = member;
  m->topic = o->topic;
  kw_config *conf = rb_config(o, group, member);
  char err[256];
  m->cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!m->cl) {
    fprintf(stderr, "kwperf: member %d: %s\n", member + 1, err);
    exit(1);
  }
  kw_client_set_error_cb(m->cl, on_error, m);
  kw_consumer_set_rebalance_cb(m->cl, on_rebalance, m);
  return m;
}

static int k_subscribe(void *p) {
  kmember *m = p;
  const char *topics[1] = {m->topic};
  int e = kw_consumer_subscribe(m->cl, topics, 1);
  if (e < 0) fprintf(stderr, "kwperf: member %d: subscribe: %s\n", m->member + 1, kw_strerror(e));
  return e < 0 ? e : 0;
}

static int k_poll(void *p, int timeout_ms) {
  kmember *m = p;
  kw_message msg;
  int r = kw_consumer_poll(m->cl, &msg, timeout_ms); /* a record (the topic should be empty) is dropped */
  if (r < 0) fprintf(stderr, "kwperf: member %d: poll: %s\n", m->member + 1, kw_strerror(r));
  return r < 0 ? r : 0;
}

/* --loop fds: the members as one event loop would run them. Each member's consumer poll
 * (timeout 0: hands out records, counts as a poll for max.poll.interval.ms) and a step
 * for timers and sends, then one poll() over every member's sockets until the earliest
 * deadline (at most timeout_ms), then a step of each member with what is ready. */
static int k_poll_all(void *const *ms, const bool *open, int n, int timeout_ms) {
  kw_client *cls[PERF_RB_MEMBERS] = {NULL};
  for (int i = 0; i < n && i < PERF_RB_MEMBERS; i++) {
    if (!open[i]) continue;
    kmember *m = ms[i];
    kw_message msg;
    int r = kw_consumer_poll(m->cl, &msg, 0);
    if (r < 0) {
      fprintf(stderr, "kwperf: member %d: poll: %s\n", m->member + 1, kw_strerror(r));
      return r;
    }
    kw_client_step(m->cl, NULL, 0);
    cls[i] = m->cl;
  }
  int r = kwperf_poll_clients(cls, n < PERF_RB_MEMBERS ? n : PERF_RB_MEMBERS, timeout_ms);
  if (r < 0) fprintf(stderr, "kwperf: poll: %s\n", kw_strerror(r));
  return r;
}

static void k_close(void *p) {
  kmember *m = p;
  int e = kw_consumer_close(m->cl, 10000);
  if (e < 0) fprintf(stderr, "kwperf: member %d: close: %s\n", m->member + 1, kw_strerror(e));
}

static void k_destroy(void *p) {
  kmember *m = p;
  kw_client_destroy(m->cl);
  free(m);
}

/* The topic's partitions, from a short-lived client (not timed). */
static int k_partitions(const perf_opts *o) {
  kw_config *conf = kw_config_new();
  if (!conf) exit(1);
  set(conf, "bootstrap.servers", o->brokers);
  set(conf, "allow.auto.create.topics", "false");
  char err[256];
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!cl) {
    fprintf(stderr, "kwperf: %s\n", err);
    exit(1);
  }
  int n = 0;
  int64_t give_up = perf_now_ns() + 15000000000LL; /* a topic just created may have no leader yet */
  for (; n < PERF_RB_MAX_PARTS + 1; n++) {
    int64_t lo, hi;
    int e = kw_consumer_watermarks(cl, o->topic, n, &lo, &hi, 15000);
    if (e == KW_ERR_UNKNOWN_PARTITION) break;
    if (e < 0 && perf_now_ns() < give_up) {
      kw_client_poll(cl, 200);
      n--;
      continue;
    }
    if (e < 0) {
      fprintf(stderr, "kwperf: watermarks of %s [%d]: %s\n", o->topic, n, kw_strerror(e));
      exit(1);
    }
  }
  kw_client_destroy(cl);
  return n;
}

int kwperf_rebalance(const perf_opts *o) {
  int n_parts = k_partitions(o);
  kw_config *conf = rb_config(o, "kwperf-settings", 0);
  char settings[512] = "", v[128];
  static const char *shown[] = {"group.protocol",     "partition.assignment.strategy", "heartbeat.interval.ms",
                                "session.timeout.ms", "max.poll.interval.ms",          "enable.auto.commit"};
  for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
    if (kw_config_get(conf, shown[i], v, sizeof v) < 0) continue;
    size_t at = strlen(settings);
    snprintf(settings + at, sizeof settings - at, "%s%s=%s", at ? " " : "", shown[i], v);
  }
  kw_config_free(conf);
  static const perf_rb_ops ops = {k_create, k_subscribe, k_poll, k_poll_all, k_close, k_destroy};
  return perf_rebalance_run(o, &ops, n_parts, "kwire", kw_version(), settings);
}
