/* The consumer's fetcher: assigned partitions, start-offset resolution (ListOffsets),
 * Fetch requests per leader with a bounded prefetch, and record iteration over the
 * fetched batches (decompression, control batches, aborted transactions). */
#ifndef KW_CLIENT_FETCHER_H
#define KW_CLIENT_FETCHER_H
#include <stdbool.h>
#include <stdint.h>
#include "client/kw_cluster.h"
#include "client/kw_metrics.h"
#include "kwire/consumer.h"

typedef struct kw_fetcher_settings {
  int32_t fetch_min_bytes, fetch_max_bytes, max_partition_fetch_bytes;
  int32_t fetch_wait_max_ms;
  int64_t queued_max_bytes;  /* prefetch bound */
  int64_t retry_backoff_ms;
  int8_t isolation_level;    /* 0 read_uncommitted, 1 read_committed */
  int auto_offset_reset;     /* KW_RESET_* */
  int64_t max_decompressed;  /* per batch */
  bool check_crcs;
} kw_fetcher_settings;

typedef struct kw_fetcher kw_fetcher;

kw_fetcher *kw_fetcher_create(kw_cluster *cl, const kw_fetcher_settings *set, const kw_mem *mem,
                                const struct kw_logger *log, struct kw_metrics *metrics);
void kw_fetcher_free(kw_fetcher *c);

int kw_fetcher_add(kw_fetcher *c, const char *topic, int32_t partition, int64_t offset, bool by_time);
int kw_fetcher_remove(kw_fetcher *c, const char *topic, int32_t partition);
int kw_fetcher_set_paused(kw_fetcher *c, const char *topic, int32_t partition, bool paused);
int64_t kw_fetcher_get_position(kw_fetcher *c, const char *topic, int32_t partition);

/* While held, no new Fetch is sent (lookups still are). A blocking call to a leader
 * holds them: the broker answers a connection's requests in order and keeps an empty
 * Fetch up to fetch.wait.max.ms, so every fetch sent between the call's requests would
 * delay the next one by as much. The Java consumer fetches only inside poll() too. */
void kw_fetcher_hold_fetches(kw_fetcher *c, bool hold);
/* Sends offset lookups and fetches that are due. */
void kw_fetcher_run(kw_fetcher *c, int64_t now);
int64_t kw_fetcher_deadline(const kw_fetcher *c);
/* The next record or error event from the prefetch buffer: 1, or 0 when none is there. */
int kw_fetcher_next(kw_fetcher *c, kw_message *msg);
/* Up to max records of one record batch (zero-copy), or 0. */
int kw_fetcher_next_batch(kw_fetcher *c, kw_message *out, int max);
/* Records between positions and the last known high watermarks, summed. */
int64_t kw_fetcher_lag(const kw_fetcher *c);
/* Whether kw_fetcher_next has something to hand out. */
bool kw_fetcher_has_records(const kw_fetcher *c);

#endif
