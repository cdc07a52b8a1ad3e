/* One broker connection as a state machine: nonblocking connect (every resolved
 * address in turn), TLS, the ApiVersions handshake, SASL authentication (and
 * re-authentication when the broker sets a session lifetime), framing with a maximum frame size,
 * correlation ids, pipelined requests up to a cap, and request timeouts.
 * No threads and no clock of its own: the caller passes `now` (ms, monotonic) and
 * drives it with the fd's readiness (kw_conn_fd / kw_conn_events / kw_conn_deadline
 * / kw_conn_step). */
#ifndef KW_NET_CONN_H
#define KW_NET_CONN_H
#include <stdbool.h>
#include <stdint.h>
#include "kwire/mem.h"
#include "kwire/buf.h"

typedef struct kw_conn kw_conn;

typedef enum kw_conn_state {
  KW_CONN_DOWN,        /* not connected (initially, and after a failure) */
  KW_CONN_CONNECTING,  /* TCP connect in progress */
  KW_CONN_HANDSHAKE,   /* transport handshake (TLS) */
  KW_CONN_APIVERSIONS, /* waiting for the ApiVersions answer */
  KW_CONN_AUTH,        /* SASL handshake and authentication */
  KW_CONN_READY,       /* requests may be sent */
} kw_conn_state;

/* How connections protect and authenticate themselves; one per client, shared by all
 * its connections and outliving them. */
typedef struct kw_conn_security {
  struct kw_tls_ctx *tls; /* NULL: plain TCP */
  int sasl_mechanism;     /* a kw_sasl_mech, or -1: no SASL */
  const char *sasl_username, *sasl_password;
} kw_conn_security;

/* Called once per request: err 0 with `body` positioned after the response header,
 * or an error (KW_ERR_TIMED_OUT, KW_ERR_DISCONNECTED, ...) with body NULL. */
typedef void (*kw_conn_cb)(void *ud, int err, int16_t api_key, int16_t version, kw_rd *body);

typedef struct kw_conn_config {
  const char *host;
  int port;
  const char *client_id;       /* NULL: "kwire" */
  const kw_mem *mem;           /* NULL: libc */
  int32_t max_frame;           /* largest response accepted; default 100 MB */
  int max_in_flight;           /* unanswered requests; default 5 */
  int64_t request_timeout_ms;  /* default 30000 */
  int64_t connect_timeout_ms;  /* per address; default 10000 */
  const struct kw_logger *log; /* NULL: silent (debug contexts broker, protocol, security) */
  const kw_conn_security *security; /* NULL: plaintext, no SASL */
} kw_conn_config;

kw_conn *kw_conn_new(const kw_conn_config *cfg);
void kw_conn_free(kw_conn *c); /* fails pending requests with KW_ERR_DISCONNECTED */

/* Resolves the host and starts connecting; the handshake follows by itself. */
int kw_conn_connect(kw_conn *c, int64_t now);
void kw_conn_close(kw_conn *c, int err); /* fails pending requests with err */

kw_conn_state kw_conn_get_state(const kw_conn *c);
int kw_conn_last_error(const kw_conn *c); /* why it went down; 0 if it never did */
/* Details of last_error in words (the certificate's fault, the broker's SASL error
 * message, ...); "" when there are none. Never contains secrets. */
const char *kw_conn_last_error_text(const kw_conn *c);
int kw_conn_fd(const kw_conn *c);         /* -1 when down */
short kw_conn_events(const kw_conn *c);   /* POLLIN / POLLOUT wanted */
int64_t kw_conn_deadline(const kw_conn *c); /* earliest timeout, INT64_MAX if none */
/* Does the I/O the fd is ready for, runs callbacks, fires timeouts. Returns 0, or the
 * error that took the connection down. */
int kw_conn_step(kw_conn *c, short revents, int64_t now);

/* Highest version of `api_key` both sides speak, or KW_ERR_NO_VERSION (READY only). */
int kw_conn_version(const kw_conn *c, int16_t api_key);
/* The broker's advertised range for api_key; false if it did not list it. */
bool kw_conn_broker_range(const kw_conn *c, int16_t api_key, int16_t *min, int16_t *max);
/* Queues a request (READY only). version < 0: the negotiated one. KW_ERR_WOULD_BLOCK
 * when max_in_flight requests are unanswered, or while the connection re-authenticates. */
int kw_conn_request(kw_conn *c, int16_t api_key, int version, const void *msg, kw_conn_cb cb, void *ud, int64_t now);
int kw_conn_in_flight(const kw_conn *c);
/* The same with its own timeout (JoinGroup may be held by the broker for the whole
 * rebalance timeout). */
int kw_conn_request_timeout(kw_conn *c, int16_t api_key, int version, const void *msg, kw_conn_cb cb, void *ud,
                            int64_t now, int64_t timeout_ms);
/* A request the broker does not answer (Produce with acks=0): queued for writing only. */
int kw_conn_send_oneway(kw_conn *c, int16_t api_key, int version, const void *msg, int64_t now);
/* Writes what is queued now, without waiting for the next step (lower latency). */
/* The broker answered with throttle_time_ms > 0 (KIP-219): no request is written on
 * this connection for ms (answers are still read), as the Java client does. */
void kw_conn_throttle(kw_conn *c, int32_t ms, int64_t now);
int kw_conn_flush(kw_conn *c);
/* Bytes queued for writing and not yet accepted by the socket. */
size_t kw_conn_unsent(const kw_conn *c);

#endif
