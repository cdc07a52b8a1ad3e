/* Time, read in one place: the monotonic clock for timers and deadlines, the wall
 * clock for record timestamps. Everything else takes `now` as an argument. */
#ifndef KW_CORE_CLOCK_H
#define KW_CORE_CLOCK_H
#include <stdint.h>

/* Monotonic milliseconds (timers), and wall-clock milliseconds (record timestamps). */
int64_t kw_now_ms(void);
int64_t kw_wall_ms(void);

#endif
