/* What the workloads share: the verdict, client configurations, and a counting allocator for their clients: the bytes a client holds, at most
 * and now, so a run can check that memory stays bounded by the configuration and that
 * a destroyed client holds nothing. Each block carries its size in front. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tests/sim/sim_workloads.h"

#define HDR 16 /* keeps the caller's block 16-byte aligned */

static void *m_alloc(void *ud, size_t n) {
  sim_mem *m = ud;
  unsigned char *p = malloc(n + HDR);
  if (!p) return NULL;
  memcpy(p, &n, sizeof n);
  m->live += n;
  if (m->live > m->peak) m->peak = m->live;
  return p + HDR;
}

static void m_free(void *ud, void *ptr) {
  if (!ptr) return;
  sim_mem *m = ud;
  unsigned char *p = (unsigned char *)ptr - HDR;
  size_t n;
  memcpy(&n, p, sizeof n);
  m->live -= n;
  free(p);
}

static void *m_realloc(void *ud, void *ptr, size_t n) {
  if (!ptr) return m_alloc(ud, n);
  sim_mem *m = ud;
  unsigned char *p = (unsigned char *)ptr - HDR;
  size_t old;
  memcpy(&old, p, sizeof old);
  unsigned char *q = realloc(p, n + HDR);
  if (!q) return NULL;
  memcpy(q, &n, sizeof n);
  m->live = m->live - old + n;
  if (m->live > m->peak) m->peak = m->live;
  return q + HDR;
}

void sim_mem_init(sim_mem *m) {
  memset(m, 0, sizeof *m);
  m->mem = (kw_mem){m, m_alloc, m_realloc, m_free};
}

void sim_fail(sim_verdict *v, const char *fmt, ...) {
  if (v->bad) return;
  v->bad = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->why, v->whylen, fmt, ap);
  va_end(ap);
}

static void quiet(void *ud, int level, const char *ctx, const char *msg) { (void)ud, (void)level, (void)ctx, (void)msg; }

kw_config *sim_client_config(kw_sim *s, bool trace) {
  kw_config *c = kw_config_new();
  char err[256];
  if (!c) return NULL;
  kw_config_set(c, "bootstrap.servers", kw_sim_bootstrap(s), err, sizeof err);
  if (!trace) kw_config_set_log_cb(c, quiet, NULL);
  return c;
}
