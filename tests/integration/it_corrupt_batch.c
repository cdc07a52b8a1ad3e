/* A corrupt batch on the real broker's disk (one flipped byte in the log segment, which
 * the broker serves as it is) reaches the consumer as an error event naming topic,
 * partition and the batch's offset, after the intact records before it; nothing after
 * it is handed out and nothing is skipped silently. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "kwire.h"
#include "tests/integration/it_support.h"

static void produce_batch(const char *topic, int from, int n) {
  kw_config *c = kw_config_new();
  char err[256];
  kw_config_set(c, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_config_set(c, "linger.ms", "100", err, sizeof err); /* one batch */
  kw_client *p = kw_producer_new(c, err, sizeof err);
  kw_config_free(c);
  IT_CHECK(p != NULL, "%s", err);
  for (int i = from; i < from + n; i++) {
    char v[32];
    int vn = snprintf(v, sizeof v, "record-%d", i);
    IT_CHECK(kw_produce(p, topic, 0, NULL, 0, v, (size_t)vn, NULL, 0, 0, NULL) == 0, "produce");
  }
  IT_CHECK(kw_client_flush(p, 30000) == 0, "flush");
  kw_client_destroy(p);
}

int main(void) {
  const char *dir = getenv("KW_BROKER_DIR");
  IT_CHECK(dir != NULL, "KW_BROKER_DIR not set (run through ctest)");
  char topic[64];
  snprintf(topic, sizeof topic, "it-corrupt-%d", (int)getpid());
  kw_conn *admin = it_connect(30000);
  it_create_topic(admin, topic, 1);
  kw_conn_free(admin);
  produce_batch(topic, 0, 10);
  produce_batch(topic, 10, 10);

  /* Flip one byte inside the second batch's records, in the segment file itself. */
  char path[1024];
  snprintf(path, sizeof path, "%s/node-1/data/%s-0/00000000000000000000.log", dir, topic);
  int fd = open(path, O_RDWR);
  IT_CHECK(fd >= 0, "cannot open the segment %s", path);
  uint8_t head[12];
  IT_CHECK(pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head, "read the first batch header");
  uint32_t len1 = (uint32_t)head[8] << 24 | (uint32_t)head[9] << 16 | (uint32_t)head[10] << 8 | head[11];
  off_t second = 12 + (off_t)len1;
  IT_CHECK(pread(fd, head, sizeof head, second) == (ssize_t)sizeof head, "read the second batch header");
  uint32_t len2 = (uint32_t)head[8] << 24 | (uint32_t)head[9] << 16 | (uint32_t)head[10] << 8 | head[11];
  off_t victim = second + 12 + (off_t)len2 - 3; /* inside the last record's value */
  uint8_t b;
  IT_CHECK(pread(fd, &b, 1, victim) == 1, "read");
  b ^= 0x20;
  IT_CHECK(pwrite(fd, &b, 1, victim) == 1, "write");
  close(fd);
  printf("flipped one byte of the second batch (file offset %lld of %s)\n", (long long)victim, path);

  kw_config *c = kw_config_new();
  char err[256];
  kw_config_set(c, "bootstrap.servers", it_bootstrap_string(), err, sizeof err);
  kw_client *k = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  kw_consumer_assign(k, topic, 0, KW_OFFSET_BEGINNING);
  int good = 0, events = 0, after = 0;
  kw_message m;
  int64_t end = kw_now_ms() + 10000, bad_offset = -1;
  while (kw_now_ms() < end && events == 0) {
    if (kw_consumer_poll(k, &m, 100) != 1) continue;
    if (m.err) {
      events++;
      bad_offset = m.offset;
      printf("error event: %s, topic %s, partition %d, offset %lld\n", kw_strerror(m.err), m.topic, m.partition,
             (long long)m.offset);
      IT_CHECK(m.err == KW_ERR_CRC && strcmp(m.topic, topic) == 0 && m.partition == 0, "the event names it");
    } else {
      IT_CHECK(m.offset == good, "record at offset %lld, want %d", (long long)m.offset, good);
      good++;
    }
  }
  end = kw_now_ms() + 2000;
  while (kw_now_ms() < end)
    if (kw_consumer_poll(k, &m, 100) == 1) after++;
  kw_client_destroy(k);
  printf("%d intact records, then the error at offset %lld; %d records handed out after it\n", good, (long long)bad_offset,
         after);
  IT_CHECK(good == 10 && events == 1 && bad_offset == 10, "want 10 records then an error event at offset 10");
  IT_CHECK(after == 0, "the corrupt batch's partition must stop, not skip ahead");
  printf("PASS it_corrupt_batch\n");
  return 0;
}
