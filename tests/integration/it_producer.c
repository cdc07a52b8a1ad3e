/* The producer against the real broker: 100,000 keyed messages over 6 partitions
 * (idempotent, acks=all, lz4) arrive complete, each on the partition the Java client
 * would choose, in order per key — checked by reading them back with kcat. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "client/producer/kw_partitioner.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_MSGS 100000
#define N_KEYS 1000
#define N_PARTS 6

typedef struct stats {
  int delivered, failed, wrong_partition;
  int first_err;
  int64_t max_offset;
} stats;

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  stats *st = ud;
  if (dr->err) {
    if (!st->failed++) st->first_err = dr->err;
    return;
  }
  st->delivered++;
  intptr_t i = (intptr_t)dr->opaque;
  char key[32];
  int kn = snprintf(key, sizeof key, "key-%d", (int)(i % N_KEYS));
  if (dr->partition != kw_partition_murmur2(key, (size_t)kn, N_PARTS)) st->wrong_partition++;
  if (dr->offset > st->max_offset) st->max_offset = dr->offset;
}

static void on_error(void *ud, int err, const char *reason) {
  (void)ud;
  fprintf(stderr, "client error %s: %s\n", kw_errname(err), reason);
}

static kw_client *make_producer(const char *extra_key, const char *extra_value) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  IT_CHECK(kw_config_set(conf, "compression.type", "lz4", err, sizeof err) == 0, "%s", err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  if (extra_key) IT_CHECK(kw_config_set(conf, extra_key, extra_value, err, sizeof err) == 0, "%s", err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  IT_CHECK(p != NULL, "producer: %s", err);
  kw_client_set_error_cb(p, on_error, NULL);
  kw_config_free(conf);
  return p;
}

int main(void) {
  kw_conn *admin = it_connect(30000);
  char topic[64];
  snprintf(topic, sizeof topic, "it-producer-%d", (int)getpid());
  it_create_topic(admin, topic, N_PARTS);

  kw_client *p = make_producer(NULL, NULL);
  stats st = {0, 0, 0, 0, -1};
  kw_client_set_delivery_cb(p, on_delivery, &st);
  int64_t t0 = kw_now_ms();
  for (intptr_t i = 0; i < N_MSGS; i++) {
    char key[32], value[96];
    int kn = snprintf(key, sizeof key, "key-%d", (int)(i % N_KEYS));
    int vn = snprintf(value, sizeof value, "{\"event_type\":\"OrderCreated\",\"seq\":%d}", (int)(i / N_KEYS));
    kw_header h = {"event_type", "OrderCreated", 12};
    int err;
    while ((err = kw_produce(p, topic, KW_PARTITION_UA, key, (size_t)kn, value, (size_t)vn, &h, 1, 0,
                             (void *)i)) == KW_ERR_QUEUE_FULL)
      kw_client_poll(p, 10);
    IT_CHECK(err == 0, "produce %d: %s", (int)i, kw_strerror(err));
    if (i % 1000 == 0) kw_client_poll(p, 0);
  }
  int err = kw_client_flush(p, 60000);
  int64_t ms = kw_now_ms() - t0;
  IT_CHECK(err == 0, "flush: %s with %d outstanding", kw_strerror(err), kw_client_outstanding(p));
  printf("produced %d messages in %lld ms: delivered %d, failed %d (first error %s)\n", N_MSGS, (long long)ms,
         st.delivered, st.failed, kw_strerror(st.first_err));
  IT_CHECK(st.failed == 0 && st.delivered == N_MSGS, "delivered %d of %d", st.delivered, N_MSGS);
  IT_CHECK(st.wrong_partition == 0, "%d messages not on the Java client's partition", st.wrong_partition);
  kw_client_destroy(p);

  /* kcat reads everything back: partition, key and value per line. */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "kcat -C -b %s -t %s -o beginning -e -q -f '%%p %%k %%s\\n'", it_bootstrap_string(), topic);
  FILE *k = popen(cmd, "r");
  IT_CHECK(k != NULL, "kcat");
  static int next_seq[N_KEYS];
  int lines = 0, out_of_order = 0, misplaced = 0;
  char line[256];
  while (fgets(line, sizeof line, k)) {
    int part, keyn, seq;
    if (sscanf(line, "%d key-%d {\"event_type\":\"OrderCreated\",\"seq\":%d}", &part, &keyn, &seq) != 3) continue;
    lines++;
    char key[32];
    int kn = snprintf(key, sizeof key, "key-%d", keyn);
    if (part != kw_partition_murmur2(key, (size_t)kn, N_PARTS)) misplaced++;
    if (keyn < 0 || keyn >= N_KEYS || seq != next_seq[keyn]) out_of_order++;
    else next_seq[keyn]++;
  }
  IT_CHECK(pclose(k) == 0, "kcat failed");
  printf("kcat read %d messages: %d out of order per key, %d on another partition\n", lines, out_of_order, misplaced);
  IT_CHECK(lines == N_MSGS, "kcat read %d of %d", lines, N_MSGS);
  IT_CHECK(out_of_order == 0 && misplaced == 0, "order or placement broken");
  kw_conn_free(admin);
  printf("PASS it_producer\n");
  return 0;
}
