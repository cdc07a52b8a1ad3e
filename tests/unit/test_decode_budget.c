/* A hostile peer's answer may not make the decoder allocate more than a fixed factor of
 * its size (docs/fuzzing.md, "Decode memory bound"). For every API kwire speaks, at every
 * version, request and response (and the consumer protocol's data schemas), every array
 * reachable from the message is made as long as the input allows: once honestly (a count
 * of minimal elements that fills the input, which must decode) and once lying (a count
 * of one element per remaining byte over zero bytes, which a decoder checking counts
 * against the wrong element size believes). The bytes the arena takes from a counting
 * kw_mem must stay within KW_DECODE_FACTOR x input + KW_DECODE_SLACK. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kwire/error.h"
#include "proto/kw_msg.h"

#define WIRE 16384 /* the size each hostile input is built to */
#define MAX_DEPTH 8

static size_t counted;
static void *count_alloc(void *ud, size_t n) {
  (void)ud;
  counted += n;
  return malloc(n ? n : 1);
}
static void *count_realloc(void *ud, void *p, size_t n) {
  (void)ud;
  counted += n;
  return realloc(p, n ? n : 1);
}
static void count_free(void *ud, void *p) {
  (void)ud;
  free(p);
}
static const kw_mem counting = {NULL, count_alloc, count_realloc, count_free};

static bool in(int v, int lo, int hi) { return v >= lo && v <= hi; }

typedef struct target {
  int v;
  bool flex;
  const kw_field *path[MAX_DEPTH]; /* fields from the message down to the array */
  int depth;
  int32_t count; /* elements of the array at the end of the path */
  int32_t level_count[MAX_DEPTH]; /* nested lying: what each enclosing array claims */
  bool nested_lying;
  int wide_at;   /* depth of an enclosing array given wide_count elements, -1 = none */
  int32_t wide_count;
  bool lying;    /* count, then zero bytes to the end of the input */
  bool done;     /* a lying input ends after its padding */
} target;

static bool present(const target *t, const kw_field *f) { return in(t->v, f->v_min, f->v_max); }
static bool tagged(const target *t, const kw_field *f) { return t->flex && in(t->v, f->t_min, f->t_max); }

static void put_min_struct(const target *t, const kw_struct_desc *sd, kw_buf *b);

/* The fewest bytes a value can take: zeros, empty strings and arrays, null where allowed. */
static void put_min_value(const target *t, const kw_field *f, bool nullable, kw_buf *b) {
  static const uint8_t zeros[16];
  static const size_t fixed[] = {[KW_FT_BOOL] = 1,  [KW_FT_INT8] = 1,   [KW_FT_INT16] = 2,
                                 [KW_FT_UINT16] = 2, [KW_FT_INT32] = 4,  [KW_FT_UINT32] = 4,
                                 [KW_FT_INT64] = 8,  [KW_FT_FLOAT64] = 8, [KW_FT_UUID] = 16};
  kw_slice empty = {zeros, 0};
  switch (f->type) {
  case KW_FT_STRING: kw_buf_string(b, empty, t->flex, false); break;
  case KW_FT_BYTES:
  case KW_FT_RECORDS: kw_buf_bytes(b, empty, t->flex, false); break;
  case KW_FT_STRUCT:
    if (nullable) kw_buf_i8(b, -1);
    else put_min_struct(t, &kw_structs[f->sub], b);
    break;
  default: kw_buf_raw(b, zeros, fixed[f->type]);
  }
}

static void put_min_field(const target *t, const kw_field *f, kw_buf *b) {
  if (f->flags & KW_FF_ARRAY) kw_buf_array_len(b, 0, t->flex, false);
  else put_min_value(t, f, in(t->v, f->n_min, f->n_max), b);
}

static void put_min_struct(const target *t, const kw_struct_desc *sd, kw_buf *b) {
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++)
    if (present(t, f) && !tagged(t, f)) put_min_field(t, f, b);
  if (t->flex) kw_buf_uvarint(b, 0);
}

static void put_path_struct(target *t, const kw_struct_desc *sd, int depth, kw_buf *b);

/* The field at path[depth]: the array itself at the end of the path, else the one
 * element (or the struct) that leads to it. */
static void put_path_field(target *t, const kw_field *f, int depth, kw_buf *b) {
  if (depth == t->depth - 1) {
    kw_buf_array_len(b, t->count, t->flex, false);
    if (t->lying) {
      static const uint8_t pad[WIRE];
      kw_buf_raw(b, pad, WIRE);
      t->done = true;
      return;
    }
    for (int32_t i = 0; i < t->count; i++) put_min_value(t, f, false, b);
    return;
  }
  int32_t n = depth == t->wide_at ? t->wide_count : 1;
  if (f->flags & KW_FF_ARRAY) kw_buf_array_len(b, t->nested_lying ? t->level_count[depth] : n, t->flex, false);
  else if (in(t->v, f->n_min, f->n_max)) kw_buf_i8(b, 1);
  for (int32_t i = 0; i < n && !t->done; i++) put_path_struct(t, &kw_structs[f->sub], depth + 1, b);
}

static void put_path_struct(target *t, const kw_struct_desc *sd, int depth, kw_buf *b) {
  const kw_field *next = t->path[depth];
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields && !t->done; f++) {
    if (!present(t, f) || tagged(t, f)) continue;
    if (f == next) put_path_field(t, f, depth, b);
    else put_min_field(t, f, b);
  }
  if (!t->flex || t->done) return;
  if (!tagged(t, next)) {
    kw_buf_uvarint(b, 0);
    return;
  }
  kw_buf body;
  kw_buf_init_grow(&body, NULL);
  put_path_field(t, next, depth, &body);
  kw_buf_uvarint(b, 1);
  kw_buf_uvarint(b, next->tag);
  kw_buf_uvarint(b, (uint32_t)body.len);
  kw_buf_raw(b, body.data, body.len);
  kw_buf_free(&body);
}

typedef struct worst {
  double ratio;
  size_t wire, bytes;
  char what[256];
} worst;

typedef struct run {
  const char *name;
  int schema;
  worst w;
  int failed_honest; /* valid inputs that did not decode: the bound must not cost a valid answer */
  int over;          /* inputs that took more than the bound */
  char first_over[256];
} run;

static size_t decode_counted(const run *r, const target *t, const kw_buf *in_bytes, int *err) {
  kw_arena a;
  kw_arena_init(&a, &counting, 0);
  void *msg = malloc(kw_structs[r->schema].size);
  kw_rd rd;
  kw_rd_init(&rd, in_bytes->data, in_bytes->len);
  counted = 0;
  *err = kw_msg_decode(r->schema, (int16_t)t->v, t->flex, &rd, &a, msg);
  size_t bytes = counted;
  kw_arena_reset(&a);
  free(msg);
  return bytes;
}

static void path_name(const target *t, char *out, size_t n) {
  size_t at = 0;
  out[0] = 0;
  for (int i = 0; i < t->depth && at < n; i++)
    at += (size_t)snprintf(out + at, n - at, "%s%s", i ? "." : "", t->path[i]->name);
}

/* The inputs for one path: 0 honest (the array as long as the input allows, minimal
 * elements), 1 lying (a count of one element per byte left, over zeros), 2 wide (the
 * array holds one element, and the array around it as many of those as fit: many small
 * allocations, where alignment and chunk ends cost the most), 3 nested lying (every
 * array around it claims as many minimal elements as the input could hold, and the
 * first element of each leads to the next: each count alone is plausible). */
static bool build(target *t, int schema, int variant, kw_buf *b) {
  kw_buf one;
  kw_buf_init_grow(&one, NULL);
  t->lying = variant == 1 || variant == 3, t->nested_lying = variant == 3;
  t->done = false, t->wide_at = -1, t->count = 1;
  if (variant == 3) {
    bool nested = false;
    for (int d = 0; d < t->depth - 1; d++) {
      if (!(t->path[d]->flags & KW_FF_ARRAY)) continue;
      kw_buf_reset(&one);
      put_min_value(t, t->path[d], false, &one);
      t->level_count[d] = (int32_t)(WIRE / (one.len ? one.len : 1));
      nested = true;
    }
    if (!nested) {
      kw_buf_free(&one);
      return false;
    }
  }
  if (variant == 2) {
    for (int d = t->depth - 2; d >= 0 && t->wide_at < 0; d--)
      if (t->path[d]->flags & KW_FF_ARRAY) t->wide_at = d;
    if (t->wide_at < 0) {
      kw_buf_free(&one);
      return false;
    }
    t->wide_count = 1;
    int at = t->wide_at;
    t->wide_at = -1; /* one element of the wide array, built alone to learn its size */
    put_path_struct(t, &kw_structs[t->path[at]->sub], at + 1, &one);
    t->wide_at = at;
    t->wide_count = (int32_t)(WIRE / (one.len ? one.len : 1));
  } else {
    put_min_value(t, t->path[t->depth - 1], false, &one);
    t->count = t->lying ? WIRE : (int32_t)(WIRE / (one.len ? one.len : 1));
  }
  kw_buf_free(&one);
  put_path_struct(t, &kw_structs[schema], 0, b);
  return true;
}

static void measure(run *r, target *t) {
  static const char *const variant_name[] = {"honest", "lying count", "wide", "nested lying counts"};
  for (int variant = 0; variant < 4; variant++) {
    kw_buf b;
    kw_buf_init_grow(&b, NULL);
    if (!build(t, r->schema, variant, &b)) {
      kw_buf_free(&b);
      continue;
    }
    int err;
    size_t bytes = decode_counted(r, t, &b, &err);
    char path[200];
    path_name(t, path, sizeof path);
    bool valid = variant == 0 || variant == 2;
    if (valid && err) {
      r->failed_honest++;
      cr_log_error("%s v%d %s (%s): valid input of %zu bytes failed: %s", r->name, t->v, path, variant_name[variant],
                   b.len, kw_errname(err));
    }
    double ratio = (double)bytes / (double)b.len;
    bool over = bytes > KW_DECODE_FACTOR * b.len + KW_DECODE_SLACK;
    if (ratio > r->w.ratio || (over && !r->over)) {
      r->w.ratio = ratio, r->w.wire = b.len, r->w.bytes = bytes;
      snprintf(r->w.what, sizeof r->w.what, "%s v%d %s (%s, %d x %d elements): %zu bytes allocated from %zu (%.1fx)",
               r->name, t->v, path, variant_name[variant], variant == 2 ? t->wide_count : 1, t->count, bytes, b.len,
               ratio);
    }
    if (over && !r->over++) memcpy(r->first_over, r->w.what, sizeof r->first_over);
    kw_buf_free(&b);
  }
}

/* Every array reachable from sd at this version, each made the long one in turn. */
static void walk(run *r, target *t, const kw_struct_desc *sd, int depth) {
  if (depth >= MAX_DEPTH) return;
  for (const kw_field *f = sd->fields; f < sd->fields + sd->n_fields; f++) {
    if (!present(t, f)) continue;
    t->path[depth] = f;
    if (f->flags & KW_FF_ARRAY) {
      t->depth = depth + 1;
      measure(r, t);
    }
    if (f->type == KW_FT_STRUCT) walk(r, t, &kw_structs[f->sub], depth + 1);
  }
}

static worst overall;

static void check_schema(const char *name, int schema, int lo, int hi, int flex_min) {
  for (int v = lo; v <= hi; v++) {
    run r = {.name = name, .schema = schema};
    target t = {.v = v, .flex = v >= flex_min};
    walk(&r, &t, &kw_structs[schema], 0);
    cr_expect_eq(r.failed_honest, 0, "%s v%d: %d valid inputs failed to decode", name, v, r.failed_honest);
    cr_expect_eq(r.over, 0, "%s v%d: %d inputs over the bound, the first: %s", name, v, r.over, r.first_over);
    if (r.w.ratio > overall.ratio) overall = r.w;
  }
}

Test(decode_budget, every_message_every_version_allocates_within_the_bound) {
  for (int i = 0; i < kw_api_count(); i++) {
    int16_t key = kw_api_key_at(i), lo, hi;
    cr_assert_eq(kw_api_versions(key, &lo, &hi), 0);
    const kw_api_desc *api = kw_api_find(key);
    char name[64];
    snprintf(name, sizeof name, "%sRequest", api->name);
    check_schema(name, kw_request_schema(key), lo, hi, api->flex_min);
    snprintf(name, sizeof name, "%sResponse", api->name);
    check_schema(name, kw_response_schema(key), lo, hi, api->flex_min);
  }
  /* Carried inside JoinGroup and SyncGroup: another member's bytes, never flexible. */
  check_schema("ConsumerProtocolSubscription", KW_SCHEMA_CONSUMER_PROTOCOL_SUBSCRIPTION, 0, 3, 255);
  check_schema("ConsumerProtocolAssignment", KW_SCHEMA_CONSUMER_PROTOCOL_ASSIGNMENT, 0, 3, 255);
  printf("worst: %s; bound %d x wire + %d\n", overall.what, KW_DECODE_FACTOR, KW_DECODE_SLACK);
}
