/* The client handle (include/kwire/client.h): creation and destruction, the poll loop
 * and the event-loop plumbing (fds, deadline, step) over the cluster and the roles. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include "core/kw_clock.h"
#include "core/kw_hooks.h"
#include "client/kw_client_int.h"
#include "client/kw_cluster.h"
#include "client/kw_config.h"
#include "client/consumer/kw_fetcher.h"
#include "client/group/kw_group.h"
#include "kwire/consumer.h"
#include "kwire/event.h"
#include "core/kw_log.h"
#include "client/producer/kw_producer.h"
#include "client/kw_security.h"
#include "kwire/client.h"
#include "kwire/error.h"
#include "core/kw_mem.h"
#include "proto/kw_msg.h"

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
      .rebootstrap = v->metadata_recovery_strategy == KW_RECOVERY_REBOOTSTRAP,
      .rebootstrap_trigger_ms = v->metadata_recovery_rebootstrap_trigger_ms,
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

kw_client *kw_admin_new(const kw_config *conf, char *errstr, size_t errlen) {
  return kw_client_create(conf, KW_CF_PC, errstr, errlen);
}

int kw_client_stats_json(kw_client *cl, char *buf, size_t size) {
  if (cl->cons) cl->metrics.consumer_lag = kw_fetcher_lag(cl->cons);
  return kw_metrics_json(&cl->metrics, kw_config_values(cl->conf)->client_id, buf, size);
}

int kw_client_stats_prometheus(kw_client *cl, char *buf, size_t size) {
  if (cl->cons) cl->metrics.consumer_lag = kw_fetcher_lag(cl->cons);
  return kw_metrics_prometheus(&cl->metrics, kw_config_values(cl->conf)->client_id, buf, size);
}

void kw_client_set_error_cb(kw_client *cl, kw_error_cb cb, void *ud) {
  cl->err_cb = cb;
  cl->err_ud = ud;
  if (cl->prod) kw_producer_set_callbacks(cl->prod, cl->dr_cb, cl->dr_ud, cl->err_cb, cl->err_ud);
}

int kw_client_fds(kw_client *cl, kw_pollfd *fds, int max) { return kw_cluster_fds(&cl->cluster, fds, max); }

static int64_t next_deadline(kw_client *cl) {
  int64_t a = kw_cluster_deadline(&cl->cluster), b = cl->prod ? kw_producer_deadline(cl->prod) : INT64_MAX;
  int64_t c = cl->cons ? kw_fetcher_deadline(cl->cons) : INT64_MAX;
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
  cl->metrics.wakeups++;
  kw_cluster_step(&cl->cluster, fds, fds ? n : 0, now);
  if (cl->group) kw_group_run(cl->group, now);
  if (cl->cons) kw_fetcher_run(cl->cons, now);
  return cl->prod ? kw_producer_run(cl->prod, now) : 0;
}

/* Makes room for every socket of the client in ws (doubling, kept for the next wait)
 * and fills it; returns how many, or KW_ERR_NOMEM. */
static int wait_set_fill(kw_client *cl, kw_wait_set *ws) {
  int n = kw_client_fds(cl, ws->fds, ws->cap);
  if (n <= ws->cap) return n;
  int cap = ws->cap ? ws->cap : 16;
  while (cap < n) cap *= 2;
  kw_pollfd *fds = kw_realloc(cl->mem, ws->fds, sizeof *fds * (size_t)cap);
  if (!fds) return KW_ERR_NOMEM;
  ws->fds = fds;
  struct pollfd *pfds = kw_realloc(cl->mem, ws->pfds, sizeof *pfds * (size_t)cap);
  if (!pfds) return KW_ERR_NOMEM; /* ws->cap still says what both arrays hold */
  ws->pfds = pfds;
  ws->cap = cap;
  return kw_client_fds(cl, ws->fds, ws->cap);
}

static void wait_set_free(kw_client *cl, kw_wait_set *ws) {
  kw_free(cl->mem, ws->fds);
  kw_free(cl->mem, ws->pfds);
  *ws = (kw_wait_set){NULL, NULL, 0};
}

int kw_client_wait(kw_client *cl, int64_t until) {
  /* The step below runs callbacks, and one may wait in turn (a commit from a rebalance
   * callback): it must not move the arrays the step is still reading. */
  kw_wait_set own = {NULL, NULL, 0}, *ws = cl->wait_depth ? &own : &cl->wait;
  int n = wait_set_fill(cl, ws);
  int rc = n;
  if (n >= 0) {
    for (int i = 0; i < n; i++) ws->pfds[i] = (struct pollfd){ws->fds[i].fd, ws->fds[i].events, 0};
    int64_t now = kw_now_ms(), wake = next_deadline(cl);
    if (wake > until) wake = until;
    int64_t ms = wake <= now ? 0 : wake - now;
    int tmo = ms > INT32_MAX ? INT32_MAX : (int)ms;
    const kw_hooks *h = kw_hooks_net(); /* the simulator's handles, and its virtual time */
    int r = h ? h->poll(h->ud, ws->pfds, n, tmo) : poll(ws->pfds, (nfds_t)n, tmo);
    for (int i = 0; i < n; i++) ws->fds[i].revents = r > 0 ? ws->pfds[i].revents : 0;
    cl->wait_depth++;
    rc = kw_client_step(cl, ws->fds, n);
    cl->wait_depth--;
  }
  if (ws == &own) wait_set_free(cl, &own);
  return rc;
}

int kw_client_poll(kw_client *cl, int timeout_ms) {
  int64_t end = kw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  int served = 0;
  for (;;) {
    served += kw_client_step(cl, NULL, 0); /* timers and sends before waiting */
    if (served > 0) return served;
    int got = kw_client_wait(cl, end);
    if (got < 0) return got;
    served += got;
    /* A consumer's records are served by kw_consumer_poll: return as soon as some came. */
    if (served > 0 || (cl->cons && kw_fetcher_has_records(cl->cons)) || kw_now_ms() >= end) return served;
  }
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
  kw_fetcher_free(cl->cons);
  cl->group = NULL;
  cl->cons = NULL;
  kw_cluster_free(&cl->cluster);
  kw_security_free(&cl->security);
  if (cl->prod) kw_producer_release(cl->prod);
  wait_set_free(cl, &cl->wait);
  kw_mem mem = cl->mem_store;
  kw_config_free(cl->conf);
  kw_free(&mem, cl);
}
