/* The connection state machine against a scripted peer in this process (fault
 * injection a real broker cannot do): ApiVersions v0 fallback, oversized frames,
 * wrong correlation ids, a peer that dies mid-answer, request timeouts. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire/error.h"
#include "net/kw_conn.h"
#include "proto/kw_frame.h"
#include "proto/kw_msg.h"

typedef struct peer {
  int lfd, fd, port;
} peer;

static peer peer_listen(void) {
  peer p = {-1, -1, 0};
  p.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(p.lfd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(p.lfd, 1), 0);
  fcntl(p.lfd, F_SETFL, O_NONBLOCK); /* run() polls for the connection, never waits on it */
  socklen_t n = sizeof a;
  getsockname(p.lfd, (struct sockaddr *)&a, &n);
  p.port = ntohs(a.sin_port);
  return p;
}

static void peer_close(peer *p) {
  if (p->fd >= 0) close(p->fd);
  close(p->lfd);
}

/* Steps the connection for up to ms, accepting the peer's side when it arrives. */
static void run(kw_conn *c, peer *p, int ms) {
  int64_t end = kw_now_ms() + ms;
  while (kw_now_ms() < end && kw_conn_get_state(c) != KW_CONN_DOWN) {
    if (p->fd == -1) {
      p->fd = accept(p->lfd, NULL, NULL);
      if (p->fd >= 0) fcntl(p->fd, F_SETFL, O_NONBLOCK);
    }
    struct pollfd pf = {kw_conn_fd(c), kw_conn_events(c), 0};
    int r = poll(&pf, 1, 5);
    kw_conn_step(c, r > 0 ? pf.revents : 0, kw_now_ms());
  }
}

/* Reads one request frame from the peer side: api key, version, correlation id. */
static bool peer_read_request(peer *p, kw_conn *c, kw_req_header *h) {
  static uint8_t buf[4096];
  size_t have = 0;
  int64_t end = kw_now_ms() + 2000;
  while (kw_now_ms() < end) {
    run(c, p, 5);
    if (p->fd < 0) continue;
    ssize_t n = read(p->fd, buf + have, sizeof buf - have);
    if (n > 0) have += (size_t)n;
    size_t len;
    if (kw_frame_peek(buf, have, 1 << 20, &len) == 0) {
      kw_rd r;
      kw_rd_init(&r, buf + 4, len);
      kw_req_header_decode(&r, h, 1);
      return true;
    }
  }
  return false;
}

static void peer_send(peer *p, const void *data, size_t n) { cr_assert_eq(write(p->fd, data, n), (ssize_t)n); }

/* An ApiVersions answer in the classic form: v0 (error code, (key, min, max) triples),
 * plus the throttle time that v1 and v2 add. */
static size_t api_versions_classic(uint8_t *out, int version, int32_t corr, int16_t error, const int16_t (*apis)[3],
                                   int n) {
  kw_buf b;
  kw_buf_init_fixed(&b, out, 512);
  kw_buf_i32(&b, 0);
  kw_buf_i32(&b, corr);
  kw_buf_i16(&b, error);
  kw_buf_i32(&b, n);
  for (int i = 0; i < n; i++) {
    kw_buf_i16(&b, apis[i][0]);
    kw_buf_i16(&b, apis[i][1]);
    kw_buf_i16(&b, apis[i][2]);
  }
  if (version >= 1) kw_buf_i32(&b, 0);
  kw_buf_put_i32_at(&b, 0, (int32_t)(b.len - 4));
  return b.len;
}

static kw_conn *connect_to(peer *p, int64_t request_timeout_ms) {
  kw_conn_config cfg = {.host = "127.0.0.1", .port = p->port, .max_frame = 1 << 16,
                        .request_timeout_ms = request_timeout_ms};
  kw_conn *c = kw_conn_new(&cfg);
  cr_assert_eq(kw_conn_connect(c, kw_now_ms()), 0);
  return c;
}

Test(conn, api_versions_falls_back_when_the_broker_answers_v0) {
  peer p = peer_listen();
  kw_conn *c = connect_to(&p, 5000);
  kw_req_header h;
  cr_assert(peer_read_request(&p, c, &h));
  cr_assert_eq(h.api_key, KW_API_API_VERSIONS);
  cr_assert_eq(h.api_version, 5, "first try at our newest version");
  /* An old broker: UNSUPPORTED_VERSION, in v0 form, with its own range 0-2. */
  static const int16_t old[][3] = {{18, 0, 2}, {3, 0, 8}};
  uint8_t out[512];
  peer_send(&p, out, api_versions_classic(out, 0, h.correlation_id, 35, old, 2));
  cr_assert(peer_read_request(&p, c, &h));
  cr_assert_eq(h.api_version, 2, "retried at the broker's newest");
  peer_send(&p, out, api_versions_classic(out, 2, h.correlation_id, 0, old, 2));
  run(c, &p, 200);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_READY);
  cr_assert_eq(kw_conn_version(c, KW_API_METADATA), 8);
  cr_assert_eq(kw_conn_version(c, KW_API_PRODUCE), KW_ERR_NO_VERSION, "not offered");
  kw_conn_free(c);
  peer_close(&p);
}

/* A whole frame: size, correlation id (ApiVersions answers have a v0 header), body. */
static size_t answer_frame(uint8_t *out, int32_t corr, const uint8_t *body, size_t n) {
  kw_buf b;
  kw_buf_init_fixed(&b, out, 512);
  kw_buf_i32(&b, (int32_t)(4 + n));
  kw_buf_i32(&b, corr);
  kw_buf_raw(&b, body, n);
  return b.len;
}

Test(conn, api_versions_v5_is_asked_first_and_read) {
  peer p = peer_listen();
  kw_conn *c = connect_to(&p, 5000);
  kw_req_header h;
  cr_assert(peer_read_request(&p, c, &h));
  cr_assert_eq(h.api_key, KW_API_API_VERSIONS);
  cr_assert_eq(h.api_version, 5, "ApiVersions v5 (KIP-1242) first, as the Java client");
  kw_api_versions_resp_api_version apis[2] = {{18, 0, 5}, {3, 0, 13}};
  kw_api_versions_resp resp;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &resp);
  resp.api_keys = apis;
  resp.n_api_keys = 2;
  uint8_t body[256], out[512];
  kw_buf b;
  kw_buf_init_fixed(&b, body, sizeof body);
  cr_assert_eq(kw_response_encode(KW_API_API_VERSIONS, 5, &resp, &b), 0);
  peer_send(&p, out, answer_frame(out, h.correlation_id, body, b.len));
  run(c, &p, 200);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_READY);
  cr_assert_eq(kw_conn_version(c, KW_API_METADATA), 13);
  kw_conn_free(c);
  peer_close(&p);
}

/* Some Kafka-compatible brokers and test doubles answer any ApiVersions request in the
 * v0 form, without an error: read as v0, as the Java client does. */
Test(conn, api_versions_answer_in_the_v0_form_is_read_as_v0) {
  peer p = peer_listen();
  kw_conn *c = connect_to(&p, 5000);
  kw_req_header h;
  cr_assert(peer_read_request(&p, c, &h));
  static const int16_t apis[][3] = {{18, 0, 2}, {3, 0, 9}};
  uint8_t out[512];
  peer_send(&p, out, api_versions_classic(out, 0, h.correlation_id, 0, apis, 2));
  run(c, &p, 200);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_READY, "down with: %s", kw_strerror(kw_conn_last_error(c)));
  cr_assert_eq(kw_conn_version(c, KW_API_METADATA), 9);
  kw_conn_free(c);
  peer_close(&p);
}

/* An answer that reads neither at the version asked nor at v0: asked again at v0
 * before the broker is given up. */
Test(conn, api_versions_unreadable_answer_is_asked_again_at_v0) {
  peer p = peer_listen();
  kw_conn *c = connect_to(&p, 5000);
  kw_req_header h;
  cr_assert(peer_read_request(&p, c, &h));
  static const uint8_t junk[] = {0, 0, 0, 0, 0, 9}; /* no error, 9 entries announced, none there */
  uint8_t out[512];
  peer_send(&p, out, answer_frame(out, h.correlation_id, junk, sizeof junk));
  cr_assert(peer_read_request(&p, c, &h), "asked again (connection %s)", kw_strerror(kw_conn_last_error(c)));
  cr_assert_eq(h.api_key, KW_API_API_VERSIONS);
  cr_assert_eq(h.api_version, 0);
  static const int16_t apis[][3] = {{18, 0, 0}, {3, 0, 4}};
  peer_send(&p, out, api_versions_classic(out, 0, h.correlation_id, 0, apis, 2));
  run(c, &p, 200);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_READY);
  cr_assert_eq(kw_conn_version(c, KW_API_METADATA), 4);
  kw_conn_free(c);
  peer_close(&p);
}

Test(conn, api_versions_unreadable_at_v0_too_is_a_named_error) {
  peer p = peer_listen();
  kw_conn *c = connect_to(&p, 5000);
  kw_req_header h;
  static const uint8_t junk[] = {0, 0, 0, 0, 0, 9};
  uint8_t out[512];
  cr_assert(peer_read_request(&p, c, &h));
  peer_send(&p, out, answer_frame(out, h.correlation_id, junk, sizeof junk));
  cr_assert(peer_read_request(&p, c, &h));
  cr_assert_eq(h.api_version, 0);
  peer_send(&p, out, answer_frame(out, h.correlation_id, junk, sizeof junk));
  run(c, &p, 200);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_DOWN);
  cr_assert_eq(kw_conn_last_error(c), KW_ERR_MALFORMED, "%s", kw_strerror(kw_conn_last_error(c)));
  cr_assert(strstr(kw_conn_last_error_text(c), "ApiVersions v0"), "%s", kw_conn_last_error_text(c));
  kw_conn_free(c);
  peer_close(&p);
}

/* A kw_mem that remembers the largest single allocation it was asked for. */
static size_t largest;
static void *largest_alloc(void *ud, size_t n) {
  (void)ud;
  if (n > largest) largest = n;
  return malloc(n ? n : 1);
}
static void *largest_realloc(void *ud, void *p, size_t n) {
  (void)ud;
  if (n > largest) largest = n;
  return realloc(p, n ? n : 1);
}
static void largest_free(void *ud, void *p) {
  (void)ud;
  free(p);
}

/* Before authentication a peer's ApiVersions answer is all a connection has read. v3+
 * carries SupportedFeatures (tag 0), 6 bytes an element at least, 24 in memory; a
 * count checked against 1 byte (the element's size in v0-v2, where it does not exist)
 * made a 60 KB answer allocate 1.4 MB. Checked against the element at the version
 * read, the count is refused before anything is allocated, and the answer is asked for
 * again at v0, as for any unreadable one. */
Test(conn, api_versions_feature_count_is_checked_against_the_version_read) {
  static const kw_mem mem = {NULL, largest_alloc, largest_realloc, largest_free};
  peer p = peer_listen();
  kw_conn_config cfg = {.host = "127.0.0.1", .port = p.port, .max_frame = 1 << 16, .request_timeout_ms = 5000,
                        .mem = &mem};
  kw_conn *c = kw_conn_new(&cfg);
  cr_assert_eq(kw_conn_connect(c, kw_now_ms()), 0);
  kw_req_header h;
  cr_assert(peer_read_request(&p, c, &h));
  cr_assert_eq(h.api_version, 5);
  enum { N = 60000 }; /* features announced, one zero byte each */
  static uint8_t frame[N + 64];
  kw_buf b;
  kw_buf_init_fixed(&b, frame, sizeof frame);
  kw_buf_i32(&b, 0);
  kw_buf_i32(&b, h.correlation_id);
  kw_buf_i16(&b, 0);       /* error code */
  kw_buf_uvarint(&b, 3);   /* two APIs */
  kw_buf_i16(&b, 18), kw_buf_i16(&b, 0), kw_buf_i16(&b, 5), kw_buf_uvarint(&b, 0);
  kw_buf_i16(&b, 3), kw_buf_i16(&b, 0), kw_buf_i16(&b, 13), kw_buf_uvarint(&b, 0);
  kw_buf_i32(&b, 0);       /* throttle time */
  kw_buf_uvarint(&b, 1);   /* one tagged field: SupportedFeatures */
  kw_buf_uvarint(&b, 0);
  kw_buf_uvarint(&b, (uint32_t)(kw_uvarint_size(N + 1) + N));
  kw_buf_uvarint(&b, N + 1);
  uint8_t *zeros = kw_buf_extend(&b, N); /* not one feature is really there */
  cr_assert(zeros);
  memset(zeros, 0, N);
  kw_buf_put_i32_at(&b, 0, (int32_t)(b.len - 4));
  largest = 0;
  for (size_t sent = 0; sent < b.len;) { /* more than the socket may take at once */
    ssize_t n = write(p.fd, frame + sent, b.len - sent);
    if (n > 0) sent += (size_t)n;
    else run(c, &p, 5);
  }
  cr_assert(peer_read_request(&p, c, &h), "asked again (connection %s)", kw_strerror(kw_conn_last_error(c)));
  cr_assert_eq(h.api_version, 0);
  /* The receive buffer holding the answer is the largest thing it needs. */
  cr_assert_leq(largest, 4 * b.len, "largest allocation %zu bytes for a %zu-byte answer", largest, b.len);
  static const int16_t apis[][3] = {{18, 0, 0}, {3, 0, 4}};
  uint8_t out[512];
  peer_send(&p, out, api_versions_classic(out, 0, h.correlation_id, 0, apis, 2));
  run(c, &p, 200);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_READY);
  kw_conn_free(c);
  peer_close(&p);
}

typedef struct outcome {
  int calls, err;
} outcome;

static void on_answer(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  (void)key, (void)ver, (void)body;
  outcome *o = ud;
  o->calls++;
  o->err = err;
}

/* Brings the connection to READY with a minimal v0 answer, then queues a Metadata request. */
static kw_conn *ready_with_request(peer *p, outcome *o, kw_req_header *h, int64_t timeout_ms) {
  kw_conn *c = connect_to(p, timeout_ms);
  cr_assert(peer_read_request(p, c, h));
  static const int16_t apis[][3] = {{18, 0, 2}, {3, 0, 12}};
  uint8_t out[512];
  peer_send(p, out, api_versions_classic(out, 0, h->correlation_id, 35, apis, 2));
  cr_assert(peer_read_request(p, c, h));
  peer_send(p, out, api_versions_classic(out, 2, h->correlation_id, 0, apis, 2));
  run(c, p, 200);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_READY);
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  cr_assert_eq(kw_conn_request(c, KW_API_METADATA, 1, &req, on_answer, o, kw_now_ms()), 0);
  cr_assert(peer_read_request(p, c, h));
  return c;
}

Test(conn, oversized_frame_is_refused) {
  peer p = peer_listen();
  outcome o = {0, 0};
  kw_req_header h;
  kw_conn *c = ready_with_request(&p, &o, &h, 5000);
  uint8_t huge[8] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}; /* claims 2 GB */
  memcpy(huge + 4, &h.correlation_id, 4);
  peer_send(&p, huge, sizeof huge);
  run(c, &p, 300);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_DOWN);
  cr_assert_eq(kw_conn_last_error(c), KW_ERR_TOO_LARGE);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, KW_ERR_TOO_LARGE, "the request learns why");
  kw_conn_free(c);
  peer_close(&p);
}

Test(conn, wrong_correlation_id_closes) {
  peer p = peer_listen();
  outcome o = {0, 0};
  kw_req_header h;
  kw_conn *c = ready_with_request(&p, &o, &h, 5000);
  uint8_t frame[8] = {0, 0, 0, 4, 0x12, 0x34, 0x56, 0x78};
  peer_send(&p, frame, sizeof frame);
  run(c, &p, 300);
  cr_assert_eq(kw_conn_last_error(c), KW_ERR_CORRELATION);
  cr_assert_eq(o.err, KW_ERR_CORRELATION);
  kw_conn_free(c);
  peer_close(&p);
}

Test(conn, peer_dying_mid_answer_is_a_disconnect) {
  peer p = peer_listen();
  outcome o = {0, 0};
  kw_req_header h;
  kw_conn *c = ready_with_request(&p, &o, &h, 5000);
  uint8_t half[6] = {0, 0, 0, 40, 0, 0}; /* 40 bytes announced, 2 sent */
  peer_send(&p, half, sizeof half);
  close(p.fd);
  p.fd = -2; /* do not accept again */
  run(c, &p, 300);
  cr_assert_eq(kw_conn_last_error(c), KW_ERR_DISCONNECTED);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, KW_ERR_DISCONNECTED);
  kw_conn_free(c);
  close(p.lfd);
}

Test(conn, silent_broker_times_out) {
  peer p = peer_listen();
  outcome o = {0, 0};
  kw_req_header h;
  kw_conn *c = ready_with_request(&p, &o, &h, 300);
  run(c, &p, 1000);
  cr_assert_eq(o.calls, 1);
  cr_assert_eq(o.err, KW_ERR_TIMED_OUT);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_DOWN, "its answer could still come: the connection goes");
  kw_conn_free(c);
  peer_close(&p);
}

Test(conn, pipelining_stops_at_the_cap) {
  peer p = peer_listen();
  outcome o = {0, 0};
  kw_req_header h;
  kw_conn *c = ready_with_request(&p, &o, &h, 5000);
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  int queued = 1;
  while (kw_conn_request(c, KW_API_METADATA, 1, &req, on_answer, &o, kw_now_ms()) == 0) queued++;
  cr_assert_eq(queued, 5, "max_in_flight defaults to 5");
  cr_assert_eq(kw_conn_request(c, KW_API_METADATA, 1, &req, on_answer, &o, kw_now_ms()), KW_ERR_WOULD_BLOCK);
  kw_conn_free(c);
  cr_assert_eq(o.calls, 5, "freeing fails every pending request once");
  cr_assert_eq(o.err, KW_ERR_DISCONNECTED);
  peer_close(&p);
}

Test(conn, nothing_listening_is_a_connect_error) {
  peer p = peer_listen();
  int port = p.port;
  peer_close(&p);
  kw_conn_config cfg = {.host = "127.0.0.1", .port = port};
  kw_conn *c = kw_conn_new(&cfg);
  int err = kw_conn_connect(c, kw_now_ms());
  if (err == 0) run(c, &p, 1000);
  cr_assert_eq(kw_conn_get_state(c), KW_CONN_DOWN);
  cr_assert_eq(err ? err : kw_conn_last_error(c), KW_ERR_CONNECT);
  kw_conn_free(c);
}

Test(conn, unknown_host_is_a_resolve_error) {
  kw_conn_config cfg = {.host = "no-such-host.invalid", .port = 9092};
  kw_conn *c = kw_conn_new(&cfg);
  cr_assert_eq(kw_conn_connect(c, kw_now_ms()), KW_ERR_RESOLVE);
  kw_conn_free(c);
}
