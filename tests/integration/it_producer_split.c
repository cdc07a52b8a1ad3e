/* MESSAGE_TOO_LARGE against the real broker: a topic whose max.message.bytes is smaller
 * than the producer's batch but larger than each record. The producer splits the batch
 * until the halves fit (as librdkafka and the Java client do): every record is
 * delivered once and in order, read back with kcat; only a record too large on its own
 * fails, with KW_ERR_MSG_SIZE_TOO_LARGE. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kwire.h"
#include "tests/integration/it_support.h"

enum { N = 40, VALUE_LEN = 200, HUGE_AT = 25 };

typedef struct outcome {
  int err[N];
  int64_t offset[N];
  int reported;
} outcome;

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  outcome *o = ud;
  int i = (int)(intptr_t)dr->opaque;
  o->err[i] = dr->err;
  o->offset[i] = dr->offset;
  o->reported++;
}

static kw_client *client(kw_client *(*make)(const kw_config *, char *, size_t), const char *const *kv) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  for (; kv && kv[0]; kv += 2) IT_CHECK(kw_config_set(conf, kv[0], kv[1], err, sizeof err) == 0, "%s", err);
  kw_client *c = make(conf, err, sizeof err);
  IT_CHECK(c != NULL, "client: %s", err);
  kw_config_free(conf);
  return c;
}

static void value_of(int i, char *out) {
  memset(out, 'x', VALUE_LEN);
  int n = snprintf(out, VALUE_LEN, "rec-%03d", i);
  out[n] = 'x';
  out[VALUE_LEN] = 0;
}

int main(void) {
  char topic[64], err[256];
  snprintf(topic, sizeof topic, "it-split-%d", (int)getpid());
  kw_client *admin = client(kw_admin_new, NULL);
  static const char *const configs[] = {"max.message.bytes", "2048", NULL};
  IT_CHECK(kw_admin_create_topic(admin, topic, 1, 1, configs, 30000, err, sizeof err) == 0, "create: %s", err);
  kw_client_destroy(admin);

  /* One batch of all the records (about 9 KB, over the topic's 2 KB); every record but
   * one fits on its own. */
  static const char *const kv[] = {"linger.ms", "500", "batch.size", "1000000", "compression.type", "none", NULL};
  kw_client *p = client(kw_producer_new, kv);
  outcome o = {0};
  kw_client_set_delivery_cb(p, on_delivery, &o);
  static char huge[3000];
  memset(huge, 'h', sizeof huge);
  for (int i = 0; i < N; i++) {
    char v[VALUE_LEN + 1];
    value_of(i, v);
    const void *val = i == HUGE_AT ? huge : v;
    size_t len = i == HUGE_AT ? sizeof huge : VALUE_LEN;
    IT_CHECK(kw_produce(p, topic, 0, NULL, 0, val, len, NULL, 0, 0, (void *)(intptr_t)i) == 0, "queued %d", i);
  }
  IT_CHECK(kw_client_flush(p, 60000) == KW_OK, "flush: %d of %d reported", o.reported, N);
  int64_t next = 0;
  for (int i = 0; i < N; i++) {
    if (i == HUGE_AT) {
      IT_CHECK(o.err[i] == KW_ERR_MSG_SIZE_TOO_LARGE, "the 3000-byte record: %s", kw_errname(o.err[i]));
      continue;
    }
    IT_CHECK(o.err[i] == 0, "record %d: %s", i, kw_errname(o.err[i]));
    IT_CHECK(o.offset[i] == next, "record %d at offset %lld, want %lld", i, (long long)o.offset[i], (long long)next);
    next++;
  }
  kw_client_destroy(p);

  /* What another client reads: each record once, in order. */
  char cmd[512], line[VALUE_LEN + 64];
  snprintf(cmd, sizeof cmd, "kcat -C -b %s -t %s -o beginning -e -q -f '%%s\\n'", it_bootstrap_string(), topic);
  FILE *f = popen(cmd, "r");
  IT_CHECK(f != NULL, "kcat");
  int i = 0, n = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (i == HUGE_AT) i++;
    char want[VALUE_LEN + 1];
    value_of(i, want);
    IT_CHECK(i < N && strcmp(line, want) == 0, "kcat's record %d is %.12s…, want %.12s…", n, line, i < N ? want : "(none)");
    i++;
    n++;
  }
  pclose(f);
  IT_CHECK(n == N - 1, "kcat read %d records, want %d", n, N - 1);
  printf("PASS it_producer_split: %d records in split batches, the one too large refused\n", n);
  return 0;
}
