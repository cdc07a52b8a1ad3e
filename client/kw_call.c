/* The request-and-wait path (kw_call.h): an operation's errors and backoff, one request
 * sent and awaited, and the retries Kafka's errors allow (coordinators found again). */
#include "client/kw_call.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "client/kw_config.h"
#include "core/kw_clock.h"
#include "core/kw_mem.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"

/* ---- errors and backoff ---- */

void kw_call_begin(kw_call *c, kw_client *cl, int timeout_ms, char *errstr, size_t errlen) {
  memset(c, 0, sizeof *c);
  c->cl = cl;
  c->deadline = kw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  c->backoff_ms = cl ? kw_config_values(cl->conf)->retry_backoff_ms : 100;
  c->waiting = "an answer";
  c->errstr = errlen ? errstr : NULL;
  c->errlen = errlen;
  if (c->errstr) c->errstr[0] = 0;
}

int kw_call_fail(kw_call *c, int err, const char *fmt, ...) {
  if (c->errstr && !c->err_set) {
    int n = snprintf(c->errstr, c->errlen, "%s: ", c->op);
    if (n >= 0 && (size_t)n < c->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->errstr + n, c->errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  c->err_set = true;
  return err;
}

int kw_call_kerr(kw_call *c, int16_t code, kw_slice msg) {
  if (msg.ptr && msg.len > 0) return kw_call_fail(c, KW_ERR_BROKER, "%s: %.*s", kw_kerr_name(code), (int)msg.len, msg.ptr);
  const kw_kerr_info *k = kw_kerr_lookup(code);
  return kw_call_fail(c, KW_ERR_BROKER, "%s: %s", kw_kerr_name(code), k ? k->message : "unknown error code");
}

int kw_call_end(kw_call *c, int rc) {
  if (rc >= 0) return KW_OK;
  if (c->err_set) return rc;
  if (rc != KW_ERR_TIMED_OUT) return kw_call_fail(c, rc, "%s", kw_strerror(rc));
  const char *last = c->last_kerr                                       ? kw_kerr_name(c->last_kerr)
                     : c->last_err && c->last_err != KW_ERR_TIMED_OUT ? kw_strerror(c->last_err)
                                                                      : NULL;
  if (last) return kw_call_fail(c, rc, "timed out waiting for %s (last error: %s)", c->waiting, last);
  return kw_call_fail(c, rc, "timed out waiting for %s", c->waiting);
}

void kw_call_note_err(kw_call *c, int err) {
  if (err != KW_ERR_TIMED_OUT || !c->last_err) c->last_err = err; /* a timeout hides no better reason */
}

bool kw_call_io_retriable(int err) {
  return err == KW_ERR_DISCONNECTED || err == KW_ERR_IO || err == KW_ERR_CONNECT || err == KW_ERR_TIMED_OUT ||
         err == KW_ERR_STATE || err == KW_ERR_ALL_BROKERS_DOWN || err == KW_ERR_CORRELATION;
}

int32_t kw_call_remaining_ms(const kw_call *c) {
  int64_t left = c->deadline - kw_now_ms();
  return left < 1 ? 1 : left > INT32_MAX ? INT32_MAX : (int32_t)left;
}

/* Runs the client until *done, or `until` (monotonic ms). Not kw_client_poll(), which
 * keeps waiting after an answer when it served no delivery: a call returns at once.
 * KW_ERR_NOMEM when the client could not wait for all its sockets. */
static int drive(kw_client *cl, int64_t until, const bool *done) {
  for (;;) {
    kw_client_step(cl, NULL, 0);
    if (done && *done) return 0;
    if (kw_now_ms() >= until) return 0;
    int rc = kw_client_wait(cl, until);
    if (rc < 0) return rc;
    if (done && *done) return 0;
  }
}

int kw_call_run_until(kw_client *cl, int64_t until, const bool *done) {
  return !done || !*done ? drive(cl, until, done) : 0;
}

int kw_call_backoff(kw_call *c) {
  int64_t now = kw_now_ms();
  if (now >= c->deadline) return KW_ERR_TIMED_OUT;
  int64_t until = now + kw_backoff_jitter(&c->cl->cluster.rng, c->backoff_ms);
  int64_t max = kw_config_values(c->cl->conf)->retry_backoff_max_ms;
  c->backoff_ms = c->backoff_ms * 2 < max ? c->backoff_ms * 2 : max;
  int rc = drive(c->cl, until < c->deadline ? until : c->deadline, NULL);
  if (rc < 0) return rc;
  return kw_now_ms() >= c->deadline ? KW_ERR_TIMED_OUT : 0;
}

/* ---- one request ---- */

/* A sent request's state, on the heap: a caller that timed out sets `abandoned`, and
 * the answer (or the connection's failure) arriving later frees it. */
typedef struct pending {
  bool done, abandoned;
  int err;
  void *resp;
  kw_arena *arena;
  const kw_mem *mem;
} pending;

static void on_answer(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  pending *st = ud;
  if (st->abandoned) {
    kw_free(st->mem, st);
    return;
  }
  st->done = true;
  if (err) {
    st->err = err;
    return;
  }
  /* The body lives in the connection's receive buffer, which later reads reuse: decode
   * from a copy in the caller's arena so strings in *resp stay valid. */
  size_t n = kw_rd_left(body);
  void *copy = kw_arena_alloc(st->arena, n ? n : 1);
  if (!copy) {
    st->err = KW_ERR_NOMEM;
    return;
  }
  memcpy(copy, body->p, n);
  kw_rd r;
  kw_rd_init(&r, copy, n);
  st->err = kw_response_decode(key, ver, &r, st->arena, st->resp);
}

static kw_conn *pick_conn(kw_client *cl, int32_t node, int64_t now) {
  if (node >= 0) {
    if (kw_cluster_broker(&cl->cluster, node)) return kw_cluster_conn(&cl->cluster, node, now);
    kw_cluster_refresh_soon(&cl->cluster, now); /* a broker our metadata knows and the client's not yet */
    return NULL;
  }
  /* The least busy: a broker answers a connection's requests in order, so behind a
   * consumer's fetch (held up to fetch.wait.max.ms) ours would wait as long. */
  kw_conn *best = NULL;
  int best_n = cl->cluster.set.max_in_flight;
  for (int i = 0; i < cl->cluster.n_brokers; i++) {
    kw_conn *c = cl->cluster.brokers[i]->conn;
    int n = c && kw_conn_get_state(c) == KW_CONN_READY ? kw_conn_in_flight(c) : best_n;
    if (n < best_n) best = c, best_n = n;
  }
  if (!best) kw_cluster_refresh_soon(&cl->cluster, now); /* metadata brings a connection up */
  return best;
}

/* Timed out before sending: say why no connection was usable, if one failed. */
static void note_conn_error(kw_call *c, int32_t node) {
  for (int i = 0; i < c->cl->cluster.n_brokers; i++) {
    kw_broker *b = c->cl->cluster.brokers[i];
    if ((node < 0 || b->node_id == node) && b->conn && kw_conn_get_state(b->conn) != KW_CONN_READY &&
        kw_conn_last_error(b->conn))
      c->last_err = kw_conn_last_error(b->conn);
  }
}

int kw_call_once(kw_call *c, int32_t node, int16_t api, void *req, kw_call_build build, void *resp, kw_arena *ar) {
  kw_client *cl = c->cl;
  pending *st = kw_alloc(cl->mem, sizeof *st);
  if (!st) return KW_ERR_NOMEM;
  *st = (pending){false, false, 0, resp, ar, cl->mem};
  int version = -1, err = 0;
  while (version < 0 && !err) {
    int64_t now = kw_now_ms();
    if (now >= c->deadline) {
      err = KW_ERR_TIMED_OUT;
      break;
    }
    kw_conn *conn = pick_conn(cl, node, now);
    if (conn) {
      int v = kw_conn_version(conn, api);
      if (v < 0) {
        err = v;
        break;
      }
      if (build && (err = build(c, req, (int16_t)v)) != 0) break;
      int e = kw_conn_request(conn, api, v, req, on_answer, st, now);
      if (e == 0) {
        version = v;
        kw_conn_flush(conn);
      } else if (e != KW_ERR_WOULD_BLOCK) {
        err = e;
      }
    }
    /* No connection takes it yet: look again when something happened (a connection came
     * up, a backoff ended), not on a clock of our own. */
    if (version < 0 && !err) {
      int rc = kw_client_wait(cl, c->deadline);
      if (rc < 0) err = rc;
    }
  }
  if (err) { /* never sent: nobody else holds st */
    kw_free(cl->mem, st);
    if (err == KW_ERR_TIMED_OUT) note_conn_error(c, node);
    return err;
  }
  int rc = drive(cl, c->deadline, &st->done);
  if (!st->done) {
    st->abandoned = true;
    return rc < 0 ? rc : KW_ERR_TIMED_OUT;
  }
  err = st->err;
  kw_free(cl->mem, st);
  return err ? err : version;
}

/* ---- retries ---- */

typedef struct fc_req {
  kw_find_coordinator_req req; /* first: the request itself */
  kw_slice key;
} fc_req;

/* v4+ asks for a list of keys (KIP-699); earlier versions for one. */
static int build_fc(kw_call *c, void *r, int16_t v) {
  (void)c;
  fc_req *f = r;
  kw_msg_init(KW_SCHEMA_FIND_COORDINATOR_REQ, &f->req);
  f->req.key_type = 0; /* group */
  if (v >= 4) {
    f->req.coordinator_keys = &f->key;
    f->req.n_coordinator_keys = 1;
  } else {
    f->req.key = f->key;
  }
  return 0;
}

/* The answer's coordinator, or -1 (v4+ answers per key: we asked for one). */
static int32_t fc_node(const kw_find_coordinator_resp *resp, int16_t v, int16_t *code, kw_slice *msg) {
  if (v < 4) {
    *code = resp->error_code;
    *msg = resp->error_message;
    return resp->node_id;
  }
  if (resp->n_coordinators < 1) {
    *code = KW_KERR_COORDINATOR_NOT_AVAILABLE;
    *msg = (kw_slice){NULL, 0};
    return -1;
  }
  *code = resp->coordinators[0].error_code;
  *msg = resp->coordinators[0].error_message;
  return resp->coordinators[0].node_id;
}

static int16_t fc_code(const void *r, int16_t v, kw_slice *msg) {
  int16_t code;
  int32_t node = fc_node(r, v, &code, msg);
  return !code && node < 0 ? KW_KERR_COORDINATOR_NOT_AVAILABLE : code; /* no coordinator yet: ask again */
}

static int find_coordinator(kw_call *c, const char *group, int32_t *node) {
  kw_arena ar;
  kw_arena_init(&ar, c->cl->mem, 0);
  fc_req f;
  f.key = (kw_slice){(const uint8_t *)group, (int32_t)strlen(group)};
  const char *waiting = c->waiting;
  c->waiting = "the group's coordinator";
  kw_find_coordinator_resp resp;
  int v = kw_call_retry(c, KW_CALL_ANY_BROKER, NULL, KW_API_FIND_COORDINATOR, &f, build_fc, &resp, &ar, fc_code);
  if (v >= 0) {
    int16_t code;
    kw_slice msg;
    *node = fc_node(&resp, (int16_t)v, &code, &msg);
    v = code ? kw_call_kerr(c, code, msg) : 0;
    c->waiting = waiting; /* a timeout says the coordinator was awaited */
  }
  kw_arena_reset(&ar);
  return v < 0 ? v : 0;
}

int kw_call_retry(kw_call *c, int32_t node, const char *group, int16_t api, void *req, kw_call_build build,
                  void *resp, kw_arena *ar, kw_call_code_fn code_of) {
  const char *waiting = c->waiting;
  for (;;) {
    int32_t to = node;
    int rc = group ? find_coordinator(c, group, &to) : 0;
    if (rc < 0) return rc;
    c->waiting = waiting;
    int v = kw_call_once(c, to, api, req, build, resp, ar);
    if (v >= 0) {
      kw_slice msg;
      int16_t code = code_of ? code_of(resp, (int16_t)v, &msg) : 0;
      if (!kw_kerr_retriable(code)) return v;
      c->last_kerr = code;
      if (kw_kerr_refresh_metadata(code)) kw_cluster_refresh_soon(&c->cl->cluster, kw_now_ms());
    } else if (kw_call_io_retriable(v)) {
      kw_call_note_err(c, v);
    } else {
      return v;
    }
    if ((rc = kw_call_backoff(c)) < 0) return rc;
  }
}
