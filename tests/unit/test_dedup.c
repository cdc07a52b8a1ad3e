/* The idempotent-consumer helper: remembers exactly the last `capacity` ids. */
#include <criterion/criterion.h>
#include <stdio.h>
#include "kwire/event.h"
#include "client/kw_metrics.h"

Test(dedup, remembers_within_capacity_and_forgets_the_oldest) {
  kw_dedup *d = kw_dedup_new(100);
  char id[40];
  for (int i = 0; i < 100; i++) {
    snprintf(id, sizeof id, "evt-%d", i);
    cr_assert_eq(kw_dedup_check_and_add(d, id), 0, "first sight of %s", id);
  }
  for (int i = 0; i < 100; i++) {
    snprintf(id, sizeof id, "evt-%d", i);
    cr_assert_eq(kw_dedup_check_and_add(d, id), 1, "%s seen", id);
  }
  cr_assert_eq(kw_dedup_check_and_add(d, "evt-100"), 0);
  cr_assert_eq(kw_dedup_check_and_add(d, "evt-0"), 0, "the oldest was forgotten to make room");
  cr_assert_eq(kw_dedup_check_and_add(d, "evt-50"), 1);
  for (int i = 0; i < 100000; i++) { /* churn: every chain stays consistent */
    snprintf(id, sizeof id, "churn-%d", i);
    cr_assert_eq(kw_dedup_check_and_add(d, id), 0);
  }
  for (int i = 99900; i < 100000; i++) {
    snprintf(id, sizeof id, "churn-%d", i);
    cr_assert_eq(kw_dedup_check_and_add(d, id), 1);
  }
  cr_assert_eq(kw_dedup_check_and_add(d, "churn-99899"), 0);
  kw_dedup_free(d);
}

Test(metrics, histogram_quantiles_and_renderings) {
  kw_hist h = {0};
  for (int i = 0; i < 99; i++) kw_hist_add(&h, 1000); /* 1 ms */
  kw_hist_add(&h, 1000000);                          /* one at 1 s */
  cr_assert(kw_hist_quantile(&h, 0.5) >= 1000 && kw_hist_quantile(&h, 0.5) <= 2048);
  cr_assert(kw_hist_quantile(&h, 0.999) >= 1000000);
  kw_metrics m = {0};
  m.handled = 7;
  m.dead_lettered = 1;
  m.end_to_end = h;
  char buf[4096];
  int n = kw_metrics_json(&m, "svc", buf, sizeof buf);
  cr_assert(n > 0 && (size_t)n < sizeof buf);
  cr_assert(strstr(buf, "\"handled\":7") && strstr(buf, "\"dead_lettered\":1") && strstr(buf, "\"client_id\":\"svc\""),
            "%s", buf);
  n = kw_metrics_prometheus(&m, "svc", buf, sizeof buf);
  cr_assert(strstr(buf, "kwire_handled_total{client_id=\"svc\"} 7\n"), "%s", buf);
  cr_assert(strstr(buf, "# TYPE kwire_end_to_end_seconds summary"));
  char small[16];
  n = kw_metrics_json(&m, "svc", small, sizeof small);
  cr_assert(n > (int)sizeof small && strlen(small) == sizeof small - 1, "cut, NUL-terminated, full length returned");
}
