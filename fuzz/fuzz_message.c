/* Fuzz target: any response (and request) body of any API kwire speaks, at any
 * version, through the public codec only (kwire/codec.h). Input: byte 0 picks the API,
 * byte 1 the version, byte 2 bit 0 request or response; the rest is the body. A body
 * that decodes must re-encode to bytes that decode again (the codec is its own oracle).
 * The arena has no limit: the decoder's own bound (KW_DECODE_FACTOR) is what keeps a
 * hostile body small, so every decode is checked against it through a counting kw_mem. */
#include <stdint.h>
#include <stdlib.h>
#include "kwire/codec.h"

typedef int (*decode_fn)(int16_t api_key, int16_t version, kw_rd *rd, kw_arena *arena, void *msg);
typedef int (*encode_fn)(int16_t api_key, int16_t version, const void *msg, kw_buf *out);

static size_t taken;
static void *count_alloc(void *ud, size_t n) {
  (void)ud;
  taken += n;
  return malloc(n ? n : 1);
}
static void *count_realloc(void *ud, void *p, size_t n) {
  (void)ud;
  taken += n;
  return realloc(p, n ? n : 1);
}
static void count_free(void *ud, void *p) {
  (void)ud;
  free(p);
}
static const kw_mem counting = {NULL, count_alloc, count_realloc, count_free};

/* Decodes and checks what the decode took against the bound for its input size. */
static int decode_bounded(decode_fn decode, int16_t key, int16_t v, kw_rd *r, kw_arena *arena, void *msg) {
  size_t wire = kw_rd_left(r);
  taken = 0;
  int err = decode(key, v, r, arena, msg);
  if (taken > KW_DECODE_FACTOR * wire + KW_DECODE_SLACK) abort(); /* over the documented bound */
  return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static kw_arena *arena;
  if (!arena) arena = kw_arena_new(&counting, 0);
  if (size < 3 || !arena) return 0;
  int16_t key = kw_api_key_at(data[0] % kw_api_count()), lo, hi;
  if (kw_api_versions(key, &lo, &hi)) abort(); /* every listed API has a range */
  int16_t v = (int16_t)(lo + data[1] % (hi - lo + 1));
  bool request = data[2] & 1;
  decode_fn decode = request ? kw_request_decode : kw_response_decode;
  encode_fn encode = request ? kw_request_encode : kw_response_encode;
  int schema = request ? kw_request_schema(key) : kw_response_schema(key);

  void *msg = kw_msg_new(arena, schema);
  kw_rd r;
  kw_rd_init(&r, data + 3, size - 3);
  if (msg && decode_bounded(decode, key, v, &r, arena, msg) == 0) {
    kw_buf b;
    kw_buf_init_grow(&b, NULL);
    if (encode(key, v, msg, &b) == 0) {
      void *again = kw_msg_new(arena, schema);
      kw_rd r2;
      kw_rd_init(&r2, b.data, b.len);
      if (again && decode_bounded(decode, key, v, &r2, arena, again) != 0)
        abort(); /* we wrote something we cannot read back */
    }
    kw_buf_free(&b);
  }
  kw_arena_clear(arena);
  return 0;
}
