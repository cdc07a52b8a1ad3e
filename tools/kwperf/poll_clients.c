#define _POSIX_C_SOURCE 200809L
#include "poll_clients.h"
#include <poll.h>
#include "perf_common.h"

int kwperf_poll_clients(kw_client *const *cls, int n, int timeout_ms) {
  enum { MAX_FDS = 64 };
  kw_pollfd fds[PERF_RB_MEMBERS][MAX_FDS];
  struct pollfd pfds[PERF_RB_MEMBERS * MAX_FDS];
  int nf[PERF_RB_MEMBERS] = {0}, np = 0, wait = timeout_ms;
  for (int i = 0; i < n && i < PERF_RB_MEMBERS; i++) {
    if (!cls[i]) continue;
    int t = kw_client_next_timeout(cls[i]);
    if (t >= 0 && t < wait) wait = t;
    nf[i] = kw_client_fds(cls[i], fds[i], MAX_FDS);
    if (nf[i] > MAX_FDS) nf[i] = MAX_FDS;
    for (int k = 0; k < nf[i]; k++) pfds[np++] = (struct pollfd){fds[i][k].fd, fds[i][k].events, 0};
  }
  int r = poll(pfds, (nfds_t)np, wait);
  np = 0;
  for (int i = 0; i < n && i < PERF_RB_MEMBERS; i++) {
    if (!cls[i]) continue;
    for (int k = 0; k < nf[i]; k++, np++) fds[i][k].revents = r > 0 ? pfds[np].revents : 0;
    kw_client_step(cls[i], fds[i], nf[i]);
  }
  return 0;
}
