/* Strict JSON reader and string writer (see kw_json.h). Recursive descent bounded by
 * max_depth. One code-point reader (cp) validates strings, unescapes them and compares
 * member names, so the three cannot disagree. */
#include <stdio.h>
#include <string.h>
#include "kwire/error.h"
#include "event/kw_json.h"

const kw_json_limits kw_json_default_limits = {64, 16u << 20, 1u << 20};

typedef struct cur {
  const uint8_t *s;
  uint32_t i, n, q; /* q: opening quote of the string being read */
  kw_json_error *err;
} cur;

static int fail(cur *c, int code, uint32_t at, const char *what) {
  *c->err = (kw_json_error){code, at, at >= c->n && code == KW_ERR_MALFORMED ? "unexpected end" : what};
  return -2;
}

static int peek(const cur *c) { return c->i < c->n ? c->s[c->i] : -1; }

static int ws(cur *c) {
  int ch;
  while ((ch = peek(c)) == ' ' || ch == '\t' || ch == '\n' || ch == '\r') c->i++;
  return ch;
}

/* Decodes the UTF-8 sequence at s (lead byte >= 0x80) into its length and code point;
 * -1 if ill-formed: overlong, a surrogate, above U+10FFFF, truncated (RFC 3629). */
static int32_t utf8(const uint8_t *s, size_t avail, uint32_t *len) {
  static const int32_t min[] = {0x80, 0x800, 0x10000};
  uint32_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
  int32_t ch = s[0] & (0x7F >> n);
  if (s[0] < 0xC0 || s[0] > 0xF7 || avail < n) return -1;
  for (uint32_t k = 1; k < n; k++) {
    if ((s[k] & 0xC0) != 0x80) return -1;
    ch = ch << 6 | (s[k] & 0x3F);
  }
  *len = n;
  return ch < min[n - 2] || ch > 0x10FFFF || (ch >= 0xD800 && ch < 0xE000) ? -1 : ch;
}

static int32_t hex4(const cur *c, uint32_t at) {
  int32_t v = 0;
  for (uint32_t k = at; k < at + 4; k++) {
    unsigned ch = k < c->n ? c->s[k] | 0x20 : 0; /* digits already have bit 5 */
    unsigned d = ch - '0' < 10 ? ch - '0' : ch - 'a' < 6 ? ch - 'a' + 10 : 99;
    if (d > 15) return -1;
    v = v << 4 | (int32_t)d;
  }
  return v;
}

/* The next code point of a string body: >= 0, -1 at the closing quote (consumed), -2 on error. */
static int32_t cp(cur *c) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  uint32_t at = c->i, n = 1;
  int32_t ch = peek(c);
  const char *err = "control character in string", *m;
  if (ch == '"') return c->i++, -1;
  if (ch < 0) at = c->q, err = "unterminated string";
  if (ch < 0x20) goto bad;
  if (ch == '\\') {
    ch = at + 1 < c->n ? c->s[at + 1] : 0;
    m = ch ? memchr(from, ch, 8) : NULL;
    n = 2;
    err = "invalid escape";
    if (m) {
      ch = to[m - from];
    } else if (ch != 'u' || (ch = hex4(c, at + 2)) < 0) {
      goto bad;
    } else {
      n = 6;
      if (ch >= 0xD800 && ch < 0xDC00 && at + 7 < c->n && c->s[at + 6] == '\\' && c->s[at + 7] == 'u') {
        int32_t lo = hex4(c, at + 8);
        if (lo >= 0xDC00 && lo < 0xE000) ch = 0x10000 + ((ch - 0xD800) << 10) + lo - 0xDC00, n = 12;
      }
      err = "lone surrogate";
      if (ch >= 0xD800 && ch < 0xE000) goto bad;
    }
  } else if (ch >= 0x80 && (ch = utf8(c->s + at, c->n - at, &n)) < 0) {
    err = "invalid UTF-8";
    goto bad;
  }
  c->i += n;
  return ch;
bad:
  return fail(c, KW_ERR_MALFORMED, at, err);
}

static uint32_t utf8_put(uint32_t ch, uint8_t *u) {
  uint32_t n = ch < 0x80 ? 1 : ch < 0x800 ? 2 : ch < 0x10000 ? 3 : 4;
  for (uint32_t i = n - 1; i > 0; i--, ch >>= 6) u[i] = (uint8_t)(0x80 | (ch & 0x3F));
  u[0] = (uint8_t)(n == 1 ? ch : (0xF00u >> n) | ch);
  return n;
}

/* Skips printable ASCII other than '"' and '\\': characters that stand for themselves. */
static uint32_t plain(const cur *c, uint32_t i) {
  while (i < c->n && c->s[i] >= 0x20 && c->s[i] < 0x80 && c->s[i] != '"' && c->s[i] != '\\') i++;
  return i;
}

static int str(cur *c, uint32_t max) {
  int32_t ch;
  c->q = c->i++;
  do c->i = plain(c, c->i);
  while ((ch = cp(c)) >= 0);
  return ch < -1 ? -2 : c->i - c->q - 2 > max ? fail(c, KW_ERR_TOO_LARGE, c->q, "string too long") : 0;
}

/* Key a equals key b (cursors just past their quotes) or, if m, the C string m. */
static int key_eq(cur a, cur b, const char *m) {
  int32_t x, y;
  uint8_t u[4];
  for (;; a.i++, m ? (void)m++ : (void)b.i++) { /* equal bytes up to an escape are equal text */
    int ca = a.s[a.i], cb = m ? (uint8_t)*m : b.s[b.i];
    if (ca == '\\' || (!m && cb == '\\')) break;
    if (ca == '"' || ca != cb) return ca == '"' && (m ? !cb : cb == '"');
  }
  do {
    x = cp(&a);
    if (!m) {
      y = cp(&b);
      continue;
    }
    if (x <= 0) return x < 0 && !*m; /* a NUL never matches a C string */
    uint32_t n = utf8_put((uint32_t)x, u);
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

typedef struct parser {
  cur c;
  const kw_json_limits *lim;
  const char *const *names;
  int nnames;
  uint32_t nkeys;
  kw_json_value *out;
  uint32_t keys[KW_JSON_MAX_MEMBERS]; /* top-level keys' opening quotes */
} parser;

/* A top-level key read at k: the index of the name it matches, -1 if none, -2 on error. */
static int top_key(parser *p, uint32_t k) {
  cur *c = &p->c, key = {c->s, k + 1, c->i, k, c->err};
  int match = -1;
  if (p->nkeys == KW_JSON_MAX_MEMBERS) return fail(c, KW_ERR_TOO_LARGE, k, "too many members");
  for (uint32_t j = 0; j < p->nkeys; j++)
    if (key_eq(key, (cur){c->s, p->keys[j] + 1, c->n, 0, c->err}, NULL)) return fail(c, KW_ERR_MALFORMED, k, "duplicate member");
  p->keys[p->nkeys++] = k;
  for (int j = 0; j < p->nnames; j++)
    if (key_eq(key, key, p->names[j])) match = j;
  return match;
}

static int val(parser *p, uint32_t depth, kw_json_value *v) {
  cur *c = &p->c;
  int ch = ws(c), close = ch + 2, code = KW_ERR_TOO_LARGE; /* '{' + 2 == '}', '[' + 2 == ']' */
  uint32_t at = c->i, start = at;
  const char *err = "nesting too deep";
  kw_json_type t = ch == '{' ? KW_JSON_OBJECT : ch == '[' ? KW_JSON_ARRAY : ch == '"' ? KW_JSON_STRING
                 : ch == 't' ? KW_JSON_TRUE : ch == 'f' ? KW_JSON_FALSE : ch == 'n' ? KW_JSON_NULL : KW_JSON_NUMBER;
  if (t <= KW_JSON_ARRAY) {
    if (depth >= p->lim->max_depth) goto bad;
    code = KW_ERR_MALFORMED;
    c->i++;
    if (ws(c) == close) ch = c->s[c->i++];
    while (ch != close) {
      int match = -1;
      kw_json_value x;
      if (t == KW_JSON_OBJECT) {
        at = (ws(c), c->i);
        err = "member name expected";
        if (peek(c) != '"') goto bad;
        if (str(c, p->lim->max_string) || (depth == 0 && (match = top_key(p, at)) < -1)) return -2;
        at = (ws(c), c->i);
        err = "':' expected";
        if (peek(c) != ':') goto bad;
        c->i++;
      }
      if (val(p, depth + 1, &x)) return -2;
      if (match >= 0) p->out[match] = x;
      ch = ws(c);
      at = c->i++;
      err = "',' or closing bracket expected";
      if (ch != close && ch != ',') goto bad;
    }
  } else if (t == KW_JSON_STRING) {
    if (str(c, p->lim->max_string)) return -2;
  } else {
    code = KW_ERR_MALFORMED;
    err = "value expected";
    if (t != KW_JSON_NUMBER) {
      const char *w = &"true\0false\0null"[(t - KW_JSON_TRUE) * 5 + (t == KW_JSON_NULL)];
      size_t n = strlen(w);
      if (c->n - at < n || memcmp(c->s + at, w, n)) goto bad;
      c->i += (uint32_t)n;
    } else {
      c->i += ch == '-';
      if (peek(c) == '0') c->i++, err = (unsigned)(peek(c) - '0') < 10 ? "leading zero" : NULL;
      else if (digits(c)) err = NULL;
      if (!err && peek(c) == '.' && (c->i++, !digits(c))) err = "invalid number";
      if (!err && (peek(c) | 0x20) == 'e') {
        c->i++;
        c->i += peek(c) == '+' || peek(c) == '-';
        if (!digits(c)) err = "invalid number";
      }
      if (err) goto bad;
    }
  }
  *v = (kw_json_value){t, {c->s + start, (int32_t)(c->i - start)}};
  return 0;
bad:
  return fail(c, code, at, err);
}

/* depth0 1: doc is read as a value nested in another document (see kw_json_check_nested). */
static int scan(const kw_slice *doc, const kw_json_limits *limits, const char *const *names, int n,
                kw_json_value *out, kw_json_value *top, kw_json_error *err, uint32_t depth0) {
  kw_json_error dummy;
  kw_json_value v;
  parser p = {{doc->ptr ? doc->ptr : (const uint8_t *)"", 0, doc->ptr && doc->len > 0 ? (uint32_t)doc->len : 0, 0,
               err ? err : &dummy},
              limits ? limits : &kw_json_default_limits, names, n, 0, out, {0}};
  *p.c.err = (kw_json_error){0, 0, NULL};
  for (int i = 0; i < n; i++) out[i] = (kw_json_value){KW_JSON_NONE, {NULL, 0}};
  if (p.c.n > p.lim->max_doc) fail(&p.c, KW_ERR_TOO_LARGE, 0, "document too large");
  else if (!val(&p, depth0, &v) && ws(&p.c) >= 0) fail(&p.c, KW_ERR_MALFORMED, p.c.i, "trailing characters");
  else if (top && !p.c.err->code) *top = v;
  return p.c.err->code;
}

int kw_json_scan(const kw_slice *doc, const kw_json_limits *limits, const char *const *names,
                 int n, kw_json_value *out, kw_json_value *top, kw_json_error *err) {
  return scan(doc, limits, names, n, out, top, err, 0);
}

int kw_json_check_nested(const kw_slice *doc, const kw_json_limits *limits, kw_json_value *top) {
  return scan(doc, limits, NULL, 0, NULL, top, NULL, 1);
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
  uint8_t u[4];
  if (v->type != KW_JSON_STRING) return KW_ERR_INVALID_ARG;
  for (;;) {
    uint32_t run = plain(&c, c.i) - c.i, k;
    if (n + run >= cap) return KW_ERR_BUF_FULL;
    memcpy(buf + n, c.s + c.i, run);
    n += run;
    c.i += run;
    if ((ch = cp(&c)) < 0) break;
    k = utf8_put((uint32_t)ch, u);
    if (n + k >= cap) return KW_ERR_BUF_FULL;
    memcpy(buf + n, u, k);
    n += k;
  }
  if (ch < -1 || !cap) return ch < -1 ? KW_ERR_MALFORMED : KW_ERR_BUF_FULL;
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
  static const char hex[] = "0123456789abcdef";
  const uint8_t *p = (const uint8_t *)str, *e = p + n, *q;
  uint32_t k = 1;
  kw_buf_raw(b, "\"", 1);
  for (;; p = q + 1) {
    for (q = p; q < e && *q >= 0x20 && *q != '"' && *q != '\\' && (*q < 0x80 || utf8(q, (size_t)(e - q), &k) >= 0);)
      q += *q < 0x80 ? 1 : k; /* a run written as it is */
    kw_buf_raw(b, p, (size_t)(q - p));
    if (q == e) break;
    if (*q >= 0x80) {
      if (!b->err) b->err = KW_ERR_INVALID_ARG;
      return;
    }
    char esc[6] = {'\\', *q < 0x20 ? 'u' : (char)*q, '0', '0', hex[*q >> 4 & 1], hex[*q & 15]};
    kw_buf_raw(b, esc, *q < 0x20 ? 6 : 2);
  }
  kw_buf_raw(b, "\"", 1);
}
