/* The idempotent-consumer helper made through a given allocator: the router's own
 * (kw_event_router_set_dedup) allocates through its consumer's kw_mem, as the router
 * does. kw_dedup_new (kwire/event.h) is this with libc. */
#ifndef KW_EVENT_DEDUP_H
#define KW_EVENT_DEDUP_H
#include "kwire/event.h"
#include "kwire/mem.h"

/* NULL when capacity <= 0 or out of memory; mem NULL = libc. */
kw_dedup *kw_dedup_new_mem(int capacity, const kw_mem *mem);

#endif
