/* kwfuzz-broker: mutated Kafka requests against a real broker, built and checked with
 * kwire's public codec only. See docs/fuzzing.md.
 *
 * Each input is a mutation of a seed frame (generated from the message structs at every
 * version, plus seed files). It is sent on its own, and the outcome sorted:
 *   answered      a response with the input's correlation id
 *   rejected      the broker closed the connection, and kwire's codec cannot read the
 *                 frame either: the expected answer to garbage
 *   closed-valid  the broker closed the connection without an answer although the frame
 *                 decodes cleanly as the request it claims to be: crash-like, saved
 *   timeout       no answer in -w ms where one was due (saved: a hang looks like this;
 *                 a Produce the broker reads as acks = 0 is not waited for)
 *   log-error     the broker's log (-l) gained an ERROR/Exception event that no -x
 *                 pattern expects: saved with the inputs sent just before it
 *   broker-down   the broker stopped accepting connections: saved, the run stops
 * Each distinct finding keeps its first few inputs and is counted; the list ends the
 * run. The generator is seeded; the seed and a replay command are printed, and every
 * saved input replays on its own with -r FILE. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "kwfuzz.h"

#define RECENT 4      /* inputs kept for a log event: the broker logs a little after the fact */
#define SAVES_PER_FINDING 3 /* inputs kept per distinct finding: one bug hit often stays a few files */
#define MAX_FINDINGS 128
#define MAX_IGNORE 32

typedef struct sent_input {
  uint8_t *data;
  size_t len;
  long iter;
} sent_input;

typedef struct stats {
  long sent, answered, rejected, closed_valid, timeouts, no_answer, framing, log_expected, log_unexpected;
  long reconnects, saved;
} stats;

/* A distinct finding: the outcome and API, or the broker's exception with its numbers
 * taken out, and how often it came up. */
typedef struct finding {
  char what[160];
  long count;
} finding;

typedef struct run {
  const char *broker, *out_dir, *topic;
  int wait_ms;
  uint64_t seed;
  long count;
  double seconds;
  bool generate, quiet;
  corpus corpus;
  rng rng;
  kw_arena *arena;
  kw_buf in;
  int fd;
  logtail log;
  sent_input recent[RECENT];
  long iter;
  char event[16384]; /* the log event being read: a '[' line and its continuation lines */
  size_t event_len;
  regex_t ignore[MAX_IGNORE];
  int n_ignore;
  bool replaying; /* -r: the input is saved already */
  finding findings[MAX_FINDINGS];
  int n_findings;
  stats st;
} run;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void save_file(run *R, const char *name, const void *data, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", R->out_dir, name);
  FILE *fp = fopen(path, "wb");
  if (!fp || fwrite(data, 1, len, fp) != len) fprintf(stderr, "kwfuzz-broker: cannot write %s\n", path);
  if (fp) fclose(fp);
}

/* Counts a finding; true while it has been seen few enough times to save its inputs. */
static bool note_finding(run *R, const char *what) {
  char key[sizeof R->findings[0].what];
  size_t n = 0;
  for (const char *p = what; *p && *p != '\n' && n < sizeof key - 1; p++) {
    bool number = (*p >= '0' && *p <= '9') || (*p == '-' && p[1] >= '0' && p[1] <= '9');
    if (!number) key[n++] = *p; /* "index 7 out of bounds for length 3": one finding */
  }
  key[n] = 0;
  for (int i = 0; i < R->n_findings; i++)
    if (strcmp(R->findings[i].what, key) == 0) return ++R->findings[i].count <= SAVES_PER_FINDING && !R->replaying;
  if (R->n_findings == MAX_FINDINGS) return false;
  finding *f = &R->findings[R->n_findings++];
  memcpy(f->what, key, n + 1);
  f->count = 1;
  return !R->replaying;
}

/* Saves an input as <outcome>-<seed>-<iteration>.bin and says how to replay it. */
static void save_input(run *R, const char *outcome, const sent_input *in) {
  if (!in->data) return;
  char name[256];
  snprintf(name, sizeof name, "%s-%llu-%ld.bin", outcome, (unsigned long long)R->seed, in->iter);
  save_file(R, name, in->data, in->len);
  R->st.saved++;
  if (!R->quiet)
    fprintf(stderr, "kwfuzz-broker: %s at input %ld (api %d v%d, %zu bytes): saved %s/%s (replay: -r %s/%s)\n",
            outcome, in->iter, in->len >= 8 ? (int16_t)(in->data[4] << 8 | in->data[5]) : -1,
            in->len >= 8 ? (int16_t)(in->data[6] << 8 | in->data[7]) : -1, in->len, R->out_dir, name,
            R->out_dir, name);
}

/* ---- the broker's log ---- */

/* Kafka's own exceptions for bad input: the broker answers them with an error code or a
 * closed connection, by design. A java.lang.* one (or anything else) is a finding. */
static const char *const expected_exceptions[] = {
    "org.apache.kafka.common.errors.",                         /* unparsable, unsupported version, ... */
    "org.apache.kafka.common.network.InvalidReceiveException", /* a bad frame size */
    "org.apache.kafka.common.InvalidRecordException",          /* a batch failing validation */
};

/* The first line of the event that starts with a Java exception's class name
 * ("java.lang.NullPointerException: ..."); the head line itself may run over several
 * lines when the request it quotes holds newlines. */
static const char *exception_line(const char *event) {
  for (const char *line = strchr(event, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    const char *p = line + 1, *end = p + strcspn(p, ": \n");
    bool named = end - p > 9 && (*end == ':' || *end == '\n') && *p >= 'a' && *p <= 'z' && memchr(p, '.', (size_t)(end - p));
    if (named && (!strncmp(end - 9, "Exception", 9) || !strncmp(end - 5, "Error", 5))) return p;
  }
  return NULL;
}

static bool expected_event(const run *R, const char *exception) {
  for (size_t i = 0; exception && i < sizeof expected_exceptions / sizeof expected_exceptions[0]; i++)
    if (!strncmp(exception, expected_exceptions[i], strlen(expected_exceptions[i]))) return true;
  for (int i = 0; i < R->n_ignore; i++)
    if (regexec(&R->ignore[i], R->event, 0, NULL, 0) == 0) return true;
  return false;
}

static void event_done(run *R) {
  if (!R->event_len) return;
  R->event[R->event_len] = 0;
  R->event_len = 0;
  if (!strstr(R->event, "ERROR") && !strstr(R->event, "Exception")) return;
  const char *exception = exception_line(R->event);
  if (expected_event(R, exception)) {
    R->st.log_expected++;
    return;
  }
  R->st.log_unexpected++;
  if (!R->quiet) fprintf(stderr, "kwfuzz-broker: broker log: %.300s\n", R->event);
  if (!note_finding(R, exception ? exception : R->event)) return;
  /* Errors from request handlers name the request's correlation id (our input number):
   * then that input alone is the culprit; otherwise any of the last few may be. */
  const char *corr = strstr(R->event, "correlationId=");
  long culprit = corr ? strtol(corr + 14, NULL, 10) : -1;
  char name[256];
  snprintf(name, sizeof name, "log-error-%llu-%ld.txt", (unsigned long long)R->seed, culprit >= 0 ? culprit : R->iter);
  save_file(R, name, R->event, strlen(R->event));
  for (int i = 0; i < RECENT; i++)
    if (culprit < 0 || R->recent[i].iter == culprit) save_input(R, "log-error", &R->recent[i]);
}

static void on_log_line(void *ctx, const char *line) {
  run *R = ctx;
  if (line[0] == '[') event_done(R); /* log4j lines start with the timestamp */
  size_t n = strlen(line), room = sizeof R->event - 2 - R->event_len;
  if (n > room) n = room;
  memcpy(R->event + R->event_len, line, n);
  R->event_len += n;
  R->event[R->event_len++] = '\n';
}

/* ---- one input ---- */

static bool ensure_connected(run *R) {
  if (R->fd >= 0) return true;
  double give_up = now_s() + 20; /* a broker busy with a GC pause or restart gets time */
  do {
    R->fd = wire_connect(R->broker, 2000);
    if (R->fd >= 0) {
      R->st.reconnects++;
      return true;
    }
    sleep_ms(200);
  } while (now_s() < give_up);
  return false;
}

static void disconnect(run *R) {
  if (R->fd >= 0) close(R->fd);
  R->fd = -1;
}

static void remember(run *R, const uint8_t *data, size_t len) {
  sent_input *last = &R->recent[RECENT - 1];
  free(R->recent[0].data);
  memmove(R->recent, R->recent + 1, (RECENT - 1) * sizeof R->recent[0]);
  last->data = malloc(len ? len : 1);
  last->len = last->data ? len : 0;
  last->iter = R->iter;
  if (last->data) memcpy(last->data, data, len);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sends one frame and sorts the outcome. Returns false when the broker is gone. */
static bool exchange(run *R, uint8_t *f, size_t len) {
  if (len >= 12) { /* the iteration number is the correlation id: answers are matched by it */
    int32_t corr = (int32_t)R->iter;
    f[8] = (uint8_t)(corr >> 24), f[9] = (uint8_t)(corr >> 16), f[10] = (uint8_t)(corr >> 8), f[11] = (uint8_t)corr;
  }
  bool acks_zero, valid = frame_decodes(f, len, R->arena, &acks_zero);
  remember(R, f, len);
  sent_input *in = &R->recent[RECENT - 1];
  if (!ensure_connected(R)) return false;
  R->st.sent++;
  int rc = wire_send(R->fd, f, len);
  if (len < 4 || be32(f) != len - 4) { /* the broker waits for bytes that never come, or reads a stray frame */
    R->st.framing++;
    disconnect(R);
    return true;
  }
  if (rc == 0 && acks_zero) { /* Produce with acks = 0: never answered; start afresh so a */
    R->st.no_answer++;      /* later close is not blamed on the wrong input            */
    disconnect(R);
    return true;
  }
  if (rc == 0) rc = wire_recv_frame(R->fd, &R->in, R->wait_ms);
  if (rc == WIRE_ANSWERED) {
    R->st.answered++;
    /* Out of step, or a SASL step the broker may end the connection after: start afresh
     * so that close is not blamed on the next input. */
    int16_t key = len >= 6 ? (int16_t)(f[4] << 8 | f[5]) : -1;
    if ((R->in.len >= 8 && (int32_t)be32(R->in.data + 4) != (int32_t)R->iter) || key == KW_API_SASL_HANDSHAKE ||
        key == KW_API_SASL_AUTHENTICATE)
      disconnect(R);
    return true;
  }
  disconnect(R);
  char what[64];
  const char *api = len >= 6 ? kw_api_name((int16_t)(f[4] << 8 | f[5])) : NULL;
  if (rc == WIRE_TIMEOUT) {
    R->st.timeouts++;
    snprintf(what, sizeof what, "timeout: %s", api ? api : "?");
    if (note_finding(R, what)) save_input(R, "timeout", in);
  } else if (valid) {
    R->st.closed_valid++;
    snprintf(what, sizeof what, "closed-valid: %s", api ? api : "?");
    if (note_finding(R, what)) save_input(R, "closed-valid", in);
  } else {
    R->st.rejected++;
  }
  return true;
}

/* ---- setup ---- */

/* The fuzz topic's id (Produce v13 and Fetch v13+ name topics by id), asking for the
 * topic so the broker creates it. A zero id when the broker will not say. */
static kw_uuid topic_id(run *R) {
  kw_uuid id = {{0}};
  kw_metadata_req_topic t;
  kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &t);
  t.name = (kw_slice){(const uint8_t *)R->topic, (int32_t)strlen(R->topic)};
  kw_metadata_req req;
  kw_msg_init(KW_SCHEMA_METADATA_REQ, &req);
  req.topics = &t;
  req.n_topics = 1;
  req.allow_auto_topic_creation = true;
  kw_buf out;
  kw_buf_init_grow(&out, NULL);
  for (int attempt = 0; attempt < 20 && ensure_connected(R); attempt++) {
    kw_req_header h = {KW_API_METADATA, 12, attempt, {(const uint8_t *)"kwfuzz-broker", 13}};
    kw_buf_reset(&out);
    kw_metadata_resp resp;
    kw_rd r;
    int32_t corr;
    if (kw_request_frame(&out, &h, &req) || wire_send(R->fd, out.data, out.len) ||
        wire_recv_frame(R->fd, &R->in, 5000) != WIRE_ANSWERED)
      break;
    kw_rd_init(&r, R->in.data + 4, R->in.len - 4);
    if (kw_resp_header_decode(&r, &corr, kw_resp_header_version(KW_API_METADATA, 12)) ||
        kw_response_decode(KW_API_METADATA, 12, &r, R->arena, &resp))
      break;
    bool ready = resp.n_topics == 1 && resp.topics[0].error_code == 0;
    if (ready) id = resp.topics[0].topic_id;
    kw_arena_clear(R->arena);
    if (ready) break;
    sleep_ms(250); /* created, leader not elected yet */
  }
  kw_buf_free(&out);
  disconnect(R);
  return id;
}

/* Every seed must be a frame kwire's codec reads back: what the tool sends unmutated is
 * then a valid request, and outcomes mean what they say. */
static int self_check(run *R) {
  int bad = 0, foreign = 0;
  for (size_t i = 0; i < R->corpus.n; i++) {
    const frame *f = &R->corpus.items[i];
    bool acks_zero;
    int16_t lo, hi;
    if (kw_api_versions(f->api_key, &lo, &hi) || f->api_version < lo || f->api_version > hi) {
      foreign++; /* a capture at a version kwire does not speak: sent, but not checked */
    } else if (!frame_decodes(f->data, f->len, R->arena, &acks_zero)) {
      fprintf(stderr, "kwfuzz-broker: seed %zu (api %d v%d, %zu bytes) does not decode\n", i, f->api_key,
              f->api_version, f->len);
      bad++;
    }
  }
  printf("kwfuzz-broker: %zu seeds, %d outside kwire's versions, %d do not decode\n", R->corpus.n, foreign, bad);
  return bad ? 1 : 0;
}

static int replay(run *R, const char *path) {
  corpus one = {0};
  if (corpus_load(&one, path) != 1) {
    fprintf(stderr, "kwfuzz-broker: %s is not a request frame\n", path);
    return 2;
  }
  R->iter = (int32_t)be32(one.items[0].data + 8); /* keep the saved correlation id */
  R->replaying = true;
  if (!exchange(R, one.items[0].data, one.items[0].len)) {
    printf("broker-down\n");
    return 1;
  }
  sleep_ms(500); /* let the broker write its log */
  logtail_poll(&R->log, on_log_line, R);
  event_done(R);
  const stats *s = &R->st;
  printf("%s\n", s->answered ? "answered" : s->rejected ? "rejected" : s->closed_valid ? "closed-valid"
                  : s->timeouts ? "timeout" : s->no_answer ? "no answer expected (acks=0)" : "framing");
  if (s->log_unexpected) printf("and an unexpected ERROR/Exception in the broker log\n");
  corpus_free(&one);
  return s->closed_valid || s->timeouts || s->log_unexpected ? 1 : 0;
}

/* ---- the run ---- */

static void report(const run *R, double elapsed, FILE *to) {
  const stats *s = &R->st;
  fprintf(to,
          "kwfuzz-broker: %ld requests in %.1f s (%.0f/s): %ld answered, %ld rejected, %ld closed-valid, "
          "%ld timeout, %ld acks=0, %ld framing; broker log: %ld expected errors, %ld unexpected; "
          "%ld connections, %ld inputs saved\n",
          s->sent, elapsed, elapsed > 0 ? (double)s->sent / elapsed : 0.0, s->answered, s->rejected, s->closed_valid,
          s->timeouts, s->no_answer, s->framing, s->log_expected, s->log_unexpected, s->reconnects, s->saved);
}

static int fuzz(run *R) {
  static uint8_t buf[KWFUZZ_MAX_FRAME];
  double start = now_s(), next_report = start + 10;
  bool down = false;
  rng_seed(&R->rng, R->seed);
  for (R->iter = 0; R->count < 0 || R->iter < R->count; R->iter++) {
    if (R->seconds > 0 && now_s() - start >= R->seconds) break;
    const frame *seed = &R->corpus.items[rng_below(&R->rng, R->corpus.n)];
    size_t len = mutate(&R->rng, &R->corpus, seed, buf, sizeof buf);
    if (!exchange(R, buf, len)) {
      down = true;
      break;
    }
    logtail_poll(&R->log, on_log_line, R);
    if (!R->quiet && now_s() >= next_report) {
      report(R, now_s() - start, stderr);
      next_report += 10;
    }
  }
  if (down) {
    fprintf(stderr, "kwfuzz-broker: broker-down: no connection for 20 s after input %ld\n", R->iter);
    for (int i = 0; i < RECENT; i++) save_input(R, "broker-down", &R->recent[i]);
  }
  sleep_ms(500); /* the log lines of the last inputs */
  logtail_poll(&R->log, on_log_line, R);
  event_done(R);
  report(R, now_s() - start, stdout);
  for (int i = 0; i < R->n_findings; i++) printf("  %6ld  %s\n", R->findings[i].count, R->findings[i].what);
  printf("kwfuzz-broker: replay this run with -s %llu -n %ld (and the same seed files, -c, -T and -G)\n",
         (unsigned long long)R->seed, R->iter);
  return down || R->st.closed_valid || R->st.log_unexpected ? 1 : 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: kwfuzz-broker -b HOST:PORT [options] [SEED_FILE...]\n"
          "  -b HOST:PORT  broker to fuzz (PLAINTEXT listener)\n"
          "  -s SEED       generator seed (default: from the clock; always printed)\n"
          "  -n COUNT      inputs to send (default 10000; -1 = until -t)\n"
          "  -t SECONDS    stop after this long\n"
          "  -c PATH       seed frames: a file or a directory of files (repeatable), like the\n"
          "                SEED_FILEs; with or without the int32 size prefix, e.g.\n"
          "                tests/data/golden/*-request.bin\n"
          "  -G            no generated seeds (only -c ones)\n"
          "  -T TOPIC      topic the generated seeds name (default kwfuzz; auto-created)\n"
          "  -l FILE       the broker's log: ERROR/Exception events become findings\n"
          "  -x REGEX      a log event matching REGEX is expected (repeatable; adds to defaults)\n"
          "  -o DIR        where findings go (default kwfuzz-out)\n"
          "  -w MS         wait this long for each answer (default 1000)\n"
          "  -r FILE       replay one saved input and print its outcome\n"
          "  -C            self-check: every seed decodes with kwire's codec; no broker needed\n"
          "  -q            only the summary\n");
}

static bool add_ignore(run *R, const char *re) {
  if (R->n_ignore == MAX_IGNORE || regcomp(&R->ignore[R->n_ignore], re, REG_EXTENDED | REG_NOSUB)) return false;
  R->n_ignore++;
  return true;
}

int main(int argc, char **argv) {
  static run R = {.out_dir = "kwfuzz-out", .topic = "kwfuzz", .wait_ms = 1000, .count = 10000, .generate = true,
                  .fd = -1, .log = {.fd = -1}};
  const char *replay_path = NULL, *log_path = NULL;
  bool check = false, seeded = false;
  int opt;
  while ((opt = getopt(argc, argv, "b:s:n:t:c:GT:l:x:o:w:r:Cq")) != -1) {
    switch (opt) {
    case 'b': R.broker = optarg; break;
    case 's': R.seed = strtoull(optarg, NULL, 0), seeded = true; break;
    case 'n': R.count = strtol(optarg, NULL, 0); break;
    case 't': R.seconds = strtod(optarg, NULL); break;
    case 'c':
      if (corpus_load(&R.corpus, optarg) < 0) fprintf(stderr, "kwfuzz-broker: cannot read %s\n", optarg);
      break;
    case 'G': R.generate = false; break;
    case 'T': R.topic = optarg; break;
    case 'l': log_path = optarg; break;
    case 'x':
      if (!add_ignore(&R, optarg)) return fprintf(stderr, "kwfuzz-broker: bad -x pattern %s\n", optarg), 2;
      break;
    case 'o': R.out_dir = optarg; break;
    case 'w': R.wait_ms = atoi(optarg); break;
    case 'r': replay_path = optarg; break;
    case 'C': check = true; break;
    case 'q': R.quiet = true; break;
    default: usage(); return 2;
    }
  }
  for (int i = optind; i < argc; i++) /* seed files after the options, as a shell glob gives them */
    if (corpus_load(&R.corpus, argv[i]) < 0) fprintf(stderr, "kwfuzz-broker: cannot read %s\n", argv[i]);
  if (!check && !R.broker) return usage(), 2;
  R.arena = kw_arena_new(NULL, 64u << 20);
  kw_buf_init_grow(&R.in, NULL);
  if (!R.arena) return fprintf(stderr, "kwfuzz-broker: out of memory\n"), 2;
  if (log_path && logtail_open(&R.log, log_path)) return fprintf(stderr, "kwfuzz-broker: cannot read %s\n", log_path), 2;
  if (!check) mkdir(R.out_dir, 0777);
  if (replay_path) return replay(&R, replay_path);

  kw_uuid id = {{0}};
  if (R.generate && !check) id = topic_id(&R);
  if (R.generate) corpus_generate(&R.corpus, R.topic, &id);
  if (check) return self_check(&R);
  if (!R.corpus.n) return fprintf(stderr, "kwfuzz-broker: no seeds\n"), 2;
  if (!seeded) R.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  printf("kwfuzz-broker: seed %llu, %zu seed frames, broker %s\n", (unsigned long long)R.seed, R.corpus.n, R.broker);
  fflush(stdout);
  int rc = fuzz(&R);
  logtail_close(&R.log);
  corpus_free(&R.corpus);
  kw_arena_destroy(R.arena);
  kw_buf_free(&R.in);
  return rc;
}
