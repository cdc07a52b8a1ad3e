/* Counters and a latency histogram, and their rendering as a stats JSON object or
 * Prometheus text. Plain data: the owners (client, event router) update the fields. */
#ifndef KW_CLIENT_METRICS_H
#define KW_CLIENT_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/stats.h"

/* Latencies in microseconds, log2 buckets: bucket i holds [2^i, 2^(i+1)) µs; enough for
 * p50/p99 within a factor of 2, in fixed memory. */
#define KW_HIST_BUCKETS 40
typedef struct kw_hist {
  uint64_t count, sum_us;
  uint64_t bucket[KW_HIST_BUCKETS];
} kw_hist;

void kw_hist_add(kw_hist *h, int64_t us);
/* The value below which a fraction q (0..1) of the samples fall (bucket upper bound). */
int64_t kw_hist_quantile(const kw_hist *h, double q);

typedef struct kw_metrics {
  uint64_t produced, delivered, delivery_failed;
  uint64_t consumed, handled, retried, dead_lettered, malformed, duplicates_skipped;
  uint64_t commits, commit_failures;
  uint64_t fetches, incremental_fetches; /* Fetch requests, and those in a KIP-227 session */
  uint64_t wakeups; /* kw_client_step runs: how often the client woke up to work */
  int64_t consumer_lag; /* sum over assigned partitions of high watermark - position */
  kw_hist commit_latency;  /* OffsetCommit round trips */
  kw_hist end_to_end;      /* record timestamp -> handled */
} kw_metrics;

/* {"produced":N,...,"end_to_end_ms":{"p50":..,"p99":..}} into buf; the length written
 * (like snprintf: may exceed size, then the text is cut). */
int kw_metrics_json(const kw_metrics *m, const char *client_id, char *buf, size_t size);
/* Prometheus text exposition format, metric names kwire_*, label client_id. */
int kw_metrics_prometheus(const kw_metrics *m, const char *client_id, char *buf, size_t size);

/* Adds every counter, the lag and both histograms of `from` into `to`. */
void kw_metrics_add(kw_metrics *to, const kw_metrics *from);

/* The public kw_stats (include/kwire/stats.h) is a kw_metrics with its allocator. */
struct kw_stats {
  kw_metrics m;
  kw_mem mem; /* a copy: the caller's kw_mem need not outlive the set */
};

#endif
