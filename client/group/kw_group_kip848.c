/* The consumer group protocol of KIP-848 (group.protocol=consumer): one
 * ConsumerGroupHeartbeat carries the subscription and the partitions owned; the
 * broker computes the assignment and sends the member its target. The member
 * reconciles — revokes what is no longer its own (committing first), takes what is
 * new (from committed offsets) — and acknowledges with its next heartbeat. No
 * JoinGroup, no SyncGroup, no client-side assignor. */
#include <stdio.h>
#include <string.h>
#include "core/kw_clock.h"
#include "core/kw_hooks.h"
#include "client/group/kw_group_int.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"

/* KIP-1082: from version 1 the member makes up its own id (a random UUID, base64url). */
static void make_member_id(kw_group *g) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint8_t raw[16];
  uint64_t x[2] = {kw_random_u64(), kw_random_u64()}; /* the simulator's under kw_hooks */
  memcpy(raw, x, sizeof raw);
  char id[23];
  uint32_t acc = 0;
  int bits = 0, k = 0;
  for (size_t i = 0; i < sizeof raw; i++) {
    acc = acc << 8 | raw[i];
    bits += 8;
    while (bits >= 6) id[k++] = b64[(acc >> (bits -= 6)) & 63];
  }
  if (bits) id[k++] = b64[(acc << (6 - bits)) & 63];
  id[k] = 0;
  kw_grp_set_member_id(g, (kw_slice){(const uint8_t *)id, k});
}

static kw_topic *topic_by_id(kw_group *g, const kw_uuid *id) {
  for (int i = 0; i < g->cl->n_topics; i++)
    if (memcmp(&g->cl->topics[i]->id, id, sizeof *id) == 0) return g->cl->topics[i];
  return NULL;
}

/* Applies the broker's target assignment. False if a topic id is not known yet (the
 * metadata refresh brings it; the next heartbeat answer repeats the target). */
static bool reconcile(kw_group *g, const kw_consumer_group_heartbeat_resp_assignment *target, int64_t now) {
  int n = 0;
  for (int32_t t = 0; t < target->n_topic_partitions; t++) {
    if (!topic_by_id(g, &target->topic_partitions[t].topic_id)) {
      kw_cluster_refresh_soon(g->cl, now);
      return false;
    }
    n += target->topic_partitions[t].n_partitions;
  }
  gtp *next = kw_alloc(g->mem, sizeof *next * (size_t)(n > 0 ? n : 1));
  gtp *gone = kw_alloc(g->mem, sizeof *gone * (size_t)(g->n_assigned > 0 ? g->n_assigned : 1));
  if (!next || !gone) {
    kw_free(g->mem, next);
    kw_free(g->mem, gone);
    return false;
  }
  int k = 0, n_added = 0;
  for (int32_t t = 0; t < target->n_topic_partitions; t++) {
    kw_topic *topic = topic_by_id(g, &target->topic_partitions[t].topic_id);
    for (int32_t p = 0; p < target->topic_partitions[t].n_partitions; p++) {
      int32_t part = target->topic_partitions[t].partitions[p];
      gtp *old = kw_grp_find_gtp(g, topic->name, part);
      /* one we had keeps its state (and stays fresh if it was never announced) */
      next[k++] = old ? *old : (gtp){topic, part, -1, -1, -1, true};
      n_added += !old;
    }
  }
  int n_gone = 0;
  for (int i = 0; i < g->n_assigned; i++) {
    bool kept = false;
    for (int j = 0; j < k && !kept; j++) kept = next[j].t == g->assigned[i].t && next[j].partition == g->assigned[i].partition;
    if (!kept && !g->assigned[i].fresh) gone[n_gone++] = g->assigned[i]; /* fresh: never announced */
  }
  if (n_added == 0 && k == g->n_assigned) { /* the target we already hold: nothing to reconcile */
    kw_free(g->mem, next);
    kw_free(g->mem, gone);
    return true;
  }
  if (n_gone) { /* commit what was processed before giving it up */
    kw_grp_commit_revoked(g, gone, n_gone, now);
    kw_grp_notify(g, KW_REBALANCE_REVOKED, gone, n_gone);
    for (int i = 0; i < n_gone; i++) kw_fetcher_remove(g->cons, gone[i].t->name, gone[i].partition);
  }
  kw_free(g->mem, gone);
  kw_free(g->mem, g->assigned);
  g->assigned = next;
  g->n_assigned = k;
  g->state = G_OFFSETS; /* then STABLE, which acknowledges with a heartbeat at once */
  g->rejoin_soon = true;
  g->retry_at = 0;
  return true;
}

/* Assigned partitions not yet set up: their committed offsets not read, the
 * application not told. */
static bool offsets_pending(const kw_group *g) {
  for (int i = 0; i < g->n_assigned; i++)
    if (g->assigned[i].fresh) return true;
  return false;
}

static void on_heartbeat848(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  gctx *c = ud;
  kw_group *g = c->g;
  bool ok = kw_grp_current(c);
  int64_t sent_at = c->sent_at;
  kw_free(g->mem, c);
  if (!ok) return;
  g->hb_in_flight = false;
  int64_t now = kw_now_ms();
  kw_arena a;
  kw_arena_init(&a, g->mem, 0);
  kw_consumer_group_heartbeat_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  int16_t kerr = err ? 0 : resp.error_code;
  if (err) {
    if (!kw_grp_transport_error(g, err, now)) g->next_heartbeat = now + g->set.retry_backoff_ms;
  } else if (kerr == 0) {
    if (resp.member_id.ptr && resp.member_id.len > 0) kw_grp_set_member_id(g, resp.member_id);
    if (resp.member_epoch != g->generation)
      KW_DBG(g->log, CGRP, "group %s: member %s epoch %d", g->set.group_id, g->member_id, resp.member_epoch);
    g->generation = resp.member_epoch;
    g->last_confirmed = sent_at; /* as of the request, not its (maybe late) answer */
    if (resp.heartbeat_interval_ms > 0) g->set.heartbeat_interval_ms = resp.heartbeat_interval_ms;
    g->next_heartbeat = now + g->set.heartbeat_interval_ms;
    /* Back with the coordinator (found again, or after a fence): partitions taken but
     * whose committed offsets were never read (the OffsetFetch was lost with the old
     * coordinator) are still to be set up, even when the answer repeats the target we
     * hold — as Java's consumer keeps initialising assigned partitions without a
     * position. */
    if (g->state == G_JOIN) {
      g->state = offsets_pending(g) ? G_OFFSETS : G_STABLE;
      g->retry_at = 0;
    }
    if (resp.assignment && !reconcile(g, resp.assignment, now)) g->next_heartbeat = now + g->set.retry_backoff_ms;
  } else if (kw_grp_coordinator_error(g, kerr, now)) {
  } else if (kerr == KW_KERR_UNKNOWN_MEMBER_ID || kerr == KW_KERR_FENCED_MEMBER_EPOCH) {
    kw_grp_fenced(g, kerr, now); /* the broker no longer counts us in */
  } else if (kerr == KW_KERR_COORDINATOR_LOAD_IN_PROGRESS) {
    g->next_heartbeat = now + g->set.retry_backoff_ms;
  } else {
    /* UNSUPPORTED_VERSION (a broker with KIP-848 turned off), UNRELEASED_INSTANCE_ID,
     * GROUP_AUTHORIZATION_FAILED, ...: Java's consumer throws them from poll. */
    char what[256];
    snprintf(what, sizeof what, "ConsumerGroupHeartbeat refused%s%.*s", resp.error_message.ptr ? ": " : "",
             resp.error_message.ptr ? (int)resp.error_message.len : 0,
             resp.error_message.ptr ? (const char *)resp.error_message.ptr : "");
    kw_grp_fail(g, 0, kerr, what);
  }
  kw_arena_reset(&a);
}

static int send_heartbeat848(kw_group *g, int32_t epoch, int64_t now) {
  kw_conn *conn = kw_grp_coordinator_conn(g, now);
  if (!conn) return KW_ERR_STATE;
  int v = kw_conn_version(conn, KW_API_CONSUMER_GROUP_HEARTBEAT);
  if (v < 0) { /* Kafka < 3.7, or KIP-848 not enabled: Java's UnsupportedVersionException */
    kw_grp_fail(g, KW_ERR_UNSUPPORTED_VERSION, 0,
                "the broker does not offer ConsumerGroupHeartbeat: group.protocol=consumer (KIP-848) needs Kafka 4.0+ "
                "or 3.7+ with the consumer rebalance protocol enabled");
    return KW_ERR_UNSUPPORTED_VERSION;
  }
  if (v >= 1 && (!g->member_id || !g->member_id[0])) make_member_id(g);
  /* Every subscribed topic and every owned partition (by topic id, topic by topic):
   * a topic left out is one the broker never assigns, an owned partition left out one
   * it hands to another member while we still fetch it. */
  size_t cap = g->n_assigned > 0 ? (size_t)g->n_assigned : 1;
  kw_slice *names = kw_alloc(g->mem, sizeof *names * (size_t)(g->n_topics > 0 ? g->n_topics : 1));
  kw_consumer_group_heartbeat_req_topic_partitions *owned = kw_alloc(g->mem, sizeof *owned * cap);
  int32_t *parts = kw_alloc(g->mem, sizeof *parts * cap);
  const gtp **sorted = kw_grp_sorted_assignment(g);
  int err = KW_ERR_NOMEM;
  if (!names || !owned || !parts || !sorted) goto out;
  for (int i = 0; i < g->n_topics; i++) names[i] = SL(g->topics[i]);
  int no = 0;
  for (int i = 0; i < g->n_assigned; i++) {
    if (no == 0 || sorted[i - 1]->t != sorted[i]->t) {
      kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_REQ_TOPIC_PARTITIONS, &owned[no]);
      owned[no].topic_id = sorted[i]->t->id;
      owned[no].partitions = &parts[i];
      owned[no++].n_partitions = 0;
    }
    parts[i] = sorted[i]->partition;
    owned[no - 1].n_partitions++;
  }
  kw_consumer_group_heartbeat_req req;
  kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_REQ, &req);
  req.group_id = SL(g->set.group_id);
  req.member_id = SL(g->member_id ? g->member_id : "");
  req.member_epoch = epoch;
  req.instance_id = g->set.instance_id ? SL(g->set.instance_id) : (kw_slice){NULL, 0};
  req.rebalance_timeout_ms = (int32_t)g->set.max_poll_interval_ms;
  req.subscribed_topic_names = names;
  req.n_subscribed_topic_names = g->n_topics;
  req.topic_partitions = owned;
  req.n_topic_partitions = no;
  gctx *c = kw_grp_new_ctx(g);
  err = c ? kw_conn_request(conn, KW_API_CONSUMER_GROUP_HEARTBEAT, v, &req, on_heartbeat848, c, now) : KW_ERR_NOMEM;
  if (err) {
    kw_free(g->mem, c);
    goto out;
  }
  g->hb_in_flight = true;
  g->next_heartbeat = now + g->set.heartbeat_interval_ms;
  kw_conn_flush(conn);
out:
  kw_free(g->mem, names);
  kw_free(g->mem, owned);
  kw_free(g->mem, parts);
  kw_free(g->mem, (void *)sorted);
  return err;
}

void kw_grp848_run(kw_group *g, int64_t now) {
  switch (g->state) {
  case G_JOIN: /* join (epoch 0) or rejoin after being fenced */
    if (g->coordinator < 0) {
      g->state = G_FIND;
    } else if (!g->hb_in_flight && now >= g->next_heartbeat) {
      if (g->generation < 0) g->generation = 0;
      send_heartbeat848(g, g->generation, now);
    }
    break;
  case G_OFFSETS: /* heartbeats go on while committed offsets are fetched (see kw_group_run) */
    if (!g->hb_in_flight && now >= g->next_heartbeat) send_heartbeat848(g, g->generation, now);
    if (g->state == G_OFFSETS) kw_grp_send_offset_fetch(g, now);
    break;
  case G_STABLE:
    if (g->rejoin_soon) { /* a new assignment was taken: acknowledge now */
      g->rejoin_soon = false;
      g->next_heartbeat = now;
    }
    if (!g->hb_in_flight && now >= g->next_heartbeat) send_heartbeat848(g, g->generation, now);
    if (g->set.auto_commit && now >= g->next_autocommit) {
      kw_group_commit(g, NULL, NULL, NULL, now);
      g->next_autocommit = now + g->set.auto_commit_interval_ms;
    }
    break;
  default: break;
  }
}

/* Leaving is a heartbeat with epoch -1 (-2 for a static member, whose partitions wait
 * for it to come back). */
int kw_grp848_leave(kw_group *g, int64_t now) {
  if (g->generation <= 0 || !g->member_id) return KW_OK;
  return send_heartbeat848(g, g->set.instance_id ? -2 : -1, now);
}
