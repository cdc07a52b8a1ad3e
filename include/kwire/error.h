/* kwire error codes: every function returns >= 0 on success or one of these. */
#ifndef KWIRE_ERROR_H
#define KWIRE_ERROR_H
#include "kwire/export.h"
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro so the enum and kw_strerror() never drift apart. */
#define KW_ERROR_LIST(X)                                                          \
  X(KW_ERR_NOMEM, -1, "out of memory (the allocator failed)")                     \
  X(KW_ERR_TRUNCATED, -2, "input ended before the value it announced")           \
  X(KW_ERR_MALFORMED, -3, "malformed input (invalid length, varint or value)")    \
  X(KW_ERR_TOO_LARGE, -4, "length or count over the configured limit")            \
  X(KW_ERR_UNSUPPORTED_VERSION, -5, "API version not supported")                 \
  X(KW_ERR_FIELD_VERSION, -6, "field set that the chosen version does not carry") \
  X(KW_ERR_BUF_FULL, -7, "output buffer too small")                               \
  X(KW_ERR_CRC, -8, "CRC mismatch")                                               \
  X(KW_ERR_UNSUPPORTED_CODEC, -9, "compression codec not built in")               \
  X(KW_ERR_DECOMPRESS, -10, "decompression failed or exceeded the size cap")      \
  X(KW_ERR_INVALID_ARG, -11, "invalid argument")                                  \
  X(KW_ERR_QUEUE_FULL, -12, "queue full (bounded by configuration)")              \
  X(KW_ERR_MSG_SIZE_TOO_LARGE, -13, "message larger than the maximum size")       \
  X(KW_ERR_TIMED_OUT, -14, "timed out")                                           \
  X(KW_ERR_RESOLVE, -15, "host name could not be resolved")                       \
  X(KW_ERR_CONNECT, -16, "connection failed")                                     \
  X(KW_ERR_DISCONNECTED, -17, "connection closed by peer")                        \
  X(KW_ERR_IO, -18, "socket error")                                               \
  X(KW_ERR_CORRELATION, -19, "response correlation id matches no request")        \
  X(KW_ERR_STATE, -20, "operation not valid in the current state")                \
  X(KW_ERR_CONFIG, -21, "unknown configuration key or invalid value")             \
  X(KW_ERR_BROKER, -22, "the broker answered with a Kafka error code")            \
  X(KW_ERR_NO_VERSION, -23, "no API version both sides support")                  \
  X(KW_ERR_WOULD_BLOCK, -24, "operation would block")                           \
  X(KW_ERR_ALL_BROKERS_DOWN, -25, "all brokers are down")                         \
  X(KW_ERR_UNKNOWN_TOPIC, -26, "topic does not exist")                            \
  X(KW_ERR_FATAL, -27, "fatal producer error (the client must be recreated)")     \
  X(KW_ERR_DESTROYED, -28, "client destroyed before delivery")                    \
  X(KW_ERR_UNKNOWN_PARTITION, -29, "partition does not exist")                     \
  X(KW_ERR_AUTHENTICATION, -30, "SASL authentication failed")                        \
  X(KW_ERR_SASL_PROTOCOL, -31, "malformed or unexpected SASL server message")       \
  X(KW_ERR_TLS, -32, "TLS handshake failed")                                         \
  X(KW_ERR_TLS_CERT, -33, "broker certificate rejected (untrusted, expired or wrong host)") \
  X(KW_ERR_UNSUPPORTED_FEATURE, -34, "feature not built into this kwire")

enum kw_error {
  KW_OK = 0,
#define KW_X_ENUM(name, value, text) name = value,
  KW_ERROR_LIST(KW_X_ENUM)
#undef KW_X_ENUM
};

/* Text for a KW_ERR_* code; never NULL. */
KW_API const char *kw_strerror(int err);
/* Name of a KW_ERR_* code ("KW_ERR_TRUNCATED"); never NULL. */
KW_API const char *kw_errname(int err);

/* Kafka's own error codes: the int16 error fields of responses, and kafka_error in
 * delivery reports and error events when err is KW_ERR_BROKER. */
KW_API const char *kw_kerr_name(int16_t code);    /* "NOT_LEADER_OR_FOLLOWER"; "UNKNOWN_ERROR_CODE" */
KW_API const char *kw_kerr_message(int16_t code); /* Kafka's description; "" when unknown */
KW_API bool kw_kerr_retriable(int16_t code);      /* a retry may succeed */
KW_API bool kw_kerr_refresh_metadata(int16_t code); /* cluster metadata is stale (leader moved, ...) */

#ifdef __cplusplus
}
#endif
#endif
