/* The message codec: generated field tables (proto/gen/) walked by one interpreter.
 * The structs (kwire/codec_messages.h) and the encode/decode entry points are public,
 * declared in kwire/codec.h; the tables and their walkers below are internal. */
#ifndef KW_PROTO_MSG_H
#define KW_PROTO_MSG_H
#include <stdbool.h>
#include <stdint.h>
#include "core/kw_mem.h"
#include "kwire/buf.h"
#include "kwire/codec.h"
#include "proto/gen/kw_msg_gen.h"

enum kw_ftype {
  KW_FT_BOOL, KW_FT_INT8, KW_FT_INT16, KW_FT_UINT16, KW_FT_INT32, KW_FT_UINT32,
  KW_FT_INT64, KW_FT_FLOAT64, KW_FT_UUID, KW_FT_STRING, KW_FT_BYTES, KW_FT_RECORDS,
  KW_FT_STRUCT
};

enum {
  KW_FF_ARRAY = 1,        /* pointer + int32 count (count_off) */
  KW_FF_IGNORABLE = 2,    /* may be dropped silently when the version lacks it */
  KW_FF_NULL_DEFAULT = 4, /* Kafka's default is null (strings, bytes, arrays) */
};

/* Versions are inclusive ranges; min > max means "never" (e.g. never nullable). */
typedef struct kw_field {
  const char *name;
  uint16_t off, count_off;
  uint8_t type, flags;
  uint8_t v_min, v_max; /* present */
  uint8_t n_min, n_max; /* nullable */
  uint8_t t_min, t_max; /* tagged */
  uint16_t tag, sub;    /* sub: kw_structs index of a struct type */
  int64_t def;          /* default of numeric and bool fields */
} kw_field;

typedef struct kw_struct_desc {
  const char *name;
  const kw_field *fields;
  uint16_t n_fields;
  uint16_t size; /* sizeof the C struct */
} kw_struct_desc;

typedef struct kw_api_desc {
  const char *name;
  int16_t key;
  uint8_t min, max; /* the versions kwire speaks */
  uint8_t flex_min; /* first flexible version; 255 = none */
  uint16_t req, resp;
} kw_api_desc;

extern const kw_struct_desc kw_structs[KW_N_STRUCTS];
extern const kw_api_desc kw_apis[KW_N_APIS];

const kw_api_desc *kw_api_find(int16_t key); /* NULL for an API kwire does not speak */
static inline bool kw_api_flexible(const kw_api_desc *api, int16_t v) { return v >= api->flex_min; }

#endif
