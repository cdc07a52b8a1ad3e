/* The producer (see kw_producer.h).
 *
 * Life of a record: kw_producer_produce encodes it straight into its partition's open
 * batch (or, while the topic's metadata is unknown, into the topic's staging buffer).
 * A batch is sealed when full, when linger.ms passed, or on flush; sealing assigns
 * its idempotence sequence and computes the CRC. Sealed batches wait in their
 * partition's queue (in sequence order) until the leader's connection takes them;
 * one Produce request carries at most one batch per partition. The answer delivers,
 * retries (back into the queue, in order) or fails each batch. */
#include <stdio.h>
#include <string.h>
#include "core/kw_clock.h"
#include "core/kw_log.h"
#include "client/kw_metrics.h"
#include "client/producer/kw_partitioner.h"
#include "client/producer/kw_producer.h"
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"
#include "proto/kw_crc32c.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"
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
  int attempts;
  bool sealed;
} kw_pbatch;

struct kw_ptp {
  kw_ptopic *pt;
  int32_t partition;
  kw_pbatch *open;
  kw_pbatch *head, *tail; /* sealed, waiting to be sent */
  int inflight;
  int32_t next_seq;
  uint64_t next_order;
  /* The broker holds no sequence state for us on this partition until a first batch of
   * the current epoch is acknowledged, and then accepts any sequence: until then only
   * one batch may be in flight, or a later one could land before an earlier retry. */
  bool seq_confirmed;
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
  bool need_bump; /* sequences broke: new epoch once nothing is in flight */
  int64_t pid_retry_at;
  int inflight_total;
  kw_delivery_cb dr_cb;
  void *dr_ud;
  /* Without a callback, reports wait here for kw_client_delivery_next (a ring). */
  kw_delivery_report *reports;
  int64_t r_head, r_count, r_cap;
  kw_error_cb err_cb;
  void *err_ud;
  bool dying;
};

/* ---- delivery reports ---- */

/* Hands one report to the callback, or queues it to be pulled. The queue counts
 * against queue.buffering.max.messages, so an application that never pulls gets
 * KW_ERR_QUEUE_FULL rather than unbounded growth. */
static void deliver(kw_producer *p, const kw_delivery_report *dr) {
  if (dr->err) p->metrics->delivery_failed++;
  else p->metrics->delivered++;
  if (p->dr_cb) {
    p->dr_cb(p->dr_ud, dr);
    return;
  }
  if (p->dying) return;
  if (p->r_count == p->r_cap) {
    int64_t cap = p->r_cap ? p->r_cap * 2 : 1024;
    kw_delivery_report *r = kw_alloc(p->mem, sizeof *r * (size_t)cap);
    if (!r) return; /* out of memory: the report is lost, the message itself was handled */
    for (int64_t i = 0; i < p->r_count; i++) r[i] = p->reports[(p->r_head + i) % p->r_cap];
    kw_free(p->mem, p->reports);
    p->reports = r;
    p->r_head = 0;
    p->r_cap = cap;
  }
  p->reports[(p->r_head + p->r_count++) % p->r_cap] = *dr;
}

int kw_producer_next_report(kw_producer *p, kw_delivery_report *out) {
  if (!p->r_count) return 0;
  *out = p->reports[p->r_head];
  p->r_head = (p->r_head + 1) % p->r_cap;
  p->r_count--;
  return 1;
}

static void account_release(kw_producer *p, kw_pbatch *b) {
  p->outstanding_msgs -= b->count;
  p->outstanding_bytes -= (int64_t)b->accounted;
  b->accounted = 0;
}

static void recycle(kw_producer *p, kw_pbatch *b) {
  b->next = p->free_batches;
  p->free_batches = b;
}

static void report_batch(kw_producer *p, kw_pbatch *b, int err, int16_t kerr, int64_t base_offset) {
  kw_delivery_report dr = {.topic = b->tp->pt->t->name, .partition = b->tp->partition, .err = err,
                           .kafka_error = kerr};
  for (int32_t i = 0; i < b->count; i++) {
    dr.offset = err || base_offset < 0 ? -1 : base_offset + i;
    dr.timestamp = b->msgs[i].timestamp;
    dr.opaque = b->msgs[i].opaque;
    deliver(p, &dr);
  }
  p->served += b->count;
  account_release(p, b);
  b->count = 0;
  recycle(p, b);
}

static void raise_error(kw_producer *p, int err, const char *reason) {
  if (p->err_cb) p->err_cb(p->err_ud, err, reason);
}

/* ---- topics and partitions ---- */

static kw_ptopic *ptopic(kw_producer *p, const char *name) {
  for (int i = 0; i < p->n_topics; i++)
    if (strcmp(p->topics[i]->t->name, name) == 0) return p->topics[i];
  kw_topic *t = kw_cluster_topic(p->cl, name, true);
  if (!t) return NULL;
  kw_ptopic **arr = kw_realloc(p->mem, p->topics, sizeof *arr * (size_t)(p->n_topics + 1));
  if (!arr) return NULL;
  p->topics = arr;
  kw_ptopic *pt = kw_alloc(p->mem, sizeof *pt);
  if (!pt) return NULL;
  memset(pt, 0, sizeof *pt);
  pt->t = t;
  kw_buf_init_grow(&pt->staged, p->mem);
  kw_sticky_init(&pt->sticky, (uint32_t)(uintptr_t)pt ^ (uint32_t)p->n_topics);
  t->prod = pt;
  p->topics[p->n_topics++] = pt;
  return pt;
}

/* Partition state, created when metadata first tells the partition count. */
static bool ensure_parts(kw_producer *p, kw_ptopic *pt) {
  int32_t n = pt->t->n_parts;
  if (n <= pt->n_parts) return true;
  kw_ptp **arr = kw_realloc(p->mem, pt->parts, sizeof *arr * (size_t)n);
  if (!arr) return false;
  pt->parts = arr;
  for (int32_t i = pt->n_parts; i < n; i++) {
    kw_ptp *tp = kw_alloc(p->mem, sizeof *tp);
    if (!tp) return false;
    memset(tp, 0, sizeof *tp);
    tp->pt = pt;
    tp->partition = i;
    arr[i] = tp;
    pt->n_parts = i + 1;
  }
  return true;
}

static int32_t choose_partition(kw_producer *p, kw_ptopic *pt, const void *key, size_t key_len) {
  int32_t n = pt->n_parts;
  if (!key) return kw_sticky_partition(&pt->sticky, n); /* KIP-480: null keys stick */
  switch (p->set.partitioner) {
  case KW_PARTITIONER_CONSISTENT:
  case KW_PARTITIONER_CONSISTENT_RANDOM: return kw_partition_crc32(key, key_len, n);
  case KW_PARTITIONER_FNV1A:
  case KW_PARTITIONER_FNV1A_RANDOM: return kw_partition_fnv1a(key, key_len, n);
  default: return kw_partition_murmur2(key, key_len, n);
  }
}

/* ---- batches ---- */

static kw_pbatch *new_batch(kw_producer *p, kw_ptp *tp, int64_t now) {
  kw_pbatch *b = p->free_batches;
  if (b) {
    p->free_batches = b->next;
    kw_buf_reset(&b->buf);
  } else {
    b = kw_alloc(p->mem, sizeof *b);
    if (!b) return NULL;
    memset(b, 0, sizeof *b);
    kw_buf_init_grow(&b->buf, p->mem);
  }
  b->next = NULL;
  b->tp = tp;
  b->count = 0;
  b->accounted = 0;
  b->created = now;
  b->retry_at = 0;
  b->attempts = 0;
  b->sealed = false;
  /* Producer id, epoch and sequence are stamped when the batch is sealed. */
  if (kw_batch_begin(&b->w, &b->buf, (int16_t)p->set.codec, -1, -1, -1)) {
    recycle(p, b);
    return NULL;
  }
  return b;
}

static void free_batch_memory(kw_producer *p, kw_pbatch *b) {
  kw_buf_free(&b->buf);
  kw_free(p->mem, b->msgs);
  kw_free(p->mem, b);
}

/* Inserts a sealed batch into its partition's queue by seal order. */
static void enqueue_sealed(kw_ptp *tp, kw_pbatch *b) {
  kw_pbatch **at = &tp->head;
  while (*at && (*at)->order < b->order) at = &(*at)->next;
  b->next = *at;
  *at = b;
  if (!b->next) tp->tail = b;
}

/* Writes producer id, epoch and base sequence into a sealed batch's header and
 * refreshes its CRC (they sit inside the CRC's range). */
static void stamp(kw_producer *p, kw_pbatch *b, int32_t base_seq) {
  uint8_t *h = b->buf.data;
  int64_t pid = p->set.idempotence ? p->pid : -1;
  int16_t epoch = p->set.idempotence ? p->epoch : -1;
  for (int i = 0; i < 8; i++) h[43 + i] = (uint8_t)((uint64_t)pid >> (56 - 8 * i));
  h[51] = (uint8_t)((uint16_t)epoch >> 8);
  h[52] = (uint8_t)epoch;
  for (int i = 0; i < 4; i++) h[53 + i] = (uint8_t)((uint32_t)base_seq >> (24 - 8 * i));
  uint32_t crc = kw_crc32c(0, h + 21, b->buf.len - 21); /* from the attributes field on */
  for (int i = 0; i < 4; i++) h[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
  b->w.producer_id = pid;
  b->w.producer_epoch = epoch;
  b->w.base_sequence = base_seq;
}

static int seal(kw_producer *p, kw_ptp *tp) {
  kw_pbatch *b = tp->open;
  if (!b) return 0;
  tp->open = NULL;
  int err = kw_batch_seal(&b->w, p->mem);
  if (err) {
    report_batch(p, b, err, 0, -1);
    return err;
  }
  b->sealed = true;
  b->order = tp->next_order++;
  int32_t seq = -1;
  if (p->set.idempotence) {
    seq = tp->next_seq;
    tp->next_seq = (int32_t)(((int64_t)tp->next_seq + b->count) & INT32_MAX); /* sequences wrap at 2^31 */
  }
  stamp(p, b, seq);
  enqueue_sealed(tp, b);
  if (!tp->pt->t->n_parts) return 0;
  if (tp->partition == tp->pt->sticky.current) kw_sticky_next(&tp->pt->sticky, tp->pt->n_parts);
  return 0;
}

static int append(kw_producer *p, kw_ptp *tp, const void *key, size_t key_len, const void *value, size_t value_len,
                  const kw_record_header *hs, int nh, int64_t ts, void *opaque, size_t accounted, int64_t now) {
  kw_slice k = {key, (int32_t)key_len}, v = {value, (int32_t)value_len};
  if (tp->open) {
    kw_pbatch *o = tp->open;
    size_t rec = kw_record_size(ts - o->w.base_timestamp, o->count, k, v, hs, nh);
    if (o->count >= p->set.batch_num_messages || (int64_t)(o->buf.len + rec) > p->set.batch_size) seal(p, tp);
  }
  if (!tp->open && !(tp->open = new_batch(p, tp, now ? now : kw_now_ms()))) return KW_ERR_NOMEM;
  kw_pbatch *b = tp->open;
  if (b->count == b->cap_msgs) {
    int32_t cap = b->cap_msgs ? b->cap_msgs * 2 : 64;
    msg_info *m = kw_realloc(p->mem, b->msgs, sizeof *m * (size_t)cap);
    if (!m) return KW_ERR_NOMEM;
    b->msgs = m;
    b->cap_msgs = cap;
  }
  int err = kw_batch_append(&b->w, ts, k, v, hs, nh);
  if (err) return err;
  b->msgs[b->count++] = (msg_info){opaque, ts};
  b->accounted += accounted;
  return 0;
}

/* ---- staging while metadata is unknown ---- */

static void stage_put(kw_buf *s, const void *p, int32_t len) {
  kw_buf_i32(s, p ? len : -1);
  if (p && len > 0) kw_buf_raw(s, p, (size_t)len);
}

static int stage(kw_ptopic *pt, int32_t partition, const void *key, size_t key_len,
                 const void *value, size_t value_len, const kw_header *hs, int nh, int64_t ts, void *opaque,
                 int64_t now) {
  kw_buf *s = &pt->staged;
  size_t mark = s->len;
  kw_buf_i32(s, partition);
  kw_buf_i64(s, ts);
  kw_buf_raw(s, &opaque, sizeof opaque);
  stage_put(s, key, (int32_t)key_len);
  stage_put(s, value, (int32_t)value_len);
  kw_buf_i32(s, nh);
  for (int i = 0; i < nh; i++) {
    stage_put(s, hs[i].key, (int32_t)strlen(hs[i].key));
    stage_put(s, hs[i].value, (int32_t)hs[i].value_len);
  }
  if (s->err) {
    int err = s->err;
    s->len = mark;
    s->err = 0;
    return err;
  }
  if (!pt->n_staged++) pt->staged_since = now;
  return 0;
}

static kw_slice stage_get(kw_rd *r) {
  int32_t len = kw_rd_i32(r);
  if (len < 0) return (kw_slice){NULL, 0};
  return (kw_slice){kw_rd_raw(r, (size_t)len), len};
}

/* Replays (place=true) or fails (err) every staged record of a topic. */
static void drain_staged(kw_producer *p, kw_ptopic *pt, bool place, int err, int16_t kerr, int64_t now) {
  kw_rd r;
  kw_rd_init(&r, pt->staged.data, pt->staged.len);
  while (kw_rd_left(&r)) {
    int32_t partition = kw_rd_i32(&r);
    int64_t ts = kw_rd_i64(&r);
    void *opaque;
    const uint8_t *op = kw_rd_raw(&r, sizeof opaque);
    if (!op) break;
    memcpy(&opaque, op, sizeof opaque);
    kw_slice key = stage_get(&r), value = stage_get(&r);
    int32_t nh = kw_rd_i32(&r);
    kw_record_header hs[64];
    int32_t kept = 0;
    for (int32_t i = 0; i < nh; i++) {
      kw_slice hk = stage_get(&r), hv = stage_get(&r);
      if (kept < 64) hs[kept++] = (kw_record_header){hk, hv};
    }
    if (r.err) break;
    size_t accounted = (size_t)(key.len > 0 ? key.len : 0) + (size_t)(value.len > 0 ? value.len : 0);
    int e = err;
    if (place) {
      if (partition == KW_PARTITION_UA) partition = choose_partition(p, pt, key.ptr, (size_t)key.len);
      e = partition < 0 || partition >= pt->n_parts ? KW_ERR_UNKNOWN_PARTITION
                                                     : append(p, pt->parts[partition], key.ptr, (size_t)key.len,
                                                              value.ptr, (size_t)value.len, hs, kept, ts, opaque,
                                                              accounted, now);
    }
    if (e) {
      kw_delivery_report dr = {pt->t->name, partition, -1, ts, e, e == KW_ERR_BROKER ? kerr : 0, opaque};
      deliver(p, &dr);
      p->served++;
      p->outstanding_msgs--;
      p->outstanding_bytes -= (int64_t)accounted;
    }
  }
  kw_buf_reset(&pt->staged);
  pt->n_staged = 0;
}

void kw_producer_on_metadata(kw_producer *p, int64_t now) {
  for (int i = 0; i < p->n_topics; i++) {
    kw_ptopic *pt = p->topics[i];
    if (pt->t->n_parts > 0 && !pt->t->error) ensure_parts(p, pt);
    if (!pt->n_staged) continue;
    if (pt->n_parts > 0 && !pt->t->error) {
      drain_staged(p, pt, true, 0, 0, now);
    } else if (pt->t->error == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION && !p->cl->set.allow_auto_create) {
      drain_staged(p, pt, false, KW_ERR_UNKNOWN_TOPIC, 0, now);
    } else if (pt->t->error && !kw_kerr_retriable(pt->t->error)) {
      drain_staged(p, pt, false, KW_ERR_BROKER, pt->t->error, now);
    }
  }
}

/* ---- the public produce call ---- */

/* now 0: read the clock only where it is needed (a new batch, a staged record). */
int kw_producer_produce(kw_producer *p, const char *topic, int32_t partition, const void *key, size_t key_len,
                        const void *value, size_t value_len, const kw_header *headers, int n_headers,
                        int64_t timestamp, void *opaque, int64_t now) {
  if (p->pid_state == PID_FATAL) return KW_ERR_FATAL;
  if (!topic || !*topic || n_headers < 0 || n_headers > 64 || (n_headers && !headers) || partition < KW_PARTITION_UA)
    return KW_ERR_INVALID_ARG;
  if (key_len > INT32_MAX || value_len > INT32_MAX) return KW_ERR_MSG_SIZE_TOO_LARGE;
  kw_record_header hs[64];
  size_t hbytes = 0;
  for (int i = 0; i < n_headers; i++) {
    if (!headers[i].key) return KW_ERR_INVALID_ARG;
    hs[i] = (kw_record_header){{(const uint8_t *)headers[i].key, (int32_t)strlen(headers[i].key)},
                               {headers[i].value, (int32_t)headers[i].value_len}};
    hbytes += strlen(headers[i].key) + headers[i].value_len;
  }
  kw_slice k = {key, (int32_t)key_len}, v = {value, (int32_t)value_len};
  /* The whole batch holding only this record must fit the broker's limit. The exact
   * size is only worked out when a cheap upper bound (varints take at most 10 bytes)
   * says it might not. */
  size_t bound = key_len + value_len + hbytes + 48 + 20 * (size_t)n_headers + KW_BATCH_HEADER_SIZE;
  if ((int64_t)bound > p->set.message_max_bytes &&
      (int64_t)(kw_record_size(0, 0, k, v, hs, n_headers) + KW_BATCH_HEADER_SIZE) > p->set.message_max_bytes)
    return KW_ERR_MSG_SIZE_TOO_LARGE;
  size_t accounted = key_len + value_len + hbytes;
  if (p->outstanding_msgs + p->r_count + 1 > p->set.max_messages ||
      p->outstanding_bytes + (int64_t)accounted > p->set.max_bytes)
    return KW_ERR_QUEUE_FULL;
  if (timestamp <= 0) timestamp = kw_wall_ms();

  kw_ptopic *pt = ptopic(p, topic);
  if (!pt) return KW_ERR_NOMEM;
  int err;
  if (pt->n_parts == 0 || pt->n_staged) { /* keep order behind records already staged */
    err = stage(pt, partition, key, key_len, value, value_len, headers, n_headers, timestamp, opaque,
                now ? now : kw_now_ms());
  } else {
    if (partition == KW_PARTITION_UA) partition = choose_partition(p, pt, key, key_len);
    if (partition >= pt->n_parts) return KW_ERR_UNKNOWN_PARTITION;
    err = append(p, pt->parts[partition], key, key_len, value, value_len, hs, n_headers, timestamp, opaque,
                 accounted, now);
  }
  if (err) return err;
  p->outstanding_msgs++;
  p->outstanding_bytes += (int64_t)accounted;
  return 0;
}

/* ---- idempotence: producer id and epoch ---- */

static void on_init_pid(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  kw_producer *p = ud;
  int64_t now = kw_now_ms();
  p->pid_state = PID_NONE;
  if (p->dying) return;
  kw_arena a;
  kw_arena_init(&a, p->mem, 0);
  kw_init_producer_id_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  int16_t kerr = err ? 0 : resp.error_code;
  if (!err && !kerr) {
    p->pid = resp.producer_id;
    p->epoch = resp.producer_epoch;
    KW_DBG(p->log, PRODUCER, "producer id %lld epoch %d", (long long)p->pid, p->epoch);
    p->pid_state = PID_OK;
    p->need_bump = false;
    /* A new id or epoch restarts every partition's sequence at 0: re-stamp what waits. */
    for (int i = 0; i < p->n_topics; i++)
      for (int32_t k = 0; k < p->topics[i]->n_parts; k++) {
        kw_ptp *tp = p->topics[i]->parts[k];
        tp->next_seq = 0;
        tp->seq_confirmed = false;
        for (kw_pbatch *b = tp->head; b; b = b->next) {
          stamp(p, b, tp->next_seq);
          tp->next_seq = (int32_t)(((int64_t)tp->next_seq + b->count) & INT32_MAX);
        }
      }
  } else if (err || kw_kerr_retriable(kerr) || kerr == KW_KERR_COORDINATOR_NOT_AVAILABLE ||
             kerr == KW_KERR_NOT_COORDINATOR) {
    p->pid_retry_at = now + p->set.retry_backoff_ms; /* e.g. COORDINATOR_LOAD_IN_PROGRESS on a fresh broker */
  } else {
    p->pid_state = PID_FATAL;
    char reason[160];
    snprintf(reason, sizeof reason, "InitProducerId failed: %s", kw_kerr_name(kerr));
    raise_error(p, KW_ERR_FATAL, reason);
  }
  kw_arena_reset(&a);
}

static void request_pid(kw_producer *p, int64_t now) {
  if (p->pid_state != PID_NONE || now < p->pid_retry_at) return;
  if (p->need_bump && p->inflight_total > 0) return; /* bump only once nothing is in flight */
  kw_conn *conn = NULL;
  for (int i = 0; i < p->cl->n_brokers && !conn; i++) {
    kw_conn *c = p->cl->brokers[i]->conn;
    if (c && kw_conn_get_state(c) == KW_CONN_READY) conn = c;
  }
  if (!conn) { /* metadata's connection attempts will bring one up */
    p->pid_retry_at = now + p->set.retry_backoff_ms;
    return;
  }
  kw_init_producer_id_req req;
  kw_msg_init(KW_SCHEMA_INIT_PRODUCER_ID_REQ, &req);
  req.transactional_id = (kw_slice){NULL, 0}; /* idempotent only: null, not Kafka's default "" */
  req.transaction_timeout_ms = 60000;
  int v = kw_conn_version(conn, KW_API_INIT_PRODUCER_ID);
  if (p->pid >= 0 && v >= 3) { /* KIP-360: bump the epoch of the id we have */
    req.producer_id = p->pid;
    req.producer_epoch = p->epoch;
  }
  if (kw_conn_request(conn, KW_API_INIT_PRODUCER_ID, v, &req, on_init_pid, p, now) == 0) {
    p->pid_state = PID_REQUESTING;
    kw_conn_flush(conn);
  }
}

/* Sequences no longer line up with the broker's: get a new epoch and re-stamp. */
static void reset_sequences(kw_producer *p) {
  if (p->pid_state == PID_FATAL) return;
  KW_DBG(p->log, PRODUCER, "sequence gap: bumping the epoch of producer id %lld", (long long)p->pid);
  p->need_bump = true;
  if (p->pid_state == PID_OK) p->pid_state = PID_NONE;
}

/* ---- Produce requests ---- */

typedef struct preq {
  kw_producer *p;
  int n;
  kw_pbatch *b[];
} preq;

static int64_t retry_delay(const kw_producer *p, int attempts) {
  int64_t d = p->set.retry_backoff_ms;
  for (int i = 1; i < attempts && d < p->set.retry_backoff_max_ms; i++) d *= 2;
  return d < p->set.retry_backoff_max_ms ? d : p->set.retry_backoff_max_ms;
}

/* A batch came back failed: retry it (in order) or report it. */
static void batch_failed(kw_producer *p, kw_pbatch *b, int err, int16_t kerr, int64_t now) {
  kw_ptp *tp = b->tp;
  bool earlier_pending = false;
  for (kw_pbatch *q = tp->head; q; q = q->next)
    if (q->order < b->order) earlier_pending = true;
  bool retriable = err == KW_ERR_TIMED_OUT || err == KW_ERR_DISCONNECTED || err == KW_ERR_IO ||
                   err == KW_ERR_CONNECT || (err == KW_ERR_BROKER && kw_kerr_retriable(kerr));
  if (kerr == KW_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER || kerr == KW_KERR_UNKNOWN_PRODUCER_ID) {
    /* After an earlier batch failed, later ones answer OUT_OF_ORDER: just retry them.
     * Otherwise the broker lost our state: new epoch, sequences from 0 (as Java does). */
    retriable = true;
    if (!earlier_pending && tp->inflight == 0) reset_sequences(p);
  }
  if (err == KW_ERR_BROKER && kw_kerr_refresh_metadata(kerr)) kw_cluster_refresh_soon(p->cl, now);
  KW_DBG(p->log, PRODUCER, "%s [%d]: batch of %d (seq %d) failed: %s %s (attempt %d)%s", tp->pt->t->name,
         tp->partition, b->count, b->w.base_sequence, kw_errname(err), kerr ? kw_kerr_name(kerr) : "",
         b->attempts + 1, retriable ? ", retrying" : "");
  if (retriable && !p->dying && now - b->created < p->set.delivery_timeout_ms) {
    b->attempts++;
    b->retry_at = now + retry_delay(p, b->attempts);
    enqueue_sealed(tp, b);
    return;
  }
  if (p->set.idempotence && !p->dying) reset_sequences(p); /* a gap in the sequence */
  report_batch(p, b, err ? err : KW_ERR_BROKER, kerr, -1);
}

static kw_pbatch *find_in_request(preq *rq, const kw_slice *name, const kw_uuid *id, int32_t partition) {
  for (int i = 0; i < rq->n; i++) {
    kw_pbatch *b = rq->b[i];
    if (!b || b->tp->partition != partition) continue;
    const kw_topic *t = b->tp->pt->t;
    /* Produce v13+ answers with the topic id and no name. */
    bool same = name->ptr && name->len > 0
                    ? (int32_t)strlen(t->name) == name->len && memcmp(t->name, name->ptr, (size_t)name->len) == 0
                    : memcmp(&t->id, id, sizeof *id) == 0;
    if (same) return b;
  }
  return NULL;
}

static void on_produce(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  preq *rq = ud;
  kw_producer *p = rq->p;
  int64_t now = kw_now_ms();
  for (int i = 0; i < rq->n; i++) {
    rq->b[i]->tp->inflight--;
    p->inflight_total--;
  }
  kw_arena a;
  kw_arena_init(&a, p->mem, 0);
  kw_produce_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  if (!err) {
    for (int32_t t = 0; t < resp.n_responses; t++) {
      const kw_produce_resp_topic_produce_response *tr = &resp.responses[t];
      for (int32_t k = 0; k < tr->n_partition_responses; k++) {
        const kw_produce_resp_partition_produce_response *pr = &tr->partition_responses[k];
        kw_pbatch *b = find_in_request(rq, &tr->name, &tr->topic_id, pr->index);
        if (!b) continue;
        for (int i = 0; i < rq->n; i++)
          if (rq->b[i] == b) rq->b[i] = NULL;
        if (pr->error_code == 0 || pr->error_code == KW_KERR_DUPLICATE_SEQUENCE_NUMBER) {
          if (b->w.producer_epoch == p->epoch) b->tp->seq_confirmed = true;
          report_batch(p, b, 0, 0, pr->error_code ? -1 : pr->base_offset);
        } else {
          batch_failed(p, b, KW_ERR_BROKER, pr->error_code, now);
        }
      }
    }
    err = KW_ERR_MALFORMED; /* for any batch the answer did not mention */
  }
  for (int i = 0; i < rq->n; i++)
    if (rq->b[i]) batch_failed(p, rq->b[i], err, 0, now);
  kw_arena_reset(&a);
  kw_free(p->mem, rq);
}

/* How many batches of this partition may be in flight now. */
static int tp_window(const kw_producer *p, const kw_ptp *tp) {
  if (p->set.idempotence && (!tp->seq_confirmed || (tp->head && tp->head->attempts > 0)))
    return 1; /* first batch of an epoch, or retrying: strictly one at a time */
  return p->set.max_in_flight;
}

static bool sendable(const kw_producer *p, const kw_ptp *tp, int64_t now) {
  return tp->head && tp->head->retry_at <= now && tp->inflight < tp_window(p, tp);
}

/* One Produce request to `node` with the head batch of every partition it leads. */
static void send_to(kw_producer *p, kw_broker *br, int64_t now) {
  kw_conn *conn = br->conn;
  int v = kw_conn_version(conn, KW_API_PRODUCE);
  if (v < 0) return;
  int n = 0;
  for (int i = 0; i < p->n_topics; i++)
    for (int32_t k = 0; k < p->topics[i]->n_parts; k++) {
      kw_ptp *tp = p->topics[i]->parts[k];
      const kw_topic *t = tp->pt->t;
      if (k < t->n_parts && t->parts[k].leader == br->node_id && sendable(p, tp, now)) n++;
    }
  if (!n) return;
  preq *rq = kw_alloc(p->mem, sizeof *rq + sizeof(kw_pbatch *) * (size_t)n);
  kw_produce_req_topic_produce_data *tds = kw_alloc(p->mem, sizeof *tds * (size_t)p->n_topics);
  kw_produce_req_partition_produce_data *pds = kw_alloc(p->mem, sizeof *pds * (size_t)n);
  if (!rq || !tds || !pds) goto out;
  rq->p = p;
  rq->n = 0;
  int ntd = 0;
  for (int i = 0; i < p->n_topics; i++) {
    kw_ptopic *pt = p->topics[i];
    kw_produce_req_topic_produce_data *td = &tds[ntd];
    kw_msg_init(KW_SCHEMA_PRODUCE_REQ_TOPIC_PRODUCE_DATA, td);
    td->partition_data = &pds[rq->n];
    for (int32_t k = 0; k < pt->n_parts; k++) {
      kw_ptp *tp = pt->parts[k];
      if (!(k < pt->t->n_parts && pt->t->parts[k].leader == br->node_id && sendable(p, tp, now))) continue;
      kw_pbatch *b = tp->head;
      pds[rq->n] = (kw_produce_req_partition_produce_data){k, {b->buf.data, (int32_t)b->buf.len}};
      rq->b[rq->n++] = b;
      td->n_partition_data++;
    }
    if (!td->n_partition_data) continue;
    if (v >= 13) td->topic_id = pt->t->id; /* Produce v13 names topics by id */
    else td->name = (kw_slice){(const uint8_t *)pt->t->name, (int32_t)strlen(pt->t->name)};
    ntd++;
  }
  kw_produce_req req;
  kw_msg_init(KW_SCHEMA_PRODUCE_REQ, &req);
  req.acks = p->set.acks;
  req.timeout_ms = (int32_t)p->set.request_timeout_ms;
  req.topic_data = tds;
  req.n_topic_data = ntd;
  int err = p->set.acks == 0 ? kw_conn_send_oneway(conn, KW_API_PRODUCE, v, &req, now)
                             : kw_conn_request(conn, KW_API_PRODUCE, v, &req, on_produce, rq, now);
  if (err) goto out;
  for (int i = 0; i < rq->n; i++) { /* the frame holds copies: dequeue the batches */
    kw_pbatch *b = rq->b[i];
    b->tp->head = b->next;
    if (!b->tp->head) b->tp->tail = NULL;
    b->next = NULL;
    b->tp->inflight++;
    p->inflight_total++;
  }
  kw_conn_flush(conn);
  if (p->set.acks == 0) { /* no answer will come: delivered as far as we can know */
    for (int i = 0; i < rq->n; i++) {
      rq->b[i]->tp->inflight--;
      p->inflight_total--;
      report_batch(p, rq->b[i], 0, 0, -1);
    }
    kw_free(p->mem, rq);
  }
  rq = NULL;
out:
  kw_free(p->mem, rq);
  kw_free(p->mem, tds);
  kw_free(p->mem, pds);
}

/* ---- the loop ---- */

static void expire(kw_producer *p, kw_ptp *tp, int64_t now) {
  while (tp->head && now - tp->head->created >= p->set.delivery_timeout_ms) {
    kw_pbatch *b = tp->head;
    tp->head = b->next;
    if (!tp->head) tp->tail = NULL;
    if (p->set.idempotence) reset_sequences(p);
    report_batch(p, b, KW_ERR_TIMED_OUT, 0, -1);
  }
}

int kw_producer_run(kw_producer *p, int64_t now) {
  if (p->set.idempotence) request_pid(p, now);
  bool can_send = !p->set.idempotence || p->pid_state == PID_OK;
  for (int i = 0; i < p->n_topics; i++) {
    kw_ptopic *pt = p->topics[i];
    if (pt->n_staged && now - pt->staged_since >= p->set.delivery_timeout_ms)
      drain_staged(p, pt, false, pt->t->error == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION ? KW_ERR_UNKNOWN_TOPIC
                                                                                       : KW_ERR_TIMED_OUT,
                   0, now);
    for (int32_t k = 0; k < pt->n_parts; k++) {
      kw_ptp *tp = pt->parts[k];
      if (tp->open && (p->flushing || now - tp->open->created >= p->set.linger_ms)) seal(p, tp);
      expire(p, tp, now);
      /* A backoff that is over is no timer any more: the batch waits for its leader's
       * connection, whose events wake the client (a deadline left in the past spins). */
      if (tp->head && tp->head->retry_at > 0 && tp->head->retry_at <= now) tp->head->retry_at = 0;
      if (tp->head && can_send && k < pt->t->n_parts && pt->t->parts[k].leader >= 0)
        (void)kw_cluster_conn(p->cl, pt->t->parts[k].leader, now); /* connect on demand */
    }
  }
  if (can_send && !p->need_bump) {
    for (int i = 0; i < p->cl->n_brokers; i++) {
      kw_broker *br = p->cl->brokers[i];
      if (br->node_id < 0 || !br->conn || kw_conn_get_state(br->conn) != KW_CONN_READY) continue;
      while (kw_conn_in_flight(br->conn) < p->set.max_in_flight) {
        int before = kw_conn_in_flight(br->conn);
        size_t unsent = kw_conn_unsent(br->conn);
        send_to(p, br, now);
        if (kw_conn_in_flight(br->conn) == before && kw_conn_unsent(br->conn) == unsent) break;
      }
    }
  }
  int served = p->served;
  p->served = 0;
  return served;
}

int64_t kw_producer_deadline(const kw_producer *p) {
  int64_t d = INT64_MAX;
  if (p->set.idempotence && p->pid_state == PID_NONE && p->pid_retry_at < d) d = p->pid_retry_at;
  for (int i = 0; i < p->n_topics; i++) {
    const kw_ptopic *pt = p->topics[i];
    if (pt->n_staged && pt->staged_since + p->set.delivery_timeout_ms < d) d = pt->staged_since + p->set.delivery_timeout_ms;
    for (int32_t k = 0; k < pt->n_parts; k++) {
      const kw_ptp *tp = pt->parts[k];
      if (tp->open) {
        int64_t at = p->flushing ? 0 : tp->open->created + p->set.linger_ms;
        if (at < d) d = at;
      }
      if (tp->head) {
        /* A batch waiting for a free in-flight slot is woken by an answer, not a timer:
         * only its expiry and a retry backoff are deadlines. */
        int64_t at = tp->head->created + p->set.delivery_timeout_ms;
        if (tp->head->retry_at > 0 && tp->head->retry_at < at) at = tp->head->retry_at;
        if (at < d) d = at;
      }
    }
  }
  return d;
}

void kw_producer_set_flushing(kw_producer *p, bool on) { p->flushing = on; }
int kw_producer_outstanding(const kw_producer *p) { return (int)p->outstanding_msgs; }

void kw_producer_set_callbacks(kw_producer *p, kw_delivery_cb dr, void *dr_ud, kw_error_cb err, void *err_ud) {
  p->dr_cb = dr;
  p->dr_ud = dr_ud;
  p->err_cb = err;
  p->err_ud = err_ud;
}

kw_producer *kw_producer_create(kw_cluster *cl, const kw_producer_settings *set, const kw_mem *mem,
                                const kw_logger *log, kw_metrics *metrics) {
  kw_producer *p = kw_alloc(mem, sizeof *p);
  if (!p) return NULL;
  memset(p, 0, sizeof *p);
  p->cl = cl;
  p->log = log;
  p->metrics = metrics;
  p->set = *set;
  p->mem = mem;
  p->pid = -1;
  p->epoch = -1;
  return p;
}

void kw_producer_free(kw_producer *p, int err) {
  if (!p) return;
  p->dying = true;
  for (int i = 0; i < p->n_topics; i++) {
    kw_ptopic *pt = p->topics[i];
    drain_staged(p, pt, false, err, 0, 0);
    for (int32_t k = 0; k < pt->n_parts; k++) {
      kw_ptp *tp = pt->parts[k];
      if (tp->open) {
        report_batch(p, tp->open, err, 0, -1);
        tp->open = NULL;
      }
      while (tp->head) {
        kw_pbatch *b = tp->head;
        tp->head = b->next;
        report_batch(p, b, err, 0, -1);
      }
    }
  }
  /* In-flight batches are reported when the caller closes the connections (their
   * callbacks run with an error and, since we are dying, report instead of retry). */
}

void kw_producer_release(kw_producer *p) {
  if (!p) return;
  while (p->free_batches) {
    kw_pbatch *b = p->free_batches;
    p->free_batches = b->next;
    free_batch_memory(p, b);
  }
  for (int i = 0; i < p->n_topics; i++) {
    kw_ptopic *pt = p->topics[i];
    for (int32_t k = 0; k < pt->n_parts; k++) kw_free(p->mem, pt->parts[k]);
    kw_free(p->mem, pt->parts);
    kw_buf_free(&pt->staged);
    kw_free(p->mem, pt);
  }
  kw_free(p->mem, p->topics);
  kw_free(p->mem, p->reports);
  kw_free(p->mem, p);
}
