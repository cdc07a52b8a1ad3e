/* The orders event pipeline: what ./scripts/demo runs.
 *
 *   example_orders_pipeline BROKERS [ORDERS]
 *
 * A checkout service publishes OrderCreated (v1 and v2) and PaymentProcessed events,
 * keyed by order id so each order's events stay in order. An order service consumes
 * them in a consumer group through kwire's event router:
 *   - payment handling fails transiently for every 10th order: retried, then handled;
 *   - one order has a negative amount: its handler fails it, it goes to orders.dlq;
 *   - one record is not an event at all (bad JSON): dead-lettered with the reason;
 *   - offsets are committed only after success or an acknowledged dead letter.
 * At the end it reads orders.dlq back and prints the totals, ending with "lost 0". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"

#define TOPIC "orders"
#define DLQ "orders.dlq"

typedef struct service {
  int created_v1, created_v2, payments, payment_failures_left[100000];
  long long revenue_cents;
} service;

/* A tiny field reader for the demo's own payloads ("amount_cents":123). */
static long long json_int(const char *json, const char *field) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", field);
  const char *at = strstr(json, pat);
  return at ? atoll(at + strlen(pat)) : -1;
}

static kw_event_result on_order_created_v1(void *ud, const kw_event *ev, char *error, size_t n) {
  service *s = ud;
  if (json_int(ev->payload, "amount_cents") < 0) {
    snprintf(error, n, "order %s: negative amount", ev->key ? ev->key : "?");
    return KW_EVENT_FAIL; /* a poison event: retrying cannot help */
  }
  s->created_v1++;
  return KW_EVENT_OK;
}

static kw_event_result on_order_created_v2(void *ud, const kw_event *ev, char *error, size_t n) {
  service *s = ud;
  (void)error, (void)n;
  if (json_int(ev->payload, "amount_cents") >= 0) s->created_v2++; /* v2 adds a currency field */
  return KW_EVENT_OK;
}

static kw_event_result on_payment(void *ud, const kw_event *ev, char *error, size_t n) {
  service *s = ud;
  long long order = json_int(ev->payload, "order");
  if (order >= 0 && order < 100000 && s->payment_failures_left[order] > 0) {
    s->payment_failures_left[order]--;
    snprintf(error, n, "payment gateway timed out (attempt %d)", ev->attempt);
    return KW_EVENT_RETRY; /* transient: the router retries with backoff */
  }
  s->payments++;
  s->revenue_cents += json_int(ev->payload, "amount_cents");
  return KW_EVENT_OK;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "orders: %s: %s\n", what, why);
  exit(1);
}

static kw_config *config(const char *brokers) {
  char err[256];
  kw_config *c = kw_config_new();
  if (kw_config_set(c, "bootstrap.servers", brokers, err, sizeof err)) die("config", err);
  return c;
}

typedef struct acks {
  int ok, failed;
} acks;

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  acks *a = ud;
  if (dr->err) a->failed++;
  else a->ok++;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s BROKERS [ORDERS]\n", argv[0]);
    return 2;
  }
  int orders = argc > 2 ? atoi(argv[2]) : 1000;
  if (orders < 10 || orders > 99999) orders = 1000;
  char err[256];
  char group[64];
  snprintf(group, sizeof group, "orders-service-%d", rand() ^ (int)(size_t)&orders);

  /* Topics. */
  kw_config *conf = config(argv[1]);
  kw_client *admin = kw_admin_new(conf, err, sizeof err);
  if (!admin) die("admin", err);
  if (kw_admin_create_topic(admin, TOPIC, 3, 1, NULL, 30000, err, sizeof err) && !strstr(err, "ALREADY_EXISTS"))
    die("create " TOPIC, err);
  if (kw_admin_create_topic(admin, DLQ, 1, 1, NULL, 30000, err, sizeof err) && !strstr(err, "ALREADY_EXISTS"))
    die("create " DLQ, err);
  kw_client_destroy(admin);

  /* Where the order service's consumer group starts: the current end of the topic. */
  kw_client *probe = kw_consumer_new(conf, err, sizeof err);
  int64_t start[3], dlq_start, lo, hi;
  for (int p = 0; p < 3; p++) {
    if (kw_consumer_watermarks(probe, TOPIC, p, &lo, &hi, 10000)) die("watermarks", TOPIC);
    start[p] = hi;
  }
  if (kw_consumer_watermarks(probe, DLQ, 0, &lo, &dlq_start, 10000)) die("watermarks", DLQ);
  kw_client_destroy(probe);

  /* The checkout service publishes. */
  kw_client *producer = kw_producer_new(conf, err, sizeof err);
  if (!producer) die("producer", err);
  acks published = {0, 0};
  kw_client_set_delivery_cb(producer, on_delivery, &published);
  service svc;
  memset(&svc, 0, sizeof svc);
  int events = 0;
  for (int i = 0; i < orders; i++) {
    char key[32], payload[160];
    snprintf(key, sizeof key, "order-%d", i);
    long long amount = i == orders / 2 ? -500 : 1000 + i; /* one poison order */
    if (i % 2) {
      snprintf(payload, sizeof payload, "{\"order\":%d,\"amount_cents\":%lld,\"currency\":\"EUR\"}", i, amount);
      if (kw_event_publish(producer, TOPIC, key, "OrderCreated", 2, payload, NULL, NULL)) die("publish", key);
    } else {
      snprintf(payload, sizeof payload, "{\"order\":%d,\"amount_cents\":%lld}", i, amount);
      if (kw_event_publish(producer, TOPIC, key, "OrderCreated", 1, payload, NULL, NULL)) die("publish", key);
    }
    snprintf(payload, sizeof payload, "{\"order\":%d,\"amount_cents\":%d}", i, 1000 + i);
    if (kw_event_publish(producer, TOPIC, key, "PaymentProcessed", 1, payload, NULL, NULL)) die("publish", key);
    if (i % 10 == 0) svc.payment_failures_left[i] = 2; /* fails twice, then succeeds */
    events += 2;
    kw_client_poll(producer, 0);
  }
  /* And one record that is not an event at all. */
  if (kw_produce(producer, TOPIC, 0, "order-x", 7, "{not json", 9, NULL, 0, 0, NULL)) die("produce", "bad record");
  events++;
  if (kw_client_flush(producer, 30000)) die("flush", "not every event was acknowledged");
  printf("checkout: published %d events for %d orders (%d acknowledged, %d failed)\n", events, orders, published.ok,
         published.failed);

  /* The order service consumes in a group. */
  char gerr[256];
  kw_config_set(conf, "group.id", group, gerr, sizeof gerr);
  kw_config_set(conf, "auto.offset.reset", "earliest", gerr, sizeof gerr);
  kw_config_set(conf, "auto.commit.interval.ms", "200", gerr, sizeof gerr);
  /* The router stores each offset once its event is handled or dead-lettered. */
  kw_config_set(conf, "enable.auto.offset.store", "false", gerr, sizeof gerr);
  kw_client *consumer = kw_consumer_new(conf, err, sizeof err);
  if (!consumer) die("consumer", err);
  const char *topics[] = {TOPIC};
  kw_consumer_subscribe(consumer, topics, 1);
  kw_event_router *router = kw_event_router_new(consumer, err, sizeof err);
  if (!router) die("router", err);
  kw_event_route(router, "OrderCreated", 1, 1, on_order_created_v1, &svc);
  kw_event_route(router, "OrderCreated", 2, 2, on_order_created_v2, &svc);
  kw_event_route(router, "PaymentProcessed", 1, 1, on_payment, &svc);
  kw_event_router_set_retry(router, 5, 50, 1000);
  kw_event_router_set_dedup(router, 100000);
  /* Start where the topic ended before this run, so earlier demo runs do not count. */
  int settled = 0;
  for (int loops = 0; loops < 6000 && !settled; loops++) {
    int r = kw_event_router_run(router, 50);
    if (r < 0) die("router", kw_strerror(r));
    int64_t seen = 0;
    for (int p = 0; p < 3; p++) {
      int64_t pos = kw_consumer_position(consumer, TOPIC, p);
      if (pos >= 0) seen += pos - start[p];
    }
    settled = seen >= events && kw_event_router_pending(router) == 0;
  }
  if (!settled) die("order service", "did not get through every event within 5 minutes");
  kw_consumer_commit(consumer, 10000);
  char stats[2048];
  kw_event_router_stats_json(router, stats, sizeof stats);

  /* Read the dead letters back. */
  kw_client *reader = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  kw_consumer_assign(reader, DLQ, 0, dlq_start);
  int dead = 0;
  kw_message m;
  for (int tries = 0; tries < 100 && dead < 2; tries++) {
    while (kw_consumer_poll(reader, &m, 100) == 1 && !m.err) {
      const char *k;
      const void *v;
      size_t kl, vl;
      char reason[200] = "";
      for (int h = 0; h < m.n_headers; h++)
        if (kw_message_header(&m, h, &k, &kl, &v, &vl) == 0 && kl == 15 && memcmp(k, "kwire.dlq.error", 15) == 0)
          snprintf(reason, sizeof reason, "%.*s", (int)vl, (const char *)v);
      printf("dead letter: key %.*s, %d headers, reason: %s\n", (int)m.key_len, m.key ? (const char *)m.key : "",
             m.n_headers, reason);
      dead++;
    }
  }
  int handled = svc.created_v1 + svc.created_v2 + svc.payments;
  int lost = events - handled - dead;
  printf("order service: OrderCreated v1 %d, v2 %d, PaymentProcessed %d (revenue %.2f EUR)\n", svc.created_v1,
         svc.created_v2, svc.payments, svc.revenue_cents / 100.0);
  printf("stats: %s\n", stats);
  printf("orders: published %d, handled %d, dead-lettered %d, lost %d\n", events, handled, dead, lost);
  kw_event_router_free(router);
  kw_client_destroy(consumer);
  kw_client_destroy(reader);
  kw_client_destroy(producer);
  return lost == 0 && dead == 2 ? 0 : 1;
}
