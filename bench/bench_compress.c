/* Compression throughput per codec: ratio, compress and decompress MB/s (of uncompressed
 * bytes) on Kafka-like text, a mixed input and incompressible bytes.
 * Usage: bench_compress [MB per run, default 64] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"

static double now(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t seed = 7;
static uint32_t rnd(void) {
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  return seed;
}

/* JSON-ish records with varying ids, like an OrderCreated topic. */
static void fill_text(uint8_t *b, size_t n) {
  static const char *const items[] = {"book", "lamp", "chair", "phone", "desk", "mug"};
  size_t len = 0;
  for (unsigned i = 0; len < n; i++) {
    char line[160];
    int k = snprintf(line, sizeof line,
                     "{\"type\":\"OrderCreated\",\"order\":%u,\"customer\":\"c-%05u\",\"item\":\"%s\",\"qty\":%u}\n",
                     100000 + i, rnd() % 20000, items[rnd() % 6], 1 + rnd() % 9);
    size_t take = (size_t)k < n - len ? (size_t)k : n - len;
    memcpy(b + len, line, take);
    len += take;
  }
}

static void fill_mixed(uint8_t *b, size_t n) {
  fill_text(b, n);
  for (size_t i = 0; i < n; i += 4096) /* a noisy 512-byte patch every 4 KB */
    for (size_t j = i; j < i + 512 && j < n; j++) b[j] = (uint8_t)rnd();
}

static void fill_random(uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd();
}

static void run(const char *label, const uint8_t *in, size_t n, size_t total) {
  int codecs[] = {KW_CODEC_GZIP, KW_CODEC_SNAPPY, KW_CODEC_LZ4, KW_CODEC_ZSTD};
  for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
    int c = codecs[i];
    if (!kw_codec_available(c)) continue;
    kw_buf z, d;
    kw_buf_init_grow(&z, NULL);
    kw_buf_init_grow(&d, NULL);
    size_t reps = total / n ? total / n : 1;
    double t0 = now();
    for (size_t r = 0; r < reps; r++) {
      kw_buf_reset(&z);
      if (kw_compress(c, -1, in, n, &z)) return;
    }
    double t1 = now();
    for (size_t r = 0; r < reps; r++) {
      kw_buf_reset(&d);
      int rc = kw_decompress(c, z.data, z.len, n, &d);
      if (rc || d.len != n || memcmp(d.data, in, n)) {
        fprintf(stderr, "%s: round trip failed: %s\n", kw_codec_name(c), kw_strerror(rc));
        exit(1);
      }
    }
    double t2 = now(), mb = (double)(n * reps) / 1e6;
    printf("%-7s %-6s ratio %6.3f  compress %8.1f MB/s  decompress %8.1f MB/s\n", label, kw_codec_name(c),
           (double)z.len / (double)n, mb / (t1 - t0), mb / (t2 - t1));
    kw_buf_free(&z);
    kw_buf_free(&d);
  }
}

int main(int argc, char **argv) {
  size_t total = (size_t)(argc > 1 ? atoi(argv[1]) : 64) << 20, n = 1 << 20;
  uint8_t *b = malloc(n);
  if (!b) return 1;
  fill_text(b, n);
  run("text", b, n, total);
  fill_mixed(b, n);
  run("mixed", b, n, total);
  fill_random(b, n);
  run("random", b, n, total);
  free(b);
  return 0;
}
