/* kwverifiable-producer: kwire's version of Kafka's VerifiableProducer
 * (org.apache.kafka.tools.VerifiableProducer), for system and fault tests.
 *
 * Produces increasing integers ("0", "1", ... or "PREFIX.0", ...) to one topic and
 * prints a JSON line per event on stdout, with the Java tool's names and fields:
 *   startup_complete
 *   producer_send_success  key, value, topic, partition, offset
 *   producer_send_error    key, value, topic, exception, message
 *   shutdown_complete      after the producer is flushed and closed
 *   tool_data              sent, acked, target_throughput, avg_throughput
 * so a validator can tell exactly which values were acknowledged. Stops after
 * --max-messages, or at SIGTERM/SIGINT (-1: until then); either way it flushes what is
 * queued (up to delivery.timeout.ms, as the Java client's close) before
 * shutdown_complete; what is still unacknowledged then is reported as producer_send_error.
 *
 * Differences from the Java tool: the Java tool sets retries=0 unless the properties
 * say otherwise; kwire has no retry count (it retries until delivery.timeout.ms), so
 * this tool always retries. Idempotence is kwire's default (enable.idempotence=true,
 * acks=all); --acks 1/0 needs -X enable.idempotence=false, as with the Java client.
 * Errors are named after kwire's (KW_ERR_*) or Kafka's error codes, not Java classes. */
#include "verifiable.h"
#include <getopt.h>
#include <inttypes.h>
#include "proto/kw_kerr.h"

static const char *prog = "kwverifiable-producer";

typedef struct vp {
  kw_client *cl;
  const char *topic;
  long long max_messages; /* < 0: until a signal */
  long long throughput;   /* msgs/s; <= 0: unlimited */
  bool has_prefix;
  long long value_prefix;
  long long repeating_keys; /* > 0: keys "0" .. "N-1" in turn */
  int64_t create_time;      /* >= 0: the record timestamps start here */
  int64_t start_wall;
  long long sent, acked, failed;
  bool fatal;
  bool printed; /* something written since the last flush */
} vp;

/* The key and value of message i, as the Java tool makes them. */
static const char *key_of(const vp *p, long long i, char *buf, size_t n) {
  if (p->repeating_keys <= 0) return NULL;
  snprintf(buf, n, "%lld", i % p->repeating_keys);
  return buf;
}

static void value_of(const vp *p, long long i, char *buf, size_t n) {
  if (p->has_prefix) snprintf(buf, n, "%lld.%lld", p->value_prefix, i);
  else snprintf(buf, n, "%lld", i);
}

static void print_error(vp *p, long long i, int err, int16_t kafka_error) {
  char kb[32], vb[48];
  const char *key = key_of(p, i, kb, sizeof kb);
  value_of(p, i, vb, sizeof vb);
  const char *exception = kw_errname(err), *message = kw_strerror(err);
  if (err == KW_ERR_BROKER) {
    const kw_kerr_info *ki = kw_kerr_lookup(kafka_error);
    exception = kw_kerr_name(kafka_error);
    if (ki && ki->message) message = ki->message;
  }
  vf_begin("producer_send_error");
  vf_field_str("key", key);
  vf_field_str("value", vb);
  vf_field_str("topic", p->topic);
  vf_field_str("exception", exception);
  vf_field_str("message", message);
  vf_end();
  p->printed = true;
}

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  vp *p = ud;
  long long i = (long long)(uintptr_t)dr->opaque;
  if (dr->err) {
    p->failed++;
    print_error(p, i, dr->err, dr->kafka_error);
    return;
  }
  p->acked++;
  char kb[32], vb[48];
  const char *key = key_of(p, i, kb, sizeof kb);
  value_of(p, i, vb, sizeof vb);
  vf_begin("producer_send_success");
  vf_field_str("key", key);
  vf_field_str("value", vb);
  vf_field_str("topic", dr->topic);
  printf(",\"partition\":%" PRId32 ",\"offset\":%" PRId64, dr->partition, dr->offset);
  vf_end();
  p->printed = true;
}

static void on_error(void *ud, int err, const char *reason) {
  vp *p = ud;
  fprintf(stderr, "%s: %s: %s\n", prog, kw_errname(err), reason ? reason : "");
  if (err == KW_ERR_FATAL) p->fatal = true;
}

static void run_client(vp *p, int timeout_ms) {
  kw_client_poll(p->cl, timeout_ms);
  if (p->printed) {
    vf_flush();
    p->printed = false;
  }
}

/* Paces message i to throughput msgs/s since the start, running the client meanwhile. */
static void throttle(vp *p, long long i, int64_t start) {
  if (p->throughput <= 0) return;
  int64_t due = start + (int64_t)(i * 1000 / p->throughput);
  for (int64_t now; !vf_stop && (now = vf_mono_ms()) < due;) run_client(p, (int)(due - now));
}

static void send_one(vp *p, long long i) {
  char kb[32], vb[48];
  const char *key = key_of(p, i, kb, sizeof kb);
  value_of(p, i, vb, sizeof vb);
  int64_t ts = 0;
  if (p->create_time >= 0) ts = p->create_time + (vf_wall_ms() - p->start_wall); /* as the Java tool */
  p->sent++;
  int err;
  while ((err = kw_produce(p->cl, p->topic, KW_PARTITION_UA, key, key ? strlen(key) : 0, vb, strlen(vb), NULL, 0,
                           ts, (void *)(uintptr_t)i)) == KW_ERR_QUEUE_FULL &&
         !vf_stop && !p->fatal)
    run_client(p, 10);
  if (err) {
    p->failed++;
    print_error(p, i, err, 0);
    if (err == KW_ERR_STATE || err == KW_ERR_FATAL) p->fatal = true;
  }
}

static _Noreturn void usage(int code) {
  fprintf(code ? stderr : stdout,
          "usage: %s --topic TOPIC --bootstrap-server HOST:PORT[,...] [options]\n"
          "Produces increasing integers to TOPIC and prints a JSON line per event (Kafka's\n"
          "VerifiableProducer protocol): which values were acknowledged, and where.\n"
          "\n"
          "  --topic TOPIC               topic to produce to (required)\n"
          "  --bootstrap-server LIST     brokers (required; --broker-list is the same)\n"
          "  --max-messages N            produce N messages (-1, the default: until SIGTERM)\n"
          "  --throughput N              at most about N messages/s (-1, the default: unlimited)\n"
          "  --acks ACKS                 -1 (default, all), 1 or 0\n"
          "  --value-prefix N            values are \"N.<i>\" instead of \"<i>\"\n"
          "  --repeating-keys N          keys \"0\" .. \"N-1\" in turn (default: null keys)\n"
          "  --message-create-time MS    record timestamps start at MS\n"
          "  --producer.config FILE      Java properties file (deprecated, as in Kafka)\n"
          "  --command-config FILE       Java properties file (kwire's property names;\n"
          "                              keys kwire does not know are ignored with a warning)\n"
          "  -X key=value                a kwire property (after the files; repeatable)\n",
          prog);
  exit(code);
}

int main(int argc, char **argv) {
  enum { O_TOPIC = 256, O_BOOT, O_MAX, O_TPUT, O_ACKS, O_PCONF, O_CCONF, O_PREFIX, O_KEYS, O_CTIME };
  static const struct option opts[] = {
      {"topic", required_argument, NULL, O_TOPIC},
      {"bootstrap-server", required_argument, NULL, O_BOOT},
      {"broker-list", required_argument, NULL, O_BOOT},
      {"max-messages", required_argument, NULL, O_MAX},
      {"throughput", required_argument, NULL, O_TPUT},
      {"acks", required_argument, NULL, O_ACKS},
      {"producer.config", required_argument, NULL, O_PCONF},
      {"command-config", required_argument, NULL, O_CCONF},
      {"value-prefix", required_argument, NULL, O_PREFIX},
      {"repeating-keys", required_argument, NULL, O_KEYS},
      {"message-create-time", required_argument, NULL, O_CTIME},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  vp p = {.max_messages = -1, .throughput = -1, .create_time = -1};
  const char *boot = NULL, *acks = "-1", *pconf = NULL, *cconf = NULL;
  char **xs = calloc((size_t)argc + 1, sizeof *xs);
  int nx = 0, o;
  if (!xs) vf_die(prog, "out of memory");
  if (argc == 1) usage(0);
  while ((o = getopt_long(argc, argv, "X:h", opts, NULL)) != -1) {
    switch (o) {
    case O_TOPIC: p.topic = optarg; break;
    case O_BOOT: boot = optarg; break;
    case O_MAX: p.max_messages = vf_parse_ll(prog, "--max-messages", optarg); break;
    case O_TPUT: p.throughput = vf_parse_ll(prog, "--throughput", optarg); break;
    case O_ACKS:
      if (strcmp(optarg, "-1") && strcmp(optarg, "0") && strcmp(optarg, "1") && strcmp(optarg, "all"))
        vf_die(prog, "--acks: one of -1, 0, 1, not '%s'", optarg);
      acks = optarg;
      break;
    case O_PCONF: pconf = optarg; break;
    case O_CCONF: cconf = optarg; break;
    case O_PREFIX:
      p.has_prefix = true;
      p.value_prefix = vf_parse_ll(prog, "--value-prefix", optarg);
      break;
    case O_KEYS: p.repeating_keys = vf_parse_ll(prog, "--repeating-keys", optarg); break;
    case O_CTIME: p.create_time = vf_parse_ll(prog, "--message-create-time", optarg); break;
    case 'X': xs[nx++] = optarg; break;
    case 'h': usage(0);
    default: usage(1);
    }
  }
  if (optind < argc) vf_die(prog, "unexpected argument '%s'", argv[optind]);
  if (!p.topic) vf_die(prog, "--topic is required");
  if (!boot) vf_die(prog, "--bootstrap-server is required");
  if (pconf && cconf) vf_die(prog, "Options --producer.config and --command-config are mutually exclusive.");

  /* The Java tool's order: command line, then the properties file over it. */
  kw_config *conf = kw_config_new();
  if (!conf) vf_die(prog, "out of memory");
  vf_set(prog, conf, "client.id", prog, false, "default");
  vf_set(prog, conf, "bootstrap.servers", boot, false, "--bootstrap-server");
  vf_set(prog, conf, "acks", acks, false, "--acks");
  if (pconf) {
    fprintf(stdout, "Option --producer.config has been deprecated and will be removed in a future version. Use "
                    "--command-config instead.\n");
    vf_load_properties(prog, conf, pconf);
  }
  if (cconf) vf_load_properties(prog, conf, cconf);
  vf_finish_setup(prog, conf, xs, nx);

  char err[512];
  p.cl = kw_producer_new(conf, err, sizeof err);
  if (!p.cl) vf_die(prog, "%s", err);
  char dt[32] = "";
  kw_config_get(conf, "delivery.timeout.ms", dt, sizeof dt);
  long long delivery_timeout = atoll(dt);
  kw_config_free(conf);
  kw_client_set_error_cb(p.cl, on_error, &p); /* before the delivery callback, which passes it on */
  kw_client_set_delivery_cb(p.cl, on_delivery, &p);

  vf_begin("startup_complete");
  vf_end();
  vf_flush();

  int64_t start = vf_mono_ms();
  p.start_wall = vf_wall_ms();
  for (long long i = 0; (p.max_messages < 0 || i < p.max_messages) && !vf_stop && !p.fatal; i++) {
    throttle(&p, i, start);
    if (vf_stop) break;
    send_one(&p, i);
    if (i % 64 == 63 || p.throughput > 0) run_client(&p, 0);
  }

  /* close(): wait for every report (up to the delivery timeout, like the Java client's
   * close), printing them as they come, then free. */
  int64_t flush_end = vf_mono_ms() + (delivery_timeout > 0 ? delivery_timeout : 300000);
  while (kw_client_outstanding(p.cl) > 0 && !p.fatal && vf_mono_ms() < flush_end) {
    kw_client_flush(p.cl, 100);
    if (p.printed) vf_flush(), p.printed = false;
  }
  if (kw_client_outstanding(p.cl) > 0)
    fprintf(stderr, "%s: closing with %d message(s) not acknowledged\n", prog, kw_client_outstanding(p.cl));
  /* What is still queued is reported (KW_ERR_DESTROYED) from inside destroy. */
  kw_client_destroy(p.cl);
  vf_begin("shutdown_complete");
  vf_end();
  int64_t elapsed = vf_mono_ms() - start;
  vf_begin("tool_data");
  printf(",\"sent\":%lld,\"acked\":%lld,\"target_throughput\":%lld,\"avg_throughput\":%.3f", p.sent, p.acked,
         p.throughput, elapsed > 0 ? 1000.0 * (double)p.acked / (double)elapsed : 0.0);
  vf_end();
  vf_flush();
  return p.fatal ? 1 : 0;
}
