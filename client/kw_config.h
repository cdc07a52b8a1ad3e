/* The property table and the typed values the library reads.
 *
 * KW_CONF_LIST is the single source of truth: kw_conf_values gets one member per row
 * (int64_t for INT, bool for BOOL, int for ENUM, char * for STR and LIST), filled when a
 * property is set, so hot paths read plain fields. Row:
 *   X(TYPE, member, "name", "default" or NULL, min, max, values, flags, "description")
 * min/max bound INT rows. `values` lists ENUM/LIST names separated by '|'; a name's value
 * is its position unless written "name=N" (aliases repeat a value; the first name with a
 * value is the canonical one). Names match case-insensitively. A LIST is a comma-separated
 * subset, stored canonicalised ("broker,protocol"); kw_conf_list_mask gives its bits. */
#ifndef KW_CLIENT_CONFIG_H
#define KW_CLIENT_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/kw_log.h"
#include "kwire/config.h"

enum kw_conf_type { KW_CT_STR, KW_CT_INT, KW_CT_BOOL, KW_CT_ENUM, KW_CT_LIST };
enum kw_conf_flag { KW_CF_P = 1, KW_CF_C = 2, KW_CF_PC = 3, KW_CF_SECRET = 4 };
#define KW_CF_PS (KW_CF_PC | KW_CF_SECRET)

#define KW_I32MAX 2147483647

/* clang-format off */
#define KW_CONF_LIST(X) \
  X(STR, bootstrap_servers, "bootstrap.servers", NULL, 0, 0, NULL, KW_CF_PC, "Initial brokers, host:port[,host:port...]; required to create a client") \
  X(STR, client_id, "client.id", "kwire", 0, 0, NULL, KW_CF_PC, "Client identifier sent with every request") \
  X(LIST, debug, "debug", "", 0, 0, KW_DBG_NAMES, KW_CF_PC, "Debug contexts to log at level 7") \
  X(INT, log_level, "log_level", "6", 0, 7, NULL, KW_CF_PC, "Most verbose syslog level logged (0 emerg .. 7 debug)") \
  X(INT, request_timeout_ms, "request.timeout.ms", "30000", 1, 900000, NULL, KW_CF_PC, "Time a broker has to answer a request") \
  X(INT, connect_timeout_ms, "socket.connection.setup.timeout.ms", "30000", 1000, KW_I32MAX, NULL, KW_CF_PC, "Time to connect, including TLS and SASL handshakes") \
  X(INT, reconnect_backoff_ms, "reconnect.backoff.ms", "100", 0, 3600000, NULL, KW_CF_PC, "First wait before reconnecting to a broker; doubles each time") \
  X(INT, reconnect_backoff_max_ms, "reconnect.backoff.max.ms", "10000", 0, 3600000, NULL, KW_CF_PC, "Longest wait before reconnecting") \
  X(INT, retry_backoff_ms, "retry.backoff.ms", "100", 1, 300000, NULL, KW_CF_PC, "First wait before retrying a failed request; doubles each time") \
  X(INT, retry_backoff_max_ms, "retry.backoff.max.ms", "1000", 1, 300000, NULL, KW_CF_PC, "Longest wait before retrying a request") \
  X(INT, message_max_bytes, "message.max.bytes", "1000000", 1000, 1000000000, NULL, KW_CF_PC, "Largest request (record batch) kwire sends") \
  X(INT, receive_message_max_bytes, "receive.message.max.bytes", "100000000", 1000, KW_I32MAX, NULL, KW_CF_PC, "Largest response frame accepted; larger ones close the connection") \
  X(INT, metadata_max_age_ms, "metadata.max.age.ms", "900000", 1, 86400000, NULL, KW_CF_PC, "Cached metadata older than this is refreshed before use") \
  X(INT, metadata_refresh_ms, "topic.metadata.refresh.interval.ms", "300000", -1, 3600000, NULL, KW_CF_PC, "Period of background metadata refreshes (-1: never)") \
  X(ENUM, metadata_recovery_strategy, "metadata.recovery.strategy", "rebootstrap", 0, 0, "none|rebootstrap", KW_CF_PC, "rebootstrap: forget the brokers metadata named and start over from bootstrap.servers when a broker answers REBOOTSTRAP_REQUIRED or no metadata came for metadata.recovery.rebootstrap.trigger.ms (KIP-899, KIP-1102)") \
  X(INT, metadata_recovery_rebootstrap_trigger_ms, "metadata.recovery.rebootstrap.trigger.ms", "300000", 1, KW_I32MAX, NULL, KW_CF_PC, "With metadata.recovery.strategy=rebootstrap: how long metadata may be asked for in vain before rebootstrapping") \
  X(INT, max_in_flight, "max.in.flight.requests.per.connection", "5", 1, 1000000, NULL, KW_CF_PC, "Requests sent to one broker before waiting for answers (at most 5 with idempotence)") \
  X(INT, linger_ms, "linger.ms", "5", 0, 900000, NULL, KW_CF_P, "Time a batch waits for more messages before it is sent") \
  X(INT, batch_size, "batch.size", "1000000", 1, KW_I32MAX, NULL, KW_CF_P, "Largest record batch, in bytes") \
  X(INT, batch_num_messages, "batch.num.messages", "10000", 1, 1000000, NULL, KW_CF_P, "Most messages in one record batch") \
  X(INT, queue_max_messages, "queue.buffering.max.messages", "100000", 1, KW_I32MAX, NULL, KW_CF_P, "Most messages waiting to be sent; beyond, produce fails with KW_ERR_QUEUE_FULL") \
  X(INT, queue_max_kbytes, "queue.buffering.max.kbytes", "1048576", 1, KW_I32MAX, NULL, KW_CF_P, "Most KiB of messages waiting to be sent") \
  X(ENUM, acks, "acks", "all", 0, 0, "all=-1|-1=-1|0=0|1=1", KW_CF_P, "Replicas that must acknowledge a write: all (-1), leader only (1), none (0)") \
  X(BOOL, enable_idempotence, "enable.idempotence", "true", 0, 0, NULL, KW_CF_P, "Exactly-once per partition and order kept across retries (needs acks=all)") \
  X(INT, delivery_timeout_ms, "delivery.timeout.ms", "300000", 0, KW_I32MAX, NULL, KW_CF_P, "Time a message has to be acknowledged, retries included (0: unlimited)") \
  X(ENUM, compression_type, "compression.type", "none", 0, 0, "none|gzip|snappy|lz4|zstd", KW_CF_P, "Codec for produced batches") \
  X(INT, compression_level, "compression.level", "-1", -1, 22, NULL, KW_CF_P, "Codec level (-1: codec default; gzip 0-9, zstd 1-22)") \
  X(ENUM, partitioner, "partitioner", "murmur2_random", 0, 0, "murmur2_random|murmur2|consistent|consistent_random|fnv1a|fnv1a_random", KW_CF_P, "How keys map to partitions; the _random variants spread keyless messages randomly") \
  X(BOOL, allow_auto_create_topics, "allow.auto.create.topics", "true", 0, 0, NULL, KW_CF_PC, "Let the broker create a missing topic on metadata requests (true as in Java; librdkafka consumers default to false)") \
  X(STR, transactional_id, "transactional.id", NULL, 0, 0, NULL, KW_CF_P, "Transactions under this id: not supported yet, a producer with it set is refused") \
  X(ENUM, security_protocol, "security.protocol", "plaintext", 0, 0, "plaintext|ssl|sasl_plaintext|sasl_ssl", KW_CF_PC, "Transport to brokers") \
  X(ENUM, sasl_mechanism, "sasl.mechanism", "PLAIN", 0, 0, "PLAIN|SCRAM-SHA-256|SCRAM-SHA-512", KW_CF_PC, "SASL mechanism") \
  X(STR, sasl_username, "sasl.username", NULL, 0, 0, NULL, KW_CF_PC, "SASL user name") \
  X(STR, sasl_password, "sasl.password", NULL, 0, 0, NULL, KW_CF_PS, "SASL password (never logged or read back)") \
  X(STR, ssl_ca_location, "ssl.ca.location", NULL, 0, 0, NULL, KW_CF_PC, "CA certificate file or directory (PEM) to verify brokers (default: system store)") \
  X(STR, ssl_certificate_location, "ssl.certificate.location", NULL, 0, 0, NULL, KW_CF_PC, "Client certificate file (PEM)") \
  X(STR, ssl_key_location, "ssl.key.location", NULL, 0, 0, NULL, KW_CF_PC, "Client private key file (PEM)") \
  X(STR, ssl_key_password, "ssl.key.password", NULL, 0, 0, NULL, KW_CF_PS, "Passphrase of the private key (never logged or read back)") \
  X(ENUM, ssl_endpoint_check, "ssl.endpoint.identification.algorithm", "https", 0, 0, "none|https", KW_CF_PC, "https: the broker certificate must match its host name") \
  X(BOOL, ssl_verify_certificate, "enable.ssl.certificate.verification", "true", 0, 0, NULL, KW_CF_PC, "false: accept any broker certificate (testing only; also turns off host name checks)") \
  X(STR, ssl_cipher_suites, "ssl.cipher.suites", NULL, 0, 0, NULL, KW_CF_PC, "OpenSSL cipher list (default: OpenSSL's)") \
  X(STR, group_id, "group.id", NULL, 0, 0, NULL, KW_CF_C, "Consumer group; required to subscribe and commit") \
  X(STR, group_instance_id, "group.instance.id", NULL, 0, 0, NULL, KW_CF_C, "Static membership id (KIP-345)") \
  X(ENUM, group_protocol, "group.protocol", "classic", 0, 0, "classic|consumer", KW_CF_C, "Group protocol: classic (JoinGroup/SyncGroup) or consumer (KIP-848)") \
  X(LIST, assignment_strategy, "partition.assignment.strategy", "range,roundrobin", 0, 0, "range|roundrobin|cooperative-sticky", KW_CF_C, "Assignors offered, in order of preference (classic protocol)") \
  X(INT, session_timeout_ms, "session.timeout.ms", "45000", 1, 3600000, NULL, KW_CF_C, "A member silent this long is removed from the group") \
  X(INT, heartbeat_interval_ms, "heartbeat.interval.ms", "3000", 1, 3600000, NULL, KW_CF_C, "Period of group heartbeats (below session.timeout.ms)") \
  X(INT, max_poll_interval_ms, "max.poll.interval.ms", "300000", 1, 86400000, NULL, KW_CF_C, "Longest time between polls before the member leaves the group") \
  X(BOOL, enable_auto_commit, "enable.auto.commit", "true", 0, 0, NULL, KW_CF_C, "Commit consumed offsets periodically") \
  X(INT, auto_commit_interval_ms, "auto.commit.interval.ms", "5000", 0, 86400000, NULL, KW_CF_C, "Period of automatic commits") \
  X(BOOL, enable_auto_offset_store, "enable.auto.offset.store", "true", 0, 0, NULL, KW_CF_C, "Store each polled record's offset for the next commit; false: only kw_consumer_store_offset() stores (commit after processing)") \
  X(ENUM, auto_offset_reset, "auto.offset.reset", "latest", 0, 0, "earliest|latest|error|smallest=0|largest=1|beginning=0|end=1", KW_CF_C, "Where to start without a valid committed offset") \
  X(ENUM, isolation_level, "isolation.level", "read_committed", 0, 0, "read_uncommitted|read_committed", KW_CF_C, "read_committed skips aborted transactional records") \
  X(INT, fetch_min_bytes, "fetch.min.bytes", "1", 1, 100000000, NULL, KW_CF_C, "Bytes a broker waits for before answering a fetch") \
  X(INT, fetch_wait_max_ms, "fetch.wait.max.ms", "500", 0, 300000, NULL, KW_CF_C, "Longest a broker waits for fetch.min.bytes") \
  X(INT, fetch_max_bytes, "fetch.max.bytes", "52428800", 0, 2147483135, NULL, KW_CF_C, "Most bytes asked for in one fetch") \
  X(INT, max_partition_fetch_bytes, "max.partition.fetch.bytes", "1048576", 1, 1000000000, NULL, KW_CF_C, "Most bytes asked for per partition in one fetch") \
  X(INT, queued_max_kbytes, "queued.max.messages.kbytes", "65536", 1, 2097151, NULL, KW_CF_C, "Most KiB of fetched records buffered before fetching pauses") \
  X(BOOL, check_crcs, "check.crcs", "true", 0, 0, NULL, KW_CF_C, "Verify the CRC32C of fetched batches (kwire's default; a mismatch is an error event, never a silent skip)") \
  X(INT, statistics_interval_ms, "statistics.interval.ms", "0", 0, 86400000, NULL, KW_CF_PC, "Period of statistics events (0: off)")

/* librdkafka and Java spellings accepted for the names above: X(alias, name). */
#define KW_CONF_ALIASES(X) \
  X("metadata.broker.list", "bootstrap.servers") \
  X("socket.timeout.ms", "request.timeout.ms") \
  X("max.in.flight", "max.in.flight.requests.per.connection") \
  X("queue.buffering.max.ms", "linger.ms") \
  X("message.timeout.ms", "delivery.timeout.ms") \
  X("request.required.acks", "acks") \
  X("compression.codec", "compression.type") \
  X("sasl.mechanisms", "sasl.mechanism") \
  X("fetch.max.wait.ms", "fetch.wait.max.ms") \
  X("fetch.message.max.bytes", "max.partition.fetch.bytes")
/* clang-format on */

#define KW_CTYPE_STR char *
#define KW_CTYPE_LIST char *
#define KW_CTYPE_INT int64_t
#define KW_CTYPE_BOOL bool
#define KW_CTYPE_ENUM int

typedef struct kw_conf_values {
#define KW_X_MEMBER(T, m, ...) KW_CTYPE_##T m;
  KW_CONF_LIST(KW_X_MEMBER)
#undef KW_X_MEMBER
} kw_conf_values;

/* Property ids: KW_CP_<member>, in table order. */
enum kw_conf_id {
#define KW_X_ID(T, m, ...) KW_CP_##m,
  KW_CONF_LIST(KW_X_ID)
#undef KW_X_ID
  KW_CP__COUNT
};

/* Values of the ENUM rows (their position in `values`, or the "=N" given). acks holds
 * what Kafka sends (-1, 0, 1); compression_type equals enum kw_codec. */
enum { KW_PART_MURMUR2_RANDOM, KW_PART_MURMUR2, KW_PART_CONSISTENT, KW_PART_CONSISTENT_RANDOM,
       KW_PART_FNV1A, KW_PART_FNV1A_RANDOM };
enum { KW_SEC_PLAINTEXT, KW_SEC_SSL, KW_SEC_SASL_PLAINTEXT, KW_SEC_SASL_SSL };
enum { KW_SASL_PLAIN, KW_SASL_SCRAM_SHA_256, KW_SASL_SCRAM_SHA_512 };
enum { KW_GROUP_CLASSIC, KW_GROUP_CONSUMER };
enum { KW_RESET_EARLIEST, KW_RESET_LATEST, KW_RESET_ERROR };
enum { KW_ISOLATION_READ_UNCOMMITTED, KW_ISOLATION_READ_COMMITTED };
enum { KW_RECOVERY_NONE, KW_RECOVERY_REBOOTSTRAP };
enum { KW_ASSIGN_RANGE = 1, KW_ASSIGN_ROUNDROBIN = 2, KW_ASSIGN_COOPERATIVE_STICKY = 4 };

typedef struct kw_conf_prop {
  const char *name, *def, *values, *desc;
  int64_t min, max;
  uint16_t offset; /* of the member in kw_conf_values */
  uint8_t type, flags;
} kw_conf_prop;

/* The typed values; always non-NULL for a valid config. */
const kw_conf_values *kw_config_values(const kw_config *c);
/* The logger a configuration asks for (c NULL: stderr, warnings only). */
void kw_logger_init(kw_logger *lg, const kw_config *c);
/* The allocator clients made from c use (kw_mem_default() unless set). */
const kw_mem *kw_config_mem(const kw_config *c);
/* The log callback, or NULL for stderr. */
kw_log_cb kw_config_log_cb(const kw_config *c, void **ud);
/* Whether kw_config_set gave property `id` a value (as opposed to its default). */
bool kw_config_is_set(const kw_config *c, int id);

/* Row i of the table, or NULL; row lookup by name or alias. */
const kw_conf_prop *kw_conf_prop_at(int i);
const kw_conf_prop *kw_conf_prop_find(const char *name);
/* The i-th alias (and the name it stands for), or NULL past the end. */
const char *kw_conf_alias_at(int i, const char **name);
/* What a row accepts, as text: "an integer between 0 and 7", "one of none, gzip, ...". */
void kw_conf_expected(const kw_conf_prop *p, char *buf, size_t size);
/* Bits of a LIST value (bit N for the name of value N; a value of -1 sets every bit);
 * KW_ERR_CONFIG if a name is not in `values`. */
int kw_conf_list_mask(const char *values, const char *list, uint32_t *mask);

/* Cross-property checks a client makes on its own copy of the configuration, for the roles
 * it plays (KW_CF_P, KW_CF_C): bootstrap.servers set, backoff <= backoff max, TLS/codec
 * built in, heartbeat shorter than the session, idempotence needing acks=all and at most 5
 * requests in flight. Idempotence left at its default (on) is turned off when acks or
 * max.in.flight conflict, as in Java's producer; set explicitly (or needed by
 * transactional.id) it is an error. KW_OK or KW_ERR_CONFIG with a message in errstr. */
int kw_config_finalize(kw_config *c, int roles, char *errstr, size_t errstr_size);

#endif
