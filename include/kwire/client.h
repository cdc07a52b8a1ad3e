/* The client handle and the producer API.
 *
 * One kw_client per cluster. No threads: the application drives it, either with
 * kw_client_poll() or, inside its own event loop, with kw_client_fds() +
 * kw_client_next_timeout() + kw_client_step(). Callbacks (delivery reports, logs,
 * errors) run only inside those calls. */
#ifndef KWIRE_CLIENT_H
#define KWIRE_CLIENT_H
#include "kwire/export.h"
#include <stddef.h>
#include <stdint.h>
#include "kwire/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kw_client kw_client;

#define KW_PARTITION_UA (-1) /* let the partitioner choose */

/* A record header for kw_produce(); value NULL = null value. */
typedef struct kw_header {
  const char *key;
  const void *value;
  size_t value_len;
} kw_header;

/* What became of one produced message. */
typedef struct kw_delivery_report {
  const char *topic;
  int32_t partition;
  int64_t offset;     /* -1 when unknown (acks=0, or failed) */
  int64_t timestamp;  /* the record's create time (ms) */
  int err;            /* KW_OK, or why it was not delivered (KW_ERR_*) */
  int16_t kafka_error; /* the broker's error code when err == KW_ERR_BROKER, else 0 */
  void *opaque;       /* as given to kw_produce */
} kw_delivery_report;

typedef void (*kw_delivery_cb)(void *ud, const kw_delivery_report *dr);
/* Client-level errors (all brokers down, fatal idempotence error, ...). */
typedef void (*kw_error_cb)(void *ud, int err, const char *reason);

/* Takes a copy of the configuration. NULL on error, with the reason in errstr. */
KW_API kw_client *kw_producer_new(const kw_config *conf, char *errstr, size_t errstr_size);
/* A client for administrative calls only (include/kwire/admin.h). */
KW_API kw_client *kw_admin_new(const kw_config *conf, char *errstr, size_t errstr_size);
/* Flushes (up to the configured delivery timeout) and frees everything. */
KW_API void kw_client_destroy(kw_client *cl);

KW_API void kw_client_set_delivery_cb(kw_client *cl, kw_delivery_cb cb, void *ud);
/* Pull mode, when no delivery callback is set: reports queue up (counted against
 * queue.buffering.max.messages) until taken here. 1 and *dr filled, or 0. The topic
 * string stays valid for the client's lifetime. */
KW_API int kw_client_delivery_next(kw_client *cl, kw_delivery_report *dr);
KW_API void kw_client_set_error_cb(kw_client *cl, kw_error_cb cb, void *ud);

/* Queues one message. key/value NULL = null. timestamp 0 = now. Returns KW_OK, or
 * KW_ERR_QUEUE_FULL (bounded memory: poll and retry), KW_ERR_MSG_SIZE_TOO_LARGE,
 * KW_ERR_INVALID_ARG, KW_ERR_STATE (fatal producer error). */
KW_API int kw_produce(kw_client *cl, const char *topic, int32_t partition, const void *key, size_t key_len,
               const void *value, size_t value_len, const kw_header *headers, int n_headers,
               int64_t timestamp, void *opaque);

/* Runs the client for up to timeout_ms (0: only what is ready now). Returns the number
 * of delivery reports served, or a negative error. */
KW_API int kw_client_poll(kw_client *cl, int timeout_ms);
/* Sends everything queued and waits for every delivery report, at most timeout_ms.
 * KW_OK when nothing is left, KW_ERR_TIMED_OUT otherwise. */
KW_API int kw_client_flush(kw_client *cl, int timeout_ms);
/* Messages produced and not yet reported. */
KW_API int kw_client_outstanding(const kw_client *cl);

/* The client's own copy of its configuration (read it with kw_config_get), valid until
 * kw_client_destroy: what a companion client with the same settings is made from. */
KW_API const kw_config *kw_client_config(const kw_client *cl);
/* The allocator the client uses (its configuration's; libc's when none was set). */
KW_API const kw_mem *kw_client_mem(const kw_client *cl);

/* ---- for existing event loops ---- */
typedef struct kw_pollfd {
  int fd;
  short events; /* POLLIN / POLLOUT */
  short revents;
} kw_pollfd;
/* Fills up to max entries with the sockets to watch; returns how many there are (may
 * exceed max: call again with more room). */
KW_API int kw_client_fds(kw_client *cl, kw_pollfd *fds, int max);
/* Milliseconds until the client needs a step even without I/O (0 = now, -1 = none). */
KW_API int kw_client_next_timeout(kw_client *cl);
/* The clocks and randomness the library itself reads: monotonic ms (timers), wall-clock
 * ms (timestamps), 64 random bits. A simulator (kwsim) stands in for all three, so code
 * layered on kwire that uses these runs in virtual time with it. */
KW_API int64_t kw_clock_monotonic_ms(void);
KW_API int64_t kw_clock_wall_ms(void);
KW_API uint64_t kw_random64(void);
/* Does the I/O the fds report ready and runs due timers; fds may be NULL/0 for timers only. */
KW_API int kw_client_step(kw_client *cl, const kw_pollfd *fds, int n);

#ifdef __cplusplus
}
#endif
#endif
