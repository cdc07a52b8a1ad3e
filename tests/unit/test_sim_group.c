#define _POSIX_C_SOURCE 200809L /* fmemopen */
/* kwsim's group coordinators (sim/sim_group*.c), driven request by request: each request
 * is encoded with kwire's codec, handed to the simulated broker's dispatch
 * (sim_broker_handle) as if it came off a connection, and its answer decoded. A parked
 * request (JoinGroup, SyncGroup) is called again as the simulator's network would, after
 * other requests or virtual time moved on. The cases check the model against Kafka's
 * documented behaviour (KIP-394 member ids, KIP-345 static members, KIP-848). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "sim/sim_group_int.h"

/* ---- calling the broker ---- */

typedef struct call {
  kw_buf frame; /* the request as it came off the wire (no size prefix); lives while parked */
  sim_req r;
  kw_buf out;
  int rc;
} call;

static kw_sim *S;
static kw_arena *A; /* decoded answers */

static void handle(call *c) {
  kw_buf_reset(&c->out);
  c->r.final = S->now >= c->r.park_until;
  c->rc = sim_broker_handle(S, &c->r, &c->out);
  kw_arena_reset(&S->arena);
}

/* Sends a request to broker `node` on connection `conn`. */
static void start(call *c, int16_t api, int16_t ver, const void *msg, int32_t node, int conn) {
  static int32_t corr = 100;
  kw_buf_init_grow(&c->frame, NULL);
  kw_buf_init_grow(&c->out, NULL);
  kw_req_header h = {api, ver, ++corr, sim_str(conn == 2 ? "client-b" : "client-a")};
  kw_req_header_encode(&c->frame, &h, kw_req_header_version(api, ver));
  cr_assert_eq(kw_request_encode(api, ver, msg, &c->frame), 0);
  c->r = (sim_req){.conn = conn, .node = node, .api = api, .ver = ver, .body = c->frame.data,
                   .body_len = c->frame.len, .arrived = S->now};
  handle(c);
}

static void again(call *c) {
  cr_assert_eq(c->rc, SIM_PARK, "only a parked request is called again");
  c->r.body = c->frame.data;
  handle(c);
}

static void answer(call *c, void *resp) {
  cr_assert_eq(c->rc, SIM_DONE);
  kw_rd rd;
  kw_rd_init(&rd, c->out.data + 4, c->out.len - 4);
  int32_t corr;
  cr_assert_eq(kw_resp_header_decode(&rd, &corr, kw_resp_header_version(c->r.api, c->r.ver)), 0);
  cr_assert_eq(corr, c->r.corr);
  cr_assert_eq(kw_response_decode(c->r.api, c->r.ver, &rd, A, resp), 0);
}

static void done(call *c) {
  kw_buf_free(&c->frame);
  kw_buf_free(&c->out);
}

static char *dup_slice(kw_slice v) { return sim_sdup(v); }

static bool slice_is(kw_slice v, const char *s) { return sim_seq(s, v); }

/* ---- classic requests ---- */

static void join(call *c, int32_t node, int conn, const char *member, const char *instance, const char *meta) {
  kw_join_group_req_protocol p[2];
  kw_msg_init(KW_SCHEMA_JOIN_GROUP_REQ_PROTOCOL, &p[0]);
  kw_msg_init(KW_SCHEMA_JOIN_GROUP_REQ_PROTOCOL, &p[1]);
  p[0].name = sim_str("range");
  p[0].metadata = sim_str(meta);
  p[1].name = sim_str("roundrobin");
  p[1].metadata = sim_str(meta);
  kw_join_group_req q;
  kw_msg_init(KW_SCHEMA_JOIN_GROUP_REQ, &q);
  q.group_id = sim_str("g");
  q.session_timeout_ms = 10000;
  q.rebalance_timeout_ms = 30000;
  q.member_id = sim_str(member);
  q.group_instance_id = instance ? sim_str(instance) : (kw_slice){NULL, 0};
  q.protocol_type = sim_str("consumer");
  q.protocols = p;
  q.n_protocols = 2;
  start(c, KW_API_JOIN_GROUP, 9, &q, node, conn);
}

static kw_join_group_resp join_resp(call *c) {
  kw_join_group_resp r;
  answer(c, &r);
  return r;
}

static void sync_req(call *c, int conn, const char *member, int32_t gen, int n, const char **ids, const char **bytes) {
  kw_sync_group_req_assignment as[4];
  for (int i = 0; i < n; i++) {
    kw_msg_init(KW_SCHEMA_SYNC_GROUP_REQ_ASSIGNMENT, &as[i]);
    as[i].member_id = sim_str(ids[i]);
    as[i].assignment = sim_str(bytes[i]);
  }
  kw_sync_group_req q;
  kw_msg_init(KW_SCHEMA_SYNC_GROUP_REQ, &q);
  q.group_id = sim_str("g");
  q.generation_id = gen;
  q.member_id = sim_str(member);
  q.protocol_type = sim_str("consumer");
  q.protocol_name = sim_str("range");
  q.assignments = as;
  q.n_assignments = n;
  start(c, KW_API_SYNC_GROUP, 5, &q, 1, conn);
}

static int16_t heartbeat(int32_t node, const char *member, int32_t gen) {
  kw_heartbeat_req q;
  kw_msg_init(KW_SCHEMA_HEARTBEAT_REQ, &q);
  q.group_id = sim_str("g");
  q.generation_id = gen;
  q.member_id = sim_str(member);
  call c;
  start(&c, KW_API_HEARTBEAT, 4, &q, node, 1);
  kw_heartbeat_resp r;
  answer(&c, &r);
  done(&c);
  return r.error_code;
}

/* OffsetCommit of one partition of "t"; the partition's error. */
static int16_t commit(int16_t ver, const char *group, const char *member, int32_t gen, int32_t part, int64_t offset) {
  kw_offset_commit_req_partition p;
  kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_REQ_PARTITION, &p);
  p.partition_index = part;
  p.committed_offset = offset;
  p.committed_metadata = sim_str("m");
  kw_offset_commit_req_topic t;
  kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_REQ_TOPIC, &t);
  t.name = sim_str("t");
  t.topic_id = S->topics[0]->id;
  t.partitions = &p;
  t.n_partitions = 1;
  kw_offset_commit_req q;
  kw_msg_init(KW_SCHEMA_OFFSET_COMMIT_REQ, &q);
  q.group_id = sim_str(group);
  q.generation_id_or_member_epoch = gen;
  q.member_id = sim_str(member);
  q.topics = &t;
  q.n_topics = 1;
  call c;
  start(&c, KW_API_OFFSET_COMMIT, ver, &q, 1, 1);
  kw_offset_commit_resp r;
  answer(&c, &r);
  done(&c);
  cr_assert_eq(r.n_topics, 1);
  cr_assert_eq(r.topics[0].n_partitions, 1);
  return r.topics[0].partitions[0].error_code;
}

/* ---- the cluster ---- */

static void setup(int brokers) {
  kw_sim_config cfg = {.seed = 42, .n_brokers = brokers, .trace = getenv("SIM_TRACE") ? stderr : NULL};
  S = kw_sim_new(&cfg);
  A = kw_arena_new(NULL, 0);
  cr_assert(S && A);
  cr_assert_eq(kw_sim_create_topic(S, "t", 4, 1), 0);
}

static void teardown(void) {
  kw_sim_free(S);
  S = NULL;
  kw_arena_destroy(A);
}

static void advance(int64_t ms) {
  S->now += ms;
  sim_groups_tick(S);
}

/* A empty-id JoinGroup v9: MEMBER_ID_REQUIRED with the id the coordinator made. */
static char *member_id_required(int conn) {
  call c;
  join(&c, 1, conn, "", NULL, "x");
  kw_join_group_resp r = join_resp(&c);
  cr_assert_eq(r.error_code, KW_KERR_MEMBER_ID_REQUIRED);
  cr_assert_eq(r.generation_id, -1);
  cr_assert(r.member_id.len > 0);
  cr_assert(strncmp((const char *)r.member_id.ptr, conn == 2 ? "client-b-" : "client-a-", 9) == 0,
            "Kafka's member ids start with the client id");
  char *id = dup_slice(r.member_id);
  done(&c);
  return id;
}

/* A alone, then B: generation 2, leader A, both synced. */
typedef struct two {
  char *a, *b;
} two;

static two two_members(void) {
  two t = {member_id_required(1), NULL};
  call ja;
  join(&ja, 1, 1, t.a, NULL, "sub-A");
  cr_assert_eq(ja.rc, SIM_PARK, "an empty group's first rebalance waits group.initial.rebalance.delay.ms");
  S->now += SIM_INITIAL_REBALANCE_DELAY_MS;
  again(&ja);
  kw_join_group_resp r = join_resp(&ja);
  cr_assert_eq(r.error_code, 0);
  cr_assert_eq(r.generation_id, 1);
  cr_assert(slice_is(r.leader, t.a));
  done(&ja);
  call sa;
  const char *ids1[] = {t.a};
  const char *as1[] = {"A:0123"};
  sync_req(&sa, 1, t.a, 1, 1, ids1, as1);
  kw_sync_group_resp sr;
  answer(&sa, &sr);
  cr_assert_eq(sr.error_code, 0);
  cr_assert(slice_is(sr.assignment, "A:0123"));
  done(&sa);

  t.b = member_id_required(2);
  call jb;
  join(&jb, 1, 2, t.b, NULL, "sub-B");
  cr_assert_eq(jb.rc, SIM_PARK, "B waits for A to rejoin");
  cr_assert_eq(heartbeat(1, t.a, 1), KW_KERR_REBALANCE_IN_PROGRESS);
  again(&jb);
  cr_assert_eq(jb.rc, SIM_PARK, "still waiting for A");
  join(&ja, 1, 1, t.a, NULL, "sub-A");
  kw_join_group_resp ra = join_resp(&ja);
  cr_assert_eq(ra.error_code, 0, "the last member's join completes the rebalance");
  cr_assert_eq(ra.generation_id, 2);
  cr_assert(slice_is(ra.leader, t.a), "the leader stays the leader");
  cr_assert(slice_is(ra.protocol_name, "range"), "the first protocol every member supports");
  cr_assert_eq(ra.n_members, 2, "the leader gets every member's subscription");
  cr_assert(slice_is(ra.members[0].member_id, t.a) && slice_is(ra.members[0].metadata, "sub-A"));
  cr_assert(slice_is(ra.members[1].member_id, t.b) && slice_is(ra.members[1].metadata, "sub-B"));
  again(&jb);
  kw_join_group_resp rb = join_resp(&jb);
  cr_assert_eq(rb.error_code, 0);
  cr_assert_eq(rb.generation_id, 2);
  cr_assert(slice_is(rb.member_id, t.b));
  cr_assert_eq(rb.n_members, 0, "a follower gets no members");
  done(&ja);
  done(&jb);

  call sb;
  sync_req(&sb, 2, t.b, 2, 0, NULL, NULL);
  cr_assert_eq(sb.rc, SIM_PARK, "a follower's SyncGroup waits for the leader's");
  cr_assert_eq(heartbeat(1, t.b, 2), 0, "heartbeats while the group completes its rebalance are fine");
  const char *ids2[] = {t.a, t.b};
  const char *as2[] = {"A:01", "B:23"};
  sync_req(&sa, 1, t.a, 2, 2, ids2, as2);
  answer(&sa, &sr);
  cr_assert_eq(sr.error_code, 0);
  cr_assert(slice_is(sr.assignment, "A:01"));
  again(&sb);
  answer(&sb, &sr);
  cr_assert_eq(sr.error_code, 0);
  cr_assert(slice_is(sr.assignment, "B:23"), "the follower gets what the leader gave it");
  done(&sa);
  done(&sb);
  return t;
}

/* ---- classic ---- */

Test(sim_group, two_members_join_and_sync, .fini = teardown) {
  setup(1);
  two t = two_members();
  cr_assert_eq(heartbeat(1, t.a, 2), 0);
  cr_assert_eq(heartbeat(1, t.b, 1), KW_KERR_ILLEGAL_GENERATION);
  cr_assert_eq(heartbeat(1, "nobody", 2), KW_KERR_UNKNOWN_MEMBER_ID);
  free(t.a);
  free(t.b);
}

Test(sim_group, session_expiry_removes_member_and_rebalances, .fini = teardown) {
  setup(1);
  two t = two_members();
  for (int i = 0; i < 3; i++) { /* B heartbeats every 3 s, A never does */
    advance(3000);
    cr_assert_eq(heartbeat(1, t.b, 2), 0);
  }
  cr_assert_eq(S->groups->g[0]->n_cm, 2, "9 s: A's session (10 s) goes on");
  advance(1500);
  cr_assert_eq(S->groups->g[0]->n_cm, 1, "10.5 s: A's session expired");
  cr_assert_eq(heartbeat(1, t.b, 2), KW_KERR_REBALANCE_IN_PROGRESS);
  cr_assert_eq(heartbeat(1, t.a, 2), KW_KERR_UNKNOWN_MEMBER_ID);
  call jb;
  join(&jb, 1, 2, t.b, NULL, "sub-B");
  kw_join_group_resp r = join_resp(&jb);
  cr_assert_eq(r.error_code, 0);
  cr_assert_eq(r.generation_id, 3);
  cr_assert(slice_is(r.leader, t.b), "the leader left: the remaining member leads");
  cr_assert_eq(r.n_members, 1);
  done(&jb);
  free(t.a);
  free(t.b);
}

Test(sim_group, rebalance_timeout_drops_members_that_do_not_rejoin, .fini = teardown) {
  setup(1);
  two t = two_members();
  call jb;
  join(&jb, 1, 2, t.b, NULL, "changed"); /* new metadata: a rebalance */
  cr_assert_eq(jb.rc, SIM_PARK);
  for (int i = 0; i < 10 && jb.rc == SIM_PARK; i++) { /* A keeps heartbeating but never rejoins */
    S->now = jb.r.park_until;
    cr_assert_eq(heartbeat(1, t.a, 2), KW_KERR_REBALANCE_IN_PROGRESS);
    again(&jb);
  }
  kw_join_group_resp r = join_resp(&jb);
  cr_assert_eq(r.error_code, 0);
  cr_assert_eq(r.generation_id, 3);
  cr_assert_eq(r.n_members, 1, "A did not rejoin within the rebalance timeout (30 s)");
  cr_assert_eq(heartbeat(1, t.a, 3), KW_KERR_UNKNOWN_MEMBER_ID);
  done(&jb);
  free(t.a);
  free(t.b);
}

Test(sim_group, leave_group_batch_and_single, .fini = teardown) {
  setup(1);
  two t = two_members();
  kw_leave_group_req_member_identity ids[2];
  kw_msg_init(KW_SCHEMA_LEAVE_GROUP_REQ_MEMBER_IDENTITY, &ids[0]);
  kw_msg_init(KW_SCHEMA_LEAVE_GROUP_REQ_MEMBER_IDENTITY, &ids[1]);
  ids[0].member_id = sim_str(t.b);
  ids[1].member_id = sim_str("nobody");
  kw_leave_group_req q;
  kw_msg_init(KW_SCHEMA_LEAVE_GROUP_REQ, &q);
  q.group_id = sim_str("g");
  q.members = ids;
  q.n_members = 2;
  call c;
  start(&c, KW_API_LEAVE_GROUP, 5, &q, 1, 1);
  kw_leave_group_resp r;
  answer(&c, &r);
  cr_assert_eq(r.error_code, 0);
  cr_assert_eq(r.n_members, 2);
  cr_assert_eq(r.members[0].error_code, 0);
  cr_assert_eq(r.members[1].error_code, KW_KERR_UNKNOWN_MEMBER_ID);
  done(&c);
  cr_assert_eq(heartbeat(1, t.a, 2), KW_KERR_REBALANCE_IN_PROGRESS, "a member left: rebalance");
  kw_msg_init(KW_SCHEMA_LEAVE_GROUP_REQ, &q);
  q.group_id = sim_str("g");
  q.member_id = sim_str(t.a);
  start(&c, KW_API_LEAVE_GROUP, 2, &q, 1, 1);
  answer(&c, &r);
  cr_assert_eq(r.error_code, 0);
  done(&c);
  cr_assert_eq(S->groups->g[0]->state, SIM_GS_EMPTY);
  cr_assert_eq(S->groups->g[0]->generation, 3, "the empty group's rebalance completes at once");
  free(t.a);
  free(t.b);
}

Test(sim_group, static_member_fencing, .fini = teardown) {
  setup(1);
  call c;
  join(&c, 1, 1, "", "inst-1", "x");
  cr_assert_eq(c.rc, SIM_PARK, "a static member joins without MEMBER_ID_REQUIRED");
  S->now += SIM_INITIAL_REBALANCE_DELAY_MS;
  again(&c);
  kw_join_group_resp r = join_resp(&c);
  cr_assert_eq(r.error_code, 0);
  char *id = dup_slice(r.member_id);
  done(&c);
  join(&c, 1, 2, "someone-else", "inst-1", "x");
  r = join_resp(&c);
  cr_assert_eq(r.error_code, KW_KERR_FENCED_INSTANCE_ID, "a second member with the same group.instance.id");
  done(&c);
  kw_heartbeat_req q;
  kw_msg_init(KW_SCHEMA_HEARTBEAT_REQ, &q);
  q.group_id = sim_str("g");
  q.generation_id = 1;
  q.member_id = sim_str("someone-else");
  q.group_instance_id = sim_str("inst-1");
  start(&c, KW_API_HEARTBEAT, 4, &q, 1, 1);
  kw_heartbeat_resp hr;
  answer(&c, &hr);
  cr_assert_eq(hr.error_code, KW_KERR_FENCED_INSTANCE_ID);
  done(&c);
  free(id);
}

Test(sim_group, static_member_restart_keeps_its_place, .fini = teardown) {
  setup(1);
  call c;
  join(&c, 1, 1, "", "inst-1", "x");
  S->now += SIM_INITIAL_REBALANCE_DELAY_MS;
  again(&c);
  kw_join_group_resp r = join_resp(&c);
  char *old = dup_slice(r.member_id);
  cr_assert(strncmp(old, "inst-1-", 7) == 0, "Kafka names a static member after its instance id");
  done(&c);
  const char *ids[] = {old};
  const char *as[] = {"all"};
  sync_req(&c, 1, old, 1, 1, ids, as);
  done(&c);

  join(&c, 1, 2, "", "inst-1", "x"); /* the instance restarted: no id, same protocols */
  r = join_resp(&c);
  cr_assert_eq(r.error_code, 0, "a Stable group takes it back without a rebalance");
  cr_assert_eq(r.generation_id, 1);
  cr_assert(slice_is(r.leader, old), "the leader as it was, so it does not assign again");
  cr_assert_eq(r.n_members, 0);
  char *now_id = dup_slice(r.member_id);
  cr_assert(strcmp(now_id, old) != 0);
  done(&c);
  cr_assert_eq(S->groups->g[0]->state, SIM_GS_STABLE);

  kw_heartbeat_req q;
  kw_msg_init(KW_SCHEMA_HEARTBEAT_REQ, &q);
  q.group_id = sim_str("g");
  q.generation_id = 1;
  q.member_id = sim_str(old);
  q.group_instance_id = sim_str("inst-1");
  start(&c, KW_API_HEARTBEAT, 4, &q, 1, 1);
  kw_heartbeat_resp hr;
  answer(&c, &hr);
  cr_assert_eq(hr.error_code, KW_KERR_FENCED_INSTANCE_ID, "the old incarnation is fenced");
  done(&c);
  sync_req(&c, 2, now_id, 1, 0, NULL, NULL);
  kw_sync_group_resp sr;
  answer(&c, &sr);
  cr_assert_eq(sr.error_code, 0);
  cr_assert(slice_is(sr.assignment, "all"), "it keeps the assignment it had");
  done(&c);
  free(old);
  free(now_id);
}

Test(sim_group, pending_member_id_holds_the_rebalance, .fini = teardown) {
  setup(1);
  two t = two_members();
  char *c_id = member_id_required(1); /* C got an id and has not joined with it yet */
  call ja, jb;
  join(&ja, 1, 1, t.a, NULL, "sub-A"); /* the leader rejoins: a rebalance */
  join(&jb, 1, 2, t.b, NULL, "sub-B");
  cr_assert_eq(ja.rc, SIM_PARK);
  cr_assert_eq(jb.rc, SIM_PARK, "both members are in, but Kafka waits for the member it asked to come back");
  call jc;
  join(&jc, 1, 1, c_id, NULL, "sub-C");
  kw_join_group_resp r = join_resp(&jc);
  cr_assert_eq(r.error_code, 0);
  cr_assert_eq(r.generation_id, 3);
  again(&ja);
  cr_assert_eq(join_resp(&ja).n_members, 3);
  again(&jb);
  cr_assert_eq(join_resp(&jb).generation_id, 3);
  done(&ja);
  done(&jb);
  done(&jc);
  free(c_id);
  free(t.a);
  free(t.b);
}

/* ---- offsets ---- */

Test(sim_group, commit_checks_generation_and_fetch_returns_it, .fini = teardown) {
  setup(1);
  two t = two_members();
  cr_assert_eq(commit(8, "g", t.a, 1, 0, 10), KW_KERR_ILLEGAL_GENERATION, "a commit from the previous generation");
  cr_assert_eq(commit(8, "g", "nobody", 2, 0, 10), KW_KERR_UNKNOWN_MEMBER_ID);
  cr_assert_eq(commit(8, "g", "", -1, 0, 10), KW_KERR_UNKNOWN_MEMBER_ID, "no simple commits into a live group");
  cr_assert_eq(kw_sim_committed(S, "g", "t", 0), -1);
  cr_assert_eq(commit(8, "g", t.a, 2, 0, 42), 0);
  cr_assert_eq(commit(10, "g", t.b, 2, 3, 7), 0, "v10 names the topic by id");
  cr_assert_eq(kw_sim_committed(S, "g", "t", 0), 42);
  cr_assert_eq(kw_sim_committed(S, "g", "t", 3), 7);
  cr_assert_eq(commit(8, "solo", "", -1, 1, 5), 0, "a simple consumer commits into an empty group");
  cr_assert_eq(kw_sim_committed(S, "solo", "t", 1), 5);
  cr_assert_eq(commit(9, "missing", "m", 3, 1, 5), KW_KERR_GROUP_ID_NOT_FOUND);
  cr_assert_eq(commit(8, "missing", "m", 3, 1, 5), KW_KERR_ILLEGAL_GENERATION);

  /* A new rebalance: a commit with the current generation still goes through while the
   * group prepares (members commit before they rejoin), not once it completes. */
  call ja;
  join(&ja, 1, 1, t.a, NULL, "sub-A");
  cr_assert_eq(commit(8, "g", t.b, 2, 1, 11), 0);
  call jb;
  join(&jb, 1, 2, t.b, NULL, "sub-B");
  again(&ja);
  cr_assert_eq(join_resp(&ja).generation_id, 3);
  cr_assert_eq(commit(8, "g", t.b, 3, 1, 12), KW_KERR_REBALANCE_IN_PROGRESS, "before the group synced");
  done(&ja);
  done(&jb);

  int32_t parts[] = {0, 1, 2};
  kw_offset_fetch_req_topics ft;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_TOPICS, &ft);
  ft.name = sim_str("t");
  ft.partition_indexes = parts;
  ft.n_partition_indexes = 3;
  kw_offset_fetch_req_group fg;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_GROUP, &fg);
  fg.group_id = sim_str("g");
  fg.topics = &ft;
  fg.n_topics = 1;
  kw_offset_fetch_req fq;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ, &fq);
  fq.groups = &fg;
  fq.n_groups = 1;
  fq.require_stable = true;
  call c;
  start(&c, KW_API_OFFSET_FETCH, 8, &fq, 1, 1);
  kw_offset_fetch_resp fr;
  answer(&c, &fr);
  cr_assert_eq(fr.n_groups, 1);
  cr_assert_eq(fr.groups[0].error_code, 0);
  cr_assert_eq(fr.groups[0].topics[0].n_partitions, 3);
  cr_assert_eq(fr.groups[0].topics[0].partitions[0].committed_offset, 42);
  cr_assert(slice_is(fr.groups[0].topics[0].partitions[0].metadata, "m"));
  cr_assert_eq(fr.groups[0].topics[0].partitions[1].committed_offset, 11);
  cr_assert_eq(fr.groups[0].topics[0].partitions[2].committed_offset, -1, "never committed");
  done(&c);

  kw_offset_fetch_req old;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ, &old);
  old.group_id = sim_str("g");
  old.n_topics = -1; /* every topic the group committed */
  start(&c, KW_API_OFFSET_FETCH, 5, &old, 1, 1);
  answer(&c, &fr);
  cr_assert_eq(fr.error_code, 0);
  cr_assert_eq(fr.n_topics, 1);
  cr_assert(slice_is(fr.topics[0].name, "t"));
  cr_assert_eq(fr.topics[0].n_partitions, 3, "partitions 0, 3 and 1");
  done(&c);
  free(t.a);
  free(t.b);
}

/* ---- coordinators ---- */

static kw_find_coordinator_resp find(int16_t ver, int32_t node) {
  kw_slice keys[] = {sim_str("g")};
  kw_find_coordinator_req q;
  kw_msg_init(KW_SCHEMA_FIND_COORDINATOR_REQ, &q);
  if (ver < 4) q.key = keys[0];
  else q.coordinator_keys = keys, q.n_coordinator_keys = 1;
  call c;
  start(&c, KW_API_FIND_COORDINATOR, ver, &q, node, 1);
  kw_find_coordinator_resp r;
  answer(&c, &r);
  if (ver >= 4) cr_assert(r.n_coordinators == 1 && slice_is(r.coordinators[0].key, "g"));
  done(&c);
  return r;
}

Test(sim_group, coordinator_moves_and_crashes, .fini = teardown) {
  setup(3);
  kw_find_coordinator_resp r = find(6, 1);
  cr_assert_eq(r.n_coordinators, 1);
  cr_assert_eq(r.coordinators[0].error_code, 0);
  int32_t first = r.coordinators[0].node_id;
  cr_assert(first >= 1 && first <= 3);
  r = find(3, 2);
  cr_assert_eq(r.error_code, 0);
  cr_assert_eq(r.node_id, first, "v0-3 and v4+ agree, whichever broker is asked");
  cr_assert_eq(sim_groups_coordinator(S, "g", 1), first);
  cr_assert_eq(heartbeat(first % 3 + 1, "m", 1), KW_KERR_NOT_COORDINATOR, "another broker is not the coordinator");

  sim_groups_move_coordinator(S);
  r = find(4, 1);
  int32_t moved = r.coordinators[0].node_id;
  cr_assert_neq(moved, first);
  cr_assert_eq(heartbeat(first, "m", 1), KW_KERR_NOT_COORDINATOR, "the old coordinator refuses the group");
  cr_assert_eq(heartbeat(moved, "m", 1), KW_KERR_COORDINATOR_LOAD_IN_PROGRESS, "the new one loads it first");
  advance(100);
  cr_assert_eq(heartbeat(moved, "m", 1), KW_KERR_UNKNOWN_MEMBER_ID, "loaded: now the group itself answers");

  kw_sim_crash_broker(S, moved);
  r = find(4, first);
  cr_assert_eq(r.coordinators[0].error_code, KW_KERR_COORDINATOR_NOT_AVAILABLE, "its coordinator is down");
  cr_assert_eq(r.coordinators[0].node_id, -1);
  advance(SIM_COORD_FAILOVER_MS);
  r = find(4, first);
  cr_assert_eq(r.coordinators[0].error_code, 0);
  cr_assert_neq(r.coordinators[0].node_id, moved, "the group moved off the crashed broker");
}

Test(sim_group, coordinator_move_answers_parked_join, .fini = teardown) {
  setup(2);
  int32_t node = sim_groups_coordinator(S, "g", 1);
  call c;
  join(&c, node, 1, "", "inst-1", "x");
  cr_assert_eq(c.rc, SIM_PARK);
  /* a move takes a seeded key: move until it is this group's */
  for (int i = 0; i < 100 && sim_groups_coordinator(S, "g", 1) == node; i++) sim_groups_move_coordinator(S);
  cr_assert_neq(sim_groups_coordinator(S, "g", 1), node);
  again(&c);
  cr_assert_eq(join_resp(&c).error_code, KW_KERR_NOT_COORDINATOR, "a parked join on the old coordinator");
  done(&c);
}

Test(sim_group, injected_errors_do_not_apply, .fini = teardown) {
  setup(1);
  kw_sim_set_fault(S, KW_SIM_ERROR, 1000000);
  int16_t e = commit(8, "solo", "", -1, 0, 5);
  cr_assert(e == KW_KERR_COORDINATOR_LOAD_IN_PROGRESS || e == KW_KERR_NOT_COORDINATOR ||
            e == KW_KERR_COORDINATOR_NOT_AVAILABLE);
  cr_assert_eq(kw_sim_committed(S, "solo", "t", 0), -1, "the failed commit was not applied");
  kw_find_coordinator_resp r = find(6, 1);
  cr_assert_eq(r.coordinators[0].error_code, KW_KERR_COORDINATOR_NOT_AVAILABLE);
  kw_sim_set_fault(S, KW_SIM_ERROR, 0);
  cr_assert_eq(commit(8, "solo", "", -1, 0, 5), 0);
}

/* ---- KIP-848 ---- */

typedef struct cgh {
  int16_t err;
  int32_t epoch;
  bool has_assignment;
  int parts[8]; /* partitions of "t" assigned */
  int n;
} cgh;

/* A full heartbeat (as kwire sends them): subscribed to "t", owning `owned` (-1 ends). */
static cgh heartbeat848(const char *member, int32_t epoch, const int *owned) {
  int32_t parts[8];
  int n = 0;
  while (owned && owned[n] >= 0) parts[n] = owned[n], n++;
  kw_consumer_group_heartbeat_req_topic_partitions tp;
  kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_REQ_TOPIC_PARTITIONS, &tp);
  tp.topic_id = S->topics[0]->id;
  tp.partitions = parts;
  tp.n_partitions = n;
  kw_slice names[] = {sim_str("t")};
  kw_consumer_group_heartbeat_req q;
  kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_REQ, &q);
  q.group_id = sim_str("k");
  q.member_id = sim_str(member);
  q.member_epoch = epoch;
  q.rebalance_timeout_ms = 30000;
  q.subscribed_topic_names = names;
  q.n_subscribed_topic_names = 1;
  q.topic_partitions = &tp;
  q.n_topic_partitions = n ? 1 : 0;
  call c;
  start(&c, KW_API_CONSUMER_GROUP_HEARTBEAT, 1, &q, sim_groups_coordinator(S, "k", 1), 1);
  kw_consumer_group_heartbeat_resp r;
  answer(&c, &r);
  cgh out = {r.error_code, r.member_epoch, r.assignment != NULL, {0}, 0};
  if (!r.error_code) cr_assert(slice_is(r.member_id, member));
  if (!r.error_code && epoch >= 0) cr_assert_eq(r.heartbeat_interval_ms, SIM_848_HEARTBEAT_MS);
  for (int32_t i = 0; r.assignment && i < r.assignment->n_topic_partitions; i++)
    for (int32_t k = 0; k < r.assignment->topic_partitions[i].n_partitions; k++)
      out.parts[out.n++] = r.assignment->topic_partitions[i].partitions[k];
  done(&c);
  return out;
}

static void expect_parts(cgh h, const char *want) {
  char got[32] = "";
  for (int i = 0; i < h.n; i++) got[i] = (char)('0' + h.parts[i]);
  cr_assert_str_eq(got, want);
}

Test(sim_group, kip848_split_and_revocation_before_reassignment, .fini = teardown) {
  setup(1);
  cgh a = heartbeat848("A", 0, NULL);
  cr_assert_eq(a.err, 0);
  cr_assert_eq(a.epoch, 1);
  expect_parts(a, "0123");
  const int all[] = {0, 1, 2, 3, -1}, low[] = {0, 1, -1}, none[] = {-1};
  a = heartbeat848("A", 1, all);
  cr_assert_eq(a.epoch, 1);

  cgh b = heartbeat848("B", 0, NULL);
  cr_assert_eq(b.err, 0);
  cr_assert_eq(b.epoch, 2, "B joins at the new group epoch");
  expect_parts(b, ""); /* 2 and 3 are still A's */
  a = heartbeat848("A", 1, all);
  cr_assert_eq(a.epoch, 1, "A keeps its epoch until it has revoked");
  expect_parts(a, "01");
  b = heartbeat848("B", 2, none);
  expect_parts(b, ""); /* A has not confirmed the revocation yet */
  a = heartbeat848("A", 1, all);
  expect_parts(a, "01"); /* still listing 2 and 3: still revoking */
  b = heartbeat848("B", 2, none);
  expect_parts(b, "");
  a = heartbeat848("A", 1, low);
  cr_assert_eq(a.epoch, 2, "revoked: A moves to the group's epoch");
  expect_parts(a, "01");
  b = heartbeat848("B", 2, none);
  cr_assert_eq(b.epoch, 2);
  expect_parts(b, "23");

  cr_assert_eq(heartbeat848("A", 7, low).err, KW_KERR_FENCED_MEMBER_EPOCH);
  cr_assert_eq(heartbeat848("A", 1, all).err, KW_KERR_FENCED_MEMBER_EPOCH, "the previous epoch owning more");
  cr_assert_eq(heartbeat848("A", 1, low).err, 0, "the previous epoch is fine with what it is assigned");
  cr_assert_eq(heartbeat848("C", 3, none).err, KW_KERR_UNKNOWN_MEMBER_ID);
  cr_assert_eq(commit(9, "k", "A", 1, 0, 3), KW_KERR_STALE_MEMBER_EPOCH);
  cr_assert_eq(commit(9, "k", "A", 3, 0, 3), KW_KERR_FENCED_MEMBER_EPOCH);
  cr_assert_eq(commit(9, "k", "A", 2, 0, 3), 0);
  cr_assert_eq(commit(8, "k", "A", 2, 0, 3), KW_KERR_UNSUPPORTED_VERSION);

  cgh l = heartbeat848("B", -1, NULL);
  cr_assert_eq(l.err, 0);
  cr_assert_eq(l.epoch, -1);
  a = heartbeat848("A", 2, low);
  cr_assert_eq(a.epoch, 3, "B left: a new group epoch");
  expect_parts(a, "0123");
}

Test(sim_group, kip848_session_timeout_frees_partitions, .fini = teardown) {
  setup(1);
  const int none[] = {-1};
  heartbeat848("A", 0, NULL);
  cgh b = heartbeat848("B", 0, NULL);
  cgh a = heartbeat848("A", 1, (const int[]){0, 1, 2, 3, -1});
  a = heartbeat848("A", 1, (const int[]){0, 1, -1});
  b = heartbeat848("B", 2, none);
  expect_parts(b, "23");
  for (int i = 0; i < 10; i++) { /* only B heartbeats */
    advance(SIM_848_HEARTBEAT_MS);
    int owned[9];
    for (int k = 0; k < b.n; k++) owned[k] = b.parts[k];
    owned[b.n] = -1;
    b = heartbeat848("B", b.epoch, owned);
  }
  cr_assert_eq(b.epoch, 3, "A's session ended: a new epoch");
  expect_parts(b, "0123");
  cr_assert_eq(heartbeat848("A", 2, (const int[]){0, 1, -1}).err, KW_KERR_UNKNOWN_MEMBER_ID);
  (void)a;
}

static int16_t cgh_raw(const kw_consumer_group_heartbeat_req *q, int16_t ver) {
  call c;
  start(&c, KW_API_CONSUMER_GROUP_HEARTBEAT, ver, q, sim_groups_coordinator(S, "k", 1), 1);
  kw_consumer_group_heartbeat_resp r;
  answer(&c, &r);
  done(&c);
  return r.error_code;
}

Test(sim_group, kip848_request_checks_and_static_members, .fini = teardown) {
  setup(1);
  kw_slice names[] = {sim_str("t")};
  kw_consumer_group_heartbeat_req_topic_partitions none;
  kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_REQ_TOPIC_PARTITIONS, &none);
  kw_consumer_group_heartbeat_req q;
  kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_HEARTBEAT_REQ, &q);
  q.group_id = sim_str("k");
  q.member_id = sim_str("");
  q.rebalance_timeout_ms = 30000;
  q.subscribed_topic_names = names;
  q.n_subscribed_topic_names = 1;
  q.topic_partitions = &none;
  q.n_topic_partitions = 0;
  cr_assert_eq(cgh_raw(&q, 1), KW_KERR_INVALID_REQUEST, "v1: the client names itself (KIP-1082)");
  q.member_id = sim_str("S1");
  q.server_assignor = sim_str("sticky");
  cr_assert_eq(cgh_raw(&q, 1), KW_KERR_UNSUPPORTED_ASSIGNOR);
  q.server_assignor = sim_str("uniform");
  q.n_topic_partitions = -1;
  cr_assert_eq(cgh_raw(&q, 1), KW_KERR_INVALID_REQUEST, "a join says it owns nothing");
  q.n_topic_partitions = 0;
  q.instance_id = sim_str("inst");
  cr_assert_eq(cgh_raw(&q, 1), 0);
  q.member_id = sim_str("S2");
  cr_assert_eq(cgh_raw(&q, 1), KW_KERR_UNRELEASED_INSTANCE_ID, "the instance is still S1's");

  q.member_id = sim_str("S1");
  q.member_epoch = -2;
  cr_assert_eq(cgh_raw(&q, 1), 0, "S1 steps out, keeping its partitions");
  cgh other = heartbeat848("O", 0, NULL);
  expect_parts(other, ""); /* S1's partitions wait for it */
  q.member_id = sim_str("S2");
  q.member_epoch = 0;
  call c;
  start(&c, KW_API_CONSUMER_GROUP_HEARTBEAT, 1, &q, sim_groups_coordinator(S, "k", 1), 1);
  kw_consumer_group_heartbeat_resp r;
  answer(&c, &r);
  cr_assert_eq(r.error_code, 0, "the instance came back as S2");
  cr_assert_not_null(r.assignment);
  cr_assert_gt(r.assignment->n_topic_partitions, 0, "with the partitions S1 held");
  done(&c);

  cgh a = heartbeat848("A", 0, NULL);
  cr_assert_eq(a.err, 0);
  cr_assert_eq(heartbeat848("A", 0, NULL).err, 0, "epoch 0 again while its previous epoch is 0: the answer was lost");
}

/* Kafka 4.4's throwIfConsumerGroupMemberEpochIsInvalid returns at once for epoch 0
 * (KAFKA-19233, "Allow fenced members to rejoin consumer group with epoch 0"): a fenced
 * member rejoins under its own (client-made) id without waiting for its session to end.
 * It keeps its epoch and its assignment, and gets them back in full; owning nothing, it
 * has finished any revocation it was asked for. */
Test(sim_group, kip848_fenced_member_rejoins_at_epoch_0, .fini = teardown) {
  setup(1);
  cgh a = heartbeat848("A", 0, NULL);
  a = heartbeat848("A", 1, (const int[]){0, 1, 2, 3, -1});
  heartbeat848("B", 0, NULL); /* group epoch 2: A must give up 2 and 3 */
  a = heartbeat848("A", 1, (const int[]){0, 1, 2, 3, -1});
  cr_assert_eq(a.epoch, 1, "A is revoking");
  cr_assert_eq(heartbeat848("A", 3, NULL).err, KW_KERR_FENCED_MEMBER_EPOCH, "an epoch ahead is fenced");
  a = heartbeat848("A", 0, NULL); /* fenced, A let everything go and joins again */
  cr_assert_eq(a.err, 0, "a known member rejoining at epoch 0: %s", kw_kerr_name(a.err));
  cr_assert_eq(a.epoch, 2, "owning nothing, A has revoked: it moves to the group's epoch");
  cr_assert(a.has_assignment, "a join gets the whole assignment");
  expect_parts(a, "01");
  cgh b = heartbeat848("B", 2, NULL);
  expect_parts(b, "23");
  a = heartbeat848("A", 0, NULL); /* the answer was lost, or A was fenced again */
  cr_assert_eq(a.err, 0);
  cr_assert_eq(a.epoch, 2);
  expect_parts(a, "01");
}

/* A member whose heartbeats are refused keeps no session: it is removed when the
 * session ends, and its epoch-0 heartbeat then joins a new member. */
Test(sim_group, kip848_fenced_member_rejoins_after_its_session, .fini = teardown) {
  setup(1);
  cgh a = heartbeat848("A", 0, NULL);
  a = heartbeat848("A", 1, (const int[]){0, 1, 2, 3, -1});
  heartbeat848("B", 0, NULL); /* group epoch 2: A moves on */
  a = heartbeat848("A", 1, (const int[]){0, 1, -1});
  cr_assert_eq(a.epoch, 2);
  cr_assert_eq(heartbeat848("A", 3, NULL).err, KW_KERR_FENCED_MEMBER_EPOCH);

  kw_offset_fetch_req_group fg;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ_GROUP, &fg);
  fg.group_id = sim_str("k");
  fg.member_id = sim_str("A");
  fg.member_epoch = 1;
  fg.n_topics = -1;
  kw_offset_fetch_req fq;
  kw_msg_init(KW_SCHEMA_OFFSET_FETCH_REQ, &fq);
  fq.groups = &fg;
  fq.n_groups = 1;
  call c;
  start(&c, KW_API_OFFSET_FETCH, 9, &fq, 1, 1);
  kw_offset_fetch_resp fr;
  answer(&c, &fr);
  cr_assert_eq(fr.groups[0].error_code, KW_KERR_STALE_MEMBER_EPOCH);
  done(&c);
  fg.member_epoch = 2;
  start(&c, KW_API_OFFSET_FETCH, 9, &fq, 1, 1);
  answer(&c, &fr);
  cr_assert_eq(fr.groups[0].error_code, 0);
  done(&c);

  int16_t err = KW_KERR_FENCED_MEMBER_EPOCH;
  for (int i = 0; i < 20 && err == KW_KERR_FENCED_MEMBER_EPOCH; i++) { /* failed heartbeats keep no session */
    advance(SIM_848_HEARTBEAT_MS);
    heartbeat848("B", 2, NULL);
    err = heartbeat848("A", 3, NULL).err;
  }
  cr_assert_eq(err, KW_KERR_UNKNOWN_MEMBER_ID, "A's session ended: %s", kw_kerr_name(err));
  a = heartbeat848("A", 0, NULL);
  cr_assert_eq(a.err, 0, "removed at the end of its session, A joins afresh");
}

Test(sim_group, kip848_member_that_does_not_revoke_is_fenced, .fini = teardown) {
  setup(1);
  heartbeat848("A", 0, NULL);
  const int all[] = {0, 1, 2, 3, -1}, none[] = {-1};
  heartbeat848("A", 1, all);
  heartbeat848("B", 0, NULL);
  cgh a = heartbeat848("A", 1, all);
  expect_parts(a, "01"); /* asked to give up 2 and 3 */
  for (int i = 0; i < 7; i++) { /* A keeps heartbeating, still listing 2 and 3, past the rebalance timeout (30 s) */
    advance(SIM_848_HEARTBEAT_MS);
    cr_assert_eq(heartbeat848("B", 2, none).err, 0);
    a = heartbeat848("A", 1, all);
  }
  cr_assert_eq(a.err, KW_KERR_UNKNOWN_MEMBER_ID, "fenced for not revoking within the rebalance timeout");
  cgh b = heartbeat848("B", 3, none);
  cr_assert_eq(b.epoch, 3);
  expect_parts(b, "0123");
}

Test(sim_group, transactional_ids_have_coordinators_too, .fini = teardown) {
  setup(3);
  kw_slice keys[] = {sim_str("tx-1")};
  kw_find_coordinator_req q;
  kw_msg_init(KW_SCHEMA_FIND_COORDINATOR_REQ, &q);
  q.key_type = 1;
  q.coordinator_keys = keys;
  q.n_coordinator_keys = 1;
  call c;
  start(&c, KW_API_FIND_COORDINATOR, 6, &q, 1, 1);
  kw_find_coordinator_resp r;
  answer(&c, &r);
  cr_assert_eq(r.coordinators[0].error_code, 0);
  cr_assert_eq(r.coordinators[0].node_id, sim_txn_coordinator(S, "tx-1", 4));
  done(&c);
  q.key_type = 2; /* share groups: not modelled */
  start(&c, KW_API_FIND_COORDINATOR, 6, &q, 1, 1);
  answer(&c, &r);
  cr_assert_eq(r.coordinators[0].error_code, KW_KERR_INVALID_REQUEST);
  done(&c);
}

/* ---- determinism ---- */

static void run_once(char *trace, size_t cap) {
  FILE *f = fmemopen(trace, cap, "w");
  kw_sim_config cfg = {.seed = 7, .n_brokers = 3, .trace = f};
  cfg.fault_ppm[KW_SIM_ERROR] = 300000;
  S = kw_sim_new(&cfg);
  A = kw_arena_new(NULL, 0);
  kw_sim_create_topic(S, "t", 4, 1);
  for (int i = 0; i < 20; i++) {
    sim_groups_move_coordinator(S);
    heartbeat848(i % 2 ? "A" : "B", 0, NULL);
    advance(10);
  }
  kw_sim_free(S);
  kw_arena_destroy(A);
  S = NULL;
  A = NULL;
  fclose(f);
}

Test(sim_group, same_seed_same_run) {
  static char one[1 << 16], two[1 << 16];
  run_once(one, sizeof one);
  run_once(two, sizeof two);
  cr_assert_gt(strlen(one), 100);
  cr_assert_str_eq(one, two);
}
