/* TLS transport over OpenSSL (see kw_tls.h). Nonblocking throughout: every OpenSSL
 * call that would wait reports which fd readiness it waits for, and the connection
 * state machine polls for exactly that. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "kwire/error.h"
#include "core/kw_mem.h"
#include "net/kw_tls.h"

struct kw_tls_ctx {
  const kw_mem *mem;
  SSL_CTX *ssl_ctx;
  bool verify_hostname;
};

typedef struct tls_conn {
  const kw_mem *mem;
  SSL *ssl;
  short extra; /* events OpenSSL asked for during a read or write */
  char why[200];
} tls_conn;

/* OpenSSL's error queue, newest first, as one line; the queue is left empty. */
static void take_openssl_errors(char *buf, size_t len) {
  size_t used = 0;
  unsigned long e;
  if (len) buf[0] = 0;
  while ((e = ERR_get_error()) != 0 && used + 2 < len) {
    char one[160];
    ERR_error_string_n(e, one, sizeof one);
    int n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", one);
    if (n < 0) break;
    used += (size_t)n < len - used ? (size_t)n : len - used - 1;
  }
  ERR_clear_error();
}

static int key_password_cb(char *buf, int size, int rwflag, void *ud) {
  (void)rwflag;
  const char *pw = ud;
  if (!pw || size <= 0) return 0;
  size_t n = strlen(pw);
  if (n > (size_t)size) n = (size_t)size;
  memcpy(buf, pw, n);
  return (int)n;
}

/* "property 'value': problem: OpenSSL's reasons" into errstr; frees the context. */
static kw_tls_ctx *ctx_fail(SSL_CTX *sc, char *errstr, size_t errlen, const char *prop, const char *value,
                            const char *problem) {
  char detail[300];
  take_openssl_errors(detail, sizeof detail);
  snprintf(errstr, errlen, "%s%s%s%s: %s%s%s", prop, value ? " '" : "", value ? value : "", value ? "'" : "", problem,
           detail[0] ? ": " : "", detail);
  SSL_CTX_free(sc);
  return NULL;
}

/* 1, or 0 with the context freed and the reason in errstr. */
static int load_trust(SSL_CTX *sc, const char *ca, char *errstr, size_t errlen) {
  if (!ca) {
    if (SSL_CTX_set_default_verify_paths(sc) == 1) return 1;
    return ctx_fail(sc, errstr, errlen, "ssl.ca.location", NULL, "cannot load the system trust store"), 0;
  }
  struct stat st;
  if (stat(ca, &st) != 0) return ctx_fail(sc, errstr, errlen, "ssl.ca.location", ca, strerror(errno)), 0;
  bool dir = S_ISDIR(st.st_mode);
  if (SSL_CTX_load_verify_locations(sc, dir ? NULL : ca, dir ? ca : NULL) == 1) return 1;
  return ctx_fail(sc, errstr, errlen, "ssl.ca.location", ca, "no usable CA certificate"), 0;
}

/* The client certificate and its key; NULL when they load and match. */
static const char *load_identity(SSL_CTX *sc, const kw_tls_settings *s, const char **prop, const char **value) {
  *prop = "ssl.certificate.location";
  *value = s->cert_location;
  if (SSL_CTX_use_certificate_chain_file(sc, s->cert_location) != 1) return "cannot load the certificate";
  *prop = "ssl.key.location";
  *value = s->key_location;
  /* The passphrase is only read while loading; the callback data is cleared after. */
  SSL_CTX_set_default_passwd_cb(sc, key_password_cb);
  SSL_CTX_set_default_passwd_cb_userdata(sc, (void *)s->key_password);
  int ok = SSL_CTX_use_PrivateKey_file(sc, s->key_location, SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(sc, NULL);
  if (!ok) {
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
      return "the key does not match the certificate";
    return "cannot load the key (wrong ssl.key.password?)";
  }
  if (SSL_CTX_check_private_key(sc) != 1) return "the key does not match the certificate";
  return NULL;
}

kw_tls_ctx *kw_tls_ctx_new(const kw_tls_settings *s, char *errstr, size_t errlen) {
  ERR_clear_error();
  SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
  if (!sc) {
    snprintf(errstr, errlen, "TLS: cannot create an OpenSSL context");
    return NULL;
  }
  /* TLS 1.2 is the oldest version Kafka brokers still negotiate by default. */
  SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
  /* The connection's output buffer moves and grows between a write that would block and
   * its retry; partial writes let us drop what was sent as it goes. */
  SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (s->ciphers && SSL_CTX_set_cipher_list(sc, s->ciphers) != 1)
    return ctx_fail(sc, errstr, errlen, "ssl.cipher.suites", s->ciphers, "no usable cipher");
  if (s->verify_certificate) {
    if (!load_trust(sc, s->ca_location, errstr, errlen)) return NULL;
    SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(sc, SSL_VERIFY_NONE, NULL);
  }
  if (s->cert_location || s->key_location) {
    if (!s->cert_location || !s->key_location)
      return ctx_fail(sc, errstr, errlen, "ssl.certificate.location", NULL, "must be set together with ssl.key.location");
    const char *prop, *value, *problem = load_identity(sc, s, &prop, &value);
    if (problem) return ctx_fail(sc, errstr, errlen, prop, value, problem);
  }
  kw_tls_ctx *ctx = kw_alloc(s->mem, sizeof *ctx);
  if (!ctx) {
    SSL_CTX_free(sc);
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  ctx->mem = s->mem;
  ctx->ssl_ctx = sc;
  ctx->verify_hostname = s->verify_certificate && s->verify_hostname;
  return ctx;
}

void kw_tls_ctx_free(kw_tls_ctx *ctx) {
  if (!ctx) return;
  SSL_CTX_free(ctx->ssl_ctx);
  kw_free(ctx->mem, ctx);
}

static bool is_ip_literal(const char *host) {
  unsigned char addr[16];
  return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

void *kw_tls_conn_new(kw_tls_ctx *ctx, int fd, const char *host) {
  tls_conn *t = kw_alloc(ctx->mem, sizeof *t);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  t->mem = ctx->mem;
  t->ssl = SSL_new(ctx->ssl_ctx);
  if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) goto fail;
  bool ip = is_ip_literal(host);
  /* SNI carries names only (RFC 6066); an IP literal is checked against the IP SANs. */
  if (!ip && SSL_set_tlsext_host_name(t->ssl, host) != 1) goto fail;
  if (ctx->verify_hostname) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1 : SSL_set1_host(t->ssl, host) != 1) goto fail;
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  }
  SSL_set_connect_state(t->ssl);
  return t;
fail:
  ERR_clear_error();
  SSL_free(t->ssl);
  kw_free(t->mem, t);
  return NULL;
}

/* Maps an OpenSSL failure to a kwire error and keeps its reason for describe(). */
static int tls_failure(tls_conn *t, int ssl_err, bool handshaking) {
  long vr = SSL_get_verify_result(t->ssl);
  if (handshaking && vr != X509_V_OK) {
    snprintf(t->why, sizeof t->why, "certificate verification failed: %s", X509_verify_cert_error_string(vr));
    ERR_clear_error();
    return KW_ERR_TLS_CERT;
  }
  /* OpenSSL 3 reports a peer that hangs up without close_notify as an SSL error
   * (1.1.1 as SSL_ERROR_SYSCALL with an empty queue, handled below). */
  bool eof = false;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
  unsigned long first = ERR_peek_error();
  eof = ERR_GET_LIB(first) == ERR_LIB_SSL && ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
#endif
  char detail[160];
  take_openssl_errors(detail, sizeof detail);
  if (eof || ssl_err == SSL_ERROR_ZERO_RETURN || (ssl_err == SSL_ERROR_SYSCALL && !detail[0])) {
    snprintf(t->why, sizeof t->why, "%s",
             handshaking ? "the broker closed the connection during the TLS handshake (is this a TLS listener?)"
                         : "the broker closed the TLS connection");
    /* A network failure, not a security one: the connection is retried as usual. */
    return KW_ERR_DISCONNECTED;
  }
  snprintf(t->why, sizeof t->why, "%s", detail[0] ? detail : "I/O error");
  /* SSL_ERROR_SSL is the TLS protocol failing (an alert such as "certificate required"
   * from a broker that wants a client certificate, a bad record), not the network. */
  return handshaking || ssl_err == SSL_ERROR_SSL ? KW_ERR_TLS : KW_ERR_IO;
}

static int want_events(int ssl_err, short *want) {
  *want = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
  return KW_ERR_WOULD_BLOCK;
}

static int tls_handshake(void *tctx, int fd, short *want) {
  (void)fd;
  tls_conn *t = tctx;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    *want = 0;
    return 0;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return want_events(e, want);
  return tls_failure(t, e, true);
}

static ssize_t tls_recv(void *tctx, int fd, void *buf, size_t len) {
  (void)fd;
  tls_conn *t = tctx;
  ERR_clear_error();
  size_t got = 0;
  t->extra = 0;
  if (SSL_read_ex(t->ssl, buf, len, &got) == 1) return (ssize_t)got;
  int e = SSL_get_error(t->ssl, 0);
  if (e == SSL_ERROR_WANT_READ) return KW_ERR_WOULD_BLOCK;
  if (e == SSL_ERROR_WANT_WRITE) return want_events(e, &t->extra);
  return tls_failure(t, e, false);
}

static ssize_t tls_sendv(void *tctx, int fd, const struct iovec *iov, int iovcnt) {
  (void)fd;
  tls_conn *t = tctx;
  ssize_t total = 0;
  t->extra = 0;
  for (int i = 0; i < iovcnt; i++) {
    ERR_clear_error();
    size_t put = 0;
    if (SSL_write_ex(t->ssl, iov[i].iov_base, iov[i].iov_len, &put) == 1) {
      total += (ssize_t)put;
      if (put < iov[i].iov_len) break;
      continue;
    }
    int e = SSL_get_error(t->ssl, 0);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
      if (e == SSL_ERROR_WANT_READ) t->extra = POLLIN;
      return total ? total : KW_ERR_WOULD_BLOCK;
    }
    return tls_failure(t, e, false);
  }
  return total;
}

static void tls_close(void *tctx) {
  tls_conn *t = tctx;
  if (!t) return;
  /* No close_notify: the socket is closed right after, and a blocking-free shutdown
   * would have to wait for the peer's answer. Kafka brokers do not need it. */
  SSL_free(t->ssl);
  kw_free(t->mem, t);
}

static short tls_extra_events(void *tctx) {
  const tls_conn *t = tctx;
  return t ? t->extra : 0;
}

static void tls_describe(void *tctx, char *buf, size_t len) {
  const tls_conn *t = tctx;
  snprintf(buf, len, "%s", t ? t->why : "");
}

const kw_transport_ops kw_transport_tls = {"tls",     tls_handshake,    tls_recv,    tls_sendv,
                                           tls_close, tls_extra_events, tls_describe};
