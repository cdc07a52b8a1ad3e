/* kwfuzz-broker: fuzzes a Kafka broker with request frames built and checked by kwire's
 * public codec (kwire/codec.h) only. seeds.c builds and loads the corpus, mutate.c
 * changes frames (seeded, reproducible), wire.c talks to the broker and follows its
 * log, main.c runs the loop and sorts outcomes. */
#ifndef KWFUZZ_H
#define KWFUZZ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kwire/codec.h"

#define KWFUZZ_MAX_FRAME (1u << 20) /* mutated frames never grow past this */

/* A whole request frame: int32 size, header, body. body_off is where the body starts
 * (what mutations aim at most of the time, so the broker gets past the header). */
typedef struct frame {
  uint8_t *data;
  size_t len, body_off;
  int16_t api_key, api_version;
} frame;

typedef struct corpus {
  frame *items;
  size_t n, cap;
} corpus;

/* seeds.c */
/* Adds a copy of a request frame, with or without its size prefix (the golden captures
 * in tests/data/golden/ have none). Returns 0, or -1 when the header is unreadable. */
int corpus_add(corpus *c, const uint8_t *data, size_t len);
/* Every regular file of a directory, or one file. Returns how many were added. */
int corpus_load(corpus *c, const char *path);
/* Frames encoded from the generated structs: every API kwire speaks at every version,
 * with default fields and, for the APIs that reach a partition, filled ones aimed at
 * `topic` (its id for the versions that name topics by id). Returns how many. */
int corpus_generate(corpus *c, const char *topic, const kw_uuid *topic_id);
void corpus_free(corpus *c);

/* Decodes a frame as the broker would (header at the version its API and version call
 * for, then the body): true when kwire's codec reads all of it. *acks_zero is set for a
 * Produce the broker reads as acks = 0, which it never answers (decodable or not). */
bool frame_decodes(const uint8_t *data, size_t len, kw_arena *arena, bool *acks_zero);

/* mutate.c: xoshiro-style generator, the only source of randomness, so a seed and a
 * count replay a run exactly. */
typedef struct rng {
  uint64_t s[4];
} rng;
void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
size_t rng_below(rng *r, size_t n); /* 0..n-1; 0 when n is 0 */
/* Writes a mutation of seed (1-4 stacked changes, sometimes spliced with another frame
 * of the corpus) to out, size prefix fixed up most of the time. Returns its length. */
size_t mutate(rng *r, const corpus *c, const frame *seed, uint8_t *out, size_t cap);

/* wire.c */
enum { WIRE_ANSWERED = 0, WIRE_CLOSED = -1, WIRE_TIMEOUT = -2 };
int wire_connect(const char *host_port, int timeout_ms); /* fd or -1 (errno-like text on stderr) */
int wire_send(int fd, const uint8_t *p, size_t n); /* 0 or WIRE_CLOSED */
/* Reads one response frame into `in` (reset first): WIRE_ANSWERED, WIRE_CLOSED or WIRE_TIMEOUT. */
int wire_recv_frame(int fd, kw_buf *in, int timeout_ms);

/* Follows a growing log file from its current end. */
typedef struct logtail {
  int fd;
  char pending[8192]; /* a line not yet complete */
  size_t pending_len;
} logtail;
int logtail_open(logtail *t, const char *path); /* -1 when it cannot be opened */
/* Calls fn for each complete new line (without '\n'). */
void logtail_poll(logtail *t, void (*fn)(void *ctx, const char *line), void *ctx);
void logtail_close(logtail *t);

#endif
