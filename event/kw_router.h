/* The event router's state, shared by the files that make it up:
 *   kw_router.c        creation, routes and settings, running handlers, the loop pieces
 *   kw_router_held.c   records held back for a retry or a dead letter
 *   kw_router_stats.c  the merged statistics
 * Built on the public API only: the router is what a user could write themselves. */
#ifndef KW_EVENT_ROUTER_H
#define KW_EVENT_ROUTER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kwire/buf.h"
#include "kwire/event.h"
#include "kwire/stats.h"

typedef struct kw_route {
  char *type;
  int32_t min, max;
  kw_event_handler handler;
  void *ud;
} kw_route;

typedef struct kw_dlq_name {
  char *topic, *dlq;
} kw_dlq_name;

enum kw_held_state { KW_HELD_RETRY, KW_HELD_DLQ_SEND, KW_HELD_DLQ_WAIT, KW_HELD_DONE };

/* A record whose handler asked for a retry, or that must be dead-lettered. */
typedef struct kw_held {
  enum kw_held_state state;
  char *topic;
  int32_t partition;
  int64_t offset;
  kw_buf rec; /* key then value, copied out of the consumer's buffer */
  size_t key_len, value_len;
  bool key_null, value_null;
  int attempts;
  int64_t first_failure, last_failure; /* wall ms, for the dead-letter headers */
  int64_t retry_at;                    /* monotonic ms */
  char error[256];
  bool abandoned; /* its partition was assigned again: finishing it stores nothing (kw_router_drop_held) */
} kw_held;

struct kw_event_router {
  kw_client *cons, *dlq;
  const kw_mem *mem; /* the consumer's: everything the router allocates */
  kw_route *routes;
  int n_routes;
  kw_unknown_policy unknown;
  int max_attempts;
  int64_t backoff_ms, max_backoff_ms;
  kw_dlq_name *dlqs;
  int n_dlqs;
  kw_dedup *dedup;
  kw_held **held;
  int n_held;
  kw_stats *own;    /* the router's counters: handled, retried, dead-lettered, latency */
  kw_stats *merged; /* scratch for the statistics: own + the consumer's + the dead-letter producer's */
  char *client_id;  /* the consumer's client.id, the label of the statistics */
  bool stopped;
  bool more_records; /* the last step stopped taking records with some still buffered */
};

/* Runs the handler for an event (fresh or held); see kw_router.c. */
kw_event_result kw_router_dispatch(kw_event_router *r, const char *topic, int32_t partition, int64_t offset,
                                   const void *key, size_t key_len, const void *value, size_t value_len, int attempt,
                                   char *error, size_t error_len, bool *skip, bool *stop);
/* The handled (or dead-lettered) record's offset goes to the next commit. */
void kw_router_done_with(kw_event_router *r, const char *topic, int32_t partition, int64_t offset);

/* Holds a record that failed on its first try (pausing its partition): NULL when out
 * of memory. */
kw_held *kw_router_hold(kw_event_router *r, const kw_message *m, kw_event_result first_result, const char *error);
/* Drops the records held for a partition: a record of it came from the consumer, so the
 * partition was revoked and assigned again (which pauses nothing) and the consumer
 * starts over from the committed offset, at or before them. */
void kw_router_drop_held(kw_event_router *r, const char *topic, int32_t partition);
/* Moves held records along at `now` (monotonic): retries that are due, dead letters to
 * send, acknowledged ones released. Returns how many finished. */
int kw_router_work_held(kw_event_router *r, int64_t now);
/* The earliest monotonic time a held record needs work (INT64_MAX: none). */
int64_t kw_router_held_wake(const kw_event_router *r);
/* The dead-letter producer's delivery callback. */
void kw_router_on_dead_letter(void *ud, const kw_delivery_report *dr);
void kw_router_free_held(kw_event_router *r);

#endif
