/* Fuzz target: the strict JSON reader, the event envelope decoder and the CloudEvents
 * structured decoder over the same bytes. Oracles: errors carry a code, an offset inside
 * the input and a reason; strings unescape within their written length and survive the
 * writer; anything that decodes re-encodes (as an envelope, a structured CloudEvent and
 * binary-mode headers) and decodes again to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "event/kw_envelope.h"
#include "event/kw_json.h"

#define CHECK(c) \
  do {           \
    if (!(c)) abort(); \
  } while (0)

static char src[1 << 17], src2[1 << 17], text[1 << 17];

static void same(const kw_envelope *a, const kw_envelope *b) {
  CHECK(!strcmp(a->event_type, b->event_type) && !strcmp(a->event_id, b->event_id));
  CHECK(a->event_version == b->event_version && a->timestamp_ms == b->timestamp_ms);
  CHECK(a->payload.len == b->payload.len && !memcmp(a->payload.ptr, b->payload.ptr, (size_t)a->payload.len));
}

/* e re-encoded every way decodes to e again. */
static void round_trips(const kw_envelope *e, const char *source) {
  kw_buf b;
  kw_envelope d;
  char why[128];
  kw_buf_init_grow(&b, NULL);
  CHECK(kw_envelope_encode(&b, e->event_type, e->event_version, e->event_id, e->timestamp_ms, e->payload, NULL) == 0);
  CHECK(kw_envelope_decode((kw_slice){b.data, (int32_t)b.len}, &d, why, sizeof why) == 0);
  same(e, &d);
  kw_buf_reset(&b);
  CHECK(kw_cloudevents_structured_encode(&b, e, source) == 0);
  CHECK(kw_cloudevents_structured_decode((kw_slice){b.data, (int32_t)b.len}, &d, src2, sizeof src2, why, sizeof why) == 0);
  same(e, &d);
  CHECK(!strcmp(source, src2));
  kw_ce_header h[7];
  char scratch[KW_CE_SCRATCH];
  CHECK(kw_cloudevents_to_headers(e, source, h, scratch, sizeof scratch) == 7);
  CHECK(kw_cloudevents_from_headers(h, 7, e->payload, &d, src2, sizeof src2, why, sizeof why) == 0);
  same(e, &d);
  CHECK(!strcmp(source, src2));
  kw_buf_free(&b);
}

static void json(kw_slice in) {
  static const char *const names[] = {"a", "event_type", "payload", "\xc3\xa9"};
  kw_json_value v[4], top;
  kw_json_error err;
  int rc = kw_json_scan(&in, NULL, names, 4, v, &top, &err);
  if (rc) {
    CHECK(rc == err.code && err.what && err.offset <= (uint32_t)in.len);
    CHECK(rc == KW_ERR_MALFORMED || rc == KW_ERR_TOO_LARGE);
    kw_json_error_text(&err, text, 64);
    return;
  }
  CHECK(top.raw.ptr >= in.ptr && top.raw.ptr + top.raw.len <= in.ptr + in.len);
  for (int i = 0; i < 4; i++) {
    size_t len;
    int64_t x;
    if (v[i].type == KW_JSON_NUMBER) {
      rc = kw_json_int(&v[i], &x);
      CHECK(rc == 0 || rc == KW_ERR_MALFORMED || rc == KW_ERR_TOO_LARGE);
    }
    if (v[i].type != KW_JSON_STRING) continue;
    CHECK(kw_json_string(&v[i], text, sizeof text, &len) == 0 && len <= (size_t)v[i].raw.len);
    /* the writer's output reads back to the same bytes */
    kw_buf b;
    kw_json_value w;
    kw_buf_init_grow(&b, NULL);
    kw_json_write_string(&b, text, len);
    CHECK(b.err == 0);
    kw_slice d = {b.data, (int32_t)b.len};
    CHECK(kw_json_scan(&d, NULL, NULL, 0, NULL, &w, NULL) == 0 && w.type == KW_JSON_STRING);
    CHECK(kw_json_string(&w, src2, sizeof src2, &len) == 0 && !memcmp(src2, text, len));
    kw_buf_free(&b);
  }
}

static uint64_t counter(void *ud) { return ++*(uint64_t *)ud * 0x9E3779B97F4A7C15ULL; }

/* The input as a payload, its first line as the event type, its length as the time: what
 * encodes must decode to the same fields, and what doesn't must be an argument error. */
static void encode(kw_slice in) {
  char type[KW_EVENT_TYPE_MAX + 2], why[128];
  size_t tl = 0;
  while (tl < (size_t)in.len && tl <= KW_EVENT_TYPE_MAX && in.ptr[tl] != '\n') type[tl] = (char)in.ptr[tl], tl++;
  type[tl] = 0;
  int64_t ts = -62167219200000LL + (int64_t)((uint64_t)in.len * 0x9E3779B97F4A7C15ULL % 315569520000000ULL);
  kw_buf b;
  kw_envelope e;
  kw_json_value top;
  char id[37];
  uint64_t state = (uint64_t)in.len; /* deterministic ids keep runs reproducible */
  CHECK(kw_uuid4(id, counter, &state) == 0 && id[14] == '4');
  kw_buf_init_grow(&b, NULL);
  int rc = kw_envelope_encode(&b, type, 1 + in.len % 5, id, ts, in, id);
  if (rc == 0) {
    CHECK(kw_envelope_decode((kw_slice){b.data, (int32_t)b.len}, &e, why, sizeof why) == 0);
    CHECK(!strcmp(e.event_type, type) && !strcmp(e.event_id, id) && e.timestamp_ms == ts);
    CHECK(kw_json_check_nested(&in, NULL, &top) == 0); /* a payload is read as a nested value */
    CHECK(top.raw.len == e.payload.len && !memcmp(top.raw.ptr, e.payload.ptr, (size_t)top.raw.len));
  } else {
    CHECK(rc == KW_ERR_INVALID_ARG);
  }
  kw_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 16)) return 0; /* keeps every unescaped string within the buffers */
  kw_slice in = {data, (int32_t)size};
  kw_envelope e;
  char why[128];
  json(in);
  encode(in);
  if (kw_envelope_decode(in, &e, why, sizeof why) == 0) round_trips(&e, "/fuzz");
  else CHECK(why[0]);
  if (kw_cloudevents_structured_decode(in, &e, src, sizeof src, why, sizeof why) == 0) round_trips(&e, src);
  return 0;
}
