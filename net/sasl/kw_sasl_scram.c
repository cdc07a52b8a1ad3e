/* SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them: gs2
 * header "n,," (no channel binding, so c=biws), no SASLprep, no extensions sent.
 * Every derived secret lives on the stack only while one step runs and is wiped
 * before the step returns, except the expected ServerSignature, which must outlive
 * the step to be checked against server-final (kw_sasl.c wipes it at the end). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include "kwire/error.h"
#include "net/sasl/kw_sasl_int.h"
#include "core/kw_base64.h"
#include "core/kw_hooks.h"
#include "core/kw_mem.h"

/* 24 random bytes: 192 bits, 32 base64 characters (never ',' and, 24 being a multiple
 * of 3, no '=' padding either). */
#define NONCE_BYTES 24

/* OpenSSL failing to hash or draw random bytes is no protocol error of the server's;
 * the exchange cannot go on, and "authentication failed" is what the caller can act on. */
#define CRYPTO_FAILED KW_ERR_AUTHENTICATION

static const EVP_MD *digest(const kw_sasl *s) {
  return s->mech == KW_SASL_MECH_SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

/* ---- client-first ---- */

static char *put(char *o, const void *p, size_t n) {
  memcpy(o, p, n);
  return o + n;
}

/* saslname: '=' and ',' would end or confuse the attribute, so they are escaped. */
static size_t escaped_len(const char *u, size_t n) {
  size_t len = n;
  for (size_t i = 0; i < n; i++)
    if (u[i] == '=' || u[i] == ',') len += 2;
  return len;
}

static char *put_escaped(char *o, const char *u, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (u[i] == '=') {
      o = put(o, "=3D", 3);
    } else if (u[i] == ',') {
      o = put(o, "=2C", 3);
    } else {
      *o++ = u[i];
    }
  }
  return o;
}

int kw_sasl_scram_client_first(kw_sasl *s) {
  if (!s->nonce[0]) {
    uint8_t r[NONCE_BYTES];
    const kw_hooks *h = kw_hooks_active();
    if (h && h->random) { /* a simulated run repeats byte for byte; it proves nothing to anyone */
      for (size_t i = 0; i < sizeof r; i += 8) {
        uint64_t x = h->random(h->ud);
        memcpy(r + i, &x, sizeof r - i < 8 ? sizeof r - i : 8);
      }
    } else if (RAND_bytes(r, sizeof r) != 1) {
      return CRYPTO_FAILED;
    }
    s->nonce[kw_base64_encode(r, sizeof r, s->nonce)] = '\0';
    OPENSSL_cleanse(r, sizeof r);
  }
  size_t nonce_len = strlen(s->nonce);
  /* client-first-message-bare = "n=" saslname ",r=" c-nonce */
  size_t bare_len = 2 + escaped_len(s->user, s->user_len) + 3 + nonce_len;
  char *bare = kw_alloc(s->mem, bare_len);
  if (!bare) return KW_ERR_NOMEM;
  char *o = put(bare, "n=", 2);
  o = put_escaped(o, s->user, s->user_len);
  o = put(o, ",r=", 3);
  put(o, s->nonce, nonce_len);
  kw_free(s->mem, s->client_first_bare);
  s->client_first_bare = bare;
  s->client_first_bare_len = bare_len;

  uint8_t *out = kw_sasl_out_new(s, 3 + bare_len);
  if (!out) return KW_ERR_NOMEM;
  put(put((char *)out, "n,,", 3), bare, bare_len);
  return 0;
}

/* ---- reading server messages ---- */

/* A server message as a sequence of "x=value" attributes separated by ','. */
typedef struct attrs {
  const char *p, *end;
  int more; /* another attribute follows (the message may not end with ',') */
} attrs;

static int alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int printable(unsigned char c) { return c >= 0x21 && c <= 0x7E && c != ','; }

/* Checks what every server message must be: bounded, and free of NULs (no
 * attribute value may hold one, and a C string would end there). */
static int open_message(attrs *a, const uint8_t *in, size_t len) {
  if (len > KW_SASL_MAX_SERVER_MSG || (len && memchr(in, 0, len))) return KW_ERR_SASL_PROTOCOL;
  a->p = len ? (const char *)in : ""; /* no arithmetic on a NULL in */
  a->end = a->p + len;
  a->more = 1;
  return 0;
}

/* The next attribute: 1 with its name and value, 0 at the end, or
 * KW_ERR_SASL_PROTOCOL for an empty or malformed one. RFC 5802's names are one letter;
 * Kafka's grammar lets extension names be longer ("tokenauth"), so any run of letters
 * is read and the callers insist on one letter where they expect r, s, i, v or e. */
static int next_attr(attrs *a, char *name, const char **val, size_t *val_len) {
  if (!a->more) return 0;
  const char *start = a->p;
  const char *comma = a->p < a->end ? memchr(start, ',', (size_t)(a->end - start)) : NULL;
  const char *stop = comma ? comma : a->end;
  a->more = comma != NULL;
  a->p = comma ? comma + 1 : a->end;
  const char *eq = start;
  while (eq < stop && alpha((unsigned char)*eq)) eq++;
  if (eq == start || eq == stop || *eq != '=') return KW_ERR_SASL_PROTOCOL;
  *name = eq - start == 1 ? start[0] : '\0'; /* '\0': a longer name, never a known one */
  *val = eq + 1;
  *val_len = (size_t)(stop - eq - 1);
  return 1;
}

/* The next attribute, which must be `want`. */
static int expect_attr(attrs *a, char want, const char **val, size_t *val_len) {
  char name;
  return next_attr(a, &name, val, val_len) == 1 && name == want ? 0 : KW_ERR_SASL_PROTOCOL;
}

/* Attributes after the known ones are extensions this client does not use; they
 * only have to be well formed. */
static int skip_extensions(attrs *a) {
  char name;
  const char *v;
  size_t n;
  int rc;
  while ((rc = next_attr(a, &name, &v, &n)) == 1) {
  }
  return rc;
}

/* posit-number (RFC 5802): no sign, no leading zero; stops counting once over max so
 * that no length of digits overflows. */
static int iterations(const char *v, size_t n, uint32_t min, uint32_t max, uint32_t *out) {
  if (n == 0 || v[0] < '1' || v[0] > '9') return KW_ERR_SASL_PROTOCOL;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return KW_ERR_SASL_PROTOCOL;
    if (x <= max) x = x * 10 + (uint64_t)(v[i] - '0');
  }
  if (x < min || x > max) return KW_ERR_SASL_PROTOCOL;
  *out = (uint32_t)x;
  return 0;
}

/* ---- client-final ---- */

/* What the client derives from the password, salt and AuthMessage (RFC 5802 3). */
typedef struct scram_keys {
  uint8_t salted_password[KW_SASL_MAX_DIGEST];
  uint8_t client_key[KW_SASL_MAX_DIGEST];
  uint8_t stored_key[KW_SASL_MAX_DIGEST];
  uint8_t client_signature[KW_SASL_MAX_DIGEST];
  uint8_t client_proof[KW_SASL_MAX_DIGEST];
  uint8_t server_key[KW_SASL_MAX_DIGEST];
} scram_keys;

static int hmac(const EVP_MD *md, const uint8_t *key, size_t key_len, const void *data, size_t n,
                uint8_t *out) {
  unsigned len = 0;
  return HMAC(md, key, (int)key_len, data, n, out, &len) ? 0 : CRYPTO_FAILED;
}

/* Fills k and s->server_signature. */
static int derive(kw_sasl *s, const uint8_t *salt, size_t salt_len, uint32_t iter, const char *auth,
                  size_t auth_len, scram_keys *k) {
  const EVP_MD *md = digest(s);
  size_t n = s->digest_len;
  unsigned len = 0;
  /* SaltedPassword = Hi(password, salt, i), which is PBKDF2 with HMAC as the PRF. */
  if (PKCS5_PBKDF2_HMAC(s->pass, (int)s->pass_len, salt, (int)salt_len, (int)iter, md, (int)n,
                        k->salted_password) != 1)
    return CRYPTO_FAILED;
  if (hmac(md, k->salted_password, n, "Client Key", 10, k->client_key) ||
      EVP_Digest(k->client_key, n, k->stored_key, &len, md, NULL) != 1 ||
      hmac(md, k->stored_key, n, auth, auth_len, k->client_signature) ||
      hmac(md, k->salted_password, n, "Server Key", 10, k->server_key) ||
      hmac(md, k->server_key, n, auth, auth_len, s->server_signature))
    return CRYPTO_FAILED;
  for (size_t i = 0; i < n; i++) k->client_proof[i] = k->client_key[i] ^ k->client_signature[i];
  return 0;
}

int kw_sasl_scram_client_final(kw_sasl *s, const uint8_t *in, size_t len) {
  attrs a;
  const char *nonce, *salt64, *iter_s;
  size_t nonce_len, salt64_len, iter_len, mine = strlen(s->nonce);
  uint8_t salt[KW_SASL_MAX_SERVER_MSG / 4 * 3];
  size_t salt_len;
  uint32_t iter;
  char name;
  /* server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
   * ["," extensions]. m= is a mandatory extension nobody defines yet: RFC 5802 says its
   * presence must fail authentication. */
  if (open_message(&a, in, len) || next_attr(&a, &name, &nonce, &nonce_len) != 1 || name != 'r' ||
      expect_attr(&a, 's', &salt64, &salt64_len) || expect_attr(&a, 'i', &iter_s, &iter_len) ||
      skip_extensions(&a))
    return KW_ERR_SASL_PROTOCOL;
  /* The server's nonce extends ours (proving it answers this exchange) and is echoed
   * back, so it must stay within the printable characters. */
  if (nonce_len <= mine || memcmp(nonce, s->nonce, mine)) return KW_ERR_SASL_PROTOCOL;
  for (size_t i = mine; i < nonce_len; i++)
    if (!printable((unsigned char)nonce[i])) return KW_ERR_SASL_PROTOCOL;
  if (salt64_len == 0 || kw_base64_decode(salt64, salt64_len, salt, &salt_len) || salt_len == 0)
    return KW_ERR_SASL_PROTOCOL;
  if (iterations(iter_s, iter_len, s->min_iterations, s->max_iterations, &iter)) return KW_ERR_SASL_PROTOCOL;

  /* client-final-message-without-proof = "c=biws,r=" nonce ("biws" is base64 of "n,,")
   * AuthMessage = client-first-message-bare "," server-first-message ","
   *               client-final-message-without-proof */
  size_t without_proof_len = 9 + nonce_len;
  size_t auth_len = s->client_first_bare_len + 1 + len + 1 + without_proof_len;
  char *auth = kw_alloc(s->mem, auth_len);
  if (!auth) return KW_ERR_NOMEM;
  char *o = put(auth, s->client_first_bare, s->client_first_bare_len);
  o = put(o, ",", 1);
  o = put(o, in, len);
  o = put(o, ",", 1);
  const char *without_proof = o;
  o = put(o, "c=biws,r=", 9);
  put(o, nonce, nonce_len);

  s->digest_len = (size_t)EVP_MD_size(digest(s));
  scram_keys k;
  int rc = derive(s, salt, salt_len, iter, auth, auth_len, &k);
  uint8_t *out = rc ? NULL : kw_sasl_out_new(s, without_proof_len + 3 + kw_base64_encoded_len(s->digest_len));
  if (!rc && !out) rc = KW_ERR_NOMEM;
  if (out) {
    o = put((char *)out, without_proof, without_proof_len);
    o = put(o, ",p=", 3);
    kw_base64_encode(k.client_proof, s->digest_len, o);
  }
  OPENSSL_cleanse(&k, sizeof k);
  kw_free(s->mem, auth);
  return rc;
}

/* ---- server-final ---- */

/* The e= value, kept printable for logs. */
static void keep_error(kw_sasl *s, const char *v, size_t n) {
  size_t i = 0;
  for (; i < n && i < sizeof s->server_error - 1; i++)
    s->server_error[i] = v[i] >= 0x20 && v[i] <= 0x7E ? v[i] : '?';
  s->server_error[i] = '\0';
}

int kw_sasl_scram_verify(kw_sasl *s, const uint8_t *in, size_t len) {
  attrs a;
  char name;
  const char *v;
  size_t n, sig_len;
  uint8_t sig[KW_SASL_MAX_SERVER_MSG / 4 * 3];
  /* server-final-message = (server-error / verifier) ["," extensions] */
  if (open_message(&a, in, len) || next_attr(&a, &name, &v, &n) != 1) return KW_ERR_SASL_PROTOCOL;
  if (name == 'e') {
    keep_error(s, v, n);
    return KW_ERR_AUTHENTICATION;
  }
  if (name != 'v' || kw_base64_decode(v, n, sig, &sig_len) || skip_extensions(&a))
    return KW_ERR_SASL_PROTOCOL;
  /* Both lengths are public; only the bytes are compared in constant time. */
  int same = sig_len == s->digest_len && CRYPTO_memcmp(sig, s->server_signature, s->digest_len) == 0;
  return same ? 0 : KW_ERR_AUTHENTICATION;
}
