/* kwcat drives its client itself (kwire has no threads): one poll(2) over the client's
 * sockets and, while producing, the input kwcat reads, then a step of the client with
 * what is ready. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include "kwcat.h"

#define MAX_CLIENT_FDS 64

int kwcat_wait(kw_client *cl, int fd, int max_ms) {
  kw_pollfd kf[MAX_CLIENT_FDS];
  struct pollfd pf[MAX_CLIENT_FDS + 1];
  int n = cl ? kw_client_fds(cl, kf, MAX_CLIENT_FDS) : 0;
  if (n > MAX_CLIENT_FDS) n = MAX_CLIENT_FDS;
  pf[0] = (struct pollfd){fd, POLLIN, 0}; /* fd < 0: poll(2) skips it */
  for (int i = 0; i < n; i++) pf[i + 1] = (struct pollfd){kf[i].fd, kf[i].events, 0};
  int wait = cl ? kw_client_next_timeout(cl) : -1;
  if (max_ms >= 0 && (wait < 0 || wait > max_ms)) wait = max_ms;
  int r = poll(pf, (nfds_t)n + 1, wait);
  if (r < 0 && errno != EINTR) return KW_ERR_IO;
  for (int i = 0; i < n; i++) kf[i].revents = r > 0 ? pf[i + 1].revents : 0;
  if (cl) kw_client_step(cl, kf, n);
  return r > 0 && pf[0].revents ? 1 : 0;
}
