/* Consumer groups, the core shared by both protocols (see kw_group.h): coordinator
 * discovery (FindCoordinator), the assignment as the application sees it, heartbeats,
 * leaving, and the state machine's loop. JoinGroup/SyncGroup are kw_group_classic.c,
 * commits and committed offsets kw_group_commit.c, KIP-848 kw_group_kip848.c.
 *
 * Classic states: FIND (coordinator) -> JOIN -> [leader: AWAIT_META -> assign] -> SYNC ->
 * OFFSETS (committed offsets of the new partitions) -> STABLE (heartbeats, auto
 * commit) -> back to JOIN on REBALANCE_IN_PROGRESS, to FIND when the coordinator
 * moves. Every request carries the group's epoch; answers from before a reset are
 * ignored. */
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

void kw_grp_set_member_id(kw_group *g, kw_slice id) {
  char *d = kw_slice_strdup(g->mem, id);
  if (!d) return;
  kw_free(g->mem, g->member_id);
  g->member_id = d;
}

gctx *kw_grp_new_ctx(kw_group *g) {
  gctx *c = kw_alloc(g->mem, sizeof *c);
  if (c) *c = (gctx){g, g->epoch, kw_now_ms(), NULL, NULL, false, g->generation, NULL};
  return c;
}

/* The answer belongs to the group as it is now (not from before a reset or close). */
bool kw_grp_current(gctx *c) { return c->g && c->epoch == c->g->epoch && c->g->state != G_DEAD; }

kw_conn *kw_grp_coordinator_conn(kw_group *g, int64_t now) {
  if (g->coordinator < 0) return NULL;
  kw_conn *c = kw_cluster_conn(g->cl, g->coordinator, now);
  kw_broker *b = c ? NULL : kw_cluster_broker(g->cl, g->coordinator);
  /* Its last connection attempt failed: the coordinator may be gone for good. Or the
   * cluster no longer knows it (a rebootstrap forgot every broker): find it again. */
  if (b && b->failed && b->conn && kw_conn_get_state(b->conn) == KW_CONN_DOWN)
    kw_grp_transport_error(g, KW_ERR_CONNECT, now);
  else if (!c && !b)
    kw_grp_transport_error(g, KW_ERR_DISCONNECTED, now);
  g->coord_wait_until = c ? 0 : now + g->set.retry_backoff_ms;
  return c;
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
  /* Fresh partitions (fetching their committed offsets) were never announced as
   * assigned, nor fetched: they are not taken back either. Announced ones go first. */
  int n = 0;
  for (int i = 0; i < g->n_assigned; i++)
    if (!g->assigned[i].fresh) {
      gtp x = g->assigned[n];
      g->assigned[n++] = g->assigned[i];
      g->assigned[i] = x;
    }
  kw_grp_notify(g, kind, g->assigned, n);
  for (int i = 0; i < n; i++) kw_fetcher_remove(g->cons, g->assigned[i].t->name, g->assigned[i].partition);
  kw_free(g->mem, g->assigned);
  g->assigned = NULL;
  g->n_assigned = 0;
}

static int cmp_gtp_ptr(const void *a, const void *b) {
  const gtp *x = *(const gtp *const *)a, *y = *(const gtp *const *)b;
  int r = strcmp(x->t->name, y->t->name);
  return r ? r : (x->partition > y->partition) - (x->partition < y->partition);
}

const gtp **kw_grp_sorted_assignment(kw_group *g) {
  const gtp **v = kw_alloc(g->mem, sizeof *v * (size_t)(g->n_assigned > 0 ? g->n_assigned : 1));
  if (!v) return NULL;
  for (int i = 0; i < g->n_assigned; i++) v[i] = &g->assigned[i];
  qsort(v, (size_t)g->n_assigned, sizeof *v, cmp_gtp_ptr);
  return v;
}

void kw_grp_fenced(kw_group *g, int16_t kerr, int64_t now) {
  if (g->n_assigned > 0)
    kw_log(g->log, KW_LOG_WARNING, "CGRP", "group %s: %s: %d partition(s) lost, joining again", g->set.group_id,
           kw_kerr_name(kerr), g->n_assigned);
  kw_grp_drop_assignment(g, KW_REBALANCE_LOST);
  if (g->set.consumer_protocol) {
    g->generation = 0; /* KIP-848: the same (client-made) member id, at epoch 0 */
    g->next_heartbeat = now;
  } else {
    kw_grp_set_member_id(g, (kw_slice){NULL, 0});
    g->generation = -1;
  }
  g->hb_in_flight = false;
  g->state = G_JOIN;
  g->retry_at = 0;
}

void kw_grp_fail(kw_group *g, int err, int16_t kerr, const char *what) {
  if (!err) err = kerr == KW_KERR_UNSUPPORTED_VERSION ? KW_ERR_UNSUPPORTED_VERSION : KW_ERR_BROKER;
  kw_log(g->log, KW_LOG_ERR, "CGRP", "group %s: %s (%s%s%s): the consumer stops", g->set.group_id, what,
         kw_errname(err), kerr ? ", " : "", kerr ? kw_kerr_name(kerr) : "");
  if (g->n_assigned > 0) kw_grp_drop_assignment(g, KW_REBALANCE_LOST);
  g->state = G_DEAD;
  g->hb_in_flight = false;
  g->fatal = err;
  g->fatal_kerr = kerr;
}

int kw_group_error(const kw_group *g, int16_t *kafka_error) {
  bool dead = g->state == G_DEAD && g->fatal;
  if (kafka_error) *kafka_error = dead ? g->fatal_kerr : 0;
  return dead ? g->fatal : KW_OK;
}

gtp *kw_grp_find_gtp(kw_group *g, const char *topic, int32_t partition) {
  for (int i = 0; i < g->n_assigned; i++)
    if (g->assigned[i].partition == partition && strcmp(g->assigned[i].t->name, topic) == 0) return &g->assigned[i];
  return NULL;
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
    g->retry_at = now + g->set.retry_backoff_ms; /* and look again then, not at once */
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
  if (g->state != G_STABLE && g->state != G_OFFSETS) return;
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
  } else if (kerr == KW_KERR_FENCED_INSTANCE_ID) {
    kw_grp_fail(g, 0, kerr, "another member has our group.instance.id");
  } else if (kerr == KW_KERR_UNKNOWN_MEMBER_ID || kerr == KW_KERR_ILLEGAL_GENERATION) {
    kw_grp_fenced(g, kerr, now); /* we are no longer a member: what we had is gone without a commit */
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
  /* joined or still joining: any member id the group gave us (Java's maybeLeaveGroup) */
  bool send = !g->set.instance_id && g->member_id && g->member_id[0];
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
    else kw_grp_send_join(g, now);
    break;
  case G_AWAIT_META:
    if (metadata_ready(g)) g->state = G_SYNC;
    else kw_cluster_refresh_soon(g->cl, now);
    if (g->state != G_SYNC) break;
    /* fall through */
  case G_SYNC: kw_grp_send_sync(g, now); break;
  case G_OFFSETS:
    /* Committed offsets can take a while (a pending transactional commit is waited
     * out): the membership is kept alive meanwhile. */
    if (now >= g->next_heartbeat) send_heartbeat(g, now);
    if (g->state == G_OFFSETS) kw_grp_send_offset_fetch(g, now);
    break;
  case G_STABLE:
    if (kw_grp_assignment_outdated(g)) {
      kw_log(g->log, KW_LOG_INFO, "CGRP", "group %s: subscribed topics' partitions changed: joining again",
             g->set.group_id);
      g->state = G_JOIN;
      g->retry_at = 0;
      break;
    }
    if (now >= g->next_heartbeat) send_heartbeat(g, now);
    if (g->set.auto_commit && now >= g->next_autocommit) {
      kw_group_commit(g, NULL, NULL, NULL, now);
      g->next_autocommit = now + g->set.auto_commit_interval_ms;
    }
    break;
  }
}

static int64_t state_deadline(const kw_group *g) {
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
  case G_OFFSETS: {
    int64_t hb = g->hb_in_flight ? INT64_MAX : g->next_heartbeat;
    return hb < g->retry_at ? hb : g->retry_at;
  }
  case G_FIND:
  case G_SYNC: return g->retry_at;
  case G_AWAIT_META: return kw_now_ms() + 50;
  default: return INT64_MAX;
  }
}

int64_t kw_group_deadline(const kw_group *g) {
  int64_t d = state_deadline(g);
  return g->coordinator >= 0 && d < g->coord_wait_until ? g->coord_wait_until : d;
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
    copy[i] = kw_slice_strdup(g->mem, SL(topics[i]));
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

void kw_group_set_rebalance_cb(kw_group *g, kw_rebalance_cb cb, void *ud) {
  g->rb_cb = cb;
  g->rb_ud = ud;
}

kw_group *kw_group_create(kw_cluster *cl, kw_fetcher *cons, const kw_group_settings *set, const kw_mem *mem,
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
  kw_grp_free_members(g);
  kw_free(g->mem, g->snap);
  for (int i = 0; i < g->n_topics; i++) kw_free(g->mem, g->topics[i]);
  kw_free(g->mem, g->topics);
  kw_free(g->mem, g->assigned);
  kw_free(g->mem, g->member_id);
  kw_free(g->mem, g);
}
