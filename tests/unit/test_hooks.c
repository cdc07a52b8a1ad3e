/* The simulation seam (core/kw_hooks.h): a producer runs against an in-memory peer
 * through the hooks alone — virtual time, the peer's randomness, handles instead of
 * sockets — and the same seed gives the same bytes on the wire. No sockets, no threads:
 * the peer answers inside the poll hook, with kwire's own codec. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "core/kw_clock.h"
#include "core/kw_hooks.h"
#include "kwire.h"
#include "proto/kw_frame.h"
#include "proto/kw_msg.h"

#define SIM_HANDLES 8
#define SIM_PARTITIONS 8
#define SIM_START_MS 5000000000000 /* far from any real monotonic clock */

typedef struct sim {
  int64_t now;
  uint64_t rng;
  int n_connects, n_closes, n_polls, n_unknown, n_auth_ok;
  char last_host[64];
  int last_port;
  kw_buf to_peer[SIM_HANDLES], to_client[SIM_HANDLES];
  bool open[SIM_HANDLES];
  int n_handles;
  kw_buf wire;       /* every byte sendv was given, in order, after a 4-byte handle tag */
  int16_t apis[64];  /* the api key of each request, in the order the peer read them */
  int n_apis;
} sim;

static int64_t sim_now(void *ud) { return ((sim *)ud)->now; }
static int64_t sim_wall(void *ud) { return ((sim *)ud)->now - SIM_START_MS + 1800000000000; }

static uint64_t sim_random(void *ud) { /* splitmix64 */
  uint64_t z = (((sim *)ud)->rng += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static int sim_connect(void *ud, const char *host, int port, int *handle) {
  sim *s = ud;
  s->n_connects++;
  snprintf(s->last_host, sizeof s->last_host, "%s", host);
  s->last_port = port;
  if (s->n_handles == SIM_HANDLES) return KW_ERR_CONNECT;
  int h = s->n_handles++;
  kw_buf_init_grow(&s->to_peer[h], NULL);
  kw_buf_init_grow(&s->to_client[h], NULL);
  s->open[h] = true;
  *handle = h;
  return 0;
}

static ssize_t sim_recv(void *ud, int h, void *buf, size_t len) {
  sim *s = ud;
  cr_assert(h >= 0 && h < s->n_handles, "recv on handle %d", h);
  kw_buf *b = &s->to_client[h];
  if (!b->len) return s->open[h] ? KW_ERR_WOULD_BLOCK : KW_ERR_DISCONNECTED;
  size_t n = b->len < len ? b->len : len;
  memcpy(buf, b->data, n);
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  return (ssize_t)n;
}

static ssize_t sim_sendv(void *ud, int h, const struct iovec *iov, int iovcnt) {
  sim *s = ud;
  cr_assert(h >= 0 && h < s->n_handles && s->open[h], "sendv on handle %d", h);
  size_t total = 0;
  kw_buf_i32(&s->wire, h);
  for (int i = 0; i < iovcnt; i++) {
    kw_buf_raw(&s->to_peer[h], iov[i].iov_base, iov[i].iov_len);
    kw_buf_raw(&s->wire, iov[i].iov_base, iov[i].iov_len);
    total += iov[i].iov_len;
  }
  return (ssize_t)total;
}

static void serve(sim *s, int h);

/* The peer still reads what came before the close (acks=0 Produce requests). */
static void sim_close(void *ud, int h) {
  sim *s = ud;
  cr_assert(h >= 0 && h < s->n_handles, "close of handle %d", h);
  serve(s, h);
  s->n_closes++;
  s->open[h] = false;
}

static void put_answer(kw_buf *out, int16_t api, int16_t ver, int32_t corr, const void *resp) {
  size_t at = out->len;
  kw_buf_i32(out, 0);
  kw_resp_header_encode(out, corr, kw_resp_header_version(api, ver));
  kw_response_encode(api, ver, resp, out);
  kw_buf_put_i32_at(out, at, (int32_t)(out->len - at - 4));
}

static kw_slice str(const char *s) { return (kw_slice){(const uint8_t *)s, (int32_t)strlen(s)}; }

static void answer_api_versions(kw_buf *out, int16_t ver, int32_t corr) {
  int16_t keys[] = {KW_API_PRODUCE, KW_API_METADATA, KW_API_API_VERSIONS, KW_API_SASL_HANDSHAKE,
                    KW_API_SASL_AUTHENTICATE};
  kw_api_versions_resp_api_version av[5];
  for (int i = 0; i < 5; i++) {
    kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP_API_VERSION, &av[i]);
    av[i].api_key = keys[i];
    kw_api_versions(keys[i], &av[i].min_version, &av[i].max_version);
  }
  kw_api_versions_resp r;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &r);
  r.api_keys = av;
  r.n_api_keys = 5;
  put_answer(out, KW_API_API_VERSIONS, ver, corr, &r);
}

/* One broker, node 1 at sim-1:9092, leading every partition of topic "t". */
static void answer_metadata(kw_buf *out, int16_t ver, int32_t corr) {
  kw_metadata_resp_broker br;
  kw_msg_init(KW_SCHEMA_METADATA_RESP_BROKER, &br);
  br.node_id = 1;
  br.host = str("sim-1");
  br.port = 9092;
  static int32_t leader = 1;
  kw_metadata_resp_partition ps[SIM_PARTITIONS];
  for (int32_t i = 0; i < SIM_PARTITIONS; i++) {
    kw_msg_init(KW_SCHEMA_METADATA_RESP_PARTITION, &ps[i]);
    ps[i].partition_index = i;
    ps[i].leader_id = 1;
    ps[i].replica_nodes = ps[i].isr_nodes = &leader;
    ps[i].n_replica_nodes = ps[i].n_isr_nodes = 1;
  }
  kw_metadata_resp_topic t;
  kw_msg_init(KW_SCHEMA_METADATA_RESP_TOPIC, &t);
  t.name = str("t");
  memset(t.topic_id.b, 0x5a, sizeof t.topic_id.b);
  t.partitions = ps;
  t.n_partitions = SIM_PARTITIONS;
  kw_metadata_resp r;
  kw_msg_init(KW_SCHEMA_METADATA_RESP, &r);
  r.brokers = &br;
  r.n_brokers = 1;
  r.cluster_id = str("sim");
  r.controller_id = 1;
  r.topics = &t;
  r.n_topics = 1;
  put_answer(out, KW_API_METADATA, ver, corr, &r);
}

static void answer_sasl_handshake(kw_buf *out, int16_t ver, int32_t corr) {
  kw_slice mech = str("PLAIN");
  kw_sasl_handshake_resp r;
  kw_msg_init(KW_SCHEMA_SASL_HANDSHAKE_RESP, &r);
  r.mechanisms = &mech;
  r.n_mechanisms = 1;
  put_answer(out, KW_API_SASL_HANDSHAKE, ver, corr, &r);
}

/* PLAIN: "\0user\0secret" is the one answer taken. */
static void answer_sasl_authenticate(sim *s, kw_buf *out, int16_t ver, int32_t corr, kw_rd *body) {
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_sasl_authenticate_req q;
  static const char want[] = "\0user\0secret";
  bool ok = kw_request_decode(KW_API_SASL_AUTHENTICATE, ver, body, &a, &q) == 0 &&
            q.auth_bytes.len == (int32_t)sizeof want - 1 && memcmp(q.auth_bytes.ptr, want, sizeof want - 1) == 0;
  s->n_auth_ok += ok;
  kw_sasl_authenticate_resp r;
  kw_msg_init(KW_SCHEMA_SASL_AUTHENTICATE_RESP, &r);
  r.error_code = ok ? 0 : 58; /* SASL_AUTHENTICATION_FAILED */
  put_answer(out, KW_API_SASL_AUTHENTICATE, ver, corr, &r);
  kw_arena_reset(&a);
}

/* Reads every whole request the client wrote on h and queues the answers. */
static void serve(sim *s, int h) {
  kw_buf *in = &s->to_peer[h];
  size_t off = 0, len;
  while (kw_frame_peek(in->data + off, in->len - off, 1 << 30, &len) == 0) {
    const uint8_t *f = in->data + off + 4;
    int16_t api = (int16_t)(f[0] << 8 | f[1]), ver = (int16_t)(f[2] << 8 | f[3]);
    int32_t corr = (int32_t)((uint32_t)f[4] << 24 | (uint32_t)f[5] << 16 | (uint32_t)f[6] << 8 | f[7]);
    if (s->n_apis < 64) s->apis[s->n_apis++] = api;
    kw_rd body;
    kw_rd_init(&body, f, len);
    kw_req_header hd;
    kw_req_header_decode(&body, &hd, kw_req_header_version(api, ver));
    if (api == KW_API_SASL_HANDSHAKE) answer_sasl_handshake(&s->to_client[h], ver, corr);
    else if (api == KW_API_SASL_AUTHENTICATE) answer_sasl_authenticate(s, &s->to_client[h], ver, corr, &body);
    else if (api == KW_API_API_VERSIONS) answer_api_versions(&s->to_client[h], ver, corr);
    else if (api == KW_API_METADATA) answer_metadata(&s->to_client[h], ver, corr);
    else if (api != KW_API_PRODUCE) s->n_unknown++; /* Produce: acks=0, never answered */
    off += 4 + len;
  }
  memmove(in->data, in->data + off, in->len - off);
  in->len -= off;
}

/* Answers what came, reports readiness as poll(2) would, and lets virtual time pass:
 * a millisecond per wait, the whole timeout when nothing is ready. */
static int sim_poll(void *ud, struct pollfd *fds, int n, int timeout_ms) {
  sim *s = ud;
  s->n_polls++;
  s->now += 1;
  int ready = 0;
  for (int i = 0; i < n; i++) {
    int h = fds[i].fd;
    cr_assert(h >= 0 && h < s->n_handles, "poll of handle %d", h);
    serve(s, h);
    fds[i].revents = 0;
    if ((fds[i].events & POLLIN) && (s->to_client[h].len || !s->open[h])) fds[i].revents |= POLLIN;
    if ((fds[i].events & POLLOUT) && s->open[h]) fds[i].revents |= POLLOUT;
    if (fds[i].revents) ready++;
  }
  if (!ready && timeout_ms > 0) s->now += timeout_ms;
  return ready;
}

static void sim_init(sim *s, uint64_t seed) {
  memset(s, 0, sizeof *s);
  s->now = SIM_START_MS;
  s->rng = seed;
  kw_buf_init_grow(&s->wire, NULL);
}

static void sim_free(sim *s) {
  for (int h = 0; h < s->n_handles; h++) {
    kw_buf_free(&s->to_peer[h]);
    kw_buf_free(&s->to_client[h]);
  }
  kw_buf_free(&s->wire);
}

static void install(sim *s) {
  kw_hooks hk = {s, sim_now, sim_wall, sim_random, sim_connect, sim_recv, sim_sendv, sim_close, sim_poll};
  kw_hooks_install(&hk);
}

static kw_config *sim_config(const char *protocol) { /* SASL: PLAIN as user/secret */
  kw_config *c = kw_config_new();
  char err[256];
  const char *kv[][2] = {{"bootstrap.servers", "sim-1:9092"}, {"acks", "0"}, {"enable.idempotence", "false"},
                         {"linger.ms", "5"}, {"security.protocol", protocol},
                         {"sasl.mechanism", "PLAIN"}, {"sasl.username", "user"}, {"sasl.password", "secret"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    cr_assert_eq(kw_config_set(c, kv[i][0], kv[i][1], err, sizeof err), KW_OK, "%s: %s", kv[i][0], err);
  return c;
}

/* One producer's life under the seam: three records without keys (the sticky
 * partitioner picks their partition from its seed), flushed, destroyed. */
static void run(sim *s, uint64_t seed, const char *protocol) {
  sim_init(s, seed);
  install(s);
  kw_config *c = sim_config(protocol);
  char err[256];
  kw_client *p = kw_producer_new(c, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  cr_assert_eq(kw_now_ms(), s->now, "the clock is the hook's");
  int64_t produced_at = sim_wall(s);
  for (int i = 0; i < 3; i++) cr_assert_eq(kw_produce(p, "t", -1, NULL, 0, "v", 1, NULL, 0, 0, NULL), KW_OK);
  /* Bounded, not kw_client_flush: a client that ignored the hooks would wait forever
   * for a virtual clock nobody moves. */
  for (int i = 0; i < 100 && kw_client_outstanding(p) > 0; i++) kw_client_poll(p, 100);
  cr_assert_gt(s->n_connects, 0, "connect hook never called");
  cr_assert_eq(kw_client_outstanding(p), 0, "all three records went out in virtual time");
  cr_assert_gt(s->now, SIM_START_MS, "the poll hook moved virtual time");
  cr_assert_eq(kw_now_ms(), s->now);
  cr_assert_eq(kw_wall_ms(), sim_wall(s));
  kw_delivery_report dr;
  int reports = 0;
  while (kw_client_delivery_next(p, &dr) == 1) {
    cr_assert_eq(dr.err, KW_OK, "%s", kw_strerror(dr.err));
    cr_assert_eq(dr.timestamp, produced_at, "the record's time is the hook's wall clock");
    reports++;
  }
  cr_assert_eq(reports, 3);
  kw_client_destroy(p);
  kw_config_free(c);
  kw_hooks_install(NULL);
}

Test(hooks, producer_runs_through_the_seam) {
  /* Handles 0.. are this process's real descriptors too (stdin, stdout, ...): the
   * library must give them back through the close hook, never close(2) them. */
  bool was_open[SIM_HANDLES];
  for (int h = 0; h < SIM_HANDLES; h++) was_open[h] = fcntl(h, F_GETFD) != -1;
  sim s;
  run(&s, 42, "PLAINTEXT");
  for (int h = 0; h < s.n_handles; h++)
    cr_assert(!was_open[h] || fcntl(h, F_GETFD) != -1, "descriptor %d was closed with close(2)", h);
  cr_assert_gt(s.n_connects, 0, "connect hook never called");
  cr_assert_str_eq(s.last_host, "sim-1");
  cr_assert_eq(s.last_port, 9092);
  cr_assert_geq(s.n_apis, 2);
  cr_assert_eq(s.apis[0], KW_API_API_VERSIONS, "first request: api %d", s.apis[0]);
  cr_assert_eq(s.apis[1], KW_API_METADATA, "second request: api %d", s.apis[1]);
  int produces = 0;
  for (int i = 0; i < s.n_apis; i++) produces += s.apis[i] == KW_API_PRODUCE;
  cr_assert_gt(produces, 0, "the records went out through sendv");
  cr_assert_eq(s.n_unknown, 0);
  cr_assert_eq(s.n_closes, s.n_handles, "every handle given back through the close hook");
  sim_free(&s);
}

Test(hooks, same_seed_same_bytes) {
  sim a, b, c;
  run(&a, 7, "PLAINTEXT");
  run(&b, 7, "PLAINTEXT");
  cr_assert_gt(a.wire.len, 0);
  cr_assert_eq(a.wire.len, b.wire.len, "%zu bytes, then %zu", a.wire.len, b.wire.len);
  cr_assert(memcmp(a.wire.data, b.wire.data, a.wire.len) == 0, "the same seed wrote different bytes");
  cr_assert_eq(a.now, b.now, "the same virtual time passed");
  /* Another seed: the sticky partitioner starts elsewhere, so the Produce differs. */
  run(&c, 8, "PLAINTEXT");
  cr_assert(a.wire.len != c.wire.len || memcmp(a.wire.data, c.wire.data, a.wire.len) != 0,
            "the seed does not reach the partitioner");
  sim_free(&a);
  sim_free(&b);
  sim_free(&c);
}

Test(hooks, sasl_over_plaintext_through_the_seam) {
  sim s;
  run(&s, 3, "SASL_PLAINTEXT");
  cr_assert_geq(s.n_apis, 4);
  int16_t want[] = {KW_API_API_VERSIONS, KW_API_SASL_HANDSHAKE, KW_API_SASL_AUTHENTICATE, KW_API_METADATA};
  for (int i = 0; i < 4; i++) cr_assert_eq(s.apis[i], want[i], "request %d: api %d, not %d", i, s.apis[i], want[i]);
  cr_assert_eq(s.n_auth_ok, s.n_connects, "every connection authenticated");
  cr_assert_eq(s.n_unknown, 0);
  sim_free(&s);
}

static int64_t real_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(hooks, removing_them_brings_the_real_clock_back) {
  sim s;
  sim_init(&s, 1);
  install(&s);
  cr_assert_eq(kw_now_ms(), SIM_START_MS);
  uint64_t drawn = kw_random_u64();
  sim fresh;
  sim_init(&fresh, 1);
  cr_assert_eq(drawn, sim_random(&fresh), "the seed is the hook's");
  sim_free(&fresh);
  kw_hooks_install(NULL);
  cr_assert_null(kw_hooks_active());
  int64_t before = real_monotonic_ms(), now = kw_now_ms(), after = real_monotonic_ms();
  cr_assert(before <= now && now <= after, "kw_now_ms %lld outside the real clock's [%lld, %lld]", (long long)now,
            (long long)before, (long long)after);
  sim_free(&s);
}

Test(hooks, tls_is_refused_with_a_reason) {
  sim s;
  sim_init(&s, 1);
  install(&s);
  kw_config *c = sim_config("SSL");
  char err[256] = "";
  kw_client *p = kw_producer_new(c, err, sizeof err);
  kw_hooks_install(NULL);
  cr_assert_null(p, "a TLS client was made under the simulator");
  cr_assert(strstr(err, "plaintext") != NULL, "reason: %s", err);
  cr_assert_eq(s.n_connects, 0);
  kw_config_free(c);
  sim_free(&s);
}

Test(hooks, a_partial_network_set_leaves_the_network_real) {
  sim s;
  sim_init(&s, 1);
  kw_hooks hk = {&s, sim_now, NULL, NULL, sim_connect, sim_recv, sim_sendv, sim_close, NULL}; /* no poll */
  kw_hooks_install(&hk);
  cr_assert_null(kw_hooks_net(), "connect without poll would leave handles nobody waits on");
  cr_assert_eq(kw_now_ms(), SIM_START_MS, "the clock hook still counts");
  hk.poll = sim_poll;
  kw_hooks_install(&hk);
  cr_assert_not_null(kw_hooks_net());
  kw_hooks_install(NULL);
  cr_assert_null(kw_hooks_net());
  sim_free(&s);
}
