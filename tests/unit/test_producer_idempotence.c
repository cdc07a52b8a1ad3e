/* The idempotent producer against a fake broker in this process: a scripted peer that
 * answers ApiVersions, Metadata, InitProducerId and Produce, and keeps the broker's
 * side of idempotence (per producer id and partition: epoch, last sequence, the
 * recent batches; DUPLICATE_SEQUENCE_NUMBER / OUT_OF_ORDER_SEQUENCE_NUMBER /
 * INVALID_PRODUCER_EPOCH as Kafka answers them). The script makes the faults a real
 * broker cannot be made to produce on demand: a request written but never answered, a
 * final error on one partition. Each test then reads the fake's log: no record may be
 * written twice. Also: a producer with transactional.id is refused until transactions
 * exist. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kwire/client.h"
#include "kwire/codec.h"
#include "kwire/config.h"
#include "kwire/error.h"

/* ---- the fake broker ---- */

enum { FB_MAX_CONNS = 8, FB_MAX_LOG = 256, FB_MAX_PSTATE = 32, FB_MAX_HELD = 8 };

/* What the script makes the fake do with one partition's batch of a Produce request. */
typedef enum fb_action {
  FB_ACCEPT,       /* the idempotence check decides, the answer goes out */
  FB_WRITE_SILENT, /* as ACCEPT, but the whole request is never answered */
  FB_WRITE_HOLD,   /* as ACCEPT, but the answer waits until fb_release_held */
  FB_FAIL,         /* not written; answered with fail_code */
} fb_action;

typedef struct fb_conn {
  int fd;
  bool stalled; /* an answer is withheld: Kafka handles a connection's requests in order */
  uint8_t *in;
  size_t have, cap;
} fb_conn;

typedef struct fb_written {
  char topic[32];
  int32_t partition;
  char value[32];
  int64_t pid;
  int16_t epoch;
  int32_t seq;
} fb_written;

typedef struct fb_pstate { /* the broker's producer state for one (producer id, partition) */
  int64_t pid;
  char topic[32];
  int32_t partition;
  int16_t epoch;
  int32_t last_seq;
  int32_t recent_first[5], recent_last[5];
  int n_recent;
} fb_pstate;

typedef struct fb_held {
  int fd;
  uint8_t frame[512];
  size_t len;
} fb_held;

typedef struct fake_broker fake_broker;
typedef fb_action (*fb_script)(fake_broker *fb, const char *topic, int32_t partition, const kw_batch *b,
                               int16_t *fail_code);

struct fake_broker {
  int lfd, port, dead_port;
  fb_conn conns[FB_MAX_CONNS];
  int accepted;
  fb_script script;
  int produce_requests, init_pid_requests;
  int64_t next_pid;
  fb_written log[FB_MAX_LOG];
  int n_log;
  fb_pstate ps[FB_MAX_PSTATE];
  int n_ps;
  int duplicates, out_of_order, fenced;
  fb_held held[FB_MAX_HELD];
  int n_held;
  const char *far_topic; /* led by node 2, which nobody can reach */
  void *ud;
};

static void fb_start(fake_broker *fb) {
  memset(fb, 0, sizeof *fb);
  for (int i = 0; i < FB_MAX_CONNS; i++) fb->conns[i].fd = -1;
  fb->next_pid = 1000;
  fb->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(fb->lfd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(fb->lfd, 8), 0);
  fcntl(fb->lfd, F_SETFL, O_NONBLOCK);
  socklen_t n = sizeof a;
  getsockname(fb->lfd, (struct sockaddr *)&a, &n);
  fb->port = ntohs(a.sin_port);
  /* A port nothing listens on: node 2's connections are refused. */
  int d = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(d, (struct sockaddr *)&b, sizeof b), 0);
  n = sizeof b;
  getsockname(d, (struct sockaddr *)&b, &n);
  fb->dead_port = ntohs(b.sin_port);
  close(d);
}

static void fb_stop(fake_broker *fb) {
  for (int i = 0; i < FB_MAX_CONNS; i++) {
    if (fb->conns[i].fd >= 0) close(fb->conns[i].fd);
    free(fb->conns[i].in);
  }
  close(fb->lfd);
}

static void fb_write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL); /* a closed client must not SIGPIPE the test */
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (w <= 0) return; /* the client closed: nobody to answer */
    p += w;
    n -= (size_t)w;
  }
}

/* Frames an answer: size, response header, body. */
static size_t fb_frame(uint8_t *out, size_t cap, int16_t key, int16_t ver, int32_t corr, const void *msg) {
  kw_buf b;
  kw_buf_init_fixed(&b, out, cap);
  kw_buf_i32(&b, 0);
  kw_resp_header_encode(&b, corr, kw_resp_header_version(key, ver));
  cr_assert_eq(kw_response_encode(key, ver, msg, &b), 0, "encode answer to api %d v%d", key, ver);
  cr_assert_eq(b.err, 0);
  kw_buf_put_i32_at(&b, 0, (int32_t)(b.len - 4));
  return b.len;
}

static size_t fb_api_versions(uint8_t *out, size_t cap, int16_t ver, int32_t corr) {
  static const int16_t keys[] = {KW_API_PRODUCE, KW_API_METADATA, KW_API_API_VERSIONS, KW_API_INIT_PRODUCER_ID};
  kw_api_versions_resp_api_version av[4];
  for (int i = 0; i < 4; i++) {
    av[i].api_key = keys[i];
    kw_api_versions(keys[i], &av[i].min_version, &av[i].max_version);
    if (keys[i] == KW_API_PRODUCE && av[i].max_version > 12) av[i].max_version = 12; /* topics by name */
  }
  kw_api_versions_resp r;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &r);
  r.api_keys = av;
  r.n_api_keys = 4;
  return fb_frame(out, cap, KW_API_API_VERSIONS, ver, corr, &r);
}

static size_t fb_metadata(fake_broker *fb, uint8_t *out, size_t cap, int16_t ver, int32_t corr,
                          const kw_metadata_req *req) {
  kw_metadata_resp_broker brokers[2] = {{1, {(const uint8_t *)"127.0.0.1", 9}, fb->port, {NULL, 0}},
                                        {2, {(const uint8_t *)"127.0.0.1", 9}, fb->dead_port, {NULL, 0}}};
  static int32_t replicas1[] = {1}, replicas2[] = {2};
  kw_metadata_resp_topic topics[8];
  kw_metadata_resp_partition parts[8];
  int n = req->n_topics > 8 ? 8 : req->n_topics;
  for (int i = 0; i < n; i++) {
    kw_msg_init(KW_SCHEMA_METADATA_RESP_TOPIC, &topics[i]);
    kw_msg_init(KW_SCHEMA_METADATA_RESP_PARTITION, &parts[i]);
    topics[i].name = req->topics[i].name;
    topics[i].topic_id.b[0] = (uint8_t)(i + 1);
    topics[i].partitions = &parts[i];
    topics[i].n_partitions = 1;
    bool far = fb->far_topic && (size_t)req->topics[i].name.len == strlen(fb->far_topic) &&
               memcmp(req->topics[i].name.ptr, fb->far_topic, strlen(fb->far_topic)) == 0;
    parts[i].partition_index = 0;
    parts[i].leader_id = far ? 2 : 1;
    parts[i].leader_epoch = 1;
    parts[i].replica_nodes = parts[i].isr_nodes = far ? replicas2 : replicas1;
    parts[i].n_replica_nodes = parts[i].n_isr_nodes = 1;
    parts[i].n_offline_replicas = 0;
  }
  kw_metadata_resp r;
  kw_msg_init(KW_SCHEMA_METADATA_RESP, &r);
  r.brokers = brokers;
  r.n_brokers = 2;
  r.controller_id = 1;
  r.topics = topics;
  r.n_topics = n;
  return fb_frame(out, cap, KW_API_METADATA, ver, corr, &r);
}

static size_t fb_init_pid(fake_broker *fb, uint8_t *out, size_t cap, int16_t ver, int32_t corr) {
  /* Kafka's coordinator gives a producer without a transactional id a new id every time. */
  fb->init_pid_requests++;
  kw_init_producer_id_resp r;
  kw_msg_init(KW_SCHEMA_INIT_PRODUCER_ID_RESP, &r);
  r.producer_id = fb->next_pid++;
  r.producer_epoch = 0;
  return fb_frame(out, cap, KW_API_INIT_PRODUCER_ID, ver, corr, &r);
}

static fb_pstate *fb_pstate_of(fake_broker *fb, int64_t pid, const char *topic, int32_t partition) {
  for (int i = 0; i < fb->n_ps; i++)
    if (fb->ps[i].pid == pid && fb->ps[i].partition == partition && strcmp(fb->ps[i].topic, topic) == 0)
      return &fb->ps[i];
  return NULL;
}

/* Kafka's sequence check (ProducerStateManager): the error a batch gets, 0 to append. */
static int16_t fb_check_sequence(fake_broker *fb, const char *topic, int32_t partition, const kw_batch *b) {
  if (b->producer_id < 0) return 0;
  int32_t first = b->base_sequence, last = b->base_sequence + b->record_count - 1;
  fb_pstate *s = fb_pstate_of(fb, b->producer_id, topic, partition);
  if (!s) {
    if (first != 0) return KW_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    cr_assert_lt(fb->n_ps, FB_MAX_PSTATE);
    s = &fb->ps[fb->n_ps++];
    memset(s, 0, sizeof *s);
    s->pid = b->producer_id;
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->partition = partition;
    s->epoch = b->producer_epoch;
    s->last_seq = -1;
  } else if (b->producer_epoch < s->epoch) {
    fb->fenced++;
    return KW_KERR_INVALID_PRODUCER_EPOCH;
  } else if (b->producer_epoch > s->epoch) {
    if (first != 0) return KW_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    s->epoch = b->producer_epoch;
    s->last_seq = -1;
    s->n_recent = 0;
  } else {
    for (int i = 0; i < s->n_recent; i++)
      if (s->recent_first[i] == first && s->recent_last[i] == last) {
        fb->duplicates++;
        return KW_KERR_DUPLICATE_SEQUENCE_NUMBER;
      }
    if (first != s->last_seq + 1) {
      fb->out_of_order++;
      return KW_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    }
  }
  if (s->n_recent == 5) {
    memmove(s->recent_first, s->recent_first + 1, sizeof(int32_t) * 4);
    memmove(s->recent_last, s->recent_last + 1, sizeof(int32_t) * 4);
    s->n_recent = 4;
  }
  s->recent_first[s->n_recent] = first;
  s->recent_last[s->n_recent++] = last;
  s->last_seq = last;
  return 0;
}

static void fb_append(fake_broker *fb, const char *topic, int32_t partition, const kw_batch *b) {
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  kw_rd recs;
  cr_assert_eq(kw_batch_records(b, &scratch, 1 << 20, &recs), 0);
  for (int32_t i = 0; i < b->record_count; i++) {
    kw_record rec;
    cr_assert_eq(kw_record_next(&recs, b, &rec), 0);
    cr_assert_lt(fb->n_log, FB_MAX_LOG);
    fb_written *w = &fb->log[fb->n_log++];
    snprintf(w->topic, sizeof w->topic, "%s", topic);
    w->partition = partition;
    snprintf(w->value, sizeof w->value, "%.*s", (int)rec.value.len, (const char *)rec.value.ptr);
    w->pid = b->producer_id;
    w->epoch = b->producer_epoch;
    w->seq = b->base_sequence + i;
  }
  kw_buf_free(&scratch);
}

static int64_t fb_log_end(const fake_broker *fb, const char *topic, int32_t partition) {
  int64_t n = 0;
  for (int i = 0; i < fb->n_log; i++)
    if (fb->log[i].partition == partition && strcmp(fb->log[i].topic, topic) == 0) n++;
  return n;
}

static size_t fb_produce(fake_broker *fb, uint8_t *out, size_t cap, int16_t ver, int32_t corr,
                         const kw_produce_req *req, fb_action *request_action) {
  fb->produce_requests++;
  *request_action = FB_ACCEPT;
  kw_produce_resp_topic_produce_response trs[8];
  kw_produce_resp_partition_produce_response prs[8];
  int ntr = req->n_topic_data > 8 ? 8 : req->n_topic_data;
  for (int t = 0; t < ntr; t++) {
    const kw_produce_req_topic_produce_data *td = &req->topic_data[t];
    char topic[32];
    snprintf(topic, sizeof topic, "%.*s", (int)td->name.len, (const char *)td->name.ptr);
    kw_msg_init(KW_SCHEMA_PRODUCE_RESP_TOPIC_PRODUCE_RESPONSE, &trs[t]);
    trs[t].name = td->name;
    trs[t].partition_responses = &prs[t];
    trs[t].n_partition_responses = 1;
    cr_assert_eq(td->n_partition_data, 1, "one partition per topic in these tests");
    const kw_produce_req_partition_produce_data *pd = &td->partition_data[0];
    kw_produce_resp_partition_produce_response *pr = &prs[t];
    kw_msg_init(KW_SCHEMA_PRODUCE_RESP_PARTITION_PRODUCE_RESPONSE, pr);
    pr->index = pd->index;
    pr->log_start_offset = 0;
    kw_rd r;
    kw_rd_init(&r, pd->records.ptr, (size_t)pd->records.len);
    kw_batch b;
    cr_assert_eq(kw_batch_next(&r, &b), 0, "a valid batch");
    int16_t fail = 0;
    fb_action act = fb->script ? fb->script(fb, topic, pd->index, &b, &fail) : FB_ACCEPT;
    if (act == FB_FAIL) {
      pr->error_code = fail;
      pr->base_offset = -1;
      continue;
    }
    if (act != FB_ACCEPT) *request_action = act;
    pr->error_code = fb_check_sequence(fb, topic, pd->index, &b);
    pr->base_offset = pr->error_code ? -1 : fb_log_end(fb, topic, pd->index);
    if (!pr->error_code) fb_append(fb, topic, pd->index, &b);
  }
  kw_produce_resp r;
  kw_msg_init(KW_SCHEMA_PRODUCE_RESP, &r);
  r.responses = trs;
  r.n_responses = ntr;
  return fb_frame(out, cap, KW_API_PRODUCE, ver, corr, &r);
}

/* Handles every whole request a connection has buffered. */
static void fb_serve(fake_broker *fb, fb_conn *c) {
  while (!c->stalled) {
    size_t len;
    if (kw_frame_peek(c->in, c->have, 1 << 24, &len) != 0) return;
    kw_rd r;
    kw_rd_init(&r, c->in + 4, len);
    int16_t key = (int16_t)(c->in[4] << 8 | c->in[5]), ver = (int16_t)(c->in[6] << 8 | c->in[7]);
    kw_req_header h;
    cr_assert_eq(kw_req_header_decode(&r, &h, kw_req_header_version(key, ver)), 0);
    kw_arena *a = kw_arena_new(NULL, 0);
    uint8_t out[2048];
    size_t n = 0;
    fb_action act = FB_ACCEPT;
    if (key == KW_API_API_VERSIONS) {
      n = fb_api_versions(out, sizeof out, ver, h.correlation_id);
    } else if (key == KW_API_METADATA) {
      kw_metadata_req req;
      cr_assert_eq(kw_request_decode(key, ver, &r, a, &req), 0);
      n = fb_metadata(fb, out, sizeof out, ver, h.correlation_id, &req);
    } else if (key == KW_API_INIT_PRODUCER_ID) {
      n = fb_init_pid(fb, out, sizeof out, ver, h.correlation_id);
    } else if (key == KW_API_PRODUCE) {
      kw_produce_req req;
      cr_assert_eq(kw_request_decode(key, ver, &r, a, &req), 0);
      n = fb_produce(fb, out, sizeof out, ver, h.correlation_id, &req, &act);
    }
    kw_arena_destroy(a);
    if (n && act == FB_ACCEPT) fb_write_all(c->fd, out, n);
    if (act != FB_ACCEPT) c->stalled = true;
    if (n && act == FB_WRITE_HOLD) {
      cr_assert_lt(fb->n_held, FB_MAX_HELD);
      fb_held *hd = &fb->held[fb->n_held++];
      hd->fd = c->fd;
      memcpy(hd->frame, out, n);
      hd->len = n;
    }
    memmove(c->in, c->in + 4 + len, c->have - 4 - len);
    c->have -= 4 + len;
  }
}

/* Accepts, reads and answers whatever is there, without waiting. */
static void fb_step(fake_broker *fb) {
  int fd = accept(fb->lfd, NULL, NULL);
  if (fd >= 0) {
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fb->accepted++;
    int i = 0;
    while (i < FB_MAX_CONNS && fb->conns[i].fd >= 0) i++;
    cr_assert_lt(i, FB_MAX_CONNS);
    fb->conns[i].fd = fd;
    fb->conns[i].have = 0;
  }
  for (int i = 0; i < FB_MAX_CONNS; i++) {
    fb_conn *c = &fb->conns[i];
    if (c->fd < 0) continue;
    for (;;) {
      if (c->cap - c->have < 4096) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->in = realloc(c->in, c->cap);
      }
      ssize_t n = read(c->fd, c->in + c->have, c->cap - c->have);
      if (n > 0) {
        c->have += (size_t)n;
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) { /* the client closed it */
        for (int k = 0; k < fb->n_held; k++)
          if (fb->held[k].fd == c->fd) fb->held[k].fd = -1;
        close(c->fd);
        c->fd = -1;
        c->have = 0;
        c->stalled = false;
      }
      break;
    }
    if (c->fd >= 0) fb_serve(fb, c);
  }
}

/* Sends the answers held back so far (on connections still open). */
static void fb_release_held(fake_broker *fb) {
  for (int k = 0; k < fb->n_held; k++)
    if (fb->held[k].fd >= 0) fb_write_all(fb->held[k].fd, fb->held[k].frame, fb->held[k].len);
  fb->n_held = 0;
  for (int i = 0; i < FB_MAX_CONNS; i++) fb->conns[i].stalled = false;
}

/* How many times the broker wrote this value (any topic). */
static int fb_count(const fake_broker *fb, const char *value) {
  int n = 0;
  for (int i = 0; i < fb->n_log; i++)
    if (strcmp(fb->log[i].value, value) == 0) n++;
  return n;
}

/* ---- the client side ---- */

typedef struct reports {
  int n;
  char value[32][32];
  int err[32];
} reports;

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  reports *r = ud;
  cr_assert_lt(r->n, 32);
  snprintf(r->value[r->n], sizeof r->value[0], "%s", (const char *)dr->opaque);
  r->err[r->n++] = dr->err;
}

static int report_err(const reports *r, const char *value) {
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->value[i], value) == 0) return r->err[i];
  return 1; /* not reported */
}

static kw_client *producer_to(fake_broker *fb, reports *rep, const char *const *kv) {
  char err[256], boot[64];
  kw_config *c = kw_config_new();
  snprintf(boot, sizeof boot, "127.0.0.1:%d", fb->port);
  cr_assert_eq(kw_config_set(c, "bootstrap.servers", boot, err, sizeof err), KW_OK);
  cr_assert_eq(kw_config_set(c, "linger.ms", "0", err, sizeof err), KW_OK);
  cr_assert_eq(kw_config_set(c, "retry.backoff.ms", "20", err, sizeof err), KW_OK);
  cr_assert_eq(kw_config_set(c, "reconnect.backoff.ms", "20", err, sizeof err), KW_OK);
  if (getenv("KW_TEST_DEBUG")) {
    kw_config_set(c, "debug", "producer,protocol", err, sizeof err);
    kw_config_set(c, "log_level", "7", err, sizeof err);
  }
  for (; kv && *kv; kv += 2) cr_assert_eq(kw_config_set(c, kv[0], kv[1], err, sizeof err), KW_OK, "%s: %s", kv[0], err);
  kw_client *p = kw_producer_new(c, err, sizeof err);
  cr_assert_not_null(p, "%s", err);
  kw_config_free(c);
  kw_client_set_delivery_cb(p, on_delivery, rep);
  return p;
}

static void produce(kw_client *p, const char *topic, const char *value) {
  cr_assert_eq(kw_produce(p, topic, KW_PARTITION_UA, NULL, 0, value, strlen(value), NULL, 0, 0, (void *)value), 0);
}

/* Drives client and fake together until done() or `rounds` polls of at most 10 ms. */
static bool run_until(kw_client *p, fake_broker *fb, bool (*done)(fake_broker *, void *), void *arg, int rounds) {
  for (int i = 0; i < rounds; i++) {
    if (done && done(fb, arg)) return true;
    kw_client_poll(p, 10);
    fb_step(fb);
  }
  return done ? done(fb, arg) : true;
}

static bool reconnected(fake_broker *fb, void *arg) {
  (void)arg;
  return fb->accepted >= 2;
}

static bool value_written(fake_broker *fb, void *value) { return fb_count(fb, value) > 0; }
static bool reported(fake_broker *fb, void *value) {
  (void)fb;
  return report_err(((void **)value)[0], ((void **)value)[1]) != 1;
}

static bool wait_report(kw_client *p, fake_broker *fb, reports *rep, const char *value, int rounds) {
  void *arg[2] = {rep, (void *)value};
  return run_until(p, fb, reported, arg, rounds);
}

/* ---- scripts ---- */

/* "a1" is written but its request is never answered, once; the first batch of topic
 * "other" fails for good with MESSAGE_TOO_LARGE. */
static fb_action script_silent_then_final_failure(fake_broker *fb, const char *topic, int32_t partition,
                                                  const kw_batch *b, int16_t *fail) {
  (void)partition;
  int *silenced = fb->ud;
  if (strcmp(topic, "other") == 0 && b->record_count == 1 && fb_count(fb, "a1") && !fb_count(fb, "a2")) {
    *fail = KW_KERR_MESSAGE_TOO_LARGE;
    return FB_FAIL;
  }
  if (strcmp(topic, "main") == 0 && !*silenced) {
    *silenced = 1;
    return FB_WRITE_SILENT;
  }
  return FB_ACCEPT;
}

Test(producer_idempotence, timed_out_request_keeps_its_sequence_when_another_partition_fails) {
  fake_broker fb;
  fb_start(&fb);
  int silenced = 0;
  fb.ud = &silenced;
  fb.script = script_silent_then_final_failure;
  reports rep = {0};
  /* a1's retry waits 3 s after its request timed out: b1 fails in that time. */
  static const char *const kv[] = {"request.timeout.ms", "1000",       "delivery.timeout.ms",  "60000",
                                   "retry.backoff.ms",   "3000",       "retry.backoff.max.ms", "3000", NULL};
  kw_client *p = producer_to(&fb, &rep, kv);
  produce(p, "main", "a1");
  cr_assert(run_until(p, &fb, value_written, "a1", 500), "the broker wrote a1 (and stays silent)");
  cr_assert(run_until(p, &fb, reconnected, NULL, 1000), "a1's request timed out");
  /* While a1 waits for its retry, a record on another topic fails for good. */
  produce(p, "other", "b1");
  cr_assert(wait_report(p, &fb, &rep, "b1", 1000));
  cr_assert_neq(report_err(&rep, "b1"), 0, "b1 fails: MESSAGE_TOO_LARGE");
  /* a1's request times out; its retry must not come under a new identity. */
  cr_assert(wait_report(p, &fb, &rep, "a1", 2000), "a1 reported");
  cr_assert_eq(report_err(&rep, "a1"), 0, "a1 delivered (the broker answers its retry as a duplicate): %s",
               kw_errname(report_err(&rep, "a1")));
  produce(p, "main", "a2");
  produce(p, "other", "b2");
  cr_assert(wait_report(p, &fb, &rep, "a2", 1000));
  cr_assert(wait_report(p, &fb, &rep, "b2", 1000));
  cr_assert_eq(report_err(&rep, "a2"), 0);
  cr_assert_eq(report_err(&rep, "b2"), 0);
  cr_assert_eq(fb_count(&fb, "a1"), 1, "the broker holds a1 %d times", fb_count(&fb, "a1"));
  cr_assert_eq(fb_count(&fb, "a2"), 1);
  cr_assert_eq(fb_count(&fb, "b1"), 0);
  cr_assert_eq(fb_count(&fb, "b2"), 1);
  kw_client_destroy(p);
  fb_stop(&fb);
}

/* "a1" is written silently on each of its first three sends. */
static fb_action script_silent_thrice(fake_broker *fb, const char *topic, int32_t partition, const kw_batch *b,
                                      int16_t *fail) {
  (void)partition, (void)fail;
  int *silenced = fb->ud;
  if (strcmp(topic, "main") == 0 && b->record_count == 1 && fb_count(fb, "a0") && *silenced < 3) {
    ++*silenced;
    return FB_WRITE_SILENT;
  }
  return FB_ACCEPT;
}

static bool silenced_thrice(fake_broker *fb, void *arg) {
  (void)arg;
  return *(int *)fb->ud >= 3;
}

Test(producer_idempotence, retry_keeps_its_sequence_when_a_batch_expires_elsewhere) {
  fake_broker fb;
  fb_start(&fb);
  int silenced = 0;
  fb.ud = &silenced;
  fb.script = script_silent_thrice;
  fb.far_topic = "far"; /* its leader cannot be reached: its batches expire in the queue */
  reports rep = {0};
  /* f1 expires at 5 s; a1, produced at about 2.5 s, is sent at about 2.5, 3.5 and 4.5 s
   * and each time written without an answer: f1 expires while a1 waits for its third
   * answer, half a second from either side. */
  static const char *const kv[] = {"request.timeout.ms", "1000", "delivery.timeout.ms", "5000", NULL};
  kw_client *p = producer_to(&fb, &rep, kv);
  produce(p, "far", "f1");
  produce(p, "main", "a0");
  cr_assert(wait_report(p, &fb, &rep, "a0", 1000));
  cr_assert_eq(report_err(&rep, "a0"), 0);
  usleep(2500 * 1000);
  produce(p, "main", "a1");
  cr_assert(run_until(p, &fb, silenced_thrice, NULL, 2000));
  cr_assert(wait_report(p, &fb, &rep, "f1", 2000));
  cr_assert_eq(report_err(&rep, "f1"), KW_ERR_TIMED_OUT);
  cr_assert(wait_report(p, &fb, &rep, "a1", 2000));
  cr_assert_eq(report_err(&rep, "a1"), 0, "a1 delivered");
  cr_assert_eq(fb_count(&fb, "a1"), 1, "the broker holds a1 %d times", fb_count(&fb, "a1"));
  kw_client_destroy(p);
  fb_stop(&fb);
}

/* Every batch of "main" is written and its answer held back. */
static fb_action script_hold(fake_broker *fb, const char *topic, int32_t partition, const kw_batch *b,
                             int16_t *fail) {
  (void)partition, (void)b, (void)fail;
  int *hold = fb->ud;
  return strcmp(topic, "main") == 0 && *hold ? FB_WRITE_HOLD : FB_ACCEPT;
}

Test(producer_idempotence, in_flight_batch_expires_by_delivery_timeout) {
  fake_broker fb;
  fb_start(&fb);
  int hold = 1;
  fb.ud = &hold;
  fb.script = script_hold;
  reports rep = {0};
  /* The request timeout is far beyond the loop's bound: only delivery.timeout.ms can
   * end a1's wait. */
  static const char *const kv[] = {"request.timeout.ms", "600000", "delivery.timeout.ms", "1000", NULL};
  kw_client *p = producer_to(&fb, &rep, kv);
  produce(p, "main", "a1");
  cr_assert(wait_report(p, &fb, &rep, "a1", 1500), "a1 reported before its request timed out");
  cr_assert_eq(report_err(&rep, "a1"), KW_ERR_TIMED_OUT);
  cr_assert_eq(fb.accepted, 1, "one connection, never dropped");
  cr_assert_eq(fb.produce_requests, 1);
  /* The answer comes after all: a1 was written; the partition goes on in sequence. */
  hold = 0;
  fb_release_held(&fb);
  produce(p, "main", "a2");
  cr_assert(wait_report(p, &fb, &rep, "a2", 1500));
  cr_assert_eq(report_err(&rep, "a2"), 0);
  cr_assert_eq(fb_count(&fb, "a1"), 1);
  cr_assert_eq(fb_count(&fb, "a2"), 1);
  cr_assert_eq(fb.init_pid_requests, 1, "no new producer id: nothing was lost");
  cr_assert_eq(fb.out_of_order, 0);
  kw_client_destroy(p);
  fb_stop(&fb);
}

/* An expired in-flight batch whose answer never comes leaves its partition unresolved:
 * the next batch may not be sent at a sequence the broker could take as a gap, nor
 * resend the expired one. */
Test(producer_idempotence, unanswered_expired_batch_is_not_resent) {
  fake_broker fb;
  fb_start(&fb);
  int hold = 1;
  fb.ud = &hold;
  fb.script = script_hold;
  reports rep = {0};
  /* a2 waits for a1's request to end (at 2 s) and has until about 3 s. */
  static const char *const kv[] = {"request.timeout.ms", "2000", "delivery.timeout.ms", "1500", NULL};
  kw_client *p = producer_to(&fb, &rep, kv);
  produce(p, "main", "a1");
  cr_assert(wait_report(p, &fb, &rep, "a1", 1500));
  cr_assert_eq(report_err(&rep, "a1"), KW_ERR_TIMED_OUT);
  hold = 0;
  produce(p, "main", "a2");
  cr_assert(wait_report(p, &fb, &rep, "a2", 3000));
  cr_assert_eq(report_err(&rep, "a2"), 0, "a2 delivered");
  cr_assert_eq(fb_count(&fb, "a1"), 1, "a1 written once (by its only send)");
  cr_assert_eq(fb_count(&fb, "a2"), 1);
  kw_client_destroy(p);
  fb_stop(&fb);
}

Test(producer_config, transactional_id_is_refused_until_transactions_exist) {
  char err[256] = "";
  kw_config *c = kw_config_new();
  cr_assert_eq(kw_config_set(c, "bootstrap.servers", "127.0.0.1:1", err, sizeof err), KW_OK);
  cr_assert_eq(kw_config_set(c, "transactional.id", "orders-1", err, sizeof err), KW_OK);
  kw_client *p = kw_producer_new(c, err, sizeof err);
  kw_config_free(c);
  if (p) kw_client_destroy(p);
  cr_assert_null(p, "a producer with transactional.id was created: its records would not be transactional");
  cr_assert(strstr(err, "transactional.id") != NULL, "the error names the property: %s", err);
}

/* The broker's size limit, scripted: more than two records, or the record "huge", are
 * too large. */
static fb_action script_size_limit(fake_broker *fb, const char *topic, int32_t partition, const kw_batch *b,
                                   int16_t *fail) {
  (void)fb, (void)topic, (void)partition;
  kw_buf scratch;
  kw_buf_init_grow(&scratch, NULL);
  kw_rd recs;
  bool huge = false;
  cr_assert_eq(kw_batch_records(b, &scratch, 1 << 20, &recs), 0);
  for (int32_t i = 0; i < b->record_count; i++) {
    kw_record rec;
    cr_assert_eq(kw_record_next(&recs, b, &rec), 0);
    if (rec.value.len == 4 && memcmp(rec.value.ptr, "huge", 4) == 0) huge = true;
  }
  kw_buf_free(&scratch);
  if (b->record_count <= 2 && !huge) return FB_ACCEPT;
  *fail = KW_KERR_MESSAGE_TOO_LARGE;
  return FB_FAIL;
}

Test(producer_idempotence, message_too_large_splits_the_batch_in_sequence) {
  fake_broker fb;
  fb_start(&fb);
  fb.script = script_size_limit;
  reports rep = {0};
  kw_client *p = producer_to(&fb, &rep, (const char *const[]){"linger.ms", "50", NULL});
  static const char *values[] = {"r0", "r1", "r2", "r3", "huge", "r5", "r6", "r7", "r8", "r9"};
  for (int i = 0; i < 10; i++) produce(p, "main", values[i]); /* one batch of ten */
  for (int i = 0; i < 10; i++) cr_assert(wait_report(p, &fb, &rep, values[i], 1000), "%s reported", values[i]);
  for (int i = 0; i < 10; i++)
    cr_assert_eq(report_err(&rep, values[i]), i == 4 ? KW_ERR_MSG_SIZE_TOO_LARGE : 0, "%s: %s", values[i],
                 kw_errname(report_err(&rep, values[i])));
  /* Every other record written once, in produce order. */
  cr_assert_eq(fb.n_log, 9);
  for (int i = 0, k = 0; i < 10; i++)
    if (i != 4) cr_assert_str_eq(fb.log[k++].value, values[i]);
  kw_client_destroy(p);
  fb_stop(&fb);
}
