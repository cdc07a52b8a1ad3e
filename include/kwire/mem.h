/* Caller-supplied allocator: every allocation kwire makes goes through one of these. */
#ifndef KWIRE_MEM_H
#define KWIRE_MEM_H
#include "kwire/export.h"
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kw_mem {
  void *ud; /* passed back to every call */
  void *(*alloc)(void *ud, size_t size);
  void *(*realloc)(void *ud, void *ptr, size_t size);
  void (*free)(void *ud, void *ptr);
} kw_mem;

/* libc's malloc/realloc/free; what a NULL kw_mem pointer means everywhere. */
KW_API const kw_mem *kw_mem_default(void);

#ifdef __cplusplus
}
#endif
#endif
