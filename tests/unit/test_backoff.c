/* With every broker gone, a client waits for its backoffs instead of spinning: the
 * producer, a consumer with assigned partitions, a classic group member, a KIP-848
 * member and admin, each pointed at a closed port on this host (connections are refused
 * at once, as they are after the only broker was killed). The count of wake-ups
 * (KW_COUNTER_WAKEUPS: kw_client_step runs) must stay within what the caller's own calls
 * and the configured backoffs explain. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"

#define BACKOFF_MS 100     /* reconnect.backoff.ms and retry.backoff.ms */
#define BACKOFF_MAX_MS 400 /* reconnect.backoff.max.ms and retry.backoff.max.ms */
#define RUN_MS 2000        /* how long each client lives with the cluster gone */
#define CALL_MS 100        /* the timeout of each poll the test makes */
/* Timers that may each wake the client once per backoff: reconnecting the bootstrap
 * broker and the coordinator, the metadata retry, the group's retry, the fetcher's and
 * the producer's retries, the admin call's own backoff, one spare. */
#define TIMERS 8

/* A port on this host where nobody listens: bound, then closed. */
static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t n = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &n);
  close(fd);
  return ntohs(a.sin_port);
}

static void set(kw_config *c, const char *k, const char *v) {
  char err[256];
  cr_assert_eq(kw_config_set(c, k, v, err, sizeof err), KW_OK, "%s=%s: %s", k, v, err);
}

static kw_config *gone_cluster_config(void) {
  kw_config *c = kw_config_new();
  char bootstrap[64];
  snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", closed_port());
  set(c, "bootstrap.servers", bootstrap);
  char ms[16], max[16];
  snprintf(ms, sizeof ms, "%d", BACKOFF_MS);
  snprintf(max, sizeof max, "%d", BACKOFF_MAX_MS);
  set(c, "reconnect.backoff.ms", ms);
  set(c, "reconnect.backoff.max.ms", max);
  set(c, "retry.backoff.ms", ms);
  set(c, "retry.backoff.max.ms", max);
  set(c, "log_level", "0"); /* "all brokers down" is expected here */
  return c;
}

static uint64_t wakeups(kw_client *cl) {
  kw_stats *s = kw_stats_new(NULL);
  kw_stats_add_client(s, cl);
  uint64_t n = kw_stats_counter(s, KW_COUNTER_WAKEUPS);
  kw_stats_free(s);
  return n;
}

/* What the caller's calls and the backoffs explain over `elapsed` ms: each call wakes
 * the client at most `per_call` times by itself (its step before and after waiting),
 * and each timer at most once per shortest backoff (less 20 % jitter), plus once at
 * each end. A client that spins wakes thousands of times a second. */
static uint64_t allowed(int calls, int per_call, int64_t elapsed) {
  int64_t shortest = BACKOFF_MS * 8 / 10;
  return (uint64_t)calls * (uint64_t)per_call + (uint64_t)(TIMERS * (elapsed / shortest + 2));
}

static void check(kw_client *cl, const char *who, int calls, int per_call, int64_t started) {
  int64_t elapsed = kw_now_ms() - started;
  uint64_t n = wakeups(cl), bound = allowed(calls, per_call, elapsed);
  cr_assert(n <= bound, "%s woke up %llu times in %lld ms with every broker down (at most %llu: %d calls and "
            "the backoffs)", who, (unsigned long long)n, (long long)elapsed, (unsigned long long)bound, calls);
}

/* kw_consumer_poll(…, CALL_MS) runs kw_client_poll at most twice (once every 64th call
 * up front, then the wait), each stepping before and after poll(2). */
static void consume_while_gone(kw_client *cl, const char *who) {
  uint64_t before = wakeups(cl);
  cr_assert_eq(before, 0);
  int64_t started = kw_now_ms();
  int calls = 0;
  kw_message m;
  while (kw_now_ms() - started < RUN_MS) {
    kw_consumer_poll(cl, &m, CALL_MS);
    calls++;
  }
  check(cl, who, calls, 4, started);
}

Test(backoff, producer_waits_when_every_broker_is_down) {
  kw_config *c = gone_cluster_config();
  char timeout[16]; /* the record waits for a leader all along, then expires before destroy */
  snprintf(timeout, sizeof timeout, "%d", RUN_MS + 500);
  set(c, "message.timeout.ms", timeout);
  kw_client *p = kw_producer_new(c, NULL, 0);
  kw_config_free(c);
  cr_assert(p);
  cr_assert_eq(kw_produce(p, "t", KW_PARTITION_UA, "k", 1, "v", 1, NULL, 0, 0, NULL), KW_OK);
  int64_t started = kw_now_ms();
  int calls = 0;
  while (kw_now_ms() - started < RUN_MS) {
    kw_client_poll(p, CALL_MS);
    calls++;
  }
  check(p, "the producer", calls, 2, started);
  kw_client_destroy(p);
}

Test(backoff, assigned_consumer_waits_when_every_broker_is_down) {
  kw_config *c = gone_cluster_config();
  kw_client *k = kw_consumer_new(c, NULL, 0);
  kw_config_free(c);
  cr_assert(k);
  cr_assert_eq(kw_consumer_assign(k, "t", 0, KW_OFFSET_BEGINNING), KW_OK);
  consume_while_gone(k, "an assign-mode consumer");
  kw_consumer_close(k, 0);
  kw_client_destroy(k);
}

static void group_member(const char *protocol) {
  kw_config *c = gone_cluster_config();
  set(c, "group.id", "backoff-test");
  set(c, "group.protocol", protocol);
  kw_client *k = kw_consumer_new(c, NULL, 0);
  kw_config_free(c);
  cr_assert(k);
  const char *topics[] = {"t"};
  cr_assert_eq(kw_consumer_subscribe(k, topics, 1), KW_OK);
  char who[64];
  snprintf(who, sizeof who, "a %s group member", protocol);
  consume_while_gone(k, who);
  kw_consumer_close(k, 0);
  kw_client_destroy(k);
}

Test(backoff, classic_group_member_waits_when_every_broker_is_down) { group_member("classic"); }

Test(backoff, kip848_group_member_waits_when_every_broker_is_down) { group_member("consumer"); }

Test(backoff, admin_call_waits_when_every_broker_is_down) {
  kw_config *c = gone_cluster_config();
  kw_client *a = kw_admin_new(c, NULL, 0);
  kw_config_free(c);
  cr_assert(a);
  int64_t started = kw_now_ms();
  kw_admin_result *res = NULL;
  char err[256];
  int rc = kw_admin_describe_cluster(a, NULL, RUN_MS, &res, err, sizeof err);
  cr_assert(rc < 0, "no broker, no answer");
  kw_admin_result_free(res);
  check(a, "an admin call", 1, 2, started);
  kw_client_destroy(a);
}
