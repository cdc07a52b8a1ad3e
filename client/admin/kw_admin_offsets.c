/* Admin calls, part three: offsets at the partitions' leaders (ListOffsets), a group's
 * committed offsets (OffsetFetch at its coordinator) and its lag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/admin/kw_admin_int.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"

/* ---- ListOffsets ---- */

typedef struct lo_req {
  kw_list_offsets_req req; /* first: the request itself */
  int64_t spec;
} lo_req;

static int build_lo(adm *a, void *r, int16_t v) {
  lo_req *l = r;
  if (l->spec == KW_ADMIN_OFFSET_MAX_TIMESTAMP && v < 7) return KW_ERR_UNSUPPORTED_VERSION;
  l->req.timeout_ms = adm_remaining_ms(a); /* v10+ */
  return 0;
}

/* One ListOffsets to `node` for every pending entry it leads (leader[] == node; marked
 * -2 once asked). Entries answered without error are done. */
static int ask_leader(adm *a, adm_tp *tps, int32_t *leader, int n, int32_t node, int64_t spec, kw_arena *ar) {
  int cnt = 0;
  for (int j = 0; j < n; j++) cnt += leader[j] == node;
  kw_list_offsets_req_list_offsets_topic *ts = kw_arena_alloc(ar, sizeof *ts * (size_t)cnt);
  kw_list_offsets_req_list_offsets_partition *ps = kw_arena_alloc(ar, sizeof *ps * (size_t)cnt);
  int *idx = kw_arena_alloc(ar, sizeof *idx * (size_t)cnt);
  if (!ts || !ps || !idx) return KW_ERR_NOMEM;
  int nt = 0, np = 0;
  for (int j = 0; j < n; j++) { /* one topic entry with its partitions in a row */
    if (leader[j] != node) continue;
    kw_msg_init(KW_SCHEMA_LIST_OFFSETS_REQ_LIST_OFFSETS_TOPIC, &ts[nt]);
    ts[nt].name = adm_slice(tps[j].topic);
    ts[nt].partitions = &ps[np];
    ts[nt].n_partitions = 0;
    for (int k = j; k < n; k++) {
      if (leader[k] != node || strcmp(tps[k].topic, tps[j].topic) != 0) continue;
      kw_msg_init(KW_SCHEMA_LIST_OFFSETS_REQ_LIST_OFFSETS_PARTITION, &ps[np]);
      ps[np].partition_index = tps[k].partition;
      ps[np].timestamp = spec;
      idx[np++] = k;
      ts[nt].n_partitions++;
      leader[k] = -2;
    }
    nt++;
  }
  lo_req l;
  kw_msg_init(KW_SCHEMA_LIST_OFFSETS_REQ, &l.req);
  l.req.replica_id = -1;     /* a client, not a follower */
  l.req.isolation_level = 0; /* read_uncommitted: the high watermark */
  l.req.topics = ts;
  l.req.n_topics = nt;
  l.spec = spec;
  kw_list_offsets_resp resp;
  int v = adm_call(a, node, KW_API_LIST_OFFSETS, &l, build_lo, &resp, ar);
  if (v < 0) {
    if (!adm_io_retriable(v)) return v;
    adm_note_err(a, v); /* the leader may have gone: metadata again, then retry */
    return 0;
  }
  for (int32_t t = 0; t < resp.n_topics; t++) {
    const kw_list_offsets_resp_list_offsets_topic_response *rt = &resp.topics[t];
    for (int32_t p = 0; p < rt->n_partitions; p++) {
      const kw_list_offsets_resp_list_offsets_partition_response *rp = &rt->partitions[p];
      adm_tp *e = NULL;
      for (int q = 0; q < np && !e; q++)
        if (tps[idx[q]].partition == rp->partition_index && adm_slice_eq(rt->name, tps[idx[q]].topic)) e = &tps[idx[q]];
      if (!e || e->done) continue;
      if (!rp->error_code) {
        e->offset = rp->offset;
        e->timestamp = rp->timestamp;
        e->done = true;
      } else if (kw_kerr_retriable(rp->error_code)) {
        a->last_kerr = rp->error_code;
      } else {
        return adm_kerr(a, rp->error_code, (kw_slice){NULL, 0});
      }
    }
  }
  return 0;
}

int adm_list_offsets(adm *a, adm_tp *tps, int n, int64_t spec, bool gone_ok) {
  kw_arena ar;
  kw_arena_init(&ar, a->cl->mem, 0);
  const char *waiting = a->waiting;
  int rc = 0;
  for (;;) {
    kw_arena_reset(&ar);
    const char **names = kw_arena_alloc(&ar, sizeof *names * (size_t)(n > 0 ? n : 1));
    int32_t *leader = kw_arena_alloc(&ar, sizeof *leader * (size_t)(n > 0 ? n : 1));
    if (!names || !leader) {
      rc = KW_ERR_NOMEM;
      break;
    }
    int nn = 0, pending = 0;
    for (int i = 0; i < n; i++) {
      if (tps[i].done) continue;
      pending++;
      int k = 0;
      while (k < nn && strcmp(names[k], tps[i].topic) != 0) k++;
      if (k == nn) names[nn++] = tps[i].topic;
    }
    if (!pending) break;
    kw_metadata_resp md;
    if ((rc = adm_metadata(a, names, nn, &ar, &md)) < 0) break;
    rc = 0;
    a->waiting = "offsets from the partitions' leaders";
    for (int i = 0; i < n && !rc; i++) {
      leader[i] = -1;
      if (tps[i].done) continue;
      const kw_metadata_resp_topic *t = adm_md_topic(&md, tps[i].topic);
      if (!t || t->error_code == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION) {
        if (!gone_ok) rc = adm_fail(a, KW_ERR_UNKNOWN_TOPIC, "topic '%s' does not exist", tps[i].topic);
        tps[i].gone = tps[i].done = true;
        continue;
      }
      if (t->error_code) {
        if (!kw_kerr_retriable(t->error_code)) rc = adm_kerr(a, t->error_code, (kw_slice){NULL, 0});
        a->last_kerr = t->error_code;
        continue;
      }
      const kw_metadata_resp_partition *p = NULL;
      for (int32_t k = 0; k < t->n_partitions && !p; k++)
        if (t->partitions[k].partition_index == tps[i].partition) p = &t->partitions[k];
      if (!p) {
        if (!gone_ok)
          rc = adm_fail(a, KW_ERR_UNKNOWN_PARTITION, "partition %d of '%s' does not exist", (int)tps[i].partition,
                        tps[i].topic);
        tps[i].gone = tps[i].done = true;
        continue;
      }
      leader[i] = p->leader_id;
      if (p->leader_id < 0) a->last_kerr = KW_KERR_LEADER_NOT_AVAILABLE;
    }
    for (int i = 0; i < n && !rc; i++)
      if (!tps[i].done && leader[i] >= 0) rc = ask_leader(a, tps, leader, n, leader[i], spec, &ar);
    if (rc < 0) break;
    pending = 0;
    for (int i = 0; i < n; i++) pending += !tps[i].done;
    if (!pending) break;
    if ((rc = adm_backoff(a)) < 0) break;
  }
  kw_arena_reset(&ar);
  if (rc >= 0) a->waiting = waiting;
  return rc < 0 ? rc : 0;
}

/* Metadata for one topic that must exist; retries while it is not ready (leaders). */
static int topic_meta(adm *a, const char *topic, kw_arena *ar, kw_metadata_resp *md,
                      const kw_metadata_resp_topic **out) {
  for (;;) {
    int rc = adm_metadata(a, &topic, 1, ar, md);
    if (rc < 0) return rc;
    const kw_metadata_resp_topic *t = adm_md_topic(md, topic);
    if (!t || t->error_code == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION)
      return adm_fail(a, KW_ERR_UNKNOWN_TOPIC, "topic '%s' does not exist", topic);
    if (!t->error_code) {
      *out = t;
      return 0;
    }
    if (!kw_kerr_retriable(t->error_code)) return adm_kerr(a, t->error_code, (kw_slice){NULL, 0});
    a->last_kerr = t->error_code;
    if ((rc = adm_backoff(a)) < 0) return rc;
  }
}

/* Partition rows for every partition of a topic; offsets -1 until filled. */
static int topic_rows(kw_admin_result *res, const kw_metadata_resp_topic *t) {
  int n = t->n_partitions > 0 ? t->n_partitions : 0;
  const char *name = adm_rstr(res, t->name);
  res->parts = adm_ralloc(res, sizeof *res->parts * (size_t)(n ? n : 1));
  if (!name || !res->parts) return KW_ERR_NOMEM;
  for (int i = 0; i < n; i++) res->parts[i] = (adm_part){name, t->partitions[i].partition_index, -1, -1, -1, -1};
  res->n = n;
  return 0;
}

/* Offsets for every row (offset / timestamp of the answer); gone rows keep -1. */
static int rows_offsets(adm *a, kw_admin_result *res, int64_t spec, bool only_uncommitted, int64_t *dst,
                        kw_arena *ar) {
  adm_tp *tps = kw_arena_alloc(ar, sizeof *tps * (size_t)(res->n ? res->n : 1));
  int *row = kw_arena_alloc(ar, sizeof *row * (size_t)(res->n ? res->n : 1));
  if (!tps || !row) return KW_ERR_NOMEM;
  int n = 0;
  for (int i = 0; i < res->n; i++) {
    if (only_uncommitted && res->parts[i].offset >= 0) continue;
    tps[n] = (adm_tp){res->parts[i].topic, res->parts[i].partition, -1, -1, false, false};
    row[n++] = i;
  }
  int rc = adm_list_offsets(a, tps, n, spec, dst != NULL);
  for (int k = 0; rc == 0 && k < n; k++) {
    if (tps[k].gone) continue;
    if (dst) {
      dst[row[k]] = tps[k].offset;
    } else {
      res->parts[row[k]].offset = tps[k].offset;
      res->parts[row[k]].timestamp = tps[k].timestamp;
    }
  }
  return rc;
}

int kw_admin_list_offsets(kw_client *cl, const char *topic, int64_t spec, int timeout_ms, kw_admin_result **out,
                          char *errstr, size_t errlen) {
  adm a;
  adm_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "list offsets of '%s'", topic ? topic : "");
  if (!cl || !out) return adm_fail(&a, KW_ERR_INVALID_ARG, "no client or no result pointer");
  *out = NULL;
  int rc = adm_check_name(&a, "topic", topic);
  if (!rc && spec < KW_ADMIN_OFFSET_MAX_TIMESTAMP)
    rc = adm_fail(&a, KW_ERR_INVALID_ARG, "offset spec %lld is not -1, -2, -3 or a timestamp", (long long)spec);
  if (rc) return rc;
  kw_admin_result *res = adm_result_new(cl, ADM_RES_PARTS);
  if (!res) return adm_end(&a, KW_ERR_NOMEM);
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  kw_metadata_resp md;
  const kw_metadata_resp_topic *t;
  rc = topic_meta(&a, topic, &ar, &md, &t);
  if (!rc) rc = topic_rows(res, t);
  kw_arena_reset(&ar);
  if (!rc) rc = rows_offsets(&a, res, spec, false, NULL, &ar);
  kw_arena_reset(&ar);
  if (rc < 0) {
    kw_admin_result_free(res);
    return adm_end(&a, rc);
  }
  adm_sort_parts(res->parts, res->n);
  *out = res;
  return adm_end(&a, 0);
}

/* ---- a group's committed offsets ---- */

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
static int build_of(adm *a, void *r, int16_t v) {
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

static int16_t of_code(const void *r, int16_t v, kw_slice *msg) {
  const kw_offset_fetch_resp *resp = r;
  *msg = (kw_slice){NULL, 0};
  if (v >= 8) return resp->n_groups > 0 ? resp->groups[0].error_code : 0;
  if (v >= 2) return resp->error_code;
  for (int32_t i = 0; i < resp->n_topics; i++) /* v1: the coordinator's errors come per partition */
    for (int32_t k = 0; k < resp->topics[i].n_partitions; k++)
      if (adm_coord_retriable(resp->topics[i].partitions[k].error_code)) return resp->topics[i].partitions[k].error_code;
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

static int collect(adm *a, const kw_offset_fetch_resp *resp, int16_t v, const kw_metadata_resp *md, committed *c,
                   int *n) {
  *n = 0;
  if (v >= 8) {
    if (resp->n_groups < 1) return 0;
    const kw_offset_fetch_resp_group *g = &resp->groups[0];
    for (int32_t i = 0; i < g->n_topics; i++) {
      const kw_offset_fetch_resp_topics *t = &g->topics[i];
      int mi = md_index(md, t->name, v >= 10 ? &t->topic_id : NULL);
      for (int32_t k = 0; k < t->n_partitions; k++) {
        if (t->partitions[k].error_code) return adm_kerr(a, t->partitions[k].error_code, (kw_slice){NULL, 0});
        if (mi >= 0) c[(*n)++] = (committed){mi, t->partitions[k].partition_index, t->partitions[k].committed_offset};
      }
    }
  } else {
    for (int32_t i = 0; i < resp->n_topics; i++) {
      const kw_offset_fetch_resp_topic *t = &resp->topics[i];
      int mi = md_index(md, t->name, NULL);
      for (int32_t k = 0; k < t->n_partitions; k++) {
        if (t->partitions[k].error_code) return adm_kerr(a, t->partitions[k].error_code, (kw_slice){NULL, 0});
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

static int group_offsets(adm *a, kw_admin_result *res, const char *group, const char *topic, kw_arena *ar) {
  kw_metadata_resp md;
  const kw_metadata_resp_topic *t = NULL;
  int rc = topic ? topic_meta(a, topic, ar, &md, &t) : adm_metadata(a, NULL, -1, ar, &md);
  if (rc < 0) return rc;
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
  int v = adm_coord_call(a, group, KW_API_OFFSET_FETCH, &o, build_of, &resp, ar, of_code);
  if (v < 0) return v;
  kw_slice msg;
  int16_t code = of_code(&resp, (int16_t)v, &msg);
  if (code) return adm_kerr(a, code, msg);
  int nc = count_committed(&resp, (int16_t)v);
  committed *c = kw_arena_alloc(ar, sizeof *c * (size_t)(nc ? nc : 1));
  if (!c) return KW_ERR_NOMEM;
  if ((rc = collect(a, &resp, (int16_t)v, &md, c, &nc)) < 0) return rc;

  if (t) { /* every partition of the topic, committed or not */
    if ((rc = topic_rows(res, t)) < 0) return rc;
    for (int k = 0; k < nc; k++)
      for (int i = 0; i < res->n; i++)
        if (&md.topics[c[k].md_topic] == t && res->parts[i].partition == c[k].partition) res->parts[i].offset = c[k].offset;
  } else { /* what the group committed, on topics that still exist */
    const char **names = kw_arena_alloc(ar, sizeof *names * (size_t)(md.n_topics > 0 ? md.n_topics : 1));
    res->parts = adm_ralloc(res, sizeof *res->parts * (size_t)(nc ? nc : 1));
    if (!names || !res->parts) return KW_ERR_NOMEM;
    memset(names, 0, sizeof *names * (size_t)(md.n_topics > 0 ? md.n_topics : 1));
    for (int k = 0; k < nc; k++) {
      if (c[k].offset < 0) continue;
      const char **name = &names[c[k].md_topic];
      if (!*name && !(*name = adm_rstr(res, md.topics[c[k].md_topic].name))) return KW_ERR_NOMEM;
      res->parts[res->n++] = (adm_part){*name, c[k].partition, c[k].offset, -1, -1, -1};
    }
  }
  kw_arena_reset(ar); /* md and the answer are no longer needed */

  int64_t *hwm = kw_arena_alloc(ar, sizeof *hwm * (size_t)(res->n ? res->n : 1));
  int64_t *start = kw_arena_alloc(ar, sizeof *start * (size_t)(res->n ? res->n : 1));
  if (!hwm || !start) return KW_ERR_NOMEM;
  for (int i = 0; i < res->n; i++) hwm[i] = start[i] = -1;
  a->waiting = "high watermarks";
  if ((rc = rows_offsets(a, res, KW_ADMIN_OFFSET_LATEST, false, hwm, ar)) < 0) return rc;
  a->waiting = "log start offsets";
  if ((rc = rows_offsets(a, res, KW_ADMIN_OFFSET_EARLIEST, true, start, ar)) < 0) return rc;
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
  adm a;
  adm_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "offsets of group '%s'", group ? group : "");
  if (!cl || !out) return adm_fail(&a, KW_ERR_INVALID_ARG, "no client or no result pointer");
  *out = NULL;
  int rc = adm_check_name(&a, "group", group);
  if (!rc && topic) rc = adm_check_name(&a, "topic", topic);
  if (rc) return rc;
  kw_admin_result *res = adm_result_new(cl, ADM_RES_PARTS);
  if (!res) return adm_end(&a, KW_ERR_NOMEM);
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  rc = group_offsets(&a, res, group, topic, &ar);
  kw_arena_reset(&ar);
  if (rc < 0) kw_admin_result_free(res);
  else *out = res;
  return adm_end(&a, rc);
}
