/* kwsim's Produce: one v2 batch per partition, checked as a Kafka leader checks it
 * (CRC, magic, the idempotent producer's epoch and sequence), appended, and answered
 * at once (acks=1), never (acks=0), or once the in-sync replicas hold it (acks=all:
 * the request is parked until the high watermark passes it, or its timeout).
 *
 * Idempotence as Kafka's ProducerStateManager, with the producer's state read from the
 * leader's own log (Kafka rebuilds it from the log too): a batch equal to one of the
 * producer's last five is a duplicate, answered with the offset it got the first time;
 * an older epoch is INVALID_PRODUCER_EPOCH; a new epoch must start at sequence 0; a gap
 * is OUT_OF_ORDER_SEQUENCE_NUMBER; a producer the log does not know, starting past 0, is
 * UNKNOWN_PRODUCER_ID. */
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_int.h"

#define BATCH_HEADER 61

typedef struct part_result {
  int16_t error;
  int64_t base_offset, end_offset; /* appended [base, end) */
  sim_partition *p;
} part_result;

typedef struct produce_state { /* what the first pass did, for the parked passes */
  int n;
  part_result res[];
} produce_state;

/* The producer's last batches in the leader's log, newest last (at most five). */
static int producer_batches(const sim_replica *rep, int64_t pid, const sim_batch **last) {
  int n = 0;
  for (int i = rep->n - 1; i >= 0 && n < SIM_PRODUCER_BATCHES; i--)
    if (rep->batches[i].producer_id == pid && !rep->batches[i].control) last[n++] = &rep->batches[i];
  for (int i = 0; i < n / 2; i++) { /* oldest first */
    const sim_batch *t = last[i];
    last[i] = last[n - 1 - i];
    last[n - 1 - i] = t;
  }
  return n;
}

static int32_t seq_add(int32_t seq, int32_t n) { return (int32_t)(((int64_t)seq + n) % ((int64_t)INT32_MAX + 1)); }

/* 0 to append, or the error; *dup (error 0, nothing to append) when the batch is one
 * the log holds already. */
static int16_t check_sequence(const sim_replica *rep, const sim_batch *b, const sim_batch **dup) {
  *dup = NULL;
  if (b->producer_id < 0) return 0;
  const sim_batch *last[SIM_PRODUCER_BATCHES];
  int n = producer_batches(rep, b->producer_id, last);
  int32_t count = (int32_t)(b->last_offset - b->base_offset + 1);
  for (int i = 0; i < n; i++)
    if (last[i]->producer_epoch == b->producer_epoch && last[i]->base_sequence == b->base_sequence &&
        last[i]->last_offset - last[i]->base_offset + 1 == count) {
      *dup = last[i];
      return 0;
    }
  if (n == 0) return b->base_sequence == 0 ? 0 : KW_KERR_UNKNOWN_PRODUCER_ID;
  const sim_batch *newest = last[n - 1];
  if (b->producer_epoch < newest->producer_epoch) return KW_KERR_INVALID_PRODUCER_EPOCH;
  if (b->producer_epoch > newest->producer_epoch) return b->base_sequence == 0 ? 0 : KW_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
  int32_t next = seq_add(newest->base_sequence, (int32_t)(newest->last_offset - newest->base_offset + 1));
  return b->base_sequence == next ? 0 : KW_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

static int16_t parse_batch(kw_slice records, sim_batch *b) {
  kw_rd rd;
  kw_rd_init(&rd, records.ptr, records.len > 0 ? (size_t)records.len : 0);
  kw_batch kb;
  int err = kw_batch_next(&rd, &kb);
  if (err == KW_ERR_CRC) return KW_KERR_CORRUPT_MESSAGE;
  if (err || kw_rd_left(&rd) != 0 || kb.record_count <= 0) return KW_KERR_INVALID_RECORD; /* exactly one batch */
  *b = (sim_batch){.base_offset = 0, .last_offset = kb.last_offset_delta, .producer_id = kb.producer_id,
                   .producer_epoch = kb.producer_epoch, .base_sequence = kb.base_sequence,
                   .transactional = (kb.attributes & 0x10) != 0, .control = (kb.attributes & 0x20) != 0};
  return kb.record_count == kb.last_offset_delta + 1 ? 0 : KW_KERR_INVALID_RECORD;
}

static void append_one(kw_sim *s, sim_req *r, sim_topic *t, int32_t index, kw_slice records, int16_t acks,
                       part_result *res) {
  res->base_offset = -1;
  sim_partition *p = sim_log_leader_part(s, r->node, t, index, &res->error);
  if (!p) return;
  int isr = 0;
  for (int k = 0; k < p->n_replicas; k++) isr += p->in_isr[p->replicas[k]] && s->brokers[p->replicas[k]].up;
  if (acks == -1 && isr < (p->n_replicas < 2 ? 1 : 2)) {
    res->error = KW_KERR_NOT_ENOUGH_REPLICAS;
    return;
  }
  sim_batch b;
  if ((res->error = parse_batch(records, &b))) return;
  if (b.transactional) {
    res->error = KW_KERR_INVALID_RECORD; /* transactions: not modelled yet */
    return;
  }
  sim_replica *rep = &p->rep[p->leader];
  const sim_batch *dup;
  if ((res->error = check_sequence(rep, &b, &dup))) return;
  res->p = p;
  if (dup) { /* answered with the first append's offset; acks=all still waits for it */
    res->base_offset = dup->base_offset;
    res->end_offset = dup->last_offset + 1;
    sim_trace(s, "%s [%d]: duplicate of the batch at %lld", t->name, index, (long long)dup->base_offset);
    return;
  }
  b.leader_epoch = p->leader_epoch;
  b.base_offset = rep->leo;
  b.last_offset += rep->leo;
  int32_t e = p->leader_epoch; /* the batch says which leader wrote it (not covered by the CRC) */
  if (sim_log_append(rep, &b, records.ptr, (size_t)records.len) != KW_OK) {
    res->error = KW_KERR_UNKNOWN_SERVER_ERROR;
    return;
  }
  sim_batch *nb = &rep->batches[rep->n - 1];
  for (int i = 0; i < 4; i++) nb->bytes[12 + i] = (uint8_t)((uint32_t)e >> (24 - 8 * i));
  res->base_offset = nb->base_offset;
  res->end_offset = nb->last_offset + 1;
  sim_trace(s, "%s [%d]: appended %lld..%lld (producer %lld seq %d)", t->name, index, (long long)nb->base_offset,
            (long long)nb->last_offset, (long long)b.producer_id, b.base_sequence);
}

/* First pass: every partition checked and appended; the results kept for later passes. */
static produce_state *first_pass(kw_sim *s, sim_req *r, const kw_produce_req *q) {
  int n = 0;
  for (int32_t i = 0; i < q->n_topic_data; i++) n += q->topic_data[i].n_partition_data;
  produce_state *st = calloc(1, sizeof *st + sizeof st->res[0] * (size_t)(n > 0 ? n : 1));
  if (!st) return NULL;
  bool refuse = sim_fault(s, KW_SIM_ERROR); /* not applied: the client may simply retry */
  for (int32_t i = 0; i < q->n_topic_data; i++) {
    const kw_produce_req_topic_produce_data *td = &q->topic_data[i];
    sim_topic *t = td->name.len > 0 ? sim_topic_find(s, (const char *)td->name.ptr, (size_t)td->name.len)
                                : sim_topic_by_id(s, &td->topic_id);
    for (int32_t k = 0; k < td->n_partition_data; k++) {
      part_result *res = &st->res[st->n++];
      if (refuse) res->error = KW_KERR_NOT_ENOUGH_REPLICAS, res->base_offset = -1;
      else append_one(s, r, t, td->partition_data[k].index, td->partition_data[k].records, q->acks, res);
    }
  }
  return st;
}

int sim_h_produce(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_produce_req q;
  if (sim_decode(s, r, &q)) return SIM_NO_ANSWER;
  produce_state *st = r->state;
  if (!st && !(st = r->state = first_pass(s, r, &q))) return SIM_NO_ANSWER;
  if (q.acks == 0) {
    free(st);
    r->state = NULL;
    return SIM_NO_ANSWER;
  }
  bool waiting = false;
  for (int i = 0; q.acks == -1 && i < st->n; i++)
    if (!st->res[i].error && st->res[i].p && st->res[i].p->hw < st->res[i].end_offset) waiting = true;
  if (waiting && !r->final) {
    if (!r->park_until) r->park_until = s->now + (q.timeout_ms > 0 ? q.timeout_ms : 0);
    return SIM_PARK;
  }
  kw_produce_resp resp;
  kw_msg_init(KW_SCHEMA_PRODUCE_RESP, &resp);
  resp.responses = kw_arena_alloc(&s->arena, sizeof *resp.responses * (size_t)(q.n_topic_data > 0 ? q.n_topic_data : 1));
  resp.n_responses = q.n_topic_data;
  int at = 0;
  for (int32_t i = 0; resp.responses && i < q.n_topic_data; i++) {
    kw_produce_resp_topic_produce_response *tr = &resp.responses[i];
    kw_msg_init(KW_SCHEMA_PRODUCE_RESP_TOPIC_PRODUCE_RESPONSE, tr);
    tr->name = q.topic_data[i].name;
    tr->topic_id = q.topic_data[i].topic_id;
    tr->n_partition_responses = q.topic_data[i].n_partition_data;
    tr->partition_responses = kw_arena_alloc(&s->arena, sizeof *tr->partition_responses * (size_t)(tr->n_partition_responses + 1));
    for (int32_t k = 0; tr->partition_responses && k < tr->n_partition_responses; k++) {
      part_result *res = &st->res[at++];
      kw_produce_resp_partition_produce_response *pr = &tr->partition_responses[k];
      kw_msg_init(KW_SCHEMA_PRODUCE_RESP_PARTITION_PRODUCE_RESPONSE, pr);
      pr->index = q.topic_data[i].partition_data[k].index;
      pr->error_code = res->error;
      /* acks=all past its timeout: the records may yet be committed (Kafka's answer too) */
      if (!res->error && res->p && q.acks == -1 && res->p->hw < res->end_offset) pr->error_code = KW_KERR_REQUEST_TIMED_OUT;
      pr->base_offset = pr->error_code ? -1 : res->base_offset;
      pr->log_append_time_ms = -1;
      pr->log_start_offset = res->p ? res->p->log_start : -1;
    }
  }
  free(st);
  r->state = NULL;
  if (r->ver >= 1) resp.throttle_time_ms = sim_throttle(s, r);
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}
