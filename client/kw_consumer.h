/* The consumer's fetcher: assigned partitions, start-offset resolution (ListOffsets),
 * Fetch requests per leader with a bounded prefetch, and record iteration over the
 * fetched batches (decompression, control batches, aborted transactions). */
#ifndef KW_CLIENT_CONSUMER_H
#define KW_CLIENT_CONSUMER_H
#include <stdbool.h>
#include <stdint.h>
#include "client/kw_cluster.h"
#include "client/kw_metrics.h"
#include "kwire/consumer.h"

typedef struct kw_consumer_settings {
  int32_t fetch_min_bytes, fetch_max_bytes, max_partition_fetch_bytes;
  int32_t fetch_wait_max_ms;
  int64_t queued_max_bytes;  /* prefetch bound */
  int64_t retry_backoff_ms;
  int8_t isolation_level;    /* 0 read_uncommitted, 1 read_committed */
  int auto_offset_reset;     /* KW_RESET_* */
  int64_t max_decompressed;  /* per batch */
  bool check_crcs;
} kw_consumer_settings;

typedef struct kw_consumer kw_consumer;

kw_consumer *kw_consumer_create(kw_cluster *cl, const kw_consumer_settings *set, const kw_mem *mem,
                                const struct kw_logger *log, struct kw_metrics *metrics);
void kw_consumer_free(kw_consumer *c);

int kw_consumer_add(kw_consumer *c, const char *topic, int32_t partition, int64_t offset, bool by_time);
int kw_consumer_remove(kw_consumer *c, const char *topic, int32_t partition);
int kw_consumer_set_paused(kw_consumer *c, const char *topic, int32_t partition, bool paused);
int64_t kw_consumer_get_position(kw_consumer *c, const char *topic, int32_t partition);

/* Sends offset lookups and fetches that are due. */
void kw_consumer_run(kw_consumer *c, int64_t now);
int64_t kw_consumer_deadline(const kw_consumer *c);
/* The next record or error event from the prefetch buffer: 1, or 0 when none is there. */
int kw_consumer_next(kw_consumer *c, kw_message *msg);
/* Up to max records of one record batch (zero-copy), or 0. */
int kw_consumer_next_batch(kw_consumer *c, kw_message *out, int max);
/* Records between positions and the last known high watermarks, summed. */
int64_t kw_consumer_lag(const kw_consumer *c);
/* Whether kw_consumer_next has something to hand out. */
bool kw_consumer_has_records(const kw_consumer *c);

#endif
