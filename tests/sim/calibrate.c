/* kwsim_calibrate: one scripted scenario run against the real Kafka broker (the ctest
 * fixture's) and then against kwsim, with what the client observed written down line
 * by line; the two must be the same. Where they differ, the model is wrong (issue 15:
 * "Where Kafka behaves differently from the model, the model is wrong").
 *
 * Observed: the offsets delivery reports give, watermarks, what an assign-mode consumer
 * reads from an offset, the error for a partition that does not exist and for a fetch
 * past the end, a classic and a KIP-848 group's assignment and the offsets they commit
 * and read back. Not observed: names, ids, times (they differ by design). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kwire.h"
#include "sim/kw_sim.h"
#include "tests/integration/it_support.h"

#define N_PARTS 3
#define PER_PART 10

typedef struct obs {
  char text[16384];
  size_t len;
} obs;

static void note(obs *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->text + o->len, sizeof o->text - o->len, fmt, ap);
  va_end(ap);
  if (n > 0 && o->len + (size_t)n < sizeof o->text) o->len += (size_t)n;
  if (o->len + 1 < sizeof o->text) o->text[o->len++] = '\n';
  o->text[o->len] = 0;
}

static kw_config *base_conf(const char *bootstrap) {
  kw_config *c = kw_config_new();
  char err[256];
  kw_config_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
  kw_config_set(c, "allow.auto.create.topics", "false", err, sizeof err);
  if (getenv("KW_DEBUG")) kw_config_set(c, "debug", getenv("KW_DEBUG"), err, sizeof err);
  return c;
}

static void on_report(void *ud, const kw_delivery_report *dr) {
  obs *o = ud;
  note(o, "delivered [%d] offset %lld: %s", (int)dr->partition, (long long)dr->offset, kw_errname(dr->err));
}

static void produce(obs *o, const char *bootstrap, const char *topic) {
  kw_config *c = base_conf(bootstrap);
  char err[256];
  kw_client *p = kw_producer_new(c, err, sizeof err);
  kw_config_free(c);
  IT_CHECK(p != NULL, "%s", err);
  kw_client_set_delivery_cb(p, on_report, o);
  for (int i = 0; i < N_PARTS * PER_PART; i++) { /* one partition at a time: reports in order */
    char v[16];
    int vn = snprintf(v, sizeof v, "v%d", i);
    IT_CHECK(kw_produce(p, topic, i / PER_PART, "k", 1, v, (size_t)vn, NULL, 0, 0, NULL) == 0, "produce");
    if (i % PER_PART == PER_PART - 1) IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  }
  int rc = kw_produce(p, topic, N_PARTS + 5, "k", 1, "x", 1, NULL, 0, 0, NULL);
  note(o, "produce to partition %d: %s", N_PARTS + 5, kw_errname(rc));
  kw_client_destroy(p);
}

static void read_back(obs *o, const char *bootstrap, const char *topic) {
  kw_config *c = base_conf(bootstrap);
  char err[256];
  kw_client *cl = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  IT_CHECK(cl != NULL, "%s", err);
  int64_t low = -1, high = -1;
  int rc = kw_consumer_watermarks(cl, topic, 1, &low, &high, 30000);
  note(o, "watermarks [1]: %s low %lld high %lld", kw_errname(rc), (long long)low, (long long)high);
  kw_consumer_assign(cl, topic, 1, 7);
  kw_consumer_assign(cl, topic, 2, PER_PART + 3); /* past the end: auto.offset.reset (latest) */
  int got = 0;
  for (int k = 0; k < 300 && got < PER_PART - 7; k++) {
    kw_message m;
    if (kw_consumer_poll(cl, &m, 100) != 1) continue;
    if (m.err) {
      note(o, "event [%d]: %s", (int)m.partition, kw_errname(m.err));
      continue;
    }
    note(o, "read [%d] offset %lld %.*s", (int)m.partition, (long long)m.offset, (int)m.value_len,
         (const char *)m.value);
    got++;
  }
  note(o, "position [2]: %lld", (long long)kw_consumer_position(cl, topic, 2));
  kw_client_destroy(cl);
}

/* What a consumer is told about offsets past the end (auto.offset.reset=error) and a
 * topic that does not exist. */
static void errors(obs *o, const char *bootstrap, const char *topic) {
  kw_config *c = base_conf(bootstrap);
  char err[256];
  kw_config_set(c, "auto.offset.reset", "error", err, sizeof err);
  kw_client *cl = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  IT_CHECK(cl != NULL, "%s", err);
  kw_consumer_assign(cl, topic, 0, PER_PART + 5);
  kw_consumer_assign(cl, "calibrate-no-such-topic", 0, 0);
  int events = 0;
  for (int k = 0; k < 300 && events < 2; k++) {
    kw_message m;
    if (kw_consumer_poll(cl, &m, 100) != 1 || !m.err) continue;
    events++;
    note(o, "event %s [%d]: %s %s", strcmp(m.topic, topic) == 0 ? "topic" : "missing topic", (int)m.partition,
         kw_errname(m.err), m.err == KW_ERR_BROKER ? kw_kerr_name(m.kafka_error) : "");
  }
  kw_client_destroy(cl);
}

/* One member alone: every partition, commits, and reads the commits back. */
static void group(obs *o, const char *bootstrap, const char *topic, const char *group_id, const char *protocol) {
  kw_config *c = base_conf(bootstrap);
  char err[256];
  kw_config_set(c, "group.id", group_id, err, sizeof err);
  kw_config_set(c, "group.protocol", protocol, err, sizeof err);
  kw_config_set(c, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(c, "enable.auto.commit", "false", err, sizeof err);
  kw_config_set(c, "enable.auto.offset.store", "false", err, sizeof err);
  kw_client *cl = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  IT_CHECK(cl != NULL, "%s", err);
  const char *topics[] = {topic};
  kw_consumer_subscribe(cl, topics, 1);
  int per[N_PARTS] = {0}, got = 0;
  for (int k = 0; k < 600 && got < N_PARTS * PER_PART; k++) {
    kw_message m;
    if (kw_consumer_poll(cl, &m, 100) != 1 || m.err) continue;
    per[m.partition]++;
    got++;
    kw_consumer_store_offset(cl, m.topic, m.partition, m.offset + 1);
  }
  note(o, "%s group read %d %d %d", protocol, per[0], per[1], per[2]);
  note(o, "%s group generation >= 1: %d", protocol, kw_consumer_generation(cl) >= 1);
  note(o, "%s commit: %s", protocol, kw_errname(kw_consumer_commit(cl, 30000)));
  for (int p = 0; p < N_PARTS; p++) {
    int64_t off = -2;
    int rc = kw_consumer_committed(cl, topic, p, &off, 30000);
    note(o, "%s committed [%d]: %s %lld", protocol, p, kw_errname(rc), (long long)off);
  }
  kw_consumer_close(cl, 10000);
  kw_client_destroy(cl);
}

static void scenario(obs *o, const char *bootstrap, const char *topic, const char *tag) {
  produce(o, bootstrap, topic);
  read_back(o, bootstrap, topic);
  errors(o, bootstrap, topic);
  char g[96];
  snprintf(g, sizeof g, "calibrate-classic-%s", tag);
  group(o, bootstrap, topic, g, "classic");
  snprintf(g, sizeof g, "calibrate-consumer-%s", tag);
  group(o, bootstrap, topic, g, "consumer");
}

int main(void) {
  static obs real, sim;
  char topic[64], tag[32];
  snprintf(tag, sizeof tag, "%d", (int)getpid());
  snprintf(topic, sizeof topic, "calibrate-%s", tag);
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, N_PARTS);
  kw_conn_free(admin);
  scenario(&real, it_bootstrap_string(), topic, tag);

  kw_sim_config cfg = {.seed = 1, .n_brokers = 1};
  kw_sim *s = kw_sim_new(&cfg);
  IT_CHECK(s != NULL, "kw_sim_new");
  IT_CHECK(kw_sim_create_topic(s, topic, N_PARTS, 1) == 0, "sim topic");
  kw_sim_install(s);
  scenario(&sim, kw_sim_bootstrap(s), topic, tag);
  kw_sim_install(NULL);
  kw_sim_free(s);

  printf("--- the real broker ---\n%s--- kwsim ---\n%s", real.text, sim.text);
  IT_CHECK(real.len == sim.len && memcmp(real.text, sim.text, real.len) == 0,
           "kwsim and the real broker differ (see above): the model is wrong");
  printf("PASS kwsim_calibrate\n");
  return 0;
}
