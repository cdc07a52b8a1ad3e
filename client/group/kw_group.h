/* Consumer groups, classic protocol: FindCoordinator, JoinGroup (with the
 * MEMBER_ID_REQUIRED retry), client-side assignment by the leader, SyncGroup,
 * heartbeats from the poll loop, offset fetch on assignment, commits (auto, sync,
 * async; before revocation in the eager protocol), LeaveGroup on close. Drives the
 * fetcher's assignment (kw_fetcher_add / kw_fetcher_remove). */
#ifndef KW_CLIENT_GROUP_H
#define KW_CLIENT_GROUP_H
#include <stdbool.h>
#include <stdint.h>
#include "client/kw_cluster.h"
#include "client/consumer/kw_fetcher.h"
#include "client/kw_metrics.h"
#include "kwire/consumer.h"

typedef struct kw_group_settings {
  const char *group_id;
  const char *instance_id; /* NULL: dynamic membership */
  int64_t session_timeout_ms, heartbeat_interval_ms, max_poll_interval_ms;
  int64_t retry_backoff_ms, auto_commit_interval_ms, request_timeout_ms;
  bool auto_commit, auto_store;
  bool consumer_protocol; /* group.protocol=consumer (KIP-848) instead of classic */
  int assignors[3]; /* enum kw_assignor_kind, in preference order */
  int n_assignors;
  int auto_offset_reset; /* KW_RESET_* */
} kw_group_settings;

typedef struct kw_group kw_group;

kw_group *kw_group_create(kw_cluster *cl, kw_fetcher *cons, const kw_group_settings *set, const kw_mem *mem,
                          const struct kw_logger *log);
void kw_group_free(kw_group *g);
void kw_group_set_rebalance_cb(kw_group *g, kw_rebalance_cb cb, void *ud);
void kw_group_set_metrics(kw_group *g, struct kw_metrics *m);
int kw_group_subscribe(kw_group *g, const char *const *topics, int n);

void kw_group_run(kw_group *g, int64_t now);
int64_t kw_group_deadline(const kw_group *g);
/* The application polled: for max.poll.interval.ms. */
void kw_group_polled(kw_group *g, int64_t now);
/* A record was handed out (enable.auto.offset.store). */
void kw_group_auto_store(kw_group *g, const char *topic, int32_t partition, int64_t next_offset);
int kw_group_store(kw_group *g, const char *topic, int32_t partition, int64_t next_offset);

/* Sends an OffsetCommit of the stored offsets; *done (if given) flips to true and
 * *result gets the outcome when the answer arrives (KW_ERR_BROKER with the first
 * partition's Kafka error in *kerr). KW_OK when nothing is to commit. */
int kw_group_commit(kw_group *g, bool *done, int *result, int16_t *kerr, int64_t now);
/* LeaveGroup (dynamic members) and stop; *done flips when sent and answered. */
int kw_group_leave(kw_group *g, bool *done, int64_t now);
int64_t kw_group_committed(const kw_group *g, const char *topic, int32_t partition);
bool kw_group_is_stable(const kw_group *g);
/* KW_OK, or the fatal error that stopped the group (see kw_grp_fail); kafka_error gets
 * the broker's error code behind it (0 if none). */
int kw_group_error(const kw_group *g, int16_t *kafka_error);
/* False while membership is unconfirmed for longer than the session timeout. */
bool kw_group_may_deliver(kw_group *g, int64_t now);
const char *kw_group_member_id(const kw_group *g);
int32_t kw_group_generation(const kw_group *g);
int32_t kw_group_coordinator(const kw_group *g);
/* Counts the times partitions were given up (revoked or lost); their stored offsets go with them. */
uint32_t kw_group_revocations(const kw_group *g);

#endif
