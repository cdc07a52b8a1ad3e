/* Codec dispatch, gzip through zlib, zstd through libzstd (see kw_compress.h). */
#include <limits.h>
#include <string.h>
#include <zlib.h>
#ifdef KW_HAVE_ZSTD
/* For ZSTD_customMem and the *_advanced constructors: "experimental", but unchanged since
 * zstd 1.0 and exported by the shared library; they let zstd allocate through kw_mem. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>
#endif
#include "kwire/error.h"
#include "proto/compress/kw_compress.h"
#include "core/kw_mem.h"

static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};

bool kw_codec_available(int codec) {
#ifndef KW_HAVE_ZSTD
  if (codec == KW_CODEC_ZSTD) return false;
#endif
  return codec >= KW_CODEC_NONE && codec <= KW_CODEC_ZSTD;
}

const char *kw_codec_name(int codec) {
  return codec >= KW_CODEC_NONE && codec <= KW_CODEC_ZSTD ? names[codec] : NULL;
}

int kw_codec_from_name(const char *name) {
  for (int i = 0; name && i <= KW_CODEC_ZSTD; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

size_t kw_compress_room(kw_buf *out, size_t want) {
  if (out->mode == KW_BUF_GROW && kw_buf_reserve(out, want)) return 0;
  size_t room = out->cap - out->len;
  if (!room && want) kw_buf_reserve(out, 1); /* fixed and full: sets KW_ERR_BUF_FULL */
  return room;
}

/* --- gzip */

/* zlib allocates through the output buffer's allocator (libc for fixed buffers). */
static voidpf z_alloc(voidpf mem, uInt items, uInt size) {
  return items && size > SIZE_MAX / items ? NULL : kw_alloc(mem, (size_t)items * size);
}
static void z_free(voidpf mem, voidpf p) { kw_free(mem, p); }

static void z_init(z_stream *z, const kw_buf *out) {
  memset(z, 0, sizeof *z);
  z->zalloc = z_alloc;
  z->zfree = z_free;
  z->opaque = (voidpf)(out->mode == KW_BUF_GROW ? out->mem : NULL);
}

/* Hands zlib the next slice of input (it counts in uInt). */
static void z_feed(z_stream *z, const uint8_t **in, size_t *left) {
  if (z->avail_in || !*left) return;
  uInt n = *left > UINT_MAX ? UINT_MAX : (uInt)*left;
  z->next_in = (Bytef *)(uintptr_t)*in;
  z->avail_in = n;
  *in += n, *left -= n;
}

static int gzip_compress(int level, const uint8_t *in, size_t n, kw_buf *out) {
  if (level < -1 || level > 9) return KW_ERR_INVALID_ARG;
  z_stream z;
  z_init(&z, out);
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return KW_ERR_NOMEM;
  int rc = Z_OK, err = 0;
  while (rc != Z_STREAM_END) {
    z_feed(&z, &in, &n);
    size_t room = kw_compress_room(out, deflateBound(&z, z.avail_in) + 64);
    if (!room) {
      err = out->err;
      break;
    }
    z.next_out = out->data + out->len;
    z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
    uInt before = z.avail_out;
    rc = deflate(&z, n ? Z_NO_FLUSH : Z_FINISH);
    out->len += before - z.avail_out;
    if (rc == Z_STREAM_ERROR) {
      err = KW_ERR_NOMEM;
      break;
    }
  }
  deflateEnd(&z);
  return err;
}

/* How much output space to offer next: generous for the input at hand, but never more
 * than one byte past the cap (that byte tells "exactly max_out" from "more"). */
static size_t out_step(size_t in_left, size_t left) {
  size_t want = in_left < 16384 ? 65536 : in_left < SIZE_MAX / 4 ? 4 * in_left : in_left;
  return want <= left ? want : left < SIZE_MAX ? left + 1 : left;
}

static int gzip_decompress(const uint8_t *in, size_t n, size_t max_out, kw_buf *out) {
  z_stream z;
  z_init(&z, out);
  if (inflateInit2(&z, 15 + 32) != Z_OK) return KW_ERR_NOMEM; /* gzip (or zlib) header */
  size_t left = max_out;
  int rc = Z_OK, err = 0;
  for (;;) {
    z_feed(&z, &in, &n);
    if (rc == Z_STREAM_END) {
      if (!z.avail_in) break;
      inflateReset(&z); /* concatenated members */
    }
    size_t want = out_step(n + z.avail_in, left), room = kw_compress_room(out, want);
    if (!room) {
      err = out->err;
      break;
    }
    z.next_out = out->data + out->len;
    if (room > want) room = want;
    z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
    uInt before = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    size_t got = before - z.avail_out;
    out->len += got;
    if (got > left) {
      err = KW_ERR_TOO_LARGE;
      break;
    }
    left -= got;
    /* Z_BUF_ERROR: no progress although we gave input (if any was left) and room, so the
     * stream is truncated. */
    if (rc != Z_OK && rc != Z_STREAM_END) {
      err = rc == Z_MEM_ERROR ? KW_ERR_NOMEM : KW_ERR_DECOMPRESS;
      break;
    }
  }
  inflateEnd(&z);
  return err;
}

/* --- zstd */

#ifdef KW_HAVE_ZSTD
static void *zs_alloc(void *mem, size_t n) { return kw_alloc(mem, n); }
static void zs_free(void *mem, void *p) { kw_free(mem, p); }
static ZSTD_customMem zs_mem(const kw_buf *out) {
  return (ZSTD_customMem){zs_alloc, zs_free, (void *)(uintptr_t)(out->mode == KW_BUF_GROW ? out->mem : NULL)};
}

static int zstd_compress(int level, const uint8_t *in, size_t n, kw_buf *out) {
  size_t room = kw_compress_room(out, ZSTD_compressBound(n));
  if (!room) return out->err;
  ZSTD_CCtx *cc = ZSTD_createCCtx_advanced(zs_mem(out));
  if (!cc) return KW_ERR_NOMEM;
  size_t r = ZSTD_compressCCtx(cc, out->data + out->len, room, in, n, level == -1 ? ZSTD_CLEVEL_DEFAULT : level);
  ZSTD_freeCCtx(cc);
  if (ZSTD_isError(r)) {
    if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall) return KW_ERR_NOMEM;
    kw_buf_reserve(out, room + 1); /* fixed buffer too small: KW_ERR_BUF_FULL */
    return out->err ? out->err : KW_ERR_BUF_FULL;
  }
  out->len += r;
  return 0;
}

static int zstd_decompress(const uint8_t *in, size_t n, size_t max_out, kw_buf *out) {
  ZSTD_DCtx *dc = ZSTD_createDCtx_advanced(zs_mem(out));
  if (!dc) return KW_ERR_NOMEM;
  /* Bound the window (the decoder's big allocation) by the output cap; 8 MB covers what
   * streaming encoders use up to level 19 when the content size is unknown. */
  int wlog = 23;
  while (wlog < 27 && ((size_t)1 << wlog) < max_out) wlog++;
  ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, wlog);
  ZSTD_inBuffer ib = {in, n, 0};
  size_t left = max_out, ret;
  int err = 0;
  for (;;) {
    size_t want = out_step(n - ib.pos, left), room = kw_compress_room(out, want), pos = ib.pos;
    if (!room) {
      err = out->err;
      break;
    }
    ZSTD_outBuffer ob = {out->data + out->len, room < want ? room : want, 0};
    ret = ZSTD_decompressStream(dc, &ob, &ib);
    if (ZSTD_isError(ret)) {
      ZSTD_ErrorCode e = ZSTD_getErrorCode(ret);
      err = e == ZSTD_error_memory_allocation             ? KW_ERR_NOMEM
            : e == ZSTD_error_frameParameter_windowTooLarge ? KW_ERR_TOO_LARGE
                                                            : KW_ERR_DECOMPRESS;
      break;
    }
    out->len += ob.pos;
    if (ob.pos > left) {
      err = KW_ERR_TOO_LARGE;
      break;
    }
    left -= ob.pos;
    if (ib.pos == ib.size && !ret) break; /* last frame complete and flushed */
    if (ib.pos == ib.size && ob.pos < ob.size) { /* flushed all it could: truncated */
      err = KW_ERR_DECOMPRESS;
      break;
    }
    if (!ob.pos && ib.pos == pos) { /* no progress: never spin */
      err = KW_ERR_DECOMPRESS;
      break;
    }
  }
  ZSTD_freeDCtx(dc);
  return err;
}
#endif

/* --- dispatch */

static int check(kw_buf *out, const void *in, size_t n) {
  if (out->err) return out->err;
  if (out->mode == KW_BUF_COUNT || (!in && n)) return KW_ERR_INVALID_ARG;
  return 0;
}

int kw_compress(int codec, int level, const void *in, size_t n, kw_buf *out) {
  int rc = check(out, in, n);
  if (rc) return rc;
  size_t start = out->len;
  const uint8_t *p = in ? in : (const uint8_t *)"";
  switch (codec) {
  case KW_CODEC_NONE:
    if (n) kw_buf_raw(out, p, n);
    rc = out->err;
    break;
  case KW_CODEC_GZIP: rc = gzip_compress(level, p, n, out); break;
  case KW_CODEC_SNAPPY: rc = kw_snappy_compress(p, n, out); break;
  case KW_CODEC_LZ4: rc = kw_lz4_compress(p, n, out); break;
#ifdef KW_HAVE_ZSTD
  case KW_CODEC_ZSTD: rc = zstd_compress(level, p, n, out); break;
#endif
  default: return KW_ERR_UNSUPPORTED_CODEC;
  }
  if (rc) out->len = start;
  return rc;
}

int kw_decompress(int codec, const void *in, size_t n, size_t max_out, kw_buf *out) {
  int rc = check(out, in, n);
  if (rc) return rc;
  size_t start = out->len;
  const uint8_t *p = in ? in : (const uint8_t *)"";
  switch (codec) {
  case KW_CODEC_NONE:
    if (n > max_out) return KW_ERR_TOO_LARGE;
    if (n) kw_buf_raw(out, p, n);
    rc = out->err;
    break;
  case KW_CODEC_GZIP: rc = n ? gzip_decompress(p, n, max_out, out) : KW_ERR_DECOMPRESS; break;
  case KW_CODEC_SNAPPY: rc = n ? kw_snappy_decompress(p, n, max_out, out) : KW_ERR_DECOMPRESS; break;
  case KW_CODEC_LZ4: rc = kw_lz4_decompress(p, n, max_out, out); break;
#ifdef KW_HAVE_ZSTD
  case KW_CODEC_ZSTD: rc = n ? zstd_decompress(p, n, max_out, out) : KW_ERR_DECOMPRESS; break;
#endif
  default: return KW_ERR_UNSUPPORTED_CODEC;
  }
  if (rc) out->len = start;
  return rc;
}
