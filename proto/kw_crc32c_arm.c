/* CRC32C on AArch64: the ARMv8 crc32c instructions, over three interleaved streams joined
 * with PMULL when the CPU has it (same scheme and constants as kw_crc32c_x86.c). Compiled
 * per function for those extensions; on Linux they are detected at run time, elsewhere
 * only a compiler already targeting them (-march=...+crc, Apple) enables them. */
#include "proto/kw_crc32c.h"

#if defined(KW_CRC32C_ARM)
#include <arm_neon.h>
#include <string.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_PMULL
#define HWCAP_PMULL (1UL << 4)
#endif
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1UL << 7)
#endif
#endif

#if defined(__clang__)
/* Older clang's arm_acle.h hides the intrinsics unless the whole file targets crc. */
#define KW_TARGET_CRC __attribute__((target("crc")))
#define KW_TARGET_CRC_PMULL __attribute__((target("crc,aes")))
#define crc32c_u64 __builtin_arm_crc32cd
#define crc32c_u32 __builtin_arm_crc32cw
#define crc32c_u16 __builtin_arm_crc32ch
#define crc32c_u8 __builtin_arm_crc32cb
#else
#include <arm_acle.h>
#define KW_TARGET_CRC __attribute__((target("+crc")))
#define KW_TARGET_CRC_PMULL __attribute__((target("+crc+crypto")))
#define crc32c_u64 __crc32cd
#define crc32c_u32 __crc32cw
#define crc32c_u16 __crc32ch
#define crc32c_u8 __crc32cb
#endif

enum {
  STREAM_BULK = 8192,                         /* 24 KB blocks */
  STREAM_MID = 8 * KW_CRC32C_SHIFT_K_MAX / 2, /* 1 KB: the longest the table can join */
  MIN_3WAY = 3 * 32                           /* below this one stream is as fast */
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
  for (; n >= 8; p += 8, n -= 8) st = crc32c_u64(st, ld64(p));
  if (n & 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    st = crc32c_u32(st, v);
    p += 4;
  }
  if (n & 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    st = crc32c_u16(st, v);
    p += 2;
  }
  if (n & 1) st = crc32c_u8(st, *p);
  return st;
}

/* See crc_3way_block in kw_crc32c_x86.c. */
KW_TARGET_CRC_PMULL static inline uint32_t crc_3way_block(uint32_t st, const unsigned char *p,
                                                          size_t len, uint32_t k1, uint32_t k2) {
  uint32_t a = st, b = 0, c = 0;
  const unsigned char *end = p + len;
  do {
    a = crc32c_u64(a, ld64(p));
    b = crc32c_u64(b, ld64(p + len));
    c = crc32c_u64(c, ld64(p + 2 * len));
    p += 8;
  } while (p != end);
  uint64x2_t pa = vreinterpretq_u64_p128(vmull_p64((poly64_t)a, (poly64_t)k2));
  uint64x2_t pb = vreinterpretq_u64_p128(vmull_p64((poly64_t)b, (poly64_t)k1));
  uint64_t joined = vgetq_lane_u64(veorq_u64(pa, pb), 0);
  return crc32c_u64(0, joined) ^ c;
}

KW_TARGET_CRC_PMULL static uint32_t crc_3way(uint32_t st, const unsigned char *p, size_t n) {
  if (n >= MIN_3WAY) {
    /* Some cores penalise loads that cross a cache line; align long inputs. */
    if (n >= 1024)
      for (; (uintptr_t)p & 7; n--) st = crc32c_u8(st, *p++);
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

size_t kw_crc32c_arm_paths(kw_crc32c_path *out, size_t max) {
  size_t n = 0;
  int crc = 0, pmull = 0;
#if defined(__ARM_FEATURE_CRC32)
  crc = 1;
#endif
#if defined(__ARM_FEATURE_AES) || defined(__ARM_FEATURE_CRYPTO)
  pmull = 1;
#endif
#if defined(__linux__)
  unsigned long hw = getauxval(AT_HWCAP);
  crc |= (hw & HWCAP_CRC32) != 0;
  pmull |= (hw & HWCAP_PMULL) != 0;
#endif
  if (!crc) return 0;
  if (pmull && n < max) out[n++] = (kw_crc32c_path){"armv8-3way", crc_3way};
  if (n < max) out[n++] = (kw_crc32c_path){"armv8", crc_1way};
  return n;
}

#else
typedef int kw_crc32c_arm_unused; /* ISO C forbids an empty translation unit */
#endif
