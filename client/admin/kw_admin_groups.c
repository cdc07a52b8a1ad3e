/* Admin calls on consumer groups: listing them (every broker) and describing one (at
 * its coordinator, new and classic protocols). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/admin/kw_admin_int.h"
#include "kwire/error.h"
#include "proto/kw_kerr.h"

/* ---- listing ---- */

static int cmp_group(const void *x, const void *y) {
  return strcmp(((const adm_group *)x)->id, ((const adm_group *)y)->id);
}

static int16_t lg_code(const void *r, int16_t v, kw_slice *msg) {
  (void)v;
  *msg = (kw_slice){NULL, 0};
  return ((const kw_list_groups_resp *)r)->error_code;
}

/* Every broker coordinates some groups: ask each, retrying one that is still loading. */
static int list_groups(kw_call *a, kw_admin_result *res, kw_arena *ar) {
  kw_metadata_resp md;
  int rc = adm_metadata(a, NULL, 0, ar, &md);
  if (rc < 0) return rc;
  int32_t nb = md.n_brokers > 0 ? md.n_brokers : 0;
  kw_list_groups_resp *lists = kw_arena_alloc(ar, sizeof *lists * (size_t)(nb ? nb : 1));
  if (!lists) return KW_ERR_NOMEM;
  int total = 0;
  for (int32_t b = 0; b < nb; b++) {
    kw_list_groups_req req;
    kw_msg_init(KW_SCHEMA_LIST_GROUPS_REQ, &req); /* empty filters: every state and type */
    a->waiting = "ListGroups answers from every broker";
    int v = kw_call_retry(a, md.brokers[b].node_id, NULL, KW_API_LIST_GROUPS, &req, NULL, &lists[b], ar, lg_code);
    if (v < 0) return v;
    if (lists[b].error_code) return kw_call_kerr(a, lists[b].error_code, (kw_slice){NULL, 0});
    total += lists[b].n_groups > 0 ? lists[b].n_groups : 0;
  }
  res->groups = adm_ralloc(res, sizeof *res->groups * (size_t)(total ? total : 1));
  if (!res->groups) return KW_ERR_NOMEM;
  int n = 0;
  for (int32_t b = 0; b < nb; b++) {
    for (int32_t i = 0; i < lists[b].n_groups; i++) {
      const kw_list_groups_resp_listed_group *lg = &lists[b].groups[i];
      adm_group *g = &res->groups[n];
      g->id = adm_rstr(res, lg->group_id);
      g->protocol_type = adm_rstr(res, lg->protocol_type);
      g->state = adm_rstr(res, lg->group_state);
      g->type = adm_rstr(res, lg->group_type);
      g->protocol = adm_rstr(res, (kw_slice){NULL, 0});
      if (!g->id || !g->protocol_type || !g->state || !g->type || !g->protocol) return KW_ERR_NOMEM;
      n++;
    }
  }
  qsort(res->groups, (size_t)n, sizeof *res->groups, cmp_group);
  int w = 0; /* a group seen twice (its coordinator moved between answers) counts once */
  for (int i = 0; i < n; i++)
    if (w == 0 || strcmp(res->groups[w - 1].id, res->groups[i].id) != 0) res->groups[w++] = res->groups[i];
  res->n = w;
  return 0;
}

int kw_admin_list_groups(kw_client *cl, int timeout_ms, kw_admin_result **out, char *errstr, size_t errlen) {
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "list groups");
  if (!cl || !out) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client or no result pointer");
  *out = NULL;
  kw_admin_result *res = adm_result_new(cl, ADM_RES_GROUPS);
  if (!res) return kw_call_end(&a, KW_ERR_NOMEM);
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  int rc = list_groups(&a, res, &ar);
  kw_arena_reset(&ar);
  if (rc < 0) kw_admin_result_free(res);
  else *out = res;
  return kw_call_end(&a, rc);
}

/* ---- describing ---- */

static int cmp_assigned(const void *x, const void *y) {
  const adm_assigned *a = x, *b = y;
  int c = strcmp(a->topic, b->topic);
  return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

static int set_member(kw_admin_result *res, adm_member *m, kw_slice id, kw_slice client_id, kw_slice host,
                      kw_slice instance_id) {
  m->id = adm_rstr(res, id);
  m->client_id = adm_rstr(res, client_id);
  m->host = adm_rstr(res, host);
  m->instance_id = instance_id.ptr ? adm_rstr(res, instance_id) : NULL;
  return m->id && m->client_id && m->host && (m->instance_id || !instance_id.ptr) ? 0 : KW_ERR_NOMEM;
}

static int add_assigned(kw_admin_result *res, adm_member *m, kw_slice topic, const int32_t *parts, int32_t n) {
  const char *t = adm_rstr(res, topic);
  if (!t) return KW_ERR_NOMEM;
  for (int32_t i = 0; i < n; i++) m->parts[m->n_parts++] = (adm_assigned){t, parts[i]};
  return 0;
}

/* A classic consumer's assignment: ConsumerProtocolAssignment, led by its int16 version.
 * Bytes that do not decode (another protocol type's, or a newer layout) are left out. */
static int classic_assignment(kw_admin_result *res, adm_member *m, kw_slice bytes, kw_arena *ar) {
  if (!bytes.ptr || bytes.len < 2) return 0;
  kw_rd rd;
  kw_rd_init(&rd, bytes.ptr, (size_t)bytes.len);
  int16_t v = kw_rd_i16(&rd);
  if (v < 0) return 0;
  if (v > 3) v = 3; /* later versions only append fields, as Kafka's own reader assumes */
  kw_consumer_protocol_assignment as;
  if (kw_msg_decode(KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, v, false, &rd, ar, &as) != 0) return 0;
  int32_t total = 0;
  for (int32_t i = 0; i < as.n_assigned_partitions; i++)
    total += as.assigned_partitions[i].n_partitions > 0 ? as.assigned_partitions[i].n_partitions : 0;
  if (!total) return 0;
  if (!(m->parts = adm_ralloc(res, sizeof *m->parts * (size_t)total))) return KW_ERR_NOMEM;
  for (int32_t i = 0; i < as.n_assigned_partitions; i++) {
    const kw_consumer_protocol_assignment_topic_partition *tp = &as.assigned_partitions[i];
    if (tp->n_partitions > 0 && add_assigned(res, m, tp->topic, tp->partitions, tp->n_partitions)) return KW_ERR_NOMEM;
  }
  return 0;
}

static int new_members(kw_admin_result *res, int32_t n) {
  res->n_members = n > 0 ? n : 0;
  res->members = adm_ralloc(res, sizeof *res->members * (size_t)(n > 0 ? n : 1));
  return res->members ? 0 : KW_ERR_NOMEM;
}

static int group_row(kw_admin_result *res, kw_slice id, kw_slice state, const char *ptype, const char *type,
                     kw_slice protocol) {
  adm_group *g = res->groups = adm_ralloc(res, sizeof *res->groups);
  if (!g) return KW_ERR_NOMEM;
  res->n = 1;
  g->id = adm_rstr(res, id);
  g->state = adm_rstr(res, state);
  g->protocol_type = adm_rstr(res, adm_slice(ptype));
  g->type = adm_rstr(res, adm_slice(type));
  g->protocol = adm_rstr(res, protocol);
  return g->id && g->state && g->protocol_type && g->type && g->protocol ? 0 : KW_ERR_NOMEM;
}

static int fill_classic(kw_admin_result *res, const kw_describe_groups_resp_described_group *dg, kw_arena *ar) {
  char ptype[64];
  snprintf(ptype, sizeof ptype, "%.*s", (int)(dg->protocol_type.ptr ? dg->protocol_type.len : 0),
           dg->protocol_type.ptr ? (const char *)dg->protocol_type.ptr : "");
  if (group_row(res, dg->group_id, dg->group_state, ptype, "classic", dg->protocol_data) || new_members(res, dg->n_members))
    return KW_ERR_NOMEM;
  for (int32_t i = 0; i < res->n_members; i++) {
    const kw_describe_groups_resp_described_group_member *dm = &dg->members[i];
    adm_member *m = &res->members[i];
    if (set_member(res, m, dm->member_id, dm->client_id, dm->client_host, dm->group_instance_id)) return KW_ERR_NOMEM;
    if (strcmp(ptype, "consumer") == 0 && classic_assignment(res, m, dm->member_assignment, ar)) return KW_ERR_NOMEM;
    if (m->n_parts > 1) qsort(m->parts, (size_t)m->n_parts, sizeof *m->parts, cmp_assigned);
  }
  return 0;
}

static int fill_consumer(kw_admin_result *res, const kw_consumer_group_describe_resp_described_group *dg) {
  if (group_row(res, dg->group_id, dg->group_state, "consumer", "consumer", dg->assignor_name) ||
      new_members(res, dg->n_members))
    return KW_ERR_NOMEM;
  for (int32_t i = 0; i < res->n_members; i++) {
    const kw_consumer_group_describe_resp_member *dm = &dg->members[i];
    adm_member *m = &res->members[i];
    if (set_member(res, m, dm->member_id, dm->client_id, dm->client_host, dm->instance_id)) return KW_ERR_NOMEM;
    const kw_consumer_group_describe_resp_assignment *as = dm->assignment;
    if (!as) continue;
    int32_t total = 0;
    for (int32_t k = 0; k < as->n_topic_partitions; k++)
      total += as->topic_partitions[k].n_partitions > 0 ? as->topic_partitions[k].n_partitions : 0;
    if (!total) continue;
    if (!(m->parts = adm_ralloc(res, sizeof *m->parts * (size_t)total))) return KW_ERR_NOMEM;
    for (int32_t k = 0; k < as->n_topic_partitions; k++) {
      const kw_consumer_group_describe_resp_topic_partitions *tp = &as->topic_partitions[k];
      if (tp->n_partitions > 0 && add_assigned(res, m, tp->topic_name, tp->partitions, tp->n_partitions))
        return KW_ERR_NOMEM;
    }
    if (m->n_parts > 1) qsort(m->parts, (size_t)m->n_parts, sizeof *m->parts, cmp_assigned);
  }
  return 0;
}

static int16_t cgd_code(const void *r, int16_t v, kw_slice *msg) {
  (void)v;
  const kw_consumer_group_describe_resp *resp = r;
  *msg = resp->n_groups > 0 ? resp->groups[0].error_message : (kw_slice){NULL, 0};
  return resp->n_groups > 0 ? resp->groups[0].error_code : 0;
}

static int16_t dg_code(const void *r, int16_t v, kw_slice *msg) {
  (void)v;
  const kw_describe_groups_resp *resp = r;
  *msg = resp->n_groups > 0 ? resp->groups[0].error_message : (kw_slice){NULL, 0};
  return resp->n_groups > 0 ? resp->groups[0].error_code : 0;
}

/* As Kafka's Admin does: ConsumerGroupDescribe first (KIP-848 groups), and DescribeGroups
 * when the broker lacks it or says the group is not a consumer-protocol group. */
static int describe_group(kw_call *a, kw_admin_result *res, const char *group, kw_arena *ar) {
  kw_slice gid = adm_slice(group);
  kw_consumer_group_describe_req creq;
  kw_msg_init(KW_SCHEMA_CONSUMER_GROUP_DESCRIBE_REQ, &creq);
  creq.group_ids = &gid;
  creq.n_group_ids = 1;
  kw_consumer_group_describe_resp cresp;
  a->waiting = "the ConsumerGroupDescribe answer";
  int v = kw_call_retry(a, KW_CALL_ANY_BROKER, group, KW_API_CONSUMER_GROUP_DESCRIBE, &creq, NULL, &cresp, ar, cgd_code);
  if (v >= 0) {
    if (cresp.n_groups < 1) return kw_call_fail(a, KW_ERR_MALFORMED, "ConsumerGroupDescribe answered no group");
    kw_slice msg;
    int16_t code = cgd_code(&cresp, (int16_t)v, &msg);
    if (!code) return fill_consumer(res, &cresp.groups[0]);
    if (code != KW_KERR_GROUP_ID_NOT_FOUND && code != KW_KERR_UNSUPPORTED_VERSION) return kw_call_kerr(a, code, msg);
  } else if (v != KW_ERR_NO_VERSION) {
    return v;
  }
  kw_describe_groups_req req;
  kw_msg_init(KW_SCHEMA_DESCRIBE_GROUPS_REQ, &req);
  req.groups = &gid;
  req.n_groups = 1;
  kw_describe_groups_resp resp;
  a->waiting = "the DescribeGroups answer";
  v = kw_call_retry(a, KW_CALL_ANY_BROKER, group, KW_API_DESCRIBE_GROUPS, &req, NULL, &resp, ar, dg_code);
  if (v < 0) return v;
  if (resp.n_groups < 1) return kw_call_fail(a, KW_ERR_MALFORMED, "DescribeGroups answered no group");
  kw_slice msg;
  int16_t code = dg_code(&resp, (int16_t)v, &msg);
  if (code) return kw_call_kerr(a, code, msg);
  return fill_classic(res, &resp.groups[0], ar);
}

int kw_admin_describe_group(kw_client *cl, const char *group, int timeout_ms, kw_admin_result **out, char *errstr,
                            size_t errlen) {
  kw_call a;
  kw_call_begin(&a, cl, timeout_ms, errstr, errlen);
  snprintf(a.op, sizeof a.op, "describe group '%s'", group ? group : "");
  if (!cl || !out) return kw_call_fail(&a, KW_ERR_INVALID_ARG, "no client or no result pointer");
  *out = NULL;
  int rc = adm_check_name(&a, "group", group);
  if (rc) return rc;
  kw_admin_result *res = adm_result_new(cl, ADM_RES_GROUP);
  if (!res) return kw_call_end(&a, KW_ERR_NOMEM);
  kw_arena ar;
  kw_arena_init(&ar, cl->mem, 0);
  rc = describe_group(&a, res, group, &ar);
  kw_arena_reset(&ar);
  if (rc < 0) kw_admin_result_free(res);
  else *out = res;
  return kw_call_end(&a, rc);
}
