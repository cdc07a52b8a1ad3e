/* Driving kwire from an existing epoll loop: the loop owns the waiting; kwire says
 * which sockets it wants watched (kw_client_fds), when it next needs a step without
 * I/O (kw_client_next_timeout), and does its work in kw_client_step. The adapter in
 * epoll_loop.h/.c does the translation; copy it along with this loop.
 *
 *   example_epoll_producer BROKERS TOPIC [COUNT]
 *
 * Produces COUNT OrderCreated events keyed by order id and prints what was delivered. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "epoll_loop.h"
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

  int queued = 0; /* what will get a delivery report */
  for (int i = 0; i < count; i++) {
    char key[32], event[128];
    int kn = snprintf(key, sizeof key, "order-%d", i % 100);
    int en = snprintf(event, sizeof event, "{\"event_type\":\"OrderCreated\",\"event_version\":1,\"n\":%d}", i);
    if (kw_produce(cl, argv[2], KW_PARTITION_UA, key, (size_t)kn, event, (size_t)en, NULL, 0, 0, NULL) != KW_OK) {
      fprintf(stderr, "queue full or error at %d\n", i);
      break;
    }
    queued++;
  }

  epoll_kw e = {.ep = epoll_create1(0)};
  /* epoll_wait hands out at most 32 ready sockets per call; the others stay ready
   * (level-triggered) and come with the next call: this bounds a turn, not the set. */
  struct epoll_event events[32];
  while (a.delivered + a.failed < queued) {
    if (epoll_kw_sync(&e, cl) < 0) {
      fprintf(stderr, "out of memory\n");
      break;
    }
    int timeout = kw_client_next_timeout(cl);
    int n = epoll_wait(e.ep, events, 32, timeout < 0 || timeout > 1000 ? 1000 : timeout);
    epoll_kw_step(&e, cl, events, n);
  }
  printf("delivered %d, failed %d\n", a.delivered, a.failed);
  epoll_kw_free(&e);
  close(e.ep);
  kw_client_destroy(cl);
  return a.failed || queued < count ? 1 : 0;
}
