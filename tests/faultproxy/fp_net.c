/* Sockets: listeners that stand for brokers, and nonblocking upstream connections. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "fp.h"

int fp_parse_hostport(const char *s, char *host, size_t host_cap, int32_t *port) {
  const char *colon, *h = s;
  size_t hlen;
  if (*s == '[') { /* [v6]:port */
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') return -1;
    h = s + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return -1;
    hlen = (size_t)(colon - s);
  }
  char *end;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || p <= 0 || p > 65535 || hlen == 0 || hlen >= host_cap) return -1;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = (int32_t)p;
  return 0;
}

int fp_socket_setup(int fd) {
  int one = 1;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  /* Kafka clients write whole requests and wait: Nagle would only add delay. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return 0;
}

static int listen_ephemeral(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  inet_pton(AF_INET, FP_PROXY_HOST, &a.sin_addr);
  socklen_t alen = sizeof a;
  if (fp_socket_setup(fd) < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

long fp_listener_add(fp_proxy *px, const char *host, size_t host_len, int32_t port) {
  if (px->n_ls >= FP_MAX_LISTENERS || host_len == 0 || host_len >= sizeof px->ls[0].host) return -1;
  fp_listener *ls = realloc(px->ls, (px->n_ls + 1) * sizeof *ls);
  if (!ls) return -1;
  px->ls = ls;
  fp_listener *l = &ls[px->n_ls];
  memset(l, 0, sizeof *l);
  memcpy(l->host, host, host_len);
  l->up_port = port;
  l->fd = listen_ephemeral(&l->port);
  if (l->fd < 0) return -1;
  /* Resolved once here: a broker's advertised name does not move while a test runs. */
  char service[16];
  snprintf(service, sizeof service, "%d", (int)port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(l->host, service, &hints, &res) == 0 && res) {
    const struct addrinfo *pick = res; /* IPv4 first: "localhost" brokers listen on 127.0.0.1 */
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
      if (ai->ai_family == AF_INET) {
        pick = ai;
        break;
      }
    memcpy(&l->addr, pick->ai_addr, pick->ai_addrlen);
    l->addrlen = pick->ai_addrlen;
  } else {
    fp_log("cannot resolve %s: its clients will be closed at once", l->host);
  }
  if (res) freeaddrinfo(res);
  fp_log("listening on %s:%u for %s:%d", FP_PROXY_HOST, l->port, l->host, (int)port);
  return (long)px->n_ls++;
}

long fp_listener_for(fp_proxy *px, const char *host, size_t host_len, int32_t port) {
  for (size_t i = 0; i < px->n_ls; i++) {
    const fp_listener *l = &px->ls[i];
    if (l->up_port == port && strlen(l->host) == host_len && strncasecmp(l->host, host, host_len) == 0)
      return (long)i;
  }
  return fp_listener_add(px, host, host_len, port);
}

int fp_connect_nonblocking(const fp_listener *l, bool *in_progress) {
  *in_progress = false;
  if (l->addrlen == 0) return -1;
  int fd = socket(l->addr.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (fp_socket_setup(fd) < 0) {
    close(fd);
    return -1;
  }
  if (connect(fd, (const struct sockaddr *)&l->addr, l->addrlen) == 0) return fd;
  if (errno == EINPROGRESS) {
    *in_progress = true;
    return fd;
  }
  close(fd);
  return -1;
}
