/* Blocking-with-timeout TCP to the broker, and following the broker's log file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kwfuzz.h"

int wire_connect(const char *host_port, int timeout_ms) {
  char host[256];
  const char *colon = strrchr(host_port, ':');
  if (!colon || (size_t)(colon - host_port) >= sizeof host) return -1;
  memcpy(host, host_port, (size_t)(colon - host_port));
  host[colon - host_port] = 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    struct pollfd p = {fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (rc != 0 && (errno != EINPROGRESS || poll(&p, 1, timeout_ms) != 1 ||
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(ai);
  return fd;
}

int wire_send(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pf = {fd, POLLOUT, 0};
      if (poll(&pf, 1, 5000) != 1) return WIRE_CLOSED; /* a broker that stops reading is as good as gone */
      continue;
    }
    if (w <= 0) return WIRE_CLOSED;
    p += w, n -= (size_t)w;
  }
  return 0;
}

/* Reads until `in` holds want bytes. */
static int fill(int fd, kw_buf *in, size_t want, int timeout_ms) {
  while (in->len < want) {
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms);
    if (rc == 0) return WIRE_TIMEOUT;
    if (rc < 0 || kw_buf_reserve(in, want - in->len)) return WIRE_CLOSED;
    ssize_t r = recv(fd, in->data + in->len, want - in->len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (r <= 0) return WIRE_CLOSED; /* EOF or reset: either way no answer */
    in->len += (size_t)r;
  }
  return WIRE_ANSWERED;
}

int wire_recv_frame(int fd, kw_buf *in, int timeout_ms) {
  kw_buf_reset(in);
  int rc = fill(fd, in, 4, timeout_ms);
  if (rc) return rc;
  size_t len;
  if (kw_frame_peek(in->data, in->len, 64 << 20, &len) == KW_ERR_TOO_LARGE) return WIRE_CLOSED;
  return fill(fd, in, 4 + len, timeout_ms);
}

int logtail_open(logtail *t, const char *path) {
  t->pending_len = 0;
  t->fd = open(path, O_RDONLY);
  if (t->fd < 0) return -1;
  lseek(t->fd, 0, SEEK_END); /* only what the broker writes from now on */
  return 0;
}

void logtail_poll(logtail *t, void (*fn)(void *ctx, const char *line), void *ctx) {
  char buf[65536];
  ssize_t n;
  while (t->fd >= 0 && (n = read(t->fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (t->pending_len < sizeof t->pending - 1) t->pending[t->pending_len++] = buf[i]; /* long lines are cut */
        continue;
      }
      t->pending[t->pending_len] = 0;
      fn(ctx, t->pending);
      t->pending_len = 0;
    }
  }
}

void logtail_close(logtail *t) {
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
}
