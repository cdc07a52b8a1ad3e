/* A group member meets a pending transactional offset commit (issue 14, item 6).
 * Kafka's Java producer (tests/data/txn/TxnProducer.java --pending-offsets) sends
 * offset 5 of partition 0 for the group to a transaction and holds it open. kwire asks
 * OffsetFetch with RequireStable, so the broker answers that partition with
 * UNSTABLE_OFFSET_COMMIT. The member must ask again until the transaction ends (as the
 * Java consumer does) and then start at 5 — not at auto.offset.reset (earliest: 0),
 * which reprocesses records the transaction's consumer already handled. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_RECORDS 10
#define COMMITTED_OFFSET 5

static int unstable_lines; /* log lines naming UNSTABLE_OFFSET_COMMIT: one per retry */

static void on_log(void *ud, int level, const char *ctx, const char *msg) {
  (void)ud, (void)ctx;
  if (strstr(msg, "UNSTABLE_OFFSET_COMMIT")) unstable_lines++;
  if (level <= KW_LOG_WARNING || getenv("KW_DEBUG")) fprintf(stderr, "  log %d %s: %s\n", level, ctx, msg);
}

static void produce(const char *topic) {
  kw_config *conf = kw_config_new();
  char err[256];
  kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(p != NULL, "%s", err);
  for (int i = 0; i < N_RECORDS; i++) {
    char v[16];
    int n = snprintf(v, sizeof v, "r%d", i);
    IT_CHECK(kw_produce(p, topic, 0, NULL, 0, v, (size_t)n, NULL, 0, 0, NULL) == 0, "produce");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
}

static const char *txn_producer_source(void) {
  static char src[1024];
  const char *data = getenv("KW_TEST_DATA_DIR");
  const char *script = getenv("KW_BROKER_SCRIPT");
  if (data && *data) {
    snprintf(src, sizeof src, "%s/txn/TxnProducer.java", data);
  } else { /* run by hand: the script is tests/broker/kafka */
    snprintf(src, sizeof src, "%s", script);
    char *slash = strrchr(src, '/');
    if (slash) *slash = 0;
    strncat(src, "/../data/txn/TxnProducer.java", sizeof src - strlen(src) - 1);
  }
  IT_CHECK(access(src, R_OK) == 0, "cannot find TxnProducer.java (%s)", src);
  return src;
}

int main(void) {
  const char *script = getenv("KW_BROKER_SCRIPT");
  IT_CHECK(script && *script, "KW_BROKER_SCRIPT is not set (the ctest fixture sets it)");
  char topic[64], group[64], signal[128], log[128], cmd[4096];
  snprintf(topic, sizeof topic, "it-unstable-%d", (int)getpid());
  snprintf(group, sizeof group, "it-unstable-%d", (int)getpid());
  snprintf(signal, sizeof signal, "/tmp/it_unstable_offsets.%d.commit", (int)getpid());
  snprintf(log, sizeof log, "/tmp/it_unstable_offsets.java.%d.log", (int)getpid()); /* kept on failure */
  unlink(signal);
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  kw_conn_free(admin);
  produce(topic);

  snprintf(cmd, sizeof cmd, "java -cp \"$(%s fetch)/*\" %s %s %s --pending-offsets %s 0 %d %s 2>%s", script,
           txn_producer_source(), it_bootstrap_string(), topic, group, COMMITTED_OFFSET, signal, log);
  FILE *java = popen(cmd, "r");
  IT_CHECK(java != NULL, "popen java");
  char line[256];
  IT_CHECK(fgets(line, sizeof line, java) && !strncmp(line, "PENDING", 7), "TxnProducer did not say PENDING (see %s)",
           log);
  printf("offset %d of %s [0] sent to an open transaction for group %s\n", COMMITTED_OFFSET, topic, group);

  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "retry.backoff.ms", "100", err, sizeof err);
  kw_config_set(conf, "log_level", "6", err, sizeof err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  kw_config_set_log_cb(conf, on_log, NULL);
  kw_client *c = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(c != NULL, "consumer: %s", err);
  const char *topics[] = {topic};
  IT_CHECK(kw_consumer_subscribe(c, topics, 1) == 0, "subscribe");

  /* While the transaction is open: no record, and the member keeps asking. Three
   * answers of UNSTABLE_OFFSET_COMMIT end this phase (a minute at most); the unfixed
   * kwire started at the reset position instead and handed out offset 0. */
  kw_message msg;
  int64_t first = -1;
  int64_t end = kw_now_ms() + 60000;
  while (first < 0 && unstable_lines < 3 && kw_now_ms() < end)
    if (kw_consumer_poll(c, &msg, 100) == 1 && !msg.err) first = msg.offset;
  printf("  while the transaction was open: %d UNSTABLE_OFFSET_COMMIT answers, first record %lld\n", unstable_lines,
         (long long)first);
  IT_CHECK(first < 0, "a record (offset %lld) was handed out while the committed offset was unknown", (long long)first);
  IT_CHECK(unstable_lines >= 3, "the broker's UNSTABLE_OFFSET_COMMIT answers were not retried (%d seen)", unstable_lines);

  FILE *s = fopen(signal, "w");
  IT_CHECK(s != NULL, "create %s", signal);
  fclose(s);
  IT_CHECK(fgets(line, sizeof line, java) && !strncmp(line, "COMMITTED", 9), "TxnProducer did not commit (see %s)", log);
  int st = pclose(java);
  IT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "TxnProducer failed (status %d), see %s", st, log);
  unlink(signal);
  unlink(log);
  printf("  transaction committed\n");

  int got = 0;
  end = kw_now_ms() + 60000;
  while (got < N_RECORDS - COMMITTED_OFFSET && kw_now_ms() < end)
    if (kw_consumer_poll(c, &msg, 100) == 1 && !msg.err) {
      if (first < 0) first = msg.offset;
      got++;
    }
  printf("  after the commit: first record at offset %lld, %d records\n", (long long)first, got);
  IT_CHECK(first == COMMITTED_OFFSET, "started at offset %lld, not at the committed %d", (long long)first,
           COMMITTED_OFFSET);
  IT_CHECK(got == N_RECORDS - COMMITTED_OFFSET, "%d records after the committed offset", got);
  kw_client_destroy(c);
  printf("PASS it_group_unstable_offsets\n");
  return 0;
}
