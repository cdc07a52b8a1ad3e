/* The consumer against kwsim (the simulated cluster, in the process): cases a real
 * broker shows only slowly or not on demand, counted in polls of virtual time. */
#include <criterion/criterion.h>
#include "kwire.h"
#include "sim/kw_sim.h"

static kw_sim *sim;

static void start(void) {
  kw_sim_config cfg = {.seed = 1, .n_brokers = 1};
  sim = kw_sim_new(&cfg);
  cr_assert_not_null(sim);
  cr_assert_eq(kw_sim_create_topic(sim, "t", 1, 1), 0);
  kw_sim_install(sim);
}

static void stop(void) {
  kw_sim_install(NULL);
  kw_sim_free(sim);
}

/* A partition of a topic that does not exist, assigned at an explicit offset, with
 * allow.auto.create.topics=false: the application gets KW_ERR_UNKNOWN_TOPIC, as it does
 * for an assignment at the beginning or the end. Before, an explicit offset skipped the
 * check: the partition waited for a leader forever and the application heard nothing. */
Test(consumer_sim, a_missing_topic_at_an_explicit_offset_is_reported, .init = start, .fini = stop) {
  kw_config *c = kw_config_new();
  char err[256];
  kw_config_set(c, "bootstrap.servers", kw_sim_bootstrap(sim), err, sizeof err);
  kw_config_set(c, "allow.auto.create.topics", "false", err, sizeof err);
  kw_client *cl = kw_consumer_new(c, err, sizeof err);
  kw_config_free(c);
  cr_assert_not_null(cl, "%s", err);
  cr_assert_eq(kw_consumer_assign(cl, "no-such-topic", 0, 0), 0);
  kw_message m = {0};
  int rc = 0;
  for (int k = 0; k < 100 && rc != 1; k++) rc = kw_consumer_poll(cl, &m, 100); /* 10 s of virtual time at most */
  cr_assert_eq(rc, 1, "no event for the missing topic in 10 s");
  cr_assert_eq(m.err, KW_ERR_UNKNOWN_TOPIC, "event %s", kw_errname(m.err));
  cr_assert_str_eq(m.topic, "no-such-topic");
  kw_client_destroy(cl);
}
