/* The simulation seam (core/kw_hooks.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "core/kw_hooks.h"

static kw_hooks installed;
static bool installed_net; /* all five network calls given */
const kw_hooks *kw_hooks_current;

void kw_hooks_install(const kw_hooks *h) {
  if (!h) {
    kw_hooks_current = NULL;
    installed_net = false;
    return;
  }
  installed = *h;
  installed_net = h->connect && h->recv && h->sendv && h->close && h->poll;
  kw_hooks_current = &installed;
}

const kw_hooks *kw_hooks_active(void) { return kw_hooks_current; }

const kw_hooks *kw_hooks_net(void) { return kw_hooks_current && installed_net ? kw_hooks_current : NULL; }

static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

uint64_t kw_random_u64(void) {
  const kw_hooks *h = kw_hooks_current;
  if (h && h->random) return h->random(h->ud);
  uint64_t x = 0;
  FILE *f = fopen("/dev/urandom", "rb");
  size_t got = f && !setvbuf(f, NULL, _IONBF, 0) ? fread(&x, 1, sizeof x, f) : 0;
  if (f) fclose(f);
  if (got == sizeof x) return x;
  /* No urandom (a chroot): different processes, calls and moments still differ. */
  static uint64_t calls;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&x ^ ++calls * 0x9e3779b97f4a7c15u;
  return mix64(x);
}
