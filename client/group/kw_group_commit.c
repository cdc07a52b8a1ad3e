/* Consumer groups: offset commits (OffsetCommit) and the committed offsets of a new
 * assignment (OffsetFetch), for both group protocols. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_clock.h"
#include "client/group/kw_assignor.h"
#include "client/kw_config.h"
#include "client/group/kw_group.h"
#include "client/group/kw_group_int.h"
#include "client/kw_metrics.h"
#include "kwire/error.h"
#include "core/kw_log.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"

/* ---- commits ---- */

static int version_capped(kw_conn *c, int16_t api, int cap) {
  int v = kw_conn_version(c, api);
  return v > cap ? cap : v;
}


/* What a refused commit says about our membership (Java's OffsetCommitResponseHandler).
 * An answer about a generation we have already left says nothing of this one. */
static void commit_refused(kw_group *g, const gctx *c, int16_t kerr, int64_t now) {
  bool same = c->generation == g->generation;
  if (kw_grp_coordinator_error(g, kerr, now)) return;
  switch (kerr) {
  case KW_KERR_FENCED_INSTANCE_ID: kw_grp_fail(g, 0, kerr, "OffsetCommit: another member has our group.instance.id"); break;
  case KW_KERR_UNKNOWN_MEMBER_ID:
  case KW_KERR_ILLEGAL_GENERATION:
  case KW_KERR_FENCED_MEMBER_EPOCH:
    if (same) kw_grp_fenced(g, kerr, now);
    break;
  case KW_KERR_REBALANCE_IN_PROGRESS: /* classic: join now; our generation stays valid until then */
    if (same && g->state == G_STABLE && !g->set.consumer_protocol) {
      g->state = G_JOIN;
      g->retry_at = 0;
    }
    break;
  case KW_KERR_STALE_MEMBER_EPOCH: /* KIP-848: the next heartbeat brings the current epoch */
    if (g->set.consumer_protocol && !g->hb_in_flight) g->next_heartbeat = now;
    break;
  default: break;
  }
}

static void on_commit(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  int result = err;
  int16_t kerr = 0; /* the first partition's error: a group error is every partition's */
  if (!err && kw_grp_current(c)) {
    kw_arena a;
    kw_arena_init(&a, g->mem, 0);
    kw_offset_commit_resp resp;
    result = kw_response_decode(key, ver, body, &a, &resp);
    int n_failed = 0;
    for (int32_t t = 0; !result && t < resp.n_topics; t++)
      for (int32_t k = 0; k < resp.topics[t].n_partitions; k++) {
        const kw_offset_commit_resp_partition *pr = &resp.topics[t].partitions[k];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)resp.topics[t].name.len, (const char *)resp.topics[t].name.ptr);
        gtp *x = kw_grp_find_gtp(g, name, pr->partition_index);
        if (x && !c->revoking && !pr->error_code && x->committing >= 0) x->committed = x->committing;
        if (x && !c->revoking) x->committing = -1;
        if (pr->error_code && !n_failed++) kerr = pr->error_code;
      }
    kw_arena_reset(&a);
    if (kerr) {
      result = KW_ERR_BROKER;
      kw_log(g->log, KW_LOG_WARNING, "CGRP", "group %s: commit of %d partition(s) failed: %s", g->set.group_id,
             n_failed, kw_kerr_name(kerr));
      commit_refused(g, c, kerr, kw_now_ms());
    }
  } else if (!err) {
    result = KW_ERR_STATE; /* the group moved on */
  } else if (g && kw_grp_current(c) && g->state == G_STABLE) {
    kw_grp_transport_error(g, err, kw_now_ms());
  }
  /* Answered or not (connection lost, group moved on), this commit is no longer in
   * flight: the next one may go, and carries what this one did not commit. Cleared only
   * on success before, a lost connection left every later commit KW_ERR_WOULD_BLOCK. */
  if (g && !c->revoking)
    for (int i = 0; i < g->n_assigned; i++) g->assigned[i].committing = -1;
  if (g && g->metrics && !err) {
    if (result) g->metrics->commit_failures++;
    else g->metrics->commits++;
    kw_hist_add(&g->metrics->commit_latency, (kw_now_ms() - c->sent_at) * 1000);
  }
  if (c->result) *c->result = result;
  if (c->kerr) *c->kerr = kerr;
  if (c->done) *c->done = true;
  kw_free(c->g ? c->g->mem : NULL, c);
}

/* One OffsetCommit of the stored offsets of tps[0..n) not committed yet. `revoking`:
 * those partitions are being given up, so the commit goes even while another is in
 * flight (the coordinator's connection keeps the order) and its answer leaves the
 * bookkeeping of the others alone. */
static int send_commit(kw_group *g, gtp *tps, int n_tps, bool revoking, bool *done, int *result, int16_t *kerr,
                       int64_t now) {
  int n = 0;
  for (int i = 0; i < n_tps; i++)
    if (tps[i].stored >= 0 && tps[i].stored != tps[i].committed) n++;
  if (n == 0 || g->generation < 0) {
    if (done) *done = true;
    if (result) *result = KW_OK;
    return KW_OK;
  }
  kw_conn *conn = kw_grp_coordinator_conn(g, now);
  if (!conn) return KW_ERR_STATE;
  kw_offset_commit_req_topic *ts = kw_alloc(g->mem, sizeof *ts * (size_t)n);
  kw_offset_commit_req_partition *ps = kw_alloc(g->mem, sizeof *ps * (size_t)n);
  gctx *c = kw_grp_new_ctx(g);
  int err = KW_ERR_NOMEM;
  if (!ts || !ps || !c) goto out;
  c->done = done;
  c->result = result;
  c->kerr = kerr;
  c->sent_at = now;
  c->revoking = revoking;
  int nt = 0, np = 0;
  for (int i = 0; i < n_tps; i++) { /* one topic entry per run of the same topic */
    gtp *a = &tps[i];
    if (a->stored < 0 || a->stored == a->committed) continue;
    kw_offset_commit_req_topic *t = nt > 0 && ts[nt - 1].name.ptr == (const uint8_t *)a->t->name ? &ts[nt - 1] : NULL;
    if (!t) {
      t = &ts[nt++];
      kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_REQ_TOPIC, t);
      t->name = SL(a->t->name);
      t->partitions = &ps[np];
    }
    kw_offset_commit_req_partition *p = &ps[np++];
    kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_REQ_PARTITION, p);
    p->partition_index = a->partition;
    p->committed_offset = a->stored;
    p->committed_metadata = (kw_slice){(const uint8_t *)"", 0};
    t->n_partitions++;
    if (!revoking) a->committing = a->stored; /* becomes `committed` when the broker says so */
  }
  kw_offset_commit_req req;
  kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_REQ, &req);
  req.group_id = SL(g->set.group_id);
  req.generation_id_or_member_epoch = g->generation;
  req.member_id = SL(g->member_id ? g->member_id : "");
  req.group_instance_id = g->set.instance_id ? SL(g->set.instance_id) : (kw_slice){NULL, 0};
  req.topics = ts;
  req.n_topics = nt;
  err = kw_conn_request(conn, KW_API_OFFSET_COMMIT, version_capped(conn, KW_API_OFFSET_COMMIT, 9), &req, on_commit, c,
                        now);
  KW_DBG(g->log, CGRP, "group %s: committing %d partition(s)%s: %s", g->set.group_id, np,
         revoking ? " before giving them up" : "", kw_strerror(err));
  if (err && !revoking)
    for (int i = 0; i < n_tps; i++) tps[i].committing = -1; /* not sent: the next commit tries */
  if (!err) {
    kw_conn_flush(conn);
    c = NULL;
  }
out:
  kw_free(g->mem, c);
  kw_free(g->mem, ts);
  kw_free(g->mem, ps);
  return err;
}

int kw_group_commit(kw_group *g, bool *done, int *result, int16_t *kerr, int64_t now) {
  for (int i = 0; i < g->n_assigned; i++)
    if (g->assigned[i].committing >= 0) return KW_ERR_WOULD_BLOCK; /* one commit at a time, in order */
  return send_commit(g, g->assigned, g->n_assigned, false, done, result, kerr, now);
}

void kw_grp_commit_revoked(kw_group *g, gtp *tps, int n, int64_t now) {
  if (!g->set.auto_commit || n == 0) return;
  int err = send_commit(g, tps, n, true, NULL, NULL, NULL, now);
  if (err)
    kw_log(g->log, KW_LOG_WARNING, "CGRP", "group %s: could not commit %d partition(s) before giving them up: %s",
           g->set.group_id, n, kw_strerror(err));
}

/* ---- committed offsets for a new assignment ---- */

static void on_offsets(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  bool ok = kw_grp_current(c);
  int64_t sent_at = c->sent_at;
  kw_free(g->mem, c);
  if (!ok || g->state != G_OFFSETS) return;
  int64_t now = kw_now_ms();
  kw_arena a;
  kw_arena_init(&a, g->mem, 0);
  kw_offset_fetch_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  if (!err && resp.error_code) {
    if (!kw_grp_coordinator_error(g, resp.error_code, now)) kw_grp_retry_later(g, G_OFFSETS, now); /* e.g. loading */
    kw_arena_reset(&a);
    return;
  }
  if (err) {
    if (!kw_grp_transport_error(g, err, now)) kw_grp_retry_later(g, G_OFFSETS, now);
    else g->state = G_FIND, g->resume_stable = false; /* then join again: offsets are fetched after */
    kw_arena_reset(&a);
    return;
  }
  /* A partition the broker could not answer for has no known committed offset, which
   * is not the same as none: starting it at auto.offset.reset would skip or repeat
   * records. UNSTABLE_OFFSET_COMMIT (a transactional commit not yet completed: we ask
   * RequireStable) and any other partition error: ask again after retry.backoff.ms, as
   * the Java consumer does until the transaction ends. */
  int16_t perr = 0;
  int n_perr = 0;
  for (int32_t t = 0; t < resp.n_topics; t++)
    for (int32_t k = 0; k < resp.topics[t].n_partitions; k++)
      if (resp.topics[t].partitions[k].error_code) {
        if (!n_perr++ || resp.topics[t].partitions[k].error_code != KW_KERR_UNSTABLE_OFFSET_COMMIT)
          perr = resp.topics[t].partitions[k].error_code;
      }
  if (n_perr) {
    kw_log(g->log, perr == KW_KERR_UNSTABLE_OFFSET_COMMIT ? KW_LOG_INFO : KW_LOG_WARNING, "CGRP",
           "group %s: committed offsets of %d partition(s) not available yet (%s): asking again in %lld ms",
           g->set.group_id, n_perr, kw_kerr_name(perr), (long long)g->set.retry_backoff_ms);
    kw_grp_retry_later(g, G_OFFSETS, now);
    kw_arena_reset(&a);
    return;
  }
  for (int i = 0; i < g->n_assigned; i++) g->assigned[i].committed = -1;
  for (int32_t t = 0; t < resp.n_topics; t++)
    for (int32_t k = 0; k < resp.topics[t].n_partitions; k++) {
      const kw_offset_fetch_resp_partition *pr = &resp.topics[t].partitions[k];
      char name[256];
      snprintf(name, sizeof name, "%.*s", (int)resp.topics[t].name.len, (const char *)resp.topics[t].name.ptr);
      gtp *x = kw_grp_find_gtp(g, name, pr->partition_index);
      if (x) x->committed = pr->committed_offset;
    }
  kw_arena_reset(&a);
  /* Start where the group left off, or where auto.offset.reset says. */
  int64_t reset = g->set.auto_offset_reset == KW_RESET_EARLIEST ? KW_OFFSET_BEGINNING : KW_OFFSET_END;
  for (int i = 0; i < g->n_assigned; i++) {
    gtp *x = &g->assigned[i];
    if (kw_fetcher_get_position(g->cons, x->t->name, x->partition) != KW_ERR_INVALID_ARG) continue; /* kept */
    kw_fetcher_add(g->cons, x->t->name, x->partition, x->committed >= 0 ? x->committed : reset, false);
    x->stored = -1;
  }
  g->state = G_STABLE;
  g->last_confirmed = sent_at; /* see on_heartbeat */
  g->retry_at = 0; /* the guard set when the request went out */
  g->next_heartbeat = now + g->set.heartbeat_interval_ms;
  g->next_autocommit = now + g->set.auto_commit_interval_ms;
  KW_DBG(g->log, CGRP, "group %s: %s generation %d, %d partitions assigned", g->set.group_id, g->member_id,
         g->generation, g->n_assigned);
  /* Announce only what is new (cooperative rebalances keep the rest). */
  gtp *fresh = kw_alloc(g->mem, sizeof *fresh * (size_t)(g->n_assigned > 0 ? g->n_assigned : 1));
  int n_fresh = 0;
  for (int i = 0; fresh && i < g->n_assigned; i++)
    if (g->assigned[i].fresh) {
      g->assigned[i].fresh = false;
      fresh[n_fresh++] = g->assigned[i];
    }
  if (fresh) kw_grp_notify(g, KW_REBALANCE_ASSIGNED, fresh, n_fresh);
  kw_free(g->mem, fresh);
  if (g->rejoin_soon) {
    g->rejoin_soon = false;
    if (g->set.consumer_protocol) g->next_heartbeat = now; /* acknowledge the new assignment at once */
    else g->state = G_JOIN; /* cooperative: what was revoked this round goes to others next round */
  }
}

void kw_grp_send_offset_fetch(kw_group *g, int64_t now) {
  kw_conn *conn = kw_grp_coordinator_conn(g, now);
  if (!conn || now < g->retry_at) return;
  if (g->n_assigned == 0) {
    g->state = G_STABLE;
    g->next_heartbeat = now + g->set.heartbeat_interval_ms;
    kw_grp_notify(g, KW_REBALANCE_ASSIGNED, NULL, 0);
    return;
  }
  kw_offset_fetch_req_topic *ts = kw_alloc(g->mem, sizeof *ts * (size_t)g->n_assigned);
  int32_t *parts = kw_alloc(g->mem, sizeof *parts * (size_t)g->n_assigned);
  gctx *c = kw_grp_new_ctx(g);
  if (!ts || !parts || !c) goto out;
  int nt = 0;
  for (int i = 0; i < g->n_assigned; i++) {
    gtp *a = &g->assigned[i];
    kw_offset_fetch_req_topic *t = NULL;
    for (int k = 0; k < nt && !t; k++)
      if (ts[k].name.ptr == (const uint8_t *)a->t->name) t = &ts[k];
    if (!t) {
      t = &ts[nt++];
      kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_TOPIC, t);
      t->name = SL(a->t->name);
      t->n_partition_indexes = 0;
    }
    (void)t;
  }
  /* partitions laid out topic by topic */
  int np = 0;
  for (int k = 0; k < nt; k++) {
    ts[k].partition_indexes = &parts[np];
    for (int i = 0; i < g->n_assigned; i++)
      if ((const uint8_t *)g->assigned[i].t->name == ts[k].name.ptr) {
        parts[np++] = g->assigned[i].partition;
        ts[k].n_partition_indexes++;
      }
  }
  kw_offset_fetch_req req;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ, &req);
  req.group_id = SL(g->set.group_id);
  req.topics = ts;
  req.n_topics = nt;
  req.require_stable = true; /* wait out pending transactional commits (KIP-447) */
  /* v7: one group by name; v8+ moved to a groups array, which kwire does not need. */
  if (kw_conn_request(conn, KW_API_OFFSET_FETCH, version_capped(conn, KW_API_OFFSET_FETCH, 7), &req, on_offsets, c,
                      now) == 0) {
    c = NULL;
    g->retry_at = now + g->set.request_timeout_ms; /* guard until the answer */
    kw_conn_flush(conn);
  }
out:
  kw_free(g->mem, c);
  kw_free(g->mem, ts);
  kw_free(g->mem, parts);
}
