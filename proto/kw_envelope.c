/* Event envelope and CloudEvents mapping (see kw_envelope.h). */
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_envelope.h"
#include "proto/kw_json.h"

#define MS_DAY 86400000LL
#define MS_MIN (-719528LL * MS_DAY) /* 0000-01-01T00:00:00Z */
#define MS_MAX (2932897LL * MS_DAY) /* 10000-01-01T00:00:00Z */

static int why(char *r, size_t rl, const char *fmt, const char *name) {
  if (r && rl) snprintf(r, rl, fmt, name);
  return KW_ERR_MALFORMED;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400), doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

int kw_rfc3339_format(int64_t ms, char out[25]) {
  static const uint8_t end[7] = {4, 7, 10, 13, 16, 19, 23};
  if (ms < MS_MIN || ms >= MS_MAX) return KW_ERR_INVALID_ARG;
  int64_t z = ms / MS_DAY + 719468, r = ms % MS_DAY; /* z: days since 0000-03-01 */
  if (r < 0) r += MS_DAY, z--;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097), yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  int64_t v[7] = {era * 400 + yoe + (m <= 2), m, doy - (153 * mp + 2) / 5 + 1, r / 3600000,
                  r / 60000 % 60, r / 1000 % 60, r % 1000};
  memcpy(out, "0000-00-00T00:00:00.000Z", 25);
  for (int i = 0; i < 7; i++)
    for (char *p = out + end[i]; v[i]; v[i] /= 10) *--p = (char)('0' + v[i] % 10);
  return 0;
}

/* Digits ('d') and separators ('t' matches T or t) of a fixed pattern; each separator moves
 * to the next value. */
static int pattern(const char *s, size_t n, const char *pat, int64_t *v) {
  for (size_t i = 0; pat[i]; i++) {
    unsigned c = i < n ? (uint8_t)s[i] : 0, d = c - '0';
    if (pat[i] == 'd' ? d > 9 : (pat[i] == 't' ? c | 0x20 : c) != (uint8_t)pat[i]) return -1;
    if (pat[i] == 'd') *v = *v * 10 + d;
    else v++;
  }
  return 0;
}

int kw_rfc3339_parse(const char *s, size_t n, int64_t *ms) {
  static const uint8_t max[8] = {99, 12, 31, 23, 59, 60, 23, 59};
  int64_t v[8] = {0}, f = 0, sign = 0; /* year month day hour minute second, offset hour minute */
  size_t i = 19, start = 20;
  if (pattern(s, n, "dddd-dd-ddtdd:dd:dd", v)) return KW_ERR_MALFORMED;
  if (i < n && s[i] == '.') {
    for (i = start; i < n && (unsigned)(s[i] - '0') < 10; i++)
      if (i - start < 3) f = f * 10 + (s[i] - '0');
    if (i == start) return KW_ERR_MALFORMED;
  }
  for (size_t k = i - 19; k < 4; k++) f *= 10; /* to milliseconds (f is 0 without a fraction) */
  if (i < n && (s[i] | 0x20) == 'z') {
    i++;
    sign = 2; /* UTC; 0 = no zone yet */
  } else if (i < n && (s[i] == '+' || s[i] == '-') && !pattern(s + i + 1, n - i - 1, "dd:dd", v + 6)) {
    sign = s[i] == '+' ? 1 : -1;
    i += 6;
  }
  unsigned leap = v[0] % 4 == 0 && (v[0] % 100 || v[0] % 400 == 0);
  int64_t dim = v[1] == 2 ? 28 + leap : 30 + ((v[1] + (v[1] > 7)) & 1);
  for (int k = 1; k < 8; k++)
    if (v[k] > max[k]) return KW_ERR_MALFORMED;
  int64_t t = (((days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 24 + v[3]) * 60 + v[4] -
                sign % 2 * (v[6] * 60 + v[7])) * 60 + v[5]) * 1000 + f;
  if (i != n || !sign || !v[1] || !v[2] || v[2] > dim || t < MS_MIN || t >= MS_MAX) return KW_ERR_MALFORMED;
  *ms = t;
  return 0;
}

static int uuid_canon(const uint8_t *s, int32_t n, char out[37]) {
  if (n != 36) return -1;
  for (int i = 0; i < 36; i++) {
    unsigned c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return -1;
    } else if (c - '0' > 9 && (c |= 0x20) - 'a' > 5) {
      return -1;
    }
    out[i] = (char)c;
  }
  out[36] = 0;
  return 0;
}

int kw_uuid4(char out[37], uint64_t (*rnd)(void *ud), void *ud) {
  uint8_t b[16];
  if (rnd) {
    uint64_t x[2] = {rnd(ud), rnd(ud)};
    for (int i = 0; i < 16; i++) b[i] = (uint8_t)(x[i / 8] >> (i % 8 * 8));
  } else {
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = 0;
    if (f) {
      setvbuf(f, NULL, _IONBF, 0);
      got = fread(b, 1, 16, f);
      fclose(f);
    }
    if (got != 16) return KW_ERR_IO;
  }
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

/* A payload is one JSON value (trimmed here) one level shallower and a little smaller than
 * the defaults allow, so that whatever is encoded decodes again under the defaults. */
static int payload_ok(kw_slice *p) {
  kw_json_limits lim = kw_json_default_limits;
  kw_json_value top;
  lim.max_depth--;
  lim.max_doc -= 4096;
  if (!p->ptr) *p = (kw_slice){(const uint8_t *)"null", 4};
  if (kw_json_scan(p, &lim, NULL, 0, NULL, &top, NULL)) return -1;
  *p = top.raw;
  return 0;
}

static int valid_text(const char *s, size_t n) {
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
  if (src) {
    kw_buf_raw(out, "{\"specversion\":\"1.0\",\"source\":", 30);
    kw_json_write_string(out, src, strlen(src));
    kw_buf_raw(out, ",\"type\":", 8);
  } else {
    kw_buf_raw(out, "{\"event_type\":", 14);
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

/* Checks the attribute texts (ptr NULL = missing, len < 0 = wrong JSON type) into e. */
static int attrs(kw_envelope *e, const kw_slice *f, const char *const *nm, int ce, char *r, size_t rl) {
  static const char *const msg[] = {"%s must be a string of 1 to 255 bytes", "%s must be a positive integer",
                                    "%s must be a UUID string", "%s must be an RFC 3339 timestamp", "",
                                    "%s must be \"1.0\"", "%s must be a non-empty string"};
  for (int i = 0; i < (ce ? 7 : 4); i++) {
    kw_slice s = f[i];
    size_t n = (size_t)s.len;
    int64_t x = 0;
    int ok = s.len >= 0;
    if (i == A_PAYLOAD) continue;
    if (!s.ptr && i == A_VERSION && ce) {
      e->event_version = 1; /* a CloudEvent without the extension */
      continue;
    }
    if (!s.ptr) return why(r, rl, "missing field %s", nm[i]);
    if (ok && (i == A_TYPE || i == A_SOURCE))
      ok = n && (i || n <= KW_EVENT_TYPE_MAX) && !memchr(s.ptr, 0, n) && valid_text((const char *)s.ptr, n);
    if (ok && i == A_TYPE) memmove(e->event_type, s.ptr, n), e->event_type[n] = 0;
    if (ok && i == A_VERSION) {
      kw_json_value v = {KW_JSON_NUMBER, s};
      ok = !kw_json_int(&v, &x) && x >= 1 && x <= INT32_MAX;
      e->event_version = (int32_t)x;
    }
    if (ok && i == A_ID) ok = !uuid_canon(s.ptr, s.len, e->event_id);
    if (ok && i == A_TIME) ok = !kw_rfc3339_parse((const char *)s.ptr, n, &e->timestamp_ms);
    if (ok && i == A_SPEC) ok = n == 3 && !memcmp(s.ptr, "1.0", 3);
    if (!ok) return why(r, rl, msg[i], nm[i]);
  }
  return 0;
}

static int no_room(char *r, size_t rl, const char *name) {
  why(r, rl, "%s does not fit the buffer", name);
  return KW_ERR_BUF_FULL;
}

static int from_json(kw_slice json, const char *const *nm, int nn, kw_envelope *e, char *src, size_t cap,
                     char *r, size_t rl) {
  char buf[2][64];
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
    char *b = i == A_TYPE ? e->event_type : i == A_SOURCE ? src : buf[i & 1];
    size_t len = i == A_TYPE ? sizeof e->event_type : i == A_SOURCE ? cap : sizeof buf[0];
    f[i] = (kw_slice){x->raw.ptr, x->type == (i == A_VERSION ? KW_JSON_NUMBER : KW_JSON_STRING) ? x->raw.len
                                  : x->type                                                   ? -1
                                                                                              : 0};
    if (f[i].len <= 0 || i == A_VERSION || i == A_PAYLOAD) continue;
    if (i == A_SPEC || !b) { /* compared or checked as written */
      f[i] = (kw_slice){x->raw.ptr + 1, x->raw.len - 2};
      continue;
    }
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

int kw_cloudevents_to_headers(const kw_envelope *e, const char *source, kw_record_header out[7],
                              char *scratch, size_t cap) {
  if (!source || !*source || cap < KW_CE_SCRATCH || e->event_version < 1 ||
      kw_rfc3339_format(e->timestamp_ms, scratch))
    return KW_ERR_INVALID_ARG;
  snprintf(scratch + 25, cap - 25, "%d", (int)e->event_version);
  const char *kv[14] = {"ce_specversion", "1.0",      "ce_id",           e->event_id,
                        "ce_source",      source,     "ce_type",         e->event_type,
                        "ce_time",        scratch,    "ce_eventversion", scratch + 25,
                        "content-type",   "application/json"};
  for (int i = 0; i < 7; i++)
    out[i] = (kw_record_header){{(const uint8_t *)kv[2 * i], (int32_t)strlen(kv[2 * i])},
                                {(const uint8_t *)kv[2 * i + 1], (int32_t)strlen(kv[2 * i + 1])}};
  return 7;
}

int kw_cloudevents_from_headers(const kw_record_header *h, int n, kw_slice value,
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
