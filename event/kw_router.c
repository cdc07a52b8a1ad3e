/* The event layer (include/kwire/event.h): publishing envelopes, and the router that
 * runs handlers with retries and dead-lettering under commit-after-success.
 *
 * A record whose handler asks for a retry, or that must be dead-lettered, becomes a
 * `held` record: its partition is paused (so no later event of that partition
 * overtakes it, and the group's heartbeats go on because the poll loop does), it is
 * retried after a backoff, and its offset is stored for commit only once it was
 * handled or the dead-letter write was acknowledged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_clock.h"
#include "client/kw_client_int.h"
#include "client/kw_config.h"
#include "client/group/kw_group.h"
#include "client/kw_metrics.h"
#include "kwire/error.h"
#include "kwire/event.h"
#include "event/kw_envelope.h"

/* ---- publishing ---- */

int kw_event_publish(kw_client *producer, const char *topic, const char *key, const char *event_type,
                     int32_t event_version, const char *payload_json, char *event_id_out, void *opaque) {
  if (!producer || !topic || !event_type || !payload_json) return KW_ERR_INVALID_ARG;
  uint8_t stack[2048];
  kw_buf b;
  kw_buf_init_fixed(&b, stack, sizeof stack);
  char id[37];
  kw_slice payload = {(const uint8_t *)payload_json, (int32_t)strlen(payload_json)};
  int err = kw_envelope_encode(&b, event_type, event_version, NULL, kw_wall_ms(), payload, id);
  if (err == KW_ERR_BUF_FULL) { /* a big payload: encode again into a growing buffer */
    kw_buf_init_grow(&b, producer->mem);
    err = kw_envelope_encode(&b, event_type, event_version, NULL, kw_wall_ms(), payload, id);
  }
  if (!err) {
    kw_header h[2] = {{"content-type", "application/json", 16}, {"event_type", event_type, strlen(event_type)}};
    err = kw_produce(producer, topic, KW_PARTITION_UA, key, key ? strlen(key) : 0, b.data, b.len, h, 2, 0, opaque);
  }
  if (b.mode == KW_BUF_GROW) kw_buf_free(&b);
  if (!err && event_id_out) memcpy(event_id_out, id, 37);
  return err;
}

/* ---- the router ---- */

typedef struct route {
  char *type;
  int32_t min, max;
  kw_event_handler handler;
  void *ud;
} route;

typedef struct dlq_name {
  char *topic, *dlq;
} dlq_name;

enum held_state { HELD_RETRY, HELD_DLQ_SEND, HELD_DLQ_WAIT, HELD_DONE };

typedef struct held {
  enum held_state state;
  char *topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp;
  kw_buf rec; /* key then value, copied out of the consumer's buffer */
  size_t key_len, value_len;
  bool key_null, value_null;
  int attempts;
  int64_t first_failure, last_failure, retry_at; /* wall ms / monotonic ms */
  char error[256];
  int dlq_result;
} held;

struct kw_event_router {
  kw_client *cons, *dlq;
  route *routes;
  int n_routes;
  kw_unknown_policy unknown;
  int max_attempts;
  int64_t backoff_ms, max_backoff_ms;
  dlq_name *dlqs;
  int n_dlqs;
  kw_dedup *dedup;
  held **held;
  int n_held;
  kw_metrics m; /* router-level counters; consumer-level ones come from the client */
  bool stopped;
};

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void on_dlq_delivery(void *ud, const kw_delivery_report *dr) {
  held *h = dr->opaque;
  (void)ud;
  h->dlq_result = dr->err;
  h->state = dr->err ? HELD_DLQ_SEND : HELD_DONE; /* a failed dead letter is sent again: never dropped */
  if (dr->err) h->retry_at = kw_now_ms() + 1000;
}

kw_event_router *kw_event_router_new(kw_client *consumer, char *errstr, size_t errlen) {
  if (!consumer || !consumer->cons || !consumer->group) {
    if (errstr) snprintf(errstr, errlen, "the event router needs a consumer with group.id");
    return NULL;
  }
  kw_event_router *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->cons = consumer;
  r->max_attempts = 5;
  r->backoff_ms = 100;
  r->max_backoff_ms = 5000;
  r->unknown = KW_UNKNOWN_DEADLETTER;
  /* Dead letters go through a producer of our own, with the consumer's connection
   * settings, idempotent, so its delivery reports are ours to wait for. */
  r->dlq = kw_producer_new(consumer->conf, errstr, errlen);
  if (!r->dlq) {
    free(r);
    return NULL;
  }
  kw_client_set_delivery_cb(r->dlq, on_dlq_delivery, r);
  kw_group_set_auto_store(consumer->group, false); /* offsets are stored after success only */
  return r;
}

void kw_event_router_free(kw_event_router *r) {
  if (!r) return;
  kw_client_flush(r->dlq, 10000);
  kw_client_destroy(r->dlq);
  for (int i = 0; i < r->n_routes; i++) free(r->routes[i].type);
  for (int i = 0; i < r->n_dlqs; i++) {
    free(r->dlqs[i].topic);
    free(r->dlqs[i].dlq);
  }
  for (int i = 0; i < r->n_held; i++) {
    kw_buf_free(&r->held[i]->rec);
    free(r->held[i]->topic);
    free(r->held[i]);
  }
  free(r->routes);
  free(r->dlqs);
  free(r->held);
  kw_dedup_free(r->dedup);
  free(r);
}

int kw_event_route(kw_event_router *r, const char *event_type, int32_t min_version, int32_t max_version,
                   kw_event_handler handler, void *ud) {
  if (!event_type || !handler || min_version < 1 || max_version < min_version) return KW_ERR_INVALID_ARG;
  route *rs = realloc(r->routes, sizeof *rs * (size_t)(r->n_routes + 1));
  if (!rs) return KW_ERR_NOMEM;
  r->routes = rs;
  rs[r->n_routes] = (route){dupstr(event_type), min_version, max_version, handler, ud};
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
  dlq_name *d = realloc(r->dlqs, sizeof *d * (size_t)(r->n_dlqs + 1));
  if (!d) return KW_ERR_NOMEM;
  r->dlqs = d;
  d[r->n_dlqs] = (dlq_name){dupstr(topic), dupstr(dlq_topic)};
  r->n_dlqs++;
  return KW_OK;
}

int kw_event_router_set_dedup(kw_event_router *r, int capacity) {
  kw_dedup_free(r->dedup);
  r->dedup = capacity > 0 ? kw_dedup_new(capacity) : NULL;
  return capacity > 0 && !r->dedup ? KW_ERR_NOMEM : KW_OK;
}

int kw_event_router_pending(const kw_event_router *r) { return r->n_held; }

static const route *find_route(const kw_event_router *r, const char *type, int32_t version) {
  for (int i = 0; i < r->n_routes; i++)
    if (strcmp(r->routes[i].type, type) == 0 && version >= r->routes[i].min && version <= r->routes[i].max)
      return &r->routes[i];
  return NULL;
}

static void dlq_topic_for(const kw_event_router *r, const char *topic, char *out, size_t n) {
  for (int i = 0; i < r->n_dlqs; i++)
    if (strcmp(r->dlqs[i].topic, topic) == 0) {
      snprintf(out, n, "%s", r->dlqs[i].dlq);
      return;
    }
  snprintf(out, n, "%s.dlq", topic);
}

static void done_with(kw_event_router *r, const char *topic, int32_t partition, int64_t offset) {
  kw_consumer_store_offset(r->cons, topic, partition, offset + 1);
}

/* ---- holding a record for retry or dead-lettering ---- */

static held *hold(kw_event_router *r, const kw_message *m) {
  held *h = calloc(1, sizeof *h);
  held **arr = h ? realloc(r->held, sizeof *arr * (size_t)(r->n_held + 1)) : NULL;
  if (!arr) {
    free(h);
    return NULL;
  }
  r->held = arr;
  h->topic = dupstr(m->topic);
  h->partition = m->partition;
  h->offset = m->offset;
  h->timestamp = m->timestamp;
  kw_buf_init_grow(&h->rec, NULL);
  h->key_null = !m->key;
  h->value_null = !m->value;
  h->key_len = m->key_len;
  h->value_len = m->value_len;
  if (m->key_len) kw_buf_raw(&h->rec, m->key, m->key_len);
  if (m->value_len) kw_buf_raw(&h->rec, m->value, m->value_len);
  if (!h->topic || h->rec.err) {
    kw_buf_free(&h->rec);
    free(h->topic);
    free(h);
    return NULL;
  }
  h->first_failure = kw_wall_ms();
  r->held[r->n_held++] = h;
  kw_consumer_pause(r->cons, h->topic, h->partition); /* nothing of this partition overtakes it */
  return h;
}

static void release(kw_event_router *r, int i) {
  held *h = r->held[i];
  kw_consumer_resume(r->cons, h->topic, h->partition);
  kw_buf_free(&h->rec);
  free(h->topic);
  free(h);
  r->held[i] = r->held[--r->n_held];
}

static int send_dead_letter(kw_event_router *r, held *h) {
  char dlq[300], partition[16], offset[24], attempts[16], first[25], last[25];
  dlq_topic_for(r, h->topic, dlq, sizeof dlq);
  snprintf(partition, sizeof partition, "%d", h->partition);
  snprintf(offset, sizeof offset, "%lld", (long long)h->offset);
  snprintf(attempts, sizeof attempts, "%d", h->attempts);
  kw_rfc3339_format(h->first_failure, first);
  kw_rfc3339_format(h->last_failure ? h->last_failure : h->first_failure, last);
  const uint8_t *key = h->key_null ? NULL : h->rec.data;
  const uint8_t *value = h->value_null ? NULL : h->rec.data + h->key_len;
  kw_header hs[8] = {
      {"kwire.dlq.original.topic", h->topic, strlen(h->topic)},
      {"kwire.dlq.original.partition", partition, strlen(partition)},
      {"kwire.dlq.original.offset", offset, strlen(offset)},
      {"kwire.dlq.original.key", key, key ? h->key_len : 0},
      {"kwire.dlq.error", h->error, strlen(h->error)},
      {"kwire.dlq.attempts", attempts, strlen(attempts)},
      {"kwire.dlq.first.failure", first, strlen(first)},
      {"kwire.dlq.last.failure", last, strlen(last)},
  };
  if (!key) hs[3].value = NULL;
  int err = kw_produce(r->dlq, dlq, KW_PARTITION_UA, key, h->key_len, value, h->value_len, hs, 8, 0, h);
  if (err) return err;
  h->state = HELD_DLQ_WAIT;
  return KW_OK;
}

static void to_dead_letter(held *h, const char *why) {
  if (why && !h->error[0]) snprintf(h->error, sizeof h->error, "%s", why);
  h->state = HELD_DLQ_SEND;
  h->retry_at = 0;
}

/* ---- running handlers ---- */

/* Runs the handler for an event (fresh or held). Returns the handler's answer, or
 * KW_EVENT_FAIL with `error` set when the record is not a valid event or has no handler
 * and the policy says dead-letter; *skip set when it is to be committed without one. */
static kw_event_result dispatch(kw_event_router *r, const char *topic, int32_t partition, int64_t offset,
                                const void *key, size_t key_len, const void *value, size_t value_len, int attempt,
                                char *error, size_t error_len, bool *skip, bool *stop) {
  *skip = *stop = false;
  kw_envelope env;
  char reason[200];
  if (!value || kw_envelope_decode((kw_slice){value, (int32_t)value_len}, &env, reason, sizeof reason) != KW_OK) {
    r->m.malformed += attempt == 1;
    snprintf(error, error_len, "malformed event: %s", value ? reason : "null value");
    return KW_EVENT_FAIL;
  }
  if (attempt == 1 && r->dedup) {
    int seen = kw_dedup_check_and_add(r->dedup, env.event_id);
    if (seen == 1) {
      r->m.duplicates_skipped++;
      *skip = true;
      return KW_EVENT_OK;
    }
  }
  const route *rt = find_route(r, env.event_type, env.event_version);
  if (!rt) {
    snprintf(error, error_len, "no handler for %.200s v%d", env.event_type, env.event_version);
    if (r->unknown == KW_UNKNOWN_SKIP) *skip = true;
    if (r->unknown == KW_UNKNOWN_STOP) *stop = true;
    return r->unknown == KW_UNKNOWN_DEADLETTER ? KW_EVENT_FAIL : KW_EVENT_OK;
  }
  /* NUL-terminated copies of the key, whole at any length, and the payload, in one
   * allocation: the record's bytes are not terminated. */
  size_t payload_len = (size_t)env.payload.len;
  char *key_copy = malloc(key_len + 1 + payload_len + 1);
  if (!key_copy) return KW_EVENT_RETRY;
  char *payload = key_copy + key_len + 1;
  if (key_len) memcpy(key_copy, key, key_len);
  key_copy[key_len] = 0;
  if (payload_len) memcpy(payload, env.payload.ptr, payload_len);
  payload[payload_len] = 0;
  kw_event ev = {.topic = topic, .partition = partition, .offset = offset, .key = key ? key_copy : NULL,
                 .event_type = env.event_type, .event_version = env.event_version, .event_id = env.event_id,
                 .timestamp_ms = env.timestamp_ms, .payload = payload, .payload_len = payload_len,
                 .attempt = attempt, .key_len = key ? key_len : 0};
  error[0] = 0;
  kw_event_result res = rt->handler(rt->ud, &ev, error, error_len);
  free(key_copy);
  if (res == KW_EVENT_OK) {
    r->m.handled++;
    kw_hist_add(&r->m.end_to_end, (kw_wall_ms() - env.timestamp_ms) * 1000);
  } else if (!error[0]) {
    snprintf(error, error_len, "%s", res == KW_EVENT_RETRY ? "handler asked for a retry" : "handler failed");
  }
  return res;
}

static int64_t backoff(const kw_event_router *r, int attempts) {
  int64_t d = r->backoff_ms;
  for (int i = 1; i < attempts && d < r->max_backoff_ms; i++) d *= 2;
  return d < r->max_backoff_ms ? d : r->max_backoff_ms;
}

/* Moves held records along: retries that are due, dead letters to send, acks. */
static int work_held(kw_event_router *r, int64_t now) {
  int finished = 0;
  for (int i = 0; i < r->n_held; i++) {
    held *h = r->held[i];
    if (h->state == HELD_RETRY && now >= h->retry_at) {
      bool skip, stop;
      h->attempts++;
      r->m.retried++;
      const void *key = h->key_null ? NULL : h->rec.data;
      const void *value = h->value_null ? NULL : h->rec.data + h->key_len;
      kw_event_result res = dispatch(r, h->topic, h->partition, h->offset, key, h->key_len, value, h->value_len,
                                     h->attempts, h->error, sizeof h->error, &skip, &stop);
      h->last_failure = kw_wall_ms();
      if (res == KW_EVENT_OK) h->state = HELD_DONE;
      else if (res == KW_EVENT_FAIL || h->attempts >= r->max_attempts) to_dead_letter(h, NULL);
      else h->retry_at = now + backoff(r, h->attempts);
    }
    if (h->state == HELD_DLQ_SEND && now >= h->retry_at && send_dead_letter(r, h) != KW_OK)
      h->retry_at = now + 100; /* queue full: try again shortly */
    if (h->state == HELD_DONE) { /* handled on a retry, or its dead letter acknowledged */
      done_with(r, h->topic, h->partition, h->offset);
      release(r, i--);
      finished++;
    }
  }
  return finished;
}

static void on_fresh(kw_event_router *r, const kw_message *m, int *finished) {
  char error[256];
  bool skip, stop;
  kw_event_result res = dispatch(r, m->topic, m->partition, m->offset, m->key, m->key_len, m->value, m->value_len, 1,
                                 error, sizeof error, &skip, &stop);
  if (stop) {
    r->stopped = true;
    kw_consumer_pause(r->cons, m->topic, m->partition);
    return;
  }
  if (res == KW_EVENT_OK) {
    done_with(r, m->topic, m->partition, m->offset);
    (*finished)++;
    return;
  }
  held *h = hold(r, m);
  if (!h) { /* out of memory: stop this partition rather than lose the event */
    kw_consumer_pause(r->cons, m->topic, m->partition);
    return;
  }
  h->attempts = 1;
  h->last_failure = h->first_failure;
  snprintf(h->error, sizeof h->error, "%s", error);
  if (res == KW_EVENT_FAIL || r->max_attempts <= 1) to_dead_letter(h, NULL);
  else {
    h->state = HELD_RETRY;
    h->retry_at = kw_now_ms() + backoff(r, 1);
  }
}

int kw_event_router_run(kw_event_router *r, int timeout_ms) {
  if (r->stopped) return KW_ERR_STATE;
  int64_t end = kw_now_ms() + timeout_ms;
  int finished = 0;
  for (;;) {
    int64_t now = kw_now_ms();
    finished += work_held(r, now);
    kw_client_poll(r->dlq, 0);
    /* Wait no longer than the next retry. */
    int64_t wake = end;
    for (int i = 0; i < r->n_held; i++)
      if (r->held[i]->state != HELD_DLQ_WAIT && r->held[i]->retry_at < wake) wake = r->held[i]->retry_at;
    kw_message m;
    int got = kw_consumer_poll(r->cons, &m, (int)(wake > now ? (wake - now < 50 ? wake - now : 50) : 0));
    if (got < 0) return got;
    if (got == 1) {
      if (m.err) return m.err; /* an error event (corrupt batch, ...): the application decides */
      on_fresh(r, &m, &finished);
      if (r->stopped) return KW_ERR_STATE;
    }
    if (finished > 0 && kw_now_ms() >= end) return finished;
    if (kw_now_ms() >= end) return finished;
  }
}

/* ---- statistics ---- */

static void merge(kw_event_router *r, kw_metrics *out) {
  *out = r->cons->metrics;
  out->consumer_lag = kw_fetcher_lag(r->cons->cons);
  out->handled = r->m.handled;
  out->retried = r->m.retried;
  out->malformed = r->m.malformed;
  out->duplicates_skipped = r->m.duplicates_skipped;
  out->end_to_end = r->m.end_to_end;
  out->dead_lettered = r->dlq->metrics.delivered;
  out->produced += r->dlq->metrics.produced; /* the router's own producer: dead letters */
  out->delivered += r->dlq->metrics.delivered;
  out->delivery_failed += r->dlq->metrics.delivery_failed;
}

int kw_event_router_stats_json(kw_event_router *r, char *buf, size_t size) {
  kw_metrics m;
  merge(r, &m);
  return kw_metrics_json(&m, kw_config_values(r->cons->conf)->client_id, buf, size);
}

int kw_event_router_stats_prometheus(kw_event_router *r, char *buf, size_t size) {
  kw_metrics m;
  merge(r, &m);
  return kw_metrics_prometheus(&m, kw_config_values(r->cons->conf)->client_id, buf, size);
}
