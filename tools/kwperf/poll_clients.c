/* See poll_clients.h. Every socket of every client is watched: one left out is never
 * read (a connection on it never even completes) until some other call serves it. */
#define _POSIX_C_SOURCE 200809L
#include "poll_clients.h"
#include <poll.h>
#include <stdlib.h>

/* Kept between calls, grown to the most sockets the clients have had together. */
static kw_pollfd *kf;
static struct pollfd *pf;
static int cap;

static bool make_room(int n) {
  kw_pollfd *k = realloc(kf, sizeof *k * (size_t)n);
  if (!k) return false;
  kf = k;
  struct pollfd *p = realloc(pf, sizeof *p * (size_t)n);
  if (!p) return false;
  pf = p;
  cap = n;
  return true;
}

int kwperf_poll_clients(kw_client *const *cls, int n, int timeout_ms) {
  int np = 0, wait = timeout_ms;
  for (int i = 0; i < n; i++) {
    if (!cls[i]) continue;
    int t = kw_client_next_timeout(cls[i]);
    if (t >= 0 && t < wait) wait = t;
    int got;
    /* kw_client_fds says how many there are even when more than fit: grow and ask again. */
    while ((got = kw_client_fds(cls[i], kf ? kf + np : NULL, cap - np)) > cap - np)
      if (!make_room(np + got)) return KW_ERR_NOMEM;
    np += got;
  }
  for (int i = 0; i < np; i++) pf[i] = (struct pollfd){kf[i].fd, kf[i].events, 0};
  int r = poll(pf, (nfds_t)np, wait);
  for (int i = 0; i < np; i++) kf[i].revents = r > 0 ? pf[i].revents : 0;
  /* Each client acts on its own sockets in the set: kw_client_step matches them by number. */
  for (int i = 0; i < n; i++)
    if (cls[i]) kw_client_step(cls[i], kf, np);
  return 0;
}
