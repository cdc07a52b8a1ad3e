/* CRC32C throughput per implementation and buffer size: one text line per (impl, size),
 * then one JSON line with everything. Figures only, never a pass/fail. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "proto/kw_crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint32_t sink;

/* Bytes per second over about min_s seconds (mean, and the best ~20 ms batch, which
 * shows through a noisy shared machine); each call's CRC feeds the next. */
static double measure(crc_fn fn, const unsigned char *buf, size_t size, double min_s,
                      double *best) {
  uint32_t crc = 0;
  size_t batch = 1;
  for (;;) { /* grow the batch until it takes ~20 ms, so clock reads cost nothing */
    double t0 = now_s();
    for (size_t i = 0; i < batch; i++) crc = fn(crc, buf, size);
    if (now_s() - t0 >= 0.02) break;
    batch *= 2;
  }
  double total = 0, bytes = 0;
  *best = 0;
  while (total < min_s) {
    double t0 = now_s();
    for (size_t i = 0; i < batch; i++) crc = fn(crc, buf, size);
    double t = now_s() - t0, b = (double)batch * (double)size;
    total += t;
    bytes += b;
    if (b / t > *best) *best = b / t;
  }
  sink = crc;
  return bytes / total;
}

/* Each hardware path is called like the public functions. */
static kw_crc32c_raw_fn hw_fn;
static uint32_t hw_crc(uint32_t crc, const void *data, size_t len) { return ~hw_fn(~crc, data, len); }

enum { MAX_IMPLS = 8 };

int main(int argc, char **argv) {
  double min_s = argc > 1 ? atof(argv[1]) : 0.5;
  static const size_t sizes[] = {1024, 64 * 1024, 1024 * 1024};
  enum { NSIZES = sizeof sizes / sizeof sizes[0] };
  kw_crc32c_path paths[MAX_IMPLS];
  size_t npaths = kw_crc32c_hw_paths(paths, MAX_IMPLS - 1);
  paths[npaths++] = (kw_crc32c_path){"portable", NULL};

  unsigned char *buf = malloc(sizes[NSIZES - 1]);
  if (!buf) return 1;
  for (size_t i = 0; i < sizes[NSIZES - 1]; i++) buf[i] = (unsigned char)(i * 131 + (i >> 9));

  double gbps[MAX_IMPLS][NSIZES], best[MAX_IMPLS][NSIZES];
  for (size_t m = 0; m < npaths; m++) {
    hw_fn = paths[m].fn;
    crc_fn fn = hw_fn ? hw_crc : kw_crc32c_portable;
    for (int s = 0; s < NSIZES; s++) {
      gbps[m][s] = measure(fn, buf, sizes[s], min_s, &best[m][s]) / 1e9;
      best[m][s] /= 1e9;
      printf("crc32c %-13s %8zu B  %7.2f GB/s  (best batch %.2f)\n", paths[m].name, sizes[s],
             gbps[m][s], best[m][s]);
      fflush(stdout);
    }
  }

  printf("{\"bench\":\"crc32c\",\"selected\":\"%s\",\"results\":[", kw_crc32c_impl());
  for (size_t m = 0; m < npaths; m++)
    for (int s = 0; s < NSIZES; s++)
      printf("%s{\"impl\":\"%s\",\"size\":%zu,\"gbps\":%.3f,\"best_gbps\":%.3f}",
             m || s ? "," : "", paths[m].name, sizes[s], gbps[m][s], best[m][s]);
  printf("]}\n");
  free(buf);
  return 0;
}
