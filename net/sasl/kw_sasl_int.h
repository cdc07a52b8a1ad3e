/* Internal to kw_sasl.c (PLAIN, dispatch, state) and kw_sasl_scram.c (SCRAM). */
#ifndef KW_NET_SASL_INT_H
#define KW_NET_SASL_INT_H
#include <stdbool.h>
#include "net/sasl/kw_sasl.h"

/* Where the exchange stands; anything but the first three is final. */
enum kw_sasl_state {
  KW_SASL_INITIAL,       /* nothing sent */
  KW_SASL_SENT_FIRST,    /* PLAIN message or client-first sent: waiting for the answer */
  KW_SASL_SENT_FINAL,    /* SCRAM client-final sent: waiting for server-final */
  KW_SASL_DONE,          /* verified */
  KW_SASL_FAILED,        /* an error was returned */
};

#define KW_SASL_MAX_DIGEST 64 /* SHA-512 */

struct kw_sasl {
  const kw_mem *mem;
  kw_sasl_mech mech;
  enum kw_sasl_state state;
  char *user, *pass; /* copies, NUL-terminated; pass is wiped on free */
  size_t user_len, pass_len;
  uint8_t *out; /* the last message returned (may hold the password: wiped) */
  size_t out_len;
  /* SCRAM */
  char nonce[KW_SASL_MAX_NONCE + 1]; /* client nonce; "" until set or drawn */
  char *client_first_bare;          /* "n=user,r=nonce", part of AuthMessage */
  size_t client_first_bare_len;
  uint8_t server_signature[KW_SASL_MAX_DIGEST]; /* what server-final must carry */
  size_t digest_len;
  uint32_t min_iterations, max_iterations;
  char server_error[128];
};

/* Wipes n bytes so that the compiler cannot drop the stores as dead. */
void kw_sasl_wipe(void *p, size_t n);
/* Replaces s->out (the old one wiped) with n fresh bytes; NULL when out of memory. */
uint8_t *kw_sasl_out_new(kw_sasl *s, size_t n);

#ifdef KW_WITH_TLS
/* Each returns 0 with s->out/out_len set, or a negative KW_ERR_*. */
int kw_sasl_scram_client_first(kw_sasl *s);
int kw_sasl_scram_client_final(kw_sasl *s, const uint8_t *server_first, size_t len);
/* 0 when server-final carries the expected signature. */
int kw_sasl_scram_verify(kw_sasl *s, const uint8_t *server_final, size_t len);
#endif

#endif
