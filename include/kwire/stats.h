/* Counters and latencies gathered into one set and rendered as a stats JSON object or
 * Prometheus text, in the format kw_client_stats_json writes. A set can hold several
 * clients' counters and the counters of code built on them (an event router counts
 * handled, retried and dead-lettered events in its own set and adds its clients'). */
#ifndef KWIRE_STATS_H
#define KWIRE_STATS_H
#include "kwire/export.h"
#include <stddef.h>
#include <stdint.h>
#include "kwire/client.h"
#include "kwire/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kw_stats kw_stats;

/* The counters, in the order the renderings list them. */
typedef enum kw_counter {
  KW_COUNTER_PRODUCED,            /* messages accepted by kw_produce */
  KW_COUNTER_DELIVERED,           /* messages acknowledged by the broker */
  KW_COUNTER_DELIVERY_FAILED,     /* messages reported failed */
  KW_COUNTER_CONSUMED,            /* records handed to the application */
  KW_COUNTER_HANDLED,             /* events whose handler succeeded */
  KW_COUNTER_RETRIED,             /* handler retries */
  KW_COUNTER_DEAD_LETTERED,       /* events written to a dead-letter topic */
  KW_COUNTER_MALFORMED,           /* records that were not valid events */
  KW_COUNTER_DUPLICATES_SKIPPED,  /* events skipped as already processed */
  KW_COUNTER_COMMITS,             /* offset commits acknowledged */
  KW_COUNTER_COMMIT_FAILURES,     /* offset commits that failed */
  KW_COUNTER_FETCHES,             /* Fetch requests sent */
  KW_COUNTER_INCREMENTAL_FETCHES, /* Fetch requests inside an incremental fetch session */
  KW_COUNTER_WAKEUPS              /* times the client did its work (kw_client_step, also inside every poll call):
                                   * with every broker down it grows with the backoffs, not with the CPU */
} kw_counter;

/* An empty set, allocated through mem (NULL = libc); NULL when out of memory. */
KW_API kw_stats *kw_stats_new(const kw_mem *mem);
KW_API void kw_stats_free(kw_stats *s);
/* Back to all zeros. */
KW_API void kw_stats_clear(kw_stats *s);
/* Adds n to one counter. */
KW_API void kw_stats_count(kw_stats *s, kw_counter counter, uint64_t n);
/* One counter's value. */
KW_API uint64_t kw_stats_counter(const kw_stats *s, kw_counter counter);
/* One event handled `latency_us` microseconds after its record's timestamp (end_to_end_ms). */
KW_API void kw_stats_end_to_end(kw_stats *s, int64_t latency_us);
/* Adds every counter, the consumer lag and the latency samples of `from`. */
KW_API void kw_stats_add(kw_stats *s, const kw_stats *from);
/* Adds a client's counters, latencies and current consumer lag, as they are now. */
KW_API void kw_stats_add_client(kw_stats *s, kw_client *cl);
/* A client's own counters (produced, delivered, consumed, lag, commit latency), rendered. */
KW_API int kw_client_stats_json(kw_client *cl, char *buf, size_t size);
KW_API int kw_client_stats_prometheus(kw_client *cl, char *buf, size_t size);

/* The set as kw_client_stats_json / kw_client_stats_prometheus render a client's; the
 * length written, like snprintf (may exceed size: then the text is cut). */
KW_API int kw_stats_json(const kw_stats *s, const char *client_id, char *buf, size_t size);
KW_API int kw_stats_prometheus(const kw_stats *s, const char *client_id, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
