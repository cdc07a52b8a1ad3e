/* Compression: round trips, known answers from the reference implementations (the Kafka
 * Java client, python lz4/snappy, the lz4/zstd command-line tools), hand-assembled vectors
 * from the format specs, and hostile input (truncation, garbage, bad offsets, bombs). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef KW_HAVE_ZSTD
#include <zstd.h>
#endif
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"

/* ---------- inputs */

#define HELLO "hello hello hello kafka"

/* Kafka-ish text: 40 distinct lines repeating. The vectors below were made from the same
 * bytes (python: the identical loop, written to a file). */
static uint8_t *gen_text(size_t n) {
  uint8_t *b = malloc(n + 1);
  size_t len = 0;
  for (unsigned i = 0; len < n; i++) {
    unsigned j = i % 40;
    char line[128];
    int k = snprintf(line, sizeof line, "offset=%04u topic=orders key=k%u payload=", j, j % 13);
    for (unsigned x = 0; x < j % 29; x++) line[k++] = 'x';
    line[k++] = '\n';
    size_t take = (size_t)k < n - len ? (size_t)k : n - len;
    memcpy(b + len, line, take);
    len += take;
  }
  return b;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}
static uint8_t *gen_random(size_t n) {
  uint8_t *b = malloc(n + 1);
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd();
  return b;
}

/* Mixed: runs, text and noise, so every encoder path shows up in one input. */
static uint8_t *gen_mixed(size_t n) {
  uint8_t *b = malloc(n + 1), *t = gen_text(4096);
  size_t len = 0;
  while (len < n) {
    size_t k = 1 + rnd() % 3000;
    if (k > n - len) k = n - len;
    switch (rnd() % 4) {
    case 0: memset(b + len, (int)(rnd() & 0xFF), k); break;
    case 1:
      for (size_t i = 0; i < k; i++) b[len + i] = (uint8_t)rnd();
      break;
    case 2: {
      size_t off = rnd() % 1000;
      memcpy(b + len, t + off, k < 4096 - off ? k : (k = 4096 - off));
      break;
    }
    default:
      for (size_t i = 0; i < k; i++) b[len + i] = "abcabd"[i % 6];
    }
    len += k;
  }
  free(t);
  return b;
}

static const int codecs[] = {KW_CODEC_NONE, KW_CODEC_GZIP, KW_CODEC_SNAPPY, KW_CODEC_LZ4,
#ifdef KW_HAVE_ZSTD
                             KW_CODEC_ZSTD
#endif
};
#define NCODECS (sizeof codecs / sizeof codecs[0])

/* Decompress into a fresh growing buffer; returns the code, output in *out (caller frees). */
static int dec(int codec, const void *in, size_t n, size_t max_out, kw_buf *out) {
  kw_buf_init_grow(out, NULL);
  return kw_decompress(codec, in, n, max_out, out);
}

static void roundtrip_level(int codec, int level, const uint8_t *in, size_t n) {
  kw_buf c, d;
  kw_buf_init_grow(&c, NULL);
  int rc = kw_compress(codec, level, in, n, &c);
  cr_assert_eq(rc, 0, "%s compress of %zu bytes: %s", kw_codec_name(codec), n, kw_strerror(rc));
  rc = dec(codec, c.data, c.len, n, &d);
  cr_assert_eq(rc, 0, "%s decompress of %zu bytes: %s", kw_codec_name(codec), n, kw_strerror(rc));
  cr_assert_eq(d.len, n, "%s: %zu bytes back, %zu expected", kw_codec_name(codec), d.len, n);
  cr_assert(n == 0 || memcmp(d.data, in, n) == 0, "%s: content differs", kw_codec_name(codec));
  if (n) { /* the cap is exact: one byte less must fail */
    kw_buf_reset(&d);
    rc = kw_decompress(codec, c.data, c.len, n - 1, &d);
    cr_assert_eq(rc, KW_ERR_TOO_LARGE, "%s at max_out n-1: %s", kw_codec_name(codec), kw_strerror(rc));
    cr_assert_eq(d.len, 0);
  }
  kw_buf_free(&c);
  kw_buf_free(&d);
}

static void roundtrip_all(const uint8_t *in, size_t n) {
  for (size_t i = 0; i < NCODECS; i++) roundtrip_level(codecs[i], -1, in, n);
  /* raw snappy, as librdkafka writes it */
  kw_buf c, d;
  kw_buf_init_grow(&c, NULL);
  cr_assert_eq(kw_snappy_compress_raw(in, n, &c), 0);
  cr_assert_eq(dec(KW_CODEC_SNAPPY, c.data, c.len, n, &d), 0);
  cr_assert(d.len == n && (n == 0 || memcmp(d.data, in, n) == 0));
  kw_buf_free(&c);
  kw_buf_free(&d);
}

/* Compressed size with the codec's default level. */
static size_t csize(int codec, const uint8_t *in, size_t n) {
  kw_buf c;
  kw_buf_init_grow(&c, NULL);
  cr_assert_eq(kw_compress(codec, -1, in, n, &c), 0);
  size_t len = c.len;
  kw_buf_free(&c);
  return len;
}

/* ---------- vectors: test_compress_vectors.h (bytes produced by the tools named there) */
#include "test_compress_vectors.h"

/* ---------- names */

Test(compress, names) {
  const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  for (int i = 0; i < 5; i++) {
    cr_assert_str_eq(kw_codec_name(i), names[i]);
    cr_assert_eq(kw_codec_from_name(names[i]), i);
  }
  cr_assert_null(kw_codec_name(5));
  cr_assert_null(kw_codec_name(-1));
  cr_assert_eq(kw_codec_from_name("brotli"), -1);
  cr_assert_eq(kw_codec_from_name(NULL), -1);
  for (int i = 0; i < 4; i++) cr_assert(kw_codec_available(i));
#ifdef KW_HAVE_ZSTD
  cr_assert(kw_codec_available(KW_CODEC_ZSTD));
#else
  cr_assert_not(kw_codec_available(KW_CODEC_ZSTD));
#endif
  for (int i = 5; i <= 7; i++) cr_assert_not(kw_codec_available(i));
}

Test(compress, unsupported_codec) {
  kw_buf b;
  kw_buf_init_grow(&b, NULL);
  for (int c = 5; c <= 8; c++) {
    cr_assert_eq(kw_compress(c, -1, "x", 1, &b), KW_ERR_UNSUPPORTED_CODEC);
    cr_assert_eq(kw_decompress(c, "x", 1, 100, &b), KW_ERR_UNSUPPORTED_CODEC);
  }
  cr_assert_eq(kw_compress(-1, -1, "x", 1, &b), KW_ERR_UNSUPPORTED_CODEC);
#ifndef KW_HAVE_ZSTD
  cr_assert_eq(kw_compress(KW_CODEC_ZSTD, -1, "x", 1, &b), KW_ERR_UNSUPPORTED_CODEC);
  cr_assert_eq(kw_decompress(KW_CODEC_ZSTD, "x", 1, 100, &b), KW_ERR_UNSUPPORTED_CODEC);
  /* real zstd frames too (the vectors the zstd build checks) */
  cr_assert_eq(kw_decompress(KW_CODEC_ZSTD, java_hello_zstd, sizeof java_hello_zstd, 100, &b), KW_ERR_UNSUPPORTED_CODEC);
  cr_assert_eq(kw_decompress(KW_CODEC_ZSTD, java_gen_zstd, sizeof java_gen_zstd, 1 << 20, &b), KW_ERR_UNSUPPORTED_CODEC);
  cr_assert_eq(kw_decompress(KW_CODEC_ZSTD, cli_gen_zstd, sizeof cli_gen_zstd, 1 << 20, &b), KW_ERR_UNSUPPORTED_CODEC);
#endif
  cr_assert_eq(b.len, 0);
  kw_buf_free(&b);
}

Test(compress, bad_arguments) {
  kw_buf b;
  kw_buf_init_count(&b);
  cr_assert_eq(kw_compress(KW_CODEC_LZ4, -1, "x", 1, &b), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_decompress(KW_CODEC_LZ4, "x", 1, 10, &b), KW_ERR_INVALID_ARG);
  kw_buf_init_grow(&b, NULL);
  cr_assert_eq(kw_compress(KW_CODEC_GZIP, 10, "x", 1, &b), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_compress(KW_CODEC_GZIP, -2, "x", 1, &b), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_compress(KW_CODEC_SNAPPY, -1, NULL, 1, &b), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_compress(KW_CODEC_SNAPPY, -1, NULL, 0, &b), 0);
  b.err = KW_ERR_NOMEM; /* a sticky error is returned, nothing is written */
  size_t len = b.len;
  cr_assert_eq(kw_compress(KW_CODEC_LZ4, -1, "x", 1, &b), KW_ERR_NOMEM);
  cr_assert_eq(b.len, len);
  kw_buf_free(&b);
  /* empty input decompresses to an error except for "none" */
  for (size_t i = 0; i < NCODECS; i++) {
    kw_buf d;
    int rc = dec(codecs[i], "", 0, 100, &d);
    cr_assert_eq(rc, codecs[i] == KW_CODEC_NONE ? 0 : KW_ERR_DECOMPRESS, "%s", kw_codec_name(codecs[i]));
    kw_buf_free(&d);
  }
}

/* ---------- round trips */

Test(compress, roundtrip_small) {
  roundtrip_all((const uint8_t *)"", 0);
  roundtrip_all((const uint8_t *)"x", 1);
  roundtrip_all((const uint8_t *)HELLO, strlen(HELLO));
  uint8_t b[300];
  for (size_t n = 0; n < sizeof b; n++) { /* every small length, around the MFLIMIT edges */
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)"aab"[(i * 7 + n) % 3];
    roundtrip_all(b, n);
  }
}

Test(compress, roundtrip_text) {
  uint8_t *t = gen_text(70000);
  roundtrip_all(t, 70000);
  cr_assert_lt(csize(KW_CODEC_LZ4, t, 70000), 7000);
  cr_assert_lt(csize(KW_CODEC_SNAPPY, t, 70000), 7000);
  roundtrip_level(KW_CODEC_GZIP, 1, t, 70000);
  roundtrip_level(KW_CODEC_GZIP, 9, t, 70000);
  roundtrip_level(KW_CODEC_GZIP, 0, t, 70000);
#ifdef KW_HAVE_ZSTD
  roundtrip_level(KW_CODEC_ZSTD, 1, t, 70000);
  roundtrip_level(KW_CODEC_ZSTD, 19, t, 70000);
#endif
  free(t);
}

Test(compress, roundtrip_random) {
  uint8_t *r = gen_random(300000);
  roundtrip_all(r, 300000);
  /* incompressible: LZ4 stores blocks, snappy emits literals; both stay near n */
  cr_assert_lt(csize(KW_CODEC_LZ4, r, 300000), 300000 + 64);
  cr_assert_lt(csize(KW_CODEC_SNAPPY, r, 300000), 300000 + 300);
  free(r);
}

Test(compress, roundtrip_repetitive) {
  size_t n = 1 << 20;
  uint8_t *z = calloc(n, 1);
  roundtrip_all(z, n);
  cr_assert_lt(csize(KW_CODEC_LZ4, z, n), n / 200);
  cr_assert_lt(csize(KW_CODEC_SNAPPY, z, n), n / 16);
  for (size_t i = 0; i < n; i++) z[i] = (uint8_t)"abcdefg"[i % 7];
  roundtrip_all(z, n);
  free(z);
}

Test(compress, roundtrip_1mb_mixed) {
  size_t n = 1 << 20;
  uint8_t *m = gen_mixed(n);
  roundtrip_all(m, n);
  free(m);
}

Test(compress, appends_after_existing_bytes) {
  uint8_t *t = gen_text(5000);
  for (size_t i = 0; i < NCODECS; i++) {
    kw_buf c, d;
    kw_buf_init_grow(&c, NULL);
    kw_buf_raw(&c, "PFX", 3);
    cr_assert_eq(kw_compress(codecs[i], -1, t, 5000, &c), 0);
    cr_assert_eq(memcmp(c.data, "PFX", 3), 0);
    kw_buf_init_grow(&d, NULL);
    kw_buf_raw(&d, "pre", 3);
    cr_assert_eq(kw_decompress(codecs[i], c.data + 3, c.len - 3, 5000, &d), 0);
    cr_assert_eq(d.len, 5003);
    cr_assert(memcmp(d.data, "pre", 3) == 0 && memcmp(d.data + 3, t, 5000) == 0);
    /* a failure leaves the earlier bytes and nothing else */
    cr_assert_eq(kw_decompress(codecs[i], c.data + 3, c.len - 3, 10, &d), KW_ERR_TOO_LARGE);
    cr_assert_eq(d.len, 5003);
    kw_buf_free(&c);
    kw_buf_free(&d);
  }
  free(t);
}

Test(compress, fixed_buffers) {
  uint8_t *t = gen_text(20000), small[64], big[40000];
  for (size_t i = 0; i < NCODECS; i++) {
    kw_buf c, d;
    kw_buf_init_fixed(&c, small, sizeof small);
    cr_assert_eq(kw_compress(codecs[i], -1, t, 20000, &c), KW_ERR_BUF_FULL, "%s", kw_codec_name(codecs[i]));
    cr_assert_eq(c.len, 0);
    kw_buf_init_fixed(&c, big, sizeof big);
    cr_assert_eq(kw_compress(codecs[i], -1, t, 20000, &c), 0);
    /* decompress into a buffer of exactly the right size, then one byte short */
    uint8_t *o = malloc(20000);
    kw_buf_init_fixed(&d, o, 20000);
    cr_assert_eq(kw_decompress(codecs[i], c.data, c.len, 1 << 20, &d), 0, "%s", kw_codec_name(codecs[i]));
    cr_assert(d.len == 20000 && memcmp(o, t, 20000) == 0);
    kw_buf_init_fixed(&d, o, 19999);
    cr_assert_eq(kw_decompress(codecs[i], c.data, c.len, 1 << 20, &d), KW_ERR_BUF_FULL, "%s", kw_codec_name(codecs[i]));
    cr_assert_eq(d.len, 0);
    free(o);
  }
  free(t);
}

/* ---------- known answers */

static void expect(int codec, const uint8_t *v, size_t n, const uint8_t *want, size_t wn) {
  kw_buf d;
  int rc = dec(codec, v, n, wn, &d);
  cr_assert_eq(rc, 0, "%s: %s", kw_codec_name(codec), kw_strerror(rc));
  cr_assert_eq(d.len, wn, "%s: %zu bytes, %zu expected", kw_codec_name(codec), d.len, wn);
  cr_assert(wn == 0 || memcmp(d.data, want, wn) == 0, "%s: content differs", kw_codec_name(codec));
  kw_buf_free(&d);
}
#define EXPECT(codec, v, want, wn) expect(codec, v, sizeof v, (const uint8_t *)(want), wn)

Test(compress, java_client_vectors) {
  uint8_t *t = gen_text(70000);
  EXPECT(KW_CODEC_GZIP, java_hello_gzip, HELLO, strlen(HELLO));
  EXPECT(KW_CODEC_SNAPPY, java_hello_snappy, HELLO, strlen(HELLO));
  EXPECT(KW_CODEC_LZ4, java_hello_lz4, HELLO, strlen(HELLO));
  EXPECT(KW_CODEC_LZ4, java_hello_lz4_v0, HELLO, strlen(HELLO));
  EXPECT(KW_CODEC_GZIP, java_gen_gzip, t, 70000);
  EXPECT(KW_CODEC_SNAPPY, java_gen_snappy, t, 70000);
  EXPECT(KW_CODEC_LZ4, java_gen_lz4, t, 70000);
#ifdef KW_HAVE_ZSTD
  EXPECT(KW_CODEC_ZSTD, java_hello_zstd, HELLO, strlen(HELLO));
  EXPECT(KW_CODEC_ZSTD, java_gen_zstd, t, 70000);
#endif
  free(t);
}

Test(compress, reference_tool_vectors) {
  uint8_t *t = gen_text(70000);
  EXPECT(KW_CODEC_LZ4, py_gen_lz4_linked, t, 70000);
  EXPECT(KW_CODEC_LZ4, py_hello_lz4_sums, HELLO, strlen(HELLO));
  EXPECT(KW_CODEC_SNAPPY, py_gen20k_snappy_raw, t, 20000);
  EXPECT(KW_CODEC_LZ4, cli_gen_lz4, t, 70000);
#ifdef KW_HAVE_ZSTD
  EXPECT(KW_CODEC_ZSTD, cli_gen_zstd, t, 70000);
#endif
  free(t);
}

/* What we write matches what the Java client writes where the format leaves no freedom. */
Test(compress, writes_kafka_headers) {
  kw_buf c;
  kw_buf_init_grow(&c, NULL);
  cr_assert_eq(kw_compress(KW_CODEC_LZ4, -1, HELLO, strlen(HELLO), &c), 0);
  cr_assert_eq(memcmp(c.data, java_hello_lz4, 7), 0); /* magic, FLG 0x60, BD 0x40, HC */
  kw_buf_reset(&c);
  cr_assert_eq(kw_compress(KW_CODEC_SNAPPY, -1, HELLO, strlen(HELLO), &c), 0);
  cr_assert_eq(memcmp(c.data, java_hello_snappy, 16), 0); /* xerial magic, versions */
  kw_buf_reset(&c);
  cr_assert_eq(kw_compress(KW_CODEC_GZIP, -1, HELLO, strlen(HELLO), &c), 0);
  cr_assert(c.data[0] == 0x1f && c.data[1] == 0x8b && c.data[2] == 8);
  kw_buf_free(&c);
}

Test(compress, xxh32) {
  cr_assert_eq(kw_xxh32("", 0, 0), 0x02CC5D05u);
  cr_assert_eq(kw_xxh32("abc", 3, 0), 0x32D153FFu);
  /* the header checksum byte Java wrote for FLG 0x60 BD 0x40 */
  cr_assert_eq((uint8_t)(kw_xxh32("\x60\x40", 2, 0) >> 8), java_hello_lz4[6]);
}

/* Snappy block, hand-assembled from format_description.txt:
 * varint 13 | literal "abcd" (tag 3<<2) | copy-1 len 8 off 4 (tag 0x11, 0x04) | literal "X". */
static const uint8_t snappy_hand[] = {0x0d, 0x0c, 'a', 'b', 'c', 'd', 0x11, 0x04, 0x00, 'X'};
/* Every element kind: literal with a 1-byte length (tag 60<<2), copy-2 (tag (len-1)<<2|2),
 * copy-4 (tag (len-1)<<2|3), overlapping copy-1 with offset 1 (a run). 70 + 5 + 6 + 10 = 91. */
static const uint8_t snappy_hand2[] = {
    91, 0xf0, 69, /* literal of 70: "0123456789" x 7 */
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    (5 - 1) << 2 | 2, 70, 0,       /* copy-2: 5 bytes from 70 back: "01234" */
    (6 - 1) << 2 | 3, 3, 0, 0, 0,  /* copy-4: 6 bytes from 3 back: "234234" */
    (10 - 4) << 2 | 1, 1,          /* copy-1: 10 bytes from 1 back: "4444444444" */
};

Test(compress, snappy_hand_vectors) {
  EXPECT(KW_CODEC_SNAPPY, snappy_hand, "abcdabcdabcdX", 13);
  char want[92];
  for (int i = 0; i < 70; i++) want[i] = (char)('0' + i % 10);
  memcpy(want + 70, "01234" "234234" "4444444444", 21);
  EXPECT(KW_CODEC_SNAPPY, snappy_hand2, want, 91);
  /* the same block in xerial framing, twice */
  uint8_t x[16 + 2 * (4 + sizeof snappy_hand)];
  memcpy(x, java_hello_snappy, 16);
  for (int i = 0; i < 2; i++) {
    uint8_t *p = x + 16 + i * (4 + sizeof snappy_hand);
    p[0] = p[1] = p[2] = 0, p[3] = sizeof snappy_hand;
    memcpy(p + 4, snappy_hand, sizeof snappy_hand);
  }
  EXPECT(KW_CODEC_SNAPPY, x, "abcdabcdabcdXabcdabcdabcdX", 26);
  EXPECT(KW_CODEC_SNAPPY, ((uint8_t[]){0x00}), "", 0); /* empty raw block */
  /* header only: what Java writes for an empty stream */
  expect(KW_CODEC_SNAPPY, java_hello_snappy, 16, (const uint8_t *)"", 0);
}

/* LZ4 frames from lz4_Frame_format.md: magic, FLG 0x60, BD 0x40, HC 0x82 (= the Java
 * header above), then blocks, EndMark. */
static const uint8_t lz4_stored[] = {0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, /* header */
                                     0x05, 0x00, 0x00, 0x80, 'h', 'e', 'l', 'l', 'o', /* stored */
                                     0x00, 0x00, 0x00, 0x00};
/* compressed block: token 0x22 (2 literals, match 4+2), "ab", offset 2 (overlap) | token 0x10 "c" */
static const uint8_t lz4_overlap[] = {0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0x07, 0x00, 0x00, 0x00,
                                      0x22, 'a', 'b', 0x02, 0x00, 0x10, 'c', 0x00, 0x00, 0x00, 0x00};
/* literal length 15 + 3 through the 255-run form (0xF0, 0x03), match length 4+15+0 (0x0F, 0x00) */
static const uint8_t lz4_long_lengths[] = {
    0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 24, 0, 0, 0, 0xff, 3,
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R',
    1, 0, 0, /* offset 1, extra 0: 19 x 'R' */
    0x00, /* last sequence: no literals */
    0, 0, 0, 0};

Test(compress, lz4_hand_vectors) {
  EXPECT(KW_CODEC_LZ4, lz4_stored, "hello", 5);
  EXPECT(KW_CODEC_LZ4, lz4_overlap, "ababababc", 9);
  char want[40];
  memcpy(want, "ABCDEFGHIJKLMNOPQR", 18);
  memset(want + 18, 'R', 19);
  EXPECT(KW_CODEC_LZ4, lz4_long_lengths, want, 37);
  /* a skippable frame (magic 0x184D2A5F, 3 bytes) before and two frames in a row */
  uint8_t multi[8 + 3 + 2 * sizeof lz4_stored] = {0x5f, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'z', 'z', 'z'};
  memcpy(multi + 11, lz4_stored, sizeof lz4_stored);
  memcpy(multi + 11 + sizeof lz4_stored, lz4_stored, sizeof lz4_stored);
  EXPECT(KW_CODEC_LZ4, multi, "hellohello", 10);
  /* the header checksum is checked */
  uint8_t bad[sizeof lz4_stored];
  memcpy(bad, lz4_stored, sizeof bad);
  bad[6] ^= 1;
  kw_buf d;
  cr_assert_eq(dec(KW_CODEC_LZ4, bad, sizeof bad, 100, &d), KW_ERR_DECOMPRESS);
  kw_buf_free(&d);
}

Test(compress, lz4_checksums_checked) {
  /* py_hello_lz4_sums carries block and content checksums: flip each in turn */
  size_t n = sizeof py_hello_lz4_sums;
  uint8_t *v = malloc(n);
  for (size_t at = 0; at < n; at++) {
    memcpy(v, py_hello_lz4_sums, n);
    v[at] ^= 0x10;
    kw_buf d;
    int rc = dec(KW_CODEC_LZ4, v, n, 1000, &d);
    cr_assert_neq(rc, 0, "a flipped bit at %zu went unnoticed", at);
    kw_buf_free(&d);
  }
  free(v);
}

/* ---------- hostile input */

static void expect_err(int codec, const void *v, size_t n, size_t max_out, int want) {
  kw_buf d;
  int rc = dec(codec, v, n, max_out, &d);
  cr_assert_eq(rc, want, "%s: got %s, want %s", kw_codec_name(codec), kw_errname(rc), kw_errname(want));
  cr_assert_eq(d.len, 0);
  kw_buf_free(&d);
}

Test(compress, bad_offsets_and_lengths) {
  /* snappy: copy reaching before the output start, offset 0, copy past the announced length */
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){5, 0x00, 'a', 0x01, 0x02}), 5, 100, KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){5, 0x00, 'a', 0x01, 0x00}), 5, 100, KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){4, 0x00, 'a', 0x01, 0x01}), 5, 100, KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){9, 0x00, 'a', 0x01, 0x01}), 5, 100, KW_ERR_DECOMPRESS);
  /* snappy: length varint of more than 32 bits, literal length 2^32 - 1, short literal */
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){0xff, 0xff, 0xff, 0xff, 0x1f, 0}), 6, SIZE_MAX, KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){0xff, 0xff, 0xff, 0xff, 0x0f}), 5, 1000, KW_ERR_TOO_LARGE);
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){5, 0xfc, 0xff, 0xff, 0xff, 0xff, 'a'}), 7, 100, KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_SNAPPY, ((uint8_t[]){5, 0x10, 'a'}), 3, 100, KW_ERR_DECOMPRESS);
  /* xerial: block length past the end, zero, and 0xFFFFFFFF */
  uint8_t x[24];
  memcpy(x, java_hello_snappy, 16);
  memcpy(x + 16, (uint8_t[]){0, 0, 0, 5, 1, 0, 'a', 0}, 8);
  expect_err(KW_CODEC_SNAPPY, x, 24, 100, KW_ERR_DECOMPRESS);
  memcpy(x + 16, (uint8_t[]){0, 0, 0, 0}, 4);
  expect_err(KW_CODEC_SNAPPY, x, 20, 100, KW_ERR_DECOMPRESS);
  memcpy(x + 16, (uint8_t[]){0xff, 0xff, 0xff, 0xff}, 4);
  expect_err(KW_CODEC_SNAPPY, x, 24, 100, KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_SNAPPY, x, 18, 100, KW_ERR_DECOMPRESS); /* partial length */

  /* LZ4: offset before the output start, offset 0, long literal run past the input */
  uint8_t f[sizeof lz4_overlap];
  memcpy(f, lz4_overlap, sizeof f);
  f[14] = 3;
  expect_err(KW_CODEC_LZ4, f, sizeof f, 100, KW_ERR_DECOMPRESS);
  f[14] = 0;
  expect_err(KW_CODEC_LZ4, f, sizeof f, 100, KW_ERR_DECOMPRESS);
  uint8_t lit[] = {0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 6, 0, 0, 0, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  expect_err(KW_CODEC_LZ4, lit, sizeof lit, 1 << 20, KW_ERR_DECOMPRESS);
  /* LZ4: block sizes over the maximum, past the end; stored block over max_out */
  uint8_t bs[] = {0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
  expect_err(KW_CODEC_LZ4, bs, sizeof bs, 1 << 20, KW_ERR_DECOMPRESS);
  bs[10] = 0xff;
  expect_err(KW_CODEC_LZ4, bs, sizeof bs, 1 << 20, KW_ERR_DECOMPRESS);
  memcpy(bs + 7, (uint8_t[]){0x00, 0x00, 0x01, 0x00}, 4); /* 65536 declared, 4 present */
  expect_err(KW_CODEC_LZ4, bs, sizeof bs, 1 << 20, KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_LZ4, lz4_stored, sizeof lz4_stored, 4, KW_ERR_TOO_LARGE);
  /* LZ4: skippable frame announcing more than there is; unknown magic; dictionary id */
  expect_err(KW_CODEC_LZ4, ((uint8_t[]){0x50, 0x2a, 0x4d, 0x18, 0xff, 0xff, 0xff, 0xff, 0}), 9, 100,
             KW_ERR_DECOMPRESS);
  expect_err(KW_CODEC_LZ4, ((uint8_t[]){0x03, 0x21, 0x4c, 0x18, 0, 0, 0, 0}), 8, 100, KW_ERR_DECOMPRESS);
  uint8_t dict[] = {0x04, 0x22, 0x4d, 0x18, 0x61, 0x40, 1, 2, 3, 4, 0, 0, 0, 0, 0};
  dict[10] = (uint8_t)(kw_xxh32(dict + 4, 6, 0) >> 8);
  expect_err(KW_CODEC_LZ4, dict, sizeof dict, 100, KW_ERR_DECOMPRESS);
  /* LZ4: content size field that disagrees with the content */
  uint8_t cs[] = {0x04, 0x22, 0x4d, 0x18, 0x68, 0x40, 6, 0, 0, 0, 0, 0, 0, 0, 0,
                  0x05, 0x00, 0x00, 0x80, 'h', 'e', 'l', 'l', 'o', 0, 0, 0, 0};
  cs[14] = (uint8_t)(kw_xxh32(cs + 4, 10, 0) >> 8);
  expect_err(KW_CODEC_LZ4, cs, sizeof cs, 100, KW_ERR_DECOMPRESS);
  cs[6] = 5;
  cs[14] = (uint8_t)(kw_xxh32(cs + 4, 10, 0) >> 8);
  expect(KW_CODEC_LZ4, cs, sizeof cs, (const uint8_t *)"hello", 5);
}

/* Every prefix of a valid buffer: an error or (at a block boundary) a correct prefix. */
static void truncations(int codec, const uint8_t *v, size_t n, const uint8_t *orig, size_t on) {
  for (size_t cut = 0; cut < n; cut++) {
    uint8_t *p = malloc(cut + 1); /* exact size, so ASan sees any over-read */
    memcpy(p, v, cut);
    kw_buf d;
    int rc = dec(codec, p, cut, on, &d);
    if (rc == 0) {
      cr_assert(d.len < on && (d.len == 0 || memcmp(d.data, orig, d.len) == 0), "%s: cut at %zu gave wrong bytes",
                kw_codec_name(codec), cut);
    } else {
      cr_assert(rc == KW_ERR_DECOMPRESS, "%s: cut at %zu: %s", kw_codec_name(codec), cut, kw_errname(rc));
      cr_assert_eq(d.len, 0);
    }
    kw_buf_free(&d);
    free(p);
  }
}

Test(compress, truncation_at_every_byte) {
  uint8_t *t = gen_mixed(40000);
  for (size_t i = 1; i < NCODECS; i++) {
    kw_buf c;
    kw_buf_init_grow(&c, NULL);
    cr_assert_eq(kw_compress(codecs[i], -1, t, 40000, &c), 0);
    truncations(codecs[i], c.data, c.len, t, 40000);
    kw_buf_free(&c);
  }
  kw_buf c;
  kw_buf_init_grow(&c, NULL);
  cr_assert_eq(kw_snappy_compress_raw(t, 40000, &c), 0);
  truncations(KW_CODEC_SNAPPY, c.data, c.len, t, 40000);
  kw_buf_free(&c);
  free(t);
  t = gen_text(70000);
  truncations(KW_CODEC_LZ4, py_gen_lz4_linked, sizeof py_gen_lz4_linked, t, 70000);
  truncations(KW_CODEC_LZ4, cli_gen_lz4, sizeof cli_gen_lz4, t, 70000);
  truncations(KW_CODEC_SNAPPY, java_gen_snappy, sizeof java_gen_snappy, t, 70000);
  free(t);
}

/* Random bytes, alone and behind each format's magic, and bit flips in valid buffers: any
 * answer but a crash, and never more than max_out. */
static void garbage(int codec, const uint8_t *prefix, size_t plen, const uint8_t *valid, size_t vlen) {
  uint8_t buf[600];
  for (int iter = 0; iter < 3000; iter++) {
    size_t n = rnd() % sizeof buf;
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
    if (iter % 3 == 1 && n >= plen) memcpy(buf, prefix, plen);
    if (iter % 3 == 2 && vlen <= sizeof buf) {
      n = vlen;
      memcpy(buf, valid, n);
      for (int k = 1 + (int)(rnd() % 4); k > 0; k--) buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
    }
    uint8_t *p = malloc(n + 1);
    memcpy(p, buf, n);
    kw_buf d;
    int rc = dec(codec, p, n, 100000, &d);
    cr_assert(rc <= 0 && d.len <= 100000);
    kw_buf_free(&d);
    free(p);
  }
}

Test(compress, random_garbage) {
  uint8_t *t = gen_text(3000);
  for (size_t i = 1; i < NCODECS; i++) {
    kw_buf c;
    kw_buf_init_grow(&c, NULL);
    cr_assert_eq(kw_compress(codecs[i], -1, t, 3000, &c), 0);
    garbage(codecs[i], c.data, codecs[i] == KW_CODEC_SNAPPY ? 20 : 7, c.data, c.len);
    kw_buf_free(&c);
  }
  kw_buf c;
  kw_buf_init_grow(&c, NULL);
  cr_assert_eq(kw_snappy_compress_raw(t, 3000, &c), 0);
  garbage(KW_CODEC_SNAPPY, c.data, 2, c.data, c.len);
  kw_buf_free(&c);
  garbage(KW_CODEC_LZ4, py_hello_lz4_sums, 15, py_hello_lz4_sums, sizeof py_hello_lz4_sums);
  free(t);
}

/* ---------- bombs: 100 MB of zeros against max_out = 1 MB */

/* Allocator that records the peak bytes live, to show that a bomb stays bounded. */
typedef struct {
  size_t live, peak;
} tally;
static void *t_alloc(void *ud, size_t n) {
  tally *t = ud;
  size_t *p = malloc(n + sizeof(size_t) * 2);
  if (!p) return NULL;
  *p = n;
  t->live += n;
  if (t->live > t->peak) t->peak = t->live;
  return p + 2;
}
static void t_free(void *ud, void *q) {
  if (!q) return;
  size_t *p = (size_t *)q - 2;
  ((tally *)ud)->live -= *p;
  free(p);
}
static void *t_realloc(void *ud, void *q, size_t n) {
  void *r = t_alloc(ud, n);
  if (r && q) {
    size_t old = ((size_t *)q)[-2];
    memcpy(r, q, old < n ? old : n);
    t_free(ud, q);
  }
  return r;
}

#define BOMB ((size_t)100 << 20)
#define CAP ((size_t)1 << 20)

static void expect_bomb(int codec, const uint8_t *v, size_t n) {
  tally t = {0, 0};
  kw_mem m = {&t, t_alloc, t_realloc, t_free};
  kw_buf d;
  kw_buf_init_grow(&d, &m);
  int rc = kw_decompress(codec, v, n, CAP, &d);
  cr_assert_eq(rc, KW_ERR_TOO_LARGE, "%s bomb: %s", kw_codec_name(codec), kw_errname(rc));
  cr_assert_eq(d.len, 0);
  /* the output (at most twice the cap, plus the old block while it grows) and the codec
   * state; zstd's includes its window, up to 8 MB */
  size_t bound = codec == KW_CODEC_ZSTD ? 16 * CAP : 4 * CAP;
  cr_assert_lt(t.peak, bound, "%s bomb: %zu bytes allocated", kw_codec_name(codec), t.peak);
  kw_buf_free(&d);
  cr_assert_eq(t.live, 0);
}

Test(compress, gzip_bomb) {
  static uint8_t zeros[1 << 16];
  z_stream z = {0};
  cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = 1 << 20, len = 0;
  uint8_t *out = malloc(cap);
  for (size_t done = 0; done < BOMB; done += sizeof zeros) {
    z.next_in = zeros;
    z.avail_in = sizeof zeros;
    int flush = done + sizeof zeros == BOMB ? Z_FINISH : Z_NO_FLUSH, rc;
    do {
      z.next_out = out + len;
      z.avail_out = (uInt)(cap - len);
      rc = deflate(&z, flush);
      len = cap - z.avail_out;
    } while (z.avail_in || (flush == Z_FINISH && rc != Z_STREAM_END));
  }
  deflateEnd(&z);
  cr_assert_lt(len, 200000);
  expect_bomb(KW_CODEC_GZIP, out, len);
  free(out);
}

#ifdef KW_HAVE_ZSTD
Test(compress, zstd_bomb) {
  static uint8_t zeros[1 << 16];
  for (int pledged = 0; pledged < 2; pledged++) { /* without and with the content size */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    if (pledged) ZSTD_CCtx_setPledgedSrcSize(cc, BOMB);
    size_t cap = 1 << 20, len = 0;
    uint8_t *out = malloc(cap);
    for (size_t done = 0; done < BOMB; done += sizeof zeros) {
      ZSTD_inBuffer ib = {zeros, sizeof zeros, 0};
      ZSTD_EndDirective end = done + sizeof zeros == BOMB ? ZSTD_e_end : ZSTD_e_continue;
      size_t left;
      do {
        ZSTD_outBuffer ob = {out + len, cap - len, 0};
        left = ZSTD_compressStream2(cc, &ob, &ib, end);
        cr_assert(!ZSTD_isError(left));
        len += ob.pos;
      } while (ib.pos < ib.size || (end == ZSTD_e_end && left));
    }
    ZSTD_freeCCtx(cc);
    expect_bomb(KW_CODEC_ZSTD, out, len);
    free(out);
  }
}

/* A zstd frame by hand (RFC 8878): magic, FHD 0 (no content size), window descriptor,
 * one last raw block of 1 byte. The window it demands is what the decoder allocates, so
 * one beyond the cap's allowance is refused. */
Test(compress, zstd_window_limit) {
  uint8_t f[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3 /* 2^23 */, 0x09, 0x00, 0x00, 'a'};
  expect(KW_CODEC_ZSTD, f, sizeof f, (const uint8_t *)"a", 1);
  f[5] = 20 << 3; /* 2^30 */
  expect_err(KW_CODEC_ZSTD, f, sizeof f, CAP, KW_ERR_TOO_LARGE);
}
#endif

/* LZ4 and xerial snappy bombs: one block of 64 KB (32 KB) zeros, repeated. */
Test(compress, lz4_and_snappy_bombs) {
  static uint8_t zeros[1 << 16];
  kw_buf c;
  kw_buf_init_grow(&c, NULL);
  cr_assert_eq(kw_compress(KW_CODEC_LZ4, -1, zeros, sizeof zeros, &c), 0);
  size_t blk = c.len - 7 - 4, reps = BOMB / sizeof zeros;
  uint8_t *v = malloc(7 + reps * blk + 4), *p = v;
  memcpy(p, c.data, 7), p += 7;
  for (size_t i = 0; i < reps; i++) memcpy(p, c.data + 7, blk), p += blk;
  memset(p, 0, 4), p += 4;
  expect_bomb(KW_CODEC_LZ4, v, (size_t)(p - v));
  free(v);

  kw_buf_reset(&c);
  cr_assert_eq(kw_compress(KW_CODEC_SNAPPY, -1, zeros, 32768, &c), 0);
  blk = c.len - 16, reps = BOMB / 32768;
  v = malloc(16 + reps * blk), p = v;
  memcpy(p, c.data, 16), p += 16;
  for (size_t i = 0; i < reps; i++) memcpy(p, c.data + 16, blk), p += blk;
  expect_bomb(KW_CODEC_SNAPPY, v, (size_t)(p - v));
  free(v);
  kw_buf_free(&c);
  /* raw snappy announcing 100 MB: refused before anything is allocated */
  expect_bomb(KW_CODEC_SNAPPY, (uint8_t[]){0x80, 0x80, 0x80, 0x32, 0x00, 'a'}, 6);
}
