/* LZ4, in-tree: block format and frame format (github.com/lz4/lz4 doc/lz4_Block_format.md,
 * lz4_Frame_format.md), plus xxHash32 for its checksums. The compressor is a greedy
 * hash-table matcher over 64 KB independent blocks; the reader takes every valid frame
 * (linked or independent blocks, block/content checksums, content size, skippable frames). */
#include <string.h>
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"

#define BLOCK 65536
#define HASH_BITS 13
#define MFLIMIT 12 /* a match starts at least this far from the block end */
#define LASTLITERALS 5
#define MAGIC 0x184D2204u

/* --- xxHash32 (github.com/Cyan4973/xxHash doc/xxhash_spec.md) */

#define P1 2654435761u
#define P2 2246822519u
#define P3 3266489917u
#define P4 668265263u
#define P5 374761393u

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t rotl(uint32_t v, int r) { return (v << r) | (v >> (32 - r)); }
static uint32_t round32(uint32_t acc, uint32_t lane) { return rotl(acc + lane * P2, 13) * P1; }

uint32_t kw_xxh32(const void *data, size_t n, uint32_t seed) {
  const uint8_t *p = data, *end = p + n;
  uint32_t h;
  if (n >= 16) {
    uint32_t v[4] = {seed + P1 + P2, seed + P2, seed, seed - P1};
    for (; end - p >= 16; p += 16)
      for (int i = 0; i < 4; i++) v[i] = round32(v[i], le32(p + 4 * i));
    h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
  } else {
    h = seed + P5;
  }
  h += (uint32_t)n;
  for (; end - p >= 4; p += 4) h = rotl(h + le32(p) * P3, 17) * P4;
  for (; p < end; p++) h = rotl(h + *p * P5, 11) * P1;
  h ^= h >> 15;
  h *= P2;
  h ^= h >> 13;
  h *= P3;
  return h ^ (h >> 16);
}

/* --- block compressor */

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

static size_t match_len(const uint8_t *a, const uint8_t *b, const uint8_t *end) {
  const uint8_t *start = b;
  while (end - b >= 8 && load64(a) == load64(b)) a += 8, b += 8;
  while (b < end && *a == *b) a++, b++;
  return (size_t)(b - start);
}

static uint8_t *put_len(uint8_t *op, size_t v) { /* the 255-run after a nibble of 15 */
  for (; v >= 255; v -= 255) *op++ = 255;
  *op++ = (uint8_t)v;
  return op;
}

static uint8_t *put_seq(uint8_t *op, const uint8_t *lit, size_t nlit, size_t off, size_t mlen) {
  uint8_t *token = op++;
  *token = (uint8_t)((nlit < 15 ? nlit : 15) << 4);
  if (nlit >= 15) op = put_len(op, nlit - 15);
  memcpy(op, lit, nlit);
  op += nlit;
  if (!mlen) return op; /* last sequence: literals only */
  *op++ = (uint8_t)off;
  *op++ = (uint8_t)(off >> 8);
  mlen -= 4;
  *token |= (uint8_t)(mlen < 15 ? mlen : 15);
  return mlen >= 15 ? put_len(op, mlen - 15) : op;
}

static size_t block_bound(size_t n) { return n + n / 255 + 16; }

/* n <= 64 KB, so positions fit the 16-bit table. */
static size_t compress_block(uint8_t *dst, const uint8_t *src, size_t n) {
  uint16_t tab[1 << HASH_BITS];
  uint8_t *op = dst;
  size_t ip = 0, anchor = 0;
  uint32_t skip = 32;
  memset(tab, 0, sizeof tab);
  while (n > MFLIMIT && ip < n - MFLIMIT) {
    uint32_t v = load32(src + ip), h = hash32(v);
    size_t cand = tab[h];
    tab[h] = (uint16_t)ip;
    if (cand >= ip || load32(src + cand) != v) {
      ip += skip++ >> 5;
      continue;
    }
    size_t len = 4 + match_len(src + cand + 4, src + ip + 4, src + n - LASTLITERALS);
    while (ip > anchor && cand > 0 && src[ip - 1] == src[cand - 1]) ip--, cand--, len++;
    op = put_seq(op, src + anchor, ip - anchor, ip - cand, len);
    ip += len;
    anchor = ip;
    skip = 32;
  }
  op = put_seq(op, src + anchor, n - anchor, 0, 0);
  return (size_t)(op - dst);
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int kw_lz4_compress(const uint8_t *in, size_t n, kw_buf *out) {
  /* FLG: version 01, independent blocks; BD: 64 KB blocks. */
  uint8_t hdr[7] = {0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0};
  hdr[6] = (uint8_t)(kw_xxh32(hdr + 4, 2, 0) >> 8);
  kw_buf_raw(out, hdr, sizeof hdr);
  for (size_t off = 0; off < n && !out->err; off += BLOCK) {
    size_t len = n - off < BLOCK ? n - off : BLOCK;
    if (kw_buf_reserve(out, 4 + block_bound(len))) break;
    uint8_t *p = out->data + out->len;
    size_t clen = compress_block(p + 4, in + off, len);
    if (clen >= len) { /* incompressible: store it */
      memcpy(p + 4, in + off, len);
      clen = len | 0x80000000u;
    }
    put_le32(p, (uint32_t)clen);
    out->len += 4 + (clen & 0x7FFFFFFF);
  }
  kw_buf_i32(out, 0); /* EndMark */
  return out->err;
}

/* --- decompressor */

enum { OUT_FULL = 1 };

/* Decodes one block into [op, oend); back-references may reach down to `low`. Returns 0
 * (and the bytes produced), OUT_FULL, or KW_ERR_DECOMPRESS. */
static int decode_block(const uint8_t *ip, const uint8_t *iend, const uint8_t *low, uint8_t *op,
                        uint8_t *oend, size_t *produced) {
  uint8_t *const start = op;
  for (;;) {
    if (ip == iend) return KW_ERR_DECOMPRESS;
    uint8_t token = *ip++;
    size_t len = token >> 4;
    if (len == 15) {
      uint8_t b;
      do {
        if (ip == iend) return KW_ERR_DECOMPRESS;
        len += b = *ip++;
      } while (b == 255);
    }
    if (len <= 16 && iend - ip >= 16 && oend - op >= 16) {
      memcpy(op, ip, 16); /* short literal run: one fixed-size copy */
    } else {
      if (len > (size_t)(iend - ip)) return KW_ERR_DECOMPRESS;
      if (len > (size_t)(oend - op)) return OUT_FULL;
      memcpy(op, ip, len);
    }
    op += len, ip += len;
    if (ip == iend) break; /* the last sequence has no match */
    if (iend - ip < 2) return KW_ERR_DECOMPRESS;
    size_t off = ip[0] | (size_t)ip[1] << 8;
    ip += 2;
    len = token & 15;
    if (len == 15) {
      uint8_t b;
      do {
        if (ip == iend) return KW_ERR_DECOMPRESS;
        len += b = *ip++;
      } while (b == 255);
    }
    len += 4;
    if (off == 0 || off > (size_t)(op - low)) return KW_ERR_DECOMPRESS;
    if (len > (size_t)(oend - op)) return OUT_FULL;
    op = kw_lz_copy(op, off, len, oend);
  }
  *produced = (size_t)(op - start);
  return 0;
}

/* One frame starting after its magic; *pp advances past it. */
static int decode_frame(const uint8_t **pp, const uint8_t *end, size_t *left, kw_buf *out) {
  const uint8_t *p = *pp, *desc = p;
  if (end - p < 3) return KW_ERR_DECOMPRESS;
  uint8_t flg = p[0], bd = p[1];
  if ((flg >> 6) != 1 || (flg & 0x02) || (bd & 0x8F) || (bd >> 4) < 4) return KW_ERR_DECOMPRESS;
  if (flg & 0x01) return KW_ERR_DECOMPRESS; /* needs a dictionary we cannot have */
  bool indep = flg & 0x20, bsum = flg & 0x10, csize = flg & 0x08, csum = flg & 0x04;
  size_t dlen = 2 + (csize ? 8 : 0);
  if ((size_t)(end - p) < dlen + 1) return KW_ERR_DECOMPRESS;
  p += dlen;
  /* Kafka before 0.10 hashed the magic too (KAFKA-3160); magic v0/v1 batches carry that. */
  if (*p != (uint8_t)(kw_xxh32(desc, dlen, 0) >> 8) && *p != (uint8_t)(kw_xxh32(desc - 4, dlen + 4, 0) >> 8))
    return KW_ERR_DECOMPRESS;
  p++;
  size_t bmax = (size_t)1 << (8 + 2 * (bd >> 4)), start = out->len;
  for (;;) {
    if (end - p < 4) return KW_ERR_DECOMPRESS;
    uint32_t bsz = le32(p);
    p += 4;
    if (bsz == 0) break;
    size_t clen = bsz & 0x7FFFFFFF;
    if (clen > bmax || (size_t)(end - p) < clen + (bsum ? 4 : 0)) return KW_ERR_DECOMPRESS;
    if (bsum && le32(p + clen) != kw_xxh32(p, clen, 0)) return KW_ERR_DECOMPRESS;
    size_t lim = bmax < *left ? bmax : *left, got = clen;
    if (bsz & 0x80000000u) {
      if (clen > lim) return KW_ERR_TOO_LARGE;
      if (clen) kw_buf_raw(out, p, clen);
      if (out->err) return out->err;
    } else {
      size_t room = kw_compress_room(out, lim);
      if (out->err) return out->err;
      room = room < lim ? room : lim;
      uint8_t none, *op = out->data ? out->data + out->len : &none;
      int rc = decode_block(p, p + clen, indep ? op : op - (out->len - start), op, op + room, &got);
      if (rc == OUT_FULL && room < lim) kw_buf_reserve(out, lim); /* fixed buffer full */
      if (rc == OUT_FULL) return out->err ? out->err : lim < bmax ? KW_ERR_TOO_LARGE : KW_ERR_DECOMPRESS;
      if (rc) return rc;
      out->len += got;
    }
    *left -= got;
    p += clen + (bsum ? 4 : 0);
  }
  if (csum) {
    if (end - p < 4) return KW_ERR_DECOMPRESS;
    if (le32(p) != kw_xxh32(out->data ? out->data + start : p, out->len - start, 0)) return KW_ERR_DECOMPRESS;
    p += 4;
  }
  if (csize) {
    uint64_t want = 0;
    for (int i = 7; i >= 0; i--) want = want << 8 | desc[2 + i];
    if (want != out->len - start) return KW_ERR_DECOMPRESS;
  }
  *pp = p;
  return 0;
}

int kw_lz4_decompress(const uint8_t *in, size_t n, size_t max_out, kw_buf *out) {
  const uint8_t *p = in, *end = in + n;
  if (n == 0) return KW_ERR_DECOMPRESS;
  while (p < end) {
    if (end - p < 4) return KW_ERR_DECOMPRESS;
    uint32_t magic = le32(p);
    p += 4;
    if ((magic & 0xFFFFFFF0u) == 0x184D2A50u) { /* skippable frame */
      if (end - p < 4 || le32(p) > (size_t)(end - p - 4)) return KW_ERR_DECOMPRESS;
      p += 4 + le32(p);
      continue;
    }
    if (magic != MAGIC) return KW_ERR_DECOMPRESS;
    int rc = decode_frame(&p, end, &max_out, out);
    if (rc) return rc;
  }
  return 0;
}
