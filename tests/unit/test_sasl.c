/* SASL mechanisms without a network: PLAIN's bytes; SCRAM-SHA-256 against the RFC 7677
 * example byte for byte; SCRAM-SHA-512 and user name escaping against an independent
 * computation; every way a hostile server message must fail; no freed block keeps the
 * password; every allocation failure handled. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "net/sasl/kw_sasl.h"

/* Steps with a copy of `in` in an exact-size heap block so a sanitizer build sees any
 * read past in_len. */
static int step_n(kw_sasl *s, const char *in, size_t n, const uint8_t **out, size_t *out_len) {
  uint8_t *copy = n ? malloc(n) : NULL;
  if (n) memcpy(copy, in, n);
  int rc = kw_sasl_step(s, copy, n, out, out_len);
  free(copy);
  return rc;
}
static int step(kw_sasl *s, const char *in) {
  const uint8_t *out;
  size_t len;
  return step_n(s, in, in ? strlen(in) : 0, &out, &len);
}
static kw_sasl *new_sasl(kw_sasl_mech m, const char *user, const char *pass) {
  int err = 1;
  kw_sasl *s = kw_sasl_new(NULL, m, user, pass, &err);
  cr_assert_not_null(s, "kw_sasl_new: %s", kw_errname(err));
  cr_assert_eq(err, 0);
  return s;
}

Test(sasl, mechanism_names) {
  cr_assert_str_eq(kw_sasl_mech_name(KW_SASL_MECH_PLAIN), "PLAIN");
  cr_assert_str_eq(kw_sasl_mech_name(KW_SASL_MECH_SCRAM_SHA_256), "SCRAM-SHA-256");
  cr_assert_str_eq(kw_sasl_mech_name(KW_SASL_MECH_SCRAM_SHA_512), "SCRAM-SHA-512");
  cr_assert_null(kw_sasl_mech_name((kw_sasl_mech)7));
}

Test(sasl, new_rejects_bad_arguments) {
  char longname[KW_SASL_MAX_CREDENTIAL + 2];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  struct { kw_sasl_mech m; const char *user, *pass; } bad[] = {
      {KW_SASL_MECH_PLAIN, NULL, "p"},   {KW_SASL_MECH_PLAIN, "u", NULL},
      {KW_SASL_MECH_PLAIN, "", "p"},     {KW_SASL_MECH_PLAIN, "u", ""},
      {(kw_sasl_mech)3, "u", "p"},       {(kw_sasl_mech)-1, "u", "p"},
      {KW_SASL_MECH_PLAIN, longname, "p"}, {KW_SASL_MECH_SCRAM_SHA_256, "u", longname},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int err = 0;
    cr_expect_null(kw_sasl_new(NULL, bad[i].m, bad[i].user, bad[i].pass, &err), "case %zu", i);
    cr_expect_eq(err, KW_ERR_INVALID_ARG, "case %zu: %s", i, kw_errname(err));
  }
  cr_expect_null(kw_sasl_new(NULL, KW_SASL_MECH_PLAIN, NULL, NULL, NULL)); /* err may be NULL */
  longname[KW_SASL_MAX_CREDENTIAL] = '\0'; /* exactly the maximum is fine */
  kw_sasl *s = new_sasl(KW_SASL_MECH_PLAIN, longname, longname);
  kw_sasl_free(s);
  kw_sasl_free(NULL);
}

Test(sasl, plain_message_and_done) {
  kw_sasl *s = new_sasl(KW_SASL_MECH_PLAIN, "alice", "s3cr3t");
  const uint8_t *out;
  size_t len;
  cr_assert_eq(kw_sasl_set_nonce(s, "ignored"), 0);
  cr_assert_eq(kw_sasl_step(s, NULL, 0, &out, &len), 1);
  cr_assert_eq(len, 13);
  cr_assert(!memcmp(out, "\0alice\0s3cr3t", 13));
  /* Kafka's PLAIN server answers with empty auth bytes. */
  cr_assert_eq(kw_sasl_step(s, (const uint8_t *)"", 0, &out, &len), 0);
  cr_assert_null(out);
  cr_assert_eq(len, 0);
  cr_assert_eq(step(s, NULL), KW_ERR_STATE);
  cr_assert_eq(step(s, "x"), KW_ERR_STATE);
  kw_sasl_free(s);
}

Test(sasl, plain_unexpected_answer_and_misuse) {
  kw_sasl *s = new_sasl(KW_SASL_MECH_PLAIN, "alice", "s3cr3t");
  const uint8_t *out = (const uint8_t *)"junk";
  size_t len = 42;
  cr_assert_eq(step(s, "server speaks first"), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_step(s, NULL, 3, &out, &len), KW_ERR_INVALID_ARG);
  cr_assert_null(out);
  cr_assert_eq(len, 0);
  cr_assert_eq(kw_sasl_step(s, NULL, 0, NULL, &len), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_step(NULL, NULL, 0, &out, &len), KW_ERR_INVALID_ARG);
  cr_assert_eq(step(s, NULL), 1);
  cr_assert_eq(step_n(s, "\0", 1, &out, &len), KW_ERR_SASL_PROTOCOL);
  cr_assert_eq(step(s, NULL), KW_ERR_STATE);
  kw_sasl_free(s);
}

#ifdef KW_WITH_TLS

/* A step that must answer exactly `want`. */
static void step_expect(kw_sasl *s, const char *in, const char *want) {
  const uint8_t *out;
  size_t len;
  int rc = step_n(s, in, in ? strlen(in) : 0, &out, &len);
  cr_assert_eq(rc, 1, "step: %s", kw_errname(rc));
  cr_assert_eq(len, strlen(want), "got %.*s\nwant %s", (int)len, (const char *)out, want);
  cr_assert(!memcmp(out, want, len), "got %.*s\nwant %s", (int)len, (const char *)out, want);
}

/* RFC 7677 section 3. */
static const char rfc_nonce[] = "rOprNGfwEbeRWgbNEkqO";
static const char rfc_client_first[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char rfc_server_first[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char rfc_client_final[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char rfc_server_final[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/* SCRAM-SHA-512 and escaping: no published Kafka-sized example exists, so these were
 * computed independently of kwire with Python's hashlib and hmac (RFC 5802 section 3):
 *
 *   import base64, hashlib, hmac
 *   def scram(h, user, pw, cnonce, server_first):
 *       bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), cnonce)
 *       a = dict(kv.split("=", 1) for kv in server_first.split(","))
 *       salted = hashlib.pbkdf2_hmac(h, pw.encode(), base64.b64decode(a["s"]), int(a["i"]))
 *       ck = hmac.new(salted, b"Client Key", h).digest()
 *       sk = hashlib.new(h, ck).digest()
 *       wp = "c=biws,r=" + a["r"]
 *       auth = ",".join([bare, server_first, wp]).encode()
 *       proof = bytes(x ^ y for x, y in zip(ck, hmac.new(sk, auth, h).digest()))
 *       ssig = hmac.new(hmac.new(salted, b"Server Key", h).digest(), auth, h).digest()
 *       return ("n,," + bare, wp + ",p=" + base64.b64encode(proof).decode(),
 *               "v=" + base64.b64encode(ssig).decode())
 *   scram("sha512", "user", "pencil", "rOprNGfwEbeRWgbNEkqO",
 *         "r=rOprNGfwEbeRWgbNEkqO3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
 *   scram("sha256", "us=er,x", "p\u00e4ss", "fixednonce", "r=fixednonceSERVER,s=c2FsdA==,i=4096")
 *
 * (The same function reproduces the RFC 7677 SHA-256 example above.) */
static const char sha512_server_first[] = "r=rOprNGfwEbeRWgbNEkqO3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
static const char sha512_client_final[] =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO3rfcNHYJY1ZVvWVs7j,"
    "p=zK0GyUU4eiPbsDgyUwFagtyp/zF/V83jraxOLQaH1XgAM2FVITQxBKmhgGpK17k49UtWj5xpeqiVM2Ty3cGCBA==";
static const char sha512_server_final[] =
    "v=8VgYFbxiFQ4EiaPBxycccAcyU+NQUbcRg9jwYx3pj5Hy1Yhl044ENC6evNQCgoz/ZU2cnnYVHXqdF4RJHQU2rw==";

/* A SCRAM-SHA-256 machine for the RFC's user, after client-first. */
static kw_sasl *rfc_after_first(void) {
  kw_sasl *s = new_sasl(KW_SASL_MECH_SCRAM_SHA_256, "user", "pencil");
  cr_assert_eq(kw_sasl_set_nonce(s, rfc_nonce), 0);
  step_expect(s, NULL, rfc_client_first);
  return s;
}

/* ... and after client-final. */
static kw_sasl *rfc_after_final(void) {
  kw_sasl *s = rfc_after_first();
  step_expect(s, rfc_server_first, rfc_client_final);
  return s;
}

Test(sasl, scram_sha256_rfc7677_example) {
  kw_sasl *s = rfc_after_final();
  const uint8_t *out = (const uint8_t *)"junk";
  size_t len = 1;
  cr_assert_eq(step_n(s, rfc_server_final, strlen(rfc_server_final), &out, &len), 0);
  cr_assert_null(out);
  cr_assert_eq(len, 0);
  cr_assert_str_eq(kw_sasl_server_error(s), "");
  cr_assert_eq(step(s, rfc_server_final), KW_ERR_STATE, "step after completion");
  cr_assert_eq(step(s, NULL), KW_ERR_STATE);
  kw_sasl_free(s);
}

Test(sasl, scram_sha512_independent_vector) {
  kw_sasl *s = new_sasl(KW_SASL_MECH_SCRAM_SHA_512, "user", "pencil");
  cr_assert_eq(kw_sasl_set_nonce(s, rfc_nonce), 0);
  step_expect(s, NULL, rfc_client_first);
  step_expect(s, sha512_server_first, sha512_client_final);
  cr_assert_eq(step(s, sha512_server_final), 0);
  kw_sasl_free(s);
}

Test(sasl, scram_username_escaping_and_raw_password_bytes) {
  /* '=' and ',' escaped in the name; the UTF-8 password is used as is (no SASLprep). */
  kw_sasl *s = new_sasl(KW_SASL_MECH_SCRAM_SHA_256, "us=er,x", "p\xc3\xa4ss");
  cr_assert_eq(kw_sasl_set_nonce(s, "fixednonce"), 0);
  step_expect(s, NULL, "n,,n=us=3Der=2Cx,r=fixednonce");
  step_expect(s, "r=fixednonceSERVER,s=c2FsdA==,i=4096",
              "c=biws,r=fixednonceSERVER,p=FnxAke7T/WH4UyRjIx3ywAzxCgUlCOLbXRXlFCMPN9w=");
  cr_assert_eq(step(s, "v=NKAv92ojAQAKllRWXi+imu0ItLJAZtcHv1sk2dIMbJQ="), 0);
  kw_sasl_free(s);

  s = new_sasl(KW_SASL_MECH_SCRAM_SHA_512, "==,,", "x");
  cr_assert_eq(kw_sasl_set_nonce(s, "n"), 0);
  step_expect(s, NULL, "n,,n==3D=3D=2C=2C,r=n");
  kw_sasl_free(s);
}

Test(sasl, scram_random_nonce) {
  const uint8_t *out;
  size_t len;
  char first[2][128];
  for (int i = 0; i < 2; i++) {
    kw_sasl *s = new_sasl(KW_SASL_MECH_SCRAM_SHA_256, "user", "pencil");
    cr_assert_eq(kw_sasl_step(s, NULL, 0, &out, &len), 1);
    cr_assert_eq(len, strlen("n,,n=user,r=") + 32);
    cr_assert(!memcmp(out, "n,,n=user,r=", 12));
    for (size_t j = 12; j < len; j++) cr_assert(out[j] > 0x20 && out[j] < 0x7F && out[j] != ',');
    memcpy(first[i], out, len);
    first[i][len] = '\0';
    /* The server must extend this nonce, whatever it is. */
    char server_first[256];
    snprintf(server_first, sizeof server_first, "r=%sXYZ,s=QSXCR+Q6sek8bf92,i=4096", first[i] + 12);
    cr_assert_eq(step(s, server_first), 1);
    kw_sasl_free(s);
  }
  cr_assert_str_neq(first[0], first[1]);
}

Test(sasl, scram_set_nonce_checks) {
  kw_sasl *s = new_sasl(KW_SASL_MECH_SCRAM_SHA_256, "user", "pencil");
  char longnonce[KW_SASL_MAX_NONCE + 2];
  memset(longnonce, 'n', sizeof longnonce - 1);
  longnonce[sizeof longnonce - 1] = '\0';
  cr_assert_eq(kw_sasl_set_nonce(s, ""), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_nonce(s, "a,b"), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_nonce(s, "a b"), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_nonce(s, "\x7f"), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_nonce(s, longnonce), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_nonce(s, NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_nonce(NULL, "x"), KW_ERR_INVALID_ARG);
  longnonce[KW_SASL_MAX_NONCE] = '\0';
  cr_assert_eq(kw_sasl_set_nonce(s, longnonce), 0);
  cr_assert_eq(kw_sasl_set_nonce(s, rfc_nonce), 0);
  step_expect(s, NULL, rfc_client_first);
  cr_assert_eq(kw_sasl_set_nonce(s, "late"), KW_ERR_STATE);
  cr_assert_eq(kw_sasl_set_iteration_limits(s, 1, 2), KW_ERR_STATE);
  kw_sasl_free(s);
}

/* Server-first messages that must end the exchange with KW_ERR_SASL_PROTOCOL. */
Test(sasl, scram_bad_server_first) {
  static const char *const bad[] = {
      "",
      "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",        /* nonce not extended */
      "r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",         /* shorter than ours */
      "r=XOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",     /* not prefixed */
      "r=abcrOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",     /* ours, not first */
      "r=rOprNGfwEbeRWgbNEkqOa b,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",     /* space in nonce */
      "r=rOprNGfwEbeRWgbNEkqOa\x80,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",   /* non-ASCII */
      "r=rOprNGfwEbeRWgbNEkqOabc,i=4096",                                /* missing salt */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=,i=4096",                             /* empty salt */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",      /* bad base64 */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22Za J0SNY7soEsUEjb6gQ==,i=4096",    /* bad base64 */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==",            /* missing i */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",     /* too few */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=16385",    /* over the cap */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999999",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",    /* leading zero */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",    /* trailing comma */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,,x=1",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x",   /* not x=value */
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,1=x",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,=x",
      "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,ab",
      "rr=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",    /* not r */
      "r=rOprNGfwEbeRWgbNEkqOabc,salt=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "m=must-understand,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOabc,i=4096",     /* out of order */
      "i=4096,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==",
      "R=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
      "e=other-error",
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",                  /* server-final early */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kw_sasl *s = rfc_after_first();
    int rc = step(s, bad[i]);
    cr_expect_eq(rc, KW_ERR_SASL_PROTOCOL, "\"%s\": %s", bad[i], kw_errname(rc));
    cr_expect_eq(step(s, rfc_server_first), KW_ERR_STATE, "\"%s\": retry after failure", bad[i]);
    kw_sasl_free(s);
  }
}

Test(sasl, scram_hostile_bytes_in_server_first) {
  const uint8_t *out;
  size_t len;
  /* An embedded NUL, even where a C string would stop before anything is wrong. */
  static const char with_nul[] = "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\0,x=1";
  kw_sasl *s = rfc_after_first();
  cr_assert_eq(step_n(s, with_nul, sizeof with_nul - 1, &out, &len), KW_ERR_SASL_PROTOCOL);
  kw_sasl_free(s);
  static const char nul_in_nonce[] = "r=rOprNGfwEbeRWgbNEkqO\0bc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  s = rfc_after_first();
  cr_assert_eq(step_n(s, nul_in_nonce, sizeof nul_in_nonce - 1, &out, &len), KW_ERR_SASL_PROTOCOL);
  kw_sasl_free(s);

  /* Every truncation of a good message (nothing past in_len may be read). */
  for (size_t n = 0; n < strlen(rfc_server_first); n++) {
    s = rfc_after_first();
    int rc = step_n(s, rfc_server_first, n, &out, &len);
    /* A prefix cut inside i=4096 is a smaller, too low count. */
    cr_expect_eq(rc, KW_ERR_SASL_PROTOCOL, "prefix %zu: %s", n, kw_errname(rc));
    kw_sasl_free(s);
  }

  /* Size: a message of KW_SASL_MAX_SERVER_MSG bytes (a 4000-character salt and an
   * extension to fill) is taken, one byte more is refused before anything is decoded. */
  for (size_t total = KW_SASL_MAX_SERVER_MSG; total <= KW_SASL_MAX_SERVER_MSG + 1; total++) {
    char *big = malloc(total + 1);
    int n = snprintf(big, total + 1, "r=%sabc,s=", rfc_nonce);
    memset(big + n, 'A', 4000);
    n += 4000;
    n += snprintf(big + n, total + 1 - (size_t)n, ",i=4096,x=");
    memset(big + n, 'y', total - (size_t)n);
    s = rfc_after_first();
    int rc = step_n(s, big, total, &out, &len);
    cr_expect_eq(rc, total == KW_SASL_MAX_SERVER_MSG ? 1 : KW_ERR_SASL_PROTOCOL, "%zu bytes: %s", total,
                 kw_errname(rc));
    kw_sasl_free(s);
    free(big);
  }
}

Test(sasl, scram_extensions_after_iterations_are_ignored) {
  kw_sasl *s = rfc_after_first();
  /* The AuthMessage covers server-first as sent, so the proof differs from the RFC's:
   * only the part before it is compared. */
  const uint8_t *out;
  size_t len;
  static const char with_ext[] =
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=y,tokenauth=true";
  cr_assert_eq(step_n(s, with_ext, strlen(with_ext), &out, &len), 1);
  size_t without_proof = strlen(rfc_client_final) - 47;
  cr_assert(len > without_proof && !memcmp(out, rfc_client_final, without_proof));
  cr_assert(memcmp(out, rfc_client_final, len));
  kw_sasl_free(s);
}

Test(sasl, scram_iteration_limits) {
  kw_sasl *s = new_sasl(KW_SASL_MECH_SCRAM_SHA_256, "user", "pencil");
  cr_assert_eq(kw_sasl_set_iteration_limits(s, 0, 10), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_iteration_limits(s, 11, 10), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_sasl_set_iteration_limits(s, 2, 10), 0);
  cr_assert_eq(kw_sasl_set_nonce(s, rfc_nonce), 0);
  cr_assert_eq(step(s, NULL), 1);
  cr_assert_eq(step(s, "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=11"), KW_ERR_SASL_PROTOCOL);
  kw_sasl_free(s);
  s = new_sasl(KW_SASL_MECH_SCRAM_SHA_256, "user", "pencil");
  cr_assert_eq(kw_sasl_set_iteration_limits(s, 2, 10), 0);
  cr_assert_eq(step(s, NULL), 1);
  kw_sasl_free(s);
  /* The default range's edges are accepted. */
  static const char *const edges[] = {"4096", "16384"};
  for (int i = 0; i < 2; i++) {
    char msg[128];
    s = rfc_after_first();
    snprintf(msg, sizeof msg, "r=%sabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=%s", rfc_nonce, edges[i]);
    cr_assert_eq(step(s, msg), 1, "i=%s", edges[i]);
    kw_sasl_free(s);
  }
}

Test(sasl, scram_wrong_server_signature) {
  char wrong[sizeof rfc_server_final];
  memcpy(wrong, rfc_server_final, sizeof wrong);
  wrong[5] = wrong[5] == 'A' ? 'B' : 'A';
  kw_sasl *s = rfc_after_final();
  cr_assert_eq(step(s, wrong), KW_ERR_AUTHENTICATION);
  cr_assert_eq(step(s, rfc_server_final), KW_ERR_STATE, "no second chance");
  kw_sasl_free(s);

  /* The SHA-512 signature of another exchange, and a truncated one: wrong length. */
  static const char *const also_wrong[] = {
      "v=8VgYFbxiFQ4EiaPBxycccAcyU+NQUbcRg9jwYx3pj5Hy1Yhl044ENC6evNQCgoz/ZU2cnnYVHXqdF4RJHQU2rw==",
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9",
      "v=",
  };
  for (int i = 0; i < 3; i++) {
    s = rfc_after_final();
    cr_expect_eq(step(s, also_wrong[i]), KW_ERR_AUTHENTICATION, "%s", also_wrong[i]);
    kw_sasl_free(s);
  }
}

Test(sasl, scram_server_error_attribute) {
  kw_sasl *s = rfc_after_final();
  cr_assert_eq(step(s, "e=invalid-proof"), KW_ERR_AUTHENTICATION);
  cr_assert_str_eq(kw_sasl_server_error(s), "invalid-proof");
  cr_assert_eq(step(s, rfc_server_final), KW_ERR_STATE);
  kw_sasl_free(s);
  /* Kept printable and bounded, for logs. */
  char msg[400] = "e=bad\x01";
  memset(msg + 6, 'x', 300);
  msg[306] = '\0';
  s = rfc_after_final();
  cr_assert_eq(step(s, msg), KW_ERR_AUTHENTICATION);
  cr_assert_eq(strlen(kw_sasl_server_error(s)), 127);
  cr_assert(!strncmp(kw_sasl_server_error(s), "bad?xxx", 7));
  kw_sasl_free(s);
}

Test(sasl, scram_bad_server_final) {
  static const char *const bad[] = {
      "",
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",        /* bad base64 */
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,",      /* trailing comma */
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,=x",
      "x=1,v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",   /* v must come first */
      "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
      rfc_server_first,                                       /* server-first again */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kw_sasl *s = rfc_after_final();
    int rc = step(s, bad[i]);
    cr_expect_eq(rc, KW_ERR_SASL_PROTOCOL, "\"%s\": %s", bad[i], kw_errname(rc));
    kw_sasl_free(s);
  }
  /* A well-formed extension after the verifier is ignored. */
  kw_sasl *s = rfc_after_final();
  cr_assert_eq(step(s, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=later"), 0);
  kw_sasl_free(s);
  /* A NUL right after a correct verifier. */
  const uint8_t *out;
  size_t len;
  s = rfc_after_final();
  cr_assert_eq(step_n(s, rfc_server_final, sizeof rfc_server_final, &out, &len), KW_ERR_SASL_PROTOCOL);
  kw_sasl_free(s);
}

/* ---- Memory: every block freed, none still holding the password, OOM handled. ---- */

typedef struct tracker {
  int allocs_left; /* fail once this reaches 0 (-1: never) */
  int live;
  int leaked_secret;
} tracker;

/* Each block carries its size in front so free can look inside it. */
static void *t_alloc(void *ud, size_t n) {
  tracker *t = ud;
  if (t->allocs_left == 0) return NULL;
  if (t->allocs_left > 0) t->allocs_left--;
  size_t *p = malloc(sizeof(size_t) + (n ? n : 1));
  if (!p) return NULL;
  *p = n;
  t->live++;
  return p + 1;
}
static void *t_realloc(void *ud, void *ptr, size_t n) {
  (void)ud, (void)ptr, (void)n;
  return NULL; /* kw_sasl never grows a block: that would leave copies behind */
}
static void t_free(void *ud, void *ptr) {
  tracker *t = ud;
  size_t *p = (size_t *)ptr - 1;
  const char *b = ptr;
  for (size_t i = 0; i + 6 <= *p; i++)
    if (!memcmp(b + i, "pencil", 6)) t->leaked_secret = 1;
  t->live--;
  free(p);
}

/* A complete exchange through the tracker; the result of the step that stopped it. */
static int tracked_exchange(tracker *t, kw_sasl_mech m, const char *server_first,
                            const char *server_final) {
  kw_mem mem = {t, t_alloc, t_realloc, t_free};
  int err = 0;
  kw_sasl *s = kw_sasl_new(&mem, m, "user", "pencil", &err);
  if (!s) return err;
  int rc = kw_sasl_set_nonce(s, rfc_nonce);
  if (rc == 0) rc = step(s, NULL);
  if (rc == 1 && server_first) rc = step(s, server_first);
  if (rc == 1 && server_final) rc = step(s, server_final);
  kw_sasl_free(s);
  return rc;
}

Test(sasl, freed_memory_holds_no_password) {
  tracker t = {-1, 0, 0};
  cr_assert_eq(tracked_exchange(&t, KW_SASL_MECH_PLAIN, "", NULL), 0);
  cr_assert_eq(tracked_exchange(&t, KW_SASL_MECH_PLAIN, NULL, NULL), 1);
  cr_assert_eq(tracked_exchange(&t, KW_SASL_MECH_SCRAM_SHA_256, rfc_server_first, rfc_server_final), 0);
  cr_assert_eq(tracked_exchange(&t, KW_SASL_MECH_SCRAM_SHA_256, rfc_server_first, "e=x"),
               KW_ERR_AUTHENTICATION);
  cr_assert_eq(t.live, 0);
  cr_assert_eq(t.leaked_secret, 0);
}

Test(sasl, every_allocation_failure) {
  static const kw_sasl_mech mechs[] = {KW_SASL_MECH_PLAIN, KW_SASL_MECH_SCRAM_SHA_512};
  for (int m = 0; m < 2; m++) {
    int done = 0;
    for (int fail_at = 0; !done && fail_at < 50; fail_at++) {
      tracker t = {fail_at, 0, 0};
      int rc = mechs[m] == KW_SASL_MECH_PLAIN
                   ? tracked_exchange(&t, mechs[m], "", NULL)
                   : tracked_exchange(&t, mechs[m], sha512_server_first, sha512_server_final);
      cr_assert(rc == 0 || rc == KW_ERR_NOMEM, "fail at %d: %s", fail_at, kw_errname(rc));
      cr_assert_eq(t.live, 0, "fail at %d: leak", fail_at);
      done = rc == 0;
    }
    cr_assert(done);
  }
}

#else /* built without OpenSSL */

Test(sasl, scram_unsupported_without_tls) {
  int err = 0;
  cr_assert_null(kw_sasl_new(NULL, KW_SASL_MECH_SCRAM_SHA_256, "user", "pencil", &err));
  cr_assert_eq(err, KW_ERR_UNSUPPORTED_FEATURE);
  cr_assert_null(kw_sasl_new(NULL, KW_SASL_MECH_SCRAM_SHA_512, "user", "pencil", &err));
  cr_assert_eq(err, KW_ERR_UNSUPPORTED_FEATURE);
  kw_sasl *s = new_sasl(KW_SASL_MECH_PLAIN, "user", "pencil");
  cr_assert_eq(step(s, NULL), 1);
  kw_sasl_free(s);
}

#endif
