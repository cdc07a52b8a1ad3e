/* Event envelope and CloudEvents mapping (see kw_envelope.h). */
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "event/kw_envelope.h"
#include "kwire/client.h"
#include "event/kw_json.h"

#define MS_DAY 86400000LL
#define MS_MIN (-719528LL * MS_DAY) /* 0000-01-01T00:00:00Z */
#define MS_MAX (2932897LL * MS_DAY) /* 10000-01-01T00:00:00Z */
/* Calendar arithmetic (after H. Hinnant's days_from_civil/civil_from_days) counts days from
 * -0400-03-01, proleptic Gregorian: every date from year 0 on is then a small unsigned
 * number, and March-based years put the leap day last. */
#define DAY0 (146097 + 719468) /* days from that origin to 1970-01-01 */

static int why(char *r, size_t rl, const char *fmt, const char *name) {
  if (r && rl) snprintf(r, rl, fmt, name);
  return KW_ERR_MALFORMED;
}

int kw_rfc3339_format(int64_t ms, char out[25]) {
  static const uint8_t end[7] = {4, 7, 10, 13, 16, 19, 23};
  if (ms < MS_MIN || ms >= MS_MAX) return KW_ERR_INVALID_ARG;
  uint64_t u = (uint64_t)(ms - MS_MIN);
  uint32_t r = (uint32_t)(u % MS_DAY), z = (uint32_t)(u / MS_DAY) + DAY0 - 719528;
  uint32_t doe = z % 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153, m = mp < 10 ? mp + 3 : mp - 9;
  uint32_t v[7] = {z / 146097 * 400 + yoe + (m <= 2) - 400, m, doy - (153 * mp + 2) / 5 + 1, r / 3600000,
                   r / 60000 % 60, r / 1000 % 60, r % 1000};
  memcpy(out, "0000-00-00T00:00:00.000Z", 25);
  for (int i = 0; i < 7; i++)
    for (char *p = out + end[i]; v[i]; v[i] /= 10) *--p = (char)('0' + v[i] % 10);
  return 0;
}

/* Digits ('d') and separators ('t' matches T or t) of a fixed pattern; each separator
 * moves on to the next value. */
static int pattern(const char *s, size_t n, const char *pat, uint32_t *v) {
  for (size_t i = 0; pat[i]; i++) {
    unsigned c = i < n ? (uint8_t)s[i] : 0, d = c - '0';
    if (pat[i] == 'd' ? d > 9 : (pat[i] == 't' ? c | 0x20 : c) != (uint8_t)pat[i]) return -1;
    if (pat[i] == 'd') *v = *v * 10 + d;
    else v++;
  }
  return 0;
}

int kw_rfc3339_parse(const char *s, size_t n, int64_t *ms) {
  static const uint8_t max[9] = {99, 12, 31, 23, 59, 60, 23, 59, 2};
  uint32_t v[9] = {0}, f = 0; /* year month day hour minute second, offset hour minute, zone */
  size_t i = 19;
  if (pattern(s, n, "dddd-dd-ddtdd:dd:dd", v)) return KW_ERR_MALFORMED;
  if (i < n && s[i] == '.') {
    while (++i < n && (unsigned)(s[i] - '0') < 10) f = i < 23 ? f * 10 + (uint32_t)(s[i] - '0') : f;
    if (i == 20) return KW_ERR_MALFORMED;
  }
  for (size_t k = i; k < 23; k++) f = k > 19 ? f * 10 : f; /* to milliseconds */
  if (i < n && (s[i] | 0x20) == 'z') i++, v[8] = 1;
  else if (i < n && (s[i] == '+' || s[i] == '-') && !pattern(s + i + 1, n - i - 1, "dd:dd", v + 6))
    v[8] = s[i] == '+' ? 1 : 2, i += 6;
  uint32_t y = v[0] + 400 - (v[1] <= 2), leap = v[0] % 4 == 0 && (v[0] % 100 || v[0] % 400 == 0);
  uint32_t doy = (153 * (v[1] > 2 ? v[1] - 3 : v[1] + 9) + 2) / 5 + v[2] - 1, yoe = y % 400;
  int64_t off = (int64_t)(v[6] * 60 + v[7]) * (v[8] == 1 ? 60000 : -60000);
  int64_t t = ((int64_t)(y / 400 * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy) - DAY0) * MS_DAY +
              (v[3] * 3600 + v[4] * 60 + v[5]) * 1000LL + f - off;
  for (int k = 1; k < 9; k++)
    if (v[k] > max[k]) return KW_ERR_MALFORMED;
  if (i != n || !v[8] || !v[1] || !v[2] || v[2] > (v[1] == 2 ? 28 + leap : 30 + ((v[1] + (v[1] > 7)) & 1)) ||
      t < MS_MIN || t >= MS_MAX)
    return KW_ERR_MALFORMED;
  *ms = t;
  return 0;
}

/* Canonical lowercase UUID text from 36 characters, or -1. */
static int uuid_canon(const uint8_t *s, int32_t n, char out[37]) {
  for (int i = 0; i < 36; i++) {
    unsigned c = n == 36 ? s[i] : 0, dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : c - '0' > 9 && (c |= 0x20) - 'a' > 5) return -1;
    out[i] = (char)c;
  }
  out[36] = 0;
  return 0;
}

int kw_uuid4(char out[37], uint64_t (*rnd)(void *ud), void *ud) {
  uint8_t b[16];
  /* the library's randomness by default: a simulator's seed decides it too */
  uint64_t x[2] = {rnd ? rnd(ud) : kw_random64(), rnd ? rnd(ud) : kw_random64()};
  memcpy(b, x, 16);
  b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 10 (RFC 9562) */
  for (int i = 0, j = 0; i < 16; i++) {
    if (0x550 >> i & 1) out[j++] = '-';
    out[j++] = "0123456789abcdef"[b[i] >> 4];
    out[j++] = "0123456789abcdef"[b[i] & 15];
  }
  out[36] = 0;
  return 0;
}

/* A payload is one JSON value (trimmed here), read as the decoder reads it inside the
 * envelope (one level deep: duplicate member names are the application's business, as
 * in any nested object) and a little smaller than the defaults allow, so that whatever
 * is encoded decodes again under the defaults. */
static int payload_ok(kw_slice *p) {
  kw_json_limits lim = kw_json_default_limits;
  kw_json_value top;
  lim.max_doc -= 4096;
  if (!p->ptr) *p = (kw_slice){(const uint8_t *)"null", 4};
  if (kw_json_check_nested(p, &lim, &top)) return -1;
  *p = top.raw;
  return 0;
}

static int valid_text(const void *s, size_t n) {
  kw_buf probe;
  kw_buf_init_count(&probe);
  kw_json_write_string(&probe, s, n);
  return !probe.err;
}

/* The envelope, or (src != NULL) a structured CloudEvent. */
static int write_ev(kw_buf *out, const char *src, const char *type, int32_t ver, const char *id,
                    int64_t ts, kw_slice payload, char *id_out) {
  char idb[37], tb[25], mid[192];
  size_t tl = type ? strlen(type) : 0;
  if (!tl || tl > KW_EVENT_TYPE_MAX || !valid_text(type, tl) || ver < 1 || kw_rfc3339_format(ts, tb) ||
      payload_ok(&payload) || (src && (!*src || !valid_text(src, strlen(src)))) ||
      (id && uuid_canon((const uint8_t *)id, (int32_t)strlen(id), idb)))
    return KW_ERR_INVALID_ARG;
  int rc = id ? 0 : kw_uuid4(idb, NULL, NULL);
  if (rc || (rc = out->err)) return rc;
  kw_buf_raw(out, src ? "{\"specversion\":\"1.0\",\"source\":" : "{\"event_type\":", src ? 30 : 14);
  if (src) {
    kw_json_write_string(out, src, strlen(src));
    kw_buf_raw(out, ",\"type\":", 8);
  }
  kw_json_write_string(out, type, tl);
  int k = snprintf(mid, sizeof mid,
                   src ? ",\"eventversion\":%d,\"id\":\"%s\",\"time\":\"%s\",\"datacontenttype\":"
                         "\"application/json\",\"data\":"
                       : ",\"event_version\":%d,\"event_id\":\"%s\",\"timestamp\":\"%s\",\"payload\":",
                   (int)ver, idb, tb);
  kw_buf_raw(out, mid, (size_t)k);
  kw_buf_raw(out, payload.ptr, (size_t)payload.len);
  kw_buf_raw(out, "}", 1);
  if (!out->err && id_out) memcpy(id_out, idb, 37);
  return out->err;
}

int kw_envelope_encode(kw_buf *out, const char *event_type, int32_t event_version,
                       const char *event_id, int64_t timestamp_ms, kw_slice payload_json,
                       char *event_id_out) {
  return write_ev(out, NULL, event_type, event_version, event_id, timestamp_ms, payload_json,
                  event_id_out);
}

int kw_cloudevents_structured_encode(kw_buf *out, const kw_envelope *e, const char *source) {
  return write_ev(out, source ? source : "", e->event_type, e->event_version, e->event_id,
                  e->timestamp_ms, e->payload, NULL);
}

/* Attributes in one order for every decoder; the envelope has the first five. */
enum { A_TYPE, A_VERSION, A_ID, A_TIME, A_PAYLOAD, A_SPEC, A_SOURCE, A_BASE64 };

/* Checks the attribute texts into e: ptr NULL = missing, len < 0 = wrong type. */
static int attrs(kw_envelope *e, const kw_slice *f, const char *const *nm, int ce, char *r, size_t rl) {
  static const char *const msg[] = {"%s must be a non-empty string of at most 255 bytes", "%s must be a positive integer",
                                    "%s must be a UUID string", "%s must be an RFC 3339 timestamp", "",
                                    "%s must be \"1.0\"", "%s must be a non-empty string"};
  for (int i = 0; i < (ce ? 7 : 4); i++) {
    const uint8_t *s = f[i].ptr;
    size_t n = (size_t)f[i].len;
    int64_t x = 0;
    int ok = f[i].len >= 0;
    if (i == A_PAYLOAD || (!s && i == A_VERSION && ce && (e->event_version = 1))) continue; /* CE default */
    if (!s) return why(r, rl, "missing field %s", nm[i]);
    switch (ok ? i : -1) {
    case A_TYPE:
    case A_SOURCE:
      ok = n && (i || n <= KW_EVENT_TYPE_MAX) && !memchr(s, 0, n) && valid_text(s, n);
      if (ok && i == A_TYPE) memmove(e->event_type, s, n), e->event_type[n] = 0;
      break;
    case A_VERSION:
      ok = !kw_json_int(&(kw_json_value){KW_JSON_NUMBER, f[i]}, &x) && x >= 1 && x <= INT32_MAX;
      e->event_version = (int32_t)x;
      break;
    case A_ID:
      ok = !uuid_canon(s, f[i].len, e->event_id);
      break;
    case A_TIME:
      ok = !kw_rfc3339_parse((const char *)s, n, &e->timestamp_ms);
      break;
    case A_SPEC:
      ok = n == 3 && !memcmp(s, "1.0", 3);
    }
    if (!ok) return why(r, rl, msg[i], nm[i]);
  }
  return 0;
}

static int no_room(char *r, size_t rl, const char *name) {
  why(r, rl, "%s does not fit the buffer", name);
  return KW_ERR_BUF_FULL;
}

/* nm: the attribute names, nn of them (5: envelope, 8: CloudEvent). */
static int from_json(kw_slice json, const char *const *nm, int nn, kw_envelope *e, char *src, size_t cap,
                     char *r, size_t rl) {
  char buf[4][64]; /* id, time and specversion each need their own */
  kw_json_value v[8], top;
  kw_json_error je;
  kw_slice f[7];
  int rc = kw_json_scan(&json, NULL, nm, nn, v, &top, &je);
  if (rc) {
    if (r && rl) kw_json_error_text(&je, r, rl);
    return rc;
  }
  if (top.type != KW_JSON_OBJECT) return why(r, rl, "%s", "not a JSON object");
  for (int i = 0; i < 7 && i < nn; i++) {
    const kw_json_value *x = &v[i];
    char *b = i == A_TYPE ? e->event_type : i == A_SOURCE ? src : buf[i & 3];
    size_t len = i == A_TYPE ? sizeof e->event_type : i == A_SOURCE ? cap : sizeof buf[0];
    f[i] = (kw_slice){x->raw.ptr, x->type ? -1 : 0};
    if (i == A_VERSION && x->type == KW_JSON_NUMBER) f[i] = x->raw;
    if (i == A_VERSION || i == A_PAYLOAD || x->type != KW_JSON_STRING) continue;
    f[i] = (kw_slice){x->raw.ptr + 1, x->raw.len - 2}; /* as written, if there's nowhere to unescape to */
    if (!b) continue;
    rc = kw_json_string(x, b, len, &len);
    if (rc && i == A_SOURCE) return no_room(r, rl, nm[i]);
    f[i] = (kw_slice){(const uint8_t *)b, rc ? -1 : (int32_t)len};
  }
  if ((rc = attrs(e, f, nm, nn > 5, r, rl))) return rc;
  if (nn > 5 && v[A_BASE64].type) return why(r, rl, "%s is not supported", nm[A_BASE64]);
  if (!v[A_PAYLOAD].type && nn == 5) return why(r, rl, "missing field %s", nm[A_PAYLOAD]);
  e->payload = v[A_PAYLOAD].type ? v[A_PAYLOAD].raw : (kw_slice){(const uint8_t *)"null", 4};
  return 0;
}

int kw_envelope_decode(kw_slice json, kw_envelope *out, char *reason, size_t reason_len) {
  static const char *const nm[] = {"event_type", "event_version", "event_id", "timestamp", "payload"};
  return from_json(json, nm, 5, out, NULL, 0, reason, reason_len);
}

int kw_cloudevents_structured_decode(kw_slice json, kw_envelope *out, char *source,
                                     size_t source_cap, char *reason, size_t reason_len) {
  static const char *const nm[] = {"type", "eventversion", "id", "time", "data",
                                   "specversion", "source", "data_base64"};
  return from_json(json, nm, 8, out, source, source_cap, reason, reason_len);
}

int kw_cloudevents_to_headers(const kw_envelope *e, const char *source, kw_ce_header out[7],
                              char *scratch, size_t cap) {
  if (!source || !*source || cap < KW_CE_SCRATCH || e->event_version < 1 ||
      kw_rfc3339_format(e->timestamp_ms, scratch))
    return KW_ERR_INVALID_ARG;
  snprintf(scratch + 25, cap - 25, "%d", (int)e->event_version);
  const char *kv[14] = {"ce_specversion", "1.0",      "ce_id",           e->event_id,
                        "ce_source",      source,     "ce_type",         e->event_type,
                        "ce_time",        scratch,    "ce_eventversion", scratch + 25,
                        "content-type",   "application/json"};
  for (int i = 0; i < 14; i++) {
    kw_slice *s = i & 1 ? &out[i / 2].value : &out[i / 2].key;
    *s = (kw_slice){(const uint8_t *)kv[i], (int32_t)strlen(kv[i])};
  }
  return 7;
}

int kw_cloudevents_from_headers(const kw_ce_header *h, int n, kw_slice value,
                                kw_envelope *out, char *source, size_t source_cap,
                                char *reason, size_t reason_len) {
  static const char *const nm[] = {"ce_type", "ce_eventversion", "ce_id", "ce_time", "value",
                                   "ce_specversion", "ce_source"};
  kw_slice f[7] = {{NULL, 0}};
  for (int j = 0; j < n; j++)
    for (int i = 0; i < 7; i++)
      if (i != A_PAYLOAD && h[j].key.len == (int32_t)strlen(nm[i]) && !memcmp(h[j].key.ptr, nm[i], strlen(nm[i]))) {
        if (f[i].ptr) return why(reason, reason_len, "duplicate header %s", nm[i]);
        f[i] = h[j].value.ptr ? h[j].value : (kw_slice){(const uint8_t *)"", -1};
      }
  if (source && f[A_SOURCE].len > 0) {
    if ((size_t)f[A_SOURCE].len >= source_cap) return no_room(reason, reason_len, nm[A_SOURCE]);
    memcpy(source, f[A_SOURCE].ptr, (size_t)f[A_SOURCE].len);
    source[f[A_SOURCE].len] = 0;
  }
  int rc = attrs(out, f, nm, 1, reason, reason_len);
  if (rc) return rc;
  out->payload = value;
  return payload_ok(&out->payload) ? why(reason, reason_len, "%s is not one JSON value", nm[A_PAYLOAD]) : 0;
}
