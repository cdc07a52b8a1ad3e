/* CRC32C: the portable slicing-by-8 path and the choice of path at first use. */
#include "proto/kw_crc32c.h"

#if !defined(__STDC_NO_ATOMICS__)
#include <stdatomic.h>
#define KW_ATOMIC(T) _Atomic(T)
#define KW_LOAD(obj, mo) atomic_load_explicit(obj, memory_order_##mo)
#define KW_STORE(obj, v, mo) atomic_store_explicit(obj, v, memory_order_##mo)
#define KW_CAS(obj, expp, v)                                                              \
  atomic_compare_exchange_strong_explicit(obj, expp, v, memory_order_acquire,             \
                                          memory_order_acquire)
#else
/* The library itself runs on one thread; without atomics, calls from several threads at
 * first use are the application's to serialize. */
#define KW_ATOMIC(T) T
#define KW_LOAD(obj, mo) (*(obj))
#define KW_STORE(obj, v, mo) (*(obj) = (v))
#define KW_CAS(obj, expp, v) (*(obj) == *(expp) ? (*(obj) = (v), 1) : (*(expp) = *(obj), 0))
#endif

#define KW_CRC32C_POLY 0x82F63B78u

/* ---- Portable: slicing-by-8 ----
 * The 8 KB of tables are computed at first use into .bss instead of being const .rodata:
 * a CPU with CRC instructions never reads them, so they add nothing to the image. */
static uint32_t crc_tab[8][256];
static KW_ATOMIC(int) crc_tab_state; /* 0 empty, 1 being filled, 2 ready */

static uint32_t crc_bitwise(uint32_t st, const unsigned char *p, size_t n) {
  while (n--) {
    st ^= *p++;
    for (int k = 0; k < 8; k++) st = (st >> 1) ^ (KW_CRC32C_POLY & (0u - (st & 1u)));
  }
  return st;
}

/* crc_tab[k][b]: the register after byte b followed by k zero bytes. */
static void crc_tab_fill(void) {
  for (unsigned n = 0; n < 256; n++) {
    unsigned char b = (unsigned char)n;
    crc_tab[0][n] = crc_bitwise(0, &b, 1);
  }
  for (int k = 1; k < 8; k++)
    for (unsigned n = 0; n < 256; n++)
      crc_tab[k][n] = (crc_tab[k - 1][n] >> 8) ^ crc_tab[0][crc_tab[k - 1][n] & 0xFF];
}

/* Whether the tables can be read. A thread that finds another one filling them (only if
 * the application calls in from several threads at once) goes bitwise rather than wait. */
static int crc_tab_ready(void) {
  int s = KW_LOAD(&crc_tab_state, acquire);
  if (s == 2) return 1;
  if (s == 0 && KW_CAS(&crc_tab_state, &s, 1)) {
    crc_tab_fill();
    KW_STORE(&crc_tab_state, 2, release);
    return 1;
  }
  return 0;
}

static inline uint32_t ld32le(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc_slice8(uint32_t st, const unsigned char *p, size_t n) {
  const uint32_t(*t)[256] = (const uint32_t(*)[256])crc_tab;
  while (n >= 8) {
    uint32_t lo = ld32le(p) ^ st, hi = ld32le(p + 4);
    st = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
         t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) st = (st >> 8) ^ t[0][(st ^ *p++) & 0xFF];
  return st;
}

static uint32_t crc_portable_raw(uint32_t st, const unsigned char *p, size_t n) {
  return crc_tab_ready() ? crc_slice8(st, p, n) : crc_bitwise(st, p, n);
}

/* ---- Choice of path ---- */

/* NULL until first use; then the best path and its name (the same values whichever
 * thread stores them, so relaxed order is enough). */
static KW_ATOMIC(kw_crc32c_raw_fn) crc_active;
static KW_ATOMIC(const char *) crc_name;

size_t kw_crc32c_hw_paths(kw_crc32c_path *out, size_t max) {
#if defined(KW_CRC32C_X86)
  return kw_crc32c_x86_paths(out, max);
#elif defined(KW_CRC32C_ARM)
  return kw_crc32c_arm_paths(out, max);
#else
  (void)out;
  (void)max;
  return 0;
#endif
}

static kw_crc32c_raw_fn crc_resolve(void) {
  kw_crc32c_path best = {"portable", crc_portable_raw};
  kw_crc32c_hw_paths(&best, 1);
  kw_crc32c_raw_fn fn = best.fn;
  KW_STORE(&crc_name, best.name, relaxed);
  KW_STORE(&crc_active, fn, relaxed);
  return fn;
}

static inline kw_crc32c_raw_fn crc_best(void) {
  kw_crc32c_raw_fn fn = KW_LOAD(&crc_active, relaxed);
  return fn ? fn : crc_resolve();
}

uint32_t kw_crc32c(uint32_t crc, const void *data, size_t len) {
  return ~crc_best()(~crc, data, len);
}

/* The best path is the hardware one whenever the CPU has it. A call rather than a copy
 * of the body: kw_crc32c is exported, so the compiler may no longer fold the two. */
uint32_t kw_crc32c_hw(uint32_t crc, const void *data, size_t len) { return kw_crc32c(crc, data, len); }

uint32_t kw_crc32c_portable(uint32_t crc, const void *data, size_t len) {
  return ~crc_portable_raw(~crc, data, len);
}

const char *kw_crc32c_impl(void) {
  const char *name = KW_LOAD(&crc_name, relaxed);
  if (!name) {
    crc_resolve();
    name = KW_LOAD(&crc_name, relaxed);
  }
  return name;
}

#if defined(KW_CRC32C_X86) || defined(KW_CRC32C_ARM)
/* x^(64k - 33) mod P for k = 1..256, bit-reflected (see kw_crc32c.h). */
const uint32_t kw_crc32c_shift_k[KW_CRC32C_SHIFT_K_MAX] = {
  0x00000001, 0x493C7D27, 0xF20C0DFE, 0xBA4FC28E, 0x3DA6D0CB, 0xDDC0152B,
  0x1C291D04, 0x9E4ADDF8, 0x740EEF02, 0x39D3B296, 0x083A6EEC, 0x0715CE53,
  0xC49F4F67, 0x47DB8317, 0x2AD91C30, 0x0D3B6092, 0x6992CEA2, 0xC96CFDC0,
  0x7E908048, 0x878A92A7, 0x1B3D8F29, 0xDAECE73E, 0xF1D0F55E, 0xAB7AFF2A,
  0xA87AB8A8, 0x2162D385, 0x8462D800, 0x83348832, 0x71D111A8, 0x299847D5,
  0xFFD852C6, 0xB9E02B86, 0xDCB17AA4, 0x18B33A4E, 0xF37C5AEE, 0xB6DD949B,
  0x6051D5A2, 0x78D9CCB7, 0x18B0D4FF, 0xBAC2FD7B, 0x21F3D99C, 0xA60CE07B,
  0x8F158014, 0xCE7F39F4, 0xA00457F7, 0x61D82E56, 0x8D6D2C43, 0xD270F1A2,
  0x00AC29CF, 0xC619809D, 0xE9ADF796, 0x2B3CAC5D, 0x96638B34, 0x65863B64,
  0xE0E9F351, 0x1B03397F, 0x9AF01F2D, 0xEBB883BD, 0x2CFF42CF, 0xB3E32C28,
  0x88F25A3A, 0x064F7F26, 0x4E36F0B0, 0xDD7E3B0C, 0xBD6F81F8, 0xF285651C,
  0x91C9BD4B, 0x10746F3C, 0x885F087B, 0xC7A68855, 0x4C144932, 0x271D9844,
  0x52148F02, 0x8E766A0C, 0xA3C6F37A, 0x93A5F730, 0xD7C0557F, 0x6CB08E5C,
  0x63DED06A, 0x6B749FB2, 0x4D56973C, 0x1393E203, 0x9669C9DF, 0xCEC3662E,
  0xE417F38A, 0x96C515BB, 0x4B9E0F71, 0xE6FC4E6A, 0xD104B8FC, 0x8227BB8A,
  0x5B397730, 0xB0CD4768, 0xE78EB416, 0x39C7FF35, 0x61FF0E01, 0xD7A4825C,
  0x8D96551C, 0x0AB3844B, 0x0BF80DD2, 0x0167D312, 0x8821ABED, 0xF6076544,
  0x6A45D2B2, 0x26F6A60A, 0xD8D26619, 0xA741C1BF, 0xDE87806C, 0x98D8D9CB,
  0x14338754, 0x49C3CC9C, 0x5BD2011F, 0x68BCE87A, 0xDD07448E, 0x57A3D037,
  0xDDE8F5B9, 0x6956FC3B, 0xA3E3E02C, 0x42D98888, 0xD73C7BEA, 0x3771E98F,
  0x80FF0093, 0xB42AE3D9, 0x8FE4C34D, 0x2178513A, 0xDF99FC11, 0xE0AC139E,
  0x6C23E841, 0x170076FA, 0xFE314258, 0x444DD413, 0x0D8373A0, 0x6F345E45,
  0x19E3635E, 0x41D17B64, 0x29F268B4, 0xFF0DBA97, 0x1DC0632A, 0xA2B73DF1,
  0x1614F396, 0xF872E54C, 0x9E2993D3, 0x1E41E9FC, 0x6BEBD73C, 0x86D8E4D2,
  0x63AE91E6, 0x651BD98B, 0xF8C9DA7A, 0x5BB8F1BC, 0x945A19C1, 0xA90FD27A,
  0xEE8213B7, 0xB3AF077A, 0x93781DC7, 0x4984D782, 0xCCC4A1B9, 0xCA6EF3AC,
  0xA2C2D971, 0x234E0B26, 0x1CAD4452, 0xDD66CBBB, 0x74922601, 0x4597456A,
  0xC55F7EAB, 0xE9E28EB4, 0xA1962329, 0x7B3FF57A, 0x2D370749, 0xC9C8B782,
  0x397D84A1, 0x3F70CC6F, 0x79113270, 0x93E106A4, 0xBC817803, 0x62EC6C6D,
  0x88EB3C07, 0xD813B325, 0x6E4CB630, 0x0DF04680, 0x71971D5C, 0x2342001E,
  0xF33B8BC6, 0x0A2A8D7E, 0x9FB3BBC0, 0x6D9A4957, 0x6EF22B23, 0xE8B6368B,
  0xCE2DF768, 0xD2C3ED1A, 0xE53A4FC7, 0x995A5724, 0xBE60A91A, 0x9EF68D35,
  0x1DFA0A15, 0x0C139B31, 0x8EC52396, 0xF2271E60, 0x0E766B11, 0x0B0BF8CA,
  0x475846A4, 0x2664FD8B, 0xB2A3DFA6, 0xED64812D, 0xDC1A160C, 0x02EE03B2,
  0x79AFDF1C, 0x8604AE0F, 0x07AC6E46, 0x363BD6B3, 0x15F85253, 0x135C83FD,
  0x1BEC24DD, 0x5FABE670, 0x4C36CD5B, 0x35EC3279, 0xE0A22E29, 0x00BCF5F6,
  0x7C2B6ED9, 0x8AE00689, 0x06FF88FD, 0x17F27698, 0xF7317CF0, 0x58CA5F00,
  0x61B6E40B, 0xAA7C7AD5, 0xDE8A97F8, 0xB5CFCA28, 0x88F61445, 0xDED288F8,
  0xD4520E9E, 0x59F229BC, 0x0C592BD5, 0x6D390DEC, 0x38EDFAF3, 0x37170390,
  0x72CBFCDB, 0x6353C1CC, 0x348331A5, 0xC4584F5C, 0xC3977C19, 0xF48642E9,
  0xDAFAEA7C, 0x531377E2, 0x73DB4C04, 0xDD35BC8D, 0x72675CE8, 0xB25B29F2,
  0x3EC2FF83, 0x9A5EDE41, 0xE8C7A017, 0xA563905D, 0xCF4BFAEF, 0x45CDDF4E,
  0x6BDE1AC7, 0xACFA3103, 0xAE1175C2, 0xA51B6135
};
#endif
