/* The one interpreter over the generated message tables (see kw_msg.h). Every read is
 * bounds-checked by kw_rd; array counts are checked against the bytes left before
 * anything is allocated; allocation comes only from the caller's arena. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_msg.h"

typedef struct ctx {
  int16_t v;
  bool flex;
  kw_arena *arena;
  size_t user_limit; /* the arena's own limit, 0 = none; the decode budget may be lower */
} ctx;

static const uint8_t elem_size[] = {
    [KW_FT_BOOL] = sizeof(bool),      [KW_FT_INT8] = 1,  [KW_FT_INT16] = 2,
    [KW_FT_UINT16] = 2,               [KW_FT_INT32] = 4, [KW_FT_UINT32] = 4,
    [KW_FT_INT64] = 8,                [KW_FT_FLOAT64] = sizeof(double),
    [KW_FT_UUID] = sizeof(kw_uuid),   [KW_FT_STRING] = sizeof(kw_slice),
    [KW_FT_BYTES] = sizeof(kw_slice), [KW_FT_RECORDS] = sizeof(kw_slice),
};
/* Bytes a fixed-size value takes on the wire; strings, bytes and structs vary (value_min). */
static const uint8_t fixed_wire_size[] = {
    [KW_FT_BOOL] = 1,  [KW_FT_INT8] = 1,   [KW_FT_INT16] = 2, [KW_FT_UINT16] = 2, [KW_FT_INT32] = 4,
    [KW_FT_UINT32] = 4, [KW_FT_INT64] = 8, [KW_FT_FLOAT64] = 8, [KW_FT_UUID] = 16,
};

static bool in(int16_t v, uint8_t lo, uint8_t hi) { return v >= lo && v <= hi; }

static size_t esize(const kw_field *f) {
  return f->type == KW_FT_STRUCT ? kw_structs[f->sub].size : elem_size[f->type];
}

const kw_api_desc *kw_api_find(int16_t key) {
  for (int i = 0; i < KW_N_APIS; i++)
    if (kw_apis[i].key == key) return &kw_apis[i];
  return NULL;
}

/* ---- defaults ---- */

static int64_t get_int(const kw_field *f, const uint8_t *p) {
  switch (f->type) {
  case KW_FT_BOOL: return *(const bool *)p;
  case KW_FT_INT8: return *(const int8_t *)p;
  case KW_FT_INT16: return *(const int16_t *)p;
  case KW_FT_UINT16: return *(const uint16_t *)p;
  case KW_FT_INT32: return *(const int32_t *)p;
  case KW_FT_UINT32: return *(const uint32_t *)p;
  case KW_FT_INT64: return *(const int64_t *)p;
  }
  return 0;
}

static void set_int(const kw_field *f, uint8_t *p, int64_t v) {
  switch (f->type) {
  case KW_FT_BOOL: *(bool *)p = v != 0; break;
  case KW_FT_INT8: *(int8_t *)p = (int8_t)v; break;
  case KW_FT_INT16: *(int16_t *)p = (int16_t)v; break;
  case KW_FT_UINT16: *(uint16_t *)p = (uint16_t)v; break;
  case KW_FT_INT32: *(int32_t *)p = (int32_t)v; break;
  case KW_FT_UINT32: *(uint32_t *)p = (uint32_t)v; break;
  case KW_FT_INT64: *(int64_t *)p = v; break;
  case KW_FT_FLOAT64: *(double *)p = (double)v; break;
  }
}

static void init_struct(const kw_struct_desc *sd, uint8_t *obj) {
  static const uint8_t empty[1];
  memset(obj, 0, sd->size);
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    uint8_t *p = obj + f->off;
    if (f->flags & KW_FF_ARRAY) {
      *(int32_t *)(obj + f->count_off) = (f->flags & KW_FF_NULL_DEFAULT) ? -1 : 0;
    } else if (f->type == KW_FT_STRING || f->type == KW_FT_BYTES || f->type == KW_FT_RECORDS) {
      if (!(f->flags & KW_FF_NULL_DEFAULT)) ((kw_slice *)p)->ptr = empty;
    } else if (f->type != KW_FT_STRUCT && f->type != KW_FT_UUID) {
      set_int(f, p, f->def);
    }
  }
}

void kw_msg_init(int schema, void *msg) { init_struct(&kw_structs[schema], msg); }

static bool is_default(const kw_field *f, const uint8_t *obj) {
  const uint8_t *p = obj + f->off;
  if (f->flags & KW_FF_ARRAY)
    return *(const int32_t *)(obj + f->count_off) == ((f->flags & KW_FF_NULL_DEFAULT) ? -1 : 0);
  switch (f->type) {
  case KW_FT_STRUCT: return *(void *const *)p == NULL;
  case KW_FT_STRING:
  case KW_FT_BYTES:
  case KW_FT_RECORDS: {
    const kw_slice *s = (const kw_slice *)p;
    return (f->flags & KW_FF_NULL_DEFAULT) ? s->ptr == NULL : (s->ptr == NULL || s->len == 0);
  }
  case KW_FT_UUID: {
    static const kw_uuid zero;
    return memcmp(p, &zero, sizeof zero) == 0;
  }
  case KW_FT_FLOAT64: return *(const double *)p == (double)f->def;
  }
  return get_int(f, p) == f->def;
}

/* ---- encoding ---- */

static void enc_struct(const ctx *c, const kw_struct_desc *sd, const uint8_t *obj, kw_buf *b);

/* One value: a scalar, a slice, or (for arrays of structs) an inline struct. */
static void enc_value(const ctx *c, const kw_field *f, const uint8_t *p, bool nullable, bool inline_struct,
                      kw_buf *b) {
  switch (f->type) {
  case KW_FT_BOOL:
  case KW_FT_INT8: kw_buf_i8(b, (int8_t)get_int(f, p)); break;
  case KW_FT_INT16:
  case KW_FT_UINT16: kw_buf_i16(b, (int16_t)get_int(f, p)); break;
  case KW_FT_INT32:
  case KW_FT_UINT32: kw_buf_i32(b, (int32_t)get_int(f, p)); break;
  case KW_FT_INT64: kw_buf_i64(b, get_int(f, p)); break;
  case KW_FT_FLOAT64: kw_buf_f64(b, *(const double *)p); break;
  case KW_FT_UUID: kw_buf_uuid(b, (const kw_uuid *)p); break;
  case KW_FT_STRING: kw_buf_string(b, *(const kw_slice *)p, c->flex, nullable); break;
  case KW_FT_BYTES:
  case KW_FT_RECORDS: kw_buf_bytes(b, *(const kw_slice *)p, c->flex, nullable); break;
  case KW_FT_STRUCT: {
    const uint8_t *sub = inline_struct ? p : *(const uint8_t *const *)p;
    if (!inline_struct) {
      if (!sub) {
        if (!nullable && !b->err) b->err = KW_ERR_MALFORMED;
        else kw_buf_i8(b, -1);
        return;
      }
      if (nullable) kw_buf_i8(b, 1);
    }
    enc_struct(c, &kw_structs[f->sub], sub, b);
    break;
  }
  }
}

static void enc_field(const ctx *c, const kw_field *f, const uint8_t *obj, kw_buf *b) {
  bool nullable = in(c->v, f->n_min, f->n_max);
  if (!(f->flags & KW_FF_ARRAY)) {
    enc_value(c, f, obj + f->off, nullable, false, b);
    return;
  }
  int32_t n = *(const int32_t *)(obj + f->count_off);
  const uint8_t *items = *(const uint8_t *const *)(obj + f->off);
  kw_buf_array_len(b, n < 0 ? -1 : n, c->flex, nullable);
  if (n > 0 && !items && !b->err) b->err = KW_ERR_INVALID_ARG;
  size_t es = esize(f);
  for (int32_t i = 0; i < n && !b->err; i++) enc_value(c, f, items + (size_t)i * es, false, true, b);
}

static bool tagged_here(const ctx *c, const kw_field *f) { return c->flex && in(c->v, f->t_min, f->t_max); }

static void enc_struct(const ctx *c, const kw_struct_desc *sd, const uint8_t *obj, kw_buf *b) {
  uint32_t ntags = 0;
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields && !b->err; f++) {
    if (!in(c->v, f->v_min, f->v_max)) {
      if (!(f->flags & KW_FF_IGNORABLE) && !is_default(f, obj)) b->err = KW_ERR_FIELD_VERSION;
      continue;
    }
    if (tagged_here(c, f)) ntags += !is_default(f, obj);
    else enc_field(c, f, obj, b);
  }
  if (!c->flex || b->err) return;
  kw_buf_uvarint(b, ntags);
  /* The generator put tagged fields last, in tag order, as the wire wants them. */
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields && !b->err; f++) {
    if (!in(c->v, f->v_min, f->v_max) || !tagged_here(c, f) || is_default(f, obj)) continue;
    kw_buf size;
    kw_buf_init_count(&size);
    enc_field(c, f, obj, &size);
    if (size.err) {
      b->err = size.err;
      return;
    }
    kw_buf_uvarint(b, f->tag);
    kw_buf_uvarint(b, (uint32_t)size.len);
    enc_field(c, f, obj, b);
  }
}

int kw_msg_encode(int schema, int16_t v, bool flexible, const void *msg, kw_buf *out) {
  ctx c = {v, flexible, NULL, 0};
  if (out->err) return out->err;
  enc_struct(&c, &kw_structs[schema], msg, out);
  return out->err;
}

/* ---- decoding ---- */

static void dec_struct(const ctx *c, const kw_struct_desc *sd, uint8_t *obj, kw_rd *r);

static size_t struct_min(const ctx *c, const kw_struct_desc *sd);

/* The fewest bytes one value of f takes at the version being decoded: an empty string
 * or array, a null, zeros. Array counts are checked against it, so a count can promise
 * no more elements than the bytes left could hold at this version. (A minimum taken over
 * every version let FindCoordinator v6's 14-byte coordinators pass as 1-byte ones.) */
static size_t value_min(const ctx *c, const kw_field *f, bool nullable) {
  switch (f->type) {
  case KW_FT_STRING: return c->flex ? 1 : 2;
  case KW_FT_BYTES:
  case KW_FT_RECORDS: return c->flex ? 1 : 4;
  case KW_FT_STRUCT: return nullable ? 1 : struct_min(c, &kw_structs[f->sub]);
  }
  return fixed_wire_size[f->type];
}

static size_t struct_min(const ctx *c, const kw_struct_desc *sd) {
  size_t n = c->flex; /* the tag buffer's count */
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    if (!in(c->v, f->v_min, f->v_max) || tagged_here(c, f)) continue;
    if (f->flags & KW_FF_ARRAY) n += c->flex ? 1 : 4;
    else n += value_min(c, f, in(c->v, f->n_min, f->n_max));
  }
  return n;
}

/* Over the decode budget is KW_ERR_MALFORMED: no input that decodes needs that much
 * (the unit test decode_budget checks the worst of every message). Over the limit the
 * caller gave its arena is KW_ERR_TOO_LARGE. */
static void *arena_alloc(const ctx *c, kw_rd *r, size_t n) {
  if (!kw_arena_fits(c->arena, n)) {
    kw_rd_fail(r, c->arena->limit == c->user_limit ? KW_ERR_TOO_LARGE : KW_ERR_MALFORMED);
    return NULL;
  }
  void *p = kw_arena_alloc(c->arena, n);
  if (!p) kw_rd_fail(r, KW_ERR_NOMEM);
  return p;
}

static void dec_value(const ctx *c, const kw_field *f, uint8_t *p, bool nullable, bool inline_struct, kw_rd *r) {
  switch (f->type) {
  case KW_FT_BOOL: *(bool *)p = kw_rd_i8(r) != 0; break;
  case KW_FT_INT8: *(int8_t *)p = kw_rd_i8(r); break;
  case KW_FT_INT16: *(int16_t *)p = kw_rd_i16(r); break;
  case KW_FT_UINT16: *(uint16_t *)p = kw_rd_u16(r); break;
  case KW_FT_INT32: *(int32_t *)p = kw_rd_i32(r); break;
  case KW_FT_UINT32: *(uint32_t *)p = kw_rd_u32(r); break;
  case KW_FT_INT64: *(int64_t *)p = kw_rd_i64(r); break;
  case KW_FT_FLOAT64: *(double *)p = kw_rd_f64(r); break;
  case KW_FT_UUID: *(kw_uuid *)p = kw_rd_uuid(r); break;
  case KW_FT_STRING: *(kw_slice *)p = kw_rd_string(r, c->flex, nullable); break;
  case KW_FT_BYTES:
  case KW_FT_RECORDS: *(kw_slice *)p = kw_rd_bytes(r, c->flex, nullable); break;
  case KW_FT_STRUCT: {
    const kw_struct_desc *sd = &kw_structs[f->sub];
    if (inline_struct) {
      dec_struct(c, sd, p, r);
      return;
    }
    *(void **)p = NULL;
    if (nullable && kw_rd_i8(r) < 0) return;
    if (r->err) return;
    uint8_t *sub = arena_alloc(c, r, sd->size);
    if (!sub) return;
    dec_struct(c, sd, sub, r);
    *(void **)p = sub;
    break;
  }
  }
}

static void dec_field(const ctx *c, const kw_field *f, uint8_t *obj, kw_rd *r) {
  bool nullable = in(c->v, f->n_min, f->n_max);
  if (!(f->flags & KW_FF_ARRAY)) {
    dec_value(c, f, obj + f->off, nullable, false, r);
    return;
  }
  size_t es = esize(f);
  int32_t n = kw_rd_array_len(r, c->flex, nullable, value_min(c, f, false));
  uint8_t *items = NULL;
  if (n > 0) {
    if ((size_t)n > SIZE_MAX / es) {
      kw_rd_fail(r, KW_ERR_TOO_LARGE);
      return;
    }
    items = arena_alloc(c, r, (size_t)n * es);
    for (int32_t i = 0; items && i < n && !r->err; i++) dec_value(c, f, items + (size_t)i * es, false, true, r);
  }
  *(void **)(obj + f->off) = items;
  *(int32_t *)(obj + f->count_off) = r->err ? 0 : n;
}

static const kw_field *find_tag(const ctx *c, const kw_struct_desc *sd, uint32_t tag) {
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++)
    if (f->tag == tag && in(c->v, f->v_min, f->v_max) && tagged_here(c, f)) return f;
  return NULL;
}

static void dec_struct(const ctx *c, const kw_struct_desc *sd, uint8_t *obj, kw_rd *r) {
  init_struct(sd, obj);
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields && !r->err; f++)
    if (in(c->v, f->v_min, f->v_max) && !tagged_here(c, f)) dec_field(c, f, obj, r);
  if (!c->flex || r->err) return;
  uint32_t ntags = kw_rd_uvarint(r);
  if (ntags > kw_rd_left(r) / 2) { /* a tag and a size take at least a byte each */
    kw_rd_fail(r, KW_ERR_TRUNCATED);
    return;
  }
  for (uint32_t i = 0; i < ntags && !r->err; i++) {
    uint32_t tag = kw_rd_uvarint(r);
    uint32_t size = kw_rd_uvarint(r);
    const uint8_t *body = kw_rd_raw(r, size);
    const kw_field *f = body ? find_tag(c, sd, tag) : NULL;
    if (!f) continue; /* unknown tags are skipped, as the protocol intends */
    kw_rd sub;
    kw_rd_init(&sub, body, size);
    dec_field(c, f, obj, &sub);
    if (!sub.err && kw_rd_left(&sub)) sub.err = KW_ERR_MALFORMED;
    if (sub.err) kw_rd_fail(r, sub.err);
  }
}

/* The decode budget: counts are checked against each element's size at this version,
 * which keeps a message that decodes within KW_DECODE_FACTOR of its size; the budget makes
 * that a bound for every input, including one that fails half-way after promising more
 * than it holds. It lowers the arena's limit for the length of this decode. */
int kw_msg_decode(int schema, int16_t v, bool flexible, kw_rd *rd, kw_arena *arena, void *msg) {
  ctx c = {v, flexible, arena, arena->limit};
  if (rd->err) return rd->err;
  size_t wire = kw_rd_left(rd), room = SIZE_MAX - KW_DECODE_SLACK, budget = SIZE_MAX;
  if (arena->total < room && wire <= (room - arena->total) / KW_DECODE_FACTOR)
    budget = arena->total + KW_DECODE_FACTOR * wire + KW_DECODE_SLACK;
  if (!arena->limit || budget < arena->limit) arena->limit = budget;
  dec_struct(&c, &kw_structs[schema], msg, rd);
  arena->limit = c.user_limit;
  return rd->err;
}

/* ---- per-API conveniences ---- */

static const kw_api_desc *api_at(int16_t key, int16_t v) {
  const kw_api_desc *api = kw_api_find(key);
  return api && v >= api->min && v <= api->max ? api : NULL;
}

int kw_request_encode(int16_t key, int16_t v, const void *msg, kw_buf *out) {
  const kw_api_desc *api = api_at(key, v);
  if (!api) return KW_ERR_UNSUPPORTED_VERSION;
  return kw_msg_encode(api->req, v, kw_api_flexible(api, v), msg, out);
}

int kw_response_encode(int16_t key, int16_t v, const void *msg, kw_buf *out) {
  const kw_api_desc *api = api_at(key, v);
  if (!api) return KW_ERR_UNSUPPORTED_VERSION;
  return kw_msg_encode(api->resp, v, kw_api_flexible(api, v), msg, out);
}

int kw_request_decode(int16_t key, int16_t v, kw_rd *rd, kw_arena *arena, void *msg) {
  const kw_api_desc *api = api_at(key, v);
  if (!api) return KW_ERR_UNSUPPORTED_VERSION;
  return kw_msg_decode(api->req, v, kw_api_flexible(api, v), rd, arena, msg);
}

int kw_response_decode(int16_t key, int16_t v, kw_rd *rd, kw_arena *arena, void *msg) {
  const kw_api_desc *api = api_at(key, v);
  if (!api) return KW_ERR_UNSUPPORTED_VERSION;
  return kw_msg_decode(api->resp, v, kw_api_flexible(api, v), rd, arena, msg);
}
