/* kwcat -C: consume one topic (all its partitions, or -p) from -o on, printing each
 * message with kcat's -f format, its default "%s\n" (or "%k<-K>%s<-D>"), or its JSON
 * envelope (-J), with kcat's messages and exit codes.
 *
 * End of partition (kcat: "% Reached end of topic T [p] at offset N"): the high
 * watermark of each partition is asked for once at start; a partition is at its end when
 * its position reaches it. With -e that partition stops, and kwcat exits once every
 * partition has stopped (at its end, or at the -o e@ stop time). Without -e the message
 * is informational; after new messages the watermark is asked again when the consumer
 * idles, so a tailing kwcat reports each catch-up as kcat does.
 *
 * Memory: kwire's bounded prefetch (queued.max.messages.kbytes) and the stdio buffer;
 * each message is written straight from the prefetch buffer. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kwcat.h"
#include "proto/kw_kerr.h"

#define IDLE_POLL_MS 100
#define MAX_CLIENT_FDS 64
#define CHECK_EVERY 1024 /* messages between two end-of-partition sweeps while busy */

enum tok_type { T_STR, T_OFFSET, T_KEY, T_KEY_LEN, T_VALUE, T_VALUE_LEN, T_VALUE_LEN_BIN, T_TOPIC, T_PARTITION, T_TS, T_HEADERS };

typedef struct tok {
  enum tok_type type;
  char *str; /* T_STR */
  size_t len;
} tok;

typedef struct cpart {
  int32_t id;
  int32_t leader;   /* for -J's "broker" */
  int64_t hi;       /* the high watermark to report the end at; -1: not known (or reported) */
  int64_t start;    /* an absolute -o beyond the end: wait until the consumer moved off it */
  bool eof_ready;
  bool dirty;       /* messages since the last end report (ask the watermark again when idle) */
  bool stopped;
} cpart;

typedef struct cstate {
  kwcat_opts *o;
  kw_client *cl;
  kw_client *side;        /* for watermarks while consuming: its own connections */
  tok *toks;
  int n_toks;
  const char *json_delim; /* -J: written after each object */
  size_t json_delim_len;
  cpart *parts;
  int n_parts;
  int *index;             /* partition id -> parts[] index, -1 when not consumed */
  int32_t n_topic_parts;
  int stop_cnt, stop_thres;
  long long rx;
  bool run;
  const kw_message *cur;  /* for write error messages */
} cstate;

static volatile sig_atomic_t stop_flag;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL); /* the next write fails with EPIPE: reported, exit 1 (as kcat) */
}

static void drop_log(void *ud, int level, const char *context, const char *msg) {
  (void)ud, (void)level, (void)context, (void)msg;
}

static void on_error(void *ud, int err, const char *reason) {
  cstate *cs = ud;
  if (err == KW_ERR_ALL_BROKERS_DOWN) {
    fprintf(stderr, "%% ERROR: %s: %s%s\n", kw_strerror(err), reason ? reason : "",
            cs->o->exit_on_error ? ": terminating" : "");
    if (cs->o->exit_on_error) exit(1);
  } else {
    kwcat_info(1, "ERROR: %s: %s\n", kw_strerror(err), reason ? reason : "");
  }
}

/* librdkafka's wording of a broker error ("Offset out of range") from Kafka's name. */
static const char *kerr_text(int16_t code) {
  static char buf[128];
  const char *name = kw_kerr_name(code);
  size_t i = 0;
  for (; name[i] && i < sizeof buf - 1; i++) {
    char c = name[i] == '_' ? ' ' : name[i];
    buf[i] = (char)(i == 0 ? c : (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  buf[i] = 0;
  return buf;
}

/* ---- -f: kcat's format string ---- */

static void add_tok(cstate *cs, enum tok_type type, const char *str, size_t len) {
  tok *t = realloc(cs->toks, sizeof *t * (size_t)(cs->n_toks + 1));
  if (!t) kwcat_fatal("out of memory");
  cs->toks = t;
  t = &cs->toks[cs->n_toks++];
  t->type = type;
  t->str = NULL;
  t->len = 0;
  if (type != T_STR) return;
  /* kcat's escapes in literal text: \t \n \r, \x<hex> and \<number> (decimal, 0-octal,
   * 0x-hex: strtoul base 0) when a digit follows, otherwise the character itself. */
  char *d = malloc(len + 1);
  if (!d) kwcat_fatal("out of memory");
  t->str = d;
  const char *s = str, *end = str + len;
  while (s < end) {
    if (*s == '\\' && s + 1 < end) {
      s++;
      int base = 0;
      switch (*s) {
      case 't': *d = '\t'; break;
      case 'n': *d = '\n'; break;
      case 'r': *d = '\r'; break;
      case 'x':
        if (s + 1 == end) { /* a trailing "\x": nothing to convert */
          *d = 'x';
          break;
        }
        s++;
        base = 16;
        /* fall through */
      default:
        if (*s >= '0' && *s <= '9') {
          char num[32];
          size_t n = (size_t)(end - s) < sizeof num - 1 ? (size_t)(end - s) : sizeof num - 1;
          memcpy(num, s, n);
          num[n] = 0;
          char *next;
          *d = (char)strtoul(num, &next, base);
          if (next > num) s += (next - num) - 1;
        } else {
          *d = *s;
        }
        break;
      }
    } else {
      *d = *s;
    }
    s++;
    d++;
  }
  t->len = (size_t)(d - t->str);
}

static void parse_format(cstate *cs, const char *fmt) {
  const char *s = fmt, *t;
  while (*s) {
    if (!(t = strchr(s, '%'))) {
      add_tok(cs, T_STR, s, strlen(s));
      break;
    }
    if (t > s) add_tok(cs, T_STR, s, (size_t)(t - s));
    s = t + 1;
    switch (*s) {
    case 'o': add_tok(cs, T_OFFSET, NULL, 0); break;
    case 'k': add_tok(cs, T_KEY, NULL, 0); break;
    case 'K': add_tok(cs, T_KEY_LEN, NULL, 0); break;
    case 's': add_tok(cs, T_VALUE, NULL, 0); break;
    case 'S': add_tok(cs, T_VALUE_LEN, NULL, 0); break;
    case 'R': add_tok(cs, T_VALUE_LEN_BIN, NULL, 0); break;
    case 't': add_tok(cs, T_TOPIC, NULL, 0); break;
    case 'p': add_tok(cs, T_PARTITION, NULL, 0); break;
    case 'T': add_tok(cs, T_TS, NULL, 0); break;
    case 'h': add_tok(cs, T_HEADERS, NULL, 0); break;
    case '%': add_tok(cs, T_STR, s, 1); break;
    case '\0': kwcat_fatal("Empty formatter");
    default: kwcat_fatal("Unsupported formatter: %%%c", *s);
    }
    s++;
  }
}

/* The default format: the value (after the key and -K when given) and -D, taken as they
 * are (kcat pastes them into a format string, so a '%' in them would be a formatter). */
static void default_format(cstate *cs) {
  const kwcat_opts *o = cs->o;
  tok *t = calloc(4, sizeof *t);
  if (!t) kwcat_fatal("out of memory");
  cs->toks = t;
  if (o->key_delim) {
    t[cs->n_toks++].type = T_KEY;
    t[cs->n_toks++] = (tok){T_STR, NULL, 0};
    t[cs->n_toks - 1].str = o->key_delim;
    t[cs->n_toks - 1].len = o->key_delim_len;
  }
  t[cs->n_toks++].type = T_VALUE;
  t[cs->n_toks++] = (tok){T_STR, o->delim, o->delim_len};
}

/* ---- output ---- */

static _Noreturn void write_failed(const cstate *cs) {
  const kw_message *m = cs->cur;
  kwcat_fatal("Write error for message of %zu bytes in %s [%" PRId32 "] at offset %" PRId64 ": %s", m->value_len,
              m->topic, m->partition, m->offset, strerror(errno));
}

static inline void out(const cstate *cs, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, stdout) != n) write_failed(cs);
}

static void out_fmt(const cstate *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(const cstate *cs, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(stdout, fmt, ap);
  va_end(ap);
  if (r < 0) write_failed(cs);
}

static void out_headers(const cstate *cs, const kw_message *m) {
  for (int i = 0; i < m->n_headers; i++) {
    const char *k;
    const void *v;
    size_t kl, vl;
    if (kw_message_header(m, i, &k, &kl, &v, &vl)) {
      kwcat_info(0, "ERROR: Failed to format message in %s [%" PRId32 "] at offset %" PRId64
                 ": Failed to parse headers: %s\n", m->topic, m->partition, m->offset, kw_strerror(KW_ERR_MALFORMED));
      return;
    }
    if (i) out(cs, ",", 1);
    out(cs, k, kl);
    out(cs, "=", 1);
    if (v && vl) out(cs, v, vl);
    else if (!v) out(cs, "NULL", 4);
  }
}

static void out_fields(const cstate *cs, const kw_message *m) {
  bool null_str = cs->o->null_empty;
  for (int i = 0; i < cs->n_toks; i++) {
    const tok *t = &cs->toks[i];
    switch (t->type) {
    case T_STR: out(cs, t->str, t->len); break;
    case T_OFFSET: out_fmt(cs, "%" PRId64, m->offset); break;
    case T_KEY:
      if (m->key_len) out(cs, m->key, m->key_len);
      else if (null_str) out(cs, "NULL", 4); /* kcat: also for an empty key */
      break;
    case T_KEY_LEN: out_fmt(cs, "%lld", m->key ? (long long)m->key_len : -1LL); break;
    case T_VALUE:
      if (m->value_len) out(cs, m->value, m->value_len);
      else if (null_str) out(cs, "NULL", 4);
      break;
    case T_VALUE_LEN: out_fmt(cs, "%lld", m->value ? (long long)m->value_len : -1LL); break;
    case T_VALUE_LEN_BIN: {
      uint32_t n = m->value ? (uint32_t)m->value_len : UINT32_MAX;
      unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
      out(cs, be, 4);
      break;
    }
    case T_TOPIC: out(cs, m->topic, strlen(m->topic)); break;
    case T_PARTITION: out_fmt(cs, "%" PRId32, m->partition); break;
    case T_TS: out_fmt(cs, "%" PRId64, m->timestamp); break;
    case T_HEADERS: out_headers(cs, m); break;
    }
  }
}

/* A JSON string as yajl (kcat's generator) writes it: \" \\ \b \f \n \r \t, other
 * control characters as \u00XX, everything else (non-ASCII, invalid UTF-8) as is. */
static void out_json_str(const cstate *cs, const void *p, size_t n) {
  const unsigned char *s = p, *run = s, *end = s + n;
  out(cs, "\"", 1);
  for (; s < end; s++) {
    if (*s >= 0x20 && *s != '"' && *s != '\\') continue;
    out(cs, run, (size_t)(s - run));
    run = s + 1;
    char esc[8];
    switch (*s) {
    case '"': out(cs, "\\\"", 2); break;
    case '\\': out(cs, "\\\\", 2); break;
    case '\b': out(cs, "\\b", 2); break;
    case '\f': out(cs, "\\f", 2); break;
    case '\n': out(cs, "\\n", 2); break;
    case '\r': out(cs, "\\r", 2); break;
    case '\t': out(cs, "\\t", 2); break;
    default:
      snprintf(esc, sizeof esc, "\\u%04X", *s);
      out(cs, esc, 6);
    }
  }
  out(cs, run, (size_t)(s - run));
  out(cs, "\"", 1);
}

static void out_json(const cstate *cs, const kw_message *m, int32_t broker) {
  out(cs, "{\"topic\":", 9);
  out_json_str(cs, m->topic, strlen(m->topic));
  /* kwire does not say whether a timestamp is create or log-append time: "create". */
  out_fmt(cs, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"tstype\":\"create\",\"ts\":%" PRId64 ",\"broker\":%" PRId32,
          m->partition, m->offset, m->timestamp, broker);
  if (m->n_headers > 0) {
    out(cs, ",\"headers\":[", 12);
    for (int i = 0; i < m->n_headers; i++) {
      const char *k;
      const void *v;
      size_t kl, vl;
      if (kw_message_header(m, i, &k, &kl, &v, &vl)) break;
      if (i) out(cs, ",", 1);
      out_json_str(cs, k, kl);
      out(cs, ",", 1);
      if (v) out_json_str(cs, v, vl);
      else out(cs, "null", 4);
    }
    out(cs, "]", 1);
  }
  out(cs, ",\"key\":", 7);
  if (m->key) out_json_str(cs, m->key, m->key_len);
  else out(cs, "null", 4);
  out(cs, ",\"payload\":", 11);
  if (m->value) out_json_str(cs, m->value, m->value_len);
  else out(cs, "null", 4);
  out(cs, "}", 1);
  out(cs, cs->json_delim, cs->json_delim_len);
}

/* ---- partitions: ends and stops ---- */

static void stop_partition(cstate *cs, cpart *p) {
  if (p->stopped) return;
  p->stopped = true;
  kw_consumer_unassign(cs->cl, cs->o->topic, p->id);
  if (++cs->stop_cnt >= cs->stop_thres) cs->run = false;
}

static void reached_end(cstate *cs, cpart *p, int64_t offset) {
  p->hi = -1; /* reported; known again only when asked again */
  p->dirty = false;
  if (cs->o->exit_eof) stop_partition(cs, p);
  kwcat_info(1, "Reached end of topic %s [%" PRId32 "] at offset %" PRId64 "%s\n", cs->o->topic, p->id, offset,
             cs->run ? "" : ": exiting");
}

/* Partitions whose position reached their watermark. When idle (and without -e), the
 * watermark of partitions that got messages since their last end is asked again. */
static void sweep(cstate *cs, bool idle) {
  for (int i = 0; i < cs->n_parts && cs->run; i++) {
    cpart *p = &cs->parts[i];
    if (p->stopped) continue;
    if (p->hi < 0 && idle && p->dirty && !cs->o->exit_eof && kwcat_verbosity >= 1) {
      /* Not on the consuming client: its connection is busy with fetches that wait for
       * data, and the broker answers a connection's requests in order. */
      if (!cs->side) {
        char errstr[256];
        cs->side = kw_consumer_new(cs->o->conf, errstr, sizeof errstr);
      }
      int64_t lo;
      if (!cs->side || kw_consumer_watermarks(cs->side, cs->o->topic, p->id, &lo, &p->hi, 1000) < 0) p->hi = -1;
      p->dirty = false;
    }
    if (p->hi < 0) continue;
    int64_t pos = kw_consumer_position(cs->cl, cs->o->topic, p->id);
    if (pos < 0) continue;
    if (!p->eof_ready) {
      if (pos == p->start) continue; /* still at an offset beyond the end: the broker will say */
      p->eof_ready = true;
    }
    if (pos >= p->hi) reached_end(cs, p, pos);
  }
}

/* Runs the client until a socket is ready or a timer is due, at most IDLE_POLL_MS (the
 * idle checks and signals need the loop back). kwcat drives the client itself and takes
 * records with kw_consumer_poll(.., 0), so a record is printed as soon as its fetch
 * answer is read; see docs/kwcat.md for why not kw_consumer_poll with a timeout. */
static void wait_client(kw_client *cl) {
  kw_pollfd kf[MAX_CLIENT_FDS];
  struct pollfd pf[MAX_CLIENT_FDS];
  int n = kw_client_fds(cl, kf, MAX_CLIENT_FDS);
  if (n > MAX_CLIENT_FDS) n = MAX_CLIENT_FDS;
  for (int i = 0; i < n; i++) pf[i] = (struct pollfd){kf[i].fd, kf[i].events, 0};
  int wait = kw_client_next_timeout(cl);
  if (wait < 0 || wait > IDLE_POLL_MS) wait = IDLE_POLL_MS;
  int r = poll(pf, (nfds_t)n, wait);
  for (int i = 0; i < n; i++) kf[i].revents = r > 0 ? pf[i].revents : 0;
  kw_client_step(cl, kf, n);
}

static void on_message(cstate *cs, const kw_message *m) {
  const kwcat_opts *o = cs->o;
  if (m->err) {
    if (m->err == KW_ERR_BROKER)
      kwcat_fatal("Topic %s [%" PRId32 "] error: Broker: %s", m->topic, m->partition, kerr_text(m->kafka_error));
    kwcat_fatal("Topic %s [%" PRId32 "] error: %s", m->topic, m->partition, kw_strerror(m->err));
  }
  int idx = m->partition >= 0 && m->partition < cs->n_topic_parts ? cs->index[m->partition] : -1;
  if (idx < 0) return;
  cpart *p = &cs->parts[idx];
  if (p->stopped) return;
  p->eof_ready = true;
  p->dirty = true;
  if (o->stop_ts > 0 && m->timestamp >= o->stop_ts) {
    stop_partition(cs, p);
    kwcat_info(1, "Reached stop timestamp for topic %s [%" PRId32 "] at offset %" PRId64 "%s\n", m->topic,
               m->partition, m->offset, cs->run ? "" : ": exiting");
    return;
  }
  cs->cur = m;
  if (o->json) out_json(cs, m, p->leader);
  else out_fields(cs, m);
  if (++cs->rx == o->msg_cnt) {
    cs->run = false;
    return;
  }
  if (p->hi >= 0 && m->offset + 1 >= p->hi) reached_end(cs, p, m->offset + 1);
}

int kwcat_consume(kwcat_opts *o) {
  cstate cs = {.o = o, .run = true};
  if (o->fmt) parse_format(&cs, o->fmt);
  if (o->json) { /* kcat: -J writes the -D delimiter after each object, or -f's leading text */
    cs.json_delim = o->delim;
    cs.json_delim_len = o->delim_len;
    if (o->fmt) {
      cs.json_delim = cs.n_toks > 0 && cs.toks[0].type == T_STR ? cs.toks[0].str : "";
      cs.json_delim_len = cs.n_toks > 0 && cs.toks[0].type == T_STR ? cs.toks[0].len : 0;
    }
  } else if (!o->fmt) {
    default_format(&cs);
  }

  kwcat_topic ti;
  int err = kwcat_topic_info(o, o->topic, &ti);
  if (err) kwcat_fatal("Failed to query metadata for topic %s: %s", o->topic, kw_strerror(err));
  if (ti.kafka_error) kwcat_fatal("Topic %s error: Broker: %s", o->topic, kerr_text(ti.kafka_error));
  if (ti.n_partitions == 0) kwcat_fatal("Topic %s has no partitions", o->topic);
  if (o->partition != KW_PARTITION_UA && o->partition >= ti.n_partitions)
    kwcat_fatal("Topic %s (with partitions 0..%" PRId32 "): partition %" PRId32 " does not exist", o->topic,
                ti.n_partitions - 1, o->partition);

  char dbg[256] = "";
  kw_config_get(o->conf, "debug", dbg, sizeof dbg);
  if (kwcat_verbosity == 0 && !*dbg) kw_config_set_log_cb(o->conf, drop_log, NULL);
  char errstr[512];
  cs.cl = kw_consumer_new(o->conf, errstr, sizeof errstr);
  if (!cs.cl) kwcat_fatal("Failed to create consumer: %s", errstr);
  kw_client_set_error_cb(cs.cl, on_error, &cs);
  catch_signals();

  cs.n_topic_parts = ti.n_partitions;
  cs.index = malloc(sizeof *cs.index * (size_t)ti.n_partitions);
  cs.parts = calloc((size_t)ti.n_partitions, sizeof *cs.parts);
  if (!cs.index || !cs.parts) kwcat_fatal("out of memory");
  for (int32_t id = 0; id < ti.n_partitions; id++) {
    cs.index[id] = -1;
    if (o->partition != KW_PARTITION_UA && id != o->partition) continue;
    cs.index[id] = cs.n_parts;
    cs.parts[cs.n_parts++] = (cpart){.id = id, .leader = ti.leaders[id], .hi = -1, .start = -1, .eof_ready = true};
  }
  cs.stop_thres = cs.n_parts;

  /* The ends to report: asked for every partition before any is assigned, since a
   * broker answers one connection's requests in order, and a ListOffsets behind a
   * fetch that waits for data (fetch.wait.max.ms) would wait as long. */
  int timeout_ms = (o->metadata_timeout_s > 0 ? o->metadata_timeout_s : 5) * 1000;
  for (int i = 0; i < cs.n_parts && !stop_flag; i++) {
    cpart *p = &cs.parts[i];
    int64_t lo;
    err = kw_consumer_watermarks(cs.cl, o->topic, p->id, &lo, &p->hi, timeout_ms);
    if (err < 0) {
      p->hi = -1;
      if (o->exit_eof)
        kwcat_fatal("Failed to query watermark offsets of %s [%" PRId32 "]: %s", o->topic, p->id, kw_strerror(err));
    }
  }
  for (int i = 0; i < cs.n_parts && !stop_flag; i++) {
    cpart *p = &cs.parts[i];
    if (o->start_ts > 0) {
      err = kw_consumer_assign_at_time(cs.cl, o->topic, p->id, o->start_ts);
    } else {
      int64_t at = o->start == KWCAT_START_END     ? KW_OFFSET_END
                   : o->start == KWCAT_START_TAIL ? KW_OFFSET_TAIL(o->start_offset)
                   : o->start == KWCAT_START_ABS  ? o->start_offset
                                                  : KW_OFFSET_BEGINNING;
      if (o->start == KWCAT_START_ABS && p->hi >= 0 && at > p->hi) {
        p->start = at;
        p->eof_ready = false;
      }
      err = kw_consumer_assign(cs.cl, o->topic, p->id, at);
    }
    if (err < 0)
      kwcat_fatal("Failed to start consuming topic %s [%" PRId32 "]: %s", o->topic, p->id, kw_strerror(err));
  }
  free(ti.leaders);

  if (!o->unbuffered) setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  long long since_sweep = 0;
  int64_t last_msg = mono_ms();
  while (cs.run && !stop_flag) {
    kw_message m;
    int r = kw_consumer_poll(cs.cl, &m, 0); /* what is buffered: never waits */
    if (r < 0) kwcat_fatal("Consumer error: %s", kw_strerror(r));
    if (r == 1) {
      on_message(&cs, &m);
      last_msg = mono_ms();
      if (cs.run && ++since_sweep == CHECK_EVERY) {
        since_sweep = 0;
        sweep(&cs, false);
      }
      continue;
    }
    sweep(&cs, mono_ms() - last_msg >= IDLE_POLL_MS);
    if (cs.run) wait_client(cs.cl);
  }
  if (fflush(stdout) != 0) kwcat_fatal("Write error: %s", strerror(errno));
  char stats[1024];
  kw_client_stats_json(cs.cl, stats, sizeof stats);
  kwcat_info(2, "stats: %s\n", stats);
  kw_client_destroy(cs.cl);
  if (cs.side) kw_client_destroy(cs.side);
  kwcat_info(2, "%lld messages consumed\n", cs.rx);
  for (int i = 0; i < cs.n_toks; i++)
    if (o->fmt) free(cs.toks[i].str);
  free(cs.toks);
  free(cs.parts);
  free(cs.index);
  return 0;
}
