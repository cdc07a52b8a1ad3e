/* Base64 with the standard alphabet and '=' padding (RFC 4648 section 4), as SCRAM
 * carries salts, proofs and signatures. Decoding is strict: no whitespace, no missing
 * padding, no bits set past the data, so one value has one spelling. */
#ifndef KW_CORE_BASE64_H
#define KW_CORE_BASE64_H
#include <stddef.h>
#include <stdint.h>

/* Characters that encoding n bytes gives (no terminating NUL); n < SIZE_MAX / 4 * 3. */
static inline size_t kw_base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }
/* The most bytes that decoding n characters can give. */
static inline size_t kw_base64_decoded_max(size_t n) { return n / 4 * 3; }

/* Writes kw_base64_encoded_len(n) characters to out (no NUL) and returns that count.
 * in may be NULL when n is 0. */
size_t kw_base64_encode(const uint8_t *in, size_t n, char *out);

/* Decodes n characters into out, which has room for kw_base64_decoded_max(n) bytes;
 * *out_len is the byte count. KW_ERR_MALFORMED for a length that is not a multiple
 * of 4, a character outside the alphabet, misplaced padding or non-zero pad bits. */
int kw_base64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len);

#endif
