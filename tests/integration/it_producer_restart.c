/* The broker restarts (tests/broker/kafka restart 1) while the idempotent producer is
 * sending: every message is delivered exactly once, in order per key — kcat reads
 * back each one once and nothing else. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_MSGS 60000
#define N_KEYS 50

static pid_t restart_broker_in_background(void) {
  const char *script = getenv("KW_BROKER_SCRIPT");
  IT_CHECK(script != NULL, "KW_BROKER_SCRIPT not set (run through ctest)");
  pid_t pid = fork();
  IT_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    execl(script, script, "restart", "1", (char *)NULL);
    _exit(127);
  }
  return pid;
}

int main(void) {
  kw_conn *admin = it_connect(30000);
  char topic[64];
  snprintf(topic, sizeof topic, "it-restart-%d", (int)getpid());
  it_create_topic(admin, topic, 3);
  kw_conn_free(admin);

  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "message.timeout.ms", "120000", err, sizeof err);
  kw_config_set(conf, "linger.ms", "10", err, sizeof err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  IT_CHECK(p != NULL, "%s", err);
  kw_config_free(conf);
  it_tally t = {0};
  kw_client_set_delivery_cb(p, it_count_delivery, &t);

  pid_t child = -1;
  int64_t t0 = kw_now_ms();
  for (int i = 0; i < N_MSGS; i++) {
    if (i == N_MSGS / 10) child = restart_broker_in_background();
    char key[16], val[48];
    int kn = snprintf(key, sizeof key, "k%d", i % N_KEYS);
    int vn = snprintf(val, sizeof val, "%d %d", i % N_KEYS, i / N_KEYS);
    int e;
    while ((e = kw_produce(p, topic, KW_PARTITION_UA, key, (size_t)kn, val, (size_t)vn, NULL, 0, 0, NULL)) ==
           KW_ERR_QUEUE_FULL)
      kw_client_poll(p, 10);
    IT_CHECK(e == 0, "produce: %s", kw_strerror(e));
    /* Paced at 6 messages/ms: 10 s of producing, the restart (about 7 s) in the middle. */
    while (kw_now_ms() < t0 + i / 6) kw_client_poll(p, 2);
  }
  int64_t produced_ms = kw_now_ms() - t0;
  int status = 0;
  IT_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "broker restart failed (status %d)", status);
  int64_t restart_done = kw_now_ms() - t0;
  int fe = kw_client_flush(p, 120000);
  printf("produced %d over %lld ms, delivered %d, failed %d (%s); restart finished at %lld ms, all acked at %lld ms\n",
         N_MSGS, (long long)produced_ms, t.ok, t.failed, kw_strerror(t.last_err), (long long)restart_done,
         (long long)(kw_now_ms() - t0));
  IT_CHECK(fe == 0 && t.ok == N_MSGS && t.failed == 0, "not everything acknowledged");
  kw_client_destroy(p);

  char cmd[512], line[128];
  snprintf(cmd, sizeof cmd, "kcat -C -b %s -t %s -o beginning -e -q -f '%%s\\n'", it_bootstrap_string(), topic);
  FILE *k = popen(cmd, "r");
  IT_CHECK(k != NULL, "kcat");
  static int next[N_KEYS];
  int read = 0, dup_or_reorder = 0;
  while (fgets(line, sizeof line, k)) {
    int key, seq;
    if (sscanf(line, "%d %d", &key, &seq) != 2 || key < 0 || key >= N_KEYS) continue;
    read++;
    if (seq != next[key]) dup_or_reorder++;
    else next[key]++;
  }
  pclose(k);
  int lost = 0;
  for (int i = 0; i < N_KEYS; i++) lost += N_MSGS / N_KEYS - next[i];
  printf("scenario broker_restart: produced %d, acked %d, consumed %d, lost %d, duplicated or reordered %d\n", N_MSGS,
         t.ok, read, lost, dup_or_reorder);
  IT_CHECK(read == N_MSGS && lost == 0 && dup_or_reorder == 0, "loss, duplicates or reordering");
  printf("PASS it_producer_restart\n");
  return 0;
}
