/* kwcat -L: one Metadata request to a bootstrap broker, printed as kcat prints it.
 * Bootstrap brokers are tried in order until one answers. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_clock.h"
#include "kwcat.h"
#include "client/kw_security.h"
#include "net/kw_conn.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"

typedef struct md_call {
  bool done;
  int err;
  kw_arena arena;
  kw_metadata_resp resp;
} md_call;

static void on_metadata(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  md_call *m = ud;
  m->done = true;
  m->err = err ? err : kw_response_decode(key, ver, body, &m->arena, &m->resp);
}

static bool metadata_done(kw_conn *c, void *ud) {
  (void)c;
  return ((md_call *)ud)->done;
}

static void print_metadata(const kw_metadata_resp *md, const char *topic, const char *host, int port) {
  printf("Metadata for %s (from broker -1: %s:%d/bootstrap):\n", topic ? topic : "all topics", host, port);
  printf(" %d brokers:\n", md->n_brokers);
  for (int32_t i = 0; i < md->n_brokers; i++) {
    const kw_metadata_resp_broker *b = &md->brokers[i];
    printf("  broker %d at %.*s:%d%s\n", b->node_id, (int)b->host.len, (const char *)b->host.ptr, b->port,
           b->node_id == md->controller_id ? " (controller)" : "");
  }
  printf(" %d topics:\n", md->n_topics);
  for (int32_t i = 0; i < md->n_topics; i++) {
    const kw_metadata_resp_topic *t = &md->topics[i];
    printf("  topic \"%.*s\" with %d partitions:", (int)t->name.len, t->name.ptr ? (const char *)t->name.ptr : "",
           t->n_partitions);
    if (t->error_code) printf(" Broker: %s", kw_kerr_name(t->error_code));
    printf("\n");
    for (int32_t p = 0; p < t->n_partitions; p++) {
      const kw_metadata_resp_partition *pt = &t->partitions[p];
      printf("    partition %d, leader %d, replicas: ", pt->partition_index, pt->leader_id);
      for (int32_t r = 0; r < pt->n_replica_nodes; r++) printf("%s%d", r ? "," : "", pt->replica_nodes[r]);
      printf(", isrs: ");
      for (int32_t r = 0; r < pt->n_isr_nodes; r++) printf("%s%d", r ? "," : "", pt->isr_nodes[r]);
      if (pt->error_code) printf(", Broker: %s", kw_kerr_name(pt->error_code));
      printf("\n");
    }
  }
}

/* "host:port", "host" (port 9092) or "[v6]:port" into host and port. */
static void split_hostport(const char *in, size_t n, char *host, size_t hsize, int *port) {
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%.*s", (int)n, in);
  char *h = tmp + strspn(tmp, " ");
  *port = 9092;
  char *colon = strrchr(h, ':');
  if (colon && (h[0] != '[' || colon > strchr(h, ']'))) {
    *colon = 0;
    *port = atoi(colon + 1);
  }
  if (h[0] == '[' && h[strlen(h) - 1] == ']') {
    h[strlen(h) - 1] = 0;
    h++;
  }
  snprintf(host, hsize, "%s", h);
}

typedef int (*md_fn)(void *ud, int err, const kw_metadata_resp *md, const char *host, int port);

/* One Metadata request (all topics, or `topic`) to host:port, its answer (or the error)
 * given to fn before the connection closes: the answer's strings point into its buffer. */
static int ask_broker(const char *host, int port, const kwcat_opts *o, const kw_conn_security *sec, const char *topic,
                      const char *client_id, md_fn fn, void *ud) {
  md_call mc = {0}, *m = &mc;
  kw_arena_init(&m->arena, NULL, 0);
  int timeout_ms = (o->metadata_timeout_s > 0 ? o->metadata_timeout_s : 5) * 1000;
  kw_conn_config cfg = {.host = host, .port = port, .client_id = client_id, .security = sec};
  kw_conn *c = kw_conn_new(&cfg);
  if (!c) return fn(ud, KW_ERR_NOMEM, NULL, host, port);
  int err = kw_conn_connect(c, kw_now_ms());
  if (!err) err = kw_conn_wait_ready(c, timeout_ms);
  if (!err) {
    kw_metadata_req req;
    kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
    kw_metadata_req_topic one;
    if (topic) {
      memset(&one, 0, sizeof one);
      one.name = (kw_slice){(const uint8_t *)topic, (int32_t)strlen(topic)};
      req.topics = &one;
      req.n_topics = 1;
    } else {
      req.n_topics = -1;
    }
    req.allow_auto_topic_creation = false;
    err = kw_conn_request(c, KW_API_METADATA, -1, &req, on_metadata, m, kw_now_ms());
    if (!err) err = kw_conn_wait(c, metadata_done, m, timeout_ms);
    if (!err) err = m->err;
  }
  if (err && *kw_conn_last_error_text(c)) kwcat_info(1, "%s:%d: %s\n", host, port, kw_conn_last_error_text(c));
  err = fn(ud, err, err ? NULL : &m->resp, host, port);
  kw_arena_reset(&m->arena);
  kw_conn_free(c);
  return err;
}

/* Calls fn with each bootstrap broker's answer until one succeeds (fn returns 0).
 * The last error is returned when none did. */
static int each_bootstrap(const kwcat_opts *o, const char *topic, md_fn fn, void *ud) {
  char client_id[256] = "kwcat";
  kw_config_get(o->conf, "client.id", client_id, sizeof client_id);
  /* The same TLS and SASL settings (-X) as the library's clients use, loaded once. */
  kw_conn_security sec;
  char why[256];
  if (kw_security_init(&sec, kw_config_values(o->conf), NULL, why, sizeof why) != KW_OK) kwcat_fatal("%s", why);
  const char *s = o->brokers;
  int err = KW_ERR_CONFIG;
  while (*s) {
    size_t n = strcspn(s, ",");
    if (n) {
      char host[256];
      int port;
      split_hostport(s, n, host, sizeof host, &port);
      err = ask_broker(host, port, o, &sec, topic, client_id, fn, ud);
      if (!err) break;
    }
    s += n;
    if (*s) s++;
  }
  kw_security_free(&sec);
  return err;
}

static int list_one(void *ud, int err, const kw_metadata_resp *md, const char *host, int port) {
  const kwcat_opts *o = ud;
  if (!err) print_metadata(md, o->topic, host, port);
  else fprintf(stderr, "%% ERROR: Failed to acquire metadata from %s:%d: %s\n", host, port, kw_strerror(err));
  return err;
}

int kwcat_metadata(const kwcat_opts *o) { return each_bootstrap(o, o->topic, list_one, (void *)o) ? 1 : 0; }

typedef struct topic_ud {
  const char *topic;
  kwcat_topic *out;
} topic_ud;

static int take_topic(void *ud, int err, const kw_metadata_resp *md, const char *host, int port) {
  (void)host, (void)port;
  topic_ud *t = ud;
  kwcat_topic *out = t->out;
  out->err = err;
  if (err) return err;
  out->kafka_error = KW_KERR_UNKNOWN_TOPIC_OR_PARTITION; /* an answer without our topic */
  for (int32_t i = 0; i < md->n_topics; i++) {
    const kw_metadata_resp_topic *mt = &md->topics[i];
    if (!mt->name.ptr || (size_t)mt->name.len != strlen(t->topic) || memcmp(mt->name.ptr, t->topic, (size_t)mt->name.len))
      continue;
    out->kafka_error = mt->error_code;
    if (mt->error_code || mt->n_partitions <= 0) break;
    int32_t n = 0;
    for (int32_t p = 0; p < mt->n_partitions; p++)
      if (mt->partitions[p].partition_index >= n) n = mt->partitions[p].partition_index + 1;
    out->leaders = malloc(sizeof *out->leaders * (size_t)n);
    if (!out->leaders) return out->err = KW_ERR_NOMEM;
    for (int32_t p = 0; p < n; p++) out->leaders[p] = -1;
    for (int32_t p = 0; p < mt->n_partitions; p++)
      if (mt->partitions[p].partition_index >= 0) out->leaders[mt->partitions[p].partition_index] = mt->partitions[p].leader_id;
    out->n_partitions = n;
    break;
  }
  return 0;
}

int kwcat_topic_info(const kwcat_opts *o, const char *topic, kwcat_topic *out) {
  memset(out, 0, sizeof *out);
  topic_ud t = {topic, out};
  each_bootstrap(o, topic, take_topic, &t);
  return out->err;
}
