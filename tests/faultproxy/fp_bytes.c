/* The byte queue under every socket buffer of the proxy. */
#include <stdlib.h>
#include <string.h>
#include "fp.h"

int fp_bytes_append(fp_bytes *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (b->off && b->off == b->len) b->off = b->len = 0;
  if (b->cap - b->len < n && b->off) { /* reuse the consumed front before growing */
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
  }
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 16384;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2) return -1;
      cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void fp_bytes_consume(fp_bytes *b, size_t n) {
  b->off += n;
  if (b->off >= b->len) b->off = b->len = 0;
}

void fp_bytes_free(fp_bytes *b) {
  free(b->data);
  *b = (fp_bytes){0};
}
