/* Admin results: the kw_admin_result every list/describe/offsets call hands back,
 * the copies of strings it is made of, and its public accessors. */
#include <stdlib.h>
#include <string.h>
#include "client/admin/kw_admin_int.h"
#include "proto/kw_kerr.h"

/* ---- strings ---- */

kw_slice adm_slice(const char *str) { return (kw_slice){(const uint8_t *)str, (int32_t)strlen(str)}; }

bool adm_slice_eq(kw_slice s, const char *str) {
  size_t n = strlen(str);
  return s.ptr && (size_t)s.len == n && memcmp(s.ptr, str, n) == 0;
}

char *adm_strdup(kw_arena *ar, kw_slice s) {
  if (!s.ptr || s.len < 0) return NULL;
  char *p = kw_arena_alloc(ar, (size_t)s.len + 1);
  if (!p) return NULL;
  memcpy(p, s.ptr, (size_t)s.len);
  p[s.len] = 0;
  return p;
}

/* ---- results ---- */

kw_admin_result *adm_result_new(kw_client *cl, int kind) {
  kw_admin_result *res = kw_alloc(cl->mem, sizeof *res);
  if (!res) return NULL;
  memset(res, 0, sizeof *res);
  res->mem = *cl->mem; /* a result may outlive its client */
  kw_arena_init(&res->arena, &res->mem, 0);
  res->kind = kind;
  return res;
}

void *adm_ralloc(kw_admin_result *res, size_t n) {
  void *p = kw_arena_alloc(&res->arena, n);
  if (p) memset(p, 0, n);
  return p;
}

char *adm_rstr(kw_admin_result *res, kw_slice s) {
  if (!s.ptr) s = (kw_slice){(const uint8_t *)"", 0};
  return adm_strdup(&res->arena, s);
}

void kw_admin_result_free(kw_admin_result *res) {
  if (!res) return;
  kw_mem mem = res->mem;
  kw_arena_reset(&res->arena);
  kw_free(&mem, res);
}

int kw_admin_result_count(const kw_admin_result *res) { return res ? res->n : 0; }

static int cmp_part(const void *x, const void *y) {
  const adm_part *a = x, *b = y;
  int c = strcmp(a->topic, b->topic);
  return c ? c : (a->partition > b->partition) - (a->partition < b->partition);
}

void adm_sort_parts(adm_part *p, int n) {
  if (n > 1) qsort(p, (size_t)n, sizeof *p, cmp_part);
}

static const adm_group *group_at(const kw_admin_result *res, int i) {
  return res && (res->kind == ADM_RES_GROUPS || res->kind == ADM_RES_GROUP) && i >= 0 && i < res->n ? &res->groups[i] : NULL;
}
const char *kw_admin_group_id(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->id : NULL;
}
const char *kw_admin_group_state(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->state : NULL;
}
const char *kw_admin_group_protocol_type(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->protocol_type : NULL;
}
const char *kw_admin_group_type(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->type : NULL;
}
const char *kw_admin_group_protocol(const kw_admin_result *res, int i) {
  const adm_group *g = group_at(res, i);
  return g ? g->protocol : NULL;
}

static const adm_member *member_at(const kw_admin_result *res, int m) {
  return res && res->kind == ADM_RES_GROUP && m >= 0 && m < res->n_members ? &res->members[m] : NULL;
}
int kw_admin_member_count(const kw_admin_result *res) {
  return res && res->kind == ADM_RES_GROUP ? res->n_members : 0;
}
const char *kw_admin_member_id(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->id : NULL;
}
const char *kw_admin_member_client_id(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->client_id : NULL;
}
const char *kw_admin_member_host(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->host : NULL;
}
const char *kw_admin_member_instance_id(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->instance_id : NULL;
}
int kw_admin_member_assignment_count(const kw_admin_result *res, int m) {
  const adm_member *x = member_at(res, m);
  return x ? x->n_parts : 0;
}
const char *kw_admin_member_assignment_topic(const kw_admin_result *res, int m, int k) {
  const adm_member *x = member_at(res, m);
  return x && k >= 0 && k < x->n_parts ? x->parts[k].topic : NULL;
}
int32_t kw_admin_member_assignment_partition(const kw_admin_result *res, int m, int k) {
  const adm_member *x = member_at(res, m);
  return x && k >= 0 && k < x->n_parts ? x->parts[k].partition : -1;
}

static const adm_part *part_at(const kw_admin_result *res, int i) {
  return res && res->kind == ADM_RES_PARTS && i >= 0 && i < res->n ? &res->parts[i] : NULL;
}
const char *kw_admin_topic(const kw_admin_result *res, int i) {
  if (res && res->kind == ADM_RES_CLUSTER) return i >= 0 && i < res->n ? res->names[i] : NULL;
  const adm_part *p = part_at(res, i);
  return p ? p->topic : NULL;
}
int32_t kw_admin_partition(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->partition : -1;
}
int64_t kw_admin_offset(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->offset : -1;
}
int64_t kw_admin_timestamp(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->timestamp : -1;
}
int64_t kw_admin_high_watermark(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->hwm : -1;
}
int64_t kw_admin_lag(const kw_admin_result *res, int i) {
  const adm_part *p = part_at(res, i);
  return p ? p->lag : -1;
}


/* ---- cluster metadata ---- */

int kw_admin_broker_count(const kw_admin_result *res) {
  return res && res->kind == ADM_RES_CLUSTER && res->md.n_brokers > 0 ? res->md.n_brokers : 0;
}
static const kw_metadata_resp_broker *broker_at(const kw_admin_result *res, int b) {
  return b >= 0 && b < kw_admin_broker_count(res) ? &res->md.brokers[b] : NULL;
}
int32_t kw_admin_broker_id(const kw_admin_result *res, int b) {
  const kw_metadata_resp_broker *x = broker_at(res, b);
  return x ? x->node_id : -1;
}
const char *kw_admin_broker_host(const kw_admin_result *res, int b) {
  return broker_at(res, b) ? res->hosts[b] : NULL;
}
int kw_admin_broker_port(const kw_admin_result *res, int b) {
  const kw_metadata_resp_broker *x = broker_at(res, b);
  return x ? x->port : -1;
}
int32_t kw_admin_controller_id(const kw_admin_result *res) {
  return res && res->kind == ADM_RES_CLUSTER ? res->md.controller_id : -1;
}

static const kw_metadata_resp_topic *md_topic_at(const kw_admin_result *res, int i) {
  return res && res->kind == ADM_RES_CLUSTER && i >= 0 && i < res->n ? &res->md.topics[i] : NULL;
}
int16_t kw_admin_topic_error(const kw_admin_result *res, int i) {
  const kw_metadata_resp_topic *t = md_topic_at(res, i);
  return t ? t->error_code : -1;
}
int kw_admin_topic_partition_count(const kw_admin_result *res, int i) {
  const kw_metadata_resp_topic *t = md_topic_at(res, i);
  return t && t->n_partitions > 0 ? t->n_partitions : 0;
}
static const kw_metadata_resp_partition *md_part_at(const kw_admin_result *res, int i, int k) {
  return k >= 0 && k < kw_admin_topic_partition_count(res, i) ? &res->md.topics[i].partitions[k] : NULL;
}
int32_t kw_admin_topic_partition(const kw_admin_result *res, int i, int k) {
  const kw_metadata_resp_partition *p = md_part_at(res, i, k);
  return p ? p->partition_index : -1;
}
int32_t kw_admin_topic_leader(const kw_admin_result *res, int i, int k) {
  const kw_metadata_resp_partition *p = md_part_at(res, i, k);
  return p ? p->leader_id : -1;
}
int16_t kw_admin_topic_partition_error(const kw_admin_result *res, int i, int k) {
  const kw_metadata_resp_partition *p = md_part_at(res, i, k);
  return p ? p->error_code : -1;
}
int kw_admin_topic_replica_count(const kw_admin_result *res, int i, int k) {
  const kw_metadata_resp_partition *p = md_part_at(res, i, k);
  return p && p->n_replica_nodes > 0 ? p->n_replica_nodes : 0;
}
int32_t kw_admin_topic_replica(const kw_admin_result *res, int i, int k, int r) {
  return r >= 0 && r < kw_admin_topic_replica_count(res, i, k) ? res->md.topics[i].partitions[k].replica_nodes[r] : -1;
}
int kw_admin_topic_isr_count(const kw_admin_result *res, int i, int k) {
  const kw_metadata_resp_partition *p = md_part_at(res, i, k);
  return p && p->n_isr_nodes > 0 ? p->n_isr_nodes : 0;
}
int32_t kw_admin_topic_isr(const kw_admin_result *res, int i, int k, int r) {
  return r >= 0 && r < kw_admin_topic_isr_count(res, i, k) ? res->md.topics[i].partitions[k].isr_nodes[r] : -1;
}

