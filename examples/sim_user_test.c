/* A user's unit test written against kwsim (docs/testing.md shows it piece by piece).
 *
 * The code under test is send_order_created(): it publishes an OrderCreated event keyed
 * by the order id. The test checks that every order reaches the topic exactly once
 * while the cluster misbehaves: the first two Produce requests are refused with
 * NOT_LEADER_OR_FOLLOWER and a partition's leader moves halfway. It runs twice: with the
 * cluster in the process (virtual time, the same run every time) and with the cluster
 * on loopback ports (real sockets, as any client would connect).
 *
 * Exit status 0 when both pass; ctest runs it (unit.example_sim_user_test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"
#include "kwire/codec.h"
#include "kwire/sim.h"

#define N_ORDERS 20

/* ---- the code under test (the user's) ---- */

static int send_order_created(kw_client *producer, const char *order_id, double amount) {
  char event[128];
  int n = snprintf(event, sizeof event, "{\"type\":\"OrderCreated\",\"order\":\"%s\",\"amount\":%.2f}", order_id, amount);
  return kw_produce(producer, "orders", KW_PARTITION_UA, order_id, strlen(order_id), event, (size_t)n, NULL, 0, 0, NULL);
}

/* ---- the test ---- */

static int failures;
#define CHECK(cond, ...)                                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                       \
      fputc('\n', stderr);                                                \
      failures++;                                                         \
    }                                                                     \
  } while (0)

typedef struct delivered {
  int ok, failed;
} delivered;

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  delivered *d = ud;
  if (dr->err == KW_OK) d->ok++;
  else d->failed++;
}

/* How many times each order is in the topic, as the cluster's logs hold it. */
static int seen[N_ORDERS];
static void count_order(void *ud, int64_t offset, const uint8_t *key, int32_t key_len, const uint8_t *value,
                        int32_t value_len) {
  (void)ud, (void)offset, (void)value, (void)value_len;
  int id = -1;
  if (key_len > 6 && memcmp(key, "order-", 6) == 0) id = atoi((const char *)key + 6);
  if (id >= 0 && id < N_ORDERS) seen[id]++;
}

static kw_sim *new_cluster(void) {
  kw_sim_config cfg = {.seed = 42, .n_brokers = 3};
  kw_sim *sim = kw_sim_new(&cfg);
  if (!sim || kw_sim_create_topic(sim, "orders", 3, 3) != 0) {
    fprintf(stderr, "kwsim: cannot make the cluster\n");
    exit(2);
  }
  /* The next two Produce requests are refused, and not applied. */
  kw_sim_inject_error(sim, KW_API_PRODUCE, KW_KERR_NOT_LEADER_OR_FOLLOWER, 2);
  return sim;
}

static kw_client *new_producer(kw_sim *sim, delivered *d) {
  kw_config *conf = kw_config_new();
  char err[256];
  kw_config_set(conf, "bootstrap.servers", kw_sim_bootstrap(sim), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!p) {
    fprintf(stderr, "producer: %s\n", err);
    exit(2);
  }
  kw_client_set_delivery_cb(p, on_delivery, d);
  return p;
}

static void send_all(kw_client *p, int from, int to) {
  for (int i = from; i < to; i++) {
    char id[32];
    snprintf(id, sizeof id, "order-%d", i);
    CHECK(send_order_created(p, id, 10.0 + i) == KW_OK, "order %d", i);
  }
}

static void check_topic(kw_sim *sim, const delivered *d, const char *mode) {
  memset(seen, 0, sizeof seen);
  for (int32_t part = 0; part < 3; part++) kw_sim_read_log(sim, "orders", part, count_order, NULL);
  CHECK(d->ok == N_ORDERS && d->failed == 0, "%s: %d delivered, %d failed", mode, d->ok, d->failed);
  for (int i = 0; i < N_ORDERS; i++) CHECK(seen[i] == 1, "%s: order-%d is in the topic %d times", mode, i, seen[i]);
  kw_sim_stats st = kw_sim_get_stats(sim);
  CHECK(st.injected == 2, "%s: %llu requests refused", mode, (unsigned long long)st.injected);
}

/* In the process: the client's waits run the cluster, in virtual time. */
static void test_in_process(void) {
  kw_sim *sim = new_cluster();
  kw_sim_install(sim); /* before the first client */
  delivered d = {0, 0};
  kw_client *p = new_producer(sim, &d);
  send_all(p, 0, N_ORDERS / 2);
  CHECK(kw_client_flush(p, 30000) == KW_OK, "in-process: first flush");
  kw_sim_move_leader(sim, "orders", 0);
  send_all(p, N_ORDERS / 2, N_ORDERS);
  CHECK(kw_client_flush(p, 30000) == KW_OK, "in-process: second flush");
  kw_client_destroy(p);
  kw_sim_install(NULL); /* after the last */
  check_topic(sim, &d, "in-process");
  kw_sim_free(sim);
}

/* Serves the cluster and runs the client on this one thread until nothing is
 * outstanding: the client never blocks (poll 0), the cluster waits for its sockets. */
static int drain(kw_sim *sim, kw_client *p) {
  for (int turn = 0; turn < 100000; turn++) {
    kw_client_poll(p, 0);
    if (kw_client_outstanding(p) == 0) return KW_OK;
    kw_sim_serve(sim, 5);
  }
  return KW_ERR_TIMED_OUT;
}

/* On loopback ports: real sockets and real time, the client as in production. */
static void test_loopback(void) {
  kw_sim *sim = new_cluster();
  CHECK(kw_sim_listen(sim) == KW_OK, "listen");
  delivered d = {0, 0};
  kw_client *p = new_producer(sim, &d);
  send_all(p, 0, N_ORDERS / 2);
  CHECK(drain(sim, p) == KW_OK, "loopback: first half");
  kw_sim_move_leader(sim, "orders", 0);
  send_all(p, N_ORDERS / 2, N_ORDERS);
  CHECK(drain(sim, p) == KW_OK, "loopback: second half");
  kw_client_destroy(p);
  check_topic(sim, &d, "loopback");
  kw_sim_free(sim);
}

int main(void) {
  test_in_process();
  test_loopback();
  printf("%s\n", failures ? "FAILED" : "passed: in-process and loopback");
  return failures ? 1 : 0;
}
