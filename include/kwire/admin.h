/* Administrative calls: topics, partitions, consumer groups, offsets and lag.
 *
 * Every call is blocking: it drives the client (connections, metadata, a producer's
 * deliveries if the client has one) until it has the answer or timeout_ms (> 0) has
 * passed. Never call them from inside a kwire callback (delivery report, error, log).
 * Any kw_client works (kw_admin_new() makes one without a producer).
 *
 * Return values: KW_OK (0), or a negative KW_ERR_*:
 *   KW_ERR_BROKER      Kafka answered with an error; errstr holds the call, Kafka's error
 *                      name and message: "create topic 'orders': TOPIC_ALREADY_EXISTS:
 *                      Topic 'orders' already exists."
 *   KW_ERR_TIMED_OUT   no (usable) answer within timeout_ms; errstr says what was awaited
 *   KW_ERR_INVALID_ARG, KW_ERR_NOMEM, KW_ERR_NO_VERSION, connection errors.
 * errstr may be NULL; it is set to "" on success.
 *
 * Retriable Kafka errors (coordinator loading or moving, leader changes, ...) are
 * retried with backoff (retry.backoff.ms doubling up to retry.backoff.max.ms) until
 * the timeout. Results are all or nothing. */
#ifndef KWIRE_ADMIN_H
#define KWIRE_ADMIN_H
#include "kwire/export.h"
#include <stddef.h>
#include <stdint.h>
#include "kwire/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- topics and partitions ---- */

/* Creates a topic. partitions / replication_factor -1: the broker's defaults.
 * configs: "key", "value", ..., NULL (or NULL for none), e.g. {"retention.ms", "3600000", NULL}.
 * Returns once metadata shows every partition with a leader (Kafka itself answers
 * before that), so the topic is usable right away; KW_ERR_TIMED_OUT saying it waited
 * for leaders means Kafka created the topic but it was not usable in time. */
KW_API int kw_admin_create_topic(kw_client *cl, const char *topic, int32_t partitions, int16_t replication_factor,
                          const char *const *configs, int timeout_ms, char *errstr, size_t errlen);
/* Deletes a topic; returns once metadata no longer knows it. */
KW_API int kw_admin_delete_topic(kw_client *cl, const char *topic, int timeout_ms, char *errstr, size_t errlen);
/* Grows a topic to total_count partitions (Kafka cannot shrink one: INVALID_PARTITIONS);
 * returns once metadata shows them all with leaders. */
KW_API int kw_admin_create_partitions(kw_client *cl, const char *topic, int32_t total_count, int timeout_ms, char *errstr,
                               size_t errlen);

/* ---- results ---- */

/* What list/describe/offset calls hand back; read with the accessors below, free with
 * kw_admin_result_free. Strings live as long as the result. An index out of range (or
 * an accessor that does not fit the call) gives NULL, or -1 for numbers. */
typedef struct kw_admin_result kw_admin_result;
KW_API void kw_admin_result_free(kw_admin_result *res);
/* Rows: groups (kw_admin_list_groups), 1 (kw_admin_describe_group), partitions
 * (kw_admin_group_offsets, kw_admin_list_offsets), topics (kw_admin_describe_cluster). */
KW_API int kw_admin_result_count(const kw_admin_result *res);

/* ---- the cluster ---- */

/* The cluster as a Metadata answer describes it: brokers, the controller, and every
 * topic (topic NULL) or one topic, with partitions, leaders, replicas and in-sync
 * replicas. A topic that does not exist is a row with error UNKNOWN_TOPIC_OR_PARTITION
 * (3), not a failure. Topics are never created by asking. */
KW_API int kw_admin_describe_cluster(kw_client *cl, const char *topic, int timeout_ms, kw_admin_result **out,
                                     char *errstr, size_t errlen);
/* Brokers, b in [0, kw_admin_broker_count), in the order Kafka lists them. */
KW_API int kw_admin_broker_count(const kw_admin_result *res);
KW_API int32_t kw_admin_broker_id(const kw_admin_result *res, int b);
KW_API const char *kw_admin_broker_host(const kw_admin_result *res, int b);
KW_API int kw_admin_broker_port(const kw_admin_result *res, int b);
KW_API int32_t kw_admin_controller_id(const kw_admin_result *res); /* -1: unknown */
/* Topic rows, i in [0, count): the name is kw_admin_topic(res, i). Errors are Kafka's
 * codes (0: none; kw_kerr_name in kwire/error.h names them). */
KW_API int16_t kw_admin_topic_error(const kw_admin_result *res, int i);
/* Partitions of topic row i, k in [0, kw_admin_topic_partition_count), in Kafka's order. */
KW_API int kw_admin_topic_partition_count(const kw_admin_result *res, int i);
KW_API int32_t kw_admin_topic_partition(const kw_admin_result *res, int i, int k); /* the partition's id */
KW_API int32_t kw_admin_topic_leader(const kw_admin_result *res, int i, int k);    /* -1: none */
KW_API int16_t kw_admin_topic_partition_error(const kw_admin_result *res, int i, int k);
/* Replica and in-sync replica broker ids, r in [0, count). */
KW_API int kw_admin_topic_replica_count(const kw_admin_result *res, int i, int k);
KW_API int32_t kw_admin_topic_replica(const kw_admin_result *res, int i, int k, int r);
KW_API int kw_admin_topic_isr_count(const kw_admin_result *res, int i, int k);
KW_API int32_t kw_admin_topic_isr(const kw_admin_result *res, int i, int k, int r);

/* ---- consumer groups ---- */

/* Every group of the cluster (ListGroups to every broker), sorted by id. */
KW_API int kw_admin_list_groups(kw_client *cl, int timeout_ms, kw_admin_result **out, char *errstr, size_t errlen);
/* One group at its coordinator: ConsumerGroupDescribe for groups of the new consumer
 * protocol (KIP-848), DescribeGroups for classic ones. An unknown group is KW_ERR_BROKER
 * GROUP_ID_NOT_FOUND (brokers before Kafka 4.0 describe it with state "Dead" instead). */
KW_API int kw_admin_describe_group(kw_client *cl, const char *group, int timeout_ms, kw_admin_result **out, char *errstr,
                            size_t errlen);

/* Group rows, i in [0, count). */
KW_API const char *kw_admin_group_id(const kw_admin_result *res, int i);
KW_API const char *kw_admin_group_state(const kw_admin_result *res, int i);         /* "Stable", "Empty", ... */
KW_API const char *kw_admin_group_protocol_type(const kw_admin_result *res, int i); /* "consumer", "" ... */
KW_API const char *kw_admin_group_type(const kw_admin_result *res, int i);     /* "classic", "consumer", "" unknown */
KW_API const char *kw_admin_group_protocol(const kw_admin_result *res, int i); /* assignor ("range", "uniform");
                                                                            describe only, else "" */

/* Members of a described group, m in [0, kw_admin_member_count). */
KW_API int kw_admin_member_count(const kw_admin_result *res);
KW_API const char *kw_admin_member_id(const kw_admin_result *res, int m);
KW_API const char *kw_admin_member_client_id(const kw_admin_result *res, int m);
KW_API const char *kw_admin_member_host(const kw_admin_result *res, int m); /* as Kafka says it: "/10.0.0.7" */
KW_API const char *kw_admin_member_instance_id(const kw_admin_result *res, int m); /* NULL: not a static member */
/* The member's assigned partitions, k in [0, kw_admin_member_assignment_count), sorted. */
KW_API int kw_admin_member_assignment_count(const kw_admin_result *res, int m);
KW_API const char *kw_admin_member_assignment_topic(const kw_admin_result *res, int m, int k);
KW_API int32_t kw_admin_member_assignment_partition(const kw_admin_result *res, int m, int k);

/* ---- offsets ---- */

#define KW_ADMIN_OFFSET_EARLIEST (-2)      /* log start offset */
#define KW_ADMIN_OFFSET_LATEST (-1)        /* high watermark (next offset to be written) */
#define KW_ADMIN_OFFSET_MAX_TIMESTAMP (-3) /* the record with the largest timestamp (brokers >= 3.0) */

/* Committed offsets of a group and its lag per partition. topic NULL: every partition
 * the group has committed; otherwise every partition of that topic (committed -1 where
 * there is none). lag = high watermark - committed (clamped at 0); with nothing
 * committed, lag = high watermark - log start offset (every retained record is unread).
 * Offsets are read_uncommitted. Partitions of topics that no longer exist have
 * high watermark and lag -1. */
KW_API int kw_admin_group_offsets(kw_client *cl, const char *group, const char *topic, int timeout_ms,
                           kw_admin_result **out, char *errstr, size_t errlen);
/* One offset per partition of topic: spec KW_ADMIN_OFFSET_EARLIEST / _LATEST /
 * _MAX_TIMESTAMP, or a timestamp (ms, >= 0): the first offset whose record timestamp is
 * >= spec (-1 when there is none). */
KW_API int kw_admin_list_offsets(kw_client *cl, const char *topic, int64_t spec, int timeout_ms, kw_admin_result **out,
                          char *errstr, size_t errlen);

/* Partition rows, i in [0, count), sorted by topic then partition (kw_admin_topic also
 * names the topic rows of kw_admin_describe_cluster). */
KW_API const char *kw_admin_topic(const kw_admin_result *res, int i);
KW_API int32_t kw_admin_partition(const kw_admin_result *res, int i);
/* list_offsets: the offset found (-1 none); group_offsets: the committed offset (-1 none). */
KW_API int64_t kw_admin_offset(const kw_admin_result *res, int i);
/* list_offsets: the timestamp of that record (-1 unknown: earliest/latest); group_offsets: -1. */
KW_API int64_t kw_admin_timestamp(const kw_admin_result *res, int i);
KW_API int64_t kw_admin_high_watermark(const kw_admin_result *res, int i); /* group_offsets; list_offsets: -1 */
KW_API int64_t kw_admin_lag(const kw_admin_result *res, int i);            /* group_offsets; list_offsets: -1 */

#ifdef __cplusplus
}
#endif
#endif
