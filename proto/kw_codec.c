/* The parts of kwire/codec.h that exist for its users rather than for the client: an
 * opaque arena over core's, and lookups in the generated API and schema tables. */
#include "core/kw_mem.h"
#include "kwire/codec.h"
#include "proto/kw_msg.h"

kw_arena *kw_arena_new(const kw_mem *mem, size_t limit) {
  kw_arena *a = kw_alloc(mem, sizeof *a);
  if (a) kw_arena_init(a, mem, limit);
  return a;
}

void kw_arena_clear(kw_arena *a) { kw_arena_reset(a); }

void kw_arena_destroy(kw_arena *a) {
  if (!a) return;
  kw_arena_reset(a);
  kw_free(a->mem, a);
}

int kw_api_count(void) { return KW_N_APIS; }

int16_t kw_api_key_at(int index) { return index >= 0 && index < KW_N_APIS ? kw_apis[index].key : -1; }

const char *kw_api_name(int16_t api_key) {
  const kw_api_desc *api = kw_api_find(api_key);
  return api ? api->name : NULL;
}

int kw_api_versions(int16_t api_key, int16_t *min_version, int16_t *max_version) {
  const kw_api_desc *api = kw_api_find(api_key);
  if (!api) return KW_ERR_UNSUPPORTED_VERSION;
  *min_version = api->min;
  *max_version = api->max;
  return 0;
}

int kw_request_schema(int16_t api_key) {
  const kw_api_desc *api = kw_api_find(api_key);
  return api ? api->req : -1;
}

int kw_response_schema(int16_t api_key) {
  const kw_api_desc *api = kw_api_find(api_key);
  return api ? api->resp : -1;
}

void *kw_msg_new(kw_arena *arena, int schema) {
  void *msg = schema >= 0 && schema < KW_N_STRUCTS ? kw_arena_alloc(arena, kw_structs[schema].size) : NULL;
  if (msg) kw_msg_init(schema, msg);
  return msg;
}
