/* kwsim's classic group coordinator: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, as
 * Kafka's GroupMetadataManager runs a classic group (Empty -> PreparingRebalance ->
 * CompletingRebalance -> Stable). JoinGroup answers wait (parked) until every known
 * member rejoined or the rebalance timeout ends; followers' SyncGroup waits for the
 * leader's. A parked request is called again each step; it finds its member by the
 * connection and correlation id the member recorded when it parked. */
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_group_int.h"

/* ---- members ---- */

static sim_cmember *by_id(const sim_group *g, kw_slice id) {
  for (int i = 0; i < g->n_cm; i++)
    if (id.len > 0 && sim_seq(g->cm[i]->id, id)) return g->cm[i];
  return NULL;
}

static sim_cmember *by_instance(const sim_group *g, kw_slice inst) {
  for (int i = 0; inst.ptr && i < g->n_cm; i++)
    if (g->cm[i]->instance && sim_seq(g->cm[i]->instance, inst)) return g->cm[i];
  return NULL;
}

/* Kafka's ClassicGroup.validateMember: a static member's instance must map to this
 * member id, and the member must exist. */
static int16_t validate_member(const sim_group *g, kw_slice mid, kw_slice inst) {
  if (inst.ptr) {
    const sim_cmember *im = by_instance(g, inst);
    if (!im) return KW_KERR_UNKNOWN_MEMBER_ID;
    if (!sim_seq(im->id, mid)) return KW_KERR_FENCED_INSTANCE_ID;
  }
  return by_id(g, mid) ? 0 : KW_KERR_UNKNOWN_MEMBER_ID;
}

static void free_protos(sim_cmember *m) {
  for (int i = 0; i < m->n_protos; i++) {
    free(m->protos[i].name);
    free(m->protos[i].meta);
  }
  free(m->protos);
  m->protos = NULL;
  m->n_protos = 0;
}

static void member_free(sim_cmember *m) {
  free_protos(m);
  free(m->id);
  free(m->instance);
  free(m->client_id);
  free(m->assignment);
  kw_buf_free(&m->join_answer);
  free(m);
}

static bool set_protos(sim_cmember *m, const kw_join_group_req *q) {
  free_protos(m);
  int n = q->n_protocols > 0 ? q->n_protocols : 0;
  m->protos = calloc((size_t)(n ? n : 1), sizeof *m->protos);
  if (!m->protos) return false;
  for (int i = 0; i < n; i++) {
    sim_proto *p = &m->protos[m->n_protos++];
    p->name = sim_sdup(q->protocols[i].name);
    p->len = q->protocols[i].metadata.len;
    p->meta = malloc((size_t)(p->len ? p->len : 1));
    if (!p->name || !p->meta) return false;
    if (p->len) memcpy(p->meta, q->protocols[i].metadata.ptr, (size_t)p->len);
  }
  return true;
}

static bool same_protos(const sim_cmember *m, const kw_join_group_req *q) {
  if (m->n_protos != (q->n_protocols > 0 ? q->n_protocols : 0)) return false;
  for (int i = 0; i < m->n_protos; i++) {
    const kw_join_group_req_protocol *p = &q->protocols[i];
    if (!sim_seq(m->protos[i].name, p->name) || m->protos[i].len != p->metadata.len ||
        (p->metadata.len && memcmp(m->protos[i].meta, p->metadata.ptr, (size_t)p->metadata.len) != 0))
      return false;
  }
  return true;
}

static bool member_supports(const sim_cmember *m, const char *name) {
  for (int i = 0; i < m->n_protos; i++)
    if (strcmp(m->protos[i].name, name) == 0) return true;
  return false;
}

static const sim_proto *member_proto(const sim_cmember *m, const char *name) {
  for (int i = 0; name && i < m->n_protos; i++)
    if (strcmp(m->protos[i].name, name) == 0) return &m->protos[i];
  return NULL;
}

static sim_cmember *add_member(kw_sim *s, sim_group *g, char *id, const kw_join_group_req *q, kw_slice client_id) {
  sim_cmember **arr = realloc(g->cm, sizeof *arr * (size_t)(g->n_cm + 1));
  sim_cmember *m = arr ? calloc(1, sizeof *m) : NULL;
  if (arr) g->cm = arr;
  if (!m) {
    free(id);
    return NULL;
  }
  m->id = id;
  m->instance = sim_sdup(q->group_instance_id);
  m->client_id = sim_sdup(client_id);
  kw_buf_init_grow(&m->join_answer, NULL);
  if (!set_protos(m, q)) {
    member_free(m);
    return NULL;
  }
  g->cm[g->n_cm++] = m;
  sim_trace(s, "group %s: member %s joins%s%s", g->id, id, m->instance ? " as " : "", m->instance ? m->instance : "");
  return m;
}

static void remove_member(kw_sim *s, sim_group *g, sim_cmember *m, const char *why) {
  sim_trace(s, "group %s: member %s removed (%s)", g->id, m->id, why);
  if (g->leader && strcmp(g->leader, m->id) == 0) {
    free(g->leader);
    g->leader = NULL;
  }
  int i = 0;
  while (g->cm[i] != m) i++;
  memmove(&g->cm[i], &g->cm[i + 1], sizeof *g->cm * (size_t)(g->n_cm - i - 1));
  g->n_cm--;
  member_free(m);
}

/* ---- the rebalance ---- */

static int64_t max_rebalance_ms(const sim_group *g) {
  int64_t t = 0;
  for (int i = 0; i < g->n_cm; i++)
    if (g->cm[i]->rebalance_ms > t) t = g->cm[i]->rebalance_ms;
  return t;
}

static void prepare_rebalance(kw_sim *s, sim_group *g, const char *why) {
  if (g->state == SIM_GS_PREPARING) return;
  bool initial = g->state == SIM_GS_EMPTY;
  g->state = SIM_GS_PREPARING;
  for (int i = 0; i < g->n_cm; i++) {
    g->cm[i]->joined = false;
    g->cm[i]->synced = false;
  }
  g->rebalance_deadline = s->now + max_rebalance_ms(g);
  /* Kafka delays an empty group's first rebalance so more members make it in. */
  g->join_not_before = initial ? s->now + SIM_INITIAL_REBALANCE_DELAY_MS : 0;
  sim_trace(s, "group %s: rebalance (%s), generation %d", g->id, why, g->generation);
}

/* Kafka's ClassicGroup.selectProtocol: among the protocols every member supports, each
 * member votes for the first of them in its own order; the most votes wins (ties: the
 * one the first member prefers). */
static const char *select_protocol(const sim_group *g) {
  const char *best = NULL;
  int best_votes = -1;
  const sim_cmember *first = g->cm[0];
  for (int c = 0; c < first->n_protos; c++) {
    const char *cand = first->protos[c].name;
    bool all = true;
    for (int i = 1; i < g->n_cm && all; i++) all = member_supports(g->cm[i], cand);
    if (!all) continue;
    int votes = 0;
    for (int i = 0; i < g->n_cm; i++) {
      for (int k = 0; k < g->cm[i]->n_protos; k++) {
        const char *pk = g->cm[i]->protos[k].name;
        bool ok = true;
        for (int j = 0; j < g->n_cm && ok; j++) ok = member_supports(g->cm[j], pk);
        if (!ok) continue;
        votes += strcmp(pk, cand) == 0;
        break;
      }
    }
    if (votes > best_votes) best = cand, best_votes = votes;
  }
  return best;
}

/* The JoinGroup answer of the current generation for m, naming `leader` (NULL: the
 * group's); the member it names gets every member's metadata. */
static void join_answer(const sim_group *g, const sim_cmember *m, const char *leader, kw_buf *out, int16_t ver,
                        int32_t corr) {
  if (!leader) leader = g->leader;
  kw_join_group_resp resp;
  kw_msg_init(KW_SCHEMA_JOIN_GROUP_RESP, &resp);
  resp.generation_id = g->generation;
  resp.protocol_type = sim_sl(g->protocol_type);
  resp.protocol_name = sim_sl(g->protocol);
  resp.leader = sim_sl(leader);
  resp.member_id = sim_str(m->id);
  kw_join_group_resp_member *mem = leader && strcmp(leader, m->id) == 0 ? calloc((size_t)g->n_cm, sizeof *mem) : NULL;
  for (int i = 0; mem && i < g->n_cm; i++) {
    kw_msg_init(KW_SCHEMA_JOIN_GROUP_RESP_MEMBER, &mem[i]);
    mem[i].member_id = sim_str(g->cm[i]->id);
    mem[i].group_instance_id = sim_sl(g->cm[i]->instance);
    const sim_proto *p = member_proto(g->cm[i], g->protocol);
    mem[i].metadata = p ? (kw_slice){p->meta, p->len} : sim_str("");
  }
  resp.members = mem;
  resp.n_members = mem ? g->n_cm : 0;
  sim_req rr = {.api = KW_API_JOIN_GROUP, .ver = ver, .corr = corr};
  sim_put_answer(out, &rr, &resp);
  free(mem);
}

/* The leader must be a member that rejoined: the old one if it did, else the first. */
static bool elect_joined_leader(sim_group *g) {
  const sim_cmember *l = g->leader ? by_id(g, sim_str(g->leader)) : NULL;
  if (l && l->joined) return true;
  for (int i = 0; i < g->n_cm; i++)
    if (g->cm[i]->joined) {
      free(g->leader);
      g->leader = sim_sdup(sim_str(g->cm[i]->id));
      return g->leader != NULL;
    }
  return false;
}

/* PreparingRebalance ends when every member (and every id handed out with
 * MEMBER_ID_REQUIRED) has joined, after the initial delay, or when the rebalance timeout
 * passes: dynamic members that did not rejoin are out; static ones stay (their session
 * timeout decides). With nobody rejoined, Kafka waits another rebalance timeout. */
static void try_complete_join(kw_sim *s, sim_group *g) {
  if (g->state != SIM_GS_PREPARING) return;
  bool all = g->n_pending == 0;
  for (int i = 0; i < g->n_cm; i++) all = all && g->cm[i]->joined;
  bool timed_out = s->now >= g->rebalance_deadline;
  if (!timed_out && (!all || s->now < g->join_not_before)) return;
  for (int i = g->n_cm - 1; i >= 0; i--)
    if (!g->cm[i]->joined && !g->cm[i]->instance)
      remove_member(s, g, g->cm[i], "did not rejoin within the rebalance timeout");
  if (g->n_cm > 0 && !elect_joined_leader(g)) {
    g->rebalance_deadline = s->now + max_rebalance_ms(g);
    sim_trace(s, "group %s: no member rejoined, the rebalance waits on", g->id);
    return;
  }
  g->generation++;
  free(g->protocol);
  g->protocol = NULL;
  if (g->n_cm == 0) {
    g->state = SIM_GS_EMPTY;
    sim_trace(s, "group %s: empty, generation %d", g->id, g->generation);
    return;
  }
  const char *p = select_protocol(g);
  g->protocol = p ? sim_sdup(sim_str(p)) : NULL;
  g->state = SIM_GS_COMPLETING;
  g->sync_deadline = s->now + max_rebalance_ms(g);
  for (int i = 0; i < g->n_cm; i++) {
    sim_cmember *m = g->cm[i];
    m->last_seen = s->now;
    kw_buf_reset(&m->join_answer);
    /* The join phase is over for it: its answer is out (Kafka sends it even to a closed
     * connection) and its session timer runs again, whether or not it reads the answer. */
    if (m->join_pending) join_answer(g, m, NULL, &m->join_answer, m->join_ver, m->join_corr);
    m->join_pending = false;
  }
  sim_trace(s, "group %s: generation %d, %d members, leader %s, protocol %s", g->id, g->generation, g->n_cm,
            g->leader ? g->leader : "-", g->protocol ? g->protocol : "-");
}

/* Every removal outside a rebalance starts one; within one it may end it. */
static void after_removal(kw_sim *s, sim_group *g, const char *why) {
  if (g->state == SIM_GS_STABLE || g->state == SIM_GS_COMPLETING) prepare_rebalance(s, g, why);
  try_complete_join(s, g);
}

void sim_classic_tick(kw_sim *s, sim_group *g) {
  for (int i = g->n_pending - 1; i >= 0; i--)
    if (s->now >= g->pending[i].expires) {
      free(g->pending[i].id);
      g->pending[i] = g->pending[--g->n_pending];
    }
  bool removed = false;
  for (int i = g->n_cm - 1; i >= 0; i--) {
    sim_cmember *m = g->cm[i];
    if (m->join_pending) continue; /* a parked join waits on the rebalance timeout instead */
    if (s->now - m->last_seen > m->session_ms) {
      remove_member(s, g, m, "session timeout");
      removed = true;
    }
  }
  /* A member that got its JoinGroup answer but never synced is out when the rebalance
   * timeout passes again (Kafka's pending-sync timeout). */
  if (g->state == SIM_GS_COMPLETING && s->now >= g->sync_deadline)
    for (int i = g->n_cm - 1; i >= 0; i--)
      if (!g->cm[i]->synced) {
        remove_member(s, g, g->cm[i], "no SyncGroup within the rebalance timeout");
        removed = true;
      }
  if (removed) after_removal(s, g, "members left");
  try_complete_join(s, g);
}

void sim_classic_moved(kw_sim *s, sim_group *g) {
  for (int i = 0; i < g->n_cm; i++) { /* the new coordinator starts their session timers afresh */
    g->cm[i]->join_pending = false;
    kw_buf_reset(&g->cm[i]->join_answer);
    g->cm[i]->last_seen = s->now;
  }
}

void sim_classic_free(sim_group *g) {
  for (int i = 0; i < g->n_cm; i++) member_free(g->cm[i]);
  free(g->cm);
  for (int i = 0; i < g->n_pending; i++) free(g->pending[i].id);
  free(g->pending);
  free(g->protocol_type);
  free(g->protocol);
  free(g->leader);
}

/* ---- JoinGroup ---- */

static int join_error(kw_buf *out, const sim_req *r, int16_t err, kw_slice member_id) {
  kw_join_group_resp resp;
  kw_msg_init(KW_SCHEMA_JOIN_GROUP_RESP, &resp);
  resp.error_code = err;
  resp.member_id = member_id.ptr ? member_id : sim_str("");
  resp.protocol_name = r->ver >= 7 ? (kw_slice){NULL, 0} : sim_str("");
  resp.leader = sim_str("");
  resp.n_members = 0;
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* Parks m's JoinGroup until the rebalance completes (or answers now if it just did). */
/* The join phase may be over: the member's answer goes out, or it stays parked until
 * the phase can end (the initial delay, or the rebalance timeout). */
static int join_answer_or_park(kw_sim *s, sim_group *g, sim_cmember *m, sim_req *r, kw_buf *out) {
  try_complete_join(s, g);
  if (m->join_answer.len > 0) {
    kw_buf_raw(out, m->join_answer.data, m->join_answer.len);
    kw_buf_reset(&m->join_answer);
    m->join_pending = false;
    return SIM_DONE;
  }
  int64_t next = g->join_not_before > s->now ? g->join_not_before : g->rebalance_deadline;
  r->park_until = next > s->now ? next : s->now + 1;
  return SIM_PARK;
}

static int join_park(kw_sim *s, sim_group *g, sim_cmember *m, sim_req *r, kw_buf *out) {
  m->joined = true;
  m->join_pending = true;
  m->join_conn = r->conn;
  m->join_corr = r->corr;
  m->join_ver = r->ver;
  m->last_seen = s->now;
  kw_buf_reset(&m->join_answer);
  return join_answer_or_park(s, g, m, r, out);
}

/* A JoinGroup called again while parked. */
static int join_again(kw_sim *s, sim_req *r, const kw_join_group_req *q, kw_buf *out) {
  int16_t err = sim_group_coord_error(s, r, q->group_id);
  if (err) return join_error(out, r, err, q->member_id);
  sim_group *g = sim_group_find(s, q->group_id);
  sim_cmember *m = NULL;
  for (int i = 0; g && i < g->n_cm && !m; i++)
    if ((g->cm[i]->join_pending || g->cm[i]->join_answer.len > 0) && g->cm[i]->join_conn == r->conn &&
        g->cm[i]->join_corr == r->corr)
      m = g->cm[i];
  if (!m) { /* removed meanwhile, or its static instance was taken over by a newer join */
    const sim_cmember *im = g ? by_instance(g, q->group_instance_id) : NULL;
    return join_error(out, r, im && !sim_seq(im->id, q->member_id) ? KW_KERR_FENCED_INSTANCE_ID : KW_KERR_UNKNOWN_MEMBER_ID,
                      q->member_id);
  }
  return join_answer_or_park(s, g, m, r, out);
}

static void settle_member(sim_cmember *m, const kw_join_group_req *q, int16_t ver) {
  m->session_ms = q->session_timeout_ms;
  m->rebalance_ms = ver >= 1 && q->rebalance_timeout_ms > 0 ? q->rebalance_timeout_ms : q->session_timeout_ms;
}

/* A member the group knows, rejoining: Kafka rebalances when the leader rejoins or a
 * member's protocols changed, and otherwise answers with the current generation. */
static int join_known(kw_sim *s, sim_group *g, sim_cmember *m, sim_req *r, const kw_join_group_req *q, kw_buf *out) {
  bool same = same_protos(m, q);
  if (!same && !set_protos(m, q)) return join_error(out, r, KW_KERR_COORDINATOR_NOT_AVAILABLE, q->member_id);
  settle_member(m, q, r->ver);
  m->last_seen = s->now;
  bool leader = g->leader && strcmp(g->leader, m->id) == 0;
  if (g->state == SIM_GS_PREPARING) return join_park(s, g, m, r, out);
  if (g->state == SIM_GS_COMPLETING && same) {
    join_answer(g, m, NULL, out, r->ver, r->corr);
    return SIM_DONE;
  }
  if (g->state == SIM_GS_STABLE && same && !leader) {
    join_answer(g, m, NULL, out, r->ver, r->corr);
    return SIM_DONE;
  }
  prepare_rebalance(s, g, leader ? "the leader rejoined" : "a member's protocols changed");
  return join_park(s, g, m, r, out);
}

/* A new member in the group: a rebalance starts (or goes on) for it. */
static int join_newcomer(kw_sim *s, sim_group *g, sim_cmember *m, sim_req *r, const kw_join_group_req *q, kw_buf *out) {
  settle_member(m, q, r->ver);
  prepare_rebalance(s, g, "a member joined");
  if (m->rebalance_ms > g->rebalance_deadline - s->now) g->rebalance_deadline = s->now + m->rebalance_ms;
  if (g->join_not_before > s->now) /* each newcomer during the initial delay extends it, within the timeout */
    g->join_not_before = s->now + SIM_INITIAL_REBALANCE_DELAY_MS < g->rebalance_deadline
                             ? s->now + SIM_INITIAL_REBALANCE_DELAY_MS : g->rebalance_deadline;
  return join_park(s, g, m, r, out);
}

/* A static member back with no id (restarted): it takes its old place under a new id
 * and the old id is fenced. Kafka spares a Stable group a rebalance when the protocol
 * stays the same, answering with the current generation and the leader as it was (so a
 * leader that restarted does not assign again: a stable group would not pass it on). */
static int join_static_again(kw_sim *s, sim_group *g, sim_cmember *m, char *id, sim_req *r, const kw_join_group_req *q,
                             kw_buf *out) {
  sim_trace(s, "group %s: static member %s replaces %s with %s", g->id, m->instance, m->id, id);
  char *old_leader = g->leader ? sim_sdup(sim_str(g->leader)) : NULL;
  if (g->leader && strcmp(g->leader, m->id) == 0) {
    free(g->leader);
    g->leader = sim_sdup(sim_str(id));
  }
  free(m->id);
  m->id = id;
  m->join_pending = false;
  m->last_seen = s->now;
  if (!set_protos(m, q)) {
    free(old_leader);
    return join_error(out, r, KW_KERR_COORDINATOR_NOT_AVAILABLE, q->member_id);
  }
  settle_member(m, q, r->ver);
  bool answered = false;
  if (g->state == SIM_GS_STABLE) {
    const char *p = select_protocol(g);
    answered = p && g->protocol && strcmp(p, g->protocol) == 0;
    if (answered) join_answer(g, m, old_leader, out, r->ver, r->corr);
    else prepare_rebalance(s, g, "a static member came back with other protocols");
  } else if (g->state == SIM_GS_COMPLETING) {
    prepare_rebalance(s, g, "a static member came back while the group synced");
  }
  free(old_leader);
  return answered ? SIM_DONE : join_park(s, g, m, r, out);
}

/* A member without an id: v4+ dynamic members get one with MEMBER_ID_REQUIRED and must
 * come back with it; static members (group.instance.id) and v0-3 join at once. */
static int join_new(kw_sim *s, sim_group *g, sim_req *r, const kw_join_group_req *q, kw_buf *out) {
  /* Kafka: "<group.instance.id>-<uuid>" for a static member, "<client.id>-<uuid>" otherwise */
  char *id = sim_new_member_id(s, q->group_instance_id.ptr ? q->group_instance_id : sim_client_id(s, r));
  if (!id) return join_error(out, r, KW_KERR_COORDINATOR_NOT_AVAILABLE, q->member_id);
  sim_cmember *m = by_instance(g, q->group_instance_id);
  if (m) return join_static_again(s, g, m, id, r, q, out);
  if (!q->group_instance_id.ptr && r->ver >= 4) {
    sim_pending_id *arr = realloc(g->pending, sizeof *arr * (size_t)(g->n_pending + 1));
    if (!arr) {
      free(id);
      return join_error(out, r, KW_KERR_COORDINATOR_NOT_AVAILABLE, q->member_id);
    }
    g->pending = arr;
    g->pending[g->n_pending++] = (sim_pending_id){id, s->now + q->session_timeout_ms};
    return join_error(out, r, KW_KERR_MEMBER_ID_REQUIRED, sim_str(id));
  }
  m = add_member(s, g, id, q, sim_client_id(s, r));
  if (!m) return join_error(out, r, KW_KERR_COORDINATOR_NOT_AVAILABLE, q->member_id);
  return join_newcomer(s, g, m, r, q, out);
}

/* Whether the group can take a member with these protocols (Kafka: the type matches and
 * every member supports at least one of them). */
static int16_t protocol_check(const sim_group *g, const kw_join_group_req *q) {
  if (!q->protocol_type.len || q->n_protocols <= 0) return KW_KERR_INCONSISTENT_GROUP_PROTOCOL;
  if (g->n_cm == 0) return 0;
  if (!sim_seq(g->protocol_type, q->protocol_type)) return KW_KERR_INCONSISTENT_GROUP_PROTOCOL;
  for (int32_t k = 0; k < q->n_protocols; k++) {
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)q->protocols[k].name.len, (const char *)q->protocols[k].name.ptr);
    bool all = true;
    for (int i = 0; i < g->n_cm && all; i++) all = member_supports(g->cm[i], name);
    if (all) return 0;
  }
  return KW_KERR_INCONSISTENT_GROUP_PROTOCOL;
}

static sim_group *join_group_of(kw_sim *s, const sim_req *r, const kw_join_group_req *q, int16_t *err) {
  if ((*err = sim_group_coord_error(s, r, q->group_id))) return NULL;
  if (!q->group_id.len) return *err = KW_KERR_INVALID_GROUP_ID, NULL;
  if (q->session_timeout_ms < SIM_MIN_SESSION_MS || q->session_timeout_ms > SIM_MAX_SESSION_MS)
    return *err = KW_KERR_INVALID_SESSION_TIMEOUT, NULL;
  sim_group *g = sim_group_create(s, q->group_id);
  if (!g) return *err = KW_KERR_COORDINATOR_NOT_AVAILABLE, NULL;
  /* A KIP-848 group with members does not take classic members here (Kafka can convert
   * between the two; kwsim does not model that). An empty one becomes classic. */
  if (g->type == SIM_G_CONSUMER && g->n_km > 0) return *err = KW_KERR_INCONSISTENT_GROUP_PROTOCOL, NULL;
  if (g->type != SIM_G_CLASSIC) {
    g->type = SIM_G_CLASSIC;
    g->state = SIM_GS_EMPTY;
  }
  if ((*err = protocol_check(g, q))) return NULL;
  if (g->n_cm == 0) {
    free(g->protocol_type);
    g->protocol_type = sim_sdup(q->protocol_type);
  }
  return g;
}

int sim_h_join_group(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_join_group_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  if (r->park_until) return join_again(s, r, &q, out);
  if (sim_fault(s, KW_SIM_ERROR))
    return join_error(out, r, sim_rand_below(s, 2) ? KW_KERR_COORDINATOR_LOAD_IN_PROGRESS : KW_KERR_NOT_COORDINATOR,
                      q.member_id);
  int16_t err;
  sim_group *g = join_group_of(s, r, &q, &err);
  if (!g) return join_error(out, r, err, q.member_id);
  if (!q.member_id.len) return join_new(s, g, r, &q, out);
  for (int i = 0; i < g->n_pending; i++) /* back with the id MEMBER_ID_REQUIRED gave it */
    if (sim_seq(g->pending[i].id, q.member_id)) {
      char *id = g->pending[i].id;
      g->pending[i] = g->pending[--g->n_pending];
      sim_cmember *m = add_member(s, g, id, &q, sim_client_id(s, r));
      if (!m) return join_error(out, r, KW_KERR_COORDINATOR_NOT_AVAILABLE, q.member_id);
      return join_newcomer(s, g, m, r, &q, out);
    }
  if ((err = validate_member(g, q.member_id, q.group_instance_id))) return join_error(out, r, err, q.member_id);
  if (g->state == SIM_GS_EMPTY) return join_error(out, r, KW_KERR_UNKNOWN_MEMBER_ID, q.member_id);
  return join_known(s, g, by_id(g, q.member_id), r, &q, out);
}

/* ---- SyncGroup, Heartbeat ---- */

/* The member a SyncGroup/Heartbeat names, checked as Kafka's validateMember +
 * generation check; 0 and *mp set when it is a member of the current generation. */
static int16_t check_member(kw_sim *s, const sim_req *r, kw_slice gid, kw_slice mid, kw_slice inst, int32_t gen,
                            sim_group **gp, sim_cmember **mp) {
  int16_t err = sim_group_coord_error(s, r, gid);
  if (err) return err;
  sim_group *g = sim_group_find(s, gid);
  if (!g || g->type != SIM_G_CLASSIC) return KW_KERR_UNKNOWN_MEMBER_ID;
  if ((err = validate_member(g, mid, inst))) return err;
  if (gen != g->generation) return KW_KERR_ILLEGAL_GENERATION;
  *gp = g;
  *mp = by_id(g, mid);
  return 0;
}

static int sync_answer(kw_buf *out, const sim_req *r, int16_t err, const sim_group *g, const sim_cmember *m) {
  kw_sync_group_resp resp;
  kw_msg_init(KW_SCHEMA_SYNC_GROUP_RESP, &resp);
  resp.error_code = err;
  if (!err && g) {
    resp.protocol_type = sim_sl(g->protocol_type);
    resp.protocol_name = sim_sl(g->protocol);
  }
  resp.assignment = !err && m && m->assignment ? (kw_slice){m->assignment, m->assignment_len} : sim_str("");
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* The leader's assignments, copied to every member (none given: an empty one). */
static void sync_store(kw_sim *s, sim_group *g, const kw_sync_group_req *q) {
  for (int i = 0; i < g->n_cm; i++) {
    sim_cmember *m = g->cm[i];
    free(m->assignment);
    m->assignment = NULL;
    m->assignment_len = 0;
    for (int32_t k = 0; k < q->n_assignments; k++)
      if (sim_seq(m->id, q->assignments[k].member_id) && q->assignments[k].assignment.len > 0) {
        m->assignment = malloc((size_t)q->assignments[k].assignment.len);
        if (m->assignment) {
          memcpy(m->assignment, q->assignments[k].assignment.ptr, (size_t)q->assignments[k].assignment.len);
          m->assignment_len = q->assignments[k].assignment.len;
        }
      }
  }
  g->state = SIM_GS_STABLE;
  sim_trace(s, "group %s: stable at generation %d", g->id, g->generation);
}

int sim_h_sync_group(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_sync_group_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  if (!r->park_until && sim_fault(s, KW_SIM_ERROR))
    return sync_answer(out, r, sim_rand_below(s, 2) ? KW_KERR_COORDINATOR_LOAD_IN_PROGRESS : KW_KERR_NOT_COORDINATOR,
                       NULL, NULL);
  sim_group *g = NULL;
  sim_cmember *m = NULL;
  int16_t err = check_member(s, r, q.group_id, q.member_id, q.group_instance_id, q.generation_id, &g, &m);
  if (!err && r->ver >= 5 && ((q.protocol_type.ptr && !sim_seq(g->protocol_type, q.protocol_type)) ||
                              (q.protocol_name.ptr && !sim_seq(g->protocol, q.protocol_name))))
    err = KW_KERR_INCONSISTENT_GROUP_PROTOCOL;
  if (!err && g->state == SIM_GS_EMPTY) err = KW_KERR_UNKNOWN_MEMBER_ID;
  if (!err && g->state == SIM_GS_PREPARING) err = KW_KERR_REBALANCE_IN_PROGRESS;
  if (err) return sync_answer(out, r, err, NULL, NULL);
  m->last_seen = s->now;
  if (g->state == SIM_GS_COMPLETING) {
    m->synced = true;
    if (g->leader && strcmp(g->leader, m->id) == 0) sync_store(s, g, &q);
  }
  if (g->state == SIM_GS_STABLE) return sync_answer(out, r, 0, g, m);
  r->park_until = g->sync_deadline > s->now ? g->sync_deadline : s->now + 1; /* until the leader's arrives */
  return SIM_PARK;
}

int sim_h_heartbeat(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_heartbeat_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  kw_heartbeat_resp resp;
  kw_msg_init(KW_SCHEMA_HEARTBEAT_RESP, &resp);
  sim_group *g = NULL;
  sim_cmember *m = NULL;
  if (sim_fault(s, KW_SIM_ERROR))
    resp.error_code = sim_rand_below(s, 2) ? KW_KERR_COORDINATOR_LOAD_IN_PROGRESS : KW_KERR_NOT_COORDINATOR;
  else
    resp.error_code = check_member(s, r, q.group_id, q.member_id, q.group_instance_id, q.generation_id, &g, &m);
  if (m) {
    m->last_seen = s->now;
    if (g->state == SIM_GS_PREPARING) resp.error_code = KW_KERR_REBALANCE_IN_PROGRESS;
    else if (g->state == SIM_GS_EMPTY) resp.error_code = KW_KERR_UNKNOWN_MEMBER_ID;
  }
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* ---- LeaveGroup ---- */

static int16_t leave_one(kw_sim *s, sim_group *g, kw_slice mid, kw_slice inst) {
  sim_cmember *m = inst.ptr ? by_instance(g, inst) : by_id(g, mid);
  if (!m) return KW_KERR_UNKNOWN_MEMBER_ID;
  if (inst.ptr && mid.len > 0 && !sim_seq(m->id, mid)) return KW_KERR_FENCED_INSTANCE_ID;
  remove_member(s, g, m, "left the group");
  return 0;
}

int sim_h_leave_group(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_leave_group_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  kw_leave_group_resp resp;
  kw_msg_init(KW_SCHEMA_LEAVE_GROUP_RESP, &resp);
  int16_t err = sim_fault(s, KW_SIM_ERROR) ? (sim_rand_below(s, 2) ? KW_KERR_COORDINATOR_LOAD_IN_PROGRESS : KW_KERR_NOT_COORDINATOR)
                                           : sim_group_coord_error(s, r, q.group_id);
  sim_group *g = err ? NULL : sim_group_find(s, q.group_id);
  if (!err && (!g || g->type != SIM_G_CLASSIC)) err = KW_KERR_UNKNOWN_MEMBER_ID;
  resp.error_code = err;
  int removed = 0;
  if (!err && r->ver < 3) {
    resp.error_code = leave_one(s, g, q.member_id, (kw_slice){NULL, 0});
    removed += !resp.error_code;
  } else if (!err) {
    int32_t n = q.n_members > 0 ? q.n_members : 0;
    resp.members = kw_arena_alloc(&s->arena, sizeof *resp.members * (size_t)(n ? n : 1));
    if (!resp.members) return SIM_NO_ANSWER;
    resp.n_members = n;
    for (int32_t i = 0; i < n; i++) {
      kw_leave_group_resp_member_response *mr = &resp.members[i];
      kw_msg_init(KW_SCHEMA_LEAVE_GROUP_RESP_MEMBER_RESPONSE, mr);
      mr->member_id = q.members[i].member_id;
      mr->group_instance_id = q.members[i].group_instance_id;
      mr->error_code = leave_one(s, g, q.members[i].member_id, q.members[i].group_instance_id);
      removed += !mr->error_code;
    }
  }
  if (removed) after_removal(s, g, "a member left");
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* ---- OffsetCommit's checks (Kafka's ClassicGroup.validateOffsetCommit) ---- */

int16_t sim_classic_validate_commit(sim_group *g, kw_slice member, kw_slice instance, int32_t generation) {
  bool empty = g->type != SIM_G_CLASSIC || g->state == SIM_GS_EMPTY;
  if (generation < 0 && empty) return 0; /* a simple consumer or an admin tool */
  if (generation >= 0 || member.len > 0 || instance.ptr) {
    int16_t err = validate_member(g, member, instance);
    if (err) return err;
    if (generation != g->generation) return KW_KERR_ILLEGAL_GENERATION;
  } else if (!empty) {
    return KW_KERR_UNKNOWN_MEMBER_ID;
  }
  /* The member has its JoinGroup answer but the group has not synced: it must wait. */
  if (g->state == SIM_GS_COMPLETING) return KW_KERR_REBALANCE_IN_PROGRESS;
  return 0;
}
