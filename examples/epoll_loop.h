/* Driving a kw_client from an epoll(7) loop the application owns: copy epoll_loop.h and
 * epoll_loop.c into your program. Each turn of the loop:
 *
 *   epoll_kw_sync(&e, cl);                  the epoll set holds the sockets kwire wants
 *   int n = epoll_wait(e.ep, ev, N, ...);   at most kw_client_next_timeout(cl) ms
 *   epoll_kw_step(&e, cl, ev, n);           readiness in kwire's terms, then its work
 *
 * The adapter keeps every socket the client reports, however many brokers there are:
 * it grows to what kw_client_fds says. epoll_kw_free releases that. */
#ifndef EPOLL_LOOP_H
#define EPOLL_LOOP_H
#include <sys/epoll.h>
#include "kwire.h"

typedef struct epoll_kw {
  int ep;          /* the application's epoll set; the rest starts zeroed */
  kw_pollfd *fds;  /* the client's sockets as of the last sync: all of them */
  int *registered; /* what this adapter put in ep */
  int n, n_registered, cap;
} epoll_kw;

/* Makes the epoll set hold exactly the sockets the client wants watched now (they come
 * and go as brokers connect and reconnect, so call it every turn). 0, or -1 when memory
 * ran out. */
int epoll_kw_sync(epoll_kw *e, kw_client *cl);
/* Hands what epoll_wait reported for the client's sockets to the client and lets it do
 * its work (kw_client_step's result). */
int epoll_kw_step(epoll_kw *e, kw_client *cl, const struct epoll_event *ev, int n_ev);
/* Frees what the adapter holds (not the epoll set: that is the application's). */
void epoll_kw_free(epoll_kw *e);

#endif
