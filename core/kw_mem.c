/* The default allocator, and the small helpers every module allocates through. */
#include <stdlib.h>
#include "core/kw_mem.h"

static void *libc_alloc(void *ud, size_t n) { (void)ud; return malloc(n ? n : 1); }
static void *libc_realloc(void *ud, void *p, size_t n) { (void)ud; return realloc(p, n ? n : 1); }
static void libc_free(void *ud, void *p) { (void)ud; free(p); }

static const kw_mem libc_mem = {NULL, libc_alloc, libc_realloc, libc_free};

const kw_mem *kw_mem_default(void) { return &libc_mem; }

void *kw_alloc(const kw_mem *m, size_t n) {
  m = m ? m : &libc_mem;
  return m->alloc(m->ud, n);
}

void *kw_realloc(const kw_mem *m, void *p, size_t n) {
  m = m ? m : &libc_mem;
  return m->realloc(m->ud, p, n);
}

void kw_free(const kw_mem *m, void *p) {
  if (!p) return;
  m = m ? m : &libc_mem;
  m->free(m->ud, p);
}

/* Arena: decoded messages hold many small arrays whose lifetime is the frame's. */
struct kw_arena_chunk {
  struct kw_arena_chunk *next;
  size_t used, cap;
  _Alignas(max_align_t) unsigned char data[];
};

void kw_arena_init(kw_arena *a, const kw_mem *m, size_t limit) {
  a->mem = m;
  a->head = NULL;
  a->total = 0;
  a->limit = limit;
}

void *kw_arena_alloc(kw_arena *a, size_t n) {
  const size_t align = _Alignof(max_align_t);
  n = (n + align - 1) & ~(align - 1);
  if (n == 0) n = align;
  struct kw_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 4096 ? n : 4096;
    if (a->limit && a->total + cap > a->limit) return NULL;
    c = kw_alloc(a->mem, sizeof(*c) + cap);
    if (!c) return NULL;
    c->next = a->head;
    c->used = 0;
    c->cap = cap;
    a->head = c;
    a->total += cap;
  }
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

void kw_arena_reset(kw_arena *a) {
  struct kw_arena_chunk *c = a->head;
  while (c) {
    struct kw_arena_chunk *next = c->next;
    kw_free(a->mem, c);
    c = next;
  }
  a->head = NULL;
  a->total = 0;
}
