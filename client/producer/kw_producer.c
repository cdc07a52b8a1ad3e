/* The producer (see kw_producer.h).
 *
 * Life of a record: kw_producer_produce encodes it straight into its partition's open
 * batch (or, while the topic's metadata is unknown, into the topic's staging buffer).
 * A batch is sealed when full, when linger.ms passed, or on flush (compressed, CRC).
 * Sealed batches wait in their partition's queue (in seal order) until the leader's
 * connection takes them; one Produce request carries at most one batch per partition.
 * The answer delivers, retries (back into the queue, in order), splits (a batch over
 * the broker's size limit) or fails each batch.
 *
 * Idempotence follows the Java client (TransactionManager, RecordAccumulator): a batch
 * gets its producer id, epoch and sequence when it is first sent and keeps them for
 * every retry, since the broker may already hold it and only that stamp lets the broker
 * recognise the retry as a duplicate. Each partition counts its sequences under its
 * own identity; when the producer's epoch moves on (a partition proved a gap in its
 * sequence), a partition takes the new epoch only once none of its sent batches is
 * left. A batch given up on after being sent (delivery timeout) leaves its partition
 * unresolved: no new batch goes out until the broker's later answers tell whether it
 * was written. */
#include <stdio.h>
#include <string.h>
#include "core/kw_hooks.h"
#include "core/kw_clock.h"
#include "core/kw_log.h"
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"
#include "proto/kw_crc32c.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"
#include "proto/kw_records.h"
#include "client/producer/kw_producer_int.h"

/* ---- delivery reports ---- */

/* Hands one report to the callback, or queues it to be pulled. The queue counts
 * against queue.buffering.max.messages, so an application that never pulls gets
 * KW_ERR_QUEUE_FULL rather than unbounded growth. */
void kw_prod_deliver(kw_producer *p, const kw_delivery_report *dr) {
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

/* Reports every record of a batch; the batch itself stays (see report_batch). */
static void report_records(kw_producer *p, kw_pbatch *b, int err, int16_t kerr, int64_t base_offset) {
  kw_delivery_report dr = {.topic = b->tp->pt->t->name, .partition = b->tp->partition, .err = err,
                           .kafka_error = kerr};
  for (int32_t i = 0; i < b->count; i++) {
    dr.offset = err || base_offset < 0 ? -1 : base_offset + i;
    dr.timestamp = b->msgs[i].timestamp;
    dr.opaque = b->msgs[i].opaque;
    kw_prod_deliver(p, &dr);
  }
  p->served += b->count;
  account_release(p, b);
}

static void report_batch(kw_producer *p, kw_pbatch *b, int err, int16_t kerr, int64_t base_offset) {
  report_records(p, b, err, kerr, base_offset);
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
  kw_sticky_init(&pt->sticky, (uint32_t)kw_random_u64());
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
    tp->pid = -1;
    tp->epoch = -1;
    arr[i] = tp;
    pt->n_parts = i + 1;
  }
  return true;
}

int32_t kw_prod_choose_partition(kw_producer *p, kw_ptopic *pt, const void *key, size_t key_len) {
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
  b->sub = 0;
  b->sealed = false;
  b->has_seq = false;
  b->expired = false;
  /* Producer id, epoch and sequence are stamped when the batch is first sent. */
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

/* Inserts a sealed batch into its partition's queue by seal order (the halves of a
 * split batch by their place in it). */
static void enqueue_sealed(kw_ptp *tp, kw_pbatch *b) {
  kw_pbatch **at = &tp->head;
  while (*at && ((*at)->order < b->order || ((*at)->order == b->order && (*at)->sub < b->sub))) at = &(*at)->next;
  b->next = *at;
  *at = b;
  if (!b->next) tp->tail = b;
}

static int32_t seq_add(int32_t seq, int64_t n) { return (int32_t)(((int64_t)seq + n) & INT32_MAX); } /* wraps at 2^31 */

/* Writes producer id, epoch and base sequence into a sealed batch's header and
 * refreshes its CRC (they sit inside the CRC's range). */
static void stamp(kw_pbatch *b, int64_t pid, int16_t epoch, int32_t base_seq) {
  uint8_t *h = b->buf.data;
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
  b->has_seq = !p->set.idempotence; /* without idempotence the header's -1s are final */
  enqueue_sealed(tp, b);
  if (!tp->pt->t->n_parts) return 0;
  if (tp->partition == tp->pt->sticky.current) kw_sticky_next(&tp->pt->sticky, tp->pt->n_parts);
  return 0;
}

/* Encodes one record into a batch and remembers what its delivery report needs. */
static int push_record(kw_producer *p, kw_pbatch *b, int64_t ts, kw_slice k, kw_slice v, const kw_record_header *hs,
                       int nh, void *opaque) {
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
  return 0;
}

int kw_prod_append(kw_producer *p, kw_ptp *tp, const void *key, size_t key_len, const void *value, size_t value_len,
                  const kw_record_header *hs, int nh, int64_t ts, void *opaque, size_t accounted, int64_t now) {
  kw_slice k = {key, (int32_t)key_len}, v = {value, (int32_t)value_len};
  if (tp->open) {
    kw_pbatch *o = tp->open;
    size_t rec = kw_record_size(ts - o->w.base_timestamp, o->count, k, v, hs, nh);
    if (o->count >= p->set.batch_num_messages || (int64_t)(o->buf.len + rec) > p->set.batch_size) seal(p, tp);
  }
  if (!tp->open && !(tp->open = new_batch(p, tp, now ? now : kw_now_ms()))) return KW_ERR_NOMEM;
  int err = push_record(p, tp->open, ts, k, v, hs, nh, opaque);
  if (!err) tp->open->accounted += accounted;
  return err;
}

void kw_producer_on_metadata(kw_producer *p, int64_t now) {
  for (int i = 0; i < p->n_topics; i++) {
    kw_ptopic *pt = p->topics[i];
    if (pt->t->n_parts > 0 && !pt->t->error) ensure_parts(p, pt);
    if (!pt->n_staged) continue;
    if (pt->n_parts > 0 && !pt->t->error) {
      kw_prod_drain_staged(p, pt, true, 0, 0, now);
    } else if (pt->t->error == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION && !p->cl->set.allow_auto_create) {
      kw_prod_drain_staged(p, pt, false, KW_ERR_UNKNOWN_TOPIC, 0, now);
    } else if (pt->t->error && !kw_kerr_retriable(pt->t->error)) {
      kw_prod_drain_staged(p, pt, false, KW_ERR_BROKER, pt->t->error, now);
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
    err = kw_prod_stage(pt, partition, key, key_len, value, value_len, headers, n_headers, timestamp, opaque,
                now ? now : kw_now_ms());
  } else {
    if (partition == KW_PARTITION_UA) partition = kw_prod_choose_partition(p, pt, key, key_len);
    if (partition >= pt->n_parts) return KW_ERR_UNKNOWN_PARTITION;
    err = kw_prod_append(p, pt->parts[partition], key, key_len, value, value_len, hs, n_headers, timestamp, opaque,
                 accounted, now);
  }
  if (err) return err;
  p->outstanding_msgs++;
  p->outstanding_bytes += (int64_t)accounted;
  return 0;
}

/* ---- idempotence: producer id, epoch, per-partition sequences ---- */

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
    /* Partitions move to the new id one by one, once their sent batches are settled
     * (sync_partition): a batch that may be on the broker keeps the stamp it went with. */
    p->pid = resp.producer_id;
    p->epoch = resp.producer_epoch;
    KW_DBG(p->log, PRODUCER, "producer id %lld epoch %d", (long long)p->pid, p->epoch);
    p->pid_state = PID_OK;
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
  if (kw_conn_request(conn, KW_API_INIT_PRODUCER_ID, v, &req, on_init_pid, p, now) == 0) {
    p->pid_state = PID_REQUESTING;
    kw_conn_flush(conn);
  }
}

/* Moves to the next epoch, as the Java client does for an idempotent producer: the
 * broker accepts a higher epoch of an id it knows when its sequences start at 0. Only
 * when the epoch is exhausted is a new producer id asked for. */
static void bump_epoch(kw_producer *p) {
  if (!p->bump_required || p->pid_state != PID_OK) return;
  p->bump_required = false;
  if (p->epoch == INT16_MAX) {
    p->pid_state = PID_NONE;
    return;
  }
  p->epoch++;
  KW_DBG(p->log, PRODUCER, "sequence gap: producer id %lld moves to epoch %d", (long long)p->pid, p->epoch);
}

static bool same_identity(const kw_pbatch *b, const kw_ptp *tp) {
  return b->w.producer_id == tp->pid && b->w.producer_epoch == tp->epoch;
}

/* The broker refused a batch of this partition for good, or lost our state: nothing at
 * or after that sequence was written, so its batches restart at 0 under a new epoch. */
static void request_rewrite(kw_producer *p, kw_ptp *tp) {
  tp->rewrite = true;
  p->bump_required = true;
}

/* A sent batch was given up on; whether the broker wrote it is unknown. */
static void mark_unresolved(kw_ptp *tp, const kw_pbatch *b) {
  tp->unresolved = true;
  tp->unresolved_last = seq_add(b->w.base_sequence, b->w.count - 1);
}

/* Settles a partition's identity and sequence (every run, idempotent producers only):
 * resolves an unknown outcome once nothing of the partition is out, and moves the
 * partition to the producer's current id and epoch once its sent batches are done,
 * restamping them from 0 only where a gap was proven (rewrite). */
static void sync_partition(kw_producer *p, kw_ptp *tp) {
  if (p->pid_state != PID_OK || tp->inflight > 0) return;
  bool sent_waiting = tp->head && tp->head->has_seq; /* sent batches lead the queue */
  if (tp->unresolved && !sent_waiting) {
    tp->unresolved = false;
    /* Every batch given up on was acknowledged after all, or a gap may remain. */
    if (tp->acked_next != tp->next_seq) request_rewrite(p, tp);
    return;
  }
  if (tp->unresolved || (tp->pid == p->pid && tp->epoch == p->epoch) || (sent_waiting && !tp->rewrite)) return;
  tp->pid = p->pid;
  tp->epoch = p->epoch;
  tp->next_seq = tp->acked_next = 0;
  tp->seq_confirmed = tp->rewrite = false;
  for (kw_pbatch *b = tp->head; b && b->has_seq; b = b->next) {
    stamp(b, tp->pid, tp->epoch, tp->next_seq);
    tp->next_seq = seq_add(tp->next_seq, b->w.count);
  }
}

/* OUT_OF_ORDER_SEQUENCE_NUMBER / UNKNOWN_PRODUCER_ID: does this answer prove a gap (as
 * Java's TransactionManager.canRetry decides), or may an earlier batch still fill it? */
static bool proves_gap(const kw_ptp *tp, const kw_pbatch *b, int16_t kerr) {
  if (kerr == KW_KERR_UNKNOWN_PRODUCER_ID) return true;
  if (tp->unresolved) return b->w.base_sequence == seq_add(tp->unresolved_last, 1);
  return b->w.base_sequence == tp->acked_next;
}

/* ---- Produce requests ---- */

typedef struct preq {
  kw_producer *p;
  struct preq *next, **prevp;
  int n;
  kw_pbatch *b[];
} preq;

static int64_t retry_delay(const kw_producer *p, int attempts) {
  int64_t d = p->set.retry_backoff_ms;
  for (int i = 1; i < attempts && d < p->set.retry_backoff_max_ms; i++) d *= 2;
  return d < p->set.retry_backoff_max_ms ? d : p->set.retry_backoff_max_ms;
}

/* MESSAGE_TOO_LARGE for a batch of several records: the broker wrote none of it. Its
 * records go out again in two batches (librdkafka and Java split too) that take its
 * place in the queue and, once stamped, its sequence range; halves too large split
 * again. 0, or an error and the batch untouched. */
static int split_batch(kw_producer *p, kw_pbatch *b) {
  kw_rd r, recs;
  kw_rd_init(&r, b->buf.data, b->buf.len);
  kw_batch hb;
  kw_buf scratch;
  kw_buf_init_grow(&scratch, p->mem);
  int32_t half = b->count / 2;
  kw_pbatch *part[2] = {new_batch(p, b->tp, b->created), NULL};
  part[1] = part[0] ? new_batch(p, b->tp, b->created) : NULL;
  int err = !part[1] ? KW_ERR_NOMEM : kw_batch_next_unchecked(&r, &hb);
  if (!err) err = kw_batch_records(&hb, &scratch, (size_t)INT32_MAX, &recs);
  for (int32_t i = 0; i < b->count && !err; i++) {
    kw_record rec;
    kw_record_header hs[64];
    int nh = 0;
    err = kw_record_next(&recs, &hb, &rec);
    if (!err && rec.n_headers > 64) err = KW_ERR_MALFORMED; /* kw_produce takes at most 64 */
    while (!err && nh < rec.n_headers) err = kw_record_header_next(&rec.headers, &hs[nh++]);
    if (!err) err = push_record(p, part[i >= half], rec.timestamp, rec.key, rec.value, hs, nh, b->msgs[i].opaque);
  }
  for (int i = 0; i < 2 && !err; i++) err = kw_batch_seal(&part[i]->w, p->mem);
  kw_buf_free(&scratch);
  if (err) {
    for (int i = 0; i < 2; i++)
      if (part[i]) recycle(p, part[i]);
    return err;
  }
  for (int i = 0; i < 2; i++) {
    kw_pbatch *nb = part[i];
    for (int32_t k = 0; k < nb->count; k++) nb->msgs[k].timestamp = b->msgs[i ? half + k : k].timestamp;
    nb->accounted = i ? b->accounted - b->accounted / 2 : b->accounted / 2;
    nb->sealed = true;
    nb->order = b->order;
    nb->sub = b->sub + (uint32_t)(i ? half : 0);
    nb->attempts = b->attempts + 1; /* one at a time, as retries go */
    nb->has_seq = b->has_seq;
    if (p->set.idempotence && b->has_seq)
      stamp(nb, b->w.producer_id, b->w.producer_epoch, seq_add(b->w.base_sequence, i ? half : 0));
    enqueue_sealed(b->tp, nb);
  }
  KW_DBG(p->log, PRODUCER, "%s [%d]: batch of %d over the broker's size limit: split in %d + %d",
         b->tp->pt->t->name, b->tp->partition, b->count, half, b->count - half);
  b->count = 0;
  b->accounted = 0;
  recycle(p, b);
  return 0;
}

/* A batch came back failed: retry it (in order), split it, or report it. */
static void batch_failed(kw_producer *p, kw_pbatch *b, int err, int16_t kerr, int64_t now) {
  kw_ptp *tp = b->tp;
  bool idem = p->set.idempotence && !p->dying && same_identity(b, tp);
  if (b->expired) { /* reported at its delivery timeout; its outcome stays unknown */
    recycle(p, b);
    return;
  }
  if (kerr == KW_KERR_MESSAGE_TOO_LARGE && b->count > 1 && !p->dying && split_batch(p, b) == 0) return;
  bool retriable = err == KW_ERR_TIMED_OUT || err == KW_ERR_DISCONNECTED || err == KW_ERR_IO ||
                   err == KW_ERR_CONNECT || (err == KW_ERR_BROKER && kw_kerr_retriable(kerr));
  if (kerr == KW_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER || kerr == KW_KERR_UNKNOWN_PRODUCER_ID) {
    /* The batch is retried either way; with its old stamp while an earlier batch may
     * still fill the gap, from sequence 0 under a new epoch once the gap is proven. */
    retriable = true;
    if (idem && proves_gap(tp, b, kerr)) request_rewrite(p, tp);
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
  if (idem && retriable) mark_unresolved(tp, b); /* out of time: the broker may hold it */
  else if (idem) request_rewrite(p, tp);         /* refused: a gap from its sequence on */
  if (kerr == KW_KERR_MESSAGE_TOO_LARGE) err = KW_ERR_MSG_SIZE_TOO_LARGE; /* one record, over the limit */
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

static void batch_acked(kw_producer *p, kw_pbatch *b, int16_t kerr, int64_t base_offset) {
  kw_ptp *tp = b->tp;
  if (p->set.idempotence && same_identity(b, tp)) {
    tp->seq_confirmed = true;
    tp->acked_next = seq_add(b->w.base_sequence, b->w.count);
  }
  if (b->expired) recycle(p, b); /* already reported as timed out (Java does the same) */
  else report_batch(p, b, 0, 0, kerr ? -1 : base_offset);
}

static void on_produce(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  preq *rq = ud;
  kw_producer *p = rq->p;
  int64_t now = kw_now_ms();
  *rq->prevp = rq->next;
  if (rq->next) rq->next->prevp = rq->prevp;
  for (int i = 0; i < rq->n; i++) rq->b[i]->tp->inflight--;
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
        if (pr->error_code == 0 || pr->error_code == KW_KERR_DUPLICATE_SEQUENCE_NUMBER)
          batch_acked(p, b, pr->error_code, pr->base_offset);
        else
          batch_failed(p, b, KW_ERR_BROKER, pr->error_code, now);
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
  const kw_pbatch *h = tp->head;
  if (!h || h->retry_at > now || tp->inflight >= tp_window(p, tp)) return false;
  if (!p->set.idempotence) return true;
  if (tp->rewrite) return false; /* its sent batches are restamped from 0 first (sync_partition) */
  if (h->has_seq) return true;   /* a retry goes with the stamp it had */
  /* A new sequence only under the producer's identity, and never while an earlier
   * batch's outcome is unknown (it would turn an unknown into a gap). */
  return tp->pid == p->pid && tp->epoch == p->epoch && !tp->unresolved;
}

/* Fixes a batch's producer id, epoch and sequence at its first send. */
static void assign_sequence(kw_ptp *tp, kw_pbatch *b) {
  if (b->has_seq) return;
  stamp(b, tp->pid, tp->epoch, tp->next_seq);
  tp->next_seq = seq_add(tp->next_seq, b->w.count);
  b->has_seq = true;
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
      if (p->set.idempotence) assign_sequence(tp, b);
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
  if (err) goto out; /* stamped batches stay stamped: they go out with that stamp later */
  for (int i = 0; i < rq->n; i++) { /* the frame holds copies: dequeue the batches */
    kw_pbatch *b = rq->b[i];
    b->tp->head = b->next;
    if (!b->tp->head) b->tp->tail = NULL;
    b->next = NULL;
    b->tp->inflight++;
  }
  if (p->set.acks != 0) {
    /* In the list before the write: a connection that fails on it fails the request at
     * once (on_produce unlinks and frees it, inside kw_conn_flush). */
    rq->next = p->reqs;
    rq->prevp = &p->reqs;
    if (p->reqs) p->reqs->prevp = &rq->next;
    p->reqs = rq;
  }
  kw_conn_flush(conn);
  if (p->set.acks == 0) { /* no answer will come: delivered as far as we can know */
    for (int i = 0; i < rq->n; i++) {
      rq->b[i]->tp->inflight--;
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
    /* A batch never sent holds no sequence: nothing to resolve. */
    if (p->set.idempotence && b->has_seq && same_identity(b, tp)) mark_unresolved(tp, b);
    report_batch(p, b, KW_ERR_TIMED_OUT, 0, -1);
  }
}

/* delivery.timeout.ms bounds a record's wait in flight too (Java's expired in-flight
 * batches): it is reported now; its request's answer, when it comes, only settles the
 * partition's sequence. */
static void expire_in_flight(kw_producer *p, int64_t now) {
  for (preq *rq = p->reqs; rq; rq = rq->next)
    for (int i = 0; i < rq->n; i++) {
      kw_pbatch *b = rq->b[i];
      if (!b || b->expired || now - b->created < p->set.delivery_timeout_ms) continue;
      b->expired = true;
      if (p->set.idempotence && same_identity(b, b->tp)) mark_unresolved(b->tp, b);
      report_records(p, b, KW_ERR_TIMED_OUT, 0, -1);
    }
}

int kw_producer_run(kw_producer *p, int64_t now) {
  if (p->set.idempotence) {
    bump_epoch(p);
    request_pid(p, now);
  }
  expire_in_flight(p, now);
  bool can_send = !p->set.idempotence || p->pid_state == PID_OK;
  for (int i = 0; i < p->n_topics; i++) {
    kw_ptopic *pt = p->topics[i];
    if (pt->n_staged && now - pt->staged_since >= p->set.delivery_timeout_ms)
      kw_prod_drain_staged(p, pt, false, pt->t->error == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION ? KW_ERR_UNKNOWN_TOPIC
                                                                                       : KW_ERR_TIMED_OUT,
                   0, now);
    for (int32_t k = 0; k < pt->n_parts; k++) {
      kw_ptp *tp = pt->parts[k];
      if (tp->open && (p->flushing || now - tp->open->created >= p->set.linger_ms)) seal(p, tp);
      expire(p, tp, now);
      if (p->set.idempotence) sync_partition(p, tp);
      /* A backoff that is over is no timer any more: the batch waits for its leader's
       * connection, whose events wake the client (a deadline left in the past spins). */
      if (tp->head && tp->head->retry_at > 0 && tp->head->retry_at <= now) tp->head->retry_at = 0;
      if (tp->head && can_send && k < pt->t->n_parts && pt->t->parts[k].leader >= 0)
        (void)kw_cluster_conn(p->cl, pt->t->parts[k].leader, now); /* connect on demand */
    }
  }
  if (p->set.idempotence) bump_epoch(p); /* a partition may have asked just now */
  if (can_send) {
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
  for (const preq *rq = p->reqs; rq; rq = rq->next)
    for (int i = 0; i < rq->n; i++)
      if (rq->b[i] && !rq->b[i]->expired && rq->b[i]->created + p->set.delivery_timeout_ms < d)
        d = rq->b[i]->created + p->set.delivery_timeout_ms;
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
    kw_prod_drain_staged(p, pt, false, err, 0, 0);
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
