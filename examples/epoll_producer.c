/* Driving kwire from an existing epoll loop: the loop owns the waiting; kwire says
 * which sockets it wants watched (kw_client_fds), when it next needs a step without
 * I/O (kw_client_next_timeout), and does its work in kw_client_step.
 *
 *   example_epoll_producer BROKERS TOPIC [COUNT]
 *
 * Produces COUNT OrderCreated events keyed by order id and prints what was delivered. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "kwire.h"

typedef struct app {
  int delivered, failed;
} app;

static void on_delivery(void *ud, const kw_delivery_report *dr) {
  app *a = ud;
  if (dr->err) {
    a->failed++;
    fprintf(stderr, "not delivered: %s\n", kw_strerror(dr->err));
  } else {
    a->delivered++;
  }
}

/* Makes the epoll set match what kwire wants right now (sockets come and go as
 * brokers connect and reconnect, so this runs every iteration). */
static int sync_epoll(int ep, kw_client *cl, kw_pollfd *fds, int max, int *registered, int *n_registered) {
  int n = kw_client_fds(cl, fds, max);
  if (n > max) n = max;
  for (int i = 0; i < *n_registered; i++) epoll_ctl(ep, EPOLL_CTL_DEL, registered[i], NULL);
  for (int i = 0; i < n; i++) {
    struct epoll_event ev = {.events = ((fds[i].events & POLLIN) ? EPOLLIN : 0u) | ((fds[i].events & POLLOUT) ? EPOLLOUT : 0u),
                             .data.fd = fds[i].fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &ev);
    registered[i] = fds[i].fd;
  }
  *n_registered = n;
  return n;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s BROKERS TOPIC [COUNT]\n", argv[0]);
    return 2;
  }
  int count = argc > 3 ? atoi(argv[3]) : 1000;
  char err[256];
  kw_config *conf = kw_config_new();
  if (kw_config_set(conf, "bootstrap.servers", argv[1], err, sizeof err) != KW_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  kw_client *cl = kw_producer_new(conf, err, sizeof err);
  kw_config_free(conf);
  if (!cl) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  app a = {0, 0};
  kw_client_set_delivery_cb(cl, on_delivery, &a);

  for (int i = 0; i < count; i++) {
    char key[32], event[128];
    int kn = snprintf(key, sizeof key, "order-%d", i % 100);
    int en = snprintf(event, sizeof event, "{\"event_type\":\"OrderCreated\",\"event_version\":1,\"n\":%d}", i);
    if (kw_produce(cl, argv[2], KW_PARTITION_UA, key, (size_t)kn, event, (size_t)en, NULL, 0, 0, NULL) != KW_OK) {
      fprintf(stderr, "queue full or error at %d\n", i);
      break;
    }
  }

  int ep = epoll_create1(0);
  kw_pollfd fds[32];
  int registered[32], n_registered = 0;
  struct epoll_event events[32];
  while (a.delivered + a.failed < count) {
    sync_epoll(ep, cl, fds, 32, registered, &n_registered);
    int timeout = kw_client_next_timeout(cl);
    int n = epoll_wait(ep, events, 32, timeout < 0 || timeout > 1000 ? 1000 : timeout);
    /* Report readiness back in kwire's terms and let it work. */
    for (int i = 0; i < n_registered; i++) fds[i].revents = 0;
    for (int k = 0; k < n; k++)
      for (int i = 0; i < n_registered; i++)
        if (fds[i].fd == events[k].data.fd)
          fds[i].revents = (short)(((events[k].events & EPOLLIN) ? POLLIN : 0) | ((events[k].events & EPOLLOUT) ? POLLOUT : 0) |
                                   ((events[k].events & (EPOLLERR | EPOLLHUP)) ? POLLERR : 0));
    kw_client_step(cl, fds, n_registered);
  }
  printf("delivered %d, failed %d\n", a.delivered, a.failed);
  close(ep);
  kw_client_destroy(cl);
  return a.failed ? 1 : 0;
}
