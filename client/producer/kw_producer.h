/* The producer: per-partition accumulators (records encoded straight into the open
 * batch), linger / size triggers, Produce requests per leader, retries with backoff
 * until the delivery timeout, idempotence (producer id, epoch, per-partition
 * sequences), delivery reports, bounded memory. Driven by the client's loop. */
#ifndef KW_CLIENT_PRODUCER_H
#define KW_CLIENT_PRODUCER_H
#include <stdbool.h>
#include <stdint.h>
#include "client/kw_cluster.h"
#include "kwire/client.h"

typedef struct kw_producer_settings {
  int64_t linger_ms;
  int64_t batch_size;       /* bytes of records per batch */
  int32_t batch_num_messages;
  int64_t message_max_bytes;
  int max_in_flight;        /* per connection */
  int16_t acks;             /* -1 all, 0, 1 */
  int64_t delivery_timeout_ms;
  int64_t request_timeout_ms;
  int64_t retry_backoff_ms, retry_backoff_max_ms;
  int codec;
  int partitioner;          /* enum kw_partitioner_kind */
  bool idempotence;
  int64_t max_messages;     /* queue.buffering.max.messages */
  int64_t max_bytes;        /* queue.buffering.max.kbytes * 1024 */
} kw_producer_settings;

typedef struct kw_producer kw_producer;

kw_producer *kw_producer_create(kw_cluster *cl, const kw_producer_settings *set, const kw_mem *mem,
                                const struct kw_logger *log, struct kw_metrics *metrics);
/* Teardown in two steps around closing the connections: kw_producer_free reports
 * everything queued with `err`; closing the connections then reports what was in
 * flight; kw_producer_release frees the memory. */
void kw_producer_free(kw_producer *p, int err);
void kw_producer_release(kw_producer *p);

void kw_producer_set_callbacks(kw_producer *p, kw_delivery_cb dr, void *dr_ud, kw_error_cb err, void *err_ud);
int kw_producer_produce(kw_producer *p, const char *topic, int32_t partition, const void *key, size_t key_len,
                        const void *value, size_t value_len, const kw_header *headers, int n_headers,
                        int64_t timestamp, void *opaque, int64_t now);
/* Seals ready batches, sends what may be sent, expires what timed out. Returns the
 * number of delivery reports served since the last call. */
int kw_producer_run(kw_producer *p, int64_t now);
int64_t kw_producer_deadline(const kw_producer *p);
/* flush: every open batch is sealed at once instead of lingering. */
void kw_producer_set_flushing(kw_producer *p, bool on);
int kw_producer_outstanding(const kw_producer *p);
/* Pull mode (no delivery callback): 1 and *out filled, or 0. */
int kw_producer_next_report(kw_producer *p, kw_delivery_report *out);
/* Metadata arrived: place staged records, fail those for missing topics. */
void kw_producer_on_metadata(kw_producer *p, int64_t now);

#endif
