/* Admin calls (include/kwire/admin.h), part one: the blocking call machinery, results
 * and their accessors, topics and partitions, offsets at the partitions' leaders.
 * Groups and coordinators are in kw_admin_groups.c. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_clock.h"
#include "client/admin/kw_admin_int.h"
#include "client/kw_config.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"

#define ADM_MAX_FDS 64

/* ---- errors and backoff ---- */

void adm_begin(adm *a, kw_client *cl, int timeout_ms, char *errstr, size_t errlen) {
  memset(a, 0, sizeof *a);
  a->cl = cl;
  a->deadline = kw_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  a->backoff_ms = cl ? kw_config_values(cl->conf)->retry_backoff_ms : 100;
  a->waiting = "an answer";
  a->errstr = errlen ? errstr : NULL;
  a->errlen = errlen;
  if (a->errstr) a->errstr[0] = 0;
}

int adm_fail(adm *a, int err, const char *fmt, ...) {
  if (a->errstr && !a->err_set) {
    int n = snprintf(a->errstr, a->errlen, "%s: ", a->op);
    if (n >= 0 && (size_t)n < a->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(a->errstr + n, a->errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  a->err_set = true;
  return err;
}

int adm_kerr(adm *a, int16_t code, kw_slice msg) {
  if (msg.ptr && msg.len > 0) return adm_fail(a, KW_ERR_BROKER, "%s: %.*s", kw_kerr_name(code), (int)msg.len, msg.ptr);
  const kw_kerr_info *k = kw_kerr_lookup(code);
  return adm_fail(a, KW_ERR_BROKER, "%s: %s", kw_kerr_name(code), k ? k->message : "unknown error code");
}

int adm_end(adm *a, int rc) {
  if (rc >= 0) return KW_OK;
  if (a->err_set) return rc;
  if (rc == KW_ERR_TIMED_OUT && a->last_kerr)
    return adm_fail(a, rc, "timed out waiting for %s (last error: %s)", a->waiting, kw_kerr_name(a->last_kerr));
  if (rc == KW_ERR_TIMED_OUT && a->last_err && a->last_err != KW_ERR_TIMED_OUT)
    return adm_fail(a, rc, "timed out waiting for %s (last error: %s)", a->waiting, kw_strerror(a->last_err));
  if (rc == KW_ERR_TIMED_OUT) return adm_fail(a, rc, "timed out waiting for %s", a->waiting);
  return adm_fail(a, rc, "%s", kw_strerror(rc));
}

void adm_note_err(adm *a, int err) {
  if (err != KW_ERR_TIMED_OUT || !a->last_err) a->last_err = err; /* a timeout hides no better reason */
}

bool adm_io_retriable(int err) {
  return err == KW_ERR_DISCONNECTED || err == KW_ERR_IO || err == KW_ERR_CONNECT || err == KW_ERR_TIMED_OUT ||
         err == KW_ERR_STATE || err == KW_ERR_ALL_BROKERS_DOWN || err == KW_ERR_CORRELATION;
}

bool adm_coord_retriable(int16_t code) {
  return code == KW_KERR_COORDINATOR_LOAD_IN_PROGRESS || code == KW_KERR_COORDINATOR_NOT_AVAILABLE ||
         code == KW_KERR_NOT_COORDINATOR;
}

/* Runs the client until *done, or `until` (monotonic ms). Our own poll loop rather than
 * kw_client_poll(), which keeps waiting after an answer when it served no delivery. */
static void adm_drive(kw_client *cl, int64_t until, const bool *done) {
  kw_pollfd fds[ADM_MAX_FDS];
  struct pollfd pfds[ADM_MAX_FDS];
  for (;;) {
    kw_client_step(cl, NULL, 0);
    if (done && *done) return;
    int64_t now = kw_now_ms();
    if (now >= until) return;
    int n = kw_client_fds(cl, fds, ADM_MAX_FDS);
    if (n > ADM_MAX_FDS) n = ADM_MAX_FDS;
    for (int i = 0; i < n; i++) pfds[i] = (struct pollfd){fds[i].fd, fds[i].events, 0};
    int64_t wait = until - now;
    int t = kw_client_next_timeout(cl);
    if (t >= 0 && t < wait) wait = t;
    int r = poll(pfds, (nfds_t)n, (int)wait);
    for (int i = 0; i < n; i++) fds[i].revents = r > 0 ? pfds[i].revents : 0;
    kw_client_step(cl, fds, n);
    if (done && *done) return;
  }
}

int adm_backoff(adm *a) {
  int64_t now = kw_now_ms();
  if (now >= a->deadline) return KW_ERR_TIMED_OUT;
  int64_t until = now + kw_backoff_jitter(&a->cl->cluster.rng, a->backoff_ms);
  int64_t max = kw_config_values(a->cl->conf)->retry_backoff_max_ms;
  a->backoff_ms = a->backoff_ms * 2 < max ? a->backoff_ms * 2 : max;
  adm_drive(a->cl, until < a->deadline ? until : a->deadline, NULL);
  return kw_now_ms() >= a->deadline ? KW_ERR_TIMED_OUT : 0;
}

/* ---- one request ---- */

static kw_conn *pick_conn(kw_client *cl, int32_t node, int64_t now) {
  if (node >= 0) {
    if (kw_cluster_broker(&cl->cluster, node)) return kw_cluster_conn(&cl->cluster, node, now);
    kw_cluster_refresh_soon(&cl->cluster, now); /* a broker our metadata knows and the client's not yet */
    return NULL;
  }
  for (int i = 0; i < cl->cluster.n_brokers; i++) {
    kw_conn *c = cl->cluster.brokers[i]->conn;
    if (c && kw_conn_get_state(c) == KW_CONN_READY && kw_conn_in_flight(c) < cl->cluster.set.max_in_flight) return c;
  }
  kw_cluster_refresh_soon(&cl->cluster, now); /* metadata brings a connection up */
  return NULL;
}

/* Timed out before sending: say why no connection was usable, if one failed. */
static void note_conn_error(adm *a, int32_t node) {
  for (int i = 0; i < a->cl->cluster.n_brokers; i++) {
    kw_broker *b = a->cl->cluster.brokers[i];
    if ((node < 0 || b->node_id == node) && b->conn && kw_conn_get_state(b->conn) != KW_CONN_READY &&
        kw_conn_last_error(b->conn))
      a->last_err = kw_conn_last_error(b->conn);
  }
}

int adm_call(adm *a, int32_t node, int16_t api, void *req, adm_build build, void *resp, kw_arena *ar) {
  kw_client *cl = a->cl;
  kw_call_state *st = kw_alloc(cl->mem, sizeof *st);
  if (!st) return KW_ERR_NOMEM;
  *st = (kw_call_state){false, false, 0, resp, ar, cl->mem};
  int version = -1, err = 0;
  while (version < 0 && !err) {
    int64_t now = kw_now_ms();
    if (now >= a->deadline) {
      err = KW_ERR_TIMED_OUT;
      break;
    }
    kw_conn *c = pick_conn(cl, node, now);
    if (c) {
      int v = kw_conn_version(c, api);
      if (v < 0) {
        err = v;
        break;
      }
      if (build && (err = build(a, req, (int16_t)v)) != 0) break;
      int e = kw_conn_request(c, api, v, req, kw_call_answer, st, now);
      if (e == 0) {
        version = v;
        kw_conn_flush(c);
      } else if (e != KW_ERR_WOULD_BLOCK) {
        err = e;
      }
    }
    if (version < 0 && !err) adm_drive(cl, now + 10 < a->deadline ? now + 10 : a->deadline, NULL);
  }
  if (err) { /* never sent: nobody else holds st */
    kw_free(cl->mem, st);
    if (err == KW_ERR_TIMED_OUT) note_conn_error(a, node);
    return err;
  }
  adm_drive(cl, a->deadline, &st->done);
  if (!st->done) {
    st->abandoned = true;
    return KW_ERR_TIMED_OUT;
  }
  err = st->err;
  kw_free(cl->mem, st);
  return err ? err : version;
}

/* ---- small helpers ---- */

kw_slice adm_slice(const char *str) { return (kw_slice){(const uint8_t *)str, (int32_t)strlen(str)}; }

bool adm_slice_eq(kw_slice s, const char *str) {
  size_t n = strlen(str);
  return s.ptr && (size_t)s.len == n && memcmp(s.ptr, str, n) == 0;
}

char *adm_strdup(kw_arena *ar, kw_slice s) {
  if (!s.ptr || s.len < 0) return NULL;
  char *p = kw_arena_alloc(ar, (size_t)s.len + 1);
  if (!p) return NULL;
  memcpy(p, s.ptr, (size_t)s.len);
  p[s.len] = 0;
  return p;
}

int adm_check_name(adm *a, const char *what, const char *name) {
  if (!name || !*name) return adm_fail(a, KW_ERR_INVALID_ARG, "no %s name", what);
  if (strcmp(what, "topic") == 0 && strlen(name) > 249) return adm_fail(a, KW_ERR_INVALID_ARG, "%s name longer than 249 bytes", what);
  return 0;
}

/* ---- metadata ---- */

static int build_metadata(adm *a, void *r, int16_t v) {
  (void)a;
  kw_metadata_req *req = r;
  if (v == 0 && req->n_topics < 0) req->n_topics = 0; /* v0: an empty list means every topic */
  req->allow_auto_topic_creation = v < 4;             /* the field (false) exists from v4 */
  return 0;
}

int adm_metadata(adm *a, const char *const *topics, int n, kw_arena *ar, kw_metadata_resp *md) {
  kw_metadata_req_topic *ts = NULL;
  if (n > 0) {
    ts = kw_arena_alloc(ar, sizeof *ts * (size_t)n);
    if (!ts) return KW_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
      kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &ts[i]);
      ts[i].name = adm_slice(topics[i]);
    }
  }
  const char *waiting = a->waiting;
  for (;;) {
    kw_metadata_req req;
    kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
    req.topics = ts;
    req.n_topics = n < 0 ? -1 : n;
    a->waiting = "metadata";
    int rc = adm_call(a, -1, KW_API_METADATA, &req, build_metadata, md, ar);
    if (rc >= 0) a->waiting = waiting; /* a timeout says metadata was awaited */
    if (rc >= 0 || !adm_io_retriable(rc)) return rc;
    adm_note_err(a, rc);
    if ((rc = adm_backoff(a)) < 0) return rc;
  }
}

const kw_metadata_resp_topic *adm_md_topic(const kw_metadata_resp *md, const char *name) {
  for (int32_t i = 0; i < md->n_topics; i++)
    if (adm_slice_eq(md->topics[i].name, name)) return &md->topics[i];
  return NULL;
}

/* Waits until metadata shows the topic with at least `want` partitions (any when
 * want < 0), each with a leader; or, exists false, until metadata no longer knows it. */
static int wait_topic(adm *a, const char *topic, int32_t want, bool exists) {
  a->waiting = exists ? "every partition of the topic to have a leader" : "the topic to leave metadata";
  a->backoff_ms = kw_config_values(a->cl->conf)->retry_backoff_ms;
  kw_arena ar;
  kw_arena_init(&ar, a->cl->mem, 0);
  int rc;
  for (;;) {
    kw_metadata_resp md;
    rc = adm_metadata(a, &topic, 1, &ar, &md);
    if (rc < 0) break;
    const kw_metadata_resp_topic *t = adm_md_topic(&md, topic);
    bool ok;
    if (!exists) {
      ok = !t || t->error_code == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    } else {
      ok = t && t->error_code == 0 && t->n_partitions > 0 && t->n_partitions >= want;
      for (int32_t i = 0; ok && i < t->n_partitions; i++)
        if (t->partitions[i].leader_id < 0) ok = false;
      if (t && t->error_code) a->last_kerr = t->error_code;
    }
    kw_arena_reset(&ar);
    if (ok) break;
    if ((rc = adm_backoff(a)) < 0) break;
  }
  kw_arena_reset(&ar);
  kw_cluster_refresh_soon(&a->cl->cluster, kw_now_ms()); /* a producer on this client sees it soon */
  return rc < 0 ? rc : 0;
}

/* ---- topics and partitions ---- */

/* KRaft brokers forward these requests to the controller themselves; an older broker
 * answers NOT_CONTROLLER, and the request goes to the controller metadata names. */
static int to_controller(adm *a, int32_t *node) {
  a->last_kerr = KW_KERR_NOT_CONTROLLER;
  int rc = adm_backoff(a);
  if (rc < 0) return rc;
  kw_arena ar;
  kw_arena_init(&ar, a->cl->mem, 0);
  kw_metadata_resp md;
  rc = adm_metadata(a, NULL, 0, &ar, &md);
  if (rc >= 0) *node = md.controller_id >= 0 ? md.controller_id : -1;
  kw_arena_reset(&ar);
  return rc < 0 ? rc : 0;
}

int32_t adm_remaining_ms(const adm *a) {
  int64_t left = a->deadline - kw_now_ms();
  return left < 1 ? 1 : left > INT32_MAX ? INT32_MAX : (int32_t)left;
}

static int build_create(adm *a, void *r, int16_t v) {
  (void)v;
  ((kw_create_topics_req *)r)->timeout_ms = adm_remaining_ms(a);
  return 0;
}

static int create_topic(adm *a, const char *topic, int32_t partitions, int16_t rf, const char *const *configs,
                        kw_arena *ar) {
  int n_cfg = 0;
  while (configs && configs[2 * n_cfg]) {
    if (!configs[2 * n_cfg + 1]) return adm_fail(a, KW_ERR_INVALID_ARG, "config '%s' has no value", configs[2 * n_cfg]);
    n_cfg++;
  }
  kw_create_topics_req_creatable_topic_config *cfg = NULL;
  if (n_cfg && !(cfg = kw_arena_alloc(ar, sizeof *cfg * (size_t)n_cfg))) return KW_ERR_NOMEM;
  for (int i = 0; i < n_cfg; i++) {
    kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ_CREATABLE_TOPIC_CONFIG, &cfg[i]);
    cfg[i].name = adm_slice(configs[2 * i]);
    cfg[i].value = adm_slice(configs[2 * i + 1]);
  }
  kw_create_topics_req_creatable_topic t;
  kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ_CREATABLE_TOPIC, &t);
  t.name = adm_slice(topic);
  t.num_partitions = partitions;
  t.replication_factor = rf;
  t.configs = cfg;
  t.n_configs = n_cfg;
  kw_create_topics_req req;
  kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ, &req);
  req.topics = &t;
  req.n_topics = 1;
  int32_t node = -1, want = partitions;
  for (;;) {
    a->waiting = "the CreateTopics answer";
    kw_create_topics_resp resp;
    int v = adm_call(a, node, KW_API_CREATE_TOPICS, &req, build_create, &resp, ar);
    if (v < 0) return v;
    const kw_create_topics_resp_creatable_topic_result *r = NULL;
    for (int32_t i = 0; i < resp.n_topics && !r; i++)
      if (adm_slice_eq(resp.topics[i].name, topic)) r = &resp.topics[i];
    if (!r) return adm_fail(a, KW_ERR_MALFORMED, "the broker's answer does not name the topic");
    if (r->error_code == KW_KERR_NOT_CONTROLLER) {
      int rc = to_controller(a, &node);
      if (rc < 0) return rc;
      continue;
    }
    if (r->error_code) return adm_kerr(a, r->error_code, r->error_message);
    if (want < 0 && v >= 5) want = r->num_partitions; /* the broker's default */
    break;
  }
  return wait_topic(a, topic, want, true);
}

int kw_admin_create_topic(kw_client *cl, const char *topic, int32_t partitions, int16_t replication_factor,
                          const char *const *configs, int timeout_ms, char *errstr, size_t errlen) {
  adm a;
  adm_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "create topic '%s'", topic ? topic : "");
  if (!cl) return adm_fail(&a, KW_ERR_INVALID_ARG, "no client");
  int rc = adm_check_name(&a, "topic", topic);
  if (!rc && (partitions == 0 || partitions < -1))
    rc = adm_fail(&a, KW_ERR_INVALID_ARG, "partitions must be > 0 (or -1: the broker's default)");
  if (!rc && (replication_factor == 0 || replication_factor < -1))
    rc = adm_fail(&a, KW_ERR_INVALID_ARG, "replication factor must be > 0 (or -1: the broker's default)");
  if (rc) return rc;
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  rc = create_topic(&a, topic, partitions, replication_factor, configs, &ar);
  kw_arena_reset(&ar);
  return adm_end(&a, rc);
}

typedef struct del_req {
  kw_delete_topics_req req; /* first: the request itself */
  kw_delete_topics_req_delete_topic_state state;
  kw_slice name;
} del_req;

/* v6 names topics in structs (name or id), earlier versions in a list of names. */
static int build_delete(adm *a, void *r, int16_t v) {
  del_req *d = r;
  kw_msg_init(KW_SCHEMA_DELETE_TOPICS_REQ, &d->req);
  kw_msg_init(KW_SCHEMA_DELETE_TOPICS_REQ_DELETE_TOPIC_STATE, &d->state);
  d->state.name = d->name;
  if (v >= 6) {
    d->req.topics = &d->state;
    d->req.n_topics = 1;
  } else {
    d->req.topic_names = &d->name;
    d->req.n_topic_names = 1;
  }
  d->req.timeout_ms = adm_remaining_ms(a);
  return 0;
}

int kw_admin_delete_topic(kw_client *cl, const char *topic, int timeout_ms, char *errstr, size_t errlen) {
  adm a;
  adm_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "delete topic '%s'", topic ? topic : "");
  if (!cl) return adm_fail(&a, KW_ERR_INVALID_ARG, "no client");
  int rc = adm_check_name(&a, "topic", topic);
  if (rc) return rc;
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  del_req d;
  d.name = adm_slice(topic);
  int32_t node = -1;
  for (;;) {
    a.waiting = "the DeleteTopics answer";
    kw_delete_topics_resp resp;
    rc = adm_call(&a, node, KW_API_DELETE_TOPICS, &d, build_delete, &resp, &ar);
    if (rc < 0) break;
    const kw_delete_topics_resp_deletable_topic_result *r = NULL;
    for (int32_t i = 0; i < resp.n_responses && !r; i++)
      if (adm_slice_eq(resp.responses[i].name, topic)) r = &resp.responses[i];
    if (!r && resp.n_responses == 1) r = &resp.responses[0]; /* v6 may answer by id only */
    if (!r) {
      rc = adm_fail(&a, KW_ERR_MALFORMED, "the broker's answer does not name the topic");
      break;
    }
    if (r->error_code == KW_KERR_NOT_CONTROLLER) {
      if ((rc = to_controller(&a, &node)) < 0) break;
      continue;
    }
    rc = r->error_code ? adm_kerr(&a, r->error_code, r->error_message) : wait_topic(&a, topic, 0, false);
    break;
  }
  kw_arena_reset(&ar);
  return adm_end(&a, rc);
}

static int build_partitions(adm *a, void *r, int16_t v) {
  (void)v;
  ((kw_create_partitions_req *)r)->timeout_ms = adm_remaining_ms(a);
  return 0;
}

int kw_admin_create_partitions(kw_client *cl, const char *topic, int32_t total_count, int timeout_ms, char *errstr,
                               size_t errlen) {
  adm a;
  adm_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "create partitions of '%s'", topic ? topic : "");
  if (!cl) return adm_fail(&a, KW_ERR_INVALID_ARG, "no client");
  int rc = adm_check_name(&a, "topic", topic);
  if (!rc && total_count <= 0) rc = adm_fail(&a, KW_ERR_INVALID_ARG, "the partition count must be > 0");
  if (rc) return rc;
  kw_create_partitions_req_create_partitions_topic t;
  kw_msg_init(KW_SCHEMA_CREATE_PARTITIONS_REQ_CREATE_PARTITIONS_TOPIC, &t);
  t.name = adm_slice(topic);
  t.count = total_count;
  t.assignments = NULL;
  t.n_assignments = -1; /* null: the broker places the new partitions */
  kw_create_partitions_req req;
  kw_msg_init(KW_SCHEMA_CREATE_PARTITIONS_REQ, &req);
  req.topics = &t;
  req.n_topics = 1;
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  int32_t node = -1;
  for (;;) {
    a.waiting = "the CreatePartitions answer";
    kw_create_partitions_resp resp;
    rc = adm_call(&a, node, KW_API_CREATE_PARTITIONS, &req, build_partitions, &resp, &ar);
    if (rc < 0) break;
    const kw_create_partitions_resp_create_partitions_topic_result *r = NULL;
    for (int32_t i = 0; i < resp.n_results && !r; i++)
      if (adm_slice_eq(resp.results[i].name, topic)) r = &resp.results[i];
    if (!r) {
      rc = adm_fail(&a, KW_ERR_MALFORMED, "the broker's answer does not name the topic");
      break;
    }
    if (r->error_code == KW_KERR_NOT_CONTROLLER) {
      if ((rc = to_controller(&a, &node)) < 0) break;
      continue;
    }
    rc = r->error_code ? adm_kerr(&a, r->error_code, r->error_message) : wait_topic(&a, topic, total_count, true);
    break;
  }
  kw_arena_reset(&ar);
  return adm_end(&a, rc);
}

/* ---- results ---- */

kw_admin_result *adm_result_new(kw_client *cl, int kind) {
  kw_admin_result *res = kw_alloc(cl->mem, sizeof *res);
  if (!res) return NULL;
  memset(res, 0, sizeof *res);
  res->mem = *cl->mem; /* a result may outlive its client */
  kw_arena_init(&res->arena, &res->mem, 0);
  res->kind = kind;
  return res;
}

void *adm_ralloc(kw_admin_result *res, size_t n) {
  void *p = kw_arena_alloc(&res->arena, n);
  if (p) memset(p, 0, n);
  return p;
}

char *adm_rstr(kw_admin_result *res, kw_slice s) {
  if (!s.ptr) s = (kw_slice){(const uint8_t *)"", 0};
  return adm_strdup(&res->arena, s);
}

void kw_admin_result_free(kw_admin_result *res) {
  if (!res) return;
  kw_mem mem = res->mem;
  kw_arena_reset(&res->arena);
  kw_free(&mem, res);
}

int kw_admin_result_count(const kw_admin_result *res) { return res ? res->n : 0; }

static int cmp_part(const void *x, const void *y) {
  const adm_part *a = x, *b = y;
  int c = strcmp(a->topic, b->topic);
  return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

void adm_sort_parts(adm_part *p, int n) {
  if (n > 1) qsort(p, (size_t)n, sizeof *p, cmp_part);
}

static const adm_group *group_at(const kw_admin_result *res, int i) {
  return res && res->kind != ADM_RES_PARTS && i >= 0 && i < res->n ? &res->groups[i] : NULL;
}
const char *kw_admin_group_id(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->id : NULL;
}
const char *kw_admin_group_state(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->state : NULL;
}
const char *kw_admin_group_protocol_type(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->protocol_type : NULL;
}
const char *kw_admin_group_type(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->type : NULL;
}
const char *kw_admin_group_protocol(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->protocol : NULL;
}

static const adm_member *member_at(const kw_admin_result *res, int m) {
  return res && res->kind == ADM_RES_GROUP && m >= 0 && m < res->n_members ? &res->members[m] : NULL;
}
int kw_admin_member_count(const kw_admin_result *res) {
  return res && res->kind == ADM_RES_GROUP ? res->n_members : 0;
}
const char *kw_admin_member_id(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->id : NULL;
}
const char *kw_admin_member_client_id(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->client_id : NULL;
}
const char *kw_admin_member_host(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->host : NULL;
}
const char *kw_admin_member_instance_id(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->instance_id : NULL;
}
int kw_admin_member_assignment_count(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->n_parts : 0;
}
const char *kw_admin_member_assignment_topic(const kw_admin_result *res, int m, int k) {
  const adm_member *x = member_at(res, m);
  return x && k >= 0 && k < x->n_parts ? x->parts[k].topic : NULL;
}
int32_t kw_admin_member_assignment_partition(const kw_admin_result *res, int m, int k) {
  const adm_member *x = member_at(res, m);
  return x && k >= 0 && k < x->n_parts ? x->parts[k].partition : -1;
}

static const adm_part *part_at(const kw_admin_result *res, int i) {
  return res && res->kind == ADM_RES_PARTS && i >= 0 && i < res->n ? &res->parts[i] : NULL;
}
const char *kw_admin_topic(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->topic : NULL;
}
int32_t kw_admin_partition(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->partition : -1;
}
int64_t kw_admin_offset(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->offset : -1;
}
int64_t kw_admin_timestamp(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->timestamp : -1;
}
int64_t kw_admin_high_watermark(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->hwm : -1;
}
int64_t kw_admin_lag(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->lag : -1;
}
