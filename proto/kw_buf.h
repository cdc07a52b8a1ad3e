/* Output buffer: either fixed (caller memory; overflow is KW_ERR_BUF_FULL), growing
 * (through a kw_mem), or counting (no memory: only `len` advances, for size
 * calculation). Errors are sticky like kw_rd's. */
#ifndef KW_PROTO_BUF_H
#define KW_PROTO_BUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kwire/mem.h"
#include "proto/kw_rd.h"

typedef struct kw_buf {
  uint8_t *data;
  size_t len, cap;
  const kw_mem *mem; /* growing buffers only */
  uint8_t mode;      /* KW_BUF_FIXED, KW_BUF_GROW, KW_BUF_COUNT */
  int err;
} kw_buf;

enum { KW_BUF_FIXED, KW_BUF_GROW, KW_BUF_COUNT };

void kw_buf_init_fixed(kw_buf *b, void *mem, size_t cap);
void kw_buf_init_grow(kw_buf *b, const kw_mem *m);
void kw_buf_init_count(kw_buf *b);
void kw_buf_free(kw_buf *b); /* growing buffers: releases the memory */
void kw_buf_reset(kw_buf *b);  /* len = 0, err = 0, memory kept */
int kw_buf_reserve(kw_buf *b, size_t extra);
/* Pointer to n bytes appended at the end (NULL on error or in counting mode). */
uint8_t *kw_buf_extend(kw_buf *b, size_t n);

void kw_buf_i8(kw_buf *b, int8_t v);
void kw_buf_i16(kw_buf *b, int16_t v);
void kw_buf_i32(kw_buf *b, int32_t v);
void kw_buf_i64(kw_buf *b, int64_t v);
void kw_buf_f64(kw_buf *b, double v);
void kw_buf_uuid(kw_buf *b, const kw_uuid *u);
void kw_buf_uvarint(kw_buf *b, uint32_t v);
void kw_buf_uvarlong(kw_buf *b, uint64_t v);
void kw_buf_varint(kw_buf *b, int32_t v);
void kw_buf_varlong(kw_buf *b, int64_t v);
void kw_buf_raw(kw_buf *b, const void *p, size_t n);
/* Strings/bytes from a slice (ptr NULL = null). A null into a non-nullable form, or a
 * negative length, is KW_ERR_MALFORMED. */
void kw_buf_string(kw_buf *b, kw_slice s, bool compact, bool nullable);
void kw_buf_bytes(kw_buf *b, kw_slice s, bool compact, bool nullable);
void kw_buf_array_len(kw_buf *b, int32_t n, bool compact, bool nullable);

/* Patch a big-endian int32 at `at` (length prefixes, CRCs), fixed and growing modes. */
void kw_buf_put_i32_at(kw_buf *b, size_t at, int32_t v);

static inline size_t kw_uvarint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) { v >>= 7; n++; }
  return n;
}
static inline uint32_t kw_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }
static inline uint64_t kw_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

#endif
