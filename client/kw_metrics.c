/* Metrics rendering (see kw_metrics.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include "client/kw_metrics.h"
#include "core/kw_mem.h"

#define KW_COUNTER_LAST KW_COUNTER_WAKEUPS

void kw_hist_add(kw_hist *h, int64_t us) {
  if (us < 1) us = 1;
  int b = 0;
  while (b < KW_HIST_BUCKETS - 1 && (us >> (b + 1)) > 0) b++;
  h->bucket[b]++;
  h->count++;
  h->sum_us += (uint64_t)us;
}

int64_t kw_hist_quantile(const kw_hist *h, double q) {
  if (!h->count) return 0;
  uint64_t want = (uint64_t)(q * (double)h->count + 0.5), seen = 0;
  if (want < 1) want = 1;
  for (int b = 0; b < KW_HIST_BUCKETS; b++) {
    seen += h->bucket[b];
    if (seen >= want) return (int64_t)1 << (b + 1);
  }
  return (int64_t)1 << KW_HIST_BUCKETS;
}

/* Counters in one table so JSON and Prometheus list the same things. */
#define KW_METRIC_COUNTERS(X)                                                          \
  X(produced, "messages accepted by kw_produce")                                      \
  X(delivered, "messages acknowledged by the broker")                                 \
  X(delivery_failed, "messages reported failed")                                      \
  X(consumed, "records handed to the application")                                   \
  X(handled, "events whose handler succeeded")                                        \
  X(retried, "handler retries")                                                       \
  X(dead_lettered, "events written to a dead-letter topic")                           \
  X(malformed, "records that were not valid events")                                  \
  X(duplicates_skipped, "events skipped as already processed")                        \
  X(commits, "offset commits acknowledged")                                           \
  X(commit_failures, "offset commits that failed")                                   \
  X(fetches, "Fetch requests sent")                                                   \
  X(incremental_fetches, "Fetch requests inside an incremental fetch session (KIP-227)") \
  X(wakeups, "times the client woke up to do its work (steps)")

/* Each counter's name and help text, in the table's order. */
static const struct {
  const char *name, *help;
} counter_text[] = {
#define KW_X_TEXT(name, help) {#name, help},
    KW_METRIC_COUNTERS(KW_X_TEXT)
#undef KW_X_TEXT
};

/* kw_counter -> field, from the same table so the order cannot drift. */
static const uint16_t counter_field[] = {
#define KW_X_FIELD(name, help) offsetof(kw_metrics, name),
    KW_METRIC_COUNTERS(KW_X_FIELD)
#undef KW_X_FIELD
};
_Static_assert(sizeof counter_field / sizeof counter_field[0] == KW_COUNTER_LAST + 1,
               "kw_counter lists every counter of KW_METRIC_COUNTERS, in its order");

static uint64_t counter_value(const kw_metrics *m, int i) {
  return *(const uint64_t *)((const char *)m + counter_field[i]);
}

/* snprintf at offset n of buf, however far n already ran past size (the text is then
 * cut); returns the length written so far, as snprintf would for the whole text. One
 * call site per line shape keeps the renderings small. */
static int append(char *buf, size_t size, int n, const char *fmt, ...) {
  size_t at = (size_t)n < size ? (size_t)n : size;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + at, size - at, fmt, ap);
  va_end(ap);
  return n + (k > 0 ? k : 0);
}

int kw_metrics_json(const kw_metrics *m, const char *client_id, char *buf, size_t size) {
  int n = append(buf, size, 0, "{\"client_id\":\"%s\"", client_id ? client_id : "");
  for (int i = 0; i <= KW_COUNTER_LAST; i++)
    n = append(buf, size, n, ",\"%s\":%llu", counter_text[i].name, (unsigned long long)counter_value(m, i));
  return append(buf, size, n,
                ",\"consumer_lag\":%lld,\"commit_latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
                "\"end_to_end_ms\":{\"count\":%llu,\"p50\":%.3f,\"p99\":%.3f}}",
                (long long)m->consumer_lag, kw_hist_quantile(&m->commit_latency, 0.5) / 1000.0,
                kw_hist_quantile(&m->commit_latency, 0.99) / 1000.0, (unsigned long long)m->end_to_end.count,
                kw_hist_quantile(&m->end_to_end, 0.5) / 1000.0, kw_hist_quantile(&m->end_to_end, 0.99) / 1000.0);
}

int kw_metrics_prometheus(const kw_metrics *m, const char *client_id, char *buf, size_t size) {
  int n = 0;
  const char *id = client_id ? client_id : "";
  for (int i = 0; i <= KW_COUNTER_LAST; i++) {
    const char *name = counter_text[i].name;
    n = append(buf, size, n,
               "# HELP kwire_%s_total %s\n# TYPE kwire_%s_total counter\nkwire_%s_total{client_id=\"%s\"} %llu\n", name,
               counter_text[i].help, name, name, id, (unsigned long long)counter_value(m, i));
  }
  return append(buf, size, n,
                "# HELP kwire_consumer_lag records behind the high watermarks\n# TYPE kwire_consumer_lag gauge\n"
                "kwire_consumer_lag{client_id=\"%s\"} %lld\n"
                "# HELP kwire_end_to_end_seconds record timestamp to handled\n# TYPE kwire_end_to_end_seconds summary\n"
                "kwire_end_to_end_seconds{client_id=\"%s\",quantile=\"0.5\"} %.6f\n"
                "kwire_end_to_end_seconds{client_id=\"%s\",quantile=\"0.99\"} %.6f\n"
                "kwire_end_to_end_seconds_count{client_id=\"%s\"} %llu\n",
                id, (long long)m->consumer_lag, id, kw_hist_quantile(&m->end_to_end, 0.5) / 1e6, id,
                kw_hist_quantile(&m->end_to_end, 0.99) / 1e6, id, (unsigned long long)m->end_to_end.count);
}

/* ---- kw_stats: the public face of kw_metrics ---- */

static uint64_t *counter_at(kw_metrics *m, int i) { return (uint64_t *)((char *)m + counter_field[i]); }

static void hist_add_all(kw_hist *to, const kw_hist *from) {
  to->count += from->count;
  to->sum_us += from->sum_us;
  for (int b = 0; b < KW_HIST_BUCKETS; b++) to->bucket[b] += from->bucket[b];
}

void kw_metrics_add(kw_metrics *to, const kw_metrics *from) {
  for (int i = 0; i <= KW_COUNTER_LAST; i++)
    *counter_at(to, i) += counter_value(from, i);
  to->consumer_lag += from->consumer_lag;
  hist_add_all(&to->commit_latency, &from->commit_latency);
  hist_add_all(&to->end_to_end, &from->end_to_end);
}

kw_stats *kw_stats_new(const kw_mem *mem) {
  kw_stats *s = kw_alloc(mem, sizeof *s);
  if (!s) return NULL;
  kw_stats_clear(s);
  s->mem = *(mem ? mem : kw_mem_default());
  return s;
}

void kw_stats_free(kw_stats *s) {
  if (!s) return;
  kw_mem mem = s->mem;
  kw_free(&mem, s);
}

void kw_stats_clear(kw_stats *s) { s->m = (kw_metrics){0}; }

void kw_stats_count(kw_stats *s, kw_counter c, uint64_t n) {
  if ((unsigned)c <= KW_COUNTER_LAST) *counter_at(&s->m, c) += n;
}

uint64_t kw_stats_counter(const kw_stats *s, kw_counter c) {
  return (unsigned)c <= KW_COUNTER_LAST ? counter_value(&s->m, c) : 0;
}

void kw_stats_end_to_end(kw_stats *s, int64_t latency_us) { kw_hist_add(&s->m.end_to_end, latency_us); }

void kw_stats_add(kw_stats *s, const kw_stats *from) { kw_metrics_add(&s->m, &from->m); }

int kw_stats_json(const kw_stats *s, const char *client_id, char *buf, size_t size) {
  return kw_metrics_json(&s->m, client_id, buf, size);
}

int kw_stats_prometheus(const kw_stats *s, const char *client_id, char *buf, size_t size) {
  return kw_metrics_prometheus(&s->m, client_id, buf, size);
}
