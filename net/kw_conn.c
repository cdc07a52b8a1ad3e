/* Broker connection state machine (see kw_conn.h). */
#define _POSIX_C_SOURCE 200809L
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "core/kw_hooks.h"
#include "kwire/error.h"
#include "core/kw_log.h"
#include "net/kw_conn.h"
#include "net/kw_conn_int.h"
#include "net/kw_transport.h"
#ifdef KW_WITH_TLS
#include "net/kw_tls.h"
#endif
#include "kwire/buf.h"
#include "proto/kw_frame.h"
#include "core/kw_mem.h"
#include "proto/kw_msg.h"

static void fail_pending(kw_conn *c, int err) {
  /* Callbacks may queue new requests on other connections; take the list first. */
  while (c->nq > 0) {
    pending p = c->q[0];
    memmove(c->q, c->q + 1, (size_t)(c->nq - 1) * sizeof *c->q);
    c->nq--;
    if (p.cb) p.cb(p.ud, err, p.api_key, p.version, NULL);
  }
}

kw_conn *kw_conn_new(const kw_conn_config *cfg) {
  kw_conn *c = kw_alloc(cfg->mem, sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->cfg = *cfg;
  if (!c->cfg.client_id) c->cfg.client_id = "kwire";
  if (c->cfg.max_frame <= 0) c->cfg.max_frame = 100 * 1024 * 1024;
  if (c->cfg.max_in_flight <= 0) c->cfg.max_in_flight = 5;
  if (c->cfg.request_timeout_ms <= 0) c->cfg.request_timeout_ms = 30000;
  if (c->cfg.connect_timeout_ms <= 0) c->cfg.connect_timeout_ms = 10000;
  c->tp = &kw_transport_tcp;
#ifdef KW_WITH_TLS
  if (cfg->security && cfg->security->tls) c->tp = &kw_transport_tls;
#endif
  c->rng = (uint32_t)kw_random_u64();
  c->fd = -1;
  c->next_corr = 1;
  kw_buf_init_grow(&c->out, cfg->mem);
  kw_buf_init_grow(&c->in, cfg->mem);
  kw_arena_init(&c->arena, cfg->mem, 0);
  /* +1: the ApiVersions request itself rides in the queue during the handshake. */
  c->q = kw_alloc(cfg->mem, sizeof *c->q * (size_t)(c->cfg.max_in_flight + 1));
  if (!c->q) {
    kw_free(cfg->mem, c);
    return NULL;
  }
  return c;
}

static void drop_socket(kw_conn *c) {
  if (c->tctx) c->tp->close(c->tctx);
  c->tctx = NULL;
  if (c->fd >= 0 && c->tp == &kw_transport_hooked) kw_hooked_close_handle(c->fd); /* a handle, not an fd */
  else if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  kw_conn_auth_end(c);
  c->reauth_at = 0;
  c->reauth_busy = false;
  c->fatal = 0;
  kw_buf_reset(&c->out);
  kw_buf_reset(&c->in);
}

/* Keeps the words for a failure (the transport's reason unless the SASL exchange
 * already wrote its own). */
static void note_why(kw_conn *c, int err) {
  if (c->fatal || !err) return;
  c->why[0] = 0;
  if (c->tctx) c->tp->describe(c->tctx, c->why, sizeof c->why);
}

void kw_conn_close(kw_conn *c, int err) {
  if (c->state != KW_CONN_DOWN) {
    note_why(c, err);
    CONN_DBG(c, BROKER, "connection closed: %s%s%s (%d requests in flight)", err ? kw_strerror(err) : "by us",
             err && c->why[0] ? ": " : "", err ? c->why : "", c->nq);
  }
  drop_socket(c);
  if (c->addrs) freeaddrinfo(c->addrs);
  c->addrs = c->next_addr = NULL;
  c->state = KW_CONN_DOWN;
  c->last_error = err;
  fail_pending(c, err ? err : KW_ERR_DISCONNECTED);
}

void kw_conn_free(kw_conn *c) {
  if (!c) return;
  if (c->state != KW_CONN_DOWN) CONN_DBG(c, BROKER, "closing (%d requests in flight)", c->nq);
  c->state = KW_CONN_DOWN; /* our own close: not logged as a failure */
  kw_conn_close(c, KW_ERR_DISCONNECTED);
  kw_buf_free(&c->out);
  kw_buf_free(&c->in);
  kw_arena_reset(&c->arena);
  kw_free(c->cfg.mem, c->q);
  kw_free(c->cfg.mem, c);
}

kw_conn_state kw_conn_get_state(const kw_conn *c) { return c->state; }
int kw_conn_last_error(const kw_conn *c) { return c->last_error; }
const char *kw_conn_last_error_text(const kw_conn *c) { return c->last_error ? c->why : ""; }
int kw_conn_fd(const kw_conn *c) { return c->fd; }
int kw_conn_in_flight(const kw_conn *c) { return c->nq; }
size_t kw_conn_unsent(const kw_conn *c) { return c->out.len; }

/* Requests wait while the broker throttles this client (KIP-219): it answered with a
 * throttle time and mutes the connection until then; writing meanwhile only fills its
 * buffers, and a quota is the broker telling this client to slow down. */
static bool throttled(const kw_conn *c) {
  return c->throttled_until && c->state == KW_CONN_READY && kw_now_ms() < c->throttled_until;
}

void kw_conn_throttle(kw_conn *c, int32_t ms, int64_t now) {
  if (ms <= 0 || now + ms <= c->throttled_until) return;
  c->throttled_until = now + ms;
  CONN_DBG(c, BROKER, "throttled by the broker for %d ms", (int)ms);
}

short kw_conn_events(const kw_conn *c) {
  switch (c->state) {
  case KW_CONN_DOWN: return 0;
  case KW_CONN_CONNECTING: return POLLOUT;
  case KW_CONN_HANDSHAKE: return c->hs_want;
  default: return (short)(POLLIN | (c->out.len && !throttled(c) ? POLLOUT : 0) | (c->tctx ? c->tp->extra_events(c->tctx) : 0));
  }
}

int64_t kw_conn_deadline(const kw_conn *c) {
  int64_t d = INT64_MAX;
  if (c->state == KW_CONN_CONNECTING || c->state == KW_CONN_HANDSHAKE) d = c->state_deadline;
  for (int i = 0; i < c->nq; i++)
    if (c->q[i].deadline < d) d = c->q[i].deadline;
  if (c->state == KW_CONN_READY && c->reauth_at && !c->reauth_busy && c->reauth_at < d) d = c->reauth_at;
  if (c->out.len && throttled(c) && c->throttled_until < d) d = c->throttled_until; /* then write */
  return d;
}

/* ---- requests ---- */

/* expect_answer false: Produce with acks=0, which the broker never answers. */
int kw_conn_enqueue(kw_conn *c, int16_t key, int16_t ver, const void *msg, kw_conn_cb cb, void *ud, int64_t now,
                    bool expect_answer, int64_t timeout_ms) {
  kw_req_header h = {key, ver, c->next_corr,
                     {(const uint8_t *)c->cfg.client_id, (int32_t)strlen(c->cfg.client_id)}};
  size_t mark = c->out.len;
  int err = kw_request_frame(&c->out, &h, msg);
  if (err) {
    c->out.len = mark; /* nothing half-written stays queued */
    c->out.err = 0;
    return err;
  }
  CONN_DBG(c, PROTOCOL, "sent %s v%d, correlation id %d, %zu bytes", kw_api_find(key) ? kw_api_find(key)->name : "?",
           ver, c->next_corr, c->out.len - mark);
  if (expect_answer) c->q[c->nq++] = (pending){c->next_corr, key, ver, now + timeout_ms, cb, ud};
  c->next_corr = c->next_corr == INT32_MAX ? 1 : c->next_corr + 1;
  return 0;
}

int kw_conn_version(const kw_conn *c, int16_t key) {
  if (c->state != KW_CONN_READY || key < 0 || key >= KW_MAX_API_KEY || c->broker_max[key] < 0)
    return KW_ERR_NO_VERSION;
  return kw_version_pick(key, c->broker_min[key], c->broker_max[key]);
}

bool kw_conn_broker_range(const kw_conn *c, int16_t key, int16_t *min, int16_t *max) {
  if (key < 0 || key >= KW_MAX_API_KEY || c->broker_max[key] < 0) return false;
  *min = c->broker_min[key];
  *max = c->broker_max[key];
  return true;
}

/* While re-authenticating, the broker takes nothing but the SASL requests (KIP-368). */
static int may_send(const kw_conn *c) {
  if (c->state != KW_CONN_READY) return KW_ERR_STATE;
  if (c->nq >= c->cfg.max_in_flight || c->reauth_busy) return KW_ERR_WOULD_BLOCK;
  return 0;
}

int kw_conn_request(kw_conn *c, int16_t key, int version, const void *msg, kw_conn_cb cb, void *ud, int64_t now) {
  int err = may_send(c);
  if (err) return err;
  if (version < 0) version = kw_conn_version(c, key);
  if (version < 0) return version;
  return kw_conn_enqueue(c, key, (int16_t)version, msg, cb, ud, now, true, c->cfg.request_timeout_ms);
}

int kw_conn_request_timeout(kw_conn *c, int16_t key, int version, const void *msg, kw_conn_cb cb, void *ud, int64_t now,
                            int64_t timeout_ms) {
  int err = may_send(c);
  if (err) return err;
  if (version < 0) version = kw_conn_version(c, key);
  if (version < 0) return version;
  return kw_conn_enqueue(c, key, (int16_t)version, msg, cb, ud, now, true, timeout_ms);
}

int kw_conn_send_oneway(kw_conn *c, int16_t key, int version, const void *msg, int64_t now) {
  if (c->state != KW_CONN_READY) return KW_ERR_STATE;
  if (c->reauth_busy) return KW_ERR_WOULD_BLOCK;
  if (version < 0) version = kw_conn_version(c, key);
  if (version < 0) return version;
  return kw_conn_enqueue(c, key, (int16_t)version, msg, NULL, NULL, now, false, 0);
}

/* ---- the ApiVersions handshake ---- */

static const char *const kw_software_version = "0.1.0";

static int send_api_versions(kw_conn *c, int16_t ver, int64_t now) {
  kw_api_versions_req req;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_REQ, &req);
  req.client_software_name = (kw_slice){(const uint8_t *)"kwire", 5};
  req.client_software_version = (kw_slice){(const uint8_t *)kw_software_version, (int32_t)strlen(kw_software_version)};
  c->apiversions_version = ver;
  return kw_conn_enqueue(c, KW_API_API_VERSIONS, ver, &req, NULL, NULL, now, true, c->cfg.request_timeout_ms);
}

/* Reads the answer at the version asked, else at v0: a broker that does not speak the
 * version asked answers in v0 (UNSUPPORTED_VERSION with its own range), and some
 * Kafka-compatible brokers and test doubles answer in v0 whatever was asked. The Java
 * client (ApiVersionsResponse.parse) reads it the same way. Returns the version that
 * read, or the first decoding error. */
static int decode_api_versions(kw_conn *c, const kw_rd *body, kw_api_versions_resp *resp) {
  int16_t asked = c->apiversions_version;
  /* UNSUPPORTED_VERSION in the first two bytes: the v0 form is the likely one. */
  kw_rd peek = *body;
  bool v0_first = kw_rd_i16(&peek) == KW_UNSUPPORTED_VERSION_KERR;
  int16_t order[2] = {v0_first ? 0 : asked, v0_first ? asked : 0};
  int first_err = 0;
  for (int i = 0; i < (asked > 0 ? 2 : 1); i++) {
    kw_arena_reset(&c->arena);
    kw_rd r = *body;
    int err = kw_response_decode(KW_API_API_VERSIONS, order[i], &r, &c->arena, resp);
    if (!err) return order[i];
    if (!first_err) first_err = err;
  }
  return first_err;
}

/* Returns 0 when READY, 1 when it resent ApiVersions at a lower version, or an error. */
static int on_api_versions(kw_conn *c, kw_rd *body, int64_t now) {
  kw_api_versions_resp resp;
  int read_at = decode_api_versions(c, body, &resp);
  if (read_at < 0) {
    CONN_DBG(c, BROKER, "ApiVersions v%d answer reads neither at v%d nor at v0 (%s)", c->apiversions_version,
             c->apiversions_version, kw_strerror(read_at));
    if (c->apiversions_version > 0) { /* a last try in the oldest form before giving up */
      int err = send_api_versions(c, 0, now);
      return err ? err : 1;
    }
    snprintf(c->why, sizeof c->why, "the broker's answer to ApiVersions v0 is not an ApiVersions answer (%s)",
             kw_strerror(read_at));
    c->fatal = KW_ERR_MALFORMED;
    return KW_ERR_MALFORMED;
  }
  int16_t code = resp.error_code;
  for (int k = 0; k < KW_MAX_API_KEY; k++) c->broker_min[k] = c->broker_max[k] = -1;
  for (int32_t i = 0; i < resp.n_api_keys; i++) {
    const kw_api_versions_resp_api_version *a = &resp.api_keys[i];
    if (a->api_key >= 0 && a->api_key < KW_MAX_API_KEY && a->min_version <= a->max_version) {
      c->broker_min[a->api_key] = a->min_version;
      c->broker_max[a->api_key] = a->max_version;
    }
  }
  if (code == KW_UNSUPPORTED_VERSION_KERR) {
    int retry = c->broker_max[KW_API_API_VERSIONS] >= 0
                    ? kw_version_pick(KW_API_API_VERSIONS, c->broker_min[KW_API_API_VERSIONS],
                                      c->broker_max[KW_API_API_VERSIONS])
                    : 0;
    if (retry < 0) retry = 0;
    if (retry >= c->apiversions_version) return KW_ERR_NO_VERSION; /* would loop */
    int err = send_api_versions(c, (int16_t)retry, now);
    return err ? err : 1;
  }
  if (code != 0) return KW_ERR_BROKER;
  CONN_DBG(c, BROKER, "ApiVersions v%d (read as v%d): %d APIs offered", c->apiversions_version, read_at,
           resp.n_api_keys);
  if (c->cfg.security && c->cfg.security->sasl_mechanism >= 0) {
    c->state = KW_CONN_AUTH;
    return kw_conn_auth_begin(c);
  }
  c->state = KW_CONN_READY;
  return 0;
}

/* ---- I/O ---- */

static int try_next_address(kw_conn *c, int64_t now) {
  while (c->next_addr) {
    struct addrinfo *ai = c->next_addr;
    c->next_addr = ai->ai_next;
    drop_socket(c);
    int err = kw_tcp_connect(ai->ai_addr, ai->ai_addrlen, ai->ai_family, &c->fd);
    if (err == 0 || err == KW_ERR_WOULD_BLOCK) {
      CONN_DBG(c, BROKER, "connecting (address family %d)", ai->ai_family);
      c->state = KW_CONN_CONNECTING;
      c->state_deadline = now + c->cfg.connect_timeout_ms;
      return 0;
    }
  }
  return KW_ERR_CONNECT;
}

static int step(kw_conn *c, short revents, int64_t now);

/* Through the simulator (core/kw_hooks.h): no resolver, no socket. A connect that
 * succeeds continues as a completed TCP connect does: the ApiVersions request at once. */
static int connect_hooked(kw_conn *c, const kw_hooks *h, int64_t now) {
  if (c->cfg.security && c->cfg.security->tls) { /* kw_security_init refuses this first */
    snprintf(c->why, sizeof c->why, "the simulator (kw_hooks) speaks plaintext only, not TLS");
    c->last_error = KW_ERR_UNSUPPORTED_FEATURE;
    return KW_ERR_UNSUPPORTED_FEATURE;
  }
  int handle = -1;
  int err = h->connect(h->ud, c->cfg.host, c->cfg.port, &handle);
  if (err || handle < 0) {
    c->last_error = err == KW_ERR_RESOLVE ? KW_ERR_RESOLVE : KW_ERR_CONNECT;
    return c->last_error;
  }
  c->tp = &kw_transport_hooked;
  c->fd = handle;
  c->last_error = 0;
  c->now = now;
  CONN_DBG(c, BROKER, "connected through the simulator (handle %d)", handle);
  c->state = KW_CONN_HANDSHAKE;
  c->state_deadline = now + c->cfg.connect_timeout_ms;
  err = step(c, POLLOUT, now);
  if (err) kw_conn_close(c, err);
  return err;
}

int kw_conn_connect(kw_conn *c, int64_t now) {
  if (c->state != KW_CONN_DOWN) return KW_ERR_STATE;
  const kw_hooks *h = kw_hooks_net();
  if (h) return connect_hooked(c, h, now);
  c->tp = &kw_transport_tcp;
#ifdef KW_WITH_TLS
  if (c->cfg.security && c->cfg.security->tls) c->tp = &kw_transport_tls;
#endif
  char port[16];
  snprintf(port, sizeof port, "%d", c->cfg.port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  /* getaddrinfo blocks; an asynchronous resolver can replace it behind this call. */
  if (getaddrinfo(c->cfg.host, port, &hints, &c->addrs) != 0 || !c->addrs) {
    c->last_error = KW_ERR_RESOLVE;
    return KW_ERR_RESOLVE;
  }
  c->next_addr = c->addrs;
  c->last_error = 0;
  c->now = now;
  int err = try_next_address(c, now);
  if (err) kw_conn_close(c, err);
  return err;
}

static int flush_out(kw_conn *c) {
  if (throttled(c)) return 0; /* kw_conn_deadline wakes the client when it ends */
  while (c->out.len) {
    struct iovec iov = {c->out.data, c->out.len};
    ssize_t n = c->tp->sendv(c->tctx, c->fd, &iov, 1);
    if (n == KW_ERR_WOULD_BLOCK) return 0;
    if (n < 0) return (int)n;
    memmove(c->out.data, c->out.data + n, c->out.len - (size_t)n);
    c->out.len -= (size_t)n;
  }
  return 0;
}

/* Hands every complete frame in `in` to its request's callback. */
static int dispatch_frames(kw_conn *c, int64_t now) {
  size_t off = 0;
  int err = 0;
  while (!err) {
    size_t len;
    int st = kw_frame_peek(c->in.data + off, c->in.len - off, c->cfg.max_frame, &len);
    if (st == KW_ERR_TRUNCATED) break;
    if (st) return st;
    if (c->nq == 0) return KW_ERR_CORRELATION;
    pending p = c->q[0];
    kw_rd body;
    kw_rd_init(&body, c->in.data + off + 4, len);
    int32_t corr;
    kw_resp_header_decode(&body, &corr, kw_resp_header_version(p.api_key, p.version));
    if (body.err) return body.err;
    if (corr != p.correlation_id) return KW_ERR_CORRELATION;
    memmove(c->q, c->q + 1, (size_t)(c->nq - 1) * sizeof *c->q);
    c->nq--;
    off += 4 + len;
    CONN_DBG(c, PROTOCOL, "received correlation id %d, %zu bytes", corr, len);
    if (p.api_key == KW_API_API_VERSIONS && c->state == KW_CONN_APIVERSIONS) {
      int r = on_api_versions(c, &body, now);
      if (r < 0) err = r;
    } else if (p.cb) {
      p.cb(p.ud, 0, p.api_key, p.version, &body);
      if (c->fatal) err = c->fatal; /* a SASL answer said no */
    }
  }
  memmove(c->in.data, c->in.data + off, c->in.len - off);
  c->in.len -= off;
  return err;
}

static int read_in(kw_conn *c, int64_t now) {
  for (;;) {
    if (kw_buf_reserve(&c->in, 64 * 1024)) return c->in.err;
    ssize_t n = c->tp->recv(c->tctx, c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n == KW_ERR_WOULD_BLOCK) return 0;
    if (n < 0) return (int)n;
    c->in.len += (size_t)n;
    int err = dispatch_frames(c, now);
    if (err) return err;
    if (c->state == KW_CONN_DOWN) return 0;
  }
}

static int expire(kw_conn *c, int64_t now) {
  if (c->state == KW_CONN_CONNECTING && now >= c->state_deadline)
    return c->next_addr ? try_next_address(c, now) : KW_ERR_TIMED_OUT;
  if (c->state == KW_CONN_HANDSHAKE && now >= c->state_deadline) return KW_ERR_TIMED_OUT;
  /* A timed-out request leaves the connection unusable: its answer may still arrive and
   * would be taken for the next one's, so the connection is closed, as Kafka clients do. */
  for (int i = 0; i < c->nq; i++)
    if (now >= c->q[i].deadline) return KW_ERR_TIMED_OUT;
  return 0;
}

static int step(kw_conn *c, short revents, int64_t now) {
  if (c->state == KW_CONN_CONNECTING) {
    if (!(revents & (POLLOUT | POLLERR | POLLHUP))) return expire(c, now);
    if (kw_tcp_connect_result(c->fd) != 0) return try_next_address(c, now);
    c->state = KW_CONN_HANDSHAKE;
    revents = 0;
#ifdef KW_WITH_TLS
    if (c->tp == &kw_transport_tls) {
      c->tctx = kw_tls_conn_new(c->cfg.security->tls, c->fd, c->cfg.host);
      if (!c->tctx) return KW_ERR_NOMEM;
    }
#endif
  }
  if (c->state == KW_CONN_HANDSHAKE) {
    int err = c->tp->handshake(c->tctx, c->fd, &c->hs_want);
    if (err == KW_ERR_WOULD_BLOCK) return expire(c, now);
    if (err) return err;
    if (c->tctx) CONN_DBG(c, SECURITY, "%s handshake done", c->tp->name);
    c->state = KW_CONN_APIVERSIONS;
    err = send_api_versions(c, (int16_t)kw_api_find(KW_API_API_VERSIONS)->max, now); /* the newest: v5 */
    if (err) return err;
    revents |= POLLOUT;
  }
  /* A TLS read that had to wait for POLLOUT (rare: a key update) is retried on it. */
  bool read_waits_write = c->tctx && (c->tp->extra_events(c->tctx) & POLLOUT) && (revents & POLLOUT);
  if ((revents & (POLLIN | POLLHUP | POLLERR)) || read_waits_write) {
    int err = read_in(c, now);
    if (err) return err;
  }
  if (c->fd >= 0 && c->out.len && (revents & POLLOUT)) {
    int err = flush_out(c);
    if (err) return err;
  }
  if (c->state == KW_CONN_READY && c->reauth_at && now >= c->reauth_at && !c->reauth_busy) {
    CONN_DBG(c, SECURITY, "re-authenticating (%d requests in flight)", c->nq);
    c->reauth_busy = true;
    int err = kw_conn_auth_begin(c);
    if (err) return err;
    err = flush_out(c);
    if (err) return err;
  }
  return expire(c, now);
}

int kw_conn_flush(kw_conn *c) {
  if (c->state < KW_CONN_APIVERSIONS || c->fd < 0 || !c->out.len) return 0;
  int err = flush_out(c);
  if (err) kw_conn_close(c, err);
  return err;
}

int kw_conn_step(kw_conn *c, short revents, int64_t now) {
  if (c->state == KW_CONN_DOWN) return 0;
  c->now = now;
  int err = step(c, revents, now);
  if (err) kw_conn_close(c, err);
  return err;
}
