/* kwsim as users meet it (issue 15, item 8): the cluster on loopback ports served to a
 * real kwire client over TCP, errors scripted per API (kw_sim_inject_error), brokers
 * stopped until started. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kwire.h"
#include "kwire/codec.h"
#include "sim/kw_sim.h"

static kw_sim *cluster(int brokers, int32_t partitions, FILE *trace) {
  kw_sim_config cfg = {.seed = 7, .n_brokers = brokers, .trace = trace};
  kw_sim *s = kw_sim_new(&cfg);
  cr_assert(s);
  cr_assert_eq(kw_sim_create_topic(s, "t", partitions, 0), KW_OK);
  return s;
}

static kw_client *client(kw_sim *s, bool consumer) {
  kw_config *c = kw_config_new();
  char err[256];
  cr_assert_eq(kw_config_set(c, "bootstrap.servers", kw_sim_bootstrap(s), err, sizeof err), KW_OK, "%s", err);
  kw_client *cl = consumer ? kw_consumer_new(c, err, sizeof err) : kw_producer_new(c, err, sizeof err);
  kw_config_free(c);
  cr_assert(cl, "%s", err);
  return cl;
}

typedef struct reports {
  int ok, failed;
  int16_t last_kafka_error;
} reports;

static void on_report(void *ud, const kw_delivery_report *dr) {
  reports *r = ud;
  if (dr->err == KW_OK) r->ok++;
  else r->failed++, r->last_kafka_error = dr->kafka_error;
}

static void produce_n(kw_client *p, int n) {
  for (int i = 0; i < n; i++) {
    char v[16];
    int vn = snprintf(v, sizeof v, "v%d", i);
    cr_assert_eq(kw_produce(p, "t", 0, "k", 1, v, (size_t)vn, NULL, 0, 0, NULL), KW_OK);
  }
}

/* Loopback: the client and the server take turns on this thread; the client never
 * blocks, the server waits on its sockets. The turn count only guards against a hang. */
static bool drain(kw_sim *s, kw_client *p) {
  for (int turn = 0; turn < 200000; turn++) {
    kw_client_poll(p, 0);
    if (kw_client_outstanding(p) == 0) return true;
    cr_assert_geq(kw_sim_serve(s, 5), 0);
  }
  return false;
}

static int records_in_log;
static void count_record(void *ud, int64_t offset, const uint8_t *key, int32_t key_len, const uint8_t *value,
                         int32_t value_len) {
  (void)ud, (void)offset, (void)key, (void)key_len, (void)value, (void)value_len;
  records_in_log++;
}

static int log_size(kw_sim *s) {
  records_in_log = 0;
  kw_sim_read_log(s, "t", 0, count_record, NULL);
  return records_in_log;
}

Test(sim_user, loopback_produce_and_consume_over_tcp) {
  kw_sim *s = cluster(3, 1, NULL);
  cr_assert_eq(kw_sim_listen(s), KW_OK);
  const char *bs = kw_sim_bootstrap(s);
  cr_assert(strncmp(bs, "127.0.0.1:", 10) == 0, "bootstrap %s", bs);
  int n_addr = 0;
  for (const char *at = bs; (at = strstr(at, "127.0.0.1:")) != NULL; at++) n_addr++;
  cr_assert_eq(n_addr, 3, "bootstrap %s", bs);

  reports r = {0};
  kw_client *p = client(s, false);
  kw_client_set_delivery_cb(p, on_report, &r);
  produce_n(p, 50);
  cr_assert(drain(s, p));
  cr_assert_eq(r.ok, 50);
  cr_assert_eq(r.failed, 0);
  kw_client_destroy(p);
  cr_assert_eq(log_size(s), 50);

  kw_client *c = client(s, true);
  cr_assert_eq(kw_consumer_assign(c, "t", 0, 0), KW_OK);
  int got = 0;
  for (int turn = 0; got < 50 && turn < 200000; turn++) {
    kw_message m;
    int rc = kw_consumer_poll(c, &m, 0);
    cr_assert_geq(rc, 0);
    if (rc == 1) {
      cr_assert_eq(m.err, KW_OK);
      char want[16];
      int wn = snprintf(want, sizeof want, "v%d", got);
      cr_assert_eq(m.offset, got);
      cr_assert_eq(m.value_len, (size_t)wn);
      cr_assert(memcmp(m.value, want, (size_t)wn) == 0);
      got++;
      continue;
    }
    cr_assert_geq(kw_sim_serve(s, 5), 0);
  }
  cr_assert_eq(got, 50);
  kw_client_destroy(c);
  kw_sim_free(s);
}

Test(sim_user, serve_refuses_outside_loopback_and_listen_refuses_when_installed) {
  kw_sim *s = cluster(1, 1, NULL);
  cr_assert_eq(kw_sim_serve(s, 0), KW_ERR_STATE);
  kw_sim_install(s);
  cr_assert_eq(kw_sim_listen(s), KW_ERR_STATE);
  kw_sim_install(NULL);
  kw_sim_free(s);
}

/* The lines of a trace that say both things. */
static int count_lines(FILE *f, const char *needle, const char *and_needle) {
  fflush(f);
  rewind(f);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, needle) && strstr(line, and_needle)) n++;
  return n;
}

Test(sim_user, injected_produce_errors_are_retried_and_count_exactly) {
  FILE *trace = tmpfile();
  cr_assert(trace);
  kw_sim *s = cluster(1, 1, trace);
  cr_assert_eq(kw_sim_inject_error(s, KW_API_PRODUCE, KW_KERR_NOT_LEADER_OR_FOLLOWER, 3), KW_OK);
  kw_sim_install(s);
  reports r = {0};
  kw_client *p = client(s, false);
  kw_client_set_delivery_cb(p, on_report, &r);
  produce_n(p, 1);
  cr_assert_eq(kw_client_flush(p, 60000), KW_OK);
  kw_client_destroy(p);
  kw_sim_install(NULL);
  cr_assert_eq(r.ok, 1);
  cr_assert_eq(r.failed, 0);
  cr_assert_eq(kw_sim_get_stats(s).injected, 3);
  /* Three refused, one taken: the client saw each error and sent again. */
  int produces = count_lines(trace, ": api 0 v", "bytes, on conn"); /* requests taken */
  cr_assert_eq(produces, 4, "%d Produce requests", produces);
  cr_assert_eq(count_lines(trace, ": api 0 v", "injected error 6"), 3);
  cr_assert_eq(log_size(s), 1, "a refused request is not applied");
  kw_sim_free(s);
  fclose(trace);
}

Test(sim_user, an_injected_non_retriable_error_reaches_the_delivery_report) {
  kw_sim *s = cluster(1, 1, NULL);
  cr_assert_eq(kw_sim_inject_error(s, KW_API_PRODUCE, KW_KERR_TOPIC_AUTHORIZATION_FAILED, 1), KW_OK);
  kw_sim_install(s);
  reports r = {0};
  kw_client *p = client(s, false);
  kw_client_set_delivery_cb(p, on_report, &r);
  produce_n(p, 1);
  kw_client_flush(p, 60000);
  kw_client_destroy(p);
  kw_sim_install(NULL);
  cr_assert_eq(r.ok, 0);
  cr_assert_eq(r.failed, 1);
  cr_assert_eq(r.last_kafka_error, KW_KERR_TOPIC_AUTHORIZATION_FAILED);
  cr_assert_eq(log_size(s), 0);
  kw_sim_free(s);
}

Test(sim_user, injected_fetch_errors_are_retried_and_every_record_is_read) {
  kw_sim *s = cluster(3, 1, NULL);
  kw_sim_install(s);
  kw_client *p = client(s, false);
  produce_n(p, 20);
  cr_assert_eq(kw_client_flush(p, 60000), KW_OK);
  kw_client_destroy(p);
  cr_assert_eq(kw_sim_inject_error(s, KW_API_FETCH, KW_KERR_NOT_LEADER_OR_FOLLOWER, 2), KW_OK);
  kw_client *c = client(s, true);
  cr_assert_eq(kw_consumer_assign(c, "t", 0, 0), KW_OK);
  int got = 0;
  for (int polls = 0; got < 20 && polls < 1000; polls++) {
    kw_message m;
    int rc = kw_consumer_poll(c, &m, 1000);
    cr_assert_geq(rc, 0);
    if (rc == 1 && m.err == KW_OK) cr_assert_eq(m.offset, got++);
  }
  kw_client_destroy(c);
  kw_sim_install(NULL);
  cr_assert_eq(got, 20);
  cr_assert_eq(kw_sim_get_stats(s).injected, 2);
  kw_sim_free(s);
}

Test(sim_user, injected_metadata_errors_are_retried) {
  kw_sim *s = cluster(3, 1, NULL);
  cr_assert_eq(kw_sim_inject_error(s, KW_API_METADATA, KW_KERR_LEADER_NOT_AVAILABLE, 3), KW_OK);
  kw_sim_install(s);
  reports r = {0};
  kw_client *p = client(s, false);
  kw_client_set_delivery_cb(p, on_report, &r);
  produce_n(p, 5);
  cr_assert_eq(kw_client_flush(p, 60000), KW_OK);
  kw_client_destroy(p);
  kw_sim_install(NULL);
  cr_assert_eq(r.ok, 5);
  cr_assert_eq(kw_sim_get_stats(s).injected, 3);
  cr_assert_eq(log_size(s), 5);
  kw_sim_free(s);
}

Test(sim_user, inject_error_rejects_what_it_cannot_do) {
  kw_sim *s = cluster(1, 1, NULL);
  cr_assert_eq(kw_sim_inject_error(s, 9999, KW_KERR_NOT_LEADER_OR_FOLLOWER, 1), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sim_inject_error(s, KW_API_PRODUCE, 0, 1), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sim_inject_error(s, KW_API_PRODUCE, KW_KERR_NOT_LEADER_OR_FOLLOWER, 0), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sim_stop_broker(s, 2), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sim_start_broker(s, 0), KW_ERR_INVALID_ARG);
  kw_sim_free(s);
}

Test(sim_user, a_stopped_broker_stays_down_until_started) {
  kw_sim *s = cluster(1, 1, NULL);
  kw_sim_install(s);
  reports r = {0};
  kw_client *p = client(s, false);
  kw_client_set_delivery_cb(p, on_report, &r);
  produce_n(p, 1);
  cr_assert_eq(kw_client_flush(p, 60000), KW_OK);
  cr_assert_eq(kw_sim_stop_broker(s, 1), KW_OK);
  produce_n(p, 1);
  /* Far past crash_ms (3 s): a crashed broker would be back, a stopped one is not. */
  cr_assert_eq(kw_client_flush(p, 20000), KW_ERR_TIMED_OUT);
  cr_assert_eq(log_size(s), 1);
  cr_assert_eq(kw_sim_start_broker(s, 1), KW_OK);
  cr_assert_eq(kw_client_flush(p, 60000), KW_OK);
  kw_client_destroy(p);
  kw_sim_install(NULL);
  cr_assert_eq(r.ok, 2);
  cr_assert_eq(log_size(s), 2);
  kw_sim_free(s);
}

/* A raw TCP connection to broker 1's port: closed by the server at once while the
 * broker is stopped (recv sees the end), kept open once it is started. */
static int connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
  return fd;
}

static ssize_t after_serving(kw_sim *s, int fd) {
  char b[8];
  ssize_t n = -1;
  for (int turn = 0; turn < 100; turn++) {
    kw_sim_serve(s, 10);
    n = recv(fd, b, sizeof b, MSG_DONTWAIT);
    if (n == 0) break;
  }
  return n;
}

Test(sim_user, loopback_stopped_broker_closes_connections_until_started) {
  kw_sim *s = cluster(2, 1, NULL);
  cr_assert_eq(kw_sim_listen(s), KW_OK);
  int port = atoi(strchr(kw_sim_bootstrap(s), ':') + 1);
  cr_assert_eq(kw_sim_stop_broker(s, 1), KW_OK);
  int fd = connect_port(port);
  cr_assert_eq(after_serving(s, fd), 0, "the stopped broker closes at once");
  close(fd);
  cr_assert_eq(kw_sim_start_broker(s, 1), KW_OK);
  fd = connect_port(port);
  cr_assert_eq(after_serving(s, fd), -1, "a started broker keeps the connection");
  cr_assert(errno == EAGAIN || errno == EWOULDBLOCK);
  cr_assert_eq(kw_sim_get_stats(s).connections, 1);
  close(fd);
  kw_sim_free(s);
}

/* librdkafka (kcat) asks ListOffsets v2: the answer must leave out what v2 lacks (the
 * leader epoch, v4+) instead of going out as a frame the encoder gave up on. */
Test(sim_user, loopback_answers_an_older_version_than_kwire_uses) {
  kw_sim *s = cluster(1, 1, NULL);
  cr_assert_eq(kw_sim_listen(s), KW_OK);
  int fd = connect_port(atoi(strchr(kw_sim_bootstrap(s), ':') + 1));
  static const uint8_t req[] = {
      0, 0, 0, 39,                         /* size */
      0, 2, 0, 2, 0, 0, 0, 7, 0, 1, 'x',   /* ListOffsets v2, correlation 7, client "x" */
      0xff, 0xff, 0xff, 0xff, 0,           /* replica -1, read_uncommitted */
      0, 0, 0, 1, 0, 1, 't',               /* one topic, "t" */
      0, 0, 0, 1, 0, 0, 0, 0,              /* one partition, 0 */
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* latest */
  cr_assert_eq(sizeof req, 43u);
  cr_assert_eq(send(fd, req, sizeof req, 0), (ssize_t)sizeof req);
  uint8_t ans[256];
  size_t got = 0;
  for (int turn = 0; turn < 200 && (got < 4 || got < 4 + (size_t)(ans[0] << 24 | ans[1] << 16 | ans[2] << 8 | ans[3]));
       turn++) {
    kw_sim_serve(s, 10);
    ssize_t n = recv(fd, ans + got, sizeof ans - got, MSG_DONTWAIT);
    if (n > 0) got += (size_t)n;
  }
  cr_assert_geq(got, 8u);
  int32_t size = (int32_t)(ans[0] << 24 | ans[1] << 16 | ans[2] << 8 | ans[3]);
  cr_assert_eq(size, (int32_t)got - 4, "frame size %d, %zu bytes came", size, got);
  cr_assert_eq(ans[7], 7); /* the correlation id */
  close(fd);
  kw_sim_free(s);
}
