/* kwsim's scripted errors (kw_sim_inject_error): the next requests of an API answered
 * with an error code a test chose, and not applied (librdkafka's mock cluster pushes
 * request errors the same way; franz-go's kfake does it with a control function).
 *
 * The answer is built from the request, once for every API, through the codec's field
 * tables: the response mirrors what the request named (topics, partitions, groups,
 * coordinator keys), every ErrorCode in it carries the error, every other field keeps
 * Kafka's default. So an API kwsim learns later needs nothing here. */
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_msg.h"
#include "sim/sim_int.h"

#define MIRROR_MAX_DEPTH 16 /* Kafka's schemas nest a few levels; this only guards the recursion */

struct sim_inject {
  int16_t api, code;
  int left;
};

/* A response field and the request field it repeats, where the names differ. */
static const struct {
  const char *resp, *req;
} synonyms[] = {
    {"Responses", "TopicData"},          /* Produce */
    {"Responses", "Topics"},             /* Fetch */
    {"PartitionResponses", "PartitionData"},
    {"PartitionIndex", "Partition"},     /* Fetch */
    {"Partitions", "PartitionIndexes"},  /* OffsetFetch: a list of indexes becomes a list of structs */
    {"Coordinators", "CoordinatorKeys"}, /* FindCoordinator v4+ */
};

/* The fields that say what an answer is about; everything else stays at its default
 * (an error answer carries no offsets, no members, no records). */
static const char *const identity[] = {"Name", "Topic", "TopicId", "Index", "PartitionIndex", "GroupId", "Key"};

static bool present(const kw_field *f, int16_t v) { return v >= f->v_min && v <= f->v_max; }

static bool is_identity(const char *name) {
  for (size_t i = 0; i < sizeof identity / sizeof identity[0]; i++)
    if (strcmp(identity[i], name) == 0) return true;
  return false;
}

static bool same_name(const char *resp, const char *req) {
  if (strcmp(resp, req) == 0) return true;
  for (size_t i = 0; i < sizeof synonyms / sizeof synonyms[0]; i++)
    if (strcmp(synonyms[i].resp, resp) == 0 && strcmp(synonyms[i].req, req) == 0) return true;
  return false;
}

static const kw_field *counterpart(const kw_struct_desc *q, int16_t v, const kw_field *rf) {
  for (const kw_field *f = q->fields; f < q->fields + q->n_fields; f++)
    if (present(f, v) && same_name(rf->name, f->name)) return f;
  return NULL;
}

static size_t scalar_size(int type) {
  switch (type) {
  case KW_FT_INT32: return sizeof(int32_t);
  case KW_FT_INT64: return sizeof(int64_t);
  case KW_FT_UUID: return sizeof(kw_uuid);
  case KW_FT_STRING: return sizeof(kw_slice);
  default: return 0;
  }
}

typedef struct mirror_ctx {
  kw_sim *s;
  int16_t v, code;
  bool skip_top_error; /* Fetch: its top-level code speaks of the session */
} mirror_ctx;

static void mirror(mirror_ctx *m, const kw_struct_desc *q, const uint8_t *qobj, int resp_schema, uint8_t *obj,
                   int depth);

/* A response list from a request list of structs, or of plain values (partition
 * indexes, coordinator keys): each of those fills the element's first identity field
 * of its type. */
static void mirror_list(mirror_ctx *m, const kw_field *rf, const kw_field *qf, const uint8_t *qobj, uint8_t *obj,
                        int depth) {
  int32_t n = *(const int32_t *)(qobj + qf->count_off);
  const uint8_t *items = *(const uint8_t *const *)(qobj + qf->off);
  const kw_struct_desc *sub = &kw_structs[rf->sub];
  if (n <= 0 || !items) return;
  uint8_t *arr = kw_arena_alloc(&m->s->arena, (size_t)sub->size * (size_t)n);
  if (!arr) return;
  size_t vsize = scalar_size(qf->type);
  for (int32_t i = 0; i < n; i++) {
    uint8_t *e = arr + (size_t)i * sub->size;
    if (qf->type == KW_FT_STRUCT) {
      mirror(m, &kw_structs[qf->sub], items + (size_t)i * kw_structs[qf->sub].size, rf->sub, e, depth + 1);
      continue;
    }
    mirror(m, NULL, NULL, rf->sub, e, depth + 1);
    for (const kw_field *f = sub->fields; vsize && f < sub->fields + sub->n_fields; f++)
      if (f->type == qf->type && !(f->flags & KW_FF_ARRAY) && present(f, m->v) && is_identity(f->name)) {
        memcpy(e + f->off, items + (size_t)i * vsize, vsize);
        break;
      }
  }
  *(uint8_t **)(obj + rf->off) = arr;
  *(int32_t *)(obj + rf->count_off) = n;
}

static void mirror(mirror_ctx *m, const kw_struct_desc *q, const uint8_t *qobj, int resp_schema, uint8_t *obj,
                   int depth) {
  kw_msg_init(resp_schema, obj);
  if (depth > MIRROR_MAX_DEPTH) return;
  const kw_struct_desc *sd = &kw_structs[resp_schema];
  for (const kw_field *rf = sd->fields; rf < sd->fields + sd->n_fields; rf++) {
    if (!present(rf, m->v)) continue;
    bool array = rf->flags & KW_FF_ARRAY;
    if (rf->type == KW_FT_INT16 && !array && strcmp(rf->name, "ErrorCode") == 0) {
      if (depth > 0 || !m->skip_top_error) *(int16_t *)(obj + rf->off) = m->code;
      continue;
    }
    const kw_field *qf = q ? counterpart(q, m->v, rf) : NULL;
    if (!qf) continue;
    if (rf->type == KW_FT_STRUCT && array && (qf->flags & KW_FF_ARRAY)) {
      mirror_list(m, rf, qf, qobj, obj, depth);
    } else if (!array && !(qf->flags & KW_FF_ARRAY) && qf->type == rf->type && is_identity(rf->name) &&
               scalar_size(rf->type)) {
      memcpy(obj + rf->off, qobj + qf->off, scalar_size(rf->type));
    }
  }
}

/* ---- answers fitted to the version asked ---- */

static size_t field_size(const kw_field *f) {
  if (f->flags & KW_FF_ARRAY) return sizeof(void *); /* and the count, below */
  switch (f->type) {
  case KW_FT_BOOL: case KW_FT_INT8: return 1;
  case KW_FT_INT16: case KW_FT_UINT16: return 2;
  case KW_FT_INT32: case KW_FT_UINT32: return 4;
  case KW_FT_INT64: case KW_FT_FLOAT64: return 8;
  case KW_FT_UUID: return sizeof(kw_uuid);
  case KW_FT_STRUCT: return sizeof(void *);
  default: return sizeof(kw_slice); /* strings, bytes, records */
  }
}

static void fit(int schema, int16_t v, uint8_t *obj, int depth) {
  if (depth > MIRROR_MAX_DEPTH) return;
  const kw_struct_desc *sd = &kw_structs[schema];
  uint8_t *fresh = NULL;
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    if (!present(f, v)) {
      if (!fresh && (fresh = malloc(sd->size)) != NULL) kw_msg_init(schema, fresh);
      if (!fresh) return;
      memcpy(obj + f->off, fresh + f->off, field_size(f));
      if (f->flags & KW_FF_ARRAY) memcpy(obj + f->count_off, fresh + f->count_off, sizeof(int32_t));
      continue;
    }
    if (f->type != KW_FT_STRUCT) continue;
    uint8_t *items = *(uint8_t **)(obj + f->off);
    if (!items) continue;
    int32_t n = f->flags & KW_FF_ARRAY ? *(int32_t *)(obj + f->count_off) : 1;
    for (int32_t i = 0; i < n; i++) fit(f->sub, v, items + (size_t)i * kw_structs[f->sub].size, depth + 1);
  }
  free(fresh);
}

/* The handlers fill what kwire's versions carry; an older client (librdkafka asks
 * ListOffsets v2) gets the same answer without the fields its version lacks, which the
 * encoder would otherwise refuse. The top-level struct is copied; nested ones, the
 * handlers' own (arena) memory, are fitted in place. */
void *sim_fit_version(int16_t api_key, int16_t v, const void *resp) {
  const kw_api_desc *api = kw_api_find(api_key);
  uint8_t *copy = api ? malloc(kw_structs[api->resp].size) : NULL;
  if (!copy) return NULL;
  memcpy(copy, resp, kw_structs[api->resp].size);
  fit(api->resp, v, copy, 0);
  return copy;
}

/* Metadata for every topic (a null list) names them all, so the error reaches each. */
static void name_every_topic(kw_sim *s, kw_metadata_req *q) {
  if (q->n_topics >= 0 || s->n_topics == 0) return;
  kw_metadata_req_topic *t = kw_arena_alloc(&s->arena, sizeof *t * (size_t)s->n_topics);
  if (!t) return;
  for (int i = 0; i < s->n_topics; i++) {
    kw_msg_init(KW_SCHEMA_METADATA_REQ_TOPIC, &t[i]);
    t[i].name = sim_str(s->topics[i]->name);
    t[i].topic_id = s->topics[i]->id;
  }
  q->topics = t;
  q->n_topics = s->n_topics;
}

static bool fetch_names_a_partition(const kw_fetch_req *q) {
  for (int32_t i = 0; i < q->n_topics; i++)
    if (q->topics[i].n_partitions > 0) return true;
  return false;
}

bool sim_inject_take(kw_sim *s, sim_req *r, kw_buf *out) {
  struct sim_inject *in = NULL;
  for (int i = 0; i < s->n_inject && !in; i++)
    if (s->inject[i].api == r->api && s->inject[i].left > 0) in = &s->inject[i];
  const kw_api_desc *api = kw_api_find(r->api);
  if (!in || !api) return false;
  void *q = kw_arena_alloc(&s->arena, kw_structs[api->req].size);
  void *resp = kw_arena_alloc(&s->arena, kw_structs[api->resp].size);
  if (!q || !resp || sim_decode(s, r, q)) return false; /* the handler answers as it would */
  if (r->api == KW_API_FETCH && !fetch_names_a_partition(q)) return false;
  if (r->api == KW_API_METADATA) name_every_topic(s, q);
  in->left--;
  s->stats.injected++;
  sim_trace(s, "broker %d: api %d v%d answered with injected error %d (%d more)", r->node, r->api, r->ver, in->code,
            in->left);
  if (r->api == KW_API_PRODUCE && ((kw_produce_req *)q)->acks == 0) return true; /* no answer, as from Kafka */
  mirror_ctx m = {s, r->ver, in->code, r->api == KW_API_FETCH};
  mirror(&m, &kw_structs[api->req], q, api->resp, resp, 0);
  if (r->api == KW_API_METADATA) sim_metadata_brokers(s, resp); /* as Kafka: the brokers even when topics fail */
  sim_put_answer(out, r, resp);
  return true;
}

int kw_sim_inject_error(kw_sim *s, int16_t api_key, int16_t kafka_error, int count) {
  int16_t lo, hi;
  if (!s || kafka_error == 0 || count < 1 || !kw_api_find(api_key) || kw_api_versions(api_key, &lo, &hi) != 0)
    return KW_ERR_INVALID_ARG;
  if (s->n_inject == s->cap_inject) {
    int cap = s->cap_inject ? 2 * s->cap_inject : 8;
    struct sim_inject *arr = realloc(s->inject, sizeof *arr * (size_t)cap);
    if (!arr) return KW_ERR_NOMEM;
    s->inject = arr;
    s->cap_inject = cap;
  }
  s->inject[s->n_inject++] = (struct sim_inject){api_key, kafka_error, count};
  return KW_OK;
}

void sim_inject_free(kw_sim *s) {
  free(s->inject);
  s->inject = NULL;
  s->n_inject = s->cap_inject = 0;
}
