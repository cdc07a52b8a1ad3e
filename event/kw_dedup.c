/* The idempotent-consumer helper: the last `capacity` event ids in a ring, indexed by a
 * chained hash table, so "seen before?" and "remember" are O(1) in fixed memory. An
 * event redelivered after a crash within that window is not applied twice. */
#include <string.h>
#include "kwire/error.h"
#include "kwire/event.h"
#include "event/kw_dedup.h"
#include "event/kw_event_base.h"

#define KW_DEDUP_ID_MAX 64

struct kw_dedup {
  kw_mem mem; /* a copy: the caller's need not outlive the set */
  int capacity, next, used;
  uint32_t mask;
  int32_t *heads; /* bucket -> first slot (+1), 0 = empty */
  int32_t *chain; /* slot -> next slot in its bucket (+1) */
  char (*ids)[KW_DEDUP_ID_MAX];
};

static uint32_t hash(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  while (*s) h = (h ^ (uint8_t)*s++) * 16777619u;
  return h;
}

/* Zeroed memory through mem. */
static void *zalloc(const kw_mem *mem, size_t n) {
  void *p = kw_ev_alloc(mem, n);
  if (p) memset(p, 0, n);
  return p;
}

kw_dedup *kw_dedup_new_mem(int capacity, const kw_mem *mem) {
  if (capacity <= 0 || (size_t)capacity > SIZE_MAX / 4 / KW_DEDUP_ID_MAX) return NULL; /* sizes below fit size_t */
  if (!mem) mem = kw_mem_default();
  kw_dedup *d = zalloc(mem, sizeof *d);
  uint32_t buckets = 16;
  while (buckets < (uint32_t)capacity * 2u && buckets < (1u << 30)) buckets <<= 1;
  if (d) {
    d->mem = *mem;
    d->capacity = capacity;
    d->mask = buckets - 1;
    d->heads = zalloc(mem, sizeof *d->heads * buckets);
    d->chain = zalloc(mem, sizeof *d->chain * (size_t)capacity);
    d->ids = zalloc(mem, sizeof *d->ids * (size_t)capacity);
  }
  if (!d || !d->heads || !d->chain || !d->ids) {
    kw_dedup_free(d);
    return NULL;
  }
  return d;
}

kw_dedup *kw_dedup_new(int capacity) { return kw_dedup_new_mem(capacity, NULL); }

void kw_dedup_free(kw_dedup *d) {
  if (!d) return;
  kw_mem mem = d->mem;
  kw_ev_free(&mem, d->heads);
  kw_ev_free(&mem, d->chain);
  kw_ev_free(&mem, d->ids);
  kw_ev_free(&mem, d);
}

static void unlink_slot(kw_dedup *d, int slot) {
  int32_t *at = &d->heads[hash(d->ids[slot]) & d->mask];
  while (*at && *at != slot + 1) at = &d->chain[*at - 1];
  if (*at) *at = d->chain[slot];
}

int kw_dedup_check_and_add(kw_dedup *d, const char *id) {
  if (!d || !id || strlen(id) >= KW_DEDUP_ID_MAX) return KW_ERR_INVALID_ARG;
  uint32_t b = hash(id) & d->mask;
  for (int32_t s = d->heads[b]; s; s = d->chain[s - 1])
    if (strcmp(d->ids[s - 1], id) == 0) return 1;
  int slot = d->next;
  if (d->used == d->capacity) unlink_slot(d, slot); /* forget the oldest */
  else d->used++;
  strcpy(d->ids[slot], id);
  d->chain[slot] = d->heads[b];
  d->heads[b] = slot + 1;
  d->next = (slot + 1) % d->capacity;
  return 0;
}
