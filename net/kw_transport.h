/* How a connection moves bytes: a small function table so TLS sits where plain TCP
 * sits. All calls are nonblocking; KW_ERR_WOULD_BLOCK means "try again when the fd
 * is ready". tctx is the transport's per-connection state (NULL for TCP). */
#ifndef KW_NET_TRANSPORT_H
#define KW_NET_TRANSPORT_H
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct kw_transport_ops {
  const char *name;
  /* After the TCP connect completed: 0 when ready, KW_ERR_WOULD_BLOCK to wait for
   * *want_events (POLLIN/POLLOUT), or an error. TCP is ready at once. */
  int (*handshake)(void *tctx, int fd, short *want_events);
  /* Bytes read (> 0), KW_ERR_WOULD_BLOCK, KW_ERR_DISCONNECTED or KW_ERR_IO. */
  ssize_t (*recv)(void *tctx, int fd, void *buf, size_t len);
  /* Bytes written (>= 0), KW_ERR_WOULD_BLOCK or KW_ERR_IO. */
  ssize_t (*sendv)(void *tctx, int fd, const struct iovec *iov, int iovcnt);
  /* Frees tctx (the fd is closed by the caller). */
  void (*close)(void *tctx);
  /* Poll events the transport needs besides the caller's (TLS: a read that must write
   * first, or the reverse); 0 when none. */
  short (*extra_events)(void *tctx);
  /* Why the last call failed, in words (certificate reason, TLS alert); "" if unknown. */
  void (*describe)(void *tctx, char *buf, size_t len);
} kw_transport_ops;

extern const kw_transport_ops kw_transport_tcp;
/* Through the simulator's network hooks (core/kw_hooks.h); fd is its handle, which
 * kw_hooked_close_handle gives back (never close(2)). */
extern const kw_transport_ops kw_transport_hooked;
void kw_hooked_close_handle(int handle);

/* Nonblocking TCP connect to one resolved address: 0 connected, KW_ERR_WOULD_BLOCK
 * in progress (wait for POLLOUT, then kw_tcp_connect_result), or an error. */
int kw_tcp_connect(const void *sockaddr, unsigned addrlen, int family, int *fd_out);
int kw_tcp_connect_result(int fd);

#endif
