/* The codec's byte reader and writer (part of kwire/codec.h, usable on their own).
 *
 * kw_rd is a sticky-error reader: every read checks bounds; the first failure sticks in
 * `err` and later reads return zeros, so a decoder checks once per message. */
#ifndef KWIRE_BUF_H
#define KWIRE_BUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kwire/export.h"
#include "kwire/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A view into bytes (a received frame, or the caller's memory when encoding).
 * ptr == NULL means null (nullable strings and bytes); an empty value has a non-NULL ptr. */
typedef struct kw_slice {
  const uint8_t *ptr;
  int32_t len;
} kw_slice;

typedef struct kw_uuid {
  uint8_t b[16];
} kw_uuid;

typedef struct kw_rd {
  const uint8_t *p, *end;
  int err; /* 0 or a KW_ERR_* code */
} kw_rd;

static inline void kw_rd_init(kw_rd *r, const void *data, size_t len) {
  static const uint8_t nothing[1] = {0};
  r->p = data ? (const uint8_t *)data : nothing; /* NULL + 0 is undefined in C */
  r->end = r->p + (data ? len : 0);
  r->err = 0;
}
static inline size_t kw_rd_left(const kw_rd *r) { return r->err ? 0 : (size_t)(r->end - r->p); }
KW_API void kw_rd_fail(kw_rd *r, int err); /* keeps the first error */

KW_API int8_t kw_rd_i8(kw_rd *r);
KW_API int16_t kw_rd_i16(kw_rd *r);
KW_API uint16_t kw_rd_u16(kw_rd *r);
KW_API int32_t kw_rd_i32(kw_rd *r);
KW_API uint32_t kw_rd_u32(kw_rd *r);
KW_API int64_t kw_rd_i64(kw_rd *r);
KW_API double kw_rd_f64(kw_rd *r);
KW_API bool kw_rd_bool(kw_rd *r);
KW_API kw_uuid kw_rd_uuid(kw_rd *r);
KW_API uint32_t kw_rd_uvarint(kw_rd *r);  /* unsigned varint, at most 5 bytes */
KW_API int32_t kw_rd_varint(kw_rd *r);    /* zig-zag, at most 5 bytes */
KW_API int64_t kw_rd_varlong(kw_rd *r);   /* zig-zag, at most 10 bytes */
KW_API uint64_t kw_rd_uvarlong(kw_rd *r); /* unsigned, at most 10 bytes */
KW_API const uint8_t *kw_rd_raw(kw_rd *r, size_t n); /* n bytes in place, or NULL */

/* Inline one-byte fast paths for the record reader's hot loop; longer values and
 * errors take the checked out-of-line path. */
static inline int32_t kw_rd_varint_fast(kw_rd *r) {
  if (r->p < r->end && *r->p < 0x80) {
    uint32_t z = *r->p++;
    return (int32_t)((z >> 1) ^ (~(z & 1) + 1));
  }
  if (r->end - r->p >= 2 && r->p[1] < 0x80) { /* two bytes: lengths of 64..8191 */
    uint32_t z = (uint32_t)(r->p[0] & 0x7f) | (uint32_t)r->p[1] << 7;
    r->p += 2;
    return (int32_t)((z >> 1) ^ (~(z & 1) + 1));
  }
  return kw_rd_varint(r);
}
static inline int64_t kw_rd_varlong_fast(kw_rd *r) {
  if (r->p < r->end && *r->p < 0x80) {
    uint64_t z = *r->p++;
    return (int64_t)((z >> 1) ^ (~(z & 1) + 1));
  }
  return kw_rd_varlong(r);
}
KW_API void kw_rd_skip(kw_rd *r, size_t n);

/* Length-prefixed string or bytes. compact: unsigned varint of len+1 (0 = null);
 * classic: int16 (strings) / int32 (bytes) with -1 = null, returned as {NULL, 0}.
 * A null where `nullable` is false is KW_ERR_MALFORMED. */
KW_API kw_slice kw_rd_string(kw_rd *r, bool compact, bool nullable);
KW_API kw_slice kw_rd_bytes(kw_rd *r, bool compact, bool nullable);
/* Array count, checked against the bytes left assuming each element takes at least
 * `min_elem` bytes, so a caller may allocate count elements safely. -1 = null. */
KW_API int32_t kw_rd_array_len(kw_rd *r, bool compact, bool nullable, size_t min_elem);
/* Skip a flexible-version tagged-field section entirely. */
KW_API void kw_rd_skip_tags(kw_rd *r);


/* Output buffer: either fixed (caller memory; overflow is KW_ERR_BUF_FULL), growing
 * (through a kw_mem), or counting (no memory: only `len` advances, for size
 * calculation). Errors are sticky like kw_rd's. */
typedef struct kw_buf {
  uint8_t *data;
  size_t len, cap;
  const kw_mem *mem; /* growing buffers only */
  uint8_t mode;      /* KW_BUF_FIXED, KW_BUF_GROW, KW_BUF_COUNT */
  int err;
} kw_buf;

enum { KW_BUF_FIXED, KW_BUF_GROW, KW_BUF_COUNT };

KW_API void kw_buf_init_fixed(kw_buf *b, void *mem, size_t cap);
KW_API void kw_buf_init_grow(kw_buf *b, const kw_mem *m);
KW_API void kw_buf_init_count(kw_buf *b);
KW_API void kw_buf_free(kw_buf *b); /* growing buffers: releases the memory */
KW_API void kw_buf_reset(kw_buf *b);  /* len = 0, err = 0, memory kept */
KW_API int kw_buf_reserve(kw_buf *b, size_t extra);
/* Pointer to n bytes appended at the end (NULL on error or in counting mode). */
KW_API uint8_t *kw_buf_extend(kw_buf *b, size_t n);

KW_API void kw_buf_i8(kw_buf *b, int8_t v);
KW_API void kw_buf_i16(kw_buf *b, int16_t v);
KW_API void kw_buf_i32(kw_buf *b, int32_t v);
KW_API void kw_buf_i64(kw_buf *b, int64_t v);
KW_API void kw_buf_f64(kw_buf *b, double v);
KW_API void kw_buf_uuid(kw_buf *b, const kw_uuid *u);
KW_API void kw_buf_uvarint(kw_buf *b, uint32_t v);
KW_API void kw_buf_uvarlong(kw_buf *b, uint64_t v);
KW_API void kw_buf_varint(kw_buf *b, int32_t v);
KW_API void kw_buf_varlong(kw_buf *b, int64_t v);
KW_API void kw_buf_raw(kw_buf *b, const void *p, size_t n);
/* Strings/bytes from a slice (ptr NULL = null). A null into a non-nullable form, or a
 * negative length, is KW_ERR_MALFORMED. */
KW_API void kw_buf_string(kw_buf *b, kw_slice s, bool compact, bool nullable);
KW_API void kw_buf_bytes(kw_buf *b, kw_slice s, bool compact, bool nullable);
KW_API void kw_buf_array_len(kw_buf *b, int32_t n, bool compact, bool nullable);

/* Patch a big-endian int32 at `at` (length prefixes, CRCs), fixed and growing modes. */
KW_API void kw_buf_put_i32_at(kw_buf *b, size_t at, int32_t v);

static inline size_t kw_uvarint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) { v >>= 7; n++; }
  return n;
}
static inline uint32_t kw_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }
static inline uint64_t kw_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }


#ifdef __cplusplus
}
#endif
#endif
