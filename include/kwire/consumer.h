/* The consumer: assign partitions or subscribe with a group, then poll records.
 *
 * Records come from a bounded prefetch buffer (queued.max.messages.kbytes); a polled
 * message's key, value and headers point into that buffer and stay valid until the
 * next kw_consumer_poll() or kw_client_destroy(). */
#ifndef KWIRE_CONSUMER_H
#define KWIRE_CONSUMER_H
#include "kwire/export.h"
#include <stddef.h>
#include <stdint.h>
#include "kwire/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start positions for kw_consumer_assign / kw_consumer_seek. */
#define KW_OFFSET_BEGINNING (-2)
#define KW_OFFSET_END (-1)
/* n records before the end. */
#define KW_OFFSET_TAIL(n) (-2000 - (int64_t)(n))

typedef struct kw_message {
  const char *topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp; /* ms */
  const void *key;   /* NULL = null key */
  size_t key_len;
  const void *value; /* NULL = null value (a tombstone) */
  size_t value_len;
  /* KW_OK for a record. Otherwise an error event about topic/partition at offset
   * (KW_ERR_CRC: a corrupt batch; KW_ERR_UNSUPPORTED_VERSION: a batch of an unknown
   * magic; KW_ERR_TRUNCATED / KW_ERR_MALFORMED: records the consumer cannot read past;
   * KW_ERR_BROKER with kafka_error: e.g. OFFSET_OUT_OF_RANGE under
   * auto.offset.reset=error). That partition then stops until kw_consumer_seek. */
  int err;
  int16_t kafka_error;
  int32_t n_headers;
  const void *headers_; /* read with kw_message_header() */
  size_t headers_len_;
} kw_message;

KW_API kw_client *kw_consumer_new(const kw_config *conf, char *errstr, size_t errstr_size);

/* Adds a partition to the assignment, starting at `offset` (an absolute offset, or
 * KW_OFFSET_BEGINNING / KW_OFFSET_END / KW_OFFSET_TAIL(n)). */
KW_API int kw_consumer_assign(kw_client *cl, const char *topic, int32_t partition, int64_t offset);
/* Starts at the first record whose timestamp is >= ts_ms (ListOffsets by time). */
KW_API int kw_consumer_assign_at_time(kw_client *cl, const char *topic, int32_t partition, int64_t ts_ms);
KW_API int kw_consumer_unassign(kw_client *cl, const char *topic, int32_t partition);
KW_API int kw_consumer_seek(kw_client *cl, const char *topic, int32_t partition, int64_t offset);
KW_API int kw_consumer_pause(kw_client *cl, const char *topic, int32_t partition);
KW_API int kw_consumer_resume(kw_client *cl, const char *topic, int32_t partition);
/* Offset of the next record poll will return for this partition; negative if not known yet. */
KW_API int64_t kw_consumer_position(kw_client *cl, const char *topic, int32_t partition);

/* Waits up to timeout_ms for a record or an error event: 1 and *msg filled, 0 when
 * nothing came, or a negative error. A consumer group that cannot go on makes every
 * later poll return its error (see kw_consumer_group_error), e.g.
 * KW_ERR_UNSUPPORTED_VERSION for group.protocol=consumer on a broker without KIP-848. */
KW_API int kw_consumer_poll(kw_client *cl, kw_message *msg, int timeout_ms);

/* The batch form, for throughput: fills up to max messages, all from one fetched record
 * batch (zero-copy: they point into the fetch buffer and stay valid until the next
 * poll call). Returns how many, 0 when nothing came within timeout_ms, or an error. An
 * error event, if any, is the last message. */
KW_API int kw_consumer_poll_batch(kw_client *cl, kw_message *msgs, int max, int timeout_ms);

/* Header i (0 <= i < n_headers) of a polled message. */
KW_API int kw_message_header(const kw_message *m, int i, const char **key, size_t *key_len, const void **value,
                      size_t *value_len);

/* ---- consumer groups (group.id) ---- */

typedef struct kw_topic_partition {
  const char *topic;
  int32_t partition;
  int64_t offset; /* commit: the next offset to consume; -1 where it does not apply */
} kw_topic_partition;

enum kw_rebalance_kind {
  KW_REBALANCE_ASSIGNED = 1, /* these partitions are now yours */
  KW_REBALANCE_REVOKED = 2,  /* give these up (offsets are committed first with auto commit) */
  KW_REBALANCE_LOST = 3      /* taken away without a chance to commit (fenced, session expired) */
};
typedef void (*kw_rebalance_cb)(void *ud, int kind, const kw_topic_partition *tps, int n);
KW_API void kw_consumer_set_rebalance_cb(kw_client *cl, kw_rebalance_cb cb, void *ud);

/* 1 for a consumer made with group.id (subscribe, stored offsets and commits work), 0
 * for any other client. */
KW_API int kw_consumer_has_group(const kw_client *cl);
/* Joins group.id for these topics; partitions arrive through rebalances. */
KW_API int kw_consumer_subscribe(kw_client *cl, const char *const *topics, int n_topics);
/* Marks a record as processed: the next commit stores offset (the next one to read).
 * With enable.auto.offset.store=false only stored offsets are committed. */
KW_API int kw_consumer_store_offset(kw_client *cl, const char *topic, int32_t partition, int64_t offset);
/* Commits stored offsets (all assigned partitions). timeout_ms > 0 waits for the
 * answer (sync); 0 sends it and returns (async). A sync commit that could not be sent
 * before a rebalance took partitions away (and their stored offsets) is KW_ERR_STATE;
 * one the broker refused is KW_ERR_BROKER (kw_consumer_commit_error says why). */
KW_API int kw_consumer_commit(kw_client *cl, int timeout_ms);
/* What the last kw_consumer_commit returned; with KW_ERR_BROKER, *kafka_error (if
 * given) is the broker's reason: ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID /
 * FENCED_MEMBER_EPOCH (the group went on without this member: its partitions were
 * reported lost and it joins again), REBALANCE_IN_PROGRESS (a rebalance is under way:
 * poll, then commit again), FENCED_INSTANCE_ID (fatal: see kw_consumer_group_error),
 * OFFSET_METADATA_TOO_LARGE, GROUP_AUTHORIZATION_FAILED, ... Reasons that pass
 * (coordinator loading or moved, STALE_MEMBER_EPOCH) were retried until the timeout. */
KW_API int kw_consumer_commit_error(kw_client *cl, int16_t *kafka_error);
/* The group's committed offset for a partition (-1: none), asked from the coordinator. */
KW_API int kw_consumer_committed(kw_client *cl, const char *topic, int32_t partition, int64_t *offset, int timeout_ms);
/* Commits (with auto commit), leaves the group (not for static members) and stops
 * fetching. kw_client_destroy does this too. */
KW_API int kw_consumer_close(kw_client *cl, int timeout_ms);
/* The group member id and generation, for logs and tests ("" / -1 before joining). */
KW_API const char *kw_consumer_member_id(kw_client *cl);
KW_API int32_t kw_consumer_generation(kw_client *cl);
/* KW_OK, or the fatal error that stopped the consumer group (the client must be
 * recreated): KW_ERR_UNSUPPORTED_VERSION (the broker lacks the group protocol asked
 * for), KW_ERR_BROKER with *kafka_error (if given) set, e.g. FENCED_INSTANCE_ID or
 * GROUP_AUTHORIZATION_FAILED. The same error every poll returns. */
KW_API int kw_consumer_group_error(kw_client *cl, int16_t *kafka_error);

/* Low and high watermarks of a partition, asked from its leader: the log start offset,
 * and the end as this consumer reads: the high watermark under read_uncommitted, the
 * last stable offset under read_committed (Java's endOffsets does the same). Waits for
 * at most the one fetch the broker may be holding on that connection. */
KW_API int kw_consumer_watermarks(kw_client *cl, const char *topic, int32_t partition, int64_t *low, int64_t *high,
                           int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
