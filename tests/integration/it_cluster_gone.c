/* The only broker is killed under working clients (its own broker, started here with
 * tests/broker/kafka, so the shared fixture is left alone): a producer, a consumer with
 * an assigned partition, a classic group member and a KIP-848 member, each having
 * consumed what was there, and admin. With the cluster gone, each must wait for its
 * backoffs: the wake-ups it counts (KW_COUNTER_WAKEUPS) over a few seconds stay within
 * what the test's own calls and the configured backoffs explain. A client that spins
 * wakes thousands of times a second. Then the broker comes back: the producer delivers
 * what waited, each consumer (assign-mode, classic and KIP-848 member) delivers a record
 * produced after the return, and admin answers (waiting for a connection must not turn
 * into a stall either). The restart moves the partition's leader epoch on: a consumer
 * whose fetch session still holds the old epoch is answered FENCED_LEADER_EPOCH forever. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_MSGS 10
#define BACKOFF_MS 100     /* reconnect.backoff.ms and retry.backoff.ms */
#define BACKOFF_MAX_MS 400 /* their maximums */
#define RUN_MS 3000        /* how long each client is watched with the broker gone */
#define CALL_MS 100        /* each poll's timeout */
/* Timers that may each wake a client once per backoff: reconnecting the broker and the
 * coordinator's own connection, the metadata retry, the group's retry, the fetcher's and
 * the producer's retries, an admin call's backoff, one spare. */
#define TIMERS 8

static char dir[256], script[512], bootstrap[512];

static void harness(const char *args, char *out, size_t n) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "KW_BROKER_DIR='%s' '%s' %s", dir, script, args);
  FILE *f = popen(cmd, "r");
  IT_CHECK(f != NULL, "%s", cmd);
  if (out && (!fgets(out, (int)n, f))) out[0] = 0;
  if (out) out[strcspn(out, "\n")] = 0;
  IT_CHECK(pclose(f) == 0, "harness %s failed", args);
}

static void stop_broker(void) { harness("stop", NULL, 0); }

static kw_config *config(void) {
  kw_config *c = kw_config_new();
  char err[256];
  static const char *const kv[][2] = {
      {"reconnect.backoff.ms", "100"}, {"reconnect.backoff.max.ms", "400"}, {"retry.backoff.ms", "100"},
      {"retry.backoff.max.ms", "400"}, {"log_level", "0"}};
  IT_CHECK(kw_config_set(c, "bootstrap.servers", bootstrap, err, sizeof err) == 0, "%s", err);
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    IT_CHECK(kw_config_set(c, kv[i][0], kv[i][1], err, sizeof err) == 0, "%s: %s", kv[i][0], err);
  if (getenv("KW_DEBUG")) kw_config_set(c, "debug", getenv("KW_DEBUG"), err, sizeof err);
  return c;
}

static kw_client *consumer(const char *group, const char *protocol, const char *topic) {
  kw_config *c = config();
  char err[256];
  IT_CHECK(kw_config_set(c, "auto.offset.reset", "earliest", err, sizeof err) == 0, "%s", err);
  if (group) {
    IT_CHECK(kw_config_set(c, "group.id", group, err, sizeof err) == 0, "%s", err);
    IT_CHECK(kw_config_set(c, "group.protocol", protocol, err, sizeof err) == 0, "%s", err);
  }
  kw_client *k = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  IT_CHECK(k != NULL, "%s", err);
  if (group) {
    const char *topics[] = {topic};
    IT_CHECK(kw_consumer_subscribe(k, topics, 1) == 0, "subscribe");
  } else {
    IT_CHECK(kw_consumer_assign(k, topic, 0, KW_OFFSET_BEGINNING) == 0, "assign");
  }
  return k;
}

static void consume_all(kw_client *k, const char *who) {
  int got = 0;
  int64_t end = kw_now_ms() + 60000;
  kw_message m;
  while (got < N_MSGS && kw_now_ms() < end)
    if (kw_consumer_poll(k, &m, CALL_MS) == 1 && !m.err) got++;
  IT_CHECK(got == N_MSGS, "%s consumed %d of %d before the broker went", who, got, N_MSGS);
}

/* Once the broker is back: consumes until the record produced after its return. */
static void consume_until_after(kw_client *k, const char *who) {
  int64_t end = kw_now_ms() + 60000;
  kw_message m;
  while (kw_now_ms() < end)
    if (kw_consumer_poll(k, &m, CALL_MS) == 1 && !m.err && m.value_len == 5 && memcmp(m.value, "after", 5) == 0) return;
  IT_CHECK(false, "%s did not come back with the broker", who);
}

static uint64_t wakeups(kw_client *cl) {
  kw_stats *s = kw_stats_new(NULL);
  kw_stats_add_client(s, cl);
  uint64_t n = kw_stats_counter(s, KW_COUNTER_WAKEUPS);
  kw_stats_free(s);
  return n;
}

/* Each call wakes the client at most per_call times by itself, each timer at most once
 * per shortest backoff (less 20 % jitter) plus once at each end. */
static void check(kw_client *cl, const char *who, uint64_t before, int calls, int per_call, int64_t started) {
  int64_t elapsed = kw_now_ms() - started;
  uint64_t n = wakeups(cl) - before;
  uint64_t bound = (uint64_t)calls * (uint64_t)per_call + (uint64_t)(TIMERS * (elapsed / (BACKOFF_MS * 8 / 10) + 2));
  printf("%-28s %6llu wake-ups in %lld ms (bound %llu)\n", who, (unsigned long long)n, (long long)elapsed,
         (unsigned long long)bound);
  IT_CHECK(n <= bound, "%s woke up %llu times in %lld ms with the broker gone (at most %llu: %d calls and the backoffs)",
           who, (unsigned long long)n, (long long)elapsed, (unsigned long long)bound, calls);
}

/* kw_consumer_poll(…, CALL_MS) runs kw_client_poll at most twice, each stepping before
 * and after poll(2). */
static void watch_consumer(kw_client *k, const char *who) {
  uint64_t before = wakeups(k);
  int64_t started = kw_now_ms();
  int calls = 0;
  kw_message m;
  while (kw_now_ms() - started < RUN_MS) {
    kw_consumer_poll(k, &m, CALL_MS);
    calls++;
  }
  check(k, who, before, calls, 4, started);
}

int main(void) {
  snprintf(script, sizeof script, "%s", getenv("KW_BROKER_SCRIPT") ? getenv("KW_BROKER_SCRIPT") : "tests/broker/kafka");
  snprintf(dir, sizeof dir, "%s/kwire-gone-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
  harness("start", bootstrap, sizeof bootstrap);
  atexit(stop_broker);
  printf("own broker at %s\n", bootstrap);

  char topic[64], err[256];
  snprintf(topic, sizeof topic, "it-gone-%d", (int)getpid());
  kw_config *c = config();
  kw_client *admin = kw_admin_new(c, err, sizeof err);
  IT_CHECK(admin, "%s", err);
  IT_CHECK(kw_admin_create_topic(admin, topic, 1, 1, NULL, 60000, err, sizeof err) == 0, "create: %s", err);
  IT_CHECK(kw_config_set(c, "message.timeout.ms", "120000", err, sizeof err) == 0, "%s", err);
  kw_client *p = kw_producer_new(c, err, sizeof err);
  kw_config_free(c);
  IT_CHECK(p, "%s", err);
  for (int i = 0; i < N_MSGS; i++)
    IT_CHECK(kw_produce(p, topic, 0, NULL, 0, "v", 1, NULL, 0, 0, NULL) == 0, "produce");
  IT_CHECK(kw_client_flush(p, 60000) == 0, "flush");

  kw_client *assigned = consumer(NULL, NULL, topic);
  char g1[64], g2[64];
  snprintf(g1, sizeof g1, "it-gone-classic-%d", (int)getpid());
  snprintf(g2, sizeof g2, "it-gone-848-%d", (int)getpid());
  kw_client *classic = consumer(g1, "classic", topic);
  kw_client *kip848 = consumer(g2, "consumer", topic);
  consume_all(assigned, "the assign-mode consumer");
  consume_all(classic, "the classic member");
  consume_all(kip848, "the KIP-848 member");

  harness("kill 1", NULL, 0);
  printf("broker killed\n");

  /* A record waits for the broker that is gone. */
  IT_CHECK(kw_produce(p, topic, 0, NULL, 0, "late", 4, NULL, 0, 0, NULL) == 0, "produce");
  uint64_t before = wakeups(p);
  int64_t started = kw_now_ms();
  int calls = 0;
  while (kw_now_ms() - started < RUN_MS) {
    kw_client_poll(p, CALL_MS);
    calls++;
  }
  check(p, "the producer", before, calls, 2, started);
  watch_consumer(assigned, "the assign-mode consumer");
  watch_consumer(classic, "the classic member");
  watch_consumer(kip848, "the KIP-848 member");
  before = wakeups(admin);
  started = kw_now_ms();
  kw_admin_result *res = NULL;
  IT_CHECK(kw_admin_describe_cluster(admin, NULL, RUN_MS, &res, err, sizeof err) < 0, "no broker, no answer");
  kw_admin_result_free(res);
  check(admin, "an admin call", before, 1, 2, started);

  /* The broker comes back (same ports). */
  harness("start-node 1", NULL, 0);
  IT_CHECK(kw_client_flush(p, 60000) == 0, "the record produced while the broker was gone is delivered");
  IT_CHECK(kw_produce(p, topic, 0, NULL, 0, "after", 5, NULL, 0, 0, NULL) == 0, "produce");
  IT_CHECK(kw_client_flush(p, 60000) == 0, "flush after the return");
  consume_until_after(assigned, "the assign-mode consumer");
  consume_until_after(classic, "the classic member");
  consume_until_after(kip848, "the KIP-848 member");
  IT_CHECK(kw_admin_describe_cluster(admin, NULL, 30000, &res, err, sizeof err) == 0, "admin: %s", err);
  kw_admin_result_free(res);

  kw_consumer_close(kip848, 0);
  kw_consumer_close(classic, 0);
  kw_consumer_close(assigned, 0);
  kw_client_destroy(kip848);
  kw_client_destroy(classic);
  kw_client_destroy(assigned);
  kw_client_destroy(admin);
  kw_client_destroy(p);
  printf("ok\n");
  return 0;
}
