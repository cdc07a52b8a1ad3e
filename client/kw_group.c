/* Consumer groups, classic protocol (see kw_group.h).
 *
 * States: FIND (coordinator) -> JOIN -> [leader: AWAIT_META -> assign] -> SYNC ->
 * OFFSETS (committed offsets of the new partitions) -> STABLE (heartbeats, auto
 * commit) -> back to JOIN on REBALANCE_IN_PROGRESS, to FIND when the coordinator
 * moves. Every request carries the group's epoch; answers from before a reset are
 * ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/kw_assignor.h"
#include "client/kw_config.h"
#include "client/kw_group.h"
#include "client/kw_group_int.h"
#include "client/kw_metrics.h"
#include "kwire/error.h"
#include "net/kw_log.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"

char *kw_grp_dup_slice(const kw_mem *m, kw_slice s) {
  char *d = kw_alloc(m, (size_t)(s.len > 0 ? s.len : 0) + 1);
  if (d) {
    if (s.len > 0) memcpy(d, s.ptr, (size_t)s.len);
    d[s.len > 0 ? s.len : 0] = 0;
  }
  return d;
}

static bool slice_is(kw_slice s, const char *str) {
  return s.ptr && (size_t)s.len == strlen(str) && memcmp(s.ptr, str, (size_t)s.len) == 0;
}

void kw_grp_set_member_id(kw_group *g, kw_slice id) {
  char *d = kw_grp_dup_slice(g->mem, id);
  if (!d) return;
  kw_free(g->mem, g->member_id);
  g->member_id = d;
}

gctx *kw_grp_new_ctx(kw_group *g) {
  gctx *c = kw_alloc(g->mem, sizeof *c);
  if (c) *c = (gctx){g, g->epoch, kw_now_ms(), NULL, NULL};
  return c;
}

/* The answer belongs to the group as it is now (not from before a reset or close). */
bool kw_grp_current(gctx *c) { return c->g && c->epoch == c->g->epoch && c->g->state != G_DEAD; }

kw_conn *kw_grp_coordinator_conn(kw_group *g, int64_t now) {
  if (g->coordinator < 0) return NULL;
  kw_conn *c = kw_cluster_conn(g->cl, g->coordinator, now);
  kw_broker *b = c ? NULL : kw_cluster_broker(g->cl, g->coordinator);
  /* Its last connection attempt failed: the coordinator may be gone for good. */
  if (b && b->failed && b->conn && kw_conn_get_state(b->conn) == KW_CONN_DOWN)
    kw_grp_transport_error(g, KW_ERR_CONNECT, now);
  return c;
}

static int version_capped(kw_conn *c, int16_t api, int cap) {
  int v = kw_conn_version(c, api);
  return v > cap ? cap : v;
}

void kw_grp_retry_later(kw_group *g, enum gstate st, int64_t now) {
  g->state = st;
  g->retry_at = now + g->set.retry_backoff_ms;
}

/* Find the coordinator again; a stable member resumes heartbeating with the new one
 * (its generation stays valid), anyone else joins. */
static void rediscover(kw_group *g, int64_t now) {
  g->resume_stable = g->state == G_STABLE && g->generation >= 0;
  g->coordinator = -1;
  g->hb_in_flight = false;
  kw_grp_retry_later(g, G_FIND, now);
}

/* NOT_COORDINATOR and friends: find it again. True if the error was handled so. */
bool kw_grp_coordinator_error(kw_group *g, int16_t kerr, int64_t now) {
  if (kerr == KW_KERR_NOT_COORDINATOR || kerr == KW_KERR_COORDINATOR_NOT_AVAILABLE) {
    rediscover(g, now);
    return true;
  }
  return false;
}

/* The coordinator's connection failed (it died, or moved): as Java does, look it up
 * again rather than retrying against an address that may never answer. */
bool kw_grp_transport_error(kw_group *g, int err, int64_t now) {
  if (err == KW_ERR_DISCONNECTED || err == KW_ERR_TIMED_OUT || err == KW_ERR_CONNECT || err == KW_ERR_IO) {
    KW_DBG(g->log, CGRP, "group %s: coordinator unreachable (%s): looking it up again", g->set.group_id,
           kw_strerror(err));
    rediscover(g, now);
    return true;
  }
  return false;
}

/* ---- the assignment as the application sees it ---- */

void kw_grp_notify(kw_group *g, int kind, const gtp *tps, int n) {
  if (kind != KW_REBALANCE_ASSIGNED && n > 0) g->revocations++;
  if (!g->rb_cb || n == 0) return;
  kw_topic_partition stack[64] = {{NULL, 0, 0}};
  kw_topic_partition *arr = n <= 64 ? stack : kw_alloc(g->mem, sizeof *arr * (size_t)n);
  if (!arr) return;
  for (int i = 0; i < n; i++) arr[i] = (kw_topic_partition){tps[i].t->name, tps[i].partition, tps[i].committed};
  g->rb_cb(g->rb_ud, kind, arr, n);
  if (arr != stack) kw_free(g->mem, arr);
}

/* Gives up every partition: revoked (clean) or lost (fenced). */
void kw_grp_drop_assignment(kw_group *g, int kind) {
  kw_grp_notify(g, kind, g->assigned, g->n_assigned);
  for (int i = 0; i < g->n_assigned; i++) kw_consumer_remove(g->cons, g->assigned[i].t->name, g->assigned[i].partition);
  kw_free(g->mem, g->assigned);
  g->assigned = NULL;
  g->n_assigned = 0;
}

gtp *kw_grp_find_gtp(kw_group *g, const char *topic, int32_t partition) {
  for (int i = 0; i < g->n_assigned; i++)
    if (g->assigned[i].partition == partition && strcmp(g->assigned[i].t->name, topic) == 0) return &g->assigned[i];
  return NULL;
}

/* ---- commits ---- */

static void on_commit(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  int result = err;
  if (!err && kw_grp_current(c)) {
    kw_arena a;
    kw_arena_init(&a, g->mem, 0);
    kw_offset_commit_resp resp;
    result = kw_response_decode(key, ver, body, &a, &resp);
    int64_t now = kw_now_ms();
    for (int32_t t = 0; !result && t < resp.n_topics; t++)
      for (int32_t k = 0; k < resp.topics[t].n_partitions; k++) {
        const kw_offset_commit_resp_partition *pr = &resp.topics[t].partitions[k];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)resp.topics[t].name.len, (const char *)resp.topics[t].name.ptr);
        gtp *x = kw_grp_find_gtp(g, name, pr->partition_index);
        if (x && !pr->error_code && x->committing >= 0) x->committed = x->committing;
        if (x) x->committing = -1;
        if (pr->error_code) {
          result = KW_ERR_BROKER;
          if (!kw_grp_coordinator_error(g, pr->error_code, now))
            kw_log(g->log, KW_LOG_WARNING, "CGRP", "commit of %.*s [%d] failed: %s", (int)resp.topics[t].name.len,
                   (const char *)resp.topics[t].name.ptr, pr->partition_index, kw_kerr_name(pr->error_code));
        }
      }
    kw_arena_reset(&a);
  } else if (!err) {
    result = KW_ERR_STATE; /* the group moved on */
  } else if (g && kw_grp_current(c) && g->state == G_STABLE) {
    kw_grp_transport_error(g, err, kw_now_ms());
  }
  /* Answered or not (connection lost, group moved on), this commit is no longer in
   * flight: the next one may go, and carries what this one did not commit. Cleared only
   * on success before, a lost connection left every later commit KW_ERR_WOULD_BLOCK. */
  if (g)
    for (int i = 0; i < g->n_assigned; i++) g->assigned[i].committing = -1;
  if (g && g->metrics && !err) {
    if (result) g->metrics->commit_failures++;
    else g->metrics->commits++;
    kw_hist_add(&g->metrics->commit_latency, (kw_now_ms() - c->sent_at) * 1000);
  }
  if (c->result) *c->result = result;
  if (c->done) *c->done = true;
  kw_free(c->g ? c->g->mem : NULL, c);
}

int kw_group_commit(kw_group *g, bool *done, int *result, int64_t now) {
  for (int i = 0; i < g->n_assigned; i++)
    if (g->assigned[i].committing >= 0) return KW_ERR_WOULD_BLOCK; /* one commit at a time, in order */
  int n = 0;
  for (int i = 0; i < g->n_assigned; i++)
    if (g->assigned[i].stored >= 0 && g->assigned[i].stored != g->assigned[i].committed) n++;
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
  c->sent_at = now;
  int nt = 0, np = 0;
  for (int i = 0; i < g->n_assigned; i++) { /* one topic entry per run of the same topic */
    gtp *a = &g->assigned[i];
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
    a->committing = a->stored; /* becomes `committed` when the broker says so */
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
  KW_DBG(g->log, CGRP, "group %s: committing %d partition(s): %s", g->set.group_id, np, kw_strerror(err));
  if (err)
    for (int i = 0; i < g->n_assigned; i++) g->assigned[i].committing = -1; /* not sent: the next commit tries */
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
  for (int i = 0; i < g->n_assigned; i++) g->assigned[i].committed = -1;
  for (int32_t t = 0; t < resp.n_topics; t++)
    for (int32_t k = 0; k < resp.topics[t].n_partitions; k++) {
      const kw_offset_fetch_resp_partition *pr = &resp.topics[t].partitions[k];
      char name[256];
      snprintf(name, sizeof name, "%.*s", (int)resp.topics[t].name.len, (const char *)resp.topics[t].name.ptr);
      gtp *x = kw_grp_find_gtp(g, name, pr->partition_index);
      if (x && !pr->error_code) x->committed = pr->committed_offset;
    }
  kw_arena_reset(&a);
  /* Start where the group left off, or where auto.offset.reset says. */
  int64_t reset = g->set.auto_offset_reset == KW_RESET_EARLIEST ? KW_OFFSET_BEGINNING : KW_OFFSET_END;
  for (int i = 0; i < g->n_assigned; i++) {
    gtp *x = &g->assigned[i];
    if (kw_consumer_get_position(g->cons, x->t->name, x->partition) != KW_ERR_INVALID_ARG) continue; /* kept */
    kw_consumer_add(g->cons, x->t->name, x->partition, x->committed >= 0 ? x->committed : reset, false);
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

/* ---- SyncGroup ---- */

/* Replaces the assignment with the one in `bytes` (a ConsumerProtocolAssignment).
 * Eager: everything was revoked before joining. Cooperative: only what moved away is
 * revoked now, and a follow-up rebalance hands it on. */
static int apply_assignment(kw_group *g, kw_slice bytes) {
  kw_arena a;
  kw_arena_init(&a, g->mem, 1 << 20);
  kw_consumer_protocol_assignment asg;
  kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, &asg);
  asg.n_assigned_partitions = 0;
  if (bytes.ptr && bytes.len >= 2) {
    kw_rd r;
    kw_rd_init(&r, bytes.ptr, (size_t)bytes.len);
    int16_t v = kw_rd_i16(&r);
    if (v > 3) v = 3; /* newer versions only add fields at the end */
    if (v < 0 || kw_msg_decode(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, v, false, &r, &a, &asg)) {
      kw_arena_reset(&a);
      return KW_ERR_MALFORMED;
    }
  }
  int n = 0;
  for (int32_t t = 0; t < asg.n_assigned_partitions; t++) n += asg.assigned_partitions[t].n_partitions;
  gtp *next = kw_alloc(g->mem, sizeof *next * (size_t)(n > 0 ? n : 1));
  if (!next) {
    kw_arena_reset(&a);
    return KW_ERR_NOMEM;
  }
  int k = 0;
  for (int32_t t = 0; t < asg.n_assigned_partitions; t++) {
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)asg.assigned_partitions[t].topic.len,
             (const char *)asg.assigned_partitions[t].topic.ptr);
    kw_topic *topic = kw_cluster_topic(g->cl, name, true);
    for (int32_t p = 0; topic && p < asg.assigned_partitions[t].n_partitions; p++) {
      gtp *old = kw_grp_find_gtp(g, name, asg.assigned_partitions[t].partitions[p]);
      next[k] = old ? *old : (gtp){topic, asg.assigned_partitions[t].partitions[p], -1, -1, -1, true};
      if (old) next[k].fresh = false;
      k++;
    }
  }
  kw_arena_reset(&a);
  /* What we had and no longer have: revoked (only in the cooperative protocol can there be any). */
  gtp *gone = kw_alloc(g->mem, sizeof *gone * (size_t)(g->n_assigned > 0 ? g->n_assigned : 1));
  int n_gone = 0;
  for (int i = 0; gone && i < g->n_assigned; i++) {
    bool kept = false;
    for (int j = 0; j < k && !kept; j++)
      kept = next[j].t == g->assigned[i].t && next[j].partition == g->assigned[i].partition;
    if (!kept) gone[n_gone++] = g->assigned[i];
  }
  if (n_gone) {
    kw_grp_notify(g, KW_REBALANCE_REVOKED, gone, n_gone);
    for (int i = 0; i < n_gone; i++) kw_consumer_remove(g->cons, gone[i].t->name, gone[i].partition);
    g->rejoin_soon = true;
  }
  kw_free(g->mem, gone);
  kw_free(g->mem, g->assigned);
  g->assigned = next;
  g->n_assigned = k;
  return KW_OK;
}

static void on_sync(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  bool ok = kw_grp_current(c);
  kw_free(g->mem, c);
  if (!ok || g->state != G_SYNCING) return;
  int64_t now = kw_now_ms();
  kw_arena a;
  kw_arena_init(&a, g->mem, 0);
  kw_sync_group_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  int16_t kerr = err ? 0 : resp.error_code;
  if (err || kerr)
    KW_DBG(g->log, CGRP, "group %s: SyncGroup answered %s", g->set.group_id, err ? kw_strerror(err) : kw_kerr_name(kerr));
  if (err) {
    if (!kw_grp_transport_error(g, err, now)) kw_grp_retry_later(g, G_JOIN, now);
  } else if (kerr == 0) {
    if (apply_assignment(g, resp.assignment) == KW_OK) g->state = G_OFFSETS;
    else kw_grp_retry_later(g, G_JOIN, now);
  } else if (!kw_grp_coordinator_error(g, kerr, now)) {
    if (kerr == KW_KERR_UNKNOWN_MEMBER_ID || kerr == KW_KERR_ILLEGAL_GENERATION) kw_grp_set_member_id(g, (kw_slice){NULL, 0});
    if (kerr == KW_KERR_FENCED_INSTANCE_ID) {
      g->state = G_DEAD;
      kw_log(g->log, KW_LOG_ERR, "CGRP", "group %s: another member took group.instance.id %s", g->set.group_id,
             g->set.instance_id ? g->set.instance_id : "");
    } else {
      kw_grp_retry_later(g, G_JOIN, now); /* REBALANCE_IN_PROGRESS and the like: join again */
      if (kerr == KW_KERR_REBALANCE_IN_PROGRESS) g->retry_at = now;
    }
  }
  kw_arena_reset(&a);
}

/* Encodes a member's assignment as ConsumerProtocolAssignment v0 (2-byte version first). */
static int encode_assignment(const kw_asg_result *r, kw_buf *out) {
  kw_consumer_protocol_assignment_topic_partition tps[64];
  int32_t parts[1024];
  int nt = 0, np = 0;
  for (int i = 0; i < r->n && np < 1024; i++) {
    kw_consumer_protocol_assignment_topic_partition *t = NULL;
    for (int k = 0; k < nt && !t; k++)
      if (slice_is(tps[k].topic, r->tps[i].topic)) t = &tps[k];
    if (!t && nt < 64) {
      t = &tps[nt++];
      kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT_TOPIC_PARTITION, t);
      t->topic = SL(r->tps[i].topic);
      t->n_partitions = 0;
    }
    (void)t;
  }
  for (int k = 0; k < nt; k++) {
    tps[k].partitions = &parts[np];
    for (int i = 0; i < r->n && np < 1024; i++)
      if (slice_is(tps[k].topic, r->tps[i].topic)) {
        parts[np++] = r->tps[i].partition;
        tps[k].n_partitions++;
      }
  }
  kw_consumer_protocol_assignment asg;
  kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, &asg);
  asg.assigned_partitions = tps;
  asg.n_assigned_partitions = nt;
  kw_buf_i16(out, 0);
  return kw_msg_encode(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, 0, false, &asg, out);
}

static void send_sync(kw_group *g, int64_t now) {
  kw_conn *conn = kw_grp_coordinator_conn(g, now);
  if (!conn || now < g->retry_at) return;
  kw_sync_group_req req;
  kw_msg_init(KW_SCHEMA_SYNC_GROUP_REQ, &req);
  req.group_id = SL(g->set.group_id);
  req.generation_id = g->generation;
  req.member_id = SL(g->member_id ? g->member_id : "");
  req.group_instance_id = g->set.instance_id ? SL(g->set.instance_id) : (kw_slice){NULL, 0};
  req.protocol_type = SL("consumer");
  req.protocol_name = SL(g->protocol);
  kw_sync_group_req_assignment *as = NULL;
  kw_buf *bufs = NULL;
  kw_asg_result *res = NULL;
  if (g->leader && g->n_members > 0) { /* compute the assignment for everyone */
    kw_asg_member *ms = kw_alloc(g->mem, sizeof *ms * (size_t)g->n_members);
    kw_asg_topic *ts = kw_alloc(g->mem, sizeof *ts * (size_t)(g->cl->n_topics > 0 ? g->cl->n_topics : 1));
    res = kw_alloc(g->mem, sizeof *res * (size_t)g->n_members);
    as = kw_alloc(g->mem, sizeof *as * (size_t)g->n_members);
    bufs = kw_alloc(g->mem, sizeof *bufs * (size_t)g->n_members);
    if (!ms || !ts || !res || !as || !bufs) {
      kw_free(g->mem, ms);
      kw_free(g->mem, ts);
      goto out;
    }
    for (int i = 0; i < g->n_members; i++)
      ms[i] = (kw_asg_member){g->members[i].id, g->members[i].instance, (const char *const *)g->members[i].topics,
                              g->members[i].n_topics, g->members[i].owned, g->members[i].n_owned,
                              g->members[i].generation};
    int nt = 0;
    for (int i = 0; i < g->cl->n_topics; i++)
      if (g->cl->topics[i]->n_parts > 0) ts[nt++] = (kw_asg_topic){g->cl->topics[i]->name, g->cl->topics[i]->n_parts};
    int err = kw_assign(kw_assignor_from_name(g->protocol), ms, g->n_members, ts, nt, g->mem, res);
    kw_free(g->mem, ms);
    kw_free(g->mem, ts);
    if (err) {
      kw_free(g->mem, res);
      res = NULL;
      goto out;
    }
    for (int i = 0; i < g->n_members; i++) {
      kw_buf_init_grow(&bufs[i], g->mem);
      encode_assignment(&res[i], &bufs[i]);
      kw_msg_init(KW_SCHEMA_SYNC_GROUP_REQ_ASSIGNMENT, &as[i]);
      as[i].member_id = SL(g->members[i].id);
      as[i].assignment = (kw_slice){bufs[i].data, (int32_t)bufs[i].len};
    }
    req.assignments = as;
    req.n_assignments = g->n_members;
  }
  gctx *c = kw_grp_new_ctx(g);
  if (c && kw_conn_request(conn, KW_API_SYNC_GROUP, -1, &req, on_sync, c, now) == 0) {
    g->state = G_SYNCING;
    kw_conn_flush(conn);
  } else {
    kw_free(g->mem, c);
  }
out:
  if (res) {
    for (int i = 0; i < g->n_members; i++) kw_buf_free(&bufs[i]);
    kw_assign_free(res, g->n_members, g->mem);
    kw_free(g->mem, res);
  }
  kw_free(g->mem, as);
  kw_free(g->mem, bufs);
}

/* ---- JoinGroup ---- */

static void free_members(kw_group *g) {
  for (int i = 0; i < g->n_members; i++) {
    gmember *m = &g->members[i];
    for (int k = 0; k < m->n_topics; k++) kw_free(g->mem, m->topics[k]);
    for (int k = 0; k < m->n_owned; k++) kw_free(g->mem, (char *)m->owned[k].topic);
    kw_free(g->mem, m->topics);
    kw_free(g->mem, m->owned);
    kw_free(g->mem, m->id);
    kw_free(g->mem, m->instance);
  }
  kw_free(g->mem, g->members);
  g->members = NULL;
  g->n_members = 0;
}

/* The leader keeps every member's subscription (decoded from JoinGroup metadata). */
static int keep_members(kw_group *g, const kw_join_group_resp *resp) {
  free_members(g);
  g->members = kw_alloc(g->mem, sizeof *g->members * (size_t)(resp->n_members > 0 ? resp->n_members : 1));
  if (!g->members) return KW_ERR_NOMEM;
  for (int32_t i = 0; i < resp->n_members; i++) {
    gmember *m = &g->members[g->n_members++];
    memset(m, 0, sizeof *m);
    m->id = kw_grp_dup_slice(g->mem, resp->members[i].member_id);
    m->instance = resp->members[i].group_instance_id.ptr ? kw_grp_dup_slice(g->mem, resp->members[i].group_instance_id) : NULL;
    m->generation = -1;
    kw_arena a;
    kw_arena_init(&a, g->mem, 1 << 20);
    kw_consumer_protocol_subscription sub;
    kw_rd r;
    kw_rd_init(&r, resp->members[i].metadata.ptr, resp->members[i].metadata.ptr ? (size_t)resp->members[i].metadata.len : 0);
    int16_t v = kw_rd_i16(&r);
    if (v > 3) v = 3;
    if (v >= 0 && !r.err && kw_msg_decode(KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION, v, false, &r, &a, &sub) == 0) {
      m->topics = kw_alloc(g->mem, sizeof *m->topics * (size_t)(sub.n_topics > 0 ? sub.n_topics : 1));
      for (int32_t t = 0; m->topics && t < sub.n_topics; t++) {
        m->topics[m->n_topics++] = kw_grp_dup_slice(g->mem, sub.topics[t]);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)sub.topics[t].len, (const char *)sub.topics[t].ptr);
        kw_cluster_topic(g->cl, name, true); /* the leader needs every member's topics' metadata */
      }
      int owned = 0;
      for (int32_t t = 0; t < sub.n_owned_partitions; t++) owned += sub.owned_partitions[t].n_partitions;
      m->owned = owned ? kw_alloc(g->mem, sizeof *m->owned * (size_t)owned) : NULL;
      for (int32_t t = 0; m->owned && t < sub.n_owned_partitions; t++)
        for (int32_t p = 0; p < sub.owned_partitions[t].n_partitions; p++)
          m->owned[m->n_owned++] = (kw_asg_tp){kw_grp_dup_slice(g->mem, sub.owned_partitions[t].topic),
                                               sub.owned_partitions[t].partitions[p]};
      m->generation = sub.generation_id;
    }
    kw_arena_reset(&a);
  }
  return KW_OK;
}

static void on_join(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  bool ok = kw_grp_current(c);
  kw_free(g->mem, c);
  if (!ok || g->state != G_JOINING) return;
  int64_t now = kw_now_ms();
  kw_arena a;
  kw_arena_init(&a, g->mem, 0);
  kw_join_group_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  int16_t kerr = err ? 0 : resp.error_code;
  if (err || kerr)
    KW_DBG(g->log, CGRP, "group %s: JoinGroup answered %s", g->set.group_id, err ? kw_strerror(err) : kw_kerr_name(kerr));
  if (err) {
    if (!kw_grp_transport_error(g, err, now)) kw_grp_retry_later(g, G_JOIN, now);
  } else if (kerr == KW_KERR_MEMBER_ID_REQUIRED) { /* KIP-394: join again with the id given */
    kw_grp_set_member_id(g, resp.member_id);
    g->state = G_JOIN;
    g->retry_at = 0;
  } else if (kerr == 0) {
    kw_grp_set_member_id(g, resp.member_id);
    g->generation = resp.generation_id;
    snprintf(g->protocol, sizeof g->protocol, "%.*s", (int)resp.protocol_name.len,
             resp.protocol_name.ptr ? (const char *)resp.protocol_name.ptr : "");
    g->leader = resp.leader.ptr && resp.member_id.ptr && resp.leader.len == resp.member_id.len &&
                memcmp(resp.leader.ptr, resp.member_id.ptr, (size_t)resp.leader.len) == 0;
    KW_DBG(g->log, CGRP, "group %s: joined generation %d as %s%s (%s)", g->set.group_id, g->generation,
           g->member_id, g->leader ? ", leader" : "", g->protocol);
    if (g->leader && !resp.skip_assignment) {
      keep_members(g, &resp);
      g->state = G_AWAIT_META;
      kw_cluster_refresh_soon(g->cl, now);
    } else {
      free_members(g);
      g->state = G_SYNC;
    }
    g->retry_at = 0;
  } else if (!kw_grp_coordinator_error(g, kerr, now)) {
    if (kerr == KW_KERR_UNKNOWN_MEMBER_ID) kw_grp_set_member_id(g, (kw_slice){NULL, 0});
    if (kerr == KW_KERR_FENCED_INSTANCE_ID || kerr == KW_KERR_GROUP_AUTHORIZATION_FAILED ||
        kerr == KW_KERR_INVALID_SESSION_TIMEOUT || kerr == KW_KERR_INCONSISTENT_GROUP_PROTOCOL) {
      g->state = G_DEAD;
      kw_log(g->log, KW_LOG_ERR, "CGRP", "group %s: cannot join: %s", g->set.group_id, kw_kerr_name(kerr));
    } else {
      kw_grp_retry_later(g, G_JOIN, now); /* COORDINATOR_LOAD_IN_PROGRESS, REBALANCE_IN_PROGRESS, ... */
      if (kerr == KW_KERR_UNKNOWN_MEMBER_ID) g->retry_at = now;
    }
  }
  kw_arena_reset(&a);
}

/* This member's subscription, as ConsumerProtocolSubscription v1 (owned partitions
 * for the cooperative protocol). */
static int encode_subscription(kw_group *g, kw_buf *out) {
  kw_slice stack[32], *names = g->n_topics <= 32 ? stack : kw_alloc(g->mem, sizeof *names * (size_t)g->n_topics);
  kw_consumer_protocol_subscription_topic_partition owned[32];
  int32_t parts[512];
  if (!names) return KW_ERR_NOMEM;
  for (int i = 0; i < g->n_topics; i++) names[i] = SL(g->topics[i]);
  int no = 0, np = 0;
  for (int i = 0; i < g->n_assigned && np < 512; i++) {
    kw_consumer_protocol_subscription_topic_partition *o = NULL;
    for (int k = 0; k < no && !o; k++)
      if (owned[k].topic.ptr == (const uint8_t *)g->assigned[i].t->name) o = &owned[k];
    if (!o && no < 32) {
      o = &owned[no++];
      kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION_TOPIC_PARTITION, o);
      o->topic = SL(g->assigned[i].t->name);
      o->n_partitions = 0;
    }
    (void)o;
  }
  for (int k = 0; k < no; k++) {
    owned[k].partitions = &parts[np];
    for (int i = 0; i < g->n_assigned && np < 512; i++)
      if ((const uint8_t *)g->assigned[i].t->name == owned[k].topic.ptr) {
        parts[np++] = g->assigned[i].partition;
        owned[k].n_partitions++;
      }
  }
  kw_consumer_protocol_subscription sub;
  kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION, &sub);
  sub.topics = names;
  sub.n_topics = g->n_topics;
  sub.owned_partitions = owned;
  sub.n_owned_partitions = no;
  kw_buf_i16(out, 1);
  int err = kw_msg_encode(KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION, 1, false, &sub, out);
  if (names != stack) kw_free(g->mem, names);
  return err;
}

static bool cooperative(const kw_group *g) {
  return g->set.n_assignors > 0 && g->set.assignors[0] == KW_ASSIGNOR_COOPERATIVE_STICKY;
}

static void send_join(kw_group *g, int64_t now) {
  kw_conn *conn = kw_grp_coordinator_conn(g, now);
  if (!conn || now < g->retry_at) return;
  /* Eager protocol: commit, then give everything up before joining. Both go on the
   * coordinator's connection, which Kafka serves in order: the commit lands first. */
  if (!cooperative(g) && g->n_assigned > 0) {
    if (g->set.auto_commit) kw_group_commit(g, NULL, NULL, now);
    kw_grp_drop_assignment(g, KW_REBALANCE_REVOKED);
  }
  kw_buf meta;
  kw_buf_init_grow(&meta, g->mem);
  if (encode_subscription(g, &meta)) {
    kw_buf_free(&meta);
    return;
  }
  kw_join_group_req_protocol protos[3];
  for (int i = 0; i < g->set.n_assignors; i++) {
    kw_msg_init(KW_SCHEMA_JOIN_GROUP_REQ_PROTOCOL, &protos[i]);
    protos[i].name = SL(kw_assignor_name(g->set.assignors[i]));
    protos[i].metadata = (kw_slice){meta.data, (int32_t)meta.len};
  }
  kw_join_group_req req;
  kw_msg_init(KW_SCHEMA_JOIN_GROUP_REQ, &req);
  req.group_id = SL(g->set.group_id);
  req.session_timeout_ms = (int32_t)g->set.session_timeout_ms;
  req.rebalance_timeout_ms = (int32_t)g->set.max_poll_interval_ms;
  req.member_id = SL(g->member_id ? g->member_id : "");
  req.group_instance_id = g->set.instance_id ? SL(g->set.instance_id) : (kw_slice){NULL, 0};
  req.protocol_type = SL("consumer");
  req.protocols = protos;
  req.n_protocols = g->set.n_assignors;
  req.reason = (kw_slice){NULL, 0};
  gctx *c = kw_grp_new_ctx(g);
  /* JoinGroup may wait up to the rebalance timeout at the broker: the request's own
   * timeout must not cut it short, so it goes out with room to spare. */
  if (c && kw_conn_request_timeout(conn, KW_API_JOIN_GROUP, -1, &req, on_join, c, now,
                                   g->set.max_poll_interval_ms + g->set.request_timeout_ms) == 0) {
    g->state = G_JOINING;
    kw_conn_flush(conn);
    KW_DBG(g->log, CGRP, "group %s: JoinGroup as %s, owning %d", g->set.group_id,
           g->member_id && g->member_id[0] ? g->member_id : "(new member)", g->n_assigned);
  } else {
    kw_free(g->mem, c);
  }
  kw_buf_free(&meta);
}

/* ---- FindCoordinator ---- */

static void on_find(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  bool ok = kw_grp_current(c);
  kw_free(g->mem, c);
  if (!ok || g->state != G_FINDING) return;
  int64_t now = kw_now_ms();
  kw_arena a;
  kw_arena_init(&a, g->mem, 0);
  kw_find_coordinator_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  int16_t kerr = KW_KERR_COORDINATOR_NOT_AVAILABLE;
  int32_t node = -1, port = 0;
  kw_slice host = {NULL, 0};
  if (!err && resp.n_coordinators > 0) { /* v4+: one entry per key */
    kerr = resp.coordinators[0].error_code;
    node = resp.coordinators[0].node_id;
    host = resp.coordinators[0].host;
    port = resp.coordinators[0].port;
  } else if (!err) {
    kerr = resp.error_code;
    node = resp.node_id;
    host = resp.host;
    port = resp.port;
  }
  /* The coordinator gets a connection of its own (as the Java client does): the broker
   * answers a connection's requests in order, so heartbeats and commits must not wait
   * behind a fetch that the broker holds for fetch.wait.max.ms. */
  int32_t conn_id = node >= 0 ? INT32_MAX - node : -1;
  if (!err && !kerr && node >= 0 && host.ptr &&
      kw_cluster_ensure_broker(g->cl, conn_id, (const char *)host.ptr, (size_t)host.len, port)) {
    g->coordinator = conn_id;
    g->state = g->resume_stable ? G_STABLE : G_JOIN;
    g->resume_stable = false;
    g->next_heartbeat = now;
    g->retry_at = 0;
    KW_DBG(g->log, CGRP, "group %s: coordinator is node %d", g->set.group_id, node);
  } else {
    kw_grp_retry_later(g, G_FIND, now); /* COORDINATOR_NOT_AVAILABLE while __consumer_offsets is created, ... */
  }
  kw_arena_reset(&a);
}

static void send_find(kw_group *g, int64_t now) {
  if (now < g->retry_at) return;
  kw_conn *conn = NULL;
  for (int i = 0; i < g->cl->n_brokers && !conn; i++) {
    kw_conn *k = g->cl->brokers[i]->conn;
    if (k && kw_conn_get_state(k) == KW_CONN_READY) conn = k;
  }
  if (!conn) {
    kw_cluster_refresh_soon(g->cl, now); /* brings a connection up */
    return;
  }
  int v = kw_conn_version(conn, KW_API_FIND_COORDINATOR);
  kw_find_coordinator_req req;
  kw_msg_init(KW_SCHEMA_FIND_COORDINATOR_REQ, &req);
  kw_slice key = SL(g->set.group_id);
  if (v >= 4) {
    req.coordinator_keys = &key;
    req.n_coordinator_keys = 1;
  } else {
    req.key = key;
  }
  req.key_type = 0; /* group */
  gctx *c = kw_grp_new_ctx(g);
  if (c && kw_conn_request(conn, KW_API_FIND_COORDINATOR, v, &req, on_find, c, now) == 0) {
    g->state = G_FINDING;
    kw_conn_flush(conn);
  } else {
    kw_free(g->mem, c);
  }
}

/* ---- heartbeats ---- */

static void on_heartbeat(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  bool ok = kw_grp_current(c);
  int64_t sent_at = c->sent_at;
  kw_free(g->mem, c);
  if (!ok) return;
  g->hb_in_flight = false;
  if (g->state != G_STABLE) return;
  int64_t now = kw_now_ms();
  kw_heartbeat_resp resp;
  kw_arena a;
  kw_arena_init(&a, g->mem, 0);
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  int16_t kerr = err ? 0 : resp.error_code;
  kw_arena_reset(&a);
  /* Membership is confirmed as of when the heartbeat went out, not when its answer is
   * read: an answer read late (the process was stopped) says nothing about the time
   * since, when the session may have expired and the partitions moved on. */
  if (!err && kerr == 0) g->last_confirmed = sent_at;
  if (err) kw_grp_transport_error(g, err, now);
  if (err || kerr == 0) return;
  KW_DBG(g->log, CGRP, "group %s: Heartbeat answered %s", g->set.group_id, kw_kerr_name(kerr));
  if (kw_grp_coordinator_error(g, kerr, now)) return;
  if (kerr == KW_KERR_REBALANCE_IN_PROGRESS) {
    KW_DBG(g->log, CGRP, "group %s: rebalance", g->set.group_id);
    g->state = G_JOIN;
    g->retry_at = 0;
  } else if (kerr == KW_KERR_UNKNOWN_MEMBER_ID || kerr == KW_KERR_ILLEGAL_GENERATION ||
             kerr == KW_KERR_FENCED_INSTANCE_ID) {
    /* We are no longer a member: what we had is gone without a commit. */
    kw_log(g->log, KW_LOG_WARNING, "CGRP", "group %s: %s, partitions lost%s", g->set.group_id, kw_kerr_name(kerr),
           kerr == KW_KERR_FENCED_INSTANCE_ID ? " (another member has our group.instance.id: stopping)" : ", rejoining");
    kw_grp_drop_assignment(g, KW_REBALANCE_LOST);
    g->generation = -1;
    if (kerr == KW_KERR_FENCED_INSTANCE_ID) {
      g->state = G_DEAD;
      return;
    }
    kw_grp_set_member_id(g, (kw_slice){NULL, 0});
    g->state = G_JOIN;
    g->retry_at = 0;
  }
}

static void send_heartbeat(kw_group *g, int64_t now) {
  kw_conn *conn = kw_grp_coordinator_conn(g, now);
  if (!conn || g->hb_in_flight) return;
  kw_heartbeat_req req;
  kw_msg_init(KW_SCHEMA_HEARTBEAT_REQ, &req);
  req.group_id = SL(g->set.group_id);
  req.generation_id = g->generation;
  req.member_id = SL(g->member_id ? g->member_id : "");
  req.group_instance_id = g->set.instance_id ? SL(g->set.instance_id) : (kw_slice){NULL, 0};
  gctx *c = kw_grp_new_ctx(g);
  if (c && kw_conn_request(conn, KW_API_HEARTBEAT, -1, &req, on_heartbeat, c, now) == 0) {
    g->hb_in_flight = true;
    g->next_heartbeat = now + g->set.heartbeat_interval_ms;
    kw_conn_flush(conn);
  } else {
    kw_free(g->mem, c);
  }
}

/* ---- leaving ---- */

static void on_leave(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  (void)key, (void)ver, (void)body;
  gctx *c = ud;
  if (c->result) *c->result = err;
  if (c->done) *c->done = true;
  kw_free(c->g ? c->g->mem : NULL, c);
}

int kw_group_leave(kw_group *g, bool *done, int64_t now) {
  kw_grp_drop_assignment(g, KW_REBALANCE_REVOKED);
  if (g->set.consumer_protocol) {
    int err = kw_grp848_leave(g, now); /* written to the socket; nobody waits for its answer */
    g->state = G_IDLE;
    g->epoch++;
    g->generation = 0;
    if (done) *done = true;
    return err;
  }
  bool send = !g->set.instance_id && g->member_id && g->member_id[0] && g->generation >= 0;
  kw_conn *conn = send ? kw_grp_coordinator_conn(g, now) : NULL;
  g->state = G_IDLE;
  g->epoch++;
  if (!conn) {
    if (done) *done = true;
    return KW_OK;
  }
  kw_leave_group_req_member_identity me;
  kw_msg_init(KW_SCHEMA_LEAVE_GROUP_REQ_MEMBER_IDENTITY, &me);
  me.member_id = SL(g->member_id);
  me.group_instance_id = (kw_slice){NULL, 0};
  me.reason = SL("the consumer is closing");
  kw_leave_group_req req;
  kw_msg_init(KW_SCHEMA_LEAVE_GROUP_REQ, &req);
  req.group_id = SL(g->set.group_id);
  int v = kw_conn_version(conn, KW_API_LEAVE_GROUP);
  if (v >= 3) {
    req.members = &me;
    req.n_members = 1;
  } else {
    req.member_id = SL(g->member_id);
  }
  if (v < 5) me.reason = (kw_slice){NULL, 0};
  gctx *c = kw_grp_new_ctx(g);
  if (!c) return KW_ERR_NOMEM;
  c->done = done;
  int err = kw_conn_request(conn, KW_API_LEAVE_GROUP, v, &req, on_leave, c, now);
  if (err) {
    kw_free(g->mem, c);
    if (done) *done = true;
    return err;
  }
  kw_conn_flush(conn);
  kw_grp_set_member_id(g, (kw_slice){NULL, 0});
  g->generation = -1;
  return KW_OK;
}

/* ---- the loop ---- */

static bool metadata_ready(kw_group *g) {
  for (int i = 0; i < g->n_members; i++)
    for (int k = 0; k < g->members[i].n_topics; k++) {
      kw_topic *t = kw_cluster_topic(g->cl, g->members[i].topics[k], true);
      if (t && t->n_parts == 0 && t->error != KW_KERR_UNKNOWN_TOPIC_OR_PARTITION) return false;
    }
  return true;
}

void kw_group_run(kw_group *g, int64_t now) {
  if (g->state == G_STABLE || g->state == G_OFFSETS || g->state == G_SYNCING || g->state == G_JOINING) {
    /* max.poll.interval.ms: an application that stopped polling leaves the group, as
     * the Java client does; its next poll joins again. */
    if (now - g->last_poll > g->set.max_poll_interval_ms && g->state == G_STABLE) {
      kw_log(g->log, KW_LOG_WARNING, "CGRP", "group %s: no poll for %lld ms (max.poll.interval.ms): leaving",
             g->set.group_id, (long long)(now - g->last_poll));
      kw_group_leave(g, NULL, now);
      g->state = G_IDLE;
      return;
    }
  }
  if (g->set.consumer_protocol && g->state != G_FIND) {
    kw_grp848_run(g, now);
    return;
  }
  switch (g->state) {
  case G_IDLE:
  case G_DEAD:
  case G_FINDING:
  case G_JOINING:
  case G_SYNCING: break;
  case G_FIND: send_find(g, now); break;
  case G_JOIN:
    if (g->coordinator < 0) g->state = G_FIND;
    else send_join(g, now);
    break;
  case G_AWAIT_META:
    if (metadata_ready(g)) g->state = G_SYNC;
    else kw_cluster_refresh_soon(g->cl, now);
    if (g->state != G_SYNC) break;
    /* fall through */
  case G_SYNC: send_sync(g, now); break;
  case G_OFFSETS: kw_grp_send_offset_fetch(g, now); break;
  case G_STABLE:
    if (now >= g->next_heartbeat) send_heartbeat(g, now);
    if (g->set.auto_commit && now >= g->next_autocommit) {
      kw_group_commit(g, NULL, NULL, now);
      g->next_autocommit = now + g->set.auto_commit_interval_ms;
    }
    break;
  }
}

int64_t kw_group_deadline(const kw_group *g) {
  switch (g->state) {
  case G_STABLE: {
    int64_t d = g->hb_in_flight ? INT64_MAX : g->next_heartbeat;
    if (g->set.auto_commit && g->next_autocommit < d) d = g->next_autocommit;
    int64_t poll_deadline = g->last_poll + g->set.max_poll_interval_ms + 1;
    return poll_deadline < d ? poll_deadline : d;
  }
  case G_JOIN:
    if (g->set.consumer_protocol) return g->hb_in_flight ? INT64_MAX : g->next_heartbeat;
    return g->retry_at;
  case G_FIND:
  case G_SYNC:
  case G_OFFSETS: return g->retry_at;
  case G_AWAIT_META: return kw_now_ms() + 50;
  default: return INT64_MAX;
  }
}

void kw_group_polled(kw_group *g, int64_t now) {
  g->last_poll = now;
  if (g->state == G_IDLE && g->n_topics > 0) { /* back after leaving for max.poll.interval.ms */
    g->state = g->coordinator >= 0 ? G_JOIN : G_FIND;
    g->retry_at = 0;
  }
}

void kw_group_auto_store(kw_group *g, const char *topic, int32_t partition, int64_t next_offset) {
  if (!g->set.auto_store) return;
  gtp *x = kw_grp_find_gtp(g, topic, partition);
  if (x) x->stored = next_offset;
}

int kw_group_store(kw_group *g, const char *topic, int32_t partition, int64_t next_offset) {
  gtp *x = kw_grp_find_gtp(g, topic, partition);
  if (!x) return KW_ERR_INVALID_ARG;
  x->stored = next_offset;
  return KW_OK;
}

int kw_group_subscribe(kw_group *g, const char *const *topics, int n) {
  if (n <= 0 || !topics) return KW_ERR_INVALID_ARG;
  char **copy = kw_alloc(g->mem, sizeof *copy * (size_t)n);
  if (!copy) return KW_ERR_NOMEM;
  for (int i = 0; i < n; i++) {
    copy[i] = kw_grp_dup_slice(g->mem, SL(topics[i]));
    kw_cluster_topic(g->cl, topics[i], true);
  }
  for (int i = 0; i < g->n_topics; i++) kw_free(g->mem, g->topics[i]);
  kw_free(g->mem, g->topics);
  g->topics = copy;
  g->n_topics = n;
  g->last_poll = kw_now_ms();
  if (g->state == G_IDLE || g->state == G_STABLE) {
    g->state = g->coordinator >= 0 ? G_JOIN : G_FIND;
    g->retry_at = 0;
  }
  return KW_OK;
}

int64_t kw_group_committed(const kw_group *g, const char *topic, int32_t partition) {
  for (int i = 0; i < g->n_assigned; i++)
    if (g->assigned[i].partition == partition && strcmp(g->assigned[i].t->name, topic) == 0)
      return g->assigned[i].committed;
  return -1;
}

bool kw_group_is_stable(const kw_group *g) { return g->state == G_STABLE; }

bool kw_group_may_deliver(kw_group *g, int64_t now) {
  /* Unconfirmed for longer than the session or the rebalance timeout (the process was
   * stopped, say): the group may have moved on without us. Hand out nothing until a
   * heartbeat says we are still a member — or fails and takes the partitions away. */
  int64_t limit = g->set.session_timeout_ms < g->set.max_poll_interval_ms ? g->set.session_timeout_ms
                                                                          : g->set.max_poll_interval_ms;
  if (g->state != G_STABLE || now - g->last_confirmed <= limit) return true;
  if (!g->hb_in_flight) g->next_heartbeat = now;
  return false;
}
const char *kw_group_member_id(const kw_group *g) { return g->member_id ? g->member_id : ""; }
int32_t kw_group_generation(const kw_group *g) { return g->generation; }
int32_t kw_group_coordinator(const kw_group *g) { return g->coordinator; }
uint32_t kw_group_revocations(const kw_group *g) { return g->revocations; }

void kw_group_set_metrics(kw_group *g, struct kw_metrics *m) { g->metrics = m; }
void kw_group_set_auto_store(kw_group *g, bool on) { g->set.auto_store = on; }

void kw_group_set_rebalance_cb(kw_group *g, kw_rebalance_cb cb, void *ud) {
  g->rb_cb = cb;
  g->rb_ud = ud;
}

kw_group *kw_group_create(kw_cluster *cl, kw_consumer *cons, const kw_group_settings *set, const kw_mem *mem,
                          const kw_logger *log) {
  kw_group *g = kw_alloc(mem, sizeof *g);
  if (!g) return NULL;
  memset(g, 0, sizeof *g);
  g->cl = cl;
  g->cons = cons;
  g->set = *set;
  g->mem = mem;
  g->log = log;
  g->coordinator = -1;
  g->generation = -1;
  g->state = G_IDLE;
  return g;
}

void kw_group_free(kw_group *g) {
  if (!g) return;
  free_members(g);
  for (int i = 0; i < g->n_topics; i++) kw_free(g->mem, g->topics[i]);
  kw_free(g->mem, g->topics);
  kw_free(g->mem, g->assigned);
  kw_free(g->mem, g->member_id);
  kw_free(g->mem, g);
}
