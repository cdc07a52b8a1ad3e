/* Consumer groups, the classic protocol's membership: JoinGroup (subscriptions, the
 * leader's member list) and SyncGroup (the leader's assignment, and applying ours). */
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
#include "core/kw_str.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"

/* ---- SyncGroup ---- */

static bool slice_is(kw_slice s, const char *str) {
  return s.ptr && (size_t)s.len == strlen(str) && memcmp(s.ptr, str, (size_t)s.len) == 0;
}


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
      /* one we had keeps its state (and stays fresh if it was never announced) */
      next[k] = old ? *old : (gtp){topic, asg.assigned_partitions[t].partitions[p], -1, -1, -1, true};
      k++;
    }
  }
  kw_arena_reset(&a);
  /* What we had and no longer have: revoked (only in the cooperative protocol can there be any). */
  gtp *gone = kw_alloc(g->mem, sizeof *gone * (size_t)(g->n_assigned > 0 ? g->n_assigned : 1));
  int n_gone = 0, n_unannounced = 0;
  for (int i = 0; gone && i < g->n_assigned; i++) {
    bool kept = false;
    for (int j = 0; j < k && !kept; j++)
      kept = next[j].t == g->assigned[i].t && next[j].partition == g->assigned[i].partition;
    if (kept) continue;
    if (g->assigned[i].fresh) n_unannounced++; /* never announced: nothing to revoke */
    else gone[n_gone++] = g->assigned[i];
  }
  if (n_gone) { /* commit what was processed of them first (Java commits before any rebalance) */
    kw_grp_commit_revoked(g, gone, n_gone, kw_now_ms());
    kw_grp_notify(g, KW_REBALANCE_REVOKED, gone, n_gone);
    for (int i = 0; i < n_gone; i++) kw_fetcher_remove(g->cons, gone[i].t->name, gone[i].partition);
  }
  /* The group saw us own all of them in our JoinGroup, so the leader held them back
   * from their new owner: only our next join, without them, hands them on. */
  if (n_gone || n_unannounced) g->rejoin_soon = true;
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
    if (kerr == KW_KERR_UNKNOWN_MEMBER_ID || kerr == KW_KERR_ILLEGAL_GENERATION) kw_grp_fenced(g, kerr, now);
    if (kerr == KW_KERR_FENCED_INSTANCE_ID) {
      kw_grp_fail(g, 0, kerr, "SyncGroup: another member took our group.instance.id");
    } else {
      kw_grp_retry_later(g, G_JOIN, now); /* REBALANCE_IN_PROGRESS and the like: join again */
      if (kerr == KW_KERR_REBALANCE_IN_PROGRESS) g->retry_at = now;
    }
  }
  kw_arena_reset(&a);
}

/* Encodes a member's assignment as ConsumerProtocolAssignment v0 (2-byte version
 * first), every partition of it: the list is sized to the assignment. kw_assign gives
 * it sorted by topic, so each run of one topic becomes one topic entry. */
static int encode_assignment(const kw_asg_result *r, const kw_mem *mem, kw_buf *out) {
  size_t cap = r->n > 0 ? (size_t)r->n : 1;
  kw_consumer_protocol_assignment_topic_partition *tps = kw_alloc(mem, sizeof *tps * cap);
  int32_t *parts = kw_alloc(mem, sizeof *parts * cap);
  int err = KW_ERR_NOMEM;
  if (!tps || !parts) goto out;
  int nt = 0;
  for (int i = 0; i < r->n; i++) {
    if (nt == 0 || !slice_is(tps[nt - 1].topic, r->tps[i].topic)) {
      kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT_TOPIC_PARTITION, &tps[nt]);
      tps[nt].topic = SL(r->tps[i].topic);
      tps[nt].partitions = &parts[i];
      tps[nt++].n_partitions = 0;
    }
    parts[i] = r->tps[i].partition;
    tps[nt - 1].n_partitions++;
  }
  kw_consumer_protocol_assignment asg;
  kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, &asg);
  asg.assigned_partitions = tps;
  asg.n_assigned_partitions = nt;
  kw_buf_i16(out, 0);
  err = kw_msg_encode(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, 0, false, &asg, out);
out:
  kw_free(mem, tps);
  kw_free(mem, parts);
  return err;
}

/* ---- what the leader assigned from ---- */

/* The leader remembers how many partitions each subscribed topic had when it assigned
 * them (0: the topic did not exist yet). When metadata later says otherwise (the topic
 * was created after the members subscribed, or partitions were added) it joins again
 * so the new partitions get an owner, as the Java leader does (its assignment snapshot
 * against the metadata snapshot). */
static void keep_snapshot(kw_group *g) {
  int cap = 0;
  for (int i = 0; i < g->n_members; i++) cap += g->members[i].n_topics;
  kw_free(g->mem, g->snap);
  g->n_snap = 0;
  g->snap = kw_alloc(g->mem, sizeof *g->snap * (size_t)(cap > 0 ? cap : 1));
  if (!g->snap) return; /* no snapshot: no metadata-driven rejoin, the rest goes on */
  for (int i = 0; i < g->n_members; i++)
    for (int k = 0; k < g->members[i].n_topics; k++) {
      kw_topic *t = kw_cluster_topic(g->cl, g->members[i].topics[k], true); /* keeps it in Metadata requests */
      bool seen = false;
      for (int j = 0; j < g->n_snap && !seen; j++) seen = g->snap[j].t == t;
      if (t && !seen) g->snap[g->n_snap++] = (gsnap){t, t->n_parts};
    }
}

bool kw_grp_assignment_outdated(const kw_group *g) {
  for (int i = 0; g->leader && i < g->n_snap; i++)
    if (g->snap[i].t->n_parts != g->snap[i].n_parts) return true;
  return false;
}

void kw_grp_send_sync(kw_group *g, int64_t now) {
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
      kw_free(g->mem, res);
      res = NULL;
      kw_grp_retry_later(g, G_SYNC, now);
      goto out;
    }
    for (int i = 0; i < g->n_members; i++) kw_buf_init_grow(&bufs[i], g->mem);
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
      kw_log(g->log, KW_LOG_ERR, "CGRP", "group %s: assignor %s failed: %s", g->set.group_id, g->protocol,
             kw_strerror(err));
      kw_free(g->mem, res);
      res = NULL;
      kw_grp_retry_later(g, G_SYNC, now);
      goto out;
    }
    for (int i = 0; i < g->n_members; i++) {
      if ((err = encode_assignment(&res[i], g->mem, &bufs[i]))) {
        /* Never send a cut or empty assignment: the partitions would be nobody's. */
        kw_log(g->log, KW_LOG_ERR, "CGRP", "group %s: cannot encode the assignment of %s: %s", g->set.group_id,
               g->members[i].id, kw_strerror(err));
        kw_grp_retry_later(g, G_SYNC, now);
        goto out;
      }
      kw_msg_init(KW_SCHEMA_SYNC_GROUP_REQ_ASSIGNMENT, &as[i]);
      as[i].member_id = SL(g->members[i].id);
      as[i].assignment = (kw_slice){bufs[i].data, (int32_t)bufs[i].len};
    }
    req.assignments = as;
    req.n_assignments = g->n_members;
    keep_snapshot(g);
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

void kw_grp_free_members(kw_group *g) {
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
  kw_grp_free_members(g);
  g->members = kw_alloc(g->mem, sizeof *g->members * (size_t)(resp->n_members > 0 ? resp->n_members : 1));
  if (!g->members) return KW_ERR_NOMEM;
  for (int32_t i = 0; i < resp->n_members; i++) {
    gmember *m = &g->members[g->n_members++];
    memset(m, 0, sizeof *m);
    m->id = kw_slice_strdup(g->mem, resp->members[i].member_id);
    m->instance = resp->members[i].group_instance_id.ptr ? kw_slice_strdup(g->mem, resp->members[i].group_instance_id) : NULL;
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
        m->topics[m->n_topics++] = kw_slice_strdup(g->mem, sub.topics[t]);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)sub.topics[t].len, (const char *)sub.topics[t].ptr);
        kw_cluster_topic(g->cl, name, true); /* the leader needs every member's topics' metadata */
      }
      int owned = 0;
      for (int32_t t = 0; t < sub.n_owned_partitions; t++) owned += sub.owned_partitions[t].n_partitions;
      m->owned = owned ? kw_alloc(g->mem, sizeof *m->owned * (size_t)owned) : NULL;
      for (int32_t t = 0; m->owned && t < sub.n_owned_partitions; t++)
        for (int32_t p = 0; p < sub.owned_partitions[t].n_partitions; p++)
          m->owned[m->n_owned++] = (kw_asg_tp){kw_slice_strdup(g->mem, sub.owned_partitions[t].topic),
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
      kw_grp_free_members(g);
      g->state = G_SYNC;
    }
    g->retry_at = 0;
  } else if (!kw_grp_coordinator_error(g, kerr, now)) {
    if (kerr == KW_KERR_UNKNOWN_MEMBER_ID || kerr == KW_KERR_ILLEGAL_GENERATION) kw_grp_fenced(g, kerr, now);
    if (kerr == KW_KERR_FENCED_INSTANCE_ID || kerr == KW_KERR_GROUP_AUTHORIZATION_FAILED ||
        kerr == KW_KERR_INVALID_SESSION_TIMEOUT || kerr == KW_KERR_INCONSISTENT_GROUP_PROTOCOL) {
      kw_grp_fail(g, 0, kerr, "JoinGroup refused");
    } else {
      kw_grp_retry_later(g, G_JOIN, now); /* COORDINATOR_LOAD_IN_PROGRESS, REBALANCE_IN_PROGRESS, ... */
      if (kerr == KW_KERR_UNKNOWN_MEMBER_ID) g->retry_at = now;
    }
  }
  kw_arena_reset(&a);
}

/* This member's subscription, as ConsumerProtocolSubscription v1 (owned partitions
 * for the cooperative protocol): every topic and every owned partition, however many —
 * an owned partition left out would be handed to another member while we keep it. */
static int encode_subscription(kw_group *g, kw_buf *out) {
  size_t cap = g->n_assigned > 0 ? (size_t)g->n_assigned : 1;
  kw_slice *names = kw_alloc(g->mem, sizeof *names * (size_t)(g->n_topics > 0 ? g->n_topics : 1));
  kw_consumer_protocol_subscription_topic_partition *owned = kw_alloc(g->mem, sizeof *owned * cap);
  int32_t *parts = kw_alloc(g->mem, sizeof *parts * cap);
  const gtp **sorted = kw_grp_sorted_assignment(g);
  int err = KW_ERR_NOMEM;
  if (!names || !owned || !parts || !sorted) goto out;
  for (int i = 0; i < g->n_topics; i++) names[i] = SL(g->topics[i]);
  int no = 0;
  for (int i = 0; i < g->n_assigned; i++) {
    if (no == 0 || sorted[i - 1]->t != sorted[i]->t) {
      kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION_TOPIC_PARTITION, &owned[no]);
      owned[no].topic = SL(sorted[i]->t->name);
      owned[no].partitions = &parts[i];
      owned[no++].n_partitions = 0;
    }
    parts[i] = sorted[i]->partition;
    owned[no - 1].n_partitions++;
  }
  kw_consumer_protocol_subscription sub;
  kw_msg_init(KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION, &sub);
  sub.topics = names;
  sub.n_topics = g->n_topics;
  sub.owned_partitions = owned;
  sub.n_owned_partitions = no;
  kw_buf_i16(out, 1);
  err = kw_msg_encode(KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION, 1, false, &sub, out);
out:
  kw_free(g->mem, names);
  kw_free(g->mem, owned);
  kw_free(g->mem, parts);
  kw_free(g->mem, (void *)sorted);
  return err;
}

static bool cooperative(const kw_group *g) {
  return g->set.n_assignors > 0 && g->set.assignors[0] == KW_ASSIGNOR_COOPERATIVE_STICKY;
}

void kw_grp_send_join(kw_group *g, int64_t now) {
  kw_conn *conn = kw_grp_coordinator_conn(g, now);
  if (!conn || now < g->retry_at) return;
  /* Eager protocol: commit, then give everything up before joining. Both go on the
   * coordinator's connection, which Kafka serves in order: the commit lands first. */
  if (!cooperative(g) && g->n_assigned > 0) {
    kw_grp_commit_revoked(g, g->assigned, g->n_assigned, now); /* even while an auto commit is in flight */
    kw_grp_drop_assignment(g, KW_REBALANCE_REVOKED);
  }
  kw_buf meta;
  kw_buf_init_grow(&meta, g->mem);
  int err = encode_subscription(g, &meta);
  if (err) {
    kw_log(g->log, KW_LOG_ERR, "CGRP", "group %s: cannot encode the subscription: %s", g->set.group_id,
           kw_strerror(err));
    kw_buf_free(&meta);
    kw_grp_retry_later(g, G_JOIN, now);
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
