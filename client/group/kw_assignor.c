/* Consumer group assignors (range, roundrobin, cooperative-sticky); rules in kw_assignor.h. */
#include "client/group/kw_assignor.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "core/kw_mem.h"

static const char *const names[] = {"range", "roundrobin", "cooperative-sticky"};

const char *kw_assignor_name(int kind) { return kind >= 0 && kind < 3 ? names[kind] : NULL; }

int kw_assignor_from_name(const char *name) {
  for (int i = 0; name && i < 3; i++)
    if (!strcmp(name, names[i])) return i;
  return -1;
}

typedef const kw_asg_member *mptr;
typedef const kw_asg_topic *tptr;

static int cmp_topic(const void *a, const void *b) {
  return strcmp((*(const tptr *)a)->topic, (*(const tptr *)b)->topic);
}
static int cmp_id(const void *a, const void *b) {
  return strcmp((*(const mptr *)a)->member_id, (*(const mptr *)b)->member_id);
}
/* Java's MemberInfo.compareTo: static members first, by instance id. */
static int cmp_java(const void *a, const void *b) {
  const char *x = (*(const mptr *)a)->instance_id, *y = (*(const mptr *)b)->instance_id;
  if (x && y) return strcmp(x, y);
  return x ? -1 : y ? 1 : cmp_id(a, b);
}

typedef struct {
  tptr *tp;  /* subscribable topics by name */
  int T, M, P; /* topics, members, partitions being assigned */
  int *base; /* [T+1] index of each topic's partition 0 */
  int *ne;   /* [T] subscribers per topic */
  int *cnt, *ord; /* [M] partitions per member; members in assignor order */
  int *pt, *owner, *own, *gen; /* [P] topic, new owner, resolved claim (-1 none, -2 tie) */
  unsigned char *sub; /* [M*T] */
} ctx;

static int find_topic(const ctx *c, const char *name) {
  for (int lo = 0, hi = c->T - 1; name && lo <= hi;) {
    int mid = lo + (hi - lo) / 2, r = strcmp(name, c->tp[mid]->topic);
    if (!r) return mid;
    if (r < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return -1;
}

/* The least-loaded member subscribed to topic t (first in order on ties). */
static int least(const ctx *c, int t) {
  int best = -1;
  for (int i = 0; i < c->M; i++) {
    int m = c->ord[i];
    if (c->sub[(size_t)m * c->T + t] && (best < 0 || c->cnt[m] < c->cnt[best])) best = m;
  }
  return best;
}

static void sticky(ctx *c, const kw_asg_member *mb) {
  int *own = c->own, *owner = c->owner, *cnt = c->cnt;
  for (int p = 0; p < c->P; p++) own[p] = -1;
  for (int m = 0; m < c->M; m++)
    for (int j = 0; j < mb[m].n_owned; j++) {
      const kw_asg_tp *tp = &mb[m].owned[j];
      int t = find_topic(c, tp->topic), g = mb[m].generation, p;
      if (t < 0 || tp->partition < 0 || tp->partition >= c->base[t + 1] - c->base[t]) continue;
      p = c->base[t] + tp->partition;
      if (own[p] == -1 || g > c->gen[p]) own[p] = m, c->gen[p] = g;
      else if (g == c->gen[p] && own[p] != m) own[p] = -2;
    }
  for (int p = 0; p < c->P; p++) {
    int o = own[p];
    owner[p] = o >= 0 && c->sub[(size_t)o * c->T + c->pt[p]] ? o : -1;
    if (owner[p] >= 0) cnt[o]++;
  }
  /* Unowned partitions to the least loaded, topics with the fewest subscribers first. */
  for (int k = 0;;) {
    int nk = INT_MAX;
    for (int t = 0; t < c->T; t++)
      if (c->ne[t] > k && c->ne[t] < nk) nk = c->ne[t];
    if (nk == INT_MAX) break;
    for (int t = 0; t < c->T; t++)
      for (int p = c->base[t]; c->ne[t] == nk && p < c->base[t + 1]; p++)
        if (owner[p] < 0) cnt[owner[p] = least(c, t)]++;
    k = nk;
  }
  /* Single moves to a member with >= 2 fewer until none is possible (Java's isBalanced);
   * each strictly lowers the sum of squared counts, so this ends. Backwards keeps the
   * lowest partitions where they are, like Java. Only a member with the most
   * partitions gives one up: a sweep that let any member give moved partitions out of
   * a member that later needed others back (A 0-5, B 6-11, C new: B gave 3 and took 1
   * from A, five moves where four do). Only when no such move exists (unequal
   * subscriptions) may a less loaded member give. */
  for (int any = 0;;) {
    int moved = 0, hi = 0;
    for (int m = 0; m < c->M; m++)
      if (cnt[m] > hi) hi = cnt[m];
    for (int p = c->P - 1; p >= 0; p--) {
      int x = owner[p];
      if (!any && cnt[x] < hi) continue;
      int y = least(c, c->pt[p]);
      if (cnt[x] <= cnt[y] + 1) continue;
      owner[p] = y, cnt[x]--, cnt[y]++, moved = 1;
      if (cnt[x] + 1 == hi) /* the highest count may have dropped: the others still at hi go on */
        for (int m = hi = 0; m < c->M; m++)
          if (cnt[m] > hi) hi = cnt[m];
    }
    if (moved) any = 0;
    else if (!any) any = 1;
    else break;
  }
  /* KIP-429: a claimed partition goes to nobody else until its owner has revoked it. */
  for (int p = 0; p < c->P; p++)
    if (own[p] != -1 && owner[p] != own[p]) owner[p] = -1;
}

static void range_rr(ctx *c, int range) {
  for (int t = 0, k = 0; t < c->T; t++) {
    int n = c->base[t + 1] - c->base[t], i = 0, q = n ? n / c->ne[t] : 0, x = n ? n % c->ne[t] : 0;
    for (int j = 0; range && j < c->M; j++) {
      int m = c->ord[j];
      if (!c->sub[(size_t)m * c->T + t]) continue;
      int start = q * i + (i < x ? i : x), len = q + (i < x);
      for (int p = 0; p < len; p++) c->owner[c->base[t] + start + p] = m;
      i++;
    }
    for (int p = c->base[t]; !range && p < c->base[t + 1]; p++) {
      while (!c->sub[(size_t)c->ord[k] * c->T + t]) k = (k + 1) % c->M;
      c->owner[p] = c->ord[k];
      k = (k + 1) % c->M;
    }
  }
}

int kw_assign(int kind, const kw_asg_member *members, int n_members, const kw_asg_topic *topics,
              int n_topics, const kw_mem *mem, kw_asg_result *out) {
  ctx c = {0};
  size_t P = 0, M = (size_t)n_members, T = (size_t)n_topics;
  if (n_members < 0 || n_topics < 0 || (n_members && (!members || !out)) || (n_topics && !topics) ||
      !kw_assignor_name(kind))
    return KW_ERR_INVALID_ARG;
  for (int i = 0; i < n_members; i++) {
    if (!members[i].member_id || members[i].n_topics < 0 || members[i].n_owned < 0 ||
        (members[i].n_topics && !members[i].topics) || (members[i].n_owned && !members[i].owned))
      return KW_ERR_INVALID_ARG;
    out[i].tps = NULL, out[i].n = 0;
  }
  for (int i = 0; i < n_topics; i++) {
    if (!topics[i].topic) return KW_ERR_INVALID_ARG;
    P += topics[i].partitions > 0 ? (size_t)topics[i].partitions : 0;
  }
  if (!n_members) return KW_OK;
  if (P > INT_MAX / 8 || M * T > INT_MAX / 2) return KW_ERR_TOO_LARGE;
  char *blk = kw_alloc(mem, (T + M) * sizeof(void *) + (2 * T + 1 + 2 * M + 4 * P) * sizeof(int) + M * T);
  if (!blk) return KW_ERR_NOMEM;
  c.tp = (tptr *)(void *)blk;
  mptr *mp = (mptr *)(void *)(c.tp + T);
  c.base = (int *)(void *)(mp + M);
  c.ne = c.base + T + 1, c.cnt = c.ne + T, c.ord = c.cnt + M;
  c.pt = c.ord + M, c.owner = c.pt + P, c.own = c.owner + P, c.gen = c.own + P;
  c.sub = (unsigned char *)(c.gen + P);
  for (int i = 0; i < n_topics; i++)
    if (topics[i].partitions > 0) c.tp[c.T++] = &topics[i];
  qsort(c.tp, (size_t)c.T, sizeof *c.tp, cmp_topic);
  int u = 0; /* drop duplicate names */
  for (int i = 0; i < c.T; i++)
    if (!u || strcmp(c.tp[u - 1]->topic, c.tp[i]->topic)) c.tp[u++] = c.tp[i];
  c.T = u, c.M = n_members;
  memset(c.sub, 0, M * (size_t)c.T);
  memset(c.ne, 0, (size_t)c.T * sizeof(int));
  memset(c.cnt, 0, M * sizeof(int));
  for (int m = 0; m < n_members; m++) {
    mp[m] = &members[m];
    for (int j = 0; j < members[m].n_topics; j++) {
      int t = find_topic(&c, members[m].topics[j]);
      if (t >= 0 && !c.sub[(size_t)m * c.T + t]) c.sub[(size_t)m * c.T + t] = 1, c.ne[t]++;
    }
  }
  qsort(mp, M, sizeof *mp, kind == KW_ASSIGNOR_COOPERATIVE_STICKY ? cmp_id : cmp_java);
  for (int m = 0; m < n_members; m++) c.ord[m] = (int)(mp[m] - members);
  c.base[0] = 0;
  for (int t = 0; t < c.T; t++) {
    c.base[t + 1] = c.base[t] + (c.ne[t] ? c.tp[t]->partitions : 0);
    for (int p = c.base[t]; p < c.base[t + 1]; p++) c.pt[p] = t;
  }
  c.P = c.base[c.T];
  if (kind == KW_ASSIGNOR_COOPERATIVE_STICKY) sticky(&c, members);
  else range_rr(&c, kind == KW_ASSIGNOR_RANGE);
  memset(c.cnt, 0, M * sizeof(int));
  for (int p = 0; p < c.P; p++)
    if (c.owner[p] >= 0) c.cnt[c.owner[p]]++;
  int rc = KW_OK;
  for (int m = 0; m < n_members; m++)
    if (c.cnt[m] && !(out[m].tps = kw_alloc(mem, (size_t)c.cnt[m] * sizeof(kw_asg_tp)))) rc = KW_ERR_NOMEM;
  for (int p = 0; !rc && p < c.P; p++) {
    int o = c.owner[p], t = c.pt[p];
    if (o >= 0) out[o].tps[out[o].n++] = (kw_asg_tp){c.tp[t]->topic, p - c.base[t]};
  }
  if (rc) kw_assign_free(out, n_members, mem);
  kw_free(mem, blk);
  return rc;
}

void kw_assign_free(kw_asg_result *out, int n_members, const kw_mem *mem) {
  for (int i = 0; out && i < n_members; i++) {
    kw_free(mem, out[i].tps);
    out[i].tps = NULL, out[i].n = 0;
  }
}

static int has(const kw_asg_tp *a, int n, const kw_asg_tp *x) {
  for (int i = 0; i < n; i++)
    if (a[i].partition == x->partition && !strcmp(a[i].topic, x->topic)) return 1;
  return 0;
}

static int minus(const kw_asg_tp *a, int na, const kw_asg_tp *b, int nb, const kw_mem *mem,
                 kw_asg_result *r) {
  int k = 0;
  for (int i = 0; i < na; i++) k += !has(b, nb, &a[i]);
  r->n = 0;
  if (k && !(r->tps = kw_alloc(mem, (size_t)k * sizeof *r->tps))) return KW_ERR_NOMEM;
  for (int i = 0; i < na; i++)
    if (!has(b, nb, &a[i])) r->tps[r->n++] = a[i];
  return KW_OK;
}

int kw_assign_diff(const kw_asg_tp *owned, int n_owned, const kw_asg_tp *assigned, int n_assigned,
                   const kw_mem *mem, kw_asg_result *revoke, kw_asg_result *add) {
  if (n_owned < 0 || n_assigned < 0 || (n_owned && !owned) || (n_assigned && !assigned) || !revoke ||
      !add)
    return KW_ERR_INVALID_ARG;
  revoke->tps = add->tps = NULL;
  int rc = minus(owned, n_owned, assigned, n_assigned, mem, revoke);
  if (rc || (rc = minus(assigned, n_assigned, owned, n_owned, mem, add))) kw_assign_free(revoke, 1, mem);
  return rc;
}
