/* The codec as a user outside kwire sees it: this file includes only kwire/codec.h
 * (the installed header), and does what a fuzzer, proxy or test peer would do with it. */
#include <criterion/criterion.h>
#include <string.h>
#include "kwire/codec.h"

#define SLICE(s) ((kw_slice){(const uint8_t *)(s), (int32_t)(sizeof(s) - 1)})

static bool slice_is(kw_slice s, const char *text) {
  return s.ptr && (size_t)s.len == strlen(text) && memcmp(s.ptr, text, (size_t)s.len) == 0;
}

Test(codec_public, metadata_request_framed_and_read_back_as_a_broker_would) {
  kw_metadata_req_topic topic;
  kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &topic);
  topic.name = SLICE("orders");
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  req.topics = &topic;
  req.n_topics = 1;
  req.allow_auto_topic_creation = false;

  kw_buf out;
  kw_buf_init_grow(&out, NULL);
  kw_req_header h = {KW_API_METADATA, 12, 4242, SLICE("codec-test")};
  cr_assert_eq(kw_request_frame(&out, &h, &req), 0);

  size_t len;
  cr_assert_eq(kw_frame_peek(out.data, out.len, 1 << 20, &len), 0);
  cr_assert_eq(len + 4, out.len, "the size prefix covers the rest of the frame");
  cr_assert_eq(kw_frame_peek(out.data, out.len - 1, 1 << 20, &len), KW_ERR_TRUNCATED);

  kw_rd r;
  kw_rd_init(&r, out.data + 4, len);
  kw_req_header got_h;
  cr_assert_eq(kw_req_header_version(KW_API_METADATA, 12), 2, "v12 is flexible: header v2");
  cr_assert_eq(kw_req_header_decode(&r, &got_h, 2), 0);
  cr_assert_eq(got_h.api_key, KW_API_METADATA);
  cr_assert_eq(got_h.api_version, 12);
  cr_assert_eq(got_h.correlation_id, 4242);
  cr_assert(slice_is(got_h.client_id, "codec-test"));

  kw_arena *arena = kw_arena_new(NULL, 1 << 20);
  cr_assert_not_null(arena);
  kw_metadata_req *back = kw_msg_new(arena, kw_request_schema(KW_API_METADATA));
  cr_assert_not_null(back);
  cr_assert_eq(kw_request_decode(KW_API_METADATA, 12, &r, arena, back), 0);
  cr_assert_eq(kw_rd_left(&r), 0, "the body is the whole rest of the frame");
  cr_assert_eq(back->n_topics, 1);
  cr_assert(slice_is(back->topics[0].name, "orders"));
  cr_assert_not(back->allow_auto_topic_creation);
  kw_arena_destroy(arena);
  kw_buf_free(&out);
}

Test(codec_public, versions_outside_the_range_are_refused) {
  int16_t lo, hi;
  cr_assert_eq(kw_api_versions(KW_API_PRODUCE, &lo, &hi), 0);
  cr_assert_eq(lo, 3, "Kafka 4 rejects Produce v0-2, so kwire never speaks them");
  cr_assert_str_eq(kw_api_name(KW_API_PRODUCE), "Produce");
  cr_assert_eq(kw_api_versions(9999, &lo, &hi), KW_ERR_UNSUPPORTED_VERSION);
  cr_assert_null(kw_api_name(9999));

  kw_produce_req req;
  kw_msg_init(KW_SCHEMA_PRODUCE_REQ, &req);
  kw_buf out;
  kw_buf_init_grow(&out, NULL);
  cr_assert_eq(kw_request_encode(KW_API_PRODUCE, 2, &req, &out), KW_ERR_UNSUPPORTED_VERSION);
  cr_assert_eq(kw_request_encode(KW_API_PRODUCE, (int16_t)(hi + 1), &req, &out), KW_ERR_UNSUPPORTED_VERSION);
  cr_assert_eq(kw_version_pick(KW_API_PRODUCE, 0, 2), KW_ERR_NO_VERSION);
  cr_assert_eq(kw_version_pick(KW_API_PRODUCE, 0, 9), 9);
  kw_buf_free(&out);
}

Test(codec_public, every_api_round_trips_its_default_messages_at_every_version) {
  kw_arena *arena = kw_arena_new(NULL, 0);
  kw_buf out;
  kw_buf_init_grow(&out, NULL);
  cr_assert_gt(kw_api_count(), 20);
  for (int i = 0; i < kw_api_count(); i++) {
    int16_t key = kw_api_key_at(i), lo, hi;
    cr_assert_eq(kw_api_versions(key, &lo, &hi), 0, "API %d", key);
    for (int16_t v = lo; v <= hi; v++) {
      void *req = kw_msg_new(arena, kw_request_schema(key));
      void *resp = kw_msg_new(arena, kw_response_schema(key));
      cr_assert(req && resp);
      kw_buf_reset(&out);
      cr_assert_eq(kw_request_encode(key, v, req, &out), 0, "%s v%d request", kw_api_name(key), v);
      kw_rd r;
      kw_rd_init(&r, out.data, out.len);
      cr_assert_eq(kw_request_decode(key, v, &r, arena, req), 0, "%s v%d request", kw_api_name(key), v);
      cr_assert_eq(kw_rd_left(&r), 0);
      kw_buf_reset(&out);
      cr_assert_eq(kw_response_encode(key, v, resp, &out), 0, "%s v%d response", kw_api_name(key), v);
      kw_rd_init(&r, out.data, out.len);
      cr_assert_eq(kw_response_decode(key, v, &r, arena, resp), 0, "%s v%d response", kw_api_name(key), v);
      cr_assert_eq(kw_rd_left(&r), 0);
    }
    kw_arena_clear(arena);
  }
  kw_buf_free(&out);
  kw_arena_destroy(arena);
}

Test(codec_public, api_versions_response_with_its_v0_header) {
  kw_api_versions_resp_api_version keys[2] = {{KW_API_PRODUCE, 3, 13}, {KW_API_FETCH, 4, 17}};
  kw_api_versions_resp resp;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &resp);
  resp.api_keys = keys;
  resp.n_api_keys = 2;
  kw_buf out;
  kw_buf_init_grow(&out, NULL);
  int hv = kw_resp_header_version(KW_API_API_VERSIONS, 3);
  cr_assert_eq(hv, 0, "a client reads ApiVersions before it knows the broker's versions");
  kw_resp_header_encode(&out, 7, hv);
  cr_assert_eq(kw_response_encode(KW_API_API_VERSIONS, 3, &resp, &out), 0);

  kw_rd r;
  kw_rd_init(&r, out.data, out.len);
  int32_t corr;
  cr_assert_eq(kw_resp_header_decode(&r, &corr, hv), 0);
  cr_assert_eq(corr, 7);
  kw_arena *arena = kw_arena_new(NULL, 0);
  kw_api_versions_resp back;
  cr_assert_eq(kw_response_decode(KW_API_API_VERSIONS, 3, &r, arena, &back), 0);
  cr_assert_eq(back.n_api_keys, 2);
  cr_assert_eq(back.api_keys[1].api_key, KW_API_FETCH);
  cr_assert_eq(back.api_keys[1].max_version, 17);
  kw_arena_destroy(arena);
  kw_buf_free(&out);
}

Test(codec_public, arena_limit_turns_a_huge_count_into_an_error) {
  /* A Metadata v0 response whose broker array claims 1000 entries of which the bytes
   * hold all: decoding needs more than the arena's 1 KB. */
  kw_buf in;
  kw_buf_init_grow(&in, NULL);
  kw_buf_i32(&in, 1000);
  for (int i = 0; i < 1000; i++) {
    kw_buf_i32(&in, i);
    kw_buf_string(&in, SLICE("h"), false, false);
    kw_buf_i32(&in, 9092);
  }
  kw_buf_i32(&in, 0); /* no topics */
  kw_arena *arena = kw_arena_new(NULL, 1024);
  kw_metadata_resp resp;
  kw_rd r;
  kw_rd_init(&r, in.data, in.len);
  cr_assert_eq(kw_response_decode(KW_API_METADATA, 0, &r, arena, &resp), KW_ERR_TOO_LARGE);
  kw_arena_destroy(arena);
  kw_buf_free(&in);
}

Test(codec_public, record_batch_built_compressed_and_iterated) {
  kw_buf out, scratch;
  kw_buf_init_grow(&out, NULL);
  kw_buf_init_grow(&scratch, NULL);
  kw_batch_writer w;
  kw_record_header hdr = {SLICE("trace"), SLICE("abc")};
  cr_assert_eq(kw_batch_begin(&w, &out, KW_CODEC_GZIP, -1, -1, -1), 0);
  cr_assert_eq(kw_batch_append(&w, 1000, SLICE("k1"), SLICE("first"), &hdr, 1), 0);
  cr_assert_eq(kw_batch_append(&w, 1005, (kw_slice){NULL, 0}, SLICE("second"), NULL, 0), 0);
  cr_assert_eq(kw_batch_seal(&w, NULL), 0);

  kw_rd r;
  kw_rd_init(&r, out.data, out.len);
  cr_assert_eq(kw_records_magic(&r), 2);
  kw_batch b;
  cr_assert_eq(kw_batch_next(&r, &b), 0);
  cr_assert_eq(kw_rd_left(&r), 0);
  cr_assert_eq(b.attributes & KW_BATCH_CODEC_MASK, KW_CODEC_GZIP);
  cr_assert_eq(b.record_count, 2);
  cr_assert_eq(b.max_timestamp, 1005);

  kw_rd recs;
  cr_assert_eq(kw_batch_records(&b, &scratch, 1 << 20, &recs), 0);
  kw_record rec;
  cr_assert_eq(kw_record_next(&recs, &b, &rec), 0);
  cr_assert(slice_is(rec.key, "k1") && slice_is(rec.value, "first"));
  cr_assert_eq(rec.timestamp, 1000);
  cr_assert_eq(rec.n_headers, 1);
  kw_record_header got;
  cr_assert_eq(kw_record_header_next(&rec.headers, &got), 0);
  cr_assert(slice_is(got.key, "trace") && slice_is(got.value, "abc"));
  cr_assert_eq(kw_record_next(&recs, &b, &rec), 0);
  cr_assert_null(rec.key.ptr, "a null key stays null");
  cr_assert(slice_is(rec.value, "second"));
  cr_assert_eq(rec.offset, 1);

  out.data[out.len - 1] ^= 1; /* one flipped bit in the records */
  kw_rd_init(&r, out.data, out.len);
  cr_assert_eq(kw_batch_next(&r, &b), KW_ERR_CRC);
  kw_buf_free(&scratch);
  kw_buf_free(&out);
}

Test(codec_public, crc32c_and_kafka_error_names) {
  cr_assert_eq(kw_crc32c(0, "123456789", 9), 0xE3069283u, "the CRC-32C check value");
  cr_assert_eq(kw_crc32c(kw_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u, "chained");
  cr_assert_str_eq(kw_kerr_name(KW_KERR_NOT_LEADER_OR_FOLLOWER), "NOT_LEADER_OR_FOLLOWER");
  cr_assert_str_eq(kw_kerr_name(-2000), "UNKNOWN_ERROR_CODE");
  cr_assert(kw_kerr_retriable(KW_KERR_NOT_LEADER_OR_FOLLOWER));
  cr_assert(kw_kerr_refresh_metadata(KW_KERR_NOT_LEADER_OR_FOLLOWER));
  cr_assert_not(kw_kerr_retriable(KW_KERR_TOPIC_AUTHORIZATION_FAILED));
  cr_assert_str_eq(kw_kerr_message(KW_KERR_REQUEST_TIMED_OUT), "The request timed out.");
  cr_assert_str_eq(kw_kerr_message(-2000), "");
}
