/* The library's one request-and-wait path, used by admin and by the consumer's
 * committed offsets and watermarks. A kw_call is one blocking operation: its deadline,
 * retry backoff and error text. Requests go out once a connection is READY; the client
 * runs (connections, metadata, a producer's deliveries) until the answer is decoded.
 * It waits, as kw_client_poll does, through kw_client_wait (kw_client_int.h).
 * Never call it from inside a kwire callback. Not installed. */
#ifndef KW_CLIENT_CALL_H
#define KW_CLIENT_CALL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "client/kw_client_int.h"
#include "proto/kw_msg.h"

typedef struct kw_call {
  kw_client *cl;
  char op[192];        /* "create topic 'orders'": the start of an error text */
  int64_t deadline;
  int64_t backoff_ms;
  const char *waiting; /* what a timeout was waiting for */
  int16_t last_kerr;   /* the last retriable Kafka error, for the timeout message */
  int last_err;        /* the last retriable transport error */
  bool err_set;        /* errstr already says why */
  char *errstr;
  size_t errlen;
} kw_call;

/* errstr may be NULL (errlen 0): the caller only wants the return code. */
void kw_call_begin(kw_call *c, kw_client *cl, int timeout_ms, char *errstr, size_t errlen);
/* KW_OK for rc >= 0, else rc; writes errstr for an error nobody described yet. */
int kw_call_end(kw_call *c, int rc);
int kw_call_fail(kw_call *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* KW_ERR_BROKER with "NAME: message" (Kafka's own message when msg is null). */
int kw_call_kerr(kw_call *c, int16_t code, kw_slice msg);
/* Waits the next backoff (retry.backoff.ms doubling up to retry.backoff.max.ms, with
 * jitter) while running the client; KW_ERR_TIMED_OUT past the deadline. */
int kw_call_backoff(kw_call *c);
/* Runs the client until *done turns true (checked after every step) or the monotonic
 * time `until`, waiting in poll(2) for its sockets and timers in between: for a caller
 * whose request already went out and whose callback sets *done. 0, or KW_ERR_NOMEM
 * when the client could not wait for all its sockets. */
int kw_call_run_until(kw_client *cl, int64_t until, const bool *done);
/* Remembers a retriable transport error for the timeout message. */
void kw_call_note_err(kw_call *c, int err);
/* Transport errors after which a read-only request may simply be sent again. */
bool kw_call_io_retriable(int err);
/* Milliseconds left until the deadline, at least 1: the broker-side timeout of a request. */
int32_t kw_call_remaining_ms(const kw_call *c);

/* Fills the version-dependent parts of a request; an error aborts the call. */
typedef int (*kw_call_build)(kw_call *c, void *req, int16_t version);
/* The Kafka error of an answer as a whole (msg: its message, or a null slice). */
typedef int16_t (*kw_call_code_fn)(const void *resp, int16_t version, kw_slice *msg);

#define KW_CALL_ANY_BROKER (-1)

/* Sends req once to `node` (KW_CALL_ANY_BROKER: any READY connection) and waits for its
 * answer, decoded into resp (strings and arrays in `ar`, which outlive the connection's
 * buffers). Returns the version used, or an error (KW_ERR_TIMED_OUT at the deadline; an
 * answer that comes later is freed when it arrives). Never resends: for requests that
 * must not be sent twice (CreateTopics) or whose retry needs fresh metadata. */
int kw_call_once(kw_call *c, int32_t node, int16_t api, void *req, kw_call_build build, void *resp, kw_arena *ar);

/* kw_call_once, retried after backoff until the deadline: for reads, which may be sent
 * twice. group non-NULL: the request goes to the group's coordinator (FindCoordinator
 * first, and again before every retry, so a coordinator that moved is followed);
 * otherwise to node. Retried: transport errors (lost connection, request timeout) and
 * answers whose code_of is a retriable Kafka error (coordinator loading or moved,
 * leader changes; those that call for it refresh the client's metadata). Returns the
 * version used (the answer may carry another Kafka error) or an error. */
int kw_call_retry(kw_call *c, int32_t node, const char *group, int16_t api, void *req, kw_call_build build,
                  void *resp, kw_arena *ar, kw_call_code_fn code_of);

#endif
