/* Admin calls on a group's committed offsets (OffsetFetch at its coordinator) and
 * its lag; also what the consumer's kw_consumer_committed asks. */
#include <stdio.h>
#include <string.h>
#include "client/admin/kw_admin_int.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"

typedef struct of_req {
  kw_offset_fetch_req req; /* first: the request itself */
  kw_offset_fetch_req_group g;
  kw_offset_fetch_req_topics ts; /* v8+ */
  kw_offset_fetch_req_topic t;   /* v1-7 */
  kw_slice group, topic;
  kw_uuid topic_id;
  int32_t *parts;
  int32_t n_parts;
  bool all;
} of_req;

/* v8+ nests the request in a Groups array (KIP-709); v10 names topics by id. */
static int build_of(kw_call *a, void *r, int16_t v) {
  (void)a;
  of_req *o = r;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ, &o->req);
  if (v >= 8) {
    kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_GROUP, &o->g);
    o->g.group_id = o->group;
    o->g.topics = NULL;
    o->g.n_topics = -1; /* null: every committed partition */
    if (!o->all) {
      kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_TOPICS, &o->ts);
      o->ts.name = o->topic;        /* v8-9 */
      o->ts.topic_id = o->topic_id; /* v10 */
      o->ts.partition_indexes = o->parts;
      o->ts.n_partition_indexes = o->n_parts;
      o->g.topics = &o->ts;
      o->g.n_topics = 1;
    }
    o->req.groups = &o->g;
    o->req.n_groups = 1;
  } else {
    o->req.group_id = o->group;
    if (o->all) {
      if (v < 2) return KW_ERR_UNSUPPORTED_VERSION; /* "every topic" needs v2 */
      o->req.topics = NULL;
      o->req.n_topics = -1;
    } else {
      kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_TOPIC, &o->t);
      o->t.name = o->topic;
      o->t.partition_indexes = o->parts;
      o->t.n_partition_indexes = o->n_parts;
      o->req.topics = &o->t;
      o->req.n_topics = 1;
    }
  }
  return 0;
}

static bool coord_error(int16_t code) {
  return code == KW_KERR_COORDINATOR_LOAD_IN_PROGRESS || code == KW_KERR_COORDINATOR_NOT_AVAILABLE ||
         code == KW_KERR_NOT_COORDINATOR;
}

static int16_t of_code(const void *r, int16_t v, kw_slice *msg) {
  const kw_offset_fetch_resp *resp = r;
  *msg = (kw_slice){NULL, 0};
  if (v >= 8) return resp->n_groups > 0 ? resp->groups[0].error_code : 0;
  if (v >= 2) return resp->error_code;
  for (int32_t i = 0; i < resp->n_topics; i++) /* v1: the coordinator's errors come per partition */
    for (int32_t k = 0; k < resp->topics[i].n_partitions; k++)
      if (coord_error(resp->topics[i].partitions[k].error_code)) return resp->topics[i].partitions[k].error_code;
  return 0;
}

/* One committed offset as the answer gives it, whatever its version's layout. */
typedef struct committed {
  int md_topic; /* index into the metadata's topics */
  int32_t partition;
  int64_t offset;
} committed;

static int md_index(const kw_metadata_resp *md, kw_slice name, const kw_uuid *id) {
  for (int32_t i = 0; i < md->n_topics; i++) {
    const kw_metadata_resp_topic *t = &md->topics[i];
    if (t->error_code) continue;
    if (id ? memcmp(&t->topic_id, id, sizeof *id) == 0
           : (name.ptr && t->name.ptr && t->name.len == name.len && memcmp(t->name.ptr, name.ptr, (size_t)name.len) == 0))
      return i;
  }
  return -1;
}

static int collect(kw_call *a, const kw_offset_fetch_resp *resp, int16_t v, const kw_metadata_resp *md, committed *c,
                   int *n) {
  *n = 0;
  if (v >= 8) {
    if (resp->n_groups < 1) return 0;
    const kw_offset_fetch_resp_group *g = &resp->groups[0];
    for (int32_t i = 0; i < g->n_topics; i++) {
      const kw_offset_fetch_resp_topics *t = &g->topics[i];
      int mi = md_index(md, t->name, v >= 10 ? &t->topic_id : NULL);
      for (int32_t k = 0; k < t->n_partitions; k++) {
        if (t->partitions[k].error_code) return kw_call_kerr(a, t->partitions[k].error_code, (kw_slice){NULL, 0});
        if (mi >= 0) c[(*n)++] = (committed){mi, t->partitions[k].partition_index, t->partitions[k].committed_offset};
      }
    }
  } else {
    for (int32_t i = 0; i < resp->n_topics; i++) {
      const kw_offset_fetch_resp_topic *t = &resp->topics[i];
      int mi = md_index(md, t->name, NULL);
      for (int32_t k = 0; k < t->n_partitions; k++) {
        if (t->partitions[k].error_code) return kw_call_kerr(a, t->partitions[k].error_code, (kw_slice){NULL, 0});
        if (mi >= 0) c[(*n)++] = (committed){mi, t->partitions[k].partition_index, t->partitions[k].committed_offset};
      }
    }
  }
  return 0;
}

static int count_committed(const kw_offset_fetch_resp *resp, int16_t v) {
  int n = 0;
  if (v >= 8) {
    for (int32_t i = 0; resp->n_groups > 0 && i < resp->groups[0].n_topics; i++)
      n += resp->groups[0].topics[i].n_partitions > 0 ? resp->groups[0].topics[i].n_partitions : 0;
  } else {
    for (int32_t i = 0; i < resp->n_topics; i++) n += resp->topics[i].n_partitions > 0 ? resp->topics[i].n_partitions : 0;
  }
  return n;
}

/* What the group committed: of `topic`'s partitions (every one metadata names), or
 * topic NULL: of every topic. md (and *t, the topic) are the metadata the offsets were
 * matched with; everything lives in ar. */
typedef struct fetched {
  kw_metadata_resp md;
  const kw_metadata_resp_topic *t;
  committed *c;
  int n;
} fetched;

static int fetch_committed(kw_call *a, const char *group, const char *topic, kw_arena *ar, fetched *f) {
  f->t = NULL;
  int rc = topic ? adm_topic_meta(a, topic, ar, &f->md, &f->t) : adm_metadata(a, NULL, -1, ar, &f->md);
  if (rc < 0) return rc;
  const kw_metadata_resp_topic *t = f->t;
  of_req o;
  memset(&o, 0, sizeof o);
  o.group = adm_slice(group);
  o.all = topic == NULL;
  if (t) {
    o.topic = t->name;
    o.topic_id = t->topic_id;
    o.n_parts = t->n_partitions;
    if (!(o.parts = kw_arena_alloc(ar, sizeof *o.parts * (size_t)(o.n_parts > 0 ? o.n_parts : 1)))) return KW_ERR_NOMEM;
    for (int32_t i = 0; i < o.n_parts; i++) o.parts[i] = t->partitions[i].partition_index;
  }
  kw_offset_fetch_resp resp;
  a->waiting = "the group's committed offsets";
  int v = kw_call_retry(a, KW_CALL_ANY_BROKER, group, KW_API_OFFSET_FETCH, &o, build_of, &resp, ar, of_code);
  if (v < 0) return v;
  kw_slice msg;
  int16_t code = of_code(&resp, (int16_t)v, &msg);
  if (code) return kw_call_kerr(a, code, msg);
  f->n = count_committed(&resp, (int16_t)v);
  if (!(f->c = kw_arena_alloc(ar, sizeof *f->c * (size_t)(f->n ? f->n : 1)))) return KW_ERR_NOMEM;
  return collect(a, &resp, (int16_t)v, &f->md, f->c, &f->n);
}

int adm_committed(kw_call *a, const char *group, const char *topic, int32_t partition, int64_t *offset) {
  kw_arena ar;
  kw_arena_init(&ar, a->cl->mem, 0);
  fetched f;
  int rc = fetch_committed(a, group, topic, &ar, &f);
  *offset = -1; /* nothing committed (also for a partition the topic lacks, as Kafka's consumer says) */
  for (int k = 0; rc == 0 && k < f.n; k++)
    if (&f.md.topics[f.c[k].md_topic] == f.t && f.c[k].partition == partition) *offset = f.c[k].offset;
  kw_arena_reset(&ar);
  return rc;
}

/* Rows of the committed offsets with high watermarks and lag. */
static int group_offsets(kw_call *a, kw_admin_result *res, const char *group, const char *topic, kw_arena *ar) {
  fetched f;
  int rc = fetch_committed(a, group, topic, ar, &f);
  if (rc < 0) return rc;
  const kw_metadata_resp_topic *t = f.t;
  const kw_metadata_resp *md = &f.md;
  committed *c = f.c;
  int nc = f.n;

  if (t) { /* every partition of the topic, committed or not */
    if ((rc = adm_topic_rows(res, t)) < 0) return rc;
    for (int k = 0; k < nc; k++)
      for (int i = 0; i < res->n; i++)
        if (&md->topics[c[k].md_topic] == t && res->parts[i].partition == c[k].partition) res->parts[i].offset = c[k].offset;
  } else { /* what the group committed, on topics that still exist */
    const char **names = kw_arena_alloc(ar, sizeof *names * (size_t)(md->n_topics > 0 ? md->n_topics : 1));
    res->parts = adm_ralloc(res, sizeof *res->parts * (size_t)(nc ? nc : 1));
    if (!names || !res->parts) return KW_ERR_NOMEM;
    memset(names, 0, sizeof *names * (size_t)(md->n_topics > 0 ? md->n_topics : 1));
    for (int k = 0; k < nc; k++) {
      if (c[k].offset < 0) continue;
      const char **name = &names[c[k].md_topic];
      if (!*name && !(*name = adm_rstr(res, md->topics[c[k].md_topic].name))) return KW_ERR_NOMEM;
      res->parts[res->n++] = (adm_part){*name, c[k].partition, c[k].offset, -1, -1, -1};
    }
  }
  kw_arena_reset(ar); /* md and the answer are no longer needed */

  int64_t *hwm = kw_arena_alloc(ar, sizeof *hwm * (size_t)(res->n ? res->n : 1));
  int64_t *start = kw_arena_alloc(ar, sizeof *start * (size_t)(res->n ? res->n : 1));
  if (!hwm || !start) return KW_ERR_NOMEM;
  for (int i = 0; i < res->n; i++) hwm[i] = start[i] = -1;
  a->waiting = "high watermarks";
  if ((rc = adm_rows_offsets(a, res, KW_ADMIN_OFFSET_LATEST, false, hwm, ar)) < 0) return rc;
  a->waiting = "log start offsets";
  if ((rc = adm_rows_offsets(a, res, KW_ADMIN_OFFSET_EARLIEST, true, start, ar)) < 0) return rc;
  for (int i = 0; i < res->n; i++) {
    adm_part *p = &res->parts[i];
    p->hwm = hwm[i];
    if (hwm[i] < 0) p->lag = -1;
    else if (p->offset >= 0) p->lag = hwm[i] > p->offset ? hwm[i] - p->offset : 0;
    else p->lag = start[i] >= 0 && hwm[i] > start[i] ? hwm[i] - start[i] : start[i] >= 0 ? 0 : -1;
  }
  adm_sort_parts(res->parts, res->n);
  return 0;
}

int kw_admin_group_offsets(kw_client *cl, const char *group, const char *topic, int timeout_ms,
                           kw_admin_result **out, char *errstr, size_t errlen) {
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "offsets of group '%s'", group ? group : "");
  if (!cl || !out) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client or no result pointer");
  *out = NULL;
  int rc = adm_check_name(&a, "group", group);
  if (!rc && topic) rc = adm_check_name(&a, "topic", topic);
  if (rc) return rc;
  kw_admin_result *res = adm_result_new(cl, ADM_RES_PARTS);
  if (!res) return kw_call_end(&a, KW_ERR_NOMEM);
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  rc = group_offsets(&a, res, group, topic, &ar);
  kw_arena_reset(&ar);
  if (rc < 0) kw_admin_result_free(res);
  else *out = res;
  return kw_call_end(&a, rc);
}
