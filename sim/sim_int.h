/* kwsim's insides, shared by its parts:
 *   sim.c          the simulator: seed, PRNG, virtual time, topics, the run loop
 *   sim_net.c      connections and the seam's hooks (connect/recv/sendv/close/poll),
 *                  answer delivery, network faults
 *   sim_broker.c   request dispatch, ApiVersions, Metadata
 *   sim_log.c      partition logs: replication, high watermark, crashes, elections,
 *                  InitProducerId; sim_produce.c Produce (idempotence); sim_fetch.c
 *                  Fetch (sessions) and ListOffsets
 *   sim_group*.c   FindCoordinator, the classic and KIP-848 group coordinators,
 *                  OffsetCommit / OffsetFetch
 *   sim_inject.c   errors a test scripts (kw_sim_inject_error): the answer built from
 *                  the request through the codec's field tables
 *   sim_loop.c     loopback mode: real TCP listeners on 127.0.0.1, the server loop
 * Not installed. */
#ifndef KW_SIM_INT_H
#define KW_SIM_INT_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "core/kw_mem.h"
#include "kwire/buf.h"
#include "kwire/codec.h"
#include "sim/kw_sim.h"

/* ---- the logs ---- */

typedef struct sim_batch {
  int64_t base_offset, last_offset;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence; /* -1: not idempotent */
  int32_t leader_epoch;  /* of the leader that appended it */
  bool transactional, control;
  uint8_t *bytes; /* the whole batch as the log holds it (base offset set) */
  size_t len;
} sim_batch;

typedef struct sim_replica { /* one broker's copy of a partition's log */
  sim_batch *batches;
  int n, cap;
  int64_t leo; /* log end offset */
} sim_replica;

/* The last batches a producer id wrote to a partition (Kafka keeps five), for
 * DUPLICATE_SEQUENCE_NUMBER / OUT_OF_ORDER_SEQUENCE_NUMBER. */
#define SIM_PRODUCER_BATCHES 5
typedef struct sim_pstate {
  int64_t producer_id;
  int16_t epoch;
  int n;
  struct {
    int32_t first_seq, last_seq;
    int64_t base_offset;
  } last[SIM_PRODUCER_BATCHES];
} sim_pstate;

typedef struct sim_partition {
  int32_t index;
  int32_t leader; /* node id, -1: none */
  int32_t leader_epoch;
  int32_t replicas[KW_SIM_MAX_BROKERS];
  int n_replicas;
  bool in_isr[KW_SIM_MAX_BROKERS + 1]; /* by node id */
  int64_t hw, log_start;
  sim_replica rep[KW_SIM_MAX_BROKERS + 1]; /* by node id */
  sim_pstate *producers;
  int n_producers;
} sim_partition;

typedef struct sim_topic {
  char *name;
  kw_uuid id;
  sim_partition *parts;
  int32_t n_parts;
} sim_topic;

typedef struct sim_broker {
  int32_t node;
  bool up;
  int64_t restart_at; /* INT64_MAX: stopped until kw_sim_start_broker */
  char name[16];      /* "sim-N": its host in-process */
  int listen_fd;      /* loopback mode: its listener on 127.0.0.1, else -1 */
  int32_t port;       /* ... and that listener's port */
} sim_broker;

/* ---- connections ---- */

typedef struct sim_answer { /* an answer on its way to the client */
  struct sim_answer *next;
  int64_t due;
  int32_t throttle_ms; /* KIP-219: the pause it asks for, from when the client reads it */
  bool drop_conn; /* the connection breaks instead of delivering it */
  size_t len;
  uint8_t data[];
} sim_answer;

typedef struct sim_req { /* a request a broker is working on */
  int conn;
  int32_t node;
  int16_t api, ver;
  int32_t corr;
  const uint8_t *body; /* after the header */
  size_t body_len;
  int64_t arrived;
  int64_t park_until; /* SIM_PARK: answer by then at the latest */
  bool final;         /* the park time is over: answer with what there is */
  bool resumed;       /* a parked request looked at again (not a new one) */
  void *state;        /* a parked handler's own (one malloc'd block: freed with free()
                       * by the network if the connection drops before the answer) */
  int32_t throttle_ms; /* set by a handler whose answer throttles the client */
} sim_req;

typedef struct sim_conn {
  bool open;
  bool broken;        /* dropped: the client reads DISCONNECTED once its bytes are read */
  bool closed_by_client; /* the broker still reads what was written before (TCP delivers
                          * it); its answers go nowhere */
  int32_t node;
  uint64_t id;        /* order of creation, for traces */
  kw_buf in;          /* request bytes written by the client, not yet taken */
  kw_buf parked;      /* the request frame being held (Kafka mutes the connection meanwhile) */
  bool has_parked;
  sim_req parked_req;
  sim_answer *head, *tail; /* answers in flight, in order (Kafka answers a connection in order) */
  kw_buf out;         /* answer bytes the client can read now */
  size_t out_off;
  /* KIP-219: once the client has read up to throttle_at, it must not write for
   * throttle_ms; until then the broker reads nothing either (it mutes the channel). */
  size_t throttle_at;
  int32_t throttle_ms;
  int64_t throttle_until, muted_until;
  int fd;             /* loopback mode: the accepted socket, else -1 */
} sim_conn;

/* ---- the simulator ---- */

struct sim_groups; /* sim_group*.c */
struct sim_fetch_sessions; /* sim_log.c */

struct kw_sim {
  kw_sim_config cfg;
  uint64_t rng;
  int64_t now;
  int64_t wall_offset; /* wall = now + wall_offset */
  int64_t next_tick;
  sim_broker brokers[KW_SIM_MAX_BROKERS + 1]; /* by node id, 1.. */
  int n_brokers;
  sim_topic **topics;
  int n_topics;
  sim_conn *conns;
  int n_conns;
  uint64_t conn_ids;
  char bootstrap[KW_SIM_MAX_BROKERS * 24];
  bool loopback;        /* kw_sim_listen: real sockets, real time */
  int64_t real_offset;  /* loopback: now = the real monotonic clock + real_offset */
  struct sim_inject *inject; /* kw_sim_inject_error's queue, in order */
  int n_inject, cap_inject;
  int64_t next_producer_id;
  struct sim_groups *groups;
  struct sim_fetch_sessions *sessions;
  kw_sim_stats stats;
  kw_arena arena; /* per request, reset after each */
};

/* ---- sim.c ---- */
uint64_t sim_rand(kw_sim *s);
uint64_t sim_rand_below(kw_sim *s, uint64_t n); /* 0 .. n-1 */
/* Rolls the dice for a fault: true (and counted) with the configured probability. */
bool sim_fault(kw_sim *s, enum kw_sim_fault f);
void sim_trace(kw_sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
sim_topic *sim_topic_find(kw_sim *s, const char *name, size_t len);
sim_topic *sim_topic_by_id(kw_sim *s, const kw_uuid *id);
/* One step of the cluster at the current virtual time: requests taken and handled,
 * parked ones looked at again, answers due delivered, the background tick. */
void sim_step(kw_sim *s);
/* The earliest future time something happens (an answer due, a park ending, a tick). */
int64_t sim_next_event(kw_sim *s);
/* The address clients are told for a broker (Metadata, FindCoordinator): "sim-N":9092
 * in the process, 127.0.0.1 and its listener's port in loopback mode. */
void sim_broker_address(kw_sim *s, int32_t node, kw_slice *host, int32_t *port);
/* A Metadata answer's broker list (the live brokers) and cluster ids. */
void sim_metadata_brokers(kw_sim *s, kw_metadata_resp *resp);

/* ---- sim_net.c ---- */
void sim_net_install(kw_sim *s, bool on);
/* Takes whole requests off connections and hands them to sim_broker_handle, in a
 * seeded order across connections; delivers answers whose time has come. */
void sim_net_step(kw_sim *s);
int64_t sim_net_next_event(kw_sim *s);
/* Queues an answer frame on a connection, due after the network's latency. */
void sim_net_answer(kw_sim *s, int conn, const uint8_t *frame, size_t len, int32_t throttle_ms);
/* KIP-219 for a handler: with the THROTTLE fault, a pause for the client (0 without). */
int32_t sim_throttle(kw_sim *s, sim_req *r);
void sim_net_break(kw_sim *s, int conn);        /* the connection drops now */
void sim_net_break_node(kw_sim *s, int32_t node); /* every connection to a broker */
void sim_net_free(kw_sim *s);
/* A new connection to a broker (its handle), or a negative KW_ERR_*; and its close, by
 * the client's side. Shared by the seam's connect/close and the loopback loop. */
int sim_net_open(kw_sim *s, int32_t node);
void sim_net_close(kw_sim *s, int conn);

/* ---- sim_loop.c ---- */
void sim_loop_free(kw_sim *s); /* closes the listeners and sockets of loopback mode */

/* ---- sim_inject.c ---- */
/* A scripted error for this new request (kw_sim_inject_error): the error answer put in
 * `out` (nothing for acks=0) and true; false when none is due. */
bool sim_inject_take(kw_sim *s, sim_req *r, kw_buf *out);
void sim_inject_free(kw_sim *s);
/* The answer without the fields version v lacks (their defaults instead), so an older
 * client's version encodes: a malloc'd copy of the top-level struct (NULL: no memory). */
void *sim_fit_version(int16_t api_key, int16_t v, const void *resp);

/* ---- sim_broker.c ---- */
enum { SIM_DONE, SIM_PARK, SIM_NO_ANSWER };
/* A handler answers into `out` (sim_put_answer) and returns SIM_DONE; or returns
 * SIM_PARK with r->park_until set, and is called again (r->final at the end) until it
 * answers; or SIM_NO_ANSWER (acks=0). */
typedef int (*sim_handler)(kw_sim *s, sim_req *r, kw_buf *out);
void sim_put_answer(kw_buf *out, const sim_req *r, const void *resp);
/* Decodes r's body into `msg` (the request struct of r->api); KW_ERR_* on failure. */
int sim_decode(kw_sim *s, const sim_req *r, void *msg);
/* Handles one request frame (after the 4-byte size). */
int sim_broker_handle(kw_sim *s, sim_req *r, kw_buf *out);
kw_slice sim_str(const char *s);

/* Handlers, by part. */
int sim_h_produce(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_fetch(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_list_offsets(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_init_producer_id(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_find_coordinator(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_join_group(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_sync_group(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_heartbeat(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_leave_group(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_offset_commit(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_offset_fetch(kw_sim *s, sim_req *r, kw_buf *out);
int sim_h_consumer_group_heartbeat(kw_sim *s, sim_req *r, kw_buf *out);

/* ---- sim_log.c ---- */
sim_topic *sim_log_new_topic(kw_sim *s, const char *name, int32_t partitions, int replication);
void sim_log_free_topic(kw_sim *s, sim_topic *t);
void sim_log_tick(kw_sim *s);                  /* replication, high watermarks */
void sim_log_crash(kw_sim *s, int32_t node);   /* a broker goes down: leaders move, its unreplicated tail is lost */
void sim_log_restart(kw_sim *s, int32_t node); /* it comes back, truncated to what it had replicated */
void sim_log_elect(kw_sim *s, sim_topic *t, sim_partition *p); /* leadership to another in-sync replica */
void sim_log_free(kw_sim *s);
/* A partition's state for this request's node: NULL and *kerr set when the node cannot
 * answer for it (unknown topic, not the leader). */
sim_partition *sim_log_leader_part(kw_sim *s, int32_t node, sim_topic *t, int32_t partition, int16_t *kerr);
/* Checks a client's current leader epoch as Kafka does: 0, FENCED_LEADER_EPOCH (older)
 * or UNKNOWN_LEADER_EPOCH (newer); -1 means "not given". */
int16_t sim_log_check_epoch(const sim_partition *p, int32_t current_leader_epoch);
/* Appends a copy of a batch to a replica's log at its end (base offset rewritten). */
int sim_log_append(sim_replica *r, const sim_batch *b, const uint8_t *bytes, size_t len);

/* ---- sim_fetch.c ---- */
void sim_fetch_forget_node(kw_sim *s, int32_t node); /* a crashed broker's fetch sessions */
void sim_fetch_free(kw_sim *s);

/* ---- sim_group*.c ---- */
void sim_groups_tick(kw_sim *s);  /* session expiry, rebalance timeouts */
void sim_groups_move_coordinator(kw_sim *s);
int32_t sim_groups_coordinator(kw_sim *s, const char *group, size_t len);
void sim_groups_free(kw_sim *s);

#endif
