/* Subscribing before the topic exists, and partitions added later, against the real
 * broker: what an event-driven service does when it starts before the producer that
 * creates its input topic. Two members of one group (classic range and KIP-848) subscribe
 * to a topic nobody has created; then it is created with 2 partitions and written to;
 * then grown to 4 partitions and written to again. Every record must reach the group
 * once. The Java consumer keeps asking for the missing topic's metadata and its leader
 * rejoins when the subscribed topics' partitions change (assignment snapshot vs
 * metadata); the broker does the same for KIP-848. The unfixed kwire joined with the
 * topic missing and was never assigned anything. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define N_RECORDS 40

static int seen[2 * N_RECORDS];

static kw_client *join(const char *group, const char *topic, const char *protocol) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "group.id", group, err, sizeof err);
  kw_config_set(conf, "group.protocol", protocol, err, sizeof err);
  kw_config_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
  kw_config_set(conf, "heartbeat.interval.ms", "300", err, sizeof err);
  kw_config_set(conf, "allow.auto.create.topics", "false", err, sizeof err); /* the producer's side creates it */
  /* Partitions added to a topic are learnt with the next metadata refresh, as in Java
   * (metadata.max.age.ms); a test does not wait the default five minutes. */
  kw_config_set(conf, "topic.metadata.refresh.interval.ms", "1000", err, sizeof err);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), err, sizeof err);
  kw_client *c = kw_consumer_new(conf, err, sizeof err);
  IT_CHECK(c != NULL, "consumer: %s", err);
  kw_config_free(conf);
  const char *topics[] = {topic};
  IT_CHECK(kw_consumer_subscribe(c, topics, 1) == 0, "subscribe");
  return c;
}

static int poll_some(kw_client *c) {
  kw_message msg;
  int got = 0;
  for (int k = 0; k < 200 && kw_consumer_poll(c, &msg, k == 0 ? 20 : 0) == 1; k++) {
    if (msg.err) continue; /* the missing topic is reported as an error event, as librdkafka does */
    int num;
    if (msg.value && sscanf((const char *)msg.value, "rec-%d", &num) == 1 && num >= 0 && num < 2 * N_RECORDS) {
      seen[num]++;
      got++;
    }
  }
  return got;
}

/* A new producer each time: it learns the partitions as they are now. */
static void produce(const char *topic, int from, int32_t n_parts) {
  char err[256];
  kw_config *conf = kw_config_new();
  kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(p != NULL, "%s", err);
  for (int i = from; i < from + N_RECORDS; i++) {
    char v[32];
    int vn = snprintf(v, sizeof v, "rec-%d", i);
    int rc = kw_produce(p, topic, i % n_parts, NULL, 0, v, (size_t)vn, NULL, 0, 0, NULL);
    IT_CHECK(rc == 0, "produce to partition %d: %s", i % n_parts, kw_strerror(rc));
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
}

static void run(const char *protocol) {
  char topic[96], group[96];
  snprintf(topic, sizeof topic, "it-topic-later-%s-%d", protocol, (int)getpid());
  snprintf(group, sizeof group, "it-topic-later-%s-%d", protocol, (int)getpid());
  memset(seen, 0, sizeof seen);
  printf("%s: two members subscribe to %s before it exists\n", protocol, topic);
  kw_client *a = join(group, topic, protocol), *b = join(group, topic, protocol);
  int64_t end = kw_now_ms() + 3000; /* joined, with nothing to read */
  while (kw_now_ms() < end) poll_some(a), poll_some(b);

  char err[256];
  kw_config *conf = kw_config_new();
  kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *admin = kw_admin_new(conf, err, sizeof err);
  kw_config_free(conf);
  IT_CHECK(admin != NULL, "%s", err);
  IT_CHECK(kw_admin_create_topic(admin, topic, 2, 1, NULL, 30000, err, sizeof err) == 0, "create: %s", err);
  produce(topic, 0, 2);
  int got = 0;
  end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && got < N_RECORDS) got += poll_some(a) + poll_some(b);
  printf("  topic created with 2 partitions: the group read %d of %d records\n", got, N_RECORDS);
  IT_CHECK(got == N_RECORDS, "the group read %d of %d records written after the topic was created", got, N_RECORDS);

  IT_CHECK(kw_admin_create_partitions(admin, topic, 4, 30000, err, sizeof err) == 0, "partitions: %s", err);
  produce(topic, N_RECORDS, 4);
  end = kw_now_ms() + 60000;
  while (kw_now_ms() < end && got < 2 * N_RECORDS) got += poll_some(a) + poll_some(b);
  int twice = 0;
  for (int i = 0; i < 2 * N_RECORDS; i++) twice += seen[i] > 1;
  printf("  grown to 4 partitions: the group read %d of %d records, %d twice\n", got, 2 * N_RECORDS, twice);
  IT_CHECK(got == 2 * N_RECORDS, "the group read %d of %d records after partitions were added", got, 2 * N_RECORDS);
  IT_CHECK(twice == 0, "%d records read twice", twice);
  kw_client_destroy(admin);
  kw_client_destroy(a);
  kw_client_destroy(b);
}

int main(void) {
  run("classic");
  run("consumer");
  printf("PASS it_group_topic_later\n");
  return 0;
}
