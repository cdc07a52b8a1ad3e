/* Fuzz target: a byte stream as either end of a connection receives it, through the
 * public codec only (kwire/codec.h): size-prefixed frames (small max frame), each read
 * with every request header (v0-v2) and response header (v0-v1) version; a request
 * frame for an API and version kwire speaks also has its body decoded, as a broker,
 * proxy or test peer built on the codec would. */
#include <stdint.h>
#include "kwire/codec.h"

static void decode_request_body(const uint8_t *frame, size_t len, kw_arena *arena) {
  kw_rd r;
  kw_rd_init(&r, frame, len);
  int16_t key = kw_rd_i16(&r), version = kw_rd_i16(&r); /* they pick the header version */
  if (r.err) return;
  kw_req_header h;
  kw_rd_init(&r, frame, len);
  if (kw_req_header_decode(&r, &h, kw_req_header_version(key, version)) != 0) return;
  void *msg = kw_msg_new(arena, kw_request_schema(h.api_key));
  if (msg) kw_request_decode(h.api_key, h.api_version, &r, arena, msg);
  kw_arena_clear(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static kw_arena *arena;
  if (!arena) arena = kw_arena_new(NULL, 0); /* the decoder bounds itself (KW_DECODE_FACTOR) */
  if (!arena) return 0;
  size_t off = 0;
  while (off < size) {
    size_t len;
    if (kw_frame_peek(data + off, size - off, 1 << 16, &len) != 0) break;
    const uint8_t *frame = data + off + 4;
    for (int hv = 0; hv <= 2; hv++) {
      kw_rd r;
      kw_req_header h;
      kw_rd_init(&r, frame, len);
      kw_req_header_decode(&r, &h, hv);
    }
    for (int hv = 0; hv <= 1; hv++) {
      kw_rd r;
      int32_t corr;
      kw_rd_init(&r, frame, len);
      kw_resp_header_decode(&r, &corr, hv);
    }
    decode_request_body(frame, len, arena);
    off += 4 + len;
  }
  return 0;
}
