/* TLS through OpenSSL as a kw_transport_ops: one shared context per client (trust
 * store, client certificate, ciphers), one SSL object per connection. Verification of
 * the broker's certificate and host name is on unless the settings turn it off.
 * Compiled only with KW_WITH_TLS (the file names end in _tls). */
#ifndef KW_NET_TLS_H
#define KW_NET_TLS_H
#include <stdbool.h>
#include <stddef.h>
#include "kwire/mem.h"
#include "net/kw_transport.h"

typedef struct kw_tls_settings {
  const kw_mem *mem;         /* kwire's own allocations (OpenSSL's go through libc); NULL: libc */
  const char *ca_location;   /* PEM file or hashed directory; NULL: the system store */
  const char *cert_location; /* client certificate (chain) PEM, for mutual TLS */
  const char *key_location;  /* its private key PEM */
  const char *key_password;  /* passphrase of an encrypted key */
  const char *ciphers;       /* OpenSSL cipher list for TLS 1.2; NULL: OpenSSL's */
  bool verify_certificate;   /* the chain must lead to a trusted CA */
  bool verify_hostname;      /* ... and name the host we connected to */
} kw_tls_settings;

typedef struct kw_tls_ctx kw_tls_ctx;

/* NULL with the reason in errstr (unreadable CA file, key not matching the
 * certificate, wrong passphrase, bad cipher list). */
kw_tls_ctx *kw_tls_ctx_new(const kw_tls_settings *s, char *errstr, size_t errlen);
void kw_tls_ctx_free(kw_tls_ctx *ctx);

/* Per-connection state for kw_transport_tls over a connected fd; host is used for
 * SNI (names only) and for host name verification (names and IP literals). */
void *kw_tls_conn_new(kw_tls_ctx *ctx, int fd, const char *host);

extern const kw_transport_ops kw_transport_tls;

#endif
