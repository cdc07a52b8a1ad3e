/* Base64 (RFC 4648): a table to encode, arithmetic to decode (no 256-entry table to
 * keep in sync, and no secret-dependent table lookups when decoding). */
#include "core/kw_base64.h"
#include "kwire/error.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t kw_base64_encode(const uint8_t *in, size_t n, char *out) {
  char *o = out;
  for (; n >= 3; in += 3, n -= 3) {
    uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = alphabet[(v >> 6) & 63];
    *o++ = alphabet[v & 63];
  }
  if (n) {
    uint32_t v = (uint32_t)in[0] << 16 | (n == 2 ? (uint32_t)in[1] << 8 : 0);
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = n == 2 ? alphabet[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  return (size_t)(o - out);
}

/* The 6-bit value of an alphabet character, or -1. */
static int sextet(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int kw_base64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len) {
  *out_len = 0;
  if (n % 4) return KW_ERR_MALFORMED;
  size_t len = 0;
  for (size_t i = 0; i < n; i += 4) {
    const unsigned char *q = (const unsigned char *)in + i;
    int last = i + 4 == n;
    /* Padding only in the last quantum: "xx==" or "xxx=". */
    int pad = last && q[3] == '=' ? (q[2] == '=' ? 2 : 1) : 0;
    int a = sextet(q[0]), b = sextet(q[1]);
    int c = pad == 2 ? 0 : sextet(q[2]), d = pad ? 0 : sextet(q[3]);
    if ((a | b | c | d) < 0) return KW_ERR_MALFORMED;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
    /* Bits past the data must be zero, or two spellings would decode alike. */
    if ((pad == 2 && (v & 0xFFFF)) || (pad == 1 && (v & 0xFF))) return KW_ERR_MALFORMED;
    out[len++] = (uint8_t)(v >> 16);
    if (pad < 2) out[len++] = (uint8_t)(v >> 8);
    if (pad < 1) out[len++] = (uint8_t)v;
  }
  *out_len = len;
  return 0;
}
