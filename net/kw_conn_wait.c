/* A blocking wait over one connection for tools and tests (the library itself never
 * blocks: callers drive kw_conn_step from their loop). */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include "core/kw_clock.h"
#include "kwire/error.h"
#include "net/kw_conn.h"

int kw_conn_wait(kw_conn *c, bool (*done)(kw_conn *c, void *ud), void *ud, int timeout_ms) {
  int64_t end = kw_now_ms() + timeout_ms;
  while (!done(c, ud)) {
    int64_t now = kw_now_ms();
    if (kw_conn_get_state(c) == KW_CONN_DOWN)
      return kw_conn_last_error(c) ? kw_conn_last_error(c) : KW_ERR_DISCONNECTED;
    if (now >= end) return KW_ERR_TIMED_OUT;
    int64_t wake = kw_conn_deadline(c);
    int64_t wait = (wake < end ? wake : end) - now;
    struct pollfd p = {kw_conn_fd(c), kw_conn_events(c), 0};
    int n = poll(&p, 1, (int)(wait < 0 ? 0 : wait > 1000 ? 1000 : wait));
    kw_conn_step(c, n > 0 ? p.revents : 0, kw_now_ms());
  }
  return 0;
}

static bool is_ready(kw_conn *c, void *ud) {
  (void)ud;
  return kw_conn_get_state(c) == KW_CONN_READY;
}

int kw_conn_wait_ready(kw_conn *c, int timeout_ms) { return kw_conn_wait(c, is_ready, NULL, timeout_ms); }
