/* The simulator's transport: a connection's bytes go through the network hooks of
 * core/kw_hooks.h instead of a socket. Plaintext only (TLS needs a real socket under
 * OpenSSL); the fd the connection holds is the simulator's handle. */
#include "core/kw_hooks.h"
#include "kwire/error.h"
#include "net/kw_transport.h"

static int hooked_handshake(void *t, int handle, short *want) {
  (void)t;
  (void)handle;
  *want = 0;
  return 0;
}

/* The hooks are removed only after the last client is gone; a connection that outlives
 * them (a bug of the simulator's) reads as disconnected rather than crashing. */
static ssize_t hooked_recv(void *t, int handle, void *buf, size_t len) {
  (void)t;
  const kw_hooks *h = kw_hooks_net();
  return h ? h->recv(h->ud, handle, buf, len) : KW_ERR_DISCONNECTED;
}

static ssize_t hooked_sendv(void *t, int handle, const struct iovec *iov, int iovcnt) {
  (void)t;
  const kw_hooks *h = kw_hooks_net();
  return h ? h->sendv(h->ud, handle, iov, iovcnt) : KW_ERR_DISCONNECTED;
}

static void hooked_close(void *t) { (void)t; }

static short hooked_extra_events(void *t) {
  (void)t;
  return 0;
}

static void hooked_describe(void *t, char *buf, size_t len) {
  (void)t;
  if (len) buf[0] = 0;
}

void kw_hooked_close_handle(int handle) {
  const kw_hooks *h = kw_hooks_net();
  if (h) h->close(h->ud, handle);
}

const kw_transport_ops kw_transport_hooked = {"hooked",     hooked_handshake,    hooked_recv,    hooked_sendv,
                                              hooked_close, hooked_extra_events, hooked_describe};
