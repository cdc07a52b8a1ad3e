/* The consumer against the real broker where issue 14 found it wanting:
 *
 *  - a read_committed consumer resetting to the end while a transaction is open starts
 *    at the last stable offset, so once it commits every record of it is delivered
 *    (ListOffsets with replica id -1; the Java producer tests/data/txn/TxnPeer.java
 *    holds the transaction open);
 *  - 20 transactional producers with transactions open at once, all aborted: none of
 *    their records is delivered under read_committed;
 *  - kw_consumer_commit and kw_consumer_close return when their answers come: no
 *    poll(2) inside them ends by its timeout (counted by wrapping poll below);
 *  - kw_consumer_watermarks while the consumer's fetch is held by the broker sends no
 *    further fetch ahead of its own requests (counted in Fetch requests). */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "client/kw_client_int.h"
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

/* ---- poll(2), counted: kwire's only waits; this definition replaces libc's in the
 * test executable (the library is linked in statically). ---- */

static bool counting;
static int polls, polls_timed_out;
static bool last_timed_out; /* the last poll(2) counted ended by its timeout, not by I/O */

int poll(struct pollfd *fds, nfds_t n, int timeout) {
  struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
  int r = ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
  if (counting) {
    polls++;
    last_timed_out = r == 0 && timeout > 0;
    if (last_timed_out) polls_timed_out++;
  }
  return r;
}

static kw_client *consumer(const char *group, const char *isolation, const char *wait_ms) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  IT_CHECK(kw_config_set(conf, "isolation.level", isolation, err, sizeof err) == 0, "%s", err);
  IT_CHECK(kw_config_set(conf, "fetch.wait.max.ms", wait_ms, err, sizeof err) == 0, "%s", err);
  if (group) {
    IT_CHECK(kw_config_set(conf, "group.id", group, err, sizeof err) == 0, "%s", err);
    /* no timer of the group falls due while commit and close are counted */
    kw_config_set(conf, "session.timeout.ms", "45000", err, sizeof err);
    kw_config_set(conf, "heartbeat.interval.ms", "15000", err, sizeof err);
    kw_config_set(conf, "auto.commit.interval.ms", "60000", err, sizeof err);
  }
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  kw_client *c = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(c != NULL, "consumer: %s", err);
  return c;
}

/* Starts TxnPeer (MODE TOPIC N [GOFILE]); its stdout is returned for reading. */
static FILE *java_peer(const char *mode, const char *topic, int n, const char *gofile, char *log, size_t loglen) {
  const char *script = getenv("KW_BROKER_SCRIPT"), *data = getenv("KW_TEST_DATA_DIR");
  IT_CHECK(script && *script && data && *data, "KW_BROKER_SCRIPT / KW_TEST_DATA_DIR not set (ctest sets them)");
  snprintf(log, loglen, "/tmp/it_fetch_edges.java.%d.%s.log", (int)getpid(), mode); /* kept on failure */
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "java -cp \"$(%s fetch)/*\" %s/txn/TxnPeer.java %s %s %s %d %s 2>%s", script, data, mode,
           it_bootstrap_string(), topic, n, gofile ? gofile : "", log);
  FILE *f = popen(cmd, "r");
  IT_CHECK(f != NULL, "popen java");
  return f;
}

static void make_topic(const char *topic) {
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  kw_conn_free(admin);
}

/* ---- issue 14 item 1: reset to the end with a transaction open ---- */

#define N_OPEN 5

static char go_file[128]; /* its existence tells TxnPeer to commit */

/* A failing check exits: the Java producer must not wait for a cue that never comes
 * (its stdout would keep ctest waiting). */
static void give_cue(void) {
  FILE *g = go_file[0] ? fopen(go_file, "w") : NULL;
  if (g) fclose(g);
}

static void reset_to_end_with_open_transaction(void) {
  char topic[64], log[128], line[256];
  const char *go = go_file;
  snprintf(topic, sizeof topic, "it-fe-open-%d", (int)getpid());
  snprintf(go_file, sizeof go_file, "/tmp/it_fetch_edges.go.%d", (int)getpid());
  unlink(go);
  atexit(give_cue);
  make_topic(topic);
  FILE *f = java_peer("hold", topic, N_OPEN, go, log, sizeof log);
  int64_t offsets[N_OPEN];
  int n = 0;
  bool open = false;
  while (!open && fgets(line, sizeof line, f)) {
    long long off;
    char v[16];
    if (strncmp(line, "OPEN", 4) == 0) open = true;
    else if (sscanf(line, "%15s %lld", v, &off) == 2 && n < N_OPEN) offsets[n++] = off;
  }
  IT_CHECK(open && n == N_OPEN, "TxnPeer hold: %d records, open %d (see %s)", n, open, log);

  kw_client *c = consumer(NULL, "read_committed", "100");
  IT_CHECK(kw_consumer_assign(c, topic, 0, KW_OFFSET_END) == 0, "assign");
  kw_message m;
  for (int64_t end = kw_now_ms() + 15000; kw_consumer_position(c, topic, 0) < 0 && kw_now_ms() < end;)
    IT_CHECK(kw_consumer_poll(c, &m, 100) == 0, "a record while the transaction is open");
  int64_t start = kw_consumer_position(c, topic, 0);
  int64_t low = -1, high = -1;
  IT_CHECK(kw_consumer_watermarks(c, topic, 0, &low, &high, 10000) == 0, "watermarks");
  printf("open transaction at offsets %lld..%lld: read_committed reset to the end starts at %lld; watermarks %lld..%lld\n",
         (long long)offsets[0], (long long)offsets[N_OPEN - 1], (long long)start, (long long)low, (long long)high);
  IT_CHECK(start == offsets[0], "reset to the end started at %lld, not at the open transaction's first offset %lld",
           (long long)start, (long long)offsets[0]);
  /* A read_committed consumer's end is the last stable offset: the open transaction's
   * first record, as Java's endOffsets; a read_uncommitted one's is the high watermark. */
  IT_CHECK(high == offsets[0], "read_committed watermarks' high %lld, not the last stable offset %lld",
           (long long)high, (long long)offsets[0]);
  kw_client *u = consumer(NULL, "read_uncommitted", "100");
  IT_CHECK(kw_consumer_watermarks(u, topic, 0, &low, &high, 10000) == 0, "watermarks");
  IT_CHECK(high == offsets[N_OPEN - 1] + 1, "read_uncommitted watermarks' high %lld, not the high watermark %lld",
           (long long)high, (long long)offsets[N_OPEN - 1] + 1);
  kw_client_destroy(u);

  give_cue(); /* commit now */
  bool committed = false;
  while (!committed && fgets(line, sizeof line, f)) committed = strncmp(line, "COMMITTED", 9) == 0;
  int st = pclose(f);
  unlink(go);
  go_file[0] = 0;
  IT_CHECK(committed && WIFEXITED(st) && WEXITSTATUS(st) == 0, "TxnPeer hold failed (status %d), see %s", st, log);
  unlink(log);

  int got = 0;
  for (int64_t end = kw_now_ms() + 20000; kw_consumer_position(c, topic, 0) <= offsets[N_OPEN - 1] + 1 &&
                                          kw_now_ms() < end;) {
    if (kw_consumer_poll(c, &m, 100) != 1) continue;
    IT_CHECK(m.err == 0, "error event %s at %lld", kw_strerror(m.err), (long long)m.offset);
    char want[16];
    snprintf(want, sizeof want, "c%d", got);
    IT_CHECK(got < N_OPEN && m.offset == offsets[got] && m.value_len == strlen(want) &&
                 memcmp(m.value, want, m.value_len) == 0,
             "record %d: offset %lld", got, (long long)m.offset);
    got++;
  }
  printf("  after the commit: %d of %d committed records delivered, position %lld\n", got, N_OPEN,
         (long long)kw_consumer_position(c, topic, 0));
  IT_CHECK(got == N_OPEN, "%d of the %d records committed after the reset were delivered", got, N_OPEN);
  kw_client_destroy(c);
}

/* ---- issue 14 item 3: 20 producers aborting at once ---- */

#define N_ABORTING 20

static void many_producers_abort_at_once(void) {
  char topic[64], log[128], line[256];
  snprintf(topic, sizeof topic, "it-fe-aborts-%d", (int)getpid());
  make_topic(topic);
  FILE *f = java_peer("aborts", topic, N_ABORTING, NULL, log, sizeof log);
  long long end_offset = -1, c0 = -1;
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    long long off;
    char v[16];
    if (sscanf(line, "END %lld", &off) == 1) end_offset = off;
    else if (sscanf(line, "%15s %lld", v, &off) == 2) {
      n++;
      if (strcmp(v, "c0") == 0) c0 = off;
    }
  }
  int st = pclose(f);
  IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == N_ABORTING + 1 && end_offset > 0,
           "TxnPeer aborts failed (status %d, %d records), see %s", st, n, log);
  unlink(log);

  kw_client *c = consumer(NULL, "read_committed", "100");
  IT_CHECK(kw_consumer_assign(c, topic, 0, KW_OFFSET_BEGINNING) == 0, "assign");
  int got = 0;
  kw_message m;
  for (int64_t end = kw_now_ms() + 20000; kw_consumer_position(c, topic, 0) < end_offset && kw_now_ms() < end;) {
    if (kw_consumer_poll(c, &m, 100) != 1) continue;
    IT_CHECK(m.err == 0, "error event %s at %lld", kw_strerror(m.err), (long long)m.offset);
    IT_CHECK(m.value_len == 2 && memcmp(m.value, "c0", 2) == 0, "aborted record %.*s at offset %lld delivered",
             (int)m.value_len, (const char *)m.value, (long long)m.offset);
    IT_CHECK(m.offset == c0, "c0 at %lld", (long long)m.offset);
    got++;
  }
  printf("%d producers aborted at once: %d record delivered (c0), position %lld of %lld\n", N_ABORTING, got,
         (long long)kw_consumer_position(c, topic, 0), end_offset);
  IT_CHECK(got == 1, "%d records", got);
  kw_client_destroy(c);
}

/* ---- issue 14 item 15: blocking calls return with their answers ---- */

static int assigned;
static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  (void)ud, (void)tps;
  if (kind == KW_REBALANCE_ASSIGNED) assigned += n;
}

static void commit_and_close_return_with_their_answers(void) {
  char topic[64], group[64];
  snprintf(topic, sizeof topic, "it-fe-close-%d", (int)getpid());
  snprintf(group, sizeof group, "it-fe-close-%d", (int)getpid());
  make_topic(topic);
  kw_client *c = consumer(group, "read_uncommitted", "100");
  kw_consumer_set_rebalance_cb(c, on_rebalance, NULL);
  const char *topics[] = {topic};
  IT_CHECK(kw_consumer_subscribe(c, topics, 1) == 0, "subscribe");
  kw_message m;
  for (int64_t end = kw_now_ms() + 30000; (!assigned || kw_consumer_position(c, topic, 0) < 0) && kw_now_ms() < end;)
    kw_consumer_poll(c, &m, 100);
  IT_CHECK(assigned == 1 && kw_consumer_position(c, topic, 0) == 0, "no assignment");
  IT_CHECK(kw_consumer_store_offset(c, topic, 0, 0) == 0, "store");

  /* The call must return on the I/O that brought its answer. A wait may end by a timer
   * on the way (a loaded machine delays the answer past one), but the last one must not:
   * a call that sleeps out a fixed slice after its answer ends on a timeout. */
  counting = true;
  polls = polls_timed_out = 0;
  last_timed_out = false;
  IT_CHECK(kw_consumer_commit(c, 10000) == 0, "commit");
  int commit_polls = polls, commit_timeouts = polls_timed_out;
  bool commit_slept = last_timed_out;
  polls = polls_timed_out = 0;
  last_timed_out = false;
  IT_CHECK(kw_consumer_close(c, 10000) == 0, "close");
  counting = false;
  printf("commit: %d poll(2) waits, %d ended by their timeout; close: %d waits, %d ended by their timeout\n",
         commit_polls, commit_timeouts, polls, polls_timed_out);
  IT_CHECK(!commit_slept, "kw_consumer_commit kept waiting after its answer (its last poll(2) timed out)");
  IT_CHECK(!last_timed_out, "kw_consumer_close kept waiting after its answers (its last poll(2) timed out)");
  kw_client_destroy(c);
}

static void watermarks_send_no_fetch_ahead(void) {
  char topic[64];
  snprintf(topic, sizeof topic, "it-fe-wm-%d", (int)getpid());
  make_topic(topic);
  kw_client *c = consumer(NULL, "read_uncommitted", "3000"); /* an empty partition: each fetch is held 3 s */
  IT_CHECK(kw_consumer_assign(c, topic, 0, KW_OFFSET_END) == 0, "assign");
  kw_message m;
  for (int64_t end = kw_now_ms() + 15000; c->metrics.fetches == 0 && kw_now_ms() < end;) kw_consumer_poll(c, &m, 100);
  IT_CHECK(c->metrics.fetches == 1, "%llu fetches", (unsigned long long)c->metrics.fetches);
  uint64_t before = c->metrics.fetches;
  int64_t low = -1, high = -1;
  IT_CHECK(kw_consumer_watermarks(c, topic, 0, &low, &high, 30000) == 0, "watermarks");
  uint64_t sent = c->metrics.fetches - before;
  printf("watermarks with a held fetch: %llu fetches sent during the call\n", (unsigned long long)sent);
  IT_CHECK(sent == 0, "%llu fetches sent ahead of the watermarks' requests", (unsigned long long)sent);
  IT_CHECK(low == 0 && high == 0, "watermarks %lld..%lld", (long long)low, (long long)high);
  kw_client_destroy(c);
}

/* With an argument, only that part: close, watermarks, open, aborts. */
int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *only = argc > 1 ? argv[1] : NULL;
  if (!only || strcmp(only, "close") == 0) commit_and_close_return_with_their_answers();
  if (!only || strcmp(only, "watermarks") == 0) watermarks_send_no_fetch_ahead();
  if (!only || strcmp(only, "open") == 0) reset_to_end_with_open_transaction();
  if (!only || strcmp(only, "aborts") == 0) many_producers_abort_at_once();
  printf("ok\n");
  return 0;
}
