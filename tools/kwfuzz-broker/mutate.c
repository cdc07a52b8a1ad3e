/* Mutations of request frames. Most land in the body (past the header) so the broker
 * parses deep into the message; the size prefix is fixed up most of the time, since a
 * wrong size only exercises the broker's framing. Every choice comes from the rng. */
#include <string.h>
#include "kwfuzz.h"

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) { /* splitmix64 spreads one number over the state */
    uint64_t z = (seed += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    r->s[i] = z ^ (z >> 31);
  }
}

uint64_t rng_next(rng *r) { /* xoshiro256** */
  uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
  return out;
}

size_t rng_below(rng *r, size_t n) { return n ? (size_t)(rng_next(r) % n) : 0; }

static void put_be(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* Values at the edges of what length, count and enum fields hold. */
static const int64_t interesting[] = {0, 1, -1, 2, 0x7f, 0x80, 0xff, 0x7fff, -0x8000, 0xffff, 0x10000,
                                      0x7fffffff, INT32_MIN, 1000000, -2, 16, 64, 4096};

typedef struct mbuf {
  uint8_t *p;
  size_t len, cap, lo; /* lo: first byte mutations aim at */
} mbuf;

static size_t pick_pos(rng *r, const mbuf *m) {
  size_t lo = m->lo < m->len && rng_below(r, 10) ? m->lo : 4; /* 1 in 10 may hit the header */
  return lo >= m->len ? m->len : lo + rng_below(r, m->len - lo);
}

static void overwrite_int(rng *r, mbuf *m, int width) {
  size_t at = pick_pos(r, m);
  if (at + (size_t)width > m->len) return;
  int64_t v = interesting[rng_below(r, sizeof interesting / sizeof interesting[0])];
  if (rng_below(r, 4) == 0) v += (int64_t)rng_below(r, 16) - 8;
  put_be(m->p + at, (uint64_t)v, width);
}

/* A run that a varint reader takes for a huge or overlong value. */
static void overwrite_varint(rng *r, mbuf *m) {
  static const uint8_t runs[][5] = {{0xff, 0xff, 0xff, 0xff, 0x0f}, {0x80, 0x80, 0x80, 0x80, 0x00},
                                    {0xff, 0xff, 0xff, 0xff, 0xff}, {0x00, 0, 0, 0, 0}};
  size_t at = pick_pos(r, m), n = 1 + rng_below(r, 5);
  if (at + n <= m->len) memcpy(m->p + at, runs[rng_below(r, 4)], n);
}

static void insert_bytes(rng *r, mbuf *m) {
  size_t at = pick_pos(r, m), n = 1 + rng_below(r, 16);
  if (m->len + n > m->cap) return;
  memmove(m->p + at + n, m->p + at, m->len - at);
  bool copy = at >= n && rng_below(r, 2); /* repeat what came before, or random bytes */
  for (size_t i = 0; i < n; i++) m->p[at + i] = copy ? m->p[at - n + i] : (uint8_t)rng_next(r);
  m->len += n;
}

static void delete_bytes(rng *r, mbuf *m) {
  size_t at = pick_pos(r, m);
  size_t n = 1 + rng_below(r, 16);
  if (at >= m->len) return;
  if (n > m->len - at) n = m->len - at;
  memmove(m->p + at, m->p + at + n, m->len - at - n);
  m->len -= n;
}

/* Another version of the same API: the broker reads the body with the wrong layout. */
static void change_version(rng *r, mbuf *m) {
  if (m->len < 8) return;
  int16_t key = (int16_t)(m->p[4] << 8 | m->p[5]), lo, hi;
  int16_t v = kw_api_versions(key, &lo, &hi) == 0 && rng_below(r, 4) ? (int16_t)(lo + rng_below(r, (size_t)(hi - lo + 1)))
                                                                       : (int16_t)rng_below(r, 20);
  put_be(m->p + 6, (uint64_t)v, 2);
}

/* The tail of another frame of the same API from a random point on. */
static void splice(rng *r, mbuf *m, const corpus *c) {
  const frame *o = &c->items[rng_below(r, c->n)];
  if (o->len < 8 || m->len < 8 || memcmp(o->data + 4, m->p + 4, 2) != 0) return;
  size_t at = pick_pos(r, m), from = o->body_off + rng_below(r, o->len - o->body_off + 1);
  if (from > o->len || at + (o->len - from) > m->cap) return;
  memcpy(m->p + at, o->data + from, o->len - from);
  m->len = at + (o->len - from);
}

static void mutate_once(rng *r, mbuf *m, const corpus *c) {
  switch (rng_below(r, 10)) {
  case 0: m->p[pick_pos(r, m) % m->len] ^= (uint8_t)(1u << rng_below(r, 8)); break;
  case 1: m->p[pick_pos(r, m) % m->len] = (uint8_t)interesting[rng_below(r, 7)]; break;
  case 2: overwrite_int(r, m, 2); break;
  case 3: overwrite_int(r, m, 4); break;
  case 4: overwrite_varint(r, m); break;
  case 5: insert_bytes(r, m); break;
  case 6: delete_bytes(r, m); break;
  case 7: if (m->len > 12) m->len = 12 + rng_below(r, m->len - 12); break; /* truncate */
  case 8: change_version(r, m); break;
  default: splice(r, m, c); break;
  }
}

size_t mutate(rng *r, const corpus *c, const frame *seed, uint8_t *out, size_t cap) {
  size_t n = seed->len < cap ? seed->len : cap;
  memcpy(out, seed->data, n);
  mbuf m = {out, n, cap, seed->body_off};
  int rounds = 1 + (int)rng_below(r, 4);
  for (int i = 0; i < rounds && m.len > 4; i++) mutate_once(r, &m, c);
  if (m.len >= 4 && rng_below(r, 20)) put_be(out, m.len - 4, 4); /* 1 in 20 keeps a wrong size */
  return m.len;
}
