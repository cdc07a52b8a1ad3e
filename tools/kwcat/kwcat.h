/* kwcat's shared pieces: the parsed command line, kcat-style messages, and the entry
 * points of each mode (metadata.c: -L, produce.c: -P) and of the input splitter (input.c). */
#ifndef KWCAT_H
#define KWCAT_H
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "kwire.h"

#define KWCAT_MAX_HEADERS 64 /* what kw_produce accepts per message */

/* kcat's verbosity: 0 with -q, 1 by default, +1 per -v. */
extern int kwcat_verbosity;

/* Informational line to stderr, kcat style ("% ..."), when verbosity >= level. */
void kwcat_info(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "% ERROR: ..." to stderr and exit(1), as kcat's fatal errors. */
_Noreturn void kwcat_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct kwcat_opts {
  int mode;              /* 'L', 'P' (or 'C', not implemented yet) */
  const char *brokers;   /* -b */
  const char *topic;     /* -t */
  int32_t partition;     /* -p; KW_PARTITION_UA by default */
  const char *key;       /* -k fixed key, NULL: none */
  char *delim;           /* -D parsed (default "\n") */
  size_t delim_len;
  char *key_delim;       /* -K parsed, NULL: no key splitting */
  size_t key_delim_len;
  kw_header headers[KWCAT_MAX_HEADERS]; /* -H */
  int n_headers;
  long long msg_cnt;     /* -c; -1: unlimited */
  bool line_mode;        /* -l */
  bool tee;              /* -T */
  bool null_empty;       /* -Z: empty key or value after -K splitting is sent as null */
  bool exit_on_error;    /* cleared by -E */
  int metadata_timeout_s; /* -m */
  char **files;          /* file arguments */
  int n_files;
  kw_config *conf;       /* every -X / -z / -d / -F property, bootstrap.servers included */
} kwcat_opts;

/* -L: prints the cluster's metadata like kcat; returns the exit code. */
int kwcat_metadata(const kwcat_opts *o);
/* -P: produces stdin, a -l file, or whole files; returns the exit code. */
int kwcat_produce(kwcat_opts *o);

/* kcat's delimiter syntax: "\n", "\t", "\xNN" escapes, anything else literal; multi-byte
 * allowed. Returns a malloc'ed copy and its length (NULL on bad input, message in err). */
char *kwcat_parse_delim(const char *in, size_t *len, char *err, size_t errsize);

/* Splits a stream into delimiter-separated messages, holding at most one message (plus
 * one read chunk) in memory: the input is never read whole. */
typedef struct kwcat_reader {
  int fd;
  const char *delim;
  size_t dlen;
  size_t max_msg;      /* longest message accepted (message.max.bytes) */
  char *buf;
  size_t cap, start, len; /* unconsumed bytes are buf[start, len) */
  size_t scanned;      /* buf[start, scanned) holds no complete delimiter */
  bool eof;
  volatile sig_atomic_t *stop; /* set by a signal: end the input at the next read */
  /* Called before each read; returns 0 once fd is readable, nonzero to end the input.
   * The producer runs its client here, so a slow input never stalls deliveries. */
  int (*wait)(void *ud, int fd);
  void *wait_ud;
} kwcat_reader;

void kwcat_reader_init(kwcat_reader *r, int fd, const char *delim, size_t dlen, size_t max_msg,
                       volatile sig_atomic_t *stop);
/* The next message (a slice valid until the next call): 1; 0 at end of input (or on
 * stop); negative on errors: -1 read error (errno), -2 a message longer than max_msg. */
int kwcat_reader_next(kwcat_reader *r, const char **msg, size_t *len);
void kwcat_reader_free(kwcat_reader *r);

/* First occurrence of needle in hay, or NULL. */
const char *kwcat_memfind(const char *hay, size_t n, const char *needle, size_t nlen);

#endif
