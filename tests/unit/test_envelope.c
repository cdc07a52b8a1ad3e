/* Event envelope: round trips, every missing or mistyped field named, RFC 3339 with
 * offsets, UUID v4 generation, and the CloudEvents Kafka binding in both modes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "event/kw_envelope.h"
#include "event/kw_json.h"

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))
#define ID "c8b9c2e1-22a4-4b63-8c34-4ccf4f7f90aa"
#define T_2026 1763272246123LL /* 2025-11-16T05:50:46.123Z */

static kw_slice sl(const char *s) { return (kw_slice){(const uint8_t *)s, (int32_t)strlen(s)}; }

static void check_same(const kw_envelope *a, const kw_envelope *b) {
  cr_assert_str_eq(a->event_type, b->event_type);
  cr_assert_str_eq(a->event_id, b->event_id);
  cr_assert_eq(a->event_version, b->event_version);
  cr_assert_eq(a->timestamp_ms, b->timestamp_ms);
  cr_assert_eq(a->payload.len, b->payload.len);
  cr_assert_eq(memcmp(a->payload.ptr, b->payload.ptr, (size_t)a->payload.len), 0);
}

Test(envelope, guide_example_decodes) {
  /* the event from the guide our users learned the pattern from */
  const char *doc =
      "{\n\"event_type\": \"OrderCreated\",\n\"event_version\": 1,\n\"event_id\": "
      "\"c8b9c2e1-22a4-4b63-8c34-4ccf4f7f90aa\",\n\"timestamp\": \"2026-04-16T10:30:00Z\",\n"
      "\"payload\": {\n\"order_id\": \"ORD-123\",\n\"user_id\": \"USR-456\",\n\"amount\": 1499.99\n}\n}";
  kw_envelope e;
  char why[128] = "";
  cr_assert_eq(kw_envelope_decode(sl(doc), &e, why, sizeof why), 0, "%s", why);
  cr_assert_str_eq(e.event_type, "OrderCreated");
  cr_assert_eq(e.event_version, 1);
  cr_assert_str_eq(e.event_id, ID);
  cr_assert_eq(e.timestamp_ms, 1776335400000LL);
  cr_assert_eq(e.payload.ptr[0], '{');
  cr_assert_eq(e.payload.ptr[e.payload.len - 1], '}');
  kw_json_value amount;
  cr_assert_eq(kw_json_get(&e.payload, "amount", &amount), 0);
  cr_assert_eq(amount.type, KW_JSON_NUMBER);
}

Test(envelope, round_trip) {
  uint8_t mem[512];
  kw_buf b;
  kw_buf_init_fixed(&b, mem, sizeof mem);
  char id[37];
  cr_assert_eq(kw_envelope_encode(&b, "Order\"Created\xc3\xa9", 3, "C8B9C2E1-22A4-4B63-8C34-4CCF4F7F90AA",
                                  T_2026, sl(" [1, {\"a\": null}] "), id),
               0);
  cr_assert_str_eq(id, ID); /* canonical lowercase */
  const char want[] =
      "{\"event_type\":\"Order\\\"Created\xc3\xa9\",\"event_version\":3,\"event_id\":\"" ID
      "\",\"timestamp\":\"2025-11-16T05:50:46.123Z\",\"payload\":[1, {\"a\": null}]}";
  cr_assert_eq(b.len, sizeof want - 1, "%.*s", (int)b.len, mem);
  cr_assert_eq(memcmp(mem, want, b.len), 0);
  kw_envelope e;
  cr_assert_eq(kw_envelope_decode((kw_slice){mem, (int32_t)b.len}, &e, NULL, 0), 0);
  cr_assert_str_eq(e.event_type, "Order\"Created\xc3\xa9");
  cr_assert_eq(e.event_version, 3);
  cr_assert_str_eq(e.event_id, ID);
  cr_assert_eq(e.timestamp_ms, T_2026);
  cr_assert_eq(e.payload.len, (int32_t)strlen("[1, {\"a\": null}]"));

  /* generated id, null payload */
  kw_buf_reset(&b);
  cr_assert_eq(kw_envelope_encode(&b, "X", 1, NULL, 0, (kw_slice){NULL, 0}, id), 0);
  cr_assert_eq(kw_envelope_decode((kw_slice){mem, (int32_t)b.len}, &e, NULL, 0), 0);
  cr_assert_str_eq(e.event_id, id);
  cr_assert_eq(id[14], '4');
  cr_assert_eq(e.payload.len, 4);
  cr_assert_eq(memcmp(e.payload.ptr, "null", 4), 0);
  cr_assert(strstr((const char *)mem, "\"timestamp\":\"1970-01-01T00:00:00.000Z\""));
}

/* The decoder reads the payload as a nested object, which may repeat a member name or
 * hold more than KW_JSON_MAX_MEMBERS members; what it accepts must encode again (a
 * fuzz_json finding: encode checked the payload as a top-level document). */
Test(envelope, payload_is_checked_as_nested) {
  const char doc[] = "{\"event_type\":\"OrderCreated\",\"event_version\":1,\"event_id\":\"" ID
                     "\",\"timestamp\":\"2026-04-16T10:30:00Z\",\"payload\":{\"user_id\":\"USR-45\",\"user_id\":\"USR-456\"}}";
  kw_envelope e;
  cr_assert_eq(kw_envelope_decode((kw_slice){(const uint8_t *)doc, (int32_t)strlen(doc)}, &e, NULL, 0), 0);
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_envelope_encode(&b, e.event_type, e.event_version, e.event_id, e.timestamp_ms, e.payload, NULL), 0);
  kw_envelope d;
  cr_assert_eq(kw_envelope_decode((kw_slice){b.data, (int32_t)b.len}, &d, NULL, 0), 0);
  cr_assert_eq(d.payload.len, e.payload.len);
  cr_assert_eq(memcmp(d.payload.ptr, e.payload.ptr, (size_t)e.payload.len), 0);
  kw_buf_free(&b);
}

Test(envelope, encode_rejects) {
  uint8_t mem[64];
  kw_buf b;
  char long_type[300];
  memset(long_type, 'x', sizeof long_type - 1);
  long_type[sizeof long_type - 1] = 0;
  kw_buf_init_fixed(&b, mem, sizeof mem);
  cr_assert_eq(kw_envelope_encode(&b, "", 1, ID, 0, sl("1"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, NULL, 1, ID, 0, sl("1"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, long_type, 1, ID, 0, sl("1"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, "\xff", 1, ID, 0, sl("1"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, "X", 0, ID, 0, sl("1"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, "X", 1, "not-a-uuid", 0, sl("1"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, "X", 1, ID, INT64_MAX, sl("1"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, "X", 1, ID, 0, sl("1 2"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, "X", 1, ID, 0, sl("{\"a\":1,}"), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&b, "X", 1, ID, 0, sl(""), NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(b.len, 0); /* nothing written on a refused argument */
  cr_assert_eq(kw_envelope_encode(&b, "X", 1, ID, 0, sl("\"this payload does not fit in 64 bytes\""), NULL),
               KW_ERR_BUF_FULL);
  /* a payload as deep as the reader allows cannot be wrapped: the envelope adds a level */
  char deep[200];
  memset(deep, '[', 64);
  memset(deep + 64, ']', 64);
  kw_buf g;
  kw_buf_init_grow(&g, NULL);
  cr_assert_eq(kw_envelope_encode(&g, "X", 1, ID, 0, (kw_slice){(uint8_t *)deep, 128}, NULL), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_envelope_encode(&g, "X", 1, ID, 0, (kw_slice){(uint8_t *)deep + 1, 126}, NULL), 0);
  kw_envelope e;
  cr_assert_eq(kw_envelope_decode((kw_slice){g.data, (int32_t)g.len}, &e, NULL, 0), 0);
  kw_buf_free(&g);
}

static const struct {
  const char *doc;
  const char *reason;
} bad[] = {
    {"{\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "missing field event_type"},
    {"{\"event_type\":\"A\",\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "missing field event_version"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "missing field event_id"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":\"" ID "\",\"payload\":{}}", "missing field timestamp"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\"}",
     "missing field payload"},
    {"{\"event_type\":1,\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_type must be a non-empty string of at most 255 bytes"},
    {"{\"event_type\":\"\",\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_type must be a non-empty string of at most 255 bytes"},
    {"{\"event_type\":\"A\\u0000B\",\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_type must be a non-empty string of at most 255 bytes"},
    {"{\"event_type\":\"A\",\"event_version\":\"1\",\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_version must be a positive integer"},
    {"{\"event_type\":\"A\",\"event_version\":0,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_version must be a positive integer"},
    {"{\"event_type\":\"A\",\"event_version\":-3,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_version must be a positive integer"},
    {"{\"event_type\":\"A\",\"event_version\":1.0,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_version must be a positive integer"},
    {"{\"event_type\":\"A\",\"event_version\":2147483648,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_version must be a positive integer"},
    {"{\"event_type\":\"A\",\"event_version\":null,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_version must be a positive integer"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":\"c8b9c2e1-22a4-4b63-8c34-4ccf4f7f90a\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_id must be a UUID string"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":\"c8b9c2e1x22a4-4b63-8c34-4ccf4f7f90aa\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_id must be a UUID string"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":\"g8b9c2e1-22a4-4b63-8c34-4ccf4f7f90aa\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_id must be a UUID string"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":[],\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":{}}",
     "event_id must be a UUID string"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":1767225600000,\"payload\":{}}",
     "timestamp must be an RFC 3339 timestamp"},
    {"{\"event_type\":\"A\",\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01 00:00:00Z\",\"payload\":{}}",
     "timestamp must be an RFC 3339 timestamp"},
    {"[1]", "not a JSON object"},
    {"{\"event_type\": \"abc", "unterminated string at byte 15"},
    {"{\"event_type\":\"A\",\"event_type\":\"B\"}", "duplicate member at byte 18"},
};

Test(envelope, every_field_named) {
  for (int i = 0; i < COUNT(bad); i++) {
    kw_envelope e;
    char why[128] = "";
    cr_assert_eq(kw_envelope_decode(sl(bad[i].doc), &e, why, sizeof why), KW_ERR_MALFORMED, "%d", i);
    cr_assert_str_eq(why, bad[i].reason, "%d: %s", i, bad[i].doc);
  }
  /* a NULL reason buffer is fine */
  kw_envelope e;
  cr_assert_eq(kw_envelope_decode(sl(bad[0].doc), &e, NULL, 0), KW_ERR_MALFORMED);
  cr_assert_eq(kw_envelope_decode((kw_slice){NULL, 0}, &e, NULL, 0), KW_ERR_MALFORMED);
}

Test(envelope, extras_escapes_and_long_types) {
  char doc[1024], why[128];
  kw_envelope e;
  /* unknown fields are ignored; fields may be escaped; UUIDs of any version are accepted */
  snprintf(doc, sizeof doc,
           "{\"schema\":\"v2\",\"payload\":\"x\",\"event_id\":\"0190a6c1-8e3b-7c2a-9d4e-0123456789AB\","
           "\"timestamp\":\"2026\\u002d01-01T00:00:00Z\",\"event_version\":7,\"event_type\":\"\\u004frder\","
           "\"trace\":{\"event_type\":\"nested is not top level\"}}");
  cr_assert_eq(kw_envelope_decode(sl(doc), &e, why, sizeof why), 0, "%s", why);
  cr_assert_str_eq(e.event_type, "Order");
  cr_assert_str_eq(e.event_id, "0190a6c1-8e3b-7c2a-9d4e-0123456789ab");
  cr_assert_eq(e.event_version, 7);
  cr_assert_eq(e.timestamp_ms, 1767225600000LL);
  /* 255 bytes fit, 256 do not */
  for (int n = 255; n <= 256; n++) {
    int k = snprintf(doc, sizeof doc, "{\"event_type\":\"");
    memset(doc + k, 'T', (size_t)n);
    snprintf(doc + k + n, sizeof doc - (size_t)(k + n),
             "\",\"event_version\":1,\"event_id\":\"" ID "\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"payload\":0}");
    int rc = kw_envelope_decode(sl(doc), &e, why, sizeof why);
    cr_assert_eq(rc, n == 255 ? 0 : KW_ERR_MALFORMED, "%d", n);
    if (!rc) cr_assert_eq(strlen(e.event_type), 255);
  }
}

Test(envelope, rfc3339_format) {
  static const struct {
    int64_t ms;
    const char *text;
  } c[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {951782400000LL, "2000-02-29T00:00:00.000Z"},
      {1796795446123LL, "2026-12-09T05:50:46.123Z"},
      {1795758646123LL, "2026-11-27T05:50:46.123Z"},
      {4107542399999LL, "2100-02-28T23:59:59.999Z"},
      {-62167219200000LL, "0000-01-01T00:00:00.000Z"},
      {253402300799999LL, "9999-12-31T23:59:59.999Z"},
  };
  char out[25];
  for (int i = 0; i < COUNT(c); i++) {
    cr_assert_eq(kw_rfc3339_format(c[i].ms, out), 0);
    cr_assert_str_eq(out, c[i].text);
    int64_t back;
    cr_assert_eq(kw_rfc3339_parse(c[i].text, strlen(c[i].text), &back), 0);
    cr_assert_eq(back, c[i].ms);
  }
  cr_assert_eq(kw_rfc3339_format(-62167219200001LL, out), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_rfc3339_format(253402300800000LL, out), KW_ERR_INVALID_ARG);
  /* every day of four centuries round-trips */
  for (int64_t d = -146097 * 4; d < 146097; d += 1) {
    int64_t ms = d * 86400000LL + 45296789, back;
    cr_assert_eq(kw_rfc3339_format(ms, out), 0);
    cr_assert_eq(kw_rfc3339_parse(out, 24, &back), 0, "%s", out);
    cr_assert_eq(back, ms, "%s", out);
  }
}

Test(envelope, rfc3339_parse_offsets) {
  static const struct {
    const char *text;
    int64_t ms; /* INT64_MIN: invalid */
  } c[] = {
      {"2026-04-16T10:30:00Z", 1776335400000LL},
      {"2026-04-16T12:30:00+02:00", 1776335400000LL},
      {"2026-04-16T05:00:00-05:30", 1776335400000LL},
      {"2026-04-16T10:30:00-00:00", 1776335400000LL},
      {"2026-04-16t10:30:00z", 1776335400000LL},
      {"2026-04-16T10:30:00.5Z", 1776335400500LL},
      {"2026-04-16T10:30:00.12Z", 1776335400120LL},
      {"2026-04-16T10:30:00.123456789Z", 1776335400123LL},
      {"2026-04-17T00:29:59.999+13:59", 1776335459999LL},
      {"2016-12-31T23:59:60Z", 1483228800000LL}, /* leap second: the next second */
      {"2024-02-29T00:00:00Z", 1709164800000LL},
      {"2026-04-16T10:30:00", INT64_MIN},
      {"2026-04-16T10:30:00.Z", INT64_MIN},
      {"2026-04-16T10:30:00+0200", INT64_MIN},
      {"2026-04-16T10:30:00+02", INT64_MIN},
      {"2026-04-16T10:30:00+24:00", INT64_MIN},
      {"2026-04-16T10:30:00+02:60", INT64_MIN},
      {"2026-04-16T10:30:00ZZ", INT64_MIN},
      {"2026-04-16 10:30:00Z", INT64_MIN},
      {"2026-4-16T10:30:00Z", INT64_MIN},
      {"2026-13-01T00:00:00Z", INT64_MIN},
      {"2026-00-01T00:00:00Z", INT64_MIN},
      {"2026-02-29T00:00:00Z", INT64_MIN},
      {"2100-02-29T00:00:00Z", INT64_MIN},
      {"2026-04-31T00:00:00Z", INT64_MIN},
      {"2026-04-00T00:00:00Z", INT64_MIN},
      {"2026-04-16T24:00:00Z", INT64_MIN},
      {"2026-04-16T10:60:00Z", INT64_MIN},
      {"2026-04-16T10:30:61Z", INT64_MIN},
      {"2026-04-16T1a:30:00Z", INT64_MIN},
      {"+2026-04-16T10:30:00Z", INT64_MIN},
      {"0000-01-01T00:00:00+00:01", INT64_MIN}, /* before year 0 */
      {"9999-12-31T23:59:60Z", INT64_MIN},      /* after year 9999 */
      {"", INT64_MIN},
  };
  for (int i = 0; i < COUNT(c); i++) {
    int64_t ms = 0;
    int rc = kw_rfc3339_parse(c[i].text, strlen(c[i].text), &ms);
    cr_assert_eq(rc, c[i].ms == INT64_MIN ? KW_ERR_MALFORMED : 0, "%s", c[i].text);
    if (!rc) cr_assert_eq(ms, c[i].ms, "%s: %lld", c[i].text, (long long)ms);
  }
}

static uint64_t counter(void *ud) {
  uint64_t *x = ud;
  return *x += 0x9E3779B97F4A7C15ULL;
}

static void check_v4(const char *id) {
  cr_assert_eq(strlen(id), 36);
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) cr_assert_eq(id[i], '-', "%s", id);
    else cr_assert(strchr("0123456789abcdef", id[i]) && id[i], "%s", id);
  }
  cr_assert_eq(id[14], '4', "version: %s", id);
  cr_assert(strchr("89ab", id[19]), "variant: %s", id);
}

Test(envelope, uuid4) {
  char a[37], b[37];
  uint64_t state = 0;
  for (int i = 0; i < 100; i++) {
    cr_assert_eq(kw_uuid4(a, counter, &state), 0);
    check_v4(a);
  }
  cr_assert_eq(kw_uuid4(a, NULL, NULL), 0);
  cr_assert_eq(kw_uuid4(b, NULL, NULL), 0);
  check_v4(a);
  check_v4(b);
  cr_assert_str_neq(a, b);
}

static const char *source = "/orders/service";

Test(cloudevents, binary_round_trip) {
  kw_envelope e = {.event_type = "OrderCreated", .event_id = ID, .event_version = 2, .timestamp_ms = T_2026,
                   .payload = sl("{\"order_id\":\"ORD-123\"}")},
              d;
  kw_ce_header h[7];
  char scratch[KW_CE_SCRATCH], src[64], why[128] = "";
  cr_assert_eq(kw_cloudevents_to_headers(&e, source, h, scratch, sizeof scratch), 7);
  static const char *want[][2] = {{"ce_specversion", "1.0"},
                                  {"ce_id", ID},
                                  {"ce_source", "/orders/service"},
                                  {"ce_type", "OrderCreated"},
                                  {"ce_time", "2025-11-16T05:50:46.123Z"},
                                  {"ce_eventversion", "2"},
                                  {"content-type", "application/json"}};
  for (int i = 0; i < 7; i++) {
    cr_assert_eq(h[i].key.len, (int32_t)strlen(want[i][0]));
    cr_assert_eq(memcmp(h[i].key.ptr, want[i][0], (size_t)h[i].key.len), 0);
    cr_assert_eq(h[i].value.len, (int32_t)strlen(want[i][1]), "%s", want[i][0]);
    cr_assert_eq(memcmp(h[i].value.ptr, want[i][1], (size_t)h[i].value.len), 0, "%s", want[i][0]);
  }
  cr_assert_eq(kw_cloudevents_from_headers(h, 7, e.payload, &d, src, sizeof src, why, sizeof why), 0, "%s", why);
  check_same(&e, &d);
  cr_assert_str_eq(src, source);
  /* no eventversion (a foreign producer): version 1; no value: null payload */
  kw_ce_header h2[] = {h[4], h[0], h[1], h[2], h[3], {sl("traceparent"), sl("00-abc")}};
  cr_assert_eq(kw_cloudevents_from_headers(h2, 6, (kw_slice){NULL, 0}, &d, NULL, 0, why, sizeof why), 0, "%s", why);
  cr_assert_eq(d.event_version, 1);
  cr_assert_eq(memcmp(d.payload.ptr, "null", 4), 0);
  cr_assert_eq(kw_cloudevents_from_headers(h, 7, e.payload, &d, src, 5, why, sizeof why), KW_ERR_BUF_FULL);
  cr_assert_eq(kw_cloudevents_to_headers(&e, "", h, scratch, sizeof scratch), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_cloudevents_to_headers(&e, source, h, scratch, 10), KW_ERR_INVALID_ARG);
}

Test(cloudevents, binary_errors_named) {
  kw_envelope e = {.event_type = "A", .event_id = ID, .event_version = 1, .timestamp_ms = 0}, d;
  kw_ce_header h[7];
  char scratch[KW_CE_SCRATCH], why[128];
  cr_assert_eq(kw_cloudevents_to_headers(&e, source, h, scratch, sizeof scratch), 7);
  static const char *missing[] = {"missing field ce_specversion", "missing field ce_id", "missing field ce_source",
                                  "missing field ce_type", "missing field ce_time", NULL, NULL};
  for (int skip = 0; skip < 7; skip++) {
    kw_ce_header g[7];
    int n = 0;
    for (int i = 0; i < 7; i++)
      if (i != skip) g[n++] = h[i];
    int rc = kw_cloudevents_from_headers(g, n, sl("{}"), &d, NULL, 0, why, sizeof why);
    if (!missing[skip]) {
      cr_assert_eq(rc, 0, "%d %s", skip, why);
      continue;
    }
    cr_assert_eq(rc, KW_ERR_MALFORMED);
    cr_assert_str_eq(why, missing[skip]);
  }
  kw_ce_header g[8];
  memcpy(g, h, sizeof h);
  g[0].value = sl("0.3");
  cr_assert_eq(kw_cloudevents_from_headers(g, 7, sl("{}"), &d, NULL, 0, why, sizeof why), KW_ERR_MALFORMED);
  cr_assert_str_eq(why, "ce_specversion must be \"1.0\"");
  memcpy(g, h, sizeof h);
  g[1].value = sl("1234-1234-1234");
  cr_assert_eq(kw_cloudevents_from_headers(g, 7, sl("{}"), &d, NULL, 0, why, sizeof why), KW_ERR_MALFORMED);
  cr_assert_str_eq(why, "ce_id must be a UUID string");
  memcpy(g, h, sizeof h);
  g[5].value = sl("x");
  cr_assert_eq(kw_cloudevents_from_headers(g, 7, sl("{}"), &d, NULL, 0, why, sizeof why), KW_ERR_MALFORMED);
  cr_assert_str_eq(why, "ce_eventversion must be a positive integer");
  memcpy(g, h, sizeof h);
  g[3].value = (kw_slice){NULL, 0};
  cr_assert_eq(kw_cloudevents_from_headers(g, 7, sl("{}"), &d, NULL, 0, why, sizeof why), KW_ERR_MALFORMED);
  cr_assert_str_eq(why, "ce_type must be a non-empty string of at most 255 bytes");
  memcpy(g, h, sizeof h);
  g[7] = h[1];
  cr_assert_eq(kw_cloudevents_from_headers(g, 8, sl("{}"), &d, NULL, 0, why, sizeof why), KW_ERR_MALFORMED);
  cr_assert_str_eq(why, "duplicate header ce_id");
  cr_assert_eq(kw_cloudevents_from_headers(h, 7, sl("<xml/>"), &d, NULL, 0, why, sizeof why), KW_ERR_MALFORMED);
  cr_assert_str_eq(why, "value is not one JSON value");
}

Test(cloudevents, structured_round_trip) {
  kw_envelope e = {.event_type = "com.example.order.created", .event_id = ID, .event_version = 5,
                   .timestamp_ms = T_2026, .payload = sl("[1,\"two\",{\"3\":null}]")},
              d;
  uint8_t mem[512];
  kw_buf b;
  kw_buf_init_fixed(&b, mem, sizeof mem);
  cr_assert_eq(kw_cloudevents_structured_encode(&b, &e, "https://example.com/\"orders\""), 0);
  const char want[] = "{\"specversion\":\"1.0\",\"source\":\"https://example.com/\\\"orders\\\"\","
                      "\"type\":\"com.example.order.created\",\"eventversion\":5,\"id\":\"" ID "\","
                      "\"time\":\"2025-11-16T05:50:46.123Z\",\"datacontenttype\":\"application/json\","
                      "\"data\":[1,\"two\",{\"3\":null}]}";
  cr_assert_eq(b.len, sizeof want - 1, "%.*s", (int)b.len, mem);
  cr_assert_eq(memcmp(mem, want, b.len), 0);
  char src[64], why[128] = "";
  cr_assert_eq(kw_cloudevents_structured_decode((kw_slice){mem, (int32_t)b.len}, &d, src, sizeof src, why,
                                                sizeof why),
               0, "%s", why);
  check_same(&e, &d);
  cr_assert_str_eq(src, "https://example.com/\"orders\"");
  cr_assert_eq(kw_cloudevents_structured_encode(&b, &e, ""), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_cloudevents_structured_encode(&b, &e, NULL), KW_ERR_INVALID_ARG);
}

Test(cloudevents, structured_foreign_and_errors) {
  kw_envelope d;
  char why[128] = "";
  /* as another SDK writes it: no eventversion, no data, offset time, unknown attributes */
  const char *ok = "{\"specversion\":\"1.0\",\"type\":\"com.example.someevent\",\"source\":\"/mycontext\","
                   "\"id\":\"" ID "\",\"time\":\"2018-04-05T05:56:24+02:00\",\"comexampleextension1\":\"value\"}";
  cr_assert_eq(kw_cloudevents_structured_decode(sl(ok), &d, NULL, 0, why, sizeof why), 0, "%s", why);
  cr_assert_eq(d.event_version, 1);
  cr_assert_eq(d.timestamp_ms, 1522900584000LL);
  cr_assert_eq(memcmp(d.payload.ptr, "null", 4), 0);
  static const struct {
    const char *doc, *reason;
  } c[] = {
      {"{\"specversion\":\"1.0\",\"type\":\"t\",\"source\":\"/s\",\"id\":\"1234-1234-1234\",\"time\":\"2018-04-05T03:56:24Z\"}",
       "id must be a UUID string"},
      {"{\"specversion\":\"1.0\",\"type\":\"t\",\"source\":\"/s\",\"id\":\"" ID "\"}", "missing field time"},
      {"{\"specversion\":\"1.0\",\"source\":\"/s\",\"id\":\"" ID "\",\"time\":\"2018-04-05T03:56:24Z\"}", "missing field type"},
      {"{\"specversion\":\"0.3\",\"type\":\"t\",\"source\":\"/s\",\"id\":\"" ID "\",\"time\":\"2018-04-05T03:56:24Z\"}",
       "specversion must be \"1.0\""},
      {"{\"type\":\"t\",\"source\":\"/s\",\"id\":\"" ID "\",\"time\":\"2018-04-05T03:56:24Z\"}", "missing field specversion"},
      {"{\"specversion\":\"1.0\",\"type\":\"t\",\"id\":\"" ID "\",\"time\":\"2018-04-05T03:56:24Z\"}", "missing field source"},
      {"{\"specversion\":\"1.0\",\"type\":\"t\",\"source\":\"\",\"id\":\"" ID "\",\"time\":\"2018-04-05T03:56:24Z\"}",
       "source must be a non-empty string"},
      {"{\"specversion\":\"1.0\",\"type\":\"t\",\"source\":\"/s\",\"id\":\"" ID "\",\"time\":\"2018-04-05T03:56:24Z\","
       "\"eventversion\":\"2\"}",
       "eventversion must be a positive integer"},
      {"{\"specversion\":\"1.0\",\"type\":\"t\",\"source\":\"/s\",\"id\":\"" ID "\",\"time\":\"2018-04-05T03:56:24Z\","
       "\"data_base64\":\"AAEC\"}",
       "data_base64 is not supported"},
  };
  for (int i = 0; i < COUNT(c); i++) {
    cr_assert_eq(kw_cloudevents_structured_decode(sl(c[i].doc), &d, NULL, 0, why, sizeof why), KW_ERR_MALFORMED, "%d", i);
    cr_assert_str_eq(why, c[i].reason, "%d", i);
  }
}
