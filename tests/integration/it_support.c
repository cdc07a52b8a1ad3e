/* Integration test helpers (see it_support.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/kw_clock.h"
#include "tests/integration/it_support.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include "kwire/error.h"
#include "proto/kw_msg.h"

void it_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
  fprintf(stderr, "FAIL %s:%d: %s: ", file, line, cond);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

void it_bootstrap(char *host, int hostlen, int *port) {
  char line[512] = {0};
  const char *env = getenv("KW_BOOTSTRAP");
  if (env && *env) {
    snprintf(line, sizeof line, "%s", env);
  } else {
    const char *dir = getenv("KW_BROKER_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/bootstrap", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    IT_CHECK(f != NULL, "no broker running: %s missing (start one with tests/broker/kafka start, "
                        "or run the test through ctest, whose fixture does)", path);
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
  }
  line[strcspn(line, ",\r\n")] = 0;
  char *colon = strrchr(line, ':');
  IT_CHECK(colon != NULL, "bootstrap address '%s' is not host:port", line);
  *colon = 0;
  snprintf(host, (size_t)hostlen, "%s", line);
  *port = atoi(colon + 1);
}

int it_conn_wait(kw_conn *c, bool (*done)(kw_conn *c, void *ud), void *ud, int timeout_ms) {
  int64_t end = kw_now_ms() + timeout_ms;
  while (!done(c, ud)) {
    int64_t now = kw_now_ms();
    if (kw_conn_get_state(c) == KW_CONN_DOWN)
      return kw_conn_last_error(c) ? kw_conn_last_error(c) : KW_ERR_DISCONNECTED;
    if (now >= end) return KW_ERR_TIMED_OUT;
    int64_t wake = kw_conn_deadline(c);
    int64_t wait = (wake < end ? wake : end) - now;
    struct pollfd p = {kw_conn_fd(c), kw_conn_events(c), 0};
    int n = poll(&p, 1, (int)(wait < 0 ? 0 : wait > 1000 ? 1000 : wait));
    kw_conn_step(c, n > 0 ? p.revents : 0, kw_now_ms());
  }
  return 0;
}

static bool is_ready(kw_conn *c, void *ud) {
  (void)ud;
  return kw_conn_get_state(c) == KW_CONN_READY;
}

kw_conn *it_connect(int timeout_ms) {
  char host[256];
  int port;
  it_bootstrap(host, sizeof host, &port);
  kw_conn_config cfg = {.host = host, .port = port, .client_id = "kwire-it"};
  kw_conn *c = kw_conn_new(&cfg);
  IT_CHECK(c != NULL, "out of memory");
  int err = kw_conn_connect(c, kw_now_ms());
  if (!err) err = it_conn_wait(c, is_ready, NULL, timeout_ms);
  IT_CHECK(err == 0, "broker %s:%d not ready within %d ms: %s", host, port, timeout_ms, kw_strerror(err));
  return c;
}

typedef struct call {
  bool done;
  int err;
  void *resp;
  kw_arena *arena;
} call;

static void on_answer(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  call *k = ud;
  k->done = true;
  k->err = err ? err : kw_response_decode(key, ver, body, k->arena, k->resp);
  if (!k->err && kw_rd_left(body)) k->err = KW_ERR_MALFORMED; /* we must read every byte */
}

static bool call_done(kw_conn *c, void *ud) {
  (void)c;
  return ((call *)ud)->done;
}

int it_call(kw_conn *c, int16_t api_key, const void *req, void *resp, kw_arena *arena) {
  call k = {false, 0, resp, arena};
  int v = kw_conn_version(c, api_key);
  IT_CHECK(v >= 0, "API %d: no common version", api_key);
  int err = kw_conn_request(c, api_key, v, req, on_answer, &k, kw_now_ms());
  IT_CHECK(err == 0, "API %d v%d: request not queued: %s", api_key, v, kw_strerror(err));
  err = it_conn_wait(c, call_done, &k, 30000);
  IT_CHECK(err == 0, "API %d v%d: no answer: %s", api_key, v, kw_strerror(err));
  IT_CHECK(k.err == 0, "API %d v%d: answer not decoded: %s", api_key, v, kw_strerror(k.err));
  return v;
}

kw_uuid it_create_topic(kw_conn *c, const char *topic, int32_t partitions) {
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_create_topics_req_creatable_topic t;
  kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ_CREATABLE_TOPIC, &t);
  t.name = (kw_slice){(const uint8_t *)topic, (int32_t)strlen(topic)};
  t.num_partitions = partitions;
  t.replication_factor = 1;
  kw_create_topics_req req;
  kw_msg_init(KW_SCHEMA_CREATE_TOPICS_REQ, &req);
  req.topics = &t;
  req.n_topics = 1;
  req.timeout_ms = 15000;
  kw_create_topics_resp resp;
  it_call(c, KW_API_CREATE_TOPICS, &req, &resp, &a);
  IT_CHECK(resp.n_topics == 1 && resp.topics[0].error_code == 0, "CreateTopics %s: error %d", topic,
           resp.n_topics == 1 ? resp.topics[0].error_code : -999);
  kw_arena_reset(&a);
  for (int attempt = 0; attempt < 150; attempt++) {
    kw_metadata_req_topic mt;
    kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &mt);
    mt.name = t.name;
    kw_metadata_req mreq;
    kw_msg_init(KW_SCHEMA_METADATA_REQ, &mreq);
    mreq.topics = &mt;
    mreq.n_topics = 1;
    kw_metadata_resp md;
    it_call(c, KW_API_METADATA, &mreq, &md, &a);
    bool ready = md.n_topics == 1 && md.topics[0].error_code == 0 && md.topics[0].n_partitions == partitions;
    for (int32_t i = 0; ready && i < md.topics[0].n_partitions; i++)
      if (md.topics[0].partitions[i].leader_id < 0) ready = false;
    if (ready) {
      kw_uuid id = md.topics[0].topic_id;
      kw_arena_reset(&a);
      return id;
    }
    kw_arena_reset(&a);
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
  }
  IT_CHECK(0, "topic %s has no leaders after 15 s", topic);
  return (kw_uuid){{0}};
}

const char *it_bootstrap_string(void) {
  static char buf[300];
  char host[256];
  int port;
  it_bootstrap(host, sizeof host, &port);
  snprintf(buf, sizeof buf, "%s:%d", host, port);
  return buf;
}

void it_count_delivery(void *ud, const kw_delivery_report *dr) {
  it_tally *t = ud;
  if (dr->err) {
    t->failed++;
    t->last_err = dr->err;
  } else {
    t->ok++;
    t->last_offset = dr->offset;
  }
}
