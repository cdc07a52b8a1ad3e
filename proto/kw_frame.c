/* Headers, framing and version choice (see kw_frame.h). */
#include "kwire/error.h"
#include "proto/kw_frame.h"
#include "proto/kw_msg.h"

int kw_req_header_version(int16_t api_key, int16_t api_version) {
  const kw_api_desc *api = kw_api_find(api_key);
  return api && kw_api_flexible(api, api_version) ? 2 : 1;
}

int kw_resp_header_version(int16_t api_key, int16_t api_version) {
  if (api_key == KW_API_API_VERSIONS) return 0;
  const kw_api_desc *api = kw_api_find(api_key);
  return api && kw_api_flexible(api, api_version) ? 1 : 0;
}

void kw_req_header_encode(kw_buf *b, const kw_req_header *h, int hv) {
  kw_buf_i16(b, h->api_key);
  kw_buf_i16(b, h->api_version);
  kw_buf_i32(b, h->correlation_id);
  if (hv >= 1) kw_buf_string(b, h->client_id, false, true);
  if (hv >= 2) kw_buf_uvarint(b, 0); /* no tagged fields */
}

int kw_req_header_decode(kw_rd *r, kw_req_header *h, int hv) {
  h->api_key = kw_rd_i16(r);
  h->api_version = kw_rd_i16(r);
  h->correlation_id = kw_rd_i32(r);
  h->client_id = (kw_slice){0};
  if (hv >= 1) h->client_id = kw_rd_string(r, false, true);
  if (hv >= 2) kw_rd_skip_tags(r);
  return r->err;
}

void kw_resp_header_encode(kw_buf *b, int32_t correlation_id, int hv) {
  kw_buf_i32(b, correlation_id);
  if (hv >= 1) kw_buf_uvarint(b, 0);
}

int kw_resp_header_decode(kw_rd *r, int32_t *correlation_id, int hv) {
  *correlation_id = kw_rd_i32(r);
  if (hv >= 1) kw_rd_skip_tags(r);
  return r->err;
}

int kw_request_frame(kw_buf *out, const kw_req_header *h, const void *msg) {
  size_t start = out->len;
  kw_buf_i32(out, 0); /* patched below */
  kw_req_header_encode(out, h, kw_req_header_version(h->api_key, h->api_version));
  int err = kw_request_encode(h->api_key, h->api_version, msg, out);
  if (err) return err;
  if (out->err) return out->err;
  size_t len = out->len - start - 4;
  if (len > INT32_MAX) return KW_ERR_TOO_LARGE;
  kw_buf_put_i32_at(out, start, (int32_t)len);
  return 0;
}

int kw_frame_peek(const uint8_t *p, size_t n, int32_t max_frame, size_t *frame_len) {
  if (n < 4) return KW_ERR_TRUNCATED;
  int32_t len = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
  if (len < 0) return KW_ERR_MALFORMED;
  if (len > max_frame) return KW_ERR_TOO_LARGE;
  *frame_len = (size_t)len;
  return n - 4 >= (size_t)len ? 0 : KW_ERR_TRUNCATED;
}

int kw_version_pick(int16_t api_key, int16_t broker_min, int16_t broker_max) {
  const kw_api_desc *api = kw_api_find(api_key);
  if (!api) return KW_ERR_NO_VERSION;
  int lo = broker_min > api->min ? broker_min : api->min;
  int hi = broker_max < api->max ? broker_max : api->max;
  return lo <= hi ? hi : KW_ERR_NO_VERSION;
}
