/* Transactions as the consumer sees them: Kafka's own Java producer
 * (tests/data/txn/TxnProducer.java) writes plain records, committed and aborted
 * transactions, two of them interleaved with each other and with plain records, into
 * partition 0. With isolation.level=read_committed the consumer returns exactly the
 * plain and committed records, in offset order, at the offsets the broker acked; with
 * read_uncommitted the aborted ones too; never a control record (transaction marker);
 * and the position ends at the high watermark (markers take offsets) so nothing stalls.
 * Also from start offsets inside an aborted transaction, with one batch per fetch, and
 * kcat (librdkafka) as a cross-check when it is installed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define MAX_RECS 64
#define N_WRITTEN 50 /* data records TxnProducer writes */
#define HIGH_WATERMARK 55

typedef struct rec {
  char value[16];
  int64_t offset;
} rec;

static rec written[MAX_RECS]; /* as the Java producer reports them, in offset order */
static int n_written;
static int64_t java_end = -1;

static bool is_aborted(const char *v) { return v[0] == 'a'; }

/* Runs the Java producer; fills `written` from its "VALUE OFFSET" lines. */
static void write_with_java(const char *topic) {
  const char *script = getenv("KW_BROKER_SCRIPT");
  IT_CHECK(script && *script, "KW_BROKER_SCRIPT is not set (the ctest fixture sets it)");
  const char *data = getenv("KW_TEST_DATA_DIR");
  char src[1024];
  if (data && *data) { /* ctest sets it */
    snprintf(src, sizeof src, "%s/txn/TxnProducer.java", data);
  } else { /* run by hand: the script is tests/broker/kafka */
    snprintf(src, sizeof src, "%s", script);
    char *slash = strrchr(src, '/');
    if (slash) *slash = 0;
    strncat(src, "/../data/txn/TxnProducer.java", sizeof src - strlen(src) - 1);
  }
  IT_CHECK(access(src, R_OK) == 0, "cannot find TxnProducer.java (%s)", src);
  char log[128], cmd[4096];
  snprintf(log, sizeof log, "/tmp/it_read_committed.java.%d.log", (int)getpid()); /* kept on failure */
  snprintf(cmd, sizeof cmd, "java -cp \"$(%s fetch)/*\" %s %s %s 2>%s", script, src, it_bootstrap_string(), topic, log);
  int64_t t0 = kw_now_ms();
  FILE *f = popen(cmd, "r");
  IT_CHECK(f != NULL, "popen java");
  char line[256];
  while (fgets(line, sizeof line, f)) {
    long long off;
    char v[16];
    if (sscanf(line, "END %lld", &off) == 1) java_end = off;
    else if (sscanf(line, "%15s %lld", v, &off) == 2 && n_written < MAX_RECS) {
      snprintf(written[n_written].value, sizeof written[n_written].value, "%s", v);
      written[n_written++].offset = off;
    }
  }
  int st = pclose(f);
  IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "TxnProducer failed (status %d), see %s", st, log);
  unlink(log);
  IT_CHECK(n_written == N_WRITTEN, "TxnProducer reported %d records", n_written);
  for (int i = 1; i < n_written; i++)
    IT_CHECK(written[i].offset > written[i - 1].offset, "Java acks not in offset order at %s", written[i].value);
  IT_CHECK(java_end == HIGH_WATERMARK, "TxnProducer's end offset %lld", (long long)java_end);
  printf("Java producer wrote %d records (offsets 0..%lld with markers) in %lld ms\n", n_written,
         (long long)java_end - 1, (long long)(kw_now_ms() - t0));
}

static kw_client *consumer(const char *isolation, const char *max_part_bytes) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  if (isolation) IT_CHECK(kw_config_set(conf, "isolation.level", isolation, err, sizeof err) == 0, "%s", err);
  if (max_part_bytes)
    IT_CHECK(kw_config_set(conf, "max.partition.fetch.bytes", max_part_bytes, err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "fetch.wait.max.ms", "100", err, sizeof err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  kw_client *c = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(c != NULL, "consumer: %s", err);
  return c;
}

/* Reads partition 0 from `start` until the position reaches the high watermark and
 * then one more second (nothing more may come); checks every record against what
 * the Java producer wrote. Returns how many records came. */
static int read_and_check(const char *label, const char *topic, const char *isolation, const char *max_part_bytes,
                          int64_t start, bool committed_only) {
  kw_client *c = consumer(isolation, max_part_bytes);
  IT_CHECK(kw_consumer_assign(c, topic, 0, start) == 0, "assign");
  /* what must come: records at or after `start`, aborted ones only when reading uncommitted */
  int expect[MAX_RECS], n_expect = 0;
  for (int i = 0; i < n_written; i++)
    if (written[i].offset >= (start < 0 ? 0 : start) && !(committed_only && is_aborted(written[i].value)))
      expect[n_expect++] = i;
  int got = 0;
  int64_t reached_end_at = -1, deadline = kw_now_ms() + 20000;
  while (kw_now_ms() < deadline) {
    kw_message m;
    int r = kw_consumer_poll(c, &m, 100);
    IT_CHECK(r >= 0, "%s: poll: %s", label, kw_strerror(r));
    if (r == 1) {
      IT_CHECK(m.err == 0, "%s: error event %s (kafka %d) at offset %lld", label, kw_strerror(m.err), m.kafka_error,
               (long long)m.offset);
      IT_CHECK(m.partition == 0, "%s: partition %d", label, m.partition);
      char v[32];
      snprintf(v, sizeof v, "%.*s", (int)(m.value_len < 31 ? m.value_len : 31),
               m.value ? (const char *)m.value : "(null)");
      IT_CHECK(m.value && (v[0] == 'p' || v[0] == 'c' || v[0] == 'a'),
               "%s: not a data record at offset %lld (a control record?): value %s, key length %zu", label,
               (long long)m.offset, v, m.key_len);
      IT_CHECK(!(committed_only && is_aborted(v)), "%s: aborted record %s at offset %lld delivered", label, v,
               (long long)m.offset);
      IT_CHECK(got < n_expect, "%s: extra record %s at offset %lld (expected %d records)", label, v,
               (long long)m.offset, n_expect);
      const rec *want = &written[expect[got]];
      IT_CHECK(strcmp(v, want->value) == 0 && m.offset == want->offset,
               "%s: record %d is %s at offset %lld, expected %s at offset %lld", label, got, v, (long long)m.offset,
               want->value, (long long)want->offset);
      char key[16];
      int kn = snprintf(key, sizeof key, "k%s", v + 1);
      IT_CHECK(m.key_len == (size_t)kn && memcmp(m.key, key, (size_t)kn) == 0, "%s: key of %s", label, v);
      got++;
      continue;
    }
    int64_t pos = kw_consumer_position(c, topic, 0);
    if (pos == HIGH_WATERMARK && reached_end_at < 0) reached_end_at = kw_now_ms();
    if (reached_end_at >= 0 && kw_now_ms() - reached_end_at >= 1000) break;
  }
  int64_t pos = kw_consumer_position(c, topic, 0);
  printf("  %-44s %2d records (expected %2d), position %lld (high watermark %d)\n", label, got, n_expect,
         (long long)pos, HIGH_WATERMARK);
  IT_CHECK(got == n_expect, "%s: %d of %d records", label, got, n_expect);
  IT_CHECK(pos == HIGH_WATERMARK, "%s: position %lld, not the high watermark %d (stalled before a marker?)", label,
           (long long)pos, HIGH_WATERMARK);
  kw_client_destroy(c);
  return got;
}

/* kcat (librdkafka) reading the same partition: the reference answer. */
static void kcat_cross_check(const char *topic) {
  if (system("command -v kcat >/dev/null 2>&1") != 0) {
    printf("  kcat not installed: cross-check skipped\n");
    return;
  }
  const char *levels[] = {"read_committed", "read_uncommitted"};
  for (int l = 0; l < 2; l++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "kcat -b %s -X isolation.level=%s -C -t %s -p 0 -o beginning -e -q -f '%%s %%o\\n' 2>/dev/null",
             it_bootstrap_string(), levels[l], topic);
    FILE *f = popen(cmd, "r");
    IT_CHECK(f != NULL, "popen kcat");
    char line[128];
    int n = 0, k = 0;
    while (fgets(line, sizeof line, f)) {
      char v[16];
      long long off;
      if (sscanf(line, "%15s %lld", v, &off) != 2) continue;
      while (k < n_written && l == 0 && is_aborted(written[k].value)) k++;
      IT_CHECK(k < n_written && strcmp(v, written[k].value) == 0 && off == written[k].offset,
               "kcat %s: record %d is %s@%lld", levels[l], n, v, off);
      k++;
      n++;
    }
    pclose(f);
    printf("  kcat %-17s %2d records, the same as kwire's\n", levels[l], n);
    IT_CHECK(n == (l == 0 ? 30 : N_WRITTEN), "kcat %s: %d records", levels[l], n);
  }
}

int main(void) {
  kw_conn *admin = it_connect(30000);
  char topic[64];
  snprintf(topic, sizeof topic, "it-txn-%d", (int)getpid());
  it_create_topic(admin, topic, 1);
  kw_conn_free(admin);
  write_with_java(topic);

  kw_client *w = consumer(NULL, NULL);
  int64_t low = -1, high = -1;
  IT_CHECK(kw_consumer_watermarks(w, topic, 0, &low, &high, 10000) == 0, "watermarks");
  kw_client_destroy(w);
  printf("watermarks %lld..%lld\n", (long long)low, (long long)high);
  IT_CHECK(low == 0 && high == HIGH_WATERMARK, "watermarks %lld..%lld", (long long)low, (long long)high);

  printf("from the beginning:\n");
  int n = read_and_check("read_committed", topic, "read_committed", NULL, KW_OFFSET_BEGINNING, true);
  IT_CHECK(n == 30, "read_committed: %d records", n);
  n = read_and_check("read_committed (the default)", topic, NULL, NULL, KW_OFFSET_BEGINNING, true);
  n = read_and_check("read_uncommitted", topic, "read_uncommitted", NULL, KW_OFFSET_BEGINNING, false);
  IT_CHECK(n == N_WRITTEN, "read_uncommitted: %d records", n);

  printf("one batch per fetch (max.partition.fetch.bytes=1):\n");
  read_and_check("read_committed", topic, "read_committed", "1", KW_OFFSET_BEGINNING, true);
  read_and_check("read_uncommitted", topic, "read_uncommitted", "1", KW_OFFSET_BEGINNING, false);

  printf("starting inside transactions and at markers:\n");
  read_and_check("read_committed from 20 (inside aborted a0..a9)", topic, "read_committed", NULL, 20, true);
  read_and_check("read_committed from 15 (a commit marker)", topic, "read_committed", NULL, 15, true);
  read_and_check("read_committed from 26 (an abort marker)", topic, "read_committed", NULL, 26, true);
  read_and_check("read_committed from 35 (a10..a14, interleaved)", topic, "read_committed", NULL, 35, true);
  read_and_check("read_committed from 50 (a15..a19), batch/fetch", topic, "read_committed", "1", 50, true);
  read_and_check("read_committed from 53 (the last markers)", topic, "read_committed", NULL, 53, true);
  read_and_check("read_uncommitted from 35", topic, "read_uncommitted", NULL, 35, false);

  printf("cross-check:\n");
  kcat_cross_check(topic);
  printf("PASS it_read_committed\n");
  return 0;
}
