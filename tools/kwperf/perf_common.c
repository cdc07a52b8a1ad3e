/* kwperf's shared measurement code (see perf_common.h). */
#define _POSIX_C_SOURCE 200809L /* before any header: clock_gettime */
#include "perf_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void perf_usage_exit(const char *prog, const char *commands, int code) {
  fprintf(code ? stderr : stdout,
          "Usage: %s produce -b BROKERS -t TOPIC [options]\n"
          "       %s consume -b BROKERS -t TOPIC [-n COUNT] [--idle MS]%s [-X KEY=VALUE ...]\n"
          "         assigns every partition of TOPIC from the beginning (no group) and consumes\n"
          "         COUNT messages (default: all up to the end at start), reading every value\n"
          "         byte; isolation.level=read_uncommitted unless -X sets it; msgs/s and MB/s\n"
          "         from client start and from the first message, client CPU, CPU per message\n"
          "%s%s"
          "       %s rebalance -b BROKERS -t TOPIC [--strategy S] [--protocol P] [--settle MS] [--slice MS]\n"
          "                 [--loop turns|fds] [--timeout MS] [--group G] [--trace] [-X KEY=VALUE ...]\n"
          "         a 3-member group in one process, members polled in turn: members 1 and 2\n"
          "         subscribe and settle; member 3 subscribes (join: until every member owns\n"
          "         n/3 partitions, each partition once), then closes (leave: until members 1\n"
          "         and 2 own n/2 each); times from the rebalance callbacks\n"
          "Options:\n"
          "  -n COUNT         messages to measure (default 1000000; 20000 with --latency)\n"
          "  -s SIZE          value bytes per message (default 100), no key\n"
          "  --acks A         all|-1|1|0 (default all; all = idempotent, as kwire's default)\n"
          "  --linger MS      linger.ms (default 5)\n"
          "  --codec C        none|gzip|snappy|lz4|zstd (default none)\n"
          "  --latency        one message at a time: produce, wait for its delivery report,\n"
          "                   repeat; prints produce->report p50/p99/p99.9\n"
          "  --floor          with --latency: before each message, one raw Produce round trip\n"
          "                   (kwperf rtt); prints its percentiles next to the client's\n"
          "  --warmup N       messages produced and flushed before measuring (default 1000)\n"
          "  --idle MS        consume: stop after MS without a message (default 10000)\n"
          "  --strategy S     rebalance: partition.assignment.strategy (default range)\n"
          "  --protocol P     rebalance: group.protocol, classic or consumer (KIP-848; default classic)\n"
          "  --settle MS      rebalance: wait after the group is stable before each step (default 2000)\n"
          "  --slice MS       rebalance: poll timeout per member and turn (default 2)\n"
          "  --loop L         rebalance: turns (default: each member's consumer poll in turn, --slice\n"
          "                   each) or fds (kwperf only: one poll() over every member's sockets,\n"
          "                   kw_client_fds/kw_client_step, as an application's event loop would)\n"
          "  --timeout MS     rebalance: a phase not done by then has failed (default 60000)\n"
          "  --group G        rebalance: group.id (default: a fresh one)\n"
          "  --trace          rebalance: every rebalance callback to stderr\n"
          "  -X KEY=VALUE     any client property (applied after the ones above)\n"
          "Prints msgs/s, MB/s (10^6 bytes of values), client CPU (user+sys of this process\n"
          "during the measured phase), peak RSS, and ends with one JSON line.\n",
          prog, prog, strstr(prog, "rdkafka") ? " [--api batch|poll]" : "",
          strstr(prog, "rdkafka")
              ? "         --api batch (default): rd_kafka_consume_start_queue + rd_kafka_consume_batch_queue;\n"
                "         --api poll: group.id set, rd_kafka_assign + rd_kafka_consumer_poll (no join)\n"
              : "",
          strstr(commands, "rtt") ? "       kwperf rtt -b BROKERS -t TOPIC [-n 20000] [-s 100] [--acks all]\n"
                                    "         the latency floor: one pre-encoded Produce v3 request to partition 0,\n"
                                    "         blocking write/read, no client library (topic must exist)\n"
                                  : "",
          prog);
  exit(code);
}

static long perf_num(const char *prog, const char *opt, const char *s, long lo, long hi) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) {
    fprintf(stderr, "%s: %s wants an integer between %ld and %ld, not '%s'\n", prog, opt, lo, hi, s);
    exit(2);
  }
  return v;
}

void perf_parse(perf_opts *o, int argc, char **argv, const char *prog, const char *commands) {
  memset(o, 0, sizeof *o);
  o->count = -1;
  o->size = 100;
  o->acks = "all";
  o->linger_ms = 5;
  o->codec = "none";
  o->warmup = 1000;
  o->idle_ms = 10000;
  o->strategy = "range";
  o->protocol = "classic";
  o->slice_ms = 2;
  o->loop = "turns";
  o->settle_ms = 2000;
  o->phase_timeout_ms = 60000;
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
    perf_usage_exit(prog, commands, argc < 2);
  size_t cl = strlen(argv[1]);
  const char *hit = strstr(commands, argv[1]);
  if (!cl || !hit || (hit != commands && hit[-1] != ' ') || (hit[cl] && hit[cl] != ' ')) {
    fprintf(stderr, "%s: unknown command '%s' (commands: %s)\n", prog, argv[1], commands);
    exit(2);
  }
  o->command = argv[1];
  if (strcmp(o->command, "rtt") == 0) o->latency = true;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--latency") == 0) {
      o->latency = true;
      continue;
    }
    if (strcmp(a, "--floor") == 0) {
      o->floor = true;
      continue;
    }
    if (strcmp(a, "--trace") == 0) {
      o->trace = true;
      continue;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) perf_usage_exit(prog, commands, 0);
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: %s wants a value\n", prog, a);
      exit(2);
    }
    const char *v = argv[++i];
    if (strcmp(a, "-b") == 0) o->brokers = v;
    else if (strcmp(a, "-t") == 0) o->topic = v;
    else if (strcmp(a, "-n") == 0) o->count = perf_num(prog, a, v, 1, 1000000000L);
    else if (strcmp(a, "-s") == 0) o->size = (int)perf_num(prog, a, v, 0, 10000000L);
    else if (strcmp(a, "--acks") == 0) o->acks = v;
    else if (strcmp(a, "--linger") == 0) o->linger_ms = (int)perf_num(prog, a, v, 0, 900000L);
    else if (strcmp(a, "--codec") == 0) o->codec = v;
    else if (strcmp(a, "--warmup") == 0) o->warmup = perf_num(prog, a, v, 0, 1000000000L);
    else if (strcmp(a, "--idle") == 0) o->idle_ms = (int)perf_num(prog, a, v, 1, 3600000L);
    else if (strcmp(a, "--api") == 0) o->api = v;
    else if (strcmp(a, "--strategy") == 0) o->strategy = v;
    else if (strcmp(a, "--protocol") == 0) o->protocol = v;
    else if (strcmp(a, "--group") == 0) o->group = v;
    else if (strcmp(a, "--loop") == 0) o->loop = v;
    else if (strcmp(a, "--slice") == 0) o->slice_ms = (int)perf_num(prog, a, v, 0, 1000L);
    else if (strcmp(a, "--settle") == 0) o->settle_ms = (int)perf_num(prog, a, v, 0, 600000L);
    else if (strcmp(a, "--timeout") == 0) o->phase_timeout_ms = (int)perf_num(prog, a, v, 1000, 3600000L);
    else if (strcmp(a, "-X") == 0) {
      const char *eq = strchr(v, '=');
      if (!eq || eq == v || o->n_props == PERF_MAX_PROPS) {
        fprintf(stderr, "%s: -X wants KEY=VALUE (at most %d)\n", prog, PERF_MAX_PROPS);
        exit(2);
      }
      size_t kl = (size_t)(eq - v);
      char *k = malloc(kl + 1);
      if (!k) exit(1);
      memcpy(k, v, kl);
      k[kl] = 0;
      o->props[o->n_props][0] = k;
      o->props[o->n_props++][1] = eq + 1;
    } else {
      fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
      perf_usage_exit(prog, commands, 2);
    }
  }
  if (!o->brokers || !o->topic) {
    fprintf(stderr, "%s: -b BROKERS and -t TOPIC are required\n", prog);
    exit(2);
  }
  if (strcmp(o->acks, "all") && strcmp(o->acks, "-1") && strcmp(o->acks, "0") && strcmp(o->acks, "1")) {
    fprintf(stderr, "%s: --acks wants all, -1, 0 or 1\n", prog);
    exit(2);
  }
  bool consume = strcmp(o->command, "consume") == 0;
  if (o->api && !consume) {
    fprintf(stderr, "%s: --api goes with consume\n", prog);
    exit(2);
  }
  if (strcmp(o->loop, "turns") && strcmp(o->loop, "fds")) {
    fprintf(stderr, "%s: --loop wants turns or fds\n", prog);
    exit(2);
  }
  if (strcmp(o->protocol, "classic") && strcmp(o->protocol, "consumer")) {
    fprintf(stderr, "%s: --protocol wants classic or consumer\n", prog);
    exit(2);
  }
  if (o->count < 0 && !consume) o->count = o->latency ? 20000 : 1000000;
  if (o->floor && !o->latency) {
    fprintf(stderr, "%s: --floor goes with --latency\n", prog);
    exit(2);
  }
}

bool perf_acks_all(const perf_opts *o) { return strcmp(o->acks, "all") == 0 || strcmp(o->acks, "-1") == 0; }

/* Word-like text: lz4 and snappy find some repetition (as in JSON events), but no
 * two messages are equal. */
static uint8_t *perf_pool;
static size_t perf_pool_len;
#define PERF_POOL_SPAN (1u << 20)

const void *perf_payload(const perf_opts *o, long i) {
  if (!perf_pool) {
    static const char *words[] = {"order", "created", "customer", "id", "amount", "currency", "EUR", "item",
                                  "sku", "quantity", "price", "status", "pending", "shipped", "2026", "the",
                                  "of", "and", "event", "type", "time", "stamp", "region", "warehouse"};
    perf_pool_len = PERF_POOL_SPAN + (size_t)o->size + 1;
    perf_pool = malloc(perf_pool_len);
    if (!perf_pool) exit(1);
    uint32_t x = 2463534242u;
    size_t at = 0;
    while (at < perf_pool_len) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      const char *w = words[x % (sizeof words / sizeof *words)];
      for (; *w && at < perf_pool_len; w++) perf_pool[at++] = (uint8_t)*w;
      if (at < perf_pool_len) perf_pool[at++] = (x >> 8) % 5 ? ' ' : (uint8_t)('0' + (x >> 12) % 10);
    }
  }
  if (i < 0) i = -i;
  return perf_pool + ((size_t)i * 7919u) % PERF_POOL_SPAN;
}

int64_t perf_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void perf_floor_step(kwperf_floor *f, perf_run *r) {
  double c0 = perf_thread_cpu_s(); /* the floor runs on the calling thread */
  if (kwperf_floor_once(f, &r->floor_ns[r->n_floor]) == 0) r->n_floor++;
  r->floor_cpu_s += perf_thread_cpu_s() - c0;
}

double perf_thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void perf_usage_now(perf_usage *u) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru); /* every thread of the process: fair to librdkafka's */
  u->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  u->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  u->maxrss_kb = ru.ru_maxrss;
}

void perf_run_init(perf_run *r, const perf_opts *o) {
  memset(r, 0, sizeof *r);
  r->expected = o->count;
  if (o->latency) {
    r->lat_ns = malloc(sizeof *r->lat_ns * (size_t)o->count);
    r->sent_ns = malloc(sizeof *r->sent_ns * (size_t)o->count);
    if (!r->lat_ns || !r->sent_ns) exit(1);
    for (long i = 0; i < o->count; i++) r->lat_ns[i] = -1;
    if (o->floor && !(r->floor_ns = malloc(sizeof *r->floor_ns * (size_t)o->count))) exit(1);
  }
}

void perf_delivered(perf_run *r, long i, const char *err) {
  if (i < 0) {
    if (err && !r->warmup_failed++) snprintf(r->first_error, sizeof r->first_error, "%s", err);
    return;
  }
  if (err) {
    if (!r->failed++) snprintf(r->first_error, sizeof r->first_error, "%s", err);
  } else {
    r->delivered++;
  }
  /* The clock only where it is needed: every report in latency mode, else the last one
   * (a clock read per report would be the harness's cost, not the client's). */
  if (r->lat_ns || r->delivered + r->failed == r->expected) r->t_last_ns = perf_now_ns();
  if (r->lat_ns && !err) r->lat_ns[i] = r->t_last_ns - r->sent_ns[i];
}

static int perf_cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double perf_pct_us(const int64_t *v, long n, double p) {
  if (n <= 0) return 0;
  long k = (long)(p * (double)n + 0.999999) - 1;
  if (k < 0) k = 0;
  if (k >= n) k = n - 1;
  return (double)v[k] / 1000.0;
}

void perf_report(const perf_opts *o, perf_run *r, const char *client, const char *version, const char *conf) {
  bool idem = perf_acks_all(o) && strcmp(o->command, "rtt") != 0;
  if (r->t_last_ns < r->t_first_ns) r->t_last_ns = perf_now_ns(); /* not everything was reported */
  double wall = (double)(r->t_last_ns - r->t_first_ns) / 1e9;
  if (wall <= 0) wall = 1e-9;
  double cpu_user = r->after.user_s - r->before.user_s, cpu_sys = r->after.sys_s - r->before.sys_s;
  double cpu = cpu_user + cpu_sys - r->floor_cpu_s;
  long n = r->delivered + r->failed;
  double msgs_s = (double)r->delivered / wall;
  double mb_s = (double)r->delivered * o->size / wall / 1e6;
  double us_per_msg = n ? cpu * 1e6 / (double)n : 0;
  printf("%s %s: %s, %ld x %d B, acks=%s linger.ms=%d codec=%s%s\n", client, version,
         o->latency ? "latency (one at a time)" : "throughput", o->count, o->size, o->acks, o->linger_ms, o->codec,
         idem ? " idempotent" : "");
  printf("  settings read back: %s\n", conf);
  printf("  delivered %ld, failed %ld%s%s\n", r->delivered, r->failed, r->failed ? ", first error: " : "",
         r->failed ? r->first_error : "");
  printf("  wall %.3f s (first produce to last delivery report): %.0f msgs/s, %.2f MB/s\n", wall, msgs_s, mb_s);
  printf("  client CPU %.3f s (user %.3f + sys %.3f", cpu, cpu_user, cpu_sys);
  if (r->floor_ns) printf(" - %.3f of the floor's round trips", r->floor_cpu_s);
  printf(") = %.3f us/msg, %.0f%% of one core; peak RSS %.1f MB\n", us_per_msg, 100 * cpu / wall,
         (double)r->after.maxrss_kb / 1024);
  double p50 = 0, p99 = 0, p999 = 0, pmax = 0, mean = 0;
  long nl = 0;
  if (r->lat_ns) {
    for (long i = 0; i < o->count; i++)
      if (r->lat_ns[i] >= 0) r->lat_ns[nl++] = r->lat_ns[i];
    qsort(r->lat_ns, (size_t)nl, sizeof *r->lat_ns, perf_cmp_i64);
    for (long i = 0; i < nl; i++) mean += (double)r->lat_ns[i] / 1000.0;
    if (nl) mean /= (double)nl;
    p50 = perf_pct_us(r->lat_ns, nl, 0.50);
    p99 = perf_pct_us(r->lat_ns, nl, 0.99);
    p999 = perf_pct_us(r->lat_ns, nl, 0.999);
    pmax = nl ? (double)r->lat_ns[nl - 1] / 1000.0 : 0;
    printf("  produce->delivery report over %ld messages: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us, "
           "mean %.1f us\n",
           nl, p50, p99, p999, pmax, mean);
  }
  double f50 = 0, f99 = 0;
  if (r->floor_ns) {
    qsort(r->floor_ns, (size_t)r->n_floor, sizeof *r->floor_ns, perf_cmp_i64);
    f50 = perf_pct_us(r->floor_ns, r->n_floor, 0.50);
    f99 = perf_pct_us(r->floor_ns, r->n_floor, 0.99);
    printf("  floor, a raw Produce round trip before each message (%ld): p50 %.1f us, p99 %.1f us; the client adds "
           "%.1f us at p50\n",
           r->n_floor, f50, f99, p50 - f50);
  }
  printf("{\"client\":\"%s\",\"version\":\"%s\",\"mode\":\"%s\",\"msgs\":%ld,\"size\":%d,\"acks\":\"%s\","
         "\"linger_ms\":%d,\"codec\":\"%s\",\"idempotent\":%s,\"delivered\":%ld,\"failed\":%ld,\"wall_s\":%.4f,"
         "\"msgs_per_s\":%.0f,\"mb_per_s\":%.3f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_s\":%.3f,"
         "\"cpu_us_per_msg\":%.4f,\"peak_rss_kb\":%ld",
         client, version, o->latency ? "latency" : "throughput", o->count, o->size, o->acks, o->linger_ms, o->codec,
         idem ? "true" : "false", r->delivered, r->failed, wall, msgs_s, mb_s, cpu_user, cpu_sys, cpu,
         us_per_msg, r->after.maxrss_kb);
  if (r->lat_ns)
    printf(",\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,\"lat_mean_us\":%.1f", p50,
           p99, p999, pmax, mean);
  if (r->floor_ns)
    printf(",\"floor_p50_us\":%.1f,\"floor_p99_us\":%.1f,\"floor_cpu_s\":%.3f", f50, f99, r->floor_cpu_s);
  printf("}\n");
  fflush(stdout);
}

/* ---- consume ---- */

void perf_consume_init(perf_consume *c, long expected, int n_parts) {
  memset(c, 0, sizeof *c);
  c->expected = expected;
  c->n_parts = n_parts;
  c->next_offset = calloc((size_t)(n_parts > 0 ? n_parts : 1), sizeof *c->next_offset);
  if (!c->next_offset) exit(1);
}

void perf_consume_start(perf_consume *c) {
  perf_usage_now(&c->start);
  c->t_start_ns = perf_now_ns();
}

void perf_consume_error(perf_consume *c, int32_t partition, int64_t offset, const char *what) {
  if (!c->errors++)
    snprintf(c->first_error, sizeof c->first_error, "partition %d offset %lld: %s", (int)partition,
             (long long)offset, what);
}

void perf_consume_report(const perf_opts *o, perf_consume *c, const char *client, const char *version,
                         const char *api, const char *conf) {
  if (c->msgs < c->expected || c->msgs == 0) { /* stopped early (idle): measure up to now */
    c->t_last_ns = perf_now_ns();
    perf_usage_now(&c->end);
  }
  if (c->msgs == 0) {
    c->t_first_ns = c->t_last_ns;
    c->first = c->end;
  }
  double wall = (double)(c->t_last_ns - c->t_start_ns) / 1e9;
  double wall_first = (double)(c->t_last_ns - c->t_first_ns) / 1e9;
  double to_first = (double)(c->t_first_ns - c->t_start_ns) / 1e9;
  if (wall <= 0) wall = 1e-9;
  if (wall_first <= 0) wall_first = 1e-9;
  double n = (double)c->msgs;
  double user = c->end.user_s - c->start.user_s, sys = c->end.sys_s - c->start.sys_s, cpu = user + sys;
  double cpu_first = c->end.user_s + c->end.sys_s - c->first.user_s - c->first.sys_s;
  double msgs_s = n / wall, mb_s = (double)c->bytes / wall / 1e6;
  /* From the first message: n - 1 intervals between the first and the last. */
  double msgs_s_first = n > 1 ? (n - 1) / wall_first : 0, mb_s_first = n > 1 ? (double)c->bytes / wall_first / 1e6 : 0;
  double us_per_msg = n > 0 ? cpu * 1e6 / n : 0;
  double per_core = cpu > 0 ? n / cpu : 0;
  double us_per_msg_first = n > 1 ? cpu_first * 1e6 / (n - 1) : 0;
  printf("%s %s: consume (%s), %d partitions from the beginning, %ld messages wanted\n", client, version, api,
         c->n_parts, c->expected);
  printf("  settings read back: %s\n", conf);
  printf("  consumed %ld (%.1f B average value), error events %ld%s%s, offsets out of order %ld, checksum %016llx\n",
         c->msgs, n > 0 ? (double)c->bytes / n : 0.0, c->errors, c->errors ? ", first: " : "",
         c->errors ? c->first_error : "", c->order_errors, (unsigned long long)c->checksum);
  printf("  from client start: %.3f s, %.0f msgs/s, %.2f MB/s (first message after %.3f s)\n", wall, msgs_s, mb_s,
         to_first);
  printf("  from first message: %.3f s, %.0f msgs/s, %.2f MB/s\n", wall_first, msgs_s_first, mb_s_first);
  printf("  client CPU %.3f s (user %.3f + sys %.3f) = %.3f us/msg, %.2f M msgs per CPU-second, %.0f%% of one "
         "core; from first message %.3f us/msg; peak RSS %.1f MB\n",
         cpu, user, sys, us_per_msg, per_core / 1e6, 100 * cpu / wall, us_per_msg_first,
         (double)c->end.maxrss_kb / 1024);
  printf("{\"client\":\"%s\",\"version\":\"%s\",\"mode\":\"consume\",\"api\":\"%s\",\"partitions\":%d,"
         "\"msgs\":%ld,\"consumed\":%ld,\"errors\":%ld,\"order_errors\":%ld,\"bytes\":%llu,\"checksum\":\"%016llx\","
         "\"first_msg_s\":%.4f,\"wall_s\":%.4f,\"msgs_per_s\":%.0f,\"mb_per_s\":%.3f,"
         "\"wall_first_s\":%.4f,\"msgs_per_s_first\":%.0f,\"mb_per_s_first\":%.3f,"
         "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"cpu_s\":%.3f,\"cpu_us_per_msg\":%.4f,\"msgs_per_cpu_s\":%.0f,"
         "\"cpu_first_s\":%.3f,\"cpu_us_per_msg_first\":%.4f,\"peak_rss_kb\":%ld,\"conf\":\"%s\"}\n",
         client, version, api, c->n_parts, c->expected, c->msgs, c->errors, c->order_errors,
         (unsigned long long)c->bytes, (unsigned long long)c->checksum, to_first, wall, msgs_s, mb_s, wall_first,
         msgs_s_first, mb_s_first, user, sys, cpu, us_per_msg, per_core, cpu_first, us_per_msg_first,
         c->end.maxrss_kb, conf);
  (void)o;
  fflush(stdout);
}
/* ---- rebalance ---- */

struct perf_rb {
  int n_parts;
  const perf_opts *o;
  int8_t owner[PERF_RB_MAX_PARTS];            /* member owning the partition, -1: nobody */
  uint8_t n_owners[PERF_RB_MAX_PARTS];        /* owners at once (more than 1: an overlap) */
  bool owns[PERF_RB_MEMBERS][PERF_RB_MAX_PARTS];
  int n_owned[PERF_RB_MEMBERS];
  int n_unowned;
  /* the current phase, from phase_start */
  int64_t phase_start, last_change;
  double unowned_part_ns;                      /* partitions without owner x time */
  int max_unowned;
  long callbacks, lost, overlaps, bad;         /* bad: assigned twice, or revoked without owning */
  int64_t first_assign[PERF_RB_MEMBERS];       /* first partitions a member got in this phase */
  long total_callbacks;
};

static void perf_rb_integrate(perf_rb *rb, int64_t now) {
  if (rb->phase_start) rb->unowned_part_ns += (double)rb->n_unowned * (double)(now - rb->last_change);
  rb->last_change = now;
}

void perf_rb_event(perf_rb *rb, int member, int kind, const int32_t *parts, int n) {
  int64_t now = perf_now_ns();
  if (n <= 0) return; /* nothing changes hands (kwire does not report empty ones either) */
  perf_rb_integrate(rb, now);
  rb->callbacks++;
  rb->total_callbacks++;
  if (kind == PERF_RB_LOST) rb->lost++;
  for (int i = 0; i < n; i++) {
    int32_t p = parts[i];
    if (p < 0 || p >= rb->n_parts) {
      rb->bad++;
      continue;
    }
    if (kind == PERF_RB_ASSIGNED) {
      if (rb->owns[member][p]) {
        rb->bad++;
        continue;
      }
      rb->owns[member][p] = true;
      rb->n_owned[member]++;
      if (rb->n_owners[p]++ == 0) rb->n_unowned--;
      else rb->overlaps++;
      rb->owner[p] = (int8_t)member;
    } else {
      if (!rb->owns[member][p]) {
        rb->bad++;
        continue;
      }
      rb->owns[member][p] = false;
      rb->n_owned[member]--;
      if (--rb->n_owners[p] == 0) {
        rb->n_unowned++;
        rb->owner[p] = -1;
      }
    }
  }
  if (rb->n_unowned > rb->max_unowned) rb->max_unowned = rb->n_unowned;
  if (kind == PERF_RB_ASSIGNED && rb->n_owned[member] > 0 && !rb->first_assign[member]) rb->first_assign[member] = now;
  if (rb->o->trace) {
    fprintf(stderr, "  +%7.1f ms  member %d %s", rb->phase_start ? (double)(now - rb->phase_start) / 1e6 : 0.0,
            member + 1, kind == PERF_RB_ASSIGNED ? "assigned" : kind == PERF_RB_REVOKED ? "revoked " : "lost    ");
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", (int)parts[i]);
    fprintf(stderr, "  -> owns %d/%d/%d, unowned %d\n", rb->n_owned[0], rb->n_owned[1], rb->n_owned[2], rb->n_unowned);
  }
}

static void perf_rb_phase(perf_rb *rb) {
  int64_t now = perf_now_ns();
  rb->phase_start = rb->last_change = now;
  rb->unowned_part_ns = 0;
  rb->max_unowned = rb->n_unowned;
  rb->callbacks = rb->lost = rb->overlaps = rb->bad = 0;
  for (int i = 0; i < PERF_RB_MEMBERS; i++) rb->first_assign[i] = 0;
}

/* The members in `active` own n/k or n/k+1 partitions each (k = how many), the others
 * none, and every partition has exactly one owner. */
static bool perf_rb_balanced(const perf_rb *rb, const bool *active) {
  int k = 0;
  for (int i = 0; i < PERF_RB_MEMBERS; i++) k += active[i];
  if (!k || rb->n_unowned) return false;
  for (int p = 0; p < rb->n_parts; p++)
    if (rb->n_owners[p] != 1) return false;
  int lo = rb->n_parts / k, hi = lo + (rb->n_parts % k != 0);
  for (int i = 0; i < PERF_RB_MEMBERS; i++)
    if (active[i] ? rb->n_owned[i] < lo || rb->n_owned[i] > hi : rb->n_owned[i] != 0) return false;
  return true;
}

/* Polls the open members in turn until `active` is balanced (stop_when_balanced) or for
 * `ms` (watching: any callback meanwhile is counted by the caller). Returns the time at
 * which the group was balanced, 0 on timeout, -1 on a fatal poll error. */
static int64_t perf_rb_drive(perf_rb *rb, const perf_rb_ops *ops, void **m, const bool *open, const bool *active,
                             bool stop_when_balanced, int ms) {
  int64_t end = perf_now_ns() + (int64_t)ms * 1000000;
  bool fds = strcmp(rb->o->loop, "fds") == 0;
  for (;;) {
    if (fds) {
      int e = ops->poll_all(m, open, PERF_RB_MEMBERS, 10);
      if (e < 0) {
        fprintf(stderr, "rebalance: poll failed (%d)\n", e);
        return -1;
      }
      if (stop_when_balanced && perf_rb_balanced(rb, active)) return perf_now_ns();
    }
    for (int i = 0; !fds && i < PERF_RB_MEMBERS; i++) {
      if (!open[i]) continue;
      int e = ops->poll(m[i], rb->o->slice_ms);
      if (e < 0) {
        fprintf(stderr, "rebalance: member %d: poll failed (%d)\n", i + 1, e);
        return -1;
      }
      /* The clock right after the callback's poll: a balanced group is seen at once. */
      if (stop_when_balanced && perf_rb_balanced(rb, active)) return perf_now_ns();
    }
    if (perf_now_ns() >= end) return stop_when_balanced ? 0 : perf_now_ns();
  }
}

static void perf_rb_state(const perf_rb *rb, char *out, size_t size) {
  snprintf(out, size, "members own %d/%d/%d, %d partitions unowned", rb->n_owned[0], rb->n_owned[1], rb->n_owned[2],
           rb->n_unowned);
}

/* What one rebalance run measured: each phase's time, callbacks and unowned partitions
 * (-1 until the phase ran), and the checks summed over all phases. */
typedef struct perf_rb_result {
  const char *failed;
  char state[128]; /* the members' assignments when a phase failed */
  double setup_ms, join_ms, join_first_ms, join_unowned, close_ms, leave_ms, leave_unowned;
  long setup_late, join_cb, join_late, leave_cb, leave_late;
  int join_max_unowned, leave_max_unowned;
  long lost, overlaps, bad;
} perf_rb_result;

/* The human-readable report and the JSON line bench/run-rebalance-bench.sh collects. */
static void perf_rb_print(const perf_opts *o, const perf_rb_result *res, bool ok, int n_parts, const char *client,
                          const char *version, const char *conf, const char *group) {
  printf("%s %s: rebalance of a %d-member group, %d partitions, group.protocol=%s%s%s\n", client, version,
         PERF_RB_MEMBERS, n_parts, o->protocol, strcmp(o->protocol, "classic") ? "" : " strategy=",
         strcmp(o->protocol, "classic") ? "" : o->strategy);
  printf("  settings read back: %s\n", conf);
  if (strcmp(o->loop, "fds") == 0)
    printf("  members served from one poll() over their sockets; member 3 subscribes and closes %d ms after the "
           "group is stable\n",
           o->settle_ms);
  else
    printf("  members polled in turn, %d ms each; member 3 subscribes and closes %d ms after the group is stable\n",
           o->slice_ms, o->settle_ms);
  if (res->failed) printf("  FAILED: %s (%s)\n", res->failed, res->state);
  printf("  setup (members 1 and 2 subscribe until %d partitions each): %.0f ms\n", n_parts / 2, res->setup_ms);
  printf("  join  (member 3 subscribes until %d each): %.0f ms; member 3's first partitions after %.0f ms; "
         "%ld callbacks; unowned: at most %d partitions, %.2f partition-seconds\n",
         n_parts / 3, res->join_ms, res->join_first_ms, res->join_cb, res->join_max_unowned, res->join_unowned);
  printf("  leave (member 3 closes until %d each): %.0f ms (close itself %.0f ms); %ld callbacks; unowned: at most %d "
         "partitions, %.2f partition-seconds\n",
         n_parts / 2, res->leave_ms, res->close_ms, res->leave_cb, res->leave_max_unowned, res->leave_unowned);
  printf("  checks: overlaps %ld, inconsistent callbacks %ld, lost %ld, callbacks after a stable group %ld/%ld/%ld "
         "-> %s\n",
         res->overlaps, res->bad, res->lost, res->setup_late, res->join_late, res->leave_late, ok ? "ok" : "NOT OK");
  printf("{\"client\":\"%s\",\"version\":\"%s\",\"mode\":\"rebalance\",\"protocol\":\"%s\",\"strategy\":\"%s\","
         "\"members\":%d,\"partitions\":%d,\"loop\":\"%s\",\"slice_ms\":%d,\"settle_ms\":%d,\"ok\":%s,\"failed\":\"%s\","
         "\"setup_ms\":%.1f,\"join_ms\":%.1f,\"join_first_ms\":%.1f,\"join_callbacks\":%ld,\"join_max_unowned\":%d,"
         "\"join_unowned_part_s\":%.3f,\"close_ms\":%.1f,\"leave_ms\":%.1f,\"leave_callbacks\":%ld,"
         "\"leave_max_unowned\":%d,\"leave_unowned_part_s\":%.3f,\"overlaps\":%ld,\"bad_callbacks\":%ld,\"lost\":%ld,"
         "\"late_callbacks\":[%ld,%ld,%ld],\"group\":\"%s\",\"conf\":\"%s\"}\n",
         client, version, o->protocol, strcmp(o->protocol, "classic") ? "server" : o->strategy, PERF_RB_MEMBERS,
         n_parts, o->loop, o->slice_ms, o->settle_ms, ok ? "true" : "false", res->failed ? res->failed : "",
         res->setup_ms, res->join_ms, res->join_first_ms, res->join_cb, res->join_max_unowned, res->join_unowned,
         res->close_ms, res->leave_ms, res->leave_cb, res->leave_max_unowned, res->leave_unowned, res->overlaps,
         res->bad, res->lost, res->setup_late, res->join_late, res->leave_late, group, conf);
}

int perf_rebalance_run(const perf_opts *o, const perf_rb_ops *ops, int n_parts, const char *client,
                       const char *version, const char *conf) {
  if (n_parts <= 0 || n_parts > PERF_RB_MAX_PARTS) {
    fprintf(stderr, "rebalance: %d partitions (1..%d)\n", n_parts, PERF_RB_MAX_PARTS);
    return 2;
  }
  if (strcmp(o->loop, "fds") == 0 && !ops->poll_all) {
    fprintf(stderr, "rebalance: --loop fds is kwperf's (%s is polled in turn)\n", client);
    return 2;
  }
  perf_rb *rb = calloc(1, sizeof *rb);
  if (!rb) return 1;
  rb->n_parts = n_parts;
  rb->o = o;
  rb->n_unowned = n_parts;
  for (int p = 0; p < n_parts; p++) rb->owner[p] = -1;
  char group[128];
  if (o->group) snprintf(group, sizeof group, "%s", o->group);
  else snprintf(group, sizeof group, "kwperf-rb-%s-%s-%ld-%lld", client, o->protocol, (long)getpid(),
                (long long)(perf_now_ns() / 1000000));
  void *m[PERF_RB_MEMBERS];
  bool open[PERF_RB_MEMBERS] = {true, true, true}, two[PERF_RB_MEMBERS] = {true, true, false},
       three[PERF_RB_MEMBERS] = {true, true, true};
  for (int i = 0; i < PERF_RB_MEMBERS; i++) m[i] = ops->create(o, group, i, rb);

  perf_rb_result res = {.setup_ms = -1, .join_ms = -1, .join_first_ms = -1, .join_unowned = -1, .close_ms = -1,
                        .leave_ms = -1, .leave_unowned = -1, .setup_late = -1, .join_cb = -1, .join_late = -1,
                        .leave_cb = -1, .leave_late = -1, .join_max_unowned = -1, .leave_max_unowned = -1};
  int64_t t, t_end;

  /* Setup: members 1 and 2 (member 3 exists, is polled, but has not subscribed). */
  if (o->trace) fprintf(stderr, "rebalance: setup, members 1 and 2 subscribe to %s (group %s)\n", o->topic, group);
  perf_rb_phase(rb);
  t = perf_now_ns();
  if (ops->subscribe(m[0]) || ops->subscribe(m[1])) res.failed = "subscribe";
  t_end = res.failed ? -1 : perf_rb_drive(rb, ops, m, open, two, true, o->phase_timeout_ms);
  res.lost += rb->lost, res.overlaps += rb->overlaps, res.bad += rb->bad;
  if (!res.failed && t_end <= 0)
    res.failed = t_end < 0 ? "setup: poll error" : "setup: members 1 and 2 did not converge";
  if (!res.failed) {
    res.setup_ms = (double)(t_end - t) / 1e6;
    perf_rb_phase(rb);
    perf_rb_drive(rb, ops, m, open, two, false, o->settle_ms);
    res.setup_late = rb->callbacks;
    res.lost += rb->lost, res.overlaps += rb->overlaps, res.bad += rb->bad;
  }

  /* Join: member 3 subscribes at t0. */
  if (!res.failed) {
    if (o->trace) fprintf(stderr, "rebalance: join, member 3 subscribes\n");
    perf_rb_phase(rb);
    t = rb->phase_start;
    if (ops->subscribe(m[2])) res.failed = "subscribe";
    t_end = res.failed ? -1 : perf_rb_drive(rb, ops, m, open, three, true, o->phase_timeout_ms);
    perf_rb_integrate(rb, t_end > 0 ? t_end : perf_now_ns());
    res.lost += rb->lost, res.overlaps += rb->overlaps, res.bad += rb->bad;
    res.join_cb = rb->callbacks;
    res.join_unowned = rb->unowned_part_ns / 1e9;
    res.join_max_unowned = rb->max_unowned;
    if (rb->first_assign[2]) res.join_first_ms = (double)(rb->first_assign[2] - t) / 1e6;
    if (!res.failed && t_end <= 0)
      res.failed = t_end < 0 ? "join: poll error" : "join: the 3 members did not converge";
    if (!res.failed) {
      res.join_ms = (double)(t_end - t) / 1e6;
      perf_rb_phase(rb);
      perf_rb_drive(rb, ops, m, open, three, false, o->settle_ms);
      res.join_late = rb->callbacks;
      res.lost += rb->lost, res.overlaps += rb->overlaps, res.bad += rb->bad;
    }
  }

  /* Leave: member 3 closes at t1; its revocation comes from inside close. */
  if (!res.failed) {
    if (o->trace) fprintf(stderr, "rebalance: leave, member 3 closes\n");
    perf_rb_phase(rb);
    t = rb->phase_start;
    ops->close(m[2]);
    open[2] = false;
    res.close_ms = (double)(perf_now_ns() - t) / 1e6;
    t_end = perf_rb_balanced(rb, two) ? perf_now_ns() : perf_rb_drive(rb, ops, m, open, two, true, o->phase_timeout_ms);
    perf_rb_integrate(rb, t_end > 0 ? t_end : perf_now_ns());
    res.lost += rb->lost, res.overlaps += rb->overlaps, res.bad += rb->bad;
    res.leave_cb = rb->callbacks;
    res.leave_unowned = rb->unowned_part_ns / 1e9;
    res.leave_max_unowned = rb->max_unowned;
    if (t_end <= 0) res.failed = t_end < 0 ? "leave: poll error" : "leave: members 1 and 2 did not converge";
    if (!res.failed) {
      res.leave_ms = (double)(t_end - t) / 1e6;
      perf_rb_phase(rb);
      perf_rb_drive(rb, ops, m, open, two, false, o->settle_ms);
      res.leave_late = rb->callbacks;
      res.lost += rb->lost, res.overlaps += rb->overlaps, res.bad += rb->bad;
    }
  }
  if (res.failed) perf_rb_state(rb, res.state, sizeof res.state);

  rb->phase_start = 0; /* teardown: not measured */
  if (o->trace) fprintf(stderr, "rebalance: teardown (not measured)\n");
  for (int i = 0; i < PERF_RB_MEMBERS; i++)
    if (open[i]) ops->close(m[i]);
  for (int i = 0; i < PERF_RB_MEMBERS; i++) ops->destroy(m[i]);

  bool ok = !res.failed && !res.overlaps && !res.bad && !res.lost && !res.setup_late && !res.join_late &&
            !res.leave_late;
  perf_rb_print(o, &res, ok, n_parts, client, version, conf, group);
  fflush(stdout);
  free(rb);
  return ok ? 0 : 1;
}
