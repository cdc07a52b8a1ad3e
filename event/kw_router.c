/* The event router (include/kwire/event.h): hands each event to the handler for its
 * type and version, under commit-after-success. Records held for a retry or a dead
 * letter are kw_router_held.c's; the statistics kw_router_stats.c's.
 *
 * It runs two clients: the application's group consumer, and a producer of its own for
 * dead letters, made from the consumer's configuration, whose delivery reports are the
 * router's to wait for. Both are driven through the same pieces: kw_event_router_run
 * polls them, an application's event loop watches kw_event_router_fds and calls
 * kw_event_router_step. */
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "event/kw_dedup.h"
#include "event/kw_envelope.h"
#include "event/kw_event_base.h"
#include "event/kw_router.h"

/* Records taken per step, so one step of an application's loop stays short; the next
 * timeout is 0 while more are buffered. */
#define KW_ROUTER_RECORDS_PER_STEP 500

/* The consumer's configuration must say enable.auto.offset.store=false: a record's
 * offset may go to a commit only after its event was handled or dead-lettered, and the
 * consumer's settings are fixed when it is made. */
static bool stores_offsets_itself(const kw_client *consumer) {
  char v[8];
  return kw_config_get(kw_client_config(consumer), "enable.auto.offset.store", v, sizeof v) >= 0 &&
         strcmp(v, "false") == 0;
}

/* The consumer's client.id, whatever its length. */
static char *client_id_of(const kw_client *cl, const kw_mem *mem) {
  char small[64];
  int n = kw_config_get(kw_client_config(cl), "client.id", small, sizeof small);
  if (n >= 0) return kw_ev_strdup(mem, small);
  size_t cap = sizeof small;
  char *buf = NULL;
  while (n == KW_ERR_BUF_FULL && cap < 1u << 20) {
    cap *= 4;
    char *bigger = kw_ev_realloc(mem, buf, cap);
    if (!bigger) break;
    buf = bigger;
    n = kw_config_get(kw_client_config(cl), "client.id", buf, cap);
  }
  if (n >= 0) return buf;
  kw_ev_free(mem, buf);
  return NULL;
}

kw_event_router *kw_event_router_new(kw_client *consumer, char *errstr, size_t errlen) {
  if (!kw_consumer_has_group(consumer)) {
    if (errstr) snprintf(errstr, errlen, "the event router needs a consumer with group.id");
    return NULL;
  }
  if (!stores_offsets_itself(consumer)) {
    if (errstr)
      snprintf(errstr, errlen,
               "the event router needs a consumer made with enable.auto.offset.store=false (it stores each "
               "offset once the event was handled or dead-lettered)");
    return NULL;
  }
  const kw_mem *mem = kw_client_mem(consumer);
  kw_event_router *r = kw_ev_alloc(mem, sizeof *r);
  if (!r) goto nomem;
  *r = (kw_event_router){.cons = consumer, .mem = mem, .unknown = KW_UNKNOWN_DEADLETTER, .max_attempts = 5,
                         .backoff_ms = 100, .max_backoff_ms = 5000};
  r->own = kw_stats_new(mem);
  r->merged = kw_stats_new(mem);
  r->client_id = client_id_of(consumer, mem);
  if (!r->own || !r->merged || !r->client_id) goto nomem;
  /* Dead letters go through a producer of our own with the consumer's connection
   * settings, so its delivery reports are ours to wait for. */
  r->dlq = kw_producer_new(kw_client_config(consumer), errstr, errlen);
  if (!r->dlq) {
    kw_event_router_free(r);
    return NULL;
  }
  kw_client_set_delivery_cb(r->dlq, kw_router_on_dead_letter, r);
  return r;
nomem:
  kw_event_router_free(r);
  if (errstr) snprintf(errstr, errlen, "out of memory");
  return NULL;
}

void kw_event_router_free(kw_event_router *r) {
  if (!r) return;
  if (r->dlq) { /* first: its delivery reports point at held records */
    kw_client_flush(r->dlq, 10000);
    kw_client_destroy(r->dlq);
  }
  kw_router_free_held(r);
  for (int i = 0; i < r->n_routes; i++) kw_ev_free(r->mem, r->routes[i].type);
  for (int i = 0; i < r->n_dlqs; i++) {
    kw_ev_free(r->mem, r->dlqs[i].topic);
    kw_ev_free(r->mem, r->dlqs[i].dlq);
  }
  kw_ev_free(r->mem, r->routes);
  kw_ev_free(r->mem, r->dlqs);
  kw_dedup_free(r->dedup);
  kw_stats_free(r->own);
  kw_stats_free(r->merged);
  kw_ev_free(r->mem, r->client_id);
  kw_ev_free(r->mem, r);
}

int kw_event_route(kw_event_router *r, const char *event_type, int32_t min_version, int32_t max_version,
                   kw_event_handler handler, void *ud) {
  if (!event_type || !handler || min_version < 1 || max_version < min_version) return KW_ERR_INVALID_ARG;
  kw_route *rs = kw_ev_realloc(r->mem, r->routes, sizeof *rs * (size_t)(r->n_routes + 1));
  if (!rs) return KW_ERR_NOMEM;
  r->routes = rs;
  rs[r->n_routes] = (kw_route){kw_ev_strdup(r->mem, event_type), min_version, max_version, handler, ud};
  if (!rs[r->n_routes].type) return KW_ERR_NOMEM;
  r->n_routes++;
  return KW_OK;
}

void kw_event_router_set_unknown_policy(kw_event_router *r, kw_unknown_policy p) { r->unknown = p; }

void kw_event_router_set_retry(kw_event_router *r, int max_attempts, int64_t backoff_ms, int64_t max_backoff_ms) {
  r->max_attempts = max_attempts > 0 ? max_attempts : 1;
  r->backoff_ms = backoff_ms > 0 ? backoff_ms : 1;
  r->max_backoff_ms = max_backoff_ms >= r->backoff_ms ? max_backoff_ms : r->backoff_ms;
}

int kw_event_router_set_dlq(kw_event_router *r, const char *topic, const char *dlq_topic) {
  if (!topic || !dlq_topic) return KW_ERR_INVALID_ARG;
  kw_dlq_name *d = kw_ev_realloc(r->mem, r->dlqs, sizeof *d * (size_t)(r->n_dlqs + 1));
  if (!d) return KW_ERR_NOMEM;
  r->dlqs = d;
  d[r->n_dlqs] = (kw_dlq_name){kw_ev_strdup(r->mem, topic), kw_ev_strdup(r->mem, dlq_topic)};
  if (!d[r->n_dlqs].topic || !d[r->n_dlqs].dlq) {
    kw_ev_free(r->mem, d[r->n_dlqs].topic);
    kw_ev_free(r->mem, d[r->n_dlqs].dlq);
    return KW_ERR_NOMEM;
  }
  r->n_dlqs++;
  return KW_OK;
}

int kw_event_router_set_dedup(kw_event_router *r, int capacity) {
  kw_dedup_free(r->dedup);
  r->dedup = capacity > 0 ? kw_dedup_new_mem(capacity, r->mem) : NULL;
  return capacity > 0 && !r->dedup ? KW_ERR_NOMEM : KW_OK;
}

int kw_event_router_pending(const kw_event_router *r) { return r->n_held; }

void kw_router_done_with(kw_event_router *r, const char *topic, int32_t partition, int64_t offset) {
  kw_consumer_store_offset(r->cons, topic, partition, offset + 1);
}

/* ---- running handlers ---- */

static const kw_route *find_route(const kw_event_router *r, const char *type, int32_t version) {
  for (int i = 0; i < r->n_routes; i++)
    if (strcmp(r->routes[i].type, type) == 0 && version >= r->routes[i].min && version <= r->routes[i].max)
      return &r->routes[i];
  return NULL;
}

/* Calls the handler with NUL-terminated copies of the key and payload (in one
 * allocation): the record's bytes are not terminated, and a key is passed whole at any
 * length, with key_len for keys that hold NUL bytes. */
static kw_event_result call_handler(kw_event_router *r, const kw_route *rt, const kw_envelope *env,
                                    const char *topic, int32_t partition, int64_t offset, const void *key,
                                    size_t key_len, int attempt, char *error, size_t error_len) {
  size_t payload_len = (size_t)env->payload.len;
  char *copy = kw_ev_alloc(r->mem, key_len + 1 + payload_len + 1);
  if (!copy) return KW_EVENT_RETRY;
  char *key_copy = copy, *payload = copy + key_len + 1;
  if (key_len) memcpy(key_copy, key, key_len);
  key_copy[key_len] = 0;
  if (payload_len) memcpy(payload, env->payload.ptr, payload_len);
  payload[payload_len] = 0;
  kw_event ev = {.topic = topic, .partition = partition, .offset = offset, .key = key ? key_copy : NULL,
                 .event_type = env->event_type, .event_version = env->event_version, .event_id = env->event_id,
                 .timestamp_ms = env->timestamp_ms, .payload = payload, .payload_len = payload_len,
                 .attempt = attempt, .key_len = key ? key_len : 0};
  error[0] = 0;
  kw_event_result res = rt->handler(rt->ud, &ev, error, error_len);
  kw_ev_free(r->mem, copy);
  return res;
}

/* Runs the handler for an event (fresh or held). Returns the handler's answer, or
 * KW_EVENT_FAIL with `error` set when the record is not a valid event or has no handler
 * and the policy says dead-letter; *skip set when it is to be committed without one. */
kw_event_result kw_router_dispatch(kw_event_router *r, const char *topic, int32_t partition, int64_t offset,
                                   const void *key, size_t key_len, const void *value, size_t value_len, int attempt,
                                   char *error, size_t error_len, bool *skip, bool *stop) {
  *skip = *stop = false;
  kw_envelope env;
  char reason[200];
  if (!value || kw_envelope_decode((kw_slice){value, (int32_t)value_len}, &env, reason, sizeof reason) != KW_OK) {
    kw_stats_count(r->own, KW_COUNTER_MALFORMED, attempt == 1);
    snprintf(error, error_len, "malformed event: %s", value ? reason : "null value");
    return KW_EVENT_FAIL;
  }
  if (attempt == 1 && r->dedup && kw_dedup_check_and_add(r->dedup, env.event_id) == 1) {
    kw_stats_count(r->own, KW_COUNTER_DUPLICATES_SKIPPED, 1);
    *skip = true;
    return KW_EVENT_OK;
  }
  const kw_route *rt = find_route(r, env.event_type, env.event_version);
  if (!rt) {
    snprintf(error, error_len, "no handler for %.200s v%d", env.event_type, env.event_version);
    if (r->unknown == KW_UNKNOWN_SKIP) *skip = true;
    if (r->unknown == KW_UNKNOWN_STOP) *stop = true;
    return r->unknown == KW_UNKNOWN_DEADLETTER ? KW_EVENT_FAIL : KW_EVENT_OK;
  }
  kw_event_result res = call_handler(r, rt, &env, topic, partition, offset, key, key_len, attempt, error, error_len);
  if (res == KW_EVENT_OK) {
    kw_stats_count(r->own, KW_COUNTER_HANDLED, 1);
    kw_stats_end_to_end(r->own, (kw_ev_wall_ms() - env.timestamp_ms) * 1000);
  } else if (!error[0]) {
    snprintf(error, error_len, "%s", res == KW_EVENT_RETRY ? "handler asked for a retry" : "handler failed");
  }
  return res;
}

/* A record fresh from the consumer: handled now, or held for a retry or a dead letter.
 * Returns 1 when it is finished, 0 when held, KW_ERR_STATE when the unknown-event policy
 * says stop. */
static int take_record(kw_event_router *r, const kw_message *m) {
  char error[256];
  bool skip, stop;
  kw_router_drop_held(r, m->topic, m->partition);
  kw_event_result res = kw_router_dispatch(r, m->topic, m->partition, m->offset, m->key, m->key_len, m->value,
                                           m->value_len, 1, error, sizeof error, &skip, &stop);
  if (stop) {
    r->stopped = true;
    kw_consumer_pause(r->cons, m->topic, m->partition);
    return KW_ERR_STATE;
  }
  if (res == KW_EVENT_OK) {
    kw_router_done_with(r, m->topic, m->partition, m->offset);
    return 1;
  }
  if (!kw_router_hold(r, m, res, error)) /* out of memory: stop this partition rather than lose the event */
    kw_consumer_pause(r->cons, m->topic, m->partition);
  return 0;
}

/* Takes one polled result: an error event is the application's to decide on. */
static int take_polled(kw_event_router *r, int got, const kw_message *m) {
  if (got <= 0) return got;
  return m->err ? m->err : take_record(r, m);
}

/* ---- driving the router ---- */

int kw_event_router_fds(kw_event_router *r, kw_pollfd *fds, int max) {
  if (max < 0) max = 0;
  int n = kw_client_fds(r->cons, fds, max);
  int used = n < max ? n : max;
  return n + kw_client_fds(r->dlq, fds ? fds + used : NULL, max - used);
}

/* The earlier of two kw_client_next_timeout-style values (-1 = none). */
static int earlier(int a, int b) { return a < 0 ? b : b < 0 ? a : a < b ? a : b; }

int kw_event_router_next_timeout(kw_event_router *r) {
  if (r->more_records) return 0;
  int64_t wake = kw_router_held_wake(r), now = kw_ev_monotonic_ms();
  int own = wake == INT64_MAX ? -1 : wake <= now ? 0 : wake - now > INT32_MAX ? INT32_MAX : (int)(wake - now);
  return earlier(own, earlier(kw_client_next_timeout(r->cons), kw_client_next_timeout(r->dlq)));
}

int kw_event_router_step(kw_event_router *r, const kw_pollfd *fds, int n) {
  if (r->stopped) return KW_ERR_STATE;
  /* Each client acts on its own sockets in the set: fds are matched by number. */
  kw_client_step(r->cons, fds, n);
  kw_client_step(r->dlq, fds, n); /* dead-letter acknowledgements */
  int finished = kw_router_work_held(r, kw_ev_monotonic_ms());
  r->more_records = false;
  for (int taken = 0;; taken++) {
    if (taken == KW_ROUTER_RECORDS_PER_STEP) {
      r->more_records = true;
      break;
    }
    kw_message m;
    int got = kw_consumer_poll(r->cons, &m, 0); /* only what is buffered: never waits */
    if (got == 0) break;
    int rc = take_polled(r, got, &m);
    if (rc < 0) return rc;
    finished += rc;
  }
  /* Records that failed just now: their dead letters go out in this step. */
  return finished + kw_router_work_held(r, kw_ev_monotonic_ms());
}

int kw_event_router_run(kw_event_router *r, int timeout_ms) {
  if (r->stopped) return KW_ERR_STATE;
  int64_t end = kw_ev_monotonic_ms() + timeout_ms;
  int finished = 0;
  for (;;) {
    kw_client_poll(r->dlq, 0); /* dead-letter acknowledgements */
    int64_t now = kw_ev_monotonic_ms();
    finished += kw_router_work_held(r, now);
    /* Wait for a record no longer than the next retry, and come back to the dead-letter
     * producer's sockets at least every 50 ms. */
    int64_t wake = kw_router_held_wake(r);
    int64_t wait = (wake < end ? wake : end) - now;
    kw_message m;
    int rc = take_polled(r, kw_consumer_poll(r->cons, &m, wait <= 0 ? 0 : wait < 50 ? (int)wait : 50), &m);
    if (rc < 0) return rc;
    finished += rc;
    if (kw_ev_monotonic_ms() >= end) return finished;
  }
}
