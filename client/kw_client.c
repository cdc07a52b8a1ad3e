/* The public client API (include/kwire/client.h): configuration into settings, the
 * poll loop and the event-loop plumbing over the cluster and the producer. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include "client/kw_client_int.h"
#include "client/kw_cluster.h"
#include "client/kw_config.h"
#include "client/kw_consumer.h"
#include "client/kw_group.h"
#include "kwire/consumer.h"
#include "kwire/event.h"
#include "net/kw_log.h"
#include "client/kw_partitioner.h"
#include "client/kw_producer.h"
#include "client/kw_security.h"
#include "kwire/client.h"
#include "kwire/error.h"
#include "proto/kw_mem.h"
#include "proto/kw_msg.h"

#define KW_MAX_POLLFDS 64


static void on_cluster_error(void *ud, int err, const char *reason) {
  kw_client *cl = ud;
  kw_log(&cl->log, KW_LOG_ERR, "BROKER", "%s", reason);
  if (cl->err_cb) cl->err_cb(cl->err_ud, err, reason);
}

static void on_metadata(void *ud, int64_t now) {
  kw_client *cl = ud;
  KW_DBG(&cl->log, METADATA, "metadata: %d brokers, %d topics", cl->cluster.n_brokers, cl->cluster.n_topics);
  if (cl->prod) kw_producer_on_metadata(cl->prod, now);
}

/* Config enum order (client/kw_config.h) to the partitioner module's enum. */
static int partitioner_kind(int conf_value) {
  static const int map[] = {[KW_PART_MURMUR2_RANDOM] = KW_PARTITIONER_MURMUR2_RANDOM,
                            [KW_PART_MURMUR2] = KW_PARTITIONER_MURMUR2,
                            [KW_PART_CONSISTENT] = KW_PARTITIONER_CONSISTENT,
                            [KW_PART_CONSISTENT_RANDOM] = KW_PARTITIONER_CONSISTENT_RANDOM,
                            [KW_PART_FNV1A] = KW_PARTITIONER_FNV1A,
                            [KW_PART_FNV1A_RANDOM] = KW_PARTITIONER_FNV1A_RANDOM};
  return map[conf_value];
}

/* The parts every client has: configuration, allocator, logger, cluster view. */
kw_client *kw_client_create(const kw_config *conf, int roles, char *errstr, size_t errlen) {
  char dummy[1];
  if (!errstr) {
    errstr = dummy;
    errlen = sizeof dummy;
  }
  errstr[0] = 0;
  kw_config *copy = kw_config_dup(conf);
  if (!copy) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  if (kw_config_finalize(copy, roles, errstr, errlen) != KW_OK) {
    kw_config_free(copy);
    return NULL;
  }
  const kw_conf_values *v = kw_config_values(copy);
  const kw_mem *mem = kw_config_mem(copy);
  kw_client *cl = kw_alloc(mem, sizeof *cl);
  if (!cl) {
    kw_config_free(copy);
    return NULL;
  }
  memset(cl, 0, sizeof *cl);
  cl->conf = copy;
  cl->mem_store = *(mem ? mem : kw_mem_default());
  cl->mem = mem = &cl->mem_store;
  kw_logger_init(&cl->log, copy);
  if (kw_security_init(&cl->security, v, mem, errstr, errlen) != KW_OK) {
    kw_config_free(copy);
    kw_free(mem, cl);
    return NULL;
  }
  kw_cluster_settings cs = {
      .mem = mem,
      .client_id = v->client_id,
      .request_timeout_ms = v->request_timeout_ms,
      .connect_timeout_ms = v->connect_timeout_ms,
      .reconnect_backoff_ms = v->reconnect_backoff_ms,
      .reconnect_backoff_max_ms = v->reconnect_backoff_max_ms,
      .retry_backoff_ms = v->retry_backoff_ms,
      .metadata_refresh_ms = v->metadata_refresh_ms > 0 ? v->metadata_refresh_ms : INT64_MAX / 4,
      .max_frame = (int32_t)v->receive_message_max_bytes,
      .max_in_flight = (int)v->max_in_flight,
      .allow_auto_create = v->allow_auto_create_topics,
      .log = &cl->log,
      .security = &cl->security,
  };
  int err = kw_cluster_init(&cl->cluster, &cs, v->bootstrap_servers, errstr, errlen);
  if (err) {
    kw_cluster_free(&cl->cluster);
    kw_security_free(&cl->security);
    kw_config_free(copy);
    kw_free(mem, cl);
    return NULL;
  }
  cl->cluster.ud = cl;
  cl->cluster.on_metadata = on_metadata;
  cl->cluster.on_error = on_cluster_error;
  return cl;
}

kw_client *kw_producer_new(const kw_config *conf, char *errstr, size_t errlen) {
  kw_client *cl = kw_client_create(conf, KW_CF_P, errstr, errlen);
  if (!cl) return NULL;
  const kw_conf_values *v = kw_config_values(cl->conf);
  kw_producer_settings ps = {
      .linger_ms = v->linger_ms,
      .batch_size = v->batch_size,
      .batch_num_messages = (int32_t)v->batch_num_messages,
      .message_max_bytes = v->message_max_bytes,
      .max_in_flight = (int)v->max_in_flight,
      .acks = (int16_t)v->acks,
      .delivery_timeout_ms = v->delivery_timeout_ms > 0 ? v->delivery_timeout_ms : INT64_MAX / 4,
      .request_timeout_ms = v->request_timeout_ms,
      .retry_backoff_ms = v->retry_backoff_ms,
      .retry_backoff_max_ms = v->retry_backoff_max_ms,
      .codec = v->compression_type,
      .partitioner = partitioner_kind(v->partitioner),
      .idempotence = v->enable_idempotence,
      .max_messages = v->queue_max_messages,
      .max_bytes = v->queue_max_kbytes * 1024,
  };
  cl->prod = kw_producer_create(&cl->cluster, &ps, cl->mem, &cl->log, &cl->metrics);
  if (!cl->prod) {
    kw_client_destroy(cl);
    if (errstr) snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  return cl;
}

kw_client *kw_admin_new(const kw_config *conf, char *errstr, size_t errlen) {
  return kw_client_create(conf, KW_CF_PC, errstr, errlen);
}

void kw_client_set_delivery_cb(kw_client *cl, kw_delivery_cb cb, void *ud) {
  cl->dr_cb = cb;
  cl->dr_ud = ud;
  if (cl->prod) kw_producer_set_callbacks(cl->prod, cl->dr_cb, cl->dr_ud, cl->err_cb, cl->err_ud);
}

int kw_client_stats_json(kw_client *cl, char *buf, size_t size) {
  if (cl->cons) cl->metrics.consumer_lag = kw_consumer_lag(cl->cons);
  return kw_metrics_json(&cl->metrics, kw_config_values(cl->conf)->client_id, buf, size);
}

int kw_client_stats_prometheus(kw_client *cl, char *buf, size_t size) {
  if (cl->cons) cl->metrics.consumer_lag = kw_consumer_lag(cl->cons);
  return kw_metrics_prometheus(&cl->metrics, kw_config_values(cl->conf)->client_id, buf, size);
}

int kw_client_delivery_next(kw_client *cl, kw_delivery_report *dr) {
  return cl->prod ? kw_producer_next_report(cl->prod, dr) : 0;
}

void kw_client_set_error_cb(kw_client *cl, kw_error_cb cb, void *ud) {
  cl->err_cb = cb;
  cl->err_ud = ud;
  if (cl->prod) kw_producer_set_callbacks(cl->prod, cl->dr_cb, cl->dr_ud, cl->err_cb, cl->err_ud);
}

int kw_produce(kw_client *cl, const char *topic, int32_t partition, const void *key, size_t key_len, const void *value,
               size_t value_len, const kw_header *headers, int n_headers, int64_t timestamp, void *opaque) {
  if (!cl->prod) return KW_ERR_STATE;
  int err = kw_producer_produce(cl->prod, topic, partition, key, key_len, value, value_len, headers, n_headers,
                                timestamp, opaque, 0 /* the producer reads the clock only when it needs it */);
  if (!err) cl->metrics.produced++;
  return err;
}

int kw_client_fds(kw_client *cl, kw_pollfd *fds, int max) { return kw_cluster_fds(&cl->cluster, fds, max); }

static int64_t next_deadline(kw_client *cl) {
  int64_t a = kw_cluster_deadline(&cl->cluster), b = cl->prod ? kw_producer_deadline(cl->prod) : INT64_MAX;
  int64_t c = cl->cons ? kw_consumer_deadline(cl->cons) : INT64_MAX;
  int64_t d = cl->group ? kw_group_deadline(cl->group) : INT64_MAX;
  if (b < a) a = b;
  if (d < c) c = d;
  return c < a ? c : a;
}

int kw_client_next_timeout(kw_client *cl) {
  int64_t d = next_deadline(cl);
  if (d == INT64_MAX) return -1;
  int64_t ms = d - kw_now_ms();
  return ms <= 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int kw_client_step(kw_client *cl, const kw_pollfd *fds, int n) {
  int64_t now = kw_now_ms();
  kw_cluster_step(&cl->cluster, fds, fds ? n : 0, now);
  if (cl->group) kw_group_run(cl->group, now);
  if (cl->cons) kw_consumer_run(cl->cons, now);
  return cl->prod ? kw_producer_run(cl->prod, now) : 0;
}

int kw_client_poll(kw_client *cl, int timeout_ms) {
  int64_t end = kw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  int served = 0;
  for (;;) {
    served += kw_client_step(cl, NULL, 0); /* timers and sends before waiting */
    if (served > 0) return served;
    kw_pollfd fds[KW_MAX_POLLFDS];
    struct pollfd pfds[KW_MAX_POLLFDS];
    int n = kw_client_fds(cl, fds, KW_MAX_POLLFDS);
    if (n > KW_MAX_POLLFDS) n = KW_MAX_POLLFDS;
    for (int i = 0; i < n; i++) pfds[i] = (struct pollfd){fds[i].fd, fds[i].events, 0};
    int64_t now = kw_now_ms();
    int64_t wake = next_deadline(cl);
    if (wake > end) wake = end;
    int wait = wake <= now ? 0 : (int)(wake - now);
    int r = poll(pfds, (nfds_t)n, wait);
    for (int i = 0; i < n; i++) fds[i].revents = r > 0 ? pfds[i].revents : 0;
    served += kw_client_step(cl, fds, n);
    /* A consumer's records are served by kw_consumer_poll: return as soon as some came. */
    if (served > 0 || (cl->cons && kw_consumer_has_records(cl->cons)) || kw_now_ms() >= end) return served;
  }
}

int kw_client_outstanding(const kw_client *cl) { return cl->prod ? kw_producer_outstanding(cl->prod) : 0; }

/* Bytes still waiting in connection buffers (acks=0 reports delivery once queued). */
static bool unsent_bytes(const kw_client *cl) {
  for (int i = 0; i < cl->cluster.n_brokers; i++) {
    kw_conn *c = cl->cluster.brokers[i]->conn;
    if (c && kw_conn_get_state(c) == KW_CONN_READY && kw_conn_unsent(c) > 0) return true;
  }
  return false;
}

int kw_client_flush(kw_client *cl, int timeout_ms) {
  int64_t end = kw_now_ms() + timeout_ms;
  if (!cl->prod) return KW_OK;
  kw_producer_set_flushing(cl->prod, true);
  while (kw_producer_outstanding(cl->prod) > 0 || unsent_bytes(cl)) {
    int64_t left = end - kw_now_ms();
    if (left <= 0) break;
    kw_client_poll(cl, (int)(left < 100 ? left : 100));
  }
  kw_producer_set_flushing(cl->prod, false);
  return kw_producer_outstanding(cl->prod) > 0 ? KW_ERR_TIMED_OUT : KW_OK;
}

void kw_client_destroy(kw_client *cl) {
  if (!cl) return;
  const kw_conf_values *v = kw_config_values(cl->conf);
  if (cl->prod) {
    kw_client_flush(cl, (int)(v->delivery_timeout_ms > 0 && v->delivery_timeout_ms < INT32_MAX ? v->delivery_timeout_ms : 300000));
    kw_producer_free(cl->prod, KW_ERR_DESTROYED);
  }
  if (cl->cons) kw_consumer_close(cl, 10000);
  /* Close the connections first: requests in flight get their callbacks (reported,
   * or dropped) while the producer, consumer and group still exist. */
  kw_cluster_disconnect_all(&cl->cluster);
  kw_group_free(cl->group);
  kw_consumer_free(cl->cons);
  cl->group = NULL;
  cl->cons = NULL;
  kw_cluster_free(&cl->cluster);
  kw_security_free(&cl->security);
  if (cl->prod) kw_producer_release(cl->prod);
  kw_mem mem = cl->mem_store;
  kw_config_free(cl->conf);
  kw_free(&mem, cl);
}

/* ---- blocking calls for admin-style APIs ---- */

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
