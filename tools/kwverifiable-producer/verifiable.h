/* Pieces shared by kwverifiable-producer and kwverifiable-consumer (the consumer
 * includes this file from here): JSON-lines output in the shape Kafka's system tests
 * parse, Java properties files into a kw_config, signals.
 *
 * Every event is one JSON object on one line, starting with "timestamp" (ms since the
 * epoch) and "name", as Jackson writes the Java tools' events. Lines are written to a
 * fully buffered stdout and flushed with vf_flush() at the end of each loop iteration
 * that printed something, so a reader sees them at once without a write per line. */
#ifndef KW_VERIFIABLE_H
#define KW_VERIFIABLE_H
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kwire.h"

static inline int64_t vf_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t vf_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void vf_flush(void) {
  if (fflush(stdout) != 0) exit(1); /* the reader went away: nothing left to report to */
}

/* `{"timestamp":T,"name":"NAME"` — the caller adds fields and vf_end(). */
static inline void vf_begin(const char *name) { printf("{\"timestamp\":%lld,\"name\":\"%s\"", (long long)vf_wall_ms(), name); }
static inline void vf_end(void) { fputs("}\n", stdout); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static inline size_t vf_utf8_len(const unsigned char *s, size_t n) {
  size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : 2;
  if (s[0] < 0xC2 || s[0] > 0xF4 || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (len == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0; /* overlong, surrogate */
  if (len == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0;
  return len;
}

/* A JSON string (null for p == NULL). Bytes are decoded as UTF-8 the way Java's
 * StringDeserializer does: an invalid byte becomes U+FFFD. */
static inline void vf_str(const void *p, size_t n) {
  if (!p) {
    fputs("null", stdout);
    return;
  }
  const unsigned char *s = p, *end = s + n;
  putchar('"');
  while (s < end) {
    unsigned char c = *s;
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
      s++;
    } else if (c < 0x20) {
      switch (c) {
      case '\n': fputs("\\n", stdout); break;
      case '\r': fputs("\\r", stdout); break;
      case '\t': fputs("\\t", stdout); break;
      case '\b': fputs("\\b", stdout); break;
      case '\f': fputs("\\f", stdout); break;
      default: printf("\\u%04x", c);
      }
      s++;
    } else if (c < 0x80) {
      putchar(c);
      s++;
    } else {
      size_t len = vf_utf8_len(s, (size_t)(end - s));
      if (len) {
        fwrite(s, 1, len, stdout);
        s += len;
      } else {
        fputs("\\ufffd", stdout);
        s++;
      }
    }
  }
  putchar('"');
}

static inline void vf_cstr(const char *s) { vf_str(s, s ? strlen(s) : 0); }

/* ,"key":"value" */
static inline void vf_field_str(const char *key, const char *val) {
  printf(",\"%s\":", key);
  vf_cstr(val);
}

/* ---- configuration ---- */

static inline _Noreturn void vf_die(const char *prog, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", prog, line);
  exit(1);
}

/* "key=value" into the configuration. A key kwire does not know is a Java client
 * setting (key.serializer, retries, ...): ignored with a warning when it comes from a
 * properties file (lenient = true), an error for -X. A bad value is always an error. */
static inline void vf_set(const char *prog, kw_config *c, const char *key, const char *val, bool lenient,
                          const char *where) {
  char err[512];
  if (kw_config_set(c, key, val, err, sizeof err) == KW_OK) return;
  if (lenient && kw_config_get(c, key, NULL, 0) == KW_ERR_CONFIG) {
    fprintf(stderr, "%s: %s: ignoring '%s' (not a kwire property)\n", prog, where, key);
    return;
  }
  vf_die(prog, "%s: %s", where, err);
}

/* -X key=value */
static inline void vf_set_arg(const char *prog, kw_config *c, char *arg) {
  char *eq = strchr(arg, '=');
  if (!eq || eq == arg) vf_die(prog, "-X wants key=value, not '%s'", arg);
  *eq = 0;
  vf_set(prog, c, arg, eq + 1, false, "-X");
  *eq = '=';
}

/* Undoes the escapes of a Java properties key or value in place (\t \n \r \f \uXXXX,
 * any other escaped character stands for itself). */
static inline void vf_unescape(char *s) {
  char *d = s;
  while (*s) {
    if (*s != '\\' || !s[1]) {
      *d++ = *s++;
      continue;
    }
    s++;
    switch (*s) {
    case 't': *d++ = '\t'; s++; break;
    case 'n': *d++ = '\n'; s++; break;
    case 'r': *d++ = '\r'; s++; break;
    case 'f': *d++ = '\f'; s++; break;
    case 'u': {
      unsigned v = 0;
      int k = 1;
      for (; k <= 4 && s[k]; k++) {
        char h = s[k];
        v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
      }
      s += k;
      if (v < 0x80) {
        *d++ = (char)v;
      } else if (v < 0x800) { /* shorter than the 6 bytes of "\uXXXX": fits in place */
        *d++ = (char)(0xC0 | (v >> 6));
        *d++ = (char)(0x80 | (v & 0x3F));
      } else {
        *d++ = (char)(0xE0 | (v >> 12));
        *d++ = (char)(0x80 | ((v >> 6) & 0x3F));
        *d++ = (char)(0x80 | (v & 0x3F));
      }
      break;
    }
    default: *d++ = *s++;
    }
  }
  *d = 0;
}

/* A Java properties file (java.util.Properties.load): '#' / '!' comments, key and value
 * separated by '=', ':' or white space, backslash escapes and line continuations. */
static inline void vf_load_properties(const char *prog, kw_config *c, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) vf_die(prog, "cannot open %s: %s", path, strerror(errno));
  char *line = NULL, *logical = NULL;
  size_t cap = 0, llen = 0;
  int lineno = 0, startno = 0;
  bool cont = false;
  while (getline(&line, &cap, f) != -1) {
    lineno++;
    size_t n = strcspn(line, "\r\n");
    line[n] = 0;
    char *s = line + strspn(line, " \t\f");
    if (!cont) {
      if (!*s || *s == '#' || *s == '!') continue;
      llen = 0;
      startno = lineno;
    }
    n = strlen(s);
    size_t bs = 0; /* an odd number of trailing backslashes continues the line */
    while (bs < n && s[n - 1 - bs] == '\\') bs++;
    cont = bs % 2 == 1;
    if (cont) s[--n] = 0;
    char *grown = realloc(logical, llen + n + 1);
    if (!grown) vf_die(prog, "out of memory");
    logical = grown;
    memcpy(logical + llen, s, n + 1);
    llen += n;
    if (cont) continue;
    char *k = logical, *p = k;
    while (*p && !strchr("=: \t\f", *p)) p += (*p == '\\' && p[1]) ? 2 : 1;
    char *v = p;
    if (*v) {
      *v++ = 0;
      v += strspn(v, " \t\f");
      if (*v == '=' || *v == ':') v++, v += strspn(v, " \t\f");
    }
    vf_unescape(k);
    vf_unescape(v);
    char where[600];
    snprintf(where, sizeof where, "%s:%d", path, startno);
    vf_set(prog, c, k, v, true, where);
  }
  if (cont && logical) { /* a continuation on the last line: the key as it stands */
    vf_unescape(logical);
    char where[600];
    snprintf(where, sizeof where, "%s:%d", path, startno);
    vf_set(prog, c, logical, "", true, where);
  }
  free(line);
  free(logical);
  fclose(f);
}

/* ---- signals: SIGTERM / SIGINT ask for a clean shutdown ---- */

static volatile sig_atomic_t vf_stop;

static void vf_on_signal(int sig) {
  (void)sig;
  vf_stop++;
}

static inline void vf_catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = vf_on_signal; /* no SA_RESTART: a blocked poll returns at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as a failed fflush */
}

/* What both tools do once their own options are in conf: the -X properties over
 * everything else (xs is freed), a fully buffered stdout (see vf_flush), signals. */
static inline void vf_finish_setup(const char *prog, kw_config *conf, char **xs, int nx) {
  for (int i = 0; i < nx; i++) vf_set_arg(prog, conf, xs[i]);
  free(xs);
  static char out_buf[1 << 16];
  setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
  vf_catch_signals();
}

static inline long long vf_parse_ll(const char *prog, const char *opt, const char *s) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) vf_die(prog, "%s: expected an integer, not '%s'", opt, s);
  return v;
}

#endif
