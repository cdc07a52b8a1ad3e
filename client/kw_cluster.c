/* Cluster view: brokers, connections, metadata (see kw_cluster.h). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_clock.h"
#include "core/kw_hooks.h"
#include "client/kw_cluster.h"
#include "kwire/error.h"
#include "core/kw_log.h"
#include "core/kw_str.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"


int64_t kw_backoff_jitter(uint32_t *rng, int64_t ms) {
  *rng = *rng * 1103515245u + 12345u;
  int64_t spread = ms / 5;
  if (spread <= 0) return ms;
  return ms - spread + (int64_t)((*rng >> 8) % (uint32_t)(2 * spread + 1));
}

static bool grow(const kw_mem *m, void *arrp, int *cap, int need, size_t elem) {
  if (need <= *cap) return true;
  int ncap = *cap ? *cap * 2 : 8;
  while (ncap < need) ncap *= 2;
  void **arr = arrp;
  void *p = kw_realloc(m, *arr, (size_t)ncap * elem);
  if (!p) return false;
  *arr = p;
  *cap = ncap;
  return true;
}

static kw_broker *add_broker(kw_cluster *cl, int32_t node_id, const char *host, size_t hostlen, int port) {
  if (!grow(cl->set.mem, &cl->brokers, &cl->cap_brokers, cl->n_brokers + 1, sizeof *cl->brokers)) return NULL;
  kw_broker *b = kw_alloc(cl->set.mem, sizeof *b);
  if (!b) return NULL;
  memset(b, 0, sizeof *b);
  b->node_id = node_id;
  b->host = kw_strndup(cl->set.mem, host, hostlen);
  b->port = port;
  b->backoff_ms = cl->set.reconnect_backoff_ms;
  if (!b->host) {
    kw_free(cl->set.mem, b);
    return NULL;
  }
  cl->brokers[cl->n_brokers++] = b;
  return b;
}

/* Adds a broker entry per address of cl->bootstrap, with ids -1, -2, ... */
static int add_bootstrap(kw_cluster *cl, char *errstr, size_t errlen) {
  int32_t next_id = -1;
  const char *p = cl->bootstrap;
  while (*p) {
    const char *end = p + strcspn(p, ",");
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
      if (*q == ':') colon = q;
    while (p < end && *p == ' ') p++;
    int port = colon ? atoi(colon + 1) : 9092;
    const char *host_end = colon ? colon : end;
    if (host_end == p || port <= 0 || port > 65535) {
      snprintf(errstr, errlen, "Invalid value for configuration property \"bootstrap.servers\": \"%.*s\"",
               (int)(end - p), p);
      return KW_ERR_CONFIG;
    }
    if (!add_broker(cl, next_id--, p, (size_t)(host_end - p), port)) {
      snprintf(errstr, errlen, "out of memory");
      return KW_ERR_NOMEM;
    }
    p = *end ? end + 1 : end;
  }
  if (cl->n_brokers == 0) {
    snprintf(errstr, errlen, "No bootstrap servers configured (bootstrap.servers)");
    return KW_ERR_CONFIG;
  }
  return KW_OK;
}

int kw_cluster_init(kw_cluster *cl, const kw_cluster_settings *set, const char *bootstrap, char *errstr,
                    size_t errlen) {
  memset(cl, 0, sizeof *cl);
  cl->set = *set;
  cl->rng = (uint32_t)kw_random_u64();
  cl->conn_wanted_at = INT64_MAX;
  cl->bootstrap = kw_strdup(cl->set.mem, bootstrap ? bootstrap : "");
  if (!cl->bootstrap) return KW_ERR_NOMEM;
  return add_bootstrap(cl, errstr, errlen);
}

void kw_cluster_disconnect_all(kw_cluster *cl) {
  for (int i = 0; i < cl->n_brokers; i++)
    if (cl->brokers[i]->conn) kw_conn_close(cl->brokers[i]->conn, 0); /* ours: requests fail with KW_ERR_DISCONNECTED */
}

/* Frees a list of brokers and their connections (closed by now). */
static void free_brokers(kw_cluster *cl, kw_broker **bs, int n) {
  for (int i = 0; i < n; i++) {
    kw_conn_free(bs[i]->conn);
    kw_free(cl->set.mem, bs[i]->host);
    kw_free(cl->set.mem, bs[i]);
  }
  kw_free(cl->set.mem, bs);
}

void kw_cluster_free(kw_cluster *cl) {
  free_brokers(cl, cl->brokers, cl->n_brokers);
  for (int i = 0; i < cl->n_topics; i++) {
    kw_free(cl->set.mem, cl->topics[i]->name);
    kw_free(cl->set.mem, cl->topics[i]->parts);
    kw_free(cl->set.mem, cl->topics[i]);
  }
  kw_free(cl->set.mem, cl->topics);
  kw_free(cl->set.mem, cl->bootstrap);
  memset(cl, 0, sizeof *cl);
}

kw_topic *kw_cluster_topic(kw_cluster *cl, const char *name, bool create) {
  for (int i = 0; i < cl->n_topics; i++)
    if (strcmp(cl->topics[i]->name, name) == 0) return cl->topics[i];
  if (!create || !grow(cl->set.mem, &cl->topics, &cl->cap_topics, cl->n_topics + 1, sizeof *cl->topics))
    return NULL;
  kw_topic *t = kw_alloc(cl->set.mem, sizeof *t);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  t->name = kw_strdup(cl->set.mem, name);
  if (!t->name) {
    kw_free(cl->set.mem, t);
    return NULL;
  }
  cl->topics[cl->n_topics++] = t;
  cl->md_next = 0; /* a new topic: ask now */
  return t;
}

void kw_cluster_refresh_soon(kw_cluster *cl, int64_t now) {
  int64_t at = now + cl->set.retry_backoff_ms;
  if (cl->md_next > at) cl->md_next = at;
}

kw_broker *kw_cluster_ensure_broker(kw_cluster *cl, int32_t node_id, const char *host, size_t hostlen, int port) {
  kw_broker *b = kw_cluster_broker(cl, node_id);
  return b ? b : add_broker(cl, node_id, host, hostlen, port);
}

kw_broker *kw_cluster_broker(kw_cluster *cl, int32_t node_id) {
  for (int i = 0; i < cl->n_brokers; i++)
    if (cl->brokers[i]->node_id == node_id) return cl->brokers[i];
  return NULL;
}

static void start_connect(kw_cluster *cl, kw_broker *b, int64_t now) {
  if (!b->conn) {
    kw_conn_config cc = {.host = b->host, .port = b->port, .client_id = cl->set.client_id, .mem = cl->set.mem,
                         .max_frame = cl->set.max_frame, .max_in_flight = cl->set.max_in_flight,
                         .request_timeout_ms = cl->set.request_timeout_ms,
                         .connect_timeout_ms = cl->set.connect_timeout_ms, .log = cl->set.log,
                         .security = cl->set.security};
    b->conn = kw_conn_new(&cc);
    if (!b->conn) return;
  }
  if (kw_conn_get_state(b->conn) != KW_CONN_DOWN || now < b->retry_at) return;
  /* The next attempt waits longer, whatever this one's outcome; READY resets it. */
  b->retry_at = now + kw_backoff_jitter(&cl->rng, b->backoff_ms);
  b->backoff_ms = b->backoff_ms * 2 > cl->set.reconnect_backoff_max_ms ? cl->set.reconnect_backoff_max_ms
                                                                       : b->backoff_ms * 2;
  if (kw_conn_connect(b->conn, now) != 0) b->failed = true; /* e.g. the name does not resolve */
}

kw_conn *kw_cluster_conn(kw_cluster *cl, int32_t node_id, int64_t now) {
  kw_broker *b = kw_cluster_broker(cl, node_id);
  if (!b) return NULL;
  if (b->conn && kw_conn_get_state(b->conn) == KW_CONN_READY) return b->conn;
  start_connect(cl, b, now);
  /* Still down, in its reconnect backoff: wake up when the next attempt is allowed (a
   * connection on its way wakes the client through its socket). */
  if (b->conn && kw_conn_get_state(b->conn) == KW_CONN_DOWN && now < b->retry_at && b->retry_at < cl->conn_wanted_at)
    cl->conn_wanted_at = b->retry_at;
  return NULL;
}

/* ---- metadata ---- */

/* Takes a topic's partitions from an answer; false when one has no leader (or on no
 * memory). A partition whose answer carries a leader epoch older than the one known
 * keeps what is known: the answering broker has not caught up with the leader change
 * (the Java client ignores such an entry too). A recreated topic (new id) starts over. */
static bool apply_partitions(kw_cluster *cl, kw_topic *t, const kw_metadata_resp_topic *mt, bool same_topic) {
  int32_t n = mt->n_partitions > 0 ? mt->n_partitions : 0;
  kw_tp_meta *p = kw_alloc(cl->set.mem, (size_t)(n > 0 ? n : 1) * sizeof *p);
  if (!p) return false;
  for (int32_t k = 0; k < n; k++) p[k] = (kw_tp_meta){-1, -1, KW_KERR_LEADER_NOT_AVAILABLE};
  bool all_led = true;
  for (int32_t k = 0; k < n; k++) {
    const kw_metadata_resp_partition *mp = &mt->partitions[k];
    int32_t i = mp->partition_index;
    if (i < 0 || i >= n) continue;
    p[i] = (kw_tp_meta){mp->leader_id, mp->leader_epoch, mp->error_code};
    if (same_topic && i < t->n_parts && mp->leader_epoch >= 0 && mp->leader_epoch < t->parts[i].leader_epoch) {
      if (cl->set.log)
        KW_DBG(cl->set.log, METADATA, "%s [%d]: leader epoch %d is older than the known %d: kept leader %d", t->name,
               i, mp->leader_epoch, t->parts[i].leader_epoch, t->parts[i].leader);
      p[i] = t->parts[i];
    }
  }
  for (int32_t k = 0; k < n; k++)
    if (p[k].leader < 0) all_led = false;
  kw_free(cl->set.mem, t->parts);
  t->parts = p;
  t->n_parts = n;
  return all_led;
}

static void apply_metadata(kw_cluster *cl, const kw_metadata_resp *md, int64_t now) {
  for (int32_t i = 0; i < md->n_brokers; i++) {
    const kw_metadata_resp_broker *mb = &md->brokers[i];
    kw_broker *b = kw_cluster_broker(cl, mb->node_id);
    if (!b) { /* adopt a bootstrap entry with the same address, keeping its connection */
      for (int k = 0; k < cl->n_brokers && !b; k++) {
        kw_broker *c = cl->brokers[k];
        if (c->node_id < 0 && c->port == mb->port && (int32_t)strlen(c->host) == mb->host.len &&
            memcmp(c->host, mb->host.ptr, (size_t)mb->host.len) == 0)
          b = c;
      }
      if (b) b->node_id = mb->node_id;
      else b = add_broker(cl, mb->node_id, (const char *)mb->host.ptr, (size_t)mb->host.len, mb->port);
      if (!b) continue;
    }
    if (b->port != mb->port || (int32_t)strlen(b->host) != mb->host.len ||
        memcmp(b->host, mb->host.ptr, (size_t)mb->host.len) != 0) {
      char *h = kw_strndup(cl->set.mem, (const char *)mb->host.ptr, (size_t)mb->host.len);
      if (!h) continue;
      kw_free(cl->set.mem, b->host);
      b->host = h;
      b->port = mb->port;
      if (b->conn) kw_conn_close(b->conn, KW_ERR_DISCONNECTED); /* moved: reconnect there */
    }
  }
  bool again = false;
  for (int32_t i = 0; i < md->n_topics; i++) {
    const kw_metadata_resp_topic *mt = &md->topics[i];
    if (!mt->name.ptr) continue;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)mt->name.len, (const char *)mt->name.ptr);
    kw_topic *t = kw_cluster_topic(cl, name, false);
    if (!t) continue;
    static const kw_uuid no_id;
    bool same_topic = memcmp(&t->id, &no_id, sizeof no_id) == 0 || memcmp(&t->id, &mt->topic_id, sizeof no_id) == 0;
    t->error = mt->error_code;
    t->id = mt->topic_id;
    if (mt->error_code || !apply_partitions(cl, t, mt, same_topic)) again = true;
  }
  cl->md_last_answer = now;
  cl->md_wanted_since = 0;
  cl->rebootstrap_wait = 0;
  cl->md_next = now + (again ? cl->set.retry_backoff_ms : cl->set.metadata_refresh_ms);
  if (cl->n_topics > cl->md_topics_asked) cl->md_next = now; /* topics added while this request flew */
  if (cl->on_metadata) cl->on_metadata(cl->ud, now);
}

typedef struct md_call {
  kw_cluster *cl;
} md_call;

static void on_metadata(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  kw_cluster *cl = ud;
  cl->md_in_flight = false;
  int64_t now = kw_now_ms();
  if (err) {
    cl->md_next = now + cl->set.retry_backoff_ms;
    return;
  }
  kw_arena a;
  kw_arena_init(&a, cl->set.mem, 0);
  kw_metadata_resp md;
  if (kw_response_decode(key, ver, body, &a, &md) != 0) {
    cl->md_next = now + cl->set.retry_backoff_ms;
  } else if (md.error_code == KW_KERR_REBOOTSTRAP_REQUIRED && cl->set.rebootstrap) {
    /* v13+ (KIP-1102): the brokers we know say our picture is stale. Starting over
     * closes connections, this answer's among them: done at the end of the step. */
    cl->rebootstrap_due = true;
  } else if (md.error_code) {
    /* v13+: the whole answer failed: it lists nothing to go by, so what is known stays
     * and the request goes out again after the backoff. */
    kw_log(cl->set.log, KW_LOG_WARNING, "METADATA", "Metadata answered %s: asking again%s",
           kw_kerr_name(md.error_code),
           md.error_code == KW_KERR_REBOOTSTRAP_REQUIRED ? " (metadata.recovery.strategy=none)" : "");
    cl->md_next = now + cl->set.retry_backoff_ms;
  } else {
    apply_metadata(cl, &md, now);
  }
  kw_arena_reset(&a);
}

static void send_metadata(kw_cluster *cl, int64_t now) {
  /* Any READY connection will do; otherwise start connecting to the next broker. */
  kw_conn *conn = NULL;
  for (int i = 0; i < cl->n_brokers && !conn; i++) {
    kw_broker *b = cl->brokers[(cl->next_bootstrap + i) % cl->n_brokers];
    if (b->conn && kw_conn_get_state(b->conn) == KW_CONN_READY && kw_conn_in_flight(b->conn) < cl->set.max_in_flight)
      conn = b->conn;
  }
  if (!conn) {
    /* Nothing to send on yet: look again after the backoff, or as soon as a connection
     * becomes READY (kw_cluster_step), rather than spinning. */
    cl->md_next = now + cl->set.retry_backoff_ms;
    cl->md_waiting_conn = true;
    for (int i = 0; i < cl->n_brokers; i++) {
      kw_broker *b = cl->brokers[(cl->next_bootstrap + i) % cl->n_brokers];
      if (!b->conn || kw_conn_get_state(b->conn) == KW_CONN_DOWN) {
        if (now < b->retry_at) continue;
        start_connect(cl, b, now);
        cl->next_bootstrap = (cl->next_bootstrap + i + 1) % cl->n_brokers;
        break;
      }
    }
    return;
  }
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  kw_metadata_req_topic stack_topics[64];
  kw_metadata_req_topic *ts = cl->n_topics <= 64 ? stack_topics : kw_alloc(cl->set.mem, sizeof *ts * (size_t)cl->n_topics);
  if (!ts) return;
  for (int i = 0; i < cl->n_topics; i++) {
    kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &ts[i]);
    ts[i].name = (kw_slice){(const uint8_t *)cl->topics[i]->name, (int32_t)strlen(cl->topics[i]->name)};
  }
  req.topics = ts;
  req.n_topics = cl->n_topics;
  int v = kw_conn_version(conn, KW_API_METADATA);
  req.allow_auto_topic_creation = v >= 4 ? cl->set.allow_auto_create : true;
  if (kw_conn_request(conn, KW_API_METADATA, v, &req, on_metadata, cl, now) == 0) {
    cl->md_in_flight = true;
    cl->md_waiting_conn = false;
    cl->md_topics_asked = cl->n_topics;
    cl->md_next = now + cl->set.request_timeout_ms; /* guard; the answer sets the real time */
  }
  if (ts != stack_topics) kw_free(cl->set.mem, ts);
}

/* ---- rebootstrap (KIP-899, KIP-1102) ---- */

/* Forgets every broker and starts over from bootstrap.servers, as the Java client does:
 * their connections close, so requests in flight fail with KW_ERR_DISCONNECTED and are
 * retried as after any lost connection, once metadata names the brokers again. Topics
 * keep what is known of them (the Java client keeps its last seen leader epochs too);
 * their leaders are reachable again when metadata names them. A bootstrap server that
 * asks for a rebootstrap again is asked later each time (retry.backoff.ms doubling). */
static void rebootstrap(kw_cluster *cl, const char *why, int64_t now) {
  kw_broker **old = cl->brokers;
  int n_old = cl->n_brokers, cap_old = cl->cap_brokers;
  cl->brokers = NULL;
  cl->n_brokers = cl->cap_brokers = 0;
  char err[128];
  if (add_bootstrap(cl, err, sizeof err) != KW_OK) { /* out of memory: keep what is known for now */
    free_brokers(cl, cl->brokers, cl->n_brokers);
    cl->brokers = old;
    cl->n_brokers = n_old;
    cl->cap_brokers = cap_old;
    kw_log(cl->set.log, KW_LOG_WARNING, "METADATA", "cannot rebootstrap (%s): %s", why, err);
    cl->md_next = now + cl->set.retry_backoff_ms;
    return;
  }
  kw_log(cl->set.log, KW_LOG_WARNING, "METADATA", "%s: rebootstrapping from bootstrap.servers %s (%d brokers forgotten)",
         why, cl->bootstrap, n_old);
  for (int i = 0; i < n_old; i++) /* their callbacks see the new broker list */
    if (old[i]->conn) kw_conn_close(old[i]->conn, 0);
  free_brokers(cl, old, n_old);
  cl->rebootstrap_due = false;
  cl->next_bootstrap = 0;
  cl->md_in_flight = false; /* its connection is closed */
  cl->md_waiting_conn = false;
  cl->md_wanted_since = now; /* the trigger counts again from here */
  cl->down_since = 0;
  cl->down_reported = false;
  cl->md_next = now + cl->rebootstrap_wait;
  int64_t next = cl->rebootstrap_wait ? cl->rebootstrap_wait * 2 : cl->set.retry_backoff_ms;
  int64_t max = cl->set.reconnect_backoff_max_ms > cl->set.retry_backoff_ms ? cl->set.reconnect_backoff_max_ms
                                                                            : cl->set.retry_backoff_ms;
  cl->rebootstrap_wait = next < max ? next : max;
}

/* Starts over when a broker asked for it or metadata was wanted in vain for too long. */
static void maybe_rebootstrap(kw_cluster *cl, int64_t now) {
  if (!cl->set.rebootstrap) return;
  if (cl->rebootstrap_due) {
    rebootstrap(cl, "Metadata answered REBOOTSTRAP_REQUIRED", now);
  } else if (cl->md_wanted_since && now - cl->md_wanted_since > cl->set.rebootstrap_trigger_ms) {
    char why[96];
    snprintf(why, sizeof why, "no metadata for %lld ms (metadata.recovery.rebootstrap.trigger.ms)",
             (long long)(now - cl->md_wanted_since));
    rebootstrap(cl, why, now);
  }
}

/* ---- event loop ---- */

int kw_cluster_fds(kw_cluster *cl, kw_pollfd *fds, int max) {
  int n = 0;
  for (int i = 0; i < cl->n_brokers; i++) {
    kw_conn *c = cl->brokers[i]->conn;
    if (!c || kw_conn_fd(c) < 0) continue;
    if (n < max) fds[n] = (kw_pollfd){kw_conn_fd(c), kw_conn_events(c), 0};
    n++;
  }
  return n;
}

int64_t kw_cluster_deadline(const kw_cluster *cl) {
  int64_t d = cl->md_in_flight ? INT64_MAX : cl->md_next;
  if (cl->set.rebootstrap && cl->md_wanted_since) {
    int64_t trigger = cl->md_wanted_since + cl->set.rebootstrap_trigger_ms + 1;
    if (trigger < d) d = trigger;
  }
  if (cl->conn_wanted_at < d) d = cl->conn_wanted_at;
  for (int i = 0; i < cl->n_brokers; i++) {
    kw_conn *c = cl->brokers[i]->conn;
    if (!c) continue;
    int64_t cd = kw_conn_deadline(c);
    if (cd < d) d = cd;
  }
  return d;
}

static bool is_security_error(int err) {
  return err == KW_ERR_AUTHENTICATION || err == KW_ERR_SASL_PROTOCOL || err == KW_ERR_TLS || err == KW_ERR_TLS_CERT;
}

/* Wrong credentials or an untrusted certificate will fail the same way on the next
 * attempt: the application hears it once, and the broker is retried only at the
 * longest backoff instead of in a storm of handshakes. */
static void security_failed(kw_cluster *cl, kw_broker *b, int err, int64_t now) {
  b->backoff_ms = cl->set.reconnect_backoff_max_ms;
  b->retry_at = now + kw_backoff_jitter(&cl->rng, b->backoff_ms);
  char reason[300];
  snprintf(reason, sizeof reason, "%s:%d: %s", b->host, b->port, kw_conn_last_error_text(b->conn));
  if (cl->security_reported || !cl->on_error) {
    kw_log(cl->set.log, KW_LOG_WARNING, "SECURITY", "%s: %s (again)", kw_strerror(err), reason);
    return;
  }
  cl->security_reported = true;
  cl->on_error(cl->ud, err, reason);
}

/* Reports "all brokers down" once per outage: when every broker's last attempt failed. */
static void track_reachability(kw_cluster *cl, int64_t now) {
  bool all_failed = true;
  for (int i = 0; i < cl->n_brokers; i++) {
    kw_broker *b = cl->brokers[i];
    if (b->conn && kw_conn_get_state(b->conn) == KW_CONN_READY) {
      cl->security_reported = false;
      b->failed = false;
      b->backoff_ms = cl->set.reconnect_backoff_ms;
    }
    if (!b->failed) all_failed = false;
  }
  if (!all_failed) {
    cl->down_since = 0;
    cl->down_reported = false;
    return;
  }
  if (!cl->down_since) cl->down_since = now;
  if (!cl->down_reported && cl->on_error) {
    cl->down_reported = true;
    char reason[160];
    snprintf(reason, sizeof reason, "%d/%d brokers are down", cl->n_brokers, cl->n_brokers);
    cl->on_error(cl->ud, KW_ERR_ALL_BROKERS_DOWN, reason);
  }
}

void kw_cluster_step(kw_cluster *cl, const kw_pollfd *fds, int n, int64_t now) {
  cl->conn_wanted_at = INT64_MAX; /* asked for again by whoever still waits, this step */
  for (int i = 0; i < cl->n_brokers; i++) {
    kw_broker *b = cl->brokers[i];
    if (!b->conn || kw_conn_get_state(b->conn) == KW_CONN_DOWN) continue;
    short rev = 0;
    int fd = kw_conn_fd(b->conn);
    for (int k = 0; k < n; k++)
      if (fds[k].fd == fd) rev = fds[k].revents;
    int err = kw_conn_step(b->conn, rev, now);
    if (err) {
      b->failed = true;
      if (is_security_error(err)) security_failed(cl, b, err, now);
      kw_cluster_refresh_soon(cl, now); /* a disconnect: leaders may have moved */
    }
  }
  maybe_rebootstrap(cl, now);
  track_reachability(cl, now);
  if (cl->md_waiting_conn && !cl->md_in_flight)
    for (int i = 0; i < cl->n_brokers; i++)
      if (cl->brokers[i]->conn && kw_conn_get_state(cl->brokers[i]->conn) == KW_CONN_READY) cl->md_next = now;
  if (!cl->md_in_flight && now >= cl->md_next) {
    if (!cl->md_wanted_since) cl->md_wanted_since = now;
    send_metadata(cl, now);
  }
}
