/* kwsim: a simulated Kafka cluster in the process, for deterministic simulation tests
 * of the whole client (tests/sim) and for users' own tests (docs/testing.md). Installed
 * as <kwire/sim.h>, in libkwsim.a (CMake: kwire::kwsim).
 *
 * The cluster speaks the real wire protocol, encoded and decoded with kwire's codec, to
 * clients that reach it through the library's seam (core/kw_hooks.h): no sockets, no
 * wall clock. One 64-bit seed drives virtual time, the order in which ready connections
 * are served, and every fault; the same seed gives the same run, byte for byte.
 *
 * Single-threaded, like the library: the clients and the cluster run on the caller's
 * thread. A client's wait (kw_client_poll, or a blocking call) runs the cluster and
 * advances virtual time; kw_sim_advance does the same for a loop of its own.
 *
 * Or on loopback ports (kw_sim_listen): real TCP listeners on 127.0.0.1, one per
 * broker, served by kw_sim_serve on the caller's thread, in real time. Then any Kafka
 * client, in this process or another, uses it like a cluster; faults and scripted
 * errors work the same, only the run is no longer repeatable. */
#ifndef KW_SIM_H
#define KW_SIM_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define KW_SIM_MAX_BROKERS 8

/* Fault kinds. Each has a probability per opportunity, in parts per million. */
enum kw_sim_fault {
  KW_SIM_DROP_BEFORE,  /* a connection dropped before its request is handled */
  KW_SIM_DROP_AFTER,   /* ... after the broker acted, before the answer leaves */
  KW_SIM_DELAY,        /* an answer held past the client's request.timeout.ms */
  KW_SIM_SHORT_IO,     /* a read or write moves fewer bytes, down to one */
  KW_SIM_CONNECT_FAIL, /* a connection attempt refused */
  KW_SIM_ERROR,        /* a retriable error code instead of the answer (the request not applied) */
  KW_SIM_CRASH,        /* a broker crashes (per tick); it restarts after crash_ms */
  KW_SIM_ELECTION,     /* a partition's leadership moves to another in-sync replica (per tick) */
  KW_SIM_COORD_MOVE,   /* a group coordinator moves (per tick) */
  KW_SIM_STALE_META,   /* a Metadata answer from before the last leadership change */
  KW_SIM_THROTTLE,     /* a Produce or Fetch answer asks the client to pause (KIP-219) */
  KW_SIM_N_FAULTS
};

typedef struct kw_sim_config {
  uint64_t seed;
  int n_brokers;               /* 1 .. KW_SIM_MAX_BROKERS; 1 when 0 */
  int64_t start_ms;            /* virtual monotonic time at start; 1,000,000 when 0 */
  int64_t latency_ms;          /* an answer's base latency (0..latency_ms, seeded); 1 when 0 */
  int64_t delay_ms;            /* how long a DELAY fault holds an answer; 35,000 when 0 */
  int64_t crash_ms;            /* how long a crashed broker stays down; 3,000 when 0 */
  int64_t tick_ms;             /* the cluster's background work (replication, sessions); 5 when 0 */
  uint32_t fault_ppm[KW_SIM_N_FAULTS];
  FILE *trace;                 /* every event, one line each; NULL: none */
} kw_sim_config;

typedef struct kw_sim kw_sim;

kw_sim *kw_sim_new(const kw_sim_config *cfg);
void kw_sim_free(kw_sim *s);
/* Makes this simulator the process's network, clock and randomness (kw_hooks); NULL
 * restores the real ones. Install before creating clients. Not for a simulator in
 * loopback mode (kw_sim_listen): that one is served by kw_sim_serve. */
void kw_sim_install(kw_sim *s);
/* "sim-1:9092,sim-2:9092,...": bootstrap.servers for clients; in loopback mode
 * "127.0.0.1:P1,127.0.0.1:P2,...". */
const char *kw_sim_bootstrap(const kw_sim *s);

/* Loopback mode: opens one nonblocking TCP listener per broker on 127.0.0.1 (ports the
 * system picks). From then on Metadata and FindCoordinator name those addresses and the
 * cluster's clock is the real monotonic clock. Not with kw_sim_install (KW_ERR_STATE).
 * Returns 0 or a KW_ERR_*. */
int kw_sim_listen(kw_sim *s);
/* One turn of the server: waits up to timeout_ms (or until the cluster's next timer)
 * for a connection or bytes, then does what they allow: accepts, reads requests,
 * answers, closes. Call it in a loop, or between the steps of a client on the same
 * thread. Returns the number of sockets that were ready (0 on a timeout) or a KW_ERR_*. */
int kw_sim_serve(kw_sim *s, int timeout_ms);

/* Topics: replication 0 means min(3, brokers). Returns 0 or a KW_ERR_*. */
int kw_sim_create_topic(kw_sim *s, const char *name, int32_t partitions, int replication);

/* Virtual time: runs the cluster until `until` (monotonic ms). In the process only: in
 * loopback mode the clock is the real one and kw_sim_serve runs the cluster. */
int64_t kw_sim_now(const kw_sim *s);
void kw_sim_advance(kw_sim *s, int64_t until);

/* Direct faults, for scripted tests. */
void kw_sim_crash_broker(kw_sim *s, int32_t node);   /* restarts after crash_ms */
/* A broker goes down as in a crash (its connections drop, leadership moves, what it had
 * not replicated is lost) and stays down, refusing connections, until started again.
 * 0, or KW_ERR_INVALID_ARG for a node that does not exist. */
int kw_sim_stop_broker(kw_sim *s, int32_t node);
int kw_sim_start_broker(kw_sim *s, int32_t node);
void kw_sim_move_leader(kw_sim *s, const char *topic, int32_t partition);
void kw_sim_set_fault(kw_sim *s, enum kw_sim_fault f, uint32_t ppm);
/* The next `count` requests of API `api_key` (KW_API_PRODUCE, ...) are answered with
 * Kafka error `kafka_error` (KW_KERR_*) and not applied: every error code of the answer
 * is set (partition, topic, group, top level; a Fetch's per partition only), and the
 * topics and partitions are those the request named. A Produce with acks=0 gets no
 * answer, as from Kafka. An incremental Fetch that names no partition passes and the
 * error waits for one that does. Calls queue up, per API, in order. 0 or a KW_ERR_*
 * (KW_ERR_INVALID_ARG: an API kwire's codec does not speak, an error code of 0, count < 1). */
int kw_sim_inject_error(kw_sim *s, int16_t api_key, int16_t kafka_error, int count);

/* What the run did, for reports. */
typedef struct kw_sim_stats {
  uint64_t requests, answers, connections;
  uint64_t throttle_violations; /* bytes written on a connection the client was told to pause */
  uint64_t faults[KW_SIM_N_FAULTS];
  uint64_t injected; /* requests answered with a kw_sim_inject_error error */
} kw_sim_stats;
kw_sim_stats kw_sim_get_stats(const kw_sim *s);
const char *kw_sim_fault_name(enum kw_sim_fault f);

/* ---- the logs, as the broker holds them (invariant checks read these) ---- */

/* Calls fn for every record of a partition's log on its leader, below the high
 * watermark (what a read_uncommitted consumer can read), in offset order. */
typedef void (*kw_sim_record_fn)(void *ud, int64_t offset, const uint8_t *key, int32_t key_len,
                                 const uint8_t *value, int32_t value_len);
int kw_sim_read_log(kw_sim *s, const char *topic, int32_t partition, kw_sim_record_fn fn, void *ud);
/* The group's committed offset for a partition, -1 when none. */
int64_t kw_sim_committed(kw_sim *s, const char *group, const char *topic, int32_t partition);

#endif
