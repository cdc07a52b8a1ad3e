/* Bounds-checked primitive reads (see kwire/buf.h). Big-endian per the Kafka protocol. */
#include <string.h>
#include "kwire/error.h"
#include "kwire/buf.h"

void kw_rd_fail(kw_rd *r, int err) {
  if (!r->err) r->err = err;
  r->p = r->end;
}

/* Returns a pointer to n readable bytes and advances, or NULL with a sticky error. */
static const uint8_t *take(kw_rd *r, size_t n) {
  if (r->err) return NULL;
  if ((size_t)(r->end - r->p) < n) {
    kw_rd_fail(r, KW_ERR_TRUNCATED);
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  return p;
}

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

int8_t kw_rd_i8(kw_rd *r) {
  const uint8_t *p = take(r, 1);
  return p ? (int8_t)p[0] : 0;
}
int16_t kw_rd_i16(kw_rd *r) {
  const uint8_t *p = take(r, 2);
  return p ? (int16_t)be(p, 2) : 0;
}
uint16_t kw_rd_u16(kw_rd *r) {
  const uint8_t *p = take(r, 2);
  return p ? (uint16_t)be(p, 2) : 0;
}
int32_t kw_rd_i32(kw_rd *r) {
  const uint8_t *p = take(r, 4);
  return p ? (int32_t)be(p, 4) : 0;
}
uint32_t kw_rd_u32(kw_rd *r) {
  const uint8_t *p = take(r, 4);
  return p ? (uint32_t)be(p, 4) : 0;
}
int64_t kw_rd_i64(kw_rd *r) {
  const uint8_t *p = take(r, 8);
  return p ? (int64_t)be(p, 8) : 0;
}
double kw_rd_f64(kw_rd *r) {
  uint64_t bits = (uint64_t)kw_rd_i64(r);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}
bool kw_rd_bool(kw_rd *r) { return kw_rd_i8(r) != 0; }

kw_uuid kw_rd_uuid(kw_rd *r) {
  kw_uuid u = {{0}};
  const uint8_t *p = take(r, 16);
  if (p) memcpy(u.b, p, 16);
  return u;
}

uint64_t kw_rd_uvarlong(kw_rd *r) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    const uint8_t *p = take(r, 1);
    if (!p) return 0;
    /* The 10th byte may only carry the top bit of a 64-bit value. */
    if (shift == 63 && (p[0] & 0xfe)) break;
    v |= (uint64_t)(p[0] & 0x7f) << shift;
    if (!(p[0] & 0x80)) return v;
  }
  kw_rd_fail(r, KW_ERR_MALFORMED);
  return 0;
}

uint32_t kw_rd_uvarint(kw_rd *r) {
  uint32_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    const uint8_t *p = take(r, 1);
    if (!p) return 0;
    if (shift == 28 && (p[0] & 0xf0)) break; /* more than 32 bits */
    v |= (uint32_t)(p[0] & 0x7f) << shift;
    if (!(p[0] & 0x80)) return v;
  }
  kw_rd_fail(r, KW_ERR_MALFORMED);
  return 0;
}

int32_t kw_rd_varint(kw_rd *r) {
  uint32_t z = kw_rd_uvarint(r);
  return (int32_t)((z >> 1) ^ (~(z & 1) + 1));
}

int64_t kw_rd_varlong(kw_rd *r) {
  uint64_t z = kw_rd_uvarlong(r);
  return (int64_t)((z >> 1) ^ (~(z & 1) + 1));
}

const uint8_t *kw_rd_raw(kw_rd *r, size_t n) { return take(r, n); }
void kw_rd_skip(kw_rd *r, size_t n) { (void)take(r, n); }

/* Length of a compact (len+1 varint) or classic (int16/int32) field; -1 is null. */
static int32_t read_len(kw_rd *r, bool compact, bool wide, bool nullable) {
  int32_t len;
  if (compact) {
    uint32_t n = kw_rd_uvarint(r);
    if (n > (uint32_t)INT32_MAX) {
      kw_rd_fail(r, KW_ERR_MALFORMED);
      return 0;
    }
    len = (int32_t)n - 1;
  } else {
    len = wide ? kw_rd_i32(r) : kw_rd_i16(r);
  }
  if (r->err) return 0;
  if (len < -1 || (len == -1 && !nullable)) {
    kw_rd_fail(r, KW_ERR_MALFORMED);
    return 0;
  }
  return len;
}

static kw_slice read_slice(kw_rd *r, bool compact, bool wide, bool nullable) {
  kw_slice s = {NULL, 0};
  int32_t len = read_len(r, compact, wide, nullable);
  if (r->err || len < 0) return s;
  s.ptr = take(r, (size_t)len);
  s.len = s.ptr ? len : 0;
  return s;
}

kw_slice kw_rd_string(kw_rd *r, bool compact, bool nullable) {
  return read_slice(r, compact, false, nullable);
}

kw_slice kw_rd_bytes(kw_rd *r, bool compact, bool nullable) {
  return read_slice(r, compact, true, nullable);
}

int32_t kw_rd_array_len(kw_rd *r, bool compact, bool nullable, size_t min_elem) {
  int32_t n = read_len(r, compact, true, nullable);
  if (r->err || n < 0) return r->err ? 0 : -1;
  if (min_elem == 0) min_elem = 1;
  if ((size_t)n > kw_rd_left(r) / min_elem) {
    kw_rd_fail(r, KW_ERR_TRUNCATED);
    return 0;
  }
  return n;
}

void kw_rd_skip_tags(kw_rd *r) {
  uint32_t n = kw_rd_uvarint(r);
  if (n > kw_rd_left(r) / 2) { /* each tagged field takes at least two bytes */
    kw_rd_fail(r, KW_ERR_TRUNCATED);
    return;
  }
  for (uint32_t i = 0; i < n && !r->err; i++) {
    (void)kw_rd_uvarint(r);
    kw_rd_skip(r, kw_rd_uvarint(r));
  }
}
