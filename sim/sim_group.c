/* kwsim's group coordinators: which broker coordinates a group (or a transactional id),
 * FindCoordinator, the registry of groups, OffsetCommit / OffsetFetch and the timers.
 * The classic protocol is in sim_group_classic.c, KIP-848 in sim_group848.c. */
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_group_int.h"

/* ---- small helpers ---- */

char *sim_sdup(kw_slice v) {
  if (!v.ptr) return NULL;
  char *p = malloc((size_t)v.len + 1);
  if (!p) return NULL;
  memcpy(p, v.ptr, (size_t)v.len);
  p[v.len] = 0;
  return p;
}

bool sim_seq(const char *a, kw_slice b) {
  if (!a || !b.ptr) return !a && !b.ptr;
  return strlen(a) == (size_t)b.len && memcmp(a, b.ptr, (size_t)b.len) == 0;
}

kw_slice sim_sl(const char *a) { return a ? sim_str(a) : (kw_slice){NULL, 0}; }

kw_slice sim_client_id(kw_sim *s, const sim_req *r) {
  (void)s;
  kw_rd rd;
  kw_req_header h;
  kw_rd_init(&rd, r->body, r->body_len);
  if (kw_req_header_decode(&rd, &h, kw_req_header_version(r->api, r->ver)) != 0 || !h.client_id.ptr)
    return sim_str("");
  return h.client_id;
}

kw_uuid sim_random_uuid(kw_sim *s) {
  kw_uuid u;
  uint64_t a = sim_rand(s), b = sim_rand(s);
  memcpy(u.b, &a, 8);
  memcpy(u.b + 8, &b, 8);
  return u;
}

char *sim_new_member_id(kw_sim *s, kw_slice client_id) {
  kw_uuid u = sim_random_uuid(s);
  size_t n = (size_t)client_id.len + 1 + 36 + 1;
  char *p = malloc(n);
  if (!p) return NULL;
  int at = client_id.ptr ? snprintf(p, n, "%.*s-", (int)client_id.len, (const char *)client_id.ptr) : 0;
  for (int i = 0; i < 16; i++) at += snprintf(p + at, n - (size_t)at, "%s%02x", (i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "", u.b[i]);
  return p;
}

/* ---- the registry ---- */

struct sim_groups *sim_groups_get(kw_sim *s) {
  if (!s->groups) s->groups = calloc(1, sizeof *s->groups);
  return s->groups;
}

sim_group *sim_group_find(kw_sim *s, kw_slice id) {
  if (!s->groups) return NULL;
  for (int i = 0; i < s->groups->n; i++)
    if (sim_seq(s->groups->g[i]->id, id)) return s->groups->g[i];
  return NULL;
}

sim_group *sim_group_create(kw_sim *s, kw_slice id) {
  sim_group *g = sim_group_find(s, id);
  struct sim_groups *gs = sim_groups_get(s);
  if (g || !gs || !id.ptr) return g;
  sim_group **arr = realloc(gs->g, sizeof *arr * (size_t)(gs->n + 1));
  if (!arr) return NULL;
  gs->g = arr;
  g = calloc(1, sizeof *g);
  if (!g || !(g->id = sim_sdup(id))) {
    free(g);
    return NULL;
  }
  gs->g[gs->n++] = g;
  sim_trace(s, "group %s created", g->id);
  return g;
}

/* ---- coordinators ---- */

static int32_t next_live(kw_sim *s, int32_t from) {
  for (int k = 0; k < s->n_brokers; k++) {
    int32_t n = 1 + (from - 1 + k) % s->n_brokers;
    if (s->brokers[n].up) return n;
  }
  return -1;
}

/* Kafka hashes the key onto a partition of __consumer_offsets (or __transaction_state)
 * whose leader coordinates it; here the hash picks a broker directly. Remembered, so a
 * coordinator changes only when it moves. */
static sim_coord *coord_for(kw_sim *s, int8_t type, kw_slice key) {
  struct sim_groups *gs = sim_groups_get(s);
  if (!gs || !key.ptr) return NULL;
  for (int i = 0; i < gs->n_coord; i++)
    if (gs->coord[i].key_type == type && sim_seq(gs->coord[i].key, key)) return &gs->coord[i];
  sim_coord *arr = realloc(gs->coord, sizeof *arr * (size_t)(gs->n_coord + 1));
  if (!arr) return NULL;
  gs->coord = arr;
  uint32_t h = 2166136261u; /* FNV-1a: fixed across runs and platforms */
  for (int32_t i = 0; i < key.len; i++) h = (h ^ key.ptr[i]) * 16777619u;
  sim_coord *c = &gs->coord[gs->n_coord];
  *c = (sim_coord){sim_sdup(key), type, (int32_t)(1 + (h ^ (uint32_t)type) % (uint32_t)s->n_brokers), 0};
  if (!c->key) return NULL;
  gs->n_coord++;
  return c;
}

int32_t sim_groups_coordinator(kw_sim *s, const char *group, size_t len) {
  sim_coord *c = coord_for(s, 0, (kw_slice){(const uint8_t *)group, (int32_t)len});
  return c ? c->node : -1;
}

int32_t sim_txn_coordinator(kw_sim *s, const char *transactional_id, size_t len) {
  sim_coord *c = coord_for(s, 1, (kw_slice){(const uint8_t *)transactional_id, (int32_t)len});
  return c ? c->node : -1;
}

static void move_coord(kw_sim *s, sim_coord *c, int32_t to) {
  sim_trace(s, "coordinator of %s %s moves from broker %d to %d", c->key_type ? "transactional id" : "group", c->key,
            c->node, to);
  c->node = to;
  c->loaded_at = s->now + 1 + (int64_t)sim_rand_below(s, 50); /* the new coordinator reads the log first */
  if (c->key_type != 0) return;
  sim_group *g = sim_group_find(s, sim_str(c->key));
  if (g && g->type == SIM_G_CLASSIC) sim_classic_moved(s, g);
}

void sim_groups_move_coordinator(kw_sim *s) {
  struct sim_groups *gs = s->groups;
  if (!gs || gs->n_coord == 0) return;
  sim_coord *c = &gs->coord[sim_rand_below(s, (uint64_t)gs->n_coord)];
  int32_t to = next_live(s, c->node + 1 + (int32_t)sim_rand_below(s, (uint64_t)s->n_brokers));
  if (to > 0 && to != c->node) move_coord(s, c, to);
}

int16_t sim_group_coord_error(kw_sim *s, const sim_req *r, kw_slice group) {
  sim_coord *c = coord_for(s, 0, group);
  if (!c) return KW_KERR_COORDINATOR_NOT_AVAILABLE;
  if (c->node != r->node) return KW_KERR_NOT_COORDINATOR;
  if (s->now < c->loaded_at) return KW_KERR_COORDINATOR_LOAD_IN_PROGRESS;
  return 0;
}

/* ---- FindCoordinator ---- */

static void find_one(kw_sim *s, int8_t type, kw_slice key, bool fault, int16_t *err, int32_t *node) {
  sim_coord *c = type == 0 || type == 1 ? coord_for(s, type, key) : NULL;
  *node = -1;
  if (type != 0 && type != 1) *err = KW_KERR_INVALID_REQUEST; /* share groups: not modelled */
  else if (fault || !c || !s->brokers[c->node].up) *err = KW_KERR_COORDINATOR_NOT_AVAILABLE;
  else *err = 0, *node = c->node;
}

/* The coordinator's address as Metadata gives it (in loopback mode, its port). */
static void address_of(kw_sim *s, int32_t node, kw_slice *host, int32_t *port) {
  if (node < 0) {
    *host = sim_str("");
    *port = -1;
  } else {
    sim_broker_address(s, node, host, port);
  }
}

int sim_h_find_coordinator(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_find_coordinator_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  bool fault = sim_fault(s, KW_SIM_ERROR);
  kw_find_coordinator_resp resp;
  kw_msg_init(KW_SCHEMA_FIND_COORDINATOR_RESP, &resp);
  if (r->ver < 4) {
    find_one(s, q.key_type, q.key, fault, &resp.error_code, &resp.node_id);
    address_of(s, resp.node_id, &resp.host, &resp.port);
  } else {
    int32_t n = q.n_coordinator_keys > 0 ? q.n_coordinator_keys : 0;
    resp.coordinators = kw_arena_alloc(&s->arena, sizeof *resp.coordinators * (size_t)(n ? n : 1));
    if (!resp.coordinators) return SIM_NO_ANSWER;
    resp.n_coordinators = n;
    for (int32_t i = 0; i < n; i++) {
      kw_find_coordinator_resp_coordinator *c = &resp.coordinators[i];
      kw_msg_init(KW_SCHEMA_FIND_COORDINATOR_RESP_COORDINATOR, c);
      c->key = q.coordinator_keys[i];
      find_one(s, q.key_type, c->key, fault, &c->error_code, &c->node_id);
      address_of(s, c->node_id, &c->host, &c->port);
    }
  }
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* ---- offsets ---- */

static sim_offset *offset_find(sim_group *g, const char *topic, int32_t part) {
  for (int i = 0; i < g->n_off; i++)
    if (g->off[i].part == part && strcmp(g->off[i].topic, topic) == 0) return &g->off[i];
  return NULL;
}

static int16_t offset_store(sim_group *g, const char *topic, const kw_offset_commit_req_partition *p) {
  if (p->committed_metadata.len > 4096) return KW_KERR_OFFSET_METADATA_TOO_LARGE; /* offset.metadata.max.bytes */
  sim_offset *o = offset_find(g, topic, p->partition_index);
  if (!o) {
    sim_offset *arr = realloc(g->off, sizeof *arr * (size_t)(g->n_off + 1));
    if (!arr) return KW_KERR_COORDINATOR_NOT_AVAILABLE;
    g->off = arr;
    o = &g->off[g->n_off];
    *o = (sim_offset){sim_sdup(sim_str(topic)), p->partition_index, -1, -1, NULL};
    if (!o->topic) return KW_KERR_COORDINATOR_NOT_AVAILABLE;
    g->n_off++;
  }
  free(o->meta);
  o->meta = sim_sdup(p->committed_metadata);
  o->offset = p->committed_offset;
  o->leader_epoch = p->committed_leader_epoch;
  return 0;
}

/* A retriable error a coordinator gives when it cannot serve the group right now. */
static int16_t fault_error(kw_sim *s) {
  static const int16_t errs[] = {KW_KERR_COORDINATOR_LOAD_IN_PROGRESS, KW_KERR_NOT_COORDINATOR,
                                 KW_KERR_COORDINATOR_NOT_AVAILABLE};
  return errs[sim_rand_below(s, 3)];
}

/* Whether the commit may be applied, as Kafka's OffsetMetadataManager.validateOffsetCommit. */
static int16_t commit_check(kw_sim *s, const sim_req *r, const kw_offset_commit_req *q, sim_group **gp) {
  if (sim_fault(s, KW_SIM_ERROR)) return fault_error(s);
  int16_t err = sim_group_coord_error(s, r, q->group_id);
  if (err) return err;
  sim_group *g = sim_group_find(s, q->group_id);
  if (!g) {
    if (q->generation_id_or_member_epoch >= 0) return r->ver >= 9 ? KW_KERR_GROUP_ID_NOT_FOUND : KW_KERR_ILLEGAL_GENERATION;
    g = sim_group_create(s, q->group_id); /* a simple consumer's group: offsets only */
    if (!g) return KW_KERR_COORDINATOR_NOT_AVAILABLE;
  }
  *gp = g;
  if (g->type == SIM_G_CONSUMER) return sim_848_validate_commit(g, q->member_id, q->generation_id_or_member_epoch, r->ver);
  return sim_classic_validate_commit(g, q->member_id, q->group_instance_id, q->generation_id_or_member_epoch);
}

int sim_h_offset_commit(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_offset_commit_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  sim_group *g = NULL;
  int16_t err = commit_check(s, r, &q, &g);
  kw_offset_commit_resp resp;
  kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_RESP, &resp);
  int32_t nt = q.n_topics > 0 ? q.n_topics : 0;
  resp.topics = kw_arena_alloc(&s->arena, sizeof *resp.topics * (size_t)(nt ? nt : 1));
  if (!resp.topics) return SIM_NO_ANSWER;
  resp.n_topics = nt;
  for (int32_t i = 0; i < nt; i++) {
    const kw_offset_commit_req_topic *qt = &q.topics[i];
    kw_offset_commit_resp_topic *t = &resp.topics[i];
    kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_RESP_TOPIC, t);
    t->name = qt->name;
    t->topic_id = qt->topic_id;
    /* v10 names topics by id: an id the cluster does not know cannot be committed. */
    const sim_topic *st = r->ver >= 10 ? sim_topic_by_id(s, &qt->topic_id) : NULL;
    const char *name = st ? st->name : NULL;
    char *owned = r->ver < 10 ? kw_arena_alloc(&s->arena, (size_t)qt->name.len + 1) : NULL;
    if (owned) {
      memcpy(owned, qt->name.ptr, (size_t)qt->name.len);
      owned[qt->name.len] = 0;
      name = owned;
    }
    int32_t np = qt->n_partitions > 0 ? qt->n_partitions : 0;
    t->partitions = kw_arena_alloc(&s->arena, sizeof *t->partitions * (size_t)(np ? np : 1));
    if (!t->partitions) return SIM_NO_ANSWER;
    t->n_partitions = np;
    for (int32_t k = 0; k < np; k++) {
      kw_offset_commit_resp_partition *p = &t->partitions[k];
      kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_RESP_PARTITION, p);
      p->partition_index = qt->partitions[k].partition_index;
      if (err) p->error_code = err;
      else if (!name) p->error_code = r->ver >= 10 ? KW_KERR_UNKNOWN_TOPIC_ID : KW_KERR_COORDINATOR_NOT_AVAILABLE;
      else p->error_code = offset_store(g, name, &qt->partitions[k]);
    }
  }
  if (!err) sim_trace(s, "group %s: offsets committed (%d topics)", g->id, nt);
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* ---- OffsetFetch ---- */

static void fetch_partition(const sim_group *g, const char *topic, int32_t part, int16_t err,
                            kw_offset_fetch_resp_partitions *p) {
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_RESP_PARTITIONS, p);
  p->partition_index = part;
  p->committed_offset = -1;
  p->committed_leader_epoch = -1;
  p->metadata = sim_str(""); /* Kafka's NO_METADATA */
  p->error_code = err;
  const sim_offset *o = g && topic && !err ? offset_find((sim_group *)g, topic, part) : NULL;
  if (!o) return;
  p->committed_offset = o->offset;
  p->committed_leader_epoch = o->leader_epoch;
  p->metadata = sim_sl(o->meta);
}

/* The distinct topics a group has offsets for, in the order they were first committed. */
static int committed_topics(kw_sim *s, const sim_group *g, const char ***names) {
  *names = kw_arena_alloc(&s->arena, sizeof **names * (size_t)(g && g->n_off ? g->n_off : 1));
  int n = 0;
  for (int i = 0; *names && g && i < g->n_off; i++) {
    bool seen = false;
    for (int k = 0; k < n && !seen; k++) seen = strcmp((*names)[k], g->off[i].topic) == 0;
    if (!seen) (*names)[n++] = g->off[i].topic;
  }
  return *names ? n : 0;
}

static void fetch_topic_all(kw_sim *s, const sim_group *g, const char *name, kw_offset_fetch_resp_topics *t) {
  int np = 0;
  for (int i = 0; i < g->n_off; i++) np += strcmp(g->off[i].topic, name) == 0;
  t->partitions = kw_arena_alloc(&s->arena, sizeof *t->partitions * (size_t)(np ? np : 1));
  t->n_partitions = 0;
  for (int i = 0; t->partitions && i < g->n_off; i++)
    if (strcmp(g->off[i].topic, name) == 0) fetch_partition(g, name, g->off[i].part, 0, &t->partitions[t->n_partitions++]);
}

/* One group's answer, in v8's shape (v1-7 copy it into theirs). */
static void fetch_group(kw_sim *s, const sim_req *r, const kw_offset_fetch_req_group *qg, kw_offset_fetch_resp_group *rg) {
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_RESP_GROUP, rg);
  rg->group_id = qg->group_id;
  int16_t err = sim_fault(s, KW_SIM_ERROR) ? fault_error(s) : sim_group_coord_error(s, r, qg->group_id);
  sim_group *g = sim_group_find(s, qg->group_id);
  if (!err && g && g->type == SIM_G_CONSUMER && r->ver >= 9 && (qg->member_id.ptr || qg->member_epoch >= 0))
    err = sim_848_validate_fetch(g, qg->member_id, qg->member_epoch);
  rg->error_code = err;
  const char **all = NULL;
  int32_t nt = qg->n_topics >= 0 ? qg->n_topics : (err ? 0 : committed_topics(s, g, &all));
  rg->topics = kw_arena_alloc(&s->arena, sizeof *rg->topics * (size_t)(nt ? nt : 1));
  if (!rg->topics) return;
  rg->n_topics = nt;
  for (int32_t i = 0; i < nt; i++) {
    kw_offset_fetch_resp_topics *t = &rg->topics[i];
    kw_msg_init(KW_SCHEMA_OFFSET_FETCH_RESP_TOPICS, t);
    if (all) {
      const sim_topic *st = sim_topic_find(s, all[i], strlen(all[i]));
      t->name = sim_str(all[i]);
      if (st) t->topic_id = st->id;
      fetch_topic_all(s, g, all[i], t);
      continue;
    }
    const kw_offset_fetch_req_topics *qt = &qg->topics[i];
    t->name = qt->name;
    t->topic_id = qt->topic_id;
    const sim_topic *st = r->ver >= 10 ? sim_topic_by_id(s, &qt->topic_id) : NULL;
    char *name = st ? st->name : (r->ver < 10 ? kw_arena_alloc(&s->arena, (size_t)qt->name.len + 1) : NULL);
    if (name && !st) {
      memcpy(name, qt->name.ptr, (size_t)qt->name.len);
      name[qt->name.len] = 0;
    }
    int16_t perr = !name && r->ver >= 10 ? KW_KERR_UNKNOWN_TOPIC_ID : 0;
    int32_t np = qt->n_partition_indexes > 0 ? qt->n_partition_indexes : 0;
    t->partitions = kw_arena_alloc(&s->arena, sizeof *t->partitions * (size_t)(np ? np : 1));
    t->n_partitions = t->partitions ? np : 0;
    for (int32_t k = 0; k < t->n_partitions; k++)
      fetch_partition(g, name, qt->partition_indexes[k], err ? err : perr, &t->partitions[k]);
  }
}

/* v1-7: one group, the answer's topics in the older structs. */
static void fetch_v7(kw_sim *s, const sim_req *r, const kw_offset_fetch_req *q, kw_offset_fetch_resp *resp) {
  kw_offset_fetch_req_group qg;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_GROUP, &qg);
  qg.group_id = q->group_id;
  qg.n_topics = q->n_topics;
  if (q->n_topics > 0) {
    qg.topics = kw_arena_alloc(&s->arena, sizeof *qg.topics * (size_t)q->n_topics);
    if (!qg.topics) return;
    for (int32_t i = 0; i < q->n_topics; i++) {
      kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_TOPICS, &qg.topics[i]);
      qg.topics[i].name = q->topics[i].name;
      qg.topics[i].partition_indexes = q->topics[i].partition_indexes;
      qg.topics[i].n_partition_indexes = q->topics[i].n_partition_indexes;
    }
  }
  kw_offset_fetch_resp_group rg;
  fetch_group(s, r, &qg, &rg);
  if (r->ver >= 2) resp->error_code = rg.error_code; /* v1 has per-partition errors only */
  resp->topics = kw_arena_alloc(&s->arena, sizeof *resp->topics * (size_t)(rg.n_topics > 0 ? rg.n_topics : 1));
  if (!resp->topics) return;
  resp->n_topics = rg.n_topics > 0 ? rg.n_topics : 0;
  for (int32_t i = 0; i < resp->n_topics; i++) {
    kw_offset_fetch_resp_topic *t = &resp->topics[i];
    kw_msg_init(KW_SCHEMA_OFFSET_FETCH_RESP_TOPIC, t);
    t->name = rg.topics[i].name;
    t->n_partitions = rg.topics[i].n_partitions;
    t->partitions = kw_arena_alloc(&s->arena, sizeof *t->partitions * (size_t)(t->n_partitions > 0 ? t->n_partitions : 1));
    if (!t->partitions) t->n_partitions = 0;
    for (int32_t k = 0; k < t->n_partitions; k++) {
      const kw_offset_fetch_resp_partitions *src = &rg.topics[i].partitions[k];
      kw_offset_fetch_resp_partition *p = &t->partitions[k];
      kw_msg_init(KW_SCHEMA_OFFSET_FETCH_RESP_PARTITION, p);
      p->partition_index = src->partition_index;
      p->committed_offset = src->committed_offset;
      p->committed_leader_epoch = src->committed_leader_epoch;
      p->metadata = src->metadata;
      p->error_code = r->ver >= 2 && rg.error_code ? 0 : src->error_code;
    }
  }
}

/* require_stable asks for UNSTABLE_OFFSET_COMMIT while a transaction's offsets are
 * pending; kwsim has no transactional offsets yet, so every offset is stable. */
int sim_h_offset_fetch(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_offset_fetch_req q;
  if (sim_decode(s, r, &q)) {
    sim_net_break(s, r->conn);
    return SIM_NO_ANSWER;
  }
  kw_offset_fetch_resp resp;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_RESP, &resp);
  if (r->ver < 8) {
    fetch_v7(s, r, &q, &resp);
  } else {
    int32_t n = q.n_groups > 0 ? q.n_groups : 0;
    resp.groups = kw_arena_alloc(&s->arena, sizeof *resp.groups * (size_t)(n ? n : 1));
    if (!resp.groups) return SIM_NO_ANSWER;
    resp.n_groups = n;
    for (int32_t i = 0; i < n; i++) fetch_group(s, r, &q.groups[i], &resp.groups[i]);
  }
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

int64_t kw_sim_committed(kw_sim *s, const char *group, const char *topic, int32_t partition) {
  sim_group *g = group && topic ? sim_group_find(s, sim_str(group)) : NULL;
  const sim_offset *o = g ? offset_find(g, topic, partition) : NULL;
  return o ? o->offset : -1;
}

/* ---- timers, teardown ---- */

void sim_groups_tick(kw_sim *s) {
  struct sim_groups *gs = s->groups;
  if (!gs) return;
  /* A crashed coordinator's partitions get a new leader: its groups move. */
  int64_t failover = s->cfg.crash_ms / 2 < SIM_COORD_FAILOVER_MS ? s->cfg.crash_ms / 2 : SIM_COORD_FAILOVER_MS;
  for (int i = 0; i < gs->n_coord; i++) {
    sim_coord *c = &gs->coord[i];
    const sim_broker *b = &s->brokers[c->node];
    int64_t crashed_at = b->restart_at - s->cfg.crash_ms;
    int32_t to = !b->up && s->now - crashed_at >= failover ? next_live(s, c->node + 1) : -1;
    if (to > 0) move_coord(s, c, to);
  }
  for (int i = 0; i < gs->n; i++) {
    if (gs->g[i]->type == SIM_G_CLASSIC) sim_classic_tick(s, gs->g[i]);
    else if (gs->g[i]->type == SIM_G_CONSUMER) sim_848_tick(s, gs->g[i]);
  }
}

void sim_groups_free(kw_sim *s) {
  struct sim_groups *gs = s->groups;
  if (!gs) return;
  for (int i = 0; i < gs->n; i++) {
    sim_group *g = gs->g[i];
    sim_classic_free(g);
    sim_848_free(g);
    for (int k = 0; k < g->n_off; k++) {
      free(g->off[k].topic);
      free(g->off[k].meta);
    }
    free(g->off);
    free(g->id);
    free(g);
  }
  for (int i = 0; i < gs->n_coord; i++) free(gs->coord[i].key);
  free(gs->coord);
  free(gs->g);
  free(gs);
  s->groups = NULL;
}
