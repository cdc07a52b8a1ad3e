/* kwsim's Fetch (with KIP-227 fetch sessions) and ListOffsets, as a Kafka leader
 * answers a consumer (replica id -1): records below the high watermark, whole batches
 * from the one holding the fetch offset, at least one batch however large; the leader
 * epoch checked (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH); offsets past the log end
 * or before its start are OFFSET_OUT_OF_RANGE; a Fetch with nothing to return waits up
 * to max_wait_ms (parked) for records to arrive.
 *
 * Sessions: epoch 0 opens one, a positive epoch must be the one expected
 * (INVALID_FETCH_SESSION_EPOCH), an unknown id is FETCH_SESSION_ID_NOT_FOUND, and an
 * incremental answer lists only partitions with records, an error, or a new high
 * watermark. A broker that crashes forgets its sessions. */
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_int.h"

typedef struct fpart {
  sim_topic *t;
  int32_t partition;
  int64_t fetch_offset;
  int32_t max_bytes, current_leader_epoch;
  int64_t last_hw; /* sessions: the high watermark last sent, -1 never */
} fpart;

typedef struct fsession {
  int32_t id, node, next_epoch;
  fpart *parts;
  int n;
} fsession;

struct sim_fetch_sessions {
  fsession *v;
  int n;
  int32_t next_id;
};

typedef struct fetch_state { /* fixed at the first pass */
  int16_t error;             /* top level */
  int32_t session_id;        /* answered */
  int32_t session;           /* index in the session table, -1: none */
  bool incremental;
  int n;
  fpart parts[];
} fetch_state;

static struct sim_fetch_sessions *sessions(kw_sim *s) {
  if (!s->sessions) s->sessions = calloc(1, sizeof *s->sessions);
  return s->sessions;
}

void sim_fetch_forget_node(kw_sim *s, int32_t node) {
  struct sim_fetch_sessions *fs = s->sessions;
  for (int i = 0; fs && i < fs->n; i++)
    if (fs->v[i].node == node) fs->v[i].id = 0; /* the slot is free */
}

void sim_fetch_free(kw_sim *s) {
  struct sim_fetch_sessions *fs = s->sessions;
  for (int i = 0; fs && i < fs->n; i++) free(fs->v[i].parts);
  if (fs) free(fs->v);
  free(fs);
  s->sessions = NULL;
}

static sim_topic *req_topic(kw_sim *s, const kw_fetch_req_fetch_topic *ft) {
  return ft->topic.len > 0 ? sim_topic_find(s, (const char *)ft->topic.ptr, (size_t)ft->topic.len)
                       : sim_topic_by_id(s, &ft->topic_id);
}

static fsession *find_session(kw_sim *s, int32_t id, int32_t node) {
  struct sim_fetch_sessions *fs = sessions(s);
  for (int i = 0; fs && i < fs->n; i++)
    if (fs->v[i].id == id && fs->v[i].node == node) return &fs->v[i];
  return NULL;
}

static fsession *new_session(kw_sim *s, int32_t node) {
  struct sim_fetch_sessions *fs = sessions(s);
  if (!fs) return NULL;
  fsession *slot = NULL;
  for (int i = 0; i < fs->n && !slot; i++)
    if (fs->v[i].id == 0) slot = &fs->v[i];
  if (!slot) {
    fsession *arr = realloc(fs->v, sizeof *arr * (size_t)(fs->n + 1));
    if (!arr) return NULL;
    fs->v = arr;
    slot = &fs->v[fs->n++];
    memset(slot, 0, sizeof *slot);
  }
  slot->id = ++fs->next_id;
  slot->node = node;
  slot->next_epoch = 1;
  slot->n = 0;
  return slot;
}

/* Adds or updates a partition in a list (sessions and sessionless fetches alike). */
static int upsert(fpart **parts, int *n, const fpart *p) {
  for (int i = 0; i < *n; i++)
    if ((*parts)[i].t == p->t && (*parts)[i].partition == p->partition) {
      int64_t hw = (*parts)[i].last_hw;
      (*parts)[i] = *p;
      (*parts)[i].last_hw = hw;
      return KW_OK;
    }
  fpart *arr = realloc(*parts, sizeof *arr * (size_t)(*n + 1));
  if (!arr) return KW_ERR_NOMEM;
  *parts = arr;
  arr[(*n)++] = *p;
  return KW_OK;
}

static void forget(fsession *ss, const kw_fetch_req_forgotten_topic *ft, sim_topic *t) {
  for (int32_t k = 0; k < ft->n_partitions; k++)
    for (int i = 0; i < ss->n; i++)
      if (ss->parts[i].t == t && ss->parts[i].partition == ft->partitions[k]) ss->parts[i] = ss->parts[--ss->n];
}

/* The request's partitions as sent (unknown topics kept with t NULL). */
static int request_parts(kw_sim *s, const kw_fetch_req *q, fpart **out, int *n) {
  for (int32_t i = 0; i < q->n_topics; i++)
    for (int32_t k = 0; k < q->topics[i].n_partitions; k++) {
      const kw_fetch_req_fetch_partition *fp = &q->topics[i].partitions[k];
      fpart p = {req_topic(s, &q->topics[i]), fp->partition, fp->fetch_offset, fp->partition_max_bytes,
                 fp->current_leader_epoch, -1};
      if (upsert(out, n, &p)) return KW_ERR_NOMEM;
    }
  return KW_OK;
}

static fetch_state *first_pass(kw_sim *s, sim_req *r, const kw_fetch_req *q) {
  fpart *parts = NULL;
  int n = 0;
  int16_t error = 0;
  int32_t answer_id = 0, index = -1;
  bool incremental = false;
  if (q->session_id == 0 || q->session_epoch == -1) { /* full fetch; epoch 0 opens a session */
    if (q->session_id != 0) {
      fsession *old = find_session(s, q->session_id, r->node);
      if (old) old->id = 0;
    }
    if (request_parts(s, q, &parts, &n)) return NULL;
    if (q->session_id == 0 && q->session_epoch == 0) {
      fsession *ss = new_session(s, r->node);
      if (ss) {
        free(ss->parts);
        ss->parts = parts;
        ss->n = n;
        parts = NULL;
        answer_id = ss->id;
        index = (int)(ss - s->sessions->v);
      }
    }
  } else {
    fsession *ss = find_session(s, q->session_id, r->node);
    if (!ss) error = KW_KERR_FETCH_SESSION_ID_NOT_FOUND;
    else if (q->session_epoch != ss->next_epoch) error = KW_KERR_INVALID_FETCH_SESSION_EPOCH;
    if (!error) {
      if (request_parts(s, q, &ss->parts, &ss->n)) return NULL;
      for (int32_t i = 0; i < q->n_forgotten_topics_data; i++) {
        const kw_fetch_req_forgotten_topic *ft = &q->forgotten_topics_data[i];
        forget(ss, ft, ft->topic.len > 0 ? sim_topic_find(s, (const char *)ft->topic.ptr, (size_t)ft->topic.len)
                                     : sim_topic_by_id(s, &ft->topic_id));
      }
      ss->next_epoch++;
      answer_id = ss->id;
      index = (int)(ss - s->sessions->v);
      incremental = true;
    }
  }
  const fpart *src = index >= 0 ? s->sessions->v[index].parts : parts;
  int count = index >= 0 ? s->sessions->v[index].n : n;
  fetch_state *st = calloc(1, sizeof *st + sizeof st->parts[0] * (size_t)(count > 0 ? count : 1));
  if (st) {
    *st = (fetch_state){error, answer_id, index, incremental, count};
    if (count) memcpy(st->parts, src, sizeof *src * (size_t)count);
  }
  free(parts);
  return st;
}

/* One partition's answer; returns the record bytes it carries. */
static size_t answer_part(kw_sim *s, sim_req *r, const fpart *fp, bool refuse, int64_t budget,
                          kw_fetch_resp_partition_data *pd) {
  kw_msg_init(KW_SCHEMA_FETCH_RESP_PARTITION_DATA, pd);
  pd->partition_index = fp->partition;
  pd->high_watermark = pd->last_stable_offset = pd->log_start_offset = -1;
  pd->preferred_read_replica = -1;
  pd->records = (kw_slice){(const uint8_t *)"", 0};
  if (!fp->t) {
    pd->error_code = r->ver >= 13 ? KW_KERR_UNKNOWN_TOPIC_ID : KW_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    return 0;
  }
  sim_partition *p = sim_log_leader_part(s, r->node, fp->t, fp->partition, &pd->error_code);
  if (!p) return 0;
  if (refuse) {
    pd->error_code = KW_KERR_NOT_LEADER_OR_FOLLOWER;
    return 0;
  }
  if ((pd->error_code = sim_log_check_epoch(p, fp->current_leader_epoch))) return 0;
  const sim_replica *rep = &p->rep[p->leader];
  pd->high_watermark = pd->last_stable_offset = p->hw;
  pd->log_start_offset = p->log_start;
  if (fp->fetch_offset < p->log_start || fp->fetch_offset > rep->leo) {
    pd->error_code = KW_KERR_OFFSET_OUT_OF_RANGE;
    return 0;
  }
  size_t bytes = 0;
  int first = -1, last = -1;
  for (int i = 0; i < rep->n && rep->batches[i].last_offset < p->hw; i++) {
    if (rep->batches[i].last_offset < fp->fetch_offset) continue;
    if (first >= 0 && (int64_t)(bytes + rep->batches[i].len) > (fp->max_bytes < budget ? fp->max_bytes : budget))
      break; /* at least one whole batch, however large; then within the limits */
    if (first < 0) first = i;
    last = i;
    bytes += rep->batches[i].len;
  }
  if (first < 0) return 0;
  uint8_t *buf = kw_arena_alloc(&s->arena, bytes);
  if (!buf) return 0;
  size_t at = 0;
  for (int i = first; i <= last; i++) {
    memcpy(buf + at, rep->batches[i].bytes, rep->batches[i].len);
    at += rep->batches[i].len;
  }
  pd->records = (kw_slice){buf, (int32_t)bytes};
  return bytes;
}

static void put_answer(kw_sim *s, sim_req *r, fetch_state *st, kw_fetch_resp_partition_data *pds, const bool *include,
                       kw_buf *out) {
  kw_fetch_resp resp;
  kw_msg_init(KW_SCHEMA_FETCH_RESP, &resp);
  resp.error_code = st->error;
  resp.session_id = st->session_id;
  if (r->ver >= 1) resp.throttle_time_ms = sim_throttle(s, r);
  resp.responses = kw_arena_alloc(&s->arena, sizeof *resp.responses * (size_t)(st->n > 0 ? st->n : 1));
  resp.n_responses = 0;
  sim_topic **owner = kw_arena_alloc(&s->arena, sizeof *owner * (size_t)(st->n > 0 ? st->n : 1));
  for (int i = 0; resp.responses && owner && i < st->n; i++) { /* one entry per topic, in first-seen order */
    if (!include[i]) continue;
    kw_fetch_resp_fetchable_topic_response *tr = NULL;
    for (int k = 0; k < resp.n_responses && !tr; k++)
      if (st->parts[i].t && owner[k] == st->parts[i].t) tr = &resp.responses[k];
    if (!tr) {
      owner[resp.n_responses] = st->parts[i].t;
      tr = &resp.responses[resp.n_responses++];
      kw_msg_init(KW_SCHEMA_FETCH_RESP_FETCHABLE_TOPIC_RESPONSE, tr);
      if (st->parts[i].t && r->ver >= 13) tr->topic_id = st->parts[i].t->id;
      else if (st->parts[i].t) tr->topic = sim_str(st->parts[i].t->name);
      tr->partitions = kw_arena_alloc(&s->arena, sizeof *tr->partitions * (size_t)st->n);
      tr->n_partitions = 0;
    }
    if (tr->partitions) tr->partitions[tr->n_partitions++] = pds[i];
  }
  sim_put_answer(out, r, &resp);
}

int sim_h_fetch(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_fetch_req q;
  if (sim_decode(s, r, &q)) return SIM_NO_ANSWER;
  fetch_state *st = r->state;
  if (!st && !(st = r->state = first_pass(s, r, &q))) return SIM_NO_ANSWER;
  bool refuse = !r->park_until && sim_fault(s, KW_SIM_ERROR);
  kw_fetch_resp_partition_data *pds = kw_arena_alloc(&s->arena, sizeof *pds * (size_t)(st->n > 0 ? st->n : 1));
  bool *include = kw_arena_alloc(&s->arena, (size_t)(st->n > 0 ? st->n : 1));
  if (!pds || !include) return SIM_NO_ANSWER;
  size_t total = 0;
  bool errors = false;
  for (int i = 0; !st->error && i < st->n; i++) {
    int64_t budget = q.max_bytes > 0 ? (int64_t)q.max_bytes - (int64_t)total : INT32_MAX;
    total += answer_part(s, r, &st->parts[i], refuse, total ? budget : INT32_MAX, &pds[i]);
    errors |= pds[i].error_code != 0;
  }
  if (!st->error && !errors && total < (size_t)(q.min_bytes > 0 ? q.min_bytes : 1) && q.max_wait_ms > 0 && !r->final) {
    if (!r->park_until) r->park_until = s->now + q.max_wait_ms;
    return SIM_PARK;
  }
  fsession *ss = st->session >= 0 && s->sessions ? &s->sessions->v[st->session] : NULL;
  for (int i = 0; !st->error && i < st->n; i++) {
    fpart *sp = NULL;
    for (int k = 0; ss && ss->id == st->session_id && k < ss->n && !sp; k++)
      if (ss->parts[k].t == st->parts[i].t && ss->parts[k].partition == st->parts[i].partition) sp = &ss->parts[k];
    include[i] = !st->incremental || pds[i].error_code || pds[i].records.len > 0 ||
                 (sp && sp->last_hw != pds[i].high_watermark);
    if (sp && include[i]) sp->last_hw = pds[i].high_watermark;
  }
  if (st->error) memset(include, 0, (size_t)(st->n > 0 ? st->n : 1));
  put_answer(s, r, st, pds, include, out);
  free(st);
  r->state = NULL;
  return SIM_DONE;
}

/* ---- ListOffsets ---- */

static void list_one(kw_sim *s, sim_req *r, sim_topic *t, const kw_list_offsets_req_list_offsets_partition *qp,
                     kw_list_offsets_resp_list_offsets_partition_response *pr) {
  kw_msg_init(KW_SCHEMA_LIST_OFFSETS_RESP_LIST_OFFSETS_PARTITION_RESPONSE, pr);
  pr->partition_index = qp->partition_index;
  pr->timestamp = -1;
  pr->offset = -1;
  pr->leader_epoch = -1;
  sim_partition *p = sim_log_leader_part(s, r->node, t, qp->partition_index, &pr->error_code);
  if (!p || (pr->error_code = sim_log_check_epoch(p, qp->current_leader_epoch))) return;
  pr->leader_epoch = p->leader_epoch;
  if (qp->timestamp == -2) {
    pr->offset = p->log_start;
  } else if (qp->timestamp == -1) {
    pr->offset = p->hw; /* a consumer's latest is the high watermark (no transactions: the LSO too) */
  } else {
    /* By time, at batch granularity: the first batch whose newest record is at or after
     * the time. Kafka looks at each record; kwsim's workloads write one time per batch. */
    const sim_replica *rep = &p->rep[p->leader];
    pr->offset = p->hw;
    for (int i = 0; i < rep->n && rep->batches[i].last_offset < p->hw; i++) {
      kw_rd rd;
      kw_batch b;
      kw_rd_init(&rd, rep->batches[i].bytes, rep->batches[i].len);
      if (kw_batch_next_unchecked(&rd, &b) == 0 && b.max_timestamp >= qp->timestamp) {
        pr->offset = rep->batches[i].base_offset;
        pr->timestamp = b.max_timestamp;
        break;
      }
    }
  }
}

int sim_h_list_offsets(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_list_offsets_req q;
  if (sim_decode(s, r, &q)) return SIM_NO_ANSWER;
  bool refuse = sim_fault(s, KW_SIM_ERROR);
  kw_list_offsets_resp resp;
  kw_msg_init(KW_SCHEMA_LIST_OFFSETS_RESP, &resp);
  resp.topics = kw_arena_alloc(&s->arena, sizeof *resp.topics * (size_t)(q.n_topics > 0 ? q.n_topics : 1));
  resp.n_topics = q.n_topics > 0 ? q.n_topics : 0;
  for (int32_t i = 0; resp.topics && i < resp.n_topics; i++) {
    const kw_list_offsets_req_list_offsets_topic *qt = &q.topics[i];
    kw_list_offsets_resp_list_offsets_topic_response *tr = &resp.topics[i];
    kw_msg_init(KW_SCHEMA_LIST_OFFSETS_RESP_LIST_OFFSETS_TOPIC_RESPONSE, tr);
    tr->name = qt->name;
    tr->n_partitions = qt->n_partitions > 0 ? qt->n_partitions : 0;
    tr->partitions = kw_arena_alloc(&s->arena, sizeof *tr->partitions * (size_t)(tr->n_partitions + 1));
    sim_topic *t = sim_topic_find(s, (const char *)qt->name.ptr, (size_t)qt->name.len);
    for (int32_t k = 0; tr->partitions && k < tr->n_partitions; k++) {
      list_one(s, r, t, &qt->partitions[k], &tr->partitions[k]);
      if (refuse && !tr->partitions[k].error_code) {
        tr->partitions[k].error_code = KW_KERR_NOT_LEADER_OR_FOLLOWER;
        tr->partitions[k].offset = -1;
      }
    }
  }
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}
