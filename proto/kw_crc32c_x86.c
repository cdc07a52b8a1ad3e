/* CRC32C on x86-64, fastest first:
 *  - "avx2-vpclmul": long inputs folded 128 bytes at a time with VPCLMULQDQ (AVX2
 *    registers), the last 16 bytes reduced by two crc32 instructions;
 *  - "sse42-3way": the SSE4.2 crc32 instruction over three interleaved streams, joined
 *    with PCLMULQDQ (also the short-input path of the one above);
 *  - "sse42": one stream.
 * Each is compiled per function for its extensions and chosen at run time, so the library
 * still runs on any x86-64. */
#include "proto/kw_crc32c.h"

#if defined(KW_CRC32C_X86)
#include <immintrin.h>
#include <string.h>

#define KW_TARGET_CRC __attribute__((target("sse4.2")))
#define KW_TARGET_CRC_CLMUL __attribute__((target("sse4.2,pclmul")))
#define KW_TARGET_FOLD __attribute__((target("sse4.2,pclmul,avx2,vpclmulqdq")))

/* crc32 takes 3 cycles and the CPU starts one per cycle: a single stream runs at a third
 * of what three independent ones reach. Each block of three streams costs a join (two
 * clmul and a crc32, ~10 cycles on stream 0's chain), so the bulk uses long streams. */
enum {
  STREAM_BULK = 8192,                       /* 24 KB blocks */
  STREAM_MID = 8 * KW_CRC32C_SHIFT_K_MAX / 2, /* 1 KB: the longest the table can join */
  MIN_3WAY = 3 * 32,                        /* below this one stream is as fast */
  MIN_FOLD = 256                            /* below this three streams are as fast */
};
/* x^(8 * 8192 - 33) and x^(8 * 16384 - 33) mod P, bit-reflected. */
#define K_BULK 0x54A86326u
#define K_BULK2 0x1DC403CCu

static inline uint64_t ld64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

KW_TARGET_CRC static uint32_t crc_1way(uint32_t st, const unsigned char *p, size_t n) {
  uint64_t c = st;
  for (; n >= 8; p += 8, n -= 8) c = _mm_crc32_u64(c, ld64(p));
  st = (uint32_t)c;
  if (n & 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    st = _mm_crc32_u32(st, v);
    p += 4;
  }
  if (n & 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    st = _mm_crc32_u16(st, v);
    p += 2;
  }
  if (n & 1) st = _mm_crc32_u8(st, *p);
  return st;
}

/* The register after 3 * len bytes at p (len a multiple of 8): three streams of len
 * bytes, the later two started from zero; the first is then shifted past 2 * len bytes
 * (constant k2) and the second past len (k1). Shifting is linear, so one crc32 reduces
 * the xor of both 64-bit products. */
KW_TARGET_CRC_CLMUL static inline uint32_t crc_3way_block(uint32_t st, const unsigned char *p,
                                                          size_t len, uint32_t k1, uint32_t k2) {
  uint64_t a = st, b = 0, c = 0;
  const unsigned char *end = p + len;
  do {
    a = _mm_crc32_u64(a, ld64(p));
    b = _mm_crc32_u64(b, ld64(p + len));
    c = _mm_crc32_u64(c, ld64(p + 2 * len));
    p += 8;
  } while (p != end);
  __m128i pa = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)a),
                                    _mm_cvtsi64_si128((long long)k2), 0x00);
  __m128i pb = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)b),
                                    _mm_cvtsi64_si128((long long)k1), 0x00);
  uint64_t joined = (uint64_t)_mm_cvtsi128_si64(_mm_xor_si128(pa, pb));
  return (uint32_t)_mm_crc32_u64(0, joined) ^ (uint32_t)c;
}

KW_TARGET_CRC_CLMUL static uint32_t crc_3way(uint32_t st, const unsigned char *p, size_t n) {
  /* No alignment prologue: up to 7 byte steps cost more than the occasional
   * cache-line-split load, which the crc32 port bound hides (measured). */
  if (n >= MIN_3WAY) {
    for (; n >= 3 * (size_t)STREAM_BULK; p += 3 * STREAM_BULK, n -= 3 * STREAM_BULK)
      st = crc_3way_block(st, p, STREAM_BULK, K_BULK, K_BULK2);
    for (; n >= 3 * (size_t)STREAM_MID; p += 3 * STREAM_MID, n -= 3 * STREAM_MID)
      st = crc_3way_block(st, p, STREAM_MID, kw_crc32c_shift_k[STREAM_MID / 8 - 1],
                          kw_crc32c_shift_k[STREAM_MID / 4 - 1]);
    if (n >= MIN_3WAY) {
      size_t len = n / 24 * 8; /* < STREAM_MID */
      st = crc_3way_block(st, p, len, kw_crc32c_shift_k[len / 8 - 1],
                          kw_crc32c_shift_k[len / 4 - 1]);
      p += 3 * len;
      n -= 3 * len;
    }
  }
  return crc_1way(st, p, n);
}

/* The crc32 instruction is bound to one execution port: 8 bytes a cycle at best. Folding
 * with carry-less multiplies runs on another port and twice as wide.
 *
 * A 128-bit lane holding 16 message bytes stands for the polynomial L*x^64 + H (L its
 * first 8 bytes, H its last, bit-reflected). Moving it D = 64k bits further on is
 * clmul(L, x^(D+31)) ^ clmul(H, x^(D-33)) (the 33: a bit-reflected product of a 64-bit
 * and a 32-bit value stands for their product times x^33), both constants found in
 * kw_crc32c_shift_k as entries k and k - 1. A lane left at the end is 16 message bytes
 * congruent to everything before, so two crc32 steps from zero finish it. */
KW_TARGET_FOLD static inline __m256i fold_k256(unsigned k) {
  long long lo = kw_crc32c_shift_k[k], hi = kw_crc32c_shift_k[k - 1];
  return _mm256_set_epi64x(hi, lo, hi, lo);
}

KW_TARGET_FOLD static inline __m256i fold256(__m256i x, __m256i k, __m256i next) {
  __m256i a = _mm256_clmulepi64_epi128(x, k, 0x00), b = _mm256_clmulepi64_epi128(x, k, 0x11);
  return _mm256_xor_si256(_mm256_xor_si256(a, next), b);
}

KW_TARGET_FOLD static inline __m128i fold128(__m128i x, __m128i k, __m128i next) {
  __m128i a = _mm_clmulepi64_si128(x, k, 0x00), b = _mm_clmulepi64_si128(x, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(a, next), b);
}

KW_TARGET_FOLD static inline __m256i ld256(const unsigned char *p) {
  return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

KW_TARGET_FOLD static uint32_t crc_fold(uint32_t st, const unsigned char *p, size_t n) {
  if (n < MIN_FOLD) return crc_3way(st, p, n);
  /* Four accumulators of two lanes (128 bytes), so the multiplier's latency is hidden.
   * The incoming register is xored into the first 4 message bytes. */
  __m256i x0 = _mm256_xor_si256(ld256(p), _mm256_set_epi64x(0, 0, 0, (long long)st));
  __m256i x1 = ld256(p + 32), x2 = ld256(p + 64), x3 = ld256(p + 96);
  p += 128;
  n -= 128;
  const __m256i k1024 = fold_k256(16);
  for (; n >= 128; p += 128, n -= 128) {
    x0 = fold256(x0, k1024, ld256(p));
    x1 = fold256(x1, k1024, ld256(p + 32));
    x2 = fold256(x2, k1024, ld256(p + 64));
    x3 = fold256(x3, k1024, ld256(p + 96));
  }
  /* Into one accumulator: x0 is 96 bytes ahead of x3, x1 64, x2 32. */
  const __m256i k256 = fold_k256(4);
  __m256i x = fold256(x0, fold_k256(12), fold256(x1, fold_k256(8), fold256(x2, k256, x3)));
  for (; n >= 32; p += 32, n -= 32) x = fold256(x, k256, ld256(p));
  /* Into one lane (16 bytes), then the register after those bytes. */
  const __m128i k128 = _mm256_castsi256_si128(fold_k256(2));
  __m128i y = fold128(_mm256_castsi256_si128(x), k128, _mm256_extracti128_si256(x, 1));
  /* Done with 256-bit registers; GCC does not insert this itself under a target
   * attribute, and dirty upper halves slow the caller's SSE code. */
  _mm256_zeroupper();
  if (n >= 16) {
    y = fold128(y, k128, _mm_loadu_si128((const __m128i *)(const void *)p));
    p += 16;
    n -= 16;
  }
  uint64_t r = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(y));
  r = _mm_crc32_u64(r, (uint64_t)_mm_extract_epi64(y, 1));
  return crc_1way((uint32_t)r, p, n);
}

size_t kw_crc32c_x86_paths(kw_crc32c_path *out, size_t max) {
  size_t n = 0;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("sse4.2")) return 0;
  int clmul = __builtin_cpu_supports("pclmul");
  /* The compiler's check includes the OS saving the AVX registers. */
  if (clmul && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq") && n < max)
    out[n++] = (kw_crc32c_path){"avx2-vpclmul", crc_fold};
  if (clmul && n < max) out[n++] = (kw_crc32c_path){"sse42-3way", crc_3way};
  if (n < max) out[n++] = (kw_crc32c_path){"sse42", crc_1way};
  return n;
}

#else
typedef int kw_crc32c_x86_unused; /* ISO C forbids an empty translation unit */
#endif
