/* Records the router holds back. A record whose handler asks for a retry, or that must
 * be dead-lettered, is copied out of the consumer's buffer and its partition paused, so
 * no later event of that partition overtakes it while the group's heartbeats go on (the
 * consumer keeps being polled). It is retried after a backoff, and its offset is stored
 * for commit only once it was handled or its dead letter was acknowledged: a dead letter
 * that fails is sent again, never dropped. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "event/kw_envelope.h"
#include "event/kw_event_base.h"
#include "event/kw_router.h"

static int64_t backoff(const kw_event_router *r, int attempts) {
  int64_t d = r->backoff_ms;
  for (int i = 1; i < attempts && d < r->max_backoff_ms; i++) d *= 2;
  return d < r->max_backoff_ms ? d : r->max_backoff_ms;
}

static void free_one(const kw_mem *mem, kw_held *h) {
  kw_buf_free(&h->rec);
  kw_ev_free(mem, h->topic);
  kw_ev_free(mem, h);
}

static void to_dead_letter(kw_held *h) {
  h->state = KW_HELD_DLQ_SEND;
  h->retry_at = 0;
}

kw_held *kw_router_hold(kw_event_router *r, const kw_message *m, kw_event_result first_result, const char *error) {
  kw_held *h = kw_ev_alloc(r->mem, sizeof *h);
  kw_held **arr = h ? kw_ev_realloc(r->mem, r->held, sizeof *arr * (size_t)(r->n_held + 1)) : NULL;
  if (!arr) {
    kw_ev_free(r->mem, h);
    return NULL;
  }
  r->held = arr;
  *h = (kw_held){.partition = m->partition, .offset = m->offset, .key_len = m->key_len, .value_len = m->value_len,
                 .key_null = !m->key, .value_null = !m->value, .attempts = 1};
  h->topic = kw_ev_strdup(r->mem, m->topic);
  kw_buf_init_grow(&h->rec, r->mem);
  if (m->key_len) kw_buf_raw(&h->rec, m->key, m->key_len);
  if (m->value_len) kw_buf_raw(&h->rec, m->value, m->value_len);
  if (!h->topic || h->rec.err) {
    free_one(r->mem, h);
    return NULL;
  }
  h->first_failure = h->last_failure = kw_ev_wall_ms();
  snprintf(h->error, sizeof h->error, "%s", error);
  if (first_result == KW_EVENT_FAIL || r->max_attempts <= 1) to_dead_letter(h);
  else {
    h->state = KW_HELD_RETRY;
    h->retry_at = kw_ev_monotonic_ms() + backoff(r, 1);
  }
  r->held[r->n_held++] = h;
  kw_consumer_pause(r->cons, h->topic, h->partition); /* nothing of this partition overtakes it */
  return h;
}

static void release(kw_event_router *r, int i) {
  kw_held *h = r->held[i];
  kw_consumer_resume(r->cons, h->topic, h->partition);
  free_one(r->mem, h);
  r->held[i] = r->held[--r->n_held];
}

/* A held record's partition is paused, so a record of that partition comes from the
 * consumer again only after the partition was revoked and assigned again: a new
 * assignment is not paused, and the consumer starts over from the committed offset, at
 * or before the held records, which come again in order. Finishing the old ones as well
 * would release the partition under the new hold (later events overtaking it) and store
 * an offset behind the ones stored since. A record whose dead letter is on its way is
 * only marked: the delivery report still points at it. */
void kw_router_drop_held(kw_event_router *r, const char *topic, int32_t partition) {
  for (int i = 0; i < r->n_held; i++) {
    kw_held *h = r->held[i];
    if (h->abandoned || h->partition != partition || strcmp(h->topic, topic) != 0) continue;
    h->abandoned = true;
    if (h->state == KW_HELD_DLQ_WAIT) continue;
    free_one(r->mem, h);
    r->held[i--] = r->held[--r->n_held];
  }
}

void kw_router_free_held(kw_event_router *r) {
  for (int i = 0; i < r->n_held; i++) free_one(r->mem, r->held[i]);
  kw_ev_free(r->mem, r->held);
  r->held = NULL;
  r->n_held = 0;
}

static const char *dlq_topic_for(const kw_event_router *r, const char *topic, char *fallback, size_t n) {
  for (int i = 0; i < r->n_dlqs; i++)
    if (strcmp(r->dlqs[i].topic, topic) == 0) return r->dlqs[i].dlq;
  snprintf(fallback, n, "%s.dlq", topic);
  return fallback;
}

/* The record as it came, with eight kwire.dlq.* headers saying where from and why. */
static int send_dead_letter(kw_event_router *r, kw_held *h) {
  char fallback[300], partition[16], offset[24], attempts[16], first[25], last[25];
  const char *dlq = dlq_topic_for(r, h->topic, fallback, sizeof fallback);
  snprintf(partition, sizeof partition, "%" PRId32, h->partition);
  snprintf(offset, sizeof offset, "%" PRId64, h->offset);
  snprintf(attempts, sizeof attempts, "%d", h->attempts);
  kw_rfc3339_format(h->first_failure, first);
  kw_rfc3339_format(h->last_failure, last);
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
  int err = kw_produce(r->dlq, dlq, KW_PARTITION_UA, key, h->key_len, value, h->value_len, hs, 8, 0, h);
  if (err) return err;
  h->state = KW_HELD_DLQ_WAIT;
  return KW_OK;
}

void kw_router_on_dead_letter(void *ud, const kw_delivery_report *dr) {
  kw_event_router *r = ud;
  kw_held *h = dr->opaque;
  if (!dr->err) {
    kw_stats_count(r->own, KW_COUNTER_DEAD_LETTERED, 1);
    h->state = KW_HELD_DONE;
    return;
  }
  h->state = KW_HELD_DLQ_SEND; /* sent again after a pause: never dropped */
  h->retry_at = kw_ev_monotonic_ms() + 1000;
}

static void retry(kw_event_router *r, kw_held *h, int64_t now) {
  bool skip, stop;
  h->attempts++;
  kw_stats_count(r->own, KW_COUNTER_RETRIED, 1);
  const void *key = h->key_null ? NULL : h->rec.data;
  const void *value = h->value_null ? NULL : h->rec.data + h->key_len;
  kw_event_result res = kw_router_dispatch(r, h->topic, h->partition, h->offset, key, h->key_len, value,
                                           h->value_len, h->attempts, h->error, sizeof h->error, &skip, &stop);
  h->last_failure = kw_ev_wall_ms();
  if (res == KW_EVENT_OK) h->state = KW_HELD_DONE;
  else if (res == KW_EVENT_FAIL || h->attempts >= r->max_attempts) to_dead_letter(h);
  else h->retry_at = now + backoff(r, h->attempts);
}

int kw_router_work_held(kw_event_router *r, int64_t now) {
  int finished = 0;
  for (int i = 0; i < r->n_held; i++) {
    kw_held *h = r->held[i];
    if (h->abandoned) { /* dropped while its dead letter was on its way */
      if (h->state != KW_HELD_DLQ_WAIT) {
        free_one(r->mem, h);
        r->held[i--] = r->held[--r->n_held];
      }
      continue;
    }
    if (h->state == KW_HELD_RETRY && now >= h->retry_at) retry(r, h, now);
    if (h->state == KW_HELD_DLQ_SEND && now >= h->retry_at && send_dead_letter(r, h) != KW_OK)
      h->retry_at = now + 100; /* the producer's queue is full: try again shortly */
    if (h->state == KW_HELD_DONE) { /* handled on a retry, or its dead letter acknowledged */
      kw_router_done_with(r, h->topic, h->partition, h->offset);
      release(r, i--);
      finished++;
    }
  }
  return finished;
}

int64_t kw_router_held_wake(const kw_event_router *r) {
  int64_t wake = INT64_MAX;
  for (int i = 0; i < r->n_held; i++) {
    const kw_held *h = r->held[i];
    int64_t at = h->state == KW_HELD_DLQ_WAIT ? INT64_MAX : h->state == KW_HELD_DONE || h->abandoned ? 0 : h->retry_at;
    if (at < wake) wake = at;
  }
  return wake;
}
