/* Snappy, in-tree: raw block format (github.com/google/snappy format_description.txt)
 * and the xerial framing that the Java client writes. The compressor is a greedy
 * hash-table matcher over 64 KB fragments (like the reference, so every offset fits the
 * 2-byte copy form); it trades a little ratio for a few hundred bytes of code. */
#include <string.h>
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"

#define FRAGMENT 65536
#define XERIAL_BLOCK 32768 /* SnappyOutputStream's default block size */
#define HASH_BITS 13

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

static uint32_t load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static uint32_t hash32(uint32_t v) { return (v * 2654435761u) >> (32 - HASH_BITS); }

/* Length of the common prefix of a and b, b never reaching `end`. */
static size_t match_len(const uint8_t *a, const uint8_t *b, const uint8_t *end) {
  const uint8_t *start = b;
  while (end - b >= 8 && load64(a) == load64(b)) a += 8, b += 8;
  while (b < end && *a == *b) a++, b++;
  return (size_t)(b - start);
}

static size_t max_compressed(size_t n) { return 32 + n + n / 6; }

static uint8_t *put_literal(uint8_t *op, const uint8_t *p, size_t n) {
  if (!n) return op;
  size_t v = n - 1;
  if (v < 60) {
    *op++ = (uint8_t)(v << 2);
  } else {
    uint8_t *tag = op++;
    int bytes = 0;
    for (; v; v >>= 8, bytes++) *op++ = (uint8_t)v;
    *tag = (uint8_t)((59 + bytes) << 2);
  }
  memcpy(op, p, n);
  return op + n;
}

static uint8_t *put_copy2(uint8_t *op, size_t off, size_t len) {
  *op++ = (uint8_t)(((len - 1) << 2) | 2);
  *op++ = (uint8_t)off;
  *op++ = (uint8_t)(off >> 8);
  return op;
}

/* off < 65536, len >= 4 */
static uint8_t *put_copy(uint8_t *op, size_t off, size_t len) {
  while (len >= 68) op = put_copy2(op, off, 64), len -= 64;
  if (len > 64) op = put_copy2(op, off, 60), len -= 60;
  if (len < 12 && off < 2048) {
    *op++ = (uint8_t)(((off >> 8) << 5) | ((len - 4) << 2) | 1);
    *op++ = (uint8_t)off;
    return op;
  }
  return put_copy2(op, off, len);
}

/* One fragment (n <= 64 KB) into op; returns the new end. */
static uint8_t *compress_fragment(uint8_t *op, const uint8_t *src, size_t n) {
  uint16_t tab[1 << HASH_BITS];
  size_t ip = 0, anchor = 0;
  uint32_t skip = 32;
  memset(tab, 0, sizeof tab);
  while (n >= 8 && ip <= n - 4) {
    uint32_t v = load32(src + ip), h = hash32(v);
    size_t cand = tab[h];
    tab[h] = (uint16_t)ip;
    if (cand >= ip || load32(src + cand) != v) {
      ip += skip++ >> 5; /* speeds through incompressible data */
      continue;
    }
    size_t len = 4 + match_len(src + cand + 4, src + ip + 4, src + n);
    while (ip > anchor && cand > 0 && src[ip - 1] == src[cand - 1]) ip--, cand--, len++;
    op = put_literal(op, src + anchor, ip - anchor);
    op = put_copy(op, ip - cand, len);
    ip += len;
    anchor = ip;
    skip = 32;
  }
  return put_literal(op, src + anchor, n - anchor);
}

int kw_snappy_compress_raw(const uint8_t *in, size_t n, kw_buf *out) {
  if (n > UINT32_MAX || n > SIZE_MAX / 2) return KW_ERR_TOO_LARGE; /* the length is a u32 varint */
  if (kw_buf_reserve(out, max_compressed(n))) return out->err;
  uint8_t *op = out->data + out->len;
  for (size_t v = n; ; v >>= 7) {
    if (v < 0x80) {
      *op++ = (uint8_t)v;
      break;
    }
    *op++ = (uint8_t)(v | 0x80);
  }
  for (size_t off = 0; off < n; off += FRAGMENT)
    op = compress_fragment(op, in + off, n - off < FRAGMENT ? n - off : FRAGMENT);
  out->len = (size_t)(op - out->data);
  return 0;
}

int kw_snappy_compress(const uint8_t *in, size_t n, kw_buf *out) {
  kw_buf_raw(out, xerial_magic, sizeof xerial_magic);
  kw_buf_i32(out, 1); /* version */
  kw_buf_i32(out, 1); /* minimum compatible version */
  for (size_t off = 0; off < n && !out->err; off += XERIAL_BLOCK) {
    size_t at = out->len;
    kw_buf_i32(out, 0);
    if (kw_snappy_compress_raw(in + off, n - off < XERIAL_BLOCK ? n - off : XERIAL_BLOCK, out)) break;
    kw_buf_put_i32_at(out, at, (int32_t)(out->len - at - 4));
  }
  return out->err;
}

/* Decompresses one raw block into out, within `*left` bytes of budget. */
static int decompress_raw(const uint8_t *ip, const uint8_t *end, size_t *left, kw_buf *out) {
  uint32_t ulen = 0;
  for (int shift = 0;; shift += 7) {
    if (ip == end || shift > 28 || (shift == 28 && *ip > 0x0F)) return KW_ERR_DECOMPRESS;
    ulen |= (uint32_t)(*ip & 0x7F) << shift;
    if (!(*ip++ & 0x80)) break;
  }
  if (ulen > *left) return KW_ERR_TOO_LARGE;
  if (kw_buf_reserve(out, ulen)) return out->err;
  uint8_t none, *const base = out->data ? out->data + out->len : &none, *op = base, *const oend = base + ulen;
  while (ip < end) {
    uint8_t tag = *ip++;
    size_t len, off;
    if ((tag & 3) == 0) {
      len = tag >> 2;
      if (len >= 60) {
        size_t nb = len - 59;
        if ((size_t)(end - ip) < nb) return KW_ERR_DECOMPRESS;
        len = 0;
        for (size_t i = 0; i < nb; i++) len |= (size_t)ip[i] << (8 * i);
        ip += nb;
      }
      len++;
      if (len <= 16 && end - ip >= 16 && oend - op >= 16)
        memcpy(op, ip, 16); /* short literal: one fixed-size copy */
      else if (len > (size_t)(end - ip) || len > (size_t)(oend - op))
        return KW_ERR_DECOMPRESS;
      else
        memcpy(op, ip, len);
      op += len, ip += len;
      continue;
    }
    size_t nb = (tag & 3) == 1 ? 1 : (tag & 3) == 2 ? 2 : 4;
    if ((size_t)(end - ip) < nb) return KW_ERR_DECOMPRESS;
    if (nb == 1) {
      len = 4 + ((tag >> 2) & 7);
      off = ((size_t)(tag >> 5) << 8) | ip[0];
    } else {
      len = 1 + (tag >> 2);
      off = 0;
      for (size_t i = 0; i < nb; i++) off |= (size_t)ip[i] << (8 * i);
    }
    ip += nb;
    if (off == 0 || off > (size_t)(op - base) || len > (size_t)(oend - op)) return KW_ERR_DECOMPRESS;
    op = kw_lz_copy(op, off, len, oend);
  }
  if (op != oend) return KW_ERR_DECOMPRESS;
  out->len += ulen;
  *left -= ulen;
  return 0;
}

int kw_snappy_decompress(const uint8_t *in, size_t n, size_t max_out, kw_buf *out) {
  const uint8_t *end = in + n;
  if (n < 16 || memcmp(in, xerial_magic, sizeof xerial_magic) != 0) return decompress_raw(in, end, &max_out, out);
  /* xerial: 16-byte header (versions not checked: every release reads version 1), then
   * [int32 BE length][raw block] until the input ends. */
  for (in += 16; in < end;) {
    if (end - in < 4) return KW_ERR_DECOMPRESS;
    uint32_t blen = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
    in += 4;
    if (blen == 0 || blen > (size_t)(end - in)) return KW_ERR_DECOMPRESS;
    int rc = decompress_raw(in, in + blen, &max_out, out);
    if (rc) return rc;
    in += blen;
  }
  return 0;
}
