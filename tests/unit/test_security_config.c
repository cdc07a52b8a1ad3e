/* Security settings that cannot work are refused when the client is created, with a
 * reason that names the property (no broker needed): missing SASL credentials, TLS
 * files that do not exist or do not fit together, a wrong key passphrase, a cipher
 * list OpenSSL does not know. The files are made here with the openssl command. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kwire.h"

static char dir[64];

#ifdef KW_WITH_TLS
static const char *path(const char *name) {
  static char buf[4][128];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, 128, "%s/%s", dir, name);
  return b;
}
#endif

/* A self-signed certificate with an encrypted key, and a second, unrelated key. */
static void make_files(void) {
  snprintf(dir, sizeof dir, "/tmp/kw-sec-unit-%d", (int)getpid());
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "mkdir -p %s && cd %s && "
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 -subj /CN=kw -passout pass:right "
           "-keyout enc.key -out cert.pem >/dev/null 2>&1 && "
           "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key >/dev/null 2>&1",
           dir, dir);
  cr_assert_eq(system(cmd), 0, "openssl could not make the test files");
}

static void remove_files(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  (void)!system(cmd);
}

TestSuite(security_config, .init = make_files, .fini = remove_files);

/* Creates a producer from key/value pairs; returns NULL and the reason in err. */
static kw_client *producer(char *err, size_t errlen, const char *const *kv) {
  kw_config *c = kw_config_new();
  cr_assert_eq(kw_config_set(c, "bootstrap.servers", "127.0.0.1:1", err, errlen), KW_OK);
  for (; *kv; kv += 2) cr_assert_eq(kw_config_set(c, kv[0], kv[1], err, errlen), KW_OK, "%s: %s", kv[0], err);
  kw_client *p = kw_producer_new(c, err, errlen);
  kw_config_free(c);
  return p;
}

static void refused(const char *const *kv, const char *expected) {
  char err[512] = "";
  kw_client *p = producer(err, sizeof err, kv);
  if (p) kw_client_destroy(p);
  cr_assert_null(p, "accepted, but should fail with: %s", expected);
  cr_assert(strstr(err, expected) != NULL, "reason \"%s\" does not contain \"%s\"", err, expected);
  cr_assert(strstr(err, "right") == NULL && strstr(err, "s3cret") == NULL, "a secret is in the reason: %s", err);
}

Test(security_config, sasl_needs_credentials) {
  const char *kv[] = {"security.protocol", "sasl_plaintext", "sasl.username", "alice", NULL};
  refused(kv, "\"sasl.username\" and \"sasl.password\" are required");
}

#ifdef KW_WITH_TLS
Test(security_config, missing_ca_file_is_named) {
  const char *kv[] = {"security.protocol", "ssl", "ssl.ca.location", "/nonexistent/ca.pem", NULL};
  refused(kv, "ssl.ca.location '/nonexistent/ca.pem'");
}

Test(security_config, certificate_without_key) {
  const char *kv[] = {"security.protocol", "ssl", "ssl.certificate.location", path("cert.pem"), NULL};
  refused(kv, "must be set together with ssl.key.location");
}

Test(security_config, wrong_key_passphrase) {
  const char *kv[] = {"security.protocol", "ssl", "ssl.certificate.location", path("cert.pem"), "ssl.key.location",
                      path("enc.key"), "ssl.key.password", "s3cret", NULL};
  refused(kv, "ssl.key.location");
}

Test(security_config, key_not_matching_certificate) {
  const char *kv[] = {"security.protocol", "ssl", "ssl.certificate.location", path("cert.pem"), "ssl.key.location",
                      path("other.key"), NULL};
  refused(kv, "key does not match the certificate");
}

Test(security_config, unknown_cipher_list) {
  const char *kv[] = {"security.protocol", "ssl", "ssl.cipher.suites", "NO-SUCH-CIPHER", NULL};
  refused(kv, "ssl.cipher.suites");
}

Test(security_config, working_files_are_accepted) {
  char err[512] = "";
  const char *kv[] = {"security.protocol", "sasl_ssl", "sasl.username", "alice", "sasl.password", "s3cret",
                      "sasl.mechanism", "SCRAM-SHA-512", "ssl.ca.location", path("cert.pem"),
                      "ssl.certificate.location", path("cert.pem"), "ssl.key.location", path("enc.key"),
                      "ssl.key.password", "right", NULL};
  kw_client *p = producer(err, sizeof err, kv);
  cr_assert_not_null(p, "%s", err);
  kw_client_destroy(p);
}
#else
Test(security_config, tls_refused_without_openssl) {
  const char *kv[] = {"security.protocol", "ssl", NULL};
  refused(kv, "built without TLS");
}

Test(security_config, scram_refused_without_openssl) {
  const char *kv[] = {"security.protocol", "sasl_plaintext", "sasl.username", "alice", "sasl.password", "s3cret",
                      "sasl.mechanism", "SCRAM-SHA-256", NULL};
  refused(kv, "SCRAM needs a kwire built with OpenSSL");
}
#endif
