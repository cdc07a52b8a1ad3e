/* Sticky-error reader: every read checks bounds; the first failure sticks in `err`
 * and later reads return zeros, so a decoder checks once per message. */
#ifndef KW_PROTO_RD_H
#define KW_PROTO_RD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
  static const uint8_t nothing[1];
  r->p = data ? (const uint8_t *)data : nothing; /* NULL + 0 is undefined in C */
  r->end = r->p + (data ? len : 0);
  r->err = 0;
}
static inline size_t kw_rd_left(const kw_rd *r) { return r->err ? 0 : (size_t)(r->end - r->p); }
void kw_rd_fail(kw_rd *r, int err); /* keeps the first error */

int8_t kw_rd_i8(kw_rd *r);
int16_t kw_rd_i16(kw_rd *r);
uint16_t kw_rd_u16(kw_rd *r);
int32_t kw_rd_i32(kw_rd *r);
uint32_t kw_rd_u32(kw_rd *r);
int64_t kw_rd_i64(kw_rd *r);
double kw_rd_f64(kw_rd *r);
bool kw_rd_bool(kw_rd *r);
kw_uuid kw_rd_uuid(kw_rd *r);
uint32_t kw_rd_uvarint(kw_rd *r);  /* unsigned varint, at most 5 bytes */
int32_t kw_rd_varint(kw_rd *r);    /* zig-zag, at most 5 bytes */
int64_t kw_rd_varlong(kw_rd *r);   /* zig-zag, at most 10 bytes */
uint64_t kw_rd_uvarlong(kw_rd *r); /* unsigned, at most 10 bytes */
const uint8_t *kw_rd_raw(kw_rd *r, size_t n); /* n bytes in place, or NULL */

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
void kw_rd_skip(kw_rd *r, size_t n);

/* Length-prefixed string or bytes. compact: unsigned varint of len+1 (0 = null);
 * classic: int16 (strings) / int32 (bytes) with -1 = null, returned as {NULL, 0}.
 * A null where `nullable` is false is KW_ERR_MALFORMED. */
kw_slice kw_rd_string(kw_rd *r, bool compact, bool nullable);
kw_slice kw_rd_bytes(kw_rd *r, bool compact, bool nullable);
/* Array count, checked against the bytes left assuming each element takes at least
 * `min_elem` bytes, so a caller may allocate count elements safely. -1 = null. */
int32_t kw_rd_array_len(kw_rd *r, bool compact, bool nullable, size_t min_elem);
/* Skip a flexible-version tagged-field section entirely. */
void kw_rd_skip_tags(kw_rd *r);

#endif
