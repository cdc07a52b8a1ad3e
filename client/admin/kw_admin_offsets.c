/* Admin calls on offsets at the partitions' leaders (ListOffsets): earliest, latest,
 * by timestamp; also what the consumer's watermarks ask. */
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

static int build_lo(kw_call *a, void *r, int16_t v) {
  lo_req *l = r;
  if (l->spec == KW_ADMIN_OFFSET_MAX_TIMESTAMP && v < 7) return KW_ERR_UNSUPPORTED_VERSION;
  l->req.timeout_ms = kw_call_remaining_ms(a); /* v10+ */
  return 0;
}

/* One ListOffsets to `node` for every pending entry it leads (leader[] == node; marked
 * -2 once asked). Entries answered without error are done. */
static int ask_leader(kw_call *a, adm_tp *tps, int32_t *leader, int n, int32_t node, int64_t spec, int8_t isolation,
                      kw_arena *ar) {
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
  l.req.isolation_level = isolation; /* 0: up to the high watermark; 1: the last stable offset */
  l.req.topics = ts;
  l.req.n_topics = nt;
  l.spec = spec;
  kw_list_offsets_resp resp;
  int v = kw_call_once(a, node, KW_API_LIST_OFFSETS, &l, build_lo, &resp, ar);
  if (v < 0) {
    if (!kw_call_io_retriable(v)) return v;
    kw_call_note_err(a, v); /* the leader may have gone: metadata again, then retry */
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
        return kw_call_kerr(a, rp->error_code, (kw_slice){NULL, 0});
      }
    }
  }
  return 0;
}

/* Each pending entry's leader by `md` into leader[] (-1: none known yet, asked again
 * after backoff). Entries of partitions that do not exist fail or end as `missing` says. */
static int map_leaders(kw_call *a, adm_tp *tps, int n, const kw_metadata_resp *md, adm_missing missing,
                       int32_t *leader) {
  for (int i = 0; i < n; i++) {
    leader[i] = -1;
    if (tps[i].done) continue;
    const kw_metadata_resp_topic *t = adm_md_topic(md, tps[i].topic);
    if (!t || t->error_code == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION) {
      if (missing == ADM_MISSING_WAITS) {
        a->last_kerr = KW_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      if (missing == ADM_MISSING_FAILS)
        return kw_call_fail(a, KW_ERR_UNKNOWN_TOPIC, "topic '%s' does not exist", tps[i].topic);
      tps[i].gone = tps[i].done = true;
      continue;
    }
    if (t->error_code) {
      if (!kw_kerr_retriable(t->error_code)) return kw_call_kerr(a, t->error_code, (kw_slice){NULL, 0});
      a->last_kerr = t->error_code;
      continue;
    }
    const kw_metadata_resp_partition *p = NULL;
    for (int32_t k = 0; k < t->n_partitions && !p; k++)
      if (t->partitions[k].partition_index == tps[i].partition) p = &t->partitions[k];
    if (!p) {
      if (missing != ADM_MISSING_GONE)
        return kw_call_fail(a, KW_ERR_UNKNOWN_PARTITION, "partition %d of '%s' does not exist", (int)tps[i].partition,
                            tps[i].topic);
      tps[i].gone = tps[i].done = true;
      continue;
    }
    leader[i] = p->leader_id;
    if (p->leader_id < 0) a->last_kerr = KW_KERR_LEADER_NOT_AVAILABLE;
  }
  return 0;
}

int adm_list_offsets(kw_call *a, adm_tp *tps, int n, int64_t spec, int8_t isolation, adm_missing missing) {
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
    a->waiting = "offsets from the partitions' leaders";
    rc = map_leaders(a, tps, n, &md, missing, leader);
    for (int i = 0; i < n && !rc; i++)
      if (!tps[i].done && leader[i] >= 0) rc = ask_leader(a, tps, leader, n, leader[i], spec, isolation, &ar);
    if (rc < 0) break;
    pending = 0;
    for (int i = 0; i < n; i++) pending += !tps[i].done;
    if (!pending) break;
    if ((rc = kw_call_backoff(a)) < 0) break;
  }
  kw_arena_reset(&ar);
  if (rc >= 0) a->waiting = waiting;
  return rc < 0 ? rc : 0;
}

int adm_topic_rows(kw_admin_result *res, const kw_metadata_resp_topic *t) {
  int n = t->n_partitions > 0 ? t->n_partitions : 0;
  const char *name = adm_rstr(res, t->name);
  res->parts = adm_ralloc(res, sizeof *res->parts * (size_t)(n ? n : 1));
  if (!name || !res->parts) return KW_ERR_NOMEM;
  for (int i = 0; i < n; i++) res->parts[i] = (adm_part){name, t->partitions[i].partition_index, -1, -1, -1, -1};
  res->n = n;
  return 0;
}

int adm_rows_offsets(kw_call *a, kw_admin_result *res, int64_t spec, bool only_uncommitted, int64_t *dst,
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
  int rc = adm_list_offsets(a, tps, n, spec, 0, dst ? ADM_MISSING_GONE : ADM_MISSING_FAILS);
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
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "list offsets of '%s'", topic ? topic : "");
  if (!cl || !out) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client or no result pointer");
  *out = NULL;
  int rc = adm_check_name(&a, "topic", topic);
  if (!rc && spec < KW_ADMIN_OFFSET_MAX_TIMESTAMP)
    rc = kw_call_fail(&a, KW_ERR_INVALID_ARG, "offset spec %lld is not -1, -2, -3 or a timestamp", (long long)spec);
  if (rc) return rc;
  kw_admin_result *res = adm_result_new(cl, ADM_RES_PARTS);
  if (!res) return kw_call_end(&a, KW_ERR_NOMEM);
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  kw_metadata_resp md;
  const kw_metadata_resp_topic *t;
  rc = adm_topic_meta(&a, topic, &ar, &md, &t);
  if (!rc) rc = adm_topic_rows(res, t);
  kw_arena_reset(&ar);
  if (!rc) rc = adm_rows_offsets(&a, res, spec, false, NULL, &ar);
  kw_arena_reset(&ar);
  if (rc < 0) {
    kw_admin_result_free(res);
    return kw_call_end(&a, rc);
  }
  adm_sort_parts(res->parts, res->n);
  *out = res;
  return kw_call_end(&a, 0);
}

