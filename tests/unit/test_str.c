/* core/kw_str: copies go through the caller's allocator, stop at the given length (the
 * source is often a slice of a frame, not terminated), and fail cleanly without memory. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "core/kw_mem.h"
#include "core/kw_str.h"

typedef struct counting {
  int allocs, frees;
  bool fail;
} counting;

static void *c_alloc(void *ud, size_t n) {
  counting *c = ud;
  if (c->fail) return NULL;
  c->allocs++;
  return malloc(n);
}
static void *c_realloc(void *ud, void *p, size_t n) { (void)ud; return realloc(p, n); }
static void c_free(void *ud, void *p) {
  ((counting *)ud)->frees += p != NULL;
  free(p);
}

Test(str, copies_through_the_allocator) {
  counting c = {0};
  kw_mem m = {&c, c_alloc, c_realloc, c_free};
  char *d = kw_strdup(&m, "broker-1");
  cr_assert_str_eq(d, "broker-1");
  kw_free(&m, d);
  cr_assert_eq(c.allocs, 1);
  cr_assert_eq(c.frees, 1);
  cr_assert_null(kw_strdup(&m, NULL));
  c.fail = true;
  cr_assert_null(kw_strdup(&m, "x"), "no memory: NULL, not a crash");
  cr_assert_null(kw_strndup(&m, "x", 1));
}

Test(str, strndup_takes_exactly_n_bytes) {
  const char frame[] = {'o', 'r', 'd', 'e', 'r', 's', 'X'}; /* no terminator */
  char *d = kw_strndup(NULL, frame, 6);
  cr_assert_str_eq(d, "orders");
  kw_free(NULL, d);
  d = kw_strndup(NULL, NULL, 0);
  cr_assert_str_eq(d, "");
  kw_free(NULL, d);
}

Test(str, slice_copies) {
  const char *topic = "payments";
  char *d = kw_slice_strdup(NULL, (kw_slice){(const uint8_t *)topic, 3});
  cr_assert_str_eq(d, "pay");
  kw_free(NULL, d);
  d = kw_slice_strdup(NULL, (kw_slice){NULL, -1}); /* a null string on the wire */
  cr_assert_str_eq(d, "");
  kw_free(NULL, d);
}
