/* kwsim on loopback ports: the same cluster behind real TCP listeners on 127.0.0.1, one
 * per broker, for tests of programs whose client cannot take the in-process seam (another
 * process, another client library, a kwire client a test does not want to hook).
 *
 * A socket is a sim connection with an fd: its bytes go into the connection's `in` as
 * the seam's send would put them, its `out` is written back as the seam's recv would
 * hand it out, and a connection the cluster drops (a crash, a fault) is closed. The
 * cluster's clock is the real monotonic clock, moved forward at every turn: a Fetch
 * parks for its max wait, a crashed broker restarts after crash_ms, a group session
 * expires, all as the client's real clock sees them; a virtual clock that jumped to the
 * next event would answer a long poll at once and expire sessions while the client
 * sleeps. The offset keeps the clock continuous with what ran before kw_sim_listen. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "core/kw_clock.h"
#include "core/kw_hooks.h"
#include "kwire/error.h"
#include "sim/sim_int.h"

#define SIM_IO_CHUNK 65536

static int listen_one(int32_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return KW_ERR_IO;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
      bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return KW_ERR_IO;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

static void real_time(kw_sim *s) {
  int64_t t = kw_now_ms() + s->real_offset;
  if (t > s->now) s->now = t;
}

int kw_sim_listen(kw_sim *s) {
  if (s->loopback) return KW_OK;
  if (kw_hooks_active()) return KW_ERR_STATE; /* installed: its clock is virtual, its clients in memory */
  for (int i = 1; i <= s->n_brokers; i++) {
    int fd = listen_one(&s->brokers[i].port);
    if (fd < 0) {
      sim_loop_free(s);
      return fd;
    }
    s->brokers[i].listen_fd = fd;
  }
  s->loopback = true;
  s->real_offset = s->now - kw_now_ms();
  s->wall_offset = kw_wall_ms() - s->now; /* records' times and ListOffsets by time: today */
  size_t at = 0;
  for (int i = 1; i <= s->n_brokers; i++)
    at += (size_t)snprintf(s->bootstrap + at, sizeof s->bootstrap - at, "%s127.0.0.1:%d", i > 1 ? "," : "",
                           (int)s->brokers[i].port);
  sim_trace(s, "listening: %s", s->bootstrap);
  return KW_OK;
}

static void close_socket(kw_sim *s, int h) {
  sim_conn *c = &s->conns[h];
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  if (c->open) sim_net_close(s, h);
}

void sim_loop_free(kw_sim *s) {
  for (int i = 0; i < s->n_conns; i++)
    if (s->conns[i].fd >= 0) close_socket(s, i);
  for (int i = 1; i <= s->n_brokers; i++) {
    if (s->brokers[i].listen_fd >= 0) close(s->brokers[i].listen_fd);
    s->brokers[i].listen_fd = -1;
  }
  s->loopback = false;
}

/* New connections to a broker: a broker that is down (or a CONNECT_FAIL fault) closes
 * them at once, so the client sees its connection end before any answer. */
static void accept_all(kw_sim *s, int32_t node) {
  for (;;) {
    int fd = accept(s->brokers[node].listen_fd, NULL, NULL);
    if (fd < 0) return;
    int h = -1;
    if (!s->brokers[node].up || sim_fault(s, KW_SIM_CONNECT_FAIL)) {
      sim_trace(s, "connect to broker %d refused", node);
    } else if (fcntl(fd, F_SETFL, O_NONBLOCK) == 0 && (h = sim_net_open(s, node)) >= 0) {
      s->conns[h].fd = fd;
      continue;
    }
    close(fd);
  }
}

/* The client's bytes into the connection, as many as the socket has. */
static void read_in(kw_sim *s, int h) {
  sim_conn *c = &s->conns[h];
  uint8_t buf[SIM_IO_CHUNK];
  for (;;) {
    size_t want = sizeof buf;
    if (sim_fault(s, KW_SIM_SHORT_IO)) want = 1 + (size_t)sim_rand_below(s, want - 1);
    ssize_t n = recv(c->fd, buf, want, 0);
    if (n > 0) {
      if (!c->broken) kw_buf_raw(&c->in, buf, (size_t)n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    close_socket(s, h); /* the client closed (0) or the socket failed */
    return;
  }
}

/* The cluster's answers out to the client; a dropped connection is closed once what was
 * already on its way has been written. */
static void write_out(kw_sim *s, int h) {
  sim_conn *c = &s->conns[h];
  while (c->out.len > c->out_off) {
    size_t n = c->out.len - c->out_off;
    if (n > 1 && sim_fault(s, KW_SIM_SHORT_IO)) n = 1 + (size_t)sim_rand_below(s, n - 1);
    ssize_t w = send(c->fd, c->out.data + c->out_off, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    if (w < 0) {
      close_socket(s, h);
      return;
    }
    c->out_off += (size_t)w;
  }
  if (c->out_off == c->out.len) {
    kw_buf_reset(&c->out);
    c->out_off = 0;
    if (c->broken) close_socket(s, h);
  }
}

/* Everything the clock allows now, and what it produced written out. */
static void work(kw_sim *s) {
  real_time(s);
  kw_sim_advance(s, s->now);
  for (int i = 0; i < s->n_conns; i++)
    if (s->conns[i].fd >= 0) write_out(s, i);
}

int kw_sim_serve(kw_sim *s, int timeout_ms) {
  if (!s->loopback) return KW_ERR_STATE;
  work(s);
  int np = s->n_brokers, cap = s->n_brokers + s->n_conns;
  struct pollfd *p = malloc(sizeof *p * (size_t)cap);
  int *conn_of = malloc(sizeof *conn_of * (size_t)cap);
  if (!p || !conn_of) {
    free(p);
    free(conn_of);
    return KW_ERR_NOMEM;
  }
  for (int i = 1; i <= s->n_brokers; i++) p[i - 1] = (struct pollfd){.fd = s->brokers[i].listen_fd, .events = POLLIN};
  for (int i = 0; i < s->n_conns; i++) {
    sim_conn *c = &s->conns[i];
    if (c->fd < 0) continue;
    conn_of[np] = i;
    p[np++] = (struct pollfd){.fd = c->fd, .events = (short)(POLLIN | (c->out.len > c->out_off ? POLLOUT : 0))};
  }
  int64_t wait = timeout_ms < 0 ? INT64_MAX : timeout_ms;
  int64_t next = sim_next_event(s) - s->now;
  if (next < wait) wait = next < 0 ? 0 : next;
  int n = poll(p, (nfds_t)np, wait > INT32_MAX ? INT32_MAX : (int)wait);
  int rc = n >= 0 ? n : errno == EINTR ? 0 : KW_ERR_IO;
  for (int i = 0; n > 0 && i < np; i++) {
    if (!p[i].revents) continue;
    if (i < s->n_brokers) accept_all(s, i + 1);
    else if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) read_in(s, conn_of[i]);
  }
  free(p);
  free(conn_of);
  work(s);
  return rc;
}
