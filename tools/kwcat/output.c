/* kwcat's message output, for -C and -G: kcat's -f format string, its default ("%s"
 * and -D, or "%k", -K, "%s" and -D) and its -J envelope, written with stdio straight
 * from the fetched batches; and kcat's wording of Kafka errors. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwcat.h"

enum tok_type { T_STR, T_OFFSET, T_KEY, T_KEY_LEN, T_VALUE, T_VALUE_LEN, T_VALUE_LEN_BIN, T_TOPIC, T_PARTITION, T_TS, T_HEADERS };

struct kwcat_tok {
  enum tok_type type;
  char *str; /* T_STR */
  size_t len;
};
typedef struct kwcat_tok tok;

const char *kwcat_kerr_text(int16_t code) {
  static char buf[128];
  const char *name = kw_kerr_name(code);
  size_t i = 0;
  for (; name[i] && i < sizeof buf - 1; i++) {
    char c = name[i] == '_' ? ' ' : name[i];
    buf[i] = (char)(i == 0 ? c : (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  buf[i] = 0;
  return buf;
}

/* ---- -f: kcat's format string ---- */

static void add_tok(kwcat_fmt *cs, enum tok_type type, const char *str, size_t len) {
  tok *t = realloc(cs->toks, sizeof *t * (size_t)(cs->n_toks + 1));
  if (!t) kwcat_fatal("out of memory");
  cs->toks = t;
  t = &cs->toks[cs->n_toks++];
  t->type = type;
  t->str = NULL;
  t->len = 0;
  if (type != T_STR) return;
  /* kcat's escapes in literal text: \t \n \r, \x<hex> and \<number> (decimal, 0-octal,
   * 0x-hex: strtoul base 0) when a digit follows, otherwise the character itself. */
  char *d = malloc(len + 1);
  if (!d) kwcat_fatal("out of memory");
  t->str = d;
  const char *s = str, *end = str + len;
  while (s < end) {
    if (*s == '\\' && s + 1 < end) {
      s++;
      int base = 0;
      switch (*s) {
      case 't': *d = '\t'; break;
      case 'n': *d = '\n'; break;
      case 'r': *d = '\r'; break;
      case 'x':
        if (s + 1 == end) { /* a trailing "\x": nothing to convert */
          *d = 'x';
          break;
        }
        s++;
        base = 16;
        /* fall through */
      default:
        if (*s >= '0' && *s <= '9') {
          char num[32];
          size_t n = (size_t)(end - s) < sizeof num - 1 ? (size_t)(end - s) : sizeof num - 1;
          memcpy(num, s, n);
          num[n] = 0;
          char *next;
          *d = (char)strtoul(num, &next, base);
          if (next > num) s += (next - num) - 1;
        } else {
          *d = *s;
        }
        break;
      }
    } else {
      *d = *s;
    }
    s++;
    d++;
  }
  t->len = (size_t)(d - t->str);
}

static void parse_format(kwcat_fmt *cs, const char *fmt) {
  const char *s = fmt, *t;
  while (*s) {
    if (!(t = strchr(s, '%'))) {
      add_tok(cs, T_STR, s, strlen(s));
      break;
    }
    if (t > s) add_tok(cs, T_STR, s, (size_t)(t - s));
    s = t + 1;
    switch (*s) {
    case 'o': add_tok(cs, T_OFFSET, NULL, 0); break;
    case 'k': add_tok(cs, T_KEY, NULL, 0); break;
    case 'K': add_tok(cs, T_KEY_LEN, NULL, 0); break;
    case 's': add_tok(cs, T_VALUE, NULL, 0); break;
    case 'S': add_tok(cs, T_VALUE_LEN, NULL, 0); break;
    case 'R': add_tok(cs, T_VALUE_LEN_BIN, NULL, 0); break;
    case 't': add_tok(cs, T_TOPIC, NULL, 0); break;
    case 'p': add_tok(cs, T_PARTITION, NULL, 0); break;
    case 'T': add_tok(cs, T_TS, NULL, 0); break;
    case 'h': add_tok(cs, T_HEADERS, NULL, 0); break;
    case '%': add_tok(cs, T_STR, s, 1); break;
    case '\0': kwcat_fatal("Empty formatter");
    default: kwcat_fatal("Unsupported formatter: %%%c", *s);
    }
    s++;
  }
}

/* The default format: the value (after the key and -K when given) and -D, taken as they
 * are (kcat pastes them into a format string, so a '%' in them would be a formatter). */
static void default_format(kwcat_fmt *cs) {
  const kwcat_opts *o = cs->o;
  tok *t = calloc(4, sizeof *t);
  if (!t) kwcat_fatal("out of memory");
  cs->toks = t;
  if (o->key_delim) {
    t[cs->n_toks++].type = T_KEY;
    t[cs->n_toks++] = (tok){T_STR, NULL, 0};
    t[cs->n_toks - 1].str = o->key_delim;
    t[cs->n_toks - 1].len = o->key_delim_len;
  }
  t[cs->n_toks++].type = T_VALUE;
  t[cs->n_toks++] = (tok){T_STR, o->delim, o->delim_len};
}

/* ---- output ---- */

static _Noreturn void write_failed(const kwcat_fmt *cs) {
  const kw_message *m = cs ? cs->cur : NULL;
  if (!m) kwcat_fatal("Output write error: %s", strerror(errno));
  kwcat_fatal("Write error for message of %zu bytes in %s [%" PRId32 "] at offset %" PRId64 ": %s", m->value_len,
              m->topic, m->partition, m->offset, strerror(errno));
}

static inline void out(const kwcat_fmt *cs, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, stdout) != n) write_failed(cs);
}

static void out_fmt(const kwcat_fmt *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(const kwcat_fmt *cs, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(stdout, fmt, ap);
  va_end(ap);
  if (r < 0) write_failed(cs);
}

static void out_headers(const kwcat_fmt *cs, const kw_message *m) {
  for (int i = 0; i < m->n_headers; i++) {
    const char *k;
    const void *v;
    size_t kl, vl;
    if (kw_message_header(m, i, &k, &kl, &v, &vl)) {
      kwcat_info(0, "ERROR: Failed to format message in %s [%" PRId32 "] at offset %" PRId64
                 ": Failed to parse headers: %s\n", m->topic, m->partition, m->offset, kw_strerror(KW_ERR_MALFORMED));
      return;
    }
    if (i) out(cs, ",", 1);
    out(cs, k, kl);
    out(cs, "=", 1);
    if (v && vl) out(cs, v, vl);
    else if (!v) out(cs, "NULL", 4);
  }
}

static void out_fields(const kwcat_fmt *cs, const kw_message *m) {
  bool null_str = cs->o->null_empty;
  for (int i = 0; i < cs->n_toks; i++) {
    const tok *t = &cs->toks[i];
    switch (t->type) {
    case T_STR: out(cs, t->str, t->len); break;
    case T_OFFSET: out_fmt(cs, "%" PRId64, m->offset); break;
    case T_KEY:
      if (m->key_len) out(cs, m->key, m->key_len);
      else if (null_str) out(cs, "NULL", 4); /* kcat: also for an empty key */
      break;
    case T_KEY_LEN: out_fmt(cs, "%lld", m->key ? (long long)m->key_len : -1LL); break;
    case T_VALUE:
      if (m->value_len) out(cs, m->value, m->value_len);
      else if (null_str) out(cs, "NULL", 4);
      break;
    case T_VALUE_LEN: out_fmt(cs, "%lld", m->value ? (long long)m->value_len : -1LL); break;
    case T_VALUE_LEN_BIN: {
      uint32_t n = m->value ? (uint32_t)m->value_len : UINT32_MAX;
      unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
      out(cs, be, 4);
      break;
    }
    case T_TOPIC: out(cs, m->topic, strlen(m->topic)); break;
    case T_PARTITION: out_fmt(cs, "%" PRId32, m->partition); break;
    case T_TS: out_fmt(cs, "%" PRId64, m->timestamp); break;
    case T_HEADERS: out_headers(cs, m); break;
    }
  }
}

/* A JSON string as yajl (kcat's generator) writes it: \" \\ \b \f \n \r \t, other
 * control characters as \u00XX, everything else (non-ASCII, invalid UTF-8) as is. */
void kwcat_json_str(const kwcat_fmt *cs, const void *p, size_t n) {
  const unsigned char *s = p, *run = s, *end = s + n;
  out(cs, "\"", 1);
  for (; s < end; s++) {
    if (*s >= 0x20 && *s != '"' && *s != '\\') continue;
    out(cs, run, (size_t)(s - run));
    run = s + 1;
    char esc[8];
    switch (*s) {
    case '"': out(cs, "\\\"", 2); break;
    case '\\': out(cs, "\\\\", 2); break;
    case '\b': out(cs, "\\b", 2); break;
    case '\f': out(cs, "\\f", 2); break;
    case '\n': out(cs, "\\n", 2); break;
    case '\r': out(cs, "\\r", 2); break;
    case '\t': out(cs, "\\t", 2); break;
    default:
      snprintf(esc, sizeof esc, "\\u%04X", *s);
      out(cs, esc, 6);
    }
  }
  out(cs, run, (size_t)(s - run));
  out(cs, "\"", 1);
}

static void out_json(const kwcat_fmt *cs, const kw_message *m, int32_t broker) {
  out(cs, "{\"topic\":", 9);
  kwcat_json_str(cs, m->topic, strlen(m->topic));
  /* kwire does not say whether a timestamp is create or log-append time: "create". */
  out_fmt(cs, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"tstype\":\"create\",\"ts\":%" PRId64 ",\"broker\":%" PRId32,
          m->partition, m->offset, m->timestamp, broker);
  if (m->n_headers > 0) {
    out(cs, ",\"headers\":[", 12);
    for (int i = 0; i < m->n_headers; i++) {
      const char *k;
      const void *v;
      size_t kl, vl;
      if (kw_message_header(m, i, &k, &kl, &v, &vl)) break;
      if (i) out(cs, ",", 1);
      kwcat_json_str(cs, k, kl);
      out(cs, ",", 1);
      if (v) kwcat_json_str(cs, v, vl);
      else out(cs, "null", 4);
    }
    out(cs, "]", 1);
  }
  out(cs, ",\"key\":", 7);
  if (m->key) kwcat_json_str(cs, m->key, m->key_len);
  else out(cs, "null", 4);
  out(cs, ",\"payload\":", 11);
  if (m->value) kwcat_json_str(cs, m->value, m->value_len);
  else out(cs, "null", 4);
  out(cs, "}", 1);
  out(cs, cs->json_delim, cs->json_delim_len);
}


void kwcat_fmt_init(kwcat_fmt *f, const kwcat_opts *o) {
  memset(f, 0, sizeof *f);
  f->o = o;
  if (o->fmt) parse_format(f, o->fmt);
  if (o->json) { /* kcat: -J writes the -D delimiter after each object, or -f's leading text */
    f->json_delim = o->delim;
    f->json_delim_len = o->delim_len;
    if (o->fmt) {
      f->json_delim = f->n_toks > 0 && f->toks[0].type == T_STR ? f->toks[0].str : "";
      f->json_delim_len = f->n_toks > 0 && f->toks[0].type == T_STR ? f->toks[0].len : 0;
    }
  } else if (!o->fmt) {
    default_format(f);
  }
}

void kwcat_fmt_write(kwcat_fmt *f, const kw_message *m, int32_t broker) {
  f->cur = m;
  if (f->o->json) out_json(f, m, broker);
  else out_fields(f, m);
}

void kwcat_fmt_free(kwcat_fmt *f) {
  for (int i = 0; i < f->n_toks; i++)
    if (f->o->fmt) free(f->toks[i].str); /* parsed from -f; the default's point into the options */
  free(f->toks);
  f->toks = NULL;
  f->n_toks = 0;
}
