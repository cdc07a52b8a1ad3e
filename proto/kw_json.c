/* Strict JSON reader and string writer (see kw_json.h). Recursive descent bounded by
 * max_depth. One code-point reader (cp) validates strings, unescapes them and compares
 * member names, so the three cannot disagree. */
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_json.h"

const kw_json_limits kw_json_default_limits = {64, 16u << 20, 1u << 20};

typedef struct cur {
  const uint8_t *s;
  uint32_t i, n, q; /* q: opening quote of the string being read */
  kw_json_error *err;
} cur;

typedef struct parser {
  cur c;
  const kw_json_limits *lim;
  const char *const *names;
  int nnames;
  uint32_t nkeys;
  kw_json_value *out;
  uint32_t keys[KW_JSON_MAX_MEMBERS]; /* top-level keys' opening quotes */
} parser;

static int fail(cur *c, int code, uint32_t at, const char *what) {
  *c->err = (kw_json_error){code, at, at >= c->n && code == KW_ERR_MALFORMED ? "unexpected end" : what};
  return -2;
}

static int peek(const cur *c) { return c->i < c->n ? c->s[c->i] : -1; }

static int ws(cur *c) {
  while (peek(c) == ' ' || peek(c) == '\t' || peek(c) == '\n' || peek(c) == '\r') c->i++;
  return peek(c);
}

/* Length of the well-formed UTF-8 sequence at s (lead byte >= 0x80), 0 if none (RFC 3629). */
static unsigned utf8_len(const uint8_t *s, size_t avail) {
  unsigned c = s[0], n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
  if (c < 0xC2 || c > 0xF4 || avail < n || s[1] < lo || s[1] > hi) return 0; /* overlong, surrogate, > U+10FFFF */
  for (unsigned i = 2; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return n;
}

static int32_t hex4(const cur *c, uint32_t at) {
  int32_t v = 0;
  for (uint32_t k = at; k < at + 4; k++) {
    unsigned ch = k < c->n ? c->s[k] : 0, d = ch - '0', l = (ch | 0x20) - 'a';
    d = d < 10 ? d : l < 6 ? l + 10 : 99;
    if (d > 15) return -1;
    v = v << 4 | (int32_t)d;
  }
  return v;
}

/* The next code point of a string body: >= 0, -1 at the closing quote (consumed), -2 on error. */
static int32_t cp(cur *c) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  uint32_t at = c->i;
  int32_t ch = peek(c);
  if (ch == '"') return c->i++, -1;
  if (ch < 0) return fail(c, KW_ERR_MALFORMED, c->q, "unterminated string");
  if (ch < 0x20) return fail(c, KW_ERR_MALFORMED, at, "control character in string");
  if (ch == '\\') {
    int e = at + 1 < c->n ? c->s[at + 1] : 0;
    const char *m = e ? memchr(from, e, 8) : NULL;
    c->i += 2;
    if (m) return (uint8_t)to[m - from];
    if (e != 'u' || (ch = hex4(c, at + 2)) < 0) return fail(c, KW_ERR_MALFORMED, at, "invalid escape");
    c->i += 4;
    if (ch >= 0xD800 && ch < 0xDC00 && peek(c) == '\\' && c->i + 1 < c->n && c->s[c->i + 1] == 'u') {
      int32_t lo = hex4(c, c->i + 2);
      if (lo >= 0xDC00 && lo < 0xE000) ch = 0x10000 + ((ch - 0xD800) << 10) + lo - 0xDC00, c->i += 6;
    }
    return ch >= 0xD800 && ch < 0xE000 ? fail(c, KW_ERR_MALFORMED, at, "lone surrogate") : ch;
  }
  unsigned n = ch < 0x80 ? 1 : utf8_len(c->s + at, c->n - at);
  if (!n) return fail(c, KW_ERR_MALFORMED, at, "invalid UTF-8");
  if (n > 1) ch &= 0x7F >> n;
  for (unsigned k = 1; k < n; k++) ch = ch << 6 | (c->s[at + k] & 0x3F);
  c->i += n;
  return ch;
}

static unsigned utf8_put(uint32_t ch, uint8_t *u) {
  unsigned n = ch < 0x80 ? 1 : ch < 0x800 ? 2 : ch < 0x10000 ? 3 : 4;
  for (unsigned i = n - 1; i > 0; i--, ch >>= 6) u[i] = (uint8_t)(0x80 | (ch & 0x3F));
  u[0] = (uint8_t)(n == 1 ? ch : (0xF00u >> n) | ch);
  return n;
}

static int str(parser *p, const kw_json_limits *lim) {
  cur *c = &p->c;
  int32_t ch;
  c->q = c->i++;
  do { /* plain ASCII runs need no decoding */
    while (c->i < c->n && c->s[c->i] >= 0x20 && c->s[c->i] < 0x80 && c->s[c->i] != '"' && c->s[c->i] != '\\') c->i++;
  } while ((ch = cp(c)) >= 0);
  if (ch < -1) return -2;
  return c->i - c->q - 2 > lim->max_string ? fail(c, KW_ERR_TOO_LARGE, c->q, "string too long") : 0;
}

/* Key a equals key b (cursors just past their quotes) or, if m, the C string m. */
static int key_eq(cur a, cur b, const char *m) {
  int32_t x, y;
  uint8_t u[4];
  do {
    x = cp(&a);
    if (!m) {
      y = cp(&b);
      continue;
    }
    if (x <= 0) return x < 0 && !*m; /* a NUL never matches a C string */
    unsigned n = utf8_put((uint32_t)x, u);
    if (strncmp(m, (const char *)u, n)) return 0;
    m += n;
    y = x;
  } while (x == y && x >= 0);
  return x == y;
}

static int digits(cur *c) {
  uint32_t start = c->i;
  while ((unsigned)(peek(c) - '0') < 10) c->i++;
  return c->i > start;
}

static int num(cur *c) {
  uint32_t at = c->i;
  c->i += peek(c) == '-';
  if (peek(c) == '0') {
    c->i++;
    if (digits(c)) return fail(c, KW_ERR_MALFORMED, at, "leading zero");
  } else if (!digits(c)) {
    return fail(c, KW_ERR_MALFORMED, at, "invalid number");
  }
  if (peek(c) == '.' && (c->i++, !digits(c))) return fail(c, KW_ERR_MALFORMED, c->i, "invalid number");
  if ((peek(c) | 0x20) == 'e') {
    c->i++;
    c->i += peek(c) == '+' || peek(c) == '-';
    if (!digits(c)) return fail(c, KW_ERR_MALFORMED, c->i, "invalid number");
  }
  return 0;
}

static int val(parser *p, uint32_t depth, kw_json_value *v) {
  cur *c = &p->c;
  int ch = ws(c), close = ch + 2; /* '{' + 2 == '}', '[' + 2 == ']' */
  uint32_t at = c->i;
  kw_json_type t = KW_JSON_STRING;
  if (ch == '{' || ch == '[') {
    if (depth >= p->lim->max_depth) return fail(c, KW_ERR_TOO_LARGE, at, "nesting too deep");
    t = ch == '{' ? KW_JSON_OBJECT : KW_JSON_ARRAY;
    c->i++;
    if (ws(c) == close) {
      c->i++;
    } else {
      for (;;) {
        int match = -1;
        kw_json_value x;
        if (t == KW_JSON_OBJECT) {
          if (ws(c) != '"') return fail(c, KW_ERR_MALFORMED, c->i, "member name expected");
          uint32_t k = c->i;
          if (str(p, p->lim)) return -2;
          if (depth == 0) {
            cur key = {c->s, k + 1, c->i, k, c->err};
            if (p->nkeys == KW_JSON_MAX_MEMBERS) return fail(c, KW_ERR_TOO_LARGE, k, "too many members");
            for (uint32_t j = 0; j < p->nkeys; j++)
              if (key_eq(key, (cur){c->s, p->keys[j] + 1, c->n, 0, c->err}, NULL))
                return fail(c, KW_ERR_MALFORMED, k, "duplicate member");
            p->keys[p->nkeys++] = k;
            for (int j = 0; j < p->nnames; j++)
              if (key_eq(key, key, p->names[j])) match = j;
          }
          if (ws(c) != ':') return fail(c, KW_ERR_MALFORMED, c->i, "':' expected");
          c->i++;
        }
        if (val(p, depth + 1, &x)) return -2;
        if (match >= 0) p->out[match] = x;
        ch = ws(c);
        c->i++;
        if (ch == close) break;
        if (ch != ',') return fail(c, KW_ERR_MALFORMED, c->i - 1, "',' or closing bracket expected");
      }
    }
  } else if (ch == '"') {
    if (str(p, p->lim)) return -2;
  } else if (ch == '-' || (unsigned)(ch - '0') < 10) {
    if (num(c)) return -2;
    t = KW_JSON_NUMBER;
  } else {
    const char *w = ch == 't' ? "true" : ch == 'f' ? "false" : "null";
    size_t n = strlen(w);
    t = ch == 't' ? KW_JSON_TRUE : ch == 'f' ? KW_JSON_FALSE : KW_JSON_NULL;
    if (c->n - at < n || memcmp(c->s + at, w, n)) return fail(c, KW_ERR_MALFORMED, at, "value expected");
    c->i += (uint32_t)n;
  }
  *v = (kw_json_value){t, {c->s + at, (int32_t)(c->i - at)}};
  return 0;
}

int kw_json_scan(const kw_slice *doc, const kw_json_limits *limits, const char *const *names,
                 int n, kw_json_value *out, kw_json_value *top, kw_json_error *err) {
  kw_json_error dummy;
  kw_json_value v;
  parser p = {{doc->ptr ? doc->ptr : (const uint8_t *)"", 0, doc->ptr && doc->len > 0 ? (uint32_t)doc->len : 0, 0,
               err ? err : &dummy},
              limits ? limits : &kw_json_default_limits, names, n, 0, out, {0}};
  *p.c.err = (kw_json_error){0, 0, NULL};
  for (int i = 0; i < n; i++) out[i] = (kw_json_value){KW_JSON_NONE, {NULL, 0}};
  if (p.c.n > p.lim->max_doc) fail(&p.c, KW_ERR_TOO_LARGE, 0, "document too large");
  else if (!val(&p, 0, &v) && ws(&p.c) >= 0) fail(&p.c, KW_ERR_MALFORMED, p.c.i, "trailing characters");
  else if (top && !p.c.err->code) *top = v;
  return p.c.err->code;
}

int kw_json_get(const kw_slice *doc, const char *member, kw_json_value *out) {
  return kw_json_scan(doc, NULL, &member, 1, out, NULL, NULL);
}

void kw_json_error_text(const kw_json_error *e, char *buf, size_t cap) {
  if (cap) snprintf(buf, cap, "%s at byte %lu", e->what ? e->what : "ok", (unsigned long)e->offset);
}

int kw_json_string(const kw_json_value *v, char *buf, size_t cap, size_t *len) {
  kw_json_error e;
  cur c = {v->raw.ptr, 1, v->raw.len > 0 ? (uint32_t)v->raw.len : 0, 0, &e};
  size_t n = 0;
  int32_t ch;
  if (v->type != KW_JSON_STRING) return KW_ERR_INVALID_ARG;
  while ((ch = cp(&c)) >= 0) {
    uint8_t u[4];
    unsigned k = utf8_put((uint32_t)ch, u);
    if (n + k >= cap) return KW_ERR_BUF_FULL;
    memcpy(buf + n, u, k);
    n += k;
  }
  if (ch < -1) return KW_ERR_MALFORMED;
  if (!cap) return KW_ERR_BUF_FULL;
  buf[n] = 0;
  if (len) *len = n;
  return 0;
}

int kw_json_int(const kw_json_value *v, int64_t *out) {
  const uint8_t *s = v->raw.ptr, *e = s + v->raw.len;
  int neg = v->raw.len > 0 && *s == '-', big = 0;
  uint64_t x = 0, max = (uint64_t)INT64_MAX + (uint64_t)neg;
  if (v->type != KW_JSON_NUMBER || !s || v->raw.len <= neg) return KW_ERR_MALFORMED;
  for (s += neg; s < e; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (d > 9) return KW_ERR_MALFORMED;
    big |= x > (max - d) / 10;
    x = x * 10 + d;
  }
  if (big) return KW_ERR_TOO_LARGE;
  *out = neg ? -(int64_t)(x - !!x) - !!x : (int64_t)x; /* -2^63 without overflow */
  return 0;
}

void kw_json_write_string(kw_buf *b, const char *str, size_t n) {
  static const char special[] = "\"\\\b\f\n\r\t", short_esc[] = "\"\\bfnrt", hex[] = "0123456789abcdef";
  const uint8_t *p = (const uint8_t *)str, *e = p + n;
  kw_buf_raw(b, "\"", 1);
  while (p < e) {
    unsigned c = *p, k = c < 0x80 ? 1 : utf8_len(p, (size_t)(e - p));
    const char *m = c ? memchr(special, (int)c, 7) : NULL;
    char esc[6] = {'\\', m ? short_esc[m - special] : 'u', '0', '0', hex[c >> 4 & 15], hex[c & 15]};
    if (!k && !b->err) b->err = KW_ERR_INVALID_ARG;
    if (!k) return;
    if (c < 0x20 || m) kw_buf_raw(b, esc, m ? 2 : 6);
    else kw_buf_raw(b, p, k);
    p += k;
  }
  kw_buf_raw(b, "\"", 1);
}
