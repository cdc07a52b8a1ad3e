/* Fuzz target: a byte stream as a connection receives it: size-prefixed frames,
 * request headers (v0-v2) and response headers (v0-v1), with a small max frame. */
#include <stdint.h>
#include "proto/kw_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
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
    off += 4 + len;
  }
  return 0;
}
