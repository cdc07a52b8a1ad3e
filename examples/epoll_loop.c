/* See epoll_loop.h. */
#define _POSIX_C_SOURCE 200809L
#include "epoll_loop.h"
#include <poll.h>

int epoll_kw_sync(epoll_kw *e, kw_client *cl) {
  int max = 32;
  int n = kw_client_fds(cl, e->fds, max);
  if (n > max) n = max;
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

void epoll_kw_free(epoll_kw *e) { (void)e; }
