/* The event router's preconditions, checked without a broker (clients connect only when
 * driven): a group consumer that leaves storing offsets to the router, nothing else. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "kwire.h"

/* A client's configuration; no broker listens there, and none is needed. */
static kw_config *conf_with(const char *group, const char *auto_store) {
  kw_config *c = kw_config_new();
  cr_assert(c);
  cr_assert_eq(kw_config_set(c, "bootstrap.servers", "127.0.0.1:9", NULL, 0), 0);
  if (group) cr_assert_eq(kw_config_set(c, "group.id", group, NULL, 0), 0);
  if (auto_store) cr_assert_eq(kw_config_set(c, "enable.auto.offset.store", auto_store, NULL, 0), 0);
  return c;
}

static kw_client *consumer_with(const char *group, const char *auto_store) {
  kw_config *c = conf_with(group, auto_store);
  char err[256];
  kw_client *k = kw_consumer_new(c, err, sizeof err);
  cr_assert(k, "%s", err);
  kw_config_free(c);
  return k;
}

Test(event_router, refuses_a_consumer_that_stores_offsets_on_poll) {
  kw_client *k = consumer_with("svc", NULL); /* enable.auto.offset.store defaults to true */
  char err[256] = "";
  cr_assert_null(kw_event_router_new(k, err, sizeof err));
  cr_assert(strstr(err, "enable.auto.offset.store=false"), "the reason names the property: %s", err);
  kw_client_destroy(k);

  k = consumer_with("svc", "true");
  err[0] = 0;
  cr_assert_null(kw_event_router_new(k, err, sizeof err));
  cr_assert(strstr(err, "enable.auto.offset.store"), "%s", err);
  kw_client_destroy(k);
}

Test(event_router, refuses_clients_without_a_group) {
  char err[256] = "";
  kw_client *k = consumer_with(NULL, "false");
  cr_assert_eq(kw_consumer_has_group(k), 0);
  cr_assert_null(kw_event_router_new(k, err, sizeof err));
  cr_assert(strstr(err, "group.id"), "%s", err);
  kw_client_destroy(k);

  kw_config *c = conf_with(NULL, NULL);
  kw_client *p = kw_producer_new(c, err, sizeof err);
  kw_config_free(c);
  cr_assert(p, "%s", err);
  cr_assert_eq(kw_consumer_has_group(p), 0);
  err[0] = 0;
  cr_assert_null(kw_event_router_new(p, err, sizeof err));
  cr_assert(strstr(err, "group.id"), "%s", err);
  kw_client_destroy(p);
  cr_assert_null(kw_event_router_new(NULL, NULL, 0));
}

Test(event_router, accepts_a_group_consumer_that_leaves_storing_to_it) {
  kw_client *k = consumer_with("svc", "false");
  cr_assert_eq(kw_consumer_has_group(k), 1);
  char v[16];
  cr_assert_gt(kw_config_get(kw_client_config(k), "group.id", v, sizeof v), 0);
  cr_assert_str_eq(v, "svc");
  char err[256] = "";
  kw_event_router *r = kw_event_router_new(k, err, sizeof err);
  cr_assert(r, "%s", err);
  /* Nothing to wait for yet: no event held, and a step does no harm without a broker. */
  cr_assert_eq(kw_event_router_pending(r), 0);
  cr_assert_geq(kw_event_router_step(r, NULL, 0), 0);
  kw_pollfd fds[8];
  cr_assert_geq(kw_event_router_fds(r, fds, 8), 0);
  char stats[2048];
  int n = kw_event_router_stats_json(r, stats, sizeof stats);
  cr_assert(n > 0 && (size_t)n < sizeof stats);
  cr_assert(strstr(stats, "{\"client_id\":\"kwire\",\"produced\":0,"), "%s", stats);
  kw_event_router_free(r);
  kw_client_destroy(k);
}

/* An allocator that counts what is outstanding. */
typedef struct counting {
  long live;
  size_t bytes;
} counting;

static void *count_alloc(void *ud, size_t n) {
  counting *c = ud;
  size_t *p = malloc(n + sizeof(size_t) * 2);
  if (!p) return NULL;
  *p = n;
  c->live++;
  c->bytes += n;
  return p + 2;
}

static void *count_realloc(void *ud, void *ptr, size_t n) {
  counting *c = ud;
  if (!ptr) return count_alloc(ud, n);
  size_t *p = (size_t *)ptr - 2, old = *p;
  size_t *q = realloc(p, n + sizeof(size_t) * 2);
  if (!q) return NULL;
  *q = n;
  c->bytes = c->bytes - old + n;
  return q + 2;
}

static void count_free(void *ud, void *ptr) {
  counting *c = ud;
  if (!ptr) return;
  size_t *p = (size_t *)ptr - 2;
  c->live--;
  c->bytes -= *p;
  free(p);
}

Test(event_router, allocates_through_the_consumers_allocator) {
  counting count = {0, 0};
  kw_mem mem = {&count, count_alloc, count_realloc, count_free};
  kw_config *c = conf_with("svc", "false");
  cr_assert_eq(kw_config_set_mem(c, &mem), 0);
  kw_client *k = kw_consumer_new(c, NULL, 0);
  kw_config_free(c);
  cr_assert(k);
  long live_before = count.live;
  size_t bytes_before = count.bytes;
  kw_event_router *r = kw_event_router_new(k, NULL, 0);
  cr_assert(r);
  cr_assert_gt(count.live, live_before, "the router and its dead-letter producer use the consumer's allocator");
  size_t bytes_router = count.bytes;
  cr_assert_eq(kw_event_router_set_dedup(r, 1000), 0);
  cr_assert_geq(count.bytes - bytes_router, 1000 * 37, "the dedup set's ids come from it too");
  cr_assert_eq(kw_event_route(r, "OrderCreated", 1, 1, NULL, NULL), KW_ERR_INVALID_ARG);
  kw_event_router_free(r);
  cr_assert_eq(count.live, live_before, "everything given back");
  cr_assert_eq(count.bytes, bytes_before);
  kw_client_destroy(k);
  cr_assert_eq(count.live, 0);
}
