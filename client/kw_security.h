/* A client's connection security, built once from its configuration: the TLS context
 * (trust store, client certificate) and the SASL mechanism and credentials that every
 * broker connection uses. */
#ifndef KW_CLIENT_SECURITY_H
#define KW_CLIENT_SECURITY_H
#include <stddef.h>
#include "client/kw_config.h"
#include "net/kw_conn.h"

/* Fills sec from the configuration (whose strings must outlive it); mem NULL = libc.
 * KW_ERR_CONFIG with the reason in errstr when the TLS files cannot be used. */
int kw_security_init(kw_conn_security *sec, const kw_conf_values *v, const kw_mem *mem, char *errstr, size_t errlen);
void kw_security_free(kw_conn_security *sec);

#endif
