/* The stdin command protocol: one command per line, one answer line per command on
 * stdout ("ok ..." or "error ..."), flushed at once so a test script can wait for it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fp.h"

#define FP_MAX_MS 86400000LL /* a day: anything longer is a typo */

static void reply(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static bool parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static size_t cut_all(fp_proxy *px) {
  size_t n = 0;
  for (fp_pair *p = px->pairs; p; p = p->next) {
    if (p->dead) continue;
    fp_pair_close(px, p, "cut-all");
    n++;
  }
  px->st.cut += n;
  return n;
}

void fp_cut_one(fp_proxy *px) {
  if (px->n_pairs == 0) return;
  uint64_t k = fp_random(px) % px->n_pairs;
  for (fp_pair *p = px->pairs; p; p = p->next) {
    if (p->dead || k--) continue;
    fp_pair_close(px, p, "cut-random");
    px->st.cut++;
    return;
  }
}

static void set_latency(fp_proxy *px, long long ms) {
  px->latency_ms = ms;
  if (ms) return;
  for (fp_pair *p = px->pairs; p; p = p->next) fp_pair_release_all(p); /* off means off, now */
}

static void cmd_inject(fp_proxy *px, char **argv) {
  long long key, code, count;
  if (!parse_int(argv[1], 0, INT16_MAX, &key) || !parse_int(argv[2], INT16_MIN, INT16_MAX, &code) ||
      !parse_int(argv[3], 0, UINT32_MAX, &count)) {
    reply("error usage: inject API_KEY ERROR_CODE COUNT");
    return;
  }
  if (!fp_injectable((int16_t)key)) {
    reply("error unsupported api %lld", key);
    return;
  }
  const kw_api_desc *api = kw_api_find((int16_t)key);
  size_t idx = (size_t)(api - kw_apis);
  px->inject[idx].code = (int16_t)code;
  px->inject[idx].left = (uint32_t)count; /* replaces what was pending for this api */
  fp_log("inject: the next %lld %s responses get error %lld", count, api->name, code);
  reply("ok");
}

static void cmd_stats(const fp_proxy *px) {
  const fp_stats *s = &px->st;
  reply("ok conns=%zu accepted=%llu cut=%llu injected=%llu rewritten=%llu bytes_up=%llu bytes_down=%llu "
        "clamped=%llu passthrough_undecodable=%llu",
        px->n_pairs, (unsigned long long)s->accepted, (unsigned long long)s->cut, (unsigned long long)s->injected,
        (unsigned long long)s->rewritten, (unsigned long long)s->bytes_up, (unsigned long long)s->bytes_down,
        (unsigned long long)s->clamped, (unsigned long long)s->undecodable);
}

void fp_command(fp_proxy *px, char *line) {
  char *argv[8], *save = NULL;
  int argc = 0;
  for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
    if (argc == 8) {
      reply("error too many arguments");
      return;
    }
    argv[argc++] = t;
  }
  if (argc == 0) return; /* blank lines are not commands */
  const char *cmd = argv[0];
  long long ms;
  fp_log("command: %s", cmd);
  if (!strcmp(cmd, "cut-all") && argc == 1) {
    size_t n = cut_all(px);
    reply("ok cut=%zu", n);
  } else if (!strcmp(cmd, "cut-random") && argc == 2 && parse_int(argv[1], 0, FP_MAX_MS, &ms)) {
    px->cut_every_ms = ms;
    px->next_cut = fp_now_ms() + ms;
    reply("ok");
  } else if (!strcmp(cmd, "latency") && argc == 2 && parse_int(argv[1], 0, FP_MAX_MS, &ms)) {
    set_latency(px, ms);
    reply("ok");
  } else if (!strcmp(cmd, "blackhole") && argc == 2 && (!strcmp(argv[1], "on") || !strcmp(argv[1], "off"))) {
    px->blackhole = !strcmp(argv[1], "on");
    reply("ok");
  } else if (!strcmp(cmd, "inject") && argc == 4) {
    cmd_inject(px, argv);
  } else if (!strcmp(cmd, "clear") && argc == 1) {
    px->cut_every_ms = 0;
    set_latency(px, 0);
    px->blackhole = false;
    memset(px->inject, 0, sizeof px->inject);
    reply("ok");
  } else if (!strcmp(cmd, "stats") && argc == 1) {
    cmd_stats(px);
  } else if (!strcmp(cmd, "quit") && argc == 1) {
    px->quit = true;
    reply("ok");
  } else if (!strcmp(cmd, "cut-all") || !strcmp(cmd, "cut-random") || !strcmp(cmd, "latency") ||
             !strcmp(cmd, "blackhole") || !strcmp(cmd, "inject") || !strcmp(cmd, "clear") ||
             !strcmp(cmd, "stats") || !strcmp(cmd, "quit")) {
    reply("error usage: cut-all | cut-random MS | latency MS | blackhole on|off | "
          "inject API_KEY ERROR_CODE COUNT | clear | stats | quit");
  } else {
    reply("error unknown command %s", cmd);
  }
}
