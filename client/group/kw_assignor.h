/* Client-side partition assignors of the classic consumer group protocol: the group
 * leader runs one of them in SyncGroup. Pure functions, no I/O.
 *
 * range, roundrobin: the Java client's RangeAssignor and RoundRobinAssignor exactly.
 * Members are ordered as Java's MemberInfo: static members (instance_id set) first, by
 * instance id, then dynamic ones by member id (byte order; Java compares UTF-16 units,
 * which differs only for non-BMP vs U+E000..U+FFFF characters).
 *
 * cooperative-sticky (KIP-429, Java's CooperativeStickyAssignor):
 *  - Ownership claims: a partition claimed by several members goes to the one with the
 *    highest generation; a tie at the highest generation drops every claim (as Java's
 *    partitionsWithMultiplePreviousOwners). A claim on a topic the claimer no longer
 *    subscribes to, or on a partition that no longer exists, is not kept.
 *  - Balance: as Java's isBalanced(): no partition of a member could move to another
 *    subscribed member that has two or more fewer partitions. With identical
 *    subscriptions counts therefore differ by at most one.
 *  - Stickiness: valid claims are kept; unclaimed partitions go to the least-loaded
 *    subscribed member (topics with fewest subscribers first); then single moves from a
 *    member to one with >= 2 fewer until balanced. With identical subscriptions a member
 *    that loses partitions gains none, and no partition moves twice.
 *  - Cooperative: a partition is handed out only to its (resolved) owner or, when no
 *    member claims it, to anyone; any other move is only a revocation this round (the
 *    owner's next JoinGroup no longer claims it, and the follow-up rebalance assigns it).
 *  Differs from Java: one algorithm for equal and unequal subscriptions (Java's general
 *  path is a different, heavier search), ties broken by member id rather than HashMap
 *  order, so the exact partitions kept/moved may differ while the guarantees hold. */
#ifndef KW_CLIENT_ASSIGNOR_H
#define KW_CLIENT_ASSIGNOR_H
#include <stdint.h>
#include "kwire/mem.h"

typedef struct kw_asg_tp {
  const char *topic;
  int32_t partition;
} kw_asg_tp;

typedef struct kw_asg_member {
  const char *member_id;
  const char *instance_id; /* NULL unless static membership */
  const char *const *topics; /* subscription */
  int n_topics;
  /* cooperative-sticky: owned partitions (ConsumerProtocolSubscription v1+) and the
   * generation they are from (-1 unknown) */
  const kw_asg_tp *owned;
  int n_owned;
  int32_t generation;
} kw_asg_member;

typedef struct kw_asg_topic {
  const char *topic;
  int32_t partitions; /* from metadata; topics nobody subscribes to are ignored */
} kw_asg_topic;

typedef struct kw_asg_result {
  kw_asg_tp *tps; /* sorted by topic, then partition; topic names point into the inputs */
  int n;
} kw_asg_result;

enum kw_assignor_kind { KW_ASSIGNOR_RANGE, KW_ASSIGNOR_ROUNDROBIN, KW_ASSIGNOR_COOPERATIVE_STICKY };

/* "range", "roundrobin", "cooperative-sticky" (the JoinGroup protocol names); NULL if unknown. */
const char *kw_assignor_name(int kind);
/* The kind for a protocol name; -1 if unknown. */
int kw_assignor_from_name(const char *name);

/* Fills out[i] for members[i]. Result topic names point into topics[]. KW_OK,
 * KW_ERR_INVALID_ARG, KW_ERR_TOO_LARGE or KW_ERR_NOMEM (then out[] holds nothing). */
int kw_assign(int kind, const kw_asg_member *members, int n_members, const kw_asg_topic *topics,
              int n_topics, const kw_mem *mem, kw_asg_result *out);
void kw_assign_free(kw_asg_result *out, int n_members, const kw_mem *mem);

/* Cooperative helper: revoke = owned - assigned, add = assigned - owned (input order). Free
 * each with kw_assign_free(x, 1, mem). */
int kw_assign_diff(const kw_asg_tp *owned, int n_owned, const kw_asg_tp *assigned, int n_assigned,
                   const kw_mem *mem, kw_asg_result *revoke, kw_asg_result *add);

#endif
