/* kwperf consume: kwire's consumer under the same harness as bench/rdkafka_perf's.
 *
 * Partitions and watermarks come first from a separate short-lived client (not timed):
 * every partition is then assigned from the beginning on a fresh client, and the clock
 * and CPU start just before that client is created ("from client start", as the peers'
 * figures in the broker notes are taken). The loop is what an application writes:
 * kw_consumer_poll() one message at a time, read the value (perf_consumed sums every
 * byte of it), repeat until COUNT messages. Assign mode, no consumer group (nor for
 * rdkafka_perf): the fetch path alone. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "perf_common.h"

#define MAX_PARTITIONS 100000

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

static kw_config *base_config(const perf_opts *o) {
  kw_config *conf = kw_config_new();
  if (!conf) exit(1);
  set(conf, "bootstrap.servers", o->brokers);
  /* The same for both clients (rdkafka_perf sets it too): nothing in the topic is
   * transactional, so read_committed would return the same records. */
  set(conf, "isolation.level", "read_uncommitted");
  for (int i = 0; i < o->n_props; i++) set(conf, o->props[i][0], o->props[i][1]);
  return conf;
}

/* The topic's partitions and the records between their watermarks. */
static int discover(const perf_opts *o, long *records) {
  kw_config *conf = base_config(o);
  set(conf, "allow.auto.create.topics", "false");
  char err[256];
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!cl) {
    fprintf(stderr, "kwperf: %s\n", err);
    exit(1);
  }
  int n = 0;
  *records = 0;
  for (; n < MAX_PARTITIONS; n++) {
    int64_t lo, hi;
    int e = kw_consumer_watermarks(cl, o->topic, n, &lo, &hi, 15000);
    if (e == KW_ERR_UNKNOWN_PARTITION) break;
    if (e < 0) {
      fprintf(stderr, "kwperf: watermarks of %s [%d]: %s\n", o->topic, n, kw_strerror(e));
      exit(1);
    }
    *records += (long)(hi - lo);
  }
  kw_client_destroy(cl);
  return n;
}

int kwperf_consume(const perf_opts *o) {
  long available;
  int n_parts = discover(o, &available);
  if (n_parts == 0) {
    fprintf(stderr, "kwperf: topic %s has no partitions\n", o->topic);
    return 1;
  }
  long want = o->count > 0 ? o->count : available;
  if (want <= 0) {
    fprintf(stderr, "kwperf: topic %s is empty\n", o->topic);
    return 1;
  }
  if (want > available)
    fprintf(stderr, "kwperf: %ld messages wanted, %ld in the topic now: waiting for the rest (idle stop %d ms)\n", want,
            available, o->idle_ms);

  kw_config *conf = base_config(o);
  char settings[512] = "", v[64];
  static const char *shown[] = {"isolation.level",   "fetch.min.bytes",           "fetch.wait.max.ms",
                                "fetch.max.bytes",   "max.partition.fetch.bytes", "queued.max.messages.kbytes",
                                "check.crcs"};
  for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
    if (kw_config_get(conf, shown[i], v, sizeof v) < 0) continue;
    size_t at = strlen(settings);
    snprintf(settings + at, sizeof settings - at, "%s%s=%s", at ? " " : "", shown[i], v);
  }

  perf_consume c;
  perf_consume_init(&c, want, n_parts);
  perf_consume_start(&c);
  char err[256];
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!cl) {
    fprintf(stderr, "kwperf: %s\n", err);
    return 1;
  }
  kw_client_set_error_cb(cl, on_error, NULL);
  for (int p = 0; p < n_parts; p++) {
    int e = kw_consumer_assign(cl, o->topic, p, KW_OFFSET_BEGINNING);
    if (e < 0) {
      fprintf(stderr, "kwperf: assign %s [%d]: %s\n", o->topic, p, kw_strerror(e));
      return 1;
    }
  }

  long seen = -1;
  int64_t idle_from = 0;
  int rc = 0;
  while (c.msgs < c.expected) {
    kw_message m;
    int r = kw_consumer_poll(cl, &m, 100);
    if (r < 0) {
      fprintf(stderr, "kwperf: poll: %s\n", kw_strerror(r));
      rc = 1;
      break;
    }
    if (r == 0) { /* the clock only when idle: never per message */
      int64_t now = perf_now_ns();
      if (c.msgs != seen) {
        seen = c.msgs;
        idle_from = now;
      } else if (now - idle_from > (int64_t)o->idle_ms * 1000000) {
        fprintf(stderr, "kwperf: nothing for %d ms after %ld of %ld messages: stopping\n", o->idle_ms, c.msgs,
                c.expected);
        rc = 1;
        break;
      }
      continue;
    }
    if (m.err) {
      char what[128];
      snprintf(what, sizeof what, "%s (Kafka error %d)", kw_strerror(m.err), m.kafka_error);
      perf_consume_error(&c, m.partition, m.offset, what);
      continue;
    }
    perf_consumed(&c, m.partition, m.offset, m.value, m.value_len);
  }
  perf_consume_report(o, &c, "kwire", kw_version(), "kw_consumer_poll", settings);
  kw_client_destroy(cl);
  return rc || c.errors || c.order_errors ? 1 : 0;
}
