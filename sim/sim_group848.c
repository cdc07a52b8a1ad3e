/* kwsim's KIP-848 group coordinator: ConsumerGroupHeartbeat with the assignment computed
 * by the broker, as Kafka's GroupMetadataManager and CurrentAssignmentBuilder do it.
 *
 * The group epoch moves when membership or subscriptions change; the target assignment
 * (one per group epoch) comes from a range assignor: per topic, the subscribed members
 * in member-id order take contiguous ranges of partitions, the first ones one more when
 * it does not divide evenly. Each member then walks towards its target: partitions it
 * must give up are revoked first (it keeps its epoch until its heartbeat no longer lists
 * them), and a partition goes to its new owner only once no other member holds or is
 * still revoking it. Kafka's default server assignor is "uniform"; kwsim answers both
 * "uniform" and "range" with the range assignor, which any client must accept. */
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_group_int.h"

/* ---- partition sets ---- */

static bool tps_has(const sim_tpset *set, sim_tp tp) {
  for (int i = 0; i < set->n; i++)
    if (set->v[i].topic == tp.topic && set->v[i].part == tp.part) return true;
  return false;
}

static bool tps_add(sim_tpset *set, sim_tp tp) {
  if (tps_has(set, tp)) return true;
  if (set->n == set->cap) {
    int cap = set->cap ? set->cap * 2 : 8;
    sim_tp *v = realloc(set->v, sizeof *v * (size_t)cap);
    if (!v) return false;
    set->v = v;
    set->cap = cap;
  }
  set->v[set->n++] = tp;
  return true;
}

static bool tps_equal(const sim_tpset *a, const sim_tpset *b) {
  if (a->n != b->n) return false;
  for (int i = 0; i < a->n; i++)
    if (!tps_has(b, a->v[i])) return false;
  return true;
}

static void tps_copy(sim_tpset *dst, const sim_tpset *src) {
  dst->n = 0;
  for (int i = 0; i < src->n; i++) tps_add(dst, src->v[i]);
}

/* ---- members ---- */

static sim_kmember *kfind(const sim_group *g, kw_slice id) {
  for (int i = 0; id.len > 0 && i < g->n_km; i++)
    if (sim_seq(g->km[i]->id, id)) return g->km[i];
  return NULL;
}

const sim_kmember *sim_848_member(const sim_group *g, kw_slice id) { return kfind(g, id); }

static sim_kmember *by_instance(const sim_group *g, kw_slice inst) {
  for (int i = 0; inst.ptr && i < g->n_km; i++)
    if (g->km[i]->instance && sim_seq(g->km[i]->instance, inst)) return g->km[i];
  return NULL;
}


static void kmember_free(sim_kmember *m) {
  for (int i = 0; i < m->n_subs; i++) free(m->subs[i]);
  free(m->subs);
  free(m->id);
  free(m->instance);
  free(m->assigned.v);
  free(m->revoking.v);
  free(m->target.v);
  free(m);
}

static void kremove(kw_sim *s, sim_group *g, sim_kmember *m, const char *why) {
  sim_trace(s, "group %s: member %s removed (%s), group epoch %d", g->id, m->id, why, g->group_epoch + 1);
  int i = 0;
  while (g->km[i] != m) i++;
  memmove(&g->km[i], &g->km[i + 1], sizeof *g->km * (size_t)(g->n_km - i - 1));
  g->n_km--;
  g->group_epoch++;
  kmember_free(m);
}

void sim_848_free(sim_group *g) {
  for (int i = 0; i < g->n_km; i++) kmember_free(g->km[i]);
  free(g->km);
  g->km = NULL;
  g->n_km = 0;
}

static bool subscribes(const sim_kmember *m, const char *topic) {
  for (int i = 0; i < m->n_subs; i++)
    if (strcmp(m->subs[i], topic) == 0) return true;
  return false;
}

/* Replaces the subscription; true when it changed. */
static bool set_subs(sim_kmember *m, const kw_consumer_group_heartbeat_req *q) {
  bool same = m->n_subs == q->n_subscribed_topic_names;
  for (int32_t i = 0; same && i < q->n_subscribed_topic_names; i++) {
    bool found = false;
    for (int k = 0; k < m->n_subs && !found; k++) found = sim_seq(m->subs[k], q->subscribed_topic_names[i]);
    same = found;
  }
  if (same) return false;
  for (int i = 0; i < m->n_subs; i++) free(m->subs[i]);
  free(m->subs);
  m->n_subs = 0;
  m->subs = calloc((size_t)(q->n_subscribed_topic_names > 0 ? q->n_subscribed_topic_names : 1), sizeof *m->subs);
  for (int32_t i = 0; m->subs && i < q->n_subscribed_topic_names; i++)
    if ((m->subs[m->n_subs] = sim_sdup(q->subscribed_topic_names[i]))) m->n_subs++;
  return true;
}

/* ---- the target assignment ---- */

static int by_member_id(const void *a, const void *b) {
  return strcmp((*(sim_kmember *const *)a)->id, (*(sim_kmember *const *)b)->id);
}

static void compute_target(kw_sim *s, sim_group *g) {
  sim_kmember **sorted = malloc(sizeof *sorted * (size_t)(g->n_km ? g->n_km : 1));
  if (!sorted) return;
  memcpy(sorted, g->km, sizeof *sorted * (size_t)g->n_km);
  qsort(sorted, (size_t)g->n_km, sizeof *sorted, by_member_id); /* ids are unique: a total order */
  for (int i = 0; i < g->n_km; i++) g->km[i]->target.n = 0;
  for (int t = 0; t < s->n_topics; t++) {
    const sim_topic *st = s->topics[t];
    int n = 0;
    for (int i = 0; i < g->n_km; i++) n += subscribes(sorted[i], st->name);
    if (!n) continue;
    int32_t per = st->n_parts / n, extra = st->n_parts % n, at = 0;
    for (int i = 0, k = 0; i < g->n_km; i++) {
      if (!subscribes(sorted[i], st->name)) continue;
      int32_t len = per + (k++ < extra);
      for (int32_t p = at; p < at + len; p++) tps_add(&sorted[i]->target, (sim_tp){t, p});
      at += len;
    }
  }
  free(sorted);
  g->target_epoch = g->group_epoch;
  g->topics_seen = s->n_topics;
  sim_trace(s, "group %s: target assignment at epoch %d for %d members", g->id, g->target_epoch, g->n_km);
}

/* ---- reconciliation (Kafka's CurrentAssignmentBuilder) ---- */

static bool held_by_other(const sim_group *g, const sim_kmember *me, sim_tp tp) {
  for (int i = 0; i < g->n_km; i++)
    if (g->km[i] != me && (tps_has(&g->km[i]->assigned, tp) || tps_has(&g->km[i]->revoking, tp))) return true;
  return false;
}

/* The member moves to the target epoch with the target partitions nobody else holds. */
static void advance(kw_sim *s, sim_group *g, sim_kmember *m) {
  if (m->epoch != g->target_epoch) {
    m->prev_epoch = m->epoch;
    m->epoch = g->target_epoch;
  }
  bool all = true;
  for (int i = 0; i < m->target.n; i++) {
    if (tps_has(&m->assigned, m->target.v[i])) continue;
    if (held_by_other(g, m, m->target.v[i])) all = false;
    else tps_add(&m->assigned, m->target.v[i]);
  }
  int state = all ? SIM_K_STABLE : SIM_K_UNRELEASED;
  if (state != m->state || all)
    sim_trace(s, "group %s: member %s at epoch %d, %d partitions%s", g->id, m->id, m->epoch, m->assigned.n,
              all ? "" : ", waiting for partitions still held by others");
  m->state = state;
}

/* owned: the partitions the member's heartbeat lists; NULL when it did not say. */
static void reconcile(kw_sim *s, sim_group *g, sim_kmember *m, const sim_tpset *owned) {
  if (m->state == SIM_K_UNREVOKED) {
    if (!owned) return;
    for (int i = 0; i < m->revoking.n; i++)
      if (tps_has(owned, m->revoking.v[i])) return; /* still revoking */
    sim_trace(s, "group %s: member %s revoked %d partitions", g->id, m->id, m->revoking.n);
    m->revoking.n = 0;
    m->state = SIM_K_STABLE;
  }
  if (m->epoch == g->target_epoch) {
    if (m->state == SIM_K_UNRELEASED) advance(s, g, m);
    return;
  }
  sim_tpset keep = {0};
  for (int i = 0; i < m->assigned.n; i++)
    if (tps_has(&m->target, m->assigned.v[i])) tps_add(&keep, m->assigned.v[i]);
    else tps_add(&m->revoking, m->assigned.v[i]);
  tps_copy(&m->assigned, &keep);
  free(keep.v);
  bool still_owned = !owned; /* not said: assume it still has them, as Kafka does */
  for (int i = 0; owned && i < m->revoking.n && !still_owned; i++) still_owned = tps_has(owned, m->revoking.v[i]);
  if (!still_owned) m->revoking.n = 0; /* it already let them go */
  if (m->revoking.n > 0) { /* give up first; the epoch moves once that is done */
    m->state = SIM_K_UNREVOKED;
    m->revoke_deadline = s->now + m->rebalance_ms;
    sim_trace(s, "group %s: member %s must revoke %d partitions", g->id, m->id, m->revoking.n);
    return;
  }
  advance(s, g, m);
}

void sim_848_tick(kw_sim *s, sim_group *g) {
  for (int i = g->n_km - 1; i >= 0; i--) {
    sim_kmember *m = g->km[i];
    if (s->now - m->last_seen > SIM_848_SESSION_MS) kremove(s, g, m, "session timeout");
    else if (m->state == SIM_K_UNREVOKED && s->now > m->revoke_deadline)
      kremove(s, g, m, "did not revoke within the rebalance timeout");
  }
}

/* ---- OffsetCommit / OffsetFetch checks (Kafka's ConsumerGroup) ---- */

int16_t sim_848_validate_commit(sim_group *g, kw_slice member, int32_t epoch, int16_t ver) {
  if (epoch < 0 && g->n_km == 0) return 0; /* an admin tool */
  const sim_kmember *m = kfind(g, member);
  if (!m) return KW_KERR_UNKNOWN_MEMBER_ID;
  if (ver < 9) return KW_KERR_UNSUPPORTED_VERSION; /* a KIP-848 member commits with v9+ */
  if (epoch > m->epoch) return KW_KERR_FENCED_MEMBER_EPOCH;
  if (epoch < m->epoch) return KW_KERR_STALE_MEMBER_EPOCH;
  return 0;
}

int16_t sim_848_validate_fetch(sim_group *g, kw_slice member, int32_t epoch) {
  if (epoch < 0 && !member.len) return 0; /* an admin tool */
  const sim_kmember *m = kfind(g, member);
  if (!m) return KW_KERR_UNKNOWN_MEMBER_ID;
  return epoch != m->epoch ? KW_KERR_STALE_MEMBER_EPOCH : 0;
}

/* ---- ConsumerGroupHeartbeat ---- */

static int cgh_answer(kw_sim *s, const sim_req *r, kw_buf *out, int16_t err, const sim_kmember *m, int32_t epoch,
                      bool with_assignment) {
  kw_consumer_group_heartbeat_resp resp;
  kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_RESP, &resp);
  resp.error_code = err;
  if (m) {
    resp.member_id = sim_str(m->id);
    resp.member_epoch = epoch;
    resp.heartbeat_interval_ms = epoch < 0 ? 0 : SIM_848_HEARTBEAT_MS;
  }
  kw_consumer_group_heartbeat_resp_assignment *a = with_assignment && m ? kw_arena_alloc(&s->arena, sizeof *a) : NULL;
  kw_consumer_group_heartbeat_resp_topic_partitions *tps =
      a ? kw_arena_alloc(&s->arena, sizeof *tps * (size_t)(m->assigned.n ? m->assigned.n : 1)) : NULL;
  int32_t *parts = tps ? kw_arena_alloc(&s->arena, sizeof *parts * (size_t)(m->assigned.n ? m->assigned.n : 1)) : NULL;
  if (parts) {
    kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_RESP_ASSIGNMENT, a);
    a->topic_partitions = tps;
    a->n_topic_partitions = 0;
    int np = 0;
    for (int t = 0; t < s->n_topics; t++) { /* topic by topic, partitions in order */
      int first = np;
      for (int32_t p = 0; p < s->topics[t]->n_parts; p++)
        if (tps_has(&m->assigned, (sim_tp){t, p})) parts[np++] = p;
      if (np == first) continue;
      kw_consumer_group_heartbeat_resp_topic_partitions *tp = &tps[a->n_topic_partitions++];
      kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_RESP_TOPIC_PARTITIONS, tp);
      tp->topic_id = s->topics[t]->id;
      tp->partitions = &parts[first];
      tp->n_partitions = np - first;
    }
    resp.assignment = a;
  }
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid. */
static int16_t cgh_validate(const sim_req *r, const kw_consumer_group_heartbeat_req *q) {
  if ((r->ver >= 1 || q->member_epoch > 0 || q->member_epoch == -1) && !q->member_id.len)
    return KW_KERR_INVALID_REQUEST; /* v1+: the client names itself */
  if (!q->group_id.len) return KW_KERR_INVALID_REQUEST;
  if ((q->instance_id.ptr && !q->instance_id.len) || (q->rack_id.ptr && !q->rack_id.len)) return KW_KERR_INVALID_REQUEST;
  if (q->member_epoch == 0) {
    if (q->rebalance_timeout_ms == -1) return KW_KERR_INVALID_REQUEST;
    if (q->n_topic_partitions != 0) return KW_KERR_INVALID_REQUEST; /* a joining member owns nothing (and says so) */
    if (q->n_subscribed_topic_names < 0 && !q->subscribed_topic_regex.ptr) return KW_KERR_INVALID_REQUEST;
  } else if (q->member_epoch == -2) {
    if (!q->instance_id.ptr) return KW_KERR_INVALID_REQUEST;
  } else if (q->member_epoch < -2) {
    return KW_KERR_INVALID_REQUEST;
  }
  if (q->server_assignor.ptr && !sim_seq("range", q->server_assignor) && !sim_seq("uniform", q->server_assignor))
    return KW_KERR_UNSUPPORTED_ASSIGNOR;
  /* Regular-expression subscriptions (KIP-848 v1) are not modelled: refused rather than
   * silently treated as no subscription. */
  if (q->subscribed_topic_regex.ptr) return KW_KERR_INVALID_REQUEST;
  return 0;
}

/* The partitions a heartbeat says the member owns; false when it did not say. */
static bool owned_of(kw_sim *s, const kw_consumer_group_heartbeat_req *q, sim_tpset *owned) {
  if (q->n_topic_partitions < 0) return false;
  for (int32_t i = 0; i < q->n_topic_partitions; i++) {
    int t = 0;
    while (t < s->n_topics && memcmp(&s->topics[t]->id, &q->topic_partitions[i].topic_id, sizeof(kw_uuid)) != 0) t++;
    for (int32_t k = 0; t < s->n_topics && k < q->topic_partitions[i].n_partitions; k++)
      tps_add(owned, (sim_tp){t, q->topic_partitions[i].partitions[k]});
  }
  return true;
}

static sim_kmember *knew(kw_sim *s, sim_group *g, const kw_consumer_group_heartbeat_req *q) {
  sim_kmember **arr = realloc(g->km, sizeof *arr * (size_t)(g->n_km + 1));
  sim_kmember *m = arr ? calloc(1, sizeof *m) : NULL;
  if (arr) g->km = arr;
  if (!m) return NULL;
  m->id = q->member_id.len ? sim_sdup(q->member_id) : sim_new_member_id(s, (kw_slice){NULL, 0}); /* v0: a bare uuid */
  m->instance = sim_sdup(q->instance_id);
  if (!m->id) {
    kmember_free(m);
    return NULL;
  }
  g->km[g->n_km++] = m;
  sim_trace(s, "group %s: member %s joins", g->id, m->id);
  return m;
}

/* Epoch -1 leaves; -2 (a static member) steps out and keeps its partitions for now. */
static int cgh_leave(kw_sim *s, sim_req *r, kw_buf *out, sim_group *g, const kw_consumer_group_heartbeat_req *q) {
  sim_kmember *m = kfind(g, q->member_id);
  if (q->instance_id.ptr) { /* a static member leaves by its instance id, which must be its own */
    sim_kmember *im = by_instance(g, q->instance_id);
    if (im && !sim_seq(im->id, q->member_id)) return cgh_answer(s, r, out, KW_KERR_FENCED_INSTANCE_ID, NULL, 0, false);
    m = im;
  }
  if (!m) return cgh_answer(s, r, out, KW_KERR_UNKNOWN_MEMBER_ID, NULL, 0, false);
  cgh_answer(s, r, out, 0, m, q->member_epoch, false); /* before m may go away */
  if (q->member_epoch == -2 && m->instance) {
    m->static_left = true;
    m->last_seen = s->now;
    sim_trace(s, "group %s: static member %s steps out", g->id, m->id);
  } else {
    kremove(s, g, m, "left the group");
  }
  return SIM_DONE;
}

/* Kafka's epoch fencing (throwIfConsumerGroupMemberEpochIsInvalid): an epoch ahead of
 * the member's is fenced; one behind only if it is the previous epoch (the answer that
 * moved the member on may be lost) and the member owns no more than it is assigned.
 * Epoch 0 from a known member is a rejoin and always taken (Kafka 4.4; KAFKA-19233): a
 * fenced member joins again under its own client-made id, keeping its epoch and
 * assignment, which it gets back in full. */
static int16_t check_epoch(const sim_kmember *m, int32_t epoch, const sim_tpset *owned, bool has_owned) {
  if (epoch == 0) return 0;
  if (epoch > m->epoch) return KW_KERR_FENCED_MEMBER_EPOCH;
  if (epoch < m->epoch) {
    bool subset = has_owned;
    for (int i = 0; subset && i < owned->n; i++) subset = tps_has(&m->assigned, owned->v[i]);
    if (epoch != m->prev_epoch || !subset) return KW_KERR_FENCED_MEMBER_EPOCH;
  }
  return 0;
}

/* A static member joining (epoch 0) under an instance id another member had: allowed
 * only once that one stepped out (-2); it then takes its place and partitions at epoch 0. */
static int16_t static_takeover(kw_sim *s, sim_group *g, sim_kmember *im, const kw_consumer_group_heartbeat_req *q) {
  if (!im->static_left) return KW_KERR_UNRELEASED_INSTANCE_ID;
  char *id = q->member_id.len ? sim_sdup(q->member_id) : sim_new_member_id(s, (kw_slice){NULL, 0});
  if (!id) return KW_KERR_COORDINATOR_NOT_AVAILABLE;
  sim_trace(s, "group %s: static member %s comes back as %s", g->id, im->instance, id);
  free(im->id);
  im->id = id;
  im->static_left = false;
  im->epoch = im->prev_epoch = 0;
  return 0;
}

/* The member a heartbeat is about: joined (epoch 0), or found and checked. */
static int16_t cgh_member(kw_sim *s, sim_group *g, const kw_consumer_group_heartbeat_req *q,
                          const sim_tpset *owned, bool has_owned, sim_kmember **mp) {
  sim_kmember *m = kfind(g, q->member_id);
  sim_kmember *im = by_instance(g, q->instance_id);
  if (q->member_epoch == 0 && im && im != m) {
    int16_t err = static_takeover(s, g, im, q);
    *mp = im;
    return err;
  }
  if (q->member_epoch == 0 && !m) {
    *mp = knew(s, g, q);
    return *mp ? 0 : KW_KERR_COORDINATOR_NOT_AVAILABLE;
  }
  if (q->instance_id.ptr) { /* a static member: its instance must be known and be this member */
    if (!im) return KW_KERR_UNKNOWN_MEMBER_ID;
    if (im != m) return KW_KERR_FENCED_INSTANCE_ID;
  }
  if (!m) return KW_KERR_UNKNOWN_MEMBER_ID;
  *mp = m;
  return check_epoch(m, q->member_epoch, owned, has_owned);
}

int sim_h_consumer_group_heartbeat(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_consumer_group_heartbeat_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  static const int16_t faults[] = {KW_KERR_COORDINATOR_LOAD_IN_PROGRESS, KW_KERR_NOT_COORDINATOR,
                                   KW_KERR_COORDINATOR_NOT_AVAILABLE};
  if (sim_fault(s, KW_SIM_ERROR)) return cgh_answer(s, r, out, faults[sim_rand_below(s, 3)], NULL, 0, false);
  int16_t err = sim_group_coord_error(s, r, q.group_id);
  if (!err) err = cgh_validate(r, &q);
  /* Only a join creates the group; anything else about a group that is not there is
   * about a member that is not there either. */
  sim_group *g = err ? NULL : q.member_epoch == 0 ? sim_group_create(s, q.group_id) : sim_group_find(s, q.group_id);
  if (!err && !g) err = q.member_epoch == 0 ? KW_KERR_COORDINATOR_NOT_AVAILABLE : KW_KERR_UNKNOWN_MEMBER_ID;
  if (!err && q.member_epoch != 0 && g->type != SIM_G_CONSUMER) err = KW_KERR_UNKNOWN_MEMBER_ID;
  /* A classic group with members is not converted (Kafka's migration is not modelled). */
  if (!err && g->type == SIM_G_CLASSIC && g->n_cm > 0) err = KW_KERR_GROUP_ID_NOT_FOUND;
  if (err) return cgh_answer(s, r, out, err, NULL, 0, false);
  if (g->type != SIM_G_CONSUMER) {
    g->type = SIM_G_CONSUMER;
    g->topics_seen = s->n_topics;
  }
  if (q.member_epoch < 0) return cgh_leave(s, r, out, g, &q);
  sim_tpset owned = {0};
  bool has_owned = owned_of(s, &q, &owned);
  sim_kmember *m = NULL;
  int n_before = g->n_km;
  err = cgh_member(s, g, &q, &owned, has_owned, &m);
  if (err) {
    free(owned.v);
    return cgh_answer(s, r, out, err, NULL, 0, false);
  }
  m->last_seen = s->now;
  if (q.rebalance_timeout_ms > 0) m->rebalance_ms = q.rebalance_timeout_ms;
  bool changed = g->n_km != n_before; /* a new member, or ... */
  if (q.n_subscribed_topic_names >= 0 && set_subs(m, &q)) changed = true; /* ... a new subscription */
  if (changed) g->group_epoch++;
  if (g->topics_seen != s->n_topics) g->group_epoch++; /* new topics may match subscriptions */
  if (g->group_epoch > g->target_epoch) compute_target(s, g);
  sim_tpset before = {0};
  tps_copy(&before, &m->assigned);
  int32_t epoch_before = m->epoch;
  reconcile(s, g, m, has_owned ? &owned : NULL);
  /* Kafka sends the assignment on a full request (joining, or every field given) and
   * whenever it changed. */
  bool full = q.member_epoch == 0 || (q.rebalance_timeout_ms != -1 && q.n_subscribed_topic_names >= 0 && has_owned);
  bool send = full || !tps_equal(&before, &m->assigned) || epoch_before != m->epoch;
  free(before.v);
  free(owned.v);
  return cgh_answer(s, r, out, 0, m, m->epoch, send);
}
