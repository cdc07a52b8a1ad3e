/* The public clocks and randomness (kwire/client.h) are the library's own, so code
 * layered on kwire (the event router: retry timers, dead-letter timestamps, event ids)
 * runs in a simulator's virtual time and seed too. Before, event/ read clock_gettime
 * and /dev/urandom itself: under kwsim its timers ran on the real clock. */
#include <criterion/criterion.h>
#include "core/kw_hooks.h"
#include "event/kw_envelope.h"
#include "kwire.h"

static uint64_t draws;
static int64_t virtual_now(void *ud) { return (void)ud, 5000; }
static int64_t virtual_wall(void *ud) { return (void)ud, 1767225600000; }
static uint64_t counter(void *ud) { return (void)ud, ++draws; }

Test(public_clock, follows_the_installed_hooks) {
  kw_hooks h = {.now_ms = virtual_now, .wall_ms = virtual_wall, .random = counter};
  kw_hooks_install(&h);
  cr_assert_eq(kw_clock_monotonic_ms(), 5000);
  cr_assert_eq(kw_clock_wall_ms(), 1767225600000);
  draws = 0;
  cr_assert_eq(kw_random64(), 1);
  char a[37], b[37];
  draws = 0;
  cr_assert_eq(kw_uuid4(a, NULL, NULL), 0);
  draws = 0;
  cr_assert_eq(kw_uuid4(b, NULL, NULL), 0);
  cr_assert_str_eq(a, b, "event ids follow the seed: %s then %s", a, b);
  kw_hooks_install(NULL);
  cr_assert_neq(kw_clock_monotonic_ms(), 5000);
}
