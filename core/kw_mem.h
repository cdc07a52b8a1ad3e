/* Allocation helpers over kw_mem (NULL = libc) and a bump arena for decoded frames. */
#ifndef KW_CORE_MEM_H
#define KW_CORE_MEM_H
#include <stdbool.h>
#include <stddef.h>
#include "kwire/mem.h"

void *kw_alloc(const kw_mem *m, size_t n);
void *kw_realloc(const kw_mem *m, void *p, size_t n);
void kw_free(const kw_mem *m, void *p);

/* Bump allocator: everything is freed at once by kw_arena_reset. `limit` caps the bytes
 * it may take from its kw_mem, chunk headers included (0 = no cap), so a hostile frame
 * cannot make a decoder allocate without bound. `total` is what it has taken. */
typedef struct kw_arena {
  const kw_mem *mem;
  struct kw_arena_chunk *head;
  size_t total, limit;
} kw_arena;

void kw_arena_init(kw_arena *a, const kw_mem *m, size_t limit);
void *kw_arena_alloc(kw_arena *a, size_t n); /* NULL when out of memory or over the limit */
bool kw_arena_fits(const kw_arena *a, size_t n); /* false when allocating n would pass the limit */
void kw_arena_reset(kw_arena *a);

#endif
