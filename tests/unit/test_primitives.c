/* Reader/writer primitives: varint limits, zig-zag, compact and classic forms, sticky errors. */
#include <criterion/criterion.h>
#include <string.h>
#include "kwire/error.h"
#include "kwire/buf.h"
#include "proto/kw_kerr.h"
#include "kwire/buf.h"

Test(varint, zigzag_round_trip_limits) {
  static const int64_t vals[] = {0, 1, -1, 63, -64, 64, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    uint8_t mem[16];
    kw_buf b;
    kw_buf_init_fixed(&b, mem, sizeof mem);
    kw_buf_varlong(&b, vals[i]);
    cr_assert_eq(b.err, 0);
    kw_rd r;
    kw_rd_init(&r, mem, b.len);
    cr_assert_eq(kw_rd_varlong(&r), vals[i]);
    cr_assert_eq(r.err, 0);
    cr_assert_eq(kw_rd_left(&r), 0);
  }
  uint8_t mem[16];
  kw_buf b;
  kw_buf_init_fixed(&b, mem, sizeof mem);
  kw_buf_varint(&b, -1);
  cr_assert_eq(b.len, 1);
  cr_assert_eq(mem[0], 1, "zig-zag -1 is 1");
}

Test(varint, too_long_is_malformed) {
  static const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  kw_rd r;
  kw_rd_init(&r, six, sizeof six);
  (void)kw_rd_uvarint(&r);
  cr_assert_eq(r.err, KW_ERR_MALFORMED);
  static const uint8_t over32[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
  kw_rd_init(&r, over32, sizeof over32);
  (void)kw_rd_uvarint(&r);
  cr_assert_eq(r.err, KW_ERR_MALFORMED, "a 5th byte above 0x0f overflows 32 bits");
  static const uint8_t eleven[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  kw_rd_init(&r, eleven, sizeof eleven);
  (void)kw_rd_varlong(&r);
  cr_assert_eq(r.err, KW_ERR_MALFORMED);
  static const uint8_t cut[] = {0x80, 0x80};
  kw_rd_init(&r, cut, sizeof cut);
  (void)kw_rd_varint(&r);
  cr_assert_eq(r.err, KW_ERR_TRUNCATED);
}

Test(rd, sticky_error_returns_zeros) {
  static const uint8_t two[] = {0x12, 0x34};
  kw_rd r;
  kw_rd_init(&r, two, sizeof two);
  cr_assert_eq(kw_rd_i32(&r), 0);
  cr_assert_eq(r.err, KW_ERR_TRUNCATED);
  cr_assert_eq(kw_rd_i8(&r), 0, "after an error every read yields zero");
}

Test(rd, strings_classic_and_compact) {
  static const uint8_t classic[] = {0, 3, 'a', 'b', 'c', 0xff, 0xff};
  kw_rd r;
  kw_rd_init(&r, classic, sizeof classic);
  kw_slice s = kw_rd_string(&r, false, false);
  cr_assert_eq(s.len, 3);
  cr_assert(memcmp(s.ptr, "abc", 3) == 0);
  s = kw_rd_string(&r, false, true);
  cr_assert_null(s.ptr, "-1 is null");
  cr_assert_eq(r.err, 0);

  static const uint8_t compact_null[] = {0};
  kw_rd_init(&r, compact_null, 1);
  (void)kw_rd_string(&r, true, false);
  cr_assert_eq(r.err, KW_ERR_MALFORMED, "null where not nullable");

  static const uint8_t negative[] = {0xff, 0xfe};
  kw_rd_init(&r, negative, 2);
  (void)kw_rd_string(&r, false, true);
  cr_assert_eq(r.err, KW_ERR_MALFORMED, "-2 is no length");

  static const uint8_t longer[] = {0, 0, 0, 9, 'x'};
  kw_rd_init(&r, longer, sizeof longer);
  (void)kw_rd_bytes(&r, false, false);
  cr_assert_eq(r.err, KW_ERR_TRUNCATED);
}

Test(rd, tagged_fields_skipped) {
  static const uint8_t tags[] = {2, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc, 0x42};
  kw_rd r;
  kw_rd_init(&r, tags, sizeof tags);
  kw_rd_skip_tags(&r);
  cr_assert_eq(r.err, 0);
  cr_assert_eq(kw_rd_i8(&r), 0x42);
  static const uint8_t lying[] = {100, 0, 1};
  kw_rd_init(&r, lying, sizeof lying);
  kw_rd_skip_tags(&r);
  cr_assert_eq(r.err, KW_ERR_TRUNCATED);
}

Test(buf, fixed_overflow_and_null_checks) {
  uint8_t mem[3];
  kw_buf b;
  kw_buf_init_fixed(&b, mem, sizeof mem);
  kw_buf_i32(&b, 1);
  cr_assert_eq(b.err, KW_ERR_BUF_FULL);
  kw_buf_init_fixed(&b, mem, sizeof mem);
  kw_buf_string(&b, (kw_slice){NULL, 0}, true, false);
  cr_assert_eq(b.err, KW_ERR_MALFORMED, "null into a non-nullable string");
  kw_buf_init_count(&b);
  kw_buf_string(&b, (kw_slice){(const uint8_t *)"abc", 3}, true, false);
  cr_assert_eq(b.len, 4);
}

Test(kerr, table_has_the_codes_clients_act_on) {
  cr_assert_str_eq(kw_kerr_name(6), "NOT_LEADER_OR_FOLLOWER");
  cr_assert(kw_kerr_retriable(6));
  cr_assert(kw_kerr_refresh_metadata(6));
  cr_assert(kw_kerr_retriable(14), "COORDINATOR_LOAD_IN_PROGRESS");
  cr_assert_not(kw_kerr_refresh_metadata(14));
  cr_assert_not(kw_kerr_retriable(-1));
  cr_assert_str_eq(kw_kerr_name(-1), "UNKNOWN_SERVER_ERROR");
  cr_assert_str_eq(kw_kerr_name(12345), "UNKNOWN_ERROR_CODE");
}

Test(errors, every_code_has_a_name) {
  for (int e = -1; e >= KW_ERR_UNSUPPORTED_FEATURE; e--) {
    cr_assert_neq(strcmp(kw_errname(e), "KW_ERR_UNKNOWN"), 0, "code %d", e);
    cr_assert_neq(strcmp(kw_strerror(e), "unknown error"), 0, "code %d", e);
  }
}
