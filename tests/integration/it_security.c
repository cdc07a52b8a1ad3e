/* TLS and SASL against the real broker's secure listeners (tests/broker/kafka start
 * --security): produce and consume over every protocol and mechanism, mutual TLS, an
 * encrypted client key; then what must fail and how: a wrong password (one error to
 * the application, no reconnect storm), an untrusted certificate, a host name
 * mismatch (accepted only with verification off), a connection dropped in the middle
 * of the TLS handshake (a clean error, then a reconnect), and re-authentication on a
 * listener whose sessions last 5 s. Secrets must not appear in logs, errors or stats. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

#define PASSWORD "alice-secret"
#define N_MSGS 200

/* ---- what the library says: logs and errors, collected to check them ---- */

typedef struct observed {
  int errors, last_err, connects, reauths, closes, secret_leaks;
  char last_reason[400];
  char handshake_drop[200];
} observed;

static void note_secret(observed *o, const char *text) {
  if (strstr(text, PASSWORD) || strstr(text, "wrong-password") || strstr(text, "kwire-key-pass")) o->secret_leaks++;
}

static void on_log(void *ud, int level, const char *ctx, const char *msg) {
  (void)level;
  (void)ctx;
  observed *o = ud;
  note_secret(o, msg);
  if (strstr(msg, "connecting (address family")) o->connects++;
  if (strstr(msg, "re-authentication)")) o->reauths++;
  if (strstr(msg, "connection closed: connection closed by peer")) o->closes++;
  if (strstr(msg, "during the TLS handshake")) snprintf(o->handshake_drop, sizeof o->handshake_drop, "%s", msg);
}

static void on_error(void *ud, int err, const char *reason) {
  observed *o = ud;
  note_secret(o, reason);
  if (err == KW_ERR_ALL_BROKERS_DOWN) return;
  o->errors++;
  o->last_err = err;
  snprintf(o->last_reason, sizeof o->last_reason, "%s", reason);
}

/* ---- the broker's listeners and TLS files ---- */

static const char *broker_dir(void) {
  const char *d = getenv("KW_BROKER_DIR");
  IT_CHECK(d != NULL, "KW_BROKER_DIR not set (run through ctest)");
  return d;
}

static char *listener(const char *name) {
  static char buf[8][256];
  static int next;
  char path[512];
  snprintf(path, sizeof path, "%s/bootstrap.%s", broker_dir(), name);
  FILE *f = fopen(path, "r");
  IT_CHECK(f != NULL, "%s missing: the fixture must run 'tests/broker/kafka start --security'", path);
  char *b = buf[next++ % 8];
  IT_CHECK(fgets(b, 256, f) != NULL, "%s empty", path);
  fclose(f);
  b[strcspn(b, "\r\n")] = 0;
  return b;
}

static const char *tls_file(const char *name) {
  static char buf[8][512];
  static int next;
  char *b = buf[next++ % 8];
  snprintf(b, 512, "%s/tls/%s", broker_dir(), name);
  return b;
}

/* ---- clients ---- */

typedef struct setting {
  const char *key, *value;
} setting;

static kw_config *config_for(const char *bootstrap, const setting *s, observed *o) {
  kw_config *conf = kw_config_new();
  char err[256];
  IT_CHECK(kw_config_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == 0, "%s", err);
  kw_config_set(conf, "debug", "broker,security", err, sizeof err);
  kw_config_set_log_cb(conf, on_log, o);
  for (; s && s->key; s++) IT_CHECK(kw_config_set(conf, s->key, s->value, err, sizeof err) == 0, "%s: %s", s->key, err);
  return conf;
}

/* A producer reporting to the test's observers and delivery tally. */
static kw_client *observed_producer(const char *name, kw_config *conf, observed *o, it_tally *t) {
  char err[256];
  kw_client *p = kw_producer_new(conf, err, sizeof err);
  IT_CHECK(p != NULL, "%s: %s", name, err);
  kw_client_set_delivery_cb(p, it_count_delivery, t);
  kw_client_set_error_cb(p, on_error, o);
  return p;
}

static void produce_all(kw_client *p, const char *topic, it_tally *t) {
  for (int i = 0; i < N_MSGS; i++) {
    char v[32];
    int n = snprintf(v, sizeof v, "msg-%d", i);
    IT_CHECK(kw_produce(p, topic, 0, NULL, 0, v, (size_t)n, NULL, 0, 0, NULL) == 0, "produce");
  }
  IT_CHECK(kw_client_flush(p, 60000) == 0, "flush");
  IT_CHECK(t->ok == N_MSGS && t->failed == 0, "delivered %d, failed %d (%s)", t->ok, t->failed,
           kw_strerror(t->last_err));
}

static void check_stats_clean(kw_client *cl, observed *o) {
  char json[8192];
  if (kw_client_stats_json(cl, json, sizeof json) > 0) note_secret(o, json);
}

/* Produces N_MSGS to a fresh topic and reads them back, both over the given security. */
static void round_trip(const char *name, const char *bootstrap, const setting *s) {
  observed o = {0};
  char topic[96];
  snprintf(topic, sizeof topic, "it-sec-%s-%d", name, (int)getpid());
  kw_config *conf = config_for(bootstrap, s, &o);
  it_tally t = {0};
  kw_client *p = observed_producer(name, conf, &o, &t);
  produce_all(p, topic, &t);
  check_stats_clean(p, &o);
  kw_client_destroy(p);

  char err[256];
  kw_client *c = kw_consumer_new(conf, err, sizeof err);
  IT_CHECK(c != NULL, "%s: %s", name, err);
  kw_config_free(conf);
  kw_client_set_error_cb(c, on_error, &o);
  IT_CHECK(kw_consumer_assign(c, topic, 0, KW_OFFSET_BEGINNING) == 0, "assign");
  int got = 0;
  for (int64_t end = kw_now_ms() + 60000; got < N_MSGS && kw_now_ms() < end;) {
    kw_message m;
    int r = kw_consumer_poll(c, &m, 500);
    IT_CHECK(r >= 0, "%s: poll: %s", name, kw_strerror(r));
    if (r == 0) continue;
    IT_CHECK(m.err == 0, "%s: consume error %s", name, kw_strerror(m.err));
    char want[32];
    int n = snprintf(want, sizeof want, "msg-%d", got);
    IT_CHECK(m.value_len == (size_t)n && memcmp(m.value, want, (size_t)n) == 0, "%s: record %d is not %s", name, got,
             want);
    got++;
  }
  IT_CHECK(got == N_MSGS, "%s: consumed %d of %d", name, got, N_MSGS);
  check_stats_clean(c, &o);
  kw_client_destroy(c);
  IT_CHECK(o.errors == 0, "%s: unexpected error: %s", name, o.last_reason);
  IT_CHECK(o.secret_leaks == 0, "%s: a secret appeared in a log line, error or stats", name);
  printf("ok: %s: produced and consumed %d records\n", name, N_MSGS);
}

/* A producer that must fail: returns what reached the application in `window_ms`. */
static observed must_fail(const char *name, const char *bootstrap, const setting *s, int window_ms) {
  observed o = {0};
  kw_config *conf = config_for(bootstrap, s, &o);
  char err[256];
  kw_config_set(conf, "delivery.timeout.ms", "3000", err, sizeof err);
  it_tally t = {0};
  kw_client *p = observed_producer(name, conf, &o, &t);
  kw_config_free(conf);
  IT_CHECK(kw_produce(p, "it-sec-never", 0, NULL, 0, "x", 1, NULL, 0, 0, NULL) == 0, "produce");
  for (int64_t end = kw_now_ms() + window_ms; kw_now_ms() < end;) kw_client_poll(p, 100);
  check_stats_clean(p, &o);
  kw_client_destroy(p);
  IT_CHECK(t.ok == 0 && t.failed == 1, "%s: delivered %d, failed %d: the message must fail", name, t.ok, t.failed);
  IT_CHECK(o.secret_leaks == 0, "%s: a secret appeared in a log line, error or stats", name);
  return o;
}

static void wrong_password(const char *mech) {
  setting s[] = {{"security.protocol", "sasl_plaintext"}, {"sasl.mechanism", mech}, {"sasl.username", "alice"},
                 {"sasl.password", "wrong-password"}, {NULL, NULL}};
  observed o = must_fail(mech, listener("SASL_PLAINTEXT"), s, 5000);
  IT_CHECK(o.errors == 1 && o.last_err == KW_ERR_AUTHENTICATION, "%s wrong password: %d errors, last %s (%s)", mech,
           o.errors, kw_errname(o.last_err), o.last_reason);
  /* The first attempt, then at most one retry at the longest backoff (10 s). */
  IT_CHECK(o.connects <= 2, "%s wrong password: %d connection attempts in 5 s (a reconnect storm)", mech, o.connects);
  printf("ok: wrong password (%s): one error (%s), %d connection attempt(s) in 5 s\n", mech, o.last_reason, o.connects);
}

static void untrusted_certificate(void) {
  setting s[] = {{"security.protocol", "ssl"}, {"ssl.ca.location", tls_file("other-ca.pem")}, {NULL, NULL}};
  observed o = must_fail("untrusted", listener("SSL"), s, 4000);
  IT_CHECK(o.errors == 1 && o.last_err == KW_ERR_TLS_CERT, "untrusted CA: %d errors, last %s (%s)", o.errors,
           kw_errname(o.last_err), o.last_reason);
  IT_CHECK(strstr(o.last_reason, "certificate") != NULL, "the reason names the certificate: %s", o.last_reason);
  printf("ok: untrusted certificate: %s\n", o.last_reason);
}

static void hostname_mismatch(void) {
  setting on[] = {{"security.protocol", "ssl"}, {"ssl.ca.location", tls_file("ca.pem")}, {NULL, NULL}};
  observed o = must_fail("badhost", listener("SSL_BADHOST"), on, 4000);
  IT_CHECK(o.errors == 1 && o.last_err == KW_ERR_TLS_CERT && strstr(o.last_reason, "mismatch"),
           "host name mismatch: %d errors, last %s (%s)", o.errors, kw_errname(o.last_err), o.last_reason);
  printf("ok: host name mismatch rejected: %s\n", o.last_reason);
  setting off[] = {{"security.protocol", "ssl"},
                   {"ssl.ca.location", tls_file("ca.pem")},
                   {"ssl.endpoint.identification.algorithm", "none"},
                   {NULL, NULL}};
  round_trip("badhost-verification-off", listener("SSL_BADHOST"), off);
}

/* ---- a peer that drops the first connection in the middle of the TLS handshake,
 * then forwards later ones to the real SSL listener ---- */

typedef struct dropper {
  int listen_fd, upstream_port, dropped;
  volatile int stop;
} dropper;

static void pump(int a, int b, volatile int *stop) {
  char buf[16384];
  struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  while (!*stop && poll(p, 2, 200) >= 0) {
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0 || write(p[1 - i].fd, buf, (size_t)n) != n) return;
    }
  }
}

static void *dropper_main(void *arg) {
  dropper *d = arg;
  while (!d->stop) {
    struct pollfd lp = {d->listen_fd, POLLIN, 0};
    if (poll(&lp, 1, 200) <= 0) continue;
    int cfd = accept(d->listen_fd, NULL, NULL);
    if (cfd < 0) continue;
    if (!d->dropped) {
      char hello[512];
      (void)!read(cfd, hello, sizeof hello); /* the ClientHello, then hang up */
      d->dropped = 1;
      close(cfd);
      continue;
    }
    int ufd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->upstream_port)};
    inet_pton(AF_INET, "127.0.0.1", &ua.sin_addr);
    if (connect(ufd, (struct sockaddr *)&ua, sizeof ua) == 0) pump(cfd, ufd, &d->stop);
    close(ufd);
    close(cfd);
  }
  return NULL;
}

static void handshake_dropped(void) {
  const char *ssl = listener("SSL");
  const char *colon = strrchr(ssl, ':');
  dropper d = {.upstream_port = atoi(colon + 1)};
  d.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in la = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
  socklen_t len = sizeof la;
  IT_CHECK(bind(d.listen_fd, (struct sockaddr *)&la, sizeof la) == 0 && listen(d.listen_fd, 8) == 0 &&
               getsockname(d.listen_fd, (struct sockaddr *)&la, &len) == 0,
           "fake peer socket");
  pthread_t th;
  IT_CHECK(pthread_create(&th, NULL, dropper_main, &d) == 0, "thread");
  char boot[64];
  snprintf(boot, sizeof boot, "127.0.0.1:%d", ntohs(la.sin_port));
  setting s[] = {{"security.protocol", "ssl"}, {"ssl.ca.location", tls_file("ca.pem")}, {NULL, NULL}};
  observed o = {0};
  kw_config *conf = config_for(boot, s, &o);
  it_tally t = {0};
  kw_client *p = observed_producer("handshake-drop", conf, &o, &t);
  kw_config_free(conf);
  char topic[64];
  snprintf(topic, sizeof topic, "it-sec-drop-%d", (int)getpid());
  produce_all(p, topic, &t);
  kw_client_destroy(p);
  d.stop = 1;
  pthread_join(th, NULL);
  close(d.listen_fd);
  IT_CHECK(d.dropped == 1, "the fake peer never saw a connection");
  IT_CHECK(o.handshake_drop[0] != 0, "no log line names the dropped TLS handshake");
  IT_CHECK(o.errors == 0, "a dropped handshake is a network failure, not a security error: %s", o.last_reason);
  printf("ok: connection dropped mid-handshake: \"%s\", then reconnected and delivered %d\n", o.handshake_drop, t.ok);
}

/* ---- KIP-368: the SASL_REAUTH listener's sessions last 5 s ---- */

static void reauthentication(const char *mech) {
  setting s[] = {{"security.protocol", "sasl_plaintext"}, {"sasl.mechanism", mech}, {"sasl.username", "alice"},
                 {"sasl.password", PASSWORD}, {NULL, NULL}};
  observed o = {0};
  kw_config *conf = config_for(listener("SASL_REAUTH"), s, &o);
  it_tally t = {0};
  kw_client *p = observed_producer(mech, conf, &o, &t);
  kw_config_free(conf);
  char topic[64];
  snprintf(topic, sizeof topic, "it-sec-reauth-%d", (int)getpid());
  int sent = 0;
  for (int64_t end = kw_now_ms() + 12000; kw_now_ms() < end; sent++) {
    IT_CHECK(kw_produce(p, topic, 0, NULL, 0, "r", 1, NULL, 0, 0, NULL) == 0, "produce");
    kw_client_poll(p, 50);
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
  IT_CHECK(t.ok == sent && t.failed == 0, "delivered %d of %d, failed %d", t.ok, sent, t.failed);
  IT_CHECK(o.reauths >= 2, "%d re-authentications in 12 s of 5 s sessions", o.reauths);
  IT_CHECK(o.errors == 0, "unexpected error: %s", o.last_reason);
  IT_CHECK(o.closes == 0, "the broker closed %d connections (an expired session is closed)", o.closes);
  IT_CHECK(o.secret_leaks == 0, "a secret appeared in a log line or error");
  printf("ok: re-authentication (%s): %d re-authentications, %d of %d delivered, no connection closed by the broker\n",
         mech, o.reauths, t.ok, sent);
}

int main(void) {
  const char *mechs[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
  for (int i = 0; i < 3; i++) {
    setting s[] = {{"security.protocol", "sasl_plaintext"}, {"sasl.mechanism", mechs[i]}, {"sasl.username", "alice"},
                   {"sasl.password", PASSWORD}, {NULL, NULL}};
    char name[64];
    snprintf(name, sizeof name, "sasl_plaintext-%s", mechs[i]);
    round_trip(name, listener("SASL_PLAINTEXT"), s);
    setting t[] = {{"security.protocol", "sasl_ssl"}, {"ssl.ca.location", tls_file("ca.pem")},
                   {"sasl.mechanism", mechs[i]},      {"sasl.username", "alice"},
                   {"sasl.password", PASSWORD},       {NULL, NULL}};
    snprintf(name, sizeof name, "sasl_ssl-%s", mechs[i]);
    round_trip(name, listener("SASL_SSL"), t);
  }
  setting ssl[] = {{"security.protocol", "ssl"}, {"ssl.ca.location", tls_file("ca.pem")}, {NULL, NULL}};
  round_trip("ssl", listener("SSL"), ssl);
  /* The bootstrap by name: SNI is sent and the name is matched against the DNS SAN. */
  char by_name[128];
  snprintf(by_name, sizeof by_name, "localhost%s", strrchr(listener("SSL"), ':'));
  round_trip("ssl-by-host-name", by_name, ssl);
  /* The trust store as a hashed CA directory (openssl rehash), not a file. */
  char ca_dir[600], cmd[2600];
  snprintf(ca_dir, sizeof ca_dir, "%s/tls/ca-dir-%d", broker_dir(), (int)getpid());
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/' && openssl rehash '%s' >/dev/null 2>&1", ca_dir,
           tls_file("ca.pem"), ca_dir, ca_dir);
  IT_CHECK(system(cmd) == 0, "could not make a hashed CA directory: %s", cmd);
  setting dir[] = {{"security.protocol", "ssl"}, {"ssl.ca.location", ca_dir}, {NULL, NULL}};
  round_trip("ssl-ca-directory", listener("SSL"), dir);
  setting mtls[] = {{"security.protocol", "ssl"},
                    {"ssl.ca.location", tls_file("ca.pem")},
                    {"ssl.certificate.location", tls_file("client.pem")},
                    {"ssl.key.location", tls_file("client-enc.key")},
                    {"ssl.key.password", "kwire-key-pass"},
                    {NULL, NULL}};
  round_trip("mtls-encrypted-key", listener("MTLS"), mtls);
  setting nocert[] = {{"security.protocol", "ssl"}, {"ssl.ca.location", tls_file("ca.pem")}, {NULL, NULL}};
  observed o = must_fail("mtls-no-client-cert", listener("MTLS"), nocert, 3000);
  IT_CHECK(o.errors == 1 && o.last_err == KW_ERR_TLS, "mtls without a certificate: %d errors, last %s (%s)", o.errors,
           kw_errname(o.last_err), o.last_reason);
  printf("ok: mutual TLS without a client certificate is refused: %s\n", o.last_reason);

  wrong_password("PLAIN");
  wrong_password("SCRAM-SHA-512");
  untrusted_certificate();
  hostname_mismatch();
  handshake_dropped();
  reauthentication("SCRAM-SHA-256");
  reauthentication("PLAIN");
  printf("security: all checks passed\n");
  return 0;
}
