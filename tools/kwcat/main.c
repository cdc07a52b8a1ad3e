/* kwcat: a kcat-compatible command line client. Metadata list (-L), produce (-P),
 * consume (-C), balanced consumer (-G) and offsets for times (-Q) modes, with kcat's
 * flags, messages and exit codes (0 ok, 1 error), so scripts written for kcat work
 * unchanged. This file parses the command line and the configuration; metadata.c,
 * produce.c, consume.c and query.c run the modes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kwcat.h"

int kwcat_verbosity = 1;

void kwcat_info(int level, const char *fmt, ...) {
  if (kwcat_verbosity < level) return;
  char line[1024] = "% "; /* one write per line: lines from kwcat and kwire never mix */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + 2, sizeof line - 2, fmt, ap);
  va_end(ap);
  fputs(line, stderr);
}

void kwcat_fatal(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%% ERROR: %s\n", line);
  exit(1);
}

static _Noreturn void usage(int code, const char *reason) {
  FILE *f = code ? stderr : stdout;
  fprintf(f,
          "Usage: kwcat <options> [file1 file2 .. | topic1 topic2 ..]\n"
          "kwcat - kcat-compatible Kafka tool on kwire %s\n"
          "\n"
          "General options:\n"
          "  -C | -P | -L | -Q  Mode: consume, produce, metadata list, query offsets\n"
          "  -G <group-id>      Mode: balanced consumer in this group, for the topics\n"
          "                     given as arguments\n"
          "  -t <topic>         Topic to consume from, produce to, or list\n"
          "  -p <partition>     Partition (-1: the partitioner when producing, all\n"
          "                     partitions when consuming; the default)\n"
          "  -b <brokers,..>    Bootstrap broker(s) (host[:port])\n"
          "  -D <delim>         Message delimiter: a-z | \\r | \\n | \\t | \\xNN .. (default \\n)\n"
          "  -K <delim>         Key delimiter (same format as -D)\n"
          "  -c <cnt>           Exit after producing (consuming) this number of messages\n"
          "  -m <seconds>       Metadata request timeout (default 5)\n"
          "  -F <config-file>   Read configuration properties from file (property=value)\n"
          "  -X list            List the configuration properties kwire knows\n"
          "  -X prop=val        Set a configuration property (\"topic.\" prefix accepted)\n"
          "  -X dump            Dump the configuration and exit\n"
          "  -d <dbg1,...>      Debug contexts (configuration property \"debug\")\n"
          "  -q                 Be quiet (verbosity 0)\n"
          "  -v                 Increase verbosity\n"
          "  -E                 Do not exit on non-fatal errors (all brokers down)\n"
          "  -V                 Print version\n"
          "  -h                 Print usage help\n"
          "\n"
          "Producer options:\n"
          "  -z <codec>         Compression: none, gzip, snappy, lz4, zstd\n"
          "  -k <str>           Fixed key for all messages (-K keys take precedence)\n"
          "  -H <name=value>    Add a message header (repeatable; \"name\" alone: null value)\n"
          "  -l                 Read messages from the one file argument, split by -D\n"
          "  -T                 Echo produced messages to stdout, like tee\n"
          "  -Z                 With -K, send an empty key or value as null\n"
          "  file1 file2..      Each file's whole contents is one message\n"
          "\n"
          "Consumer options:\n"
          "  -o <offset>        Offset to start consuming from (default beginning):\n"
          "                     beginning | end | stored (-G: the default) |\n"
          "                     <value> (absolute offset) |\n"
          "                     -<value> (relative offset from end)\n"
          "                     s@<value> (timestamp in ms to start at)\n"
          "                     e@<value> (timestamp in ms to stop at (not included))\n"
          "  -e                 Exit successfully when the last message is received\n"
          "  -f <fmt..>         Output formatting string, see below (takes precedence\n"
          "                     over -D and -K)\n"
          "  -J                 Output with JSON envelope\n"
          "  -D <delim>         Delimiter to separate messages on output\n"
          "  -K <delim>         Print message keys prefixing the message with delim\n"
          "  -Z                 Print NULL values and keys as \"NULL\" instead of empty\n"
          "  -u                 Unbuffered output\n"
          "\n"
          "Query options (-Q):\n"
          "  -t <t>:<p>:<ts>    Offset of topic <t>, partition <p> at timestamp <ts>\n"
          "                     (ms since epoch UTC; -1: end, -2: beginning);\n"
          "                     repeatable. -J: as JSON\n"
          "\n"
          "Format string tokens:\n"
          "  %%s                 Message payload\n"
          "  %%S                 Message payload length (or -1 for NULL)\n"
          "  %%R                 Message payload length (or -1 for NULL) serialized\n"
          "                     as a binary big endian 32-bit signed integer\n"
          "  %%k                 Message key\n"
          "  %%K                 Message key length (or -1 for NULL)\n"
          "  %%T                 Message timestamp (milliseconds since epoch UTC)\n"
          "  %%h                 Message headers (n=v CSV)\n"
          "  %%t                 Topic\n"
          "  %%p                 Partition\n"
          "  %%o                 Message offset\n"
          "  \\n \\r \\t           Newlines, tab\n"
          "  \\xXX \\xNNN         Any ASCII character\n"
          "\n"
          "Default partitioner: murmur2_random (the Java client's); kcat's is consistent_random.\n",
          kw_version());
  if (reason) fprintf(stderr, "\n%% ERROR: %s\n", reason);
  exit(code);
}

/* kcat applies "topic."-prefixed properties to its topic configuration; kwire has one
 * configuration, so the prefix is dropped when the full name is unknown. */
static int conf_set(kw_config *c, const char *name, const char *val, char *err, size_t errsize) {
  int r = kw_config_set(c, name, val, err, errsize);
  if (r == KW_ERR_CONFIG && strncmp(name, "topic.", 6) == 0 && kw_config_get(c, name, NULL, 0) == KW_ERR_CONFIG &&
      kw_config_get(c, name + 6, NULL, 0) != KW_ERR_CONFIG)
    r = kw_config_set(c, name + 6, val, err, errsize);
  return r;
}

/* "name=value" from -X or a -F line. */
static void set_prop(kw_config *c, char *arg, const char *where) {
  char *eq = strchr(arg, '=');
  if (!eq) {
    fprintf(stderr, "%% Expected -X property=value, not %s, use -X list to display available properties\n", arg);
    exit(1);
  }
  *eq = 0;
  char err[512];
  if (conf_set(c, arg, eq + 1, err, sizeof err) < 0) {
    if (where) kwcat_fatal("%s: %s", where, err);
    kwcat_fatal("%s", err);
  }
}

static void read_conf_file(kw_config *c, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) kwcat_fatal("Failed to open %s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0;
  while (getline(&line, &cap, f) != -1) {
    lineno++;
    char *s = line + strspn(line, " \t\r\n");
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1])) s[--n] = 0;
    if (!*s || *s == '#') continue;
    /* Java client files escape ':' and '=' (as kcat, take them literally). */
    for (char *t; (t = strstr(s, "\\:")) || (t = strstr(s, "\\="));) memmove(t, t + 1, strlen(t + 1) + 1);
    char where[600];
    snprintf(where, sizeof where, "%s:%d", path, lineno);
    if (!strchr(s, '=') || *s == '=') kwcat_fatal("%s: expected property=value", where);
    set_prop(c, s, where);
  }
  free(line);
  fclose(f);
}

static void list_props(void) {
  printf("%-40s | %-16s | %s\n", "Property", "Default", "Description");
  printf("%.40s-|-%.16s-|-%s\n", "------------------------------------------------------------",
         "------------------------------------------------------------", "-----------");
  const char *def, *desc;
  const char *name;
  for (int i = 0; (name = kw_config_key_at(i, &def, &desc)); i++)
    printf("%-40s | %-16s | %s\n", name, def, desc ? desc : "");
}

static void dump_props(const kw_config *c) {
  printf("# Global config\n");
  const char *name;
  char val[1024];
  for (int i = 0; (name = kw_config_key_at(i, NULL, NULL)); i++) {
    int r = kw_config_get(c, name, val, sizeof val);
    if (r < 0 && r != KW_ERR_BUF_FULL) continue;
    printf("%s = %s\n", name, val);
  }
  printf("\n");
}

static void add_header(kwcat_opts *o, const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq == arg || !*arg) kwcat_fatal("Expected -H \"name=value..\" or -H \"name\"");
  if (o->n_headers == KWCAT_MAX_HEADERS) kwcat_fatal("Too many headers (-H): at most %d", KWCAT_MAX_HEADERS);
  kw_header *h = &o->headers[o->n_headers++];
  char *name = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
  if (!name) kwcat_fatal("out of memory");
  h->key = name;
  h->value = eq ? eq + 1 : NULL;
  h->value_len = eq ? strlen(eq + 1) : 0;
}

static long long parse_int(const char *s, const char *what) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) kwcat_fatal("%s: expected an integer, not \"%s\"", what, s);
  return v;
}

/* -o: beginning | end | stored | <offset> | -<count> | s@<ms> | e@<ms>, as kcat. */
static void parse_offset(kwcat_opts *o, const char *arg) {
  if (strncmp(arg, "s@", 2) && strncmp(arg, "e@", 2)) o->start_given = true;
  if (!strcmp(arg, "end")) {
    o->start = KWCAT_START_END;
  } else if (!strcmp(arg, "beginning")) {
    o->start = KWCAT_START_BEGINNING;
  } else if (!strcmp(arg, "stored")) {
    o->start = KWCAT_START_STORED;
  } else if (!strncmp(arg, "s@", 2)) {
    o->start_ts = parse_int(arg + 2, "-o s@");
    if (o->start_ts < 0) kwcat_fatal("-o s@: invalid timestamp %s", arg + 2);
  } else if (!strncmp(arg, "e@", 2)) {
    o->stop_ts = parse_int(arg + 2, "-o e@");
    if (o->stop_ts < 0) kwcat_fatal("-o e@: invalid timestamp %s", arg + 2);
  } else {
    long long v = parse_int(arg, "-o");
    if (v < 0 && v == LLONG_MIN) kwcat_fatal("-o: invalid offset %s", arg);
    o->start = v < 0 ? KWCAT_START_TAIL : KWCAT_START_ABS;
    o->start_offset = v < 0 ? -v : v;
  }
}

/* -Q's -t topic:partition:timestamp (the topic ends at the first ':', as in kcat). */
static void add_query(kwcat_opts *o, const char *arg) {
  const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  char *end;
  if (!c2 || c1 == arg) kwcat_fatal("-t: expected \"topic:partition:offset_or_timestamp\"");
  errno = 0;
  long long p = strtoll(c1 + 1, &end, 0);
  if (errno || end == c1 + 1 || end != c2 || p < 0 || p > INT32_MAX)
    kwcat_fatal("-t: expected \"topic:partition:offset_or_timestamp\"");
  long long ts = strtoll(c2 + 1, &end, 0);
  if (errno || end == c2 + 1 || *end) kwcat_fatal("-t: expected \"topic:partition:offset_or_timestamp\"");
  kwcat_query *q = realloc(o->queries, sizeof *q * (size_t)(o->n_queries + 1));
  char *topic = strndup(arg, (size_t)(c1 - arg));
  if (!q || !topic) kwcat_fatal("out of memory");
  o->queries = q;
  o->queries[o->n_queries++] = (kwcat_query){topic, (int32_t)p, ts};
}

/* Modes do not mix, except -C and -G: the last one wins, as in kcat ("kcat -C -G g t"). */
static void set_mode(kwcat_opts *o, int mode) {
  bool consumers = (o->mode == 'C' || o->mode == 'G') && (mode == 'C' || mode == 'G');
  if (o->mode && o->mode != mode && !consumers)
    kwcat_fatal("Do not mix modes: -%c seen when -%c already set", mode, o->mode);
  o->mode = mode;
}

/* The arguments after the options: -P's files, -G's topics. */
static void take_operands(kwcat_opts *o, char **args, int n) {
  if (n <= 0) return;
  if (o->mode != 'P' && o->mode != 'G') usage(1, "file/topic list only allowed in producer(-P)/kafkaconsumer(-G) mode");
  if (o->mode == 'G') {
    o->topics = args;
    o->n_topics = n;
    return;
  }
  if (o->line_mode && n > 1) kwcat_fatal("Only one file allowed for line mode (-l)");
  o->files = args;
  o->n_files = n;
}

static void parse_delims(kwcat_opts *o, const char *delim, const char *key_delim) {
  char err[512];
  o->delim = kwcat_parse_delim(delim, &o->delim_len, err, sizeof err);
  if (!o->delim) kwcat_fatal("%s", err);
  if (key_delim) {
    o->key_delim = kwcat_parse_delim(key_delim, &o->key_delim_len, err, sizeof err);
    if (!o->key_delim) kwcat_fatal("%s", err);
    if (o->mode == 'P' && o->key_delim_len == 0) kwcat_fatal("Key delimiter -K must not be empty when producing");
  }
  if (o->mode == 'P' && o->delim_len == 0) kwcat_fatal("Message delimiter -D must not be empty when producing");
}

int main(int argc, char **argv) {
  /* Static: what early exits (-X list, -V, errors) leave allocated stays reachable. */
  static kwcat_opts o = {.partition = KW_PARTITION_UA, .msg_cnt = -1, .exit_on_error = true, .metadata_timeout_s = 5};
  const char *delim = "\\n", *key_delim = NULL;
  bool dump = false;
  o.conf = kw_config_new();
  if (!o.conf || kw_config_set(o.conf, "client.id", "kwcat", NULL, 0) < 0) kwcat_fatal("out of memory");
  char err[512];
  int opt;
  while ((opt = getopt(argc, argv, "PCLQG:t:p:b:z:o:eED:K:k:H:Od:qvF:X:c:Tuf:ZlVhJm:s:r:")) != -1) {
    switch (opt) {
    case 'P':
    case 'C':
    case 'L':
    case 'Q': set_mode(&o, opt); break;
    case 'G':
      set_mode(&o, opt);
      o.group = optarg;
      if (kw_config_set(o.conf, "group.id", optarg, err, sizeof err) < 0) kwcat_fatal("%s", err);
      break;
    case 's':
    case 'r': kwcat_fatal("-%c: Avro/schema-registry and pack-format deserializers are not supported", opt);
    case 't': /* after -Q a query, otherwise the topic (as in kcat) */
      if (o.mode == 'Q') add_query(&o, optarg);
      else o.topic = optarg;
      break;
    case 'p': {
      long long p = parse_int(optarg, "-p");
      if (p < -1 || p > INT32_MAX) kwcat_fatal("-p: invalid partition %s", optarg);
      o.partition = (int32_t)p;
      break;
    }
    case 'b': o.brokers = optarg; break;
    case 'z':
      if (kw_config_set(o.conf, "compression.type", optarg, err, sizeof err) < 0) kwcat_fatal("%s", err);
      break;
    /* consumer options: no effect when producing or listing */
    case 'o': parse_offset(&o, optarg); break;
    case 'f': o.fmt = optarg; break;
    case 'J': o.json = true; break;
    case 'e': o.exit_eof = true; break;
    case 'O': break; /* kcat: "print offset using -K delimiter", which it never did */
    case 'E': o.exit_on_error = false; break;
    case 'D': delim = optarg; break;
    case 'K': key_delim = optarg; break;
    case 'k': o.key = optarg; break;
    case 'H': add_header(&o, optarg); break;
    case 'd':
      if (kw_config_set(o.conf, "debug", optarg, err, sizeof err) < 0) kwcat_fatal("%s", err);
      break;
    case 'q': kwcat_verbosity = 0; break;
    case 'v': kwcat_verbosity++; break;
    case 'F':
      if (strcmp(optarg, "-") && strcmp(optarg, "none")) read_conf_file(o.conf, optarg);
      break;
    case 'X':
      if (!strcmp(optarg, "list") || !strcmp(optarg, "help")) {
        list_props();
        return 0;
      }
      if (!strcmp(optarg, "dump")) {
        dump = true;
        break;
      }
      set_prop(o.conf, optarg, NULL);
      break;
    case 'c': o.msg_cnt = parse_int(optarg, "-c"); break;
    case 'T': o.tee = true; break;
    case 'u':
      setvbuf(stdout, NULL, _IONBF, 0);
      o.unbuffered = true;
      break;
    case 'Z': o.null_empty = true; break;
    case 'l': o.line_mode = true; break;
    case 'm': o.metadata_timeout_s = (int)parse_int(optarg, "-m"); break;
    case 'V': printf("kwcat (kwire %s)\n", kw_version()); return 0;
    case 'h': usage(0, NULL);
    default: usage(1, "unknown argument");
    }
  }

  if (o.brokers && kw_config_set(o.conf, "bootstrap.servers", o.brokers, err, sizeof err) < 0) usage(1, err);
  char servers[1024] = "";
  kw_config_get(o.conf, "bootstrap.servers", servers, sizeof servers);
  if (dump) {
    dump_props(o.conf);
    return 0;
  }
  if (!*servers) usage(1, "-b <broker,..> missing");
  o.brokers = servers;

  if (!o.mode) {
    o.mode = isatty(STDIN_FILENO) ? 'C' : 'P';
    kwcat_info(1, "Auto-selecting %s mode (use -P or -C to override)\n", o.mode == 'C' ? "Consumer" : "Producer");
  }
  if ((o.mode == 'P' || o.mode == 'C') && !o.topic) usage(1, "-t <topic> missing");
  if (o.mode == 'Q' && !o.n_queries) usage(1, "-t <topic>:<partition>:<offset_or_timestamp> missing");

  take_operands(&o, &argv[optind], argc - optind);
  parse_delims(&o, delim, key_delim);

  int code = o.mode == 'L'   ? kwcat_metadata(&o)
             : o.mode == 'P' ? kwcat_produce(&o)
             : o.mode == 'Q' ? kwcat_query_offsets(&o)
                             : kwcat_consume(&o);

  for (int i = 0; i < o.n_headers; i++) free((char *)o.headers[i].key);
  for (int i = 0; i < o.n_queries; i++) free((char *)o.queries[i].topic);
  free(o.queries);
  free(o.delim);
  free(o.key_delim);
  kw_config_free(o.conf);
  return code;
}
