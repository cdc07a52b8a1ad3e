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

static void create_topics(kw_config *conf) {
  char err[256];
  kw_client *admin = kw_admin_new(conf, err, sizeof err);
  if (!admin) die("admin", err);
  if (kw_admin_create_topic(admin, TOPIC, 3, 1, NULL, 30000, err, sizeof err) && !strstr(err, "ALREADY_EXISTS"))
    die("create " TOPIC, err);
  if (kw_admin_create_topic(admin, DLQ, 1, 1, NULL, 30000, err, sizeof err) && !strstr(err, "ALREADY_EXISTS"))
    die("create " DLQ, err);
  kw_client_destroy(admin);
}

/* Where this run starts: the current end of each partition, so earlier demo runs do not count. */
static void topic_ends(kw_config *conf, int64_t start[3], int64_t *dlq_start) {
  char err[256];
  int64_t lo;
  kw_client *probe = kw_consumer_new(conf, err, sizeof err);
  if (!probe) die("consumer", err);
  for (int p = 0; p < 3; p++)
    if (kw_consumer_watermarks(probe, TOPIC, p, &lo, &start[p], 10000)) die("watermarks", TOPIC);
  if (kw_consumer_watermarks(probe, DLQ, 0, &lo, dlq_start, 10000)) die("watermarks", DLQ);
  kw_client_destroy(probe);
}

/* The checkout service: two events per order, one poison order, one record that is not
 * an event at all. Returns how many records it published, all acknowledged. */
static int checkout(kw_config *conf, int orders, service *svc) {
  char err[256];
  kw_client *producer = kw_producer_new(conf, err, sizeof err);
  if (!producer) die("producer", err);
  acks published = {0, 0};
  kw_client_set_delivery_cb(producer, on_delivery, &published);
  int events = 0;
  for (int i = 0; i < orders; i++) {
    char key[32], payload[160];
    snprintf(key, sizeof key, "order-%d", i);
    long long amount = i == orders / 2 ? -500 : 1000 + i; /* one poison order */
    int version = i % 2 ? 2 : 1; /* v2 adds the currency */
    if (version == 2)
      snprintf(payload, sizeof payload, "{\"order\":%d,\"amount_cents\":%lld,\"currency\":\"EUR\"}", i, amount);
    else
      snprintf(payload, sizeof payload, "{\"order\":%d,\"amount_cents\":%lld}", i, amount);
    if (kw_event_publish(producer, TOPIC, key, "OrderCreated", version, payload, NULL, NULL)) die("publish", key);
    snprintf(payload, sizeof payload, "{\"order\":%d,\"amount_cents\":%d}", i, 1000 + i);
    if (kw_event_publish(producer, TOPIC, key, "PaymentProcessed", 1, payload, NULL, NULL)) die("publish", key);
    if (i % 10 == 0) svc->payment_failures_left[i] = 2; /* fails twice, then succeeds */
    events += 2;
    kw_client_poll(producer, 0);
  }
  if (kw_produce(producer, TOPIC, 0, "order-x", 7, "{not json", 9, NULL, 0, 0, NULL)) die("produce", "bad record");
  events++;
  if (kw_client_flush(producer, 30000)) die("flush", "not every event was acknowledged");
  printf("checkout: published %d events for %d orders (%d acknowledged, %d failed)\n", events, orders, published.ok,
         published.failed);
  kw_client_destroy(producer);
  return events;
}

/* The order service: a group consumer driven by the event router until every event
 * published since `start` was handled or dead-lettered; the stats JSON into `stats`. */
static void order_service(kw_config *conf, const int64_t start[3], int events, service *svc, char *stats,
                          size_t stats_size) {
  char err[256], group[64];
  snprintf(group, sizeof group, "orders-service-%d", rand() ^ (int)(size_t)&events);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "auto.commit.interval.ms", "200", err, sizeof err);
  /* The router stores each offset once its event is handled or dead-lettered. */
  kw_config_set(conf, "enable.auto.offset.store", "false", err, sizeof err);
  kw_client *consumer = kw_consumer_new(conf, err, sizeof err);
  if (!consumer) die("consumer", err);
  const char *topics[] = {TOPIC};
  kw_consumer_subscribe(consumer, topics, 1);
  kw_event_router *router = kw_event_router_new(consumer, err, sizeof err);
  if (!router) die("router", err);
  kw_event_route(router, "OrderCreated", 1, 1, on_order_created_v1, svc);
  kw_event_route(router, "OrderCreated", 2, 2, on_order_created_v2, svc);
  kw_event_route(router, "PaymentProcessed", 1, 1, on_payment, svc);
  kw_event_router_set_retry(router, 5, 50, 1000);
  kw_event_router_set_dedup(router, 100000);
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
  kw_event_router_stats_json(router, stats, stats_size);
  kw_event_router_free(router);
  kw_client_destroy(consumer);
}

/* Reads the dead letters written since dlq_start back, printing each one's reason. */
static int read_dead_letters(kw_config *conf, int64_t dlq_start) {
  char err[256];
  kw_client *reader = kw_consumer_new(conf, err, sizeof err);
  if (!reader) die("consumer", err);
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
  kw_client_destroy(reader);
  return dead;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s BROKERS [ORDERS]\n", argv[0]);
    return 2;
  }
  int orders = argc > 2 ? atoi(argv[2]) : 1000;
  if (orders < 10 || orders > 99999) orders = 1000;
  kw_config *conf = config(argv[1]);
  create_topics(conf);
  int64_t start[3], dlq_start;
  topic_ends(conf, start, &dlq_start);
  static service svc; /* large: not on the stack */
  int events = checkout(conf, orders, &svc);
  char stats[2048];
  order_service(conf, start, events, &svc, stats, sizeof stats);
  int dead = read_dead_letters(conf, dlq_start);
  kw_config_free(conf);
  int handled = svc.created_v1 + svc.created_v2 + svc.payments;
  int lost = events - handled - dead;
  printf("order service: OrderCreated v1 %d, v2 %d, PaymentProcessed %d (revenue %.2f EUR)\n", svc.created_v1,
         svc.created_v2, svc.payments, svc.revenue_cents / 100.0);
  printf("stats: %s\n", stats);
  printf("orders: published %d, handled %d, dead-lettered %d, lost %d\n", events, handled, dead, lost);
  return lost == 0 && dead == 2 ? 0 : 1;
}
