/* A scripted Kafka broker for unit tests, run in a thread of the test (the library
 * never starts one): node 1 at 127.0.0.1:<port>, leading every partition of one topic.
 * With n_nodes it plays a cluster of that many brokers, node k+1 listening on ports[k]
 * and leading the partitions p with p % n_nodes == k (one thread serves them all).
 * It answers ApiVersions, Metadata, ListOffsets and Fetch with kwire's own generated
 * codec; the records of each Fetch answer come from a callback the test provides, so a
 * test can serve what a real Kafka 4 broker no longer writes (v0/v1 message sets) or
 * exactly the aborted-transaction list it needs.
 *
 * As a real broker does, it reads a connection's next request only after answering the
 * one before (Kafka mutes a connection while a request is in progress), and holds a
 * Fetch that has no records for its max_wait_ms. With `sessions` it keeps one
 * incremental fetch session and fences a session holding an older leader epoch. It
 * counts what it was asked, so tests count requests instead of measuring time. Include
 * it in one test file only.
 *
 * A cluster that moved away: after fb_move(), every connection accepted before it is to
 * a broker that left: its Metadata answers say REBOOTSTRAP_REQUIRED (or, with
 * `stale_metadata_hangs`, never come) and its Fetch answers NOT_LEADER_OR_FOLLOWER;
 * connections accepted since are served as usual. */
#ifndef KW_TEST_FAKE_BROKER_H
#define KW_TEST_FAKE_BROKER_H
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "core/kw_mem.h"
#include "proto/kw_frame.h"
#include "proto/kw_msg.h"

#define FB_MAX_NODES 96  /* brokers one fake can play */
#define FB_MAX_CONNS 128 /* connections it holds at once, over all its brokers */
#define FB_MAX_PARTS 128 /* partitions a fetch session can hold */

typedef struct fb fb;
/* Fills one partition's Fetch answer for fetch_offset (records, aborted transactions,
 * high watermark; allocate from `a`). Runs on the broker's thread, under fb->mu. */
typedef void (*fb_fetch_fn)(fb *b, int32_t partition, int64_t fetch_offset, kw_fetch_resp_partition_data *pd,
                            kw_arena *a);
/* Answers a request of an API the fake does not know itself (a test's scripted group
 * coordinator, say): writes the whole answer frame to `out` (fb_put_answer) and returns
 * the ms to hold it; -1: not one of its APIs either. Runs under fb->mu. */
typedef int32_t (*fb_other_fn)(fb *b, int16_t api, int16_t ver, int32_t corr, kw_rd *body, kw_buf *out,
                               kw_arena *a);

typedef struct fb_conn {
  int fd;
  int node;           /* the index of the listener that accepted it (node node+1) */
  int generation;     /* fb's generation when accepted: older ones are stale */
  kw_buf in;          /* bytes read, not yet a whole request */
  kw_buf held;        /* an answer held back (an empty Fetch waits max_wait_ms) */
  int64_t held_until; /* 0: nothing held */
} fb_conn;

struct fb {
  /* set before fb_start */
  const char *topic;
  int32_t n_partitions;
  int32_t n_nodes; /* brokers in the cluster (0: one) */
  int16_t fetch_max_version; /* advertised; <= 12 keeps topic names in Fetch */
  fb_fetch_fn on_fetch;
  fb_other_fn on_other;      /* and the APIs it answers, advertised in ApiVersions: */
  const int16_t *other_apis;
  int n_other_apis;
  void *ud;
  int64_t end_offset; /* what ListOffsets says for "latest" (and the high watermark) */
  bool sessions;      /* keep one incremental fetch session (KIP-227), as Kafka does */
  int32_t leader_epoch; /* every partition's, in Metadata; with sessions, a Fetch whose
                         * session holds an older one is answered FENCED_LEADER_EPOCH */
  bool stale_metadata_hangs; /* stale connections never answer Metadata (else REBOOTSTRAP_REQUIRED) */
  /* seen (read under mu) */
  pthread_mutex_t mu;
  int n_fetch, n_list_offsets, n_conns_accepted, n_unknown;
  int n_accepted_on[FB_MAX_NODES]; /* connections accepted per node (listener) */
  int n_held_released;      /* held Fetch answers sent */
  int lo_after_released;    /* n_held_released when the last ListOffsets was read */
  int32_t lo_replica_id;
  int8_t lo_isolation;
  int64_t last_fetch_offset;
  int n_fenced; /* partitions answered FENCED_LEADER_EPOCH */
  int generation;        /* fb_move() counts up */
  int n_rebootstrap_sent; /* Metadata answered REBOOTSTRAP_REQUIRED */
  int n_metadata_hung;    /* Metadata never answered (stale_metadata_hangs) */
  int n_stale_fetch;      /* Fetch answered NOT_LEADER_OR_FOLLOWER on a stale connection */
  /* internal */
  int32_t sess_id; /* the open fetch session, 0: none */
  bool sess_has[FB_MAX_PARTS];
  int64_t sess_offset[FB_MAX_PARTS];
  int32_t sess_epoch[FB_MAX_PARTS]; /* the current leader epoch the session was last sent */
  int port;                 /* node 1's: where clients bootstrap */
  int ports[FB_MAX_NODES];  /* node k+1 listens on ports[k] */
  int lfds[FB_MAX_NODES];
  atomic_bool stop;
  pthread_t th;
  fb_conn conns[FB_MAX_CONNS];
};

static void fb_put_answer(kw_buf *out, int16_t api, int16_t ver, int32_t corr, const void *resp) {
  size_t at = out->len;
  kw_buf_i32(out, 0);
  kw_resp_header_encode(out, corr, kw_resp_header_version(api, ver));
  kw_response_encode(api, ver, resp, out);
  kw_buf_put_i32_at(out, at, (int32_t)(out->len - at - 4));
}

static void fb_api_versions(fb *b, int16_t ver, int32_t corr, kw_buf *out) {
  int16_t keys[32] = {KW_API_FETCH, KW_API_LIST_OFFSETS, KW_API_METADATA, KW_API_API_VERSIONS};
  int n = 4;
  for (int i = 0; i < b->n_other_apis && n < 32; i++) keys[n++] = b->other_apis[i];
  kw_api_versions_resp_api_version av[32];
  for (int i = 0; i < n; i++) {
    kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP_API_VERSION, &av[i]);
    av[i].api_key = keys[i];
    kw_api_versions(keys[i], &av[i].min_version, &av[i].max_version);
    if (keys[i] == KW_API_FETCH && av[i].max_version > b->fetch_max_version) av[i].max_version = b->fetch_max_version;
  }
  kw_api_versions_resp r;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &r);
  r.api_keys = av;
  r.n_api_keys = n;
  fb_put_answer(out, KW_API_API_VERSIONS, ver, corr, &r);
}

static kw_slice fb_str(const char *s) { return (kw_slice){(const uint8_t *)s, (int32_t)strlen(s)}; }

static int32_t fb_leader(const fb *b, int32_t partition) { return 1 + partition % b->n_nodes; }

/* A broker of a cluster that moved away: "ask bootstrap.servers again" (KIP-1102,
 * Metadata v13+), with no brokers and no topics. */
static void fb_metadata_rebootstrap(fb *b, int16_t ver, int32_t corr, kw_buf *out) {
  b->n_rebootstrap_sent++;
  kw_metadata_resp r;
  kw_msg_init(KW_SCHEMA_METADATA_RESP, &r);
  r.error_code = 129; /* REBOOTSTRAP_REQUIRED */
  r.controller_id = -1;
  fb_put_answer(out, KW_API_METADATA, ver, corr, &r);
}

static void fb_metadata(fb *b, int16_t ver, int32_t corr, kw_buf *out, kw_arena *a) {
  kw_metadata_resp_broker *brs = kw_arena_alloc(a, sizeof *brs * (size_t)b->n_nodes);
  for (int32_t k = 0; k < b->n_nodes; k++) {
    kw_msg_init(KW_SCHEMA_METADATA_RESP_BROKER, &brs[k]);
    brs[k].node_id = k + 1;
    brs[k].host = fb_str("127.0.0.1");
    brs[k].port = b->ports[k];
  }
  kw_metadata_resp_partition *ps = kw_arena_alloc(a, sizeof *ps * (size_t)(b->n_partitions + 1));
  int32_t *leaders = kw_arena_alloc(a, sizeof *leaders * (size_t)(b->n_partitions + 1));
  for (int32_t i = 0; i < b->n_partitions; i++) {
    leaders[i] = fb_leader(b, i);
    kw_msg_init(KW_SCHEMA_METADATA_RESP_PARTITION, &ps[i]);
    ps[i].partition_index = i;
    ps[i].leader_id = leaders[i];
    ps[i].leader_epoch = b->leader_epoch;
    ps[i].replica_nodes = ps[i].isr_nodes = &leaders[i];
    ps[i].n_replica_nodes = 1;
    ps[i].n_isr_nodes = 1;
    ps[i].n_offline_replicas = 0;
  }
  kw_metadata_resp_topic t;
  kw_msg_init(KW_SCHEMA_METADATA_RESP_TOPIC, &t);
  t.name = fb_str(b->topic);
  memset(t.topic_id.b, 0x5a, sizeof t.topic_id.b);
  t.partitions = ps;
  t.n_partitions = b->n_partitions;
  kw_metadata_resp r;
  kw_msg_init(KW_SCHEMA_METADATA_RESP, &r);
  r.brokers = brs;
  r.n_brokers = b->n_nodes;
  r.cluster_id = fb_str("fake");
  r.controller_id = 1;
  r.topics = &t;
  r.n_topics = 1;
  fb_put_answer(out, KW_API_METADATA, ver, corr, &r);
}

static void fb_list_offsets(fb *b, int16_t ver, int32_t corr, const kw_list_offsets_req *q, kw_buf *out,
                            kw_arena *a) {
  b->n_list_offsets++;
  b->lo_after_released = b->n_held_released;
  b->lo_replica_id = q->replica_id;
  b->lo_isolation = q->isolation_level;
  kw_list_offsets_resp_list_offsets_topic_response *ts = kw_arena_alloc(a, sizeof *ts * (size_t)(q->n_topics + 1));
  for (int32_t i = 0; i < q->n_topics; i++) {
    const kw_list_offsets_req_list_offsets_topic *qt = &q->topics[i];
    kw_msg_init(KW_SCHEMA_LIST_OFFSETS_RESP_LIST_OFFSETS_TOPIC_RESPONSE, &ts[i]);
    ts[i].name = qt->name;
    ts[i].partitions = kw_arena_alloc(a, sizeof *ts[i].partitions * (size_t)(qt->n_partitions + 1));
    ts[i].n_partitions = qt->n_partitions;
    for (int32_t k = 0; k < qt->n_partitions; k++) {
      kw_list_offsets_resp_list_offsets_partition_response *p = &ts[i].partitions[k];
      kw_msg_init(KW_SCHEMA_LIST_OFFSETS_RESP_LIST_OFFSETS_PARTITION_RESPONSE, p);
      p->partition_index = qt->partitions[k].partition_index;
      p->timestamp = -1;
      p->offset = qt->partitions[k].timestamp == -2 ? 0 : b->end_offset;
      p->leader_epoch = 0;
    }
  }
  kw_list_offsets_resp r;
  kw_msg_init(KW_SCHEMA_LIST_OFFSETS_RESP, &r);
  r.topics = ts;
  r.n_topics = q->n_topics;
  fb_put_answer(out, KW_API_LIST_OFFSETS, ver, corr, &r);
}

/* Fetch with a session: the request lists what is new or changed (offset, leader
 * epoch); the broker answers for everything the session holds, from what it holds,
 * leaving out partitions with nothing to say. Returns the ms to hold the answer. */
static int32_t fb_fetch_session(fb *b, int16_t ver, int32_t corr, const kw_fetch_req *q, kw_buf *out, kw_arena *a) {
  b->n_fetch++;
  kw_fetch_resp r;
  kw_msg_init(KW_SCHEMA_FETCH_RESP, &r);
  if (q->session_id != 0 && q->session_id != b->sess_id) {
    r.error_code = 70; /* FETCH_SESSION_ID_NOT_FOUND */
    fb_put_answer(out, KW_API_FETCH, ver, corr, &r);
    return 0;
  }
  if (q->session_id == 0) { /* a full fetch opens a new session */
    b->sess_id++;
    memset(b->sess_has, 0, sizeof b->sess_has);
  }
  for (int32_t i = 0; i < q->n_topics; i++)
    for (int32_t k = 0; k < q->topics[i].n_partitions; k++) {
      const kw_fetch_req_fetch_partition *fp = &q->topics[i].partitions[k];
      if (fp->partition < 0 || fp->partition >= FB_MAX_PARTS) continue;
      b->sess_has[fp->partition] = true;
      b->sess_offset[fp->partition] = fp->fetch_offset;
      b->sess_epoch[fp->partition] = fp->current_leader_epoch;
    }
  kw_fetch_resp_fetchable_topic_response t;
  kw_msg_init(KW_SCHEMA_FETCH_RESP_FETCHABLE_TOPIC_RESPONSE, &t);
  t.topic = fb_str(b->topic);
  memset(t.topic_id.b, 0x5a, sizeof t.topic_id.b);
  t.partitions = kw_arena_alloc(a, sizeof *t.partitions * FB_MAX_PARTS);
  bool any = false;
  for (int32_t p = 0; p < FB_MAX_PARTS; p++) {
    if (!b->sess_has[p]) continue;
    kw_fetch_resp_partition_data *pd = &t.partitions[t.n_partitions];
    kw_msg_init(KW_SCHEMA_FETCH_RESP_PARTITION_DATA, pd);
    pd->partition_index = p;
    pd->high_watermark = pd->last_stable_offset = b->end_offset;
    pd->preferred_read_replica = -1;
    pd->records = (kw_slice){(const uint8_t *)"", 0};
    if (b->sess_epoch[p] < b->leader_epoch) {
      pd->error_code = 74; /* FENCED_LEADER_EPOCH */
      b->n_fenced++;
    } else if (b->on_fetch) {
      b->last_fetch_offset = b->sess_offset[p];
      b->on_fetch(b, p, b->sess_offset[p], pd, a);
    }
    bool says = pd->error_code || pd->records.len > 0;
    any |= says;
    if (says || q->session_id == 0) t.n_partitions++;
  }
  r.session_id = b->sess_id;
  r.responses = &t;
  r.n_responses = t.n_partitions > 0;
  fb_put_answer(out, KW_API_FETCH, ver, corr, &r);
  return any ? 0 : q->max_wait_ms;
}

/* Returns how long to hold the answer (ms): max_wait_ms when no partition has records. */
static int32_t fb_fetch(fb *b, int16_t ver, int32_t corr, const kw_fetch_req *q, kw_buf *out, kw_arena *a,
                        bool stale) {
  b->n_fetch++;
  b->n_stale_fetch += stale;
  kw_fetch_resp_fetchable_topic_response *ts = kw_arena_alloc(a, sizeof *ts * (size_t)(q->n_topics + 1));
  bool any = false;
  for (int32_t i = 0; i < q->n_topics; i++) {
    const kw_fetch_req_fetch_topic *qt = &q->topics[i];
    kw_msg_init(KW_SCHEMA_FETCH_RESP_FETCHABLE_TOPIC_RESPONSE, &ts[i]);
    ts[i].topic = qt->topic;
    ts[i].topic_id = qt->topic_id;
    ts[i].partitions = kw_arena_alloc(a, sizeof *ts[i].partitions * (size_t)(qt->n_partitions + 1));
    ts[i].n_partitions = qt->n_partitions;
    for (int32_t k = 0; k < qt->n_partitions; k++) {
      kw_fetch_resp_partition_data *pd = &ts[i].partitions[k];
      kw_msg_init(KW_SCHEMA_FETCH_RESP_PARTITION_DATA, pd);
      pd->partition_index = qt->partitions[k].partition;
      pd->high_watermark = pd->last_stable_offset = b->end_offset;
      pd->log_start_offset = 0;
      pd->preferred_read_replica = -1;
      pd->records = (kw_slice){(const uint8_t *)"", 0};
      b->last_fetch_offset = qt->partitions[k].fetch_offset;
      if (stale) pd->error_code = 6; /* NOT_LEADER_OR_FOLLOWER */
      else if (b->on_fetch) b->on_fetch(b, pd->partition_index, qt->partitions[k].fetch_offset, pd, a);
      any |= pd->records.len > 0 || pd->error_code;
    }
  }
  kw_fetch_resp r;
  kw_msg_init(KW_SCHEMA_FETCH_RESP, &r);
  r.responses = ts;
  r.n_responses = q->n_topics;
  r.session_id = 0; /* no incremental session: every fetch is a full one */
  fb_put_answer(out, KW_API_FETCH, ver, corr, &r);
  return any ? 0 : q->max_wait_ms;
}

/* Answers one whole request frame (without its size) read from c; returns the ms to
 * hold the answer. */
static int32_t fb_handle(fb *b, const fb_conn *c, const uint8_t *frame, size_t len, kw_buf *out) {
  kw_rd r;
  kw_rd_init(&r, frame, len);
  if (len < 4) return 0;
  int16_t api = (int16_t)(frame[0] << 8 | frame[1]), ver = (int16_t)(frame[2] << 8 | frame[3]);
  kw_req_header h;
  kw_req_header_decode(&r, &h, kw_req_header_version(api, ver));
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  union {
    kw_list_offsets_req lo;
    kw_fetch_req fetch;
    char any[512];
  } q;
  int32_t hold = 0;
  pthread_mutex_lock(&b->mu);
  bool stale = c->generation < b->generation;
  if (api == KW_API_API_VERSIONS) {
    fb_api_versions(b, ver, h.correlation_id, out);
  } else if (api == KW_API_METADATA && stale && b->stale_metadata_hangs) {
    b->n_metadata_hung++;
    fb_metadata_rebootstrap(b, ver, h.correlation_id, out); /* held an hour: never sent */
    b->n_rebootstrap_sent--;
    hold = 3600 * 1000;
  } else if (api == KW_API_METADATA && stale) {
    fb_metadata_rebootstrap(b, ver, h.correlation_id, out);
  } else if (api == KW_API_METADATA) {
    fb_metadata(b, ver, h.correlation_id, out, &a);
  } else if (api == KW_API_LIST_OFFSETS && kw_request_decode(api, ver, &r, &a, &q.lo) == 0) {
    fb_list_offsets(b, ver, h.correlation_id, &q.lo, out, &a);
  } else if (api == KW_API_FETCH && kw_request_decode(api, ver, &r, &a, &q.fetch) == 0) {
    hold = b->sessions ? fb_fetch_session(b, ver, h.correlation_id, &q.fetch, out, &a)
                       : fb_fetch(b, ver, h.correlation_id, &q.fetch, out, &a, stale);
  } else if (b->on_other && (hold = b->on_other(b, api, ver, h.correlation_id, &r, out, &a)) >= 0) {
  } else {
    hold = 0;
    b->n_unknown++;
    fprintf(stderr, "fake broker: no answer for api %d v%d\n", api, ver);
  }
  pthread_mutex_unlock(&b->mu);
  kw_arena_reset(&a);
  return hold;
}

/* MSG_NOSIGNAL: a client that closed its socket (a test ending while an answer was
 * held) must not kill the test process with SIGPIPE. */
static void fb_write_all(int fd, const kw_buf *out) {
  size_t at = 0;
  while (at < out->len) {
    ssize_t n = send(fd, out->data + at, out->len - at, MSG_NOSIGNAL);
    if (n <= 0) return;
    at += (size_t)n;
  }
}

static void fb_close_conn(fb_conn *c) {
  close(c->fd);
  c->fd = -1;
  kw_buf_free(&c->in);
  kw_buf_free(&c->held);
  c->held_until = 0;
}

/* Answers the whole requests in c->in, in order, stopping at one that is held. */
static void fb_serve(fb *b, fb_conn *c) {
  size_t used = 0, len;
  while (!c->held_until && kw_frame_peek(c->in.data + used, c->in.len - used, 1 << 26, &len) == 0) {
    kw_buf out;
    kw_buf_init_grow(&out, NULL);
    int32_t hold = fb_handle(b, c, c->in.data + used + 4, len, &out);
    used += 4 + len;
    if (hold > 0) {
      kw_buf_free(&c->held); /* the last held answer's memory (reset, not freed, when sent) */
      c->held = out;
      c->held_until = kw_now_ms() + hold;
    } else {
      fb_write_all(c->fd, &out);
      kw_buf_free(&out);
    }
  }
  memmove(c->in.data, c->in.data + used, c->in.len - used);
  c->in.len -= used;
}

/* Takes a connection a listener has waiting. */
static void fb_accept(fb *b, int node) {
  int fd = accept(b->lfds[node], NULL, NULL);
  for (int i = 0; fd >= 0 && i < FB_MAX_CONNS; i++)
    if (b->conns[i].fd < 0) {
      b->conns[i].fd = fd;
      b->conns[i].node = node;
      kw_buf_init_grow(&b->conns[i].in, NULL);
      kw_buf_init_grow(&b->conns[i].held, NULL);
      pthread_mutex_lock(&b->mu);
      b->conns[i].generation = b->generation;
      b->n_conns_accepted++;
      b->n_accepted_on[node]++;
      pthread_mutex_unlock(&b->mu);
      fd = -1;
    }
  if (fd >= 0) {
    fprintf(stderr, "fake broker: more than %d connections: one refused\n", FB_MAX_CONNS);
    close(fd);
  }
}

static void *fb_run(void *arg) {
  fb *b = arg;
  while (!atomic_load(&b->stop)) {
    struct pollfd pf[FB_MAX_NODES + FB_MAX_CONNS];
    int nl = b->n_nodes;
    for (int k = 0; k < nl; k++) pf[k] = (struct pollfd){b->lfds[k], POLLIN, 0};
    int64_t now = kw_now_ms(), wake = now + 20;
    for (int i = 0; i < FB_MAX_CONNS; i++) {
      fb_conn *c = &b->conns[i];
      if (c->held_until && c->held_until < wake) wake = c->held_until;
      /* like Kafka: no further request is read from a connection with one in progress */
      pf[nl + i] = (struct pollfd){c->fd, (short)(c->fd >= 0 && !c->held_until ? POLLIN : 0), 0};
    }
    poll(pf, (nfds_t)(nl + FB_MAX_CONNS), (int)(wake > now ? wake - now : 0));
    for (int k = 0; k < nl; k++)
      if (pf[k].revents & POLLIN) fb_accept(b, k);
    for (int i = 0; i < FB_MAX_CONNS; i++) {
      fb_conn *c = &b->conns[i];
      if (c->fd < 0) continue;
      if (c->held_until && kw_now_ms() >= c->held_until) {
        fb_write_all(c->fd, &c->held);
        kw_buf_reset(&c->held);
        c->held_until = 0;
        pthread_mutex_lock(&b->mu);
        b->n_held_released++;
        pthread_mutex_unlock(&b->mu);
        fb_serve(b, c); /* what queued up behind it */
      }
      if (!(pf[nl + i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      uint8_t buf[65536];
      ssize_t got = read(c->fd, buf, sizeof buf);
      if (got <= 0) {
        fb_close_conn(c);
        continue;
      }
      kw_buf_raw(&c->in, buf, (size_t)got);
      fb_serve(b, c);
    }
  }
  return NULL;
}

/* Listens on an ephemeral loopback port per node and starts answering. */
static void fb_start(fb *b) {
  pthread_mutex_init(&b->mu, NULL);
  for (int i = 0; i < FB_MAX_CONNS; i++) b->conns[i].fd = -1;
  if (!b->fetch_max_version) b->fetch_max_version = 12;
  if (b->n_nodes < 1 || b->n_nodes > FB_MAX_NODES) b->n_nodes = b->n_nodes > FB_MAX_NODES ? FB_MAX_NODES : 1;
  b->lo_replica_id = 12345; /* "never asked" */
  for (int k = 0; k < b->n_nodes; k++) {
    b->lfds[k] = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(b->lfds[k], (struct sockaddr *)&sa, sizeof sa);
    listen(b->lfds[k], 8);
    socklen_t sl = sizeof sa;
    getsockname(b->lfds[k], (struct sockaddr *)&sa, &sl);
    b->ports[k] = ntohs(sa.sin_port);
  }
  b->port = b->ports[0];
  atomic_store(&b->stop, false);
  pthread_create(&b->th, NULL, fb_run, b);
}

static void fb_stop(fb *b) {
  atomic_store(&b->stop, true);
  pthread_join(b->th, NULL);
  for (int i = 0; i < FB_MAX_CONNS; i++)
    if (b->conns[i].fd >= 0) fb_close_conn(&b->conns[i]);
  for (int k = 0; k < b->n_nodes; k++) close(b->lfds[k]);
  pthread_mutex_destroy(&b->mu);
}

/* The cluster moves away: every connection open now is to a broker that left. */
static inline void fb_move(fb *b) { /* inline: test files that never move do not warn */
  pthread_mutex_lock(&b->mu);
  b->generation++;
  pthread_mutex_unlock(&b->mu);
}

/* A counter (or other int field) read under the lock. */
static inline int64_t fb_get(fb *b, const void *field, size_t size) {
  pthread_mutex_lock(&b->mu);
  int64_t v = size == 8 ? *(const int64_t *)field : size == 4 ? *(const int32_t *)field : *(const int8_t *)field;
  pthread_mutex_unlock(&b->mu);
  return v;
}
#define FB_GET(b, field) fb_get((b), &(b)->field, sizeof (b)->field)

#endif
