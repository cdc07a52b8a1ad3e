/* kwperf: kwire's producer and consumer benchmark. bench/rdkafka_perf.c is the same program over
 * librdkafka (both share perf_common.c), so the two run with the same flags and print
 * the same figures; bench/run-producer-bench.sh and bench/run-consumer-bench.sh run
 * them back to back.
 *
 *   kwperf produce -b HOST:PORT -t TOPIC [-n 1000000] [-s 100] [--acks all] [--linger 5]
 *                  [--codec none] [--latency [--floor]] [--warmup 1000] [-X key=value ...]
 *   kwperf rtt -b HOST:PORT -t TOPIC [-n 20000] [-s 100] [--acks all]   (latency floor, rtt.c)
 *   kwperf consume -b HOST:PORT -t TOPIC [-n COUNT] [--idle MS] [-X key=value ...]   (consume.c)
 *   kwperf rebalance -b HOST:PORT -t TOPIC [--strategy range] [--protocol classic] [--settle 2000]
 *                    [--slice 2] [--trace] [-X key=value ...]   (rebalance.c: a 3-member group's
 *                    join and leave times)
 *
 * The topic must exist (or be auto-created). Messages have no key: the sticky
 * partitioner spreads them, as librdkafka's does. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "perf_common.h"

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  perf_delivered(ud, (long)(intptr_t)dr->opaque, dr->err ? kw_strerror(dr->err) : NULL);
}

static void on_error(void *ud, int err, const char *reason) {
  (void)ud;
  fprintf(stderr, "kwperf: client error %s: %s\n", kw_errname(err), reason);
}

static void set(kw_config *c, const char *k, const char *v) {
  char err[256];
  if (kw_config_set(c, k, v, err, sizeof err) < 0) {
    fprintf(stderr, "kwperf: %s\n", err);
    exit(2);
  }
}

/* One message; on a full queue the client runs until it has room. */
static void produce_one(kw_client *cl, const perf_opts *o, long i, long tag) {
  int err;
  while ((err = kw_produce(cl, o->topic, KW_PARTITION_UA, NULL, 0, perf_payload(o, i), (size_t)o->size, NULL, 0, 0,
                           (void *)(intptr_t)tag)) == KW_ERR_QUEUE_FULL)
    kw_client_poll(cl, 10);
  if (err) {
    fprintf(stderr, "kwperf: produce %ld: %s\n", i, kw_strerror(err));
    exit(1);
  }
}

int main(int argc, char **argv) {
  perf_opts o;
  perf_parse(&o, argc, argv, "kwperf", "produce rtt consume rebalance");
  if (strcmp(o.command, "rtt") == 0) return kwperf_rtt(&o);
  if (strcmp(o.command, "rebalance") == 0) return kwperf_rebalance(&o);
  if (strcmp(o.command, "consume") == 0) {
    if (o.api) {
      fprintf(stderr, "kwperf: --api is rdkafka_perf's (kwire has one consumer API)\n");
      return 2;
    }
    return kwperf_consume(&o);
  }
  kw_config *conf = kw_config_new();
  if (!conf) return 1;
  char num[32];
  set(conf, "bootstrap.servers", o.brokers);
  set(conf, "acks", o.acks);
  snprintf(num, sizeof num, "%d", o.linger_ms);
  set(conf, "linger.ms", num);
  set(conf, "compression.type", o.codec);
  /* enable.idempotence stays at kwire's default: on with acks=all, off otherwise. */
  for (int i = 0; i < o.n_props; i++) set(conf, o.props[i][0], o.props[i][1]);

  char settings[512] = "", v[64];
  static const char *shown[] = {"acks", "linger.ms", "compression.type", "enable.idempotence", "batch.num.messages",
                                "batch.size", "queue.buffering.max.messages", "queue.buffering.max.kbytes",
                                "max.in.flight.requests.per.connection"};
  for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
    if (kw_config_get(conf, shown[i], v, sizeof v) < 0) continue;
    size_t at = strlen(settings);
    snprintf(settings + at, sizeof settings - at, "%s%s=%s", at ? " " : "", shown[i], v);
  }

  char err[256];
  kw_client *cl = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!cl) {
    fprintf(stderr, "kwperf: %s\n", err);
    return 1;
  }
  perf_run r;
  perf_run_init(&r, &o);
  kw_client_set_delivery_cb(cl, on_delivery, &r);
  kw_client_set_error_cb(cl, on_error, NULL);

  /* Warm-up: connections, metadata and the producer id are not part of the figures. */
  for (long i = 0; i < o.warmup; i++) produce_one(cl, &o, i, -1);
  if (kw_client_flush(cl, 60000) != KW_OK || r.warmup_failed) {
    fprintf(stderr, "kwperf: warm-up messages not delivered (60 s at most)%s%s\n", r.warmup_failed ? ": " : "",
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
      produce_one(cl, &o, i, i);
      while (r.delivered + r.failed <= i) kw_client_poll(cl, 100);
    }
  } else {
    for (long i = 0; i < o.count; i++) {
      produce_one(cl, &o, i, i);
      if ((i & 1023) == 1023) kw_client_poll(cl, 0); /* send what is ready, serve reports */
    }
  }
  int ferr = kw_client_flush(cl, 300000);
  perf_usage_now(&r.after);
  if (ferr != KW_OK) fprintf(stderr, "kwperf: flush: %s, %d outstanding\n", kw_strerror(ferr), kw_client_outstanding(cl));
  kwperf_floor_close(floor);
  perf_report(&o, &r, "kwire", kw_version(), settings);
  kw_client_destroy(cl);
  return r.failed || ferr != KW_OK ? 1 : 0;
}
