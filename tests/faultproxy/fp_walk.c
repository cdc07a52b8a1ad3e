/* Walks over kwire's generated field tables, so address rewriting and error injection
 * are written once for every API instead of once per message struct: a broker
 * address is any struct with a Host and a Port, an error is any int16 ErrorCode. */
#include <string.h>
#include "fp.h"

#define FP_MAX_DEPTH 16 /* Kafka's schemas nest a few levels; this only guards the recursion */

static bool present(const kw_field *f, int16_t v) { return v < 0 || (v >= f->v_min && v <= f->v_max); }

const kw_field *fp_field(const kw_struct_desc *sd, int16_t v, const char *name, int type) {
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++)
    if (f->type == type && !(f->flags & KW_FF_ARRAY) && present(f, v) && strcmp(f->name, name) == 0) return f;
  return NULL;
}

static void walk(const kw_struct_desc *sd, int16_t v, uint8_t *obj, fp_visit_fn fn, void *ctx, int depth) {
  if (depth > FP_MAX_DEPTH) return;
  fn(ctx, sd, obj, depth);
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    if (f->type != KW_FT_STRUCT || !present(f, v)) continue;
    const kw_struct_desc *sub = &kw_structs[f->sub];
    uint8_t *items = *(uint8_t **)(obj + f->off);
    if (!items) continue;
    if (!(f->flags & KW_FF_ARRAY)) {
      walk(sub, v, items, fn, ctx, depth + 1);
      continue;
    }
    int32_t n = *(int32_t *)(obj + f->count_off);
    for (int32_t i = 0; i < n; i++) walk(sub, v, items + (size_t)i * sub->size, fn, ctx, depth + 1);
  }
}

void fp_walk(int schema, int16_t v, void *obj, fp_visit_fn fn, void *ctx) {
  walk(&kw_structs[schema], v, obj, fn, ctx, 0);
}

static bool has(const kw_struct_desc *sd, int16_t v, const char *name, int depth) {
  if (depth > FP_MAX_DEPTH) return false;
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    if (!present(f, v)) continue;
    if (strcmp(f->name, name) == 0) return true;
    if (f->type == KW_FT_STRUCT && has(&kw_structs[f->sub], v, name, depth + 1)) return true;
  }
  return false;
}

bool fp_schema_has(int schema, int16_t v, const char *name) { return has(&kw_structs[schema], v, name, 0); }
