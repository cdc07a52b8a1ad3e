/* kwsim's brokers: one request frame in, one answer frame out, through kwire's codec;
 * ApiVersions and Metadata here, the logs in sim_log.c, groups in sim_group*.c. */
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "sim/sim_int.h"

kw_slice sim_str(const char *s) { return (kw_slice){(const uint8_t *)s, (int32_t)strlen(s)}; }

void sim_put_answer(kw_buf *out, const sim_req *r, const void *resp) {
  size_t at = out->len;
  void *fitted = sim_fit_version(r->api, r->ver, resp);
  kw_buf_i32(out, 0);
  kw_resp_header_encode(out, r->corr, kw_resp_header_version(r->api, r->ver));
  int err = kw_response_encode(r->api, r->ver, fitted ? fitted : resp, out);
  free(fitted);
  if (err || out->err) { /* never a frame with a wrong size: no answer (the client times out) */
    out->len = at;
    out->err = 0;
    return;
  }
  kw_buf_put_i32_at(out, at, (int32_t)(out->len - at - 4));
}

/* The request header again (cheap): r->body then points past it. */
static int skip_header(const sim_req *r, kw_rd *rd) {
  kw_rd_init(rd, r->body, r->body_len);
  kw_req_header h;
  return kw_req_header_decode(rd, &h, kw_req_header_version(r->api, r->ver));
}

int sim_decode(kw_sim *s, const sim_req *r, void *msg) {
  kw_rd rd;
  int err = skip_header(r, &rd);
  return err ? err : kw_request_decode(r->api, r->ver, &rd, &s->arena, msg);
}

/* ---- ApiVersions ---- */

static const struct {
  int16_t api;
  sim_handler fn;
} handlers[] = {
    {KW_API_PRODUCE, sim_h_produce},
    {KW_API_FETCH, sim_h_fetch},
    {KW_API_LIST_OFFSETS, sim_h_list_offsets},
    {KW_API_METADATA, NULL}, /* below */
    {KW_API_OFFSET_COMMIT, sim_h_offset_commit},
    {KW_API_OFFSET_FETCH, sim_h_offset_fetch},
    {KW_API_FIND_COORDINATOR, sim_h_find_coordinator},
    {KW_API_JOIN_GROUP, sim_h_join_group},
    {KW_API_HEARTBEAT, sim_h_heartbeat},
    {KW_API_LEAVE_GROUP, sim_h_leave_group},
    {KW_API_SYNC_GROUP, sim_h_sync_group},
    {KW_API_API_VERSIONS, NULL}, /* below */
    {KW_API_INIT_PRODUCER_ID, sim_h_init_producer_id},
    {KW_API_CONSUMER_GROUP_HEARTBEAT, sim_h_consumer_group_heartbeat},
};
#define N_HANDLERS ((int)(sizeof handlers / sizeof handlers[0]))

static int api_versions(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_api_versions_resp_api_version *av = kw_arena_alloc(&s->arena, sizeof *av * N_HANDLERS);
  if (!av) return SIM_NO_ANSWER;
  for (int i = 0; i < N_HANDLERS; i++) {
    kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP_API_VERSION, &av[i]);
    av[i].api_key = handlers[i].api;
    kw_api_versions(handlers[i].api, &av[i].min_version, &av[i].max_version);
  }
  kw_api_versions_resp resp;
  kw_msg_init(KW_SCHEMA_API_VERSIONS_RESP, &resp);
  resp.api_keys = av;
  resp.n_api_keys = N_HANDLERS;
  int16_t lo, hi;
  kw_api_versions(KW_API_API_VERSIONS, &lo, &hi);
  if (r->ver > hi) { /* as Kafka: an unknown version is answered at v0 with the error */
    resp.error_code = KW_KERR_UNSUPPORTED_VERSION;
    sim_req v0 = *r;
    v0.ver = 0;
    sim_put_answer(out, &v0, &resp);
    return SIM_DONE;
  }
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* ---- Metadata ---- */

void sim_broker_address(kw_sim *s, int32_t node, kw_slice *host, int32_t *port) {
  if (node < 1 || node > s->n_brokers) {
    *host = sim_str("");
    *port = -1;
  } else if (s->loopback) {
    *host = sim_str("127.0.0.1");
    *port = s->brokers[node].port;
  } else {
    *host = sim_str(s->brokers[node].name);
    *port = 9092;
  }
}

void sim_metadata_brokers(kw_sim *s, kw_metadata_resp *resp) {
  resp->cluster_id = sim_str("kwsim");
  resp->controller_id = 1;
  resp->brokers = kw_arena_alloc(&s->arena, sizeof *resp->brokers * (size_t)s->n_brokers);
  resp->n_brokers = 0;
  for (int i = 1; resp->brokers && i <= s->n_brokers; i++) {
    if (!s->brokers[i].up) continue; /* as KRaft: only registered, live brokers */
    kw_metadata_resp_broker *b = &resp->brokers[resp->n_brokers++];
    kw_msg_init(KW_SCHEMA_METADATA_RESP_BROKER, b);
    b->node_id = i;
    sim_broker_address(s, i, &b->host, &b->port);
  }
}

/* A broker's metadata cache lags the controller: the answer names the partition's
 * previous leader (another replica) with the previous epoch. */
static void stale_leader(kw_sim *s, const sim_partition *p, kw_metadata_resp_partition *mp) {
  if (p->leader_epoch <= 0 || p->n_replicas < 2) return;
  mp->leader_id = p->replicas[sim_rand_below(s, (uint64_t)p->n_replicas)];
  mp->leader_epoch = p->leader_epoch - 1;
  mp->error_code = 0;
}

static void metadata_topic(kw_sim *s, const sim_topic *t, kw_metadata_resp_topic *mt, bool stale) {
  mt->name = sim_str(t->name);
  mt->topic_id = t->id;
  mt->partitions = kw_arena_alloc(&s->arena, sizeof *mt->partitions * (size_t)t->n_parts);
  if (!mt->partitions) return;
  mt->n_partitions = t->n_parts;
  for (int32_t i = 0; i < t->n_parts; i++) {
    const sim_partition *p = &t->parts[i];
    kw_metadata_resp_partition *mp = &mt->partitions[i];
    kw_msg_init(KW_SCHEMA_METADATA_RESP_PARTITION, mp);
    mp->partition_index = i;
    mp->leader_id = p->leader;
    mp->leader_epoch = p->leader_epoch;
    if (p->leader < 0) mp->error_code = KW_KERR_LEADER_NOT_AVAILABLE;
    mp->replica_nodes = (int32_t *)p->replicas;
    mp->n_replica_nodes = p->n_replicas;
    int32_t *isr = kw_arena_alloc(&s->arena, sizeof *isr * KW_SIM_MAX_BROKERS);
    mp->isr_nodes = isr;
    mp->n_isr_nodes = 0;
    for (int k = 0; isr && k < p->n_replicas; k++)
      if (p->in_isr[p->replicas[k]]) isr[mp->n_isr_nodes++] = p->replicas[k];
    mp->n_offline_replicas = 0;
    if (stale) stale_leader(s, p, mp);
  }
}

static int metadata(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_metadata_req q;
  if (sim_decode(s, r, &q)) return SIM_NO_ANSWER;
  kw_metadata_resp resp;
  kw_msg_init(KW_SCHEMA_METADATA_RESP, &resp);
  sim_metadata_brokers(s, &resp);
  int32_t n = q.n_topics < 0 ? s->n_topics : q.n_topics; /* null: every topic */
  bool stale = sim_fault(s, KW_SIM_STALE_META);
  resp.topics = kw_arena_alloc(&s->arena, sizeof *resp.topics * (size_t)(n > 0 ? n : 1));
  if (!resp.topics) return SIM_NO_ANSWER;
  resp.n_topics = n;
  for (int32_t i = 0; i < n; i++) {
    kw_metadata_resp_topic *mt = &resp.topics[i];
    kw_msg_init(KW_SCHEMA_METADATA_RESP_TOPIC, mt);
    const sim_topic *t = q.n_topics < 0 ? s->topics[i]
                                        : sim_topic_find(s, (const char *)q.topics[i].name.ptr, (size_t)q.topics[i].name.len);
    if (t) {
      metadata_topic(s, t, mt, stale);
    } else {
      mt->name = q.topics[i].name;
      mt->error_code = KW_KERR_UNKNOWN_TOPIC_OR_PARTITION; /* kwsim never creates topics on request */
      mt->n_partitions = 0;
    }
  }
  sim_put_answer(out, r, &resp);
  return SIM_DONE;
}

/* ---- dispatch ---- */

int sim_broker_handle(kw_sim *s, sim_req *r, kw_buf *out) {
  kw_rd rd;
  kw_req_header h;
  kw_rd_init(&rd, r->body, r->body_len);
  if (kw_req_header_decode(&rd, &h, kw_req_header_version(r->api, r->ver)) != 0) return SIM_NO_ANSWER;
  r->corr = h.correlation_id;
  int16_t lo, hi;
  bool spoken = kw_api_versions(r->api, &lo, &hi) == 0 && r->ver >= lo && r->ver <= hi;
  /* A scripted error comes first: the request is answered with it and not applied. */
  if (spoken && !r->resumed && s->n_inject > 0 && sim_inject_take(s, r, out)) return out->len ? SIM_DONE : SIM_NO_ANSWER;
  if (r->api == KW_API_API_VERSIONS) return api_versions(s, r, out);
  if (!spoken) return SIM_NO_ANSWER;
  if (r->api == KW_API_METADATA) return metadata(s, r, out);
  for (int i = 0; i < N_HANDLERS; i++)
    if (handlers[i].api == r->api && handlers[i].fn) return handlers[i].fn(s, r, out);
  return SIM_NO_ANSWER; /* an API kwsim does not speak: Kafka would close the connection */
}
