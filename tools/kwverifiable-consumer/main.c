/* kwverifiable-consumer: kwire's version of Kafka's VerifiableConsumer
 * (org.apache.kafka.tools.VerifiableConsumer), for system and fault tests.
 *
 * Joins a consumer group on one topic and prints a JSON line per event on stdout, with
 * the Java tool's names and fields:
 *   startup_complete
 *   partitions_assigned / partitions_revoked   partitions: [{topic, partition}]
 *   records_consumed    count, partitions: [{topic, partition, count, minOffset, maxOffset}]
 *   record_data         (--verbose) key, value, topic, partition, offset
 *   offsets_committed   offsets: [{topic, partition, offset}], success, error (on failure)
 *   shutdown_complete   after the consumer closed (left the group)
 *
 * Without --enable-autocommit it commits synchronously after each processed batch, the
 * offsets of that batch (last offset + 1), as the Java tool does, and reports the result.
 * A batch is what the Java consumer's poll returns: up to 500 records, here the record
 * batches kw_consumer_poll_batch has ready one after the other. A commit that failed is tried again when the consumer next
 * idles (the Java tool would wait for the next batch), so that the group's committed
 * offsets catch up once the cluster is healthy again.
 *
 * Partitions taken away without a chance to commit (KW_REBALANCE_LOST: the member was
 * fenced) are reported as partitions_revoked, as the Java listener's default
 * onPartitionsLost does. SIGTERM/SIGINT (or --max-messages reached): close (leave the
 * group), then shutdown_complete. */
#include "../kwverifiable-producer/verifiable.h"
#include <getopt.h>
#include <inttypes.h>
#include <strings.h>

static const char *prog = "kwverifiable-consumer";

#define MAX_BATCH 500 /* the Java consumer's max.poll.records */

typedef struct vc {
  kw_client *cl;
  const char *topic;
  long long max_messages; /* < 0: until a signal */
  long long consumed;
  bool verbose;
  bool auto_commit;
  int commit_timeout_ms;
  bool commit_pending; /* the last commit failed: try again when idle */
  kw_topic_partition *last; /* what failed commits carried, per partition */
  int n_last;
} vc;

static void print_partitions(const char *name, const kw_topic_partition *tps, int n) {
  vf_begin(name);
  fputs(",\"partitions\":[", stdout);
  for (int i = 0; i < n; i++) {
    fputs(i ? ",{\"topic\":" : "{\"topic\":", stdout);
    vf_cstr(tps[i].topic);
    printf(",\"partition\":%" PRId32 "}", tps[i].partition);
  }
  fputs("]", stdout);
  vf_end();
  vf_flush();
}

static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  (void)ud;
  print_partitions(kind == KW_REBALANCE_ASSIGNED ? "partitions_assigned" : "partitions_revoked", tps, n);
}

static void on_error(void *ud, int err, const char *reason) {
  (void)ud;
  fprintf(stderr, "%s: %s: %s\n", prog, kw_errname(err), reason ? reason : "");
}

static void print_committed(const kw_topic_partition *tps, int n, int err) {
  vf_begin("offsets_committed");
  fputs(",\"offsets\":[", stdout);
  for (int i = 0; i < n; i++) {
    fputs(i ? ",{\"topic\":" : "{\"topic\":", stdout);
    vf_cstr(tps[i].topic);
    printf(",\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}", tps[i].partition, tps[i].offset);
  }
  fputs("]", stdout);
  if (err) vf_field_str("error", kw_strerror(err));
  printf(",\"success\":%s", err ? "false" : "true");
  vf_end();
}

/* Commits what was stored and reports `tps` with the result. A failed commit's offsets
 * are kept (merged per partition) for the retry; kw_consumer_commit sends every stored
 * offset, so a success settles them all. */
static void commit(vc *c, const kw_topic_partition *tps, int n) {
  int err = kw_consumer_commit(c->cl, c->commit_timeout_ms);
  print_committed(tps, n, err);
  c->commit_pending = err != KW_OK;
  if (!err) {
    c->n_last = 0;
    return;
  }
  if (tps == c->last) return;
  for (int i = 0; i < n; i++) {
    int k = 0;
    while (k < c->n_last && (c->last[k].partition != tps[i].partition || strcmp(c->last[k].topic, tps[i].topic))) k++;
    if (k == c->n_last) {
      kw_topic_partition *grown = realloc(c->last, sizeof *grown * (size_t)(c->n_last + 1));
      if (!grown) continue;
      c->last = grown;
      c->n_last++;
    }
    c->last[k] = tps[i];
  }
}

typedef struct psum {
  int32_t partition;
  const char *topic; /* the topic strings of polled messages live as long as the client */
  long long count;
  int64_t min, max;
} psum;

/* What one "poll" handed out: up to MAX_BATCH records, from as many record batches as
 * were ready (the Java consumer's poll returns up to max.poll.records). */
typedef struct pollsum {
  psum sums[MAX_BATCH];
  int ns, total;
} pollsum;

/* record_data (--verbose) for each record, counted per partition. */
static void take(vc *c, pollsum *ps, const kw_message *msgs, int n) {
  for (int i = 0; i < n; i++) {
    const kw_message *m = &msgs[i];
    if (m->err) { /* an error event: that partition stops until a seek */
      fprintf(stderr, "%s: %s [%" PRId32 "] at offset %" PRId64 ": %s\n", prog, m->topic, m->partition, m->offset,
              kw_strerror(m->err));
      continue;
    }
    ps->total++;
    if (c->max_messages >= 0 && c->consumed >= c->max_messages) continue; /* counted, not processed (as Java) */
    c->consumed++;
    psum *s = NULL;
    for (int k = 0; k < ps->ns && !s; k++)
      if (ps->sums[k].partition == m->partition && strcmp(ps->sums[k].topic, m->topic) == 0) s = &ps->sums[k];
    if (!s) {
      s = &ps->sums[ps->ns++];
      *s = (psum){m->partition, m->topic, 0, m->offset, m->offset};
    }
    s->count++;
    if (m->offset < s->min) s->min = m->offset;
    if (m->offset > s->max) s->max = m->offset;
    if (c->verbose) {
      vf_begin("record_data");
      fputs(",\"key\":", stdout);
      vf_str(m->key, m->key_len);
      fputs(",\"value\":", stdout);
      vf_str(m->value, m->value_len);
      vf_field_str("topic", m->topic);
      printf(",\"partition\":%" PRId32 ",\"offset\":%" PRId64, m->partition, m->offset);
      vf_end();
    }
  }
}

/* records_consumed, then (without auto commit) the sync commit of what was processed. */
static void finish(vc *c, pollsum *ps) {
  if (ps->total == 0) return;
  vf_begin("records_consumed");
  printf(",\"count\":%d,\"partitions\":[", ps->total);
  for (int k = 0; k < ps->ns; k++) {
    const psum *s = &ps->sums[k];
    fputs(k ? ",{\"topic\":" : "{\"topic\":", stdout);
    vf_cstr(s->topic);
    printf(",\"partition\":%" PRId32 ",\"count\":%lld,\"minOffset\":%" PRId64 ",\"maxOffset\":%" PRId64 "}",
           s->partition, s->count, s->min, s->max);
  }
  fputs("]", stdout);
  vf_end();
  vf_flush(); /* what was consumed is on record before the commit */
  if (c->auto_commit || ps->ns == 0) return;
  kw_topic_partition tps[MAX_BATCH];
  int nt = 0;
  for (int k = 0; k < ps->ns; k++) {
    const psum *s = &ps->sums[k];
    /* A partition revoked meanwhile is not stored (nor committed): it is no longer ours. */
    if (kw_consumer_store_offset(c->cl, s->topic, s->partition, s->max + 1) == KW_OK)
      tps[nt++] = (kw_topic_partition){s->topic, s->partition, s->max + 1};
  }
  if (nt > 0) commit(c, tps, nt);
}

static _Noreturn void usage(int code) {
  fprintf(code ? stderr : stdout,
          "usage: %s --topic TOPIC --group-id GROUP --bootstrap-server HOST:PORT[,...] [options]\n"
          "Consumes TOPIC in a consumer group and prints a JSON line per event (Kafka's\n"
          "VerifiableConsumer protocol): rebalances, records consumed, offsets committed.\n"
          "\n"
          "  --topic TOPIC                topic to consume (required)\n"
          "  --group-id GROUP             consumer group (required)\n"
          "  --bootstrap-server LIST      brokers (required; --broker-list is the same)\n"
          "  --group-protocol P           classic (default) or consumer (KIP-848)\n"
          "  --group-remote-assignor A    accepted for compatibility; the broker's default is used\n"
          "  --group-instance-id ID       static membership\n"
          "  --max-messages N             stop after N records (-1, the default: until SIGTERM)\n"
          "  --session-timeout MS         session.timeout.ms (default 30000, as the Java tool)\n"
          "  --enable-autocommit          commit automatically (default: sync commit after each batch)\n"
          "  --reset-policy P             earliest (default), latest or none\n"
          "  --assignment-strategy S      Java assignor class or kwire name: range (default),\n"
          "                               roundrobin, cooperative-sticky (classic protocol)\n"
          "  --consumer.config FILE       Java properties file (kwire's property names;\n"
          "                               keys kwire does not know are ignored with a warning)\n"
          "  --verbose                    a record_data line per record\n"
          "  --commit-timeout MS          how long a sync commit may take (default 30000; kwire only)\n"
          "  -X key=value                 a kwire property (after everything else; repeatable)\n",
          prog);
  exit(code);
}

/* A Java assignor class name (or kwire's own name) as a kwire assignor list. */
static const char *assignor(const char *s) {
  const char *dot = strrchr(s, '.');
  const char *base = dot ? dot + 1 : s;
  if (!strcmp(base, "RangeAssignor") || !strcmp(s, "range")) return "range";
  if (!strcmp(base, "RoundRobinAssignor") || !strcmp(s, "roundrobin")) return "roundrobin";
  if (!strcmp(base, "CooperativeStickyAssignor") || !strcmp(s, "cooperative-sticky")) return "cooperative-sticky";
  vf_die(prog, "--assignment-strategy: kwire has range, roundrobin and cooperative-sticky, not '%s'", s);
}

/* Command-line settings that only shape the configuration. */
typedef struct vc_args {
  const char *boot, *gproto, *group, *instance, *session, *reset, *strategy, *cconf;
  char **xs; /* -X key=value, in order */
  int nx;
} vc_args;

/* The command line (the Java tool's flags) into c's settings and a's. Exits on a bad one. */
static void parse_args(int argc, char **argv, vc *c, vc_args *a) {
  enum {
    O_TOPIC = 256, O_BOOT, O_GPROTO, O_GREMOTE, O_GROUP, O_INSTANCE, O_MAX, O_SESSION, O_VERBOSE, O_AUTOCOMMIT,
    O_RESET, O_STRATEGY, O_CCONF, O_CTIMEOUT
  };
  static const struct option opts[] = {
      {"topic", required_argument, NULL, O_TOPIC},
      {"bootstrap-server", required_argument, NULL, O_BOOT},
      {"broker-list", required_argument, NULL, O_BOOT},
      {"group-protocol", required_argument, NULL, O_GPROTO},
      {"group-remote-assignor", required_argument, NULL, O_GREMOTE},
      {"group-id", required_argument, NULL, O_GROUP},
      {"group-instance-id", required_argument, NULL, O_INSTANCE},
      {"max-messages", required_argument, NULL, O_MAX},
      {"session-timeout", required_argument, NULL, O_SESSION},
      {"verbose", no_argument, NULL, O_VERBOSE},
      {"enable-autocommit", no_argument, NULL, O_AUTOCOMMIT},
      {"reset-policy", required_argument, NULL, O_RESET},
      {"assignment-strategy", required_argument, NULL, O_STRATEGY},
      {"consumer.config", required_argument, NULL, O_CCONF},
      {"commit-timeout", required_argument, NULL, O_CTIMEOUT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  *a = (vc_args){.gproto = "classic", .session = "30000", .reset = "earliest", .strategy = "range"};
  a->xs = calloc((size_t)argc + 1, sizeof *a->xs);
  int o;
  if (!a->xs) vf_die(prog, "out of memory");
  if (argc == 1) usage(0);
  while ((o = getopt_long(argc, argv, "X:h", opts, NULL)) != -1) {
    switch (o) {
    case O_TOPIC: c->topic = optarg; break;
    case O_BOOT: a->boot = optarg; break;
    case O_GPROTO:
      if (strcasecmp(optarg, "classic") && strcasecmp(optarg, "consumer"))
        vf_die(prog, "--group-protocol: classic or consumer, not '%s'", optarg);
      a->gproto = strcasecmp(optarg, "classic") ? "consumer" : "classic";
      break;
    case O_GREMOTE: break;
    case O_GROUP: a->group = optarg; break;
    case O_INSTANCE: a->instance = optarg; break;
    case O_MAX: c->max_messages = vf_parse_ll(prog, "--max-messages", optarg); break;
    case O_SESSION: a->session = optarg; break;
    case O_VERBOSE: c->verbose = true; break;
    case O_AUTOCOMMIT: c->auto_commit = true; break;
    case O_RESET:
      if (strcmp(optarg, "earliest") && strcmp(optarg, "latest") && strcmp(optarg, "none"))
        vf_die(prog, "--reset-policy: earliest, latest or none, not '%s'", optarg);
      a->reset = strcmp(optarg, "none") ? optarg : "error"; /* kwire's name for "none" */
      break;
    case O_STRATEGY: a->strategy = assignor(optarg); break;
    case O_CCONF: a->cconf = optarg; break;
    case O_CTIMEOUT: c->commit_timeout_ms = (int)vf_parse_ll(prog, "--commit-timeout", optarg); break;
    case 'X': a->xs[a->nx++] = optarg; break;
    case 'h': usage(0);
    default: usage(1);
    }
  }
  if (optind < argc) vf_die(prog, "unexpected argument '%s'", argv[optind]);
  if (!c->topic) vf_die(prog, "--topic is required");
  if (!a->group) vf_die(prog, "--group-id is required");
  if (!a->boot) vf_die(prog, "--bootstrap-server is required");
  if (c->commit_timeout_ms <= 0) vf_die(prog, "--commit-timeout must be > 0");
}

/* The consumer's configuration from the flags. Exits on a setting kwire refuses. */
static kw_config *consumer_config(const vc *c, const vc_args *a) {
  /* The Java tool's order: the properties file, then the command line over it. */
  kw_config *conf = kw_config_new();
  if (!conf) vf_die(prog, "out of memory");
  vf_set(prog, conf, "client.id", prog, false, "default");
  if (a->cconf) vf_load_properties(prog, conf, a->cconf);
  vf_set(prog, conf, "bootstrap.servers", a->boot, false, "--bootstrap-server");
  vf_set(prog, conf, "group.id", a->group, false, "--group-id");
  vf_set(prog, conf, "group.protocol", a->gproto, false, "--group-protocol");
  if (!strcmp(a->gproto, "classic"))
    vf_set(prog, conf, "partition.assignment.strategy", a->strategy, false, "--assignment-strategy");
  if (a->instance) vf_set(prog, conf, "group.instance.id", a->instance, false, "--group-instance-id");
  vf_set(prog, conf, "enable.auto.commit", c->auto_commit ? "true" : "false", false, "--enable-autocommit");
  /* Manual commits carry what was processed, nothing polled later. */
  vf_set(prog, conf, "enable.auto.offset.store", c->auto_commit ? "true" : "false", false, "--enable-autocommit");
  vf_set(prog, conf, "auto.offset.reset", a->reset, false, "--reset-policy");
  vf_set(prog, conf, "session.timeout.ms", a->session, false, "--session-timeout");
  vf_finish_setup(prog, conf, a->xs, a->nx);
  return conf;
}

/* Polls and prints records until told to stop or max_messages are consumed; a commit
 * that failed is retried once a second while nothing arrives. */
static void consume(vc *c) {
  static kw_message msgs[MAX_BATCH];
  int64_t retry_at = 0;
  while (!vf_stop && (c->max_messages < 0 || c->consumed < c->max_messages)) {
    int n = kw_consumer_poll_batch(c->cl, msgs, MAX_BATCH, 100);
    if (n < 0) {
      fprintf(stderr, "%s: poll: %s\n", prog, kw_strerror(n));
      break;
    }
    if (n > 0) {
      static pollsum ps;
      ps.ns = ps.total = 0;
      take(c, &ps, msgs, n);
      /* More record batches that are ready now, up to MAX_BATCH records; each is printed
       * before the next call (their messages live until then). */
      while (ps.total < MAX_BATCH && !vf_stop && (c->max_messages < 0 || c->consumed < c->max_messages) &&
             (n = kw_consumer_poll_batch(c->cl, msgs, MAX_BATCH - ps.total, 0)) > 0)
        take(c, &ps, msgs, n);
      finish(c, &ps);
      vf_flush();
    } else if (c->commit_pending && vf_mono_ms() >= retry_at) {
      /* Only partitions still ours: a revoked one's offsets are not ours to commit. */
      int k = 0;
      for (int i = 0; i < c->n_last; i++)
        if (kw_consumer_store_offset(c->cl, c->last[i].topic, c->last[i].partition, c->last[i].offset) == KW_OK)
          c->last[k++] = c->last[i];
      c->n_last = k;
      c->commit_pending = false;
      if (k > 0) {
        commit(c, c->last, c->n_last);
        vf_flush();
      }
      retry_at = vf_mono_ms() + 1000;
    }
  }
}

int main(int argc, char **argv) {
  vc c = {.max_messages = -1, .commit_timeout_ms = 30000};
  vc_args a;
  parse_args(argc, argv, &c, &a);
  kw_config *conf = consumer_config(&c, &a);
  char err[512];
  c.cl = kw_consumer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!c.cl) vf_die(prog, "%s", err);
  kw_client_set_error_cb(c.cl, on_error, &c);
  kw_consumer_set_rebalance_cb(c.cl, on_rebalance, &c);

  vf_begin("startup_complete");
  vf_end();
  vf_flush();

  const char *topics[] = {c.topic};
  int rc = kw_consumer_subscribe(c.cl, topics, 1);
  if (rc) vf_die(prog, "subscribe: %s", kw_strerror(rc));

  consume(&c);
  kw_consumer_close(c.cl, 30000);
  kw_client_destroy(c.cl);
  free(c.last);
  vf_begin("shutdown_complete");
  vf_end();
  vf_flush();
  return 0;
}
