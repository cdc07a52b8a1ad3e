/* kwcat -C and -G: consume and print messages (output.c), with kcat's messages and exit
 * codes. -C reads one topic's partitions (all, or -p) from -o on; -G joins a consumer
 * group for the topics given as arguments, and the group hands out partitions.
 *
 * End of partition (kcat: "% Reached end of topic T [p] at offset N"): each partition's
 * high watermark is asked when it is assigned (-C: all at start; -G: at each
 * assignment); a partition is at its end when its position reaches it. -C with -e stops
 * that partition, and kwcat exits once every partition has stopped (at its end, or at
 * the -o e@ stop time). -G with -e exits once every assigned partition is at its end at
 * the same time (a message after the end takes the partition out of that count), as
 * kcat does. Otherwise the line is informational; after new messages the watermark is
 * asked again when the consumer idles, so a tailing kwcat reports each catch-up as kcat.
 *
 * -G commits as kcat (librdkafka's defaults, which are kwire's too): the offset after
 * each message printed is stored, committed every auto.commit.interval.ms and when kwcat
 * exits (SIGINT/SIGTERM, -c, -e), before it leaves the group.
 *
 * Memory: kwire's bounded prefetch (queued.max.messages.kbytes) and the stdio buffer;
 * each message is written straight from the prefetch buffer. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kwcat.h"
#include "kwire/codec_errors.h"

#define IDLE_POLL_MS 100
#define CHECK_EVERY 1024     /* messages between two end-of-partition sweeps while busy */

typedef struct cpart {
  int topic;        /* cs->topics index */
  int32_t id;
  int32_t leader;   /* for -J's "broker" */
  int64_t hi;       /* the high watermark to report the end at; -1: not known (or reported) */
  int64_t start;    /* an absolute -o: until the position moves off it, it may be beyond the end */
  bool eof_ready;   /* false while the position is still that -o offset beyond the end */
  bool dirty;       /* messages since the last end report (ask the watermark again when idle) */
  bool need_hi;     /* the watermark is to be asked */
  bool stopped;     /* -C: at its end with -e, or at the e@ time: unassigned */
  bool assigned;    /* -G: in the group's assignment */
  bool at_end;      /* -G: at its end, no message since */
} cpart;

typedef struct ctopic {
  const char *name;
  int *index;       /* partition id -> parts[] index, -1: not seen */
  int32_t n_index;
  int32_t *leaders; /* at start (metadata), n_leaders of them */
  int32_t n_leaders;
} ctopic;

typedef struct cstate {
  kwcat_opts *o;
  kw_client *cl;
  kw_client *side;        /* admin client for watermarks while consuming: its own connections */
  kwcat_fmt fmt;
  ctopic *topics;
  int n_topics;
  cpart *parts;
  int n_parts, cap_parts;
  int stop_cnt, stop_thres; /* -C */
  int n_assigned, n_at_end; /* -G */
  bool need_hi;           /* some partition's watermark is to be asked */
  bool cooperative;       /* -G: rebalances are incremental (kcat words them differently) */
  long long rx;
  bool run;
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

static int timeout_ms(const kwcat_opts *o) { return (o->metadata_timeout_s > 0 ? o->metadata_timeout_s : 5) * 1000; }

/* ---- partitions by topic and id ---- */

static int find_topic(const cstate *cs, const char *name) {
  for (int i = 0; i < cs->n_topics; i++)
    if (strcmp(cs->topics[i].name, name) == 0) return i;
  return -1;
}

static cpart *find_part(cstate *cs, const char *topic, int32_t id) {
  int t = find_topic(cs, topic);
  if (t < 0 || id < 0 || id >= cs->topics[t].n_index || cs->topics[t].index[id] < 0) return NULL;
  return &cs->parts[cs->topics[t].index[id]];
}

/* The partition's entry, made on first sight. Pointers into parts[] are valid until the
 * next call (it may grow the array). */
static cpart *get_part(cstate *cs, int t, int32_t id) {
  ctopic *ct = &cs->topics[t];
  if (id >= ct->n_index) {
    int32_t n = id + 1 > 2 * ct->n_index ? id + 1 : 2 * ct->n_index;
    int *index = realloc(ct->index, sizeof *index * (size_t)n);
    if (!index) kwcat_fatal("out of memory");
    for (int32_t k = ct->n_index; k < n; k++) index[k] = -1;
    ct->index = index;
    ct->n_index = n;
  }
  if (ct->index[id] >= 0) return &cs->parts[ct->index[id]];
  if (cs->n_parts == cs->cap_parts) {
    int cap = cs->cap_parts ? 2 * cs->cap_parts : 16;
    cpart *parts = realloc(cs->parts, sizeof *parts * (size_t)cap);
    if (!parts) kwcat_fatal("out of memory");
    cs->parts = parts;
    cs->cap_parts = cap;
  }
  ct->index[id] = cs->n_parts;
  cpart *p = &cs->parts[cs->n_parts++];
  *p = (cpart){.topic = t, .id = id, .leader = id < ct->n_leaders ? ct->leaders[id] : -1, .hi = -1, .start = -1,
               .eof_ready = true};
  return p;
}

static const char *tname(const cstate *cs, const cpart *p) { return cs->topics[p->topic].name; }

/* ---- ends and stops ---- */

static void stop_partition(cstate *cs, cpart *p) {
  if (p->stopped) return;
  p->stopped = true;
  kw_consumer_unassign(cs->cl, tname(cs, p), p->id);
  if (++cs->stop_cnt >= cs->stop_thres) cs->run = false;
}

static void reached_end(cstate *cs, cpart *p, int64_t offset) {
  p->hi = -1; /* reported; known again only when asked again */
  p->dirty = false;
  if (cs->o->mode == 'G') {
    p->at_end = true;
    if (++cs->n_at_end == cs->n_assigned && cs->o->exit_eof) cs->run = false;
  } else if (cs->o->exit_eof) {
    stop_partition(cs, p);
  }
  kwcat_info(1, "Reached end of topic %s [%" PRId32 "] at offset %" PRId64 "%s\n", tname(cs, p), p->id, offset,
             cs->run ? "" : ": exiting");
}

/* Asks the high watermark of every partition that needs it, one request per topic on
 * the side client (the consuming client's connections are busy with fetches that wait
 * for data, and a broker answers a connection's requests in order). A failure with -e
 * (the end decides when to exit) ends kwcat; otherwise the partition reports no end. */
static void ask_highs(cstate *cs) {
  cs->need_hi = false;
  for (int t = 0; t < cs->n_topics; t++) {
    bool any = false;
    for (int i = 0; i < cs->n_parts && !any; i++) any = cs->parts[i].topic == t && cs->parts[i].need_hi;
    if (!any) continue;
    const char *topic = cs->topics[t].name;
    char errstr[512] = "";
    kw_admin_result *res = NULL;
    if (!cs->side) cs->side = kw_admin_new(cs->o->conf, errstr, sizeof errstr);
    int err = cs->side ? kw_admin_list_offsets(cs->side, topic, KW_ADMIN_OFFSET_LATEST, timeout_ms(cs->o), &res, errstr,
                                               sizeof errstr)
                       : KW_ERR_CONFIG;
    if (err < 0 && cs->o->exit_eof)
      kwcat_fatal("Failed to query watermark offsets of %s: %s", topic, *errstr ? errstr : kw_strerror(err));
    for (int r = 0; res && r < kw_admin_result_count(res); r++) {
      cpart *p = find_part(cs, topic, kw_admin_partition(res, r));
      if (!p || !p->need_hi) continue;
      p->hi = kw_admin_offset(res, r);
      p->need_hi = false;
      if (!p->eof_ready && p->start <= p->hi) p->eof_ready = true; /* -o within the partition */
    }
    for (int i = 0; i < cs->n_parts; i++)
      if (cs->parts[i].topic == t) cs->parts[i].need_hi = false; /* answered, or nothing to ask again */
    kw_admin_result_free(res);
  }
}

/* Partitions whose position reached their watermark. When idle, partitions that got
 * messages since their last end have their watermark asked again (-C: only when the
 * end is reported, i.e. not with -e or -q; -G: its end also decides -e). */
static void sweep(cstate *cs, bool idle) {
  bool reask = cs->o->mode == 'G' || (!cs->o->exit_eof && kwcat_verbosity >= 1);
  for (int i = 0; idle && reask && i < cs->n_parts; i++) {
    cpart *p = &cs->parts[i];
    if (p->hi < 0 && p->dirty && !p->stopped && (cs->o->mode != 'G' || p->assigned)) {
      p->need_hi = cs->need_hi = true;
      p->dirty = false;
    }
  }
  if (cs->need_hi) ask_highs(cs);
  for (int i = 0; i < cs->n_parts && cs->run; i++) {
    cpart *p = &cs->parts[i];
    if (p->stopped || p->hi < 0 || p->at_end || (cs->o->mode == 'G' && !p->assigned)) continue;
    int64_t pos = kw_consumer_position(cs->cl, tname(cs, p), p->id);
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
  if (kwcat_wait(cl, -1, IDLE_POLL_MS) == KW_ERR_NOMEM) kwcat_fatal("out of memory");
}

static void on_message(cstate *cs, const kw_message *m) {
  const kwcat_opts *o = cs->o;
  if (m->err) {
    if (m->err == KW_ERR_BROKER)
      kwcat_fatal("Topic %s [%" PRId32 "] error: Broker: %s", m->topic, m->partition, kwcat_kerr_text(m->kafka_error));
    kwcat_fatal("Topic %s [%" PRId32 "] error: %s", m->topic, m->partition, kw_strerror(m->err));
  }
  cpart *p = find_part(cs, m->topic, m->partition);
  if (!p || p->stopped || (o->mode == 'G' && !p->assigned)) return;
  p->eof_ready = true;
  p->dirty = true;
  if (p->at_end) { /* -G: not at its end any more */
    p->at_end = false;
    cs->n_at_end--;
  }
  if (o->stop_ts > 0 && m->timestamp >= o->stop_ts) {
    stop_partition(cs, p);
    kwcat_info(1, "Reached stop timestamp for topic %s [%" PRId32 "] at offset %" PRId64 "%s\n", m->topic,
               m->partition, m->offset, cs->run ? "" : ": exiting");
    return;
  }
  kwcat_fmt_write(&cs->fmt, m, p->leader);
  if (++cs->rx == o->msg_cnt) {
    cs->run = false;
    return;
  }
  if (p->hi >= 0 && m->offset + 1 >= p->hi) reached_end(cs, p, m->offset + 1);
}

/* Where -o says a partition starts (absolute, or KW_OFFSET_*). */
static int64_t start_offset(const kwcat_opts *o) {
  return o->start == KWCAT_START_END    ? KW_OFFSET_END
         : o->start == KWCAT_START_TAIL ? KW_OFFSET_TAIL(o->start_offset)
         : o->start == KWCAT_START_ABS  ? o->start_offset
                                        : KW_OFFSET_BEGINNING;
}

/* ---- -C: the partitions of one topic ---- */

static void start_simple(cstate *cs) {
  kwcat_opts *o = cs->o;
  if (o->start == KWCAT_START_STORED)
    kwcat_fatal("-o stored needs a consumer group: use -G <group> (kwcat -C keeps no offsets)");
  kwcat_topic ti;
  int err = kwcat_topic_info(o, o->topic, &ti);
  if (err) kwcat_fatal("Failed to query metadata for topic %s: %s", o->topic, kw_strerror(err));
  if (ti.kafka_error) kwcat_fatal("Topic %s error: Broker: %s", o->topic, kwcat_kerr_text(ti.kafka_error));
  if (ti.n_partitions == 0) kwcat_fatal("Topic %s has no partitions", o->topic);
  if (o->partition != KW_PARTITION_UA && o->partition >= ti.n_partitions)
    kwcat_fatal("Topic %s (with partitions 0..%" PRId32 "): partition %" PRId32 " does not exist", o->topic,
                ti.n_partitions - 1, o->partition);
  cs->topics = calloc(1, sizeof *cs->topics);
  if (!cs->topics) kwcat_fatal("out of memory");
  cs->topics[0] = (ctopic){.name = o->topic, .leaders = ti.leaders, .n_leaders = ti.n_partitions};
  cs->n_topics = 1;
  for (int32_t id = 0; id < ti.n_partitions; id++)
    if (o->partition == KW_PARTITION_UA || id == o->partition) get_part(cs, 0, id);
  cs->stop_thres = cs->n_parts;

  /* The ends to report: asked for every partition before any is assigned, since a
   * broker answers one connection's requests in order, and a ListOffsets behind a
   * fetch that waits for data (fetch.wait.max.ms) would wait as long. */
  for (int i = 0; i < cs->n_parts && !stop_flag; i++) {
    cpart *p = &cs->parts[i];
    int64_t lo;
    err = kw_consumer_watermarks(cs->cl, o->topic, p->id, &lo, &p->hi, timeout_ms(o));
    if (err < 0) {
      p->hi = -1;
      if (o->exit_eof)
        kwcat_fatal("Failed to query watermark offsets of %s [%" PRId32 "]: %s", o->topic, p->id, kw_strerror(err));
    }
  }
  for (int i = 0; i < cs->n_parts && !stop_flag; i++) {
    cpart *p = &cs->parts[i];
    if (o->start_ts > 0) {
      err = kw_consumer_assign_at_time(cs->cl, o->topic, p->id, o->start_ts);
    } else {
      int64_t at = start_offset(o);
      if (o->start == KWCAT_START_ABS && p->hi >= 0 && at > p->hi) {
        p->start = at;
        p->eof_ready = false;
      }
      err = kw_consumer_assign(cs->cl, o->topic, p->id, at);
    }
    if (err < 0)
      kwcat_fatal("Failed to start consuming topic %s [%" PRId32 "]: %s", o->topic, p->id, kw_strerror(err));
  }
}

/* ---- -G: a member of a consumer group ---- */

static void print_rebalance(cstate *cs, int kind, const kw_topic_partition *tps, int n) {
  if (kwcat_verbosity < 1) return;
  const char *member = kw_consumer_member_id(cs->cl);
  if (cs->cooperative)
    fprintf(stderr, "%% Group %s rebalanced: incremental %s of %d partition(s) (memberid %s%s, COOPERATIVE rebalance "
            "protocol): ", cs->o->group, kind == KW_REBALANCE_ASSIGNED ? "assignment" : "revoke", n, member,
            kind == KW_REBALANCE_LOST ? ", assignment lost" : "");
  else
    fprintf(stderr, "%% Group %s rebalanced (memberid %s): %s: ", cs->o->group, member,
            kind == KW_REBALANCE_ASSIGNED ? "assigned" : "revoked");
  for (int i = 0; i < n; i++) fprintf(stderr, "%s%s [%" PRId32 "]", i > 0 ? ", " : "", tps[i].topic, tps[i].partition);
  fprintf(stderr, "\n");
}

/* Partitions come and go here. New ones start at -o when given (kcat overrides the
 * committed offsets then, at every assignment), and have their end asked. */
static void on_rebalance(void *ud, int kind, const kw_topic_partition *tps, int n) {
  cstate *cs = ud;
  const kwcat_opts *o = cs->o;
  print_rebalance(cs, kind, tps, n);
  for (int i = 0; i < n; i++) {
    int t = find_topic(cs, tps[i].topic);
    if (t < 0) continue; /* not subscribed: cannot happen */
    cpart *p = get_part(cs, t, tps[i].partition);
    if (kind == KW_REBALANCE_ASSIGNED) {
      if (!p->assigned) cs->n_assigned++;
      if (p->at_end) cs->n_at_end--;
      *p = (cpart){.topic = p->topic, .id = p->id, .leader = p->leader, .hi = -1, .start = -1, .eof_ready = true,
                   .need_hi = true, .assigned = true};
      cs->need_hi = true;
      if (!o->start_given) continue;
      if (o->start == KWCAT_START_ABS) {
        p->start = o->start_offset;
        p->eof_ready = false; /* until its end is known: the offset may be beyond it */
      }
      int err = kw_consumer_seek(cs->cl, tps[i].topic, tps[i].partition, start_offset(o));
      if (err < 0)
        kwcat_fatal("Failed to start consuming topic %s [%" PRId32 "]: %s", tps[i].topic, tps[i].partition,
                    kw_strerror(err));
    } else if (p->assigned) {
      cs->n_assigned--;
      if (p->at_end) cs->n_at_end--;
      p->assigned = p->at_end = p->need_hi = false;
    }
  }
}

/* kcat words a rebalance by its protocol: incremental when every assignor is
 * cooperative (or the broker assigns, KIP-848). */
static bool cooperative(const kw_config *conf) {
  char proto[64] = "", strategy[256] = "";
  kw_config_get(conf, "group.protocol", proto, sizeof proto);
  kw_config_get(conf, "partition.assignment.strategy", strategy, sizeof strategy);
  if (!strcmp(proto, "consumer")) return true;
  bool any = false;
  for (char *s = strtok(strategy, ", "); s; s = strtok(NULL, ", ")) {
    if (strcmp(s, "cooperative-sticky") != 0) return false;
    any = true;
  }
  return any;
}

static void start_group(cstate *cs) {
  kwcat_opts *o = cs->o;
  if (o->start_ts > 0 || o->stop_ts > 0) kwcat_fatal("-o ..@ timestamps can't be used with -G mode\n");
  if (o->n_topics == 0) kwcat_fatal("Failed to subscribe to 0 topics: Local: Invalid argument or configuration\n");
  cs->topics = calloc((size_t)o->n_topics, sizeof *cs->topics);
  if (!cs->topics) kwcat_fatal("out of memory");
  for (int i = 0; i < o->n_topics; i++) {
    if (o->topics[i][0] == '^')
      kwcat_fatal("Failed to subscribe to %d topics: %s: regex subscriptions are not supported", o->n_topics,
                  o->topics[i]);
    for (int k = 0; k < i; k++)
      if (!strcmp(o->topics[k], o->topics[i])) /* librdkafka refuses a topic named twice */
        kwcat_fatal("Failed to subscribe to %d topics: Local: Invalid argument or configuration\n", o->n_topics);
  }
  kwcat_info(1, "Waiting for group rebalance\n"); /* before a topic's error, as kcat */
  for (int i = 0; i < o->n_topics; i++) {
    /* librdkafka fails a subscription to a topic that does not exist: so does kcat. */
    kwcat_topic ti;
    int err = kwcat_topic_info(o, o->topics[i], &ti);
    if (err) kwcat_fatal("Failed to query metadata for topic %s: %s", o->topics[i], kw_strerror(err));
    if (ti.kafka_error == KW_KERR_UNKNOWN_TOPIC_OR_PARTITION) /* in kcat's words */
      kwcat_fatal("Topic %s [0] error: Subscribed topic not available: %s: Broker: Unknown topic or partition",
                  o->topics[i], o->topics[i]);
    if (ti.kafka_error) kwcat_fatal("Topic %s error: Broker: %s", o->topics[i], kwcat_kerr_text(ti.kafka_error));
    /* the leaders, for -J's "broker" */
    cs->topics[cs->n_topics++] = (ctopic){.name = o->topics[i], .leaders = ti.leaders, .n_leaders = ti.n_partitions};
  }
  cs->cooperative = cooperative(kw_client_config(cs->cl));
  kw_consumer_set_rebalance_cb(cs->cl, on_rebalance, cs);
  int err = kw_consumer_subscribe(cs->cl, (const char *const *)o->topics, o->n_topics);
  if (err < 0) kwcat_fatal("Failed to subscribe to %d topics: %s\n", o->n_topics, kw_strerror(err));
}

/* ---- the loop ---- */

static void consume_loop(cstate *cs) {
  long long since_sweep = 0;
  int64_t last_msg = mono_ms();
  while (cs->run && !stop_flag) {
    kw_message m;
    int r = kw_consumer_poll(cs->cl, &m, 0); /* what is buffered: never waits */
    if (r < 0) kwcat_fatal("Consumer error: %s", kw_strerror(r));
    if (r == 1) {
      on_message(cs, &m);
      last_msg = mono_ms();
      if (cs->run && ++since_sweep == CHECK_EVERY) {
        since_sweep = 0;
        sweep(cs, false);
      }
      continue;
    }
    sweep(cs, mono_ms() - last_msg >= IDLE_POLL_MS);
    if (cs->run) wait_client(cs->cl);
  }
}

int kwcat_consume(kwcat_opts *o) {
  cstate cs = {.o = o, .run = true};
  kwcat_fmt_init(&cs.fmt, o);

  char dbg[256] = "";
  kw_config_get(o->conf, "debug", dbg, sizeof dbg);
  if (kwcat_verbosity == 0 && !*dbg) kw_config_set_log_cb(o->conf, drop_log, NULL);
  if (o->mode == 'G' && o->start_given && o->start == KWCAT_START_STORED) o->start_given = false; /* the default */
  char errstr[512];
  cs.cl = kw_consumer_new(o->conf, errstr, sizeof errstr);
  if (!cs.cl) kwcat_fatal("Failed to create consumer: %s", errstr);
  kw_client_set_error_cb(cs.cl, on_error, &cs);
  catch_signals();
  if (o->mode == 'G') start_group(&cs);
  else start_simple(&cs);

  if (!o->unbuffered) setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  consume_loop(&cs);
  if (fflush(stdout) != 0) kwcat_fatal("Write error: %s", strerror(errno));
  char stats[1024];
  kw_client_stats_json(cs.cl, stats, sizeof stats);
  kwcat_info(2, "stats: %s\n", stats);
  kw_client_destroy(cs.cl); /* -G: commits what was printed, then leaves the group */
  if (cs.side) kw_client_destroy(cs.side);
  kwcat_info(2, "%lld messages consumed\n", cs.rx);
  kwcat_fmt_free(&cs.fmt);
  for (int t = 0; t < cs.n_topics; t++) {
    free(cs.topics[t].index);
    free(cs.topics[t].leaders);
  }
  free(cs.topics);
  free(cs.parts);
  return 0;
}
