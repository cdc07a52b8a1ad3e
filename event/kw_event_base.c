/* Clocks and allocation helpers of the event layer (see kw_event_base.h). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include "event/kw_event_base.h"
#include "kwire/client.h"

/* The library's clocks, so that a simulator's virtual time reaches the router too. */
int64_t kw_ev_monotonic_ms(void) { return kw_clock_monotonic_ms(); }

int64_t kw_ev_wall_ms(void) { return kw_clock_wall_ms(); }

void *kw_ev_alloc(const kw_mem *mem, size_t n) { return mem->alloc(mem->ud, n); }

void *kw_ev_realloc(const kw_mem *mem, void *p, size_t n) { return mem->realloc(mem->ud, p, n); }

void kw_ev_free(const kw_mem *mem, void *p) {
  if (p) mem->free(mem->ud, p);
}

char *kw_ev_strdup(const kw_mem *mem, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = kw_ev_alloc(mem, n);
  if (d) memcpy(d, s, n);
  return d;
}
