/* kwsim's partition logs: replicas, the in-sync set, the high watermark, leaders and
 * their epochs, crashes and elections; InitProducerId; the read side for invariants.
 *
 * The model, as Kafka with acks=all and unclean elections off: a follower in the ISR
 * copies the leader's batches (seeded: a follower may lag a few ticks); the high
 * watermark is the smallest log end offset in the ISR; only an ISR member becomes
 * leader, with the epoch bumped; a crashed broker leaves every ISR and loses what it had
 * beyond the high watermark (unflushed pages); a follower whose log diverges from its
 * leader's truncates to where they agree (Kafka's leader-epoch truncation). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_int.h"

sim_topic *sim_log_new_topic(kw_sim *s, const char *name, int32_t partitions, int replication) {
  sim_topic *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->name = strdup(name);
  t->parts = calloc((size_t)partitions, sizeof *t->parts);
  if (!t->name || !t->parts) {
    sim_log_free_topic(s, t);
    return NULL;
  }
  for (int i = 0; i < 16; i += 8) {
    uint64_t r = sim_rand(s);
    memcpy(t->id.b + i, &r, 8);
  }
  t->n_parts = partitions;
  int32_t first = (int32_t)sim_rand_below(s, (uint64_t)s->n_brokers);
  for (int32_t i = 0; i < partitions; i++) {
    sim_partition *p = &t->parts[i];
    p->index = i;
    p->n_replicas = replication;
    for (int k = 0; k < replication; k++) {
      p->replicas[k] = 1 + (first + i + k) % s->n_brokers;
      p->in_isr[p->replicas[k]] = true;
    }
    p->leader = p->replicas[0];
  }
  return t;
}

static void free_replica(sim_replica *r) {
  for (int i = 0; i < r->n; i++) free(r->batches[i].bytes);
  free(r->batches);
  memset(r, 0, sizeof *r);
}

void sim_log_free_topic(kw_sim *s, sim_topic *t) {
  (void)s;
  if (!t) return;
  for (int32_t i = 0; t->parts && i < t->n_parts; i++) {
    for (int k = 0; k <= KW_SIM_MAX_BROKERS; k++) free_replica(&t->parts[i].rep[k]);
    free(t->parts[i].producers);
  }
  free(t->parts);
  free(t->name);
  free(t);
}

int sim_log_append(sim_replica *r, const sim_batch *b, const uint8_t *bytes, size_t len) {
  if (r->n == r->cap) {
    int cap = r->cap ? r->cap * 2 : 16;
    sim_batch *arr = realloc(r->batches, sizeof *arr * (size_t)cap);
    if (!arr) return KW_ERR_NOMEM;
    r->batches = arr;
    r->cap = cap;
  }
  sim_batch *nb = &r->batches[r->n];
  *nb = *b;
  nb->bytes = malloc(len);
  if (!nb->bytes) return KW_ERR_NOMEM;
  memcpy(nb->bytes, bytes, len);
  nb->len = len;
  int64_t shift = r->leo - b->base_offset;
  nb->base_offset = r->leo;
  nb->last_offset = b->last_offset + shift;
  for (int i = 0; i < 8; i++) nb->bytes[i] = (uint8_t)((uint64_t)nb->base_offset >> (56 - 8 * i));
  r->leo = nb->last_offset + 1;
  r->n++;
  return KW_OK;
}

static void truncate_to(sim_replica *r, int64_t offset) {
  while (r->n > 0 && r->batches[r->n - 1].base_offset >= offset) free(r->batches[--r->n].bytes);
  r->leo = r->n > 0 ? r->batches[r->n - 1].last_offset + 1 : 0;
  if (r->leo > offset) r->leo = offset; /* never mid-batch: batches are copied whole */
}

/* The follower keeps what it shares with the leader (same batches, same epochs), drops
 * the rest, and copies what it lacks. `all`: every missing batch, else a seeded few. */
static void replicate(kw_sim *s, sim_partition *p, int32_t node, bool all) {
  sim_replica *l = &p->rep[p->leader], *f = &p->rep[node];
  int common = 0;
  while (common < f->n && common < l->n && f->batches[common].base_offset == l->batches[common].base_offset &&
         f->batches[common].leader_epoch == l->batches[common].leader_epoch &&
         f->batches[common].len == l->batches[common].len)
    common++;
  if (common < f->n) truncate_to(f, f->batches[common].base_offset);
  int n = all ? l->n - f->n : (int)sim_rand_below(s, (uint64_t)(l->n - f->n) + 1);
  for (int i = 0; i < n; i++) {
    const sim_batch *b = &l->batches[f->n];
    if (sim_log_append(f, b, b->bytes, b->len) != KW_OK) return;
  }
}

static void update_hw(sim_partition *p) {
  if (p->leader < 0) return;
  int64_t hw = p->rep[p->leader].leo;
  for (int k = 0; k < p->n_replicas; k++) {
    int32_t n = p->replicas[k];
    if (p->in_isr[n] && p->rep[n].leo < hw) hw = p->rep[n].leo;
  }
  if (hw > p->hw) p->hw = hw; /* never backwards on a leader that keeps its ISR */
}

void sim_log_tick(kw_sim *s) {
  for (int i = 0; i < s->n_topics; i++)
    for (int32_t k = 0; k < s->topics[i]->n_parts; k++) {
      sim_partition *p = &s->topics[i]->parts[k];
      if (p->leader < 0) continue;
      for (int r = 0; r < p->n_replicas; r++) {
        int32_t n = p->replicas[r];
        if (n == p->leader || !s->brokers[n].up) continue;
        replicate(s, p, n, false);
        /* caught up: back in the ISR (as Kafka, once its log end reaches the leader's) */
        if (!p->in_isr[n] && p->rep[n].leo >= p->rep[p->leader].leo) {
          p->in_isr[n] = true;
          sim_trace(s, "%s [%d]: broker %d back in sync", s->topics[i]->name, k, n);
        }
      }
      update_hw(p);
    }
}

/* A new leader from the in-sync replicas that are up (not `avoid`); -1 when none. */
static int32_t pick_leader(kw_sim *s, const sim_partition *p, int32_t avoid) {
  int32_t cand[KW_SIM_MAX_BROKERS];
  int n = 0;
  for (int k = 0; k < p->n_replicas; k++) {
    int32_t r = p->replicas[k];
    if (r != avoid && p->in_isr[r] && s->brokers[r].up) cand[n++] = r;
  }
  return n ? cand[sim_rand_below(s, (uint64_t)n)] : -1;
}

static void set_leader(kw_sim *s, sim_topic *t, sim_partition *p, int32_t leader) {
  p->leader = leader;
  p->leader_epoch++;
  sim_trace(s, "%s [%d]: leader %d, epoch %d", t->name, p->index, leader, p->leader_epoch);
  if (leader < 0) return;
  /* The new leader's log is the truth from now on; the high watermark it knows is at
   * most its log end (Kafka: the new leader's HW catches up as followers fetch). */
  if (p->hw > p->rep[leader].leo) p->hw = p->rep[leader].leo;
}

void sim_log_elect(kw_sim *s, sim_topic *t, sim_partition *p) {
  int32_t to = pick_leader(s, p, p->leader);
  if (to < 0) return;
  set_leader(s, t, p, to);
}

void sim_log_crash(kw_sim *s, int32_t node) {
  for (int i = 0; i < s->n_topics; i++)
    for (int32_t k = 0; k < s->topics[i]->n_parts; k++) {
      sim_partition *p = &s->topics[i]->parts[k];
      bool replica = false;
      for (int r = 0; r < p->n_replicas; r++) replica |= p->replicas[r] == node;
      if (!replica) continue;
      /* Out of the ISR, unless it is the last member: Kafka keeps the last one, so an
       * offline partition comes back only with it (no unclean election). */
      int isr = 0;
      for (int r = 0; r < p->n_replicas; r++) isr += p->in_isr[p->replicas[r]];
      if (isr > 1) p->in_isr[node] = false;
      if (p->leader == node) set_leader(s, s->topics[i], p, pick_leader(s, p, node));
      /* Unflushed pages: what was beyond the high watermark is gone. */
      truncate_to(&p->rep[node], p->hw);
    }
}

void sim_log_restart(kw_sim *s, int32_t node) {
  for (int i = 0; i < s->n_topics; i++)
    for (int32_t k = 0; k < s->topics[i]->n_parts; k++) {
      sim_partition *p = &s->topics[i]->parts[k];
      /* An offline partition whose last in-sync replica is back: it leads again. */
      if (p->leader < 0 && p->in_isr[node]) set_leader(s, s->topics[i], p, node);
    }
}

void sim_log_free(kw_sim *s) { (void)s; }

sim_partition *sim_log_leader_part(kw_sim *s, int32_t node, sim_topic *t, int32_t partition, int16_t *kerr) {
  (void)s;
  if (!t || partition < 0 || partition >= t->n_parts) {
    *kerr = KW_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    return NULL;
  }
  sim_partition *p = &t->parts[partition];
  if (p->leader != node) {
    *kerr = p->leader < 0 ? KW_KERR_LEADER_NOT_AVAILABLE : KW_KERR_NOT_LEADER_OR_FOLLOWER;
    return NULL;
  }
  *kerr = 0;
  return p;
}

int16_t sim_log_check_epoch(const sim_partition *p, int32_t current_leader_epoch) {
  if (current_leader_epoch < 0) return 0;
  if (current_leader_epoch < p->leader_epoch) return KW_KERR_FENCED_LEADER_EPOCH;
  if (current_leader_epoch > p->leader_epoch) return KW_KERR_UNKNOWN_LEADER_EPOCH;
  return 0;
}

/* ---- InitProducerId (idempotent producers: no transactional id) ---- */

int sim_h_init_producer_id(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_init_producer_id_req q;
  if (sim_decode(s, r, &q)) return SIM_NO_ANSWER;
  kw_init_producer_id_resp resp;
  kw_msg_init(KW_SCHEMA_INIT_PRODUCER_ID_RESP, &resp);
  if (sim_fault(s, KW_SIM_ERROR)) {
    resp.error_code = KW_KERR_COORDINATOR_LOAD_IN_PROGRESS;
    resp.producer_id = -1;
    resp.producer_epoch = -1;
  } else if (q.transactional_id.ptr) {
    resp.error_code = KW_KERR_UNSUPPORTED_VERSION; /* transactions: not modelled yet */
  } else if (q.producer_id >= 0 && q.producer_epoch >= 0) {
    resp.producer_id = q.producer_id; /* KIP-360: the same id, the next epoch */
    resp.producer_epoch = (int16_t)(q.producer_epoch + 1);
  } else {
    resp.producer_id = s->next_producer_id++;
    resp.producer_epoch = 0;
  }
  sim_trace(s, "InitProducerId: %lld epoch %d (%d)", (long long)resp.producer_id, resp.producer_epoch,
            resp.error_code);
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* ---- reading the logs (invariants) ---- */

int kw_sim_read_log(kw_sim *s, const char *topic, int32_t partition, kw_sim_record_fn fn, void *ud) {
  sim_topic *t = sim_topic_find(s, topic, strlen(topic));
  if (!t || partition < 0 || partition >= t->n_parts) return KW_ERR_UNKNOWN_PARTITION;
  sim_partition *p = &t->parts[partition];
  int32_t holder = p->leader;
  for (int k = 0; holder < 0 && k < p->n_replicas; k++) /* offline: the last in-sync replica's */
    if (p->in_isr[p->replicas[k]]) holder = p->replicas[k];
  if (holder < 0) return KW_ERR_STATE;
  sim_replica *rep = &p->rep[holder];
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  int err = KW_OK;
  for (int i = 0; i < rep->n && !err && rep->batches[i].last_offset < p->hw; i++) {
    kw_rd rd, recs;
    kw_rd_init(&rd, rep->batches[i].bytes, rep->batches[i].len);
    kw_batch b;
    kw_record rec;
    if ((err = kw_batch_next(&rd, &b)) || (err = kw_batch_records(&b, &scratch, 64 << 20, &recs))) break;
    for (int32_t k = 0; k < b.record_count && !(err = kw_record_next(&recs, &b, &rec)); k++)
      fn(ud, rec.offset, rec.key.ptr, rec.key.len, rec.value.ptr, rec.value.len);
  }
  kw_buf_free(&scratch);
  return err;
}
