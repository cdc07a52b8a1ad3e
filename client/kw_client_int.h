/* The client handle's insides, shared by the modules that make up a client (producer
 * glue, admin, consumer). Not installed. */
#ifndef KW_CLIENT_INT_H
#define KW_CLIENT_INT_H
#include "client/kw_cluster.h"
#include "client/kw_metrics.h"
#include "client/producer/kw_producer.h"
#include "kwire/client.h"
#include "core/kw_log.h"
#include "core/kw_mem.h"

struct pollfd;

/* What a wait hands poll(2): one entry per connection. */
typedef struct kw_wait_set {
  kw_pollfd *fds;
  struct pollfd *pfds;
  int cap;
} kw_wait_set;

struct kw_client {
  kw_config *conf;
  kw_mem mem_store; /* a copy: the configuration's own kw_mem dies with it */
  const kw_mem *mem;
  kw_logger log;
  kw_conn_security security; /* TLS context and SASL credentials of every connection */
  kw_cluster cluster;
  kw_producer *prod;
  struct kw_fetcher *cons;
  struct kw_group *group; /* consumers with group.id */
  int polls_since_step;
  /* Where a commit or a LeaveGroup reports back to a caller waiting for it. They live in
   * the client, not on the caller's stack: an answer that comes after the caller gave up
   * waiting must still land somewhere valid. */
  bool wait_done;
  int wait_result;
  int16_t wait_kerr;     /* a commit's Kafka error */
  int last_commit_err;   /* what the last kw_consumer_commit returned, for kw_consumer_commit_error */
  int16_t last_commit_kerr;
  /* kw_client_wait's arrays, grown with the connections and kept, so that waiting
   * allocates nothing once the client has all its connections. */
  kw_wait_set wait;
  int wait_depth; /* > 0 while a wait's step runs: a wait nested in a callback uses its own arrays */
  kw_metrics metrics;
  kw_delivery_cb dr_cb;
  void *dr_ud;
  kw_error_cb err_cb;
  void *err_ud;
};

/* A client with no role yet: configuration checked for `roles` (KW_CF_P / KW_CF_C),
 * cluster view ready. NULL with the reason in errstr. */
kw_client *kw_client_create(const kw_config *conf, int roles, char *errstr, size_t errlen);

/* The library's one wait: poll(2) over every socket of the client and its next timer,
 * at most until the monotonic time `until` (ms), then one kw_client_step with what
 * poll reported. Returns what the step served (delivery reports), or KW_ERR_NOMEM when
 * the client has more sockets than its arrays hold and they could not grow (then
 * nothing was waited for). kw_client_poll and client/kw_call.c wait only through it. */
int kw_client_wait(kw_client *cl, int64_t until);

/* The blocking request-and-wait path over a client is client/kw_call.h. */

#endif
