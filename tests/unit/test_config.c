/* Configuration table, parsing, aliases, errors, secrets, allocator, and logging. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>
#include "client/kw_config.h"
#include "core/kw_log.h"
#include "kwire/error.h"

static char err[256];

static const char *get(const kw_config *c, const char *key) {
  static char buf[256];
  cr_assert_geq(kw_config_get(c, key, buf, sizeof buf), 0, "get %s", key);
  return buf;
}

static void set_ok(kw_config *c, const char *key, const char *value) {
  int rc = kw_config_set(c, key, value, err, sizeof err);
  cr_assert_eq(rc, KW_OK, "set %s=%s: %s", key, value, err);
}

static void set_bad(kw_config *c, const char *key, const char *value, const char *expected_msg) {
  strcpy(err, "untouched");
  cr_assert_eq(kw_config_set(c, key, value, err, sizeof err), KW_ERR_CONFIG, "set %s=%s", key, value);
  cr_assert_str_eq(err, expected_msg);
}

Test(config, defaults_read_back_as_documented) {
  kw_config *c = kw_config_new();
  cr_assert_not_null(c);
  const char *def, *desc, *key;
  int n = 0;
  for (; (key = kw_config_key_at(n, &def, &desc)) != NULL; n++) {
    cr_assert(desc && *desc, "%s has a description", key);
    cr_assert_str_eq(get(c, key), def, "default of %s", key);
    cr_assert(!kw_config_is_set(c, n));
  }
  cr_assert_eq(n, KW_CP__COUNT);
  cr_assert_null(kw_config_key_at(-1, NULL, NULL));
  const kw_conf_values *v = kw_config_values(c);
  cr_assert_null(v->bootstrap_servers);
  cr_assert_str_eq(v->client_id, "kwire");
  cr_assert_eq(v->linger_ms, 5);
  cr_assert_eq(v->acks, -1);
  cr_assert(v->enable_idempotence);
  cr_assert_eq(v->log_level, 6);
  cr_assert_eq(v->receive_message_max_bytes, 100000000);
  cr_assert_eq(v->compression_type, 0);
  cr_assert_eq(v->compression_level, -1);
  cr_assert_eq(v->partitioner, KW_PART_MURMUR2_RANDOM);
  cr_assert_eq(v->security_protocol, KW_SEC_PLAINTEXT);
  cr_assert_eq(v->auto_offset_reset, KW_RESET_LATEST);
  cr_assert_eq(v->isolation_level, KW_ISOLATION_READ_COMMITTED);
  cr_assert_eq(v->ssl_endpoint_check, 1);
  cr_assert_str_eq(v->assignment_strategy, "range,roundrobin");
  cr_assert_str_eq(v->debug, "");
  cr_assert(v->check_crcs, "kwire verifies CRCs by default");
  cr_assert(v->enable_auto_offset_store);
  kw_config_free(c);
}

Test(config, round_trips_every_type) {
  kw_config *c = kw_config_new();
  const kw_conf_values *v = kw_config_values(c);
  set_ok(c, "bootstrap.servers", "a:9092,b:9093");
  cr_assert_str_eq(get(c, "bootstrap.servers"), "a:9092,b:9093");
  cr_assert_str_eq(v->bootstrap_servers, "a:9092,b:9093");
  set_ok(c, "client.id", "");
  cr_assert_str_eq(v->client_id, "");

  set_ok(c, "linger.ms", "0");
  cr_assert_eq(v->linger_ms, 0);
  set_ok(c, "linger.ms", "900000");
  cr_assert_str_eq(get(c, "linger.ms"), "900000");
  cr_assert_eq(v->linger_ms, 900000);
  set_ok(c, "topic.metadata.refresh.interval.ms", "-1");
  cr_assert_eq(v->metadata_refresh_ms, -1);
  set_ok(c, "receive.message.max.bytes", " 2147483647 ");
  cr_assert_eq(v->receive_message_max_bytes, 2147483647);

  set_ok(c, "enable.idempotence", "FALSE");
  cr_assert(!v->enable_idempotence);
  cr_assert_str_eq(get(c, "enable.idempotence"), "false");
  set_ok(c, "check.crcs", "1");
  cr_assert(v->check_crcs);
  cr_assert_str_eq(get(c, "check.crcs"), "true");
  set_ok(c, "check.crcs", "0");
  cr_assert(!v->check_crcs);
  set_ok(c, "enable.auto.commit", "True");
  cr_assert(v->enable_auto_commit);

  set_ok(c, "compression.type", "ZSTD");
  cr_assert_eq(v->compression_type, 4);
  cr_assert_str_eq(get(c, "compression.type"), "zstd");
  set_ok(c, "security.protocol", "SASL_SSL");
  cr_assert_eq(v->security_protocol, KW_SEC_SASL_SSL);
  cr_assert_str_eq(get(c, "security.protocol"), "sasl_ssl");
  set_ok(c, "sasl.mechanism", "scram-sha-512");
  cr_assert_eq(v->sasl_mechanism, KW_SASL_SCRAM_SHA_512);
  cr_assert_str_eq(get(c, "sasl.mechanism"), "SCRAM-SHA-512");
  set_ok(c, "partitioner", "fnv1a_random");
  cr_assert_eq(v->partitioner, KW_PART_FNV1A_RANDOM);
  set_ok(c, "group.protocol", "consumer");
  cr_assert_eq(v->group_protocol, KW_GROUP_CONSUMER);
  set_ok(c, "isolation.level", "read_uncommitted");
  cr_assert_eq(v->isolation_level, KW_ISOLATION_READ_UNCOMMITTED);
  set_ok(c, "ssl.endpoint.identification.algorithm", "none");
  cr_assert_eq(v->ssl_endpoint_check, 0);

  /* acks: all / -1 / 0 / 1, read back canonically */
  set_ok(c, "acks", "1");
  cr_assert_eq(v->acks, 1);
  cr_assert_str_eq(get(c, "acks"), "1");
  set_ok(c, "acks", "0");
  cr_assert_eq(v->acks, 0);
  set_ok(c, "acks", "-1");
  cr_assert_eq(v->acks, -1);
  cr_assert_str_eq(get(c, "acks"), "all");
  set_ok(c, "acks", "ALL");
  cr_assert_eq(v->acks, -1);

  /* auto.offset.reset and librdkafka's spellings */
  set_ok(c, "auto.offset.reset", "smallest");
  cr_assert_eq(v->auto_offset_reset, KW_RESET_EARLIEST);
  cr_assert_str_eq(get(c, "auto.offset.reset"), "earliest");
  set_ok(c, "auto.offset.reset", "largest");
  cr_assert_eq(v->auto_offset_reset, KW_RESET_LATEST);
  set_ok(c, "auto.offset.reset", "error");
  cr_assert_eq(v->auto_offset_reset, KW_RESET_ERROR);

  /* lists keep their order and come back canonical */
  set_ok(c, "partition.assignment.strategy", " Cooperative-Sticky , range");
  cr_assert_str_eq(v->assignment_strategy, "cooperative-sticky,range");
  uint32_t mask;
  cr_assert_eq(kw_conf_list_mask("range|roundrobin|cooperative-sticky", v->assignment_strategy, &mask), KW_OK);
  cr_assert_eq(mask, KW_ASSIGN_RANGE | KW_ASSIGN_COOPERATIVE_STICKY);
  set_ok(c, "debug", "BROKER, protocol");
  cr_assert_str_eq(get(c, "debug"), "broker,protocol");
  set_ok(c, "debug", "");
  cr_assert_str_eq(get(c, "debug"), "");
  kw_config_free(c);
}

Test(config, aliases) {
  kw_config *c = kw_config_new();
  const kw_conf_values *v = kw_config_values(c);
  set_ok(c, "queue.buffering.max.ms", "42");
  cr_assert_eq(v->linger_ms, 42);
  cr_assert_str_eq(get(c, "linger.ms"), "42");
  cr_assert_str_eq(get(c, "queue.buffering.max.ms"), "42");
  set_ok(c, "metadata.broker.list", "h:1");
  cr_assert_str_eq(v->bootstrap_servers, "h:1");
  set_ok(c, "message.timeout.ms", "1234");
  cr_assert_eq(v->delivery_timeout_ms, 1234);
  set_ok(c, "request.required.acks", "1");
  cr_assert_eq(v->acks, 1);
  set_ok(c, "compression.codec", "lz4");
  cr_assert_eq(v->compression_type, 3);
  set_ok(c, "sasl.mechanisms", "SCRAM-SHA-256");
  cr_assert_eq(v->sasl_mechanism, KW_SASL_SCRAM_SHA_256);
  set_ok(c, "max.in.flight", "3");
  cr_assert_eq(v->max_in_flight, 3);
  set_ok(c, "socket.timeout.ms", "777");
  cr_assert_eq(v->request_timeout_ms, 777);
  set_ok(c, "fetch.max.wait.ms", "99");
  cr_assert_eq(v->fetch_wait_max_ms, 99);
  cr_assert(kw_config_is_set(c, KW_CP_linger_ms));
  const char *target, *alias;
  for (int i = 0; (alias = kw_conf_alias_at(i, &target)) != NULL; i++) {
    cr_assert_not_null(kw_conf_prop_find(alias), "%s", alias);
    cr_assert_str_eq(kw_conf_prop_find(alias)->name, target);
  }
  kw_config_free(c);
}

Test(config, unknown_key_is_named) {
  kw_config *c = kw_config_new();
  set_bad(c, "foo.bar", "1", "Unknown configuration name \"foo.bar\"");
  char buf[16];
  cr_assert_eq(kw_config_get(c, "foo.bar", buf, sizeof buf), KW_ERR_CONFIG);
  cr_assert_eq(kw_config_set(c, "Linger.ms", "1", NULL, 0), KW_ERR_CONFIG);
  cr_assert_eq(kw_config_set(NULL, "linger.ms", "1", NULL, 0), KW_ERR_INVALID_ARG);
  kw_config_free(c);
}

Test(config, bad_values_name_key_and_value) {
  kw_config *c = kw_config_new();
  const kw_conf_values *v = kw_config_values(c);
  set_ok(c, "linger.ms", "7");
  const char *range = "\": expected an integer between 0 and 900000";
  char want[256];
  const char *bad_ints[] = {"x", "", "12abc", "1.5", "-1", "900001", "99999999999999999999", "0x10"};
  for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
    snprintf(want, sizeof want, "Invalid value \"%s\" for configuration property \"linger.ms%s", bad_ints[i], range);
    set_bad(c, "linger.ms", bad_ints[i], want);
  }
  cr_assert_eq(v->linger_ms, 7, "failed sets leave the value");
  set_bad(c, "queue.buffering.max.ms", "x",
          "Invalid value \"x\" for configuration property \"queue.buffering.max.ms\": expected an integer "
          "between 0 and 900000");
  set_bad(c, "log_level", "8",
          "Invalid value \"8\" for configuration property \"log_level\": expected an integer between 0 and 7");
  set_bad(c, "check.crcs", "yes",
          "Invalid value \"yes\" for configuration property \"check.crcs\": expected true or false");
  set_bad(c, "enable.idempotence", "2",
          "Invalid value \"2\" for configuration property \"enable.idempotence\": expected true or false");
  set_bad(c, "compression.type", "brotli",
          "Invalid value \"brotli\" for configuration property \"compression.type\": expected one of none, gzip, "
          "snappy, lz4, zstd");
  set_bad(c, "acks", "2",
          "Invalid value \"2\" for configuration property \"acks\": expected one of all, -1, 0, 1");
  set_bad(c, "sasl.mechanism", "GSSAPI",
          "Invalid value \"GSSAPI\" for configuration property \"sasl.mechanism\": expected one of PLAIN, "
          "SCRAM-SHA-256, SCRAM-SHA-512");
  set_bad(c, "security.protocol", "plain", "Invalid value \"plain\" for configuration property "
          "\"security.protocol\": expected one of plaintext, ssl, sasl_plaintext, sasl_ssl");
  set_bad(c, "debug", "broker,nope",
          "Invalid value \"broker,nope\" for configuration property \"debug\": expected a comma-separated list of "
          "generic, broker, protocol, metadata, producer, consumer, cgrp, fetch, security, msg, all");
  set_bad(c, "debug", "broker,,msg",
          "Invalid value \"broker,,msg\" for configuration property \"debug\": expected a comma-separated list of "
          "generic, broker, protocol, metadata, producer, consumer, cgrp, fetch, security, msg, all");
  set_bad(c, "partition.assignment.strategy", "sticky",
          "Invalid value \"sticky\" for configuration property \"partition.assignment.strategy\": expected a "
          "comma-separated list of range, roundrobin, cooperative-sticky");
  cr_assert_eq(v->compression_type, 0);
  cr_assert_str_eq(v->debug, "");
  /* errstr is optional, and a short one is truncated, not overrun */
  cr_assert_eq(kw_config_set(c, "linger.ms", "x", NULL, 0), KW_ERR_CONFIG);
  char small[8];
  cr_assert_eq(kw_config_set(c, "linger.ms", "x", small, sizeof small), KW_ERR_CONFIG);
  cr_assert_str_eq(small, "Invalid");
  kw_config_free(c);
}

Test(config, secrets_are_redacted) {
  kw_config *c = kw_config_new();
  cr_assert_str_eq(get(c, "sasl.password"), "");
  set_ok(c, "sasl.password", "hunter2");
  set_ok(c, "ssl.key.password", "s3cret");
  set_ok(c, "sasl.username", "alice");
  cr_assert_str_eq(get(c, "sasl.password"), "[redacted]");
  cr_assert_str_eq(get(c, "ssl.key.password"), "[redacted]");
  cr_assert_str_eq(get(c, "sasl.username"), "alice");
  cr_assert_str_eq(kw_config_values(c)->sasl_password, "hunter2");
  cr_assert(kw_conf_prop_find("sasl.password")->flags & KW_CF_SECRET);
  cr_assert(!(kw_conf_prop_find("sasl.username")->flags & KW_CF_SECRET));
  kw_config_free(c);
}

Test(config, null_value_restores_default) {
  kw_config *c = kw_config_new();
  set_ok(c, "client.id", "mine");
  set_ok(c, "linger.ms", "100");
  cr_assert(kw_config_is_set(c, KW_CP_client_id));
  cr_assert_eq(kw_config_set(c, "client.id", NULL, err, sizeof err), KW_OK);
  cr_assert_eq(kw_config_set(c, "queue.buffering.max.ms", NULL, err, sizeof err), KW_OK);
  cr_assert_str_eq(get(c, "client.id"), "kwire");
  cr_assert_eq(kw_config_values(c)->linger_ms, 5);
  cr_assert(!kw_config_is_set(c, KW_CP_client_id));
  set_ok(c, "group.id", "g");
  cr_assert_eq(kw_config_set(c, "group.id", NULL, NULL, 0), KW_OK);
  cr_assert_null(kw_config_values(c)->group_id);
  kw_config_free(c);
}

Test(config, get_into_small_buffer) {
  kw_config *c = kw_config_new();
  char buf[4];
  cr_assert_eq(kw_config_get(c, "client.id", buf, sizeof buf), KW_ERR_BUF_FULL);
  cr_assert_str_eq(buf, "kwi");
  cr_assert_eq(kw_config_get(c, "acks", buf, sizeof buf), 3);
  cr_assert_str_eq(buf, "all");
  cr_assert_eq(kw_config_get(c, "compression.type", buf, sizeof buf), KW_ERR_BUF_FULL);
  cr_assert_str_eq(buf, "non");
  cr_assert_eq(kw_config_get(c, "linger.ms", NULL, 0), KW_ERR_BUF_FULL);
  kw_config_free(c);
}

static void log_cb(void *ud, int level, const char *ctx, const char *msg);

Test(config, dup_is_independent) {
  kw_config *a = kw_config_new();
  set_ok(a, "client.id", "a");
  set_ok(a, "linger.ms", "50");
  set_ok(a, "debug", "msg");
  int ud;
  kw_config_set_log_cb(a, log_cb, &ud);
  kw_config *b = kw_config_dup(a);
  cr_assert_not_null(b);
  cr_assert_str_eq(get(b, "client.id"), "a");
  cr_assert_eq(kw_config_values(b)->linger_ms, 50);
  cr_assert(kw_config_is_set(b, KW_CP_linger_ms));
  void *bud;
  cr_assert_eq(kw_config_log_cb(b, &bud), log_cb);
  cr_assert_eq(bud, &ud);
  cr_assert_neq(kw_config_values(a)->client_id, kw_config_values(b)->client_id);
  set_ok(b, "client.id", "b");
  set_ok(b, "linger.ms", "60");
  cr_assert_str_eq(get(a, "client.id"), "a");
  cr_assert_eq(kw_config_values(a)->linger_ms, 50);
  kw_config_free(a);
  cr_assert_str_eq(get(b, "debug"), "msg");
  cr_assert_str_eq(get(b, "client.id"), "b");
  kw_config_free(b);
  cr_assert_null(kw_config_dup(NULL));
  kw_config_free(NULL);
}

/* A counting allocator that can be told to fail. */
typedef struct counting {
  long live, calls;
  int fail;
} counting;

static void *c_alloc(void *ud, size_t n) {
  counting *m = ud;
  if (m->fail) return NULL;
  m->live++;
  m->calls++;
  return malloc(n);
}
static void *c_realloc(void *ud, void *p, size_t n) {
  counting *m = ud;
  if (m->fail) return NULL;
  if (!p) m->live++;
  return realloc(p, n);
}
static void c_free(void *ud, void *p) {
  counting *m = ud;
  if (p) m->live--;
  free(p);
}

Test(config, allocator) {
  counting cnt = {0, 0, 0};
  kw_mem mem = {&cnt, c_alloc, c_realloc, c_free};
  kw_config *c = kw_config_new();
  set_ok(c, "bootstrap.servers", "x:1");
  cr_assert_eq(kw_config_set_mem(c, &mem), KW_OK);
  long moved = cnt.live;
  cr_assert_eq(moved, 4, "client.id, debug, bootstrap.servers, partition.assignment.strategy");
  cr_assert_eq(kw_config_mem(c)->ud, &cnt);
  set_ok(c, "group.id", "g");
  cr_assert_eq(cnt.live, moved + 1);
  kw_config *d = kw_config_dup(c);
  cr_assert_eq(cnt.live, 2 * (moved + 1) + 1, "dup: its struct and strings through the allocator");
  kw_config_free(d);
  cr_assert_eq(cnt.live, moved + 1);

  cnt.fail = 1;
  cr_assert_eq(kw_config_set(c, "group.id", "h", err, sizeof err), KW_ERR_NOMEM);
  cr_assert_str_eq(get(c, "group.id"), "g", "the old value stays");
  cr_assert_eq(kw_config_set(c, "linger.ms", "9", err, sizeof err), KW_OK, "no allocation for ints");
  cr_assert_null(kw_config_dup(c));
  cr_assert_eq(kw_config_set_mem(c, NULL), KW_OK, "moving to libc allocates nothing here");
  cr_assert_eq(cnt.live, 0, "every string moved off and freed");
  cr_assert_eq(kw_config_set_mem(c, &mem), KW_ERR_NOMEM);
  cr_assert_str_eq(get(c, "group.id"), "g");
  cnt.fail = 0;
  kw_mem broken = {NULL, NULL, NULL, NULL};
  cr_assert_eq(kw_config_set_mem(c, &broken), KW_ERR_INVALID_ARG);
  kw_config_free(c);
  cr_assert_eq(cnt.live, 0);
}

Test(config, finalize_cross_checks) {
  kw_config *c = kw_config_new();
  cr_assert_eq(kw_config_finalize(c, KW_CF_P, err, sizeof err), KW_ERR_CONFIG);
  cr_assert_str_eq(err, "Configuration property \"bootstrap.servers\" is required");
  set_ok(c, "bootstrap.servers", "h:1");
  cr_assert_eq(kw_config_finalize(c, KW_CF_PC, err, sizeof err), KW_OK, "%s", err);
  cr_assert(kw_config_values(c)->enable_idempotence);

  /* implicit idempotence yields to acks=1 */
  kw_config *d = kw_config_dup(c);
  set_ok(d, "acks", "1");
  cr_assert_eq(kw_config_finalize(d, KW_CF_P, err, sizeof err), KW_OK, "%s", err);
  cr_assert(!kw_config_values(d)->enable_idempotence);
  kw_config_free(d);

  /* explicit idempotence does not */
  d = kw_config_dup(c);
  set_ok(d, "enable.idempotence", "true");
  set_ok(d, "max.in.flight", "6");
  cr_assert_eq(kw_config_finalize(d, KW_CF_P, err, sizeof err), KW_ERR_CONFIG);
  cr_assert_str_eq(err, "\"enable.idempotence\" requires \"max.in.flight.requests.per.connection\" of at most 5");
  kw_config_free(d);

  d = kw_config_dup(c);
  set_ok(d, "transactional.id", "t");
  set_ok(d, "acks", "0");
  cr_assert_eq(kw_config_finalize(d, KW_CF_P, err, sizeof err), KW_ERR_CONFIG);
  cr_assert_str_eq(err, "\"enable.idempotence\" requires \"acks\" set to \"all\"");
  kw_config_free(d);

  d = kw_config_dup(c);
  set_ok(d, "heartbeat.interval.ms", "45000");
  cr_assert_eq(kw_config_finalize(d, KW_CF_P, err, sizeof err), KW_OK, "producer ignores group settings");
  cr_assert_eq(kw_config_finalize(d, KW_CF_C, err, sizeof err), KW_ERR_CONFIG);
  cr_assert_str_eq(err, "\"heartbeat.interval.ms\" must be less than \"session.timeout.ms\"");
  kw_config_free(d);

  d = kw_config_dup(c);
  set_ok(d, "retry.backoff.ms", "5000");
  cr_assert_eq(kw_config_finalize(d, KW_CF_C, err, sizeof err), KW_ERR_CONFIG);
  cr_assert_str_eq(err, "\"retry.backoff.ms\" must not exceed \"retry.backoff.max.ms\"");
  kw_config_free(d);
  kw_config_free(c);
}

/* ---------------------------------------------------------------- logging */

static struct {
  int calls, level;
  char ctx[32], msg[2048];
  void *ud;
} seen;

static void log_cb(void *ud, int level, const char *ctx, const char *msg) {
  seen.calls++;
  seen.ud = ud;
  seen.level = level;
  snprintf(seen.ctx, sizeof seen.ctx, "%s", ctx);
  snprintf(seen.msg, sizeof seen.msg, "%s", msg);
}

static int side_effects;
static int touch(void) { return ++side_effects; }

static kw_logger logger_for(const char *debug, const char *level, bool cb) {
  kw_config *c = kw_config_new();
  if (debug) set_ok(c, "debug", debug);
  if (level) set_ok(c, "log_level", level);
  if (cb) kw_config_set_log_cb(c, log_cb, &seen);
  kw_logger lg;
  kw_logger_init(&lg, c);
  kw_config_free(c);
  memset(&seen, 0, sizeof seen);
  return lg;
}

Test(log, debug_masks) {
  cr_assert_eq(logger_for(NULL, NULL, true).dbg, 0);
  kw_logger lg = logger_for("all", NULL, true);
  cr_assert_eq(lg.dbg, KW_DBG_ALL);
  cr_assert_eq(lg.level, KW_LOG_DEBUG);
  lg = logger_for("broker,protocol", NULL, true);
  cr_assert_eq(lg.dbg, KW_DBG_BROKER | KW_DBG_PROTOCOL);
  cr_assert_eq(lg.level, KW_LOG_DEBUG);
  lg = logger_for("generic,msg", NULL, false);
  cr_assert_eq(lg.dbg, KW_DBG_GENERIC | KW_DBG_MSG);
  uint32_t m;
  cr_assert_eq(kw_conf_list_mask(KW_DBG_NAMES, "cgrp, fetch,security", &m), KW_OK);
  cr_assert_eq(m, KW_DBG_CGRP | KW_DBG_FETCH | KW_DBG_SECURITY);
  cr_assert_eq(kw_conf_list_mask(KW_DBG_NAMES, "metadata,producer,consumer", &m), KW_OK);
  cr_assert_eq(m, KW_DBG_METADATA | KW_DBG_PRODUCER | KW_DBG_CONSUMER);
  cr_assert_eq(kw_conf_list_mask(KW_DBG_NAMES, "brokers", &m), KW_ERR_CONFIG);
}

Test(log, callback_gets_level_context_message) {
  kw_logger lg = logger_for(NULL, NULL, true);
  cr_assert_eq(lg.level, KW_LOG_INFO, "a callback gets log_level's default, 6");
  kw_log(&lg, KW_LOG_WARNING, "BROKER", "%s:%d: connection refused", "h", 9092);
  cr_assert_eq(seen.calls, 1);
  cr_assert_eq(seen.ud, &seen);
  cr_assert_eq(seen.level, KW_LOG_WARNING);
  cr_assert_str_eq(seen.ctx, "BROKER");
  cr_assert_str_eq(seen.msg, "h:9092: connection refused");
  kw_log(&lg, KW_LOG_INFO, "GENERIC", "info");
  cr_assert_eq(seen.calls, 2);
  kw_log(&lg, KW_LOG_DEBUG, "GENERIC", "debug");
  cr_assert_eq(seen.calls, 2, "below log_level: dropped");
  kw_log(&lg, KW_LOG_ERR, NULL, "no context");
  cr_assert_str_eq(seen.ctx, "GENERIC");

  lg = logger_for(NULL, "3", true);
  kw_log(&lg, KW_LOG_WARNING, "BROKER", "dropped");
  cr_assert_eq(seen.calls, 0);
  kw_log(&lg, KW_LOG_ERR, "BROKER", "kept");
  cr_assert_eq(seen.calls, 1);
  cr_assert_eq(seen.level, KW_LOG_ERR);
}

Test(log, dbg_macro_costs_nothing_when_off) {
  kw_logger lg = logger_for("broker", NULL, true);
  side_effects = 0;
  KW_DBG(&lg, PROTOCOL, "off %d", touch());
  cr_assert_eq(seen.calls, 0);
  cr_assert_eq(side_effects, 0, "arguments are not evaluated when the context is off");
  KW_DBG(&lg, BROKER, "on %d", touch());
  KW_DBG(&lg, BROKER, "no arguments");
  cr_assert_eq(seen.calls, 2);
  cr_assert_eq(seen.level, KW_LOG_DEBUG);
  cr_assert_str_eq(seen.ctx, "BROKER");
  cr_assert_str_eq(seen.msg, "no arguments");
}

Test(log, long_lines_are_truncated) {
  kw_logger lg = logger_for(NULL, NULL, true);
  char big[3000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  kw_log(&lg, KW_LOG_ERR, "MSG", "%s", big);
  size_t n = strlen(seen.msg);
  cr_assert_eq(n, 1023);
  cr_assert_str_eq(seen.msg + n - 3, "...");
}

Test(log, stderr_default_warnings_only, .init = cr_redirect_stderr) {
  kw_logger lg = logger_for(NULL, NULL, false);
  cr_assert_eq(lg.level, KW_LOG_WARNING);
  kw_log(&lg, KW_LOG_INFO, "GENERIC", "quiet");
  kw_log(&lg, KW_LOG_NOTICE, "GENERIC", "quiet");
  kw_log(&lg, KW_LOG_WARNING, "BROKER", "h:1: down");
  kw_log(NULL, KW_LOG_ERR, "GENERIC", "null logger");
  kw_log(NULL, KW_LOG_INFO, "GENERIC", "quiet");
  lg = logger_for(NULL, "7", false);
  kw_log(&lg, KW_LOG_DEBUG, "GENERIC", "asked for");
  fflush(stderr);
  cr_assert_stderr_eq_str("%kwire|WARNING|BROKER| h:1: down\n"
                          "%kwire|ERROR|GENERIC| null logger\n"
                          "%kwire|DEBUG|GENERIC| asked for\n");
}
