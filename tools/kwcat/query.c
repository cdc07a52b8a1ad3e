/* kwcat -Q: offsets for times. Each -t topic:partition:timestamp is answered by
 * ListOffsets (kw_admin_list_offsets, one request per topic and timestamp): the first
 * offset whose record timestamp is >= the timestamp, -1 when there is none; timestamp
 * -1 asks the end (high watermark), -2 the beginning. Printed as kcat prints it, sorted
 * by topic and partition: "topic [partition] offset N" lines (": <error>" appended for a
 * partition that failed, N then being the timestamp asked), or with -J kcat's JSON map
 * {"topic":{"topic":"topic","0":{"partition":0,"offset":N},...},...} without a newline.
 * As librdkafka's offsets_for_times, the lookup fails (exit 1) when none of the
 * partitions exists, and names each one that does not otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwcat.h"

typedef struct qrow {
  const kwcat_query *q;
  int64_t offset;
  char *error; /* NULL: answered */
  bool unknown; /* the topic or the partition does not exist */
  bool done;
} qrow;

static int by_topic_partition(const void *a, const void *b) {
  const qrow *x = a, *y = b;
  int c = strcmp(x->q->topic, y->q->topic);
  if (c) return c;
  return (x->q->partition > y->q->partition) - (x->q->partition < y->q->partition);
}

static char *copy(const char *s) {
  char *d = strdup(s);
  if (!d) kwcat_fatal("out of memory");
  return d;
}

/* Answers every row of row r's topic and timestamp with one ListOffsets. */
static void answer(kw_client *cl, qrow *rows, int n, int r, int wait_ms) {
  const kwcat_query *q = rows[r].q;
  kw_admin_result *res = NULL;
  char errstr[512] = "";
  int err = kw_admin_list_offsets(cl, q->topic, q->ts, wait_ms, &res, errstr, sizeof errstr);
  /* Not the partitions' answer but the cluster's: nothing can be printed (as kcat). */
  if (err == KW_ERR_TIMED_OUT || err == KW_ERR_ALL_BROKERS_DOWN || err == KW_ERR_CONNECT || err == KW_ERR_RESOLVE ||
      err == KW_ERR_NOMEM || err == KW_ERR_CONFIG || err == KW_ERR_TLS || err == KW_ERR_TLS_CERT ||
      err == KW_ERR_AUTHENTICATION)
    kwcat_fatal("offsets_for_times failed: %s", *errstr ? errstr : kw_strerror(err));
  for (int i = r; i < n; i++) {
    qrow *w = &rows[i];
    if (w->done || w->q->ts != q->ts || strcmp(w->q->topic, q->topic) != 0) continue;
    w->done = true;
    if (err == KW_ERR_UNKNOWN_TOPIC) {
      w->error = copy("Broker: Unknown topic or partition");
      w->unknown = true;
      continue;
    }
    if (err < 0) {
      w->error = copy(*errstr ? errstr : kw_strerror(err));
      continue;
    }
    int k = 0, cnt = kw_admin_result_count(res);
    while (k < cnt && kw_admin_partition(res, k) != w->q->partition) k++;
    if (k < cnt) {
      w->offset = kw_admin_offset(res, k);
    } else {
      w->error = copy("Local: Unknown partition");
      w->unknown = true;
    }
  }
  kw_admin_result_free(res);
}

static void print_json(const qrow *rows, int n) {
  const char *last = NULL;
  fputc('{', stdout);
  for (int i = 0; i < n; i++) {
    const qrow *w = &rows[i];
    if (!last || strcmp(last, w->q->topic) != 0) {
      if (last) fputs("},", stdout);
      kwcat_json_str(NULL, w->q->topic, strlen(w->q->topic));
      fputs(":{\"topic\":", stdout);
      kwcat_json_str(NULL, w->q->topic, strlen(w->q->topic));
      last = w->q->topic;
    }
    printf(",\"%" PRId32 "\":{\"partition\":%" PRId32 ",\"offset\":%" PRId64, w->q->partition, w->q->partition,
           w->offset);
    if (w->error) {
      fputs(",\"error\":", stdout);
      kwcat_json_str(NULL, w->error, strlen(w->error));
    }
    fputc('}', stdout);
  }
  if (last) fputc('}', stdout);
  fputc('}', stdout);
}

int kwcat_query_offsets(const kwcat_opts *o) {
  int n = o->n_queries;
  qrow *rows = calloc((size_t)n, sizeof *rows);
  if (!rows) kwcat_fatal("out of memory");
  for (int i = 0; i < n; i++) rows[i] = (qrow){.q = &o->queries[i], .offset = o->queries[i].ts};
  char errstr[512];
  kw_client *cl = kw_admin_new(o->conf, errstr, sizeof errstr);
  if (!cl) kwcat_fatal("Failed to create producer: %s", errstr);
  int wait_ms = (o->metadata_timeout_s > 0 ? o->metadata_timeout_s : 5) * 1000;
  for (int i = 0; i < n; i++)
    if (!rows[i].done) answer(cl, rows, n, i, wait_ms);
  kw_client_destroy(cl);
  int unknown = 0; /* librdkafka fails the whole lookup when no partition exists */
  for (int i = 0; i < n; i++) unknown += rows[i].unknown;
  if (unknown == n) kwcat_fatal("offsets_for_times failed: Local: Unknown partition");
  qsort(rows, (size_t)n, sizeof *rows, by_topic_partition);
  if (o->json) {
    print_json(rows, n);
  } else {
    for (int i = 0; i < n; i++) {
      printf("%s [%" PRId32 "] offset %" PRId64 "%s", rows[i].q->topic, rows[i].q->partition, rows[i].offset,
             rows[i].error ? "" : "\n");
      if (rows[i].error) printf(": %s\n", rows[i].error);
    }
  }
  if (fflush(stdout) != 0) kwcat_fatal("Output write error: %s", strerror(errno));
  for (int i = 0; i < n; i++) free(rows[i].error);
  free(rows);
  return 0;
}
