/* The rewriting half of kwfaultproxy without sockets to a broker: for every API and
 * version kwire's codec speaks, a response with every field filled (two elements per
 * array, every optional struct present) goes through fp_rewrite, and what comes out
 * must decode, carry only proxy addresses and the injected error code. Then the same
 * frames, mutated, must never crash it (run under KW_SANITIZE). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "../fp.h"
#include "proto/kw_frame.h"

#define INJECTED 77
#define UP_PORT 9092

static fp_proxy px;
static kw_arena fill_arena;
static uint16_t proxy_port;

static void setup(void) {
  memset(&px, 0, sizeof px);
  fp_rewrite_init(&px);
  kw_arena_init(&fill_arena, NULL, 0);
  long i = fp_listener_add(&px, "127.0.0.1", 9, UP_PORT);
  cr_assert(i == 0, "a listener on 127.0.0.1");
  proxy_port = px.ls[0].port;
}

static void teardown(void) {
  kw_arena_reset(&fill_arena);
  kw_arena_reset(&px.arena);
  free(px.ls);
}

static bool present(const kw_field *f, int16_t v) { return v >= f->v_min && v <= f->v_max; }

static size_t scalar_size(int type) {
  switch (type) {
  case KW_FT_BOOL: return sizeof(bool);
  case KW_FT_INT8: return 1;
  case KW_FT_INT16:
  case KW_FT_UINT16: return 2;
  case KW_FT_INT32:
  case KW_FT_UINT32: return 4;
  case KW_FT_INT64: return 8;
  case KW_FT_FLOAT64: return sizeof(double);
  case KW_FT_UUID: return sizeof(kw_uuid);
  default: return sizeof(kw_slice);
  }
}

static void fill(const kw_struct_desc *sd, int16_t v, uint8_t *obj);

static kw_slice str(const char *s) { return (kw_slice){(const uint8_t *)s, (int32_t)strlen(s)}; }

static void fill_value(const kw_field *f, int16_t v, uint8_t *p, bool inline_struct) {
  bool is_port = !strcmp(f->name, "Port"), is_err = !strcmp(f->name, "ErrorCode");
  switch (f->type) {
  case KW_FT_BOOL: *(bool *)p = true; break;
  case KW_FT_INT8: *(int8_t *)p = 1; break;
  case KW_FT_INT16: *(int16_t *)p = is_err ? 0 : 1; break;
  case KW_FT_UINT16: *(uint16_t *)p = 1; break;
  case KW_FT_INT32: *(int32_t *)p = is_port ? UP_PORT : 1; break;
  case KW_FT_UINT32: *(uint32_t *)p = 1; break;
  case KW_FT_INT64: *(int64_t *)p = 1; break;
  case KW_FT_FLOAT64: *(double *)p = 1; break;
  case KW_FT_UUID: memset(p, 0x11, sizeof(kw_uuid)); break;
  case KW_FT_STRING: *(kw_slice *)p = str(!strcmp(f->name, "Host") ? "127.0.0.1" : "x"); break;
  case KW_FT_BYTES:
  case KW_FT_RECORDS: *(kw_slice *)p = str("records"); break;
  case KW_FT_STRUCT: {
    const kw_struct_desc *sub = &kw_structs[f->sub];
    uint8_t *o = p;
    if (!inline_struct) {
      o = kw_arena_alloc(&fill_arena, sub->size);
      *(uint8_t **)p = o;
    }
    kw_msg_init((int)f->sub, o);
    fill(sub, v, o);
    break;
  }
  }
}

static void fill(const kw_struct_desc *sd, int16_t v, uint8_t *obj) {
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    if (!present(f, v)) continue;
    if (!(f->flags & KW_FF_ARRAY)) {
      fill_value(f, v, obj + f->off, false);
      continue;
    }
    size_t es = f->type == KW_FT_STRUCT ? kw_structs[f->sub].size : scalar_size(f->type);
    uint8_t *items = kw_arena_alloc(&fill_arena, 2 * es);
    memset(items, 0, 2 * es);
    for (int i = 0; i < 2; i++) fill_value(f, v, items + (size_t)i * es, true);
    *(uint8_t **)(obj + f->off) = items;
    *(int32_t *)(obj + f->count_off) = 2;
  }
}

/* A whole response frame (size, header, body) for api at version v, every field set. */
static bool full_frame(const kw_api_desc *api, int16_t v, kw_buf *out) {
  void *msg = kw_arena_alloc(&fill_arena, kw_structs[api->resp].size);
  kw_msg_init(api->resp, msg);
  fill(&kw_structs[api->resp], v, msg);
  kw_buf_init_grow(out, NULL);
  kw_buf_i32(out, 0);
  kw_resp_header_encode(out, 42, kw_resp_header_version(api->key, v));
  if (kw_response_encode(api->key, v, msg, out) || out->err) return false;
  kw_buf_put_i32_at(out, 0, (int32_t)(out->len - 4));
  return true;
}

typedef struct check_ctx {
  int16_t v;
  bool fetch;
  int hosts, errors;
} check_ctx;

static void check_struct(void *c, const kw_struct_desc *sd, uint8_t *obj, int depth) {
  check_ctx *k = c;
  const kw_field *hf = fp_field(sd, k->v, "Host", KW_FT_STRING), *pf = fp_field(sd, k->v, "Port", KW_FT_INT32);
  if (hf && pf) {
    kw_slice h = *(kw_slice *)(obj + hf->off);
    cr_expect(h.len == 9 && !memcmp(h.ptr, "127.0.0.1", 9), "%s: host rewritten", sd->name);
    cr_expect(*(int32_t *)(obj + pf->off) == proxy_port, "%s: port rewritten", sd->name);
    k->hosts++;
  }
  const kw_field *ef = fp_field(sd, k->v, "ErrorCode", KW_FT_INT16);
  if (!ef) return;
  int16_t want = depth == 0 && k->fetch ? 0 : INJECTED; /* Fetch's top-level code is left alone */
  cr_expect(*(int16_t *)(obj + ef->off) == want, "%s v%d: error %d, want %d", sd->name, k->v,
            *(int16_t *)(obj + ef->off), want);
  k->errors += want == INJECTED;
  const kw_field *rf = fp_field(sd, k->v, "Records", KW_FT_RECORDS);
  if (rf && want == INJECTED) cr_expect(((kw_slice *)(obj + rf->off))->len == 0, "%s: records withheld", sd->name);
}

static void *decode_frame(const kw_api_desc *api, int16_t v, const uint8_t *p, size_t n, kw_arena *a) {
  kw_rd rd;
  int32_t corr = 0;
  kw_rd_init(&rd, p + 4, n - 4);
  void *msg = kw_arena_alloc(a, kw_structs[api->resp].size);
  if (kw_resp_header_decode(&rd, &corr, kw_resp_header_version(api->key, v)) ||
      kw_response_decode(api->key, v, &rd, a, msg) || kw_rd_left(&rd) || corr != 42)
    return NULL;
  return msg;
}

TestSuite(fp_rewrite, .init = setup, .fini = teardown);

Test(fp_rewrite, every_api_and_version) {
  int checked = 0;
  for (const kw_api_desc *api = kw_apis; api < kw_apis + KW_N_APIS; api++) {
    for (int16_t v = api->min; v <= api->max; v++) {
      kw_buf frame;
      cr_assert(full_frame(api, v, &frame), "%s v%d encodes", api->name, v);
      bool errs = fp_schema_has(api->resp, v, "ErrorCode"), hosts = fp_schema_has(api->resp, v, "Host");
      px.inject[api - kw_apis].code = INJECTED;
      px.inject[api - kw_apis].left = 1;
      fp_stats before = px.st;
      fp_req r = {42, api->key, v};
      kw_buf out;
      bool changed = fp_rewrite(&px, &r, frame.data, frame.len, &out);
      cr_assert(changed == (errs || hosts), "%s v%d: rewritten %d", api->name, v, changed);
      cr_expect(px.st.undecodable == before.undecodable, "%s v%d decoded", api->name, v);
      cr_expect(px.st.injected == before.injected + errs, "%s v%d injected counted", api->name, v);
      cr_expect(px.st.rewritten == before.rewritten + hosts, "%s v%d rewritten counted", api->name, v);
      if (changed) {
        kw_arena a;
        kw_arena_init(&a, NULL, 0);
        void *msg = decode_frame(api, v, out.data, out.len, &a);
        cr_assert(msg, "%s v%d: the rewritten frame decodes", api->name, v);
        check_ctx k = {v, api->key == KW_API_FETCH, 0, 0};
        fp_walk(api->resp, v, msg, check_struct, &k);
        cr_expect(!hosts || k.hosts >= 1, "%s v%d: addresses seen", api->name, v);
        cr_expect(!errs || k.errors >= 1, "%s v%d: errors seen", api->name, v);
        kw_arena_reset(&a);
        kw_buf_free(&out);
      }
      px.inject[api - kw_apis].left = 0;
      kw_buf_free(&frame);
      kw_arena_reset(&fill_arena);
      checked++;
    }
  }
  cr_assert(checked > 100);
}

Test(fp_rewrite, api_versions_capped_to_the_codec) {
  kw_api_versions_resp m;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &m);
  kw_api_versions_resp_api_version keys[2] = {{KW_API_METADATA, 0, 99}, {9999, 0, 99}};
  m.api_keys = keys;
  m.n_api_keys = 2;
  kw_buf frame;
  kw_buf_init_grow(&frame, NULL);
  kw_buf_i32(&frame, 0);
  kw_resp_header_encode(&frame, 42, 0);
  cr_assert(kw_response_encode(KW_API_API_VERSIONS, 3, &m, &frame) == 0);
  kw_buf_put_i32_at(&frame, 0, (int32_t)(frame.len - 4));
  fp_req r = {42, KW_API_API_VERSIONS, 3};
  kw_buf out;
  cr_assert(fp_rewrite(&px, &r, frame.data, frame.len, &out));
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_api_versions_resp *got = decode_frame(kw_api_find(KW_API_API_VERSIONS), 3, out.data, out.len, &a);
  cr_assert(got && got->n_api_keys == 2);
  cr_expect(got->api_keys[0].max_version == kw_api_find(KW_API_METADATA)->max, "Metadata capped");
  cr_expect(got->api_keys[1].max_version == 99, "an API the codec does not know is left alone");
  cr_expect(px.st.clamped == 1);
  kw_arena_reset(&a);
  kw_buf_free(&out);
  kw_buf_free(&frame);
}

Test(fp_rewrite, outside_the_codec_passes_unchanged) {
  uint8_t frame[] = {0, 0, 0, 6, 0, 0, 0, 42, 0, 0};
  fp_req meta = {42, KW_API_METADATA, 99}, versions = {42, KW_API_API_VERSIONS, 99}, unknown = {42, 9999, 0};
  kw_buf out;
  cr_expect(!fp_rewrite(&px, &meta, frame, sizeof frame, &out));
  cr_expect(px.st.undecodable == 1, "a Metadata answer it could not rewrite is counted");
  cr_expect(!fp_rewrite(&px, &versions, frame, sizeof frame, &out));
  cr_expect(!fp_rewrite(&px, &unknown, frame, sizeof frame, &out));
  cr_expect(px.st.undecodable == 1, "an ApiVersions probe or an unknown API is not");
}

/* Mutated frames: fp_rewrite either passes them (false) or produces a frame that decodes. */
Test(fp_rewrite, mutated_frames_never_crash) {
  uint64_t seed = 12345;
  for (const kw_api_desc *api = kw_apis; api < kw_apis + KW_N_APIS; api++) {
    for (int16_t v = api->min; v <= api->max; v++) {
      kw_buf frame;
      cr_assert(full_frame(api, v, &frame));
      uint8_t *copy = malloc(frame.len);
      for (int round = 0; round < 1000; round++) {
        memcpy(copy, frame.data, frame.len);
        size_t len = frame.len;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int edits = 1 + (int)(seed >> 60) % 4;
        for (int e = 0; e < edits; e++) {
          seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
          size_t at = 8 + (size_t)(seed >> 33) % (len - 8 > 0 ? len - 8 : 1);
          if (at < len) copy[at] = (uint8_t)(seed >> 13);
        }
        if (round % 5 == 0) len = 8 + (size_t)(seed >> 40) % (frame.len - 7); /* truncated */
        px.inject[api - kw_apis].code = INJECTED;
        px.inject[api - kw_apis].left = 1;
        fp_req r = {42, api->key, v};
        kw_buf out;
        if (!fp_rewrite(&px, &r, copy, len, &out)) continue;
        kw_arena a;
        kw_arena_init(&a, NULL, 0);
        cr_expect(decode_frame(api, v, out.data, out.len, &a) != NULL, "%s v%d: rewritten mutant decodes", api->name,
                  v);
        kw_arena_reset(&a);
        kw_buf_free(&out);
      }
      px.inject[api - kw_apis].left = 0;
      free(copy);
      kw_buf_free(&frame);
      kw_arena_reset(&fill_arena);
    }
  }
}
