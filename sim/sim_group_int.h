/* kwsim's group coordinators, shared by their parts:
 *   sim_group.c          coordinators (which broker owns a group), FindCoordinator, the
 *                        group registry, OffsetCommit / OffsetFetch, timers
 *   sim_group_classic.c  the classic protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup
 *   sim_group848.c       KIP-848: ConsumerGroupHeartbeat with a server-side assignor
 * A group lives in one place whatever broker coordinates it: a coordinator move in Kafka
 * reloads the group from __consumer_offsets, so what a client sees is the same state
 * behind another broker (pending joins and syncs are lost, which kwsim models). */
#ifndef KW_SIM_GROUP_INT_H
#define KW_SIM_GROUP_INT_H
#include "sim/sim_int.h"

/* Kafka's broker defaults that shape what a client sees. */
#define SIM_INITIAL_REBALANCE_DELAY_MS 3000 /* group.initial.rebalance.delay.ms */
#define SIM_MIN_SESSION_MS 6000             /* group.min.session.timeout.ms */
#define SIM_MAX_SESSION_MS 1800000          /* group.max.session.timeout.ms */
#define SIM_848_SESSION_MS 45000            /* group.consumer.session.timeout.ms */
#define SIM_848_HEARTBEAT_MS 5000           /* group.consumer.heartbeat.interval.ms */
/* How long a crashed coordinator's groups wait before another broker takes them (Kafka:
 * until the controller notices and moves __consumer_offsets' leaders); within crash_ms. */
#define SIM_COORD_FAILOVER_MS 1000

enum sim_gtype { SIM_G_NONE, SIM_G_CLASSIC, SIM_G_CONSUMER }; /* NONE: offsets only */
enum sim_gstate { SIM_GS_EMPTY, SIM_GS_PREPARING, SIM_GS_COMPLETING, SIM_GS_STABLE };

typedef struct sim_offset {
  char *topic;
  int32_t part;
  int64_t offset;
  int32_t leader_epoch;
  char *meta; /* NULL: null */
} sim_offset;

typedef struct sim_proto {
  char *name;
  uint8_t *meta;
  int32_t len;
} sim_proto;

typedef struct sim_cmember { /* a classic member */
  char *id, *instance, *client_id;
  int32_t session_ms, rebalance_ms;
  sim_proto *protos;
  int n_protos;
  int64_t last_seen;
  bool joined;       /* has (re)joined during the current rebalance */
  bool join_pending; /* its JoinGroup is parked: join_conn/join_corr */
  int join_conn;
  int32_t join_corr;
  int16_t join_ver;
  kw_buf join_answer; /* the encoded answer, once the rebalance completed */
  bool synced;        /* sent SyncGroup for the current generation */
  uint8_t *assignment;
  int32_t assignment_len;
} sim_cmember;

typedef struct sim_pending_id { /* an id given with MEMBER_ID_REQUIRED, not yet used */
  char *id;
  int64_t expires;
} sim_pending_id;

typedef struct sim_tp { /* a partition: topic by index in s->topics (topics never go away) */
  int32_t topic, part;
} sim_tp;

typedef struct sim_tpset {
  sim_tp *v;
  int n, cap;
} sim_tpset;

enum sim_kstate { SIM_K_STABLE, SIM_K_UNREVOKED, SIM_K_UNRELEASED };

typedef struct sim_kmember { /* a KIP-848 member */
  char *id, *instance;
  int32_t epoch, prev_epoch;
  int state;
  char **subs;
  int n_subs;
  int32_t rebalance_ms;
  int64_t last_seen, revoke_deadline;
  bool static_left; /* left with epoch -2: kept, its partitions held, until the session ends */
  sim_tpset assigned, revoking, target;
} sim_kmember;

typedef struct sim_group {
  char *id;
  int type;
  /* classic */
  int state;
  int32_t generation;
  char *protocol_type, *protocol;
  char *leader;
  sim_cmember **cm;
  int n_cm;
  sim_pending_id *pending;
  int n_pending;
  int64_t rebalance_deadline, join_not_before, sync_deadline;
  /* KIP-848 */
  int32_t group_epoch, target_epoch;
  int topics_seen; /* s->n_topics when the target was computed */
  sim_kmember **km;
  int n_km;
  /* offsets */
  sim_offset *off;
  int n_off;
} sim_group;

typedef struct sim_coord { /* who coordinates a key (group or transactional id) */
  char *key;
  int8_t key_type;
  int32_t node;
  int64_t loaded_at; /* COORDINATOR_LOAD_IN_PROGRESS before */
} sim_coord;

struct sim_groups {
  sim_group **g;
  int n;
  sim_coord *coord;
  int n_coord;
};

/* sim_group.c */
/* The broker FindCoordinator names for a transactional id (key type 1), for the
 * transaction handlers: it moves and fails over like a group's. */
int32_t sim_txn_coordinator(kw_sim *s, const char *transactional_id, size_t len);
struct sim_groups *sim_groups_get(kw_sim *s); /* created on first use; NULL: out of memory */
sim_group *sim_group_find(kw_sim *s, kw_slice id);
sim_group *sim_group_create(kw_sim *s, kw_slice id);
/* NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE for a
 * group request that reached broker r->node, or 0. */
int16_t sim_group_coord_error(kw_sim *s, const sim_req *r, kw_slice group);
char *sim_sdup(kw_slice v); /* NULL for a null slice or no memory */
bool sim_seq(const char *a, kw_slice b); /* a (NULL = null) equals b */
kw_slice sim_sl(const char *a);          /* NULL = null */
kw_slice sim_client_id(kw_sim *s, const sim_req *r);
char *sim_new_member_id(kw_sim *s, kw_slice prefix); /* "<prefix>-<uuid>"; a null prefix: "<uuid>" */
kw_uuid sim_random_uuid(kw_sim *s);

/* sim_group_classic.c */
void sim_classic_tick(kw_sim *s, sim_group *g);
void sim_classic_moved(kw_sim *s, sim_group *g); /* parked joins and syncs lost */
void sim_classic_free(sim_group *g);
int16_t sim_classic_validate_commit(sim_group *g, kw_slice member, kw_slice instance, int32_t generation);

/* sim_group848.c */
void sim_848_tick(kw_sim *s, sim_group *g);
void sim_848_free(sim_group *g);
int16_t sim_848_validate_commit(sim_group *g, kw_slice member, int32_t epoch, int16_t ver);
int16_t sim_848_validate_fetch(sim_group *g, kw_slice member, int32_t epoch);
/* The partitions a member holds (assigned, or still being revoked): for invariants. */
const sim_kmember *sim_848_member(const sim_group *g, kw_slice id);

#endif
