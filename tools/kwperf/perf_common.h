/* The client-neutral half of kwperf: options, payloads, clocks, resource usage,
 * percentiles and the report format, compiled into both kwperf and bench/rdkafka_perf.c
 * (the librdkafka baseline), so both clients are driven, measured and printed by one
 * piece of code. The consume half (perf_consume_*) is shared the same way: consume.c
 * drives kwire's consumer, bench/rdkafka_perf.c librdkafka's, and both count, check and
 * print here. So is the rebalance scenario (perf_rebalance_run): rebalance.c and
 * rdkafka_perf.c only wrap their client's create/subscribe/poll/close and report its
 * rebalance callbacks. */
#ifndef KWPERF_COMMON_H
#define KWPERF_COMMON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PERF_MAX_PROPS 64

typedef struct perf_opts {
  const char *command; /* produce, consume, or rtt (kwperf only) */
  const char *brokers, *topic;
  long count;          /* messages measured (-n); consume: -1 = all up to the end at start */
  int size;            /* value bytes (-s) */
  const char *acks;    /* all, -1, 0, 1 */
  int linger_ms;
  const char *codec;   /* none, gzip, snappy, lz4, zstd */
  bool latency;        /* one message at a time, produce -> delivery report */
  bool floor;          /* --latency --floor: a raw round trip before each message */
  long warmup;         /* messages produced and flushed before measuring */
  const char *api;     /* consume --api (rdkafka_perf: batch or poll) */
  int idle_ms;         /* consume: give up after this long without a message */
  const char *strategy; /* rebalance: partition.assignment.strategy (classic protocol) */
  const char *protocol; /* rebalance: group.protocol, classic or consumer (KIP-848) */
  const char *group;    /* rebalance: group.id (default: a fresh one per run) */
  int slice_ms;         /* rebalance: poll timeout per member and turn */
  const char *loop;     /* rebalance: turns (each member polled in turn) or fds (one poll()) */
  int settle_ms;        /* rebalance: wait between a stable group and the next step */
  int phase_timeout_ms; /* rebalance: a phase that takes longer has failed */
  bool trace;           /* rebalance: every rebalance callback to stderr */
  const char *props[PERF_MAX_PROPS][2]; /* -X key=value, applied last */
  int n_props;
} perf_opts;

typedef struct perf_usage {
  double user_s, sys_s;
  long maxrss_kb;
} perf_usage;

typedef struct perf_run {
  int64_t t_first_ns, t_last_ns; /* first produce, last delivery report */
  perf_usage before, after;      /* resource usage around the measured phase */
  long delivered, failed, expected;
  long warmup_failed;            /* warm-up messages not delivered: nothing to measure */
  char first_error[128];
  int64_t *lat_ns;               /* latency mode: per message, -1 until reported */
  int64_t *sent_ns;
  int64_t *floor_ns;             /* --floor: the raw round trip before message i */
  long n_floor;
  double floor_cpu_s;            /* CPU the floor's round trips took: not the client's */
} perf_run;

/* Parses "COMMAND -b ... " (argv[1] is the command, one of the space-separated
 * `commands`). Exits with usage on error. */
void perf_parse(perf_opts *o, int argc, char **argv, const char *prog, const char *commands);
/* True when acks means all in-sync replicas (then both clients run idempotent). */
bool perf_acks_all(const perf_opts *o);
/* The value of message i: `size` bytes of word-like text, different per message. */
const void *perf_payload(const perf_opts *o, long i);
int64_t perf_now_ns(void);
double perf_thread_cpu_s(void); /* CPU time of the calling thread */
void perf_usage_now(perf_usage *u);
/* Allocates the latency arrays (latency mode) and zeroes the counters. */
void perf_run_init(perf_run *r, const perf_opts *o);
/* A delivery report for message i (i < 0: a warm-up message, only its failure counted). */
void perf_delivered(perf_run *r, long i, const char *err);
/* Prints the human-readable figures and the final JSON line. `conf` is a short text
 * of the effective settings the client read back. */
void perf_report(const perf_opts *o, perf_run *r, const char *client, const char *version, const char *conf);

/* ---- consume: both clients count every message here ---- */

typedef struct perf_consume {
  int64_t t_start_ns, t_first_ns, t_last_ns; /* client created, first message, count reached */
  perf_usage start, first, end;
  long expected;                 /* messages to consume */
  long msgs, errors;             /* records, error events */
  long order_errors;             /* an offset at or below one seen before on its partition */
  uint64_t bytes, checksum;      /* value bytes; sum of the values' 64-bit words (+ tail bytes) */
  int n_parts;
  int64_t *next_offset;          /* per partition: next offset expected */
  char first_error[160];
} perf_consume;

void perf_consume_init(perf_consume *c, long expected, int n_parts);
/* The client is about to be created: the clock and CPU start here ("from client start"). */
void perf_consume_start(perf_consume *c);
void perf_consume_error(perf_consume *c, int32_t partition, int64_t offset, const char *what);
/* Prints the figures and the JSON line; `api` says how the client was driven. */
void perf_consume_report(const perf_opts *o, perf_consume *c, const char *client, const char *version,
                         const char *api, const char *conf);

/* One record: reads every byte of its value (as an application would), checks that the
 * partition's offsets only go up, and stops the clock at the last one. Inline: this runs
 * a million times per run and must cost both clients the same few nanoseconds. */
__attribute__((unused)) static inline void perf_consumed(perf_consume *c, int32_t partition, int64_t offset,
                                                         const void *value, size_t len) {
  if (c->msgs == 0) {
    c->t_first_ns = perf_now_ns();
    perf_usage_now(&c->first);
  }
  const unsigned char *v = value;
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, v + i, 8); /* one unaligned load */
    sum += w;
  }
  for (; i < len; i++) sum += v[i];
  c->checksum += sum;
  c->bytes += len;
  if (partition >= 0 && partition < c->n_parts) {
    if (offset < c->next_offset[partition]) c->order_errors++;
    c->next_offset[partition] = offset + 1;
  }
  if (++c->msgs == c->expected) {
    c->t_last_ns = perf_now_ns();
    perf_usage_now(&c->end);
  }
}

/* ---- rebalance: a group of PERF_RB_MEMBERS consumers driven from one thread ----
 *
 * The scenario (perf_rebalance_run, the same code for both clients): members 1 and 2
 * subscribe and settle on half the partitions each; settle_ms later member 3 subscribes
 * (t0) and the join is over when every member owns its share (n/3, here 4 of 12) and
 * every partition has exactly one owner, as told by the rebalance callbacks; settle_ms
 * later member 3 closes (t1, a clean leave) and the leave is over when members 1 and 2
 * own half each again. Members are polled in turn, slice_ms each (--loop turns), or
 * (kwire, --loop fds) served from one poll() over all their sockets. */
#define PERF_RB_MEMBERS 3
#define PERF_RB_MAX_PARTS 4096
enum { PERF_RB_ASSIGNED = 1, PERF_RB_REVOKED = 2, PERF_RB_LOST = 3 }; /* kwire's KW_REBALANCE_* values */
typedef struct perf_rb perf_rb;
/* A rebalance callback of member `member` (0-based) for these partitions of the topic
 * (ASSIGNED: now its own, added to what it has; REVOKED/LOST: given up). */
void perf_rb_event(perf_rb *rb, int member, int kind, const int32_t *parts, int n);
typedef struct perf_rb_ops {
  /* A consumer for member `member` (not subscribed yet); exits on failure. */
  void *(*create)(const perf_opts *o, const char *group, int member, perf_rb *rb);
  int (*subscribe)(void *m);            /* 0 or an error */
  int (*poll)(void *m, int timeout_ms); /* serves the member (its callbacks run here); < 0 fatal */
  /* --loop fds (NULL: not offered): one wait on every open member's sockets, at most
   * timeout_ms, then each member served from what was ready; < 0 fatal. */
  int (*poll_all)(void *const *m, const bool *open, int n, int timeout_ms);
  void (*close)(void *m);               /* a clean leave: revokes (callback) and leaves the group */
  void (*destroy)(void *m);
} perf_rb_ops;
/* Runs the scenario on a topic of n_parts partitions, prints the figures and one JSON
 * line; 0 if both phases converged with no inconsistency. */
int perf_rebalance_run(const perf_opts *o, const perf_rb_ops *ops, int n_parts, const char *client,
                       const char *version, const char *conf);
int kwperf_rebalance(const perf_opts *o); /* kwperf rebalance (rebalance.c) */

/* rtt.c: the latency floor, a raw connection with one pre-encoded Produce request. */
typedef struct kwperf_floor kwperf_floor;
kwperf_floor *kwperf_floor_open(const perf_opts *o);
int kwperf_floor_once(kwperf_floor *f, int64_t *ns); /* 0, a Kafka error code, or -1000 */
void kwperf_floor_close(kwperf_floor *f);
int kwperf_rtt(const perf_opts *o); /* kwperf rtt */
int kwperf_consume(const perf_opts *o); /* kwperf consume (consume.c) */
/* --floor: one raw round trip, its time into r->floor_ns and its CPU into r->floor_cpu_s. */
void perf_floor_step(kwperf_floor *f, perf_run *r);
#endif
