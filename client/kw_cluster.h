/* The cluster view: brokers and their connections (opened on demand, reconnected
 * with exponential backoff and jitter), and topic metadata (partitions, leaders,
 * leader epochs, topic ids) refreshed periodically and on demand. */
#ifndef KW_CLIENT_CLUSTER_H
#define KW_CLIENT_CLUSTER_H
#include <stdbool.h>
#include <stdint.h>
#include "kwire/client.h"
#include "net/kw_conn.h"
#include "core/kw_mem.h"

typedef struct kw_broker {
  int32_t node_id; /* bootstrap entries: -1, -2, ... until a Metadata answer names them */
  char *host;
  int port;
  kw_conn *conn;
  int64_t retry_at;   /* no new connection attempt before this */
  int64_t backoff_ms; /* next reconnect delay (doubles up to the max) */
  bool failed;        /* its last connection attempt or connection failed (until READY) */
} kw_broker;

typedef struct kw_tp_meta {
  int32_t leader;
  int32_t leader_epoch;
  int16_t error;
} kw_tp_meta;

typedef struct kw_topic {
  char *name;
  kw_uuid id;
  int32_t n_parts; /* 0 until metadata knows the topic */
  kw_tp_meta *parts;
  int16_t error; /* topic-level error of the last Metadata answer */
  void *prod;    /* the producer's state for this topic */
} kw_topic;

typedef struct kw_cluster_settings {
  const kw_mem *mem;
  const char *client_id;
  int64_t request_timeout_ms, connect_timeout_ms;
  int64_t reconnect_backoff_ms, reconnect_backoff_max_ms;
  int64_t retry_backoff_ms;   /* metadata retries while a topic has no leader */
  int64_t metadata_refresh_ms; /* periodic refresh */
  int32_t max_frame;
  int max_in_flight;
  bool allow_auto_create;
  /* metadata.recovery.strategy=rebootstrap: start over from bootstrap.servers when a
   * Metadata answer says REBOOTSTRAP_REQUIRED, or when metadata was asked for in vain
   * for rebootstrap_trigger_ms (KIP-899, KIP-1102). */
  bool rebootstrap;
  int64_t rebootstrap_trigger_ms;
  const struct kw_logger *log;
  const kw_conn_security *security; /* NULL: plaintext */
} kw_cluster_settings;

typedef struct kw_cluster {
  kw_cluster_settings set;
  char *bootstrap; /* bootstrap.servers, to start over from */
  kw_broker **brokers;
  int n_brokers, cap_brokers;
  kw_topic **topics;
  int n_topics, cap_topics;
  int next_bootstrap; /* round robin over brokers for metadata */
  bool md_in_flight;
  bool md_waiting_conn;  /* metadata is due but no connection was READY */
  int md_topics_asked;   /* topics named in the request in flight */
  int64_t md_next;         /* when to refresh metadata next */
  int64_t md_last_answer;  /* 0 = never */
  int64_t md_wanted_since; /* metadata due and not had since (0 = none wanted) */
  bool rebootstrap_due;     /* a Metadata answer said REBOOTSTRAP_REQUIRED: at the end of the step */
  int64_t rebootstrap_wait; /* before the first metadata after a rebootstrap; grows while they repeat */
  int64_t down_since;      /* all brokers unreachable since (0 = not down) */
  bool down_reported;
  bool security_reported; /* an authentication / TLS failure was reported; until READY */
  /* The earliest reconnect time (backoff) of a broker someone asked for during this step
   * (kw_cluster_conn): a timer, so that waiting for a connection neither spins nor stalls. */
  int64_t conn_wanted_at;
  uint32_t rng;
  /* Hooks for the producer / consumer. */
  void *ud;
  void (*on_metadata)(void *ud, int64_t now);
  void (*on_error)(void *ud, int err, const char *reason);
} kw_cluster;

/* bootstrap: "host:port,host:port". KW_ERR_CONFIG on a malformed list. */
int kw_cluster_init(kw_cluster *cl, const kw_cluster_settings *set, const char *bootstrap, char *errstr,
                    size_t errlen);
void kw_cluster_free(kw_cluster *cl);
/* Closes every connection: requests in flight fail (callbacks run) now. */
void kw_cluster_disconnect_all(kw_cluster *cl);

kw_topic *kw_cluster_topic(kw_cluster *cl, const char *name, bool create);
/* Ask for a metadata refresh now (e.g. after NOT_LEADER_OR_FOLLOWER). */
void kw_cluster_refresh_soon(kw_cluster *cl, int64_t now);
kw_broker *kw_cluster_broker(kw_cluster *cl, int32_t node_id);
/* The broker with node_id, added with this address if unknown (a coordinator the
 * metadata has not listed yet). */
kw_broker *kw_cluster_ensure_broker(kw_cluster *cl, int32_t node_id, const char *host, size_t hostlen, int port);
/* A READY connection to node_id, or NULL (a connection attempt starts if allowed). */
kw_conn *kw_cluster_conn(kw_cluster *cl, int32_t node_id, int64_t now);

/* Event-loop plumbing over every broker connection. */
int kw_cluster_fds(kw_cluster *cl, kw_pollfd *fds, int max);
int64_t kw_cluster_deadline(const kw_cluster *cl);
void kw_cluster_step(kw_cluster *cl, const kw_pollfd *fds, int n, int64_t now);

/* Exponential backoff with +-20 % jitter. */
int64_t kw_backoff_jitter(uint32_t *rng, int64_t ms);

#endif
