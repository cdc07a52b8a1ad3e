/* Admin calls on topics: cluster metadata, creating and deleting topics, adding
 * partitions, and waiting until metadata shows the change. */
#include <stdio.h>
#include <string.h>
#include "client/admin/kw_admin_int.h"
#include "client/kw_config.h"
#include "core/kw_clock.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"

int adm_check_name(kw_call *a, const char *what, const char *name) {
  if (!name || !*name) return kw_call_fail(a, KW_ERR_INVALID_ARG, "no %s name", what);
  if (strcmp(what, "topic") == 0 && strlen(name) > 249) return kw_call_fail(a, KW_ERR_INVALID_ARG, "%s name longer than 249 bytes", what);
  return 0;
}

/* ---- metadata ---- */

typedef struct md_req {
  kw_metadata_req req; /* first: the request itself */
  int32_t n_topics;    /* -1: every topic */
} md_req;

static int build_metadata(kw_call *a, void *r, int16_t v) {
  (void)a;
  md_req *m = r;
  m->req.n_topics = v == 0 && m->n_topics < 0 ? 0 : m->n_topics; /* v0: an empty list means every topic */
  m->req.allow_auto_topic_creation = v < 4;                    /* the field (false) exists from v4 */
  return 0;
}

int adm_metadata(kw_call *a, const char *const *topics, int n, kw_arena *ar, kw_metadata_resp *md) {
  kw_metadata_req_topic *ts = NULL;
  if (n > 0) {
    ts = kw_arena_alloc(ar, sizeof *ts * (size_t)n);
    if (!ts) return KW_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
      kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &ts[i]);
      ts[i].name = adm_slice(topics[i]);
    }
  }
  md_req m;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &m.req);
  m.req.topics = ts;
  m.n_topics = n < 0 ? -1 : n;
  const char *waiting = a->waiting;
  a->waiting = "metadata";
  int rc = kw_call_retry(a, KW_CALL_ANY_BROKER, NULL, KW_API_METADATA, &m, build_metadata, md, ar, NULL);
  if (rc >= 0) a->waiting = waiting; /* a timeout says metadata was awaited */
  return rc;
}

const kw_metadata_resp_topic *adm_md_topic(const kw_metadata_resp *md, const char *name) {
  for (int32_t i = 0; i < md->n_topics; i++)
    if (adm_slice_eq(md->topics[i].name, name)) return &md->topics[i];
  return NULL;
}

int adm_topic_meta(kw_call *a, const char *topic, kw_arena *ar, kw_metadata_resp *md,
                   const kw_metadata_resp_topic **out) {
  for (;;) {
    int rc = adm_metadata(a, &topic, 1, ar, md);
    if (rc < 0) return rc;
    const kw_metadata_resp_topic *t = adm_md_topic(md, topic);
    if (!t || t->error_code == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION)
      return kw_call_fail(a, KW_ERR_UNKNOWN_TOPIC, "topic '%s' does not exist", topic);
    if (!t->error_code) {
      *out = t;
      return 0;
    }
    if (!kw_kerr_retriable(t->error_code)) return kw_call_kerr(a, t->error_code, (kw_slice){NULL, 0});
    a->last_kerr = t->error_code;
    if ((rc = kw_call_backoff(a)) < 0) return rc;
  }
}

/* Waits until metadata shows the topic with at least `want` partitions (any when
 * want < 0), each with a leader; or, exists false, until metadata no longer knows it. */
static int wait_topic(kw_call *a, const char *topic, int32_t want, bool exists) {
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
    if ((rc = kw_call_backoff(a)) < 0) break;
  }
  kw_arena_reset(&ar);
  kw_cluster_refresh_soon(&a->cl->cluster, kw_now_ms()); /* a producer on this client sees it soon */
  return rc < 0 ? rc : 0;
}

/* ---- topics and partitions ---- */

/* KRaft brokers forward these requests to the controller themselves; an older broker
 * answers NOT_CONTROLLER, and the request goes to the controller metadata names. */
static int to_controller(kw_call *a, int32_t *node) {
  a->last_kerr = KW_KERR_NOT_CONTROLLER;
  int rc = kw_call_backoff(a);
  if (rc < 0) return rc;
  kw_arena ar;
  kw_arena_init(&ar, a->cl->mem, 0);
  kw_metadata_resp md;
  rc = adm_metadata(a, NULL, 0, &ar, &md);
  if (rc >= 0) *node = md.controller_id >= 0 ? md.controller_id : -1;
  kw_arena_reset(&ar);
  return rc < 0 ? rc : 0;
}

static int build_create(kw_call *a, void *r, int16_t v) {
  (void)v;
  ((kw_create_topics_req *)r)->timeout_ms = kw_call_remaining_ms(a);
  return 0;
}

static int create_topic(kw_call *a, const char *topic, int32_t partitions, int16_t rf, const char *const *configs,
                        kw_arena *ar) {
  int n_cfg = 0;
  while (configs && configs[2 * n_cfg]) {
    if (!configs[2 * n_cfg + 1]) return kw_call_fail(a, KW_ERR_INVALID_ARG, "config '%s' has no value", configs[2 * n_cfg]);
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
    int v = kw_call_once(a, node, KW_API_CREATE_TOPICS, &req, build_create, &resp, ar);
    if (v < 0) return v;
    const kw_create_topics_resp_creatable_topic_result *r = NULL;
    for (int32_t i = 0; i < resp.n_topics && !r; i++)
      if (adm_slice_eq(resp.topics[i].name, topic)) r = &resp.topics[i];
    if (!r) return kw_call_fail(a, KW_ERR_MALFORMED, "the broker's answer does not name the topic");
    if (r->error_code == KW_KERR_NOT_CONTROLLER) {
      int rc = to_controller(a, &node);
      if (rc < 0) return rc;
      continue;
    }
    if (r->error_code) return kw_call_kerr(a, r->error_code, r->error_message);
    if (want < 0 && v >= 5) want = r->num_partitions; /* the broker's default */
    break;
  }
  return wait_topic(a, topic, want, true);
}

int kw_admin_create_topic(kw_client *cl, const char *topic, int32_t partitions, int16_t replication_factor,
                          const char *const *configs, int timeout_ms, char *errstr, size_t errlen) {
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "create topic '%s'", topic ? topic : "");
  if (!cl) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client");
  int rc = adm_check_name(&a, "topic", topic);
  if (!rc && (partitions == 0 || partitions < -1))
    rc = kw_call_fail(&a, KW_ERR_INVALID_ARG, "partitions must be > 0 (or -1: the broker's default)");
  if (!rc && (replication_factor == 0 || replication_factor < -1))
    rc = kw_call_fail(&a, KW_ERR_INVALID_ARG, "replication factor must be > 0 (or -1: the broker's default)");
  if (rc) return rc;
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  rc = create_topic(&a, topic, partitions, replication_factor, configs, &ar);
  kw_arena_reset(&ar);
  return kw_call_end(&a, rc);
}

typedef struct del_req {
  kw_delete_topics_req req; /* first: the request itself */
  kw_delete_topics_req_delete_topic_state state;
  kw_slice name;
} del_req;

/* v6 names topics in structs (name or id), earlier versions in a list of names. */
static int build_delete(kw_call *a, void *r, int16_t v) {
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
  d->req.timeout_ms = kw_call_remaining_ms(a);
  return 0;
}

int kw_admin_delete_topic(kw_client *cl, const char *topic, int timeout_ms, char *errstr, size_t errlen) {
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "delete topic '%s'", topic ? topic : "");
  if (!cl) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client");
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
    rc = kw_call_once(&a, node, KW_API_DELETE_TOPICS, &d, build_delete, &resp, &ar);
    if (rc < 0) break;
    const kw_delete_topics_resp_deletable_topic_result *r = NULL;
    for (int32_t i = 0; i < resp.n_responses && !r; i++)
      if (adm_slice_eq(resp.responses[i].name, topic)) r = &resp.responses[i];
    if (!r && resp.n_responses == 1) r = &resp.responses[0]; /* v6 may answer by id only */
    if (!r) {
      rc = kw_call_fail(&a, KW_ERR_MALFORMED, "the broker's answer does not name the topic");
      break;
    }
    if (r->error_code == KW_KERR_NOT_CONTROLLER) {
      if ((rc = to_controller(&a, &node)) < 0) break;
      continue;
    }
    rc = r->error_code ? kw_call_kerr(&a, r->error_code, r->error_message) : wait_topic(&a, topic, 0, false);
    break;
  }
  kw_arena_reset(&ar);
  return kw_call_end(&a, rc);
}

static int build_partitions(kw_call *a, void *r, int16_t v) {
  (void)v;
  ((kw_create_partitions_req *)r)->timeout_ms = kw_call_remaining_ms(a);
  return 0;
}

int kw_admin_create_partitions(kw_client *cl, const char *topic, int32_t total_count, int timeout_ms, char *errstr,
                               size_t errlen) {
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "create partitions of '%s'", topic ? topic : "");
  if (!cl) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client");
  int rc = adm_check_name(&a, "topic", topic);
  if (!rc && total_count <= 0) rc = kw_call_fail(&a, KW_ERR_INVALID_ARG, "the partition count must be > 0");
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
    rc = kw_call_once(&a, node, KW_API_CREATE_PARTITIONS, &req, build_partitions, &resp, &ar);
    if (rc < 0) break;
    const kw_create_partitions_resp_create_partitions_topic_result *r = NULL;
    for (int32_t i = 0; i < resp.n_results && !r; i++)
      if (adm_slice_eq(resp.results[i].name, topic)) r = &resp.results[i];
    if (!r) {
      rc = kw_call_fail(&a, KW_ERR_MALFORMED, "the broker's answer does not name the topic");
      break;
    }
    if (r->error_code == KW_KERR_NOT_CONTROLLER) {
      if ((rc = to_controller(&a, &node)) < 0) break;
      continue;
    }
    rc = r->error_code ? kw_call_kerr(&a, r->error_code, r->error_message) : wait_topic(&a, topic, total_count, true);
    break;
  }
  kw_arena_reset(&ar);
  return kw_call_end(&a, rc);
}


/* ---- the cluster as metadata describes it ---- */

/* The answer stays as decoded; only its strings are copied, to be NUL-terminated. */
static int cluster_strings(kw_admin_result *res) {
  const kw_metadata_resp *md = &res->md;
  int nb = md->n_brokers > 0 ? md->n_brokers : 0;
  res->n = md->n_topics > 0 ? md->n_topics : 0;
  res->hosts = adm_ralloc(res, sizeof *res->hosts * (size_t)(nb + 1));
  res->names = adm_ralloc(res, sizeof *res->names * (size_t)(res->n + 1));
  if (!res->hosts || !res->names) return KW_ERR_NOMEM;
  for (int b = 0; b < nb; b++)
    if (!(res->hosts[b] = adm_rstr(res, md->brokers[b].host))) return KW_ERR_NOMEM;
  for (int i = 0; i < res->n; i++)
    if (!(res->names[i] = adm_rstr(res, md->topics[i].name))) return KW_ERR_NOMEM;
  return 0;
}

int kw_admin_describe_cluster(kw_client *cl, const char *topic, int timeout_ms, kw_admin_result **out, char *errstr,
                              size_t errlen) {
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "describe cluster");
  if (!cl || !out) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client or no result pointer");
  *out = NULL;
  int rc = topic ? adm_check_name(&a, "topic", topic) : 0;
  if (rc) return rc;
  kw_admin_result *res = adm_result_new(cl, ADM_RES_CLUSTER);
  if (!res) return kw_call_end(&a, KW_ERR_NOMEM);
  rc = adm_metadata(&a, topic ? &topic : NULL, topic ? 1 : -1, &res->arena, &res->md);
  if (rc >= 0) rc = cluster_strings(res);
  if (rc < 0) kw_admin_result_free(res);
  else *out = res;
  return kw_call_end(&a, rc);
}
