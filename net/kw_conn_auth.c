/* The SASL exchange of a connection: SaslHandshake names the mechanism, then
 * SaslAuthenticate requests carry the mechanism's messages (net/sasl/kw_sasl.h) until it
 * is done. A session lifetime in the last answer (KIP-368) schedules the same
 * exchange again on the open connection before the broker would close it. */
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "net/kw_conn_int.h"
#include "net/sasl/kw_sasl.h"
#include "proto/gen/kw_msg_gen.h"
#include "proto/kw_frame.h"
#include "proto/kw_kerr.h"
#include "proto/kw_msg.h"

#define KW_KERR_UNSUPPORTED_SASL_MECHANISM 33

/* Stops the exchange with err (words: len bytes, not NUL-terminated when they come
 * from the broker); dispatch closes the connection after the callback. */
static void auth_fail_n(kw_conn *c, int err, const char *words, int len) {
  snprintf(c->why, sizeof c->why, "%.*s", len, words);
  c->fatal = err;
}

static void auth_fail(kw_conn *c, int err, const char *words) { auth_fail_n(c, err, words, (int)strlen(words)); }

static int version_for(const kw_conn *c, int16_t key) {
  int16_t min, max;
  if (!kw_conn_broker_range(c, key, &min, &max)) return KW_ERR_NO_VERSION;
  return kw_version_pick(key, min, max);
}

static void on_authenticate(void *ud, int err, int16_t key, int16_t ver, kw_rd *body);

static int send_authenticate(kw_conn *c, const uint8_t *bytes, size_t len) {
  int v = version_for(c, KW_API_SASL_AUTHENTICATE);
  if (v < 0) return v;
  kw_sasl_authenticate_req req;
  kw_msg_init(KW_SCHEMA_SASL_AUTHENTICATE_REQ, &req);
  req.auth_bytes = (kw_slice){bytes, (int32_t)len};
  return kw_conn_enqueue(c, KW_API_SASL_AUTHENTICATE, (int16_t)v, &req, on_authenticate, c, c->now, true,
                         c->cfg.request_timeout_ms);
}

/* Sends the mechanism's next message: 1 when sent, 0 when the mechanism is done (it
 * has nothing more to say), or an error. */
static int next_message(kw_conn *c, const uint8_t *in, size_t in_len) {
  const uint8_t *out;
  size_t out_len;
  int r = kw_sasl_step(c->sasl, in, in_len, &out, &out_len);
  if (r != 1) return r;
  int err = send_authenticate(c, out, out_len);
  return err ? err : 1;
}

/* The exchange succeeded: READY, and when the session expires, a new exchange first. */
static void authenticated(kw_conn *c, int64_t lifetime_ms) {
  const kw_conn_security *sec = c->cfg.security;
  CONN_DBG(c, SECURITY, "authenticated as %s with %s%s, session lifetime %lld ms", sec->sasl_username,
           kw_sasl_mech_name((kw_sasl_mech)sec->sasl_mechanism), c->reauth_busy ? " (re-authentication)" : "",
           (long long)lifetime_ms);
  kw_conn_auth_end(c);
  c->state = KW_CONN_READY;
  c->reauth_busy = false;
  c->reauth_at = 0;
  if (lifetime_ms > 0) {
    /* Like the Java client: somewhere in 85-95 % of the lifetime, so that many
     * connections opened together do not all re-authenticate at the same moment. */
    c->rng = c->rng * 1103515245u + 12345u;
    int64_t pct = 85 + (int64_t)((c->rng >> 16) % 11);
    c->reauth_at = c->now + lifetime_ms * pct / 100;
  }
}

static void on_authenticate(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  (void)key;
  kw_conn *c = ud;
  if (err || !c->sasl) return; /* the connection is going down anyway */
  kw_sasl_authenticate_resp resp;
  kw_arena_reset(&c->arena);
  if (kw_response_decode(KW_API_SASL_AUTHENTICATE, ver, body, &c->arena, &resp) != 0) {
    auth_fail(c, KW_ERR_SASL_PROTOCOL, "undecodable SaslAuthenticate answer");
    return;
  }
  if (resp.error_code != 0) {
    /* The broker's message says why (it never echoes credentials). */
    if (resp.error_message.len > 0)
      auth_fail_n(c, KW_ERR_AUTHENTICATION, (const char *)resp.error_message.ptr, resp.error_message.len);
    else
      auth_fail(c, KW_ERR_AUTHENTICATION, kw_kerr_name(resp.error_code));
    return;
  }
  int r = next_message(c, resp.auth_bytes.ptr, resp.auth_bytes.len > 0 ? (size_t)resp.auth_bytes.len : 0);
  if (r == 0) {
    authenticated(c, ver >= 1 ? resp.session_lifetime_ms : 0);
  } else if (r < 0) {
    const char *server_said = kw_sasl_server_error(c->sasl);
    const char *what = *server_said                    ? server_said
                       : r == KW_ERR_AUTHENTICATION ? "the broker's SCRAM signature is wrong (not the real broker?)"
                                                    : "the broker's SASL message breaks the mechanism's rules";
    auth_fail(c, r, what);
  }
}

static void on_handshake(void *ud, int err, int16_t key, int16_t ver, kw_rd *body) {
  (void)key;
  kw_conn *c = ud;
  if (err) return;
  kw_sasl_handshake_resp resp;
  kw_arena_reset(&c->arena);
  if (kw_response_decode(KW_API_SASL_HANDSHAKE, ver, body, &c->arena, &resp) != 0) {
    auth_fail(c, KW_ERR_SASL_PROTOCOL, "undecodable SaslHandshake answer");
    return;
  }
  const char *mech = kw_sasl_mech_name((kw_sasl_mech)c->cfg.security->sasl_mechanism);
  if (resp.error_code == KW_KERR_UNSUPPORTED_SASL_MECHANISM) {
    char offered[120] = "";
    size_t used = 0;
    for (int32_t i = 0; i < resp.n_mechanisms && used + 2 < sizeof offered; i++) {
      int n = snprintf(offered + used, sizeof offered - used, "%s%.*s", i ? ", " : "", resp.mechanisms[i].len,
                       (const char *)resp.mechanisms[i].ptr);
      if (n < 0) break;
      used += (size_t)n;
    }
    if (used >= sizeof offered) used = sizeof offered - 1;
    char words[200];
    snprintf(words, sizeof words, "the broker does not enable %s (it offers: %s)", mech, offered[0] ? offered : "none");
    auth_fail(c, KW_ERR_AUTHENTICATION, words);
    return;
  }
  if (resp.error_code != 0) {
    auth_fail(c, KW_ERR_AUTHENTICATION, kw_kerr_name(resp.error_code));
    return;
  }
  int r = next_message(c, NULL, 0);
  if (r <= 0) auth_fail(c, r < 0 ? r : KW_ERR_SASL_PROTOCOL, "could not start the SASL mechanism");
}

int kw_conn_auth_begin(kw_conn *c) {
  const kw_conn_security *sec = c->cfg.security;
  int err = 0;
  kw_conn_auth_end(c);
  c->sasl = kw_sasl_new(c->cfg.mem, (kw_sasl_mech)sec->sasl_mechanism, sec->sasl_username ? sec->sasl_username : "",
                        sec->sasl_password ? sec->sasl_password : "", &err);
  if (!c->sasl) return err ? err : KW_ERR_NOMEM;
  /* v1: the mechanism's messages travel in SaslAuthenticate requests (v0's raw tokens
   * are for brokers older than 1.0). */
  int v = version_for(c, KW_API_SASL_HANDSHAKE);
  if (v < 1) {
    snprintf(c->why, sizeof c->why, "the broker does not offer SaslHandshake v1");
    c->fatal = KW_ERR_NO_VERSION;
    return KW_ERR_NO_VERSION;
  }
  const char *mech = kw_sasl_mech_name((kw_sasl_mech)sec->sasl_mechanism);
  kw_sasl_handshake_req req;
  kw_msg_init(KW_SCHEMA_SASL_HANDSHAKE_REQ, &req);
  req.mechanism = (kw_slice){(const uint8_t *)mech, (int32_t)strlen(mech)};
  return kw_conn_enqueue(c, KW_API_SASL_HANDSHAKE, (int16_t)v, &req, on_handshake, c, c->now, true,
                         c->cfg.request_timeout_ms);
}

void kw_conn_auth_end(kw_conn *c) {
  kw_sasl_free(c->sasl);
  c->sasl = NULL;
}
