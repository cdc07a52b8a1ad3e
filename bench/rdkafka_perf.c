/* rdkafka_perf: the librdkafka baseline for tools/kwperf. Same flags, same measurement
 * and output code (tools/kwperf/perf_common.c is compiled into both), librdkafka's
 * producer underneath: rd_kafka_produce() with a topic handle and RD_KAFKA_MSG_F_COPY
 * (its cheapest path; kwire also copies), dr_msg_cb delivery reports served by
 * rd_kafka_poll(). Built only when librdkafka-dev is installed (bench/CMakeLists.txt).
 *
 *   rdkafka_perf produce -b HOST:PORT -t TOPIC [-n 1000000] [-s 100] [--acks all]
 *                        [--linger 5] [--codec none] [--latency [--floor]] [-X key=value ...]
 *
 * With acks=all it sets enable.idempotence=true, to match kwire's default. */
#define _POSIX_C_SOURCE 200809L
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define KWPERF_DECLS_ONLY
#include "../tools/kwperf/perf_common.c"

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

int main(int argc, char **argv) {
  perf_opts o;
  perf_parse(&o, argc, argv, "rdkafka_perf", "produce");
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
