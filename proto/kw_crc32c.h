/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka's
 * RecordBatch v2. The fastest path this CPU supports is chosen once, at first use;
 * every path gives the same result. */
#ifndef KW_PROTO_CRC32C_H
#define KW_PROTO_CRC32C_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/codec.h" /* kw_crc32c() itself is public */

/* The chosen path: "avx2-vpclmul", "sse42-3way", "sse42", "armv8-3way", "armv8" or
 * "portable". */
const char *kw_crc32c_impl(void);

/* Force a path (tests, benchmarks). kw_crc32c_hw is the portable one when the CPU has
 * no CRC instructions. */
uint32_t kw_crc32c_portable(uint32_t crc, const void *data, size_t len);
uint32_t kw_crc32c_hw(uint32_t crc, const void *data, size_t len);

/* ---- Internal: for kw_crc32c*.c, and for tests and benchmarks to reach every path. ---- */

/* The hardware paths work on the raw register (no pre/post inversion). */
typedef uint32_t (*kw_crc32c_raw_fn)(uint32_t state, const unsigned char *p, size_t len);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KW_CRC32C_X86 1
#endif
/* Little-endian only: the instructions take a 64-bit word's bytes low first. */
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && \
    defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KW_CRC32C_ARM 1
#endif

typedef struct kw_crc32c_path {
  const char *name;
  kw_crc32c_raw_fn fn;
} kw_crc32c_path;

/* The hardware paths this build and CPU can run, fastest first, at most max of them;
 * returns how many. The first is what kw_crc32c uses; tests and benchmarks cover each. */
size_t kw_crc32c_hw_paths(kw_crc32c_path *out, size_t max);
size_t kw_crc32c_x86_paths(kw_crc32c_path *out, size_t max);
size_t kw_crc32c_arm_paths(kw_crc32c_path *out, size_t max);

/* Carry-less-multiply constants: kw_crc32c_shift_k[k - 1] = x^(64k - 33) mod P,
 * bit-reflected, shifts a CRC past 8k zero bytes (k = 1..256) by clmul then one CRC32 of
 * the 64-bit product; it joins three interleaved streams, and entries k, k - 1 fold a
 * 16-byte lane 64k bits further on. */
#if defined(KW_CRC32C_X86) || defined(KW_CRC32C_ARM)
#define KW_CRC32C_SHIFT_K_MAX 256
extern const uint32_t kw_crc32c_shift_k[KW_CRC32C_SHIFT_K_MAX];
#endif

#endif
