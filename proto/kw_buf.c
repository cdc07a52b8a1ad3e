/* Output buffer primitives (see kwire/buf.h). */
#include <string.h>
#include "kwire/error.h"
#include "kwire/buf.h"
#include "core/kw_mem.h"

static void fail(kw_buf *b, int err) {
  if (!b->err) b->err = err;
}

void kw_buf_init_fixed(kw_buf *b, void *mem, size_t cap) {
  *b = (kw_buf){.data = mem, .cap = cap, .mode = KW_BUF_FIXED};
}
void kw_buf_init_grow(kw_buf *b, const kw_mem *m) { *b = (kw_buf){.mem = m, .mode = KW_BUF_GROW}; }
void kw_buf_init_count(kw_buf *b) { *b = (kw_buf){.mode = KW_BUF_COUNT}; }

void kw_buf_free(kw_buf *b) {
  if (b->mode == KW_BUF_GROW) kw_free(b->mem, b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void kw_buf_reset(kw_buf *b) {
  b->len = 0;
  b->err = 0;
}

int kw_buf_reserve(kw_buf *b, size_t extra) {
  if (b->err) return b->err;
  if (b->mode == KW_BUF_COUNT || b->cap - b->len >= extra) return 0;
  if (b->mode == KW_BUF_FIXED || extra > SIZE_MAX / 2 - b->len) {
    fail(b, b->mode == KW_BUF_FIXED ? KW_ERR_BUF_FULL : KW_ERR_NOMEM);
    return b->err;
  }
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < extra) cap *= 2;
  uint8_t *p = kw_realloc(b->mem, b->data, cap);
  if (!p) {
    fail(b, KW_ERR_NOMEM);
    return b->err;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

uint8_t *kw_buf_extend(kw_buf *b, size_t n) {
  if (kw_buf_reserve(b, n)) return NULL;
  uint8_t *p = b->mode == KW_BUF_COUNT || !b->data ? NULL : b->data + b->len;
  b->len += n;
  return p;
}

static void put_be(kw_buf *b, uint64_t v, int n) {
  uint8_t *p = kw_buf_extend(b, (size_t)n);
  if (!p) return;
  for (int i = n - 1; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

void kw_buf_i8(kw_buf *b, int8_t v) { put_be(b, (uint8_t)v, 1); }
void kw_buf_i16(kw_buf *b, int16_t v) { put_be(b, (uint16_t)v, 2); }
void kw_buf_i32(kw_buf *b, int32_t v) { put_be(b, (uint32_t)v, 4); }
void kw_buf_i64(kw_buf *b, int64_t v) { put_be(b, (uint64_t)v, 8); }
void kw_buf_f64(kw_buf *b, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_be(b, bits, 8);
}
void kw_buf_uuid(kw_buf *b, const kw_uuid *u) { kw_buf_raw(b, u->b, 16); }

void kw_buf_uvarlong(kw_buf *b, uint64_t v) {
  uint8_t *p = kw_buf_extend(b, kw_uvarint_size(v));
  if (!p) return;
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p = (uint8_t)v;
}
void kw_buf_uvarint(kw_buf *b, uint32_t v) { kw_buf_uvarlong(b, v); }
void kw_buf_varint(kw_buf *b, int32_t v) { kw_buf_uvarlong(b, kw_zigzag32(v)); }
void kw_buf_varlong(kw_buf *b, int64_t v) { kw_buf_uvarlong(b, kw_zigzag64(v)); }

void kw_buf_raw(kw_buf *b, const void *src, size_t n) {
  uint8_t *p = kw_buf_extend(b, n);
  if (p && n) memcpy(p, src, n);
}

static void put_len(kw_buf *b, int32_t len, bool compact, bool wide, bool nullable) {
  if (len < -1 || (len == -1 && !nullable) || (!wide && !compact && len > INT16_MAX)) {
    fail(b, KW_ERR_MALFORMED);
    return;
  }
  if (compact) kw_buf_uvarint(b, (uint32_t)(len + 1));
  else if (wide) kw_buf_i32(b, len);
  else kw_buf_i16(b, (int16_t)len);
}

static void put_slice(kw_buf *b, kw_slice s, bool compact, bool wide, bool nullable) {
  if (s.ptr && s.len < 0) {
    fail(b, KW_ERR_MALFORMED);
    return;
  }
  put_len(b, s.ptr ? s.len : -1, compact, wide, nullable);
  if (s.ptr && s.len > 0) kw_buf_raw(b, s.ptr, (size_t)s.len);
}
void kw_buf_string(kw_buf *b, kw_slice s, bool compact, bool nullable) {
  put_slice(b, s, compact, false, nullable);
}
void kw_buf_bytes(kw_buf *b, kw_slice s, bool compact, bool nullable) {
  put_slice(b, s, compact, true, nullable);
}
void kw_buf_array_len(kw_buf *b, int32_t n, bool compact, bool nullable) {
  put_len(b, n, compact, true, nullable);
}

void kw_buf_put_i32_at(kw_buf *b, size_t at, int32_t v) {
  if (b->err || b->mode == KW_BUF_COUNT || at + 4 > b->len) return;
  uint32_t u = (uint32_t)v;
  for (int i = 3; i >= 0; i--) {
    b->data[at + (size_t)i] = (uint8_t)u;
    u >>= 8;
  }
}
