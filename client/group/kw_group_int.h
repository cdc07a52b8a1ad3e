/* The group's insides, shared by the group core (kw_group.c), commits
 * (kw_group_commit.c), the classic protocol (kw_group_classic.c) and the consumer
 * protocol of KIP-848 (kw_group_kip848.c). Not installed. */
#ifndef KW_CLIENT_GROUP_INT_H
#define KW_CLIENT_GROUP_INT_H
#include <string.h>
#include "client/group/kw_assignor.h"
#include "client/group/kw_group.h"
#include "core/kw_log.h"

#define SL(s) ((kw_slice){(const uint8_t *)(s), (int32_t)strlen(s)})

enum gstate { G_IDLE, G_FIND, G_FINDING, G_JOIN, G_JOINING, G_AWAIT_META, G_SYNC, G_SYNCING, G_OFFSETS, G_STABLE, G_DEAD };

typedef struct gtp {
  kw_topic *t;
  int32_t partition;
  int64_t stored;    /* next offset to commit (-1: nothing stored) */
  int64_t committed; /* last committed (-1: none known) */
  int64_t committing; /* sent in the OffsetCommit in flight (-1: none) */
  bool fresh;        /* new in this rebalance: not yet announced to the application */
} gtp;

typedef struct gmember { /* the leader's copy of a member's subscription */
  char *id, *instance;
  char **topics;
  int n_topics;
  kw_asg_tp *owned;
  int n_owned;
  int32_t generation;
} gmember;

typedef struct gsnap { /* a subscribed topic's partition count when the leader assigned */
  kw_topic *t;
  int32_t n_parts;
} gsnap;

struct kw_group {
  kw_cluster *cl;
  kw_fetcher *cons;
  kw_group_settings set;
  const kw_mem *mem;
  const kw_logger *log;
  char **topics;
  int n_topics;
  enum gstate state;
  int64_t retry_at;
  int32_t coordinator;
  /* The coordinator's connection was not READY: the group's timers wait until then (its
   * socket's events wake the client sooner), rather than firing again at once. */
  int64_t coord_wait_until;
  char *member_id;
  int32_t generation;
  char protocol[32];
  bool leader, rejoin_soon;
  bool resume_stable; /* coordinator lost while stable: resume heartbeats once found */
  gmember *members;
  int n_members;
  gsnap *snap; /* the leader's: what it last assigned from */
  int n_snap;
  gtp *assigned;
  int n_assigned;
  bool hb_in_flight;
  int64_t next_heartbeat, last_poll, next_autocommit;
  int64_t last_confirmed; /* the coordinator last confirmed our membership (heartbeat, sync) */
  uint32_t epoch;
  uint32_t revocations; /* partitions given up (revoked or lost) so far: see kw_consumer_commit */
  int fatal;            /* G_DEAD: the KW_ERR_* every kw_consumer_poll returns from now on */
  int16_t fatal_kerr;   /* and the broker's error behind it, if any */
  struct kw_metrics *metrics; /* commit counts and latency (the client's) */
  kw_rebalance_cb rb_cb;
  void *rb_ud;
};

typedef struct gctx {
  kw_group *g;
  uint32_t epoch;
  int64_t sent_at;
  bool *done; /* commit/leave: completion flag and result for a waiting caller */
  int *result;
  bool revoking; /* commit: of partitions being given up (kw_grp_commit_revoked) */
  int32_t generation; /* commit: the generation (member epoch) it was sent in */
  int16_t *kerr;      /* commit: the Kafka error it was answered with, for a waiting caller */
} gctx;

void kw_grp_set_member_id(kw_group *g, kw_slice id);
gctx *kw_grp_new_ctx(kw_group *g);
bool kw_grp_current(gctx *c);
kw_conn *kw_grp_coordinator_conn(kw_group *g, int64_t now);
void kw_grp_retry_later(kw_group *g, enum gstate st, int64_t now);
bool kw_grp_coordinator_error(kw_group *g, int16_t kerr, int64_t now);
bool kw_grp_transport_error(kw_group *g, int err, int64_t now);
void kw_grp_notify(kw_group *g, int kind, const gtp *tps, int n);
void kw_grp_drop_assignment(kw_group *g, int kind);
/* UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION (classic), UNKNOWN_MEMBER_ID /
 * FENCED_MEMBER_EPOCH (KIP-848): the group went on without us, and what we own may
 * already be another member's. As Java (resetStateAndRejoin, then onPartitionsLost),
 * the partitions are lost, not revoked: no commit, nothing more of them is handed out.
 * Then we join again: classic as a new member, KIP-848 at epoch 0. */
void kw_grp_fenced(kw_group *g, int16_t kerr, int64_t now);
/* The group cannot go on (the Java consumer throws from poll and never recovers):
 * logs `what`, gives every partition up as lost, and from now on the application's
 * polls return err (0: derived from kerr, KW_ERR_UNSUPPORTED_VERSION for
 * UNSUPPORTED_VERSION, KW_ERR_BROKER otherwise). */
void kw_grp_fail(kw_group *g, int err, int16_t kerr, const char *what);
gtp *kw_grp_find_gtp(kw_group *g, const char *topic, int32_t partition);
/* The assignment ordered by topic, then partition, so that encoders lay it out topic by
 * topic in one pass, whatever its size (no fixed-size tables: a cut list is lost
 * partitions). Free with kw_free(g->mem, ...); NULL when out of memory. */
const gtp **kw_grp_sorted_assignment(kw_group *g);
/* With enable.auto.commit: commits the stored offsets of partitions about to be given
 * up (revoked), now, even while another commit is in flight — their offsets leave with
 * them, and the next owner starts where this commit says. */
void kw_grp_commit_revoked(kw_group *g, gtp *tps, int n, int64_t now);
/* Starts fetching the new partitions: committed offsets first (OffsetFetch). */
void kw_grp_send_offset_fetch(kw_group *g, int64_t now);

/* The classic protocol (kw_group_classic.c): JoinGroup, SyncGroup, the leader's member list. */
void kw_grp_send_join(kw_group *g, int64_t now);
void kw_grp_send_sync(kw_group *g, int64_t now);
void kw_grp_free_members(kw_group *g);
/* The leader assigned from partition counts that metadata no longer shows. */
bool kw_grp_assignment_outdated(const kw_group *g);

/* KIP-848 (group.protocol=consumer) */
void kw_grp848_run(kw_group *g, int64_t now);
int kw_grp848_leave(kw_group *g, int64_t now);

#endif
