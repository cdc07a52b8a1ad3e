/* kw_stats sets: counters added up from several sources (clients, an application's own)
 * and rendered in the format of a client's statistics. */
#include <criterion/criterion.h>
#include <string.h>
#include "kwire.h"

Test(stats, counters_add_up_and_render_like_a_client) {
  kw_stats *a = kw_stats_new(NULL), *b = kw_stats_new(kw_mem_default());
  cr_assert(a && b);
  kw_stats_count(a, KW_COUNTER_HANDLED, 7);
  kw_stats_count(a, KW_COUNTER_INCREMENTAL_FETCHES, 2);
  kw_stats_count(b, KW_COUNTER_HANDLED, 1);
  kw_stats_count(b, KW_COUNTER_PRODUCED, 3);
  kw_stats_end_to_end(b, 1000);
  kw_stats_add(a, b);
  cr_assert_eq(kw_stats_counter(a, KW_COUNTER_HANDLED), 8);
  cr_assert_eq(kw_stats_counter(a, KW_COUNTER_PRODUCED), 3);
  cr_assert_eq(kw_stats_counter(a, KW_COUNTER_INCREMENTAL_FETCHES), 2);
  cr_assert_eq(kw_stats_counter(a, KW_COUNTER_DEAD_LETTERED), 0);
  char buf[2048];
  kw_stats_json(a, "svc", buf, sizeof buf);
  cr_assert(strstr(buf, "{\"client_id\":\"svc\",\"produced\":3,"), "%s", buf);
  cr_assert(strstr(buf, ",\"handled\":8,") && strstr(buf, ",\"incremental_fetches\":2,"), "%s", buf);
  cr_assert(strstr(buf, "\"end_to_end_ms\":{\"count\":1,"), "%s", buf);
  kw_stats_prometheus(a, "svc", buf, sizeof buf);
  cr_assert(strstr(buf, "kwire_handled_total{client_id=\"svc\"} 8\n"), "%s", buf);

  /* A client's counters: a fresh producer has none, and adding it changes nothing. */
  kw_config *c = kw_config_new();
  cr_assert_eq(kw_config_set(c, "bootstrap.servers", "127.0.0.1:9", NULL, 0), 0); /* never contacted */
  kw_client *p = kw_producer_new(c, NULL, 0);
  kw_config_free(c);
  cr_assert(p);
  char before[2048];
  kw_stats_json(a, "svc", before, sizeof before);
  kw_stats_add_client(a, p);
  kw_stats_json(a, "svc", buf, sizeof buf);
  cr_assert_str_eq(buf, before);
  kw_client_destroy(p);

  kw_stats_clear(a);
  cr_assert_eq(kw_stats_counter(a, KW_COUNTER_HANDLED), 0);
  kw_stats_free(a);
  kw_stats_free(b);
}
