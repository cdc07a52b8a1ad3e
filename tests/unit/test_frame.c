/* Request headers and framing, pinned to exact bytes; response header rules; version choice. */
#include <criterion/criterion.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_frame.h"
#include "proto/kw_msg.h"

#define S(lit) ((kw_slice){(const uint8_t *)(lit), (int32_t)(sizeof(lit) - 1)})

static void assert_bytes(const kw_buf *b, const uint8_t *want, size_t n) {
  cr_assert_eq(b->len, n, "length %zu, want %zu", b->len, n);
  for (size_t i = 0; i < n; i++) cr_assert_eq(b->data[i], want[i], "byte %zu: %02x, want %02x", i, b->data[i], want[i]);
}

Test(frame, api_versions_v3_request_exact_bytes) {
  kw_api_versions_req req;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_REQ, &req);
  req.client_software_name = S("kwire");
  req.client_software_version = S("0.1.0");
  kw_req_header h = {KW_API_API_VERSIONS, 3, 1, S("kwire")};
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_request_frame(&b, &h, &req), 0);
  static const uint8_t want[] = {
      0, 0, 0, 29,                   /* frame size */
      0, 18, 0, 3, 0, 0, 0, 1,       /* api key 18, version 3, correlation id 1 */
      0, 5, 'k', 'w', 'i', 'r', 'e', /* client id: classic int16 string, even in header v2 */
      0,                             /* header tagged fields */
      6, 'k', 'w', 'i', 'r', 'e',    /* compact string: length + 1 */
      6, '0', '.', '1', '.', '0', 0, /* body tagged fields */
  };
  assert_bytes(&b, want, sizeof want);
  kw_buf_free(&b);
}

Test(frame, api_versions_v0_request_exact_bytes) {
  kw_api_versions_req req;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_REQ, &req);
  kw_req_header h = {KW_API_API_VERSIONS, 0, 7, S("kwire")};
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_request_frame(&b, &h, &req), 0);
  static const uint8_t want[] = {0, 0, 0, 15, 0, 18, 0, 0, 0, 0, 0, 7, 0, 5, 'k', 'w', 'i', 'r', 'e'};
  assert_bytes(&b, want, sizeof want);
  kw_buf_free(&b);
}

Test(frame, null_client_id_is_minus_one) {
  kw_heartbeat_req req;
  kw_msg_init(KW_SCHEMA_HEARTBEAT_REQ, &req);
  kw_req_header h = {KW_API_HEARTBEAT, 0, 2, {NULL, 0}};
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_request_frame(&b, &h, &req), 0);
  cr_assert_eq(b.data[12], 0xff);
  cr_assert_eq(b.data[13], 0xff);
  kw_buf_free(&b);
}

Test(frame, header_versions) {
  cr_assert_eq(kw_req_header_version(KW_API_API_VERSIONS, 0), 1);
  cr_assert_eq(kw_req_header_version(KW_API_API_VERSIONS, 3), 2);
  cr_assert_eq(kw_resp_header_version(KW_API_API_VERSIONS, 3), 0, "ApiVersions answers with header v0 always");
  cr_assert_eq(kw_resp_header_version(KW_API_METADATA, 8), 0);
  cr_assert_eq(kw_resp_header_version(KW_API_METADATA, 9), 1);
  cr_assert_eq(kw_req_header_version(KW_API_PRODUCE, 8), 1);
  cr_assert_eq(kw_req_header_version(KW_API_PRODUCE, 9), 2);
}

/* A v3 ApiVersions response body as a broker sends it: one API, throttle 0, no tags. */
static const uint8_t api_versions_v3_resp[] = {
    0, 0,                   /* error code */
    2,                      /* compact array: 1 element */
    0, 0, 0, 3, 0, 11, 0,   /* Produce 3-11, no tags */
    0, 0, 0, 0,             /* throttle time */
    0,                      /* tags */
};

Test(frame, api_versions_response_decodes) {
  kw_api_versions_resp resp;
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_rd r;
  kw_rd_init(&r, api_versions_v3_resp, sizeof api_versions_v3_resp);
  cr_assert_eq(kw_response_decode(KW_API_API_VERSIONS, 3, &r, &a, &resp), 0);
  cr_assert_eq(resp.n_api_keys, 1);
  cr_assert_eq(resp.api_keys[0].api_key, 0);
  cr_assert_eq(resp.api_keys[0].min_version, 3);
  cr_assert_eq(resp.api_keys[0].max_version, 11);
  cr_assert_eq(resp.finalized_features_epoch, -1, "absent tagged field keeps Kafka's default");
  kw_arena_reset(&a);
}

Test(frame, truncated_response_is_an_error_at_every_length) {
  for (size_t cut = 0; cut < sizeof api_versions_v3_resp; cut++) {
    kw_api_versions_resp resp;
    kw_arena a;
    kw_arena_init(&a, NULL, 0);
    kw_rd r;
    kw_rd_init(&r, api_versions_v3_resp, cut);
    int err = kw_response_decode(KW_API_API_VERSIONS, 3, &r, &a, &resp);
    cr_assert_eq(err, KW_ERR_TRUNCATED, "cut at %zu: %s", cut, kw_errname(err));
    kw_arena_reset(&a);
  }
}

Test(frame, array_count_beyond_frame_is_refused_before_allocating) {
  /* v0 response: error 0, then an int32 array count of 100 million. */
  static const uint8_t evil[] = {0, 0, 0x05, 0xf5, 0xe1, 0x00, 0, 0};
  kw_api_versions_resp resp;
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_rd r;
  kw_rd_init(&r, evil, sizeof evil);
  cr_assert_eq(kw_response_decode(KW_API_API_VERSIONS, 0, &r, &a, &resp), KW_ERR_TRUNCATED);
  cr_assert_eq(a.total, 0, "nothing allocated");
}

Test(frame, null_compact_array_where_not_nullable_is_malformed) {
  /* librdkafka #5577: a compact array length of 0 (= null) where the schema forbids null. */
  static const uint8_t evil[] = {0, 0, 0, 0, 0, 0, 0, 0};
  kw_api_versions_resp resp;
  kw_arena a;
  kw_arena_init(&a, NULL, 0);
  kw_rd r;
  kw_rd_init(&r, evil, sizeof evil);
  cr_assert_eq(kw_response_decode(KW_API_API_VERSIONS, 3, &r, &a, &resp), KW_ERR_MALFORMED);
}

Test(frame, frame_peek) {
  size_t len = 0;
  static const uint8_t ok[] = {0, 0, 0, 2, 0xaa, 0xbb};
  cr_assert_eq(kw_frame_peek(ok, 3, 100, &len), KW_ERR_TRUNCATED);
  cr_assert_eq(kw_frame_peek(ok, 5, 100, &len), KW_ERR_TRUNCATED);
  cr_assert_eq(kw_frame_peek(ok, 6, 100, &len), 0);
  cr_assert_eq(len, 2);
  static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff};
  cr_assert_eq(kw_frame_peek(huge, 4, 100 << 20, &len), KW_ERR_TOO_LARGE);
  static const uint8_t neg[] = {0xff, 0xff, 0xff, 0xfe};
  cr_assert_eq(kw_frame_peek(neg, 4, 100, &len), KW_ERR_MALFORMED);
}

Test(frame, version_pick) {
  cr_assert_eq(kw_version_pick(KW_API_PRODUCE, 0, 2), KW_ERR_NO_VERSION, "Produce 0-2 is never used");
  cr_assert_eq(kw_version_pick(KW_API_PRODUCE, 0, 11), 11);
  cr_assert_eq(kw_version_pick(KW_API_METADATA, 0, 99), 13, "capped at our newest");
  cr_assert_eq(kw_version_pick(KW_API_FETCH, 0, 3), KW_ERR_NO_VERSION);
  cr_assert_eq(kw_version_pick(999, 0, 3), KW_ERR_NO_VERSION);
}
