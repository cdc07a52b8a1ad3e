/* Base64: RFC 4648 section 10 vectors both ways, every byte value round-tripping at
 * every length mod 3, and the strict decoder refusing every other spelling. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "core/kw_base64.h"

static const char *const rfc_plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const rfc_coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

/* Decodes a copy in an exact-size heap block so a sanitizer build sees any over-read. */
static int decode(const char *s, uint8_t *out, size_t *out_len) {
  size_t n = strlen(s);
  char *copy = malloc(n ? n : 1);
  memcpy(copy, s, n);
  int rc = kw_base64_decode(copy, n, out, out_len);
  free(copy);
  return rc;
}

Test(base64, rfc4648_vectors) {
  for (size_t i = 0; i < sizeof rfc_plain / sizeof rfc_plain[0]; i++) {
    char enc[16];
    uint8_t dec[16];
    size_t n = strlen(rfc_plain[i]), len = 99;
    cr_assert_eq(kw_base64_encoded_len(n), strlen(rfc_coded[i]));
    size_t w = kw_base64_encode((const uint8_t *)rfc_plain[i], n, enc);
    cr_assert_eq(w, strlen(rfc_coded[i]));
    cr_assert(!memcmp(enc, rfc_coded[i], w), "encode \"%s\"", rfc_plain[i]);
    cr_assert_eq(decode(rfc_coded[i], dec, &len), 0, "decode %s", rfc_coded[i]);
    cr_assert_eq(len, n);
    cr_assert(!memcmp(dec, rfc_plain[i], n));
    cr_assert_leq(len, kw_base64_decoded_max(w));
  }
}

Test(base64, every_byte_every_length_round_trips) {
  uint8_t in[258], dec[258];
  char enc[400];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7 + 3);
  for (size_t n = 0; n <= sizeof in; n++) {
    size_t w = kw_base64_encode(in, n, enc), len;
    cr_assert_eq(w, kw_base64_encoded_len(n));
    for (size_t j = 0; j < w; j++) cr_assert(enc[j] != ',' && enc[j] > 0x20 && enc[j] < 0x7F);
    cr_assert_eq(kw_base64_decode(enc, w, dec, &len), 0);
    cr_assert_eq(len, n);
    cr_assert(!memcmp(in, dec, n));
  }
  uint8_t all[256];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  size_t len, w = kw_base64_encode(all, 256, enc);
  cr_assert_eq(kw_base64_decode(enc, w, dec, &len), 0);
  cr_assert_eq(len, 256);
  cr_assert(!memcmp(all, dec, 256));
}

Test(base64, strict_decoder_rejects) {
  static const char *const bad[] = {
      "Zg",         /* missing padding */
      "Zg=",        /* short padding */
      "Zm9",        /* length not a multiple of 4 */
      "Zh==",       /* pad bits set: "Zg==" is the only spelling of "f" */
      "Zm9=",       /* pad bits set */
      "Zm8=Zm8=",   /* padding before the end */
      "Z===",       /* three pad characters */
      "====",       /* only padding */
      "Zm=v",       /* padding in the middle of a quantum */
      "Zm9v\n",     /* whitespace */
      " Zm9v",      /* whitespace */
      "Zm9v-_==",   /* base64url alphabet */
      "Zm\x80v",    /* high byte */
      "Zm9vYmFy====", /* a quantum of padding */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t out[16];
    size_t len = 99;
    cr_expect_eq(decode(bad[i], out, &len), KW_ERR_MALFORMED, "\"%s\" accepted", bad[i]);
    cr_expect_eq(len, 0);
  }
  /* An embedded NUL is just another bad character (lengths are explicit). */
  uint8_t out[8];
  size_t len;
  cr_expect_eq(kw_base64_decode("Zm\0v", 4, out, &len), KW_ERR_MALFORMED);
}
