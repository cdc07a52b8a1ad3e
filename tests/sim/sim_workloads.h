/* kwsim_run's workloads: each runs clients against a simulated cluster for one seed
 * and checks what must hold at the end. */
#ifndef KW_TESTS_SIM_WORKLOADS_H
#define KW_TESTS_SIM_WORKLOADS_H
#include <stddef.h>
#include <stdint.h>
#include "kwire/config.h"
#include "kwire/mem.h"
#include "sim/kw_sim.h"

/* A counting allocator (sim_common.c): give &m->mem to kw_config_set_mem. */
typedef struct sim_mem {
  kw_mem mem;
  size_t live, peak;
} sim_mem;
void sim_mem_init(sim_mem *m);
/* The most a workload's client may hold: its queues' configured limits are far above
 * what the workloads write, so this catches growth that nothing bounds. */
#define SIM_MEM_BOUND (8u << 20)

/* A workload's verdict: the first invariant that failed, in words (why: whylen bytes). */
typedef struct sim_verdict {
  char *why;
  size_t whylen;
  bool bad;
} sim_verdict;
/* Records the first failure only: the rest follow from it. */
void sim_fail(sim_verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A client configuration for the cluster: its bootstrap servers, and kwire's log kept
 * quiet unless the run is traced (a seed's warnings are expected: faults cause them). */
kw_config *sim_client_config(kw_sim *s, bool trace);

typedef struct sim_totals {
  uint64_t acked, failed; /* delivery reports over every seed */
} sim_totals;

/* One seed: the cluster built from cfg, every workload, every invariant. 0 when all
 * held; else 1 with the first violation in why. *st: what the cluster did. */
int sim_run_seed(const kw_sim_config *cfg, bool trace, sim_totals *totals, kw_sim_stats *st, char *why,
                 size_t whylen);

/* The idempotent producer: keyed records, acks=all. */
int sim_producer_workload(kw_sim *s, bool trace, sim_totals *totals, char *why, size_t whylen);

/* A consumer in assign mode reads every partition of topic back from the start. */
int sim_consumer_workload(kw_sim *s, const char *topic, int32_t n_parts, bool trace, char *why, size_t whylen);

/* Three group members (classic range, cooperative-sticky or KIP-848, by seed) read the
 * topic with commit-after-success while members leave, join and stall. */
int sim_group_workload(kw_sim *s, const char *topic, int32_t n_parts, uint64_t seed, bool trace, char *why,
                       size_t whylen);

/* The event router: retries, dead letters, per-key order, offsets committed after success. */
int sim_router_workload(kw_sim *s, bool trace, char *why, size_t whylen);

#endif
