/* CRC32C: known vectors, chaining, and every path (the chosen one, portable, and each
 * hardware path this CPU runs) agreeing on every length and alignment that the hardware
 * paths split differently. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "proto/kw_crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static const crc_fn paths[] = {kw_crc32c, kw_crc32c_portable, kw_crc32c_hw};
static const char *const path_names[] = {"kw_crc32c", "portable", "hw"};
#define NPATHS (sizeof paths / sizeof paths[0])

/* Each hardware path this CPU runs, called like the public functions. */
static kw_crc32c_path hw[8];
static size_t nhw;

static void hw_init(void) { nhw = kw_crc32c_hw_paths(hw, sizeof hw / sizeof hw[0]); }

static uint32_t hw_crc(size_t i, uint32_t crc, const void *data, size_t len) {
  return ~hw[i].fn(~crc, data, len);
}

/* An independent bit-at-a-time reference. */
static uint32_t crc_ref(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static unsigned char *random_bytes(size_t n, uint64_t seed) {
  unsigned char *b = malloc(n ? n : 1);
  cr_assert_not_null(b);
  uint64_t x = seed * 0x9E3779B97F4A7C15u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b[i] = (unsigned char)(x >> 24);
  }
  return b;
}

Test(crc32c, standard_vectors) {
  unsigned char zeros[32], ones[32], inc[32], dec[32];
  memset(zeros, 0, sizeof zeros);
  memset(ones, 0xFF, sizeof ones);
  for (int i = 0; i < 32; i++) {
    inc[i] = (unsigned char)i;
    dec[i] = (unsigned char)(31 - i);
  }
  for (size_t f = 0; f < NPATHS; f++) {
    const char *fn = path_names[f];
    cr_expect_eq(paths[f](0, "123456789", 9), 0xE3069283u, "%s: check value", fn);
    cr_expect_eq(paths[f](0, zeros, 32), 0x8A9136AAu, "%s: 32 zeros", fn);
    cr_expect_eq(paths[f](0, ones, 32), 0x62A8AB43u, "%s: 32 x 0xFF", fn);
    cr_expect_eq(paths[f](0, inc, 32), 0x46DD794Eu, "%s: 0..31", fn);
    cr_expect_eq(paths[f](0, dec, 32), 0x113FDB5Cu, "%s: 31..0", fn);
  }
  hw_init();
  for (size_t i = 0; i < nhw; i++) {
    const char *fn = hw[i].name;
    cr_expect_eq(hw_crc(i, 0, "123456789", 9), 0xE3069283u, "%s: check value", fn);
    cr_expect_eq(hw_crc(i, 0, zeros, 32), 0x8A9136AAu, "%s: 32 zeros", fn);
    cr_expect_eq(hw_crc(i, 0, ones, 32), 0x62A8AB43u, "%s: 32 x 0xFF", fn);
    cr_expect_eq(hw_crc(i, 0, inc, 32), 0x46DD794Eu, "%s: 0..31", fn);
    cr_expect_eq(hw_crc(i, 0, dec, 32), 0x113FDB5Cu, "%s: 31..0", fn);
    cr_expect_eq(hw_crc(i, 0x12345678u, NULL, 0), 0x12345678u, "%s: empty", fn);
  }
}

Test(crc32c, empty_input_returns_the_crc) {
  for (size_t f = 0; f < NPATHS; f++) {
    cr_expect_eq(paths[f](0, "", 0), 0u, "%s", path_names[f]);
    cr_expect_eq(paths[f](0xDEADBEEFu, "x", 0), 0xDEADBEEFu, "%s", path_names[f]);
    cr_expect_eq(paths[f](0x12345678u, NULL, 0), 0x12345678u, "%s: NULL data", path_names[f]);
  }
}

Test(crc32c, chaining_equals_one_pass) {
  size_t n = 3000;
  unsigned char *b = random_bytes(n, 1);
  for (size_t f = 0; f < NPATHS; f++) {
    uint32_t whole = paths[f](0, b, n);
    cr_assert_eq(whole, crc_ref(0, b, n), "%s", path_names[f]);
    for (size_t cut = 0; cut <= n; cut += (cut < 300 ? 1 : 97))
      cr_assert_eq(paths[f](paths[f](0, b, cut), b + cut, n - cut), whole, "%s: cut at %zu",
                   path_names[f], cut);
    uint32_t bytewise = 0;
    for (size_t i = 0; i < n; i++) bytewise = paths[f](bytewise, b + i, 1);
    cr_assert_eq(bytewise, whole, "%s: one byte at a time", path_names[f]);
  }
  hw_init();
  uint32_t whole = crc_ref(0, b, n);
  for (size_t i = 0; i < nhw; i++)
    for (size_t cut = 0; cut <= n; cut += (cut < 300 ? 1 : 97))
      cr_assert_eq(hw_crc(i, hw_crc(i, 0, b, cut), b + cut, n - cut), whole, "%s: cut at %zu",
                   hw[i].name, cut);
  free(b);
}

Test(crc32c, hardware_path_is_used_when_the_cpu_has_it) {
  const char *impl = kw_crc32c_impl();
  cr_assert_not_null(impl);
  hw_init();
  cr_assert_str_eq(impl, nhw ? hw[0].name : "portable", "the fastest path is the one used");
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) {
    cr_assert_str_neq(impl, "portable", "this CPU has SSE4.2");
    int clmul = !!__builtin_cpu_supports("pclmul");
    int fold = clmul && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq");
    cr_assert_eq(nhw, 1 + (size_t)clmul + (size_t)fold);
    cr_assert_str_eq(impl, fold ? "avx2-vpclmul" : clmul ? "sse42-3way" : "sse42");
  }
#endif
  for (size_t i = 0; i < nhw; i++) cr_log_info("crc32c hardware path: %s", hw[i].name);
  cr_log_info("crc32c implementation used: %s", impl);
}

/* Every length up to 2048 at every start offset 0..15: covers the alignment prologue,
 * each three-stream length the short tail picks, and the 4/2/1-byte endings. */
Test(crc32c, portable_equals_hw_every_length_and_offset) {
  unsigned char *b = random_bytes(2048 + 16, 2);
  hw_init();
  for (size_t n = 0; n <= 2048; n++)
    for (size_t off = 0; off < 16; off++) {
      uint32_t seed = (uint32_t)(n * 2654435761u);
      uint32_t p = kw_crc32c_portable(seed, b + off, n);
      uint32_t h = kw_crc32c_hw(seed, b + off, n);
      if (p != h) cr_assert_eq(h, p, "len %zu offset %zu", n, off);
      for (size_t i = 0; i < nhw; i++) {
        h = hw_crc(i, seed, b + off, n);
        if (p != h) cr_assert_eq(h, p, "%s: len %zu offset %zu", hw[i].name, n, off);
      }
    }
  free(b);
}

/* Lengths past 2048 reach the 1 KB-stream blocks and the longest tails (streams up to
 * 1016 bytes); spot-check a few against the bitwise reference too. */
Test(crc32c, portable_equals_hw_longer_lengths) {
  unsigned char *b = random_bytes(8192 + 16, 3);
  hw_init();
  for (size_t n = 2049; n <= 8192; n++)
    for (size_t off = 0; off < 16; off += 5) {
      uint32_t p = kw_crc32c_portable(7, b + off, n);
      uint32_t h = kw_crc32c_hw(7, b + off, n);
      if (p != h) cr_assert_eq(h, p, "len %zu offset %zu", n, off);
      for (size_t i = 0; i < nhw; i++) {
        h = hw_crc(i, 7, b + off, n);
        if (p != h) cr_assert_eq(h, p, "%s: len %zu offset %zu", hw[i].name, n, off);
      }
      if (n % 509 == 0) cr_assert_eq(p, crc_ref(7, b + off, n), "len %zu", n);
    }
  free(b);
}

Test(crc32c, portable_equals_hw_large_sizes) {
  static const size_t sizes[] = {65536,          65536 + 1,     3 * 24576,     3 * 24576 + 3071,
                                 3 * 24576 - 1,  1 << 20,       (1 << 20) + 3, 3 * 1024 * 1024 + 13};
  size_t max = 3 * 1024 * 1024 + 13;
  unsigned char *b = random_bytes(max + 16, 4);
  hw_init();
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (size_t off = 0; off < 16; off += 3) {
      uint32_t p = kw_crc32c_portable(0, b + off, sizes[i]);
      cr_assert_eq(kw_crc32c_hw(0, b + off, sizes[i]), p, "len %zu offset %zu", sizes[i], off);
      cr_assert_eq(kw_crc32c(0, b + off, sizes[i]), p, "len %zu offset %zu", sizes[i], off);
      for (size_t h = 0; h < nhw; h++)
        cr_assert_eq(hw_crc(h, 0, b + off, sizes[i]), p, "%s: len %zu offset %zu", hw[h].name,
                     sizes[i], off);
    }
  cr_assert_eq(kw_crc32c_portable(0, b, 1 << 20), crc_ref(0, b, 1 << 20));
  free(b);
}
