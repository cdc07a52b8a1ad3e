/* The blocking request-and-wait helper for admin-style calls: send one request once a
 * connection is ready, drive the client until the answer comes, decode it. */
#include <string.h>
#include "client/kw_client_int.h"
#include "core/kw_clock.h"
#include "core/kw_mem.h"
#include "kwire/error.h"
#include "proto/kw_msg.h"

void kw_call_answer(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  kw_call_state *st = ud;
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

static kw_conn *ready_conn(kw_client *cl, int32_t node_id, int64_t now) {
  if (node_id >= 0) return kw_cluster_conn(&cl->cluster, node_id, now);
  for (int i = 0; i < cl->cluster.n_brokers; i++) {
    kw_conn *c = cl->cluster.brokers[i]->conn;
    if (c && kw_conn_get_state(c) == KW_CONN_READY && kw_conn_in_flight(c) < cl->cluster.set.max_in_flight) return c;
  }
  kw_cluster_refresh_soon(&cl->cluster, now); /* metadata brings a connection up */
  return NULL;
}

int kw_client_call(kw_client *cl, int32_t node_id, int16_t api_key, const void *req, void *resp, kw_arena *arena,
                   int timeout_ms) {
  return kw_client_call_capped(cl, node_id, api_key, INT16_MAX, req, resp, arena, timeout_ms);
}

int kw_client_call_capped(kw_client *cl, int32_t node_id, int16_t api_key, int cap, const void *req, void *resp,
                          kw_arena *arena, int timeout_ms) {
  int64_t end = kw_now_ms() + timeout_ms;
  kw_call_state *st = kw_alloc(cl->mem, sizeof *st);
  if (!st) return KW_ERR_NOMEM;
  *st = (kw_call_state){false, false, 0, resp, arena, cl->mem};
  int version = -1, err = 0;
  while (version < 0 && !err) {
    int64_t now = kw_now_ms();
    if (now >= end) {
      err = KW_ERR_TIMED_OUT;
      break;
    }
    kw_conn *c = ready_conn(cl, node_id, now);
    if (c) {
      version = kw_conn_version(c, api_key);
      if (version > cap) version = cap;
      if (version < 0) {
        err = version;
        break;
      }
      int e = kw_conn_request(c, api_key, version, req, kw_call_answer, st, now);
      if (e == KW_ERR_WOULD_BLOCK) version = -1;
      else if (e) err = e;
      else kw_conn_flush(c);
    }
    if (version < 0 && !err) kw_client_poll(cl, 10);
  }
  if (err) { /* never sent: nobody else holds st */
    kw_free(cl->mem, st);
    return err;
  }
  while (!st->done) {
    if (kw_now_ms() >= end) {
      st->abandoned = true;
      return KW_ERR_TIMED_OUT;
    }
    kw_client_poll(cl, 10);
  }
  err = st->err;
  kw_free(cl->mem, st);
  return err ? err : version;
}
