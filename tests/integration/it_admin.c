/* The admin API (include/kwire/admin.h) against the real broker: topics (create with a
 * config, already exists, grow partitions, delete), list offsets (earliest, latest, by
 * timestamp, max timestamp) after producing with kwire, and consumer groups made by
 * Kafka's own console consumer: an Empty group with committed offsets and lag, a live
 * classic member, a live member of the new consumer protocol (KIP-848); the cluster's
 * metadata; a consumer's committed offsets, which go through the same code. Facts are
 * checked with plain requests on a separate connection, not with the API under test. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "kwire.h"
#include "kwire/admin.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"
#include "tests/integration/it_support.h"

#define N_RECORDS 1000
#define M_CONSUMED 300
#define T_MS 30000

static char errstr[512];

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL); }

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Partition count of a topic in a fresh Metadata answer; -1 when unknown to the broker. */
static int md_partitions(kw_conn *c, const char *topic) {
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_metadata_req_topic t;
  kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &t);
  t.name = (kw_slice){(const uint8_t *)topic, (int32_t)strlen(topic)};
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  req.topics = &t;
  req.n_topics = 1;
  req.allow_auto_topic_creation = false;
  kw_metadata_resp md;
  it_call(c, KW_API_METADATA, &req, &md, &a);
  int n = md.n_topics == 1 && md.topics[0].error_code == 0 ? md.topics[0].n_partitions : -1;
  kw_arena_reset(&a);
  return n;
}

/* A topic config's value as DescribeConfigs reports it. */
static void topic_config(kw_conn *c, const char *topic, const char *key, char *out, size_t n) {
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_slice k = {(const uint8_t *)key, (int32_t)strlen(key)};
  kw_describe_configs_req_describe_configs_resource r;
  kw_msg_init(KW_SCHEMA_DESCRIBE_CONFIGS_REQ_DESCRIBE_CONFIGS_RESOURCE, &r);
  r.resource_type = 2; /* topic */
  r.resource_name = (kw_slice){(const uint8_t *)topic, (int32_t)strlen(topic)};
  r.configuration_keys = &k;
  r.n_configuration_keys = 1;
  kw_describe_configs_req req;
  kw_msg_init(KW_SCHEMA_DESCRIBE_CONFIGS_REQ, &req);
  req.resources = &r;
  req.n_resources = 1;
  kw_describe_configs_resp resp;
  it_call(c, KW_API_DESCRIBE_CONFIGS, &req, &resp, &a);
  IT_CHECK(resp.n_results == 1 && resp.results[0].error_code == 0 && resp.results[0].n_configs == 1,
           "DescribeConfigs %s", topic);
  const kw_slice *v = &resp.results[0].configs[0].value;
  snprintf(out, n, "%.*s", v->ptr ? (int)v->len : 0, v->ptr ? (const char *)v->ptr : "");
  kw_arena_reset(&a);
}

static kw_client *make_client(bool producer) {
  kw_config *conf = kw_config_new();
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), errstr, sizeof errstr) == 0, "%s", errstr);
  if (getenv("KW_DEBUG")) kw_config_set(conf, "debug", getenv("KW_DEBUG"), errstr, sizeof errstr);
  kw_client *cl = producer ? kw_producer_new(conf, errstr, sizeof errstr) : kw_admin_new(conf, errstr, sizeof errstr);
  IT_CHECK(cl != NULL, "client: %s", errstr);
  kw_config_free(conf);
  return cl;
}

/* ---- topics ---- */

static void check_topics(kw_client *ad, kw_conn *c, const char *topic) {
  const char *cfg[] = {"retention.ms", "3600000", "cleanup.policy", "delete", NULL};
  int64_t t0 = now_ms();
  int rc = kw_admin_create_topic(ad, topic, 3, 1, cfg, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK, "create_topic: %s: %s", kw_errname(rc), errstr);
  int n = md_partitions(c, topic);
  IT_CHECK(n == 3, "metadata right after create_topic: %d partitions", n);
  char value[64];
  topic_config(c, topic, "retention.ms", value, sizeof value);
  IT_CHECK(strcmp(value, "3600000") == 0, "retention.ms = '%s'", value);
  printf("create_topic: %s usable with 3 partitions, retention.ms=%s (%lld ms)\n", topic, value,
         (long long)(now_ms() - t0));

  rc = kw_admin_create_topic(ad, topic, 3, 1, NULL, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_ERR_BROKER && strstr(errstr, "TOPIC_ALREADY_EXISTS"), "second create: %s: %s", kw_errname(rc),
           errstr);
  printf("create_topic again: KW_ERR_BROKER \"%s\"\n", errstr);

  rc = kw_admin_create_topic(ad, "", 1, 1, NULL, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_ERR_INVALID_ARG, "empty name: %s", kw_errname(rc));
  const char *odd[] = {"retention.ms", NULL};
  rc = kw_admin_create_topic(ad, "x", 1, 1, odd, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_ERR_INVALID_ARG, "config without value: %s", kw_errname(rc));
  rc = kw_admin_create_topic(ad, "it-admin-bad-config", 1, 1, (const char *[]){"no.such.config", "1", NULL}, T_MS,
                             errstr, sizeof errstr);
  IT_CHECK(rc == KW_ERR_BROKER && strstr(errstr, "INVALID_CONFIG"), "unknown config: %s: %s", kw_errname(rc), errstr);
  printf("create_topic with an unknown config: KW_ERR_BROKER \"%s\"\n", errstr);

  rc = kw_admin_create_partitions(ad, topic, 5, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK, "create_partitions: %s: %s", kw_errname(rc), errstr);
  n = md_partitions(c, topic);
  IT_CHECK(n == 5, "metadata right after create_partitions: %d partitions", n);
  rc = kw_admin_create_partitions(ad, topic, 5, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_ERR_BROKER && strstr(errstr, "INVALID_PARTITIONS"), "same count: %s: %s", kw_errname(rc), errstr);
  printf("create_partitions: 5 partitions; again: KW_ERR_BROKER \"%s\"\n", errstr);
}

/* ---- the cluster ---- */

/* describe_cluster says what a plain Metadata request says, for one topic and for all. */
static void check_cluster(kw_client *ad, kw_conn *c, const char *topic) {
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_metadata_req_topic t;
  kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &t);
  t.name = (kw_slice){(const uint8_t *)topic, (int32_t)strlen(topic)};
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  req.topics = &t;
  req.n_topics = 1;
  req.allow_auto_topic_creation = false;
  kw_metadata_resp md;
  it_call(c, KW_API_METADATA, &req, &md, &a);
  IT_CHECK(md.n_topics == 1 && md.topics[0].error_code == 0, "plain Metadata for %s", topic);
  const kw_metadata_resp_topic *mt = &md.topics[0];

  kw_admin_result *res = NULL;
  int rc = kw_admin_describe_cluster(ad, topic, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK, "describe_cluster: %s: %s", kw_errname(rc), errstr);
  IT_CHECK(kw_admin_broker_count(res) == md.n_brokers, "%d brokers, plain Metadata says %d", kw_admin_broker_count(res),
           md.n_brokers);
  for (int b = 0; b < md.n_brokers; b++) {
    const kw_metadata_resp_broker *mb = &md.brokers[b];
    IT_CHECK(kw_admin_broker_id(res, b) == mb->node_id && kw_admin_broker_port(res, b) == mb->port &&
                 strlen(kw_admin_broker_host(res, b)) == (size_t)mb->host.len &&
                 memcmp(kw_admin_broker_host(res, b), mb->host.ptr, (size_t)mb->host.len) == 0,
             "broker %d: %d at %s:%d", b, kw_admin_broker_id(res, b), kw_admin_broker_host(res, b),
             kw_admin_broker_port(res, b));
  }
  IT_CHECK(kw_admin_controller_id(res) == md.controller_id, "controller %d", kw_admin_controller_id(res));
  IT_CHECK(kw_admin_result_count(res) == 1 && strcmp(kw_admin_topic(res, 0), topic) == 0 &&
               kw_admin_topic_error(res, 0) == 0 && kw_admin_topic_partition_count(res, 0) == mt->n_partitions,
           "topic row: %d rows, %s with %d partitions", kw_admin_result_count(res), kw_admin_topic(res, 0),
           kw_admin_topic_partition_count(res, 0));
  for (int k = 0; k < mt->n_partitions; k++) {
    const kw_metadata_resp_partition *mp = &mt->partitions[k];
    IT_CHECK(kw_admin_topic_partition(res, 0, k) == mp->partition_index &&
                 kw_admin_topic_leader(res, 0, k) == mp->leader_id && kw_admin_topic_leader(res, 0, k) >= 0 &&
                 kw_admin_topic_partition_error(res, 0, k) == 0 &&
                 kw_admin_topic_replica_count(res, 0, k) == mp->n_replica_nodes &&
                 kw_admin_topic_isr_count(res, 0, k) == mp->n_isr_nodes,
             "partition row %d", k);
    for (int r = 0; r < mp->n_replica_nodes; r++)
      IT_CHECK(kw_admin_topic_replica(res, 0, k, r) == mp->replica_nodes[r], "partition %d replica %d", k, r);
    for (int r = 0; r < mp->n_isr_nodes; r++)
      IT_CHECK(kw_admin_topic_isr(res, 0, k, r) == mp->isr_nodes[r], "partition %d isr %d", k, r);
  }
  IT_CHECK(kw_admin_topic_replica(res, 0, 0, mt->partitions[0].n_replica_nodes) == -1 &&
               kw_admin_topic_leader(res, 1, 0) == -1 && kw_admin_group_id(res, 0) == NULL,
           "out of range accessors");
  printf("describe_cluster(%s): %d broker(s), controller %d, %d partitions with leaders, replicas and ISRs as "
         "Metadata says\n", topic, kw_admin_broker_count(res), kw_admin_controller_id(res),
         kw_admin_topic_partition_count(res, 0));
  kw_admin_result_free(res);

  char missing[128];
  snprintf(missing, sizeof missing, "%s-missing", topic);
  rc = kw_admin_describe_cluster(ad, missing, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK && kw_admin_result_count(res) == 1 && kw_admin_topic_error(res, 0) == 3 &&
               strcmp(kw_kerr_name(kw_admin_topic_error(res, 0)), "UNKNOWN_TOPIC_OR_PARTITION") == 0,
           "describe_cluster of a missing topic: %s: %s", kw_errname(rc), errstr);
  kw_admin_result_free(res);
  IT_CHECK(md_partitions(c, missing) == -1, "describe_cluster created %s", missing);
  rc = kw_admin_describe_cluster(ad, NULL, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK, "describe_cluster(all): %s: %s", kw_errname(rc), errstr);
  int found = -1;
  for (int i = 0; i < kw_admin_result_count(res); i++)
    if (strcmp(kw_admin_topic(res, i), topic) == 0) found = i;
  IT_CHECK(found >= 0 && kw_admin_topic_partition_count(res, found) == mt->n_partitions, "describe_cluster(all) lacks %s",
           topic);
  printf("describe_cluster: a missing topic is a row with UNKNOWN_TOPIC_OR_PARTITION (not created); all: %d topics\n",
         kw_admin_result_count(res));
  kw_admin_result_free(res);
  kw_arena_reset(&a);
}

/* ---- offsets ---- */

static int delivered, failed;
static void on_dr(void *ud, const kw_delivery_report *dr) {
  (void)ud;
  if (dr->err) failed++;
  else delivered++;
}

/* Record i has timestamp base + i; partitions round robin over 5. */
static int64_t produce(const char *topic) {
  kw_client *p = make_client(true);
  kw_client_set_delivery_cb(p, on_dr, NULL);
  int64_t base = (int64_t)time(NULL) * 1000 - 3600 * 1000; /* an hour ago: inside retention */
  for (int i = 0; i < N_RECORDS; i++) {
    char v[32];
    int vn = snprintf(v, sizeof v, "record-%d", i);
    int rc;
    while ((rc = kw_produce(p, topic, i % 5, NULL, 0, v, (size_t)vn, NULL, 0, base + i, NULL)) == KW_ERR_QUEUE_FULL)
      kw_client_poll(p, 10);
    IT_CHECK(rc == KW_OK, "produce: %s", kw_errname(rc));
  }
  IT_CHECK(kw_client_flush(p, T_MS) == KW_OK, "flush");
  IT_CHECK(delivered == N_RECORDS && failed == 0, "delivered %d, failed %d", delivered, failed);
  kw_client_destroy(p);
  return base;
}

static kw_admin_result *offsets(kw_client *ad, const char *topic, int64_t spec) {
  kw_admin_result *res = NULL;
  int rc = kw_admin_list_offsets(ad, topic, spec, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK && res, "list_offsets %lld: %s: %s", (long long)spec, kw_errname(rc), errstr);
  IT_CHECK(kw_admin_result_count(res) == 5, "list_offsets: %d partitions", kw_admin_result_count(res));
  for (int i = 0; i < 5; i++)
    IT_CHECK(kw_admin_partition(res, i) == i && strcmp(kw_admin_topic(res, i), topic) == 0, "row %d: %s/%d", i,
             kw_admin_topic(res, i), kw_admin_partition(res, i));
  return res;
}

static void check_list_offsets(kw_client *ad, const char *topic, int64_t base) {
  kw_admin_result *lo = offsets(ad, topic, KW_ADMIN_OFFSET_EARLIEST);
  kw_admin_result *hi = offsets(ad, topic, KW_ADMIN_OFFSET_LATEST);
  int64_t sum_lo = 0, sum_hi = 0;
  for (int i = 0; i < 5; i++) {
    sum_lo += kw_admin_offset(lo, i);
    sum_hi += kw_admin_offset(hi, i);
    IT_CHECK(kw_admin_offset(hi, i) == N_RECORDS / 5, "partition %d latest %lld", i, (long long)kw_admin_offset(hi, i));
  }
  IT_CHECK(sum_lo == 0 && sum_hi == N_RECORDS, "earliest sum %lld, latest sum %lld", (long long)sum_lo,
           (long long)sum_hi);
  printf("list_offsets: earliest sum %lld, latest sum %lld == %d produced\n", (long long)sum_lo, (long long)sum_hi,
         N_RECORDS);

  /* Records at or after base + N/2: the offsets found leave exactly N/2 of them. */
  kw_admin_result *ts = offsets(ad, topic, base + N_RECORDS / 2);
  int64_t after = 0;
  for (int i = 0; i < 5; i++) {
    int64_t o = kw_admin_offset(ts, i);
    IT_CHECK(o >= 0 && kw_admin_timestamp(ts, i) >= base + N_RECORDS / 2, "partition %d: offset %lld ts %lld", i,
             (long long)o, (long long)kw_admin_timestamp(ts, i));
    after += kw_admin_offset(hi, i) - o;
  }
  IT_CHECK(after == N_RECORDS / 2, "%lld records at or after the middle timestamp", (long long)after);
  kw_admin_result_free(ts);
  ts = offsets(ad, topic, base + N_RECORDS + 3600 * 1000);
  for (int i = 0; i < 5; i++) IT_CHECK(kw_admin_offset(ts, i) == -1, "future timestamp: offset %lld", (long long)kw_admin_offset(ts, i));
  kw_admin_result_free(ts);
  ts = offsets(ad, topic, KW_ADMIN_OFFSET_MAX_TIMESTAMP);
  int64_t max_ts = -1;
  for (int i = 0; i < 5; i++)
    if (kw_admin_timestamp(ts, i) > max_ts) max_ts = kw_admin_timestamp(ts, i);
  IT_CHECK(max_ts == base + N_RECORDS - 1, "max timestamp %lld, want %lld", (long long)max_ts,
           (long long)(base + N_RECORDS - 1));
  kw_admin_result_free(ts);
  printf("list_offsets by timestamp: %lld records from the middle on; future: -1 everywhere; max timestamp found\n",
         (long long)after);

  kw_admin_result *none = NULL;
  int rc = kw_admin_list_offsets(ad, "it-admin-no-such-topic", -1, 5000, &none, errstr, sizeof errstr);
  IT_CHECK(rc == KW_ERR_UNKNOWN_TOPIC && none == NULL, "unknown topic: %s: %s", kw_errname(rc), errstr);
  kw_admin_result_free(lo);
  kw_admin_result_free(hi);
}

/* ---- groups, made by Kafka's console consumer ---- */

static pid_t console_consumer(const char *topic, const char *group, int max_messages, const char *protocol,
                              const char *client_id) {
  const char *dir = getenv("KW_BROKER_DIR");
  IT_CHECK(dir != NULL, "KW_BROKER_DIR not set");
  char path[1024], libs[1024] = {0}, cp[1100], log4j[1100], logprop[1100], maxm[32], proto[64], cid[128];
  snprintf(path, sizeof path, "%s/libs", dir);
  FILE *f = fopen(path, "r");
  IT_CHECK(f != NULL, "%s missing", path);
  if (!fgets(libs, sizeof libs, f)) libs[0] = 0;
  fclose(f);
  libs[strcspn(libs, "\r\n")] = 0;
  snprintf(cp, sizeof cp, "%s/*", libs);
  snprintf(log4j, sizeof log4j, "-Dlog4j2.configurationFile=%s/log4j2.properties", dir);
  snprintf(logprop, sizeof logprop, "-Dkwire.log=%s/it-admin-%s.log", dir, client_id);
  snprintf(maxm, sizeof maxm, "%d", max_messages);
  snprintf(proto, sizeof proto, "group.protocol=%s", protocol);
  snprintf(cid, sizeof cid, "client.id=%s", client_id);
  const char *java = getenv("JAVA_HOME");
  char javabin[1024];
  snprintf(javabin, sizeof javabin, "%s%s", java ? java : "", java ? "/bin/java" : "java");
  const char *argv[40];
  int n = 0;
  argv[n++] = javabin;
  argv[n++] = "-Xmx256m";
  argv[n++] = "-XX:TieredStopAtLevel=1";
  argv[n++] = "-XX:+UseSerialGC";
  argv[n++] = log4j;
  argv[n++] = logprop;
  argv[n++] = "-cp";
  argv[n++] = cp;
  argv[n++] = "org.apache.kafka.tools.consumer.ConsoleConsumer";
  argv[n++] = "--bootstrap-server";
  argv[n++] = it_bootstrap_string();
  argv[n++] = "--topic";
  argv[n++] = topic;
  argv[n++] = "--group";
  argv[n++] = group;
  argv[n++] = "--from-beginning";
  /* one record per poll: the position (committed on close) is exactly what was printed */
  argv[n++] = "--consumer-property";
  argv[n++] = "max.poll.records=1";
  argv[n++] = "--consumer-property";
  argv[n++] = proto;
  argv[n++] = "--consumer-property";
  argv[n++] = cid;
  if (max_messages > 0) {
    argv[n++] = "--max-messages";
    argv[n++] = maxm;
  }
  argv[n] = NULL;
  fflush(stdout);
  pid_t pid = fork();
  IT_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static int wait_exit(pid_t pid, int timeout_ms) {
  for (int64_t end = now_ms() + timeout_ms; now_ms() < end; sleep_ms(50)) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static int find_group(const kw_admin_result *res, const char *group) {
  for (int i = 0; i < kw_admin_result_count(res); i++)
    if (strcmp(kw_admin_group_id(res, i), group) == 0) return i;
  return -1;
}

/* A kwire consumer of the group (not joining it) reads what Kafka's console consumer
 * committed: the same offsets as group_offsets, through the same OffsetFetch code. */
static void check_consumer_committed(const char *topic, const char *group, const int64_t *per_part) {
  kw_config *conf = kw_config_new();
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", it_bootstrap_string(), errstr, sizeof errstr) == 0, "%s", errstr);
  IT_CHECK(kw_config_set(conf, "group.id", group, errstr, sizeof errstr) == 0, "%s", errstr);
  kw_client *cons = kw_consumer_new(conf, errstr, sizeof errstr);
  kw_config_free(conf);
  IT_CHECK(cons != NULL, "consumer: %s", errstr);
  int64_t sum = 0;
  for (int32_t p = 0; p < 5; p++) {
    int64_t off = -2;
    int rc = kw_consumer_committed(cons, topic, p, &off, T_MS);
    IT_CHECK(rc == KW_OK && off == per_part[p], "committed(%d): %s, %lld; group_offsets says %lld", p, kw_errname(rc),
             (long long)off, (long long)per_part[p]);
    if (off > 0) sum += off;
  }
  IT_CHECK(sum == M_CONSUMED, "consumer's committed sum %lld, want %d", (long long)sum, M_CONSUMED);
  char missing[128];
  snprintf(missing, sizeof missing, "%s-missing", topic);
  int64_t off = 0;
  int rc = kw_consumer_committed(cons, missing, 0, &off, T_MS);
  IT_CHECK(rc == KW_ERR_UNKNOWN_TOPIC, "committed of a missing topic: %s", kw_errname(rc));
  kw_client_destroy(cons);
  printf("kw_consumer_committed: the console consumer's offsets (sum %lld), as group_offsets; a missing topic: %s\n",
         (long long)sum, kw_errname(rc));
}

static void check_empty_group(kw_client *ad, const char *topic, const char *group) {
  int64_t t0 = now_ms();
  pid_t pid = console_consumer(topic, group, M_CONSUMED, "classic", "it-admin-once");
  int st = wait_exit(pid, 40000);
  IT_CHECK(st == 0, "console consumer (--max-messages %d) exited with %d", M_CONSUMED, st);
  printf("console consumer read %d records in group %s and exited (%lld ms)\n", M_CONSUMED, group,
         (long long)(now_ms() - t0));

  kw_admin_result *res = NULL;
  int rc = kw_admin_list_groups(ad, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK, "list_groups: %s: %s", kw_errname(rc), errstr);
  int i = find_group(res, group);
  IT_CHECK(i >= 0, "list_groups: %s missing among %d groups", group, kw_admin_result_count(res));
  printf("list_groups: %d groups; %s: state %s, protocol type %s, type %s\n", kw_admin_result_count(res), group,
         kw_admin_group_state(res, i), kw_admin_group_protocol_type(res, i), kw_admin_group_type(res, i));
  IT_CHECK(strcmp(kw_admin_group_protocol_type(res, i), "consumer") == 0, "protocol type");
  for (int k = 1; k < kw_admin_result_count(res); k++)
    IT_CHECK(strcmp(kw_admin_group_id(res, k - 1), kw_admin_group_id(res, k)) < 0, "groups sorted");
  kw_admin_result_free(res);

  rc = kw_admin_describe_group(ad, group, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK, "describe_group: %s: %s", kw_errname(rc), errstr);
  IT_CHECK(kw_admin_result_count(res) == 1 && strcmp(kw_admin_group_id(res, 0), group) == 0, "describe: id");
  IT_CHECK(strcmp(kw_admin_group_state(res, 0), "Empty") == 0, "describe: state %s", kw_admin_group_state(res, 0));
  IT_CHECK(strcmp(kw_admin_group_protocol_type(res, 0), "consumer") == 0, "describe: protocol type %s",
           kw_admin_group_protocol_type(res, 0));
  IT_CHECK(kw_admin_member_count(res) == 0, "describe: %d members", kw_admin_member_count(res));
  printf("describe_group: %s state %s, protocol type %s, %d members\n", group, kw_admin_group_state(res, 0),
         kw_admin_group_protocol_type(res, 0), kw_admin_member_count(res));
  kw_admin_result_free(res);

  int64_t per_part[5] = {-1, -1, -1, -1, -1}; /* committed, as group_offsets(topic) says */
  for (int pass = 0; pass < 2; pass++) { /* the whole group, then just the topic */
    rc = kw_admin_group_offsets(ad, group, pass ? topic : NULL, T_MS, &res, errstr, sizeof errstr);
    IT_CHECK(rc == KW_OK, "group_offsets: %s: %s", kw_errname(rc), errstr);
    int64_t committed = 0, lag = 0, hwm = 0;
    int rows = kw_admin_result_count(res), uncommitted = 0;
    for (int k = 0; k < rows; k++) {
      IT_CHECK(strcmp(kw_admin_topic(res, k), topic) == 0, "group_offsets: topic %s", kw_admin_topic(res, k));
      int64_t c = kw_admin_offset(res, k), h = kw_admin_high_watermark(res, k), l = kw_admin_lag(res, k);
      IT_CHECK(h == N_RECORDS / 5, "partition %d: high watermark %lld", kw_admin_partition(res, k), (long long)h);
      IT_CHECK(l == (c >= 0 ? h - c : h), "partition %d: lag %lld, committed %lld", kw_admin_partition(res, k),
               (long long)l, (long long)c);
      if (c >= 0) committed += c;
      else uncommitted++;
      if (pass == 1 && kw_admin_partition(res, k) >= 0 && kw_admin_partition(res, k) < 5)
        per_part[kw_admin_partition(res, k)] = c;
      lag += l;
      hwm += h;
    }
    IT_CHECK(pass == 0 || rows == 5, "group_offsets for the topic: %d rows", rows);
    IT_CHECK(pass == 1 || uncommitted == 0, "group_offsets for the group: %d uncommitted rows", uncommitted);
    IT_CHECK(committed == M_CONSUMED, "committed sum %lld, want %d", (long long)committed, M_CONSUMED);
    IT_CHECK(lag == N_RECORDS - M_CONSUMED, "lag sum %lld, want %d", (long long)lag, N_RECORDS - M_CONSUMED);
    printf("group_offsets(%s): %d partitions (%d uncommitted), committed sum %lld, lag sum %lld == %d - %d\n",
           pass ? topic : "all", rows, uncommitted, (long long)committed, (long long)lag, N_RECORDS, M_CONSUMED);
    kw_admin_result_free(res);
  }

  check_consumer_committed(topic, group, per_part);

  /* A group that committed nothing: every partition's lag is all it retains. */
  rc = kw_admin_group_offsets(ad, "it-admin-no-commits", topic, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK && kw_admin_result_count(res) == 5, "group_offsets without commits: %s: %s", kw_errname(rc),
           errstr);
  int64_t lag = 0;
  for (int k = 0; k < 5; k++) {
    IT_CHECK(kw_admin_offset(res, k) == -1 && kw_admin_high_watermark(res, k) == N_RECORDS / 5,
             "partition %d: committed %lld, high watermark %lld", k, (long long)kw_admin_offset(res, k),
             (long long)kw_admin_high_watermark(res, k));
    lag += kw_admin_lag(res, k);
  }
  IT_CHECK(lag == N_RECORDS, "lag sum without commits %lld", (long long)lag);
  kw_admin_result_free(res);
  rc = kw_admin_group_offsets(ad, "it-admin-no-commits", NULL, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK && kw_admin_result_count(res) == 0, "group_offsets(all) without commits: %s, %d rows",
           kw_errname(rc), res ? kw_admin_result_count(res) : -1);
  kw_admin_result_free(res);
  printf("group_offsets of a group without commits: committed -1, lag sum %lld (high watermark - log start); "
         "all: no rows\n", (long long)lag);

  rc = kw_admin_describe_group(ad, "it-admin-no-such-group", 10000, &res, errstr, sizeof errstr);
  if (rc == KW_OK) {
    printf("describe_group of an unknown group: state %s\n", kw_admin_group_state(res, 0));
    IT_CHECK(strcmp(kw_admin_group_state(res, 0), "Dead") == 0, "unknown group state %s", kw_admin_group_state(res, 0));
    kw_admin_result_free(res);
  } else {
    IT_CHECK(rc == KW_ERR_BROKER && strstr(errstr, "GROUP_ID_NOT_FOUND"), "unknown group: %s: %s", kw_errname(rc),
             errstr);
    printf("describe_group of an unknown group: KW_ERR_BROKER \"%s\"\n", errstr);
  }
}

/* Waits for `group` to be Stable with one member that owns all 5 partitions. */
static void await_live(kw_client *ad, const char *topic, const char *group, const char *type, const char *client_id,
                       pid_t pid) {
  int64_t end = now_ms() + 40000;
  char last[700] = "no answer";
  for (;;) {
    int st;
    IT_CHECK(waitpid(pid, &st, WNOHANG) == 0, "console consumer for %s exited early", group);
    kw_admin_result *res = NULL;
    int rc = kw_admin_describe_group(ad, group, 5000, &res, errstr, sizeof errstr);
    if (rc == KW_OK) {
      int m = kw_admin_member_count(res), parts = 0;
      bool all_ours = true;
      for (int k = 0; m == 1 && k < kw_admin_member_assignment_count(res, 0); k++) {
        all_ours &= strcmp(kw_admin_member_assignment_topic(res, 0, k), topic) == 0 &&
                    kw_admin_member_assignment_partition(res, 0, k) == k;
        parts++;
      }
      snprintf(last, sizeof last, "state %s, %d members, %d partitions", kw_admin_group_state(res, 0), m, parts);
      if (strcmp(kw_admin_group_state(res, 0), "Stable") == 0 && m == 1 && parts == 5 && all_ours) {
        IT_CHECK(strcmp(kw_admin_group_type(res, 0), type) == 0, "group type %s, want %s", kw_admin_group_type(res, 0),
                 type);
        IT_CHECK(strcmp(kw_admin_member_client_id(res, 0), client_id) == 0, "client id %s",
                 kw_admin_member_client_id(res, 0));
        IT_CHECK(*kw_admin_member_id(res, 0) && *kw_admin_member_host(res, 0), "member id / host empty");
        IT_CHECK(kw_admin_member_instance_id(res, 0) == NULL, "instance id %s", kw_admin_member_instance_id(res, 0));
        printf("describe_group: %s (%s) Stable, protocol %s, member %s client %s host %s owns %s/0-4\n", group,
               kw_admin_group_type(res, 0), kw_admin_group_protocol(res, 0), kw_admin_member_id(res, 0),
               kw_admin_member_client_id(res, 0), kw_admin_member_host(res, 0), topic);
        kw_admin_result_free(res);
        return;
      }
      kw_admin_result_free(res);
    } else {
      snprintf(last, sizeof last, "%s: %s", kw_errname(rc), errstr);
    }
    IT_CHECK(now_ms() < end, "group %s never Stable with one member owning 5 partitions: %s", group, last);
    sleep_ms(250);
  }
}

static void check_live_groups(kw_client *ad, const char *topic, const char *run) {
  char classic[128], modern[128];
  snprintf(classic, sizeof classic, "%s-live-classic", run);
  snprintf(modern, sizeof modern, "%s-live-consumer", run);
  int64_t t0 = now_ms();
  /* Kafka 3.x brokers do not run the new consumer protocol unless configured to. */
  const char *kv = getenv("KW_KAFKA_VERSION");
  bool kip848 = !(kv && kv[0] == '3' && kv[1] == '.');
  pid_t p1 = console_consumer(topic, classic, 0, "classic", "it-admin-classic");
  pid_t p2 = kip848 ? console_consumer(topic, modern, 0, "consumer", "it-admin-kip848") : -1;
  await_live(ad, topic, classic, "classic", "it-admin-classic", p1);
  if (kip848) await_live(ad, topic, modern, "consumer", "it-admin-kip848", p2);
  else printf("SKIP the consumer-protocol (KIP-848) member: Kafka %s\n", kv);
  printf("live members seen after %lld ms\n", (long long)(now_ms() - t0));
  kill(p1, SIGKILL);
  waitpid(p1, NULL, 0);
  if (p2 > 0) {
    kill(p2, SIGKILL);
    waitpid(p2, NULL, 0);
  }
}

int main(void) {
  int64_t t0 = now_ms();
  kw_conn *c = it_connect(30000);
  kw_client *ad = make_client(false);
  char topic[96], run[64], group[96];
  snprintf(run, sizeof run, "it-admin-%d", (int)getpid());
  snprintf(topic, sizeof topic, "%s-topic", run);
  snprintf(group, sizeof group, "%s-group", run);

  check_topics(ad, c, topic);
  check_cluster(ad, c, topic);
  int64_t base = produce(topic);
  check_list_offsets(ad, topic, base);
  check_empty_group(ad, topic, group);
  check_live_groups(ad, topic, run);

  int rc = kw_admin_delete_topic(ad, topic, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK, "delete_topic: %s: %s", kw_errname(rc), errstr);
  IT_CHECK(md_partitions(c, topic) == -1, "topic still in metadata after delete_topic");
  rc = kw_admin_delete_topic(ad, topic, T_MS, errstr, sizeof errstr);
  IT_CHECK(rc == KW_ERR_BROKER && strstr(errstr, "UNKNOWN_TOPIC_OR_PARTITION"), "delete again: %s: %s", kw_errname(rc),
           errstr);
  printf("delete_topic: gone from metadata; again: KW_ERR_BROKER \"%s\"\n", errstr);

  kw_admin_result *res = NULL;
  rc = kw_admin_group_offsets(ad, group, NULL, T_MS, &res, errstr, sizeof errstr);
  IT_CHECK(rc == KW_OK && kw_admin_result_count(res) == 0, "group offsets after delete: %s, %d rows", kw_errname(rc),
           res ? kw_admin_result_count(res) : -1);
  kw_admin_result_free(res);
  printf("group_offsets after the topic is gone: no rows\n");

  kw_client_destroy(ad);
  kw_conn_free(c);
  printf("PASS it_admin (%lld ms)\n", (long long)(now_ms() - t0));
  return 0;
}
