/* SASL client mechanisms as pure state machines: bytes from the server in, the next
 * bytes to send out. No sockets: the connection carries these bytes in SaslAuthenticate
 * requests (after a SaslHandshake naming kw_sasl_mech_name()).
 *
 *   PLAIN          RFC 4616: one message, "\0user\0pass"; the broker's verdict is the
 *                  SaslAuthenticate error code (its auth bytes are empty).
 *   SCRAM-SHA-256  RFC 5802 + RFC 7677, as Kafka speaks it: gs2 header "n,,", no
 *   SCRAM-SHA-512  channel binding (c=biws), no SASLprep (Kafka's Java client sends the
 *                  password's bytes as they are). Three messages: client-first,
 *                  client-final, and the server-final whose signature proves the broker
 *                  knows the credential.
 *
 * SCRAM needs OpenSSL; built with KW_WITH_TLS=OFF, kw_sasl_new refuses it with
 * KW_ERR_UNSUPPORTED_FEATURE and PLAIN still works. */
#ifndef KW_NET_SASL_H
#define KW_NET_SASL_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/mem.h"

/* Same order as the "sasl.mechanism" config enum (KW_SASL_PLAIN, ...). */
typedef enum kw_sasl_mech {
  KW_SASL_MECH_PLAIN,
  KW_SASL_MECH_SCRAM_SHA_256,
  KW_SASL_MECH_SCRAM_SHA_512,
} kw_sasl_mech;

/* "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" (the SaslHandshake mechanism); NULL for
 * a value outside the enum. */
const char *kw_sasl_mech_name(kw_sasl_mech m);

/* Kafka stores SCRAM credentials with 4096..16384 iterations (its ScramMechanism; the
 * broker refuses others), so a count outside that range never comes from a Kafka
 * credential. The upper bound caps the CPU a hostile server can make this
 * single-threaded client burn in PBKDF2 before it has proved anything. */
#define KW_SASL_SCRAM_MIN_ITERATIONS 4096u
#define KW_SASL_SCRAM_MAX_ITERATIONS 16384u
/* Longest server message accepted (real ones are ~100-200 bytes). */
#define KW_SASL_MAX_SERVER_MSG 4096u
/* Longest user name or password accepted. */
#define KW_SASL_MAX_CREDENTIAL 1024u
/* Longest client nonce kw_sasl_set_nonce takes; the random one is 32 characters. */
#define KW_SASL_MAX_NONCE 128u

typedef struct kw_sasl kw_sasl;

/* Copies user and password (wiped on free). Returns NULL with *err (err may be NULL):
 * KW_ERR_NOMEM, KW_ERR_UNSUPPORTED_FEATURE for SCRAM built without OpenSSL,
 * KW_ERR_INVALID_ARG for an unknown mechanism, a NULL or empty user name or password
 * (RFC 4616 and RFC 5802 both require at least one character), or one longer than
 * KW_SASL_MAX_CREDENTIAL. mem NULL = libc. */
kw_sasl *kw_sasl_new(const kw_mem *mem, kw_sasl_mech m, const char *user, const char *pass, int *err);

/* The client's next message. First call: in_len 0 (in may be NULL), gives the initial
 * message (PLAIN: "\0user\0pass"; SCRAM: client-first "n,,n=user,r=nonce"). Later
 * calls pass the server's last message (any bytes; nothing past in_len is read).
 * Returns
 *   1  with *out and *out_len set: send it. *out stays valid until the next call or free.
 *   0  authentication is complete and verified (PLAIN: the server's empty answer;
 *      SCRAM: the server signature in server-final matched).
 *   KW_ERR_SASL_PROTOCOL   a malformed or unexpected server message: m= extension,
 *                          nonce not extending ours, missing or misordered attribute,
 *                          bad base64, iteration count outside the limits, NUL bytes,
 *                          over KW_SASL_MAX_SERVER_MSG, a non-empty PLAIN answer.
 *   KW_ERR_AUTHENTICATION  wrong server signature, or the server's e= error (see
 *                          kw_sasl_server_error).
 *   KW_ERR_STATE           called again after 0 or an error: the exchange is over.
 *   KW_ERR_INVALID_ARG     in NULL with in_len > 0, or input on the first call.
 *   KW_ERR_NOMEM           (the exchange is over too: start again with a new kw_sasl).
 * On anything but 1, *out is NULL and *out_len 0. */
int kw_sasl_step(kw_sasl *s, const uint8_t *in, size_t in_len, const uint8_t **out, size_t *out_len);

/* Wipes the credentials and every derived secret, then frees. NULL is fine. */
void kw_sasl_free(kw_sasl *s);

/* The server's e= value from a SCRAM server-final ("invalid-proof", ...), printable
 * ASCII only and cut at 127 characters; "" when there was none. For logs. */
const char *kw_sasl_server_error(const kw_sasl *s);

/* ---- For tests and fuzzing. ---- */

/* A fixed client nonce instead of RAND_bytes (before the first step): 1 to
 * KW_SASL_MAX_NONCE printable ASCII characters other than ','. 0, KW_ERR_INVALID_ARG,
 * or KW_ERR_STATE after the first step. PLAIN ignores it. */
int kw_sasl_set_nonce(kw_sasl *s, const char *nonce);
/* Iteration counts accepted from server-first (default KW_SASL_SCRAM_MIN_ITERATIONS..
 * KW_SASL_SCRAM_MAX_ITERATIONS). The fuzzer lowers both so PBKDF2 stays cheap; a
 * minimum under 4096 weakens SCRAM and has no place outside tests. KW_ERR_INVALID_ARG
 * when min is 0 or over max. */
int kw_sasl_set_iteration_limits(kw_sasl *s, uint32_t min, uint32_t max);

#endif
