/* The event router under faults: OrderCreated events (six orders, each a key) are
 * published, and a router in a consumer group handles them with a handler that fails
 * some for good (dead letter), fails some twice before it succeeds (retries) and takes
 * the rest at once; offsets are stored once an event is handled or dead-lettered.
 *
 * What must hold: every event is handled or dead-lettered, never both; one that fails
 * for good is in the dead-letter topic; per order (key), events are handled in the
 * order they were published; at the end the group has committed every partition of
 * the source topic up to its high watermark. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "tests/sim/sim_workloads.h"

#define SRC "orders.events"
#define DLQ "orders.events.dlq"
#define N_PARTS 3
#define N_EVENTS 60
#define N_ORDERS 6

typedef struct rstate {
  int ok[N_EVENTS];       /* handled successfully (times) */
  int tries[N_EVENTS];    /* handler calls */
  int in_dlq[N_EVENTS];
  int last_ok[N_ORDERS];  /* the last event number handled per order */
  int published;
  sim_verdict v;
} rstate;

static bool dead(int n) { return n % 7 == 3; }
static bool flaky(int n) { return n % 5 == 1; }

static kw_event_result handle(void *ud, const kw_event *ev, char *error, size_t error_size) {
  rstate *r = ud;
  int n = -1;
  if (sscanf(ev->payload, "{\"n\":%d}", &n) != 1 || n < 0 || n >= N_EVENTS) {
    sim_fail(&r->v, "the handler got an event nobody published: %.*s", (int)ev->payload_len, ev->payload);
    return KW_EVENT_OK;
  }
  r->tries[n]++;
  if (dead(n)) {
    snprintf(error, error_size, "order %d cannot be priced", n);
    return KW_EVENT_FAIL;
  }
  if (flaky(n) && ev->attempt < 3) return KW_EVENT_RETRY;
  int order = n % N_ORDERS;
  if (n < r->last_ok[order] && !r->ok[n])
    sim_fail(&r->v, "order %d: event %d handled after event %d", order, n, r->last_ok[order]);
  if (n > r->last_ok[order]) r->last_ok[order] = n;
  r->ok[n]++;
  return KW_EVENT_OK;
}

static void in_dlq(void *ud, int64_t offset, const uint8_t *k, int32_t kl, const uint8_t *v, int32_t vl) {
  rstate *r = ud;
  (void)offset, (void)k, (void)kl;
  char text[512];
  snprintf(text, sizeof text, "%.*s", vl > 0 ? (int)vl : 0, v ? (const char *)v : "");
  const char *at = strstr(text, "{\"n\":");
  int n;
  if (at && sscanf(at, "{\"n\":%d}", &n) == 1 && n >= 0 && n < N_EVENTS) r->in_dlq[n]++;
}

static void publish(kw_sim *s, rstate *r, bool trace) {
  kw_config *c = sim_client_config(s, trace);
  char err[256];
  kw_config_set(c, "bootstrap.servers", kw_sim_bootstrap(s), err, sizeof err);
  kw_config_set(c, "request.timeout.ms", "5000", err, sizeof err);
  if (trace) kw_config_set(c, "debug", "all", err, sizeof err);
  kw_client *p = kw_producer_new(c, err, sizeof err);
  kw_config_free(c);
  if (!p) {
    sim_fail(&r->v, "producer: %s", err);
    return;
  }
  for (int n = 0; n < N_EVENTS; n++) {
    char key[16], payload[32];
    snprintf(key, sizeof key, "order-%d", n % N_ORDERS);
    snprintf(payload, sizeof payload, "{\"n\":%d}", n);
    if (kw_event_publish(p, SRC, key, "OrderCreated", 1, payload, NULL, NULL) == 0) r->published++;
  }
  kw_client_flush(p, 120000);
  kw_client_destroy(p);
}

static kw_client *router_consumer(kw_sim *s, bool trace) {
  kw_config *c = sim_client_config(s, trace);
  char err[256];
  const char *kv[][2] = {{"bootstrap.servers", kw_sim_bootstrap(s)}, {"group.id", "order-pricing"},
                         {"auto.offset.reset", "earliest"},          {"enable.auto.offset.store", "false"},
                         {"auto.commit.interval.ms", "500"},         {"request.timeout.ms", "5000"},
                         {"fetch.wait.max.ms", "100"},               {"debug", trace ? "all" : ""}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (*kv[i][1]) kw_config_set(c, kv[i][0], kv[i][1], err, sizeof err);
  kw_client *cl = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  return cl;
}

static void log_end(void *ud, int64_t offset, const uint8_t *k, int32_t kl, const uint8_t *v, int32_t vl) {
  (void)k, (void)kl, (void)v, (void)vl;
  int64_t *end = ud;
  if (offset + 1 > *end) *end = offset + 1;
}

/* The group committed every source partition up to its last record. */
static bool committed_all(kw_sim *s) {
  for (int32_t p = 0; p < N_PARTS; p++) {
    int64_t end = 0;
    kw_sim_read_log(s, SRC, p, log_end, &end);
    if (kw_sim_committed(s, "order-pricing", SRC, p) < end) return false;
  }
  return true;
}

int sim_router_workload(kw_sim *s, bool trace, char *why, size_t whylen) {
  rstate *r = calloc(1, sizeof *r);
  if (!r) return snprintf(why, whylen, "out of memory"), 1;
  r->v = (sim_verdict){why, whylen, false};
  for (int i = 0; i < N_ORDERS; i++) r->last_ok[i] = -1;
  if (kw_sim_create_topic(s, SRC, N_PARTS, 0) || kw_sim_create_topic(s, DLQ, 1, 0)) sim_fail(&r->v, "create topics");
  if (!r->v.bad) publish(s, r, trace);
  kw_client *cl = r->v.bad ? NULL : router_consumer(s, trace);
  char err[256] = "";
  kw_event_router *rt = cl ? kw_event_router_new(cl, err, sizeof err) : NULL;
  if (!r->v.bad && !rt) sim_fail(&r->v, "router: %s", err);
  if (rt) {
    kw_event_route(rt, "OrderCreated", 1, 1, handle, r);
    kw_event_router_set_retry(rt, 5, 50, 400);
    kw_event_router_set_dlq(rt, SRC, DLQ);
    const char *topics[] = {SRC};
    kw_consumer_subscribe(cl, topics, 1);
  }
  int64_t end = kw_sim_now(s) + 120000;
  int done = 0;
  while (rt && !r->v.bad && kw_sim_now(s) < end) {
    kw_event_router_run(rt, 20);
    done = 0;
    for (int n = 0; n < r->published; n++) done += dead(n) ? r->tries[n] > 0 : r->ok[n] > 0;
    if (done == r->published && kw_event_router_pending(rt) == 0 && committed_all(s)) break;
  }
  if (rt) kw_event_router_free(rt);
  if (cl) kw_client_destroy(cl);
  kw_sim_read_log(s, DLQ, 0, in_dlq, r);
  for (int n = 0; n < r->published && !r->v.bad; n++) {
    if (dead(n) && r->ok[n]) sim_fail(&r->v, "event %d failed for good but was handled", n);
    else if (dead(n) && !r->in_dlq[n]) sim_fail(&r->v, "event %d failed for good and is not in the dead-letter topic", n);
    else if (!dead(n) && !r->ok[n]) sim_fail(&r->v, "event %d was never handled (%d tries)", n, r->tries[n]);
    else if (!dead(n) && r->in_dlq[n]) sim_fail(&r->v, "event %d was handled and also dead-lettered", n);
  }
  if (!r->v.bad && r->published != N_EVENTS) sim_fail(&r->v, "only %d of %d events were published", r->published, N_EVENTS);
  if (!r->v.bad && !committed_all(s)) sim_fail(&r->v, "the group did not commit every partition of %s to its end", SRC);
  int bad = r->v.bad;
  free(r);
  return bad;
}
