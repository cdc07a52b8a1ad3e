/* The inside of a broker connection, shared by kw_conn.c (connect, framing, I/O) and
 * kw_conn_auth.c (the SASL exchange). Nothing outside net/ includes this. */
#ifndef KW_NET_CONN_INT_H
#define KW_NET_CONN_INT_H
#include <netdb.h>
#include "net/kw_conn.h"
#include "core/kw_log.h"
#include "net/kw_transport.h"
#include "kwire/buf.h"
#include "core/kw_mem.h"

#define KW_MAX_API_KEY 128
#define KW_UNSUPPORTED_VERSION_KERR 35

typedef struct pending {
  int32_t correlation_id;
  int16_t api_key, version;
  int64_t deadline;
  kw_conn_cb cb;
  void *ud;
} pending;

struct kw_conn {
  kw_conn_config cfg;
  const kw_transport_ops *tp;
  kw_conn_state state;
  int fd, last_error;
  struct addrinfo *addrs, *next_addr;
  int64_t state_deadline; /* connect / handshake timeout */
  int64_t throttled_until; /* KIP-219: the broker asked for a pause (throttle_time_ms): no request is written before */
  int32_t next_corr;
  kw_buf out; /* encoded frames not yet written */
  kw_buf in;  /* bytes read, not yet a whole frame */
  pending *q; /* in-flight requests, oldest first (Kafka answers in order) */
  int nq;
  kw_arena arena; /* decoded ApiVersions answer */
  int16_t broker_min[KW_MAX_API_KEY], broker_max[KW_MAX_API_KEY]; /* -1: not offered */
  int16_t apiversions_version;
  /* Transport and authentication. */
  void *tctx;          /* the transport's per-connection state (TLS) */
  short hs_want;       /* poll events the transport handshake waits for */
  int64_t now;         /* of the current kw_conn_step, for callbacks */
  int fatal;           /* set by a handshake callback: close with this error */
  struct kw_sasl *sasl; /* the SASL exchange in progress */
  int64_t reauth_at;   /* re-authenticate from then (0: the session does not expire) */
  bool reauth_busy;    /* re-authenticating: new requests wait */
  uint32_t rng;        /* jitter of the re-authentication time */
  char why[240];       /* words for last_error (kw_conn_last_error_text) */
};

#define CONN_DBG(c, CTX, fmt, ...) \
  do { \
    if ((c)->cfg.log) KW_DBG((c)->cfg.log, CTX, "%s:%d: " fmt, (c)->cfg.host, (c)->cfg.port, __VA_ARGS__); \
  } while (0)

/* Queues one encoded request; expect_answer false for acks=0 Produce. */
int kw_conn_enqueue(kw_conn *c, int16_t key, int16_t ver, const void *msg, kw_conn_cb cb, void *ud, int64_t now,
                    bool expect_answer, int64_t timeout_ms);
/* SASL (kw_conn_auth.c): starts the exchange with a SaslHandshake (first time after
 * ApiVersions, or again to re-authenticate); the connection turns READY (or leaves
 * re-authentication) when the mechanism is done, or gets c->fatal. */
int kw_conn_auth_begin(kw_conn *c);
void kw_conn_auth_end(kw_conn *c); /* forgets the exchange and wipes its secrets */

#endif
