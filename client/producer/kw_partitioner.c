#include "client/producer/kw_partitioner.h"

#include <limits.h>
#include <string.h>
#include <zlib.h>

/* Java's Utils.murmur2: bytes masked with 0xff, ints wrapping, so all in uint32_t. */
uint32_t kw_murmur2(const void *key, size_t len) {
  const unsigned char *p = key;
  const uint32_t m = 0x5bd1e995u;
  uint32_t h = 0x9747b28cu ^ (uint32_t)len;
  size_t i = 0;
  for (; len - i >= 4; i += 4) {
    uint32_t k = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                 (uint32_t)p[i + 3] << 24;
    k *= m;
    k ^= k >> 24;
    k *= m;
    h = h * m ^ k;
  }
  switch (len - i) {
  case 3: h ^= (uint32_t)p[i + 2] << 16; /* fall through */
  case 2: h ^= (uint32_t)p[i + 1] << 8;  /* fall through */
  case 1: h ^= p[i]; h *= m;
  }
  h ^= h >> 13;
  h *= m;
  return h ^ h >> 15;
}

int32_t kw_partition_murmur2(const void *key, size_t len, int32_t n) {
  if (n <= 0) return -1;
  return (int32_t)((kw_murmur2(key, len) & 0x7fffffffu) % (uint32_t)n); /* toPositive */
}

int32_t kw_partition_crc32(const void *key, size_t len, int32_t n) {
  if (n <= 0) return -1;
  const unsigned char *p = key;
  uLong crc = crc32(0L, Z_NULL, 0);
  while (len) { /* zlib takes uInt lengths */
    uInt chunk = len > UINT_MAX ? UINT_MAX : (uInt)len;
    crc = crc32(crc, p, chunk);
    p += chunk;
    len -= chunk;
  }
  return (int32_t)((uint32_t)crc % (uint32_t)n);
}

/* librdkafka's rd_fnv1a: 32-bit FNV-1a, then the absolute value of the hash as an int32
 * (for Sarama's NewHashPartitioner); -INT32_MIN stays 0x80000000 as it does there. */
int32_t kw_partition_fnv1a(const void *key, size_t len, int32_t n) {
  if (n <= 0) return -1;
  const unsigned char *p = key;
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x01000193u;
  if (h & 0x80000000u) h = 0u - h;
  return (int32_t)(h % (uint32_t)n);
}

int kw_partitioner_from_name(const char *name) {
  static const char *const names[] = {"murmur2",    "murmur2_random", "consistent",
                                      "consistent_random", "fnv1a", "fnv1a_random"};
  for (int i = 0; name && i < (int)(sizeof names / sizeof names[0]); i++)
    if (strcmp(name, names[i]) == 0) return i; /* the enum's order */
  return -1;
}

static uint32_t sticky_rand(kw_sticky *s, uint32_t n) { /* xorshift32, scaled to [0, n) */
  uint32_t x = s->rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  s->rng = x;
  return (uint32_t)(((uint64_t)x * n) >> 32);
}

void kw_sticky_init(kw_sticky *s, uint32_t seed) {
  s->current = -1;
  s->rng = seed ? seed : 0x9e3779b9u; /* xorshift must not start at 0 */
}

int32_t kw_sticky_partition(kw_sticky *s, int32_t n) {
  if (n <= 0) return -1;
  if (s->current < 0 || s->current >= n) s->current = (int32_t)sticky_rand(s, (uint32_t)n);
  return s->current;
}

void kw_sticky_next(kw_sticky *s, int32_t n) {
  if (n <= 1 || s->current < 0 || s->current >= n) {
    s->current = -1; /* chosen afresh by the next kw_sticky_partition */
    return;
  }
  /* Uniform over the n - 1 others. */
  int32_t r = (int32_t)sticky_rand(s, (uint32_t)n - 1);
  s->current = r >= s->current ? r + 1 : r;
}
