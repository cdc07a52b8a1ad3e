#include "core/kw_str.h"
#include <string.h>
#include "core/kw_mem.h"

char *kw_strndup(const kw_mem *m, const char *s, size_t n) {
  char *d = kw_alloc(m, n + 1);
  if (d) {
    if (n) memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

char *kw_strdup(const kw_mem *m, const char *s) { return s ? kw_strndup(m, s, strlen(s)) : NULL; }

char *kw_slice_strdup(const kw_mem *m, kw_slice s) {
  return kw_strndup(m, (const char *)s.ptr, s.len > 0 ? (size_t)s.len : 0);
}
