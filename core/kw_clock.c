/* The monotonic and wall clocks (core/kw_clock.h), or the simulator's (core/kw_hooks.h). */
#define _POSIX_C_SOURCE 200809L
#include <time.h>
#include "core/kw_clock.h"
#include "kwire/client.h"
#include "core/kw_hooks.h"

int64_t kw_now_ms(void) {
  const kw_hooks *h = kw_hooks_current;
  if (h && h->now_ms) return h->now_ms(h->ud);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kw_wall_ms(void) {
  const kw_hooks *h = kw_hooks_current;
  if (h && h->wall_ms) return h->wall_ms(h->ud);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The public faces of the clocks and the seeds (kwire/client.h), for code layered on
 * kwire (event/) that must run in a simulator's virtual time too. */
int64_t kw_clock_monotonic_ms(void) { return kw_now_ms(); }
int64_t kw_clock_wall_ms(void) { return kw_wall_ms(); }
uint64_t kw_random64(void) { return kw_random_u64(); }
