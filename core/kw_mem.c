/* The default allocator, and the small helpers every module allocates through. */
#include <stdint.h>
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

/* Arena: decoded messages hold many small arrays whose lifetime is the frame's.
 * Small requests share 4 KiB chunks; a request over an eighth of that gets a chunk of
 * its own, put behind the current one so the current one's free room stays in use. A
 * chunk is started only when a small request does not fit, so at most an eighth of each
 * is left unused: what the arena takes stays within 8/7 of what it was asked for plus
 * one chunk, which the decoder's memory bound (proto/kw_msg.c) relies on. */
#define KW_ARENA_CHUNK 4096
#define KW_ARENA_OWN (KW_ARENA_CHUNK / 8)

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

/* Bytes a request of n (already aligned) makes the arena take from its kw_mem when
 * it does not fit the current chunk. */
static size_t chunk_take(size_t n) { return sizeof(struct kw_arena_chunk) + (n > KW_ARENA_OWN ? n : KW_ARENA_CHUNK); }

static size_t align_up(size_t n) {
  const size_t align = _Alignof(max_align_t);
  if (n > SIZE_MAX - sizeof(struct kw_arena_chunk) - align) return 0; /* cannot be met */
  n = (n + align - 1) & ~(align - 1);
  return n ? n : align;
}

bool kw_arena_fits(const kw_arena *a, size_t n) {
  n = align_up(n);
  if (!n) return false;
  const struct kw_arena_chunk *c = a->head;
  if (c && c->cap - c->used >= n) return true;
  return !a->limit || (a->total <= a->limit && chunk_take(n) <= a->limit - a->total);
}

void *kw_arena_alloc(kw_arena *a, size_t n) {
  if (!kw_arena_fits(a, n)) return NULL;
  n = align_up(n);
  struct kw_arena_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t take = chunk_take(n);
    c = kw_alloc(a->mem, take);
    if (!c) return NULL;
    c->used = 0;
    c->cap = take - sizeof *c;
    if (n > KW_ARENA_OWN && a->head) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
    a->total += take;
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
