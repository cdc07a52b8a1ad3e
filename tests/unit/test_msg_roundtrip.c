/* Every API kwire speaks, at every version, request and response: fill a message
 * with values (only fields the version carries), encode, decode, encode again and
 * compare bytes; then every truncation of the bytes must fail cleanly. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_msg.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

static const char *const words[] = {"", "orders", "payments.dlq", "kwire-client", "\xc3\xa9v\xc3\xa9nement"};

static bool in(int v, int lo, int hi) { return v >= lo && v <= hi; }

static void fill_struct(kw_arena *a, const kw_struct_desc *sd, uint8_t *obj, int v, bool flex, int depth);

static void fill_value(kw_arena *a, const kw_field *f, uint8_t *p, int v, bool flex, bool nullable, bool inline_struct,
                       int depth) {
  uint32_t r = next_rand();
  switch (f->type) {
  case KW_FT_BOOL: *(bool *)p = r & 1; break;
  case KW_FT_INT8: *(int8_t *)p = (int8_t)r; break;
  case KW_FT_INT16: *(int16_t *)p = (int16_t)r; break;
  case KW_FT_UINT16: *(uint16_t *)p = (uint16_t)r; break;
  case KW_FT_INT32: *(int32_t *)p = (int32_t)r; break;
  case KW_FT_UINT32: *(uint32_t *)p = r; break;
  case KW_FT_INT64: *(int64_t *)p = (int64_t)((uint64_t)r << 32 | next_rand()); break;
  case KW_FT_FLOAT64: *(double *)p = (double)r / 7.0; break;
  case KW_FT_UUID:
    for (int i = 0; i < 16; i++) ((kw_uuid *)p)->b[i] = (uint8_t)next_rand();
    break;
  case KW_FT_STRING:
  case KW_FT_BYTES:
  case KW_FT_RECORDS: {
    kw_slice *s = (kw_slice *)p;
    if (nullable && r % 4 == 0) {
      *s = (kw_slice){NULL, 0};
    } else {
      const char *w = words[r % 5];
      *s = (kw_slice){(const uint8_t *)w, (int32_t)strlen(w)};
    }
    break;
  }
  case KW_FT_STRUCT: {
    const kw_struct_desc *sd = &kw_structs[f->sub];
    if (inline_struct) {
      fill_struct(a, sd, p, v, flex, depth + 1);
    } else if (nullable && r % 4 == 0) {
      *(void **)p = NULL;
    } else {
      uint8_t *sub = kw_arena_alloc(a, sd->size);
      fill_struct(a, sd, sub, v, flex, depth + 1);
      *(void **)p = sub;
    }
    break;
  }
  }
}

static size_t esize(const kw_field *f) {
  static const uint8_t sizes[] = {sizeof(bool), 1, 2, 2, 4, 4, 8, sizeof(double), 16,
                                  sizeof(kw_slice), sizeof(kw_slice), sizeof(kw_slice)};
  return f->type == KW_FT_STRUCT ? kw_structs[f->sub].size : sizes[f->type];
}

static void fill_struct(kw_arena *a, const kw_struct_desc *sd, uint8_t *obj, int v, bool flex, int depth) {
  int schema = (int)(sd - kw_structs);
  kw_msg_init(schema, obj);
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    if (!in(v, f->v_min, f->v_max)) continue;
    bool nullable = in(v, f->n_min, f->n_max);
    if (!(f->flags & KW_FF_ARRAY)) {
      fill_value(a, f, obj + f->off, v, flex, nullable, false, depth);
      continue;
    }
    int32_t n = depth > 4 ? 0 : (int32_t)(next_rand() % 3);
    if (nullable && next_rand() % 5 == 0) n = -1;
    uint8_t *items = n > 0 ? kw_arena_alloc(a, (size_t)n * esize(f)) : NULL;
    for (int32_t i = 0; i < n; i++) fill_value(a, f, items + (size_t)i * esize(f), v, flex, false, true, depth);
    *(void **)(obj + f->off) = items;
    *(int32_t *)(obj + f->count_off) = n;
  }
}

static void roundtrip(int schema, const char *what, int v, bool flex) {
  kw_arena arena;
  kw_arena_init(&arena, NULL, 0);
  for (int round = 0; round < 8; round++) {
    const kw_struct_desc *sd = &kw_structs[schema];
    uint8_t *msg = kw_arena_alloc(&arena, sd->size);
    fill_struct(&arena, sd, msg, v, flex, 0);

    kw_buf b1, b2;
    kw_buf_init_grow(&b1, NULL);
    kw_buf_init_grow(&b2, NULL);
    int err = kw_msg_encode(schema, (int16_t)v, flex, msg, &b1);
    cr_assert_eq(err, 0, "%s v%d: encode failed: %s", what, v, kw_errname(err));

    kw_buf count;
    kw_buf_init_count(&count);
    kw_msg_encode(schema, (int16_t)v, flex, msg, &count);
    cr_assert_eq(count.len, b1.len, "%s v%d: size %zu != encoded %zu", what, v, count.len, b1.len);

    uint8_t *back = kw_arena_alloc(&arena, sd->size);
    kw_rd r;
    kw_rd_init(&r, b1.data, b1.len);
    err = kw_msg_decode(schema, (int16_t)v, flex, &r, &arena, back);
    cr_assert_eq(err, 0, "%s v%d: decode failed: %s", what, v, kw_errname(err));
    cr_assert_eq(kw_rd_left(&r), 0, "%s v%d: %zu bytes left after decode", what, v, kw_rd_left(&r));
    err = kw_msg_encode(schema, (int16_t)v, flex, back, &b2);
    cr_assert_eq(err, 0, "%s v%d: re-encode failed: %s", what, v, kw_errname(err));
    cr_assert_eq(b1.len, b2.len, "%s v%d: re-encoded length differs", what, v);
    cr_assert(b1.len == 0 || memcmp(b1.data, b2.data, b1.len) == 0, "%s v%d: re-encoded bytes differ", what, v);

    /* Every proper prefix is a truncated message: a clean error, never a crash. */
    for (size_t cut = 0; cut < b1.len; cut++) {
      kw_arena scratch;
      kw_arena_init(&scratch, NULL, 1 << 20);
      uint8_t *tmp = kw_arena_alloc(&scratch, sd->size);
      kw_rd t;
      kw_rd_init(&t, b1.data, cut);
      err = kw_msg_decode(schema, (int16_t)v, flex, &t, &scratch, tmp);
      cr_assert_neq(err, 0, "%s v%d: decode of %zu of %zu bytes succeeded", what, v, cut, b1.len);
      kw_arena_reset(&scratch);
    }
    kw_buf_free(&b1);
    kw_buf_free(&b2);
  }
  kw_arena_reset(&arena);
}

Test(msg, every_api_every_version_round_trips) {
  int checked = 0;
  for (int i = 0; i < KW_N_APIS; i++) {
    const kw_api_desc *api = &kw_apis[i];
    for (int v = api->min; v <= api->max; v++) {
      char what[96];
      snprintf(what, sizeof what, "%sRequest", api->name);
      roundtrip(api->req, what, v, kw_api_flexible(api, (int16_t)v));
      snprintf(what, sizeof what, "%sResponse", api->name);
      roundtrip(api->resp, what, v, kw_api_flexible(api, (int16_t)v));
      checked += 2;
    }
  }
  cr_assert_geq(checked, 300, "only %d message versions checked", checked);
}

Test(msg, field_the_version_lacks_is_an_error) {
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  cr_assert_eq(req.allow_auto_topic_creation, true, "Kafka's default (true) after init");
  req.allow_auto_topic_creation = false; /* exists from v4 */
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_request_encode(KW_API_METADATA, 3, &req, &b), KW_ERR_FIELD_VERSION);
  kw_buf_reset(&b);
  cr_assert_eq(kw_request_encode(KW_API_METADATA, 4, &req, &b), 0);
  kw_buf_free(&b);
}

Test(msg, ignorable_field_is_dropped_silently) {
  kw_api_versions_req req;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_REQ, &req);
  req.client_software_name = (kw_slice){(const uint8_t *)"kwire", 5};
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_request_encode(KW_API_API_VERSIONS, 0, &req, &b), 0);
  cr_assert_eq(b.len, 0, "v0 ApiVersions request has no body");
  kw_buf_free(&b);
}

Test(msg, version_outside_our_range_is_refused) {
  kw_produce_req req;
  kw_msg_init(KW_SCHEMA_PRODUCE_REQ, &req);
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_request_encode(KW_API_PRODUCE, 2, &req, &b), KW_ERR_UNSUPPORTED_VERSION);
  cr_assert_eq(kw_request_encode(KW_API_PRODUCE, 99, &req, &b), KW_ERR_UNSUPPORTED_VERSION);
  kw_buf_free(&b);
}
