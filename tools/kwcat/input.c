/* kwcat's input side: kcat's delimiter syntax and a streaming splitter that keeps at
 * most one message (plus one read chunk) in memory, so any amount of stdin can be
 * produced with bounded memory. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kwcat.h"

#define READ_CHUNK (64 * 1024)

char *kwcat_parse_delim(const char *in, size_t *len, char *err, size_t errsize) {
  size_t n = strlen(in), o = 0;
  char *out = malloc(n + 1);
  if (!out) {
    snprintf(err, errsize, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '\\' && i + 1 < n && (in[i + 1] == 'n' || in[i + 1] == 't' || in[i + 1] == 'r')) {
      out[o++] = in[i + 1] == 'n' ? '\n' : in[i + 1] == 't' ? '\t' : '\r';
      i++;
    } else if (in[i] == '\\' && i + 1 < n && in[i + 1] == 'x') {
      /* \xNN: up to two hex digits (kcat reads one byte's worth). */
      unsigned v = 0;
      size_t d = 0;
      while (d < 2 && i + 2 + d < n) {
        char c = in[i + 2 + d];
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0) break;
        v = v * 16 + (unsigned)h;
        d++;
      }
      if (!d) {
        snprintf(err, errsize, "Delimiter %s expects hex number", in + i);
        free(out);
        return NULL;
      }
      out[o++] = (char)v;
      i += 1 + d;
    } else {
      out[o++] = in[i];
    }
  }
  out[o] = 0;
  *len = o;
  return out;
}

const char *kwcat_memfind(const char *hay, size_t n, const char *needle, size_t nlen) {
  if (nlen == 0 || n < nlen) return NULL;
  const char *end = hay + n - nlen + 1; /* last possible start + 1 */
  const char *p = hay;
  while (p < end && (p = memchr(p, needle[0], (size_t)(end - p)))) {
    if (memcmp(p, needle, nlen) == 0) return p;
    p++;
  }
  return NULL;
}

void kwcat_reader_init(kwcat_reader *r, int fd, const char *delim, size_t dlen, size_t max_msg,
                       volatile sig_atomic_t *stop) {
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->delim = delim;
  r->dlen = dlen;
  r->max_msg = max_msg;
  r->stop = stop;
}

void kwcat_reader_free(kwcat_reader *r) {
  free(r->buf);
  r->buf = NULL;
}

/* Room for one more read chunk: first reuse the consumed front, then grow (bounded by
 * the caller's check on message length). */
static int make_room(kwcat_reader *r) {
  if (r->cap - r->len >= READ_CHUNK) return 0;
  if (r->start > 0) {
    memmove(r->buf, r->buf + r->start, r->len - r->start);
    r->len -= r->start;
    r->scanned -= r->start;
    r->start = 0;
    if (r->cap - r->len >= READ_CHUNK) return 0;
  }
  size_t ncap = r->cap ? r->cap * 2 : READ_CHUNK;
  while (ncap - r->len < READ_CHUNK) ncap *= 2;
  char *nb = realloc(r->buf, ncap);
  if (!nb) return -1;
  r->buf = nb;
  r->cap = ncap;
  return 0;
}

int kwcat_reader_next(kwcat_reader *r, const char **msg, size_t *len) {
  for (;;) {
    const char *d = r->len > r->scanned ? kwcat_memfind(r->buf + r->scanned, r->len - r->scanned, r->delim, r->dlen)
                                        : NULL;
    if (d) {
      size_t at = (size_t)(d - r->buf);
      if (at - r->start > r->max_msg) return -2;
      *msg = r->buf + r->start;
      *len = at - r->start;
      r->start = r->scanned = at + r->dlen;
      return 1;
    }
    /* No delimiter yet; one may still straddle the end of what we have. */
    if (r->len - r->start >= r->dlen) {
      size_t keep = r->len - (r->dlen - 1);
      if (keep > r->scanned) r->scanned = keep;
    }
    if (r->len - r->start > r->max_msg + r->dlen) return -2;
    if (r->eof) {
      if (r->start == r->len) return 0;
      if (r->len - r->start > r->max_msg) return -2;
      *msg = r->buf + r->start;
      *len = r->len - r->start;
      r->start = r->scanned = r->len;
      return 1;
    }
    if (r->stop && *r->stop) return 0;
    if (r->wait && r->wait(r->wait_ud, r->fd)) return 0;
    if (make_room(r)) {
      errno = ENOMEM;
      return -1;
    }
    ssize_t n = read(r->fd, r->buf + r->len, READ_CHUNK);
    if (n < 0) {
      if (errno == EINTR) continue; /* the stop flag is checked above */
      return -1;
    }
    if (n == 0) r->eof = true;
    else r->len += (size_t)n;
  }
}
