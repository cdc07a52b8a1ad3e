/* The seed corpus: request frames from files (golden captures, earlier finds) and frames
 * encoded from the generated message structs at every version kwire speaks. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "kwfuzz.h"

#define SLICE(s) ((kw_slice){(const uint8_t *)(s), (int32_t)strlen(s)})

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Where the body starts: after the header at the version the frame's API and version
 * call for; 0 when the header does not parse. */
static size_t body_offset(const uint8_t *f, size_t len, int16_t *key, int16_t *version) {
  kw_rd r;
  kw_rd_init(&r, f + 4, len - 4);
  *key = kw_rd_i16(&r);
  *version = kw_rd_i16(&r);
  if (r.err) return 0;
  kw_req_header h;
  kw_rd_init(&r, f + 4, len - 4);
  if (kw_req_header_decode(&r, &h, kw_req_header_version(*key, *version))) return 0;
  return len - kw_rd_left(&r);
}

int corpus_add(corpus *c, const uint8_t *data, size_t len) {
  bool framed = len >= 4 && be32(data) == len - 4;
  size_t flen = framed ? len : len + 4;
  if (flen < 12 || flen > KWFUZZ_MAX_FRAME) return -1;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 64;
    frame *items = realloc(c->items, cap * sizeof *items);
    if (!items) return -1;
    c->items = items;
    c->cap = cap;
  }
  frame *f = &c->items[c->n];
  f->data = malloc(flen);
  if (!f->data) return -1;
  if (!framed) {
    uint32_t n = (uint32_t)len;
    uint8_t size[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    memcpy(f->data, size, 4);
  }
  memcpy(f->data + (framed ? 0 : 4), data, len);
  f->len = flen;
  f->body_off = body_offset(f->data, flen, &f->api_key, &f->api_version);
  if (!f->body_off) f->body_off = 4; /* no header to spare: everything after the size is fair game */
  c->n++;
  return 0;
}

static int load_file(corpus *c, const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  static uint8_t buf[KWFUZZ_MAX_FRAME];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  return corpus_add(c, buf, n) == 0;
}

int corpus_load(corpus *c, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) return load_file(c, path);
  DIR *d = opendir(path);
  if (!d) return -1;
  int added = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char full[4096];
    if (e->d_name[0] == '.' || snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full) continue;
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) added += load_file(c, full);
  }
  closedir(d);
  return added;
}

void corpus_free(corpus *c) {
  for (size_t i = 0; i < c->n; i++) free(c->items[i].data);
  free(c->items);
  *c = (corpus){0};
}

/* ---- frames from the generated structs ---- */

typedef struct seed_ctx {
  kw_arena *arena;
  kw_slice topic;
  kw_uuid topic_id;
  kw_slice records[2]; /* a small RecordBatch v2 for Produce: plain, gzip */
  int variant;        /* which of them this Produce carries */
} seed_ctx;

/* Fills the request of the APIs that reach a partition. by_id: name topics by id (the
 * versions that have no name field); the caller tries names first. Returns false for
 * an API left at its defaults. */
static bool fill(const seed_ctx *s, int16_t key, void *msg, bool by_id) {
  kw_arena *a = s->arena;
  switch (key) {
  case KW_API_METADATA: {
    kw_metadata_req *m = msg;
    if (!(m->topics = kw_msg_new(a, KW_SCHEMA_METADATA_REQ_TOPIC))) return false;
    m->topics->name = s->topic;
    m->n_topics = 1;
    m->allow_auto_topic_creation = true;
    return true;
  }
  case KW_API_PRODUCE: {
    kw_produce_req *m = msg;
    kw_produce_req_topic_produce_data *t = kw_msg_new(a, KW_SCHEMA_PRODUCE_REQ_TOPIC_PRODUCE_DATA);
    kw_produce_req_partition_produce_data *p = kw_msg_new(a, KW_SCHEMA_PRODUCE_REQ_PARTITION_PRODUCE_DATA);
    if (!t || !p) return false;
    p->records = s->records[s->variant];
    if (by_id) t->topic_id = s->topic_id;
    else t->name = s->topic;
    t->partition_data = p;
    t->n_partition_data = 1;
    m->acks = 1;
    m->timeout_ms = 1000;
    m->topic_data = t;
    m->n_topic_data = 1;
    return true;
  }
  case KW_API_FETCH: {
    kw_fetch_req *m = msg;
    kw_fetch_req_fetch_topic *t = kw_msg_new(a, KW_SCHEMA_FETCH_REQ_FETCH_TOPIC);
    kw_fetch_req_fetch_partition *p = kw_msg_new(a, KW_SCHEMA_FETCH_REQ_FETCH_PARTITION);
    if (!t || !p) return false;
    p->partition_max_bytes = 65536;
    if (by_id) t->topic_id = s->topic_id;
    else t->topic = s->topic;
    t->partitions = p;
    t->n_partitions = 1;
    m->max_wait_ms = 10; /* an answer comes quickly even when there is nothing to read */
    m->min_bytes = 1;
    m->max_bytes = 1 << 20;
    m->topics = t;
    m->n_topics = 1;
    return true;
  }
  case KW_API_LIST_OFFSETS: {
    kw_list_offsets_req *m = msg;
    kw_list_offsets_req_list_offsets_topic *t = kw_msg_new(a, KW_SCHEMA_LIST_OFFSETS_REQ_LIST_OFFSETS_TOPIC);
    kw_list_offsets_req_list_offsets_partition *p = kw_msg_new(a, KW_SCHEMA_LIST_OFFSETS_REQ_LIST_OFFSETS_PARTITION);
    if (!t || !p) return false;
    p->timestamp = -1; /* the end of the log */
    t->name = s->topic;
    t->partitions = p;
    t->n_partitions = 1;
    m->topics = t;
    m->n_topics = 1;
    return true;
  }
  case KW_API_FIND_COORDINATOR: {
    kw_find_coordinator_req *m = msg;
    static kw_slice keys[1];
    if (by_id) { /* v4+: a batch of keys instead of one */
      keys[0] = SLICE("kwfuzz-group");
      m->coordinator_keys = keys;
      m->n_coordinator_keys = 1;
    } else {
      m->key = SLICE("kwfuzz-group");
    }
    return true;
  }
  case KW_API_DESCRIBE_CONFIGS: {
    kw_describe_configs_req *m = msg;
    kw_describe_configs_req_describe_configs_resource *r =
        kw_msg_new(a, KW_SCHEMA_DESCRIBE_CONFIGS_REQ_DESCRIBE_CONFIGS_RESOURCE);
    if (!r) return false;
    r->resource_type = 2; /* topic */
    r->resource_name = s->topic;
    m->resources = r;
    m->n_resources = 1;
    return true;
  }
  }
  return false;
}

static int add_encoded(corpus *c, kw_buf *out, int16_t key, int16_t v, const void *msg) {
  kw_req_header h = {key, v, 0, SLICE("kwfuzz-broker")};
  kw_buf_reset(out);
  int err = kw_request_frame(out, &h, msg);
  return err ? err : corpus_add(c, out->data, out->len);
}

/* Two records, one with a header: enough for the broker's record validation to run. */
static int make_records(kw_buf *out, int codec) {
  kw_batch_writer w;
  kw_record_header hdr = {SLICE("kwfuzz"), SLICE("seed")};
  int err = kw_batch_begin(&w, out, (int16_t)codec, -1, -1, -1);
  if (!err) err = kw_batch_append(&w, 1700000000000, SLICE("key"), SLICE("value"), &hdr, 1);
  if (!err) err = kw_batch_append(&w, 1700000000001, (kw_slice){NULL, 0}, SLICE("second"), NULL, 0);
  return err ? err : kw_batch_seal(&w, NULL);
}

/* One API at one version: its defaults, then (if it has a filler) a filled request,
 * named by topic name or, where the version lacks names, by id. */
static int add_version(corpus *c, seed_ctx *s, kw_buf *out, int16_t key, int16_t v) {
  int added = 0;
  void *msg = kw_msg_new(s->arena, kw_request_schema(key));
  if (msg && add_encoded(c, out, key, v, msg) == 0) added++;
  for (int by_id = 0; by_id <= 1; by_id++) {
    msg = kw_msg_new(s->arena, kw_request_schema(key));
    if (!msg || !fill(s, key, msg, by_id)) break;
    int err = add_encoded(c, out, key, v, msg);
    if (err != KW_ERR_FIELD_VERSION) {
      added += err == 0;
      break;
    }
  }
  return added;
}

int corpus_generate(corpus *c, const char *topic, const kw_uuid *topic_id) {
  seed_ctx s = {kw_arena_new(NULL, 0), SLICE(topic), *topic_id, {{NULL, 0}, {NULL, 0}}, 0};
  kw_buf plain, gzip, out;
  kw_buf_init_grow(&plain, NULL);
  kw_buf_init_grow(&gzip, NULL);
  kw_buf_init_grow(&out, NULL);
  int added = 0;
  /* Kafka takes exactly one batch per partition in Produce v3+: one seed per codec. */
  if (s.arena && make_records(&plain, KW_CODEC_NONE) == 0 && make_records(&gzip, KW_CODEC_GZIP) == 0) {
    s.records[0] = (kw_slice){plain.data, (int32_t)plain.len};
    s.records[1] = (kw_slice){gzip.data, (int32_t)gzip.len};
    for (int i = 0; i < kw_api_count(); i++) {
      int16_t key = kw_api_key_at(i), lo, hi;
      if (kw_api_versions(key, &lo, &hi)) continue;
      for (s.variant = 0; s.variant < (key == KW_API_PRODUCE ? 2 : 1); s.variant++)
        for (int16_t v = lo; v <= hi; v++) added += add_version(c, &s, &out, key, v);
      kw_arena_clear(s.arena);
    }
  }
  kw_buf_free(&out);
  kw_buf_free(&gzip);
  kw_buf_free(&plain);
  kw_arena_destroy(s.arena);
  return added;
}

/* Produce's acks as the broker reads it. Kafka's parser is more lenient than kwire's (any
 * negative string length is null to it), so a frame kwire rejects may still be a Produce
 * with acks = 0 to the broker, which then never answers: read the two fields its way. */
static bool acks_zero_for_kafka(const uint8_t *body, size_t len, int16_t version) {
  kw_rd r;
  kw_rd_init(&r, body, len);
  if (kw_req_header_version(KW_API_PRODUCE, version) == 2) { /* flexible version */
    uint32_t n = kw_rd_uvarint(&r); /* compact: length + 1, 0 = null */
    if (n > 1) kw_rd_skip(&r, n - 1);
  } else {
    int16_t n = kw_rd_i16(&r);
    if (n > 0) kw_rd_skip(&r, (size_t)n);
  }
  int16_t acks = kw_rd_i16(&r);
  return !r.err && acks == 0;
}

bool frame_decodes(const uint8_t *data, size_t len, kw_arena *arena, bool *acks_zero) {
  *acks_zero = false;
  if (len < 8 || be32(data) != len - 4) return false;
  int16_t key, v;
  size_t body = body_offset(data, len, &key, &v);
  if (!body) return false;
  if (key == KW_API_PRODUCE) *acks_zero = acks_zero_for_kafka(data + body, len - body, v);
  void *msg = kw_msg_new(arena, kw_request_schema(key));
  kw_rd r;
  kw_rd_init(&r, data + body, len - body);
  bool ok = msg && kw_request_decode(key, v, &r, arena, msg) == 0 && kw_rd_left(&r) == 0;
  kw_arena_clear(arena);
  return ok;
}
