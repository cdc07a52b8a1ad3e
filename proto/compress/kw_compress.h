/* Compression as Kafka's RecordBatch uses it (attributes bits 0-2). gzip goes through
 * zlib, zstd through libzstd (when built with it), snappy and LZ4 are in-tree.
 *
 * Both directions append to a kw_buf (fixed or growing; a counting buffer is
 * KW_ERR_INVALID_ARG). On failure the buffer's length is restored, so a caller never sees
 * half an output; allocator and fixed-buffer overflows stay sticky in out->err as usual.
 *
 * What we write, and why:
 *   gzip   RFC 1952 member (zlib windowBits 15+16), like Java's GZIPOutputStream.
 *   snappy xerial framing with 32 KB blocks, byte for byte the layout of the Java client's
 *          SnappyOutputStream (librdkafka reads it too). Reading accepts xerial and raw.
 *   lz4    one LZ4 frame: 64 KB independent blocks, correct header checksum, no content
 *          checksum (what Kafka's own Java writer does). Reading takes any valid frame
 *          sequence, and also the pre-0.10 Kafka header checksum (KAFKA-3160).
 *   zstd   one frame with the content size (ZSTD_compress).
 * Compressing snappy/LZ4 into a fixed buffer needs room for the worst case of each block;
 * decompressing may scribble on a buffer's spare capacity past the bytes it appends. */
#ifndef KW_PROTO_COMPRESS_H
#define KW_PROTO_COMPRESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "kwire/buf.h"
#include "kwire/codec.h" /* enum kw_codec and kw_codec_available() are public */

/* Mask of the codec bits in RecordBatch attributes. */
#define KW_CODEC_MASK 0x07

const char *kw_codec_name(int codec);     /* "none","gzip","snappy","lz4","zstd"; NULL if unknown */
int kw_codec_from_name(const char *name); /* -1 if unknown */

/* Appends the compressed form of in[0..n) to out. level: -1 = codec default; gzip takes
 * 0..9, zstd its own range (clamped by libzstd); snappy and lz4 ignore it. */
int kw_compress(int codec, int level, const void *in, size_t n, kw_buf *out);

/* Appends the decompressed form to out. Fails with KW_ERR_TOO_LARGE as soon as the output
 * would exceed max_out bytes (so a zip bomb is an error, never an out-of-memory) and with
 * KW_ERR_DECOMPRESS on corrupt or truncated input. Hostile input never reads or writes out
 * of bounds. Empty input is an error for every codec except none. */
int kw_decompress(int codec, const void *in, size_t n, size_t max_out, kw_buf *out);

/* --- Codec pieces (kw_snappy.c, kw_lz4.c), for the dispatcher, tests and fuzzers. They
 * assume a fixed or growing `out` without error and may leave partial output on failure. */
int kw_snappy_compress(const uint8_t *in, size_t n, kw_buf *out);     /* xerial framing */
int kw_snappy_compress_raw(const uint8_t *in, size_t n, kw_buf *out); /* one raw snappy block */
int kw_snappy_decompress(const uint8_t *in, size_t n, size_t max_out, kw_buf *out);
int kw_lz4_compress(const uint8_t *in, size_t n, kw_buf *out);
int kw_lz4_decompress(const uint8_t *in, size_t n, size_t max_out, kw_buf *out);
uint32_t kw_xxh32(const void *p, size_t n, uint32_t seed);

/* The back-reference copy of both LZ77 decoders: len bytes from off back (1 <= off <= bytes
 * already out), into [op, oend) which the caller checked holds len. Bytes past op + len but
 * before oend may be scribbled on: they are written later or lie past the output. */
static inline uint8_t *kw_lz_copy(uint8_t *op, size_t off, size_t len, const uint8_t *oend) {
  const uint8_t *from = op - off;
  if (off >= 16 && len <= 32 && oend - op >= 32) { /* the common short match, fixed-size copies */
    memcpy(op, from, 16);
    memcpy(op + 16, from + 16, 16);
    return op + len;
  }
  if (off == 1) {
    memset(op, *from, len);
    return op + len;
  }
  while (len > off) { /* overlapping: the copied pattern doubles each round */
    memcpy(op, from, off);
    op += off, len -= off, off *= 2;
  }
  memcpy(op, from, len);
  return op + len;
}

/* Room for writing at the end of a fixed or growing buffer: a growing one is grown to at
 * least `want` free bytes, a fixed one offers what it has. 0 means none (out->err then says
 * why, unless `want` was 0). */
size_t kw_compress_room(kw_buf *out, size_t want);

#endif
