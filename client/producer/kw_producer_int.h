/* The producer's state, shared by its files (kw_producer.c: batches, requests,
 * idempotence, the loop; kw_producer_stage.c: records produced before their topic's
 * metadata is known). Not a public header. */
#ifndef KW_CLIENT_PRODUCER_INT_H
#define KW_CLIENT_PRODUCER_INT_H
#include "client/kw_metrics.h"
#include "core/kw_log.h"
#include "client/producer/kw_partitioner.h"
#include "client/producer/kw_producer.h"
#include "proto/kw_records.h"

typedef struct kw_ptp kw_ptp;
typedef struct kw_ptopic kw_ptopic;

typedef struct msg_info {
  void *opaque;
  int64_t timestamp;
} msg_info;

typedef struct kw_pbatch {
  struct kw_pbatch *next;
  kw_ptp *tp;
  kw_buf buf;
  kw_batch_writer w;
  msg_info *msgs;
  int32_t count, cap_msgs;
  size_t accounted; /* bytes counted against queue.buffering.max.kbytes */
  int64_t created;
  int64_t retry_at;
  uint64_t order; /* seal order within the partition: retries go back in this order */
  uint32_t sub; /* a split batch's first record within the batch it came from */
  int attempts;
  bool sealed;
  bool has_seq; /* producer id, epoch and sequence fixed (first send): kept for retries */
  bool expired; /* reported as timed out while in flight; the answer only updates state */
} kw_pbatch;

struct kw_ptp {
  kw_ptopic *pt;
  int32_t partition;
  kw_pbatch *open;
  kw_pbatch *head, *tail; /* sealed, waiting to be sent */
  int inflight; /* batches in requests not yet answered, expired ones included */
  uint64_t next_order;
  /* Idempotence: the identity this partition's sequences count under (it lags the
   * producer's while batches stamped with the old one are still out). */
  int64_t pid;
  int16_t epoch;
  int32_t next_seq;
  int32_t acked_next; /* the sequence after the last one the broker acknowledged */
  /* The broker holds no sequence state for us on this partition until a first batch of
   * the current epoch is acknowledged, and then accepts any sequence: until then only
   * one batch may be in flight, or a later one could land before an earlier retry. */
  bool seq_confirmed;
  bool unresolved;         /* a sent batch was given up on: written or not is unknown */
  int32_t unresolved_last; /* the last sequence of that batch */
  bool rewrite;            /* a gap is proven: restart at sequence 0 under the next epoch */
};

struct kw_ptopic {
  kw_topic *t;
  kw_ptp **parts;
  int32_t n_parts;
  kw_buf staged; /* records produced before the topic's metadata arrived */
  int32_t n_staged;
  int64_t staged_since;
  kw_sticky sticky;
};

enum pid_state { PID_NONE, PID_REQUESTING, PID_OK, PID_FATAL };

struct kw_producer {
  kw_cluster *cl;
  const kw_logger *log;
  kw_metrics *metrics;
  kw_producer_settings set;
  const kw_mem *mem;
  kw_ptopic **topics;
  int n_topics;
  kw_pbatch *free_batches;
  int64_t outstanding_msgs, outstanding_bytes;
  int served; /* delivery reports since the last run */
  bool flushing;
  /* idempotence */
  enum pid_state pid_state;
  int64_t pid;
  int16_t epoch;
  bool bump_required; /* a partition proved a gap: move to the next epoch */
  int64_t pid_retry_at;
  struct preq *reqs; /* Produce requests awaiting their answer (for in-flight expiry) */
  kw_delivery_cb dr_cb;
  void *dr_ud;
  /* Without a callback, reports wait here for kw_client_delivery_next (a ring). */
  kw_delivery_report *reports;
  int64_t r_head, r_count, r_cap;
  kw_error_cb err_cb;
  void *err_ud;
  bool dying;
};

void kw_prod_deliver(kw_producer *p, const kw_delivery_report *dr);
int32_t kw_prod_choose_partition(kw_producer *p, kw_ptopic *pt, const void *key, size_t key_len);
int kw_prod_append(kw_producer *p, kw_ptp *tp, const void *key, size_t key_len, const void *value, size_t value_len,
                   const kw_record_header *hs, int nh, int64_t ts, void *opaque, size_t accounted, int64_t now);
/* Keeps a record until its topic's partitions are known (in produce order). */
int kw_prod_stage(kw_ptopic *pt, int32_t partition, const void *key, size_t key_len, const void *value,
                  size_t value_len, const kw_header *hs, int nh, int64_t ts, void *opaque, int64_t now);
/* Replays (place=true) or fails (err) every staged record of a topic. */
void kw_prod_drain_staged(kw_producer *p, kw_ptopic *pt, bool place, int err, int16_t kerr, int64_t now);

#endif
