/* The seam a simulator plugs into: time, randomness and the network, each read in one
 * place. Process-wide: install before creating clients, remove (NULL) after the last is
 * destroyed. Single-threaded use only, as the library itself.
 *
 * Process-wide rather than per client because the clock and the seeds are read deep in
 * layers that never see a client (core, net); a simulator runs every client of the
 * process against one virtual cluster anyway. Internal: not part of the public API. */
#ifndef KW_CORE_HOOKS_H
#define KW_CORE_HOOKS_H
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct kw_hooks {
  void *ud;
  int64_t (*now_ms)(void *ud);  /* monotonic milliseconds */
  int64_t (*wall_ms)(void *ud); /* wall-clock milliseconds (record timestamps) */
  uint64_t (*random)(void *ud); /* every seed the library makes */
  /* A connection is a handle (>= 0) the other calls take, never a real descriptor.
   * connect: 0 when connected (the ApiVersions request follows at once, as after a
   * completed TCP connect), or KW_ERR_CONNECT / KW_ERR_RESOLVE. */
  int (*connect)(void *ud, const char *host, int port, int *handle);
  /* > 0, KW_ERR_WOULD_BLOCK, KW_ERR_DISCONNECTED, KW_ERR_IO */
  ssize_t (*recv)(void *ud, int handle, void *buf, size_t len);
  /* >= 0, KW_ERR_WOULD_BLOCK, KW_ERR_DISCONNECTED, KW_ERR_IO */
  ssize_t (*sendv)(void *ud, int handle, const struct iovec *iov, int iovcnt);
  void (*close)(void *ud, int handle);
  /* poll(2) over handles: fills revents, returns how many have any (0 on timeout); a
   * handle is reported as a socket would be (POLLOUT while it takes bytes, POLLIN when
   * bytes or the peer's close wait). May advance virtual time by up to timeout_ms. */
  int (*poll)(void *ud, struct pollfd *fds, int n, int timeout_ms);
} kw_hooks;

/* Copies *h (NULL: the real system again). Any pointer may be NULL (that part stays
 * real), except that connect, recv, sendv, close and poll come all together: when one
 * of them is missing the network stays real (sockets and poll(2)). Under network hooks
 * kw_client_fds hands out the simulator's handles. */
void kw_hooks_install(const kw_hooks *h);
/* The installed hooks, NULL when none. */
const kw_hooks *kw_hooks_active(void);
/* The hooks when all five network calls are installed, else NULL. */
const kw_hooks *kw_hooks_net(void);
/* The hook's value, else a fresh value from the system (/dev/urandom, else
 * time ^ pid ^ an address, mixed). */
uint64_t kw_random_u64(void);

/* What kw_hooks_active returns; read directly only by the clock, so that with no hooks
 * installed reading the time costs one predictable branch and no call. */
extern const kw_hooks *kw_hooks_current;

#endif
