/* kwsim_run: deterministic simulation runs of the whole client (issue 15). Each seed
 * builds a cluster (1-3 brokers), picks its faults, runs the workloads against it, and
 * checks the invariants at the end. A failing seed prints the one command that replays
 * it with a trace.
 *
 *   KW_SIM_SEEDS=N     seeds to run (default 200), from KW_SIM_FIRST (default 1)
 *   KW_SIM_SEED=S      one seed only (a replay)
 *   KW_SIM_TRACE=1     the cluster's events and the client's debug log on stderr
 *   KW_SIM_NO_FAULTS=1 no faults at all (to tell a model or workload problem from a fault's)
 *   KW_SIM_TWICE=N     the first N seeds run twice, their traces compared byte for byte
 *                      (every request's bytes are in the trace, as a CRC)
 *   KW_SIM_NO_IDEMPOTENCE=1  the producer without idempotence: the invariants must
 *                      catch its duplicates (a check of the checker)
 *
 * The exit status is 0 when every seed kept every invariant. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim/kw_sim.h"
#include "tests/sim/sim_workloads.h"

static uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* The faults of one seed: each kind on or off, at a seeded rate. */
static void pick_faults(uint64_t seed, kw_sim_config *cfg) {
  static const uint32_t rate[KW_SIM_N_FAULTS] = {
      [KW_SIM_DROP_BEFORE] = 3000, [KW_SIM_DROP_AFTER] = 3000, [KW_SIM_DELAY] = 1000,
      [KW_SIM_SHORT_IO] = 50000,   [KW_SIM_CONNECT_FAIL] = 30000, [KW_SIM_ERROR] = 10000,
      [KW_SIM_CRASH] = 3000,       [KW_SIM_ELECTION] = 5000,   [KW_SIM_COORD_MOVE] = 2000,
      [KW_SIM_STALE_META] = 50000, [KW_SIM_THROTTLE] = 20000};
  uint64_t x = seed * 0x9E3779B97F4A7C15ull;
  for (int f = 0; f < KW_SIM_N_FAULTS; f++) {
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    cfg->fault_ppm[f] = (x >> 40) & 1 && !getenv("KW_SIM_NO_FAULTS") ? rate[f] : 0;
  }
}

/* Runs seed twice with the cluster's trace in memory: 0 when both runs are the same
 * byte for byte. */
static int run_twice(const kw_sim_config *base, char *why, size_t whylen) {
  char *text[2] = {NULL, NULL};
  size_t len[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    FILE *f = open_memstream(&text[k], &len[k]);
    if (!f) return snprintf(why, whylen, "open_memstream failed"), 1;
    kw_sim_config cfg = *base;
    cfg.trace = f;
    kw_sim_stats st;
    char ignored[512];
    sim_totals unused = {0};
    sim_run_seed(&cfg, false, &unused, &st, ignored, sizeof ignored);
    fclose(f);
  }
  int differ = len[0] != len[1] || memcmp(text[0], text[1], len[0]) != 0;
  if (differ) snprintf(why, whylen, "two runs of the seed differ (traces of %zu and %zu bytes)", len[0], len[1]);
  free(text[0]);
  free(text[1]);
  return differ;
}

int main(void) {
  uint64_t one = env_u64("KW_SIM_SEED", 0);
  uint64_t first = one ? one : env_u64("KW_SIM_FIRST", 1);
  uint64_t n = one ? 1 : env_u64("KW_SIM_SEEDS", 200);
  bool trace = getenv("KW_SIM_TRACE") && *getenv("KW_SIM_TRACE") == '1';
  uint64_t twice = env_u64("KW_SIM_TWICE", 0);
  uint64_t failed = 0, faults[KW_SIM_N_FAULTS] = {0};
  sim_totals totals = {0};
  for (uint64_t seed = first; seed < first + n; seed++) {
    kw_sim_config cfg = {.seed = seed, .n_brokers = 1 + (int)(seed % 3), .tick_ms = 10, .trace = trace ? stderr : NULL};
    pick_faults(seed, &cfg);
    char why[512] = "";
    kw_sim_stats st;
    int rc = sim_run_seed(&cfg, trace, &totals, &st, why, sizeof why);
    if (!rc && seed - first < twice) rc = run_twice(&cfg, why, sizeof why);
    for (int f = 0; f < KW_SIM_N_FAULTS; f++) faults[f] += st.faults[f];
    if (rc) {
      failed++;
      printf("seed %llu FAILED: %s\n  replay: KW_SIM_SEED=%llu KW_SIM_TRACE=1 %s\n", (unsigned long long)seed, why,
             (unsigned long long)seed, "tests/sim/kwsim_run");
      fflush(stdout);
    }
  }
  printf("kwsim: %llu seeds (%llu..%llu), %llu failed; %llu records acknowledged, %llu reported failed\n",
         (unsigned long long)n, (unsigned long long)first, (unsigned long long)(first + n - 1),
         (unsigned long long)failed, (unsigned long long)totals.acked, (unsigned long long)totals.failed);
  printf("faults injected:");
  for (int f = 0; f < KW_SIM_N_FAULTS; f++) printf(" %s %llu", kw_sim_fault_name(f), (unsigned long long)faults[f]);
  printf("\n");
  return failed ? 1 : 0;
}
