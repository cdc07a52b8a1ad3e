/* kwfaultproxy's command line and its one poll() loop: stdin commands, listeners,
 * connection pairs, and the two clocks (cut-random ticks, latency release times). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fp.h"

#define FP_MAX_LINE 65536 /* longer stdin lines are not commands: dropped with an error */

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static int usage(void) {
  fputs("usage: kwfaultproxy --upstream HOST:PORT[,HOST:PORT...] [--seed N] [-v]\n"
        "  prints 'ready 127.0.0.1:X1,...' (one proxy address per upstream, in order), then\n"
        "  reads commands on stdin: cut-all | cut-random MS | latency MS | blackhole on|off |\n"
        "  inject API_KEY ERROR_CODE COUNT | clear | stats | quit\n",
        stderr);
  return 2;
}

static int add_upstreams(fp_proxy *px, char *list) {
  char *save = NULL;
  for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
    char host[256];
    int32_t port;
    if (fp_parse_hostport(s, host, sizeof host, &port) < 0) {
      fprintf(stderr, "kwfaultproxy: bad upstream address '%s' (want HOST:PORT)\n", s);
      return -1;
    }
    if (fp_listener_add(px, host, strlen(host), port) < 0) {
      fprintf(stderr, "kwfaultproxy: cannot listen for %s: %s\n", s, strerror(errno));
      return -1;
    }
  }
  return px->n_ls ? 0 : -1;
}

/* Reads what stdin has and runs every complete line; EOF runs the last one and quits. */
static void read_stdin(fp_proxy *px) {
  char buf[4096];
  ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n > 0 && fp_bytes_size(&px->stdin_buf) > FP_MAX_LINE) {
    fp_bytes_consume(&px->stdin_buf, fp_bytes_size(&px->stdin_buf));
    puts("error line too long");
    fflush(stdout);
  }
  if (n > 0 && fp_bytes_append(&px->stdin_buf, buf, (size_t)n) == 0) {
    for (;;) {
      char *line = (char *)fp_bytes_head(&px->stdin_buf);
      char *nl = memchr(line, '\n', fp_bytes_size(&px->stdin_buf));
      if (!nl) break;
      *nl = '\0';
      size_t len = (size_t)(nl - line) + 1;
      fp_command(px, line);
      fp_bytes_consume(&px->stdin_buf, len);
    }
    return;
  }
  if (n > 0) return;
  if (fp_bytes_size(&px->stdin_buf) && fp_bytes_append(&px->stdin_buf, "", 1) == 0)
    fp_command(px, (char *)fp_bytes_head(&px->stdin_buf));
  px->quit = true;
}

static int poll_timeout(const fp_proxy *px, int64_t now) {
  int64_t next = -1;
  if (px->cut_every_ms) next = px->next_cut;
  for (const fp_pair *p = px->pairs; p; p = p->next)
    if (!p->dead && p->held && (next < 0 || p->held->due < next)) next = p->held->due;
  if (next < 0) return -1;
  return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

static void run(fp_proxy *px) {
  struct pollfd *fds = NULL;
  fp_pair **owners = NULL;
  size_t cap = 0;
  while (!px->quit && !stop_signal) {
    int64_t now = fp_now_ms();
    if (px->cut_every_ms && now >= px->next_cut) {
      fp_cut_one(px);
      px->next_cut = now + px->cut_every_ms; /* no burst of catch-up cuts after a stall */
    }
    for (fp_pair *p = px->pairs; p; p = p->next) fp_pair_pump(px, p, now);
    fp_reap(px);

    size_t need = 1 + px->n_ls + 2 * px->n_pairs;
    if (need > cap) {
      cap = need * 2;
      struct pollfd *nf = realloc(fds, cap * sizeof *fds);
      if (nf) fds = nf;
      fp_pair **no = nf ? realloc(owners, cap * sizeof *owners) : NULL;
      if (!nf || !no) {
        fputs("kwfaultproxy: out of memory\n", stderr);
        break;
      }
      owners = no;
    }
    size_t nfds = 0;
    fds[nfds++] = (struct pollfd){STDIN_FILENO, POLLIN, 0};
    for (size_t i = 0; i < px->n_ls; i++) fds[nfds++] = (struct pollfd){px->ls[i].fd, POLLIN, 0};
    size_t first_pair = nfds;
    for (fp_pair *p = px->pairs; p; p = p->next) {
      owners[nfds] = p;
      fds[nfds++] = (struct pollfd){p->cfd, fp_pair_client_events(p), 0};
      fds[nfds++] = (struct pollfd){p->ufd, fp_pair_upstream_events(p), 0};
    }
    size_t n_ls = px->n_ls; /* listeners added while handling events wait for the next round */
    if (poll(fds, (nfds_t)nfds, poll_timeout(px, now)) < 0) {
      if (errno == EINTR) continue;
      perror("kwfaultproxy: poll");
      break;
    }
    now = fp_now_ms();
    if (fds[0].revents) read_stdin(px);
    for (size_t i = 0; i < n_ls; i++)
      if (fds[1 + i].revents & POLLIN) fp_accept(px, i);
    for (size_t i = first_pair; i < nfds; i += 2)
      fp_pair_events(px, owners[i], fds[i].revents, fds[i + 1].revents, now);
  }
  free(fds);
  free(owners);
}

int main(int argc, char **argv) {
  static fp_proxy px;
  char *upstream = NULL;
  bool seeded = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--upstream") && i + 1 < argc) {
      upstream = argv[++i];
    } else if (!strcmp(a, "--seed") && i + 1 < argc) {
      char *end;
      px.rng = strtoull(argv[++i], &end, 10);
      if (*end || end == argv[i]) return usage();
      seeded = true;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      fp_verbose = true;
    } else {
      return usage();
    }
  }
  if (!upstream) return usage();
  if (!seeded) px.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

  struct sigaction sa = {.sa_handler = SIG_IGN};
  sigaction(SIGPIPE, &sa, NULL);
  sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns and the loop ends cleanly */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  fp_rewrite_init(&px);
  if (add_upstreams(&px, upstream) < 0) return 1;
  fputs("ready ", stdout);
  for (size_t i = 0; i < px.n_ls; i++) printf("%s%s:%u", i ? "," : "", FP_PROXY_HOST, px.ls[i].port);
  putchar('\n');
  fflush(stdout);
  fp_log("seed %llu", (unsigned long long)px.rng);

  run(&px);

  for (fp_pair *p = px.pairs; p; p = p->next) fp_pair_close(&px, p, "exit");
  fp_reap(&px);
  for (size_t i = 0; i < px.n_ls; i++) close(px.ls[i].fd);
  free(px.ls);
  fp_bytes_free(&px.stdin_buf);
  kw_arena_reset(&px.arena);
  return 0;
}
