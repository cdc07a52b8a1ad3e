/* Logging, the clock and the random numbers every part of the proxy shares. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "fp.h"

bool fp_verbose;

void fp_log(const char *fmt, ...) {
  if (!fp_verbose) return;
  char line[1024];
  int n = snprintf(line, sizeof line, "kwfaultproxy: ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  strcat(line, "\n"); /* one write per line */
  fputs(line, stderr);
}

int64_t fp_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: the same --seed cuts the same way on every libc */
uint64_t fp_random(fp_proxy *px) {
  uint64_t z = (px->rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
