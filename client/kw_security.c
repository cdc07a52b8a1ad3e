/* Connection security from the configuration (see kw_security.h). */
#include <stdio.h>
#include <string.h>
#include "client/kw_security.h"
#include "core/kw_hooks.h"
#include "kwire/error.h"
#ifdef KW_WITH_TLS
#include "net/kw_tls.h"
#endif

int kw_security_init(kw_conn_security *sec, const kw_conf_values *v, const kw_mem *mem, char *errstr, size_t errlen) {
  memset(sec, 0, sizeof *sec);
  int proto = v->security_protocol;
  bool sasl = proto == KW_SEC_SASL_PLAINTEXT || proto == KW_SEC_SASL_SSL;
  /* The config enum lists the mechanisms in kw_sasl_mech's order. */
  sec->sasl_mechanism = sasl ? v->sasl_mechanism : -1;
  sec->sasl_username = v->sasl_username;
  sec->sasl_password = v->sasl_password;
  if (proto != KW_SEC_SSL && proto != KW_SEC_SASL_SSL) return KW_OK;
  if (kw_hooks_net()) { /* TLS runs OpenSSL over a real socket: no handle of the simulator's */
    snprintf(errstr, errlen, "security.protocol=%s: the simulator (kw_hooks) speaks plaintext only; use %s",
             proto == KW_SEC_SSL ? "SSL" : "SASL_SSL", proto == KW_SEC_SSL ? "PLAINTEXT" : "SASL_PLAINTEXT");
    return KW_ERR_UNSUPPORTED_FEATURE;
  }
#ifdef KW_WITH_TLS
  kw_tls_settings ts = {
      .mem = mem,
      .ca_location = v->ssl_ca_location,
      .cert_location = v->ssl_certificate_location,
      .key_location = v->ssl_key_location,
      .key_password = v->ssl_key_password,
      .ciphers = v->ssl_cipher_suites,
      .verify_certificate = v->ssl_verify_certificate,
      .verify_hostname = v->ssl_endpoint_check != 0, /* "none" is 0, "https" 1 */
  };
  sec->tls = kw_tls_ctx_new(&ts, errstr, errlen);
  return sec->tls ? KW_OK : KW_ERR_CONFIG;
#else
  (void)mem;
  (void)errstr;
  (void)errlen;
  return KW_ERR_UNSUPPORTED_FEATURE; /* kw_config_finalize refuses this earlier */
#endif
}

void kw_security_free(kw_conn_security *sec) {
#ifdef KW_WITH_TLS
  kw_tls_ctx_free(sec->tls);
#endif
  sec->tls = NULL;
}
