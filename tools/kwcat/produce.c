/* kwcat -P: produce delimited messages from stdin (or the -l file), or each file
 * argument as one message, with kcat's messages and exit codes: delivery failures are
 * reported per message ("% Delivery failed for message: ...") and make the exit code 1;
 * "all brokers down" ends the program at once unless -E is given.
 *
 * kwire has no threads, so kwcat drives the client itself: while it waits for input it
 * polls stdin together with the client's sockets (a slow pipe never holds back
 * deliveries), and when the bounded queue is full it polls the client and retries. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kwcat.h"

#define POLL_EVERY 64 /* messages between two non-blocking polls while input streams in */

typedef struct pstate {
  kwcat_opts *o;
  kw_client *cl;
  long long produced, delivered, failed;
  bool fatal; /* stop now: all brokers down (without -E) or a fatal producer error */
} pstate;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked read or poll returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL);
}

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  pstate *ps = ud;
  if (!dr->err) {
    ps->delivered++;
    kwcat_info(3, "Message delivered to partition %" PRId32 " (offset %" PRId64 ")\n", dr->partition, dr->offset);
    return;
  }
  ps->failed++;
  if (dr->err == KW_ERR_BROKER)
    kwcat_info(1, "Delivery failed for message: Broker: %s\n", kw_kerr_name(dr->kafka_error));
  else if (dr->err == KW_ERR_UNKNOWN_PARTITION)
    kwcat_info(1, "Delivery failed for message: Unknown partition %" PRId32 "\n", dr->partition);
  else
    kwcat_info(1, "Delivery failed for message: %s\n", kw_strerror(dr->err));
}

static void on_error(void *ud, int err, const char *reason) {
  pstate *ps = ud;
  if (err == KW_ERR_ALL_BROKERS_DOWN) {
    if (ps->o->exit_on_error) {
      fprintf(stderr, "%% ERROR: %s: %s: terminating\n", kw_strerror(err), reason ? reason : "");
      ps->fatal = true;
    } else {
      fprintf(stderr, "%% ERROR: %s: %s\n", kw_strerror(err), reason ? reason : "");
    }
  } else if (err == KW_ERR_FATAL) {
    kwcat_info(0, "FATAL CLIENT ERROR: %s: %s: terminating\n", kw_strerror(err), reason ? reason : "");
    ps->fatal = true;
  } else {
    kwcat_info(1, "ERROR: %s: %s\n", kw_strerror(err), reason ? reason : "");
  }
}

static void drop_log(void *ud, int level, const char *context, const char *msg) {
  (void)ud, (void)level, (void)context, (void)msg;
}

/* Ends the program after a fatal condition: what is queued cannot be delivered in
 * time, and waiting for it (kw_client_destroy flushes) would look like a hang. */
static _Noreturn void bail(void) { exit(1); }

/* Runs the client until fd is readable (the reader's wait hook).
 *
 * The client is not started before the first message is queued: the topic must be known
 * to the client when it sends its first Metadata request. (kwire 0.1.0 bug: a topic
 * first used while a Metadata request is in flight waits for the next periodic refresh,
 * topic.metadata.refresh.interval.ms, so its messages time out; see docs/kwcat.md.) */
static int wait_input(void *ud, int fd) {
  pstate *ps = ud;
  for (;;) {
    if (stop_flag) return -1;
    if (ps->fatal) bail();
    int r = kwcat_wait(ps->produced > 0 ? ps->cl : NULL, fd, -1);
    if (r < 0) return -1;
    if (r > 0) return 0;
  }
}

/* Queues one message, polling while the bounded queue is full. 0, or -1 after printing
 * why it cannot be produced (the caller stops reading). */
static int produce(pstate *ps, const void *key, size_t klen, const void *val, size_t vlen) {
  kwcat_opts *o = ps->o;
  for (;;) {
    int err = kw_produce(ps->cl, o->topic, o->partition, key, klen, val, vlen, o->n_headers ? o->headers : NULL,
                         o->n_headers, 0, NULL);
    if (!err) {
      ps->produced++;
      return 0;
    }
    if (err != KW_ERR_QUEUE_FULL) {
      if (err == KW_ERR_UNKNOWN_PARTITION)
        fprintf(stderr, "%% ERROR: Failed to produce message (%zu bytes): Unknown partition %" PRId32 "\n", vlen,
                o->partition);
      else
        fprintf(stderr, "%% ERROR: Failed to produce message (%zu bytes): %s\n", vlen, kw_strerror(err));
      return -1;
    }
    if (stop_flag) {
      fprintf(stderr, "%% ERROR: Program terminated while producing message of %zu bytes\n", vlen);
      bail();
    }
    kw_client_poll(ps->cl, 5);
    if (ps->fatal) bail();
  }
}

/* One message from the input: the -K split, the -k default key, then produce and -T. */
static int produce_line(pstate *ps, const char *msg, size_t len) {
  kwcat_opts *o = ps->o;
  const char *key = NULL, *val = msg;
  size_t klen = 0, vlen = len;
  if (o->key_delim) {
    const char *t = kwcat_memfind(msg, len, o->key_delim, o->key_delim_len);
    if (t) {
      key = msg;
      klen = (size_t)(t - msg);
      val = t + o->key_delim_len;
      vlen = len - klen - o->key_delim_len;
      if (o->null_empty) {
        if (vlen == 0) val = NULL;
        if (klen == 0) key = NULL;
      }
    }
  }
  if (!key && o->key) {
    key = o->key;
    klen = strlen(o->key);
  }
  if (produce(ps, key, klen, val, vlen)) return -1;
  if (o->tee && (fwrite(msg, 1, len, stdout) != len || fwrite(o->delim, 1, o->delim_len, stdout) != o->delim_len))
    kwcat_fatal("Tee write error for message of %zu bytes: %s", len, strerror(errno));
  return 0;
}

/* Messages split by the delimiter from fd, streamed. 0, or 1 when input stopped on an error. */
static int produce_stream(pstate *ps, int fd, size_t max_msg) {
  kwcat_opts *o = ps->o;
  kwcat_reader r;
  kwcat_reader_init(&r, fd, o->delim, o->delim_len, max_msg, &stop_flag);
  r.wait = wait_input;
  r.wait_ud = ps;
  int code = 0;
  const char *msg;
  size_t len;
  int got;
  while (!stop_flag && (o->msg_cnt < 0 || ps->produced < o->msg_cnt) && (got = kwcat_reader_next(&r, &msg, &len)) != 0) {
    if (got == -2) {
      fprintf(stderr, "%% ERROR: Input is too large, maximum size is %zu\n", max_msg);
      code = 1;
      break;
    }
    if (got < 0) {
      fprintf(stderr, "%% ERROR: Unable to read message: %s\n", strerror(errno));
      code = 1;
      break;
    }
    if (len == 0) continue; /* kcat skips empty messages */
    if (produce_line(ps, msg, len)) {
      code = 1;
      break;
    }
    if (ps->produced % POLL_EVERY == 0) kw_client_poll(ps->cl, 0);
    if (ps->fatal) bail();
  }
  kwcat_reader_free(&r);
  return code;
}

/* A whole file as one message; -1 when it could not be produced. */
static int produce_file(pstate *ps, const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    kwcat_info(1, "Failed to open %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    kwcat_info(1, "Failed to stat %s: %s\n", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (st.st_size == 0) {
    kwcat_info(3, "Skipping empty file %s\n", path);
    close(fd);
    return 0;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    kwcat_info(1, "Failed to mmap %s: %s\n", path, strerror(errno));
    return -1;
  }
  kwcat_info(4, "Producing file %s (%jd bytes)\n", path, (intmax_t)st.st_size);
  const kwcat_opts *o = ps->o;
  int r = produce(ps, o->key, o->key ? strlen(o->key) : 0, p, (size_t)st.st_size); /* kw_produce copies */
  munmap(p, (size_t)st.st_size);
  kw_client_poll(ps->cl, 0);
  if (ps->fatal) bail();
  return r;
}

int kwcat_produce(kwcat_opts *o) {
  char val[256] = "";
  kw_config_get(o->conf, "transactional.id", val, sizeof val);
  if (*val) kwcat_fatal("transactions (-X transactional.id) are not supported by kwcat yet");
  kw_config_get(o->conf, "message.max.bytes", val, sizeof val);
  size_t max_msg = (size_t)strtoull(val, NULL, 10);
  kwcat_info(3, "Setting producer input buffer max size to message.max.bytes value %zu\n", max_msg);

  char dbg[256] = "";
  kw_config_get(o->conf, "debug", dbg, sizeof dbg);
  if (kwcat_verbosity == 0 && !*dbg) kw_config_set_log_cb(o->conf, drop_log, NULL);

  char err[512];
  pstate ps = {.o = o};
  ps.cl = kw_producer_new(o->conf, err, sizeof err);
  if (!ps.cl) kwcat_fatal("Failed to create producer: %s", err);
  /* The error callback first: kw_client_set_delivery_cb hands the producer the error
   * callback set at that time. */
  kw_client_set_error_cb(ps.cl, on_error, &ps);
  kw_client_set_delivery_cb(ps.cl, on_delivery, &ps);
  catch_signals();

  int code = 0;
  if (o->n_files > 0 && !o->line_mode) {
    int good = 0;
    for (int i = 0; i < o->n_files && !stop_flag; i++)
      if (produce_file(&ps, o->files[i]) == 0) good++;
    if (!good) code = 1;
    else if (good < o->n_files) kwcat_info(1, "Failed to produce from %i/%i files\n", o->n_files - good, o->n_files);
  } else {
    int fd = STDIN_FILENO;
    if (o->line_mode && o->n_files == 1) {
      fd = open(o->files[0], O_RDONLY);
      if (fd < 0) kwcat_fatal("Cannot open %s: %s", o->files[0], strerror(errno));
    }
    code = produce_stream(&ps, fd, max_msg);
    if (fd != STDIN_FILENO) close(fd);
  }
  if (o->tee) fflush(stdout);

  /* Wait for every delivery report; a new signal ends the wait. */
  stop_flag = 0;
  while (kw_client_outstanding(ps.cl) > 0 && !stop_flag) {
    kw_client_flush(ps.cl, 100);
    if (ps.fatal) bail();
  }
  if (kw_client_outstanding(ps.cl) > 0) {
    kwcat_info(1, "%d messages not delivered: terminating\n", kw_client_outstanding(ps.cl));
    bail();
  }
  char stats[1024];
  kw_client_stats_json(ps.cl, stats, sizeof stats);
  kwcat_info(2, "stats: %s\n", stats);
  kw_client_destroy(ps.cl);
  kwcat_info(2, "%lld messages produced: %lld delivered, %lld failed\n", ps.produced, ps.delivered, ps.failed);
  if (ps.failed) code = 1;
  return code;
}
