/* group.protocol=consumer (KIP-848) against a broker that does not offer it (issue 14,
 * item 13): a Kafka 4.4.0 of its own, started with the consumer rebalance protocol
 * turned off (group.coordinator.rebalance.protocols=classic), as Kafka < 3.7 or 3.7-3.9
 * without the new coordinator are. The Java consumer raises UnsupportedVersionException
 * from poll; kwire's poll must return KW_ERR_UNSUPPORTED_VERSION, every time, rather
 * than log once and sit idle. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

static char dir[] = "/tmp/kw-it-no-kip848-XXXXXX";
static const char *script;

static void stop_broker(void) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' --dir '%s' stop >/dev/null 2>&1; rm -rf '%s'", script, dir, dir);
  if (system(cmd) != 0) fprintf(stderr, "stopping the broker in %s failed\n", dir);
}

int main(void) {
  script = getenv("KW_BROKER_SCRIPT");
  IT_CHECK(script != NULL, "KW_BROKER_SCRIPT is not set (run through ctest)");
  IT_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  atexit(stop_broker);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' --dir '%s' start --prop group.coordinator.rebalance.protocols=classic", script, dir);
  int64_t t0 = kw_now_ms();
  FILE *f = popen(cmd, "r");
  IT_CHECK(f != NULL, "popen %s", cmd);
  char bootstrap[256] = "";
  IT_CHECK(fgets(bootstrap, sizeof bootstrap, f) != NULL, "the broker script printed no bootstrap address");
  bootstrap[strcspn(bootstrap, "\n")] = 0;
  IT_CHECK(pclose(f) == 0, "starting a broker without KIP-848 failed");
  printf("a broker with group.coordinator.rebalance.protocols=classic at %s (%lld ms to start)\n", bootstrap,
         (long long)(kw_now_ms() - t0));

  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", "it-no-kip848", err, sizeof err);
  IT_CHECK(kw_config_set(conf, "group.protocol", "consumer", err, sizeof err) == 0, "%s", err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  kw_client *c = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(c != NULL, "consumer: %s", err);
  const char *topics[] = {"it-no-kip848"};
  IT_CHECK(kw_consumer_subscribe(c, topics, 1) == 0, "subscribe");

  /* Polls of 200 ms until one says something; 300 of them (a minute) is far more than
   * FindCoordinator and one heartbeat take. Before the fix every one returned 0. */
  int rc = 0, polls = 0;
  kw_message msg;
  while (rc == 0 && polls < 300) {
    rc = kw_consumer_poll(c, &msg, 200);
    polls++;
  }
  printf("  poll %d returned %d (%s)\n", polls, rc, rc < 0 ? kw_errname(rc) : rc ? "a message" : "nothing");
  IT_CHECK(rc == KW_ERR_UNSUPPORTED_VERSION, "poll returned %d (%s) after %d polls, not KW_ERR_UNSUPPORTED_VERSION",
           rc, rc < 0 ? kw_errname(rc) : "no error", polls);
  int16_t kerr = -1;
  IT_CHECK(kw_consumer_group_error(c, &kerr) == KW_ERR_UNSUPPORTED_VERSION, "kw_consumer_group_error");
  printf("  kw_consumer_group_error: %s, Kafka error %s\n", kw_errname(KW_ERR_UNSUPPORTED_VERSION),
         kerr ? kw_kerr_name(kerr) : "none (the API is not offered)");
  /* Fatal: every later poll says so again. */
  IT_CHECK(kw_consumer_poll(c, &msg, 0) == KW_ERR_UNSUPPORTED_VERSION, "a later poll forgot the error");
  IT_CHECK(kw_consumer_poll_batch(c, &msg, 1, 0) == KW_ERR_UNSUPPORTED_VERSION, "poll_batch forgot the error");
  kw_client_destroy(c);
  printf("PASS it_group_no_kip848\n");
  return 0;
}
