/* kwcat's shared pieces: the parsed command line, kcat-style messages, and the entry
 * points of each mode (metadata.c: -L, produce.c: -P, consume.c: -C and -G, query.c:
 * -Q), of the message output (output.c) and of the input splitter (input.c). */
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

/* Where -C / -G starts (-o). STORED: the group's committed offset (-G only). */
enum kwcat_start { KWCAT_START_BEGINNING, KWCAT_START_END, KWCAT_START_ABS, KWCAT_START_TAIL, KWCAT_START_STORED };

/* One -Q -t topic:partition:timestamp. */
typedef struct kwcat_query {
  const char *topic;
  int32_t partition;
  int64_t ts; /* ms; -1: the end (high watermark), -2: the beginning, as ListOffsets */
} kwcat_query;

typedef struct kwcat_opts {
  int mode;              /* 'L', 'P', 'C', 'G' or 'Q' */
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
  bool null_empty;       /* -Z: -P: empty key or value after -K splitting is sent as null;
                          * -C: print an empty or null key or value as "NULL" */
  bool exit_on_error;    /* cleared by -E */
  int metadata_timeout_s; /* -m */
  /* -C and -G */
  const char *group;     /* -G: the group (also set as group.id) */
  char **topics;         /* -G: the topics to subscribe to (the arguments) */
  int n_topics;
  int start;             /* -o: enum kwcat_start (default: -C beginning, -G stored, as kcat) */
  bool start_given;      /* -o beginning|end|<offset>|-<n> given (-G: overrides committed offsets) */
  int64_t start_offset;  /* KWCAT_START_ABS: the offset; KWCAT_START_TAIL: how many before the end */
  int64_t start_ts;      /* -o s@ts: > 0 starts at this time (ms) instead */
  int64_t stop_ts;       /* -o e@ts: > 0 stops each partition at the first record this late */
  bool exit_eof;         /* -e */
  const char *fmt;       /* -f, NULL: the default ("%s" + -D, or "%k" + -K + "%s" + -D) */
  bool json;             /* -J */
  bool unbuffered;       /* -u */
  char **files;          /* -P: file arguments */
  int n_files;
  kwcat_query *queries;  /* -Q: every -t after -Q */
  int n_queries;
  kw_config *conf;       /* every -X / -z / -d / -F property, bootstrap.servers included */
} kwcat_opts;

/* -L: prints the cluster's metadata like kcat; returns the exit code. */
int kwcat_metadata(const kwcat_opts *o);
/* -P: produces stdin, a -l file, or whole files; returns the exit code. */
int kwcat_produce(kwcat_opts *o);
/* -C: consumes one topic's partitions; -G: joins the group for its topics. Prints the
 * messages; returns the exit code. */
int kwcat_consume(kwcat_opts *o);
/* -Q: the offset of each -t topic:partition:timestamp, printed as kcat does. */
int kwcat_query_offsets(const kwcat_opts *o);
/* Waits in one poll(2) for fd to be readable (fd < 0: none) or for the client's sockets
 * (cl NULL: none) or its next timer, at most max_ms (-1: no limit), then steps the client
 * with what is ready. 1: fd is readable; 0: it is not; KW_ERR_IO when poll(2) failed (a
 * signal is not a failure: 0); KW_ERR_NOMEM when there was no room for every socket. */
int kwcat_wait(kw_client *cl, int fd, int max_ms);

/* Message output (output.c): -f tokens, the default format or the -J envelope. */
typedef struct kwcat_tok kwcat_tok;
typedef struct kwcat_fmt {
  const kwcat_opts *o;
  kwcat_tok *toks;
  int n_toks;
  const char *json_delim; /* -J: written after each object */
  size_t json_delim_len;
  const kw_message *cur;  /* being written: named in a write error */
} kwcat_fmt;
/* Parses -f (exits with kcat's message on a bad one) or makes the default format. */
void kwcat_fmt_init(kwcat_fmt *f, const kwcat_opts *o);
/* Writes one message to stdout; broker: -J's "broker". Exits on a write error. */
void kwcat_fmt_write(kwcat_fmt *f, const kw_message *m, int32_t broker);
void kwcat_fmt_free(kwcat_fmt *f);
/* A JSON string to stdout, escaped as kcat's yajl does (f may be NULL). */
void kwcat_json_str(const kwcat_fmt *f, const void *p, size_t n);
/* librdkafka's wording of a Kafka error ("Offset out of range"), from Kafka's name. */
const char *kwcat_kerr_text(int16_t code);

/* What a Metadata request says about one topic (metadata.c). */
typedef struct kwcat_topic {
  int err;             /* KW_OK, or why no broker answered */
  int16_t kafka_error; /* the topic's error (UNKNOWN_TOPIC_OR_PARTITION when missing) */
  int32_t n_partitions;
  int32_t *leaders;    /* per partition (malloc'ed), -1 when none */
} kwcat_topic;
int kwcat_topic_info(const kwcat_opts *o, const char *topic, kwcat_topic *out);

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
