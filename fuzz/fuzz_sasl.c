/* Fuzz target: the SASL client mechanisms fed server messages from the input, plus
 * base64 round trips over the same bytes.
 *
 * Unlike the codec targets this one includes internal headers (net/sasl/, core/): the
 * SCRAM exchange is connection state in net/, not part of the sans-I/O codec, and its
 * hooks (fixed nonce, lowered iteration limits) exist for tests, not for users. The
 * SaslHandshake/SaslAuthenticate messages that carry it are codec and covered by
 * fuzz_message.
 *
 * Input: byte 0 picks the mechanism (% 3: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); the
 * rest, split at the first '\n', is the server's first answer (server-first, or
 * PLAIN's answer) and, if there is a '\n', server-final. The client nonce is fixed
 * ("rOprNGfwEbeRWgbNEkqO", RFC 7677's) so inputs can carry a matching server nonce,
 * and the iteration limits are lowered to 1..FUZZ_MAX_ITERATIONS with
 * kw_sasl_set_iteration_limits so PBKDF2 stays cheap and the fuzzer reaches
 * server-final; the seeds in corpus/fuzz_sasl/ are complete exchanges at 1-3
 * iterations, computed with Python's hashlib/hmac (one is RFC 7677's, which the lowered
 * cap refuses).
 *
 * Oracles: client-first and client-final have the exact shape RFC 5802 gives them;
 * every result is one the API documents; an exchange that ended refuses more steps;
 * the server's e= text is printable and bounded; base64 decoding is canonical (what
 * decodes re-encodes to the same text) and encoding round-trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "net/sasl/kw_sasl.h"
#include "core/kw_base64.h"

#define CHECK(c) \
  do {           \
    if (!(c)) abort(); \
  } while (0)

#define FUZZ_MAX_ITERATIONS 64
static const char nonce[] = "rOprNGfwEbeRWgbNEkqO";

static int starts(const uint8_t *p, size_t n, const char *prefix) {
  size_t k = strlen(prefix);
  return n >= k && !memcmp(p, prefix, k);
}

static void base64_round_trips(const uint8_t *data, size_t size) {
  static uint8_t dec[1 << 16];
  static char enc[(1 << 16) / 3 * 4 + 8];
  size_t len;
  if (size > sizeof dec) size = sizeof dec;
  if (kw_base64_decode((const char *)data, size, dec, &len) == 0) {
    CHECK(len <= kw_base64_decoded_max(size));
    CHECK(kw_base64_encode(dec, len, enc) == size && !memcmp(enc, data, size));
  }
  if (size <= (1 << 16) / 4 * 3) {
    size_t w = kw_base64_encode(data, size, enc);
    CHECK(w == kw_base64_encoded_len(size));
    CHECK(kw_base64_decode(enc, w, dec, &len) == 0 && len == size && !memcmp(dec, data, size));
  }
}

static int step(kw_sasl *s, const uint8_t *in, size_t n, const uint8_t **out, size_t *len) {
  /* A copy in an exact-size block, so AddressSanitizer sees any read past n. */
  uint8_t *copy = n ? malloc(n) : NULL;
  if (n) memcpy(copy, in, n);
  int rc = kw_sasl_step(s, copy, n, out, len);
  free(copy);
  CHECK(rc == 1 || rc == 0 || rc == KW_ERR_SASL_PROTOCOL || rc == KW_ERR_AUTHENTICATION);
  CHECK(rc == 1 ? *out && *len : !*out && !*len);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  base64_round_trips(data, size);
  if (size == 0) return 0;
  kw_sasl_mech mech = (kw_sasl_mech)(data[0] % 3);
  const uint8_t *first = data + 1, *nl = memchr(first, '\n', size - 1), *final = NULL;
  size_t first_len = size - 1, final_len = 0;
  if (nl) {
    first_len = (size_t)(nl - first);
    final = nl + 1;
    final_len = size - 1 - first_len - 1;
  }

  int err;
  kw_sasl *s = kw_sasl_new(NULL, mech, "user", "pencil", &err);
#ifdef KW_WITH_TLS
  CHECK(s);
#else
  CHECK(s || (mech != KW_SASL_MECH_PLAIN && err == KW_ERR_UNSUPPORTED_FEATURE));
  if (!s) return 0;
#endif
  CHECK(kw_sasl_set_nonce(s, nonce) == 0);
  CHECK(kw_sasl_set_iteration_limits(s, 1, FUZZ_MAX_ITERATIONS) == 0);

  const uint8_t *out;
  size_t len;
  CHECK(step(s, NULL, 0, &out, &len) == 1);
  if (mech == KW_SASL_MECH_PLAIN) {
    CHECK(len == 12 && !memcmp(out, "\0user\0pencil", 12));
  } else {
    CHECK(len == 32 && !memcmp(out, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", 32));
  }

  int rc = step(s, first, first_len, &out, &len);
  if (mech == KW_SASL_MECH_PLAIN) CHECK(rc == (first_len ? KW_ERR_SASL_PROTOCOL : 0));
  if (rc == 1) {
    /* "c=biws,r=" server-nonce ",p=" base64(ClientProof), the nonce echoed verbatim */
    size_t proof = kw_base64_encoded_len(mech == KW_SASL_MECH_SCRAM_SHA_512 ? 64 : 32);
    CHECK(first_len > 2 + sizeof nonce - 1 && starts(first, first_len, "r=rOprNGfwEbeRWgbNEkqO"));
    CHECK(starts(out, len, "c=biws,r=rOprNGfwEbeRWgbNEkqO") && len > 9 + 3 + proof);
    const uint8_t *echoed = out + 9, *p = out + len - proof - 3;
    CHECK(memchr(echoed, ',', (size_t)(p - echoed)) == NULL && !memcmp(p, ",p=", 3));
    CHECK(!memcmp(echoed, first + 2, (size_t)(p - echoed)) && first[2 + (p - echoed)] == ',');
    rc = step(s, final, final_len, &out, &len);
    CHECK(rc != 1);
    if (rc == KW_ERR_AUTHENTICATION && starts(final, final_len, "e=")) {
      const char *e = kw_sasl_server_error(s);
      size_t n = strlen(e);
      CHECK(n <= 127 && n <= final_len - 2);
      for (size_t i = 0; i < n; i++) CHECK(e[i] >= 0x20 && e[i] <= 0x7E);
    }
  }
  /* Whatever happened, the exchange is over now. */
  rc = kw_sasl_step(s, final, final_len, &out, &len);
  CHECK(rc == KW_ERR_STATE);
  CHECK(kw_sasl_step(s, NULL, 0, &out, &len) == KW_ERR_STATE);
  kw_sasl_free(s);
  return 0;
}
