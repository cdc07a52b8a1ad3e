/* Assignors: range and roundrobin against the Java client's documented examples, the
 * cooperative-sticky rules of KIP-429, and a property test over random groups. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/group/kw_assignor.h"
#include "kwire/error.h"

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))

/* "t0p0 t0p1 t1p0" */
static const char *fmt(const kw_asg_result *r) {
  static char buf[8][512];
  static int k;
  char *b = buf[k++ % 8];
  b[0] = 0;
  for (int i = 0; i < r->n; i++)
    snprintf(b + strlen(b), 512 - strlen(b), "%s%sp%d", i ? " " : "", r->tps[i].topic,
             (int)r->tps[i].partition);
  return b;
}

static int subscribed(const kw_asg_member *m, const char *topic) {
  for (int i = 0; i < m->n_topics; i++)
    if (!strcmp(m->topics[i], topic)) return 1;
  return 0;
}

/* Each partition at most once (exactly once if all), only to a member subscribed to it. */
static void check_valid(const kw_asg_member *mb, int M, const kw_asg_topic *tp, int T,
                        const kw_asg_result *out, int all) {
  for (int t = 0; t < T; t++)
    for (int p = 0; p < tp[t].partitions; p++) {
      int n = 0, any = 0;
      for (int m = 0; m < M; m++) {
        any |= subscribed(&mb[m], tp[t].topic);
        for (int i = 0; i < out[m].n; i++)
          if (!strcmp(out[m].tps[i].topic, tp[t].topic) && out[m].tps[i].partition == p) {
            cr_assert(subscribed(&mb[m], tp[t].topic), "%sp%d to non-subscriber %s", tp[t].topic,
                      p, mb[m].member_id);
            n++;
          }
      }
      cr_assert(n <= 1, "%sp%d assigned %d times", tp[t].topic, p, n);
      if (all && any) cr_assert_eq(n, 1, "%sp%d unassigned", tp[t].topic, p);
    }
  int total = 0, expect = 0;
  for (int m = 0; m < M; m++) total += out[m].n;
  for (int m = 0; m < M; m++)
    for (int i = 0; i < out[m].n; i++) {
      int ok = 0;
      for (int t = 0; t < T; t++)
        ok |= !strcmp(out[m].tps[i].topic, tp[t].topic) && out[m].tps[i].partition < tp[t].partitions &&
              out[m].tps[i].partition >= 0;
      cr_assert(ok, "%s got a partition that does not exist", mb[m].member_id);
      expect++;
    }
  cr_assert_eq(total, expect);
}

static const char *T01[] = {"t0", "t1"};
static const kw_asg_topic TP33[] = {{"t0", 3}, {"t1", 3}};

Test(assignor, names) {
  cr_assert_str_eq(kw_assignor_name(KW_ASSIGNOR_RANGE), "range");
  cr_assert_str_eq(kw_assignor_name(KW_ASSIGNOR_ROUNDROBIN), "roundrobin");
  cr_assert_str_eq(kw_assignor_name(KW_ASSIGNOR_COOPERATIVE_STICKY), "cooperative-sticky");
  cr_assert_null(kw_assignor_name(3));
  cr_assert_eq(kw_assignor_from_name("cooperative-sticky"), KW_ASSIGNOR_COOPERATIVE_STICKY);
  cr_assert_eq(kw_assignor_from_name("roundrobin"), KW_ASSIGNOR_ROUNDROBIN);
  cr_assert_eq(kw_assignor_from_name("range"), KW_ASSIGNOR_RANGE);
  cr_assert_eq(kw_assignor_from_name("sticky"), -1);
  cr_assert_eq(kw_assignor_from_name(NULL), -1);
}

Test(assignor, invalid_args) {
  kw_asg_member m = {.member_id = NULL, .topics = T01, .n_topics = 2};
  kw_asg_result out[1];
  cr_assert_eq(kw_assign(KW_ASSIGNOR_RANGE, &m, 1, TP33, 2, NULL, out), KW_ERR_INVALID_ARG);
  m.member_id = "C0";
  cr_assert_eq(kw_assign(7, &m, 1, TP33, 2, NULL, out), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_assign(KW_ASSIGNOR_RANGE, &m, -1, TP33, 2, NULL, out), KW_ERR_INVALID_ARG);
  cr_assert_eq(kw_assign(KW_ASSIGNOR_RANGE, NULL, 0, TP33, 2, NULL, NULL), KW_OK);
}

static int allocs_left, live;
static void *fail_alloc(void *ud, size_t n) { (void)ud; return allocs_left-- > 0 ? (live++, malloc(n)) : NULL; }
static void *fail_realloc(void *ud, void *p, size_t n) { (void)ud; (void)p; (void)n; return NULL; }
static void fail_free(void *ud, void *p) { (void)ud; live -= p != NULL; free(p); }

/* Every allocation failure gives KW_ERR_NOMEM, leaks nothing and leaves out[] empty. */
Test(assignor, out_of_memory) {
  const kw_mem mem = {NULL, fail_alloc, fail_realloc, fail_free};
  kw_asg_member mb[] = {{.member_id = "C0", .topics = T01, .n_topics = 2},
                        {.member_id = "C1", .topics = T01, .n_topics = 2}};
  kw_asg_result out[2];
  for (int k = 0; k < 3; k++)
    for (int n = 0;; n++) {
      allocs_left = n, live = 0;
      int rc = kw_assign(k, mb, 2, TP33, 2, &mem, out);
      if (rc == KW_OK) {
        cr_assert_eq(out[0].n + out[1].n, 6);
        kw_assign_free(out, 2, &mem);
        cr_assert_eq(live, 0);
        break;
      }
      cr_assert_eq(rc, KW_ERR_NOMEM);
      cr_assert_eq(live, 0);
      cr_assert(!out[0].tps && !out[1].tps);
    }
  kw_asg_result revoke, add;
  allocs_left = 1, live = 0;
  cr_assert_eq(kw_assign_diff(mb[0].owned, 0, (kw_asg_tp[]){{"t0", 1}}, 1, &mem, &revoke, &add), KW_OK);
  kw_assign_free(&add, 1, &mem);
  allocs_left = 1;
  cr_assert_eq(kw_assign_diff((kw_asg_tp[]){{"t0", 2}}, 1, (kw_asg_tp[]){{"t0", 1}}, 1, &mem, &revoke, &add),
               KW_ERR_NOMEM);
  cr_assert_eq(live, 0);
}

/* RangeAssignor javadoc. */
Test(assignor, range_javadoc) {
  kw_asg_member mb[] = {{.member_id = "C1", .topics = T01, .n_topics = 2},
                        {.member_id = "C0", .topics = T01, .n_topics = 2}};
  kw_asg_result out[2];
  cr_assert_eq(kw_assign(KW_ASSIGNOR_RANGE, mb, 2, TP33, 2, NULL, out), KW_OK);
  cr_assert_str_eq(fmt(&out[1]), "t0p0 t0p1 t1p0 t1p1");
  cr_assert_str_eq(fmt(&out[0]), "t0p2 t1p2");
  check_valid(mb, 2, TP33, 2, out, 1);
  kw_assign_free(out, 2, NULL);
  cr_assert_null(out[0].tps);
}

/* Static members sort first, by group.instance.id (Java's MemberInfo), then by member id. */
Test(assignor, range_static_members) {
  kw_asg_member mb[] = {{.member_id = "A", .instance_id = "I1", .topics = T01, .n_topics = 1},
                        {.member_id = "B", .instance_id = "I0", .topics = T01, .n_topics = 1},
                        {.member_id = "0", .topics = T01, .n_topics = 1}};
  kw_asg_topic tp[] = {{"t0", 5}};
  kw_asg_result out[3];
  cr_assert_eq(kw_assign(KW_ASSIGNOR_RANGE, mb, 3, tp, 1, NULL, out), KW_OK);
  cr_assert_str_eq(fmt(&out[1]), "t0p0 t0p1");
  cr_assert_str_eq(fmt(&out[0]), "t0p2 t0p3");
  cr_assert_str_eq(fmt(&out[2]), "t0p4");
  kw_assign_free(out, 3, NULL);
}

/* Different subscriptions, more members than partitions, a topic with no metadata, one
 * with zero partitions, a member subscribed to nothing. */
Test(assignor, range_unequal) {
  const char *s0[] = {"t0"}, *s1[] = {"t0", "t1", "gone", "empty"}, *s2[] = {"t1", "t0"};
  kw_asg_member mb[] = {{.member_id = "C0", .topics = s0, .n_topics = 1},
                        {.member_id = "C1", .topics = s1, .n_topics = 4},
                        {.member_id = "C2", .topics = s2, .n_topics = 2},
                        {.member_id = "C3", .topics = NULL, .n_topics = 0}};
  kw_asg_topic tp[] = {{"t1", 5}, {"t0", 2}, {"empty", 0}, {"unsubscribed", 4}};
  kw_asg_result out[4];
  cr_assert_eq(kw_assign(KW_ASSIGNOR_RANGE, mb, 4, tp, 4, NULL, out), KW_OK);
  cr_assert_str_eq(fmt(&out[0]), "t0p0");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t1p0 t1p1 t1p2");
  cr_assert_str_eq(fmt(&out[2]), "t1p3 t1p4");
  cr_assert_eq(out[3].n, 0);
  check_valid(mb, 4, tp, 4, out, 1);
  kw_assign_free(out, 4, NULL);
}

/* RoundRobinAssignor javadoc, both examples. */
Test(assignor, roundrobin_javadoc) {
  kw_asg_member mb[] = {{.member_id = "C0", .topics = T01, .n_topics = 2},
                        {.member_id = "C1", .topics = T01, .n_topics = 2}};
  kw_asg_result out[3];
  cr_assert_eq(kw_assign(KW_ASSIGNOR_ROUNDROBIN, mb, 2, TP33, 2, NULL, out), KW_OK);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p2 t1p1");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t1p0 t1p2");
  kw_asg_tp cur[] = {{"t0", 0}, {"t0", 2}, {"t1", 1}, {"t1", 9}};
  kw_asg_result revoke, add;
  cr_assert_eq(kw_assign_diff(cur, 4, out[0].tps, out[0].n, NULL, &revoke, &add), KW_OK);
  cr_assert_str_eq(fmt(&revoke), "t1p9");
  cr_assert_eq(add.n, 0);
  kw_assign_free(&revoke, 1, NULL);
  kw_assign_free(&add, 1, NULL);
  cr_assert_eq(kw_assign_diff(cur, 1, out[1].tps, out[1].n, NULL, &revoke, &add), KW_OK);
  cr_assert_str_eq(fmt(&revoke), "t0p0");
  cr_assert_str_eq(fmt(&add), "t0p1 t1p0 t1p2");
  kw_assign_free(&revoke, 1, NULL);
  kw_assign_free(&add, 1, NULL);
  kw_assign_free(out, 2, NULL);

  const char *s0[] = {"t0"}, *s1[] = {"t0", "t1"}, *s2[] = {"t0", "t1", "t2"};
  kw_asg_member mb3[] = {{.member_id = "C2", .topics = s2, .n_topics = 3},
                         {.member_id = "C0", .topics = s0, .n_topics = 1},
                         {.member_id = "C1", .topics = s1, .n_topics = 2}};
  kw_asg_topic tp[] = {{"t2", 3}, {"t0", 1}, {"t1", 2}};
  cr_assert_eq(kw_assign(KW_ASSIGNOR_ROUNDROBIN, mb3, 3, tp, 3, NULL, out), KW_OK);
  cr_assert_str_eq(fmt(&out[1]), "t0p0");
  cr_assert_str_eq(fmt(&out[2]), "t1p0");
  cr_assert_str_eq(fmt(&out[0]), "t1p1 t2p0 t2p1 t2p2");
  check_valid(mb3, 3, tp, 3, out, 1);
  kw_assign_free(out, 3, NULL);
}

/* RoundRobin javadoc, static membership: instance ids decide the order, not member ids. */
Test(assignor, roundrobin_static) {
  kw_asg_member mb[] = {{.member_id = "C5", .instance_id = "I0", .topics = T01, .n_topics = 2},
                        {.member_id = "C3", .instance_id = "I1", .topics = T01, .n_topics = 2},
                        {.member_id = "C4", .instance_id = "I2", .topics = T01, .n_topics = 2}};
  kw_asg_result out[3];
  cr_assert_eq(kw_assign(KW_ASSIGNOR_ROUNDROBIN, mb, 3, TP33, 2, NULL, out), KW_OK);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t1p0");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t1p1");
  cr_assert_str_eq(fmt(&out[2]), "t0p2 t1p2");
  kw_assign_free(out, 3, NULL);
}

Test(assignor, more_members_than_partitions) {
  static const char *ids[] = {"a", "b", "c", "d"};
  kw_asg_member mb[4];
  kw_asg_topic tp[] = {{"t0", 2}};
  for (int i = 0; i < 4; i++) mb[i] = (kw_asg_member){.member_id = ids[i], .topics = T01, .n_topics = 1};
  for (int k = 0; k < 3; k++) {
    kw_asg_result out[4];
    cr_assert_eq(kw_assign(k, mb, 4, tp, 1, NULL, out), KW_OK);
    cr_assert_str_eq(fmt(&out[0]), "t0p0");
    cr_assert_str_eq(fmt(&out[1]), "t0p1");
    cr_assert_eq(out[2].n + out[3].n, 0);
    kw_assign_free(out, 4, NULL);
    tp[0].partitions = 0; /* and nothing at all to assign */
    cr_assert_eq(kw_assign(k, mb, 4, tp, 1, NULL, out), KW_OK);
    cr_assert_eq(out[0].n + out[1].n + out[2].n + out[3].n, 0);
    tp[0].partitions = 2;
  }
}

/* --- cooperative-sticky ------------------------------------------------------------ */

static kw_asg_tp own_buf[8][64];

/* Member m now owns what it was assigned, in generation gen. */
static void take(kw_asg_member *m, int i, const kw_asg_result *r, int gen) {
  if (r->n) memcpy(own_buf[i], r->tps, (size_t)r->n * sizeof(kw_asg_tp));
  m->owned = own_buf[i], m->n_owned = r->n, m->generation = gen;
}

static int same_tps(const kw_asg_result *r, const kw_asg_member *m) {
  int same = r->n == m->n_owned;
  for (int i = 0; same && i < r->n; i++)
    same = r->tps[i].partition == m->owned[i].partition && !strcmp(r->tps[i].topic, m->owned[i].topic);
  return same;
}

static void coop(kw_asg_member *mb, int M, const kw_asg_topic *tp, int T, kw_asg_result *out) {
  cr_assert_eq(kw_assign(KW_ASSIGNOR_COOPERATIVE_STICKY, mb, M, tp, T, NULL, out), KW_OK);
  check_valid(mb, M, tp, T, out, 0);
}

Test(assignor, coop_first_assignment_balanced) {
  kw_asg_member mb[] = {{.member_id = "c", .topics = T01, .n_topics = 2, .generation = -1},
                        {.member_id = "a", .topics = T01, .n_topics = 2, .generation = -1},
                        {.member_id = "b", .topics = T01, .n_topics = 2, .generation = -1}};
  kw_asg_topic tp[] = {{"t0", 4}, {"t1", 3}};
  kw_asg_result out[3];
  coop(mb, 3, tp, 2, out);
  check_valid(mb, 3, tp, 2, out, 1);
  cr_assert_str_eq(fmt(&out[1]), "t0p0 t0p3 t1p2");
  cr_assert_str_eq(fmt(&out[2]), "t0p1 t1p0");
  cr_assert_str_eq(fmt(&out[0]), "t0p2 t1p1");
  kw_assign_free(out, 3, NULL);
}

Test(assignor, coop_join_revokes_then_assigns) {
  kw_asg_member mb[] = {{.member_id = "A", .topics = T01, .n_topics = 1, .generation = -1},
                        {.member_id = "B", .topics = T01, .n_topics = 1, .generation = -1},
                        {.member_id = "C", .topics = T01, .n_topics = 1, .generation = -1}};
  kw_asg_topic tp[] = {{"t0", 6}};
  kw_asg_result out[3];
  coop(mb, 2, tp, 1, out);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p2 t0p4");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t0p3 t0p5");
  take(&mb[0], 0, &out[0], 1), take(&mb[1], 1, &out[1], 1);
  kw_assign_free(out, 2, NULL);
  /* C joins: A and B each give up one; nobody gets them this round. */
  coop(mb, 3, tp, 1, out);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p2");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t0p3");
  cr_assert_eq(out[2].n, 0);
  for (int i = 0; i < 3; i++) take(&mb[i], i, &out[i], 2);
  kw_assign_free(out, 3, NULL);
  /* Follow-up rebalance: the revoked partitions go to C, nothing else moves. */
  coop(mb, 3, tp, 1, out);
  check_valid(mb, 3, tp, 1, out, 1);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p2");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t0p3");
  cr_assert_str_eq(fmt(&out[2]), "t0p4 t0p5");
  for (int i = 0; i < 3; i++) take(&mb[i], i, &out[i], 3);
  kw_assign_free(out, 3, NULL);
  /* Stable: the same input again changes nothing. */
  coop(mb, 3, tp, 1, out);
  for (int i = 0; i < 3; i++) {
    cr_assert(same_tps(&out[i], &mb[i]));
  }
  kw_assign_free(out, 3, NULL);
}

/* Issue 14, item 7: A owns t0p0-p5, B owns t0p6-p11 (contiguous ranges), C joins. The
 * balanced result is 4/4/4: A and B each give up two, four moves in all. The sweep that
 * took the highest partitions first moved three from B (down to 3, below the quota) and
 * then one from A back to B: five moves, one of them a pointless revocation of B's. */
Test(assignor, coop_join_contiguous_ranges_minimal_moves) {
  kw_asg_tp a[6], b[6];
  for (int i = 0; i < 6; i++) a[i] = (kw_asg_tp){"t0", i}, b[i] = (kw_asg_tp){"t0", 6 + i};
  kw_asg_member mb[] = {{.member_id = "A", .topics = T01, .n_topics = 1, .owned = a, .n_owned = 6, .generation = 3},
                        {.member_id = "B", .topics = T01, .n_topics = 1, .owned = b, .n_owned = 6, .generation = 3},
                        {.member_id = "C", .topics = T01, .n_topics = 1, .generation = -1}};
  kw_asg_topic tp[] = {{"t0", 12}};
  kw_asg_result out[3];
  coop(mb, 3, tp, 1, out);
  int revoked = 12 - out[0].n - out[1].n; /* everything was owned, C gets nothing this round */
  cr_assert_eq(out[2].n, 0, "C got %s before the owners revoked", fmt(&out[2]));
  cr_assert_eq(revoked, 4, "moved %d partitions where 4 suffice: A keeps %s, B keeps %s", revoked, fmt(&out[0]),
               fmt(&out[1]));
  cr_assert_eq(out[0].n, 4, "A keeps %s", fmt(&out[0]));
  cr_assert_eq(out[1].n, 4, "B keeps %s", fmt(&out[1]));
  for (int i = 0; i < 3; i++) take(&mb[i], i, &out[i], 4);
  kw_assign_free(out, 3, NULL);
  /* Follow-up: the four go to C and nothing else moves. */
  coop(mb, 3, tp, 1, out);
  check_valid(mb, 3, tp, 1, out, 1);
  cr_assert(same_tps(&out[0], &mb[0]) && same_tps(&out[1], &mb[1]), "A or B changed in the follow-up");
  cr_assert_eq(out[2].n, 4, "C got %s", fmt(&out[2]));
  kw_assign_free(out, 3, NULL);
}

Test(assignor, coop_leave_spreads_without_revoking) {
  kw_asg_tp a[] = {{"t0", 0}, {"t0", 3}}, b[] = {{"t0", 1}, {"t0", 4}};
  kw_asg_member mb[] = {{.member_id = "A", .topics = T01, .n_topics = 1, .owned = a, .n_owned = 2, .generation = 7},
                        {.member_id = "B", .topics = T01, .n_topics = 1, .owned = b, .n_owned = 2, .generation = 7}};
  kw_asg_topic tp[] = {{"t0", 6}};
  kw_asg_result out[2];
  coop(mb, 2, tp, 1, out); /* C, which owned p2 and p5, left */
  check_valid(mb, 2, tp, 1, out, 1);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p2 t0p3");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t0p4 t0p5");
  kw_assign_free(out, 2, NULL);
}

Test(assignor, coop_conflicting_claims) {
  /* Same generation: both claims on p1 are dropped and p1 waits a round. */
  kw_asg_tp a[] = {{"t0", 0}, {"t0", 1}}, b[] = {{"t0", 1}, {"t0", 2}};
  kw_asg_member mb[] = {{.member_id = "A", .topics = T01, .n_topics = 1, .owned = a, .n_owned = 2, .generation = 3},
                        {.member_id = "B", .topics = T01, .n_topics = 1, .owned = b, .n_owned = 2, .generation = 3}};
  kw_asg_topic tp[] = {{"t0", 4}};
  kw_asg_result out[2];
  coop(mb, 2, tp, 1, out);
  cr_assert_str_eq(fmt(&out[0]), "t0p0");
  cr_assert_str_eq(fmt(&out[1]), "t0p2 t0p3");
  take(&mb[0], 0, &out[0], 4), take(&mb[1], 1, &out[1], 4);
  kw_assign_free(out, 2, NULL);
  coop(mb, 2, tp, 1, out);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p1");
  cr_assert_str_eq(fmt(&out[1]), "t0p2 t0p3");
  kw_assign_free(out, 2, NULL);

  /* The higher generation wins; an older member keeps its uncontested claims. */
  kw_asg_tp c[] = {{"t0", 1}, {"t0", 2}, {"t0", 3}};
  mb[0] = (kw_asg_member){.member_id = "A", .topics = T01, .n_topics = 1, .owned = a, .n_owned = 2, .generation = 5};
  mb[1] = (kw_asg_member){.member_id = "B", .topics = T01, .n_topics = 1, .owned = c, .n_owned = 3, .generation = 4};
  coop(mb, 2, tp, 1, out);
  check_valid(mb, 2, tp, 1, out, 1);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p1");
  cr_assert_str_eq(fmt(&out[1]), "t0p2 t0p3");
  kw_asg_result revoke, add;
  cr_assert_eq(kw_assign_diff(c, 3, out[1].tps, out[1].n, NULL, &revoke, &add), KW_OK);
  cr_assert_str_eq(fmt(&revoke), "t0p1");
  cr_assert_eq(add.n, 0);
  kw_assign_free(&revoke, 1, NULL);
  kw_assign_free(&add, 1, NULL);
  kw_assign_free(out, 2, NULL);

  /* Claims on a partition that no longer exists or a topic gone from metadata are ignored. */
  kw_asg_tp d[] = {{"t0", 9}, {"gone", 0}, {"t0", 0}};
  mb[0] = (kw_asg_member){.member_id = "A", .topics = T01, .n_topics = 1, .owned = d, .n_owned = 3, .generation = 5};
  mb[1] = (kw_asg_member){.member_id = "B", .topics = T01, .n_topics = 1, .generation = -1};
  coop(mb, 2, tp, 1, out);
  check_valid(mb, 2, tp, 1, out, 1);
  cr_assert_str_eq(fmt(&out[0]), "t0p0 t0p2");
  cr_assert_str_eq(fmt(&out[1]), "t0p1 t0p3");
  kw_assign_free(out, 2, NULL);
}

/* A member that changes its subscription gives the topic up first. */
Test(assignor, coop_unsubscribe) {
  kw_asg_tp a[] = {{"t0", 0}, {"t0", 1}, {"t1", 0}};
  static const char *s1[] = {"t1"};
  kw_asg_member mb[] = {{.member_id = "A", .topics = s1, .n_topics = 1, .owned = a, .n_owned = 3, .generation = 2},
                        {.member_id = "B", .topics = T01, .n_topics = 2, .generation = 2}};
  kw_asg_topic tp[] = {{"t0", 2}, {"t1", 1}};
  kw_asg_result out[2];
  coop(mb, 2, tp, 2, out);
  cr_assert_str_eq(fmt(&out[0]), "t1p0");
  cr_assert_eq(out[1].n, 0); /* t0p0, t0p1 are revoked by A first */
  kw_assign_free(out, 2, NULL);
}

/* --- property test ---------------------------------------------------------------- */

#define MM 7
#define MT 4
static unsigned rng_state;
static int rnd(int n) {
  rng_state = rng_state * 1103515245u + 12345u;
  return (int)((rng_state >> 16) % (unsigned)n);
}

typedef struct {
  int M, T;
  kw_asg_member mb[MM];
  kw_asg_topic tp[MT];
  const char *subs[MM][MT];
  char ids[MM][16];
} group;

static const char *TN[] = {"a", "b", "c", "d"};

static void random_member(group *g, int m, int same, int serial) {
  snprintf(g->ids[m], 16, "m%03d", serial);
  g->mb[m] = (kw_asg_member){.member_id = g->ids[m], .topics = g->subs[m], .generation = -1};
  if (rnd(3) == 0) g->mb[m].instance_id = g->ids[m] + 1;
  for (int t = 0; t < MT; t++)
    if (same ? t < 2 : rnd(2)) g->subs[m][g->mb[m].n_topics++] = TN[t];
}

/* Java's AbstractStickyAssignor.isBalanced: no partition of X could go to a subscribed Y
 * with two or more fewer. */
static void check_balanced(const group *g, const kw_asg_result *out) {
  for (int x = 0; x < g->M; x++)
    for (int y = 0; y < g->M; y++)
      if (out[x].n > out[y].n + 1)
        for (int i = 0; i < out[x].n; i++)
          cr_assert(!subscribed(&g->mb[y], out[x].tps[i].topic), "unbalanced: %s %d, %s %d",
                    g->mb[x].member_id, out[x].n, g->mb[y].member_id, out[y].n);
}

static int owned_by(const kw_asg_member *m, const kw_asg_tp *tp) {
  for (int i = 0; i < m->n_owned; i++)
    if (m->owned[i].partition == tp->partition && !strcmp(m->owned[i].topic, tp->topic)) return 1;
  return 0;
}

static int exists(const group *g, const kw_asg_tp *tp) {
  for (int t = 0; t < g->T; t++)
    if (!strcmp(g->tp[t].topic, tp->topic)) return tp->partition < g->tp[t].partitions;
  return 0;
}

/* Rebalances until nothing is withheld and the result is its own fixed point. */
static void converge(group *g, int *gen) {
  kw_asg_result out[MM];
  for (int round = 0;; round++) {
    cr_assert(round < 6, "no convergence");
    coop(g->mb, g->M, g->tp, g->T, out);
    int same = 1, assigned = 0, total = 0;
    for (int m = 0; m < g->M; m++) {
      assigned += out[m].n;
      same &= same_tps(&out[m], &g->mb[m]);
    }
    for (int t = 0; t < g->T; t++)
      for (int m = 0; m < g->M; m++)
        if (subscribed(&g->mb[m], g->tp[t].topic)) {
          total += g->tp[t].partitions;
          break;
        }
    if (same && assigned == total) {
      check_valid(g->mb, g->M, g->tp, g->T, out, 1);
      check_balanced(g, out);
      kw_assign_free(out, g->M, NULL);
      return;
    }
    ++*gen;
    for (int m = 0; m < g->M; m++) take(&g->mb[m], m, &out[m], *gen);
    kw_assign_free(out, g->M, NULL);
  }
}

Test(assignor, property_range_roundrobin) {
  rng_state = 1;
  for (int iter = 0; iter < 400; iter++) {
    group g = {.M = 1 + rnd(MM), .T = MT};
    int same = rnd(2), kind = rnd(2);
    for (int t = 0; t < MT; t++) g.tp[t] = (kw_asg_topic){TN[t], rnd(9)};
    for (int m = 0; m < g.M; m++) random_member(&g, m, same, rnd(1000));
    for (int m = 0; m < g.M; m++) snprintf(g.ids[m], 16, "m%03d", m); /* unique */
    kw_asg_result out[MM];
    cr_assert_eq(kw_assign(kind, g.mb, g.M, g.tp, g.T, NULL, out), KW_OK);
    check_valid(g.mb, g.M, g.tp, g.T, out, 1);
    int lo = 1 << 30, hi = 0;
    for (int m = 0; m < g.M; m++) lo = out[m].n < lo ? out[m].n : lo, hi = out[m].n > hi ? out[m].n : hi;
    if (same) cr_assert(hi - lo <= (kind == KW_ASSIGNOR_RANGE ? 2 : 1)); /* range: per topic */
    for (int t = 0; kind == KW_ASSIGNOR_RANGE && t < MT; t++) { /* per topic: within one */
      int tl = 1 << 30, th = 0;
      for (int m = 0; m < g.M; m++) {
        int n = 0;
        for (int i = 0; i < out[m].n; i++) n += !strcmp(out[m].tps[i].topic, TN[t]);
        if (subscribed(&g.mb[m], TN[t])) tl = n < tl ? n : tl, th = n > th ? n : th;
      }
      cr_assert(th == 0 || th - tl <= 1);
    }
    kw_assign_free(out, g.M, NULL);
  }
}

Test(assignor, property_cooperative_sticky) {
  rng_state = 7;
  for (int iter = 0; iter < 400; iter++) {
    group g = {.M = 1 + rnd(MM - 1), .T = MT};
    int same = rnd(2), gen = 0, serial = 0;
    for (int t = 0; t < MT; t++) g.tp[t] = (kw_asg_topic){TN[t], rnd(9)};
    for (int m = 0; m < g.M; m++) random_member(&g, m, same, serial++);
    converge(&g, &gen);

    /* Change the group: a member leaves, one joins, partitions are added. */
    if (g.M > 1 && rnd(2)) {
      int gone = rnd(g.M);
      for (int m = gone; m + 1 < g.M; m++) {
        g.mb[m] = g.mb[m + 1];
        memcpy(g.subs[m], g.subs[m + 1], sizeof g.subs[m]);
        memcpy(g.ids[m], g.ids[m + 1], 16);
        memcpy(own_buf[m], own_buf[m + 1], sizeof own_buf[m]);
        g.mb[m].member_id = g.ids[m], g.mb[m].topics = g.subs[m], g.mb[m].owned = own_buf[m];
        if (g.mb[m].instance_id) g.mb[m].instance_id = g.ids[m] + 1;
      }
      g.M--;
    }
    for (int k = rnd(3); k > 0 && g.M < MM; k--, g.M++) random_member(&g, g.M, same, 100 + serial++);
    if (rnd(3) == 0) g.tp[rnd(MT)].partitions += rnd(4);
    int conflict = rnd(4) == 0;
    if (conflict && g.M > 1 && g.mb[0].n_owned) { /* a stale or duplicate claim */
      own_buf[1][g.mb[1].n_owned++] = g.mb[0].owned[0];
      g.mb[1].owned = own_buf[1];
      g.mb[1].generation = gen - rnd(2);
    }

    kw_asg_result out[MM];
    coop(g.mb, g.M, g.tp, g.T, out);
    /* Withheld partitions are only ones someone else claims. */
    for (int t = 0; t < g.T; t++)
      for (int p = 0; p < g.tp[t].partitions; p++) {
        kw_asg_tp tp = {TN[t], p};
        int given = 0, claimed = 0, subs = 0;
        for (int m = 0; m < g.M; m++) {
          subs |= subscribed(&g.mb[m], TN[t]);
          claimed |= owned_by(&g.mb[m], &tp);
          for (int i = 0; i < out[m].n; i++)
            given |= out[m].tps[i].partition == p && !strcmp(out[m].tps[i].topic, TN[t]);
        }
        if (subs && !given) cr_assert(claimed, "%sp%d unclaimed but withheld", TN[t], p);
      }
    /* Sticky: with equal subscriptions nobody loses an owned partition and gains another,
     * and no more partitions move than balance needs. */
    if (same && !conflict) {
      int lost = 0, need = 0, P = 0, own[MM];
      for (int t = 0; t < g.T && g.M; t++)
        if (subscribed(&g.mb[0], TN[t])) P += g.tp[t].partitions;
      for (int m = 0; m < g.M; m++) {
        int l = 0, gain = 0;
        own[m] = 0;
        for (int i = 0; i < g.mb[m].n_owned; i++) {
          int kept = 0;
          for (int j = 0; j < out[m].n; j++)
            kept |= out[m].tps[j].partition == g.mb[m].owned[i].partition &&
                    !strcmp(out[m].tps[j].topic, g.mb[m].owned[i].topic);
          l += exists(&g, &g.mb[m].owned[i]) && !kept;
          own[m] += exists(&g, &g.mb[m].owned[i]);
        }
        for (int j = 0; j < out[m].n; j++) gain += !owned_by(&g.mb[m], &out[m].tps[j]);
        cr_assert(!(l && gain), "%s lost %d and gained %d", g.mb[m].member_id, l, gain);
        lost += l;
      }
      /* Minimum moves: the members owning most keep the ceil quota. */
      for (int r = P % g.M, m = 0; m < g.M; m++) {
        int rank = 0;
        for (int k = 0; k < g.M; k++) rank += own[k] > own[m] || (own[k] == own[m] && k < m);
        int q = P / g.M + (rank < r);
        need += own[m] > q ? own[m] - q : 0;
      }
      cr_assert_eq(lost, need, "iter %d: moved %d, needed %d", iter, lost, need);
    }
    kw_assign_free(out, g.M, NULL);
    converge(&g, &gen);
  }
}
