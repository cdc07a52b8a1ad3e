/* The router's statistics: its own counters (handled, retried, dead-lettered, malformed,
 * duplicates, end-to-end latency) merged with its consumer's and its dead-letter
 * producer's, so one JSON object or Prometheus page shows the whole service. */
#include "event/kw_router.h"

static const kw_stats *merged(kw_event_router *r) {
  kw_stats_clear(r->merged);
  kw_stats_add_client(r->merged, r->cons);
  kw_stats_add_client(r->merged, r->dlq); /* dead letters count as produced and delivered */
  kw_stats_add(r->merged, r->own);
  return r->merged;
}

int kw_event_router_stats_json(kw_event_router *r, char *buf, size_t size) {
  return kw_stats_json(merged(r), r->client_id, buf, size);
}

int kw_event_router_stats_prometheus(kw_event_router *r, char *buf, size_t size) {
  return kw_stats_prometheus(merged(r), r->client_id, buf, size);
}
