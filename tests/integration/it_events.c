/* The event layer against the real broker: a transient failure is retried and then
 * committed; a poison event is dead-lettered with every header and the group moves on;
 * v1 and v2 handlers each get their version; malformed JSON is dead-lettered; a
 * consumer killed mid-processing has its events redelivered and the idempotent helper
 * keeps them from being applied twice; CloudEvents binary and structured events
 * round-trip through Kafka. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "event/kw_envelope.h"
#include "proto/kw_records.h"
#include "tests/integration/it_support.h"

static kw_config *conf_for(const char *group) {
  char err[256];
  kw_config *c = kw_config_new();
  IT_CHECK(kw_config_set(c, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  if (getenv("KW_DEBUG")) kw_config_set(c, "debug", getenv("KW_DEBUG"), err, sizeof err);
  if (group) {
    kw_config_set(c, "group.id", group, err, sizeof err);
    kw_config_set(c, "auto.offset.reset", "earliest", err, sizeof err);
    kw_config_set(c, "auto.commit.interval.ms", "100", err, sizeof err);
    kw_config_set(c, "heartbeat.interval.ms", "300", err, sizeof err);
    kw_config_set(c, "session.timeout.ms", "6000", err, sizeof err);
    /* the router stores each offset itself, once its event is finished */
    kw_config_set(c, "enable.auto.offset.store", "false", err, sizeof err);
  }
  return c;
}

static kw_client *new_producer(void) {
  kw_config *c = conf_for(NULL);
  char err[256];
  kw_client *p = kw_producer_new(c, err, sizeof err);
  IT_CHECK(p != NULL, "%s", err);
  kw_config_free(c);
  return p;
}

static kw_client *new_group_consumer(const char *group, const char *topic) {
  kw_config *c = conf_for(group);
  char err[256];
  kw_client *k = kw_consumer_new(c, err, sizeof err);
  IT_CHECK(k != NULL, "%s", err);
  kw_config_free(c);
  const char *topics[] = {topic};
  IT_CHECK(kw_consumer_subscribe(k, topics, 1) == 0, "subscribe");
  return k;
}

/* ---- handlers ---- */

typedef struct tally {
  int v1, v2, flaky_attempts, flaky_done, after_poison;
} tally;

static kw_event_result on_created_v1(void *ud, const kw_event *ev, char *error, size_t n) {
  tally *t = ud;
  if (strstr(ev->payload, "\"poison\":true")) {
    snprintf(error, n, "cannot ship to the moon");
    return KW_EVENT_FAIL;
  }
  IT_CHECK(ev->event_version == 1, "v1 handler got v%d", ev->event_version);
  t->v1++;
  if (strstr(ev->payload, "\"after_poison\":true")) t->after_poison++;
  return KW_EVENT_OK;
}

static kw_event_result on_created_v2(void *ud, const kw_event *ev, char *error, size_t n) {
  (void)error, (void)n;
  IT_CHECK(ev->event_version == 2, "v2 handler got v%d", ev->event_version);
  ((tally *)ud)->v2++;
  return KW_EVENT_OK;
}

static kw_event_result on_flaky(void *ud, const kw_event *ev, char *error, size_t n) {
  tally *t = ud;
  t->flaky_attempts++;
  if (ev->attempt < 3) {
    snprintf(error, n, "downstream busy");
    return KW_EVENT_RETRY;
  }
  t->flaky_done++;
  return KW_EVENT_OK;
}

static int run_until(kw_event_router *r, bool (*done)(void *), void *ud, int timeout_ms) {
  int64_t end = kw_now_ms() + timeout_ms;
  while (kw_now_ms() < end) {
    int rc = kw_event_router_run(r, 50);
    IT_CHECK(rc >= 0, "router: %s", kw_strerror(rc));
    if (done(ud) && kw_event_router_pending(r) == 0) return 1;
  }
  return 0;
}

static bool all_handled(void *ud) {
  tally *t = ud;
  return t->v1 >= 3 && t->v2 >= 2 && t->flaky_done >= 1 && t->after_poison >= 1;
}

/* Reads every record of a topic from the beginning (assign mode). */
static int read_all(const char *topic, kw_message *out, int max, char *store, size_t store_cap) {
  kw_config *c = conf_for(NULL);
  char err[256];
  kw_client *k = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  kw_consumer_assign(k, topic, 0, KW_OFFSET_BEGINNING);
  int n = 0;
  size_t used = 0;
  int64_t end = kw_now_ms() + 5000;
  kw_message m;
  while (n < max && kw_now_ms() < end) {
    if (kw_consumer_poll(k, &m, 100) != 1 || m.err) continue;
    /* copy the record's bytes out: the message points into the consumer's buffer */
    size_t need = m.key_len + m.value_len + m.headers_len_;
    IT_CHECK(used + need <= store_cap, "store");
    char *p = store + used;
    memcpy(p, m.key, m.key_len);
    memcpy(p + m.key_len, m.value, m.value_len);
    memcpy(p + m.key_len + m.value_len, m.headers_, m.headers_len_);
    out[n] = m;
    out[n].key = m.key ? p : NULL;
    out[n].value = m.value ? p + m.key_len : NULL;
    out[n].headers_ = p + m.key_len + m.value_len;
    used += need;
    n++;
  }
  kw_client_destroy(k);
  return n;
}

static const char *header(const kw_message *m, const char *name, char *buf, size_t n) {
  for (int i = 0; i < m->n_headers; i++) {
    const char *k;
    const void *v;
    size_t kl, vl;
    if (kw_message_header(m, i, &k, &kl, &v, &vl) == 0 && kl == strlen(name) && memcmp(k, name, kl) == 0) {
      snprintf(buf, n, "%.*s", (int)vl, v ? (const char *)v : "");
      return buf;
    }
  }
  return NULL;
}

static void router_scenarios(void) {
  char topic[64], dlq[80], group[64];
  snprintf(topic, sizeof topic, "it-events-%d", (int)getpid());
  snprintf(dlq, sizeof dlq, "%s.dlq", topic);
  snprintf(group, sizeof group, "it-events-svc-%d", (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  it_create_topic(admin, dlq, 1);
  kw_conn_free(admin);

  kw_client *p = new_producer();
  IT_CHECK(kw_event_publish(p, topic, "order-1", "OrderCreated", 1, "{\"order\":1}", NULL, NULL) == 0, "pub");
  IT_CHECK(kw_event_publish(p, topic, "order-2", "OrderCreated", 2, "{\"order\":2,\"currency\":\"EUR\"}", NULL, NULL) == 0,
           "pub");
  IT_CHECK(kw_event_publish(p, topic, "order-3", "PaymentFlaky", 1, "{\"order\":3}", NULL, NULL) == 0, "pub");
  IT_CHECK(kw_event_publish(p, topic, "order-4", "OrderCreated", 1, "{\"order\":4,\"poison\":true}", NULL, NULL) == 0,
           "pub");
  IT_CHECK(kw_produce(p, topic, 0, "order-5", 7, "{\"event_type\":", 14, NULL, 0, 0, NULL) == 0, "malformed");
  IT_CHECK(kw_event_publish(p, topic, "order-6", "OrderCreated", 2, "{\"order\":6}", NULL, NULL) == 0, "pub");
  IT_CHECK(kw_event_publish(p, topic, "order-7", "OrderCreated", 1, "{\"order\":7,\"after_poison\":true}", NULL, NULL) == 0,
           "pub");
  IT_CHECK(kw_event_publish(p, topic, "order-8", "OrderCreated", 1, "{\"order\":8}", NULL, NULL) == 0, "pub");
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");

  kw_client *c = new_group_consumer(group, topic);
  char err[256];
  kw_event_router *r = kw_event_router_new(c, err, sizeof err);
  IT_CHECK(r != NULL, "router: %s", err);
  tally t = {0};
  kw_event_route(r, "OrderCreated", 1, 1, on_created_v1, &t);
  kw_event_route(r, "OrderCreated", 2, 2, on_created_v2, &t);
  kw_event_route(r, "PaymentFlaky", 1, 1, on_flaky, &t);
  kw_event_router_set_retry(r, 5, 50, 200);
  IT_CHECK(run_until(r, all_handled, &t, 30000), "not everything handled: v1 %d v2 %d flaky %d/%d", t.v1, t.v2,
           t.flaky_done, t.flaky_attempts);
  printf("handlers: v1 got %d events, v2 got %d; the flaky one succeeded on attempt %d\n", t.v1, t.v2,
         t.flaky_attempts);
  IT_CHECK(t.v1 == 3 && t.v2 == 2 && t.flaky_attempts == 3, "versions or retries");
  IT_CHECK(kw_consumer_commit(c, 10000) == 0, "commit");
  int64_t committed = -1;
  IT_CHECK(kw_consumer_committed(c, topic, 0, &committed, 10000) == 0 && committed == 8,
           "committed offset %lld: everything up to the last event, after the retry and the dead letters",
           (long long)committed);
  char stats[2048];
  kw_event_router_stats_json(r, stats, sizeof stats);
  printf("committed offset %lld; stats %s\n", (long long)committed, stats);
  IT_CHECK(strstr(stats, "\"dead_lettered\":2") && strstr(stats, "\"retried\":2") && strstr(stats, "\"malformed\":1"),
           "stats");
  kw_event_router_free(r);
  kw_client_destroy(c);
  kw_client_destroy(p);

  static kw_message dl[8];
  static char store[1 << 16];
  int n = read_all(dlq, dl, 8, store, sizeof store);
  IT_CHECK(n == 2, "%d dead letters", n);
  char buf[256];
  static const char *const need[] = {"kwire.dlq.original.topic", "kwire.dlq.original.partition",
                                     "kwire.dlq.original.offset", "kwire.dlq.original.key", "kwire.dlq.error",
                                     "kwire.dlq.attempts", "kwire.dlq.first.failure", "kwire.dlq.last.failure"};
  for (int i = 0; i < n; i++)
    for (size_t h = 0; h < sizeof need / sizeof need[0]; h++)
      IT_CHECK(header(&dl[i], need[h], buf, sizeof buf) != NULL, "dead letter %d lacks %s", i, need[h]);
  IT_CHECK(strcmp(header(&dl[0], "kwire.dlq.original.offset", buf, sizeof buf), "3") == 0, "poison at offset 3");
  IT_CHECK(strstr(header(&dl[0], "kwire.dlq.error", buf, sizeof buf), "moon") != NULL, "poison's reason");
  IT_CHECK(strcmp(header(&dl[0], "kwire.dlq.original.topic", buf, sizeof buf), topic) == 0, "original topic");
  IT_CHECK(dl[0].key_len == 7 && memcmp(dl[0].key, "order-4", 7) == 0, "the dead letter keeps the key");
  IT_CHECK(strstr(header(&dl[1], "kwire.dlq.error", buf, sizeof buf), "malformed") != NULL, "malformed reason: %s",
           buf);
  IT_CHECK(dl[1].value_len == 14 && memcmp(dl[1].value, "{\"event_type\":", 14) == 0, "the bad bytes verbatim");
  printf("dead letters: the poison event (offset 3, \"%s\") and the malformed record, each with all 8 headers\n",
         header(&dl[0], "kwire.dlq.error", buf, sizeof buf));
}

/* ---- keys of any length ---- */

/* The aggregate id is the key, and ids are not always short (a URL, a composite key):
 * the handler must see it whole, not cut at some buffer size. */
typedef struct key_check {
  const char *want;
  int events, intact;
} key_check;

static kw_event_result on_keyed(void *ud, const kw_event *ev, char *error, size_t n) {
  key_check *k = ud;
  (void)error, (void)n;
  k->events++;
  if (ev->key && ev->key_len == strlen(k->want) && strlen(ev->key) == ev->key_len && strcmp(ev->key, k->want) == 0)
    k->intact++;
  else printf("handler got a key of %zu bytes (key_len %zu), want %zu\n", ev->key ? strlen(ev->key) : 0, ev->key_len,
              strlen(k->want));
  return KW_EVENT_OK;
}

static bool key_seen(void *ud) { return ((key_check *)ud)->events >= 1; }

static void long_key_scenario(void) {
  char topic[64], group[64];
  snprintf(topic, sizeof topic, "it-events-key-%d", (int)getpid());
  snprintf(group, sizeof group, "it-events-key-svc-%d", (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  kw_conn_free(admin);
  static char key[1001];
  for (int i = 0; i < 1000; i++) key[i] = (char)('a' + i % 26);
  kw_client *p = new_producer();
  IT_CHECK(kw_event_publish(p, topic, key, "OrderCreated", 1, "{\"order\":1}", NULL, NULL) == 0, "pub");
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);

  kw_client *c = new_group_consumer(group, topic);
  char err[256];
  kw_event_router *r = kw_event_router_new(c, err, sizeof err);
  IT_CHECK(r != NULL, "router: %s", err);
  key_check k = {key, 0, 0};
  kw_event_route(r, "OrderCreated", 1, 1, on_keyed, &k);
  IT_CHECK(run_until(r, key_seen, &k, 30000), "the event never came");
  IT_CHECK(k.events == 1 && k.intact == 1, "the handler did not get the 1000-byte key whole");
  printf("a 1000-byte key reached the handler whole\n");
  kw_event_router_free(r);
  kw_client_destroy(c);
}

/* ---- a router in the application's own event loop ---- */

/* The router driven only through kw_event_router_fds / _next_timeout / _step from this
 * test's own poll() loop, as an application with an event loop would: its events are
 * handled, and a poison event's dead letter is acknowledged, which needs the dead-letter
 * producer's sockets in the set (its connection never completes without them). */
static void own_loop_scenario(void) {
  char topic[64], dlq[80], group[64];
  snprintf(topic, sizeof topic, "it-events-loop-%d", (int)getpid());
  snprintf(dlq, sizeof dlq, "%s.dlq", topic);
  snprintf(group, sizeof group, "it-events-loop-svc-%d", (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  it_create_topic(admin, dlq, 1);
  kw_conn_free(admin);
  kw_client *p = new_producer();
  for (int i = 0; i < 6; i++) {
    char payload[64];
    snprintf(payload, sizeof payload, "{\"order\":%d%s}", i, i == 2 ? ",\"poison\":true" : "");
    IT_CHECK(kw_event_publish(p, topic, "order", "OrderCreated", 1, payload, NULL, NULL) == 0, "pub");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);

  kw_client *c = new_group_consumer(group, topic);
  char err[256];
  kw_event_router *r = kw_event_router_new(c, err, sizeof err);
  IT_CHECK(r != NULL, "router: %s", err);
  tally t = {0};
  kw_event_route(r, "OrderCreated", 1, 1, on_created_v1, &t);
  enum { MAX_FDS = 64 };
  kw_pollfd fds[MAX_FDS];
  struct pollfd pfds[MAX_FDS];
  int finished = 0, most_fds = 0;
  int64_t end = kw_now_ms() + 30000;
  while (kw_now_ms() < end && !(t.v1 == 5 && finished == 6 && kw_event_router_pending(r) == 0)) {
    int n = kw_event_router_fds(r, fds, MAX_FDS);
    IT_CHECK(n >= 0 && n <= MAX_FDS, "%d sockets", n);
    for (int i = 0; i < n; i++) pfds[i] = (struct pollfd){fds[i].fd, fds[i].events, 0};
    int wait = kw_event_router_next_timeout(r);
    int64_t left = end - kw_now_ms();
    if (wait < 0 || wait > left) wait = left > 0 ? (int)left : 0;
    int ready = poll(pfds, (nfds_t)n, wait);
    IT_CHECK(ready >= 0, "poll");
    for (int i = 0; i < n; i++) fds[i].revents = pfds[i].revents;
    int rc = kw_event_router_step(r, fds, n);
    IT_CHECK(rc >= 0, "step: %s", kw_strerror(rc));
    finished += rc;
    if (n > most_fds) most_fds = n;
  }
  char stats[2048];
  kw_event_router_stats_json(r, stats, sizeof stats);
  printf("own loop: %d events handled, %d finished, %d pending, up to %d sockets watched; stats %s\n", t.v1, finished,
         kw_event_router_pending(r), most_fds, stats);
  IT_CHECK(t.v1 == 5, "handled %d of 5 good events", t.v1);
  IT_CHECK(kw_event_router_pending(r) == 0 && finished == 6,
           "the poison event's dead letter was not acknowledged (%d pending, %d finished)", kw_event_router_pending(r),
           finished);
  IT_CHECK(strstr(stats, "\"dead_lettered\":1,") && strstr(stats, "\"handled\":5,"), "stats: %s", stats);
  IT_CHECK(kw_consumer_commit(c, 10000) == 0, "commit");
  int64_t committed = -1;
  IT_CHECK(kw_consumer_committed(c, topic, 0, &committed, 10000) == 0 && committed == 6,
           "committed offset %lld: past every event, the dead-lettered one included", (long long)committed);
  kw_event_router_free(r);
  kw_client_destroy(c);
}

/* ---- a consumer killed mid-processing ---- */

/* The service's "database": applied event ids appended to a file (what survives a crash). */
static int test_pid; /* the parent's pid: the child and the parent share one file */

static const char *applied_path(void) {
  static char path[256];
  snprintf(path, sizeof path, "%s/it-events-applied-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", test_pid);
  return path;
}

typedef struct applier {
  kw_dedup *seen; /* ids already applied, loaded from the file */
  int applied, skipped;
  FILE *log;
  int slow_after; /* a child dawdles after this many, so it can be killed mid-way */
} applier;

static kw_event_result apply(void *ud, const kw_event *ev, char *error, size_t n) {
  applier *a = ud;
  (void)error, (void)n;
  if (kw_dedup_check_and_add(a->seen, ev->event_id) == 1) { /* redelivered, already applied */
    a->skipped++;
    return KW_EVENT_OK;
  }
  fprintf(a->log, "%s\n", ev->event_id);
  fflush(a->log);
  a->applied++;
  if (a->slow_after && a->applied >= a->slow_after) nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
  return KW_EVENT_OK;
}

static void consume_and_apply(const char *group, const char *topic, int slow_after, int want, applier *a) {
  kw_client *c = new_group_consumer(group, topic);
  char err[256];
  kw_event_router *r = kw_event_router_new(c, err, sizeof err);
  IT_CHECK(r != NULL, "%s", err);
  kw_event_route(r, "Tick", 1, 1, apply, a);
  a->slow_after = slow_after;
  int64_t end = kw_now_ms() + 60000;
  while (a->applied + a->skipped < want && kw_now_ms() < end) IT_CHECK(kw_event_router_run(r, 50) >= 0, "router");
  kw_consumer_commit(c, 10000);
  kw_event_router_free(r);
  kw_client_destroy(c);
}

static void killed_consumer_scenario(void) {
  char topic[64], group[64];
  snprintf(topic, sizeof topic, "it-events-kill-%d", (int)getpid());
  snprintf(group, sizeof group, "it-events-kill-svc-%d", (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  kw_conn_free(admin);
  kw_client *p = new_producer();
  enum { N = 200 };
  for (int i = 0; i < N; i++) {
    char payload[32];
    snprintf(payload, sizeof payload, "{\"n\":%d}", i);
    IT_CHECK(kw_event_publish(p, topic, "clock", "Tick", 1, payload, NULL, NULL) == 0, "pub");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
  remove(applied_path());

  pid_t child = fork();
  IT_CHECK(child >= 0, "fork");
  if (child == 0) { /* the first instance of the service: applies slowly until killed */
    applier a = {kw_dedup_new(10000), 0, 0, fopen(applied_path(), "a"), 30};
    consume_and_apply(group, topic, 30, N, &a);
    _exit(0);
  }
  /* Kill it once it applied some events (commits lag behind: some will come again). */
  int64_t end = kw_now_ms() + 30000;
  int lines = 0;
  while (kw_now_ms() < end && lines < 60) {
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    FILE *f = fopen(applied_path(), "r");
    char line[64];
    lines = 0;
    while (f && fgets(line, sizeof line, f)) lines++;
    if (f) fclose(f);
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  printf("killed the first consumer after it applied %d events\n", lines);
  IT_CHECK(lines >= 60 && lines < N, "the first consumer applied %d", lines);

  /* The second instance: the ids the first one applied are its idempotency memory. */
  applier b = {kw_dedup_new(10000), 0, 0, fopen(applied_path(), "a"), 0};
  FILE *f = fopen(applied_path(), "r");
  char line[64];
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    kw_dedup_check_and_add(b.seen, line);
  }
  if (f) fclose(f);
  consume_and_apply(group, topic, 0, N - lines, &b);
  /* it also sees what was applied but not committed: count those too */
  int total = 0, dups = 0;
  kw_dedup *check = kw_dedup_new(10000);
  f = fopen(applied_path(), "r");
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    total++;
    dups += kw_dedup_check_and_add(check, line);
  }
  if (f) fclose(f);
  printf("second consumer: %d redelivered events skipped by the idempotent helper, %d applied; %d applied in all, "
         "%d applied twice\n",
         b.skipped, b.applied, total, dups);
  IT_CHECK(b.skipped > 0, "no redelivery happened: the test did not test anything");
  IT_CHECK(total == N && dups == 0, "applied %d (want %d), %d twice", total, N, dups);
  kw_dedup_free(check);
  kw_dedup_free(b.seen);
  fclose(b.log);
  remove(applied_path());
}

/* ---- CloudEvents through Kafka ---- */

static void cloudevents_scenario(void) {
  char topic[64];
  snprintf(topic, sizeof topic, "it-events-ce-%d", (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  kw_conn_free(admin);
  kw_envelope e;
  memset(&e, 0, sizeof e);
  snprintf(e.event_type, sizeof e.event_type, "OrderCreated");
  snprintf(e.event_id, sizeof e.event_id, "0b6c3e3e-9d1a-4c53-9d51-8a4f2f0e8a11");
  e.event_version = 2;
  e.timestamp_ms = 1764309046123;
  const char *payload = "{\"order\":42}";
  e.payload = (kw_slice){(const uint8_t *)payload, (int32_t)strlen(payload)};

  kw_client *p = new_producer();
  kw_ce_header rh[7];
  char scratch[KW_CE_SCRATCH];
  int nh = kw_cloudevents_to_headers(&e, "/checkout", rh, scratch, sizeof scratch);
  IT_CHECK(nh == 7, "binary headers %d", nh);
  kw_header h[7];
  char names[7][32];
  for (int i = 0; i < nh; i++) {
    snprintf(names[i], sizeof names[i], "%.*s", (int)rh[i].key.len, (const char *)rh[i].key.ptr);
    h[i] = (kw_header){names[i], rh[i].value.ptr, (size_t)rh[i].value.len};
  }
  IT_CHECK(kw_produce(p, topic, 0, "order-42", 8, payload, strlen(payload), h, nh, 0, NULL) == 0, "binary");
  kw_buf sb;
  kw_buf_init_grow(&sb, NULL);
  IT_CHECK(kw_cloudevents_structured_encode(&sb, &e, "/checkout") == 0, "structured encode");
  kw_header ct = {"content-type", KW_CE_CONTENT_TYPE, strlen(KW_CE_CONTENT_TYPE)};
  IT_CHECK(kw_produce(p, topic, 0, "order-42", 8, sb.data, sb.len, &ct, 1, 0, NULL) == 0, "structured");
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
  kw_buf_free(&sb);

  static kw_message got[2];
  static char store[1 << 16];
  IT_CHECK(read_all(topic, got, 2, store, sizeof store) == 2, "read back");
  kw_ce_header back[16];
  int nb = 0;
  kw_rd hr;
  kw_rd_init(&hr, got[0].headers_, got[0].headers_len_);
  for (; nb < got[0].n_headers && nb < 16; nb++) {
    kw_record_header rec;
    IT_CHECK(kw_record_header_next(&hr, &rec) == 0, "header");
    back[nb] = (kw_ce_header){rec.key, rec.value};
  }
  kw_envelope bin, st;
  char source[64], reason[128];
  IT_CHECK(kw_cloudevents_from_headers(back, nb, (kw_slice){got[0].value, (int32_t)got[0].value_len}, &bin, source,
                                       sizeof source, reason, sizeof reason) == 0,
           "binary decode: %s", reason);
  IT_CHECK(strcmp(bin.event_type, "OrderCreated") == 0 && strcmp(bin.event_id, e.event_id) == 0 &&
               bin.event_version == 2 && bin.timestamp_ms == e.timestamp_ms && strcmp(source, "/checkout") == 0 &&
               bin.payload.len == e.payload.len && memcmp(bin.payload.ptr, payload, (size_t)bin.payload.len) == 0,
           "binary mode round trip");
  IT_CHECK(kw_cloudevents_structured_decode((kw_slice){got[1].value, (int32_t)got[1].value_len}, &st, source,
                                            sizeof source, reason, sizeof reason) == 0,
           "structured decode: %s", reason);
  IT_CHECK(strcmp(st.event_type, "OrderCreated") == 0 && strcmp(st.event_id, e.event_id) == 0 &&
               st.event_version == 2 && st.timestamp_ms == e.timestamp_ms && st.payload.len == e.payload.len &&
               memcmp(st.payload.ptr, payload, (size_t)st.payload.len) == 0,
           "structured mode round trip");
  printf("CloudEvents: binary (%d ce_ headers) and structured events round-trip through Kafka\n", nb);
}

int main(void) {
  test_pid = (int)getpid();
  long_key_scenario();
  own_loop_scenario();
  router_scenarios();
  killed_consumer_scenario();
  cloudevents_scenario();
  printf("PASS it_events\n");
  return 0;
}
