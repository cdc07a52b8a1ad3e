/* The cluster view against a scripted broker: what it keeps from Metadata answers.
 * A partition's leader from an answer older than the leader epoch already known (a
 * broker whose metadata lags) is ignored, as the Java client does; an answer with a
 * top-level error (Metadata v13+) is not applied, and is asked again after the backoff
 * (these clusters run with rebootstrapping off, metadata.recovery.strategy=none; with it
 * on, REBOOTSTRAP_REQUIRED starts over from bootstrap.servers: test_rebootstrap.c). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "client/kw_cluster.h"
#include "core/kw_clock.h"
#include "kwire/error.h"
#include "proto/kw_frame.h"
#include "proto/kw_msg.h"

typedef struct broker {
  int lfd, fd, port;
  uint8_t in[8192];
  size_t have;
} broker;

static void broker_listen(broker *b) {
  memset(b, 0, sizeof *b);
  b->fd = -1;
  b->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(b->lfd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(b->lfd, 4), 0);
  fcntl(b->lfd, F_SETFL, O_NONBLOCK);
  socklen_t n = sizeof a;
  getsockname(b->lfd, (struct sockaddr *)&a, &n);
  b->port = ntohs(a.sin_port);
}

static void broker_close(broker *b) {
  if (b->fd >= 0) close(b->fd);
  close(b->lfd);
}

static void step_cluster(kw_cluster *cl, int ms) {
  kw_pollfd fds[8];
  struct pollfd pfds[8];
  int n = kw_cluster_fds(cl, fds, 8);
  cr_assert_leq(n, 8, "%d sockets: more than these tests' brokers", n);
  for (int i = 0; i < n; i++) pfds[i] = (struct pollfd){fds[i].fd, fds[i].events, 0};
  int r = poll(pfds, (nfds_t)n, ms);
  for (int i = 0; i < n; i++) fds[i].revents = r > 0 ? pfds[i].revents : 0;
  kw_cluster_step(cl, fds, n, kw_now_ms());
}

/* Runs the cluster until the broker holds one whole request; returns its header. */
static kw_req_header next_request(kw_cluster *cl, broker *b) {
  int64_t end = kw_now_ms() + 3000;
  while (kw_now_ms() < end) {
    step_cluster(cl, 5);
    if (b->fd < 0) {
      b->fd = accept(b->lfd, NULL, NULL);
      if (b->fd >= 0) fcntl(b->fd, F_SETFL, O_NONBLOCK);
      continue;
    }
    ssize_t n = read(b->fd, b->in + b->have, sizeof b->in - b->have);
    if (n > 0) b->have += (size_t)n;
    size_t len;
    if (kw_frame_peek(b->in, b->have, 1 << 20, &len) == 0) {
      kw_rd r;
      kw_rd_init(&r, b->in + 4, len);
      kw_req_header h;
      kw_req_header_decode(&r, &h, 1);
      memmove(b->in, b->in + 4 + len, b->have - 4 - len);
      b->have -= 4 + len;
      return h;
    }
  }
  cr_assert_fail("no request came");
  return (kw_req_header){0};
}

static void answer(broker *b, const kw_req_header *h, const void *resp) {
  uint8_t out[4096];
  kw_buf w;
  kw_buf_init_fixed(&w, out, sizeof out);
  kw_buf_i32(&w, 0);
  kw_resp_header_encode(&w, h->correlation_id, kw_resp_header_version(h->api_key, h->api_version));
  cr_assert_eq(kw_response_encode(h->api_key, h->api_version, resp, &w), 0);
  kw_buf_put_i32_at(&w, 0, (int32_t)(w.len - 4));
  cr_assert_eq(write(b->fd, out, w.len), (ssize_t)w.len);
}

static void answer_api_versions(kw_cluster *cl, broker *b) {
  kw_req_header h = next_request(cl, b);
  cr_assert_eq(h.api_key, KW_API_API_VERSIONS);
  kw_api_versions_resp_api_version apis[2] = {{KW_API_API_VERSIONS, 0, 4}, {KW_API_METADATA, 0, 13}};
  kw_api_versions_resp r;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &r);
  r.api_keys = apis;
  r.n_api_keys = 2;
  answer(b, &h, &r);
}

/* One broker (node 1, the scripted one), topic "t" with one partition. */
static void answer_metadata(kw_cluster *cl, broker *b, int16_t top_error, int32_t leader, int32_t epoch) {
  kw_req_header h = next_request(cl, b);
  cr_assert_eq(h.api_key, KW_API_METADATA);
  cr_assert_eq(h.api_version, 13);
  kw_metadata_resp_broker br = {1, {(const uint8_t *)"127.0.0.1", 9}, b->port, {NULL, -1}};
  kw_metadata_resp_partition p;
  kw_msg_init(KW_SCHEMA_METADATA_RESP_PARTITION, &p);
  p.partition_index = 0;
  p.leader_id = leader;
  p.leader_epoch = epoch;
  kw_metadata_resp_topic t;
  kw_msg_init(KW_SCHEMA_METADATA_RESP_TOPIC, &t);
  t.name = (kw_slice){(const uint8_t *)"t", 1};
  t.topic_id.b[15] = 7;
  t.partitions = &p;
  t.n_partitions = 1;
  kw_metadata_resp r;
  kw_msg_init(KW_SCHEMA_METADATA_RESP, &r);
  r.brokers = &br;
  r.n_brokers = 1;
  r.topics = &t;
  r.n_topics = 1;
  r.error_code = top_error;
  if (top_error) r.n_brokers = r.n_topics = 0; /* what a broker sends with a top-level error */
  answer(b, &h, &r);
  for (int i = 0; i < 5; i++) step_cluster(cl, 5);
}

static int answers_seen;
static void on_md(void *ud, int64_t now) {
  (void)ud, (void)now;
  answers_seen++;
}

static void start(kw_cluster *cl, broker *b) {
  broker_listen(b);
  char bootstrap[64], err[128];
  snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%d", b->port);
  kw_cluster_settings s = {.client_id = "t", .request_timeout_ms = 5000, .connect_timeout_ms = 5000,
                           .reconnect_backoff_ms = 10, .reconnect_backoff_max_ms = 100, .retry_backoff_ms = 10,
                           .metadata_refresh_ms = 10, .max_frame = 1 << 20, .max_in_flight = 5};
  cr_assert_eq(kw_cluster_init(cl, &s, bootstrap, err, sizeof err), 0, "%s", err);
  cl->on_metadata = on_md;
  answers_seen = 0;
  cr_assert(kw_cluster_topic(cl, "t", true));
  answer_api_versions(cl, b);
}

Test(cluster_metadata, an_older_leader_epoch_does_not_replace_a_newer_one) {
  kw_cluster cl;
  broker b;
  start(&cl, &b);
  kw_topic *t = kw_cluster_topic(&cl, "t", false);
  answer_metadata(&cl, &b, 0, 1, 5);
  cr_assert_eq(t->n_parts, 1);
  cr_assert_eq(t->parts[0].leader, 1);
  cr_assert_eq(t->parts[0].leader_epoch, 5);
  /* A lagging broker still names the leader of epoch 4 (node 2): kept at epoch 5, node 1. */
  answer_metadata(&cl, &b, 0, 2, 4);
  cr_assert_eq(t->parts[0].leader_epoch, 5, "epoch went back to %d", t->parts[0].leader_epoch);
  cr_assert_eq(t->parts[0].leader, 1, "leader of an older epoch taken: %d", t->parts[0].leader);
  /* The same epoch and a newer one are taken. */
  answer_metadata(&cl, &b, 0, 3, 6);
  cr_assert_eq(t->parts[0].leader, 3);
  cr_assert_eq(t->parts[0].leader_epoch, 6);
  kw_cluster_free(&cl);
  broker_close(&b);
}

Test(cluster_metadata, a_top_level_error_is_not_applied_and_asked_again_soon) {
  kw_cluster cl;
  broker b;
  start(&cl, &b);
  kw_topic *t = kw_cluster_topic(&cl, "t", false);
  answer_metadata(&cl, &b, 0, 1, 5);
  cr_assert_eq(answers_seen, 1);
  cl.set.metadata_refresh_ms = 600000; /* from now on only a retry asks again */
  kw_cluster_refresh_soon(&cl, kw_now_ms());
  answer_metadata(&cl, &b, KW_KERR_REBOOTSTRAP_REQUIRED, -1, -1);
  cr_assert_eq(answers_seen, 1, "an answer with a top-level error is no metadata");
  cr_assert_eq(t->n_parts, 1);
  cr_assert_eq(t->parts[0].leader, 1, "what was known stays");
  /* Asked again after retry.backoff.ms (the periodic refresh is 10 minutes away), and
   * that answer is taken. */
  answer_metadata(&cl, &b, 0, 1, 5);
  cr_assert_eq(answers_seen, 2);
  kw_cluster_free(&cl);
  broker_close(&b);
}
