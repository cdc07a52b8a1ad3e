/* Lookups in the generated Kafka error table (proto/gen/kw_kerr_gen.c). */
#include <stddef.h>
#include "proto/kw_kerr.h"

const kw_kerr_info *kw_kerr_lookup(int16_t code) {
  int lo = 0, hi = kw_kerr_count - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (kw_kerr_table[mid].code == code) return &kw_kerr_table[mid];
    if (kw_kerr_table[mid].code < code) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

const char *kw_kerr_name(int16_t code) {
  const kw_kerr_info *e = kw_kerr_lookup(code);
  return e ? e->name : "UNKNOWN_ERROR_CODE";
}

const char *kw_kerr_message(int16_t code) {
  const kw_kerr_info *e = kw_kerr_lookup(code);
  return e ? e->message : "";
}

bool kw_kerr_retriable(int16_t code) {
  const kw_kerr_info *e = kw_kerr_lookup(code);
  return e && (e->flags & KW_KERR_F_RETRIABLE);
}

bool kw_kerr_refresh_metadata(int16_t code) {
  const kw_kerr_info *e = kw_kerr_lookup(code);
  return e && (e->flags & KW_KERR_F_REFRESH_METADATA);
}
