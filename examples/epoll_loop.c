/* See epoll_loop.h. */
#define _POSIX_C_SOURCE 200809L
#include "epoll_loop.h"
#include <poll.h>
#include <stdlib.h>

/* Room for n sockets in both arrays (what is registered now is kept). */
static int make_room(epoll_kw *e, int n) {
  kw_pollfd *fds = realloc(e->fds, sizeof *fds * (size_t)n);
  if (!fds) return -1;
  e->fds = fds;
  int *reg = realloc(e->registered, sizeof *reg * (size_t)n);
  if (!reg) return -1;
  e->registered = reg;
  e->cap = n;
  return 0;
}

int epoll_kw_sync(epoll_kw *e, kw_client *cl) {
  /* Every socket, however many brokers there are: one left out is never read, and a
   * connection on it never even completes. kw_client_fds says how many there are even
   * when they do not fit: grow and ask again. */
  int n;
  while ((n = kw_client_fds(cl, e->fds, e->cap)) > e->cap)
    if (make_room(e, n) < 0) return -1;
  for (int i = 0; i < e->n_registered; i++) epoll_ctl(e->ep, EPOLL_CTL_DEL, e->registered[i], NULL);
  for (int i = 0; i < n; i++) {
    struct epoll_event ev = {.events = ((e->fds[i].events & POLLIN) ? EPOLLIN : 0u) |
                                       ((e->fds[i].events & POLLOUT) ? EPOLLOUT : 0u),
                             .data.fd = e->fds[i].fd};
    epoll_ctl(e->ep, EPOLL_CTL_ADD, e->fds[i].fd, &ev);
    e->registered[i] = e->fds[i].fd;
  }
  e->n = e->n_registered = n;
  return 0;
}

int epoll_kw_step(epoll_kw *e, kw_client *cl, const struct epoll_event *ev, int n_ev) {
  for (int i = 0; i < e->n; i++) e->fds[i].revents = 0;
  for (int k = 0; k < n_ev; k++)
    for (int i = 0; i < e->n; i++)
      if (e->fds[i].fd == ev[k].data.fd)
        e->fds[i].revents = (short)(((ev[k].events & EPOLLIN) ? POLLIN : 0) | ((ev[k].events & EPOLLOUT) ? POLLOUT : 0) |
                                    ((ev[k].events & (EPOLLERR | EPOLLHUP)) ? POLLERR : 0));
  return kw_client_step(cl, e->fds, e->n);
}

void epoll_kw_free(epoll_kw *e) {
  free(e->fds);
  free(e->registered);
  *e = (epoll_kw){.ep = e->ep};
}
