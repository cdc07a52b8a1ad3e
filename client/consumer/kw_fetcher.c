/* The consumer's fetcher (see kw_fetcher.h).
 *
 * Each assigned partition (kw_ctp) is either resolving its start offset (ListOffsets to
 * its leader), fetching, or stopped by an error. One Fetch request per leader is in
 * flight at a time; an answer's records are copied once into a chunk queued on the
 * partition, and records are decoded from the chunks only as the application polls.
 * Fetching pauses while the chunks of all partitions hold more than queued_max_bytes. */
#include <stdio.h>
#include <string.h>
#include "core/kw_clock.h"
#include "client/kw_config.h"
#include "client/consumer/kw_fetcher.h"
#include "client/kw_metrics.h"
#include "kwire/error.h"
#include "core/kw_log.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"
#include "proto/kw_records.h"

enum ctp_state { CTP_RESOLVE, CTP_RESOLVING, CTP_FETCH, CTP_STOPPED };

typedef struct aborted_txn {
  int64_t producer_id, first_offset;
} aborted_txn;

typedef struct kw_chunk {
  struct kw_chunk *next;
  kw_buf data;           /* the records bytes of one partition from one Fetch answer */
  kw_rd batches;         /* batches not yet opened */
  kw_batch batch;        /* the open batch */
  kw_rd recs;            /* its records */
  int32_t recs_left;
  /* The open entry is a legacy (magic 0/1) message: recs holds v0/v1 messages (itself,
   * or a compressed wrapper's inner ones), at legacy_base + their offset; legacy_ts is
   * the wrapper's log-append time (-1: each message's own timestamp). */
  bool legacy;
  int64_t legacy_base, legacy_ts;
  aborted_txn *aborted;  /* read_committed: from the Fetch answer, by first offset */
  int32_t n_aborted, next_aborted;
  int64_t *open_aborts;  /* producer ids inside an aborted transaction right now: at most
                          * n_aborted, the array's size (in the same allocation) */
  int32_t n_open_aborts;
} kw_chunk;

typedef struct kw_ctp {
  kw_topic *t;
  int32_t partition;
  enum ctp_state state;
  int64_t spec;         /* CTP_RESOLVE: offset spec (KW_OFFSET_*, tail, or a timestamp) */
  bool spec_is_time;
  int64_t fetch_offset; /* next offset to ask for */
  int64_t position;     /* next offset to hand out */
  int32_t leader_epoch;
  bool paused, in_flight;
  uint32_t gen;         /* bumped by seek: answers to older requests are dropped */
  int64_t high_watermark; /* from the last Fetch answer (-1 unknown) */
  int64_t retry_at;
  int64_t added_at;     /* when it was added: only metadata newer than that can say it does not exist */
  kw_chunk *head, *tail;
  kw_chunk *spent;      /* freed at the next poll: the last message may point into it */
  kw_buf scratch;       /* decompressed records of the open batch */
  int err;              /* CTP_STOPPED: the error event to deliver (0 once delivered) */
  int16_t kerr;
  int64_t err_offset;
} kw_ctp;

/* The leader epoch from metadata: a broker behind or ahead answers FENCED_LEADER_EPOCH /
 * UNKNOWN_LEADER_EPOCH and the metadata is refreshed. */
static int32_t leader_epoch_of(const kw_ctp *p) {
  return p->partition < p->t->n_parts ? p->t->parts[p->partition].leader_epoch : -1;
}

/* An incremental fetch session with one broker (KIP-227): after a full fetch creates
 * it, a request lists only partitions that are new or whose offset moved, and names
 * those it no longer wants; the answer lists only partitions with something to say. */
typedef struct sess_entry {
  const kw_topic *t;
  int32_t partition;
  int64_t offset;
  int32_t leader_epoch; /* the current leader epoch the broker's session holds for it */
} sess_entry;

typedef struct fsession {
  int32_t node;
  int32_t id;    /* 0: none yet (the next fetch is full and asks for one) */
  int32_t epoch; /* of the next request */
  sess_entry *e; /* what the broker's session holds, as last sent */
  int n;
} fsession;

struct kw_fetcher {
  kw_cluster *cl;
  kw_fetcher_settings set;
  const kw_mem *mem;
  const kw_logger *log;
  kw_ctp **parts;
  int n_parts, cursor;
  int64_t buffered;
  uint32_t generation;
  fsession *sessions;
  int n_sessions;
  kw_metrics *metrics;
  int32_t *fetching_nodes; /* leaders with a Fetch in flight */
  int n_fetching;
  bool fetches_held;       /* kw_fetcher_hold_fetches */
};

/* ---- partitions ---- */

static kw_ctp *find_ctp(kw_fetcher *c, const char *topic, int32_t partition) {
  for (int i = 0; i < c->n_parts; i++)
    if (c->parts[i]->partition == partition && strcmp(c->parts[i]->t->name, topic) == 0) return c->parts[i];
  return NULL;
}

static void free_chunk(kw_fetcher *c, kw_chunk *k) {
  c->buffered -= (int64_t)k->data.cap;
  kw_buf_free(&k->data);
  kw_free(c->mem, k->aborted);
  kw_free(c->mem, k);
}

static void drop_chunks(kw_fetcher *c, kw_ctp *p) {
  while (p->head) {
    kw_chunk *k = p->head;
    p->head = k->next;
    free_chunk(c, k);
  }
  p->tail = NULL;
  if (p->spent) free_chunk(c, p->spent);
  p->spent = NULL;
}

static void start_at(kw_fetcher *c, kw_ctp *p, int64_t offset, bool by_time) {
  p->gen = ++c->generation; /* unique across partitions: a reused address never matches */
  p->in_flight = false;
  p->err = 0;
  if (!by_time && offset >= 0) {
    p->state = CTP_FETCH;
    p->fetch_offset = p->position = offset;
  } else {
    p->state = CTP_RESOLVE;
    p->spec = offset;
    p->spec_is_time = by_time;
    p->position = -1;
  }
  p->retry_at = 0;
}

int kw_fetcher_add(kw_fetcher *c, const char *topic, int32_t partition, int64_t offset, bool by_time) {
  if (!topic || partition < 0) return KW_ERR_INVALID_ARG;
  kw_ctp *p = find_ctp(c, topic, partition);
  if (!p) {
    kw_topic *t = kw_cluster_topic(c->cl, topic, true);
    kw_ctp **arr = t ? kw_realloc(c->mem, c->parts, sizeof *arr * (size_t)(c->n_parts + 1)) : NULL;
    if (!arr) return KW_ERR_NOMEM;
    c->parts = arr;
    p = kw_alloc(c->mem, sizeof *p);
    if (!p) return KW_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->t = t;
    p->partition = partition;
    p->leader_epoch = -1;
    kw_buf_init_grow(&p->scratch, c->mem);
    c->parts[c->n_parts++] = p;
  }
  drop_chunks(c, p);
  start_at(c, p, offset, by_time);
  p->added_at = kw_now_ms();
  return KW_OK;
}

int kw_fetcher_remove(kw_fetcher *c, const char *topic, int32_t partition) {
  for (int i = 0; i < c->n_parts; i++) {
    kw_ctp *p = c->parts[i];
    if (p->partition != partition || strcmp(p->t->name, topic) != 0) continue;
    drop_chunks(c, p);
    kw_buf_free(&p->scratch);
    kw_free(c->mem, p);
    c->parts[i] = c->parts[--c->n_parts];
    /* A request in flight for it finds no partition with that generation: dropped. */
    return KW_OK;
  }
  return KW_ERR_INVALID_ARG;
}

int kw_fetcher_set_paused(kw_fetcher *c, const char *topic, int32_t partition, bool paused) {
  kw_ctp *p = find_ctp(c, topic, partition);
  if (!p) return KW_ERR_INVALID_ARG;
  p->paused = paused;
  return KW_OK;
}

int64_t kw_fetcher_get_position(kw_fetcher *c, const char *topic, int32_t partition) {
  kw_ctp *p = find_ctp(c, topic, partition);
  return p ? p->position : KW_ERR_INVALID_ARG;
}

static void stop_with(kw_ctp *p, int err, int16_t kerr, int64_t offset) {
  p->state = CTP_STOPPED;
  p->err = err;
  p->kerr = kerr;
  p->err_offset = offset;
}

/* ---- start offsets: ListOffsets ---- */

typedef struct lookup {
  kw_fetcher *c;
  kw_ctp *p;
  uint32_t gen;
} lookup;

static bool ctp_alive(kw_fetcher *c, kw_ctp *p, uint32_t gen) {
  for (int i = 0; i < c->n_parts; i++)
    if (c->parts[i] == p) return p->gen == gen;
  return false;
}

static void on_list_offsets(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  lookup *lk = ud;
  kw_fetcher *c = lk->c;
  kw_ctp *p = lk->p;
  bool alive = ctp_alive(c, p, lk->gen);
  kw_free(c->mem, lk);
  if (!alive) return;
  int64_t now = kw_now_ms();
  p->in_flight = false;
  kw_arena a;
  kw_arena_init(&a, c->mem, 0);
  kw_list_offsets_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  int16_t kerr = KW_KERR_UNKNOWN_TOPIC_OR_PARTITION;
  int64_t offset = -1;
  if (!err && resp.n_topics == 1 && resp.topics[0].n_partitions == 1) {
    kerr = resp.topics[0].partitions[0].error_code;
    offset = resp.topics[0].partitions[0].offset;
  }
  kw_arena_reset(&a);
  if (err || kw_kerr_retriable(kerr) || kw_kerr_refresh_metadata(kerr)) {
    p->state = CTP_RESOLVE;
    p->retry_at = now + c->set.retry_backoff_ms;
    kw_cluster_refresh_soon(c->cl, now);
    return;
  }
  if (kerr) {
    stop_with(p, KW_ERR_BROKER, kerr, -1);
    return;
  }
  if (offset < 0) { /* by time, and no record that late: start at the end */
    p->state = CTP_RESOLVE;
    p->spec = KW_OFFSET_END;
    p->spec_is_time = false;
    return;
  }
  if (!p->spec_is_time && p->spec <= -2000) { /* tail: n before the end, not before the start */
    offset += p->spec + 2000;
    if (offset < 0) offset = 0;
  }
  p->state = CTP_FETCH;
  p->fetch_offset = p->position = offset;
  KW_DBG(c->log, CONSUMER, "%s [%d]: starting at offset %lld", p->t->name, p->partition, (long long)offset);
}

static void send_lookup(kw_fetcher *c, kw_ctp *p, kw_conn *conn, int64_t now) {
  lookup *lk = kw_alloc(c->mem, sizeof *lk);
  if (!lk) return;
  *lk = (lookup){c, p, p->gen};
  kw_list_offsets_req_list_offsets_partition lp;
  kw_msg_init(KW_SCHEMA_LIST_OFFSETS_REQ_LIST_OFFSETS_PARTITION, &lp);
  lp.partition_index = p->partition;
  /* Tails are counted back from the end. */
  lp.timestamp = p->spec_is_time ? p->spec : p->spec == KW_OFFSET_BEGINNING ? -2 : -1;
  kw_list_offsets_req_list_offsets_topic lt;
  kw_msg_init(KW_SCHEMA_LIST_OFFSETS_REQ_LIST_OFFSETS_TOPIC, &lt);
  lt.name = (kw_slice){(const uint8_t *)p->t->name, (int32_t)strlen(p->t->name)};
  lt.partitions = &lp;
  lt.n_partitions = 1;
  kw_list_offsets_req req;
  kw_msg_init(KW_SCHEMA_LIST_OFFSETS_REQ, &req);
  /* -1: a consumer. Kafka applies the isolation level only then; any other id is a
   * follower and is told the log end offset, past the records of open transactions. */
  req.replica_id = -1;
  req.isolation_level = c->set.isolation_level;
  req.topics = &lt;
  req.n_topics = 1;
  if (kw_conn_request(conn, KW_API_LIST_OFFSETS, -1, &req, on_list_offsets, lk, now) == 0) {
    p->state = CTP_RESOLVING;
    p->in_flight = true;
    kw_conn_flush(conn);
  } else {
    kw_free(c->mem, lk);
  }
}

/* ---- fetching ---- */

typedef struct fetch_ctx {
  kw_fetcher *c;
  int32_t node;
  bool incremental;
  int n;
  struct {
    kw_ctp *p;
    uint32_t gen;
  } e[];
} fetch_ctx;

static fsession *session_for(kw_fetcher *c, int32_t node) {
  for (int i = 0; i < c->n_sessions; i++)
    if (c->sessions[i].node == node) return &c->sessions[i];
  fsession *s = kw_realloc(c->mem, c->sessions, sizeof *s * (size_t)(c->n_sessions + 1));
  if (!s) return NULL;
  c->sessions = s;
  s[c->n_sessions] = (fsession){node, 0, 0, NULL, 0};
  return &s[c->n_sessions++];
}

static void session_reset(fsession *s, const kw_mem *m) {
  kw_free(m, s->e);
  s->e = NULL;
  s->n = 0;
  s->id = 0;
  s->epoch = 0;
}

static const sess_entry *session_find(const fsession *s, const kw_topic *t, int32_t partition) {
  for (int i = 0; i < s->n; i++)
    if (s->e[i].t == t && s->e[i].partition == partition) return &s->e[i];
  return NULL;
}

static void node_done(kw_fetcher *c, int32_t node) {
  for (int i = 0; i < c->n_fetching; i++)
    if (c->fetching_nodes[i] == node) c->fetching_nodes[i] = c->fetching_nodes[--c->n_fetching];
}

static bool node_busy(const kw_fetcher *c, int32_t node) {
  for (int i = 0; i < c->n_fetching; i++)
    if (c->fetching_nodes[i] == node) return true;
  return false;
}

/* A Fetch answer with records, none of them past the fetch offset: an entry no reader
 * knows (an unknown magic, a length too short) or only the first part of one (a broker
 * since Fetch v3 sends the first batch whole, however large). Asking again would bring
 * the same bytes at once, forever: the partition stops with an error event naming why
 * (as Java's consumer fails with "Failed to make progress reading messages"). */
static void stuck(kw_fetcher *c, kw_ctp *p, kw_slice records) {
  kw_rd r;
  kw_rd_init(&r, records.ptr, (size_t)records.len);
  int magic = kw_records_magic(&r), err;
  kw_batch b;
  kw_legacy_msg m;
  if (magic == 0 || magic == 1) err = kw_legacy_next(&r, &m);
  else if (magic == 2 || magic == -1) err = kw_batch_next_unchecked(&r, &b); /* -1: shorter than a header */
  else err = KW_ERR_UNSUPPORTED_VERSION;
  if (!err) err = KW_ERR_MALFORMED; /* readable, yet it ends before the offset asked for */
  kw_log(c->log, KW_LOG_ERR, "FETCH", "%s [%d]: cannot read past offset %lld (%d bytes, magic %d): %s", p->t->name,
         p->partition, (long long)p->fetch_offset, (int)records.len, magic, kw_strerror(err));
  stop_with(p, err, 0, p->fetch_offset);
}

/* Queues a partition's fetched records (a copy, with its aborted transactions sorted)
 * for the reader, and moves the fetch position past its last complete batch. */
static int take_records(kw_fetcher *c, kw_ctp *p, const kw_fetch_resp_partition_data *pd) {
  if (!pd->records.ptr || pd->records.len <= 0) return KW_OK;
  int64_t next = kw_records_next_offset(pd->records.ptr, (size_t)pd->records.len, p->fetch_offset);
  if (next == p->fetch_offset) { /* fetching the same offset again would bring the same bytes */
    stuck(c, p, pd->records);
    return KW_OK;
  }
  kw_chunk *k = kw_alloc(c->mem, sizeof *k);
  if (!k) return KW_ERR_NOMEM;
  memset(k, 0, sizeof *k);
  kw_buf_init_grow(&k->data, c->mem);
  kw_buf_raw(&k->data, pd->records.ptr, (size_t)pd->records.len);
  int32_t n = c->set.isolation_level && pd->n_aborted_transactions > 0 ? pd->n_aborted_transactions : 0;
  /* Without its aborted list a chunk would hand out aborted records: none or all. */
  if (n > 0) k->aborted = kw_alloc(c->mem, (sizeof *k->aborted + sizeof *k->open_aborts) * (size_t)n);
  if (k->data.err || (n > 0 && !k->aborted)) {
    c->buffered += (int64_t)k->data.cap; /* free_chunk takes it off again */
    free_chunk(c, k);
    return KW_ERR_NOMEM;
  }
  kw_rd_init(&k->batches, k->data.data, k->data.len);
  if (n > 0) {
    k->open_aborts = (int64_t *)(k->aborted + n);
    k->n_aborted = n;
    for (int32_t i = 0; i < n; i++)
      k->aborted[i] = (aborted_txn){pd->aborted_transactions[i].producer_id, pd->aborted_transactions[i].first_offset};
    /* Kafka lists them by first offset already; keep it so rather than trust it. */
    for (int32_t i = 1; i < n; i++)
      for (int32_t j = i; j > 0 && k->aborted[j].first_offset < k->aborted[j - 1].first_offset; j--) {
        aborted_txn tmp = k->aborted[j];
        k->aborted[j] = k->aborted[j - 1];
        k->aborted[j - 1] = tmp;
      }
  }
  c->buffered += (int64_t)k->data.cap;
  if (p->tail) p->tail->next = k;
  else p->head = k;
  p->tail = k;
  p->fetch_offset = next;
  return KW_OK;
}

static void on_fetch(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  fetch_ctx *fc = ud;
  kw_fetcher *c = fc->c;
  int64_t now = kw_now_ms();
  node_done(c, fc->node);
  kw_arena a;
  kw_arena_init(&a, c->mem, 0);
  kw_fetch_resp resp;
  if (!err) err = kw_response_decode(key, ver, body, &a, &resp);
  if (!err && resp.throttle_time_ms > 0) { /* KIP-219: the broker's quota; its answer came, so the broker is known */
    kw_broker *br = kw_cluster_broker(c->cl, fc->node);
    if (br && br->conn) kw_conn_throttle(br->conn, resp.throttle_time_ms, now);
  }
  fsession *s = session_for(c, fc->node);
  bool session_lost = err || resp.error_code == KW_KERR_FETCH_SESSION_ID_NOT_FOUND ||
                      resp.error_code == KW_KERR_INVALID_FETCH_SESSION_EPOCH;
  if (s && session_lost) {
    if (!err) KW_DBG(c->log, FETCH, "node %d: fetch session ended (%s)", fc->node, kw_kerr_name(resp.error_code));
    session_reset(s, c->mem); /* the next fetch is full again */
  } else if (s && !err) {
    if (!fc->incremental && resp.session_id != s->id)
      KW_DBG(c->log, FETCH, "node %d: fetch session %d opened", fc->node, resp.session_id);
    if (!fc->incremental) s->id = resp.session_id; /* 0 if the broker keeps no session for us */
    s->epoch = s->id == 0 ? 0 : s->epoch == INT32_MAX ? 1 : s->epoch + 1;
  }
  if (!err && resp.error_code && !session_lost) err = KW_ERR_BROKER;
  for (int i = 0; i < fc->n; i++) {
    kw_ctp *p = fc->e[i].p;
    if (!ctp_alive(c, p, fc->e[i].gen)) continue;
    p->in_flight = false;
    const kw_fetch_resp_partition_data *pd = NULL;
    for (int32_t t = 0; !err && t < resp.n_responses && !pd; t++) {
      const kw_fetch_resp_fetchable_topic_response *tr = &resp.responses[t];
      bool same = tr->topic.ptr && tr->topic.len > 0
                      ? (int32_t)strlen(p->t->name) == tr->topic.len &&
                            memcmp(p->t->name, tr->topic.ptr, (size_t)tr->topic.len) == 0
                      : memcmp(&tr->topic_id, &p->t->id, sizeof p->t->id) == 0;
      for (int32_t k = 0; same && k < tr->n_partitions; k++)
        if (tr->partitions[k].partition_index == p->partition) pd = &tr->partitions[k];
    }
    int16_t kerr = pd ? pd->error_code : 0;
    if (session_lost) {
      p->retry_at = now; /* asked again at once, in a full fetch */
    } else if (!pd && fc->incremental) {
      /* an incremental answer leaves out partitions with nothing new */
    } else if (err || !pd) {
      p->retry_at = now + c->set.retry_backoff_ms;
    } else if (kerr == 0) {
      p->high_watermark = pd->high_watermark;
      if (take_records(c, p, pd) != KW_OK) p->retry_at = now + c->set.retry_backoff_ms; /* fetched again */
    } else if (kerr == KW_KERR_OFFSET_OUT_OF_RANGE) {
      KW_DBG(c->log, FETCH, "%s [%d]: offset %lld out of range", p->t->name, p->partition, (long long)p->fetch_offset);
      if (c->set.auto_offset_reset == KW_RESET_ERROR) stop_with(p, KW_ERR_BROKER, kerr, p->fetch_offset);
      else start_at(c, p, c->set.auto_offset_reset == KW_RESET_EARLIEST ? KW_OFFSET_BEGINNING : KW_OFFSET_END, false);
    } else if (kw_kerr_retriable(kerr) || kw_kerr_refresh_metadata(kerr)) {
      /* NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, ...: leaders moved */
      KW_DBG(c->log, FETCH, "%s [%d]: %s (metadata has leader epoch %d): refreshing metadata", p->t->name, p->partition,
             kw_kerr_name(kerr), (int)leader_epoch_of(p));
      p->retry_at = now + c->set.retry_backoff_ms;
      kw_cluster_refresh_soon(c->cl, now);
    } else {
      stop_with(p, KW_ERR_BROKER, kerr, p->fetch_offset);
    }
  }
  kw_arena_reset(&a);
  kw_free(c->mem, fc);
}

/* A partition this fetch to broker br should ask for: fetching, not paused, nothing in
 * flight, past its retry backoff, and br leads it. */
static bool fetchable_from(const kw_ctp *p, const kw_broker *br, int64_t now) {
  const kw_topic *t = p->t;
  return p->state == CTP_FETCH && !p->paused && !p->in_flight && now >= p->retry_at && p->partition < t->n_parts &&
         t->parts[p->partition].leader == br->node_id;
}

/* The partitions session s holds that fetch fc no longer wants (paused, moved, gone), one
 * forgotten-topic entry each, into fgs and fparts (s->n of each); returns how many. */
static int list_forgotten(const fetch_ctx *fc, const fsession *s, int v, kw_fetch_req_forgotten_topic *fgs,
                          int32_t *fparts) {
  int nfg = 0;
  for (int i = 0; i < s->n; i++) {
    bool wanted = false;
    for (int j = 0; j < fc->n && !wanted; j++) wanted = fc->e[j].p->t == s->e[i].t && fc->e[j].p->partition == s->e[i].partition;
    if (wanted) continue;
    kw_msg_init(KW_SCHEMA_FETCH_REQ_FORGOTTEN_TOPIC, &fgs[nfg]);
    if (v >= 13) fgs[nfg].topic_id = s->e[i].t->id;
    else fgs[nfg].topic = (kw_slice){(const uint8_t *)s->e[i].t->name, (int32_t)strlen(s->e[i].t->name)};
    fparts[nfg] = s->e[i].partition;
    fgs[nfg].partitions = &fparts[nfg];
    fgs[nfg].n_partitions = 1;
    nfg++;
  }
  return nfg;
}

/* A fetch in session s went out: the session now holds exactly what it asked for, at
 * these offsets (forgotten on no memory, so the next fetch is a full one). */
static void session_remember(fsession *s, const fetch_ctx *fc, const kw_mem *m) {
  sess_entry *e = kw_alloc(m, sizeof *e * (size_t)fc->n);
  if (!e) {
    session_reset(s, m);
    return;
  }
  for (int i = 0; i < fc->n; i++)
    e[i] = (sess_entry){fc->e[i].p->t, fc->e[i].p->partition, fc->e[i].p->fetch_offset, leader_epoch_of(fc->e[i].p)};
  kw_free(m, s->e);
  s->e = e;
  s->n = fc->n;
}

static void send_fetch(kw_fetcher *c, kw_broker *br, int64_t now) {
  int v = kw_conn_version(br->conn, KW_API_FETCH);
  if (v < 0) return;
  int n = 0;
  for (int i = 0; i < c->n_parts; i++) n += fetchable_from(c->parts[i], br, now);
  if (!n) return;
  kw_fetch_req_forgotten_topic *fgs = NULL;
  int32_t *fparts = NULL;
  fetch_ctx *fc = kw_alloc(c->mem, sizeof *fc + sizeof fc->e[0] * (size_t)n);
  kw_fetch_req_fetch_partition *fps = kw_alloc(c->mem, sizeof *fps * (size_t)n);
  kw_fetch_req_fetch_topic *fts = kw_alloc(c->mem, sizeof *fts * (size_t)n);
  if (!fc || !fps || !fts) goto out;
  fc->c = c;
  fc->node = br->node_id;
  fc->n = 0;
  int ntopics = 0;
  for (int i = 0; i < c->n_parts; i++) {
    kw_ctp *p = c->parts[i];
    const kw_topic *t = p->t;
    if (!fetchable_from(p, br, now)) continue;
    bool listed = false;
    for (int k = 0; k < ntopics && !listed; k++) listed = fts[k].topic.ptr == (const uint8_t *)t->name;
    if (!listed) {
      kw_fetch_req_fetch_topic *ft = &fts[ntopics++];
      kw_msg_init(KW_SCHEMA_FETCH_REQ_FETCH_TOPIC, ft);
      ft->topic = (kw_slice){(const uint8_t *)t->name, (int32_t)strlen(t->name)};
      if (v >= 13) ft->topic_id = t->id;
      ft->n_partitions = 0;
    }
    fc->e[fc->n].p = p;
    fc->e[fc->n].gen = p->gen;
    fc->n++;
  }
  fsession *s = v >= 7 ? session_for(c, br->node_id) : NULL;
  fc->incremental = s && s->id != 0;
  /* Lay the partitions out topic by topic so each topic's array is contiguous. An
   * incremental request lists only what the session does not already hold. */
  int at = 0;
  for (int k = 0; k < ntopics; k++) {
    fts[k].partitions = &fps[at];
    for (int i = 0; i < fc->n; i++) {
      kw_ctp *p = fc->e[i].p;
      if ((const uint8_t *)p->t->name != fts[k].topic.ptr) continue;
      const sess_entry *known = fc->incremental ? session_find(s, p->t, p->partition) : NULL;
      /* As Java's FetchSessionHandler: a partition whose offset or leader epoch changed is
       * sent again. The session keeps the epoch it was last given, so after a leader
       * change (a restarted broker bumps it) the refreshed epoch must be sent, or every
       * incremental answer repeats FENCED_LEADER_EPOCH and nothing is fetched again. */
      if (known && known->offset == p->fetch_offset && known->leader_epoch == leader_epoch_of(p)) continue;
      kw_fetch_req_fetch_partition *fp = &fps[at++];
      kw_msg_init(KW_SCHEMA_FETCH_REQ_FETCH_PARTITION, fp);
      fp->partition = p->partition;
      fp->fetch_offset = p->fetch_offset;
      fp->partition_max_bytes = c->set.max_partition_fetch_bytes;
      fp->current_leader_epoch = leader_epoch_of(p);
      fts[k].n_partitions++;
    }
    if (v >= 13) fts[k].topic = (kw_slice){NULL, 0}; /* v13+ names topics by id */
  }
  /* Partitions the session holds that this fetch no longer wants (paused, moved, gone). */
  int nfg = 0;
  if (fc->incremental && s->n > 0) {
    fgs = kw_alloc(c->mem, sizeof *fgs * (size_t)s->n);
    fparts = kw_alloc(c->mem, sizeof *fparts * (size_t)s->n);
    if (!fgs || !fparts) goto out;
    nfg = list_forgotten(fc, s, v, fgs, fparts);
  }
  /* Topics left with no partition to send are dropped from the request. */
  int kept = 0;
  for (int k = 0; k < ntopics; k++)
    if (fts[k].n_partitions > 0) fts[kept++] = fts[k];
  ntopics = kept;
  kw_fetch_req req;
  kw_msg_init(KW_SCHEMA_FETCH_REQ, &req);
  req.replica_id = -1;
  req.max_wait_ms = c->set.fetch_wait_max_ms;
  req.min_bytes = c->set.fetch_min_bytes;
  req.max_bytes = c->set.fetch_max_bytes;
  req.isolation_level = c->set.isolation_level;
  req.session_id = s ? s->id : 0;
  req.session_epoch = s ? s->epoch : -1; /* epoch 0 with id 0: a full fetch that opens a session */
  req.topics = fts;
  req.n_topics = ntopics;
  req.forgotten_topics_data = fgs;
  req.n_forgotten_topics_data = nfg;
  if (kw_conn_request(br->conn, KW_API_FETCH, v, &req, on_fetch, fc, now) != 0) goto out;
  /* Everything that touches fc happens before the flush: a write that fails closes the
   * connection, and the callback then runs (and frees fc) inside kw_conn_flush. */
  for (int i = 0; i < fc->n; i++) fc->e[i].p->in_flight = true;
  if (c->metrics) {
    c->metrics->fetches++;
    c->metrics->incremental_fetches += fc->incremental;
  }
  if (s) session_remember(s, fc, c->mem);
  int32_t *nodes = kw_realloc(c->mem, c->fetching_nodes, sizeof *nodes * (size_t)(c->n_fetching + 1));
  if (nodes) {
    c->fetching_nodes = nodes;
    c->fetching_nodes[c->n_fetching++] = br->node_id;
  }
  fc = NULL;
  kw_conn_flush(br->conn);
out:
  kw_free(c->mem, fc);
  kw_free(c->mem, fps);
  kw_free(c->mem, fts);
  kw_free(c->mem, fgs);
  kw_free(c->mem, fparts);
}

void kw_fetcher_hold_fetches(kw_fetcher *c, bool hold) { c->fetches_held = hold; }

void kw_fetcher_run(kw_fetcher *c, int64_t now) {
  /* A backoff that is over is no timer any more: a partition still waiting waits for its
   * leader's connection, whose events wake the client (a deadline left in the past spins). */
  for (int i = 0; i < c->n_parts; i++)
    if (c->parts[i]->retry_at > 0 && c->parts[i]->retry_at <= now) c->parts[i]->retry_at = 0;
  for (int i = 0; i < c->n_parts; i++) {
    kw_ctp *p = c->parts[i];
    bool waiting = p->state == CTP_RESOLVE || (p->state == CTP_FETCH && !p->head); /* for a start offset or a leader */
    if (!waiting || p->in_flight || now < p->retry_at) continue;
    const kw_topic *t = p->t;
    if (p->partition >= t->n_parts) {
      /* Metadata from before the partition was added may predate it: a group assigned
       * what its leader saw in newer metadata (partitions added to the topic). Only an
       * answer from after that says it does not exist. */
      bool fresh = c->cl->md_last_answer >= p->added_at;
      if (!fresh) kw_cluster_refresh_soon(c->cl, now);
      else if (t->n_parts > 0) stop_with(p, KW_ERR_UNKNOWN_PARTITION, 0, -1);
      else if (t->error == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION && !c->cl->set.allow_auto_create)
        stop_with(p, KW_ERR_UNKNOWN_TOPIC, 0, -1);
      continue; /* otherwise metadata is not there yet */
    }
    if (p->state != CTP_RESOLVE) continue; /* it knows where to start: the fetch loop below */
    kw_conn *conn = t->parts[p->partition].leader >= 0 ? kw_cluster_conn(c->cl, t->parts[p->partition].leader, now) : NULL;
    if (conn) send_lookup(c, p, conn, now);
  }
  if (c->buffered >= c->set.queued_max_bytes) return; /* bounded prefetch: the application catches up first */
  if (c->fetches_held) return;
  for (int i = 0; i < c->cl->n_brokers; i++) {
    kw_broker *br = c->cl->brokers[i];
    if (br->node_id < 0 || node_busy(c, br->node_id)) continue;
    bool wanted = false;
    for (int k = 0; k < c->n_parts && !wanted; k++) {
      kw_ctp *p = c->parts[k];
      wanted = p->state == CTP_FETCH && !p->paused && p->partition < p->t->n_parts &&
               p->t->parts[p->partition].leader == br->node_id;
    }
    if (!wanted) continue;
    kw_conn *conn = kw_cluster_conn(c->cl, br->node_id, now);
    if (conn && kw_conn_in_flight(conn) < c->cl->set.max_in_flight) send_fetch(c, br, now);
  }
}

int64_t kw_fetcher_deadline(const kw_fetcher *c) {
  int64_t d = INT64_MAX;
  for (int i = 0; i < c->n_parts; i++) {
    const kw_ctp *p = c->parts[i];
    if (p->retry_at > 0 && p->retry_at < d && (p->state == CTP_RESOLVE || p->state == CTP_FETCH)) d = p->retry_at;
  }
  return d;
}

/* ---- records out ---- */

static bool pid_aborting(const kw_chunk *k, int64_t pid) {
  for (int i = 0; i < k->n_open_aborts; i++)
    if (k->open_aborts[i] == pid) return true;
  return false;
}

/* read_committed: is this batch part of an aborted transaction? Also follows the
 * abort markers that close them (Kafka's algorithm, in offset order). */
static bool skip_for_abort(kw_chunk *k, const kw_batch *b, kw_rd recs) {
  int64_t last = b->base_offset + b->last_offset_delta;
  while (k->next_aborted < k->n_aborted && k->aborted[k->next_aborted].first_offset <= last) {
    /* A set, as Java's abortedProducerIds; each comes from one entry, so n_aborted fit. */
    if (!pid_aborting(k, k->aborted[k->next_aborted].producer_id))
      k->open_aborts[k->n_open_aborts++] = k->aborted[k->next_aborted].producer_id;
    k->next_aborted++;
  }
  if (b->attributes & KW_BATCH_CONTROL) {
    kw_record rec;
    if (b->record_count > 0 && kw_record_next(&recs, b, &rec) == 0 && rec.key.ptr && rec.key.len >= 4) {
      int16_t type = (int16_t)(rec.key.ptr[2] << 8 | rec.key.ptr[3]);
      if (type == 0) /* ABORT marker: the transaction is over */
        for (int i = 0; i < k->n_open_aborts; i++)
          if (k->open_aborts[i] == b->producer_id) k->open_aborts[i] = k->open_aborts[--k->n_open_aborts];
    }
    return true; /* control batches are never handed out */
  }
  return (b->attributes & KW_BATCH_TRANSACTIONAL) && pid_aborting(k, b->producer_id);
}

static void error_event(kw_ctp *p, kw_message *m) {
  memset(m, 0, sizeof *m);
  m->topic = p->t->name;
  m->partition = p->partition;
  m->offset = p->err_offset;
  m->err = p->err;
  m->kafka_error = p->kerr;
  p->err = 0; /* once */
}

/* The next record of the open entry: a v2 record, or a legacy message. */
static int entry_record(kw_chunk *k, kw_record *rec) {
  if (!k->legacy) return kw_record_next(&k->recs, &k->batch, rec);
  kw_legacy_msg lm;
  int err = kw_legacy_next(&k->recs, &lm);
  if (err) return err;
  memset(rec, 0, sizeof *rec);
  rec->offset = (int64_t)((uint64_t)k->legacy_base + (uint64_t)lm.offset); /* wraps on hostile input */
  rec->timestamp = k->legacy_ts >= 0 ? k->legacy_ts : lm.timestamp;
  rec->key = lm.key;
  rec->value = lm.value;
  kw_rd_init(&rec->headers, NULL, 0);
  return 0;
}

/* Whether the entry at r is cut off by the end of the answer (brokers cut at max bytes:
 * the next fetch brings it whole), read from the offset and length both layouts start with. */
static bool partial_at_end(const kw_rd *r) {
  size_t left = kw_rd_left(r);
  if (left < 12) return true;
  int32_t len = (int32_t)((uint32_t)r->p[8] << 24 | (uint32_t)r->p[9] << 16 | (uint32_t)r->p[10] << 8 | r->p[11]);
  return len >= 0 && (size_t)len > left - 12;
}

/* Opens the legacy (magic 0/1) message at k->batches: an uncompressed one is its own
 * record, a compressed wrapper's records are its inner messages (into p->scratch). */
static int open_legacy(kw_fetcher *c, kw_ctp *p, kw_chunk *k, int64_t *at) {
  const uint8_t *start = k->batches.p;
  kw_legacy_msg w;
  w.offset = p->position;
  int err = kw_legacy_next(&k->batches, &w);
  *at = w.offset;
  if (err) return err;
  k->legacy = true;
  if (w.offset < p->position) return 0; /* a wrapper's offset is its last inner one's: all before */
  k->legacy_ts = w.magic == 1 && (w.attributes & KW_BATCH_LOG_APPEND_TIME) ? w.timestamp : -1;
  if ((w.attributes & KW_BATCH_CODEC_MASK) == KW_CODEC_NONE) {
    kw_rd_init(&k->recs, start, (size_t)(k->batches.p - start));
    k->legacy_base = 0;
    k->recs_left = 1;
    return 0;
  }
  return kw_legacy_inner(&w, &p->scratch, (size_t)c->set.max_decompressed, &k->recs, &k->legacy_base, &k->recs_left);
}

/* Opens the next entry of chunk k (a v2 batch or a legacy message): its records are
 * then in k->recs (none when it holds nothing to hand out: before the position, a
 * control batch, an aborted transaction). An error says where (*at). */
static int open_entry(kw_fetcher *c, kw_ctp *p, kw_chunk *k, int64_t *at) {
  k->recs_left = 0;
  if (partial_at_end(&k->batches)) {
    k->batches.p = k->batches.end;
    return 0;
  }
  int magic = kw_records_magic(&k->batches);
  if (magic == 0 || magic == 1) return open_legacy(c, p, k, at);
  k->legacy = false;
  int err = c->set.check_crcs ? kw_batch_next(&k->batches, &k->batch) : kw_batch_next_unchecked(&k->batches, &k->batch);
  *at = magic == 2 ? k->batch.base_offset : p->position;
  if (err) return err;
  int64_t last = k->batch.base_offset + k->batch.last_offset_delta;
  if (last < p->position) return 0;
  kw_rd recs;
  err = kw_batch_records(&k->batch, &p->scratch, (size_t)c->set.max_decompressed, &recs);
  if (err) return err;
  if ((c->set.isolation_level && skip_for_abort(k, &k->batch, recs)) || (k->batch.attributes & KW_BATCH_CONTROL)) {
    p->position = last + 1; /* past it, so a fetch from the position does not bring it again */
    return 0;
  }
  k->recs = recs;
  k->recs_left = k->batch.record_count;
  return 0;
}

/* 1 with a record or error event from this partition, 0 when it has nothing. */
static int next_from(kw_fetcher *c, kw_ctp *p, kw_message *m) {
  while (p->head) {
    kw_chunk *k = p->head;
    if (k->recs_left > 0) {
      kw_record rec;
      int err = entry_record(k, &rec);
      k->recs_left--;
      if (err) {
        stop_with(p, err, 0, k->legacy ? p->position : k->batch.base_offset);
        drop_chunks(c, p);
        break;
      }
      if (rec.offset < p->position) continue; /* before where we were asked to start */
      m->topic = p->t->name;
      m->partition = p->partition;
      m->offset = rec.offset;
      m->timestamp = rec.timestamp;
      m->key = rec.key.ptr;
      m->key_len = (size_t)rec.key.len;
      m->value = rec.value.ptr;
      m->value_len = (size_t)rec.value.len;
      m->err = 0;
      m->kafka_error = 0;
      m->n_headers = rec.n_headers;
      m->headers_ = rec.headers.p;
      m->headers_len_ = (size_t)(rec.headers.end - rec.headers.p);
      p->position = rec.offset + 1;
      return 1;
    }
    if (kw_rd_left(&k->batches) == 0) { /* chunk done; free it at the next poll */
      p->head = k->next;
      if (!p->head) p->tail = NULL;
      if (p->spent) free_chunk(c, p->spent);
      p->spent = k;
      continue;
    }
    int64_t at = p->position;
    int err = open_entry(c, p, k, &at);
    if (err) { /* CRC mismatch or an entry we cannot read: say where, never skip silently */
      kw_log(c->log, KW_LOG_ERR, "FETCH", "%s [%d]: bad batch at offset %lld: %s", p->t->name, p->partition,
             (long long)at, kw_strerror(err));
      stop_with(p, err, 0, at);
      drop_chunks(c, p);
      break;
    }
  }
  if (p->state == CTP_STOPPED && p->err) {
    error_event(p, m);
    return 1;
  }
  return 0;
}

int64_t kw_fetcher_lag(const kw_fetcher *c) {
  int64_t lag = 0;
  for (int i = 0; i < c->n_parts; i++) {
    const kw_ctp *p = c->parts[i];
    if (p->high_watermark > 0 && p->position >= 0 && p->high_watermark > p->position) lag += p->high_watermark - p->position;
  }
  return lag;
}

bool kw_fetcher_has_records(const kw_fetcher *c) {
  for (int i = 0; i < c->n_parts; i++) {
    const kw_ctp *p = c->parts[i];
    if (!p->paused && (p->head || (p->state == CTP_STOPPED && p->err))) return true;
  }
  return false;
}

int kw_fetcher_next(kw_fetcher *c, kw_message *msg) {
  for (int i = 0; i < c->n_parts; i++) {
    kw_ctp *p = c->parts[(c->cursor + i) % c->n_parts];
    if (p->paused) continue;
    if (next_from(c, p, msg)) {
      /* Stay on this partition while it has records: fewer cache misses, same fairness
       * over a fetch's worth of data. */
      c->cursor = (c->cursor + i) % c->n_parts;
      if (!p->head) c->cursor = (c->cursor + 1) % c->n_parts;
      return 1;
    }
  }
  return 0;
}

/* Up to max records of one fetched record batch: they share its memory (the chunk, the
 * decompressed records), which stays put until the next call. */
int kw_fetcher_next_batch(kw_fetcher *c, kw_message *out, int max) {
  for (int i = 0; i < c->n_parts; i++) {
    kw_ctp *p = c->parts[(c->cursor + i) % c->n_parts];
    if (p->paused) continue;
    int n = 0;
    while (n < max) {
      /* Past the first record, stay inside the open batch: opening the next one could
       * reuse the memory the records already handed out point into. */
      if (n > 0 && (!p->head || p->head->recs_left == 0)) break;
      if (!next_from(c, p, &out[n])) break;
      if (out[n++].err) break;
    }
    if (n > 0) {
      c->cursor = (c->cursor + i) % c->n_parts;
      if (!p->head) c->cursor = (c->cursor + 1) % c->n_parts;
      return n;
    }
  }
  return 0;
}

/* ---- life ---- */

kw_fetcher *kw_fetcher_create(kw_cluster *cl, const kw_fetcher_settings *set, const kw_mem *mem,
                                const kw_logger *log, kw_metrics *metrics) {
  kw_fetcher *c = kw_alloc(mem, sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->cl = cl;
  c->set = *set;
  c->mem = mem;
  c->log = log;
  c->metrics = metrics;
  return c;
}

void kw_fetcher_free(kw_fetcher *c) {
  if (!c) return;
  while (c->n_parts > 0) kw_fetcher_remove(c, c->parts[0]->t->name, c->parts[0]->partition);
  kw_free(c->mem, c->parts);
  for (int i = 0; i < c->n_sessions; i++) kw_free(c->mem, c->sessions[i].e);
  kw_free(c->mem, c->sessions);
  kw_free(c->mem, c->fetching_nodes);
  kw_free(c->mem, c);
}
