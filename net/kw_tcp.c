/* Plain TCP: nonblocking sockets with TCP_NODELAY (Kafka requests are small and
 * latency-bound; batching happens in the producer, not in Nagle). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kwire/error.h"
#include "net/kw_transport.h"

int kw_tcp_connect(const void *sa, unsigned len, int family, int *fd_out) {
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0) return KW_ERR_IO;
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    close(fd);
    return KW_ERR_IO;
  }
  *fd_out = fd;
  if (connect(fd, sa, (socklen_t)len) == 0) return 0;
  if (errno == EINPROGRESS) return KW_ERR_WOULD_BLOCK;
  return KW_ERR_CONNECT;
}

int kw_tcp_connect_result(int fd) {
  int soerr = 0;
  socklen_t n = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &n) < 0) return KW_ERR_CONNECT;
  return soerr == 0 ? 0 : KW_ERR_CONNECT;
}

static int tcp_handshake(void *t, int fd, short *want) {
  (void)t;
  (void)fd;
  *want = 0;
  return 0;
}

static ssize_t tcp_recv(void *t, int fd, void *buf, size_t len) {
  (void)t;
  ssize_t n = recv(fd, buf, len, 0);
  if (n > 0) return n;
  if (n == 0) return KW_ERR_DISCONNECTED;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return KW_ERR_WOULD_BLOCK;
  return errno == ECONNRESET ? KW_ERR_DISCONNECTED : KW_ERR_IO;
}

static ssize_t tcp_sendv(void *t, int fd, const struct iovec *iov, int iovcnt) {
  (void)t;
  struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
  ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
  if (n >= 0) return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return KW_ERR_WOULD_BLOCK;
  return errno == EPIPE || errno == ECONNRESET ? KW_ERR_DISCONNECTED : KW_ERR_IO;
}

static void tcp_close(void *t) { (void)t; }

static short tcp_extra_events(void *t) {
  (void)t;
  return 0;
}

static void tcp_describe(void *t, char *buf, size_t len) {
  (void)t;
  if (len) buf[0] = 0;
}

const kw_transport_ops kw_transport_tcp = {"tcp",     tcp_handshake,    tcp_recv,    tcp_sendv,
                                           tcp_close, tcp_extra_events, tcp_describe};
