/* kwcat drives its client itself (kwire has no threads): one poll(2) over the client's
 * sockets and, while producing, the input kwcat reads, then a step of the client with
 * what is ready. Every socket the client has is watched: one left out is never read (a
 * connection on it never even completes), and its partitions' records never come. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include "kwcat.h"

/* Kept between waits, grown to the most sockets the client has had. */
static kw_pollfd *kf;     /* the client's sockets */
static struct pollfd *pf; /* pf[0]: kwcat's own fd; pf[1 + i]: kf[i] */
static int cap;           /* entries kf holds (pf one more) */

static bool make_room(int n) {
  if (pf && n <= cap) return true;
  kw_pollfd *k = realloc(kf, sizeof *k * (size_t)(n > 0 ? n : 1));
  if (!k) return false;
  kf = k;
  struct pollfd *p = realloc(pf, sizeof *p * ((size_t)n + 1));
  if (!p) return false;
  pf = p;
  cap = n;
  return true;
}

int kwcat_wait(kw_client *cl, int fd, int max_ms) {
  int n = 0;
  /* kw_client_fds says how many there are even when more than fit: grow and ask again. */
  while (cl && (n = kw_client_fds(cl, kf, cap)) > cap)
    if (!make_room(n)) return KW_ERR_NOMEM;
  if (!make_room(n)) return KW_ERR_NOMEM;
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
