/* The consumer in assign mode against the real broker: every record back in order per
 * partition with keys, values and headers; start positions (beginning, end, tail,
 * absolute, by time); seek; pause/resume; out-of-range reset; watermarks (also of a
 * topic created while they are asked for); records written by kcat in every codec. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_PARTS 3
#define N_MSGS 3000

static kw_config *base_config(void) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  return conf;
}

static void produce_n(const char *topic, int from, int n, int32_t partition) {
  kw_config *conf = base_config();
  char err[256];
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  IT_CHECK(p != NULL, "%s", err);
  kw_config_free(conf);
  for (int i = from; i < from + n; i++) {
    char key[16], val[64];
    int kn = snprintf(key, sizeof key, "k%d", i);
    int vn = snprintf(val, sizeof val, "value-%d", i);
    kw_header h[2] = {{"event_type", "OrderCreated", 12}, {"n", val + 6, (size_t)vn - 6}};
    int32_t part = partition >= 0 ? partition : i % N_PARTS;
    IT_CHECK(kw_produce(p, topic, part, key, (size_t)kn, val, (size_t)vn, h, 2, 0, NULL) == 0, "produce");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
}

static kw_client *consumer(const char *reset) {
  kw_config *conf = base_config();
  char err[256];
  if (reset) IT_CHECK(kw_config_set(conf, "auto.offset.reset", reset, err, sizeof err) == 0, "%s", err);
  kw_client *c = kw_consumer_new(conf, err, sizeof err);
  IT_CHECK(c != NULL, "consumer: %s", err);
  kw_config_free(conf);
  return c;
}

/* Polls until `want` records arrived or 15 s passed (2 s when none are wanted: that
 * checks that nothing comes); checks each record's content. */
static int consume(kw_client *c, int want, int64_t *first_offset, int32_t only_partition) {
  int got = 0;
  int64_t end = kw_now_ms() + (want > 0 ? 15000 : 2000);
  while ((want == 0 || got < want) && kw_now_ms() < end) {
    kw_message m;
    int r = kw_consumer_poll(c, &m, 200);
    IT_CHECK(r >= 0, "poll: %s", kw_strerror(r));
    if (!r) continue;
    IT_CHECK(m.err == 0, "error event %s at %s [%d] offset %lld", kw_strerror(m.err), m.topic, m.partition,
             (long long)m.offset);
    IT_CHECK(only_partition < 0 || m.partition == only_partition, "record from partition %d", m.partition);
    int n;
    IT_CHECK(sscanf((const char *)m.value, "value-%d", &n) == 1, "value %.*s", (int)m.value_len, (const char *)m.value);
    char key[16];
    int kn = snprintf(key, sizeof key, "k%d", n);
    IT_CHECK(m.key_len == (size_t)kn && memcmp(m.key, key, (size_t)kn) == 0, "key for %d", n);
    IT_CHECK(m.n_headers == 2, "headers %d", m.n_headers);
    const char *hk;
    size_t hkl, hvl;
    const void *hv;
    IT_CHECK(kw_message_header(&m, 0, &hk, &hkl, &hv, &hvl) == 0 && hkl == 10 && memcmp(hk, "event_type", 10) == 0 &&
                 hvl == 12 && memcmp(hv, "OrderCreated", 12) == 0,
             "header 0");
    if (got == 0 && first_offset) *first_offset = m.offset;
    got++;
  }
  return got;
}

/* Watermarks asked for before the topic exists: metadata does not know it, and the
 * call asks again after backoff until it does. A child process creates the topic once
 * the parent is asking (the second's delay only makes the first answers come before it). */
static void watermarks_of_a_new_topic(void) {
  char late[64];
  snprintf(late, sizeof late, "it-consumer-late-%d", (int)getpid());
  int go[2];
  IT_CHECK(pipe(go) == 0, "pipe");
  pid_t pid = fork();
  IT_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    char b;
    close(go[1]);
    if (read(go[0], &b, 1) != 1) _exit(2);
    nanosleep(&(struct timespec){1, 0}, NULL);
    kw_conn *a = it_connect(30000);
    it_create_topic(a, late, 2);
    kw_conn_free(a);
    _exit(0);
  }
  close(go[0]);
  kw_client *c = consumer(NULL);
  int64_t lo = -1, hi = -1, t0 = kw_now_ms();
  IT_CHECK(write(go[1], "x", 1) == 1, "pipe write");
  int rc = kw_consumer_watermarks(c, late, 1, &lo, &hi, 30000);
  int st = -1;
  waitpid(pid, &st, 0);
  close(go[1]);
  IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child creating %s failed (%d)", late, st);
  IT_CHECK(rc == KW_OK && lo == 0 && hi == 0, "watermarks of %s: %s, %lld-%lld", late, kw_errname(rc), (long long)lo,
           (long long)hi);
  printf("watermarks of a topic created while asking: 0-0 after %lld ms\n", (long long)(kw_now_ms() - t0));
  kw_client_destroy(c);
}

int main(void) {
  kw_conn *admin = it_connect(30000);
  char topic[64];
  snprintf(topic, sizeof topic, "it-consumer-%d", (int)getpid());
  it_create_topic(admin, topic, N_PARTS);
  int64_t before = kw_wall_ms();
  produce_n(topic, 0, N_MSGS, -1);

  /* Everything from the beginning, in order per partition. */
  kw_client *c = consumer(NULL);
  for (int32_t p = 0; p < N_PARTS; p++) IT_CHECK(kw_consumer_assign(c, topic, p, KW_OFFSET_BEGINNING) == 0, "assign");
  int64_t next[N_PARTS] = {0, 0, 0};
  int got = 0, out_of_order = 0;
  int64_t end = kw_now_ms() + 20000;
  while (got < N_MSGS && kw_now_ms() < end) {
    kw_message m;
    if (kw_consumer_poll(c, &m, 200) != 1) continue;
    IT_CHECK(m.err == 0, "error event %s", kw_strerror(m.err));
    if (m.offset != next[m.partition]) out_of_order++;
    next[m.partition] = m.offset + 1;
    got++;
  }
  printf("from the beginning: %d of %d records, %d out of order\n", got, N_MSGS, out_of_order);
  IT_CHECK(got == N_MSGS && out_of_order == 0, "consume all");
  for (int32_t p = 0; p < N_PARTS; p++) {
    int64_t lo, hi;
    IT_CHECK(kw_consumer_watermarks(c, topic, p, &lo, &hi, 10000) == 0, "watermarks");
    IT_CHECK(lo == 0 && hi == N_MSGS / N_PARTS, "partition %d watermarks %lld-%lld", p, (long long)lo, (long long)hi);
    IT_CHECK(kw_consumer_position(c, topic, p) == hi, "position %lld", (long long)kw_consumer_position(c, topic, p));
  }
  int64_t lo, hi;
  /* A partition the topic does not have, below or above its range, is said so (-1 was
   * once read before the start of the partition table). */
  int rc = kw_consumer_watermarks(c, topic, -1, &lo, &hi, 10000);
  IT_CHECK(rc == KW_ERR_UNKNOWN_PARTITION, "watermarks of partition -1: %s", kw_errname(rc));
  rc = kw_consumer_watermarks(c, topic, N_PARTS, &lo, &hi, 10000);
  IT_CHECK(rc == KW_ERR_UNKNOWN_PARTITION, "watermarks of partition %d: %s", N_PARTS, kw_errname(rc));
  printf("watermarks 0-%d per partition; positions at the end; partitions -1 and %d: %s\n", N_MSGS / N_PARTS, N_PARTS,
         kw_errname(rc));
  /* After the first full fetch the broker keeps a session (KIP-227): later fetches list
   * only what changed. */
  char stats[2048];
  kw_client_stats_json(c, stats, sizeof stats);
  const char *inc = strstr(stats, "\"incremental_fetches\":");
  IT_CHECK(inc && atoi(inc + 22) > 0, "no incremental fetch session was used: %s", stats);
  printf("incremental fetch sessions: %d requests inside one\n", atoi(inc + 22));

  /* The batch form: everything again from the beginning, in order, zero-copy. */
  for (int32_t p = 0; p < N_PARTS; p++) kw_consumer_seek(c, topic, p, KW_OFFSET_BEGINNING);
  int64_t bnext[N_PARTS] = {0, 0, 0};
  int bgot = 0, bcalls = 0, bad = 0;
  end = kw_now_ms() + 20000;
  while (bgot < N_MSGS && kw_now_ms() < end) {
    kw_message ms[500];
    int n = kw_consumer_poll_batch(c, ms, 500, 200);
    IT_CHECK(n >= 0, "poll_batch: %s", kw_strerror(n));
    if (n > 0) bcalls++;
    for (int i = 0; i < n; i++) {
      IT_CHECK(ms[i].err == 0, "error event %s", kw_strerror(ms[i].err));
      int num;
      if (ms[i].offset != bnext[ms[i].partition] || sscanf((const char *)ms[i].value, "value-%d", &num) != 1) bad++;
      bnext[ms[i].partition] = ms[i].offset + 1;
    }
    bgot += n;
  }
  printf("poll_batch: %d records in %d calls, %d out of order or unreadable\n", bgot, bcalls, bad);
  IT_CHECK(bgot == N_MSGS && bad == 0 && bcalls < N_MSGS / 2, "batch consume");

  /* Pause partition 2, produce to it, nothing comes; resume, it comes. */
  IT_CHECK(kw_consumer_pause(c, topic, 2) == 0, "pause");
  produce_n(topic, N_MSGS, 30, 2);
  IT_CHECK(consume(c, 0, NULL, -1) == 0, "records from a paused partition");
  IT_CHECK(kw_consumer_resume(c, topic, 2) == 0, "resume");
  IT_CHECK(consume(c, 30, NULL, 2) == 30, "records after resume");
  printf("pause/resume: nothing while paused, 30 after resume\n");

  /* Seek back to an absolute offset. */
  int64_t first = -1;
  IT_CHECK(kw_consumer_seek(c, topic, 1, 5) == 0, "seek");
  for (int32_t p = 0; p < N_PARTS; p++)
    if (p != 1) kw_consumer_pause(c, topic, p);
  IT_CHECK(consume(c, 10, &first, 1) == 10 && first == 5, "seek to 5: first offset %lld", (long long)first);
  printf("seek: first record at offset 5\n");
  kw_client_destroy(c);
  watermarks_of_a_new_topic();

  /* Tail, end, time, out of range. */
  c = consumer("earliest");
  IT_CHECK(kw_consumer_assign(c, topic, 0, KW_OFFSET_TAIL(10)) == 0, "tail");
  IT_CHECK(consume(c, 10, &first, 0) == 10 && first == N_MSGS / N_PARTS - 10, "tail(10) first %lld", (long long)first);
  IT_CHECK(consume(c, 0, NULL, 0) == 0, "nothing after the tail");
  kw_consumer_unassign(c, topic, 0);
  IT_CHECK(kw_consumer_assign(c, topic, 1, KW_OFFSET_END) == 0, "end");
  IT_CHECK(consume(c, 0, NULL, 1) == 0, "nothing at the end");
  produce_n(topic, N_MSGS + 100, 1, 1);
  IT_CHECK(consume(c, 1, &first, 1) == 1 && first == N_MSGS / N_PARTS, "new record at the end: %lld", (long long)first);
  kw_consumer_unassign(c, topic, 1);
  IT_CHECK(kw_consumer_assign_at_time(c, topic, 0, before) == 0, "by time");
  IT_CHECK(consume(c, 1, &first, 0) == 1 && first == 0, "by time: %lld", (long long)first);
  IT_CHECK(kw_consumer_seek(c, topic, 0, 1000000) == 0, "seek out of range");
  IT_CHECK(consume(c, 1, &first, 0) == 1 && first == 0, "out of range, earliest: %lld", (long long)first);
  printf("tail(10), end, by time, out-of-range reset to earliest: all start where they should\n");
  kw_client_destroy(c);

  /* auto.offset.reset=error: an error event naming the partition. */
  c = consumer("error");
  IT_CHECK(kw_consumer_assign(c, topic, 0, 1000000) == 0, "assign");
  kw_message m;
  int64_t stop = kw_now_ms() + 10000;
  int r = 0;
  while (r == 0 && kw_now_ms() < stop) r = kw_consumer_poll(c, &m, 200);
  IT_CHECK(r == 1 && m.err == KW_ERR_BROKER && m.kafka_error == 1 && m.partition == 0 && m.offset == 1000000,
           "want OFFSET_OUT_OF_RANGE event, got r=%d err %s kafka %d", r, kw_errname(m.err), m.kafka_error);
  printf("auto.offset.reset=error: error event OFFSET_OUT_OF_RANGE at partition 0 offset 1000000\n");
  kw_client_destroy(c);

  /* Records written by kcat, one codec each, read by kwire. */
  static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  char ktopic[64];
  snprintf(ktopic, sizeof ktopic, "it-consumer-kcat-%d", (int)getpid());
  it_create_topic(admin, ktopic, 1);
  for (int i = 0; i < 5; i++) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "seq 1 100 | sed 's/^/k%s:value-/' | kcat -P -b %s -t %s -z %s -K: -X linger.ms=50 2>/dev/null", codecs[i],
             it_bootstrap_string(), ktopic, codecs[i]);
    IT_CHECK(system(cmd) == 0, "kcat -P %s", codecs[i]);
  }
  c = consumer(NULL);
  kw_consumer_assign(c, ktopic, 0, KW_OFFSET_BEGINNING);
  int kcat_got = 0;
  stop = kw_now_ms() + 15000;
  while (kcat_got < 500 && kw_now_ms() < stop) {
    if (kw_consumer_poll(c, &m, 200) != 1) continue;
    IT_CHECK(m.err == 0 && m.offset == kcat_got, "kcat record %d: err %s offset %lld", kcat_got, kw_errname(m.err),
             (long long)m.offset);
    char want[32];
    int wn = snprintf(want, sizeof want, "k%s", codecs[kcat_got / 100]);
    IT_CHECK(m.key_len == (size_t)wn && memcmp(m.key, want, (size_t)wn) == 0, "key of record %d", kcat_got);
    kcat_got++;
  }
  printf("kcat's batches in none/gzip/snappy/lz4/zstd: kwire read %d of 500\n", kcat_got);
  IT_CHECK(kcat_got == 500, "kcat records");
  kw_client_destroy(c);
  kw_conn_free(admin);
  printf("PASS it_consumer\n");
  return 0;
}
