/* The event layer: versioned event envelopes published with the entity's id as the key,
 * and a consumer-side router that hands each event to the handler for its type and
 * version, retries without blocking the group, dead-letters what cannot be handled,
 * and commits an offset only once its event was handled or dead-lettered.
 *
 * Envelope (JSON, as the event-driven guide defines it):
 *   {"event_type":"OrderCreated","event_version":1,"event_id":"<uuid>",
 *    "timestamp":"2026-11-28T05:50:46.123Z","payload":{...}} */
#ifndef KWIRE_EVENT_H
#define KWIRE_EVENT_H
#include "kwire/export.h"
#include <stddef.h>
#include <stdint.h>
#include "kwire/client.h"
#include "kwire/consumer.h"
#include "kwire/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Publishes one event: key = the aggregate id (e.g. the order id) so every event of
 * one entity lands on one partition, in order. payload_json must be one JSON value.
 * event_id_out (37 bytes, may be NULL) receives the generated UUID. The delivery
 * report comes through the producer's callback or kw_client_delivery_next as usual,
 * with `opaque`. */
KW_API int kw_event_publish(kw_client *producer, const char *topic, const char *key, const char *event_type,
                     int32_t event_version, const char *payload_json, char *event_id_out, void *opaque);

/* One event as a handler sees it. Strings are NUL-terminated copies valid during the call. */
typedef struct kw_event {
  const char *topic;
  int32_t partition;
  int64_t offset;
  const char *key; /* NULL for a null key; the whole key, NUL-terminated (see key_len) */
  const char *event_type;
  int32_t event_version;
  const char *event_id;
  int64_t timestamp_ms;
  const char *payload; /* the JSON value, verbatim */
  size_t payload_len;
  int attempt; /* 1 on the first try */
  size_t key_len; /* the key's length in bytes (it may hold NUL bytes); 0 for a null key */
} kw_event;

typedef enum kw_event_result {
  KW_EVENT_OK,    /* handled: the offset may be committed */
  KW_EVENT_RETRY, /* transient failure: try again after a backoff */
  KW_EVENT_FAIL   /* permanent failure: dead-letter it now */
} kw_event_result;

/* error: where a handler may explain a RETRY or FAIL (goes into the dead-letter headers). */
typedef kw_event_result (*kw_event_handler)(void *ud, const kw_event *ev, char *error, size_t error_size);

typedef enum kw_unknown_policy {
  KW_UNKNOWN_SKIP,       /* no handler for this type/version: commit past it */
  KW_UNKNOWN_DEADLETTER, /* send it to the dead-letter topic */
  KW_UNKNOWN_STOP        /* stop: kw_event_router_run returns KW_ERR_STATE */
} kw_unknown_policy;

typedef struct kw_event_router kw_event_router;

/* The router drives `consumer` (a group consumer made with enable.auto.offset.store=false:
 * the router stores each offset itself once its event is handled or dead-lettered, and
 * the group's commits carry them) and writes dead letters with a producer of its own,
 * made from the consumer's settings. NULL with the reason in errstr for any other client. */
KW_API kw_event_router *kw_event_router_new(kw_client *consumer, char *errstr, size_t errstr_size);
KW_API void kw_event_router_free(kw_event_router *r);

/* Handler for event_type with min_version <= event_version <= max_version. */
KW_API int kw_event_route(kw_event_router *r, const char *event_type, int32_t min_version, int32_t max_version,
                   kw_event_handler handler, void *ud);
KW_API void kw_event_router_set_unknown_policy(kw_event_router *r, kw_unknown_policy policy);
/* Retries: backoff_ms doubling per attempt up to max_backoff_ms, then dead-lettered
 * after max_attempts tries in all. Defaults: 100 ms, 5 s, 5. */
KW_API void kw_event_router_set_retry(kw_event_router *r, int max_attempts, int64_t backoff_ms, int64_t max_backoff_ms);
/* Dead-letter topic for events from `topic` (default: "<topic>.dlq"). */
KW_API int kw_event_router_set_dlq(kw_event_router *r, const char *topic, const char *dlq_topic);

/* Skip events whose event_id was processed recently (the idempotent-consumer helper),
 * remembering at most `capacity` ids. 0 turns it off (the default). */
KW_API int kw_event_router_set_dedup(kw_event_router *r, int capacity);

/* Polls the consumer for up to timeout_ms, runs handlers, retries, dead letters and
 * commits. Returns the number of events handled (or dead-lettered), or a negative error. */
KW_API int kw_event_router_run(kw_event_router *r, int timeout_ms);
/* ---- for existing event loops (like kw_client_fds / next_timeout / step) ----
 * The router's sockets are its consumer's and its dead-letter producer's: watch all of
 * them, or dead letters are never acknowledged. */
/* Fills up to max entries with the sockets to watch; returns how many there are (may
 * exceed max: call again with more room). */
KW_API int kw_event_router_fds(kw_event_router *r, kw_pollfd *fds, int max);
/* Milliseconds until the router needs a step even without I/O (0 = now, -1 = none): the
 * earliest of both clients' timers, the retries and buffered records still to take. */
KW_API int kw_event_router_next_timeout(kw_event_router *r);
/* Does the I/O the fds report ready (fds may be NULL/0 for timers only), takes the
 * records already buffered without waiting, runs handlers, retries and dead letters and
 * stores offsets. Returns the number of events handled (or dead-lettered), or a
 * negative error as kw_event_router_run does. */
KW_API int kw_event_router_step(kw_event_router *r, const kw_pollfd *fds, int n);

/* Events still waiting for a retry or a dead-letter acknowledgement. */
KW_API int kw_event_router_pending(const kw_event_router *r);

/* Counters (produced, delivered, consumed, handled, retried, dead_lettered, ...),
 * consumer lag, commit latency and end-to-end latency percentiles. Returns the length
 * written, like snprintf. */
KW_API int kw_event_router_stats_json(kw_event_router *r, char *buf, size_t size);
KW_API int kw_event_router_stats_prometheus(kw_event_router *r, char *buf, size_t size);

/* The idempotent-consumer helper on its own: a bounded set of recently seen ids. */
typedef struct kw_dedup kw_dedup;
KW_API kw_dedup *kw_dedup_new(int capacity);
KW_API void kw_dedup_free(kw_dedup *d);
/* 1 if id was seen (within the last `capacity` ids), else 0 and it is remembered. */
KW_API int kw_dedup_check_and_add(kw_dedup *d, const char *id);

#ifdef __cplusplus
}
#endif
#endif
