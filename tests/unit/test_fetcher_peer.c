/* The consumer against a scripted broker (tests/unit/fake_broker.h), for what a real
 * Kafka 4 broker cannot be made to send: v0/v1 message sets (Kafka 4 no longer writes
 * them; older logs still hold them), a first entry no reader can make sense of, an
 * aborted-transaction list of exactly the size a test needs. Also what the consumer
 * asks (ListOffsets' replica id) and how often it talks to the broker, counted in
 * requests the broker saw, never in milliseconds. */
#include "tests/unit/fake_broker.h"
#include <criterion/criterion.h>
#include "kwire.h"

#define S(s) ((kw_slice){(const uint8_t *)(s), (int32_t)strlen(s)})

static kw_client *consumer_for(fb *b, const char *isolation, const char *wait_ms) {
  kw_config *conf = kw_config_new();
  char addr[64], err[256];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", b->port);
  cr_assert_eq(kw_config_set(conf, "bootstrap.servers", addr, err, sizeof err), 0, "%s", err);
  cr_assert_eq(kw_config_set(conf, "isolation.level", isolation, err, sizeof err), 0, "%s", err);
  cr_assert_eq(kw_config_set(conf, "fetch.wait.max.ms", wait_ms, err, sizeof err), 0, "%s", err);
  kw_client *cl = kw_consumer_new(conf, err, sizeof err);
  cr_assert_not_null(cl, "%s", err);
  return cl;
}

/* ---- ListOffsets: a client, not a follower ---- */

/* Kafka applies the isolation level to ListOffsets only for replica id -1 (a consumer);
 * any other id is a follower, which is told the log end offset. So a read_committed
 * consumer resetting to the end must say -1 and isolation 1, or it starts past the
 * records of transactions still open. The watermarks go through admin's ListOffsets. */
Test(fetcher_peer, list_offsets_asks_as_a_consumer) {
  fb b = {.topic = "t", .n_partitions = 1, .end_offset = 7};
  fb_start(&b);
  kw_client *cl = consumer_for(&b, "read_committed", "100");
  cr_assert_eq(kw_consumer_assign(cl, "t", 0, KW_OFFSET_END), 0);
  kw_message m;
  for (int i = 0; i < 100 && FB_GET(&b, n_list_offsets) == 0; i++) kw_consumer_poll(cl, &m, 50);
  cr_assert_eq(FB_GET(&b, n_list_offsets), 1);
  cr_assert_eq(FB_GET(&b, lo_replica_id), -1, "the fetcher's ListOffsets said replica id %d",
               (int)FB_GET(&b, lo_replica_id));
  cr_assert_eq(FB_GET(&b, lo_isolation), 1);
  for (int i = 0; i < 100 && kw_consumer_position(cl, "t", 0) < 0; i++) kw_consumer_poll(cl, &m, 50);
  cr_assert_eq(kw_consumer_position(cl, "t", 0), 7);

  int64_t low = -1, high = -1;
  cr_assert_eq(kw_consumer_watermarks(cl, "t", 0, &low, &high, 10000), 0);
  cr_assert_eq(FB_GET(&b, lo_replica_id), -1, "the watermarks' ListOffsets said replica id %d",
               (int)FB_GET(&b, lo_replica_id));
  cr_assert(low == 0 && high == 7);
  kw_client_destroy(cl);
  fb_stop(&b);
}
