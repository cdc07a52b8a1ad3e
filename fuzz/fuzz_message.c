/* Fuzz target: any response (and request) body of any API kwire speaks, at any
 * version. Input: byte 0 picks the API, byte 1 the version, byte 2 bit 0 request or
 * response; the rest is the body. A body that decodes must re-encode to bytes that
 * decode again (the codec is its own oracle). */
#include <stdint.h>
#include <stdlib.h>
#include "kwire/error.h"
#include "proto/kw_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  const kw_api_desc *api = &kw_apis[data[0] % KW_N_APIS];
  int16_t v = (int16_t)(api->min + data[1] % (api->max - api->min + 1));
  int schema = (data[2] & 1) ? api->req : api->resp;
  bool flex = kw_api_flexible(api, v);

  kw_arena arena;
  kw_arena_init(&arena, NULL, 8u << 20); /* a hostile body may not make us allocate more */
  void *msg = kw_arena_alloc(&arena, kw_structs[schema].size);
  kw_rd r;
  kw_rd_init(&r, data + 3, size - 3);
  if (msg && kw_msg_decode(schema, v, flex, &r, &arena, msg) == 0) {
    kw_buf b;
    kw_buf_init_grow(&b, NULL);
    if (kw_msg_encode(schema, v, flex, msg, &b) == 0) {
      void *again = kw_arena_alloc(&arena, kw_structs[schema].size);
      kw_rd r2;
      kw_rd_init(&r2, b.data, b.len);
      if (again && kw_msg_decode(schema, v, flex, &r2, &arena, again) != 0 && r2.err != KW_ERR_TOO_LARGE)
        abort(); /* we wrote something we cannot read back */
    }
    kw_buf_free(&b);
  }
  kw_arena_reset(&arena);
  return 0;
}
