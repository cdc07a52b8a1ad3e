/* SASL: the mechanism-independent state machine, PLAIN, and dispatch to SCRAM
 * (kw_sasl_scram.c, only when built with OpenSSL). */
#include <string.h>
#include "kwire/error.h"
#include "net/sasl/kw_sasl_int.h"
#include "core/kw_mem.h"
#include "core/kw_str.h"

/* Through a volatile pointer the compiler must assume memset has effects it cannot
 * see, so stores into memory about to be freed are not dropped. */
static void *(*const volatile wipe_memset)(void *, int, size_t) = memset;

void kw_sasl_wipe(void *p, size_t n) {
  if (p && n) wipe_memset(p, 0, n);
}

const char *kw_sasl_mech_name(kw_sasl_mech m) {
  switch (m) {
  case KW_SASL_MECH_PLAIN: return "PLAIN";
  case KW_SASL_MECH_SCRAM_SHA_256: return "SCRAM-SHA-256";
  case KW_SASL_MECH_SCRAM_SHA_512: return "SCRAM-SHA-512";
  }
  return NULL;
}


/* strlen that stops looking after max + 1 characters (strnlen is POSIX, not C11). */
static size_t bounded_len(const char *c, size_t max) {
  size_t n = 0;
  while (n <= max && c[n]) n++;
  return n;
}

static int credential_ok(const char *c, size_t *len) {
  if (!c) return 0;
  *len = bounded_len(c, KW_SASL_MAX_CREDENTIAL);
  return *len > 0 && *len <= KW_SASL_MAX_CREDENTIAL;
}

kw_sasl *kw_sasl_new(const kw_mem *mem, kw_sasl_mech m, const char *user, const char *pass, int *err) {
  int dummy;
  if (!err) err = &dummy;
  size_t ulen = 0, plen = 0;
  if (!kw_sasl_mech_name(m) || !credential_ok(user, &ulen) || !credential_ok(pass, &plen)) {
    *err = KW_ERR_INVALID_ARG;
    return NULL;
  }
#ifndef KW_WITH_TLS
  if (m != KW_SASL_MECH_PLAIN) {
    *err = KW_ERR_UNSUPPORTED_FEATURE;
    return NULL;
  }
#endif
  kw_sasl *s = kw_alloc(mem, sizeof *s);
  if (!s) {
    *err = KW_ERR_NOMEM;
    return NULL;
  }
  memset(s, 0, sizeof *s);
  s->mem = mem;
  s->mech = m;
  s->state = KW_SASL_INITIAL;
  s->min_iterations = KW_SASL_SCRAM_MIN_ITERATIONS;
  s->max_iterations = KW_SASL_SCRAM_MAX_ITERATIONS;
  s->user = kw_strndup(mem, user, ulen);
  s->pass = kw_strndup(mem, pass, plen);
  s->user_len = ulen;
  s->pass_len = plen;
  if (!s->user || !s->pass) {
    kw_sasl_free(s);
    *err = KW_ERR_NOMEM;
    return NULL;
  }
  *err = 0;
  return s;
}

void kw_sasl_free(kw_sasl *s) {
  if (!s) return;
  kw_sasl_wipe(s->pass, s->pass_len);
  kw_free(s->mem, s->pass);
  kw_free(s->mem, s->user);
  kw_sasl_wipe(s->out, s->out_len);
  kw_free(s->mem, s->out);
  kw_free(s->mem, s->client_first_bare);
  const kw_mem *mem = s->mem;
  kw_sasl_wipe(s, sizeof *s);
  kw_free(mem, s);
}

uint8_t *kw_sasl_out_new(kw_sasl *s, size_t n) {
  kw_sasl_wipe(s->out, s->out_len);
  kw_free(s->mem, s->out);
  s->out_len = 0;
  s->out = kw_alloc(s->mem, n);
  if (s->out) s->out_len = n;
  return s->out;
}

const char *kw_sasl_server_error(const kw_sasl *s) { return s ? s->server_error : ""; }

/* Printable ASCII except ',', the RFC 5802 "printable" a nonce is made of. */
static int nonce_char(unsigned char c) { return c >= 0x21 && c <= 0x7E && c != ','; }

int kw_sasl_set_nonce(kw_sasl *s, const char *nonce) {
  if (!s || !nonce) return KW_ERR_INVALID_ARG;
  if (s->state != KW_SASL_INITIAL) return KW_ERR_STATE;
  size_t n = bounded_len(nonce, KW_SASL_MAX_NONCE);
  if (n == 0 || n > KW_SASL_MAX_NONCE) return KW_ERR_INVALID_ARG;
  for (size_t i = 0; i < n; i++)
    if (!nonce_char((unsigned char)nonce[i])) return KW_ERR_INVALID_ARG;
  memcpy(s->nonce, nonce, n + 1);
  return 0;
}

int kw_sasl_set_iteration_limits(kw_sasl *s, uint32_t min, uint32_t max) {
  if (!s || min == 0 || min > max) return KW_ERR_INVALID_ARG;
  if (s->state != KW_SASL_INITIAL) return KW_ERR_STATE;
  s->min_iterations = min;
  s->max_iterations = max;
  return 0;
}

/* PLAIN (RFC 4616) with an empty authorization id: NUL, user, NUL, password. */
static int plain_message(kw_sasl *s) {
  uint8_t *p = kw_sasl_out_new(s, s->user_len + s->pass_len + 2);
  if (!p) return KW_ERR_NOMEM;
  *p++ = 0;
  memcpy(p, s->user, s->user_len);
  p += s->user_len;
  *p++ = 0;
  memcpy(p, s->pass, s->pass_len);
  return 0;
}

static int first_message(kw_sasl *s) {
  if (s->mech == KW_SASL_MECH_PLAIN) return plain_message(s);
#ifdef KW_WITH_TLS
  return kw_sasl_scram_client_first(s);
#else
  return KW_ERR_UNSUPPORTED_FEATURE; /* kw_sasl_new refused it already */
#endif
}

/* The server's message after ours: 1 with a new s->out to send, 0 when done. */
static int answer(kw_sasl *s, const uint8_t *in, size_t len) {
  if (s->mech == KW_SASL_MECH_PLAIN) {
    /* Kafka's PLAIN server answers with no bytes; the verdict is the error code. */
    return len == 0 ? 0 : KW_ERR_SASL_PROTOCOL;
  }
#ifdef KW_WITH_TLS
  if (s->state == KW_SASL_SENT_FIRST) {
    int rc = kw_sasl_scram_client_final(s, in, len);
    return rc < 0 ? rc : 1;
  }
  return kw_sasl_scram_verify(s, in, len);
#else
  (void)in;
  return KW_ERR_UNSUPPORTED_FEATURE;
#endif
}

int kw_sasl_step(kw_sasl *s, const uint8_t *in, size_t in_len, const uint8_t **out, size_t *out_len) {
  if (out) *out = NULL;
  if (out_len) *out_len = 0;
  if (!s || !out || !out_len || (!in && in_len)) return KW_ERR_INVALID_ARG;
  int rc;
  switch (s->state) {
  case KW_SASL_INITIAL:
    if (in_len) return KW_ERR_INVALID_ARG; /* the client speaks first */
    rc = first_message(s);
    if (rc == 0) rc = 1;
    break;
  case KW_SASL_SENT_FIRST:
  case KW_SASL_SENT_FINAL:
    rc = answer(s, in, in_len);
    break;
  default:
    return KW_ERR_STATE;
  }
  if (rc < 0) {
    s->state = KW_SASL_FAILED;
  } else if (rc == 0) {
    s->state = KW_SASL_DONE;
  } else {
    s->state = s->state == KW_SASL_INITIAL ? KW_SASL_SENT_FIRST : KW_SASL_SENT_FINAL;
    *out = s->out;
    *out_len = s->out_len;
    return 1;
  }
  /* Nothing more will be sent: drop the password and what may hold it or the proof. */
  kw_sasl_wipe(s->pass, s->pass_len);
  kw_sasl_wipe(s->out, s->out_len);
  kw_free(s->mem, s->out);
  s->out = NULL;
  s->out_len = 0;
  kw_sasl_wipe(s->server_signature, sizeof s->server_signature);
  return rc;
}
