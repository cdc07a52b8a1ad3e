/* What every event/ file shares: the clocks (the library's, through the public
 * kw_clock_* calls, so a simulator's virtual time reaches the router too) and
 * allocation through a client's kw_mem. */
#ifndef KW_EVENT_BASE_H
#define KW_EVENT_BASE_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/mem.h"

/* Monotonic milliseconds, for retry timers and deadlines. */
int64_t kw_ev_monotonic_ms(void);
/* Milliseconds since the Unix epoch, for event timestamps and dead-letter headers. */
int64_t kw_ev_wall_ms(void);

/* Allocation through mem (never NULL: the router passes its consumer's). */
void *kw_ev_alloc(const kw_mem *mem, size_t n);
void *kw_ev_realloc(const kw_mem *mem, void *p, size_t n);
void kw_ev_free(const kw_mem *mem, void *p);
/* A NUL-terminated copy of s through mem, or NULL when out of memory. */
char *kw_ev_strdup(const kw_mem *mem, const char *s);

#endif
