/* rdkafka_perf: the librdkafka baseline for tools/kwperf. Same flags, same measurement
 * and output code (tools/kwperf/perf_common.c is compiled into both), librdkafka's
 * producer underneath: rd_kafka_produce() with a topic handle and RD_KAFKA_MSG_F_COPY
 * (its cheapest path; kwire also copies), dr_msg_cb delivery reports served by
 * rd_kafka_poll(). Built only when librdkafka-dev is installed (bench/CMakeLists.txt).
 *
 *   rdkafka_perf produce -b HOST:PORT -t TOPIC [-n 1000000] [-s 100] [--acks all]
 *                        [--linger 5] [--codec none] [--latency [--floor]] [-X key=value ...]
 *   rdkafka_perf consume -b HOST:PORT -t TOPIC [-n COUNT] [--idle MS] [--api batch|poll]
 *                        [-X key=value ...]
 *   rdkafka_perf rebalance -b HOST:PORT -t TOPIC [--strategy range|cooperative-sticky]
 *                        [--settle 2000] [--slice 2] [--trace] [-X key=value ...]
 *
 * With acks=all it sets enable.idempotence=true, to match kwire's default.
 *
 * consume (as kwperf consume: every partition from the beginning, no group, each value
 * read, clock and CPU from client creation) drives librdkafka one of two ways:
 *   batch (default, the fastest here): the legacy consumer, rd_kafka_consume_start_queue()
 *         for every partition onto one queue, rd_kafka_consume_batch_queue() taking up to
 *         10,000 messages per call (one queue lock per batch, not per message);
 *   poll: the high-level consumer, rd_kafka_assign() + rd_kafka_consumer_poll() one
 *         message per call (group.id set because librdkafka wants one there, but no
 *         subscribe: no join, no rebalance).
 * Both with enable.auto.commit=false and enable.partition.eof=false, and both ask for the
 * topic's metadata before starting (inside the timed span; see rdperf_consume).
 *
 * rebalance (as kwperf rebalance: perf_rebalance_run drives both) runs three high-level
 * consumers of one group in this process, polled in turn with rd_kafka_consumer_poll(rk,
 * slice); their rebalance_cb applies the assignment the way the protocol in use wants it
 * (rd_kafka_assign / rd_kafka_assign(NULL) for eager assignors, incremental_assign /
 * incremental_unassign for COOPERATIVE) and reports it to the shared tracker. librdkafka
 * 2.0.2 has no KIP-848 (group.protocol=consumer). */
#define _POSIX_C_SOURCE 200809L
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "perf_common.h"

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *ud) {
  (void)rk;
  perf_delivered(ud, (long)(intptr_t)m->_private, m->err ? rd_kafka_err2str(m->err) : NULL);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *ud) {
  (void)rk, (void)ud;
  fprintf(stderr, "rdkafka_perf: client error %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
  char err[256];
  if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "rdkafka_perf: %s\n", err);
    exit(2);
  }
}

static void produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const perf_opts *o, long i, long tag) {
  while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)perf_payload(o, i),
                          (size_t)o->size, NULL, 0, (void *)(intptr_t)tag) == -1) {
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      fprintf(stderr, "rdkafka_perf: produce %ld: %s\n", i, rd_kafka_err2str(e));
      exit(1);
    }
    rd_kafka_poll(rk, 10);
  }
}

static int rdperf_consume(const perf_opts *o);
static int rdperf_rebalance(const perf_opts *o);

int main(int argc, char **argv) {
  perf_opts o;
  perf_parse(&o, argc, argv, "rdkafka_perf", "produce consume rebalance");
  if (strcmp(o.command, "consume") == 0) return rdperf_consume(&o);
  if (strcmp(o.command, "rebalance") == 0) return rdperf_rebalance(&o);
  perf_run r;
  perf_run_init(&r, &o);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char num[32];
  set(conf, "bootstrap.servers", o.brokers);
  set(conf, "acks", o.acks);
  snprintf(num, sizeof num, "%d", o.linger_ms);
  set(conf, "linger.ms", num);
  set(conf, "compression.codec", o.codec);
  set(conf, "enable.idempotence", perf_acks_all(&o) ? "true" : "false");
  for (int i = 0; i < o.n_props; i++) set(conf, o.props[i][0], o.props[i][1]);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_opaque(conf, &r);

  char settings[512] = "", v[64];
  static const char *shown[] = {"acks", "linger.ms", "compression.codec", "enable.idempotence", "batch.num.messages",
                                "batch.size", "queue.buffering.max.messages", "queue.buffering.max.kbytes",
                                "max.in.flight.requests.per.connection"};
  for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
    size_t vl = sizeof v;
    if (rd_kafka_conf_get(conf, shown[i], v, &vl) != RD_KAFKA_CONF_OK) continue;
    size_t at = strlen(settings);
    snprintf(settings + at, sizeof settings - at, "%s%s=%s", at ? " " : "", shown[i], v);
  }

  char err[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rdkafka_perf: %s\n", err);
    return 1;
  }
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o.topic, NULL);
  if (!rkt) {
    fprintf(stderr, "rdkafka_perf: topic: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
    return 1;
  }

  /* Warm-up: connections, metadata and the producer id are not part of the figures. */
  for (long i = 0; i < o.warmup; i++) produce_one(rk, rkt, &o, i, -1);
  if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || r.warmup_failed) {
    fprintf(stderr, "rdkafka_perf: warm-up messages not delivered (60 s at most)%s%s\n", r.warmup_failed ? ": " : "",
            r.warmup_failed ? r.first_error : "");
    return 1;
  }

  kwperf_floor *floor = o.floor ? kwperf_floor_open(&o) : NULL;
  if (o.floor && !floor) return 1;
  perf_usage_now(&r.before);
  r.t_first_ns = perf_now_ns();
  if (o.latency) {
    for (long i = 0; i < o.count; i++) {
      if (floor) perf_floor_step(floor, &r); /* outside the message's latency; its CPU is taken off */
      r.sent_ns[i] = perf_now_ns();
      produce_one(rk, rkt, &o, i, i);
      while (r.delivered + r.failed <= i) rd_kafka_poll(rk, 100);
    }
  } else {
    for (long i = 0; i < o.count; i++) {
      produce_one(rk, rkt, &o, i, i);
      if ((i & 1023) == 1023) rd_kafka_poll(rk, 0); /* serve delivery reports */
    }
  }
  rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 300000);
  perf_usage_now(&r.after);
  if (ferr) fprintf(stderr, "rdkafka_perf: flush: %s, %d outstanding\n", rd_kafka_err2str(ferr), rd_kafka_outq_len(rk));
  kwperf_floor_close(floor);
  perf_report(&o, &r, "librdkafka", rd_kafka_version_str(), settings);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return r.failed || ferr ? 1 : 0;
}

/* ---- consume ---- */

#define RD_BATCH 10000

static rd_kafka_conf_t *consume_config(const perf_opts *o) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o->brokers);
  set(conf, "isolation.level", "read_uncommitted"); /* as kwperf consume: same records, no transactions here */
  set(conf, "enable.partition.eof", "false");
  set(conf, "enable.auto.commit", "false");
  for (int i = 0; i < o->n_props; i++) set(conf, o->props[i][0], o->props[i][1]);
  rd_kafka_conf_set_error_cb(conf, on_error);
  return conf;
}

/* Partitions and the records between their watermarks, from a short-lived handle. */
static int rd_discover(const perf_opts *o, long *records) {
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, consume_config(o), err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rdkafka_perf: %s\n", err);
    exit(1);
  }
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 15000) : rd_kafka_last_error();
  if (e || md->topic_cnt != 1 || md->topics[0].err) {
    fprintf(stderr, "rdkafka_perf: metadata of %s: %s\n", o->topic,
            rd_kafka_err2str(e ? e : md->topic_cnt != 1 ? RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC : md->topics[0].err));
    exit(1);
  }
  int n = md->topics[0].partition_cnt;
  *records = 0;
  for (int p = 0; p < n; p++) {
    int64_t lo, hi;
    e = rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hi, 15000);
    if (e) {
      fprintf(stderr, "rdkafka_perf: watermarks of %s [%d]: %s\n", o->topic, p, rd_kafka_err2str(e));
      exit(1);
    }
    *records += (long)(hi - lo);
  }
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return n;
}

/* One message from either API: counted, or an error event. */
static void rd_take(perf_consume *c, rd_kafka_message_t *m) {
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      perf_consume_error(c, m->partition, m->offset, rd_kafka_message_errstr(m));
  } else if (c->msgs < c->expected) {
    perf_consumed(c, m->partition, m->offset, m->payload, m->len);
  }
  rd_kafka_message_destroy(m);
}

/* The idle stop: true once nothing came for idle_ms (the clock only when idle). */
static bool rd_idle(const perf_opts *o, const perf_consume *c, long *seen, int64_t *from) {
  int64_t now = perf_now_ns();
  if (c->msgs != *seen) {
    *seen = c->msgs;
    *from = now;
    return false;
  }
  if (now - *from <= (int64_t)o->idle_ms * 1000000) return false;
  fprintf(stderr, "rdkafka_perf: nothing for %d ms after %ld of %ld messages: stopping\n", o->idle_ms, c->msgs,
          c->expected);
  return true;
}

static int rdperf_consume(const perf_opts *o) {
  const char *api = o->api ? o->api : "batch";
  bool poll_api = strcmp(api, "poll") == 0;
  if (!poll_api && strcmp(api, "batch") != 0) {
    fprintf(stderr, "rdkafka_perf: --api wants batch or poll\n");
    return 2;
  }
  long available;
  int n_parts = rd_discover(o, &available);
  long want = o->count > 0 ? o->count : available;
  if (n_parts <= 0 || want <= 0) {
    fprintf(stderr, "rdkafka_perf: topic %s has no partitions or no records\n", o->topic);
    return 1;
  }
  if (want > available)
    fprintf(stderr, "rdkafka_perf: %ld messages wanted, %ld in the topic now: waiting for the rest (idle stop %d ms)\n",
            want, available, o->idle_ms);

  rd_kafka_conf_t *conf = consume_config(o);
  if (poll_api) {
    char gid[64];
    snprintf(gid, sizeof gid, "rdkafka-perf-%ld", (long)getpid());
    set(conf, "group.id", gid);
  }
  char settings[512] = "", v[64];
  static const char *shown[] = {"isolation.level",         "fetch.min.bytes",
                                "fetch.wait.max.ms",       "fetch.max.bytes",
                                "max.partition.fetch.bytes", "queued.max.messages.kbytes",
                                "queued.min.messages",     "check.crcs"};
  for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
    size_t vl = sizeof v;
    if (rd_kafka_conf_get(conf, shown[i], v, &vl) != RD_KAFKA_CONF_OK) continue;
    size_t at = strlen(settings);
    snprintf(settings + at, sizeof settings - at, "%s%s=%s", at ? " " : "", shown[i], v);
  }

  perf_consume c;
  perf_consume_init(&c, want, n_parts);
  perf_consume_start(&c);
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rdkafka_perf: %s\n", err);
    return 1;
  }
  /* The leaders first (timed: part of the client's start): started before it knows a
   * partition's leader, librdkafka retries the start-offset lookup only after a 500 ms
   * timer, which would make every run start half a second late. */
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t me = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 15000) : rd_kafka_last_error();
  if (me) {
    fprintf(stderr, "rdkafka_perf: metadata: %s\n", rd_kafka_err2str(me));
    return 1;
  }
  rd_kafka_metadata_destroy(md);
  rd_kafka_queue_t *q = NULL;
  if (poll_api) {
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(n_parts);
    for (int p = 0; p < n_parts; p++)
      rd_kafka_topic_partition_list_add(tps, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tps);
    rd_kafka_topic_partition_list_destroy(tps);
    if (e) {
      fprintf(stderr, "rdkafka_perf: assign: %s\n", rd_kafka_err2str(e));
      return 1;
    }
  } else {
    q = rd_kafka_queue_new(rk);
    for (int p = 0; p < n_parts; p++)
      if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q) == -1) {
        fprintf(stderr, "rdkafka_perf: consume_start %s [%d]: %s\n", o->topic, p,
                rd_kafka_err2str(rd_kafka_last_error()));
        return 1;
      }
  }

  long seen = -1;
  int64_t idle_from = 0;
  int rc = 0;
  static rd_kafka_message_t *batch[RD_BATCH];
  while (c.msgs < c.expected) {
    if (poll_api) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
      if (m) rd_take(&c, m);
      else if (rd_idle(o, &c, &seen, &idle_from)) rc = 1;
    } else {
      ssize_t n = rd_kafka_consume_batch_queue(q, 100, batch, RD_BATCH);
      if (n < 0) {
        fprintf(stderr, "rdkafka_perf: consume_batch: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
        rc = 1;
      }
      for (ssize_t i = 0; i < n; i++) rd_take(&c, batch[i]);
      if (n == 0 && rd_idle(o, &c, &seen, &idle_from)) rc = 1;
    }
    if (rc) break;
  }
  perf_consume_report(o, &c, "librdkafka", rd_kafka_version_str(),
                      poll_api ? "rd_kafka_consumer_poll" : "rd_kafka_consume_batch_queue", settings);
  if (poll_api) {
    rd_kafka_consumer_close(rk);
  } else {
    for (int p = 0; p < n_parts; p++) rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(q);
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return rc || c.errors || c.order_errors ? 1 : 0;
}

/* ---- rebalance ---- */

typedef struct rmember {
  rd_kafka_t *rk;
  perf_rb *rb;
  int member;
  const char *topic;
  int32_t parts[PERF_RB_MAX_PARTS];
} rmember;

static void rd_fail(const char *what, rd_kafka_error_t *e) {
  if (!e) return;
  fprintf(stderr, "rdkafka_perf: %s: %s\n", what, rd_kafka_error_string(e));
  rd_kafka_error_destroy(e);
}

static void rd_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *tps, void *ud) {
  rmember *m = ud;
  bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  int k = 0;
  for (int i = 0; i < tps->cnt && k < PERF_RB_MAX_PARTS; i++)
    if (strcmp(tps->elems[i].topic, m->topic) == 0) m->parts[k++] = tps->elems[i].partition;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (coop) rd_fail("incremental_assign", rd_kafka_incremental_assign(rk, tps));
    else if ((err = rd_kafka_assign(rk, tps))) fprintf(stderr, "rdkafka_perf: assign: %s\n", rd_kafka_err2str(err));
    perf_rb_event(m->rb, m->member, PERF_RB_ASSIGNED, m->parts, k);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    int kind = rd_kafka_assignment_lost(rk) ? PERF_RB_LOST : PERF_RB_REVOKED;
    if (coop) rd_fail("incremental_unassign", rd_kafka_incremental_unassign(rk, tps));
    else rd_kafka_assign(rk, NULL);
    perf_rb_event(m->rb, m->member, kind, m->parts, k);
  } else {
    fprintf(stderr, "rdkafka_perf: member %d: rebalance error %s\n", m->member + 1, rd_kafka_err2str(err));
    rd_kafka_assign(rk, NULL);
  }
}

static rd_kafka_conf_t *rb_config(const perf_opts *o, const char *group, int member) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char id[64];
  snprintf(id, sizeof id, "rdkafka-perf-rb-%d", member + 1);
  set(conf, "bootstrap.servers", o->brokers);
  set(conf, "client.id", id);
  set(conf, "group.id", group);
  set(conf, "partition.assignment.strategy", o->strategy);
  set(conf, "heartbeat.interval.ms", "3000"); /* librdkafka's defaults, as kwire's */
  set(conf, "session.timeout.ms", "45000");
  set(conf, "enable.partition.eof", "false");
  for (int i = 0; i < o->n_props; i++) set(conf, o->props[i][0], o->props[i][1]);
  rd_kafka_conf_set_error_cb(conf, on_error);
  return conf;
}

static void *r_create(const perf_opts *o, const char *group, int member, perf_rb *rb) {
  rmember *m = calloc(1, sizeof *m);
  if (!m) exit(1);
  m->rb = rb;
  m->member = member;
  m->topic = o->topic;
  rd_kafka_conf_t *conf = rb_config(o, group, member);
  rd_kafka_conf_set_rebalance_cb(conf, rd_rebalance);
  rd_kafka_conf_set_opaque(conf, m);
  char err[512];
  m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!m->rk) {
    fprintf(stderr, "rdkafka_perf: member %d: %s\n", member + 1, err);
    exit(1);
  }
  rd_kafka_poll_set_consumer(m->rk);
  return m;
}

static int r_subscribe(void *p) {
  rmember *m = p;
  rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(t, m->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(m->rk, t);
  rd_kafka_topic_partition_list_destroy(t);
  if (e) fprintf(stderr, "rdkafka_perf: member %d: subscribe: %s\n", m->member + 1, rd_kafka_err2str(e));
  return e ? -1 : 0;
}

static int r_poll(void *p, int timeout_ms) {
  rmember *m = p;
  rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, timeout_ms);
  if (msg) {
    if (msg->err) fprintf(stderr, "rdkafka_perf: member %d: %s\n", m->member + 1, rd_kafka_message_errstr(msg));
    rd_kafka_message_destroy(msg); /* a record (the topic should be empty) is dropped */
  }
  return 0;
}

static void r_close(void *p) {
  rmember *m = p;
  rd_kafka_resp_err_t e = rd_kafka_consumer_close(m->rk);
  if (e) fprintf(stderr, "rdkafka_perf: member %d: close: %s\n", m->member + 1, rd_kafka_err2str(e));
}

static void r_destroy(void *p) {
  rmember *m = p;
  rd_kafka_destroy(m->rk);
  free(m);
}

static int rdperf_rebalance(const perf_opts *o) {
  if (strcmp(o->protocol, "classic") != 0) {
    fprintf(stderr, "rdkafka_perf: librdkafka %s has no group.protocol=%s (KIP-848 came in 2.4)\n",
            rd_kafka_version_str(), o->protocol);
    return 2;
  }
  long records;
  int n_parts = rd_discover(o, &records);
  rd_kafka_conf_t *conf = rb_config(o, "rdkafka-perf-settings", 0);
  char settings[512] = "", v[128];
  static const char *shown[] = {"partition.assignment.strategy", "heartbeat.interval.ms", "session.timeout.ms",
                                "max.poll.interval.ms", "enable.auto.commit"};
  for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
    size_t vl = sizeof v;
    if (rd_kafka_conf_get(conf, shown[i], v, &vl) != RD_KAFKA_CONF_OK) continue;
    size_t at = strlen(settings);
    snprintf(settings + at, sizeof settings - at, "%s%s=%s", at ? " " : "", shown[i], v);
  }
  rd_kafka_conf_destroy(conf);
  static const perf_rb_ops ops = {r_create, r_subscribe, r_poll, NULL, r_close, r_destroy};
  return perf_rebalance_run(o, &ops, n_parts, "librdkafka", rd_kafka_version_str(), settings);
}
