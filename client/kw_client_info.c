/* What a client tells about itself through the public API: its configuration, its
 * allocator, whether it consumes in a group, and its counters for a kw_stats set.
 * Code built on the public headers (the event router, a user's own) needs these to make
 * companion clients with the same settings and to report one set of statistics. */
#include "client/kw_client_int.h"
#include "client/consumer/kw_fetcher.h"
#include "kwire/consumer.h"
#include "kwire/stats.h"

const kw_config *kw_client_config(const kw_client *cl) { return cl->conf; }

const kw_mem *kw_client_mem(const kw_client *cl) { return cl->mem; }

int kw_consumer_has_group(const kw_client *cl) { return cl && cl->cons && cl->group; }

void kw_stats_add_client(kw_stats *s, kw_client *cl) {
  kw_metrics_add(&s->m, &cl->metrics);
  /* The lag is a gauge: this moment's, not what an earlier stats call left behind. */
  s->m.consumer_lag += (cl->cons ? kw_fetcher_lag(cl->cons) : 0) - cl->metrics.consumer_lag;
}
